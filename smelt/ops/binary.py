"""Elementwise binary operators with multidirectional (numpy) broadcasting: arithmetic, Pow,
Mod, PRelu, bit operations, and the variadic Sum/Mean/Max/Min as chains of binary calls.

Broadcasting is resolved here: `bcast_params` merges dims and drops size-1 ones, so the C
kernel (ops/binary.c) only walks rows in which each input is contiguous or one repeated value.
"""
from __future__ import annotations

import functools

import numpy as np

from .. import activation
from ..ir import C_TYPES
from ..registry import SUFFIX, Example, Op, Rand, register

INTS = ("int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64")
FLOATS = ("float32", "float64")
NUMERIC = FLOATS + INTS
MAX_RANK = 8          # SMELT_MAX_RANK
MAX_INPUTS = 3        # inputs a smelt_bcast describes


def bcast_params(out_shape, in_shapes) -> dict:
    """Fields of the C smelt_bcast struct for inputs broadcast to out_shape."""
    r = len(out_shape)
    strides = []
    for shape in in_shapes:
        shape = (1,) * (r - len(shape)) + tuple(shape)
        st, acc = [0] * r, 1
        for d in reversed(range(r)):
            st[d] = acc if shape[d] > 1 else 0
            acc *= shape[d]
        strides.append(st)
    dims, ss = [], []   # merged dims and, per dim, each input's element stride
    for d in range(r):
        if out_shape[d] == 1:
            continue
        cur = [st[d] for st in strides]
        if dims and all(p == c * out_shape[d] for p, c in zip(ss[-1], cur)):
            dims[-1] *= out_shape[d]     # contiguous with the inner dim for every input
            ss[-1] = cur
        else:
            dims.append(out_shape[d])
            ss.append(cur)
    if not dims:
        dims, ss = [1], [[0] * len(in_shapes)]
    if len(dims) > MAX_RANK:
        raise ValueError(f"broadcast needs {len(dims)} dims (at most {MAX_RANK})")
    outer = len(dims) - 1
    # Offset change of input k when outer dim d advances and the dims inside it wrap to 0.
    steps = [[ss[d][k] - sum(ss[e][k] * (dims[e] - 1) for e in range(d + 1, outer)) for d in range(outer)]
             for k in range(len(in_shapes))]
    pad = MAX_INPUTS - len(in_shapes)
    return {"rank": len(dims), "shape": dims, "step": steps + [[]] * pad,
            "contig": [int(ss[-1][k] == 1) for k in range(len(in_shapes))] + [0] * pad}


def bcast_call(ctx, func: str, ins: list[tuple[str, tuple]], out: tuple[str, tuple], *extra) -> None:
    """Call func(in pointers..., out pointer, &bcast, extra...); ins/out are (pointer, shape)."""
    if 0 in out[1]:
        return
    p = ctx.params("smelt_bcast", bcast_params(out[1], [s for _, s in ins]))
    ctx.call(func, *[ptr for ptr, _ in ins], out[0], p, *extra)


def suffix(dtype: str) -> str:
    return "u8" if dtype == "bool" else SUFFIX[dtype]   # bool is 0/1 in uint8_t


class Binary(Op):
    """y = f(a, b). Subclasses give `cname` (kernel smelt_<cname>_<suffix>) and `numpy_fn`
    (or override `fn`)."""
    kernel = "binary"
    elementwise = True    # in place is safe on an input of y's shape and element size
    cname = ""
    dtypes = NUMERIC
    numpy_fn = None

    def infer(self, node, g):
        ts = [g[i] for i in node.inputs]
        self.check_dtype(node, ts[0].dtype, self.dtypes)
        if any(t.dtype != ts[0].dtype for t in ts):
            raise self.unsupported(node, f"inputs of different dtypes {[t.dtype for t in ts]}")
        return [(np.broadcast_shapes(*[t.shape for t in ts]), self.out_dtype(ts[0].dtype))]

    def out_dtype(self, dtype: str) -> str:
        return dtype

    def fn(self, node, a, b):
        return type(self).numpy_fn(a, b)

    def reference(self, node, g, xs):
        with np.errstate(all="ignore"):
            y = self.fn(node, *xs)
        return [np.asarray(y).astype(self.out_dtype(xs[0].dtype))]

    def func(self, node, g) -> str:
        return f"smelt_{self.cname}_{suffix(g[node.inputs[0]].dtype)}"

    def extra(self, node, g, ctx) -> list[str]:
        """Kernel arguments after the broadcast params."""
        return []

    def emit(self, node, g, ctx):
        y = node.outputs[0]
        bcast_call(ctx, self.func(node, g), [(ctx.ptr(i), g[i].shape) for i in node.inputs],
                   (ctx.ptr(y), g[y].shape), *self.extra(node, g, ctx))


