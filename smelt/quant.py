"""Quantization arithmetic, bit-exact with TensorFlow Lite Micro (TFLM).

Two halves:
  * compile time (TFLM's Prepare): QuantizeMultiplier, activation clamp ranges, per-channel
    multipliers. Done once in Python; the generated C only sees the resulting integers.
  * run time (TFLM's Eval) as numpy int64 arithmetic that reproduces int32 C semantics exactly
    (wrap-around, truncating division, arithmetic shifts): gemmlowp's
    SaturatingRoundingDoublingHighMul / RoundingDivideByPOT, TFLM's MultiplyByQuantizedMultiplier
    (the double-rounding int32 form and the single-rounding int64 form), and the gemmlowp
    fixed-point functions (exp, 1/(1+x), tanh, logistic) that TFLM's integer kernels use.
These functions are the numpy references of the quantized ops in smelt/ops/q*.py, and produce
the lookup tables their C kernels use.
"""
from __future__ import annotations

import math

import numpy as np

from .ir import QuantParams, Tensor

I32_MIN, I32_MAX = -2**31, 2**31 - 1
INT_RANGE = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767),
             "int32": (I32_MIN, I32_MAX)}


# ---------------------------------------------------------------- tensors' parameters
def per_tensor(scale: float, zero_point: int) -> QuantParams:
    return QuantParams(np.array([scale], np.float32), np.array([zero_point], np.int64))


def scale(t: Tensor) -> np.float32:
    """The (per-tensor) scale of a quantized tensor as the float32 TFLite stores."""
    _need(t)
    return np.float32(t.quant.scale.reshape(-1)[0])


def zero_point(t: Tensor) -> int:
    _need(t)
    return int(t.quant.zero_point.reshape(-1)[0])


def scales(t: Tensor) -> np.ndarray:
    _need(t)
    return t.quant.scale.reshape(-1).astype(np.float32)


def _need(t: Tensor) -> None:
    if t.quant is None:
        from .errors import ShapeError
        raise ShapeError(f"tensor '{t.name}' ({t.dtype}) has no quantization parameters", t.name)


# ---------------------------------------------------------------- compile time (Prepare)
def round_half_away(x: float) -> float:
    """std::round / TfLiteRound: halves away from zero (Python's round() is half-to-even)."""
    return math.copysign(math.floor(abs(x) + 0.5), x)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLM QuantizeMultiplier: real ~= m * 2^(shift - 31), m a Q31 integer in [2^30, 2^31).

    frexp in double, mantissa rounded half away from zero to 31 bits; a mantissa that rounds up
    to 2^31 is halved with the shift incremented; shifts below -31 flush to (0, 0)."""
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = int(round_half_away(q * (1 << 31)))
    assert abs(q_fixed) <= 1 << 31
    if q_fixed == 1 << 31:
        q_fixed //= 2
        shift += 1
    if shift < -31:
        shift, q_fixed = 0, 0
    return q_fixed, shift


def quantize_multipliers(reals) -> tuple[np.ndarray, np.ndarray]:
    pairs = [quantize_multiplier(float(r)) for r in np.asarray(reals, np.float64).reshape(-1)]
    return (np.array([p[0] for p in pairs], np.int64), np.array([p[1] for p in pairs], np.int64))


def conv_multipliers(input_scale, filter_scales, output_scale, channels: int):
    """PopulateConvolutionQuantizationParams: per output channel, in double:
    input_scale * filter_scale / output_scale (a per-tensor filter scale is broadcast)."""
    fs = np.asarray(filter_scales, np.float32).reshape(-1)
    fs = np.broadcast_to(fs, (channels,)) if fs.size == 1 else fs
    real = np.float64(np.float32(input_scale)) * fs.astype(np.float64) / np.float64(np.float32(output_scale))
    return quantize_multipliers(real)


def tensor_multiplier(input_scale, filter_scale, output_scale) -> tuple[int, int]:
    """GetQuantizedConvolutionMultipler (per-tensor FULLY_CONNECTED, ...): the product of the
    two scales is taken in float32, then divided in double."""
    prod = np.float64(np.float32(input_scale) * np.float32(filter_scale))
    return quantize_multiplier(float(prod / np.float64(np.float32(output_scale))))


def quantize_value(f: float, scale_: float, zp: int) -> int:
    """kernel_util's Quantize(): zero_point + TfLiteRound(f / scale) computed in float32."""
    tmp = np.float32(f) / np.float32(scale_)
    return zp + int(round_half_away(float(tmp)))


FUSED = ("NONE", "RELU", "RELU_N1_TO_1", "RELU6", "TANH", "SIGN_BIT")


