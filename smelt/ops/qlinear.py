"""ONNX QLinearConv, QLinearMatMul (default domain) and com.microsoft QLinearAdd: the "QOperator"
form of quantized ONNX models, with numpy references per the ONNX / onnxruntime contrib specs.

Canonical form: the integer tensors stay inputs (QLinearConv: x, w, B; QLinearMatMul: a, b;
QLinearAdd: a, b); every scale and zero point is read into attrs as (scale float32 1-D,
zero_point int64 1-D) pairs under "x", "w", "y" (QLinearMatMul/QLinearAdd: "a", "b", "y").
The arithmetic of the references (ONNX's definition; onnxruntime computes the same):
  acc = sum (x - x_zp) (w - w_zp) [+ B]  (exact, in integers)
  y   = saturate(round_half_even(acc * (x_scale * w_scale / y_scale)) + y_zp)   (float32)
There is no C kernel here: the lower_quantized pass rewrites these nodes onto smelt's TFLM-exact
integer ops (QConv2D, QDepthwiseConv2D, QFullyConnected, QAdd), which round the requantization
differently: the two agree within +-1 LSB.

com.microsoft ops: MICROSOFT_OPS maps their op_type to the smelt op (the ONNX front end reads
the default domain only; see the lowering pass's notes for how to admit these).
"""
from __future__ import annotations

import numpy as np

from ..registry import Example, Op, Rand, register
from .conv import spatial_attrs
from .qdq import RANGE

MICROSOFT_OPS = {"QLinearAdd": "QLinearAdd"}
TYPES = ("int8", "uint8")


def requantize_float(acc, real_scale, zero_point, dtype: str) -> np.ndarray:
    """round_half_even(acc * scale) + zero_point, saturated; acc and scale in float32."""
    lo, hi = RANGE[dtype]
    v = np.rint(np.asarray(acc, np.float64).astype(np.float32) * np.asarray(real_scale, np.float32))
    return np.clip(v.astype(np.float64) + np.asarray(zero_point, np.int64), lo, hi).astype(dtype)


