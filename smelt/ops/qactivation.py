"""Quantized activations: TFLite RELU, RELU6, LEAKY_RELU, HARD_SWISH, LOGISTIC, TANH on int8
and int16 (HARD_SWISH: int8 only, as in TFLM), bit-exact with TFLM.

Each op's `values()` is TFLM's integer arithmetic in numpy. On int8 inputs the C kernel is a
256-entry table made by evaluating values() on every input at compile time; int16 inputs run the
arithmetic in C (qactivation.c): a requantization for RELU/LEAKY_RELU, a clamp for RELU6, and
TFLM's interpolated sigmoid table for LOGISTIC/TANH.
"""
from __future__ import annotations

import math

import numpy as np

from .. import quant
from ..registry import register
from .qbase import QOp

# sigmoid(i / 24) in Q0.16 as TFLM's int16 LOGISTIC and TANH tabulate it (tensorflow/tflite-micro,
# Apache-2.0). The values are not a plain rounding of the formula, and bit-exactness needs the
# very same ones; they were read back from TFLM's own int16 TANH output.
SIGMOID_Q16 = np.array([
    32768, 33451, 34133, 34813, 35493, 36169, 36843, 37513, 38180, 38841, 39498, 40149,
    40794, 41432, 42064, 42688, 43304, 43912, 44511, 45102, 45683, 46255, 46817, 47369,
    47911, 48443, 48964, 49475, 49975, 50464, 50942, 51409, 51865, 52311, 52745, 53169,
    53581, 53983, 54374, 54755, 55125, 55485, 55834, 56174, 56503, 56823, 57133, 57433,
    57724, 58007, 58280, 58544, 58800, 59048, 59288, 59519, 59743, 59959, 60168, 60370,
    60565, 60753, 60935, 61110, 61279, 61441, 61599, 61750, 61896, 62036, 62172, 62302,
    62428, 62549, 62666, 62778, 62886, 62990, 63090, 63186, 63279, 63368, 63454, 63536,
    63615, 63691, 63765, 63835, 63903, 63968, 64030, 64090, 64148, 64204, 64257, 64308,
    64357, 64405, 64450, 64494, 64536, 64576, 64614, 64652, 64687, 64721, 64754, 64786,
    64816, 64845, 64873, 64900, 64926, 64950, 64974, 64997, 65019, 65039, 65060, 65079,
    65097, 65115, 65132, 65149, 65164, 65179, 65194, 65208, 65221, 65234, 65246, 65258,
    65269, 65280, 65291, 65301, 65310, 65319, 65328, 65337, 65345, 65352, 65360, 65367,
    65374, 65381, 65387, 65393, 65399, 65404, 65410, 65415, 65420, 65425, 65429, 65433,
    65438, 65442, 65445, 65449, 65453, 65456, 65459, 65462, 65465, 65468, 65471, 65474,
    65476, 65479, 65481, 65483, 65485, 65488, 65489, 65491, 65493, 65495, 65497, 65498,
    65500, 65501, 65503, 65504, 65505, 65507, 65508, 65509, 65510, 65511, 65512, 65513,
    65514, 65515, 65516, 65517, 65517, 65518, 65519, 65520, 65520, 65521, 65522, 65522,
    65523, 65523, 65524, 65524, 65525, 65525, 65526, 65526, 65526, 65527, 65527, 65528,
    65528, 65528, 65529, 65529, 65529, 65529, 65530, 65530, 65530, 65530, 65531, 65531,
    65531, 65531, 65531, 65532, 65532, 65532, 65532, 65532, 65532, 65533, 65533, 65533,
    65533, 65533, 65533, 65533, 65533, 65534, 65534, 65534, 65534, 65534, 65534, 65534,
    65534, 65534, 65534, 65535], np.int64)


def logistic16(v) -> np.ndarray:
    """TFLM's int16 logistic of v, the input already rescaled (3 * 2^12 per unit): the table at
    |v| / 2^9 linearly interpolated, negative inputs as 1 - sigmoid; Q0.15 output."""
    v = np.asarray(v, np.int64)
    a = np.abs(v)
    uh = a >> 9
    ua = SIGMOID_Q16[np.minimum(uh, 254)]
    ub = SIGMOID_Q16[np.minimum(uh + 1, 255)]
    r = np.where(uh >= 255, 0x7FFF << 10, (ua << 9) + (a & 0x1FF) * (ub - ua))
    r = np.where(v >= 0, r + (1 << 9), (1 << 25) - r + (1 << 9) - 1)
    return _wrap16(r >> 10)


