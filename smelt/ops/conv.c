/* Convolution (NCHW, 1-3 spatial dims seen as D x H x W) and transposed convolution, float32.
 *
 * Conv keeps the activations in ONNX layout and the weights packed in blocks of SMELT_CONV_MB
 * output channels ([group][block][c/group][kd][kh][kw][MB], zero-padded): each kernel tap then
 * loads MB contiguous weights and broadcasts one input value per output column, so an
 * MB x SMELT_CONV_TW register tile does MB * TW multiply-adds per tap for any stride. Columns
 * whose window lies inside the input run in full tiles with no bounds checks; only the few
 * edge columns compute their valid tap range. The rows' valid tap range is hoisted per row. */

#ifdef SMELT_FLOAT

#define SMELT_CONV_MB 8   /* output channels per weight block: must match ops/conv.py */
#ifndef SMELT_CONV_TW
#define SMELT_CONV_TW 4   /* output columns per register tile */
#endif

typedef struct {
    int batch, group;
    int c, d, h, w;       /* input channels and spatial size */
    int m, od, oh, ow;    /* output channels and spatial size */
    int kd, kh, kw;       /* kernel */
    int sd, sh, sw;       /* strides */
    int dd, dh, dw;       /* dilations */
    int pd, ph, pw;       /* leading pads (the trailing ones follow from the output size) */
    smelt_act act;
} smelt_conv_params;

/* Taps [*lo, *hi) of a k-tap window starting at `start` with step `dil` that fall in [0, n). */
SMELT_KERNEL void smelt_tap_range(long start, int k, int dil, long n, int *lo, int *hi)
{
    long a = start < 0 ? (-start + dil - 1) / dil : 0;
    long b = n > start ? (n - start + dil - 1) / dil : 0;
    if (a > k) a = k;
    if (b > k) b = k;
    *lo = (int)a;
    *hi = (int)(b > a ? b : a);
}

/* One tile: acc[j][o] += sum over the input channels, nkd x nkh row taps and all kw taps of
 * x[ic][kd][kh][j * sw + kw * dw] * w[o][ic][kd][kh][kw], counted from the first tap in range
 * (x + off, wb). Pointers are only formed for taps in range. */
static void smelt_conv_tile_f32(const float *x, long off, const float *wb,
                                const smelt_conv_params *p, int nkd, int nkh,
                                float acc[SMELT_CONV_TW][SMELT_CONV_MB])
{
    const long hw = (long)p->h * p->w, dhw = hw * p->d, ktaps = (long)p->kd * p->kh * p->kw;
    const int cg = p->c / p->group, sw = p->sw;
    int ic, kd, kh, kw, j, o;
    for (ic = 0; ic < cg; ++ic, off += dhw, wb += ktaps * SMELT_CONV_MB) {
        for (kd = 0; kd < nkd; ++kd) {
            for (kh = 0; kh < nkh; ++kh) {
                const float *xr = x + (off + kd * p->dd * hw + (long)kh * p->dh * p->w);
                const float *wr = wb + ((long)kd * p->kh + kh) * p->kw * SMELT_CONV_MB;
                for (kw = 0; kw < p->kw; ++kw, xr += p->dw, wr += SMELT_CONV_MB) {
                    for (j = 0; j < SMELT_CONV_TW; ++j) {
                        const float xv = xr[j * sw];
                        for (o = 0; o < SMELT_CONV_MB; ++o) acc[j][o] += xv * wr[o];
                    }
                }
            }
        }
    }
}

/* One column with only nkw taps in range (an edge); x + off and wb are its first tap. */
static void smelt_conv_column_f32(const float *x, long off, const float *wb,
                                  const smelt_conv_params *p, int nkd, int nkh, int nkw,
                                  float acc[SMELT_CONV_MB])
{
    const long hw = (long)p->h * p->w, dhw = hw * p->d, ktaps = (long)p->kd * p->kh * p->kw;
    const int cg = p->c / p->group;
    int ic, kd, kh, kw, o;
    for (ic = 0; ic < cg; ++ic, off += dhw, wb += ktaps * SMELT_CONV_MB) {
        for (kd = 0; kd < nkd; ++kd) {
            for (kh = 0; kh < nkh; ++kh) {
                const float *xr = x + (off + kd * p->dd * hw + (long)kh * p->dh * p->w);
                const float *wr = wb + ((long)kd * p->kh + kh) * p->kw * SMELT_CONV_MB;
                for (kw = 0; kw < nkw; ++kw, xr += p->dw, wr += SMELT_CONV_MB) {
                    const float xv = *xr;
                    for (o = 0; o < SMELT_CONV_MB; ++o) acc[o] += xv * wr[o];
                }
            }
        }
    }
}

/* y[o * ostride + j] = act(acc[j][o]) for the nb real channels of the block. */
static void smelt_conv_store_f32(float *y, long ostride, const float *acc, int ncols, int nb,
                                 const smelt_act *act)
{
    int j, o;
    for (o = 0; o < nb; ++o, y += ostride) {
        for (j = 0; j < ncols; ++j) {
            const float v = acc[j * SMELT_CONV_MB + o];
            y[j] = act->kind == SMELT_ACT_NONE ? v
                 : act->kind == SMELT_ACT_RELU ? (v > 0.0f ? v : 0.0f) : smelt_act_f32(v, act);
        }
    }
}