def _ex(*inputs, opset=17, **attrs):
    return Example(list(inputs), attrs, opset=opset)


# The broadcasting cases every binary op is tested on.
BCAST = [
    ((2, 3, 4), (2, 3, 4)),          # same shape: one row
    ((2, 3, 4, 5), (3, 1, 1)),       # channel broadcast
    ((3, 4), ()),                    # scalar
    ((), (2, 5)),                    # scalar first
    ((2, 1, 4), (3, 1)),             # both broadcast
    ((1, 3, 1, 5), (2, 1, 4, 1)),    # alternating
    ((4, 1, 3), (1, 5, 3)),          # rows of both, outer broadcast
]


def _bcast_examples(low=-1.0, high=1.0, dtype="float32"):
    return [_ex(Rand(a, dtype, low, high), Rand(b, dtype, low, high)) for a, b in BCAST]


class Arith(Binary):
    """Add, Sub, Mul: float32 applies a fused activation (attrs['act'])."""
    fusable_activation = True

    def reference(self, node, g, xs):
        y = super().reference(node, g, xs)[0]
        return [activation.apply(y, node.attrs.get("act")) if y.dtype == np.float32 else y]

    def extra(self, node, g, ctx):
        return act_arg(ctx, g[node.outputs[0]].dtype, node.attrs.get("act"))


def act_arg(ctx, dtype: str, act) -> list[str]:
    """The float32 add/sub/mul kernels take a fused activation; other dtypes do not."""
    return [ctx.params("smelt_act", activation.c_struct(act))] if dtype == "float32" else []


@register
class Add(Arith):
    cname, numpy_fn = "add", np.add
    examples = _bcast_examples() + [
        _ex(Rand((2, 3), "int32", -100, 100), Rand((3,), "int32", -100, 100)),
        _ex(Rand((2, 3), "int64", -100, 100), Rand((2, 1), "int64", -100, 100)),
        _ex(Rand((4, 5), "float64"), Rand((5,), "float64")),
        _ex(Rand((3, 4), "uint8", 0, 255), Rand((3, 4), "uint8", 0, 255), opset=14),
        _ex(Rand((3, 4), "int8", -128, 127), Rand((4,), "int8", -128, 127), opset=14),
        _ex(Rand((1, 8, 3, 3)), Rand((1, 8, 3, 3)), opset=7)]


@register
class Sub(Arith):
    cname, numpy_fn = "sub", np.subtract
    examples = _bcast_examples() + [
        _ex(Rand((2, 3), "int32", -100, 100), Rand((2, 3), "int32", -100, 100)),
        _ex(Rand((2, 3), "int64", -100, 100), Rand((), "int64", -100, 100)),
        _ex(Rand((4, 5), "float64"), Rand((4, 1), "float64")),
        _ex(Rand((3, 4), "uint16", 0, 1000), Rand((3, 4), "uint16", 0, 1000), opset=14)]


@register
class Mul(Arith):
    cname, numpy_fn = "mul", np.multiply
    examples = _bcast_examples() + [
        _ex(Rand((2, 3), "int32", -100, 100), Rand((3,), "int32", -100, 100)),
        _ex(Rand((2, 3), "int64", -100, 100), Rand((2, 3), "int64", -100, 100)),
        _ex(Rand((4, 5), "float64"), Rand((), "float64")),
        _ex(Rand((3, 4), "int16", -100, 100), Rand((3, 4), "int16", -100, 100), opset=14)]


