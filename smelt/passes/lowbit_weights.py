"""Rewrite the int8 weights of QConv2D / QDepthwiseConv2D / QFullyConnected into a packed low-bit
format (smelt/ops/qlowbit.py): int4, ternary, binary (+-1) or palette (k-means clusters).

Post-training: the layer's real weights q8 * s8 are re-quantized per output channel
    int4     symmetric, codes -7..7, scale = max|w| / 7
    ternary  {-a, 0, +a}: threshold 0.7 * mean|w|, a = mean |w| above it (TWN)
    binary   {-a, +a}: sign(w), a = mean|w| (XNOR-Net)
    palette  k-means of the layer's weights (k = clusters), centres quantized to one int8 scale
and the int32 bias is rescaled to the new weight scales. Weights that already lie on the format's
grid (the integers a QAT export writes: |q| <= 7 for int4, {-1, 0, 1} for ternary, {-1, 1} for
binary) are packed as they are, with their own scales: exact, no rounding.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import SmeltError
from ..ir import Graph, Node, QuantParams
from ..ops.qlowbit import CODEBOOKS, pack_codes

FORMATS = ("int4", "ternary", "binary", "palette")
OPS = {"QConv2D": "QConv2DLowBit", "QDepthwiseConv2D": "QDepthwiseConv2DLowBit",
       "QFullyConnected": "QFullyConnectedLowBit"}
GRID = {"int4": (-8, 7), "ternary": (-1, 1), "binary": (-1, 1)}


def out_axis(op: str) -> int:
    return 3 if op == "QDepthwiseConv2D" else 0


def candidates(g: Graph) -> list[Node]:
    """The int8 layers with constant int8 weights, in graph order."""
    return [n for n in g.nodes if n.op in OPS and g[n.inputs[0]].dtype == "int8"
            and g[n.inputs[1]].is_const and g[n.inputs[1]].dtype == "int8" and g[n.inputs[1]].quant is not None]


def run(g: Graph, format: str = "int4", clusters: int = 16, keep_first_last: bool | None = None,
        layers=None, seed: int = 0) -> Graph:
    """keep_first_last (default: True for ternary/binary) leaves the first and last layer int8;
    layers (node names) restricts the rewrite to those nodes."""
    if format not in FORMATS:
        raise SmeltError(f"unknown weight format '{format}' (use {', '.join(FORMATS)})")
    if format == "palette" and not 2 <= clusters <= 256:
        raise SmeltError(f"palette clusters must be in 2..256, got {clusters}")
    nodes = candidates(g)
    if keep_first_last is None:
        keep_first_last = format in ("ternary", "binary")
    if keep_first_last and len(nodes) > 2:
        nodes = nodes[1:-1]
    if layers is not None:
        unknown = set(layers) - {n.name for n in candidates(g)}
        if unknown:
            raise SmeltError(f"layers {sorted(unknown)} are not int8 QConv2D/QDepthwiseConv2D/QFullyConnected "
                             f"nodes with constant weights")
        nodes = [n for n in nodes if n.name in set(layers)]
    for node in nodes:
        rewrite(g, node, format, clusters, seed)
    return g


def rewrite(g: Graph, node: Node, format: str, clusters: int = 16, seed: int = 0) -> None:
    w = g[node.inputs[1]]
    axis = out_axis(node.op)
    q8 = np.moveaxis(w.data.astype(np.int64), axis, 0).reshape(w.shape[axis], -1)   # [channels, k]
    s8 = np.broadcast_to(w.quant.scale.astype(np.float64).reshape(-1), (q8.shape[0],))
    ints, scales, codebook, bits = quantize_rows(q8, s8, format, clusters, seed)
    codes = code_of(ints, codebook)
    codes = np.moveaxis(codes.reshape((w.shape[axis],) + tuple(np.delete(w.shape, axis))), 0, axis)
    packed = g.add_const(w.name + f"_{format}", pack_codes(codes, bits))
    packed.quant = QuantParams(scales.astype(np.float32), np.zeros(scales.size, np.int64), axis)
    cb = g.add_const(w.name + f"_{format}_codebook", np.asarray(codebook, np.int8))
    bias = node.inputs[2] if len(node.inputs) > 2 else ""
    if bias:
        b = g[bias]
        ratio = s8 / scales.astype(np.float32).astype(np.float64)
        new = np.clip(np.round(b.data.astype(np.float64) * ratio), -2**31, 2**31 - 1).astype(np.int32)
        bias = g.add_const(bias + f"_{format}", new).name
    node.attrs = {**node.attrs, "w_shape": list(w.shape), "bits": bits, "format": format}
    node.inputs = [node.inputs[0], packed.name, bias, cb.name]
    node.op = OPS[node.op]


def on_grid(q8: np.ndarray, format: str) -> bool:
    if format == "binary":
        return bool(np.all(np.abs(q8) == 1))
    lo, hi = GRID.get(format, (1, 0))
    return bool(q8.min() >= lo and q8.max() <= hi)


def quantize_rows(q8, s8, format: str, clusters: int, seed: int):
    """(integer weights [channels, k], per-channel scales, codebook, bits) for one layer."""
    if format in GRID:
        bits, codebook = CODEBOOKS[format]
        if on_grid(q8, format):
            return q8, s8.copy(), codebook, bits
        wf = q8 * s8[:, None]
        a = np.abs(wf)
        if format == "int4":
            scales = a.max(axis=1) / 7
            scales = np.where(scales > 0, scales, s8)
            return np.clip(np.round(wf / scales[:, None]), -7, 7).astype(np.int64), scales, codebook, bits
        if format == "binary":
            scales = a.mean(axis=1)
            return np.where(wf >= 0, 1, -1), np.where(scales > 0, scales, s8), codebook, bits
        delta = 0.7 * a.mean(axis=1, keepdims=True)
        mask = a > delta
        scales = (a * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1)
        return (np.sign(wf) * mask).astype(np.int64), np.where(scales > 0, scales, s8), codebook, bits
    # palette: k-means over the layer's real weights, centres on one int8 grid
    wf = q8 * s8[:, None]
    centres = kmeans_1d(wf.reshape(-1), clusters, seed)
    top = np.abs(centres).max()
    scale = top / 127 if top > 0 else float(s8.max())
    codebook = np.unique(np.clip(np.round(centres / scale), -127, 127)).astype(np.int64)
    ints = codebook[nearest(wf.reshape(-1) / scale, codebook)].reshape(wf.shape)
    bits = max(1, math.ceil(math.log2(len(codebook))))
    return ints, np.full(q8.shape[0], scale), list(codebook), bits


def code_of(ints: np.ndarray, codebook) -> np.ndarray:
    """Each integer's index in the codebook (its first occurrence)."""
    cb = np.asarray(codebook, np.int64)
    order = np.argsort(cb, kind="stable")
    pos = np.searchsorted(cb[order], ints)
    codes = order[np.clip(pos, 0, len(cb) - 1)]
    assert np.array_equal(cb[codes], ints), "a weight is not in the codebook"
    return codes


def kmeans_1d(values: np.ndarray, k: int, seed: int = 0, iters: int = 50) -> np.ndarray:
    """Lloyd's k-means in one dimension, started at the quantiles (deterministic)."""
    v = np.asarray(values, np.float64)
    uniq = np.unique(v)
    if uniq.size <= k:
        return uniq
    c = np.quantile(v, (np.arange(k) + 0.5) / k)
    for _ in range(iters):
        c = np.unique(c)
        assign = nearest(v, c)
        counts = np.bincount(assign, minlength=c.size)
        new = np.where(counts > 0, np.bincount(assign, v, minlength=c.size) / np.maximum(counts, 1), c)
        if np.allclose(new, c):
            break
        c = new
    return np.sort(c)


def nearest(v: np.ndarray, sorted_centres: np.ndarray) -> np.ndarray:
    """Index of the nearest centre (ascending centres) for each value."""
    c = np.asarray(sorted_centres, np.float64)
    return np.searchsorted((c[1:] + c[:-1]) / 2, v)
