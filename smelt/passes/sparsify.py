"""Switch int8 QConv2D (ungrouped) / QFullyConnected layers to the block-sparse weight format
(ops/sparse.py) where it takes fewer flash bytes than the dense int8 weights: 6 bytes per stored
block of 4 weights (values + column) + 2 per row, against 4 per block dense, so it pays below about
2/3 of the blocks occupied (after unstructured pruning: smelt.prune.magnitude). The decision and
its figures are kept in the node's attrs (`sparse_why`) for the report (compress.weight_formats).
"""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from ..ops import sparse

OPS = {"QConv2D": "QConv2DSparse", "QFullyConnected": "QFullyConnectedSparse"}


def candidates(g: Graph) -> list[Node]:
    out = []
    for n in g.nodes:
        if n.op not in OPS or g[n.inputs[0]].dtype != "int8":
            continue
        w = g[n.inputs[1]]
        if not w.is_const or w.dtype != "int8" or (n.op == "QConv2D" and w.shape[3] != g[n.inputs[0]].shape[3]):
            continue
        out.append(n)
    return out


def decision(n: Node, g: Graph) -> tuple[bool, str]:
    """(use the sparse format, why) for one layer."""
    w = g[n.inputs[1]].data
    rows = w.reshape(w.shape[0], -1)
    dense, sp = rows.size, sparse.sparse_bytes(rows)
    occ = float(np.any(sparse.blocks_of(rows) != 0, axis=2).mean())
    nblocks = int(np.any(sparse.blocks_of(rows) != 0, axis=2).sum())
    why = f"{occ:.0%} of 4-weight blocks nonzero: sparse {sp} B vs dense {dense} B"
    if nblocks >= 1 << 16 or sparse.blocks_of(rows).shape[1] >= 1 << 16:
        return False, why + " (too many blocks for 16-bit indices)"
    return sp < dense, why


def run(g: Graph, layers=None) -> Graph:
    for n in candidates(g):
        if layers is not None and n.name not in layers:
            continue
        use, why = decision(n, g)
        n.attrs = {**n.attrs, "sparse_why": why}
        if not use:
            continue
        w = g[n.inputs[1]]
        values, index = sparse.encode(w.data.reshape(w.shape[0], -1))
        v = g.add_const(w.name + "_sparse", values)
        v.quant = w.quant
        idx = g.add_const(w.name + "_sparse_index", index)
        bias = n.inputs[2] if len(n.inputs) > 2 else ""
        n.attrs = {**n.attrs, "w_shape": list(w.shape), "format": "sparse-int8"}
        n.inputs = [n.inputs[0], v.name, bias, idx.name]
        n.op = OPS[n.op]
    return g
