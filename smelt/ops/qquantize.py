"""QQuantize and QDequantize: TFLite QUANTIZE (float -> int8/int16, or a requantization between
integer types) and DEQUANTIZE (int8/int16 -> float32), bit-exact with TFLM.

Requantization: y = clamp(MultiplyByQuantizedMultiplier(x - zp_in, M) + zp_out) with M the double
ratio of the scales; 8-bit inputs use a 256-entry table made from that reference.
"""
from __future__ import annotations

import numpy as np

from .. import quant
from ..registry import register
from .qbase import INT_TYPES, QOp

SUFFIX = {"int8": "i8", "uint8": "u8", "int16": "i16", "int32": "i32", "float32": "f32"}
REQUANTIZE = {("int8", "int8"), ("int8", "uint8"), ("uint8", "int8"), ("int8", "int16"), ("int8", "int32"),
              ("int16", "int8"), ("int16", "int16"), ("int16", "int32"), ("int32", "int8"), ("int32", "int16")}


def requantize(x, in_t, out_t) -> np.ndarray:
    m, s = quant.quantize_multiplier(float(np.float64(quant.scale(in_t)) / np.float64(quant.scale(out_t))))
    v = quant.multiply_by_quantized_multiplier(np.asarray(x, np.int64) - quant.zero_point(in_t), m, s)
    lo, hi = quant.INT_RANGE[out_t.dtype]
    return quant.clamp(quant.wrap32(v + quant.zero_point(out_t)), lo, hi)


def affine_quantize(x, out_t) -> np.ndarray:
    """reference_ops::AffineQuantize: round(x / scale) + zero_point, in float32, clamped."""
    v = np.asarray(x, np.float32) / quant.scale(out_t)
    r = np.sign(v) * np.floor(np.abs(v).astype(np.float64) + 0.5)
    lo, hi = quant.INT_RANGE[out_t.dtype]
    return quant.clamp(r.astype(np.int64) + quant.zero_point(out_t), lo, hi)


@register
class QQuantize(QOp):
    """attrs: dtype (of the output)."""
    kernel = ("qfixed", "qlut", "qquantize")

    def infer(self, node, g):
        x = g[node.inputs[0]]
        out = node.attrs["dtype"]
        if x.dtype != "float32" and (x.dtype, out) not in REQUANTIZE:
            raise self.unsupported(node, f"QUANTIZE from {x.dtype} to {out}")
        if x.dtype == "float32":
            self.check_dtype(node, out, ("int8", "int16"))
        return [(x.shape, out)]

    def reference(self, node, g, xs):
        x, y = g[node.inputs[0]], g[node.outputs[0]]
        self.out_quant(node, g)
        if x.dtype == "float32":
            return [affine_quantize(xs[0], y).astype(y.dtype)]
        self.quantized(node, g, 0)
        return [requantize(xs[0], x, y).astype(y.dtype)]

    def emit(self, node, g, ctx):
        x, y = g[node.inputs[0]], g[node.outputs[0]]
        n = x.size
        src, dst = ctx.ptr(node.inputs[0]), ctx.ptr(node.outputs[0])
        if x.dtype == "float32":
            ctx.call(f"smelt_quantize_f32_{SUFFIX[y.dtype]}", src, dst, n,
                     ctx.params("smelt_quantize_params", {"scale": float(quant.scale(y)),
                                                          "zero_point": quant.zero_point(y)}))
        elif x.dtype in ("int8", "uint8"):
            values = np.arange(-128, 128) if x.dtype == "int8" else np.arange(256)
            table = ctx.array(INT_TYPES[y.dtype], requantize(values, x, y))
            ctx.call(f"smelt_qlut_{SUFFIX[x.dtype]}_{SUFFIX[y.dtype]}", src, dst, n, table)
        else:
            m, s = quant.quantize_multiplier(float(np.float64(quant.scale(x)) / np.float64(quant.scale(y))))
            lo, hi = quant.INT_RANGE[y.dtype]
            ctx.call(f"smelt_requantize_{SUFFIX[x.dtype]}_{SUFFIX[y.dtype]}", src, dst, n,
                     ctx.params("smelt_requantize_params", {
                         "input_zero_point": quant.zero_point(x), "output_zero_point": quant.zero_point(y),
                         "multiplier": m, "shift": s, "out_min": lo, "out_max": hi}))


@register
class QDequantize(QOp):
    kernel = ("qfixed", "qquantize")

    def infer(self, node, g):
        x = g[node.inputs[0]]
        self.check_dtype(node, x.dtype, ("int8", "uint8", "int16"))
        return [(x.shape, "float32")]

    def reference(self, node, g, xs):
        self.quantized(node, g, 0)
        x = g[node.inputs[0]]
        v = (np.asarray(xs[0], np.int64) - quant.zero_point(x)).astype(np.float32)
        return [(quant.scale(x) * v).astype(np.float32)]

    def emit(self, node, g, ctx):
        x = g[node.inputs[0]]
        ctx.call(f"smelt_dequantize_{SUFFIX[x.dtype]}", ctx.ptr(node.inputs[0]), ctx.ptr(node.outputs[0]),
                 x.size, ctx.params("smelt_quantize_params", {"scale": float(quant.scale(x)),
                                                              "zero_point": quant.zero_point(x)}))
