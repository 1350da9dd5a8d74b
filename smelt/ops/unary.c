/* Elementwise unary kernels: activations (shared with fused producers), float math functions,
 * integer and bool ops. Each element is read before it is written, so y may be x. */

/* Defines NAME(xs, y, n): y[i] = EXPR of x = xs[i]. */
#define SMELT_UNARY(NAME, TX, TY, EXPR)                                                        \
    SMELT_KERNEL void NAME(const TX *xs, TY *y, long n)                                        \
    {                                                                                          \
        long i;                                                                                \
        for (i = 0; i < n; ++i) { TX x = xs[i]; y[i] = (TY)(EXPR); }                           \
    }

/* Clip with lo <= hi (the compiler lowers lo to hi when min > max). */
#define SMELT_CLIP(S, T)                                                                       \
    SMELT_KERNEL void smelt_clip_##S(const T *x, T *y, long n, T lo, T hi)                     \
    {                                                                                          \
        long i;                                                                                \
        for (i = 0; i < n; ++i) y[i] = x[i] < lo ? lo : (x[i] > hi ? hi : x[i]);               \
    }

#define SMELT_SIGNED_UNARY(S, T)                                                               \
    SMELT_UNARY(smelt_abs_##S, T, T, x < 0 ? -x : x)                                           \
    SMELT_UNARY(smelt_neg_##S, T, T, -x)                                                       \
    SMELT_UNARY(smelt_sign_##S, T, T, (x > 0) - (x < 0))                                       \
    SMELT_UNARY(smelt_relu_##S, T, T, x > 0 ? x : 0)                                           \
    SMELT_UNARY(smelt_bitnot_##S, T, T, ~x)                                                    \
    SMELT_CLIP(S, T)
SMELT_SIGNED_UNARY(i8, int8_t)
SMELT_SIGNED_UNARY(i16, int16_t)
SMELT_SIGNED_UNARY(i32, int32_t)
SMELT_SIGNED_UNARY(i64, int64_t)

#define SMELT_UNSIGNED_UNARY(S, T) SMELT_UNARY(smelt_bitnot_##S, T, T, ~x) SMELT_CLIP(S, T)
SMELT_UNSIGNED_UNARY(u8, uint8_t)
SMELT_UNSIGNED_UNARY(u16, uint16_t)
SMELT_UNSIGNED_UNARY(u32, uint32_t)
SMELT_UNSIGNED_UNARY(u64, uint64_t)

SMELT_UNARY(smelt_not_b, uint8_t, uint8_t, !x)

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

/* IsInf detects +inf when pos, -inf when neg. */
#define SMELT_CLASSIFY(S, T)                                                                   \
    SMELT_UNARY(smelt_isnan_##S, T, uint8_t, isnan(x))                                         \
    SMELT_KERNEL void smelt_isinf_##S(const T *x, uint8_t *y, long n, int pos, int neg)        \
    {                                                                                          \
        long i;                                                                                \
        for (i = 0; i < n; ++i) y[i] = (pos && x[i] == INFINITY) || (neg && x[i] == -INFINITY); \
    }
SMELT_CLASSIFY(f32, float)
SMELT_CLASSIFY(f64, double)

enum {
    SMELT_EXP, SMELT_LOG, SMELT_SQRT, SMELT_ABS, SMELT_NEG, SMELT_SIGN, SMELT_RECIPROCAL,
    SMELT_FLOOR, SMELT_CEIL, SMELT_ROUND, SMELT_SIN, SMELT_COS, SMELT_TAN, SMELT_ASIN,
    SMELT_ACOS, SMELT_ATAN, SMELT_SINH, SMELT_COSH, SMELT_ASINH, SMELT_ACOSH, SMELT_ATANH,
    SMELT_ERF, SMELT_SOFTPLUS, SMELT_SOFTSIGN, SMELT_MISH, SMELT_THRESHOLDED_RELU, SMELT_SELU,
    SMELT_CELU, SMELT_GELU, SMELT_GELU_TANH, SMELT_SWISH, SMELT_SHRINK
};

/* log(1 + e^x) without overflow. */
static inline float smelt_softplus_f32(float x)
{
    return x > 0.0f ? x + log1pf(expf(-x)) : log1pf(expf(x));
}

/* y = fn(x); alpha and beta parameterize ThresholdedRelu (alpha), Selu (alpha, gamma = beta),
 * Celu (alpha), Swish (alpha) and Shrink (lambd = alpha, bias = beta). The switch runs once
 * per call, each case is its own loop. */
SMELT_KERNEL void smelt_unary_f32(const float *x, float *y, long n, int fn, float alpha, float beta)
{
    long i;
    float k;
    switch (fn) {
    case SMELT_EXP: for (i = 0; i < n; ++i) y[i] = expf(x[i]); break;
    case SMELT_LOG: for (i = 0; i < n; ++i) y[i] = logf(x[i]); break;
    case SMELT_SQRT: for (i = 0; i < n; ++i) y[i] = sqrtf(x[i]); break;
    case SMELT_ABS: for (i = 0; i < n; ++i) y[i] = fabsf(x[i]); break;
    case SMELT_NEG: for (i = 0; i < n; ++i) y[i] = -x[i]; break;
    case SMELT_SIGN:  /* NaN stays NaN */
        for (i = 0; i < n; ++i) y[i] = x[i] > 0.0f ? 1.0f : (x[i] < 0.0f ? -1.0f : x[i]);
        break;
    case SMELT_RECIPROCAL: for (i = 0; i < n; ++i) y[i] = 1.0f / x[i]; break;
    case SMELT_FLOOR: for (i = 0; i < n; ++i) y[i] = floorf(x[i]); break;
    case SMELT_CEIL: for (i = 0; i < n; ++i) y[i] = ceilf(x[i]); break;
    case SMELT_ROUND: for (i = 0; i < n; ++i) y[i] = rintf(x[i]); break;  /* half to even */
    case SMELT_SIN: for (i = 0; i < n; ++i) y[i] = sinf(x[i]); break;
    case SMELT_COS: for (i = 0; i < n; ++i) y[i] = cosf(x[i]); break;
    case SMELT_TAN: for (i = 0; i < n; ++i) y[i] = tanf(x[i]); break;
    case SMELT_ASIN: for (i = 0; i < n; ++i) y[i] = asinf(x[i]); break;
    case SMELT_ACOS: for (i = 0; i < n; ++i) y[i] = acosf(x[i]); break;
    case SMELT_ATAN: for (i = 0; i < n; ++i) y[i] = atanf(x[i]); break;
    case SMELT_SINH: for (i = 0; i < n; ++i) y[i] = sinhf(x[i]); break;
    case SMELT_COSH: for (i = 0; i < n; ++i) y[i] = coshf(x[i]); break;
    case SMELT_ASINH: for (i = 0; i < n; ++i) y[i] = asinhf(x[i]); break;
    case SMELT_ACOSH: for (i = 0; i < n; ++i) y[i] = acoshf(x[i]); break;
    case SMELT_ATANH: for (i = 0; i < n; ++i) y[i] = atanhf(x[i]); break;
    case SMELT_ERF: for (i = 0; i < n; ++i) y[i] = erff(x[i]); break;
    case SMELT_SOFTPLUS: for (i = 0; i < n; ++i) y[i] = smelt_softplus_f32(x[i]); break;
    case SMELT_SOFTSIGN: for (i = 0; i < n; ++i) y[i] = x[i] / (1.0f + fabsf(x[i])); break;
    case SMELT_MISH: for (i = 0; i < n; ++i) y[i] = x[i] * tanhf(smelt_softplus_f32(x[i])); break;
    case SMELT_THRESHOLDED_RELU: for (i = 0; i < n; ++i) y[i] = x[i] > alpha ? x[i] : 0.0f; break;
    case SMELT_SELU:
        k = beta * alpha;
        for (i = 0; i < n; ++i) y[i] = x[i] > 0.0f ? beta * x[i] : k * expm1f(x[i]);
        break;
    case SMELT_CELU:
        k = 1.0f / alpha;
        for (i = 0; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] : alpha * expm1f(x[i] * k);
        break;
    case SMELT_GELU:  /* x/2 (1 + erf(x / sqrt 2)) */
        for (i = 0; i < n; ++i) y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678f));
        break;
    case SMELT_GELU_TANH:  /* x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
        for (i = 0; i < n; ++i)
            y[i] = 0.5f * x[i] * (1.0f + tanhf(0.79788456f * (x[i] + 0.044715f * x[i] * x[i] * x[i])));
        break;
    case SMELT_SWISH: for (i = 0; i < n; ++i) y[i] = x[i] / (1.0f + expf(-alpha * x[i])); break;
    case SMELT_SHRINK:
        for (i = 0; i < n; ++i) y[i] = x[i] < -alpha ? x[i] + beta : (x[i] > alpha ? x[i] - beta : 0.0f);
        break;
    default: break;
    }
}
#endif
