/* PlaceTile: write a tile (a box of a bigger tensor, stored contiguously) into its place in the
 * full tensor. Patch-based inference (passes/patch.py) assembles a layer's output this way. */

typedef struct {
    long total;       /* bytes of the full tensor */
    long offset;      /* byte offset of the tile's first element in the full tensor */
    long outer;       /* groups of rows (NCHW: batches x channels; NHWC: batches) */
    long rows;        /* rows per group (the tile's height) */
    long run;         /* contiguous bytes per row */
    long row_step;    /* bytes between two rows in the full tensor */
    long outer_step;  /* bytes between two groups in the full tensor */
} smelt_place_tile_params;

/* dst = acc (zeros when acc is NULL; skipped when acc is dst: the planner runs it in place), then
 * the tile goes into its box of dst. */
SMELT_KERNEL void smelt_place_tile(void *dst, const void *acc, const void *tile,
                                   const smelt_place_tile_params *p)
{
    uint8_t *d = (uint8_t *)dst + p->offset;
    const uint8_t *s = (const uint8_t *)tile;
    long o, r;
    if (!acc) memset(dst, 0, (size_t)p->total);
    else if (acc != dst) memcpy(dst, acc, (size_t)p->total);
    for (o = 0; o < p->outer; ++o)
        for (r = 0; r < p->rows; ++r, s += p->run)
            memcpy(d + o * p->outer_step + r * p->row_step, s, (size_t)p->run);
}
