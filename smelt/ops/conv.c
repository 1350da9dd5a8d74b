/* Convolution and transposed convolution, float32, ONNX layout (N, C, spatial...). One, two or
 * three spatial dims are all seen as D x H x W (missing leading dims are 1).
 *
 * smelt_conv_f32 reads its weights packed in blocks of SMELT_CONV_MB output channels,
 * [group][block][kd][kh][kw][c/group][MB] (zero-padded past the group's last channel): a kernel tap
 * then loads MB contiguous weights and broadcasts one input value per output column, so an
 * MB x SMELT_CONV_TW register tile does MB * TW multiply-adds per load pair, for any stride.
 * Columns whose window lies inside the input run as tiles with no bounds checks; only the few
 * edge columns compute their valid taps. The valid row taps are found once per output row. */

#ifdef SMELT_FLOAT

#define SMELT_CONV_MB 8   /* output channels per weight block: ops/conv.py packs with it */
#ifndef SMELT_CONV_TW
#define SMELT_CONV_TW 4   /* output columns per register tile */
#endif
#define SMELT_CONV_NV (SMELT_CONV_MB / 4)   /* 4-float vectors per weight block */

/* Four output channels. As a GNU C vector it is a SIMD register wherever the target has one,
 * whatever the auto-vectorizer makes of the loops around it; plain C99 otherwise. */
#if defined(__GNUC__) && !defined(SMELT_PLAIN_C)
typedef float smelt_conv_v4 __attribute__((vector_size(16)));
static smelt_conv_v4 smelt_conv_fma4(smelt_conv_v4 a, float s, smelt_conv_v4 w)
{
    return a + s * w;
}
#else
typedef struct { float f[4]; } smelt_conv_v4;
static smelt_conv_v4 smelt_conv_fma4(smelt_conv_v4 a, float s, smelt_conv_v4 w)
{
    int i;
    for (i = 0; i < 4; ++i) a.f[i] += s * w.f[i];
    return a;
}
#endif

/* gcc -O2 unrolls a tile's short loops (so that its accumulators stay in registers) only when
 * asked; clang does it unasked. */
#if defined(__GNUC__) && !defined(__clang__)
#define SMELT_CONV_UNROLL _Pragma("GCC unroll 8")
#else
#define SMELT_CONV_UNROLL
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

/* The taps [*lo, *hi) of a k-tap window at `start` with step `step` that land in [0, n). */
SMELT_KERNEL void smelt_conv_taps(long start, long k, long step, long n, long *lo, long *hi)
{
    long a = start < 0 ? (step - 1 - start) / step : 0;
    long b = n > start ? (n - start + step - 1) / step : 0;
    *lo = a < k ? a : k;
    *hi = b < *lo ? *lo : (b < k ? b : k);
}

/* y[i] = act(y[i]) for i in [0, n). */
static void smelt_conv_act_f32(float *y, long n, const smelt_act *act)
{
    long i;
    if (act->kind == SMELT_ACT_RELU) {
        for (i = 0; i < n; ++i) y[i] = y[i] > 0.0f ? y[i] : 0.0f;
    } else if (act->kind != SMELT_ACT_NONE) {
        for (i = 0; i < n; ++i) y[i] = smelt_act_f32(y[i], act);
    }
}

/* y[i * ystep] += w * x[i * xstep] for i in [0, n). */
static void smelt_conv_axpy_f32(float *y, long ystep, const float *x, long xstep, float w, long n)
{
    long i = 0;
    if (ystep == 1 && xstep == 1) {
        for (; i + 4 <= n; i += 4) {
            smelt_conv_v4 yv, xv;
            memcpy(&yv, y + i, sizeof yv);
            memcpy(&xv, x + i, sizeof xv);
            yv = smelt_conv_fma4(yv, w, xv);
            memcpy(y + i, &yv, sizeof yv);
        }
    }
    for (; i < n; ++i) y[i * ystep] += w * x[i * xstep];
}

/* TW output columns: out[j][o] = b[o] + sum over the nkd x nkh row taps in range, all kw taps
 * and the input channels of x[ic][kd][kh][j * sw + kw * dw] * w[o][ic][kd][kh][kw]. x + off is
 * the first tap, wb its weights. */
