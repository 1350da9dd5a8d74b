"""QSoftmax: TFLite SOFTMAX (over the last axis), bit-exact with TFLM; attrs: beta, dtype (of
the output).

int8 input (int8 or int16 output), TFLM's fixed-point kernel: the input enters only through
d = max(row) - x in [0, 255], so exp(-beta * scale * d) in Q0.31 is a table computed at compile
time; the C kernel sums the row's exponentials, takes gemmlowp's fixed-point reciprocal of the sum
and scales each exponential by it.
int16 input and output: TFLM's two interpolated 513-entry tables, exp on [-10, 0] and 1/(1+x) on
[0, 1], generated here in float32 exactly as TFLM's Prepare does (exp from the C library).
"""
from __future__ import annotations

import ctypes
import ctypes.util
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


def _c_expf():
    """The C library's expf, which TFLM's table generation calls; numpy's float32 exp otherwise."""
    name = ctypes.util.find_library("m")
    if name:
        try:
            f = ctypes.CDLL(name).expf
            f.restype, f.argtypes = ctypes.c_float, [ctypes.c_float]
            return lambda v: np.float32(f(float(v)))
        except (OSError, AttributeError):
            pass
    return lambda v: np.float32(np.exp(np.float32(v)))


EXPF = _c_expf()


def gen_lut16(func, lo: float, hi: float) -> np.ndarray:
    """TFLM's gen_lut<float, int16, int16> with output range [-1, 1]: 512 interpolation steps over
    [lo, hi], each sample biased by half its midpoint error, plus the value at hi."""
    f32, rnd = np.float32, quant.round_half_away
    lo, hi = f32(lo), f32(hi)
    step = (hi - lo) / f32(512)
    half = step / f32(2)
    inv = f32(65536) / (f32(1) - f32(-1))
    lut = np.zeros(513, np.int64)
    for i in range(512):
        x = lo + f32(i) * step
        val, mid, nxt = func(x), func(x + half), func(lo + f32(i + 1) * step)
        sample = f32(rnd(float(val * inv)))
        interp = f32(rnd(float((nxt * inv + sample) / f32(2))))
        bias = f32(rnd(float((interp - f32(rnd(float(mid * inv)))) / f32(2))))
        lut[i] = int(min(max(sample - bias, f32(-32768)), f32(32767)))
    lut[512] = int(min(max(f32(rnd(float(func(hi) * inv))), f32(-32768)), f32(32767)))
    return lut


def lut_lookup16(v, lut) -> np.ndarray:
    """TFLM LUTLookup for int16: the table at v >> 7, interpolated over the 7 low bits."""
    v = np.asarray(v, np.int64)
    index = 256 + (v >> 7)
    base = lut[index]
    slope = lut[index + 1] - base
    return ((base + ((slope * (v & 0x7F) + 64) >> 7)) + 2**15) % 2**16 - 2**15


EXP_LUT = gen_lut16(EXPF, -10.0, 0.0)
RECIP_LUT = gen_lut16(lambda v: np.float32(1.0) / (np.float32(1.0) + np.float32(v)), 0.0, 1.0)


@register
class QSoftmax(QOp):
    kernel = ("qfixed", "qsoftmax")

    def infer(self, node, g):
        x = g[node.inputs[0]]
        self.check_dtype(node, x.dtype, ("int8", "int16"))
        out = node.attrs.get("dtype", x.dtype)
        self.check_dtype(node, out, ("int8", "int16") if x.dtype == "int8" else ("int16",))
        return [(x.shape, out)]

    def prepare(self, node, g) -> dict:
        self.quantized(node, g, 0)
        self.out_quant(node, g)
        x, y = g[node.inputs[0]], g[node.outputs[0]]
        if x.dtype == "int16":
            if quant.zero_point(y) != 0 or abs(float(quant.scale(y)) - 1 / 32768) > 0.001 / 32768:
                raise self.unsupported(node, "an int16 softmax output must have zero point 0 and scale 1/32768")
            m, s = quant.quantize_multiplier(float(np.float64(quant.scale(x)) * np.float64(np.float32(
                node.attrs.get("beta", 1.0))) / (10.0 / 65535.0)))
            return {"multiplier": m, "shift": s}
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
        if g[node.inputs[0]].dtype == "int16":
            return [self.reference16(p, x).astype(y.dtype)]
        d = x.max(axis=-1, keepdims=True) - x
        valid = d < p["exp"].size
        e = np.where(valid, p["exp"][np.minimum(d, p["exp"].size - 1)], 0)
        total = quant.rounding_divide_by_pot(e, ACCUMULATION_INTEGER_BITS).sum(axis=-1, keepdims=True)
        recip, bits_over_unit = quant.get_reciprocal(quant.wrap32(total), ACCUMULATION_INTEGER_BITS)
        exponent = bits_over_unit + 31 - p["out_bits"]
        lo, hi = quant.INT_RANGE[y.dtype]
        out = quant.rounding_divide_by_pot(quant.srdhm(recip, e), exponent) + lo
        return [np.where(valid, quant.clamp(out, lo, hi), lo).astype(y.dtype)]

    @staticmethod
    def reference16(p, x) -> np.ndarray:
        diff = x - x.max(axis=-1, keepdims=True)
        scaled = quant.multiply_by_quantized_multiplier(diff, p["multiplier"], p["shift"])
        e = lut_lookup16(np.clip(scaled + 32767, -32768, 32767), EXP_LUT)
        total = e.sum(axis=-1, keepdims=True)
        headroom = quant.clz32(total)
        shifted = ((total << (headroom - 1)) + (1 << 13)) >> 14
        recip = lut_lookup16(np.clip(shifted - ((1 << 15) + (1 << 16)), -32768, 32767), RECIP_LUT)
        right = 31 - headroom
        return np.clip((e * recip + (np.int64(1) << (right - 1))) >> right, 0, 32767)

    def emit(self, node, g, ctx):
        p = self.prepare(node, g)
        x, y = g[node.inputs[0]], g[node.outputs[0]]
        depth = x.shape[-1] if x.shape else 1
        if x.dtype == "int16":
            params = ctx.params("smelt_qsoftmax16_params", {
                "rows": x.size // max(depth, 1), "depth": depth, "multiplier": p["multiplier"],
                "shift": p["shift"], "exp_lut": ctx.array("int16_t", EXP_LUT),
                "recip_lut": ctx.array("int16_t", RECIP_LUT)})
            ctx.call("smelt_qsoftmax_i16_i16", ctx.ptr(node.inputs[0]), ctx.ptr(node.outputs[0]), params)
            return
        params = ctx.params("smelt_qsoftmax_params", {
            "rows": x.size // max(depth, 1), "depth": depth, "exp_q31": ctx.array("int32_t", p["exp"]),
            "table_size": int(p["exp"].size)})
        ctx.call(f"smelt_qsoftmax_i8_{'i8' if y.dtype == 'int8' else 'i16'}", ctx.ptr(node.inputs[0]),
                 ctx.ptr(node.outputs[0]), params)
