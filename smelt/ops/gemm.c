/* Matrix products, float32: Gemm, MatMul, and the building blocks LSTM/GRU reuse.
 *
 * Two micro-kernels. smelt_mm_nt_f32 takes B as rows of length k ([n, k]: Gemm with transB=1,
 * or any constant B, transposed at compile time), so every output is a contiguous dot product;
 * four rows of B share each load of A and each dot keeps four partial sums. smelt_mm_nn_f32
 * takes B as [k, n] (a B only known at run time): it keeps a panel of outputs in registers and
 * streams B's rows through it, in blocks of k so the panel's rows stay cached. Both are written
 * so that gcc and clang at -O2 make SIMD code of them (SSE on x86-64, MVE/NEON where present). */

#ifdef SMELT_FLOAT

#define SMELT_MM_PANEL 8    /* outputs per register panel of smelt_mm_nn_f32 */
#define SMELT_MM_KBLOCK 64  /* rows of B per pass of smelt_mm_nn_f32 */

typedef struct {
    long batch, m, n, k;
    const long *a_off, *b_off;  /* per batch element: offsets of its A and B (NULL: all 0) */
    int trans_a;                /* A is stored [k, m]: transposed into scratch first */
    int b_rows;                 /* B is stored [n, k] (smelt_mm_nt_f32), else [k, n] */
    float alpha, beta;
    long c_rs, c_cs;            /* C(i, j) = c[i * c_rs + j * c_cs]; 0 strides broadcast */
    smelt_act act;
} smelt_gemm_params;

/* Four partial sums of a dot product: a GNU vector where available (gcc, clang), else an array.
 * (With plain arrays, clang vectorizes across the four B rows instead, with slow shuffles.) */
#if defined(__GNUC__)
typedef float smelt_lanes __attribute__((vector_size(16)));

static inline smelt_lanes smelt_lanes_zero(void)
{
    smelt_lanes v = {0.0f, 0.0f, 0.0f, 0.0f};
    return v;
}

static inline smelt_lanes smelt_lanes_load(const float *p)
{
    smelt_lanes v;
    memcpy(&v, p, sizeof v);  /* an unaligned load */
    return v;
}

/* s + a * b[0..4) */
static inline smelt_lanes smelt_lanes_madd(smelt_lanes s, smelt_lanes a, const float *b)
{
    return s + a * smelt_lanes_load(b);
}

static inline float smelt_lanes_sum(smelt_lanes s)
{
    return (s[0] + s[1]) + (s[2] + s[3]);
}
#else
typedef struct { float v[4]; } smelt_lanes;

static inline smelt_lanes smelt_lanes_zero(void)
{
    smelt_lanes s = {{0.0f, 0.0f, 0.0f, 0.0f}};
    return s;
}

static inline smelt_lanes smelt_lanes_load(const float *p)
{
    smelt_lanes s;
    memcpy(s.v, p, sizeof s.v);
    return s;
}

static inline smelt_lanes smelt_lanes_madd(smelt_lanes s, smelt_lanes a, const float *b)
{
    int l;
    for (l = 0; l < 4; ++l) s.v[l] += a.v[l] * b[l];
    return s;
}

static inline float smelt_lanes_sum(smelt_lanes s)
{
    return (s.v[0] + s.v[1]) + (s.v[2] + s.v[3]);
}
#endif

/* The partial sums s plus the dot product of the last `tail` elements of a and b. */
static inline float smelt_mm_finish_f32(smelt_lanes s, const float *a, const float *b, long tail)
{
    float r = smelt_lanes_sum(s);
    long t;
    for (t = 0; t < tail; ++t) r += a[t] * b[t];
    return r;
}

/* y[i * y_rs + j] = sum_kk a[i * a_rs + kk] * b[j * k + kk] for i < m, j < n. */
SMELT_KERNEL void smelt_mm_nt_f32(long m, long n, long k, const float *a, long a_rs,
                                  const float *b, float *y, long y_rs)
{
    const long k4 = k - (k & 3), tail = k - k4, n4 = n - (n & 3);
    long i, j, kk;
    for (j = 0; j < n4; j += 4) {
        const float *b0 = b + j * k, *b1 = b0 + k, *b2 = b1 + k, *b3 = b2 + k;
        for (i = 0; i < m; ++i) {
            const float *ai = a + i * a_rs;
            float *yi = y + i * y_rs + j;
            smelt_lanes s0 = smelt_lanes_zero(), s1 = s0, s2 = s0, s3 = s0;
            for (kk = 0; kk < k4; kk += 4) {
                const smelt_lanes x = smelt_lanes_load(ai + kk);
                s0 = smelt_lanes_madd(s0, x, b0 + kk);
                s1 = smelt_lanes_madd(s1, x, b1 + kk);
                s2 = smelt_lanes_madd(s2, x, b2 + kk);
                s3 = smelt_lanes_madd(s3, x, b3 + kk);
            }
            yi[0] = smelt_mm_finish_f32(s0, ai + k4, b0 + k4, tail);
            yi[1] = smelt_mm_finish_f32(s1, ai + k4, b1 + k4, tail);
            yi[2] = smelt_mm_finish_f32(s2, ai + k4, b2 + k4, tail);
            yi[3] = smelt_mm_finish_f32(s3, ai + k4, b3 + k4, tail);
        }
    }
    for (j = n4; j < n; ++j) {
        const float *bj = b + j * k;
        for (i = 0; i < m; ++i) {
            const float *ai = a + i * a_rs;
            smelt_lanes s = smelt_lanes_zero();
            for (kk = 0; kk < k4; kk += 4) s = smelt_lanes_madd(s, smelt_lanes_load(ai + kk), bj + kk);
            y[i * y_rs + j] = smelt_mm_finish_f32(s, ai + k4, bj + k4, tail);
        }
    }
}

