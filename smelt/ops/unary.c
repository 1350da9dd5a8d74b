/* Elementwise unary kernels: activations (shared with fused producers) and math functions. */

#ifdef SMELT_FLOAT
/* y = act(x) for the activations a producer can also fuse (see smelt_common.h). */
SMELT_KERNEL void smelt_activation_f32(const float *x, float *y, long n, const smelt_act *act)
{
    long i;
    if (act->kind == SMELT_ACT_RELU) {  /* the common case, kept branch-free */
        for (i = 0; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
        return;
    }
    for (i = 0; i < n; ++i) y[i] = smelt_act_f32(x[i], act);
}

enum { SMELT_EXP, SMELT_LOG, SMELT_SQRT, SMELT_ABS, SMELT_NEG };

SMELT_KERNEL void smelt_unary_f32(const float *x, float *y, long n, int fn)
{
    long i;
    switch (fn) {
    case SMELT_EXP: for (i = 0; i < n; ++i) y[i] = expf(x[i]); break;
    case SMELT_LOG: for (i = 0; i < n; ++i) y[i] = logf(x[i]); break;
    case SMELT_SQRT: for (i = 0; i < n; ++i) y[i] = sqrtf(x[i]); break;
    case SMELT_ABS: for (i = 0; i < n; ++i) y[i] = fabsf(x[i]); break;
    case SMELT_NEG: for (i = 0; i < n; ++i) y[i] = -x[i]; break;
    default: break;
    }
}
#endif
