/* Quantized softmax over the last axis (TFLite SOFTMAX, int8 input, int8 or int16 output),
 * bit-exact with TFLM. exp_q31[d] = exp(-beta * scale * d) in Q0.31 for d = max - x (a table
 * prepared at compile time; d past the table contributes nothing, as in TFLM). */

typedef struct {
    long rows;
    int depth;
    const int32_t *exp_q31;
    int table_size;
} smelt_qsoftmax_params;

#define SMELT_QSOFTMAX(NAME, T, OUT_BITS, OUT_MIN, OUT_MAX)                                         \
SMELT_KERNEL void NAME(const int8_t *x, T *y, const smelt_qsoftmax_params *p)                      \
{                                                                                                   \
    long r;                                                                                         \
    int c;                                                                                          \
    for (r = 0; r < p->rows; ++r) {                                                                 \
        const int8_t *xr = x + r * p->depth;                                                        \
        T *yr = y + r * p->depth;                                                                   \
        int8_t max = -128;                                                                          \
        int32_t sum = 0, recip;                                                                     \
        int headroom, exponent;                                                                     \
        for (c = 0; c < p->depth; ++c) max = xr[c] > max ? xr[c] : max;                             \
        for (c = 0; c < p->depth; ++c) {                                                            \
            const int d = max - xr[c];                                                              \
            if (d < p->table_size) sum += smelt_rdbp(p->exp_q31[d], 12);   /* Q12.19 */             \
        }                                                                                           \
        /* 1 / sum as a Q0.31 value in [0.5, 1) and a power of two (TFLM GetReciprocal). */         \
        headroom = smelt_clz32((uint32_t)sum);                                                      \
        recip = smelt_one_over_one_plus_x((int32_t)(((uint32_t)sum << headroom) - 0x80000000u));   \
        exponent = 12 - headroom + 31 - OUT_BITS;                                                   \
        for (c = 0; c < p->depth; ++c) {                                                            \
            const int d = max - xr[c];                                                              \
            int32_t v = OUT_MIN;                                                                    \
            if (d < p->table_size)                                                                  \
                v = smelt_clamp32(smelt_rdbp(smelt_srdhm(recip, p->exp_q31[d]), exponent) + OUT_MIN, \
                                  OUT_MIN, OUT_MAX);                                                \
            yr[c] = (T)v;                                                                           \
        }                                                                                           \
    }                                                                                               \
}

SMELT_QSOFTMAX(smelt_qsoftmax_i8_i8, int8_t, 8, -128, 127)
SMELT_QSOFTMAX(smelt_qsoftmax_i8_i16, int16_t, 16, -32768, 32767)

typedef struct {
    long rows;
    int depth;
    int32_t multiplier, shift;   /* input difference to [-65535, 0] <-> [-10, 0] */
    const int16_t *exp_lut;      /* exp on [-10, 0], 513 entries */
    const int16_t *recip_lut;    /* 1 / (1 + x) on [0, 1], 513 entries */
} smelt_qsoftmax16_params;

/* TFLM's int16 table lookup: the entry at v >> 7, interpolated over the 7 low bits. */
SMELT_KERNEL int16_t smelt_lut16(int32_t v, const int16_t *lut)
{
    const int index = 256 + (v >> 7);
    const int32_t base = lut[index], slope = lut[index + 1] - lut[index];
    return (int16_t)(base + ((slope * (v & 0x7F) + 64) >> 7));
}

/* int16 softmax: exponentials (kept in y) from the exp table, their sum's reciprocal from the
 * 1/(1+x) table, each exponential scaled by it. */
SMELT_KERNEL void smelt_qsoftmax_i16_i16(const int16_t *x, int16_t *y, const smelt_qsoftmax16_params *p)
{
    long r;
    int c;
    for (r = 0; r < p->rows; ++r) {
        const int16_t *xr = x + r * p->depth;
        int16_t *yr = y + r * p->depth;
        int16_t max = INT16_MIN, recip;
        int32_t sum = 0, shifted;
        int headroom, right;
        for (c = 0; c < p->depth; ++c) max = xr[c] > max ? xr[c] : max;
        for (c = 0; c < p->depth; ++c) {
            const int32_t scaled = smelt_mbqm(xr[c] - max, p->multiplier, p->shift);
            yr[c] = smelt_lut16(smelt_clamp32(scaled + 32767, -32768, 32767), p->exp_lut);
            sum += yr[c];
        }
        headroom = smelt_clz32((uint32_t)sum);
        shifted = (int32_t)((((int64_t)sum << (headroom - 1)) + (1 << 13)) >> 14);
        recip = smelt_lut16(smelt_clamp32(shifted - ((1 << 15) + (1 << 16)), -32768, 32767), p->recip_lut);
        right = 31 - headroom;
        for (c = 0; c < p->depth; ++c) {
            const int32_t v = (int32_t)(((int64_t)yr[c] * recip + ((int64_t)1 << (right - 1))) >> right);
            yr[c] = (int16_t)smelt_clamp32(v, 0, 32767);
        }
    }
}
