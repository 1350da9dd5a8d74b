"""Pad, any element type, modes constant / reflect / edge / wrap; negative pads crop first (as
onnxruntime does). Each padded dim reads its input index from a table (-1: the constant), so
the copy is smelt_gather (ops/gather.c), with memcpy of the unpadded stretch of each row."""
from __future__ import annotations

import numpy as np

from ..registry import Example, Op, Rand, register
from .gather import emit_gather, strides

MODES = ("constant", "reflect", "edge", "wrap")
I64 = np.int64


def source_index(n: int, before: int, after: int, mode: str) -> np.ndarray:
    """For one dim of n input elements: the input index of each output index, -1 for the
    constant. Negative before/after crop."""
    c0, c1 = max(-before, 0), n - max(-after, 0)
    m, b, e = c1 - c0, max(before, 0), max(after, 0)
    i = np.arange(-b, m + e)
    if mode == "constant":
        inside = (i >= 0) & (i < m)
        return np.where(inside, c0 + i, -1)
    if mode == "edge":
        return c0 + np.clip(i, 0, m - 1)
    if mode == "wrap":
        return c0 + i % m
    period = 2 * (m - 1)   # reflect
    i = i % period
    return c0 + np.where(i < m, i, period - i)


@register
class Pad(Op):
    """Canonical attrs: pads (ONNX order, full rank: all begins then all ends; negative crops),
    mode, value (a Python number of the input's kind)."""
    kernel = "gather"

    def from_onnx(self, node, g, opset):
        x = g[node.inputs[0]]
        rank = len(x.shape)
        mode = node.attrs.get("mode", "constant")
        if opset < 11:
            pads, value, axes = node.attrs["pads"], node.attrs.get("value", 0.0), None
        else:
            pads, value = self.const(node, g, 1), self.const(node, g, 2)
            axes = self.const(node, g, 3) if opset >= 18 else None
            value = 0 if value is None or value.size == 0 else value.reshape(-1)[0]
        pads = [int(p) for p in pads]
        if axes is not None:
            full = [0] * (2 * rank)
            for k, a in enumerate(int(a) for a in axes):
                a = a + rank if a < 0 else a
                full[a], full[rank + a] = pads[k], pads[len(axes) + k]
            pads = full
        if mode not in MODES or len(pads) != 2 * rank:
            raise self.unsupported(node, f"mode {mode!r} with pads {pads} for rank {rank}")
        value = np.asarray(value).astype(x.dtype).item()
        node.attrs = {"pads": pads, "mode": mode, "value": value}
        node.inputs = node.inputs[:1]
        return node

    def infer(self, node, g):
        x = g[node.inputs[0]]
        pads, mode = node.attrs["pads"], node.attrs["mode"]
        rank = len(x.shape)
        out = []
        for d, n in enumerate(x.shape):
            b, e = pads[d], pads[rank + d]
            m = n - max(-b, 0) - max(-e, 0)   # after cropping
            if m < 0 or (mode != "constant" and (b > 0 or e > 0) and
                         (m == 0 or mode == "reflect" and max(b, e) > m - 1)):
                raise self.unsupported(node, f"{mode} pads {b}, {e} of a dim of {n}")
            out.append(m + max(b, 0) + max(e, 0))
        return [(tuple(out), x.dtype)]

    def reference(self, node, g, xs):
        x, pads, mode = xs[0], node.attrs["pads"], node.attrs["mode"]
        rank = x.ndim
        crop = tuple(slice(max(-pads[d], 0), x.shape[d] - max(-pads[rank + d], 0)) for d in range(rank))
        width = [(max(pads[d], 0), max(pads[rank + d], 0)) for d in range(rank)]
        if mode == "constant":
            return [np.pad(x[crop], width, mode, constant_values=node.attrs["value"])]
        return [np.pad(x[crop], width, mode)]

    def emit(self, node, g, ctx):
        x = g[node.inputs[0]]
        pads, mode = node.attrs["pads"], node.attrs["mode"]
        rank = len(x.shape)
        dims = []
        for d, (n, s) in enumerate(zip(x.shape, strides(x.shape))):
            b, e = pads[d], pads[rank + d]
            if b == e == 0:
                dims.append((n, s))
            else:
                idx = source_index(n, b, e, mode)
                dims.append((len(idx), np.where(idx < 0, -1, idx * s)))
        emit_gather(self, node, g, ctx, dims, fill=node.attrs["value"] if mode == "constant" else None)

    examples = [
        Example([Rand((1, 2, 5, 6)), np.array([0, 0, 1, 2, 0, 0, 2, 1], I64)], name="constant_nchw"),
        Example([Rand((3, 4)), np.array([1, -1, -2, 2], I64), np.array(1.5, np.float32)], opset=11,
                name="negative_value"),
        Example([Rand((2, 3, 5), "int32", -99, 99), np.array([0, 2, 4, 0, 1, 3], I64)], {"mode": "reflect"},
                opset=13, name="reflect_int32"),
        Example([Rand((2, 3, 4), "uint8", 0, 255), np.array([1, 2, 3, 3, 0, 5], I64)], {"mode": "edge"},
                name="edge_u8"),
        Example([Rand((3, 4), "float64"), np.array([5, 6, 2, 1], I64)], {"mode": "wrap"}, opset=19,
                name="wrap_float64"),
        Example([Rand((2, 3, 4)), np.array([2, 1, 1, 3], I64), np.array(-2.0, np.float32), np.array([-1, 0], I64)],
                opset=18, name="axes"),
        Example([Rand((2, 3))], {"pads": [1, 0, 0, 2], "value": 3.0}, opset=7, name="attrs"),
        Example([Rand((2, 3))], {"pads": [0, 1, 1, 0], "mode": "reflect"}, opset=10, name="attrs_reflect"),
        Example([Rand((2, 3), "int64", -9, 9), np.array([0, 2, 0, 2], I64)], {"mode": "edge"}, opset=13,
                name="edge_last_dim_int64"),
        Example([Rand((3, 4), "int8", -99, 99), np.array([1, 1, 1, 1], I64), np.array(-7, np.int8)],
                opset=13, name="int8_value"),
    ]
