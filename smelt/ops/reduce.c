/* Reductions. The input is read once, in order, one row (its last dim) at a time; each row is
 * folded into the output element(s) it belongs to, so any set of axes needs no transpose. */

typedef struct {
    int rank;                       /* 0 when the input is empty */
    long shape[SMELT_MAX_RANK];     /* input dims; adjacent kept / reduced dims merged */
    long ystep[SMELT_MAX_RANK];     /* output elements per index: 0 on reduced dims */
} smelt_reduce_params;

typedef struct { long idx[SMELT_MAX_RANK], off[SMELT_MAX_RANK]; } smelt_rows;

/* Output offset of the next row (the rows' odometer), -1 after the last row. */
static inline long smelt_rows_next(smelt_rows *r, const smelt_reduce_params *p)
{
    const int last = p->rank - 1;
    int k = last - 1;
    while (k >= 0 && ++r->idx[k] == p->shape[k]) r->idx[k--] = 0;
    if (k < 0) return -1;
    for (; k < last; ++k) r->off[k + 1] = r->off[k] + r->idx[k] * p->ystep[k];
    return r->off[last];
}

/* y[i] = F(y[i], v, i) for every input value v and the index i of its output (uses the
 * enclosing function's x, y and p). A row folded into one output runs four chains, started at
 * the identity I and joined with C, so that no step waits on the previous one. */
#define SMELT_FOLD_ROWS(T, F, C, I)                                                                \
    do {                                                                                           \
        smelt_rows r_;                                                                             \
        const long n_ = p->rank ? p->shape[p->rank - 1] : 0;                                       \
        const int kept_ = p->rank && p->ystep[p->rank - 1] != 0;                                   \
        long o_ = 0, j_;                                                                           \
        if (!p->rank) break;                                                                       \
        memset(&r_, 0, sizeof r_);                                                                 \
        do {                                                                                       \
            if (kept_) {                                                                           \
                for (j_ = 0; j_ < n_; ++j_) y[o_ + j_] = F(y[o_ + j_], x[j_], o_ + j_);            \
            } else {                                                                               \
                T a0_ = y[o_], a1_ = I, a2_ = I, a3_ = I;                                          \
                for (j_ = 0; j_ < (n_ & ~3L); j_ += 4) {                                           \
                    a0_ = F(a0_, x[j_], o_);                                                       \
                    a1_ = F(a1_, x[j_ + 1], o_);                                                   \
                    a2_ = F(a2_, x[j_ + 2], o_);                                                   \
                    a3_ = F(a3_, x[j_ + 3], o_);                                                   \
                }                                                                                  \
                for (; j_ < n_; ++j_) a0_ = F(a0_, x[j_], o_);                                     \
                y[o_] = C(C(a0_, a1_, o_), C(a2_, a3_, o_), o_);                                   \
            }                                                                                      \
            x += n_;                                                                               \
        } while ((o_ = smelt_rows_next(&r_, p)) >= 0);                                             \
    } while (0)

#define SMELT_FOLD_MAX(a, v, i) ((v) > (a) ? (v) : (a))
#define SMELT_FOLD_MIN(a, v, i) ((v) < (a) ? (v) : (a))

/* ReduceMax / ReduceMin; init is the lowest (highest) value of T, the result of an empty set. */
#define SMELT_DEFINE_MINMAX(sfx, T)                                                                \
    SMELT_KERNEL void smelt_reduce_max_##sfx(const T *x, T *y, long ny, T init,                    \
                                             const smelt_reduce_params *p)                         \
    {                                                                                              \
        long i;                                                                                    \
        for (i = 0; i < ny; ++i) y[i] = init;                                                      \
        SMELT_FOLD_ROWS(T, SMELT_FOLD_MAX, SMELT_FOLD_MAX, init);                                  \
    }                                                                                              \
    SMELT_KERNEL void smelt_reduce_min_##sfx(const T *x, T *y, long ny, T init,                    \
                                             const smelt_reduce_params *p)                         \
    {                                                                                              \
        long i;                                                                                    \
        for (i = 0; i < ny; ++i) y[i] = init;                                                      \
        SMELT_FOLD_ROWS(T, SMELT_FOLD_MIN, SMELT_FOLD_MIN, init);                                  \
    }

/* ArgMax / ArgMin over the middle dim of outer x n x inner; best holds inner values. */
typedef struct {
    long outer, n, inner;
    int is_min;
    int last;              /* select_last_index: ties go to the later index */
} smelt_arg_params;

