/* Matrix products, float32: Gemm, MatMul, and the building blocks LSTM/GRU reuse.
 *
 * Two micro-kernels. smelt_mm_nt_f32 takes B as rows of length k ([n, k]: Gemm with transB=1,
 * or any constant B, transposed at compile time), so every output is a contiguous dot product;
 * four rows of B share each load of A and each dot keeps four partial sums. smelt_mm_nn_f32
 * takes B as [k, n] (a B only known at run time): it keeps a panel of outputs in registers and
 * streams B's rows through it, in blocks of k so the panel's rows stay cached. The fixed-size
 * inner loops are written so gcc and clang at -O2 turn them into SIMD code. */

#ifdef SMELT_FLOAT

#define SMELT_MM_LANES 4    /* partial sums per dot product */
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

/* Partial sums s plus the dot product of the last `tail` elements of a and b. (A pairwise sum
 * of s makes clang vectorize across the four B rows instead, with slow shuffles.) */
static inline float smelt_mm_finish_f32(const float *s, const float *a, const float *b, long tail)
{
    float r = 0.0f;
    long t;
    for (t = 0; t < SMELT_MM_LANES; ++t) r += s[t];
    for (t = 0; t < tail; ++t) r += a[t] * b[t];
    return r;
}

/* y[i * y_rs + j] = sum_kk a[i * a_rs + kk] * b[j * k + kk] for i < m, j < n. */
SMELT_KERNEL void smelt_mm_nt_f32(long m, long n, long k, const float *a, long a_rs,
                                  const float *b, float *y, long y_rs)
{
    const long k4 = k - (k & (SMELT_MM_LANES - 1)), tail = k - k4, n4 = n - (n & 3);
    long i, j, kk, l;
    /* j outside i: a block of four B rows is read once from memory for all rows of A. */
    for (j = 0; j < n4; j += 4) {
        const float *b0 = b + j * k, *b1 = b0 + k, *b2 = b1 + k, *b3 = b2 + k;
        for (i = 0; i < m; ++i) {
            const float *ai = a + i * a_rs;
            float *yi = y + i * y_rs + j;
            float s0[SMELT_MM_LANES], s1[SMELT_MM_LANES], s2[SMELT_MM_LANES], s3[SMELT_MM_LANES];
            for (l = 0; l < SMELT_MM_LANES; ++l) s0[l] = s1[l] = s2[l] = s3[l] = 0.0f;
            for (kk = 0; kk < k4; kk += SMELT_MM_LANES) {
                for (l = 0; l < SMELT_MM_LANES; ++l) s0[l] += ai[kk + l] * b0[kk + l];
                for (l = 0; l < SMELT_MM_LANES; ++l) s1[l] += ai[kk + l] * b1[kk + l];
                for (l = 0; l < SMELT_MM_LANES; ++l) s2[l] += ai[kk + l] * b2[kk + l];
                for (l = 0; l < SMELT_MM_LANES; ++l) s3[l] += ai[kk + l] * b3[kk + l];
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
            float s[SMELT_MM_LANES];
            for (l = 0; l < SMELT_MM_LANES; ++l) s[l] = 0.0f;
            for (kk = 0; kk < k4; kk += SMELT_MM_LANES)
                for (l = 0; l < SMELT_MM_LANES; ++l) s[l] += ai[kk + l] * bj[kk + l];
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