def trunc_div(a, b):
    """Integer division rounding toward zero (C), where numpy floors."""
    q = a // b
    if np.issubdtype(a.dtype, np.signedinteger):
        q = q + ((q * b != a) & ((a < 0) != (b < 0)))
    return q


@register
class Div(Binary):
    cname = "div"

    def fn(self, node, a, b):
        return a / b if a.dtype.kind == "f" else trunc_div(a, b)

    examples = _bcast_examples(0.5, 2.0) + [
        _ex(Rand((3, 4), "int32", -50, 50), Rand((3, 4), "int32", 1, 7)),
        _ex(Rand((3, 4), "int64", -50, 50), Rand((4,), "int64", 1, 7)),
        _ex(Rand((3, 4), "float64"), Rand((3, 4), "float64", 0.5, 2.0)),
        _ex(Rand((3, 4), "uint8", 0, 255), Rand((3, 4), "uint8", 1, 9), opset=14)]


@register
class Pow(Binary):
    """Base float32/float64/int32/int64, exponent any numeric type; y has the base's dtype."""
    cname = "pow"

    def infer(self, node, g):
        a, b = g[node.inputs[0]], g[node.inputs[1]]
        self.check_dtype(node, a.dtype, ("float32", "float64", "int32", "int64"))
        self.check_dtype(node, b.dtype, NUMERIC)
        return [(np.broadcast_shapes(a.shape, b.shape), a.dtype)]

    def fn(self, node, a, b):
        if a.dtype == b.dtype == np.float32:
            return np.power(a, b)
        if a.dtype.kind == "f" or b.dtype.kind == "f":
            return np.power(a.astype(np.float64), b.astype(np.float64))
        # Exact integer power (wrapping), as the kernel's smelt_ipow.
        a, b = a.astype(np.int64), b.astype(np.int64)
        y = np.power(a, np.maximum(b, 0))
        neg = np.where(a == 1, 1, np.where(a == -1, np.where(b % 2 == 1, -1, 1), 0))
        return np.where(b < 0, neg, y)

    def func(self, node, g):
        return f"smelt_pow_{SUFFIX[g[node.inputs[0]].dtype]}_{SUFFIX[g[node.inputs[1]].dtype]}"

    examples = [_ex(Rand((2, 3, 4), low=0.1, high=3), Rand((2, 3, 4), low=-2, high=2)),
                _ex(Rand((2, 3, 4), low=0.1, high=3), np.array(2.0, np.float32)),
                _ex(Rand((3, 4), low=0.1, high=3), Rand((4,), low=-2, high=2), opset=12),
                _ex(Rand((3, 4), "float64", 0.1, 3), Rand((3, 1), "float64", -2, 2)),
                _ex(Rand((3, 4), low=-3, high=3), Rand((3, 4), "int64", -3, 4), opset=15),
                _ex(Rand((3, 4), low=-3, high=3), Rand((3, 4), "int32", -3, 4), opset=15),
                _ex(Rand((3, 4), "int32", -5, 5), Rand((3, 4), "int32", 0, 5), opset=15),
                _ex(Rand((3, 4), "int64", -5, 5), Rand((4,), "int64", 0, 5), opset=15),
                _ex(Rand((3, 4), "int64", 0, 5), Rand((3, 4), low=0, high=3), opset=15)]