def tanh16(v) -> np.ndarray:
    """TFLM's int16 tanh = 2 sigmoid(2v) - 1 from the same table at |v| / 2^8; Q0.15 output."""
    v = np.asarray(v, np.int64)
    a = np.abs(v)
    uh = a >> 8
    ua = SIGMOID_Q16[np.minimum(uh, 254)]
    ub = SIGMOID_Q16[np.minimum(uh + 1, 255)]
    r = np.where(uh >= 255, 0xFFFF << 8, (ua << 8) + (a & 0xFF) * (ub - ua))
    r = np.where(v >= 0, r - (1 << 23) + (1 << 7), -r + (1 << 23) + (1 << 7) - 1)
    return _wrap16(r >> 8)


def rescale16(x, multiplier: int, shift: int) -> np.ndarray:
    """The input rescaling of TFLM's int16 logistic/tanh: (x * multiplier + round) >> shift."""
    rnd = (1 << (shift - 1)) if shift > 0 else 0
    return (np.asarray(x, np.int64) * multiplier + rnd) >> shift


def checked_log2(x: float) -> tuple[int, bool]:
    """TFLM CheckedLog2, in float32: (rounded log2(x), whether x is a power of two)."""
    f32 = np.float32
    log2 = f32(np.log(f32(x))) * f32(f32(1.0) / f32(np.log(f32(2.0))))
    rounded = quant.round_half_away(float(log2))
    return int(rounded), abs(float(log2 - f32(rounded))) < 1e-3


class _QActivation(QOp):
    kernel = ("qfixed", "qlut", "qactivation")
    dtypes = ("int8", "int16")

    def infer(self, node, g):
        x = g[node.inputs[0]]
        self.check_dtype(node, x.dtype, self.dtypes)
        return [(x.shape, x.dtype)]

    def values(self, node, g, x: np.ndarray) -> np.ndarray:
        """TFLM's output for the integer inputs x (int64 array)."""
        raise NotImplementedError

    def reference(self, node, g, xs):
        self.quantized(node, g, 0)
        self.out_quant(node, g)
        y = g[node.outputs[0]]
        return [self.values(node, g, np.asarray(xs[0], np.int64)).astype(y.dtype).reshape(y.shape)]

    def emit(self, node, g, ctx):
        self.quantized(node, g, 0)
        self.out_quant(node, g)
        x = g[node.inputs[0]]
        src, dst = ctx.ptr(node.inputs[0]), ctx.ptr(node.outputs[0])
        if x.dtype == "int8":
            table = self.values(node, g, np.arange(-128, 128, dtype=np.int64))
            ctx.call("smelt_qlut_i8_i8", src, dst, x.size, ctx.array("int8_t", table))
        else:
            self.emit_int16(node, g, ctx, src, dst, x.size)

    def emit_int16(self, node, g, ctx, src, dst, n):
        raise self.unsupported(node, "int16 input")

    def rescale_params(self, ctx, in_zp, out_zp, pos, neg, lo, hi) -> str:
        return ctx.params("smelt_qrescale_params", {
            "input_zero_point": in_zp, "output_zero_point": out_zp, "multiplier": pos[0], "shift": pos[1],
            "multiplier_neg": neg[0], "shift_neg": neg[1], "act_min": lo, "act_max": hi})


@register
class QRelu(_QActivation):
    """Requantize to the output scale, clamp below at the output zero point."""

    def prepare(self, node, g):
        x, y = g[node.inputs[0]], g[node.outputs[0]]
        if x.dtype == "int16" and (quant.zero_point(x) or quant.zero_point(y)):
            raise self.unsupported(node, "int16 RELU needs zero points 0")
        m = quant.quantize_multiplier(float(np.float64(quant.scale(x)) / np.float64(quant.scale(y))))
        qmin, qmax = quant.INT_RANGE[y.dtype]
        lo = max(qmin, quant.zero_point(y) + int(quant.round_half_away(float(np.float32(0) / quant.scale(y)))))
        return m, lo, qmax

    def values(self, node, g, x):
        (m, s), lo, hi = self.prepare(node, g)
        x_t, y_t = g[node.inputs[0]], g[node.outputs[0]]
        v = quant.zero_point(y_t) + quant.multiply_by_quantized_multiplier(x - quant.zero_point(x_t), m, s)
        return quant.clamp(v, lo, hi)

    def emit_int16(self, node, g, ctx, src, dst, n):
        m, lo, hi = self.prepare(node, g)
        p = self.rescale_params(ctx, 0, 0, m, m, lo, hi)
        ctx.call("smelt_qrescale_i16", src, dst, n, p)


