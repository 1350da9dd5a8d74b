"""Binary neural network layers: sign-binarized activations and weights, bit-packed, computed with
XNOR + popcount (smelt/ops/bnn.c).

Packed tensors: NHWC (or [.., K]) with the channels packed 8 per byte, channel c at bit c % 8 of
byte c / 8, bit 1 = +1, bit 0 = -1, unused high bits 0; attrs["channels"] gives the real count.
  QBinarize        int8 [.., C] -> packed: bit = x >= threshold[c] (int8 units, per channel)
  BConv2D          packed x, packed weights [O, KH, KW, ceil(C/8)] -> int8 or packed
  BFullyConnected  packed x [.., ceil(K/8)], packed weights [N, ceil(K/8)] -> int8 or packed
The dot product over the taps inside the image (outside taps count 0, as zero padding) is
dot = n * C - 2 * popcount(x XOR w). attrs["out"] = "int8": y = clamp(requantize(dot + bias[c])
+ zero point) with TFLM's multiplier/shift for s_x * s_w[c] / s_y (s_x: the packed input's scale,
the real value of a +1 activation; s_w[c]: the weights' per-channel scale, in which batch-norm is
folded), the last binary layer before an int8 one. attrs["out"] = "binary": bit c = dot >= T[c]
(dot <= T[c] where flip[c]: a negative folded scale), the scale, bias and batch-norm folded into
one integer threshold per channel, for a binary next layer.
"""
from __future__ import annotations

import numpy as np

from .. import quant
from ..registry import register
from .qbase import QOp, act_range, window_out


def pack_signs(bits: np.ndarray) -> np.ndarray:
    """[.., C] of 0/1 -> [.., ceil(C/8)] uint8, channel c at bit c % 8 of byte c // 8."""
    return np.packbits(np.asarray(bits, np.uint8), axis=-1, bitorder="little")


def unpack_signs(packed: np.ndarray, channels: int) -> np.ndarray:
    """Packed -> [.., channels] of -1 / +1 (int64)."""
    bits = np.unpackbits(np.asarray(packed, np.uint8), axis=-1, bitorder="little")[..., :channels]
    return bits.astype(np.int64) * 2 - 1


def packed_channels(c: int) -> int:
    return (c + 7) // 8


@register
class QBinarize(QOp):
    kernel = ("qfixed", "bnn")

    def infer(self, node, g):
        x = g[node.inputs[0]]
        self.check_dtype(node, x.dtype, ("int8",))
        if len(node.attrs["threshold"]) not in (1, x.shape[-1]):
            raise self.unsupported(node, f"{len(node.attrs['threshold'])} thresholds for {x.shape[-1]} channels")
        return [(x.shape[:-1] + (packed_channels(x.shape[-1]),), "uint8")]

    def reference(self, node, g, xs):
        t = np.broadcast_to(np.asarray(node.attrs["threshold"], np.int64), (xs[0].shape[-1],))
        return [pack_signs(xs[0].astype(np.int64) >= t)]

    def emit(self, node, g, ctx):
        x = g[node.inputs[0]]
        c = x.shape[-1]
        t = np.broadcast_to(np.asarray(node.attrs["threshold"], np.int64), (c,))
        ctx.call("smelt_binarize_i8", ctx.ptr(node.inputs[0]), ctx.ptr(node.outputs[0]), x.size // c, c,
                 ctx.array("int32_t", t))


class _Binary(QOp):
    kernel = ("qfixed", "bnn")

    def out_params(self, node, g, channels: int) -> dict:
        """The int8 requantization or the binary thresholds, as the kernel reads them."""
        a = node.attrs
        if a["out"] == "binary":
            t = np.broadcast_to(np.asarray(a["threshold"], np.int64), (channels,))
            f = np.broadcast_to(np.asarray(a.get("flip", [0]), np.int64), (channels,))
            return {"binary": True, "threshold": t, "flip": f}
        self.quantized(node, g, 0, 1)
        self.out_quant(node, g)
        x, w, y = g[node.inputs[0]], g[node.inputs[1]], g[node.outputs[0]]
        m, s = quant.conv_multipliers(quant.scale(x), quant.scales(w), quant.scale(y), channels)
        bias = np.zeros(channels, np.int64)
        if len(node.inputs) > 2 and node.inputs[2]:
            bias = self.const_input(node, g, 2, "bias").astype(np.int64).reshape(channels)
        lo, hi = act_range(node, g)
        return {"binary": False, "multiplier": m, "shift": s, "bias": bias, "act": (lo, hi),
                "out_off": quant.zero_point(y)}

    def finish(self, node, g, dot: np.ndarray) -> np.ndarray:
        """dot [.., channels] -> the output (int8 or packed)."""
        p = self.out_params(node, g, dot.shape[-1])
        if p["binary"]:
            return pack_signs(np.where(p["flip"] != 0, dot <= p["threshold"], dot >= p["threshold"]))
        out = quant.multiply_by_quantized_multiplier(quant.wrap32(dot + p["bias"]), p["multiplier"], p["shift"])
        return quant.clamp(out + p["out_off"], *p["act"]).astype(np.int8)

    def out_fields(self, node, g, ctx, channels: int) -> dict:
        p = self.out_params(node, g, channels)
        if p["binary"]:
            return {"binary_out": 1, "threshold": ctx.array("int32_t", p["threshold"]),
                    "flip": ctx.array("uint8_t", p["flip"]), "bias": "NULL", "multiplier": "NULL",
                    "shift": "NULL", "output_offset": 0, "act_min": 0, "act_max": 0}
        return {"binary_out": 0, "threshold": "NULL", "flip": "NULL", "bias": ctx.array("int32_t", p["bias"]),
                "multiplier": ctx.array("int32_t", p["multiplier"]), "shift": ctx.array("int32_t", p["shift"]),
                "output_offset": p["out_off"], "act_min": p["act"][0], "act_max": p["act"][1]}

    def out_dtype(self, node, shape, channels):
        if node.attrs["out"] == "binary":
            return (shape + (packed_channels(channels),), "uint8")
        return (shape + (channels,), "int8")

    def check(self, node, g, w_last: int):
        x = g[node.inputs[0]]
        self.check_dtype(node, x.dtype, ("uint8",))
        self.check_dtype(node, g[node.inputs[1]].dtype, ("uint8",))
        c = node.attrs["channels"]
        if x.shape[-1] != packed_channels(c) or w_last != packed_channels(c):
            raise self.unsupported(node, f"packed input {list(x.shape)} / weights do not hold {c} channels")
        if node.attrs["out"] not in ("int8", "binary"):
            raise self.unsupported(node, f"out={node.attrs['out']!r} (int8 or binary)")


