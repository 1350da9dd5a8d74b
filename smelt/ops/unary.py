"""Elementwise unary operators: activations (also fusable into producers), float math
functions, and integer / bool / classification ops (Abs, Neg, Sign, Not, IsNaN, ...)."""
from __future__ import annotations

import math

import numpy as np

from .. import activation
from ..codegen.weights import literal
from ..registry import SUFFIX, Example, Op, Rand, register

SIGNED = ("int8", "int16", "int32", "int64")
INTS = SIGNED + ("uint8", "uint16", "uint32", "uint64")


def _ex(*inputs, opset=17, **attrs):
    return Example(list(inputs), attrs, opset=opset)


def _int_call(ctx, node, g, name: str, *extra) -> None:
    x, y = node.inputs[0], node.outputs[0]
    ctx.call(f"smelt_{name}_{SUFFIX[g[x].dtype]}", ctx.ptr(x), ctx.ptr(y), g[y].size, *extra)


class Activation(Op):
    """An activation that producers can also fuse: float32 through the shared (kind, alpha,
    beta) table of smelt.activation; `int_dtypes` through smelt_<name>_<suffix> kernels."""
    kernel = "unary"
    elementwise = True
    int_dtypes: tuple[str, ...] = ()

    def act(self, node, g) -> tuple:
        return (self.name, 0.0, 0.0)

    def infer(self, node, g):
        x = g[node.inputs[0]]
        self.check_dtype(node, x.dtype, ("float32",) + self.int_dtypes)
        return [(x.shape, x.dtype)]

    def reference(self, node, g, xs):
        if xs[0].dtype == np.float32:
            return [activation.apply(xs[0], self.act(node, g))]
        return [self.int_reference(node, xs[0])]

    def int_reference(self, node, x):
        raise NotImplementedError

    def emit(self, node, g, ctx):
        x, y = node.inputs[0], node.outputs[0]
        if g[x].dtype != "float32":
            self.emit_int(node, g, ctx)
            return
        ctx.call("smelt_activation_f32", ctx.ptr(x), ctx.ptr(y), g[y].size,
                 ctx.params("smelt_act", activation.c_struct(self.act(node, g))))

    def emit_int(self, node, g, ctx):
        raise NotImplementedError


@register
class Relu(Activation):
    int_dtypes = SIGNED

    def int_reference(self, node, x):
        return np.maximum(x, 0).astype(x.dtype)

    def emit_int(self, node, g, ctx):
        _int_call(ctx, node, g, "relu")
    examples = [_ex(Rand((2, 3, 4))), _ex(Rand((1, 64))),
                _ex(Rand((3, 5), "int8", -100, 100), opset=14),
                _ex(Rand((3, 5), "int32", -100, 100), opset=14)]


@register
class Sigmoid(Activation):
    examples = [_ex(Rand((2, 3, 4), low=-6, high=6))]


@register
class Tanh(Activation):
    examples = [_ex(Rand((2, 3, 4), low=-4, high=4))]


@register
class HardSwish(Activation):
    examples = [_ex(Rand((2, 3, 4), low=-5, high=5))]


@register
class LeakyRelu(Activation):
    def act(self, node, g):
        return ("LeakyRelu", node.attrs.get("alpha", 0.01), 0.0)
    examples = [_ex(Rand((2, 3, 4))), _ex(Rand((3, 5)), alpha=0.2)]


@register
class Elu(Activation):
    def act(self, node, g):
        return ("Elu", node.attrs.get("alpha", 1.0), 0.0)
    examples = [_ex(Rand((2, 3, 4), low=-3, high=3)), _ex(Rand((7,)), alpha=0.5)]


@register
class HardSigmoid(Activation):
    def act(self, node, g):
        return ("HardSigmoid", node.attrs.get("alpha", 0.2), node.attrs.get("beta", 0.5))
    examples = [_ex(Rand((2, 3, 4), low=-4, high=4)), _ex(Rand((5,), low=-4, high=4), alpha=0.5, beta=0.6)]


