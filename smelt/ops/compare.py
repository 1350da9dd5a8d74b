"""Comparisons (Equal, Less, ...), the logical And/Or/Xor and Where, all broadcasting.

Their kernels are in ops/compare.c, which uses the broadcast loop of ops/binary.c: these ops
declare kernel "binary" so that binary.c is included first, and add compare.c in emit.
Bools are 0/1 in uint8_t, so And/Or/Xor are the uint8 bitwise kernels.
"""
from __future__ import annotations

import numpy as np

from ..registry import Example, Rand, register
from .binary import BCAST, NUMERIC, Binary, bcast_call, suffix


def _ex(*inputs, opset=17, **attrs):
    return Example(list(inputs), attrs, opset=opset)


class Compare(Binary):
    kernel = ("binary", "compare")   # compare.c uses binary.c's broadcast loop

    def out_dtype(self, dtype):
        return "bool"


def _compare_examples(opset=13, oldest=9):
    exs = [_ex(Rand(a, "int32", -3, 3), Rand(b, "int32", -3, 3), opset=opset) for a, b in BCAST]
    exs += [_ex(Rand((3, 4)), Rand((3, 4)), opset=opset),
            _ex(Rand((3, 4)), np.array([0.5, 0.0, -0.5, 1.0], np.float32), opset=opset),
            _ex(Rand((2, 5), "float64"), Rand((5,), "float64"), opset=opset),
            _ex(Rand((3, 4), "int64", -3, 3), Rand((3, 1), "int64", -3, 3), opset=opset),
            _ex(Rand((3, 4), "uint8", 0, 4), Rand((3, 4), "uint8", 0, 4), opset=opset),
            _ex(Rand((3, 4), "int8", -3, 3), Rand((4,), "int8", -3, 3), opset=opset),
            _ex(Rand((2, 3), "int32", -3, 3), Rand((2, 3), "int32", -3, 3), opset=oldest)]
    return exs


@register
class Equal(Compare):
    cname, numpy_fn, dtypes = "equal", np.equal, NUMERIC + ("bool",)
    examples = _compare_examples() + [_ex(Rand((3, 4), "bool"), Rand((4,), "bool"), opset=11)]


@register
class Less(Compare):
    cname, numpy_fn = "less", np.less
    examples = _compare_examples()


@register
class LessOrEqual(Compare):
    cname, numpy_fn = "less_equal", np.less_equal
    examples = _compare_examples(16, oldest=12)


@register
class Greater(Compare):
    cname, numpy_fn = "greater", np.greater
    examples = _compare_examples()


@register
class GreaterOrEqual(Compare):
    cname, numpy_fn = "greater_equal", np.greater_equal
    examples = _compare_examples(16, oldest=12)


class Logical(Binary):
    dtypes = ("bool",)


def _logical_examples():
    shapes = [((2, 3, 4), (2, 3, 4)), ((2, 3, 4, 5), (3, 1, 1)), ((2, 1, 4), (3, 1)), ((3, 4), (1,))]
    return [_ex(Rand(a, "bool"), Rand(b, "bool"), opset=7) for a, b in shapes]


@register
class And(Logical):
    cname, numpy_fn = "bitand", np.logical_and
    examples = _logical_examples()


@register
class Or(Logical):
    cname, numpy_fn = "bitor", np.logical_or
    examples = _logical_examples()


@register
class Xor(Logical):
    cname, numpy_fn = "bitxor", np.logical_xor
    examples = _logical_examples()


@register
class Where(Binary):
    """y = cond ? x : y, the three broadcast together."""
    kernel = ("binary", "compare")
    dtypes = NUMERIC + ("bool",)

    def infer(self, node, g):
        c, x, y = (g[i] for i in node.inputs)
        if c.dtype != "bool":
            raise self.unsupported(node, f"condition of dtype {c.dtype}")
        self.check_dtype(node, x.dtype, self.dtypes)
        if x.dtype != y.dtype:
            raise self.unsupported(node, f"inputs of different dtypes {x.dtype}, {y.dtype}")
        return [(np.broadcast_shapes(c.shape, x.shape, y.shape), x.dtype)]

    def reference(self, node, g, xs):
        return [np.where(*xs).astype(xs[1].dtype)]

    def emit(self, node, g, ctx):
        y = node.outputs[0]
        bcast_call(ctx, f"smelt_where_{suffix(g[y].dtype)}", [(ctx.ptr(i), g[i].shape) for i in node.inputs],
                   (ctx.ptr(y), g[y].shape))

    examples = [_ex(Rand((2, 3, 4), "bool"), Rand((2, 3, 4)), Rand((2, 3, 4))),
                _ex(Rand((3, 4), "bool"), Rand((4,)), Rand(())),
                _ex(Rand((4,), "bool"), Rand((3, 1)), Rand((2, 1, 1))),
                _ex(Rand((2, 1, 4), "bool"), Rand((2, 3, 4), "int64", -9, 9), Rand((3, 1), "int64", -9, 9), opset=9),
                _ex(Rand((3, 4), "bool"), Rand((3, 4), "uint8", 0, 9), np.array(7, np.uint8), opset=16),
                _ex(Rand((3, 4), "bool"), Rand((3, 4), "int32", -9, 9), Rand((3, 4), "int32", -9, 9), opset=16),
                _ex(Rand((3, 4), "bool"), Rand((3, 4), "float64"), Rand((1, 4), "float64"), opset=16)]
