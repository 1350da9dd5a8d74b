"""Elementwise unary operators: activations and math functions (float32)."""
from __future__ import annotations

import numpy as np

from .. import activation
from ..registry import Example, Op, Rand, register


class Activation(Op):
    """An activation that producers can also fuse: attrs give (kind, alpha, beta)."""
    kernel = "unary"
    elementwise = True

    def act(self, node, g) -> tuple:
        return (self.name, 0.0, 0.0)

    def infer(self, node, g):
        x = g[node.inputs[0]]
        self.check_dtype(node, x.dtype, ("float32",))
        return [(x.shape, x.dtype)]

    def reference(self, node, g, xs):
        return [activation.apply(xs[0], self.act(node, g))]

    def emit(self, node, g, ctx):
        x, y = node.inputs[0], node.outputs[0]
        ctx.call("smelt_activation_f32", ctx.ptr(x), ctx.ptr(y), g[y].size,
                 ctx.params("smelt_act", activation.c_struct(self.act(node, g))))


def _ex(*inputs, **attrs):
    return Example(list(inputs), attrs)


@register
class Relu(Activation):
    examples = [_ex(Rand((2, 3, 4))), _ex(Rand((1, 64)))]


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
    """min/max are attributes before opset 11 and optional constant inputs since."""

    def from_onnx(self, node, g, opset):
        if opset < 11:
            lo, hi = node.attrs.pop("min", -np.inf), node.attrs.pop("max", np.inf)
        else:
            lo, hi = self.const(node, g, 1), self.const(node, g, 2)
            lo = -np.inf if lo is None else float(lo)
            hi = np.inf if hi is None else float(hi)
        node.attrs = {"min": float(lo), "max": float(hi)}
        node.inputs = node.inputs[:1]
        return node

    def act(self, node, g):
        return ("Clip", node.attrs["min"], node.attrs["max"])
    examples = [_ex(Rand((2, 3, 4), low=-3, high=3), np.float32(-1), np.float32(1.5)),
                _ex(Rand((6,), low=-3, high=3), None, np.float32(0.5)),
                Example([Rand((3, 4), low=-3, high=3)], {"min": -0.5, "max": 0.5}, opset=7)]


class Math(Op):
    kernel = "unary"
    elementwise = True
    fn_index = 0
    numpy_fn = None

    def infer(self, node, g):
        x = g[node.inputs[0]]
        self.check_dtype(node, x.dtype, ("float32",))
        return [(x.shape, x.dtype)]

    def reference(self, node, g, xs):
        return [type(self).numpy_fn(xs[0]).astype(xs[0].dtype)]

    def emit(self, node, g, ctx):
        ctx.call("smelt_unary_f32", ctx.ptr(node.inputs[0]), ctx.ptr(node.outputs[0]),
                 g[node.outputs[0]].size, self.fn_index)


@register
class Exp(Math):
    fn_index, numpy_fn = 0, np.exp
    examples = [_ex(Rand((2, 3, 4), low=-4, high=4))]


@register
class Log(Math):
    fn_index, numpy_fn = 1, np.log
    examples = [_ex(Rand((2, 3, 4), low=0.01, high=10))]


@register
class Sqrt(Math):
    fn_index, numpy_fn = 2, np.sqrt
    examples = [_ex(Rand((2, 3, 4), low=0, high=10))]


@register
class Abs(Math):
    fn_index, numpy_fn = 3, np.abs
    examples = [_ex(Rand((2, 3, 4)))]


@register
class Neg(Math):
    fn_index, numpy_fn = 4, np.negative
    examples = [_ex(Rand((2, 3, 4)))]
