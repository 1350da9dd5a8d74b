"""Shape operators. Reshape, Flatten, Squeeze and Unsqueeze only reinterpret their input (alias
ops: no kernel). Shape, Size, ConstantOfShape and Range produce values known at compile time:
they have no inputs left after from_onnx (or only constant ones), so the front end folds them."""
from __future__ import annotations

import math

import numpy as np
from onnx.numpy_helper import from_array

from ..registry import Example, Op, Rand, register


def normalize_axes(node, op: Op, axes, rank: int) -> list[int]:
    """Axes in [0, rank), sorted; negative ones count from the end."""
    out = sorted(int(a) + rank if int(a) < 0 else int(a) for a in axes)
    if any(not 0 <= a < rank for a in out) or len(set(out)) != len(out):
        raise op.unsupported(node, f"axes {list(axes)} invalid for rank {rank}")
    return out


class Alias(Op):
    """Output 0 is input 0 with another shape (same bytes)."""
    alias = True

    def out_shape(self, node, shape: tuple[int, ...]) -> tuple[int, ...]:
        raise NotImplementedError

    def infer(self, node, g):
        x = g[node.inputs[0]]
        return [(self.out_shape(node, x.shape), x.dtype)]

    def reference(self, node, g, xs):
        return [xs[0].reshape(self.out_shape(node, xs[0].shape))]


@register
class Reshape(Alias):
    """Canonical attrs: shape (fully resolved: no 0 or -1)."""

    def from_onnx(self, node, g, opset):
        x = g[node.inputs[0]]
        spec = [int(d) for d in self.const(node, g, 1)]
        allowzero = node.attrs.get("allowzero", 0)
        if spec.count(-1) > 1 or (not allowzero and 0 in spec[len(x.shape):]):
            raise self.unsupported(node, f"cannot reshape {x.shape} to {spec}")
        shape = [x.shape[i] if d == 0 and not allowzero else d for i, d in enumerate(spec)]
        if -1 in shape:
            known = math.prod(d for d in shape if d != -1)
            if known == 0 or x.size % known:
                raise self.unsupported(node, f"cannot reshape {x.shape} to {spec}")
            shape[shape.index(-1)] = x.size // known
        node.attrs = {"shape": tuple(shape)}
        node.inputs = node.inputs[:1]
        return node

    def out_shape(self, node, shape):
        out = tuple(node.attrs["shape"])
        if math.prod(out) != math.prod(shape):
            raise self.unsupported(node, f"cannot reshape {shape} to {out}")
        return out

    examples = [
        Example([Rand((2, 3, 4)), np.array([4, -1], np.int64)]),
        Example([Rand((2, 3, 4)), np.array([0, 0, 2, 2], np.int64)], name="zero_copies_dim"),
        Example([Rand((2, 3, 4), "int8", -100, 100), np.array([24], np.int64)], name="int8"),
        Example([np.zeros((2, 0, 4), np.float32), np.array([0, 4, 5], np.int64)], {"allowzero": 1}, opset=14,
                name="allowzero"),
        Example([Rand((6,), "bool"), np.array([1, 2, 1, 3], np.int64)], opset=7, name="bool_opset7"),
    ]


@register
class Flatten(Alias):
    """Canonical attrs: axis (>= 0)."""

    def from_onnx(self, node, g, opset):
        rank = len(g[node.inputs[0]].shape)
        axis = node.attrs.get("axis", 1)
        node.attrs = {"axis": axis + rank if axis < 0 else axis}
        return node

    def out_shape(self, node, shape):
        axis = node.attrs["axis"]
        return (math.prod(shape[:axis]), math.prod(shape[axis:]))

    examples = [
        Example([Rand((2, 3, 4, 5))]),
        Example([Rand((2, 3, 4, 5))], {"axis": 0}, name="axis0"),
        Example([Rand((2, 3, 4, 5), "int64", -9, 9)], {"axis": -1}, opset=13, name="negative_axis"),
        Example([Rand((2, 3, 4))], {"axis": 3}, opset=9, name="axis_rank"),
    ]


@register
class Squeeze(Alias):
    """Canonical attrs: axes (>= 0, sorted; every listed dim is 1)."""

    def from_onnx(self, node, g, opset):
        shape = g[node.inputs[0]].shape
        axes = node.attrs.get("axes") if opset < 13 else self.const(node, g, 1)
        if axes is None:
            axes = [i for i, d in enumerate(shape) if d == 1]
        axes = normalize_axes(node, self, axes, len(shape))
        if any(shape[a] != 1 for a in axes):
            raise self.unsupported(node, f"cannot squeeze axes {axes} of shape {shape}")
        node.attrs = {"axes": axes}
        node.inputs = node.inputs[:1]
        return node

    def out_shape(self, node, shape):
        return tuple(d for i, d in enumerate(shape) if i not in node.attrs["axes"])

    examples = [
        Example([Rand((1, 3, 1, 5)), np.array([0, -2], np.int64)], opset=13),
        Example([Rand((1, 3, 1, 5), "uint16", 0, 9)], opset=13, name="all_ones"),
        Example([Rand((3, 1, 5))], {"axes": [1]}, opset=11, name="attr"),
        Example([Rand((1, 1))], opset=13, name="to_scalar"),
    ]