@register
class QRelu6(_QActivation):
    """A clamp to [zero point, quantized 6.0] of the input's scale (TFLM ignores the output's)."""

    def bounds(self, node, g):
        x = g[node.inputs[0]]
        qmin, qmax = quant.INT_RANGE[x.dtype]
        six = int(quant.round_half_away(float(np.float32(6.0) / quant.scale(x)))) + quant.zero_point(x)
        return quant.zero_point(x), min(max(six, qmin), qmax)

    def values(self, node, g, x):
        lo, hi = self.bounds(node, g)
        return np.where(x > hi, hi, np.where(x < lo, lo, x))

    def emit_int16(self, node, g, ctx, src, dst, n):
        lo, hi = self.bounds(node, g)
        ctx.call("smelt_qclamp_i16", src, dst, n, lo, hi)


@register
class QLeakyRelu(_QActivation):
    """attrs: alpha. Two requantizations: identity for x >= zero point, alpha below."""

    def prepare(self, node, g):
        x, y = g[node.inputs[0]], g[node.outputs[0]]
        f32 = np.float32
        sx, sy, alpha = quant.scale(x), quant.scale(y), f32(node.attrs["alpha"])
        # TFLM forms both ratios in float32.
        neg = quant.quantize_multiplier(float(f32(f32(sx * alpha) / sy)))
        pos = quant.quantize_multiplier(float(f32(sx / sy)))
        return pos, neg

    def values(self, node, g, x):
        pos, neg = self.prepare(node, g)
        x_t, y_t = g[node.inputs[0]], g[node.outputs[0]]
        v = x - quant.zero_point(x_t)
        mbqm = quant.multiply_by_quantized_multiplier
        out = quant.zero_point(y_t) + np.where(v >= 0, mbqm(v, *pos), mbqm(v, *neg))
        return quant.clamp(out, *quant.INT_RANGE[y_t.dtype])

    def emit_int16(self, node, g, ctx, src, dst, n):
        pos, neg = self.prepare(node, g)
        x, y = g[node.inputs[0]], g[node.outputs[0]]
        p = self.rescale_params(ctx, quant.zero_point(x), quant.zero_point(y), pos, neg, *quant.INT_RANGE[y.dtype])
        ctx.call("smelt_qrescale_i16", src, dst, n, p)


def _srdhm16(a, b) -> np.ndarray:
    """gemmlowp SaturatingRoundingDoublingHighMul on int16."""
    a, b = quant.i64(a), quant.i64(b)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 14, 1 - (1 << 14))
    res = quant.trunc_div(ab + nudge, 1 << 15)
    return np.where((a == b) & (a == -32768), 32767, res)


def _wrap16(x) -> np.ndarray:
    return ((quant.i64(x) + 2**15) & 0xFFFF) - 2**15


@register
class QHardSwish(_QActivation):
    """TFLM's int16 fixed-point hard swish (int8 tensors only)."""
    dtypes = ("int8",)

    def prepare(self, node, g):
        f32 = np.float32
        x, y = g[node.inputs[0]], g[node.outputs[0]]
        hires = f32(f32(1.0) / f32(128.0)) * quant.scale(x)
        reluish_scale = f32(3.0) / f32(32768.0)
        out_m, out_e = quant.quantize_multiplier(float(f32(hires / quant.scale(y))))
        rel_m, rel_e = quant.quantize_multiplier(float(f32(hires / reluish_scale)))
        if out_e > 0:
            raise self.unsupported(node, "output scale too small for TFLM's hard swish")
        return _down16(out_m), out_e, _down16(rel_m), rel_e

    def values(self, node, g, x):
        out_m, out_e, rel_m, rel_e = self.prepare(node, g)
        x_t, y_t = g[node.inputs[0]], g[node.outputs[0]]
        hires = _wrap16((x - quant.zero_point(x_t)) * 128)
        preshift = _srdhm16(hires, out_m)
        reluish = hires
        if rel_e > 0:
            reluish = np.clip(reluish << (rel_e - 1), -32768, 32767)
        reluish = _srdhm16(reluish, rel_m)
        if rel_e > 0:
            reluish = np.clip(reluish << 1, -32768, 32767)
        if rel_e < 0:
            reluish = quant.rounding_divide_by_pot(reluish, -rel_e)
        reluish = (reluish + (1 << 15)) >> 1
        ab = reluish * preshift
        pre_out = np.where((reluish == preshift) & (reluish == -32768), 32767, quant.trunc_div(ab, 1 << 15))
        out = _wrap16(quant.rounding_divide_by_pot(pre_out, -out_e) + quant.zero_point(y_t))
        return quant.clamp(out, -128, 127)


