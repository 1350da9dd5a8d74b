"""Concat and Split, any element type: each input (output) is `outer` contiguous blocks of the
output (input), copied with memcpy."""
from __future__ import annotations

import math

import numpy as np

from ..registry import Example, Op, Rand, register


def copy_blocks(ctx, dst: str, src: str, outer: int, nbytes: int, dst_step: int, src_step: int) -> None:
    if outer == 1:
        ctx.copy(dst, src, nbytes)
    else:
        ctx.call("smelt_copy_blocks", dst, src, outer, nbytes, dst_step, src_step)


@register
class Concat(Op):
    """Canonical attrs: axis (>= 0)."""
    kernel = "concat"

    def from_onnx(self, node, g, opset):
        rank = len(g[node.inputs[0]].shape)
        axis = node.attrs.get("axis", 1)
        node.attrs = {"axis": axis + rank if axis < 0 else axis}
        return node

    def infer(self, node, g):
        xs = [g[i] for i in node.inputs]
        a = node.attrs["axis"]
        first = xs[0]
        for x in xs[1:]:
            if x.dtype != first.dtype or x.shape[:a] + x.shape[a + 1:] != first.shape[:a] + first.shape[a + 1:]:
                raise self.unsupported(node, f"inputs {[t.shape for t in xs]} ({[t.dtype for t in xs]}) "
                                             f"do not concatenate on axis {a}")
        dim = sum(x.shape[a] for x in xs)
        return [(first.shape[:a] + (dim,) + first.shape[a + 1:], first.dtype)]

    def reference(self, node, g, xs):
        return [np.concatenate(xs, axis=node.attrs["axis"])]

    def emit(self, node, g, ctx):
        y = g[node.outputs[0]]
        a = node.attrs["axis"]
        outer, inner = math.prod(y.shape[:a]), math.prod(y.shape[a + 1:]) * y.itemsize
        at = 0
        for name in node.inputs:
            run = g[name].shape[a] * inner
            if run and outer:
                    copy_blocks(ctx, f"((uint8_t *){ctx.ptr(y.name)} + {at})", ctx.ptr(name), outer, run,
                            y.shape[a] * inner, run)
            at += run

    examples = [
        Example([Rand((2, 3, 4)), Rand((2, 5, 4)), Rand((2, 1, 4))], {"axis": 1}),
        Example([Rand((2, 3)), np.ones((4, 3), np.float32)], {"axis": 0}, opset=7, name="axis0_const"),
        Example([Rand((2, 3, 4), "int8", -99, 99), Rand((2, 3, 2), "int8", -99, 99)], {"axis": -1},
                opset=13, name="last_axis_int8"),
        Example([Rand((3, 2), "bool"), np.zeros((3, 0), bool), Rand((3, 1), "bool")], {"axis": 1},
                name="empty_input_bool"),
        Example([Rand((1, 2, 2, 2), "int64", -9, 9)], {"axis": 1}, opset=11, name="single_int64"),
    ]


@register
class Split(Op):
    """Canonical attrs: axis (>= 0), split (the size of each output along the axis)."""
    kernel = "concat"

    def from_onnx(self, node, g, opset):
        shape = g[node.inputs[0]].shape
        axis = node.attrs.get("axis", 0)
        axis = axis + len(shape) if axis < 0 else axis
        split = node.attrs.get("split") if opset < 13 else self.const(node, g, 1)
        dim = shape[axis]
        if split is None:
            n = node.attrs.get("num_outputs", len(node.outputs))
            if "num_outputs" in node.attrs:   # opset 18: the last part may be smaller
                chunk = -(-dim // n)
                split = [min(chunk, max(dim - i * chunk, 0)) for i in range(n)]
            elif dim % n:
                raise self.unsupported(node, f"dimension {dim} does not split into {n} equal parts")
            else:
                split = [dim // n] * n
        split = [int(s) for s in split]
        if sum(split) != dim or len(split) != len(node.outputs) or min(split) < 0:
            raise self.unsupported(node, f"split {split} does not cover dimension {dim} "
                                         f"with {len(node.outputs)} outputs")
        node.attrs = {"axis": axis, "split": split}
        node.inputs = node.inputs[:1]
        return node

    def infer(self, node, g):
        x = g[node.inputs[0]]
        a = node.attrs["axis"]
        return [(x.shape[:a] + (s,) + x.shape[a + 1:], x.dtype) for s in node.attrs["split"]]

    def reference(self, node, g, xs):
        return np.split(xs[0], np.cumsum(node.attrs["split"])[:-1], axis=node.attrs["axis"])

    def emit(self, node, g, ctx):
        x = g[node.inputs[0]]
        a = node.attrs["axis"]
        outer, inner = math.prod(x.shape[:a]), math.prod(x.shape[a + 1:]) * x.itemsize
        at = 0
        for name, size in zip(node.outputs, node.attrs["split"]):
            run = size * inner
            if name and run and outer:
                copy_blocks(ctx, ctx.ptr(name), f"((const uint8_t *){ctx.ptr(x.name)} + {at})", outer, run,
                            run, x.shape[a] * inner)
            at += run

    examples = [
        Example([Rand((2, 6, 3))], {"axis": 1}, outputs=3, opset=11, name="equal"),
        Example([Rand((2, 6, 3), "uint8", 0, 255)], {"axis": -1, "split": [1, 2]}, outputs=2, opset=11,
                name="attr_u8"),
        Example([Rand((7, 4), "int32", -99, 99), np.array([2, 0, 5], np.int64)], outputs=3, opset=13,
                name="input_zero_part"),
        Example([Rand((2, 7), "float64")], {"axis": 1, "num_outputs": 3}, outputs=3, opset=18,
                name="num_outputs_uneven"),
        Example([Rand((4, 3), "bool"), np.array([3, 1], np.int64)], outputs=2, opset=18, name="bool"),
        Example([Rand((6,))], outputs=2, opset=13, name="1d_default"),
    ]
