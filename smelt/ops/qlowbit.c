/* Int8 convolution, depthwise convolution and fully connected layers with packed low-bit weights
 * (int4, ternary, binary, palettized): weight i is the `bits`-bit code at bit i * bits of a
 * little-endian byte stream, looked up in an int8 codebook. The codes are decoded in the inner
 * loop (the weights are never unpacked into RAM); the arithmetic is then that of qconv.c / qfc.c
 * (int32 accumulation, TFLM requantization), whose params structs and helpers are reused. */

typedef struct {
    smelt_qconv_params q;
    int bits;                  /* 1..8 */
    const int8_t *codebook;    /* up to 2^bits entries */
} smelt_qlowbit_conv_params;

typedef struct {
    smelt_qfc_params q;
    int bits;
    const int8_t *codebook;
} smelt_qlowbit_fc_params;

/* codebook[code i]; a code may straddle two bytes (bits 3, 5, 6, 7), and then both exist. */
SMELT_KERNEL int32_t smelt_qlowbit_w(const uint8_t *w, long i, int bits, const int8_t *codebook)
{
    const long pos = i * bits;
    const int off = (int)(pos & 7);
    unsigned v = w[pos >> 3];
    if (off + bits > 8) v |= (unsigned)w[(pos >> 3) + 1] << 8;
    return codebook[(v >> off) & ((1u << bits) - 1u)];
}

/* sum_i codebook[w code i0 + i] * (x[i] + offset), i < n */
SMELT_KERNEL int32_t smelt_qlowbit_dot(const int8_t *x, const uint8_t *w, long i0, int n, int32_t offset,
                                       int bits, const int8_t *codebook)
{
    int32_t acc = 0;
    int i;
    for (i = 0; i < n; ++i) acc += smelt_qlowbit_w(w, i0 + i, bits, codebook) * (x[i] + offset);
    return acc;
}

SMELT_KERNEL void smelt_qlowbit_conv2d_i8(const int8_t *x, const uint8_t *w, const int32_t *bias, int8_t *y,
                                          const smelt_qlowbit_conv_params *lp)
{
    const smelt_qconv_params *p = &lp->q;
    const int H = p->in_h, W = p->in_w, C = p->in_c, WC = p->w_in_c, KH = p->k_h, KW = p->k_w;
    const int per_group = p->out_c / (C / WC);
    int b, oy, ox, oc, ky, kx, ky0, ky1, kx0, kx1;
    for (b = 0; b < p->batches; ++b) {
        for (oy = 0; oy < p->out_h; ++oy) {
            const int iy0 = oy * p->stride_h - p->pad_top;
            smelt_qconv_taps(iy0, p->dil_h, KH, H, &ky0, &ky1);
            for (ox = 0; ox < p->out_w; ++ox) {
                const int ix0 = ox * p->stride_w - p->pad_left;
                int8_t *yp = y + (((long)b * p->out_h + oy) * p->out_w + ox) * p->out_c;
                smelt_qconv_taps(ix0, p->dil_w, KW, W, &kx0, &kx1);
                for (oc = 0; oc < p->out_c; ++oc) {
                    const long group_c = (long)(oc / per_group) * WC;
                    int32_t acc = bias[oc];
                    for (ky = ky0; ky < ky1; ++ky) {
                        for (kx = kx0; kx < kx1; ++kx) {
                            const int8_t *xp = x + (((long)b * H + iy0 + p->dil_h * ky) * W + ix0 + p->dil_w * kx) * C
                                               + group_c;
                            const long wi = (((long)oc * KH + ky) * KW + kx) * WC;
                            acc += smelt_qlowbit_dot(xp, w, wi, WC, p->input_offset, lp->bits, lp->codebook);
                        }
                    }
                    yp[oc] = (int8_t)smelt_qconv_out(acc, oc, p);
                }
            }
        }
    }
}

/* Depthwise: weights 1HWO, output channel oc reads input channel oc / depth_multiplier. */
SMELT_KERNEL void smelt_qlowbit_depthwise_i8(const int8_t *x, const uint8_t *w, const int32_t *bias, int8_t *y,
                                             const smelt_qlowbit_conv_params *lp)
{
    const smelt_qconv_params *p = &lp->q;
    const int H = p->in_h, W = p->in_w, C = p->in_c, M = p->depth_multiplier, OC = p->out_c;
    int b, oy, ox, oc, ky, kx, ky0, ky1, kx0, kx1;
    for (b = 0; b < p->batches; ++b) {
        for (oy = 0; oy < p->out_h; ++oy) {
            const int iy0 = oy * p->stride_h - p->pad_top;
            smelt_qconv_taps(iy0, p->dil_h, p->k_h, H, &ky0, &ky1);
            for (ox = 0; ox < p->out_w; ++ox) {
                const int ix0 = ox * p->stride_w - p->pad_left;
                int8_t *yp = y + (((long)b * p->out_h + oy) * p->out_w + ox) * OC;
                smelt_qconv_taps(ix0, p->dil_w, p->k_w, W, &kx0, &kx1);
                for (oc = 0; oc < OC; ++oc) {
                    int32_t acc = bias[oc];
                    for (ky = ky0; ky < ky1; ++ky) {
                        for (kx = kx0; kx < kx1; ++kx) {
                            const int8_t *xp = x + (((long)b * H + iy0 + p->dil_h * ky) * W + ix0 + p->dil_w * kx) * C;
                            const long wi = ((long)ky * p->k_w + kx) * OC + oc;
                            acc += smelt_qlowbit_w(w, wi, lp->bits, lp->codebook) * (xp[oc / M] + p->input_offset);
                        }
                    }
                    yp[oc] = (int8_t)smelt_qconv_out(acc, oc, p);
                }
            }
        }
    }
}

/* bias already holds input_offset * (row sums of the decoded weights), as in qfc.c. */
SMELT_KERNEL void smelt_qlowbit_fc_i8(const int8_t *x, const uint8_t *w, const int32_t *bias, int8_t *y,
                                      const smelt_qlowbit_fc_params *lp)
{
    const smelt_qfc_params *p = &lp->q;
    const int K = p->in_depth, N = p->out_depth;
    int b, n;
    for (b = 0; b < p->batches; ++b) {
        for (n = 0; n < N; ++n) {
            const int c = p->per_channel ? n : 0;
            int32_t acc = bias[n] + smelt_qlowbit_dot(x + (long)b * K, w, (long)n * K, K, 0, lp->bits, lp->codebook);
            acc = smelt_mbqm(acc, p->multiplier[c], p->shift[c]) + p->output_offset;
            y[(long)b * N + n] = (int8_t)smelt_clamp32(acc, p->act_min, p->act_max);
        }
    }
}
