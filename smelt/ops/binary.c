/* Elementwise binary kernels with multidirectional broadcasting (Add, Mul, Pow, Mod, ...).
 *
 * The compiler merges dims and drops size-1 ones (see ops/binary.py), so each kernel walks
 * rows: the last merged dim, along which every input is either contiguous or one repeated
 * value. Same-shape operands are a single row; [N,C,H,W] op [C,1,1] is N*C rows of H*W with
 * a repeated b; a scalar operand is one row with a repeated value. */

typedef struct {
    int rank;                       /* >= 1 merged dims; dim rank-1 is the row */
    long shape[SMELT_MAX_RANK];
    long step[3][SMELT_MAX_RANK];   /* input k's offset change when outer dim d advances */
    int contig[3];                  /* input k is contiguous along the row (else one value) */
} smelt_bcast;

/* Moves to the next row: 0 after the last one. idx: outer position, off: input offsets. */
static inline int smelt_bcast_next(const smelt_bcast *p, long *idx, long *off)
{
    int d;
    for (d = p->rank - 2; d >= 0; --d) {
        if (++idx[d] < p->shape[d]) {
            off[0] += p->step[0][d];
            off[1] += p->step[1][d];
            off[2] += p->step[2][d];
            return 1;
        }
        idx[d] = 0;
    }
    return 0;
}

/* The rows of y = EXPR(x0, x1), x0 from a and x1 from b; POST runs on each finished row.
 * One loop per row kind, so the same-shape and repeated-value cases vectorize. Each element
 * is read before it is written: y may be a (or b) when that input has y's shape. */
#define SMELT_BCAST_ROWS(TA, TB, TY, EXPR, POST)                                               \
    long idx[SMELT_MAX_RANK] = {0}, off[3] = {0, 0, 0}, n = p->shape[p->rank - 1], i;          \
    do {                                                                                       \
        const TA *ra = a + off[0];                                                             \
        const TB *rb = b + off[1];                                                             \
        if (p->contig[0] && p->contig[1]) {                                                    \
            for (i = 0; i < n; ++i) { TA x0 = ra[i]; TB x1 = rb[i]; y[i] = (TY)(EXPR); }       \
        } else if (p->contig[1]) {                                                             \
            TA x0 = ra[0];                                                                     \
            for (i = 0; i < n; ++i) { TB x1 = rb[i]; y[i] = (TY)(EXPR); }                      \
        } else {                                                                               \
            TB x1 = rb[0];                                                                     \
            for (i = 0; i < n; ++i) { TA x0 = ra[i]; y[i] = (TY)(EXPR); }                      \
        }                                                                                      \
        POST;                                                                                  \
        y += n;                                                                                \
    } while (smelt_bcast_next(p, idx, off));

#define SMELT_BINARY(NAME, TA, TB, TY, EXPR)                                                   \
    SMELT_KERNEL void NAME(const TA *a, const TB *b, TY *y, const smelt_bcast *p)              \
    {                                                                                          \
        SMELT_BCAST_ROWS(TA, TB, TY, EXPR, (void)0)                                            \
    }

#define SMELT_INT_TYPES(X) X(i8, int8_t) X(u8, uint8_t) X(i16, int16_t) X(u16, uint16_t)       \
    X(i32, int32_t) X(u32, uint32_t) X(i64, int64_t) X(u64, uint64_t)
#define SMELT_SIGNED_TYPES(X) X(i8, int8_t, 8) X(i16, int16_t, 16) X(i32, int32_t, 32) X(i64, int64_t, 64)
#define SMELT_UNSIGNED_TYPES(X) X(u8, uint8_t, 8) X(u16, uint16_t, 16) X(u32, uint32_t, 32) X(u64, uint64_t, 64)