@register
class Unsqueeze(Alias):
    """Canonical attrs: axes (>= 0 in the output's rank, sorted)."""

    def from_onnx(self, node, g, opset):
        rank = len(g[node.inputs[0]].shape)
        axes = node.attrs.get("axes", []) if opset < 13 else self.const(node, g, 1)
        node.attrs = {"axes": normalize_axes(node, self, axes, rank + len(axes))}
        node.inputs = node.inputs[:1]
        return node

    def out_shape(self, node, shape):
        out, rest = [], iter(shape)
        for i in range(len(shape) + len(node.attrs["axes"])):
            out.append(1 if i in node.attrs["axes"] else next(rest))
        return tuple(out)

    examples = [
        Example([Rand((3, 4)), np.array([0, 3], np.int64)], opset=13),
        Example([Rand((3, 4), "float64"), np.array([-1, 1], np.int64)], opset=13, name="negative_unsorted"),
        Example([Rand((3, 4), "int32", -50, 50)], {"axes": [1]}, opset=11, name="attr"),
        Example([Rand((), "uint8", 0, 200)], {"axes": [0]}, opset=7, name="scalar"),
    ]


class Computed(Op):
    """A value known at compile time from shapes and constants: canonical attrs value; no inputs."""

    def infer(self, node, g):
        v = node.attrs["value"]
        return [(v.shape, v.dtype.name)]

    def reference(self, node, g, xs):
        return [node.attrs["value"]]


@register
class Shape(Computed):
    def from_onnx(self, node, g, opset):
        shape = g[node.inputs[0]].shape
        rank = len(shape)
        start, end = node.attrs.get("start", 0), node.attrs.get("end", rank)
        start, end = (min(max(s + rank if s < 0 else s, 0), rank) for s in (start, end))
        node.attrs = {"value": np.array(shape[start:end], np.int64)}
        node.inputs = []
        return node

    examples = [
        Example([Rand((2, 3, 4))]),
        Example([Rand((2, 3, 4, 5), "int8")], {"start": 1, "end": -1}, opset=15, name="start_end"),
        Example([Rand((2, 3))], {"start": -10}, opset=15, name="clip_start"),
        Example([Rand((2, 3))], {"start": 2}, opset=15, name="empty"),
    ]


@register
class Size(Computed):
    def from_onnx(self, node, g, opset):
        node.attrs = {"value": np.array(g[node.inputs[0]].size, np.int64)}
        node.inputs = []
        return node

    examples = [Example([Rand((2, 3, 4))]), Example([Rand((), "int8")], name="scalar")]


@register
class ConstantOfShape(Computed):
    def from_onnx(self, node, g, opset):
        shape = tuple(int(d) for d in self.const(node, g, 0))
        value = node.attrs.get("value", np.zeros(1, np.float32))
        node.attrs = {"value": np.full(shape, value.reshape(-1)[0], value.dtype)}
        node.inputs = []
        return node

    examples = [
        Example([np.array([2, 3], np.int64)], opset=9),
        Example([np.array([4], np.int64)], {"value": from_array(np.array([7], np.int32))}, name="int32"),
        Example([np.array([20, 20], np.int64)], {"value": from_array(np.array([1.5], np.float32))}, name="splat"),
        Example([np.array([2, 0], np.int64)], {"value": from_array(np.array([True]))}, name="empty_bool"),
    ]


@register
class Range(Op):
    """Inputs start, limit, delta: constants (the output's length depends on them)."""

    def infer(self, node, g):
        start, limit, delta = (self.const(node, g, i) for i in range(3))
        dtype = g[node.inputs[0]].dtype
        self.check_dtype(node, dtype, ("float32", "float64", "int16", "int32", "int64"))
        n = max(math.ceil(float(limit - start) / float(delta)), 0)   # the difference in the dtype
        return [((n,), dtype)]

    def reference(self, node, g, xs):
        value, delta = xs[0].copy(), xs[2]
        out = np.empty(self.infer(node, g)[0][0], value.dtype)
        for i in range(out.size):   # accumulated, as the spec and onnxruntime do
            out[i] = value
            value = value + delta
        return [out]

    examples = [
        Example([np.array(1, np.int64), np.array(10, np.int64), np.array(3, np.int64)], opset=11),
        Example([np.array(10, np.int32), np.array(6, np.int32), np.array(-3, np.int32)], opset=11,
                name="negative_delta"),
        Example([np.array(0.5, np.float32), np.array(2.0, np.float32), np.array(0.25, np.float32)],
                opset=11, name="float"),
        Example([np.array(3, np.int16), np.array(1, np.int16), np.array(1, np.int16)], opset=11,
                name="empty"),
    ]
