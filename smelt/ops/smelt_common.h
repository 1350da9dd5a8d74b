/* smelt: definitions shared by every kernel. Generated code includes this once. */
#ifndef SMELT_COMMON_H
#define SMELT_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Kernels are included into the model's translation unit (a unity build): static, so several
 * models link into one program, and the compiler sees the constant parameters of each call. */
#ifndef SMELT_KERNEL   /* tests define it empty to compile every kernel for real */
#if defined(__GNUC__)
#define SMELT_KERNEL static __attribute__((unused))
#else
#define SMELT_KERNEL static
#endif
#endif

#define SMELT_MAX_RANK 8

/* ARMv7E-M / ARMv8-M mainline DSP kernels (SIMD: SXTB16, SMLAD), bit-exact with the portable ones.
 * Chosen by the compiler's target (-mcpu=cortex-m4/m7/m33/m55); -DSMELT_PORTABLE forces the
 * portable C kernels, to compare. */
#if defined(__ARM_FEATURE_DSP) && !defined(SMELT_PORTABLE)
#define SMELT_DSP 1
#include <arm_acle.h>
#else
#define SMELT_DSP 0
#endif

/* Fused activation applied by a producer (Conv, Gemm, Add, ...) to each output value. */
enum {
    SMELT_ACT_NONE = 0, SMELT_ACT_RELU, SMELT_ACT_CLIP, SMELT_ACT_LEAKY_RELU, SMELT_ACT_SIGMOID,
    SMELT_ACT_TANH, SMELT_ACT_HARD_SIGMOID, SMELT_ACT_HARD_SWISH, SMELT_ACT_ELU
};
typedef struct { int kind; float alpha; float beta; } smelt_act;

/* The taps [*lo, *hi) of a k-tap window at `start` with step `step` that land in [0, n):
 * convolution and pooling kernels compute their valid range once instead of testing every tap. */
static inline void smelt_taps(long start, long k, long step, long n, long *lo, long *hi)
{
    long a = start < 0 ? (step - 1 - start) / step : 0;
    long b = n > start ? (n - start + step - 1) / step : 0;
    *lo = a < k ? a : k;
    *hi = b < *lo ? *lo : (b < k ? b : k);
}

#ifdef SMELT_FLOAT
#include <math.h>
static inline float smelt_act_f32(float x, const smelt_act *a)
{
    switch (a->kind) {
    case SMELT_ACT_RELU: return x > 0.0f ? x : 0.0f;
    case SMELT_ACT_CLIP: return x < a->alpha ? a->alpha : (x > a->beta ? a->beta : x);
    case SMELT_ACT_LEAKY_RELU: return x >= 0.0f ? x : a->alpha * x;
    case SMELT_ACT_SIGMOID: return 1.0f / (1.0f + expf(-x));
    case SMELT_ACT_TANH: return tanhf(x);
    case SMELT_ACT_HARD_SIGMOID: {
        float y = a->alpha * x + a->beta;
        return y < 0.0f ? 0.0f : (y > 1.0f ? 1.0f : y);
    }
    case SMELT_ACT_HARD_SWISH: {
        float y = x / 6.0f + 0.5f;
        return x * (y < 0.0f ? 0.0f : (y > 1.0f ? 1.0f : y));
    }
    case SMELT_ACT_ELU: return x >= 0.0f ? x : a->alpha * (expf(x) - 1.0f);
    default: return x;
    }
}
#endif

#endif
