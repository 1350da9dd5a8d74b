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
