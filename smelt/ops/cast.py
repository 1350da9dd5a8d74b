"""Cast and CastLike between float32/float64, the integer types and bool.

Float -> integer truncates toward zero (C's conversion, as onnxruntime); out-of-range values
are undefined, as in ONNX. float16 converts through float32 (double -> float16 rounds twice).
bfloat16, float8, 2/4-bit and string types are not supported.
A cast to the input's own dtype becomes an Identity (removed by the identity pass).
"""
from __future__ import annotations

import numpy as np
from onnx import helper

from ..registry import Example, Op, Rand, register
from .binary import NUMERIC, suffix

DTYPES = NUMERIC + ("bool", "float16")


@register
class Cast(Op):
    kernel = "cast"
    elementwise = True    # in place is safe when both dtypes have one size

    def from_onnx(self, node, g, opset):
        try:
            to = np.dtype(helper.tensor_dtype_to_np_dtype(node.attrs["to"])).name
        except Exception:
            to = helper.tensor_dtype_to_string(node.attrs["to"])
        node.attrs = {"to": to}
        return self.canonical(node, g)

    def canonical(self, node, g):
        x = g[node.inputs[0]]
        self.check_dtype(node, x.dtype, DTYPES)
        self.check_dtype(node, node.attrs["to"], DTYPES)
        if node.attrs["to"] == x.dtype:
            node.op, node.attrs = "Identity", {}
        return node

    def infer(self, node, g):
        return [(g[node.inputs[0]].shape, node.attrs["to"])]

    def reference(self, node, g, xs):
        with np.errstate(all="ignore"):
            return [xs[0].astype(node.attrs["to"])]

    def emit(self, node, g, ctx):
        x, y = node.inputs[0], node.outputs[0]
        to = "b" if g[y].dtype == "bool" else suffix(g[y].dtype)
        ctx.call(f"smelt_cast_{suffix(g[x].dtype)}_{to}", ctx.ptr(x), ctx.ptr(y), g[y].size)

    examples = [Example([Rand((2, 3, 4), low=-100, high=100)], {"to": 6}),           # float -> int32
                Example([Rand((2, 3), low=-100, high=100)], {"to": 3}, opset=13),    # float -> int8
                Example([Rand((2, 3), low=0, high=250)], {"to": 2}, opset=13),       # float -> uint8
                Example([Rand((2, 3), low=-1e6, high=1e6)], {"to": 7}, opset=13),    # float -> int64
                Example([Rand((6,), low=-2, high=2)], {"to": 11}, opset=13),         # float -> double
                Example([np.array([0.0, -0.0, 0.5, -2.0, np.nan], np.float32)], {"to": 9}, opset=13),  # -> bool
                Example([Rand((6,), "float64", -1e3, 1e3)], {"to": 1}, opset=13),    # double -> float
                Example([Rand((6,), "float64", -1e3, 1e3)], {"to": 6}, opset=13),    # double -> int32
                Example([Rand((2, 3), "int32", -1000, 1000)], {"to": 1}, opset=13),  # int32 -> float
                Example([Rand((2, 3), "int64", -2**40, 2**40)], {"to": 1}, opset=13),  # rounds
                Example([Rand((2, 3), "int32", -1000, 1000)], {"to": 3}, opset=13),  # int32 -> int8 wraps
                Example([Rand((2, 3), "int32", -1000, 1000)], {"to": 12}, opset=13),  # int32 -> uint32
                Example([Rand((2, 3), "uint8", 0, 255)], {"to": 7}, opset=13),       # uint8 -> int64
                Example([Rand((2, 3), "int64", -3, 3)], {"to": 9}, opset=13),        # int64 -> bool
                Example([Rand((2, 3), "bool")], {"to": 1}, opset=13),                # bool -> float
                Example([Rand((2, 3), "bool")], {"to": 7}, opset=9),                 # bool -> int64
                Example([Rand((2, 3))], {"to": 1}, opset=19),                        # identity
                Example([Rand((4, 5), low=-70000, high=70000)], {"to": 10}, opset=13),  # -> float16, inf
                Example([Rand((4, 5), low=-1e-4, high=1e-4)], {"to": 10}, opset=13),    # subnormal halves
                Example([Rand((4, 5), "float16", -1000, 1000)], {"to": 1}, opset=13),
                Example([Rand((4, 5), "float16", -1e-5, 1e-5)], {"to": 11}, opset=13),
                Example([Rand((4, 5), "float16", -100, 100)], {"to": 6}, opset=13),
                Example([Rand((4, 5), "float64", -100, 100)], {"to": 10}, opset=13),
                Example([Rand((4, 5), "int32", -100, 100)], {"to": 10}, opset=13)]


@register
class CastLike(Cast):
    """Cast to the dtype of input 1 (whose values are not read)."""

    def from_onnx(self, node, g, opset):
        node.op, node.attrs = "Cast", {"to": g[node.inputs[1]].dtype}
        node.inputs = node.inputs[:1]
        return self.canonical(node, g)

    examples = [Example([Rand((2, 3), low=-100, high=100), np.zeros((1,), np.int32)], opset=15),
                Example([Rand((2, 3), "int64", -100, 100), np.zeros((4,), np.float64)], opset=19),
                Example([Rand((2, 3)), np.zeros((), np.float32)], opset=15)]