def _down16(m: int) -> int:
    """TFLM DownScaleInt32ToInt16Multiplier."""
    return 32767 if m >= 2**31 - 1 - (1 << 15) else (m + (1 << 15)) >> 16


class _QSigmoidFamily(_QActivation):
    """LOGISTIC and TANH: int8 through gemmlowp's fixed-point functions (input in Q4.27),
    int16 through the interpolated sigmoid table."""
    pot_shifts = (0,)   # int16 input shifts that take the power-of-two path

    def prepare8(self, node, g):
        x = g[node.inputs[0]]
        q, left_shift = math.frexp(float(np.float64(quant.scale(x)) * (1 << 27)))
        mult = int(quant.wrap32(int(quant.round_half_away(q * (1 << 31)))))
        radius = math.floor(15 * (1 << 27) / (1 << left_shift))
        return mult, left_shift, radius

    def prepare16(self, node, g):
        x, y = g[node.inputs[0]], g[node.outputs[0]]
        if quant.zero_point(x) or quant.zero_point(y):
            raise self.unsupported(node, "int16 input and output need zero point 0")
        log2_out, pot_out = checked_log2(float(quant.scale(y)))
        if not pot_out or log2_out != -15:
            raise self.unsupported(node, "int16 output scale must be 2^-15")
        log2_in, pot = checked_log2(float(quant.scale(x)))
        left_shift = 12 + log2_in
        if pot and left_shift in self.pot_shifts:
            return 3 << left_shift, 0
        multiplier, left_shift = float(quant.scale(x)) * 4096.0 * 3.0, 0
        while multiplier <= 32767.0 / 2.0 and left_shift <= 30:
            left_shift += 1
            multiplier *= 2.0
        return int(multiplier), left_shift

    def values(self, node, g, x):
        if g[node.inputs[0]].dtype == "int16":
            return self.values16(rescale16(x, *self.prepare16(node, g)))
        mult, left_shift, radius = self.prepare8(node, g)
        v = x - quant.zero_point(g[node.inputs[0]])
        q4 = quant.multiply_by_quantized_multiplier(np.clip(v, -radius, radius), mult, left_shift)
        return np.where(v <= -radius, -128, np.where(v >= radius, 127, self.values8(q4)))

    def emit_int16(self, node, g, ctx, src, dst, n):
        m, s = self.prepare16(node, g)
        p = ctx.params("smelt_qsigmoid16_params", {"multiplier": m, "shift": s,
                                                   "table": ctx.array("uint16_t", SIGMOID_Q16)})
        ctx.call(f"smelt_q{self.cname}_i16", src, dst, n, p)


@register
class QLogistic(_QSigmoidFamily):
    cname = "logistic"

    def values8(self, q4):
        q0 = quant.fixed_logistic(q4, 4)
        return quant.clamp(quant.rounding_divide_by_pot(q0, 23) - 128, -128, 127)

    def values16(self, v):
        return logistic16(v)

    def reference(self, node, g, xs):
        if g[node.inputs[0]].dtype == "int8" and quant.zero_point(g[node.outputs[0]]) != -128:
            raise self.unsupported(node, "an int8 LOGISTIC output needs zero point -128 (TFLM)")
        return super().reference(node, g, xs)


@register
class QTanh(_QSigmoidFamily):
    cname = "tanh"
    pot_shifts = (0, 1)

    def values8(self, q4):
        q0 = quant.fixed_tanh(q4, 4)
        return quant.clamp(quant.rounding_divide_by_pot(q0, 24), -128, 127)

    def values16(self, v):
        return tanh16(v)
