"""QSoftmax: TFLite SOFTMAX (over the last axis) with int8 input and int8 or int16 output
(attrs: beta, dtype of the output),
bit-exact with TFLM's fixed-point kernel (gemmlowp exp and Newton-Raphson reciprocal).

The input enters only through d = max(row) - x in [0, 255], so exp(-beta * scale * d) in Q0.31 is
a table computed at compile time; the C kernel sums the row's exponentials, takes the fixed-point
reciprocal of the sum (run time) and scales each exponential by it.
"""
from __future__ import annotations

import math

import numpy as np

from .. import quant
from ..registry import register
from .qbase import QOp

SCALED_DIFF_INTEGER_BITS = 5
ACCUMULATION_INTEGER_BITS = 12


def softmax_scaling(beta: float, input_scale: float) -> tuple[int, int, int]:
    """TFLM PreprocessSoftmaxScaling + CalculateInputRadius: (multiplier, left_shift, diff_min)."""
    real = min(float(beta) * float(input_scale) * (1 << (31 - SCALED_DIFF_INTEGER_BITS)), (1 << 31) - 1.0)
    m, left_shift = quant.quantize_multiplier(real)
    radius = math.floor(((1 << SCALED_DIFF_INTEGER_BITS) - 1) * (1 << (31 - SCALED_DIFF_INTEGER_BITS))
                        / (1 << left_shift))
    return m, left_shift, -radius


@register
class QSoftmax(QOp):
    kernels = ("qfixed", "qsoftmax")

    def infer(self, node, g):
        x = g[node.inputs[0]]
        self.check_dtype(node, x.dtype, ("int8",))
        out = node.attrs.get("dtype", x.dtype)
        self.check_dtype(node, out, ("int8", "int16"))
        return [(x.shape, out)]

    def prepare(self, node, g) -> dict:
        self.quantized(node, g, 0)
        self.out_quant(node, g)
        x, y = g[node.inputs[0]], g[node.outputs[0]]
        want = (-128, 1 / 256) if y.dtype == "int8" else (-32768, 1 / 65536)
        if quant.zero_point(y) != want[0] or abs(float(quant.scale(y)) - want[1]) > 0.001 * want[1]:
            raise self.unsupported(node, f"a {y.dtype} softmax output must have zero point {want[0]} and "
                                         f"scale {want[1]} (TFLM)")
        m, left_shift, diff_min = softmax_scaling(node.attrs.get("beta", 1.0), quant.scale(x))
        d = np.arange(0, min(256, -diff_min + 1))
        rescaled = quant.multiply_by_quantized_multiplier_gt_one(-d, m, left_shift)
        exp_table = quant.exp_on_negative_values(rescaled, SCALED_DIFF_INTEGER_BITS)
        return {"exp": exp_table, "out_bits": 8 * np.dtype(y.dtype).itemsize}

    def reference(self, node, g, xs):
        p = self.prepare(node, g)
        y = g[node.outputs[0]]
        x = xs[0].astype(np.int64)
        d = x.max(axis=-1, keepdims=True) - x
        valid = d < p["exp"].size
        e = np.where(valid, p["exp"][np.minimum(d, p["exp"].size - 1)], 0)
        total = quant.rounding_divide_by_pot(e, ACCUMULATION_INTEGER_BITS).sum(axis=-1, keepdims=True)
        recip, bits_over_unit = quant.get_reciprocal(quant.wrap32(total), ACCUMULATION_INTEGER_BITS)
        exponent = bits_over_unit + 31 - p["out_bits"]
        lo, hi = quant.INT_RANGE[y.dtype]
        out = quant.rounding_divide_by_pot(quant.srdhm(recip, e), exponent) + lo
        return [np.where(valid, quant.clamp(out, lo, hi), lo).astype(y.dtype)]

    def emit(self, node, g, ctx):
        self.use_kernels(ctx)
        p = self.prepare(node, g)
        x, y = g[node.inputs[0]], g[node.outputs[0]]
        depth = x.shape[-1] if x.shape else 1
        params = ctx.params("smelt_qsoftmax_params", {
            "rows": x.size // max(depth, 1), "depth": depth, "exp_q31": ctx.array("int32_t", p["exp"]),
            "table_size": int(p["exp"].size)})
        ctx.call(f"smelt_qsoftmax_i8_{'i8' if y.dtype == 'int8' else 'i16'}", ctx.ptr(node.inputs[0]),
                 ctx.ptr(node.outputs[0]), params)
