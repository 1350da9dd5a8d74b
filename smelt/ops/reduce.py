"""Reductions (ReduceSum, ReduceMean, ... over any axes) and ArgMax / ArgMin. At run time:
float32 and float64 for all, plus integer and bool types for max, min and the arg ops; constant
inputs of any type fold at compile time."""
from __future__ import annotations

import math

import numpy as np

from ..codegen import weights
from ..registry import SUFFIX, Example, Op, Rand, register
from .shape import normalize_axes

I64 = np.int64
MINMAX_TYPES = ("float32", "float64", "int8", "uint8", "int32", "int64", "bool")
ARG_TYPES = ("float32", "float64", "int8", "uint8", "int32", "int64")


def lowest(dtype: str):
    if dtype == "bool":
        return False
    return -np.inf if dtype.startswith("float") else np.iinfo(dtype).min


def highest(dtype: str):
    if dtype == "bool":
        return True
    return np.inf if dtype.startswith("float") else np.iinfo(dtype).max


def kernel_suffix(dtype: str) -> str:
    return "u8" if dtype == "bool" else SUFFIX[dtype]


class Reduce(Op):
    """Canonical attrs: axes (>= 0, sorted; [] reduces nothing: each output is one input value
    through the reduction's function), keepdims (0 / 1)."""
    kernel = "reduce"
    axes_input_since = 18          # the opset that moved axes from an attribute to an input
    runtime_types = ("float32", "float64")
    c_op = ""                      # SMELT_REDUCE_* of smelt_reduce_f32 / _f64

    def from_onnx(self, node, g, opset):
        rank = len(g[node.inputs[0]].shape)
        if opset < self.axes_input_since:
            axes, noop = node.attrs.get("axes"), 0
        else:
            axes, noop = self.const(node, g, 1), node.attrs.get("noop_with_empty_axes", 0)
        if axes is None or len(axes) == 0:
            axes = [] if noop else range(rank)
        node.attrs = {"axes": normalize_axes(node, self, axes, rank), "keepdims": int(node.attrs.get("keepdims", 1))}
        node.inputs = node.inputs[:1]
        return node

    def infer(self, node, g):
        x = g[node.inputs[0]]
        if not x.is_const:
            self.check_dtype(node, x.dtype, self.runtime_types)
        axes = node.attrs["axes"]
        if node.attrs["keepdims"]:
            shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
        else:
            shape = tuple(d for i, d in enumerate(x.shape) if i not in axes)
        return [(shape, x.dtype)]

    def compute(self, x: np.ndarray, axes: tuple, keepdims: bool) -> np.ndarray:
        raise NotImplementedError

    def reference(self, node, g, xs):
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            y = self.compute(xs[0], tuple(node.attrs["axes"]), bool(node.attrs["keepdims"]))
        return [np.asarray(y).astype(xs[0].dtype)]

    def emit(self, node, g, ctx):
        x, y = g[node.inputs[0]], g[node.outputs[0]]
        axes = node.attrs["axes"]
        count = math.prod(x.shape[a] for a in axes)
        ctx.call(f"smelt_reduce_{SUFFIX[x.dtype]}", ctx.ptr(x.name), ctx.ptr(y.name),
                 ctx.scratch(x.ctype) if self.scratch(node, g) else "NULL", y.size, self.c_op,
                 weights.literal(1.0 / count if count else math.nan, x.dtype),
                 ctx.params("smelt_reduce_params", reduce_params(x.shape, axes)))


class MinMax(Reduce):
    runtime_types = MINMAX_TYPES
    fn = ""          # max / min

    def identity(self, dtype: str):
        """The result of an empty reduction: the kernel's initial value."""
        return lowest(dtype) if self.fn == "max" else highest(dtype)

    def emit(self, node, g, ctx):
        x, y = g[node.inputs[0]], g[node.outputs[0]]
        ctx.call(f"smelt_reduce_{self.fn}_{kernel_suffix(x.dtype)}", ctx.ptr(x.name), ctx.ptr(y.name), y.size,
                 weights.literal(self.identity(x.dtype), x.dtype),
                 ctx.params("smelt_reduce_params", reduce_params(x.shape, node.attrs["axes"])))


def reduce_params(shape, axes) -> dict:
    """Input dims without the size-1 ones, adjacent kept / reduced dims merged; output steps."""
    if math.prod(shape) == 0:
        return {"rank": 0}
    dims: list[list] = []      # [size, reduced]
    for i, d in enumerate(shape):
        if d == 1:
            continue
        if dims and dims[-1][1] == (i in axes):
            dims[-1][0] *= d
        else:
            dims.append([d, i in axes])
    dims = dims or [[1, False]]
    steps, s = [], 1
    for d, reduced in reversed(dims):
        steps.append(0 if reduced else s)
        s *= 1 if reduced else d
    return {"rank": len(dims), "shape": [d for d, _ in dims], "ystep": steps[::-1]}