@register
class BConv2D(_Binary):
    def infer(self, node, g):
        x, w = g[node.inputs[0]], g[node.inputs[1]]
        if len(x.shape) != 4 or len(w.shape) != 4:
            raise self.unsupported(node, "needs 4-D packed NHWC input and OHWI weights")
        self.check(node, g, w.shape[3])
        (sh, sw), (dh, dw) = node.attrs["strides"], node.attrs.get("dilations", (1, 1))
        top, left, bottom, right = node.attrs["pads"]
        oh = window_out(x.shape[1], w.shape[1], sh, dh, top, bottom)
        ow = window_out(x.shape[2], w.shape[2], sw, dw, left, right)
        return [self.out_dtype(node, (x.shape[0], oh, ow), w.shape[0])]

    def reference(self, node, g, xs):
        c = node.attrs["channels"]
        x, w = unpack_signs(xs[0], c), unpack_signs(xs[1], c)
        (sh, sw), (dh, dw) = node.attrs["strides"], node.attrs.get("dilations", (1, 1))
        top, left = node.attrs["pads"][:2]
        n, h, wd, _ = x.shape
        kh, kw = w.shape[1], w.shape[2]
        oh, ow = g[node.outputs[0]].shape[1:3]
        ph = max((oh - 1) * sh + (kh - 1) * dh + 1 - top - h, 0)
        pw = max((ow - 1) * sw + (kw - 1) * dw + 1 - left - wd, 0)
        xp = np.pad(x, ((0, 0), (top, ph), (left, pw), (0, 0)))   # outside taps: 0
        dot = np.zeros((n, oh, ow, w.shape[0]), np.int64)
        for ky in range(kh):
            for kx in range(kw):
                patch = xp[:, ky * dh: ky * dh + (oh - 1) * sh + 1: sh, kx * dw: kx * dw + (ow - 1) * sw + 1: sw, :]
                dot += patch @ w[:, ky, kx, :].T
        return [self.finish(node, g, dot)]

    def emit(self, node, g, ctx):
        x, w, y = g[node.inputs[0]], g[node.inputs[1]], g[node.outputs[0]]
        (sh, sw), (dh, dw) = node.attrs["strides"], node.attrs.get("dilations", (1, 1))
        params = ctx.params("smelt_bconv_params", {
            "batches": x.shape[0], "in_h": x.shape[1], "in_w": x.shape[2], "in_c": node.attrs["channels"],
            "in_bytes": x.shape[3], "out_h": y.shape[1], "out_w": y.shape[2], "out_c": w.shape[0],
            "k_h": w.shape[1], "k_w": w.shape[2], "stride_h": sh, "stride_w": sw, "dil_h": dh, "dil_w": dw,
            "pad_top": node.attrs["pads"][0], "pad_left": node.attrs["pads"][1],
            **self.out_fields(node, g, ctx, w.shape[0])})
        ctx.call("smelt_bconv2d", ctx.ptr(x.name), ctx.ptr(w.name), ctx.ptr(y.name), params)

    def macs(self, node, g):
        w = g[node.inputs[1]]
        oh, ow = g[node.outputs[0]].shape[1:3]
        return g[node.outputs[0]].shape[0] * oh * ow * w.shape[0] * w.shape[1] * w.shape[2] * node.attrs["channels"]


@register
class BFullyConnected(_Binary):
    def infer(self, node, g):
        x, w = g[node.inputs[0]], g[node.inputs[1]]
        if len(w.shape) != 2:
            raise self.unsupported(node, "needs packed weights [N, ceil(K/8)]")
        self.check(node, g, w.shape[1])
        return [self.out_dtype(node, (x.size // x.shape[-1],), w.shape[0])]

    def reference(self, node, g, xs):
        c = node.attrs["channels"]
        x = unpack_signs(xs[0], c).reshape(-1, c)
        return [self.finish(node, g, x @ unpack_signs(xs[1], c).T)]

    def emit(self, node, g, ctx):
        x, w = g[node.inputs[0]], g[node.inputs[1]]
        params = ctx.params("smelt_bfc_params", {
            "batches": x.size // x.shape[-1], "in_c": node.attrs["channels"], "in_bytes": x.shape[-1],
            "out_c": w.shape[0], **self.out_fields(node, g, ctx, w.shape[0])})
        ctx.call("smelt_bfc", ctx.ptr(x.name), ctx.ptr(w.name), ctx.ptr(node.outputs[0]), params)

    def macs(self, node, g):
        return g[node.outputs[0]].shape[0] * g[node.inputs[1]].shape[0] * node.attrs["channels"]