static void smelt_conv_tile_f32(const float *x, long off, const float *wb, const float *b,
                                const smelt_conv_params *p, int nkd, int nkh,
                                float out[SMELT_CONV_TW][SMELT_CONV_MB])
{
    const long hw = (long)p->h * p->w, dhw = hw * p->d, cg = p->c / p->group;
    const long sw = p->sw, tap = cg * SMELT_CONV_MB;
    smelt_conv_v4 a[SMELT_CONV_TW][SMELT_CONV_NV];
    long ic;
    int kd, kh, kw, j, v;
    SMELT_CONV_UNROLL for (j = 0; j < SMELT_CONV_TW; ++j)
        SMELT_CONV_UNROLL for (v = 0; v < SMELT_CONV_NV; ++v) memcpy(&a[j][v], b + 4 * v, sizeof a[j][v]);
    for (kd = 0; kd < nkd; ++kd) {
        for (kh = 0; kh < nkh; ++kh) {
            for (kw = 0; kw < p->kw; ++kw) {
                const float *xr = x + (off + kd * p->dd * hw + (long)kh * p->dh * p->w + kw * p->dw);
                const float *wr = wb + (((long)kd * p->kh + kh) * p->kw + kw) * tap;
                for (ic = 0; ic < cg; ++ic, xr += dhw, wr += SMELT_CONV_MB) {
                    smelt_conv_v4 w4[SMELT_CONV_NV];
                    memcpy(w4, wr, sizeof w4);
                    SMELT_CONV_UNROLL for (j = 0; j < SMELT_CONV_TW; ++j) {
                        const float xv = xr[j * sw];
                        SMELT_CONV_UNROLL for (v = 0; v < SMELT_CONV_NV; ++v)
                            a[j][v] = smelt_conv_fma4(a[j][v], xv, w4[v]);
                    }
                }
            }
        }
    }
    SMELT_CONV_UNROLL for (j = 0; j < SMELT_CONV_TW; ++j)
        SMELT_CONV_UNROLL for (v = 0; v < SMELT_CONV_NV; ++v) memcpy(&out[j][4 * v], &a[j][v], sizeof a[j][v]);
}

/* One edge column with only nkw kw taps in range; x + off is its first tap, wb its weights.
 * Even and odd input channels accumulate apart: twice the independent additions in flight. */
static void smelt_conv_column_f32(const float *x, long off, const float *wb, const float *b,
                                  const smelt_conv_params *p, int nkd, int nkh, int nkw,
                                  float out[SMELT_CONV_MB])
{
    const long hw = (long)p->h * p->w, dhw = hw * p->d, cg = p->c / p->group;
    const long tap = cg * SMELT_CONV_MB;
    smelt_conv_v4 a[SMELT_CONV_NV], a2[SMELT_CONV_NV];
    long ic;
    int kd, kh, kw, v;
    memcpy(a, b, sizeof a);
    memset(a2, 0, sizeof a2);
    for (kd = 0; kd < nkd; ++kd) {
        for (kh = 0; kh < nkh; ++kh) {
            for (kw = 0; kw < nkw; ++kw) {
                const float *xr = x + (off + kd * p->dd * hw + (long)kh * p->dh * p->w + kw * p->dw);
                const float *wr = wb + (((long)kd * p->kh + kh) * p->kw + kw) * tap;
                smelt_conv_v4 w4[2][SMELT_CONV_NV];
                for (ic = 0; ic + 1 < cg; ic += 2, xr += 2 * dhw, wr += 2 * SMELT_CONV_MB) {
                    memcpy(w4, wr, sizeof w4);
                    SMELT_CONV_UNROLL for (v = 0; v < SMELT_CONV_NV; ++v) {
                        a[v] = smelt_conv_fma4(a[v], xr[0], w4[0][v]);
                        a2[v] = smelt_conv_fma4(a2[v], xr[dhw], w4[1][v]);
                    }
                }
                if (ic < cg) {
                    memcpy(w4[0], wr, sizeof w4[0]);
                    SMELT_CONV_UNROLL for (v = 0; v < SMELT_CONV_NV; ++v)
                        a[v] = smelt_conv_fma4(a[v], xr[0], w4[0][v]);
                }
            }
        }
    }
    SMELT_CONV_UNROLL for (v = 0; v < SMELT_CONV_NV; ++v) a[v] = smelt_conv_fma4(a[v], 1.0f, a2[v]);
    memcpy(out, a, sizeof a);
}

