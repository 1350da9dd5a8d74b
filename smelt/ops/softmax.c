/* Softmax and LogSoftmax over the middle dim of [outer, n, inner], numerically stable: the
 * max is subtracted before exp. */

typedef struct {
    long outer, n, inner;
    int log;   /* LogSoftmax */
} smelt_softmax_params;

#ifdef SMELT_FLOAT
/* inner == 1: each row of n is contiguous. */
static inline void smelt_softmax_rows_f32(const float *x, float *y, const smelt_softmax_params *p)
{
    long o, k, n = p->n;
    for (o = 0; o < p->outer; ++o, x += n, y += n) {
        float m = x[0], s = 0.0f;
        for (k = 1; k < n; ++k) m = x[k] > m ? x[k] : m;
        if (p->log) {
            for (k = 0; k < n; ++k) s += expf(x[k] - m);
            s = logf(s);
            for (k = 0; k < n; ++k) y[k] = (x[k] - m) - s;  /* x - m is exact near m */
        } else {
            for (k = 0; k < n; ++k) s += y[k] = expf(x[k] - m);
            s = 1.0f / s;
            for (k = 0; k < n; ++k) y[k] *= s;
        }
    }
}

/* inner > 1: the n values of one softmax are inner apart; walk whole rows of inner (contiguous)
 * keeping the inner running maxima m and sums s in scratch. */
static inline void smelt_softmax_cols_f32(const float *x, float *y, float *m, const smelt_softmax_params *p)
{
    long o, k, j, n = p->n, c = p->inner;
    float *s = m + c;
    for (o = 0; o < p->outer; ++o, x += n * c, y += n * c) {
        const float *xr;
        float *yr;
        for (j = 0; j < c; ++j) { m[j] = x[j]; s[j] = 0.0f; }
        for (k = 1, xr = x + c; k < n; ++k, xr += c)
            for (j = 0; j < c; ++j) m[j] = xr[j] > m[j] ? xr[j] : m[j];
        if (p->log) {
            for (k = 0, xr = x; k < n; ++k, xr += c)
                for (j = 0; j < c; ++j) s[j] += expf(xr[j] - m[j]);
            for (j = 0; j < c; ++j) s[j] = logf(s[j]);
            for (k = 0, xr = x, yr = y; k < n; ++k, xr += c, yr += c)
                for (j = 0; j < c; ++j) yr[j] = (xr[j] - m[j]) - s[j];
        } else {
            for (k = 0, xr = x, yr = y; k < n; ++k, xr += c, yr += c)
                for (j = 0; j < c; ++j) s[j] += yr[j] = expf(xr[j] - m[j]);
            for (j = 0; j < c; ++j) s[j] = 1.0f / s[j];
            for (k = 0, yr = y; k < n; ++k, yr += c)
                for (j = 0; j < c; ++j) yr[j] *= s[j];
        }
    }
}

/* scratch: 2 * inner floats when inner > 1, else unused (NULL). */
SMELT_KERNEL void smelt_softmax_f32(const float *x, float *y, float *scratch, const smelt_softmax_params *p)
{
    if (p->inner == 1)
        smelt_softmax_rows_f32(x, y, p);
    else
        smelt_softmax_cols_f32(x, y, scratch, p);
}
#endif
