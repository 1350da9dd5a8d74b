/* Quantized MEAN over any set of axes, bit-exact with TFLM: per output, the int32 sum of its
 * inputs (accumulated in `sum`, the node's scratch), less count * zero point, requantized. */

typedef struct {
    int rank;
    long dims[8], out_strides[8];   /* out_strides: 0 along reduced dims */
    long in_size, out_size;
    int32_t count;
    int32_t input_zero_point, output_zero_point, multiplier, shift, out_min, out_max;
} smelt_qmean_params;

#define SMELT_QMEAN(NAME, T)                                                                        \
SMELT_KERNEL void NAME(const T *x, T *y, int32_t *sum, const smelt_qmean_params *p)                \
{                                                                                                   \
    long i, o = 0, idx[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                               \
    int d;                                                                                          \
    for (i = 0; i < p->out_size; ++i) sum[i] = 0;                                                   \
    for (i = 0; i < p->in_size; ++i) {                                                              \
        sum[o] += x[i];                                                                             \
        for (d = p->rank - 1; d >= 0; --d) {   /* odometer over the input, moving o along */        \
            o += p->out_strides[d];                                                                 \
            if (++idx[d] < p->dims[d]) break;                                                       \
            o -= p->out_strides[d] * p->dims[d];                                                    \
            idx[d] = 0;                                                                             \
        }                                                                                           \
    }                                                                                               \
    for (i = 0; i < p->out_size; ++i) {                                                             \
        const int32_t v = smelt_mbqm(sum[i] - p->input_zero_point * p->count, p->multiplier, p->shift); \
        y[i] = (T)smelt_clamp32(v + p->output_zero_point, p->out_min, p->out_max);                  \
    }                                                                                               \
}

SMELT_QMEAN(smelt_qmean_i8, int8_t)
SMELT_QMEAN(smelt_qmean_i16, int16_t)