def activation_range(activation: str | None, out: Tensor) -> tuple[int, int]:
    """CalculateActivationRangeQuantized: the output clamp of a fused activation."""
    qmin, qmax = INT_RANGE[out.dtype]
    if not activation or activation == "NONE":
        return qmin, qmax
    s, z = scale(out), zero_point(out)
    if activation == "RELU":
        return max(qmin, quantize_value(0.0, s, z)), qmax
    if activation == "RELU6":
        return max(qmin, quantize_value(0.0, s, z)), min(qmax, quantize_value(6.0, s, z))
    if activation == "RELU_N1_TO_1":
        return max(qmin, quantize_value(-1.0, s, z)), min(qmax, quantize_value(1.0, s, z))
    raise ValueError(f"fused activation {activation} has no integer form")


# ---------------------------------------------------------------- run time (Eval), int32 semantics
def i64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.int64)


def wrap32(x) -> np.ndarray:
    """Two's complement wrap-around to int32 (what the C int32 arithmetic does)."""
    x = i64(x)
    return ((x + 2**31) & 0xFFFFFFFF) - 2**31


def trunc_div(n, d) -> np.ndarray:
    """C integer division (rounds toward zero)."""
    n, d = i64(n), i64(d)
    q = np.abs(n) // np.abs(d)
    return np.where((n < 0) != (d < 0), -q, q)


def srdhm(a, b) -> np.ndarray:
    """gemmlowp SaturatingRoundingDoublingHighMul (int32): round(a * b / 2^31), saturating."""
    a, b = i64(a), i64(b)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    res = trunc_div(ab + nudge, 1 << 31)
    return np.where((a == b) & (a == I32_MIN), I32_MAX, res)


def rounding_divide_by_pot(x, exponent) -> np.ndarray:
    """gemmlowp RoundingDivideByPOT: arithmetic shift right, rounding half away from zero."""
    x, e = i64(x), i64(exponent)
    mask = (i64(1) << e) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> e) + (remainder > threshold)


def saturating_rounding_multiply_by_pot(x, exponent: int) -> np.ndarray:
    """gemmlowp SaturatingRoundingMultiplyByPOT<exponent> on int32 raw values."""
    x = i64(x)
    if exponent == 0:
        return x
    if exponent < 0:
        return rounding_divide_by_pot(x, -exponent)
    threshold = (1 << (31 - exponent)) - 1
    res = wrap32(x << exponent)
    res = np.where(x > threshold, I32_MAX, res)
    return np.where(x < -threshold, I32_MIN, res)


def multiply_by_quantized_multiplier(x, multiplier, shift) -> np.ndarray:
    """TFLM MultiplyByQuantizedMultiplier(int32 x, ...), the double-rounding form:
    RoundingDivideByPOT(SRDHM(x * 2^left, m), right)."""
    shift = i64(shift)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    return rounding_divide_by_pot(srdhm(wrap32(i64(x) << left), multiplier), right)


def multiply_by_quantized_multiplier_64(x, multiplier, shift) -> np.ndarray:
    """TFLM MultiplyByQuantizedMultiplier(int64 x, ...) used with 64-bit accumulators (16x8):
    the multiplier is first reduced to 16 bits, then one rounding shift."""
    x, m, shift = i64(x), i64(multiplier), i64(shift)
    reduced = np.where(m < 0x7FFF0000, (m + (1 << 15)) >> 16, 0x7FFF)
    total = 15 - shift
    return wrap32((x * reduced + (i64(1) << (total - 1))) >> total)


def multiply_by_quantized_multiplier_gt_one(x, multiplier, left_shift) -> np.ndarray:
    """MultiplyByQuantizedMultiplierGreaterThanOne: SRDHM(x * 2^left_shift, m)."""
    return srdhm(wrap32(i64(x) << i64(left_shift)), multiplier)


def multiply_by_quantized_multiplier_lt_one(x, multiplier, left_shift) -> np.ndarray:
    """MultiplyByQuantizedMultiplierSmallerThanOneExp: RDBP(SRDHM(x, m), -left_shift)."""
    return rounding_divide_by_pot(srdhm(x, multiplier), -i64(left_shift))


def clamp(x, lo: int, hi: int) -> np.ndarray:
    return np.minimum(np.maximum(i64(x), lo), hi)


def clz32(x) -> np.ndarray:
    """Count leading zeros of x as uint32 (32 for 0)."""
    u = i64(x) & 0xFFFFFFFF
    n = np.zeros(u.shape, np.int64)
    for bits in (16, 8, 4, 2, 1):
        small = u < (i64(1) << (32 - bits))
        n = np.where(small, n + bits, n)
        u = np.where(small, u << bits, u)
    return np.where(i64(x) & 0xFFFFFFFF == 0, 32, n)


# ---------------------------------------------------------------- gemmlowp fixed point (int32 raw)
def _fp_one(integer_bits: int) -> int:
    return I32_MAX if integer_bits == 0 else 1 << (31 - integer_bits)


