/* Cast between numeric types by C conversion: float -> integer truncates toward zero,
 * narrowing integers wrap, to bool is x != 0. Bool sources use the uint8 kernels (0/1).
 * float16 (IEEE half, held in uint16_t) converts through float32. */

/* Defines smelt_cast_SA_SB(x, y, n): y[i] = CONV(x[i], TB). */
#define SMELT_CAST(SA, TA, SB, TB, CONV)                                                       \
    SMELT_KERNEL void smelt_cast_##SA##_##SB(const TA *x, TB *y, long n)                       \
    {                                                                                          \
        long i;                                                                                \
        for (i = 0; i < n; ++i) y[i] = CONV(x[i], TB);                                         \
    }
#define SMELT_CONVERT(v, T) ((T)(v))
#define SMELT_NONZERO(v, T) ((v) != 0)

/* Casts from SA to every integer type and bool. */
#define SMELT_CAST_TO_INTS(SA, TA, CONV)                                                       \
    SMELT_CAST(SA, TA, i8, int8_t, CONV) SMELT_CAST(SA, TA, u8, uint8_t, CONV)                 \
    SMELT_CAST(SA, TA, i16, int16_t, CONV) SMELT_CAST(SA, TA, u16, uint16_t, CONV)             \
    SMELT_CAST(SA, TA, i32, int32_t, CONV) SMELT_CAST(SA, TA, u32, uint32_t, CONV)             \
    SMELT_CAST(SA, TA, i64, int64_t, CONV) SMELT_CAST(SA, TA, u64, uint64_t, CONV)

#define SMELT_CAST_INT_SOURCES(X) X(i8, int8_t) X(u8, uint8_t) X(i16, int16_t) X(u16, uint16_t) \
    X(i32, int32_t) X(u32, uint32_t) X(i64, int64_t) X(u64, uint64_t)

#define SMELT_CAST_INT_TO_INTS(SA, TA)                                                         \
    SMELT_CAST_TO_INTS(SA, TA, SMELT_CONVERT) SMELT_CAST(SA, TA, b, uint8_t, SMELT_NONZERO)
SMELT_CAST_INT_SOURCES(SMELT_CAST_INT_TO_INTS)

#ifdef SMELT_FLOAT
/* IEEE half <-> float by bit manipulation, rounding to nearest even. */
static inline float smelt_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu, bits;
    float f;
    if (e == 0) {                       /* zero or subnormal: m * 2^-24, exact */
        f = (float)m * 5.9604644775390625e-8f;
        return sign ? -f : f;
    }
    bits = sign | (e == 0x1fu ? 0x7f800000u | (m << 13) : ((e + 112u) << 23) | (m << 13));
    memcpy(&f, &bits, sizeof f);
    return f;
}

static inline uint16_t smelt_f32_to_f16(float f)
{
    uint32_t x, sign, a, h, rem, half, shift, m;
    memcpy(&x, &f, sizeof x);
    sign = (x >> 16) & 0x8000u;
    a = x & 0x7fffffffu;
    if (a > 0x7f800000u)                /* NaN stays a (quiet) NaN */
        return (uint16_t)(sign | 0x7e00u);
    if (a >= 0x477ff000u)               /* 65520 and above round to infinity */
        return (uint16_t)(sign | 0x7c00u);
    if (a < 0x33000000u)                /* at most 2^-25: rounds to zero */
        return (uint16_t)sign;
    if (a < 0x38800000u) {              /* below 2^-14: a subnormal half, m * 2^-24 */
        shift = 126u - (a >> 23);       /* 14..24 */
        m = (a & 0x7fffffu) | 0x800000u;
        h = m >> shift;
        rem = m & ((1u << shift) - 1u);
        half = 1u << (shift - 1u);
    } else {                            /* normal: rebias the exponent, drop 13 mantissa bits */
        h = (a - 0x38000000u) >> 13;
        rem = a & 0x1fffu;
        half = 0x1000u;
    }
    h += rem > half || (rem == half && (h & 1u));   /* a carry into the exponent is right */
    return (uint16_t)(sign | h);
}

#define SMELT_FROM_F16(v, T) ((T)smelt_f16_to_f32(v))
#define SMELT_FROM_F16_NONZERO(v, T) (smelt_f16_to_f32(v) != 0.0f)
#define SMELT_TO_F16(v, T) smelt_f32_to_f16((float)(v))

#define SMELT_CAST_TO_FLOATS(SA, TA)                                                           \
    SMELT_CAST(SA, TA, f32, float, SMELT_CONVERT) SMELT_CAST(SA, TA, f64, double, SMELT_CONVERT) \
    SMELT_CAST(SA, TA, f16, uint16_t, SMELT_TO_F16)
SMELT_CAST_INT_SOURCES(SMELT_CAST_TO_FLOATS)

SMELT_CAST_TO_INTS(f32, float, SMELT_CONVERT)
SMELT_CAST(f32, float, b, uint8_t, SMELT_NONZERO)
SMELT_CAST(f32, float, f64, double, SMELT_CONVERT)
SMELT_CAST(f32, float, f16, uint16_t, SMELT_TO_F16)

SMELT_CAST_TO_INTS(f64, double, SMELT_CONVERT)
SMELT_CAST(f64, double, b, uint8_t, SMELT_NONZERO)
SMELT_CAST(f64, double, f32, float, SMELT_CONVERT)
SMELT_CAST(f64, double, f16, uint16_t, SMELT_TO_F16)   /* through float32: rounds twice */

SMELT_CAST_TO_INTS(f16, uint16_t, SMELT_FROM_F16)
SMELT_CAST(f16, uint16_t, b, uint8_t, SMELT_FROM_F16_NONZERO)
SMELT_CAST(f16, uint16_t, f32, float, SMELT_FROM_F16)
SMELT_CAST(f16, uint16_t, f64, double, SMELT_FROM_F16)
#endif
