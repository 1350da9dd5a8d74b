/* Linear resize along one axis; N-D (bilinear, trilinear) runs one pass per resized axis.
 * Nearest resize needs no arithmetic: it is smelt_gather (ops/gather.c) with index tables. */

#ifdef SMELT_FLOAT
typedef struct {
    long outer, in_len, out_len, inner;   /* x: outer x in_len x inner; y: out_len instead */
    const int32_t *i0, *i1;               /* per output index: the two input indices blended */
    const float *w;                       /* weight of i1 */
    float fill;                           /* where i0 is -1 (tf_crop_and_resize outside the roi) */
} smelt_resize_params;

SMELT_KERNEL void smelt_resize_linear_f32(const float *x, float *y, const smelt_resize_params *p)
{
    const long inner = p->inner;
    long o, j, k;
    if (inner == 1) {   /* the last dim: one value per output, no inner loop */
        for (o = 0; o < p->outer; ++o, x += p->in_len, y += p->out_len) {
            for (j = 0; j < p->out_len; ++j)
                y[j] = p->i0[j] < 0 ? p->fill : x[p->i0[j]] + p->w[j] * (x[p->i1[j]] - x[p->i0[j]]);
        }
        return;
    }
    for (o = 0; o < p->outer; ++o, x += p->in_len * inner) {
        for (j = 0; j < p->out_len; ++j, y += inner) {
            const float *a, *b;
            float w;
            if (p->i0[j] < 0) {
                for (k = 0; k < inner; ++k) y[k] = p->fill;
                continue;
            }
            a = x + p->i0[j] * inner;
            b = x + p->i1[j] * inner;
            w = p->w[j];
            for (k = 0; k < inner; ++k) y[k] = a[k] + w * (b[k] - a[k]);
        }
    }
}
#endif
