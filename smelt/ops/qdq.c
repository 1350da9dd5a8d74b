/* ONNX QuantizeLinear / DequantizeLinear, per-tensor (channels = 1) or per-axis: the tensor is
 * [outer, channels, inner] and channel c uses scale[c], zero_point[c]. */

#ifdef SMELT_FLOAT
typedef struct {
    long outer, channels, inner;
    const float *scale;
    const int32_t *zero_point;
} smelt_qdq_params;

/* round(x / scale) half to even (ONNX), + zero point, saturated to [LO, HI]. The quotient is
 * clamped to +-2^20 first (the conversion stays defined and no 16-bit result changes); NaN -> 0.
 * floorf(v) is exact and v - floorf(v) too, so the halfway test is exact. */
#define SMELT_QUANTIZE_LINEAR(NAME, TO, LO, HI)                                                    \
SMELT_KERNEL void NAME(const float *x, TO *y, const smelt_qdq_params *p)                          \
{                                                                                                  \
    long o, c, i, k = 0;                                                                           \
    for (o = 0; o < p->outer; ++o) {                                                               \
        for (c = 0; c < p->channels; ++c) {                                                        \
            const float s = p->scale[c];                                                           \
            const long zp = p->zero_point[c];                                                      \
            for (i = 0; i < p->inner; ++i, ++k) {                                                  \
                float v = x[k] / s;                                                                \
                float f;                                                                           \
                long r;                                                                            \
                if (!(v == v)) v = 0.0f;                                                           \
                v = v > 1048576.0f ? 1048576.0f : (v < -1048576.0f ? -1048576.0f : v);             \
                f = floorf(v);                                                                     \
                r = (long)f;                                                                       \
                if (v - f > 0.5f || (v - f == 0.5f && (r & 1))) ++r;                               \
                r += zp;                                                                           \
                y[k] = (TO)(r < (LO) ? (LO) : (r > (HI) ? (HI) : r));                              \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
}

SMELT_QUANTIZE_LINEAR(smelt_quantize_linear_i8, int8_t, -128L, 127L)
SMELT_QUANTIZE_LINEAR(smelt_quantize_linear_u8, uint8_t, 0L, 255L)
SMELT_QUANTIZE_LINEAR(smelt_quantize_linear_i16, int16_t, -32768L, 32767L)
SMELT_QUANTIZE_LINEAR(smelt_quantize_linear_u16, uint16_t, 0L, 65535L)

/* (x - zero_point) converted to float, times scale (one float multiplication, as onnxruntime). */
#define SMELT_DEQUANTIZE_LINEAR(NAME, TI)                                                          \
SMELT_KERNEL void NAME(const TI *x, float *y, const smelt_qdq_params *p)                          \
{                                                                                                  \
    long o, c, i, k = 0;                                                                           \
    for (o = 0; o < p->outer; ++o) {                                                               \
        for (c = 0; c < p->channels; ++c) {                                                        \
            const float s = p->scale[c];                                                           \
            const int32_t zp = p->zero_point[c];                                                   \
            for (i = 0; i < p->inner; ++i, ++k) y[k] = (float)((int32_t)x[k] - zp) * s;            \
        }                                                                                          \
    }                                                                                              \
}

SMELT_DEQUANTIZE_LINEAR(smelt_dequantize_linear_i8, int8_t)
SMELT_DEQUANTIZE_LINEAR(smelt_dequantize_linear_u8, uint8_t)
SMELT_DEQUANTIZE_LINEAR(smelt_dequantize_linear_i16, int16_t)
SMELT_DEQUANTIZE_LINEAR(smelt_dequantize_linear_u16, uint16_t)
SMELT_DEQUANTIZE_LINEAR(smelt_dequantize_linear_i32, int32_t)
#endif
