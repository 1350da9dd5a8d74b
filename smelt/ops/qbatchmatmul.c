/* Quantized batched matrix product (TFLite BATCH_MATMUL), bit-exact with TFLM.
 * out[b][i][j] = requantize(sum_kk (x[b][i][kk] + x_offset) * (y[b][kk][j] + y_offset)). */

typedef struct {
    long batch[3], x_batch_stride[3], y_batch_stride[3];   /* stride 0: broadcast */
    int m, n, k;
    long x_row, x_col, y_row, y_col;   /* element strides of x[i][kk] and y[kk][j] */
    int32_t x_offset, y_offset, output_offset;
    int32_t multiplier, shift;         /* wide: 16-bit multiplier and total right shift */
    int wide;                          /* int16: 64-bit accumulator */
    int32_t out_min, out_max;
} smelt_qbatchmatmul_params;

#define SMELT_QBATCHMATMUL(NAME, T, ACC)                                                            \
SMELT_KERNEL void NAME(const T *x, const T *y, T *out, const smelt_qbatchmatmul_params *p)         \
{                                                                                                   \
    long b0, b1, b2;                                                                                \
    int i, j, kk;                                                                                   \
    for (b0 = 0; b0 < p->batch[0]; ++b0)                                                            \
    for (b1 = 0; b1 < p->batch[1]; ++b1)                                                            \
    for (b2 = 0; b2 < p->batch[2]; ++b2) {                                                          \
        const T *xb = x + b0 * p->x_batch_stride[0] + b1 * p->x_batch_stride[1] + b2 * p->x_batch_stride[2]; \
        const T *yb = y + b0 * p->y_batch_stride[0] + b1 * p->y_batch_stride[1] + b2 * p->y_batch_stride[2]; \
        for (i = 0; i < p->m; ++i) {                                                                \
            for (j = 0; j < p->n; ++j) {                                                            \
                ACC acc = 0;                                                                        \
                int32_t v;                                                                          \
                for (kk = 0; kk < p->k; ++kk)                                                       \
                    acc += (ACC)(xb[i * p->x_row + kk * p->x_col] + p->x_offset) *                  \
                           (yb[kk * p->y_row + j * p->y_col] + p->y_offset);                        \
                v = p->wide ? smelt_mbqm64((int64_t)acc, p->multiplier, p->shift)                   \
                            : smelt_mbqm((int32_t)acc, p->multiplier, p->shift);                    \
                *out++ = (T)smelt_clamp32(v + p->output_offset, p->out_min, p->out_max);            \
            }                                                                                       \
        }                                                                                           \
    }                                                                                               \
}

SMELT_QBATCHMATMUL(smelt_qbatchmatmul_i8, int8_t, int32_t)
SMELT_QBATCHMATMUL(smelt_qbatchmatmul_i16, int16_t, int64_t)