/* y = act(conv(x, w) + bias), w packed (see the top of this file), bias may be NULL. */
SMELT_KERNEL void smelt_conv_f32(const float *x, const float *w, const float *bias, float *y,
                                 const smelt_conv_params *p)
{
    const long hw = (long)p->h * p->w, dhw = hw * p->d, ohw = (long)p->oh * p->ow;
    const long odhw = ohw * p->od, ktaps = (long)p->kd * p->kh * p->kw;
    const int cg = p->c / p->group, mg = p->m / p->group;
    const int nblk = (mg + SMELT_CONV_MB - 1) / SMELT_CONV_MB;
    /* Columns [ow_in, ow_out) have all kw taps inside the input; tiles cover [ow_in, ow_tiles). */
    long ow_in, ow_out, ow_tiles;
    int n, g, blk;
    smelt_conv_taps(-(long)p->pw, p->ow, p->sw, p->w - (long)(p->kw - 1) * p->dw, &ow_in, &ow_out);
    ow_tiles = ow_in + (ow_out - ow_in) / SMELT_CONV_TW * SMELT_CONV_TW;
    for (n = 0; n < p->batch; ++n) {
        for (g = 0; g < p->group; ++g) {
            const float *xg = x + ((long)n * p->c + (long)g * cg) * dhw;
            for (blk = 0; blk < nblk; ++blk) {
                const int oc = g * mg + blk * SMELT_CONV_MB;
                const int nb = mg - blk * SMELT_CONV_MB < SMELT_CONV_MB ? mg - blk * SMELT_CONV_MB
                                                                        : SMELT_CONV_MB;
                const float *wb = w + ((long)g * nblk + blk) * ktaps * cg * SMELT_CONV_MB;
                float *yb = y + ((long)n * p->m + oc) * odhw;
                float b[SMELT_CONV_MB];
                int o, od, oh;
                for (o = 0; o < SMELT_CONV_MB; ++o) b[o] = bias && o < nb ? bias[oc + o] : 0.0f;
                for (od = 0; od < p->od; ++od) {
                    const long id = (long)od * p->sd - p->pd;
                    long kd0, kd1;
                    smelt_conv_taps(id, p->kd, p->dd, p->d, &kd0, &kd1);
                    for (oh = 0; oh < p->oh; ++oh) {
                        const long ih = (long)oh * p->sh - p->ph;
                        /* offset in xg of the first row tap in range, and its weights */
                        long kh0, kh1, row, ow;
                        const float *wrow;
                        float *yrow = yb + (long)od * ohw + (long)oh * p->ow;
                        smelt_conv_taps(ih, p->kh, p->dh, p->h, &kh0, &kh1);
                        row = (id + kd0 * p->dd) * hw + (ih + kh0 * p->dh) * p->w;
                        wrow = wb + (kd0 * p->kh + kh0) * p->kw * cg * SMELT_CONV_MB;
                        for (ow = 0; ow < p->ow; ) {
                            float acc[SMELT_CONV_TW][SMELT_CONV_MB];
                            const long iw = ow * p->sw - p->pw;
                            int j, ncols = SMELT_CONV_TW;
                            if (ow >= ow_in && ow < ow_tiles) {
                                smelt_conv_tile_f32(xg, row + iw, wrow, b, p, (int)(kd1 - kd0),
                                                    (int)(kh1 - kh0), acc);
                            } else {
                                long kw0, kw1;
                                smelt_conv_taps(iw, p->kw, p->dw, p->w, &kw0, &kw1);
                                smelt_conv_column_f32(xg, row + iw + kw0 * p->dw,
                                                      wrow + kw0 * cg * SMELT_CONV_MB, b, p,
                                                      (int)(kd1 - kd0), (int)(kh1 - kh0),
                                                      (int)(kw1 - kw0), acc[0]);
                                ncols = 1;
                            }
                            for (o = 0; o < nb; ++o) {
                                for (j = 0; j < ncols; ++j) yrow[o * odhw + ow + j] = acc[j][o];
                                smelt_conv_act_f32(yrow + o * odhw + ow, ncols, &p->act);
                            }
                            ow += ncols;
                        }
                    }
                }
            }
        }
    }
}

/* ONNX weights [m][c/group][kd][kh][kw] -> the packed layout, for weights known at run time. */
SMELT_KERNEL void smelt_conv_pack_f32(const float *w, float *packed, const smelt_conv_params *p)
{
    const long ktaps = (long)p->kd * p->kh * p->kw, cg = p->c / p->group;
    const int mg = p->m / p->group, nblk = (mg + SMELT_CONV_MB - 1) / SMELT_CONV_MB;
    long k, ic;
    int g, blk, o;
    for (g = 0; g < p->group; ++g) {
        for (blk = 0; blk < nblk; ++blk) {
            for (k = 0; k < ktaps; ++k) {
                for (ic = 0; ic < cg; ++ic, packed += SMELT_CONV_MB) {
                    for (o = 0; o < SMELT_CONV_MB; ++o) {
                        const long oc = (long)blk * SMELT_CONV_MB + o;
                        packed[o] = oc < mg ? w[(((long)g * mg + oc) * cg + ic) * ktaps + k] : 0.0f;
                    }
                }
            }
        }
    }
}

/* Depthwise conv (one input channel per group), weights in ONNX layout [m][1][kd][kh][kw]:
 * each kernel tap adds its weight times the input to the output rows and columns where that tap
 * is in range (found once per tap), one contiguous row at a time. */
