/* smelt wasm32 build: math.h without a C library. sqrt, fabs, floor, ceil, trunc, rint, nearbyint
 * and copysign become wasm instructions; every other function is imported from JavaScript
 * ("env" module), where the generated <name>.mjs provides it (see its LIBM table). */
#ifndef SMELT_WASM_MATH_H
#define SMELT_WASM_MATH_H

#define INFINITY (__builtin_inff())
#define NAN (__builtin_nanf(""))
#define HUGE_VAL (__builtin_huge_val())
#define HUGE_VALF (__builtin_huge_valf())
#define isnan(x) __builtin_isnan(x)
#define isinf(x) __builtin_isinf(x)
#define isfinite(x) __builtin_isfinite(x)
#define signbit(x) __builtin_signbit(x)

#define SMELT_LIBM1(fn) double fn(double); float fn##f(float);
#define SMELT_LIBM2(fn) double fn(double, double); float fn##f(float, float);
SMELT_LIBM1(sqrt) SMELT_LIBM1(fabs) SMELT_LIBM1(floor) SMELT_LIBM1(ceil) SMELT_LIBM1(trunc)
SMELT_LIBM1(rint) SMELT_LIBM1(nearbyint) SMELT_LIBM1(round)
SMELT_LIBM1(exp) SMELT_LIBM1(exp2) SMELT_LIBM1(expm1) SMELT_LIBM1(log) SMELT_LIBM1(log2)
SMELT_LIBM1(log10) SMELT_LIBM1(log1p) SMELT_LIBM1(cbrt) SMELT_LIBM1(erf) SMELT_LIBM1(erfc)
SMELT_LIBM1(sin) SMELT_LIBM1(cos) SMELT_LIBM1(tan) SMELT_LIBM1(asin) SMELT_LIBM1(acos)
SMELT_LIBM1(atan) SMELT_LIBM1(sinh) SMELT_LIBM1(cosh) SMELT_LIBM1(tanh) SMELT_LIBM1(asinh)
SMELT_LIBM1(acosh) SMELT_LIBM1(atanh)
SMELT_LIBM2(pow) SMELT_LIBM2(fmod) SMELT_LIBM2(atan2) SMELT_LIBM2(hypot) SMELT_LIBM2(copysign)
SMELT_LIBM2(fmin) SMELT_LIBM2(fmax)
#undef SMELT_LIBM1
#undef SMELT_LIBM2

#endif
