/* Local response normalization across channels, float32, ONNX layout (N, C, spatial...). */

#ifdef SMELT_FLOAT

typedef struct {
    long batch, channels, size;     /* size: elements per channel plane */
    int before, after;              /* channels summed before and after each channel */
    float alpha_over_n, beta, bias;
} smelt_lrn_params;

/* y = x * (bias + alpha / n * sum of x^2 over the neighbouring channels) ^ -beta; y holds the
 * running sum of squares of its plane before the final pass. */
SMELT_KERNEL void smelt_lrn_f32(const float *x, float *y, const smelt_lrn_params *p)
{
    long b, c, j, i;
    for (b = 0; b < p->batch; ++b, x += p->channels * p->size) {
        for (c = 0; c < p->channels; ++c, y += p->size) {
            const long lo = c - p->before < 0 ? 0 : c - p->before;
            const long hi = c + p->after >= p->channels ? p->channels - 1 : c + p->after;
            const float *xc = x + c * p->size;
            for (i = 0; i < p->size; ++i) y[i] = 0.0f;
            for (j = lo; j <= hi; ++j) {
                const float *xj = x + j * p->size;
                for (i = 0; i < p->size; ++i) y[i] += xj[i] * xj[i];
            }
            for (i = 0; i < p->size; ++i) y[i] = xc[i] * powf(p->bias + p->alpha_over_n * y[i], -p->beta);
        }
    }
}

#endif
