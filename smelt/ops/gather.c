/* Index-mapped copy, for any element size: Gather, Slice, Pad, Expand, Tile, Transpose and
 * nearest Resize are all out[i0, ..., ik] = src[off0(i0) + ... + offk(ik)] (byte offsets).
 * A dimension's offsets are affine (i * step) or read from a table, where -1 means "the fill
 * value" (Pad). The last dimension is copied a row at a time, with memcpy where contiguous. */

typedef struct {
    int rank;                               /* 1..SMELT_MAX_RANK */
    long elem;                              /* bytes per element */
    long base;                              /* byte offset added to src */
    long shape[SMELT_MAX_RANK];             /* output dims */
    long step[SMELT_MAX_RANK];              /* bytes per index, for dims without a table */
    const int32_t *map[SMELT_MAX_RANK];     /* byte offset per index (-1: fill), or NULL */
    long lo, hi;                            /* last dim with a table: [lo, hi) is contiguous */
    const void *fill;                       /* one element; NULL when no table has a -1 */
} smelt_gather_params;

/* The helpers take a constant elem from their callers' switch, so memcpy becomes one move. */
static inline void smelt_copy_strided_n(uint8_t *d, const uint8_t *s, long n, long step, size_t e)
{
    long i;
    for (i = 0; i < n; ++i, d += e, s += step) memcpy(d, s, e);
}

static inline void smelt_copy_table_n(uint8_t *d, const uint8_t *row, const int32_t *map, long n,
                                      const uint8_t *fill, size_t e)
{
    long i;
    for (i = 0; i < n; ++i, d += e) memcpy(d, map[i] < 0 ? fill : row + map[i], e);
}

SMELT_KERNEL void smelt_copy_strided(uint8_t *d, const uint8_t *s, long n, long step, long e)
{
    switch (e) {
    case 1: smelt_copy_strided_n(d, s, n, step, 1); break;
    case 2: smelt_copy_strided_n(d, s, n, step, 2); break;
    case 4: smelt_copy_strided_n(d, s, n, step, 4); break;
    case 8: smelt_copy_strided_n(d, s, n, step, 8); break;
    default: smelt_copy_strided_n(d, s, n, step, (size_t)e); break;
    }
}

SMELT_KERNEL void smelt_copy_table(uint8_t *d, const uint8_t *row, const int32_t *map, long n,
                                   const void *fill, long e)
{
    const uint8_t *f = (const uint8_t *)fill;
    switch (e) {
    case 1: smelt_copy_table_n(d, row, map, n, f, 1); break;
    case 2: smelt_copy_table_n(d, row, map, n, f, 2); break;
    case 4: smelt_copy_table_n(d, row, map, n, f, 4); break;
    case 8: smelt_copy_table_n(d, row, map, n, f, 8); break;
    default: smelt_copy_table_n(d, row, map, n, f, (size_t)e); break;
    }
}

/* n copies of one e-byte value: log2(n) memcpy calls, each doubling what is written. */
SMELT_KERNEL void smelt_fill(uint8_t *d, const void *value, long n, long e)
{
    size_t done = (size_t)e, total = (size_t)(n * e);
    if (n <= 0) return;
    memcpy(d, value, done);
    while (done < total) {
        size_t k = done < total - done ? done : total - done;
        memcpy(d + done, d, k);
        done += k;
    }
}

SMELT_KERNEL void smelt_gather(void *dst, const void *src, const smelt_gather_params *p)
{
    const int last = p->rank - 1;
    const long n = p->shape[last], e = p->elem, step = p->step[last];
    const int32_t *tab = p->map[last];
    const uint8_t *s = (const uint8_t *)src + p->base;
    uint8_t *d = (uint8_t *)dst;
    long idx[SMELT_MAX_RANK] = {0}, off[SMELT_MAX_RANK] = {0};
    int filled[SMELT_MAX_RANK] = {0};   /* the row prefix through dim k-1 lies in the padding */
    int k = 0, first = 1;
    for (;;) {
        const long prev_off = off[last];
        const int prev_filled = filled[last];
        for (; k < last; ++k) {   /* prefix offsets below the dim that moved */
            long m = p->map[k] ? p->map[k][idx[k]] : idx[k] * p->step[k];
            filled[k + 1] = filled[k] || (p->map[k] && m < 0);
            off[k + 1] = off[k] + m;
        }
        if (!first && filled[last] == prev_filled && (prev_filled || off[last] == prev_off)) {
            memcpy(d, d - n * e, (size_t)(n * e));   /* the row above again (upsampling, pad) */
        } else if (filled[last]) {
            smelt_fill(d, p->fill, n, e);
        } else if (!tab) {
            if (step == e) memcpy(d, s + off[last], (size_t)(n * e));
            else smelt_copy_strided(d, s + off[last], n, step, e);
        } else {
            const uint8_t *row = s + off[last];
            smelt_copy_table(d, row, tab, p->lo, p->fill, e);
            if (p->hi > p->lo)
                memcpy(d + p->lo * e, row + tab[p->lo], (size_t)((p->hi - p->lo) * e));
            smelt_copy_table(d + p->hi * e, row, tab + p->hi, n - p->hi, p->fill, e);
        }
        d += n * e;
        first = 0;
        for (k = last - 1; k >= 0 && ++idx[k] == p->shape[k]; --k) idx[k] = 0;
        if (k < 0) return;
    }
}