def rounding_half_sum(a, b) -> np.ndarray:
    s = i64(a) + i64(b)
    return trunc_div(s + np.where(s >= 0, 1, -1), 2)


def exp_on_interval_between_negative_one_quarter_and_0_excl(a) -> np.ndarray:
    """exp(a) for a in [-1/4, 0), a and the result in Q0.31."""
    constant_term = 1895147668          # exp(-1/8)
    constant_1_over_3 = 715827883
    x = wrap32(i64(a) + (1 << 28))      # a + 1/8
    x2 = srdhm(x, x)
    x3 = srdhm(x2, x)
    x4 = srdhm(x2, x2)
    x4_over_4 = rounding_divide_by_pot(x4, 2)
    poly = rounding_divide_by_pot(wrap32(srdhm(wrap32(x4_over_4 + x3), constant_1_over_3) + x2), 1)
    return wrap32(constant_term + srdhm(constant_term, wrap32(x + poly)))


_EXP_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308),
               (2, 39332535), (3, 720401), (4, 242))


def exp_on_negative_values(a, integer_bits: int) -> np.ndarray:
    """gemmlowp exp_on_negative_values: a in Q(integer_bits).(31-integer_bits), a <= 0; Q0.31 result."""
    a = i64(a)
    frac_bits = 31 - integer_bits
    one_quarter = 1 << (frac_bits - 2)
    mask = one_quarter - 1
    a_mod_quarter_minus_one_quarter = wrap32((a & mask) - one_quarter)
    result = exp_on_interval_between_negative_one_quarter_and_0_excl(
        saturating_rounding_multiply_by_pot(a_mod_quarter_minus_one_quarter, integer_bits))
    remainder = wrap32(a_mod_quarter_minus_one_quarter - a)
    for exponent, multiplier in _EXP_BARREL:
        if integer_bits > exponent:
            bit = 1 << (frac_bits + exponent)
            result = np.where(remainder & bit, srdhm(result, multiplier), result)
    if integer_bits > 5:
        clamp_b = 36 - integer_bits
        result = np.where(a < -(1 << clamp_b), 0, result)
    return np.where(a == 0, I32_MAX, result)


def _newton_reciprocal_half(half_denominator) -> np.ndarray:
    """x ~= 1 / half_denominator in Q2.29 by three Newton-Raphson steps (gemmlowp)."""
    x = wrap32(1515870810 + srdhm(half_denominator, -1010580540))   # 48/17 - 32/17 * d
    one_f2 = _fp_one(2)
    for _ in range(3):
        hdx = srdhm(half_denominator, x)
        one_minus = wrap32(one_f2 - hdx)
        x = wrap32(x + saturating_rounding_multiply_by_pot(srdhm(x, one_minus), 2))
    return x


def one_over_one_plus_x_for_x_in_0_1(a) -> np.ndarray:
    x = _newton_reciprocal_half(rounding_half_sum(a, I32_MAX))
    return saturating_rounding_multiply_by_pot(x, 1)   # Rescale<0>(ExactMulByPot<-1>(x))


def one_minus_x_over_one_plus_x_for_x_in_0_1(a) -> np.ndarray:
    x = _newton_reciprocal_half(rounding_half_sum(a, I32_MAX))
    return saturating_rounding_multiply_by_pot(wrap32(x - _fp_one(2)), 2)


def get_reciprocal(x, integer_digits: int) -> tuple[np.ndarray, np.ndarray]:
    """TFLM GetReciprocal: 1/x as (Q0.31 scale, num_bits_over_unit)."""
    x = i64(x)
    headroom_plus_one = clz32(x)
    num_bits_over_unit = integer_digits - headroom_plus_one
    shifted_sum_minus_one = wrap32(((x & 0xFFFFFFFF) << headroom_plus_one) - (1 << 31))
    return one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one), num_bits_over_unit


def fixed_tanh(a, integer_bits: int) -> np.ndarray:
    """gemmlowp tanh on Q(integer_bits) input, Q0.31 output."""
    a = i64(a)
    neg = a < 0
    n = np.where(neg, a, wrap32(-a))
    # ExactMulByPot<1>(n): the same raw value read with one more integer bit, i.e. exp(2n).
    t = one_minus_x_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(n, integer_bits + 1))
    return np.where(a == 0, 0, np.where(neg, wrap32(-t), t))


def fixed_logistic(a, integer_bits: int) -> np.ndarray:
    """gemmlowp logistic on Q(integer_bits) input, Q0.31 output."""
    a = i64(a)
    pos = a > 0
    abs_input = np.where(pos, a, wrap32(-a))
    r_pos = one_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(wrap32(-abs_input), integer_bits))
    r_neg = wrap32(I32_MAX - r_pos)
    return np.where(a == 0, 1 << 30, np.where(pos, r_pos, r_neg))