/* y = act(conv(x, w) + bias); w packed (see the top of the file), bias may be NULL. */
SMELT_KERNEL void smelt_conv_f32(const float *x, const float *w, const float *bias, float *y,
                                 const smelt_conv_params *p)
{
    const long hw = (long)p->h * p->w, dhw = hw * p->d, ohw = (long)p->oh * p->ow;
    const long odhw = ohw * p->od, ktaps = (long)p->kd * p->kh * p->kw;
    const int cg = p->c / p->group, mg = p->m / p->group;
    const int nblk = (mg + SMELT_CONV_MB - 1) / SMELT_CONV_MB;
    /* Columns [ow_in, ow_out) read only inside the input: tiles, no bounds. */
    const long reach = (long)p->w - 1 + p->pw - (long)(p->kw - 1) * p->dw;
    long ow_in = (p->pw + p->sw - 1) / p->sw;
    long ow_out = reach < 0 ? 0 : reach / p->sw + 1;
    int n, g, blk, od, oh, o, kd0, kd1, kh0, kh1, kw0, kw1;
    long ow, ow_tiles;
    if (ow_out > p->ow) ow_out = p->ow;
    if (ow_in > ow_out) ow_in = ow_out;
    ow_tiles = ow_in + (ow_out - ow_in) / SMELT_CONV_TW * SMELT_CONV_TW;
    for (n = 0; n < p->batch; ++n) {
        for (g = 0; g < p->group; ++g) {
            const float *xg = x + ((long)n * p->c + (long)g * cg) * dhw;
            for (blk = 0; blk < nblk; ++blk) {
                const int oc = g * mg + blk * SMELT_CONV_MB;
                const int nb = mg - blk * SMELT_CONV_MB < SMELT_CONV_MB ? mg - blk * SMELT_CONV_MB
                                                                        : SMELT_CONV_MB;
                const float *wb = w + ((long)g * nblk + blk) * cg * ktaps * SMELT_CONV_MB;
                float *yb = y + ((long)n * p->m + oc) * odhw;
                float b[SMELT_CONV_MB];
                for (o = 0; o < SMELT_CONV_MB; ++o) b[o] = bias && o < nb ? bias[oc + o] : 0.0f;
                for (od = 0; od < p->od; ++od) {
                    const long id = (long)od * p->sd - p->pd;
                    smelt_tap_range(id, p->kd, p->dd, p->d, &kd0, &kd1);
                    for (oh = 0; oh < p->oh; ++oh) {
                        const long ih = (long)oh * p->sh - p->ph;
                        float *yrow = yb + (long)od * ohw + (long)oh * p->ow;
                        long xrow;   /* offset in xg of the first (kd, kh) tap in range */
                        const float *wrow;
                        smelt_tap_range(ih, p->kh, p->dh, p->h, &kh0, &kh1);
                        xrow = (id + (long)kd0 * p->dd) * hw + (ih + (long)kh0 * p->dh) * p->w;
                        wrow = wb + ((long)kd0 * p->kh + kh0) * p->kw * SMELT_CONV_MB;
                        for (ow = 0; ow < p->ow; ) {
                            float acc[SMELT_CONV_TW][SMELT_CONV_MB];
                            const long iw = ow * p->sw - p->pw;
                            int j, ncols = ow >= ow_in && ow < ow_tiles ? SMELT_CONV_TW : 1;
                            for (j = 0; j < ncols; ++j)
                                for (o = 0; o < SMELT_CONV_MB; ++o) acc[j][o] = b[o];
                            if (ncols == SMELT_CONV_TW) {
                                smelt_conv_tile_f32(xg, xrow + iw, wrow, p, kd1 - kd0, kh1 - kh0, acc);
                            } else {
                                smelt_tap_range(iw, p->kw, p->dw, p->w, &kw0, &kw1);
                                smelt_conv_column_f32(xg, xrow + iw + (long)kw0 * p->dw,
                                                      wrow + (long)kw0 * SMELT_CONV_MB, p,
                                                      kd1 - kd0, kh1 - kh0, kw1 - kw0, acc[0]);
                            }
                            smelt_conv_store_f32(yrow + ow, odhw, acc[0], ncols, nb, &p->act);
                            ow += ncols;
                        }
                    }
                }
            }
        }
    }
}

/* Reorder ONNX weights [m][c/group][kd][kh][kw] into the packed layout (runtime weights). */
SMELT_KERNEL void smelt_conv_pack_f32(const float *w, float *packed, const smelt_conv_params *p)
{
    const long ktaps = (long)p->kd * p->kh * p->kw, cgk = (long)(p->c / p->group) * ktaps;
    const int mg = p->m / p->group, nblk = (mg + SMELT_CONV_MB - 1) / SMELT_CONV_MB;
    int g, blk, o;
    long i;
    for (g = 0; g < p->group; ++g) {
        for (blk = 0; blk < nblk; ++blk, packed += cgk * SMELT_CONV_MB) {
            for (o = 0; o < SMELT_CONV_MB; ++o) {
                const int oc = blk * SMELT_CONV_MB + o;
                const float *src = w + ((long)g * mg + oc) * cgk;
                for (i = 0; i < cgk; ++i) packed[i * SMELT_CONV_MB + o] = oc < mg ? src[i] : 0.0f;
            }
        }
    }
}

#endif