/* Integer kernels. C division truncates toward zero, as ONNX (and onnxruntime) do. */
#define SMELT_INT_ARITH(S, T)                                                                  \
    SMELT_BINARY(smelt_add_##S, T, T, T, x0 + x1)                                              \
    SMELT_BINARY(smelt_sub_##S, T, T, T, x0 - x1)                                              \
    SMELT_BINARY(smelt_mul_##S, T, T, T, x0 * x1)                                              \
    SMELT_BINARY(smelt_div_##S, T, T, T, x0 / x1)                                              \
    SMELT_BINARY(smelt_max_##S, T, T, T, x0 > x1 ? x0 : x1)                                    \
    SMELT_BINARY(smelt_min_##S, T, T, T, x0 < x1 ? x0 : x1)                                    \
    SMELT_BINARY(smelt_fmod_##S, T, T, T, x0 % x1)                                             \
    SMELT_BINARY(smelt_bitand_##S, T, T, T, x0 & x1)                                           \
    SMELT_BINARY(smelt_bitor_##S, T, T, T, x0 | x1)                                            \
    SMELT_BINARY(smelt_bitxor_##S, T, T, T, x0 ^ x1)
SMELT_INT_TYPES(SMELT_INT_ARITH)

/* Mod with fmod=0 takes the sign of the divisor (Python's %). Shifts by a negative amount or
 * by the width or more give 0 (right shift of a negative value: -1); right shifts of negative
 * values are arithmetic, computed on ~x to stay portable; left shifts wrap. */
#define SMELT_SIGNED_OPS(S, T, W)                                                              \
    SMELT_BINARY(smelt_mod_##S, T, T, T,                                                       \
                 x0 % x1 != 0 && (x0 % x1 < 0) != (x1 < 0) ? x0 % x1 + x1 : x0 % x1)           \
    SMELT_BINARY(smelt_shl_##S, T, T, T,                                                       \
                 x1 < 0 || x1 >= W ? 0 : (uint64_t)x0 << x1)                                   \
    SMELT_BINARY(smelt_shr_##S, T, T, T,                                                       \
                 x1 < 0 || x1 >= W ? (x0 < 0 ? -1 : 0) : (x0 < 0 ? ~(~x0 >> x1) : x0 >> x1))
SMELT_SIGNED_TYPES(SMELT_SIGNED_OPS)

#define SMELT_UNSIGNED_OPS(S, T, W)                                                            \
    SMELT_BINARY(smelt_shl_##S, T, T, T, x1 >= W ? 0 : (uint64_t)x0 << x1)                     \
    SMELT_BINARY(smelt_shr_##S, T, T, T, x1 >= W ? 0 : x0 >> x1)
SMELT_UNSIGNED_TYPES(SMELT_UNSIGNED_OPS)

/* Integer power by squaring (exact, no libm); a negative exponent truncates 1/b^-e. */
static inline int64_t smelt_ipow(int64_t base, int64_t e)
{
    uint64_t r = 1, b = (uint64_t)base;
    if (e < 0)
        return base == 1 ? 1 : base == -1 ? ((e & 1) ? -1 : 1) : 0;
    for (; e; e >>= 1) {
        if (e & 1) r *= b;
        b *= b;
    }
    return (int64_t)r;
}

#define SMELT_IPOW_I32(S, T) SMELT_BINARY(smelt_pow_i32_##S, int32_t, T, int32_t, smelt_ipow(x0, (int64_t)x1))
#define SMELT_IPOW_I64(S, T) SMELT_BINARY(smelt_pow_i64_##S, int64_t, T, int64_t, smelt_ipow(x0, (int64_t)x1))
SMELT_INT_TYPES(SMELT_IPOW_I32)
SMELT_INT_TYPES(SMELT_IPOW_I64)

#ifdef SMELT_FLOAT
/* A fused activation, applied to each finished row while it is in cache. */
static inline void smelt_act_row_f32(float *y, long n, const smelt_act *act)
{
    long i;
    if (act->kind == SMELT_ACT_NONE)
        return;
    if (act->kind == SMELT_ACT_RELU) {
        for (i = 0; i < n; ++i) y[i] = y[i] > 0.0f ? y[i] : 0.0f;
        return;
    }
    for (i = 0; i < n; ++i) y[i] = smelt_act_f32(y[i], act);
}

#define SMELT_BINARY_ACT(NAME, EXPR)                                                           \
    SMELT_KERNEL void NAME(const float *a, const float *b, float *y, const smelt_bcast *p,     \
                           const smelt_act *act)                                               \
    {                                                                                          \
        SMELT_BCAST_ROWS(float, float, float, EXPR, smelt_act_row_f32(y, n, act))              \
    }

SMELT_BINARY_ACT(smelt_add_f32, x0 + x1)
SMELT_BINARY_ACT(smelt_sub_f32, x0 - x1)
SMELT_BINARY_ACT(smelt_mul_f32, x0 * x1)
SMELT_BINARY(smelt_add_f64, double, double, double, x0 + x1)
SMELT_BINARY(smelt_sub_f64, double, double, double, x0 - x1)
SMELT_BINARY(smelt_mul_f64, double, double, double, x0 * x1)

/* Python's % on floats: fmod, moved to the divisor's sign; a zero takes the divisor's sign. */
#define SMELT_PYMOD(S, T, F)                                                                   \
    static inline T smelt_pymod_##S(T a, T b)                                                  \
    {                                                                                          \
        T r = fmod##F(a, b);                                                                   \
        if (r == 0)                                                                            \
            return copysign##F(0, b);                                                          \
        return (r < 0) != (b < 0) ? r + b : r;                                                 \
    }
SMELT_PYMOD(f32, float, f)
SMELT_PYMOD(f64, double, )

/* Max/Min propagate NaN, as numpy and onnxruntime do. */
#define SMELT_FLOAT_ARITH(S, T, F)                                                             \
    SMELT_BINARY(smelt_div_##S, T, T, T, x0 / x1)                                              \
    SMELT_BINARY(smelt_max_##S, T, T, T, x0 > x1 || x0 != x0 ? x0 : x1)                        \
    SMELT_BINARY(smelt_min_##S, T, T, T, x0 < x1 || x0 != x0 ? x0 : x1)                        \
    SMELT_BINARY(smelt_fmod_##S, T, T, T, fmod##F(x0, x1))                                     \
    SMELT_BINARY(smelt_mod_##S, T, T, T, smelt_pymod_##S(x0, x1))                              \
    SMELT_BINARY(smelt_prelu_##S, T, T, T, x0 < 0 ? x0 * x1 : x0)
SMELT_FLOAT_ARITH(f32, float, f)
SMELT_FLOAT_ARITH(f64, double, )

/* Pow with any exponent type; a float base or exponent is computed by libm (float32 ^ float32
 * in single precision). */
SMELT_BINARY(smelt_pow_f32_f32, float, float, float, powf(x0, x1))
#define SMELT_POW_F32(S, T) SMELT_BINARY(smelt_pow_f32_##S, float, T, float, pow(x0, (double)x1))
#define SMELT_POW_F64(S, T) SMELT_BINARY(smelt_pow_f64_##S, double, T, double, pow(x0, (double)x1))
SMELT_INT_TYPES(SMELT_POW_F32)
SMELT_INT_TYPES(SMELT_POW_F64)
SMELT_POW_F32(f64, double)
SMELT_POW_F64(f32, float)
SMELT_POW_F64(f64, double)
SMELT_BINARY(smelt_pow_i32_f32, int32_t, float, int32_t, pow(x0, x1))
SMELT_BINARY(smelt_pow_i32_f64, int32_t, double, int32_t, pow(x0, x1))
SMELT_BINARY(smelt_pow_i64_f32, int64_t, float, int64_t, pow((double)x0, x1))
SMELT_BINARY(smelt_pow_i64_f64, int64_t, double, int64_t, pow((double)x0, x1))
#endif
