"""Store the constant float weights of Conv (2-D), Gemm and MatMul as IEEE half (smelt/ops/w16.py):
half the flash; the kernels convert them back to float32 and compute in float32.

Conv -> ConvW16 (same attrs). Gemm with a constant B (transA = 0, C absent or a constant vector
of N) and MatMul with a constant 2-D B -> FullyConnectedW16: y = act(alpha * x W^T + beta * c),
W stored [N, K]. Other layers keep float32 weights.
"""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node


def half_bits(w: np.ndarray) -> np.ndarray:
    """IEEE half bit patterns (round to nearest even, as numpy's float16 cast)."""
    return np.asarray(w, np.float32).astype(np.float16).view(np.uint16)


def run(g: Graph) -> Graph:
    for node in g.nodes:
        if node.op == "Conv":
            _conv(g, node)
        elif node.op in ("Gemm", "MatMul"):
            _fc(g, node)
    return g


def _const_f32(g: Graph, name: str) -> bool:
    return bool(name) and g[name].is_const and g[name].dtype == "float32"


def _conv(g: Graph, node: Node) -> None:
    x, w = g[node.inputs[0]], node.inputs[1]
    if len(x.shape) != 4 or not _const_f32(g, w):
        return
    node.inputs = [node.inputs[0], g.add_const(w + "_fp16", half_bits(g[w].data)).name] + node.inputs[2:3]
    node.attrs = {**node.attrs, "w_shape": list(g[w].shape), "format": "fp16"}
    node.op = "ConvW16"


def _fc(g: Graph, node: Node) -> None:
    b = node.inputs[1]
    if not _const_f32(g, b) or len(g[b].shape) != 2:
        return
    wt = g[b].data.T                       # [N, K]
    alpha, beta, bias = 1.0, 1.0, ""
    if node.op == "Gemm":
        a = node.attrs
        if a["transA"] or len(g[node.inputs[0]].shape) != 2:
            return
        wt = g[b].data if a["transB"] else wt
        alpha, beta = a["alpha"], a["beta"]
        if len(node.inputs) > 2:
            c = node.inputs[2]
            if not _const_f32(g, c) or g[c].size != wt.shape[0] or (g[c].shape and g[c].shape[-1] != wt.shape[0]):
                return
            bias = g.add_const(c + "_vec", g[c].data.reshape(-1).astype(np.float32)).name
    node.inputs = [node.inputs[0], g.add_const(b + "_fp16", half_bits(wt)).name, bias]
    node.attrs = {"alpha": float(alpha), "beta": float(beta), "w_shape": list(wt.shape), "format": "fp16",
                  **({"act": node.attrs["act"]} if node.attrs.get("act") else {})}
    node.op = "FullyConnectedW16"
