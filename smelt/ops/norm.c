/* Normalizations, float32: BatchNormalization (inference), InstanceNormalization,
 * LayerNormalization. Each reduces to y = x * s + t with s, t fixed per channel or row. */

#ifdef SMELT_FLOAT

/* x is [batch, channels, inner], normalized (BatchNormalization) or reduced (Instance-) per channel. */
typedef struct { long batch, channels, inner; float epsilon; smelt_act act; } smelt_norm_params;
typedef struct { long rows, size; float epsilon; } smelt_layernorm_params;

/* y[i] = act(x[i] * s + t) for i < n. */
static void smelt_norm_affine_f32(const float *x, float *y, long n, float s, float t, const smelt_act *act)
{
    long i;
    if (act->kind == SMELT_ACT_NONE) {
        for (i = 0; i < n; ++i) y[i] = x[i] * s + t;
    } else if (act->kind == SMELT_ACT_RELU) {
        for (i = 0; i < n; ++i) {
            const float v = x[i] * s + t;
            y[i] = v > 0.0f ? v : 0.0f;
        }
    } else {
        for (i = 0; i < n; ++i) y[i] = smelt_act_f32(x[i] * s + t, act);
    }
}

/* Mean and 1 / sqrt(variance + eps) of x[0..n), in two passes with four partial sums each
 * (more accurate than one running sum, and independent additions). */
static void smelt_norm_moments_f32(const float *x, long n, float eps, float *mean, float *inv_std)
{
    const long n4 = n - (n & 3);
    float s[4] = {0.0f, 0.0f, 0.0f, 0.0f}, q[4] = {0.0f, 0.0f, 0.0f, 0.0f}, m, v;
    long i, l;
    for (i = 0; i < n4; i += 4)
        for (l = 0; l < 4; ++l) s[l] += x[i + l];
    for (; i < n; ++i) s[0] += x[i];
    m = ((s[0] + s[1]) + (s[2] + s[3])) / (float)n;
    for (i = 0; i < n4; i += 4)
        for (l = 0; l < 4; ++l) q[l] += (x[i + l] - m) * (x[i + l] - m);
    for (; i < n; ++i) q[0] += (x[i] - m) * (x[i] - m);
    v = ((q[0] + q[1]) + (q[2] + q[3])) / (float)n;
    *mean = m;
    *inv_std = 1.0f / sqrtf(v + eps);
}

/* With mean == NULL, scale and shift are the final per-channel
 * factors (precomputed from constant parameters); otherwise they are BatchNormalization's scale
 * and B inputs, and s = scale / sqrt(var + eps), t = B - mean * s are formed per channel here. */
SMELT_KERNEL void smelt_batchnorm_f32(const float *x, const float *scale, const float *shift,
                                      const float *mean, const float *var, float *y,
                                      const smelt_norm_params *p)
{
    const long inner = p->inner;
    long b, c;
    for (b = 0; b < p->batch; ++b) {
        for (c = 0; c < p->channels; ++c, x += inner, y += inner) {
            float s = scale[c], t = shift[c];
            if (mean) {
                s /= sqrtf(var[c] + p->epsilon);
                t -= mean[c] * s;
            }
            smelt_norm_affine_f32(x, y, inner, s, t, &p->act);
        }
    }
}

/* Each (batch, channel) slice is normalized over its inner values. */
SMELT_KERNEL void smelt_instancenorm_f32(const float *x, const float *scale, const float *bias,
                                         float *y, const smelt_norm_params *p)
{
    const long inner = p->inner;
    long b, c;
    for (b = 0; b < p->batch; ++b) {
        for (c = 0; c < p->channels; ++c, x += inner, y += inner) {
            float m, inv;
            smelt_norm_moments_f32(x, inner, p->epsilon, &m, &inv);
            smelt_norm_affine_f32(x, y, inner, scale[c] * inv, bias[c] - m * scale[c] * inv, &p->act);
        }
    }
}

/* x: [rows, size]; each row is normalized, then scaled and shifted elementwise (bias may be
 * NULL). mean_out and inv_std_out (one value per row) may be NULL. */
SMELT_KERNEL void smelt_layernorm_f32(const float *x, const float *scale, const float *bias,
                                      float *y, float *mean_out, float *inv_std_out,
                                      const smelt_layernorm_params *p)
{
    const long size = p->size;
    long r, j;
    for (r = 0; r < p->rows; ++r, x += size, y += size) {
        float m, inv;
        smelt_norm_moments_f32(x, size, p->epsilon, &m, &inv);
        if (bias)
            for (j = 0; j < size; ++j) y[j] = (x[j] - m) * inv * scale[j] + bias[j];
        else
            for (j = 0; j < size; ++j) y[j] = (x[j] - m) * inv * scale[j];
        if (mean_out) mean_out[r] = m;
        if (inv_std_out) inv_std_out[r] = inv;
    }
}
#endif