@register
class Clip(Activation):
    """min/max are attributes before opset 11 and optional constant inputs since. When
    min > max every output is max (ONNX), so min is lowered to max here."""
    int_dtypes = INTS

    def from_onnx(self, node, g, opset):
        dtype = g[node.inputs[0]].dtype
        if opset < 11:
            lo, hi = node.attrs.get("min"), node.attrs.get("max")
        else:
            lo, hi = self.const(node, g, 1), self.const(node, g, 2)
        if dtype in INTS:
            info = np.iinfo(dtype)
            lo = int(info.min) if lo is None else int(lo)
            hi = int(info.max) if hi is None else int(hi)
        else:
            lo = -math.inf if lo is None else float(lo)
            hi = math.inf if hi is None else float(hi)
        node.attrs = {"min": min(lo, hi), "max": hi}
        node.inputs = node.inputs[:1]
        return node

    def act(self, node, g):
        return ("Clip", node.attrs["min"], node.attrs["max"])

    def int_reference(self, node, x):
        return np.minimum(np.maximum(x, node.attrs["min"]), node.attrs["max"]).astype(x.dtype)

    def emit_int(self, node, g, ctx):
        dtype = g[node.inputs[0]].dtype
        _int_call(ctx, node, g, "clip", literal(node.attrs["min"], dtype), literal(node.attrs["max"], dtype))
    examples = [_ex(Rand((2, 3, 4), low=-3, high=3), np.float32(-1), np.float32(1.5)),
                _ex(Rand((6,), low=-3, high=3), None, np.float32(0.5)),
                _ex(Rand((6,), low=-3, high=3), np.float32(-0.5)),
                _ex(Rand((6,), low=-3, high=3), np.float32(1), np.float32(-1)),
                _ex(Rand((3, 4), "int8", -100, 100), np.int8(-20), np.int8(50), opset=13),
                _ex(Rand((3, 4), "int32", -100, 100), None, np.int32(10), opset=13),
                _ex(Rand((3, 4), "int64", -100, 100), np.int64(5), np.int64(-5), opset=13),
                _ex(Rand((3, 4), "uint8", 0, 255), np.uint8(10), opset=13),
                Example([Rand((3, 4), low=-3, high=3)], {"min": -0.5, "max": 0.5}, opset=7)]


def _erf(x):
    return np.frompyfunc(math.erf, 1, 1)(x.astype(np.float64)).astype(np.float64)


def _softplus(x):
    return np.where(x > 0, x + np.log1p(np.exp(-np.abs(x))), np.log1p(np.exp(np.minimum(x, 0))))


class Math(Op):
    """y = fn(x): float32 via smelt_unary_f32 with the C function `fn` (a SMELT_<fn> enum
    value) and parameters alpha, beta; `int_dtypes` via smelt_<fn in lower case>_<suffix>."""
    kernel = "unary"
    elementwise = True
    fn = ""
    int_dtypes: tuple[str, ...] = ()

    def params(self, node) -> tuple[float, float]:
        return 0.0, 0.0

    def c_fn(self, node) -> str:
        return f"SMELT_{self.fn}"

    def compute(self, node, x):
        """The numpy form (composite functions compute in float64, then round once)."""
        raise NotImplementedError

    def infer(self, node, g):
        x = g[node.inputs[0]]
        self.check_dtype(node, x.dtype, ("float32",) + self.int_dtypes)
        return [(x.shape, x.dtype)]

    def reference(self, node, g, xs):
        x = xs[0]
        with np.errstate(all="ignore"):
            return [np.asarray(self.compute(node, x)).astype(x.dtype)]

    def emit(self, node, g, ctx):
        x, y = node.inputs[0], node.outputs[0]
        if g[x].dtype != "float32":
            _int_call(ctx, node, g, self.fn.lower())
            return
        alpha, beta = self.params(node)
        ctx.call("smelt_unary_f32", ctx.ptr(x), ctx.ptr(y), g[y].size, self.c_fn(node),
                 literal(alpha, "float32"), literal(beta, "float32"))


def _math(name: str, fn: str, compute, examples, int_dtypes=()) -> type:
    """Register a parameterless Math op: compute(x) is its numpy form."""
    cls = type(name, (Math,), {"fn": fn, "int_dtypes": int_dtypes, "examples": examples,
                               "compute": lambda self, node, x: compute(x)})
    return register(cls)


_int_examples = [_ex(Rand((3, 4), "int32", -100, 100), opset=13), _ex(Rand((5,), "int8", -100, 100), opset=13),
                 _ex(Rand((2, 3), "int64", -100, 100), opset=13)]
_math("Exp", "EXP", np.exp, [_ex(Rand((2, 3, 4), low=-4, high=4))])
_math("Log", "LOG", np.log, [_ex(Rand((2, 3, 4), low=0.01, high=10))])
_math("Sqrt", "SQRT", np.sqrt, [_ex(Rand((2, 3, 4), low=0, high=10))])
_math("Abs", "ABS", np.abs, [_ex(Rand((2, 3, 4)))] + _int_examples, SIGNED)
_math("Neg", "NEG", np.negative, [_ex(Rand((2, 3, 4)))] + _int_examples, SIGNED)
_math("Sign", "SIGN", np.sign, [_ex(np.array([-2, -0.5, 0, 0.5, 3], np.float32)), _ex(Rand((2, 3, 4), low=-2, high=2))]
      + _int_examples, SIGNED)