#define SMELT_DEFINE_ARG(sfx, T)                                                                   \
    SMELT_KERNEL void smelt_arg_##sfx(const T *x, int64_t *y, T *best, const smelt_arg_params *p)  \
    {                                                                                              \
        long o, k, i;                                                                              \
        for (o = 0; o < p->outer; ++o, y += p->inner) {                                            \
            for (i = 0; i < p->inner; ++i) { best[i] = x[i]; y[i] = 0; }                           \
            x += p->inner;                                                                         \
            for (k = 1; k < p->n; ++k, x += p->inner) {                                            \
                for (i = 0; i < p->inner; ++i) {                                                   \
                    const T v = x[i];                                                              \
                    if ((p->is_min ? v < best[i] : v > best[i]) || (p->last && v == best[i])) {    \
                        best[i] = v;                                                               \
                        y[i] = k;                                                                  \
                    }                                                                              \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }

SMELT_DEFINE_MINMAX(i8, int8_t)
SMELT_DEFINE_MINMAX(u8, uint8_t)
SMELT_DEFINE_MINMAX(i32, int32_t)
SMELT_DEFINE_MINMAX(i64, int64_t)
SMELT_DEFINE_ARG(i8, int8_t)
SMELT_DEFINE_ARG(u8, uint8_t)
SMELT_DEFINE_ARG(i32, int32_t)
SMELT_DEFINE_ARG(i64, int64_t)

#ifdef SMELT_FLOAT
SMELT_DEFINE_MINMAX(f32, float)
SMELT_DEFINE_MINMAX(f64, double)
SMELT_DEFINE_ARG(f32, float)
SMELT_DEFINE_ARG(f64, double)

enum {
    SMELT_REDUCE_SUM, SMELT_REDUCE_MEAN, SMELT_REDUCE_PROD, SMELT_REDUCE_L1, SMELT_REDUCE_L2,
    SMELT_REDUCE_SUM_SQUARE, SMELT_REDUCE_LOG_SUM, SMELT_REDUCE_LOG_SUM_EXP
};

#define SMELT_FOLD_ADD(a, v, i) ((a) + (v))
#define SMELT_FOLD_ADD_ABS(a, v, i) ((a) + ((v) < 0 ? -(v) : (v)))
#define SMELT_FOLD_ADD_SQUARE(a, v, i) ((a) + (v) * (v))
#define SMELT_FOLD_MUL(a, v, i) ((a) * (v))
#define SMELT_FOLD_ADD_EXP_f32(a, v, i) ((a) + expf((v) - m[i]))
#define SMELT_FOLD_ADD_EXP_f64(a, v, i) ((a) + exp((v) - m[i]))

/* The float reductions other than max / min. scale: 1 / (values per output), for the mean;
 * m: ny values of scratch, the maxima LogSumExp subtracts before exp so that it cannot overflow. */
#define SMELT_DEFINE_REDUCE(sfx, T, LOG, SQRT)                                                     \
    SMELT_KERNEL void smelt_reduce_##sfx(const T *x, T *y, T *m, long ny, int op, T scale,         \
                                         const smelt_reduce_params *p)                             \
    {                                                                                              \
        long i;                                                                                    \
        for (i = 0; i < ny; ++i) y[i] = op == SMELT_REDUCE_PROD ? 1 : 0;                           \
        switch (op) {                                                                              \
        case SMELT_REDUCE_PROD: SMELT_FOLD_ROWS(T, SMELT_FOLD_MUL, SMELT_FOLD_MUL, 1); break;      \
        case SMELT_REDUCE_L1: SMELT_FOLD_ROWS(T, SMELT_FOLD_ADD_ABS, SMELT_FOLD_ADD, 0); break;    \
        case SMELT_REDUCE_L2:                                                                      \
        case SMELT_REDUCE_SUM_SQUARE:                                                              \
            SMELT_FOLD_ROWS(T, SMELT_FOLD_ADD_SQUARE, SMELT_FOLD_ADD, 0);                          \
            break;                                                                                 \
        case SMELT_REDUCE_LOG_SUM_EXP:                                                             \
            smelt_reduce_max_##sfx(x, m, ny, -INFINITY, p);                                        \
            for (i = 0; i < ny; ++i) if (m[i] == -INFINITY) m[i] = 0;   /* all -inf, or empty */   \
            SMELT_FOLD_ROWS(T, SMELT_FOLD_ADD_EXP_##sfx, SMELT_FOLD_ADD, 0);                       \
            break;                                                                                 \
        default: SMELT_FOLD_ROWS(T, SMELT_FOLD_ADD, SMELT_FOLD_ADD, 0); break;                     \
        }                                                                                          \
        for (i = 0; i < ny; ++i) {                                                                 \
            switch (op) {                                                                          \
            case SMELT_REDUCE_MEAN: y[i] *= scale; break;                                          \
            case SMELT_REDUCE_L2: y[i] = SQRT(y[i]); break;                                        \
            case SMELT_REDUCE_LOG_SUM: y[i] = LOG(y[i]); break;                                    \
            case SMELT_REDUCE_LOG_SUM_EXP: y[i] = LOG(y[i]) + m[i]; break;                         \
            default: break;                                                                        \
            }                                                                                      \
        }                                                                                          \
    }

SMELT_DEFINE_REDUCE(f32, float, logf, sqrtf)
SMELT_DEFINE_REDUCE(f64, double, log, sqrt)
#endif
