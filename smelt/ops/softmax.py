"""Softmax and LogSoftmax (float32).

Opset >= 13 normalizes along `axis` (default -1); before 13 the input is coerced to 2-D at
`axis` (default 1) and the whole flattened tail is normalized. Canonical attrs: axis >= 0 and
`flat` (the old semantics), kept only when the tail really has more than one dim of size > 1.
"""
from __future__ import annotations

import math

import numpy as np

from ..registry import Example, Op, Rand, register


def split(shape, axis: int, flat: bool) -> tuple[int, int, int]:
    """(outer, n, inner): the op normalizes over n."""
    outer = math.prod(shape[:axis])
    if flat:
        return outer, math.prod(shape[axis:]), 1
    return outer, shape[axis], math.prod(shape[axis + 1:])


@register
class Softmax(Op):
    kernel = "softmax"
    log = False

    def from_onnx(self, node, g, opset):
        shape = g[node.inputs[0]].shape
        axis = node.attrs.get("axis", 1 if opset < 13 else -1)
        if not -len(shape) <= axis < len(shape):
            raise self.unsupported(node, f"axis {axis} for rank {len(shape)}")
        axis %= len(shape)
        flat = opset < 13 and math.prod(shape[axis + 1:]) > 1
        node.attrs = {"axis": axis, "flat": flat}
        return node

    def infer(self, node, g):
        x = g[node.inputs[0]]
        self.check_dtype(node, x.dtype, ("float32",))
        return [(x.shape, x.dtype)]

    def reference(self, node, g, xs):
        x = xs[0]
        v = x.reshape(split(x.shape, node.attrs["axis"], node.attrs["flat"]))
        v = v - v.max(axis=1, keepdims=True)
        e = np.exp(v)
        s = e.sum(axis=1, keepdims=True)
        y = v - np.log(s) if self.log else e / s
        return [y.reshape(x.shape).astype(x.dtype)]

    def scratch(self, node, g):
        x = g[node.inputs[0]]
        inner = split(x.shape, node.attrs["axis"], node.attrs["flat"])[2]
        return 2 * inner * 4 if inner > 1 else 0

    def emit(self, node, g, ctx):
        x, y = node.inputs[0], node.outputs[0]
        outer, n, inner = split(g[x].shape, node.attrs["axis"], node.attrs["flat"])
        scratch = ctx.scratch("float") if inner > 1 else "NULL"
        ctx.call("smelt_softmax_f32", ctx.ptr(x), ctx.ptr(y), scratch,
                 ctx.params("smelt_softmax_params", {"outer": outer, "n": n, "inner": inner, "log": int(self.log)}))

    examples = [Example([Rand((2, 10), low=-5, high=5)]),
                Example([Rand((2, 3, 4), low=-5, high=5)], {"axis": 1}),
                Example([Rand((2, 3, 4), low=-5, high=5)], {"axis": 0}),
                Example([Rand((2, 3, 4), low=-5, high=5)], {"axis": -2}),
                Example([Rand((2, 3, 4, 5), low=-5, high=5)], {"axis": 1}, opset=11),   # flattened tail
                Example([Rand((2, 3, 4), low=-5, high=5)], opset=11),                   # default axis 1
                Example([Rand((2, 3, 1, 1), low=-5, high=5)], {"axis": 1}, opset=11),   # tail of ones
                Example([Rand((3, 4), low=-5, high=5)], {"axis": 1}, opset=7),
                Example([Rand((2, 6), low=1000, high=1010)]),                           # exp overflows
                Example([Rand((2, 6, 3), low=1000, high=1010)], {"axis": 1}),
                Example([Rand((1, 5, 2), low=-5, high=5)], {"axis": 1}, opset=13)]


@register
class LogSoftmax(Softmax):
    log = True
    examples = Softmax.examples
