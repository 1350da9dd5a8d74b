/* QUANTIZE / DEQUANTIZE / requantization, bit-exact with TFLM. 8-bit requantizations use the
 * table kernels of qlut.c; wider inputs use the fixed-point multiplier here. */

typedef struct {
    int32_t input_zero_point, output_zero_point, multiplier;
    int shift;
    int32_t out_min, out_max;
} smelt_requantize_params;

#define SMELT_REQUANTIZE(NAME, TI, TO)                                                              \
SMELT_KERNEL void NAME(const TI *x, TO *y, long n, const smelt_requantize_params *p)               \
{                                                                                                   \
    long i;                                                                                         \
    for (i = 0; i < n; ++i) {                                                                       \
        const int32_t v = smelt_mbqm((int32_t)x[i] - p->input_zero_point, p->multiplier, p->shift); \
        y[i] = (TO)smelt_clamp32(v + p->output_zero_point, p->out_min, p->out_max);                 \
    }                                                                                               \
}

SMELT_REQUANTIZE(smelt_requantize_i16_i8, int16_t, int8_t)
SMELT_REQUANTIZE(smelt_requantize_i16_i16, int16_t, int16_t)
SMELT_REQUANTIZE(smelt_requantize_i16_i32, int16_t, int32_t)
SMELT_REQUANTIZE(smelt_requantize_i32_i8, int32_t, int8_t)
SMELT_REQUANTIZE(smelt_requantize_i32_i16, int32_t, int16_t)

#ifdef SMELT_FLOAT
typedef struct {
    float scale;
    int32_t zero_point;
} smelt_quantize_params;

/* y = clamp(round(x / scale) + zero_point): the division in float, rounding half away from zero.
 * Clamping to +-65536 first keeps the conversion defined and changes no 8/16-bit result. */
#define SMELT_QUANTIZE(NAME, TO, LO, HI)                                                            \
SMELT_KERNEL void NAME(const float *x, TO *y, long n, const smelt_quantize_params *p)              \
{                                                                                                   \
    long i;                                                                                         \
    for (i = 0; i < n; ++i) {                                                                       \
        float v = roundf(x[i] / p->scale);                                                          \
        v = v > 65536.0f ? 65536.0f : (v < -65536.0f ? -65536.0f : v);                              \
        y[i] = (TO)smelt_clamp32((int32_t)v + p->zero_point, LO, HI);                               \
    }                                                                                               \
}

SMELT_QUANTIZE(smelt_quantize_f32_i8, int8_t, -128, 127)
SMELT_QUANTIZE(smelt_quantize_f32_i16, int16_t, -32768, 32767)

/* y = scale * (x - zero_point), one float multiplication as in TFLM. */
#define SMELT_DEQUANTIZE(NAME, TI)                                                                  \
SMELT_KERNEL void NAME(const TI *x, float *y, long n, const smelt_quantize_params *p)              \
{                                                                                                   \
    long i;                                                                                         \
    for (i = 0; i < n; ++i) y[i] = p->scale * (float)((int32_t)x[i] - p->zero_point);              \
}

SMELT_DEQUANTIZE(smelt_dequantize_i8, int8_t)
SMELT_DEQUANTIZE(smelt_dequantize_u8, uint8_t)
SMELT_DEQUANTIZE(smelt_dequantize_i16, int16_t)
#endif
