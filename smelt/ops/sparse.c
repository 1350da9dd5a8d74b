/* Int8 convolution and fully connected layers with block-sparse weights: each output channel's
 * K weights (OHWI order for a convolution) are cut into blocks of 4 consecutive weights, and only
 * the blocks holding a nonzero weight are stored. index[0..R] are the rows' first block numbers
 * (CSR row pointers), index[R + 1 + j] block j's column (its first weight / 4), values[4 j ..]
 * its weights. The kernel skips the zero blocks; the arithmetic is qconv.c / qfc.c's (int32
 * accumulation from bias + input_offset * sum(w), TFLM requantization). */

typedef struct {
    smelt_qconv_params q;      /* q.bias_full: bias + input_offset * sum(w) per output channel */
    const uint16_t *index;
} smelt_sparse_conv_params;

typedef struct {
    smelt_qfc_params q;        /* bias holds input_offset * (row sums), as in qfc.c */
    const uint16_t *index;
} smelt_sparse_fc_params;

/* sum over row r's stored blocks of w * x (x: the row's K inputs, padded to whole blocks) */
static inline int32_t smelt_sparse_dot(const int8_t *x, const int8_t *values, const uint16_t *index, int rows, int r)
{
    const uint16_t *col = index + rows + 1;
    int32_t acc = 0;
    int j;
    for (j = index[r]; j < index[r + 1]; ++j) {
        const int8_t *w = values + 4 * j, *xp = x + 4 * col[j];
#if SMELT_DSP
        const int32_t wv = smelt_ld32(w), xv = smelt_ld32(xp);
        acc = __smlad(__sxtb16(wv), __sxtb16(xv), acc);
        acc = __smlad(smelt_sxtb16_ror8(wv), smelt_sxtb16_ror8(xv), acc);
#else
        acc += w[0] * xp[0] + w[1] * xp[1] + w[2] * xp[2] + w[3] * xp[3];
#endif
    }
    return acc;
}

/* cols: K rounded up to whole blocks, one pixel's im2col (out-of-image taps: the zero point). */
SMELT_KERNEL void smelt_sparse_conv2d_i8(const int8_t *x, const int8_t *values, const int32_t *bias, int8_t *y,
                                         int8_t *cols, const smelt_sparse_conv_params *sp)
{
    const smelt_qconv_params *p = &sp->q;
    const int C = p->in_c, K = p->k_h * p->k_w * C, OC = p->out_c;
    const int32_t *b0 = p->bias_full ? p->bias_full : bias;
    int b, oy, ox, oc, ky, kx;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *xb = x + (long)b * p->in_h * p->in_w * C;
        for (oy = 0; oy < p->out_h; ++oy) {
            for (ox = 0; ox < p->out_w; ++ox) {
                const int iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
                int8_t *yp = y + (((long)b * p->out_h + oy) * p->out_w + ox) * OC, *col = cols;
                for (ky = 0; ky < p->k_h; ++ky) {
                    const int iy = iy0 + p->dil_h * ky;
                    for (kx = 0; kx < p->k_w; ++kx, col += C) {
                        const int ix = ix0 + p->dil_w * kx;
                        if (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w) memset(col, -p->input_offset, (size_t)C);
                        else memcpy(col, xb + ((long)iy * p->in_w + ix) * C, (size_t)C);
                    }
                }
                for (; col < cols + ((K + 3) & ~3); ++col) *col = 0;   /* the last block's padding */
                for (oc = 0; oc < OC; ++oc) {
                    const int32_t acc = (int32_t)((uint32_t)b0[oc] + (uint32_t)smelt_sparse_dot(cols, values, sp->index, OC, oc));
                    yp[oc] = (int8_t)smelt_qconv_out(acc, oc, p);
                }
            }
        }
    }
}

/* cols: NULL when K % 4 == 0 (x is read in place), else K rounded up to whole blocks. */
SMELT_KERNEL void smelt_sparse_fc_i8(const int8_t *x, const int8_t *values, const int32_t *bias, int8_t *y,
                                     int8_t *cols, const smelt_sparse_fc_params *sp)
{
    const smelt_qfc_params *p = &sp->q;
    const int K = p->in_depth, N = p->out_depth;
    int b, n;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *xb = x + (long)b * K;
        if (cols) {
            memcpy(cols, xb, (size_t)K);
            memset(cols + K, 0, (size_t)((K + 3) / 4 * 4 - K));
            xb = cols;
        }
        for (n = 0; n < N; ++n) {
            const int c = p->per_channel ? n : 0;
            int32_t acc = (int32_t)((uint32_t)bias[n] + (uint32_t)smelt_sparse_dot(xb, values, sp->index, N, n));
            acc = smelt_mbqm(acc, p->multiplier[c], p->shift[c]) + p->output_offset;
            y[(long)b * N + n] = (int8_t)smelt_clamp32(acc, p->act_min, p->act_max);
        }
    }
}
