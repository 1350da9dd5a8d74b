/* Comparisons (bool results) and Where, on the broadcast rows of binary.c (included first). */

#define SMELT_COMPARE(S, T)                                                                    \
    SMELT_BINARY(smelt_equal_##S, T, T, uint8_t, x0 == x1)                                     \
    SMELT_BINARY(smelt_less_##S, T, T, uint8_t, x0 < x1)                                       \
    SMELT_BINARY(smelt_less_equal_##S, T, T, uint8_t, x0 <= x1)                                \
    SMELT_BINARY(smelt_greater_##S, T, T, uint8_t, x0 > x1)                                    \
    SMELT_BINARY(smelt_greater_equal_##S, T, T, uint8_t, x0 >= x1)

/* y = c ? a : b. Each input steps by 1 (contiguous) or 0 (repeated) along a row. */
#define SMELT_WHERE(S, T)                                                                      \
    SMELT_KERNEL void smelt_where_##S(const uint8_t *c, const T *a, const T *b, T *y,          \
                                      const smelt_bcast *p)                                    \
    {                                                                                          \
        long idx[SMELT_MAX_RANK] = {0}, off[3] = {0, 0, 0}, n = p->shape[p->rank - 1], i;      \
        const int sc = p->contig[0], sa = p->contig[1], sb = p->contig[2];                     \
        do {                                                                                   \
            const uint8_t *rc = c + off[0];                                                    \
            const T *ra = a + off[1], *rb = b + off[2];                                        \
            for (i = 0; i < n; ++i, rc += sc, ra += sa, rb += sb) y[i] = *rc ? *ra : *rb;      \
            y += n;                                                                            \
        } while (smelt_bcast_next(p, idx, off));                                               \
    }

#define SMELT_COMPARE_WHERE(S, T) SMELT_COMPARE(S, T) SMELT_WHERE(S, T)
SMELT_INT_TYPES(SMELT_COMPARE_WHERE)

#ifdef SMELT_FLOAT
SMELT_COMPARE_WHERE(f32, float)
SMELT_COMPARE_WHERE(f64, double)
#endif