def _name(dtype, axes, opset, attrs) -> str:
    axes = "all" if axes is None else "-".join(map(str, axes)) or "none"
    return "_".join([dtype, f"axes{axes}", f"opset{opset}"] + [f"{k}{v}" for k, v in attrs.items()])


def _ex(shape, axes=None, opset=13, dtype="float32", low=-2.0, high=2.0, **attrs):
    """An Example with axes as an attribute (opsets before the op's axes_input_since)."""
    return Example([Rand(shape, dtype, low, high)], dict(attrs, **({} if axes is None else {"axes": axes})),
                   opset=opset, name=_name(dtype, axes, opset, attrs))


def _ex_input(shape, axes, opset=18, dtype="float32", low=-2.0, high=2.0, **attrs):
    """An Example with axes as an input (None: absent)."""
    return Example([Rand(shape, dtype, low, high), None if axes is None else np.array(axes, I64)], attrs,
                   opset=opset, name="input_" + _name(dtype, axes, opset, attrs))


def _common(since=18):
    """Examples every reduction gets: axes as attribute and input, keepdims, all / no axes."""
    attr_opset = min(since - 1, 13)
    return [
        _ex((2, 3, 4), [1], opset=attr_opset),
        _ex((2, 3, 4, 5), [0, 2], opset=attr_opset, keepdims=0),
        _ex((3, 4, 5), [-1], opset=11),
        _ex((2, 3, 4), opset=attr_opset),
        _ex_input((2, 3, 4, 5), [2, 3], opset=since),
        _ex_input((2, 3, 4), [-3, 2], opset=since, keepdims=0),
        _ex_input((3, 4), None, opset=since),
        _ex_input((3, 4), [], opset=since, noop_with_empty_axes=1),
    ]


@register
class ReduceSum(Reduce):
    axes_input_since = 13
    c_op = "SMELT_REDUCE_SUM"
    examples = _common(13)

    def compute(self, x, axes, keepdims):
        return np.sum(x, axis=axes, keepdims=keepdims)


@register
class ReduceMean(Reduce):
    c_op = "SMELT_REDUCE_MEAN"
    examples = _common() + [_ex((1, 8, 7, 7), [2, 3]), _ex((3, 4), [1], dtype="float64", keepdims=0)]

    def compute(self, x, axes, keepdims):
        return np.mean(x, axis=axes, keepdims=keepdims)


@register
class ReduceProd(Reduce):
    c_op = "SMELT_REDUCE_PROD"
    examples = _common()

    def compute(self, x, axes, keepdims):
        return np.prod(x, axis=axes, keepdims=keepdims)


@register
class ReduceL1(Reduce):
    c_op = "SMELT_REDUCE_L1"
    examples = _common()

    def compute(self, x, axes, keepdims):
        return np.sum(np.abs(x), axis=axes, keepdims=keepdims)


@register
class ReduceL2(Reduce):
    c_op = "SMELT_REDUCE_L2"
    examples = _common()

    def compute(self, x, axes, keepdims):
        return np.sqrt(np.sum(np.square(x), axis=axes, keepdims=keepdims))


@register
class ReduceSumSquare(Reduce):
    c_op = "SMELT_REDUCE_SUM_SQUARE"
    examples = _common()

    def compute(self, x, axes, keepdims):
        return np.sum(np.square(x), axis=axes, keepdims=keepdims)


@register
class ReduceLogSum(Reduce):
    c_op = "SMELT_REDUCE_LOG_SUM"
    examples = [_ex((2, 3, 4), [1], low=0.1), _ex((2, 3, 4), [0, 2], keepdims=0, low=0.1),
                _ex_input((3, 4), None, low=0.1), _ex_input((3, 4), [-1], low=0.1, keepdims=0)]

    def compute(self, x, axes, keepdims):
        return np.log(np.sum(x, axis=axes, keepdims=keepdims))


@register
class ReduceLogSumExp(Reduce):
    c_op = "SMELT_REDUCE_LOG_SUM_EXP"
    examples = _common() + [_ex((2, 5), [1], low=80, high=100), _ex_input((3, 4, 2), [0, 2], dtype="float64")]

    def scratch(self, node, g):
        return g[node.outputs[0]].nbytes

    def compute(self, x, axes, keepdims):
        m = np.max(x, axis=axes, keepdims=True, initial=-np.inf)
        m = np.where(np.isneginf(m), 0, m).astype(x.dtype)
        y = np.log(np.sum(np.exp(x - m), axis=axes, keepdims=True)) + m
        return y if keepdims else np.squeeze(y, axis=axes)