/* y[i * n + j] = sum_kk a[i * k + kk] * b[kk * n + j] for i < m, j < n. */
SMELT_KERNEL void smelt_mm_nn_f32(long m, long n, long k, const float *a, const float *b, float *y)
{
    const long n8 = n - (n & (SMELT_MM_PANEL - 1));
    long i, j, k0, kk, l;
    for (i = 0; i < m; ++i) {
        const float *ai = a + i * k;
        float *yi = y + i * n;
        for (j = 0; j < n; ++j) yi[j] = 0.0f;
        for (k0 = 0; k0 < k; k0 += SMELT_MM_KBLOCK) {
            const long k1 = k - k0 < SMELT_MM_KBLOCK ? k : k0 + SMELT_MM_KBLOCK;
            for (j = 0; j < n8; j += SMELT_MM_PANEL) {
                const float *bk = b + k0 * n + j;
                float s[SMELT_MM_PANEL];
                for (l = 0; l < SMELT_MM_PANEL; ++l) s[l] = yi[j + l];
                for (kk = k0; kk < k1; ++kk, bk += n) {
                    const float x = ai[kk];
                    for (l = 0; l < SMELT_MM_PANEL; ++l) s[l] += x * bk[l];
                }
                for (l = 0; l < SMELT_MM_PANEL; ++l) yi[j + l] = s[l];
            }
            for (j = n8; j < n; ++j) {
                const float *bk = b + k0 * n + j;
                float s = yi[j];
                for (kk = k0; kk < k1; ++kk, bk += n) s += ai[kk] * *bk;
                yi[j] = s;
            }
        }
    }
}

/* y[c][r] = x[r][c] for an r x c matrix x. */
SMELT_KERNEL void smelt_transpose_f32(const float *x, float *y, long rows, long cols)
{
    long r, c;
    for (r = 0; r < rows; ++r, x += cols)
        for (c = 0; c < cols; ++c) y[c * rows + r] = x[c];
}

/* y = act(alpha * y + beta * C) over rows of n outputs. */
static void smelt_gemm_epilogue_f32(const float *c, float *y, long rows, const smelt_gemm_params *p)
{
    const long n = p->n, size = rows * n, c_rs = p->c_rs, c_cs = p->c_cs;
    const float alpha = p->alpha, beta = p->beta;
    long i, j;
    if (c) {
        for (i = 0; i < rows; ++i) {
            const float *ci = c + i * c_rs;
            float *yi = y + i * n;
            for (j = 0; j < n; ++j) yi[j] = alpha * yi[j] + beta * ci[j * c_cs];
        }
    } else if (alpha != 1.0f) {
        for (i = 0; i < size; ++i) y[i] *= alpha;
    }
    if (p->act.kind != SMELT_ACT_NONE)
        for (i = 0; i < size; ++i) y[i] = smelt_act_f32(y[i], &p->act);
}

/* Gemm and MatMul: y[b] = act(alpha * A[b] B[b] + beta * C) for each batch element b. */
SMELT_KERNEL void smelt_gemm_f32(const float *a, const float *b, const float *c, float *y,
                                 float *scratch, const smelt_gemm_params *p)
{
    const long m = p->m, n = p->n, k = p->k;
    long i;
    for (i = 0; i < p->batch; ++i) {
        const float *ai = a + (p->a_off ? p->a_off[i] : 0);
        const float *bi = b + (p->b_off ? p->b_off[i] : 0);
        if (p->trans_a) {
            smelt_transpose_f32(ai, scratch, k, m);
            ai = scratch;
        }
        if (p->b_rows)
            smelt_mm_nt_f32(m, n, k, ai, k, bi, y + i * m * n, n);
        else
            smelt_mm_nn_f32(m, n, k, ai, bi, y + i * m * n);
    }
    smelt_gemm_epilogue_f32(c, y, p->batch * m, p);
}
#endif
