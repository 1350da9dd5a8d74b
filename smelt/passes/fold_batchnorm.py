"""Fold an inference BatchNormalization into the Conv or Gemm that produces its input:
W' = W * s per output channel, b' = (b - mean) * s + beta, with s = gamma / sqrt(var + eps)."""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from .remove_identity import rename


def run(g: Graph) -> Graph:
    for bn in [n for n in g.nodes if n.op == "BatchNormalization"]:
        x = bn.inputs[0]
        prod = g.producer(x)
        if prod is None or prod.op not in ("Conv", "Gemm") or prod.attrs.get("act") or bn.attrs.get("act"):
            continue
        if len(g.consumers(x)) != 1 or x in g.outputs or len([o for o in bn.outputs if o]) != 1:
            continue
        params = [g[i].data for i in bn.inputs[1:5]]
        if any(p is None for p in params) or g[prod.inputs[1]].data is None:
            continue
        if len(prod.inputs) > 2 and prod.inputs[2] and g[prod.inputs[2]].data is None:
            continue
        gamma, beta, mean, var = (p.astype(np.float64) for p in params)
        s = gamma / np.sqrt(var + bn.attrs.get("epsilon", 1e-5))
        shift = beta - mean * s
        ok = _fold_conv(g, prod, s, shift) if prod.op == "Conv" else _fold_gemm(g, prod, s, shift)
        if ok:
            g.nodes.remove(bn)
            out = bn.outputs[0]
            del g.tensors[out]
            rename(g, x, out)
    return g


def _bias(g: Graph, node: Node, index: int, n: int) -> np.ndarray:
    if len(node.inputs) > index and node.inputs[index]:
        return g[node.inputs[index]].data.astype(np.float64)
    return np.zeros(n)


def _set_inputs(g: Graph, node: Node, w: np.ndarray, b: np.ndarray, b_index: int) -> None:
    node.inputs[1] = g.add_const(node.inputs[1] + "_bn", w.astype(np.float32)).name
    while len(node.inputs) <= b_index:
        node.inputs.append("")
    node.inputs[b_index] = g.add_const((node.inputs[b_index] or node.name + "_bias") + "_bn",
                                       b.astype(np.float32)).name


def _fold_conv(g: Graph, conv: Node, s, shift) -> bool:
    w = g[conv.inputs[1]].data.astype(np.float64)
    if w.shape[0] != s.size:
        return False
    b = _bias(g, conv, 2, s.size)
    _set_inputs(g, conv, w * s.reshape((-1,) + (1,) * (w.ndim - 1)), b * s + shift, 2)
    return True


def _fold_gemm(g: Graph, gemm: Node, s, shift) -> bool:
    a = gemm.attrs
    w = g[gemm.inputs[1]].data.astype(np.float64) * a.get("alpha", 1.0)
    n = w.shape[0] if a.get("transB", 0) else w.shape[1]
    c = _bias(g, gemm, 2, n) * (a.get("beta", 1.0) if len(gemm.inputs) > 2 and gemm.inputs[2] else 1.0)
    if n != s.size or a.get("transA", 0) or c.size not in (1, n) or g[gemm.outputs[0]].shape[-1] != n:
        return False
    w = w * (s.reshape(-1, 1) if a.get("transB", 0) else s.reshape(1, -1))
    _set_inputs(g, gemm, w, np.broadcast_to(c.reshape(-1), (n,)) * s + shift, 2)
    gemm.attrs.update(alpha=1.0, beta=1.0)
    return True