@register
class ReduceMax(MinMax):
    fn = "max"
    examples = _common() + [_ex((3, 4), [1], dtype="int8", low=-128, high=127),
                            _ex((3, 4, 2), [0, 2], dtype="uint8", low=0, high=255),
                            _ex_input((5, 6), [0], dtype="int64", low=-99, high=99, keepdims=0),
                            _ex_input((2, 3, 4), [1], dtype="float64", opset=20),
                            _ex((2, 3), [1], dtype="int32", low=-99, high=99, opset=11)]

    def compute(self, x, axes, keepdims):
        return np.max(x, axis=axes, keepdims=keepdims, initial=self.identity(x.dtype.name))


@register
class ReduceMin(MinMax):
    fn = "min"
    examples = _common() + [_ex((3, 4), [0], dtype="int8", low=-128, high=127),
                            _ex_input((4, 3, 2), [2, 0], dtype="int32", low=-99, high=99),
                            _ex((2, 3, 4), [1], dtype="float64", keepdims=0)]

    def compute(self, x, axes, keepdims):
        return np.min(x, axis=axes, keepdims=keepdims, initial=self.identity(x.dtype.name))


class Arg(Op):
    """Canonical attrs: axis (>= 0), keepdims (0 / 1), last (select_last_index)."""
    kernel = "reduce"
    is_min = False

    def from_onnx(self, node, g, opset):
        rank = len(g[node.inputs[0]].shape)
        axis = node.attrs.get("axis", 0)
        node.attrs = {"axis": axis + rank if axis < 0 else axis, "keepdims": int(node.attrs.get("keepdims", 1)),
                      "last": int(node.attrs.get("select_last_index", 0))}
        return node

    def infer(self, node, g):
        x = g[node.inputs[0]]
        if not x.is_const:
            self.check_dtype(node, x.dtype, ARG_TYPES)
        a = node.attrs["axis"]
        if x.shape[a] == 0:
            raise self.unsupported(node, "arg of an empty dimension")
        shape = x.shape[:a] + ((1,) if node.attrs["keepdims"] else ()) + x.shape[a + 1:]
        return [(shape, "int64")]

    def reference(self, node, g, xs):
        x, a = xs[0], node.attrs["axis"]
        fn = np.argmin if self.is_min else np.argmax
        if node.attrs["last"]:
            y = x.shape[a] - 1 - fn(np.flip(x, a), axis=a)
        else:
            y = fn(x, axis=a)
        return [np.expand_dims(y, a) if node.attrs["keepdims"] else y]

    def scratch(self, node, g):
        x = g[node.inputs[0]]
        return math.prod(x.shape[node.attrs["axis"] + 1:]) * x.itemsize

    def emit(self, node, g, ctx):
        x = g[node.inputs[0]]
        a = node.attrs["axis"]
        ctx.call(f"smelt_arg_{kernel_suffix(x.dtype)}", ctx.ptr(x.name), ctx.ptr(node.outputs[0]),
                 ctx.scratch(x.ctype), ctx.params("smelt_arg_params", {
                     "outer": math.prod(x.shape[:a]), "n": x.shape[a], "inner": math.prod(x.shape[a + 1:]),
                     "is_min": int(self.is_min), "last": node.attrs["last"]}))


def _arg_examples():
    ties = Rand((3, 4), "int8", 0, 2)   # few values: many ties
    return [Example([Rand((3, 4, 5))], {"axis": 1}), Example([Rand((3, 4, 5))], {"axis": -1, "keepdims": 0}),
            Example([Rand((6, 5))], opset=11, name="default_axis"),
            Example([ties], {"axis": 1, "select_last_index": 1}, opset=12, name="last_ties"),
            Example([ties], {"axis": 0}, opset=13, name="first_ties"),
            Example([Rand((2, 7), "uint8", 0, 255)], {"axis": 1, "keepdims": 0}, name="u8"),
            Example([Rand((4, 3), "int32", -99, 99)], {"axis": 0}, name="i32"),
            Example([Rand((2, 3, 4), "float64")], {"axis": 2, "select_last_index": 1}, opset=13, name="f64")]


@register
class ArgMax(Arg):
    examples = _arg_examples()


@register
class ArgMin(Arg):
    is_min = True
    examples = _arg_examples()
