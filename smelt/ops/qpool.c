/* Quantized average and max pooling (TFLite AVERAGE_POOL_2D, MAX_POOL_2D), NHWC, bit-exact with
 * TFLM: the window is clipped to the image; the average rounds half away from zero. */

typedef struct {
    int batches, in_h, in_w, channels, out_h, out_w;
    int k_h, k_w, stride_h, stride_w, pad_top, pad_left;
    int32_t act_min, act_max;
} smelt_qpool_params;

/* The in-image input range [start, end) of output position o. */
SMELT_KERNEL void smelt_qpool_window(int o, int stride, int pad, int k, int size, int *start, int *end)
{
    const int origin = o * stride - pad;
    *start = origin < 0 ? 0 : origin;
    *end = origin + k < size ? origin + k : size;
}

#define SMELT_QPOOL(NAME, T, AVERAGE)                                                               \
SMELT_KERNEL void NAME(const T *x, T *y, const smelt_qpool_params *p)                              \
{                                                                                                   \
    const int C = p->channels;                                                                      \
    int b, oy, ox, c, iy, ix, y0, y1, x0, x1;                                                       \
    for (b = 0; b < p->batches; ++b) {                                                              \
        for (oy = 0; oy < p->out_h; ++oy) {                                                         \
            smelt_qpool_window(oy, p->stride_h, p->pad_top, p->k_h, p->in_h, &y0, &y1);             \
            for (ox = 0; ox < p->out_w; ++ox) {                                                     \
                T *yp = y + (((long)b * p->out_h + oy) * p->out_w + ox) * C;                        \
                int32_t count;                                                                      \
                smelt_qpool_window(ox, p->stride_w, p->pad_left, p->k_w, p->in_w, &x0, &x1);        \
                count = (int32_t)(y1 - y0) * (x1 - x0);                                             \
                for (c = 0; c < C; ++c) {                                                           \
                    int32_t acc = AVERAGE ? 0 : INT32_MIN;                                          \
                    for (iy = y0; iy < y1; ++iy) {                                                  \
                        const T *xp = x + (((long)b * p->in_h + iy) * p->in_w) * C + c;             \
                        for (ix = x0; ix < x1; ++ix) {                                              \
                            const int32_t v = xp[(long)ix * C];                                     \
                            if (AVERAGE) acc += v;                                                  \
                            else if (v > acc) acc = v;                                              \
                        }                                                                           \
                    }                                                                               \
                    if (AVERAGE)                                                                    \
                        acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;      \
                    yp[c] = (T)smelt_clamp32(acc, p->act_min, p->act_max);                          \
                }                                                                                   \
            }                                                                                       \
        }                                                                                           \
    }                                                                                               \
}

SMELT_QPOOL(smelt_qavgpool_i8, int8_t, 1)
SMELT_QPOOL(smelt_qavgpool_i16, int16_t, 1)
SMELT_QPOOL(smelt_qmaxpool_i8, int8_t, 0)
SMELT_QPOOL(smelt_qmaxpool_i16, int16_t, 0)