@register
class Mod(Binary):
    """fmod=0: the result takes the divisor's sign (Python's %); fmod=1: C's fmod / %."""
    def infer(self, node, g):
        node.attrs["fmod"] = int(node.attrs.get("fmod", 0))
        return super().infer(node, g)

    def fn(self, node, a, b):
        return np.fmod(a, b) if node.attrs["fmod"] else np.mod(a, b)

    def func(self, node, g):
        dtype = g[node.inputs[0]].dtype
        floor = not node.attrs["fmod"] and dtype[0] != "u"   # unsigned: the two agree
        return f"smelt_{'mod' if floor else 'fmod'}_{SUFFIX[dtype]}"

    examples = [_ex(Rand((2, 3, 4), "int32", -20, 20), Rand((2, 3, 4), "int32", 1, 7)),
                _ex(Rand((2, 3, 4), "int32", -20, 20), Rand((4,), "int32", -7, -1)),
                _ex(Rand((3, 4), "int64", -20, 20), Rand((3, 4), "int64", 1, 7), fmod=1),
                _ex(Rand((3, 4), "int64", -20, 20), Rand((3, 1), "int64", -7, -1), fmod=1),
                _ex(Rand((3, 4), "int8", -100, 100), Rand((3, 4), "int8", 1, 9)),
                _ex(Rand((3, 4), "uint8", 0, 200), Rand((3, 4), "uint8", 1, 9)),
                _ex(Rand((2, 3, 4), low=-5, high=5), Rand((2, 3, 4), low=0.5, high=2), fmod=1),
                _ex(Rand((2, 3, 4), "float64", -5, 5), Rand((4,), "float64", -2, -0.5), fmod=1),
                _ex(Rand((3, 4), low=-5, high=5), np.array(1.5, np.float32), fmod=1, opset=10)]


@register
class PRelu(Binary):
    """y = x < 0 ? slope * x : x, the slope broadcast to x."""
    cname = "prelu"
    dtypes = FLOATS

    def fn(self, node, x, slope):
        return np.where(x < 0, x * slope, x)

    examples = [_ex(Rand((2, 3, 4, 5)), Rand((3, 1, 1))),
                _ex(Rand((2, 3, 4, 5)), np.array([0.1, 0.2, 0.3], np.float32).reshape(3, 1, 1)),
                _ex(Rand((3, 4, 5)), Rand((5,))),
                _ex(Rand((3, 4, 5)), Rand((3, 4, 5))),
                _ex(Rand((2, 6)), np.array(0.25, np.float32), opset=9)]


@register
class BitShift(Binary):
    """Shifts by a negative amount or by the width or more give 0 (-1 for a right shift of a
    negative value); right shifts of signed values are arithmetic."""
    dtypes = INTS

    def from_onnx(self, node, g, opset):
        node.attrs = {"left": node.attrs["direction"] == "LEFT"}
        return node

    def fn(self, node, a, b):
        bad = (b < 0) | (b >= a.dtype.itemsize * 8)
        s = np.where(bad, 0, b).astype(a.dtype)
        if node.attrs["left"]:
            return np.where(bad, 0, np.left_shift(a, s))
        fill = np.where(a < 0, -1, 0).astype(a.dtype)
        return np.where(bad, fill, np.right_shift(a, s))

    def func(self, node, g):
        return f"smelt_{'shl' if node.attrs['left'] else 'shr'}_{SUFFIX[g[node.inputs[0]].dtype]}"

    examples = [_ex(Rand((2, 3), "uint8", 0, 255), Rand((2, 3), "uint8", 0, 9), direction="LEFT", opset=11),
                _ex(Rand((2, 3), "uint8", 0, 255), Rand((2, 3), "uint8", 0, 9), direction="RIGHT", opset=11),
                _ex(Rand((2, 3), "uint16", 0, 60000), Rand((3,), "uint16", 0, 17), direction="LEFT", opset=11),
                _ex(Rand((4,), "uint32", 0, 2**31), Rand((), "uint32", 0, 33), direction="RIGHT", opset=11),
                _ex(Rand((2, 3), "uint64", 0, 2**40), Rand((2, 3), "uint64", 0, 65), direction="LEFT", opset=11),
                _ex(Rand((2, 3), "uint64", 0, 2**40), Rand((2, 1), "uint64", 0, 65), direction="RIGHT", opset=11)]


class Bitwise(Binary):
    dtypes = INTS