_math("Reciprocal", "RECIPROCAL", np.reciprocal, [_ex(Rand((2, 3, 4), low=0.5, high=4))])
_math("Floor", "FLOOR", np.floor, [_ex(Rand((2, 3, 4), low=-4, high=4))])
_math("Ceil", "CEIL", np.ceil, [_ex(Rand((2, 3, 4), low=-4, high=4))])
_math("Round", "ROUND", np.rint, [_ex(Rand((2, 3, 4), low=-4, high=4)),
                                  _ex(np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.49], np.float32))])
_math("Sin", "SIN", np.sin, [_ex(Rand((2, 3, 4), low=-4, high=4))])
_math("Cos", "COS", np.cos, [_ex(Rand((2, 3, 4), low=-4, high=4))])
_math("Tan", "TAN", np.tan, [_ex(Rand((2, 3, 4), low=-1.5, high=1.5))])
_math("Asin", "ASIN", np.arcsin, [_ex(Rand((2, 3, 4), low=-1, high=1))])
_math("Acos", "ACOS", np.arccos, [_ex(Rand((2, 3, 4), low=-1, high=1))])
_math("Atan", "ATAN", np.arctan, [_ex(Rand((2, 3, 4), low=-4, high=4))])
_math("Sinh", "SINH", np.sinh, [_ex(Rand((2, 3, 4), low=-4, high=4))])
_math("Cosh", "COSH", np.cosh, [_ex(Rand((2, 3, 4), low=-4, high=4))])
_math("Asinh", "ASINH", np.arcsinh, [_ex(Rand((2, 3, 4), low=-4, high=4))])
_math("Acosh", "ACOSH", np.arccosh, [_ex(Rand((2, 3, 4), low=1, high=5))])
_math("Atanh", "ATANH", np.arctanh, [_ex(Rand((2, 3, 4), low=-0.95, high=0.95))])
_math("Erf", "ERF", _erf, [_ex(Rand((2, 3, 4), low=-3, high=3))])
_math("Softplus", "SOFTPLUS", lambda x: _softplus(x.astype(np.float64)),
      [_ex(Rand((2, 3, 4), low=-5, high=5)), _ex(np.array([-100, -20, 0, 20, 100], np.float32))])
_math("Softsign", "SOFTSIGN", lambda x: x / (1 + np.abs(x)), [_ex(Rand((2, 3, 4), low=-5, high=5))])
_math("Mish", "MISH", lambda x: x * np.tanh(_softplus(x.astype(np.float64))),
      [_ex(Rand((2, 3, 4), low=-5, high=5), opset=18), _ex(np.array([-100, -20, 0, 20, 100], np.float32), opset=18)])


@register
class ThresholdedRelu(Math):
    fn = "THRESHOLDED_RELU"

    def params(self, node):
        return node.attrs.get("alpha", 1.0), 0.0

    def compute(self, node, x):
        return np.where(x > np.float32(self.params(node)[0]), x, 0)
    examples = [_ex(Rand((2, 3, 4), low=-3, high=3), opset=10), _ex(Rand((3, 4), low=-3, high=3), alpha=0.5)]


@register
class Selu(Math):
    fn = "SELU"

    def params(self, node):
        return node.attrs.get("alpha", 1.67326319217681884765625), node.attrs.get("gamma", 1.05070102214813232421875)

    def compute(self, node, x):
        a, g = self.params(node)
        x = x.astype(np.float64)
        return g * np.where(x > 0, x, a * np.expm1(x))
    examples = [_ex(Rand((2, 3, 4), low=-3, high=3)), _ex(Rand((3, 4), low=-3, high=3), alpha=2.0, gamma=3.0)]


@register
class Celu(Math):
    fn = "CELU"

    def params(self, node):
        return node.attrs.get("alpha", 1.0), 0.0

    def compute(self, node, x):
        a = self.params(node)[0]
        x = x.astype(np.float64)
        return np.maximum(x, 0) + np.minimum(0, a * np.expm1(x / a))
    examples = [_ex(Rand((2, 3, 4), low=-3, high=3), opset=12), _ex(Rand((3, 4), low=-3, high=3), alpha=2.0, opset=12)]


@register
class Swish(Math):
    """x * sigmoid(alpha x) (opset 24)."""
    fn = "SWISH"

    def params(self, node):
        return node.attrs.get("alpha", 1.0), 0.0

    def compute(self, node, x):
        return x / (1 + np.exp(-self.params(node)[0] * x.astype(np.float64)))
    examples = [_ex(Rand((2, 3, 4), low=-6, high=6), opset=24), _ex(Rand((3, 4), low=-6, high=6), alpha=1.702, opset=24)]


