"""Slice, any element type: a strided view of the input, copied by smelt_gather (ops/gather.c)
with memcpy of the contiguous runs."""
from __future__ import annotations

import numpy as np

from ..registry import Example, Op, Rand, register
from .gather import emit_gather, strides

I64 = np.int64


@register
class Slice(Op):
    """Canonical attrs: starts, ends, steps, one per dim, resolved and clamped: dim d keeps
    indices range(starts[d], ends[d], steps[d]) (an end of -1 with a negative step: down to 0)."""
    kernel = "gather"

    def from_onnx(self, node, g, opset):
        shape = g[node.inputs[0]].shape
        rank = len(shape)
        if opset < 10:
            starts, ends = node.attrs["starts"], node.attrs["ends"]
            axes, steps = node.attrs.get("axes"), None
        else:
            starts, ends, axes, steps = (self.const(node, g, i) for i in (1, 2, 3, 4))
        axes = range(len(starts)) if axes is None else axes
        steps = [1] * len(starts) if steps is None else steps
        out = {"starts": [0] * rank, "ends": list(shape), "steps": [1] * rank}
        for a, s, e, st in zip(axes, starts, ends, steps):
            a, s, e, st = (int(v) for v in (a, s, e, st))
            a = a + rank if a < 0 else a
            if not 0 <= a < rank or st == 0:
                raise self.unsupported(node, f"axis {a} / step {st} invalid for rank {rank}")
            dim = shape[a]
            s, e = (v + dim if v < 0 else v for v in (s, e))
            if st > 0:
                s, e = min(max(s, 0), dim), min(max(e, 0), dim)
            else:
                s, e = min(max(s, 0), dim - 1), min(max(e, -1), dim - 1)
            out["starts"][a], out["ends"][a], out["steps"][a] = s, e, st
        node.attrs = out
        node.inputs = node.inputs[:1]
        return node

    def infer(self, node, g):
        x = g[node.inputs[0]]
        a = node.attrs
        return [(tuple(len(range(*v)) for v in zip(a["starts"], a["ends"], a["steps"])), x.dtype)]

    def reference(self, node, g, xs):
        a = node.attrs
        return [xs[0][tuple(slice(s, e if e >= 0 else None, st)
                            for s, e, st in zip(a["starts"], a["ends"], a["steps"]))]]

    def emit(self, node, g, ctx):
        a = node.attrs
        st = strides(g[node.inputs[0]].shape)
        out = g[node.outputs[0]].shape
        emit_gather(self, node, g, ctx, [(n, s * step) for n, s, step in zip(out, st, a["steps"])],
                    base=sum(s * start for s, start in zip(st, a["starts"])))

    examples = [
        Example([Rand((5, 6, 7)), np.array([1, 2], I64), np.array([4, 5], I64), np.array([0, 2], I64)],
                opset=13, name="runs"),
        Example([Rand((5, 6, 7)), np.array([-1, 5], I64), np.array([-100, 0], I64), np.array([0, -1], I64),
                 np.array([-2, -3], I64)], opset=13, name="negative_steps"),
        Example([Rand((4, 10), "int8", -99, 99), np.array([-50, 3], np.int32), np.array([2**31 - 1, 1000], np.int32),
                 None, np.array([1, 3], np.int32)], opset=11, name="out_of_range_int8"),
        Example([Rand((3, 4, 5), "bool"), np.array([1], I64), np.array([2], I64), np.array([-2], I64)],
                opset=10, name="one_index_bool"),
        Example([Rand((6, 8))], {"starts": [1, 0], "ends": [-1, 100], "axes": [0, 1]}, opset=7, name="attrs"),
        Example([Rand((6, 8), "int64", -9, 9)], {"starts": [2], "ends": [5]}, opset=9, name="attrs_default_axes"),
        Example([Rand((2, 3, 4, 5), "float64"), np.array([0, 0, 3], I64), np.array([9, 9, 1], I64), None,
                 np.array([1, 2, -1], I64)], opset=13, name="4d_float64"),
        Example([Rand((4, 5)), np.array([3], I64), np.array([1], I64), np.array([1], I64)], opset=13,
                name="empty"),
    ]