def int_conv(x, w, attrs, out_shape) -> np.ndarray:
    """Exact int64 N-d convolution (NCHW, grouped) of already zero-point-shifted x and w."""
    n, grp = x.ndim - 2, attrs["group"]
    pads = attrs["pads"]
    xp = np.pad(x, [(0, 0), (0, 0)] + [(pads[i], pads[n + i]) for i in range(n)])
    xp = xp.reshape(x.shape[0], grp, x.shape[1] // grp, *xp.shape[2:])
    wg = w.reshape(grp, w.shape[0] // grp, *w.shape[1:])
    y = np.zeros((x.shape[0], grp, w.shape[0] // grp, *out_shape[2:]), np.int64)
    for tap in np.ndindex(*attrs["kernel_shape"]):
        win = tuple(slice(t * d, t * d + (o - 1) * s + 1, s)
                    for t, d, s, o in zip(tap, attrs["dilations"], attrs["strides"], out_shape[2:]))
        y += np.einsum("ngc...,gmc->ngm...", xp[(slice(None),) * 3 + win], wg[(slice(None),) * 3 + tap])
    return y.reshape(out_shape)


class _QLinear(Op):
    foldable = True
    params: tuple[tuple[str, int, int], ...] = ()   # (attr name, scale input, zero point input)
    data_inputs: tuple[int, ...] = ()

    def read_params(self, node, g) -> dict:
        out = {}
        for key, si, zi in self.params:
            s = self.const(node, g, si)
            z = self.const(node, g, zi)
            if s.dtype != np.float32:
                raise self.unsupported(node, f"{s.dtype} scale of '{key}'")
            z = np.zeros(s.size, np.int64) if z is None else z.astype(np.int64).reshape(-1)
            out[key] = (s.astype(np.float32).reshape(-1), z)
            out[key + "_dtype"] = (self.const(node, g, zi).dtype.name if zi < len(node.inputs) and node.inputs[zi]
                                   else "uint8")
        return out

    def check_types(self, node, g, names):
        for k, name in enumerate(names):
            if name and g[name].dtype not in TYPES and not (k == 2 and self.name == "QLinearConv"):
                raise self.unsupported(node, f"input '{name}' of type {g[name].dtype} (int8/uint8 only)")

    def emit(self, node, g, ctx):
        raise self.unsupported(node, "runs only after the lower_quantized pass rewrites it onto "
                                     "smelt's integer ops (QConv2D, QFullyConnected, QAdd)")


@register
class QLinearConv(_QLinear):
    params = (("x", 1, 2), ("w", 4, 5), ("y", 6, 7))

    def from_onnx(self, node, g, opset):
        x, w = g[node.inputs[0]], g[node.inputs[3]]
        p = self.read_params(node, g)
        attrs = spatial_attrs(self, node, x.shape, w.shape[2:])
        attrs["group"] = int(node.attrs.get("group", 1))
        p.pop("x_dtype"), p.pop("w_dtype")
        attrs["dtype"] = p.pop("y_dtype")
        node.attrs = {**attrs, **p}
        bias = node.inputs[8] if len(node.inputs) > 8 else ""
        node.inputs = [node.inputs[0], node.inputs[3]] + ([bias] if bias else [])
        return node

    def infer(self, node, g):
        self.check_types(node, g, node.inputs)
        x, w, a = g[node.inputs[0]], g[node.inputs[1]], node.attrs
        if len(node.inputs) > 2 and g[node.inputs[2]].dtype != "int32":
            raise self.unsupported(node, f"bias of type {g[node.inputs[2]].dtype} (int32 only)")
        n, grp = len(x.shape) - 2, a["group"]
        if x.shape[1] != w.shape[1] * grp or w.shape[0] % grp:
            raise self.unsupported(node, f"input {list(x.shape)}, weights {list(w.shape)}, group {grp}")
        out = [(size + a["pads"][i] + a["pads"][n + i] - (k - 1) * d - 1) // s + 1
               for i, (size, k, s, d) in enumerate(zip(x.shape[2:], a["kernel_shape"], a["strides"],
                                                        a["dilations"]))]
        return [((x.shape[0], w.shape[0], *out), a["dtype"])]

    def reference(self, node, g, xs):
        a = node.attrs
        (xs_, xz), (ws, wz), (ys, yz) = a["x"], a["w"], a["y"]
        x = xs[0].astype(np.int64) - xz[0]
        w = xs[1].astype(np.int64) - wz.reshape((-1,) + (1,) * (xs[1].ndim - 1))
        out = g[node.outputs[0]].shape
        acc = int_conv(x, w, a, out)
        if len(xs) > 2 and xs[2] is not None:
            acc = acc + xs[2].astype(np.int64).reshape((1, -1) + (1,) * (len(out) - 2))
        scale = (xs_[0] * ws / ys[0]).astype(np.float32).reshape((1, -1) + (1,) * (len(out) - 2)) \
            if ws.size > 1 else np.float32(xs_[0] * ws[0] / ys[0])
        return [requantize_float(acc, scale, yz[0], a["dtype"])]

    examples = [
        Example([Rand((1, 3, 7, 6), "uint8", 0, 256), np.float32(0.02), np.uint8(120),
                 np.random.default_rng(1).integers(0, 256, (4, 3, 3, 3)).astype(np.uint8), np.float32(0.01),
                 np.uint8(128), np.float32(0.05), np.uint8(110)],
                {"pads": [1, 1, 1, 1]}, opset=10, rtol=0, atol=1, name="uint8"),
        Example([Rand((1, 4, 8, 8), "int8", -128, 128), np.float32(0.03), np.int8(-3),
                 np.random.default_rng(2).integers(-127, 128, (6, 4, 3, 3)).astype(np.int8),
                 np.linspace(0.004, 0.01, 6).astype(np.float32), np.zeros(6, np.int8), np.float32(0.2),
                 np.int8(5), np.random.default_rng(3).integers(-3000, 3000, 6).astype(np.int32)],
                {"strides": [2, 2], "pads": [1, 0, 1, 1]}, opset=13, rtol=0, atol=1, name="int8_per_channel_bias"),
        Example([Rand((1, 6, 9, 9), "int8", -128, 128), np.float32(0.03), np.int8(4),
                 np.random.default_rng(4).integers(-127, 128, (6, 1, 3, 3)).astype(np.int8),
                 np.linspace(0.01, 0.02, 6).astype(np.float32), np.zeros(6, np.int8), np.float32(0.05),
                 np.int8(-2)], {"group": 6, "pads": [1, 1, 1, 1]}, opset=10, rtol=0, atol=1, name="depthwise"),
    ]


@register
class QLinearMatMul(_QLinear):
    params = (("a", 1, 2), ("b", 4, 5), ("y", 6, 7))

    def from_onnx(self, node, g, opset):
        p = self.read_params(node, g)
        p.pop("a_dtype"), p.pop("b_dtype")
        if p["a"][0].size != 1:
            raise self.unsupported(node, "per-row scales of A")
        node.attrs = {"dtype": p.pop("y_dtype"), **p}
        node.inputs = [node.inputs[0], node.inputs[3]]
        return node

    def infer(self, node, g):
        self.check_types(node, g, node.inputs)
        a, b = g[node.inputs[0]], g[node.inputs[1]]
        if len(b.shape) != 2 or len(a.shape) < 1 or a.shape[-1] != b.shape[0]:
            raise self.unsupported(node, f"A {list(a.shape)} x B {list(b.shape)} (B must be 2-D)")
        if node.attrs["b"][0].size not in (1, b.shape[1]):
            raise self.unsupported(node, f"{node.attrs['b'][0].size} scales of B for {b.shape[1]} columns")
        return [(a.shape[:-1] + (b.shape[1],), node.attrs["dtype"])]

    def reference(self, node, g, xs):
        at = node.attrs
        (as_, az), (bs, bz), (ys, yz) = at["a"], at["b"], at["y"]
        acc = (xs[0].astype(np.int64) - az[0]) @ (xs[1].astype(np.int64) - bz.reshape(1, -1))
        scale = (as_[0] * bs / ys[0]).astype(np.float32)
        return [requantize_float(acc, scale if bs.size > 1 else scale[0], yz[0], at["dtype"])]

    examples = [
        Example([Rand((3, 16), "uint8", 0, 256), np.float32(0.02), np.uint8(130),
                 np.random.default_rng(5).integers(0, 256, (16, 5)).astype(np.uint8), np.float32(0.01),
                 np.uint8(128), np.float32(0.05), np.uint8(100)], opset=10, rtol=0, atol=1, name="uint8"),
        Example([Rand((2, 3, 20), "int8", -128, 128), np.float32(0.03), np.int8(-7),
                 np.random.default_rng(6).integers(-127, 128, (20, 4)).astype(np.int8), np.float32(0.01),
                 np.int8(0), np.float32(0.1), np.int8(3)], opset=13, rtol=0, atol=1, name="int8_batched"),
    ]


@register
class QLinearAdd(_QLinear):
    """com.microsoft QLinearAdd: C = saturate(round((A_s (A - A_zp) + B_s (B - B_zp)) / C_s) + C_zp)."""
    onnx = ()
    params = (("a", 1, 2), ("b", 4, 5), ("y", 6, 7))

    def from_onnx(self, node, g, opset):
        p = self.read_params(node, g)
        p.pop("a_dtype"), p.pop("b_dtype")
        if any(p[k][0].size != 1 for k in ("a", "b", "y")):
            raise self.unsupported(node, "per-channel scales")
        node.attrs = {"dtype": p.pop("y_dtype"), **p}
        node.inputs = [node.inputs[0], node.inputs[3]]
        return node

    def infer(self, node, g):
        self.check_types(node, g, node.inputs)
        a, b = g[node.inputs[0]], g[node.inputs[1]]
        return [(tuple(np.broadcast_shapes(a.shape, b.shape)), node.attrs["dtype"])]

    def reference(self, node, g, xs):
        at = node.attrs
        (as_, az), (bs, bz), (ys, yz) = at["a"], at["b"], at["y"]
        fa = (xs[0].astype(np.int64) - az[0]).astype(np.float32) * as_[0]
        fb = (xs[1].astype(np.int64) - bz[0]).astype(np.float32) * bs[0]
        lo, hi = RANGE[at["dtype"]]
        v = np.rint((fa + fb) / ys[0])
        return [np.clip(v.astype(np.float64) + yz[0], lo, hi).astype(at["dtype"])]
