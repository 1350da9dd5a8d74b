/* Quantized 2-D convolution and depthwise convolution (TFLite CONV_2D, DEPTHWISE_CONV_2D),
 * NHWC activations, OHWI / 1HWO weights, bit-exact with TFLM's reference kernels.
 * Only taps inside the image are summed (TFLM's implicit padding with the input zero point). */

typedef struct {
    int batches, in_h, in_w, in_c, out_h, out_w, out_c;
    int k_h, k_w;
    int w_in_c;            /* conv: input channels per group (weights' last dim) */
    int depth_multiplier;  /* depthwise */
    int stride_h, stride_w, dil_h, dil_w, pad_top, pad_left;
    int32_t input_offset, output_offset, act_min, act_max;
    const int32_t *multiplier, *shift;   /* per output channel (wide: 16-bit multiplier, total shift) */
    int wide;                            /* 16x8 with a 64-bit accumulator */
    /* Per output channel: the bias plus input_offset times the sum of all its weights. Where the
     * whole window lies inside the image, acc = bias_full + sum(w * x) saves the offset adds. */
    const int32_t *bias_full;
} smelt_qconv_params;

/* The taps k in [start, end) with 0 <= origin + dil * k < size. */
SMELT_KERNEL void smelt_qconv_taps(int origin, int dil, int k, int size, int *start, int *end)
{
    int s = 0, e = k;
    while (s < e && origin + dil * s < 0) ++s;
    while (e > s && origin + dil * (e - 1) >= size) --e;
    *start = s;
    *end = e;
}

SMELT_KERNEL int32_t smelt_qconv_out(int64_t acc, int c, const smelt_qconv_params *p)
{
    const int32_t v = p->wide ? smelt_mbqm64(acc, p->multiplier[c], p->shift[c])
                              : smelt_mbqm((int32_t)acc, p->multiplier[c], p->shift[c]);
    return smelt_clamp32(v + p->output_offset, p->act_min, p->act_max);
}

#define SMELT_QCONV2D(NAME, T, ACC, BIAS)                                                           \
SMELT_KERNEL void NAME(const T *x, const int8_t *w, const BIAS *bias, T *y, const smelt_qconv_params *p) \
{                                                                                                   \
    const int H = p->in_h, W = p->in_w, C = p->in_c, WC = p->w_in_c;                                \
    const int per_group = p->out_c / (C / WC);                                                      \
    const long w_stride = (long)p->k_h * p->k_w * WC;                                               \
    int b, oy, ox, oc, ky, kx, ic, ky0, ky1, kx0, kx1;                                              \
    for (b = 0; b < p->batches; ++b) {                                                              \
        for (oy = 0; oy < p->out_h; ++oy) {                                                         \
            const int iy0 = oy * p->stride_h - p->pad_top;                                          \
            smelt_qconv_taps(iy0, p->dil_h, p->k_h, H, &ky0, &ky1);                                 \
            for (ox = 0; ox < p->out_w; ++ox) {                                                     \
                const int ix0 = ox * p->stride_w - p->pad_left;                                     \
                T *yp = y + (((long)b * p->out_h + oy) * p->out_w + ox) * p->out_c;                 \
                smelt_qconv_taps(ix0, p->dil_w, p->k_w, W, &kx0, &kx1);                             \
                const int full = ky0 == 0 && ky1 == p->k_h && kx0 == 0 && kx1 == p->k_w && p->bias_full;   \
                for (oc = 0; oc < p->out_c; ++oc) {                                                 \
                    const int8_t *wo = w + oc * w_stride;                                           \
                    const long group_c = (long)(oc / per_group) * WC;                               \
                    const int32_t offset = full ? 0 : p->input_offset;                              \
                    ACC acc = full ? p->bias_full[oc] : bias[oc];                                   \
                    for (ky = ky0; ky < ky1; ++ky) {                                                \
                        const long row = ((long)b * H + iy0 + p->dil_h * ky) * W;                   \
                        for (kx = kx0; kx < kx1; ++kx) {                                            \
                            const T *xp = x + (row + ix0 + p->dil_w * kx) * C + group_c;            \
                            const int8_t *wp = wo + ((long)ky * p->k_w + kx) * WC;                  \
                            int32_t dot = 0;                                                        \
                            for (ic = 0; ic < WC; ++ic) dot += (int32_t)wp[ic] * (xp[ic] + offset); \
                            acc += dot;                                                             \
                        }                                                                           \
                    }                                                                               \
                    yp[oc] = (T)smelt_qconv_out(acc, oc, p);                                        \
                }                                                                                   \
            }                                                                                       \
        }                                                                                           \
    }                                                                                               \
}

SMELT_QCONV2D(smelt_qconv2d_i8, int8_t, int32_t, int32_t)
SMELT_QCONV2D(smelt_qconv2d_i16, int16_t, int64_t, int64_t)

#define SMELT_QDEPTHWISE(NAME, T, ACC, BIAS)                                                        \
SMELT_KERNEL void NAME(const T *x, const int8_t *w, const BIAS *bias, T *y, const smelt_qconv_params *p) \
{                                                                                                   \
    const int H = p->in_h, W = p->in_w, C = p->in_c, M = p->depth_multiplier, OC = p->out_c;        \
    int b, oy, ox, ic, m, ky, kx, ky0, ky1, kx0, kx1;                                               \
    for (b = 0; b < p->batches; ++b) {                                                              \
        for (oy = 0; oy < p->out_h; ++oy) {                                                         \
            const int iy0 = oy * p->stride_h - p->pad_top;                                          \
            smelt_qconv_taps(iy0, p->dil_h, p->k_h, H, &ky0, &ky1);                                 \
            for (ox = 0; ox < p->out_w; ++ox) {                                                     \
                const int ix0 = ox * p->stride_w - p->pad_left;                                     \
                T *yp = y + (((long)b * p->out_h + oy) * p->out_w + ox) * OC;                       \
                smelt_qconv_taps(ix0, p->dil_w, p->k_w, W, &kx0, &kx1);                             \
                const int full = ky0 == 0 && ky1 == p->k_h && kx0 == 0 && kx1 == p->k_w && p->bias_full;   \
                const int32_t offset = full ? 0 : p->input_offset;                                  \
                for (ic = 0; ic < C; ++ic) {                                                        \
                    for (m = 0; m < M; ++m) {                                                       \
                        const int oc = ic * M + m;                                                  \
                        ACC acc = full ? p->bias_full[oc] : bias[oc];                               \
                        for (ky = ky0; ky < ky1; ++ky) {                                            \
                            const long row = ((long)b * H + iy0 + p->dil_h * ky) * W;               \
                            for (kx = kx0; kx < kx1; ++kx) {                                        \
                                const T xv = x[(row + ix0 + p->dil_w * kx) * C + ic];               \
                                const int8_t wv = w[((long)ky * p->k_w + kx) * OC + oc];            \
                                acc += (int32_t)wv * (xv + offset);                                 \
                            }                                                                       \
                        }                                                                           \
                        yp[oc] = (T)smelt_qconv_out(acc, oc, p);                                    \
                    }                                                                               \
                }                                                                                   \
            }                                                                                       \
        }                                                                                           \
    }                                                                                               \
}

SMELT_QDEPTHWISE(smelt_qdepthwise_i8, int8_t, int32_t, int32_t)
SMELT_QDEPTHWISE(smelt_qdepthwise_i16, int16_t, int64_t, int64_t)