SMELT_KERNEL void smelt_conv_dw_f32(const float *x, const float *w, const float *bias, float *y,
                                    const smelt_conv_params *p)
{
    const long hw = (long)p->h * p->w, dhw = hw * p->d, ohw = (long)p->oh * p->ow;
    const long odhw = ohw * p->od, ktaps = (long)p->kd * p->kh * p->kw, sw = p->sw;
    const int mg = p->m / p->group;
    int n, oc;
    for (n = 0; n < p->batch; ++n) {
        for (oc = 0; oc < p->m; ++oc) {
            const float *xc = x + ((long)n * p->c + oc / mg) * dhw;
            const float *wc = w + oc * ktaps;
            float *yc = y + ((long)n * p->m + oc) * odhw;
            long i, kd, kh, kw, od, oh, od0, od1, oh0, oh1, ow0, ow1;
            for (i = 0; i < odhw; ++i) yc[i] = bias ? bias[oc] : 0.0f;
            for (kd = 0; kd < p->kd; ++kd) {
                const long td = kd * p->dd - p->pd;   /* input index of output 0 at this tap */
                smelt_conv_taps(td, p->od, p->sd, p->d, &od0, &od1);
                for (kh = 0; kh < p->kh; ++kh) {
                    const long th = kh * p->dh - p->ph;
                    smelt_conv_taps(th, p->oh, p->sh, p->h, &oh0, &oh1);
                    for (kw = 0; kw < p->kw; ++kw) {
                        const long tw = kw * p->dw - p->pw;
                        const float wv = wc[(kd * p->kh + kh) * p->kw + kw];
                        smelt_conv_taps(tw, p->ow, sw, p->w, &ow0, &ow1);
                        if (ow1 == ow0) continue;
                        for (od = od0; od < od1; ++od)
                            for (oh = oh0; oh < oh1; ++oh)
                                smelt_conv_axpy_f32(yc + od * ohw + oh * p->ow + ow0, 1,
                                                    xc + (od * p->sd + td) * hw + (oh * p->sh + th) * p->w
                                                       + ow0 * sw + tw, sw, wv, ow1 - ow0);
                    }
                }
            }
            smelt_conv_act_f32(yc, odhw, &p->act);
        }
    }
}

/* Transposed conv: x [n][c][d][h][w] -> y [n][m][od][oh][ow], w in ONNX layout
 * [c][m/group][kd][kh][kw]. Each input row is scattered, one tap at a time, over the output row
 * of that tap; the input columns whose target is in range are found per tap, not per column.
 * Here p->pd, ph, pw are the pads cropped from the full output. */
SMELT_KERNEL void smelt_conv_transpose_f32(const float *x, const float *w, const float *bias,
                                           float *y, const smelt_conv_params *p)
{
    const long hw = (long)p->h * p->w, dhw = hw * p->d, ohw = (long)p->oh * p->ow;
    const long odhw = ohw * p->od, ktaps = (long)p->kd * p->kh * p->kw, sw = p->sw;
    const int cg = p->c / p->group, mg = p->m / p->group;
    int n, oc, ic;
    for (n = 0; n < p->batch; ++n) {
        for (oc = 0; oc < p->m; ++oc) {
            const int g = oc / mg;
            float *yc = y + ((long)n * p->m + oc) * odhw;
            const float b = bias ? bias[oc] : 0.0f;
            long i;
            for (i = 0; i < odhw; ++i) yc[i] = b;
            for (ic = g * cg; ic < (g + 1) * cg; ++ic) {
                const float *xc = x + ((long)n * p->c + ic) * dhw;
                const float *wc = w + ((long)ic * mg + oc - (long)g * mg) * ktaps;
                long kd, kh, kw;
                for (kd = 0; kd < p->kd; ++kd) {
                    const long td = kd * p->dd - p->pd;
                    long id, id0, id1;
                    smelt_conv_taps(td, p->d, p->sd, p->od, &id0, &id1);
                    for (kh = 0; kh < p->kh; ++kh) {
                        const long th = kh * p->dh - p->ph;
                        long ih, ih0, ih1;
                        smelt_conv_taps(th, p->h, p->sh, p->oh, &ih0, &ih1);
                        for (kw = 0; kw < p->kw; ++kw) {
                            const long tw = kw * p->dw - p->pw;
                            const float wv = wc[(kd * p->kh + kh) * p->kw + kw];
                            long iw0, iw1;
                            smelt_conv_taps(tw, p->w, sw, p->ow, &iw0, &iw1);
                            if (iw1 == iw0) continue;
                            for (id = id0; id < id1; ++id)
                                for (ih = ih0; ih < ih1; ++ih)
                                    smelt_conv_axpy_f32(yc + (id * p->sd + td) * ohw + (ih * p->sh + th) * p->ow
                                                           + iw0 * sw + tw, sw,
                                                        xc + id * hw + ih * p->w + iw0, 1, wv, iw1 - iw0);
                        }
                    }
                }
            }
            smelt_conv_act_f32(yc, odhw, &p->act);
        }
    }
}

#endif
