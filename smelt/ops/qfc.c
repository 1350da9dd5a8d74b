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
} smelt_qfc_params;

SMELT_KERNEL void smelt_qfc_i8(const int8_t *x, const int8_t *w, const int32_t *bias, int8_t *y,
                               const smelt_qfc_params *p)
{
    const int K = p->in_depth, N = p->out_depth;
    int b, n, k;
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
