/* Quantized 2-D convolution and depthwise convolution (TFLite CONV_2D, DEPTHWISE_CONV_2D),
 * NHWC activations, OHWI / 1HWO weights, bit-exact with TFLM's reference kernels.
 *
 * TFLM sums w * (x + input_offset) over the taps inside the image only. Where the whole window
 * is inside, the int8 kernels start from bias_full = bias + input_offset * sum(w) (prepared at
 * compile time) and sum w * x: the same int32 value with one add less per MAC. */

typedef struct {
    int batches, in_h, in_w, in_c, out_h, out_w, out_c;
    int k_h, k_w;
    int w_in_c;            /* conv: input channels per group (weights' last dim) */
    int depth_multiplier;  /* depthwise */
    int stride_h, stride_w, dil_h, dil_w, pad_top, pad_left;
    int32_t input_offset, output_offset, act_min, act_max;
    const int32_t *multiplier, *shift;   /* per output channel (wide: 16-bit multiplier, total shift) */
    int wide;                            /* 16x8 with a 64-bit accumulator */
    const int32_t *bias_full;            /* int8: see above; NULL when input_offset is 0 */
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

/* acc[j] += sum_i w[j * w_stride + i] * (x[i] + offset) for j < 4: four output channels share
 * each load of x. */
SMELT_KERNEL void smelt_qdot4_i8(const int8_t *x, const int8_t *w, long w_stride, int n, int32_t offset,
                                 int32_t acc[4])
{
    const int8_t *w1 = w + w_stride, *w2 = w1 + w_stride, *w3 = w2 + w_stride;
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    int i;
    for (i = 0; i < n; ++i) {
        const int32_t v = x[i] + offset;
        a0 += w[i] * v;
        a1 += w1[i] * v;
        a2 += w2[i] * v;
        a3 += w3[i] * v;
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

SMELT_KERNEL int32_t smelt_qdot_i8(const int8_t *x, const int8_t *w, int n, int32_t offset)
{
    int32_t acc = 0;
    int i;
    for (i = 0; i < n; ++i) acc += w[i] * (x[i] + offset);
    return acc;
}

SMELT_KERNEL void smelt_qconv2d_i8(const int8_t *x, const int8_t *w, const int32_t *bias, int8_t *y,
                                   const smelt_qconv_params *p)
{
    const int H = p->in_h, W = p->in_w, C = p->in_c, WC = p->w_in_c, KW = p->k_w;
    const int per_group = p->out_c / (C / WC);
    const long w_stride = (long)p->k_h * KW * WC;
    /* With one group and no horizontal dilation, a row of taps is one contiguous run of x. */
    const int row_runs = WC == C && p->dil_w == 1;
    int b, oy, ox, oc, j, ky, kx, ky0, ky1, kx0, kx1;
    for (b = 0; b < p->batches; ++b) {
        for (oy = 0; oy < p->out_h; ++oy) {
            const int iy0 = oy * p->stride_h - p->pad_top;
            smelt_qconv_taps(iy0, p->dil_h, p->k_h, H, &ky0, &ky1);
            for (ox = 0; ox < p->out_w; ++ox) {
                const int ix0 = ox * p->stride_w - p->pad_left;
                int8_t *yp = y + (((long)b * p->out_h + oy) * p->out_w + ox) * p->out_c;
                int full;
                int32_t offset;
                smelt_qconv_taps(ix0, p->dil_w, KW, W, &kx0, &kx1);
                full = p->bias_full && ky0 == 0 && ky1 == p->k_h && kx0 == 0 && kx1 == KW;
                offset = full ? 0 : p->input_offset;
                for (oc = 0; oc < p->out_c; ) {
                    /* Four channels of one group at a time, then one. */
                    const int n = oc % per_group + 4 <= per_group ? 4 : 1;
                    const int8_t *wo = w + oc * w_stride;
                    const long group_c = (long)(oc / per_group) * WC;
                    int32_t acc[4];
                    for (j = 0; j < n; ++j) acc[j] = full ? p->bias_full[oc + j] : bias[oc + j];
                    for (ky = ky0; ky < ky1; ++ky) {
                        const int8_t *xr = x + (((long)b * H + iy0 + p->dil_h * ky) * W + ix0) * C + group_c;
                        const int8_t *wr = wo + (long)ky * KW * WC;
                        if (row_runs) {
                            if (n == 4) smelt_qdot4_i8(xr + (long)kx0 * C, wr + (long)kx0 * WC, w_stride,
                                                       (kx1 - kx0) * WC, offset, acc);
                            else acc[0] += smelt_qdot_i8(xr + (long)kx0 * C, wr + (long)kx0 * WC,
                                                         (kx1 - kx0) * WC, offset);
                            continue;
                        }
                        for (kx = kx0; kx < kx1; ++kx) {
                            const int8_t *xp = xr + (long)p->dil_w * kx * C, *wp = wr + (long)kx * WC;
                            if (n == 4) smelt_qdot4_i8(xp, wp, w_stride, WC, offset, acc);
                            else acc[0] += smelt_qdot_i8(xp, wp, WC, offset);
                        }
                    }
                    for (j = 0; j < n; ++j) yp[oc + j] = (int8_t)smelt_qconv_out(acc[j], oc + j, p);
                    oc += n;
                }
            }
        }
    }
}

/* Depthwise: per output pixel, the taps add into one int32 accumulator per output channel
 * (acc, the node's scratch), walking x and w contiguously along the channels. */
SMELT_KERNEL void smelt_qdepthwise_i8(const int8_t *x, const int8_t *w, const int32_t *bias, int8_t *y,
                                      int32_t *acc, const smelt_qconv_params *p)
{
    const int H = p->in_h, W = p->in_w, C = p->in_c, M = p->depth_multiplier, OC = p->out_c;
    int b, oy, ox, oc, ic, m, ky, kx, ky0, ky1, kx0, kx1;
    for (b = 0; b < p->batches; ++b) {
        for (oy = 0; oy < p->out_h; ++oy) {
            const int iy0 = oy * p->stride_h - p->pad_top;
            smelt_qconv_taps(iy0, p->dil_h, p->k_h, H, &ky0, &ky1);
            for (ox = 0; ox < p->out_w; ++ox) {
                const int ix0 = ox * p->stride_w - p->pad_left;
                int8_t *yp = y + (((long)b * p->out_h + oy) * p->out_w + ox) * OC;
                int full;
                int32_t offset;
                smelt_qconv_taps(ix0, p->dil_w, p->k_w, W, &kx0, &kx1);
                full = p->bias_full && ky0 == 0 && ky1 == p->k_h && kx0 == 0 && kx1 == p->k_w;
                offset = full ? 0 : p->input_offset;
                memcpy(acc, full ? p->bias_full : bias, (size_t)OC * sizeof(int32_t));
                for (ky = ky0; ky < ky1; ++ky) {
                    for (kx = kx0; kx < kx1; ++kx) {
                        const int8_t *xp = x + (((long)b * H + iy0 + p->dil_h * ky) * W + ix0 + p->dil_w * kx) * C;
                        const int8_t *wp = w + ((long)ky * p->k_w + kx) * OC;
                        if (M == 1) {
                            for (oc = 0; oc < OC; ++oc) acc[oc] += wp[oc] * (xp[oc] + offset);
                            continue;
                        }
                        for (ic = 0, oc = 0; ic < C; ++ic) {
                            const int32_t v = xp[ic] + offset;
                            for (m = 0; m < M; ++m, ++oc) acc[oc] += wp[oc] * v;
                        }
                    }
                }
                for (oc = 0; oc < OC; ++oc) yp[oc] = (int8_t)smelt_qconv_out(acc[oc], oc, p);
            }
        }
    }
}

/* 16x8: int16 activations (zero point 0), 32- or 64-bit accumulation as TFLM (see `wide`). */
SMELT_KERNEL void smelt_qconv2d_i16(const int16_t *x, const int8_t *w, const int64_t *bias, int16_t *y,
                                    const smelt_qconv_params *p)
{
    const int H = p->in_h, W = p->in_w, C = p->in_c, WC = p->w_in_c;
    const int per_group = p->out_c / (C / WC);
    const long w_stride = (long)p->k_h * p->k_w * WC;
    int b, oy, ox, oc, ky, kx, ic, ky0, ky1, kx0, kx1;
    for (b = 0; b < p->batches; ++b) {
        for (oy = 0; oy < p->out_h; ++oy) {
            const int iy0 = oy * p->stride_h - p->pad_top;
            smelt_qconv_taps(iy0, p->dil_h, p->k_h, H, &ky0, &ky1);
            for (ox = 0; ox < p->out_w; ++ox) {
                const int ix0 = ox * p->stride_w - p->pad_left;
                int16_t *yp = y + (((long)b * p->out_h + oy) * p->out_w + ox) * p->out_c;
                smelt_qconv_taps(ix0, p->dil_w, p->k_w, W, &kx0, &kx1);
                for (oc = 0; oc < p->out_c; ++oc) {
                    const int8_t *wo = w + oc * w_stride;
                    const long group_c = (long)(oc / per_group) * WC;
                    int64_t acc = bias[oc];
                    for (ky = ky0; ky < ky1; ++ky) {
                        for (kx = kx0; kx < kx1; ++kx) {
                            const int16_t *xp = x + (((long)b * H + iy0 + p->dil_h * ky) * W + ix0 + p->dil_w * kx) * C + group_c;
                            const int8_t *wp = wo + ((long)ky * p->k_w + kx) * WC;
                            for (ic = 0; ic < WC; ++ic) acc += (int32_t)wp[ic] * xp[ic];
                        }
                    }
                    yp[oc] = (int16_t)smelt_qconv_out(acc, oc, p);
                }
            }
        }
    }
}

SMELT_KERNEL void smelt_qdepthwise_i16(const int16_t *x, const int8_t *w, const int64_t *bias, int16_t *y,
                                       int64_t *acc, const smelt_qconv_params *p)
{
    const int H = p->in_h, W = p->in_w, C = p->in_c, M = p->depth_multiplier, OC = p->out_c;
    int b, oy, ox, oc, ic, m, ky, kx, ky0, ky1, kx0, kx1;
    for (b = 0; b < p->batches; ++b) {
        for (oy = 0; oy < p->out_h; ++oy) {
            const int iy0 = oy * p->stride_h - p->pad_top;
            smelt_qconv_taps(iy0, p->dil_h, p->k_h, H, &ky0, &ky1);
            for (ox = 0; ox < p->out_w; ++ox) {
                const int ix0 = ox * p->stride_w - p->pad_left;
                int16_t *yp = y + (((long)b * p->out_h + oy) * p->out_w + ox) * OC;
                smelt_qconv_taps(ix0, p->dil_w, p->k_w, W, &kx0, &kx1);
                memcpy(acc, bias, (size_t)OC * sizeof(int64_t));
                for (ky = ky0; ky < ky1; ++ky) {
                    for (kx = kx0; kx < kx1; ++kx) {
                        const int16_t *xp = x + (((long)b * H + iy0 + p->dil_h * ky) * W + ix0 + p->dil_w * kx) * C;
                        const int8_t *wp = w + ((long)ky * p->k_w + kx) * OC;
                        for (ic = 0, oc = 0; ic < C; ++ic)
                            for (m = 0; m < M; ++m, ++oc) acc[oc] += (int32_t)wp[oc] * xp[ic];
                    }
                }
                for (oc = 0; oc < OC; ++oc) yp[oc] = (int16_t)smelt_qconv_out(acc[oc], oc, p);
            }
        }
    }
}
