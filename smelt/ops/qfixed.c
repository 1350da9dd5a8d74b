/* Fixed-point helpers shared by the quantized kernels (q*.c), bit-exact with TFLM/gemmlowp.
 * Python twins: smelt/quant.py. Signed right shifts are arithmetic (as on every target gcc and
 * clang support); left shifts of negative values are done on the unsigned representation. */
#ifndef SMELT_QFIXED_C
#define SMELT_QFIXED_C

/* gemmlowp SaturatingRoundingDoublingHighMul: round(a * b / 2^31), INT32_MIN^2 saturates.
 * (ab + 2^30) >> 31 equals gemmlowp's nudge-then-truncating-division for either sign. */
SMELT_KERNEL int32_t smelt_srdhm(int32_t a, int32_t b)
{
    if (a == b && a == INT32_MIN) return INT32_MAX;
    return (int32_t)(((int64_t)a * b + ((int64_t)1 << 30)) >> 31);
}

/* gemmlowp RoundingDivideByPOT: x / 2^e rounded to nearest, halves away from zero. */
SMELT_KERNEL int32_t smelt_rdbp(int32_t x, int e)
{
    const int32_t mask = (int32_t)(((int64_t)1 << e) - 1);
    const int32_t threshold = (mask >> 1) + (x < 0);
    return (x >> e) + ((x & mask) > threshold);
}

SMELT_KERNEL int32_t smelt_shl32(int32_t x, int s)
{
    return (int32_t)((uint32_t)x << s);
}

/* TFLM MultiplyByQuantizedMultiplier (double rounding): x * m * 2^(shift - 31). */
SMELT_KERNEL int32_t smelt_mbqm(int32_t x, int32_t m, int shift)
{
    return shift > 0 ? smelt_srdhm(smelt_shl32(x, shift), m) : smelt_rdbp(smelt_srdhm(x, m), -shift);
}

/* TFLM MultiplyByQuantizedMultiplier for 64-bit accumulators: one rounding shift by a 16-bit
 * multiplier. m16 and total_shift (15 - shift) are prepared at compile time. */
SMELT_KERNEL int32_t smelt_mbqm64(int64_t x, int32_t m16, int total_shift)
{
    return (int32_t)((x * m16 + ((int64_t)1 << (total_shift - 1))) >> total_shift);
}

/* gemmlowp SaturatingRoundingMultiplyByPOT with a positive exponent: a saturating left shift. */
SMELT_KERNEL int32_t smelt_sat_shl(int32_t x, int e)
{
    const int32_t threshold = (int32_t)(((int64_t)1 << (31 - e)) - 1);
    if (x > threshold) return INT32_MAX;
    if (x < -threshold) return INT32_MIN;
    return smelt_shl32(x, e);
}

SMELT_KERNEL int smelt_clz32(uint32_t x)
{
    int n = 0;
    if (x == 0) return 32;
    while (!(x & 0x80000000u)) {
        x <<= 1;
        ++n;
    }
    return n;
}

SMELT_KERNEL int32_t smelt_clamp32(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/* gemmlowp one_over_one_plus_x_for_x_in_0_1: 1 / (1 + a) for a in Q0.31 [0, 1), Q0.31 result,
 * by three Newton-Raphson steps in Q2.29. */
SMELT_KERNEL int32_t smelt_one_over_one_plus_x(int32_t a)
{
    const int64_t sum = (int64_t)a + INT32_MAX;
    const int32_t half_denominator = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
    int32_t x = 1515870810 + smelt_srdhm(half_denominator, -1010580540);   /* 48/17 - 32/17 d */
    int i;
    for (i = 0; i < 3; ++i) {
        const int32_t one_minus_dx = (1 << 29) - smelt_srdhm(half_denominator, x);
        x += smelt_sat_shl(smelt_srdhm(x, one_minus_dx), 2);
    }
    return smelt_sat_shl(x, 1);
}

#if SMELT_DSP
/* DSP helpers. gcc does not fold the rotate into SXTB16, hence the asm. */
static inline int32_t smelt_ld32(const void *p)   /* unaligned word load: one LDR */
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline int32_t smelt_sxtb16_ror8(int32_t x)   /* bytes 1 and 3, sign-extended */
{
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}

/* Requantization when the accumulator is known (at compile time) to satisfy |acc| < 2^30 and the
 * TFLM shift is negative (e = -shift in 1..31): SMMULR(2 acc, m) = (2 acc m + 2^31) >> 32 is
 * smelt_srdhm(acc, m) exactly, and (r + 2^(e-1) - (r < 0)) >> e is smelt_rdbp(r, e) (no overflow:
 * |r| < 2^30). `round` is 1 << (e - 1). */
static inline int32_t smelt_dsp_rq(int32_t acc, int32_t m, int e, int32_t round)
{
    int32_t r;
    __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"((int32_t)((uint32_t)acc << 1)), "r"(m));
    return (r + round - (int32_t)((uint32_t)r >> 31)) >> e;
}

static inline int32_t smelt_dsp_clamp(int32_t v, int32_t lo, int32_t hi)   /* int8 outputs */
{
    if (lo == -128 && hi == 127) return __ssat(v, 8);
    return v < lo ? lo : (v > hi ? hi : v);
}
#endif

#endif
