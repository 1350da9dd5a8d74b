/* Quantized fully connected (TFLite FULLY_CONNECTED), bit-exact with TFLM.
 * y[b][n] = clamp(requantize(bias[n] + sum_k w[n][k] * x[b][k]) + output_offset).
 * bias already holds the input offset times the row sums of w (folded at compile time). */

typedef struct {
    int batches, in_depth, out_depth;
    int32_t output_offset, act_min, act_max;
    const int32_t *multiplier;   /* per output channel, or one entry */
    const int32_t *shift;        /* TFLM shift; for wide (int64) accumulators: total right shift */
    int per_channel;
    int wide;                    /* 16x8 with int64 bias: 64-bit accumulator, single rounding */
    int fast_rq;                 /* int8: |accumulator| < 2^30 and shifts < 0 (smelt_dsp_rq is exact) */
} smelt_qfc_params;

#if SMELT_DSP
/* Two output rows at a time: each word of x is widened once (SXTB16) for both rows' SMLADs. */
SMELT_KERNEL void smelt_qfc_i8_dsp(const int8_t *x, const int8_t *w, const int32_t *bias, int8_t *y,
                                   const smelt_qfc_params *p)
{
    const int K = p->in_depth, N = p->out_depth, pc = p->per_channel, fast = p->fast_rq;
    const int32_t off = p->output_offset, lo = p->act_min, hi = p->act_max;
    const int32_t *mult = p->multiplier, *shift = p->shift;
    int b, n, k, j;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *xb = x + (long)b * K;
        for (n = 0; n < N; n += 2) {
            const int two = n + 1 < N;
            const int8_t *w0 = w + (long)n * K, *w1 = two ? w0 + K : w0;
            int32_t acc[2];
            int32_t a0 = bias[n], a1 = bias[n + two];
            for (k = 0; k + 4 <= K; k += 4) {
                const int32_t xv = smelt_ld32(xb + k), xe = __sxtb16(xv), xo = smelt_sxtb16_ror8(xv);
                const int32_t v0 = smelt_ld32(w0 + k), v1 = smelt_ld32(w1 + k);
                a0 = __smlad(xe, __sxtb16(v0), a0);
                a0 = __smlad(xo, smelt_sxtb16_ror8(v0), a0);
                a1 = __smlad(xe, __sxtb16(v1), a1);
                a1 = __smlad(xo, smelt_sxtb16_ror8(v1), a1);
            }
            for (; k < K; ++k) {
                a0 += w0[k] * xb[k];
                a1 += w1[k] * xb[k];
            }
            acc[0] = a0;
            acc[1] = a1;
            for (j = 0; j <= two; ++j) {
                const int c = pc ? n + j : 0;
                int32_t v;
                if (fast) {
                    const int e = -shift[c];
                    v = smelt_dsp_rq(acc[j], mult[c], e, (int32_t)1 << (e - 1));
                } else {
                    v = smelt_mbqm(acc[j], mult[c], shift[c]);
                }
                y[(long)b * N + n + j] = (int8_t)smelt_dsp_clamp(v + off, lo, hi);
            }
        }
    }
}
#endif

SMELT_KERNEL void smelt_qfc_i8(const int8_t *x, const int8_t *w, const int32_t *bias, int8_t *y,
                               const smelt_qfc_params *p)
{
    const int K = p->in_depth, N = p->out_depth;
    int b, n, k;
#if SMELT_DSP
    smelt_qfc_i8_dsp(x, w, bias, y, p);
    return;
#endif
    for (b = 0; b < p->batches; ++b) {
        const int8_t *xb = x + (long)b * K;
        for (n = 0; n < N; ++n) {
            const int8_t *wn = w + (long)n * K;
            const int c = p->per_channel ? n : 0;
            int32_t acc = bias[n];
            for (k = 0; k < K; ++k) acc += (int32_t)wn[k] * xb[k];
            acc = smelt_mbqm(acc, p->multiplier[c], p->shift[c]) + p->output_offset;
            y[(long)b * N + n] = (int8_t)smelt_clamp32(acc, p->act_min, p->act_max);
        }
    }
}

SMELT_KERNEL void smelt_qfc_i16(const int16_t *x, const int8_t *w, const int64_t *bias, int16_t *y,
                                const smelt_qfc_params *p)
{
    const int K = p->in_depth, N = p->out_depth;
    int b, n, k;
    for (b = 0; b < p->batches; ++b) {
        const int16_t *xb = x + (long)b * K;
        for (n = 0; n < N; ++n) {
            const int8_t *wn = w + (long)n * K;
            const int c = p->per_channel ? n : 0;
            int64_t acc = bias[n];
            int32_t out;
            for (k = 0; k < K; ++k) acc += (int32_t)wn[k] * xb[k];
            out = p->wide ? smelt_mbqm64(acc, p->multiplier[c], p->shift[c])
                          : smelt_mbqm((int32_t)acc, p->multiplier[c], p->shift[c]);
            y[(long)b * N + n] = (int16_t)smelt_clamp32(out + p->output_offset, p->act_min, p->act_max);
        }
    }
}
