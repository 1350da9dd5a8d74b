"""Expand and Tile, any element type: views of the input with zero steps (a broadcast dim) or
an extra zero-step dim per repeat, copied by smelt_gather (ops/gather.c) with memcpy runs."""
from __future__ import annotations

import numpy as np

from ..registry import Example, Op, Rand, register
from .gather import emit_gather, strides

I64 = np.int64


@register
class Expand(Op):
    """Canonical attrs: shape (the output's: the input broadcast against the given shape)."""
    kernel = "gather"

    def from_onnx(self, node, g, opset):
        x = g[node.inputs[0]]
        shape = [int(d) for d in self.const(node, g, 1)]
        try:
            out = np.broadcast_shapes(x.shape, tuple(shape))
        except ValueError:
            raise self.unsupported(node, f"cannot broadcast {x.shape} to {shape}") from None
        node.attrs = {"shape": tuple(out)}
        node.inputs = node.inputs[:1]
        return node

    def infer(self, node, g):
        return [(node.attrs["shape"], g[node.inputs[0]].dtype)]

    def reference(self, node, g, xs):
        return [np.broadcast_to(xs[0], node.attrs["shape"]).copy()]

    def emit(self, node, g, ctx):
        shape, out = g[node.inputs[0]].shape, node.attrs["shape"]
        lead = len(out) - len(shape)
        st = [0] * lead + [s if d > 1 else 0 for d, s in zip(shape, strides(shape))]
        emit_gather(self, node, g, ctx, list(zip(out, st)))

    examples = [
        Example([Rand((3, 1)), np.array([2, 3, 4], I64)], opset=8),
        Example([Rand((1, 4), "int8", -99, 99), np.array([3, 1], I64)], name="row_int8"),
        Example([Rand((2, 1, 3), "bool"), np.array([2, 5, 3], I64)], opset=13, name="middle_bool"),
        Example([Rand((4,), "float64"), np.array([1], I64)], name="smaller_shape"),
        Example([Rand((2, 3), "int64", -9, 9), np.array([2, 1, 1, 1], I64)], name="new_leading_dims"),
    ]


@register
class Tile(Op):
    """Canonical attrs: repeats (one per dim)."""
    kernel = "gather"

    def from_onnx(self, node, g, opset):
        repeats = [int(r) for r in self.const(node, g, 1)]
        if len(repeats) != len(g[node.inputs[0]].shape) or min(repeats, default=0) < 0:
            raise self.unsupported(node, f"repeats {repeats} for shape {g[node.inputs[0]].shape}")
        node.attrs = {"repeats": repeats}
        node.inputs = node.inputs[:1]
        return node

    def infer(self, node, g):
        x = g[node.inputs[0]]
        return [(tuple(d * r for d, r in zip(x.shape, node.attrs["repeats"])), x.dtype)]

    def reference(self, node, g, xs):
        return [np.tile(xs[0], node.attrs["repeats"])]

    def emit(self, node, g, ctx):
        shape = g[node.inputs[0]].shape
        dims = []
        for r, d, s in zip(node.attrs["repeats"], shape, strides(shape)):
            dims += [(r, 0), (d, s)]
        emit_gather(self, node, g, ctx, dims)

    examples = [
        Example([Rand((2, 3, 4)), np.array([1, 2, 3], I64)]),
        Example([Rand((3,), "uint16", 0, 999), np.array([4], I64)], opset=13, name="1d_u16"),
        Example([Rand((2, 1, 3), "int32", -9, 9), np.array([3, 5, 1], I64)], opset=6, name="size1_dim"),
        Example([Rand((2, 3), "bool"), np.array([0, 2], I64)], name="zero_repeat"),
    ]