def _bitwise_examples():
    return [_ex(Rand((2, 3, 4), "int32", -1000, 1000), Rand((2, 3, 4), "int32", -1000, 1000), opset=18),
            _ex(Rand((3, 4), "uint8", 0, 255), Rand((4,), "uint8", 0, 255), opset=18),
            _ex(Rand((3, 4), "int64", -2**40, 2**40), Rand((3, 1), "int64", -2**40, 2**40), opset=18),
            _ex(Rand((3, 4), "int16", -1000, 1000), Rand((), "int16", -1000, 1000), opset=18)]


@register
class BitwiseAnd(Bitwise):
    cname, numpy_fn = "bitand", np.bitwise_and
    examples = _bitwise_examples()


@register
class BitwiseOr(Bitwise):
    cname, numpy_fn = "bitor", np.bitwise_or
    examples = _bitwise_examples()


@register
class BitwiseXor(Bitwise):
    cname, numpy_fn = "bitxor", np.bitwise_xor
    examples = _bitwise_examples()


class Variadic(Binary):
    """Sum/Mean/Max/Min of 1..N broadcast inputs: y = x0 op x1, then y = y op xk."""
    def fn(self, node, *xs):
        return functools.reduce(type(self).numpy_fn, xs)

    def emit(self, node, g, ctx):
        y = node.outputs[0]
        ty, ins = g[y], list(node.inputs)
        if len(ins) == 1:
            if ctx.ptr(ins[0]) != ctx.ptr(y):
                ctx.copy(ctx.ptr(y), ctx.ptr(ins[0]), ty.nbytes)
            return
        # y may share memory with an input of its shape: that input must be consumed first.
        ins.sort(key=lambda t: ctx.ptr(t) != ctx.ptr(y))
        func, extra, out = self.func(node, g), self.extra(node, g, ctx), (ctx.ptr(y), ty.shape)
        bcast_call(ctx, func, [(ctx.ptr(i), g[i].shape) for i in ins[:2]], out, *extra)
        for t in ins[2:]:
            bcast_call(ctx, func, [out, (ctx.ptr(t), g[t].shape)], out, *extra)


def _variadic_examples(dtypes=("float32",)):
    exs = [_ex(Rand((2, 3, 4))), _ex(Rand((2, 3, 4)), Rand((2, 3, 4))),
           _ex(Rand((2, 3, 4)), Rand((3, 1)), Rand((4,))),
           _ex(Rand((3,)), Rand((2, 1)), Rand(()), Rand((2, 3)), opset=8),
           _ex(Rand((3, 4)), Rand((3, 4)), opset=7)]
    return exs + [_ex(Rand((3, 4), dt, -100, 100), Rand((4,), dt, -100, 100), Rand((3, 4), dt, -100, 100), opset=13)
                  for dt in dtypes]


@register
class Sum(Variadic):
    cname, numpy_fn, dtypes = "add", np.add, FLOATS

    def extra(self, node, g, ctx):
        return act_arg(ctx, g[node.outputs[0]].dtype, None)
    examples = _variadic_examples(("float64",))


@register
class Mean(Sum):
    def fn(self, node, *xs):
        return super().fn(node, *xs) / xs[0].dtype.type(len(xs))

    def emit(self, node, g, ctx):
        super().emit(node, g, ctx)
        y = node.outputs[0]
        t = g[y]
        if len(node.inputs) > 1:
            count = ctx.array(C_TYPES[t.dtype], [len(node.inputs)])
            bcast_call(ctx, f"smelt_div_{SUFFIX[t.dtype]}", [(ctx.ptr(y), t.shape), (count, ())],
                       (ctx.ptr(y), t.shape))
    examples = _variadic_examples()


@register
class Max(Variadic):
    cname, numpy_fn = "max", np.maximum
    examples = _variadic_examples(("float64", "int32", "int64", "uint8", "int8", "uint64"))


@register
class Min(Variadic):
    cname, numpy_fn = "min", np.minimum
    examples = _variadic_examples(("float64", "int32", "int64", "uint32", "uint64"))