@register
class Shrink(Math):
    """x < -lambd: x + bias; x > lambd: x - bias; else 0."""
    fn = "SHRINK"

    def params(self, node):
        return node.attrs.get("lambd", 0.5), node.attrs.get("bias", 0.0)

    def compute(self, node, x):
        lambd, bias = (np.float32(v) for v in self.params(node))
        return np.where(x < -lambd, x + bias, np.where(x > lambd, x - bias, 0))
    examples = [_ex(Rand((2, 3, 4), low=-3, high=3), opset=9), _ex(Rand((3, 4), low=-3, high=3), lambd=1.5, bias=1.5, opset=9),
                _ex(Rand((3, 4), low=-3, high=3), lambd=1.0, bias=0.25, opset=9)]


@register
class Gelu(Math):
    """approximate='none': x/2 (1 + erf(x/sqrt 2)); 'tanh': the tanh approximation."""

    def from_onnx(self, node, g, opset):
        approximate = node.attrs.get("approximate", "none")
        if approximate not in ("none", "tanh"):
            raise self.unsupported(node, f"approximate={approximate}")
        node.attrs = {"tanh": approximate == "tanh"}
        return node

    def c_fn(self, node):
        return "SMELT_GELU_TANH" if node.attrs["tanh"] else "SMELT_GELU"

    def compute(self, node, x):
        x = x.astype(np.float64)
        if node.attrs["tanh"]:
            return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
        return 0.5 * x * (1 + _erf(x / math.sqrt(2)))
    examples = [_ex(Rand((2, 3, 4), low=-4, high=4), opset=20),
                _ex(Rand((2, 3, 4), low=-4, high=4), approximate="tanh", opset=20)]


class Classify(Op):
    """float -> bool tests."""
    kernel = "unary"
    elementwise = True

    def infer(self, node, g):
        x = g[node.inputs[0]]
        self.check_dtype(node, x.dtype, ("float32", "float64"))
        return [(x.shape, "bool")]


@register
class IsNaN(Classify):
    def reference(self, node, g, xs):
        return [np.isnan(xs[0])]

    def emit(self, node, g, ctx):
        _int_call(ctx, node, g, "isnan")
    examples = [_ex(np.array([1.0, np.nan, -np.inf, np.inf, 0.0, -np.nan], np.float32), opset=13),
                _ex(Rand((3, 4)), opset=9),
                _ex(np.array([np.nan, 2.0, np.inf], np.float64), opset=13)]


@register
class IsInf(Classify):
    def from_onnx(self, node, g, opset):
        node.attrs = {"pos": int(node.attrs.get("detect_positive", 1)),
                      "neg": int(node.attrs.get("detect_negative", 1))}
        return node

    def reference(self, node, g, xs):
        x = xs[0]
        return [(np.isposinf(x) & bool(node.attrs["pos"])) | (np.isneginf(x) & bool(node.attrs["neg"]))]

    def emit(self, node, g, ctx):
        _int_call(ctx, node, g, "isinf", node.attrs["pos"], node.attrs["neg"])
    examples = [_ex(np.array([1.0, np.nan, -np.inf, np.inf, 0.0, -1e38], np.float32), opset=10),
                _ex(np.array([1.0, np.nan, -np.inf, np.inf], np.float32), detect_negative=0, opset=10),
                _ex(np.array([1.0, np.nan, -np.inf, np.inf], np.float32), detect_positive=0, opset=20),
                _ex(np.array([np.inf, 2.0, -np.inf], np.float64), opset=20),
                _ex(Rand((3, 4), low=-1e3, high=1e3), opset=20)]


@register
class Not(Op):
    kernel = "unary"
    elementwise = True

    def infer(self, node, g):
        x = g[node.inputs[0]]
        self.check_dtype(node, x.dtype, ("bool",))
        return [(x.shape, x.dtype)]

    def reference(self, node, g, xs):
        return [np.logical_not(xs[0])]

    def emit(self, node, g, ctx):
        x, y = node.inputs[0], node.outputs[0]
        ctx.call("smelt_not_b", ctx.ptr(x), ctx.ptr(y), g[y].size)
    examples = [_ex(Rand((2, 3, 4), "bool"), opset=7), _ex(Rand((7,), "bool"))]


@register
class BitwiseNot(Op):
    kernel = "unary"
    elementwise = True

    def infer(self, node, g):
        x = g[node.inputs[0]]
        self.check_dtype(node, x.dtype, INTS)
        return [(x.shape, x.dtype)]

    def reference(self, node, g, xs):
        return [np.bitwise_not(xs[0])]

    def emit(self, node, g, ctx):
        _int_call(ctx, node, g, "bitnot")
    examples = [_ex(Rand((2, 3, 4), "int32", -1000, 1000), opset=18), _ex(Rand((5,), "uint8", 0, 255), opset=18),
                _ex(Rand((3, 2), "int64", -1000, 1000), opset=18), _ex(Rand((3, 2), "uint16", 0, 60000), opset=18)]
