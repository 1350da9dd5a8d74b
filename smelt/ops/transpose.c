/* Batched 2-D transpose for any element size: dst[b][c][r] = src[b][r][c]. Transpose uses it
 * for 2-D and, after merging dims, for NCHW <-> NHWC; other permutations use smelt_gather. */

typedef struct {
    long batch, rows, cols;   /* src is batch x rows x cols */
    long elem;                /* bytes per element */
} smelt_transpose_params;

#define SMELT_TRANSPOSE_TILE 8

/* In tiles, so the rows being read and the rows being written both stay in cache. */
static inline void smelt_transpose_n(uint8_t *d, const uint8_t *s, long rows, long cols, size_t e)
{
    const long src_row = cols * (long)e;
    long r0, c0, r, c;
    for (r0 = 0; r0 < rows; r0 += SMELT_TRANSPOSE_TILE) {
        const long r1 = r0 + SMELT_TRANSPOSE_TILE < rows ? r0 + SMELT_TRANSPOSE_TILE : rows;
        for (c0 = 0; c0 < cols; c0 += SMELT_TRANSPOSE_TILE) {
            const long c1 = c0 + SMELT_TRANSPOSE_TILE < cols ? c0 + SMELT_TRANSPOSE_TILE : cols;
            for (c = c0; c < c1; ++c) {
                uint8_t *o = d + (c * rows + r0) * (long)e;
                const uint8_t *i = s + r0 * src_row + c * (long)e;
                for (r = r0; r < r1; ++r, o += e, i += src_row) memcpy(o, i, e);
            }
        }
    }
}

SMELT_KERNEL void smelt_transpose(void *dst, const void *src, const smelt_transpose_params *p)
{
    const long plane = p->rows * p->cols * p->elem;
    const uint8_t *s = (const uint8_t *)src;
    uint8_t *d = (uint8_t *)dst;
    long b;
    for (b = 0; b < p->batch; ++b, s += plane, d += plane) {
        switch (p->elem) {
        case 1: smelt_transpose_n(d, s, p->rows, p->cols, 1); break;
        case 2: smelt_transpose_n(d, s, p->rows, p->cols, 2); break;
        case 4: smelt_transpose_n(d, s, p->rows, p->cols, 4); break;
        case 8: smelt_transpose_n(d, s, p->rows, p->cols, 8); break;
        default: smelt_transpose_n(d, s, p->rows, p->cols, (size_t)p->elem); break;
        }
    }
}
