/* Quantized SVDF (TFLite SVDF, int8 input/output, int8 or int16 state), bit-exact with TFLM.
 * The state holds, per batch and filter, the last `memory` feature activations (oldest first). */

typedef struct {
    int batches, input_size, filters, memory, rank;
    int32_t input_zero_point, state_zero_point, output_zero_point, state_min, state_max;
    int32_t multiplier1, shift1, multiplier2, shift2;
    const int32_t *bias;   /* per unit (filters / rank) */
} smelt_qsvdf_params;

#define SMELT_QSVDF(NAME, TS)                                                                       \
SMELT_KERNEL void NAME(const int8_t *x, const int8_t *wf, const TS *wt, TS *state, int8_t *y,      \
                       const smelt_qsvdf_params *p)                                                 \
{                                                                                                   \
    const int F = p->filters, M = p->memory, units = p->filters / p->rank;                          \
    const long total = (long)p->batches * F * M;                                                    \
    long i;                                                                                         \
    int b, f, u, r, j, c;                                                                           \
    /* Age the state by one step (TFLM shifts the whole buffer left by one element). */             \
    for (i = 0; i + 1 < total; ++i) state[i] = state[i + 1];                                        \
    /* The newest activation of each filter: weights_feature . (x - zero point), requantized. */    \
    for (b = 0; b < p->batches; ++b) {                                                              \
        const int8_t *xb = x + (long)b * p->input_size;                                             \
        for (f = 0; f < F; ++f) {                                                                   \
            const int8_t *w = wf + (long)f * p->input_size;                                         \
            int32_t dot = 0;                                                                        \
            for (c = 0; c < p->input_size; ++c) dot += (int32_t)w[c] * (xb[c] - p->input_zero_point); \
            dot = smelt_mbqm(dot, p->multiplier1, p->shift1) + p->state_zero_point;                 \
            state[((long)b * F + f) * M + M - 1] = (TS)smelt_clamp32(dot, p->state_min, p->state_max); \
        }                                                                                           \
    }                                                                                               \
    /* Each unit: bias + sum over its `rank` filters of weights_time . (state - zero point). */     \
    for (b = 0; b < p->batches; ++b) {                                                              \
        for (u = 0; u < units; ++u) {                                                               \
            int32_t acc = p->bias[u];                                                               \
            for (r = 0; r < p->rank; ++r) {                                                         \
                const long row = (long)u * p->rank + r;                                             \
                const TS *s = state + ((long)b * F + row) * M;                                      \
                const TS *w = wt + row * M;                                                         \
                for (j = 0; j < M; ++j) acc += (int32_t)w[j] * (s[j] - p->state_zero_point);        \
            }                                                                                       \
            acc = smelt_mbqm(acc, p->multiplier2, p->shift2) + p->output_zero_point;                \
            y[(long)b * units + u] = (int8_t)smelt_clamp32(acc, -128, 127);                         \
        }                                                                                           \
    }                                                                                               \
}

SMELT_QSVDF(smelt_qsvdf_s8, int8_t)
SMELT_QSVDF(smelt_qsvdf_s16, int16_t)
