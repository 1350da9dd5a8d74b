/* Convolution and transposed convolution, float32, ONNX layout (N, C, spatial...). One, two or
 * three spatial dims are all seen as D x H x W (missing leading dims are 1).
 *
 * smelt_conv_f32 reads its weights packed in blocks of SMELT_CONV_MB output channels,
 * [group][block][kd][kh][kw][c/group][MB] (zero-padded past the group's last channel). A tile of
 * TW outputs times MB channels then loads MB contiguous weights per tap and input channel and
 * broadcasts one input value per output: MB * TW multiply-adds per MB + TW loads, at any
 * stride. Tiles need every tap of their outputs in range, so nothing is bounds-checked inside
 * them: rows of outputs are tiled along the width, the outputs near the left and right edges
 * down the columns (over rows whose taps are all in range), and the rest go one at a time. */

#ifdef SMELT_FLOAT

#define SMELT_CONV_MB 8   /* output channels per weight block: ops/conv.py packs with it */
#define SMELT_CONV_TW 4   /* outputs per tile */

/* Four floats. As a GNU C vector it is a SIMD register wherever the target has one, whatever
 * the auto-vectorizer makes of the loops around it; plain C99 otherwise (SMELT_PLAIN_C forces
 * it). A tile holds a weight block in SMELT_CONV_NV block vectors of SMELT_CONV_VW floats: one
 * AVX register, or two four-float ones. */
#if defined(__GNUC__) && !defined(SMELT_PLAIN_C)
typedef float smelt_conv_v4 __attribute__((vector_size(16)));
typedef int32_t smelt_conv_i4 __attribute__((vector_size(16)));
static smelt_conv_v4 smelt_conv_fma4(smelt_conv_v4 a, float s, smelt_conv_v4 w)
{
    return a + s * w;
}
static smelt_conv_v4 smelt_conv_relu4(smelt_conv_v4 a)
{
    const smelt_conv_v4 zero = {0.0f, 0.0f, 0.0f, 0.0f};
    return (smelt_conv_v4)((smelt_conv_i4)a & (a > zero));   /* no branch per value */
}
#if defined(__AVX__)
#define SMELT_CONV_VW 8
typedef float smelt_conv_vb __attribute__((vector_size(32)));
typedef int32_t smelt_conv_ib __attribute__((vector_size(32)));
static smelt_conv_vb smelt_conv_fmab(smelt_conv_vb a, float s, smelt_conv_vb w)
{
    return a + s * w;
}
static smelt_conv_vb smelt_conv_relub(smelt_conv_vb a)
{
    const smelt_conv_vb zero = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
    return (smelt_conv_vb)((smelt_conv_ib)a & (a > zero));
}
#endif
#else
typedef struct { float f[4]; } smelt_conv_v4;
static smelt_conv_v4 smelt_conv_fma4(smelt_conv_v4 a, float s, smelt_conv_v4 w)
{
    int i;
    for (i = 0; i < 4; ++i) a.f[i] += s * w.f[i];
    return a;
}
static smelt_conv_v4 smelt_conv_relu4(smelt_conv_v4 a)
{
    int i;
    for (i = 0; i < 4; ++i) a.f[i] = a.f[i] > 0.0f ? a.f[i] : 0.0f;
    return a;
}
#endif
#ifndef SMELT_CONV_VW
#define SMELT_CONV_VW 4
typedef smelt_conv_v4 smelt_conv_vb;
#define smelt_conv_fmab smelt_conv_fma4
#define smelt_conv_relub smelt_conv_relu4
#endif
#define SMELT_CONV_NV (SMELT_CONV_MB / SMELT_CONV_VW)   /* block vectors per weight block */

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

/* ---- convolution ---------------------------------------------------------------------- */

/* A tile: out[j][o] = b[o] + the sum over nkd x nkh x nkw taps and the input channels of
 * x[off + j * step + tap offset + ic * d*h*w] * w[o][ic][tap]. x + off is the first output's
 * first tap in range, wb its weights; every tap of every output is in range. A ReLU (relu != 0)
 * is applied here, in registers. */
static void smelt_conv_tile_f32(const float *x, long off, long step, const float *wb,
                                const float *b, const smelt_conv_params *p, int nkd, int nkh,
                                int nkw, int relu, float out[SMELT_CONV_TW][SMELT_CONV_MB])
{
    const long hw = (long)p->h * p->w, dhw = hw * p->d, cg = p->c / p->group;
    const long tap = cg * SMELT_CONV_MB;
    smelt_conv_vb a[SMELT_CONV_TW][SMELT_CONV_NV];
    long ic;
    int kd, kh, kw, j, v;
    SMELT_CONV_UNROLL for (j = 0; j < SMELT_CONV_TW; ++j)
        SMELT_CONV_UNROLL for (v = 0; v < SMELT_CONV_NV; ++v)
            memcpy(&a[j][v], b + SMELT_CONV_VW * v, sizeof a[j][v]);
    for (kd = 0; kd < nkd; ++kd) {
        for (kh = 0; kh < nkh; ++kh) {
            for (kw = 0; kw < nkw; ++kw) {
                const float *xr = x + (off + kd * p->dd * hw + (long)kh * p->dh * p->w + kw * p->dw);
                const float *wr = wb + (((long)kd * p->kh + kh) * p->kw + kw) * tap;
                for (ic = 0; ic < cg; ++ic, xr += dhw, wr += SMELT_CONV_MB) {
                    smelt_conv_vb w4[SMELT_CONV_NV];
                    SMELT_CONV_UNROLL for (v = 0; v < SMELT_CONV_NV; ++v)
                        memcpy(&w4[v], wr + SMELT_CONV_VW * v, sizeof w4[v]);
                    SMELT_CONV_UNROLL for (j = 0; j < SMELT_CONV_TW; ++j) {
                        const float xv = xr[j * step];
                        SMELT_CONV_UNROLL for (v = 0; v < SMELT_CONV_NV; ++v)
                            a[j][v] = smelt_conv_fmab(a[j][v], xv, w4[v]);
                    }
                }
            }
        }
    }
    SMELT_CONV_UNROLL for (j = 0; j < SMELT_CONV_TW; ++j) {
        SMELT_CONV_UNROLL for (v = 0; v < SMELT_CONV_NV; ++v) {
            if (relu) a[j][v] = smelt_conv_relub(a[j][v]);
            memcpy(&out[j][SMELT_CONV_VW * v], &a[j][v], sizeof a[j][v]);
        }
    }
}

/* One output, like a tile's first. Even and odd input channels add up apart: twice the
 * independent additions in flight. */
static void smelt_conv_point_f32(const float *x, long off, const float *wb, const float *b,
                                 const smelt_conv_params *p, int nkd, int nkh, int nkw, int relu,
                                 float out[SMELT_CONV_MB])
{
    const long hw = (long)p->h * p->w, dhw = hw * p->d, cg = p->c / p->group;
    const long tap = cg * SMELT_CONV_MB;
    smelt_conv_vb a[SMELT_CONV_NV], a2[SMELT_CONV_NV], w4[2][SMELT_CONV_NV];
    long ic;
    int kd, kh, kw, v;
    memcpy(a, b, sizeof a);
    memset(a2, 0, sizeof a2);
    for (kd = 0; kd < nkd; ++kd) {
        for (kh = 0; kh < nkh; ++kh) {
            for (kw = 0; kw < nkw; ++kw) {
                const float *xr = x + (off + kd * p->dd * hw + (long)kh * p->dh * p->w + kw * p->dw);
                const float *wr = wb + (((long)kd * p->kh + kh) * p->kw + kw) * tap;
                for (ic = 0; ic + 1 < cg; ic += 2, xr += 2 * dhw, wr += 2 * SMELT_CONV_MB) {
                    SMELT_CONV_UNROLL for (v = 0; v < SMELT_CONV_NV; ++v) {
                        memcpy(&w4[0][v], wr + SMELT_CONV_VW * v, sizeof w4[0][v]);
                        memcpy(&w4[1][v], wr + SMELT_CONV_MB + SMELT_CONV_VW * v, sizeof w4[1][v]);
                        a[v] = smelt_conv_fmab(a[v], xr[0], w4[0][v]);
                        a2[v] = smelt_conv_fmab(a2[v], xr[dhw], w4[1][v]);
                    }
                }
                if (ic < cg) {
                    SMELT_CONV_UNROLL for (v = 0; v < SMELT_CONV_NV; ++v) {
                        memcpy(&w4[0][v], wr + SMELT_CONV_VW * v, sizeof w4[0][v]);
                        a[v] = smelt_conv_fmab(a[v], xr[0], w4[0][v]);
                    }
                }
            }
        }
    }
    SMELT_CONV_UNROLL for (v = 0; v < SMELT_CONV_NV; ++v) {
        a[v] = smelt_conv_fmab(a[v], 1.0f, a2[v]);
        if (relu) a[v] = smelt_conv_relub(a[v]);
    }
    memcpy(out, a, sizeof a);
}

/* y[o * ostride + j * step] = act(acc[j][o]) for n outputs and nb channels (the tiles applied
 * a ReLU already). */
static void smelt_conv_store_f32(float *y, long ostride, long step, float acc[][SMELT_CONV_MB],
                                 int n, int nb, const smelt_act *act)
{
    const int other = act->kind != SMELT_ACT_NONE && act->kind != SMELT_ACT_RELU;
    int j, o;
    for (o = 0; o < nb; ++o, y += ostride)
        for (j = 0; j < n; ++j) y[j * step] = other ? smelt_act_f32(acc[j][o], act) : acc[j][o];
}

/* One block of output channels of one group and batch item, and where its row tiles go. */
typedef struct {
    const float *x;         /* the group's input channels */
    const float *w;         /* the block's packed weights */
    float b[SMELT_CONV_MB]; /* the block's biases, 0 past nb */
    float *y;               /* the block's first output channel */
    int nb;                 /* real channels in the block */
    long ow_in, ow_tiles;   /* row tiles cover columns [ow_in, ow_tiles) */
} smelt_conv_block;

/* The i-th column that row tiles leave out: [0, ow_in), then [ow_tiles, ow). */
static long smelt_conv_edge(const smelt_conv_block *k, long i)
{
    return i < k->ow_in ? i : k->ow_tiles + i - k->ow_in;
}

/* Output row (od, oh): row tiles, then (if `edges`) the left-out columns one at a time. */
static void smelt_conv_row_f32(const smelt_conv_block *k, const smelt_conv_params *p, long od,
                               long oh, int edges)
{
    const long hw = (long)p->h * p->w, odhw = (long)p->od * p->oh * p->ow;
    const long tap = (long)(p->c / p->group) * SMELT_CONV_MB;
    const long id = od * p->sd - p->pd, ih = oh * p->sh - p->ph;
    const int relu = p->act.kind == SMELT_ACT_RELU;
    float *y = k->y + (od * p->oh + oh) * p->ow;
    float acc[SMELT_CONV_TW][SMELT_CONV_MB];
    long kd0, kd1, kh0, kh1, kw0, kw1, row, ow, i;
    const float *w;
    smelt_taps(id, p->kd, p->dd, p->d, &kd0, &kd1);
    smelt_taps(ih, p->kh, p->dh, p->h, &kh0, &kh1);
    row = (id + kd0 * p->dd) * hw + (ih + kh0 * p->dh) * p->w;   /* first row tap in range */
    w = k->w + (kd0 * p->kh + kh0) * p->kw * tap;
    for (ow = k->ow_in; ow < k->ow_tiles; ow += SMELT_CONV_TW) {
        smelt_conv_tile_f32(k->x, row + ow * p->sw - p->pw, p->sw, w, k->b, p, (int)(kd1 - kd0),
                            (int)(kh1 - kh0), p->kw, relu, acc);
        smelt_conv_store_f32(y + ow, odhw, 1, acc, SMELT_CONV_TW, k->nb, &p->act);
    }
    for (i = 0; edges && i < k->ow_in + p->ow - k->ow_tiles; ++i) {
        const long iw = (ow = smelt_conv_edge(k, i)) * p->sw - p->pw;
        smelt_taps(iw, p->kw, p->dw, p->w, &kw0, &kw1);
        smelt_conv_point_f32(k->x, row + iw + kw0 * p->dw, w + kw0 * tap, k->b, p,
                             (int)(kd1 - kd0), (int)(kh1 - kh0), (int)(kw1 - kw0), relu, acc[0]);
        smelt_conv_store_f32(y + ow, odhw, 1, acc, 1, k->nb, &p->act);
    }
}

/* Rows oh .. oh + TW - 1, all of whose kh taps are in range: row tiles, then tiles down each
 * left-out column. */
static void smelt_conv_rows_f32(const smelt_conv_block *k, const smelt_conv_params *p, long od,
                                long oh)
{
    const long odhw = (long)p->od * p->oh * p->ow, tap = (long)(p->c / p->group) * SMELT_CONV_MB;
    const long id = od * p->sd - p->pd;
    long kd0, kd1, kw0, kw1, ow, i;
    for (i = 0; i < SMELT_CONV_TW; ++i) smelt_conv_row_f32(k, p, od, oh + i, 0);
    smelt_taps(id, p->kd, p->dd, p->d, &kd0, &kd1);
    for (i = 0; i < k->ow_in + p->ow - k->ow_tiles; ++i) {
        const long iw = (ow = smelt_conv_edge(k, i)) * p->sw - p->pw;
        const long off = (id + kd0 * p->dd) * p->h * p->w + (oh * p->sh - p->ph) * p->w;
        float acc[SMELT_CONV_TW][SMELT_CONV_MB];
        smelt_taps(iw, p->kw, p->dw, p->w, &kw0, &kw1);
        smelt_conv_tile_f32(k->x, off + iw + kw0 * p->dw, (long)p->sh * p->w,
                            k->w + (kd0 * p->kh * p->kw + kw0) * tap, k->b, p, (int)(kd1 - kd0),
                            p->kh, (int)(kw1 - kw0), p->act.kind == SMELT_ACT_RELU, acc);
        smelt_conv_store_f32(k->y + (od * p->oh + oh) * p->ow + ow, odhw, p->ow, acc,
                             SMELT_CONV_TW, k->nb, &p->act);
    }
}

/* y = act(conv(x, w) + bias); w packed (see the top of this file); bias may be NULL. */
SMELT_KERNEL void smelt_conv_f32(const float *x, const float *w, const float *bias, float *y,
                                 const smelt_conv_params *p)
{
    const long dhw = (long)p->d * p->h * p->w, odhw = (long)p->od * p->oh * p->ow;
    const long cg = p->c / p->group, blk_size = (long)p->kd * p->kh * p->kw * cg * SMELT_CONV_MB;
    const int mg = p->m / p->group, nblk = (mg + SMELT_CONV_MB - 1) / SMELT_CONV_MB;
    long ow_in, ow_out, oh_in, oh_out, od, oh;
    int n, g, blk, o;
    /* outputs in columns [ow_in, ow_out) (rows [oh_in, oh_out)) have all kw (kh) taps in range */
    smelt_taps(-(long)p->pw, p->ow, p->sw, p->w - (long)(p->kw - 1) * p->dw, &ow_in, &ow_out);
    smelt_taps(-(long)p->ph, p->oh, p->sh, p->h - (long)(p->kh - 1) * p->dh, &oh_in, &oh_out);
    for (n = 0; n < p->batch; ++n) {
        for (g = 0; g < p->group; ++g) {
            for (blk = 0; blk < nblk; ++blk) {
                const int oc = g * mg + blk * SMELT_CONV_MB;
                smelt_conv_block k = {0};
                k.x = x + ((long)n * p->c + g * cg) * dhw;
                k.w = w + ((long)g * nblk + blk) * blk_size;
                k.y = y + ((long)n * p->m + oc) * odhw;
                k.nb = mg - blk * SMELT_CONV_MB < SMELT_CONV_MB ? mg - blk * SMELT_CONV_MB
                                                                : SMELT_CONV_MB;
                k.ow_in = ow_in;
                k.ow_tiles = ow_in + (ow_out - ow_in) / SMELT_CONV_TW * SMELT_CONV_TW;
                for (o = 0; o < k.nb && bias; ++o) k.b[o] = bias[oc + o];
                for (od = 0; od < p->od; ++od) {
                    for (oh = 0; oh < p->oh; ) {
                        if (oh >= oh_in && oh + SMELT_CONV_TW <= oh_out) {
                            smelt_conv_rows_f32(&k, p, od, oh);
                            oh += SMELT_CONV_TW;
                        } else {
                            smelt_conv_row_f32(&k, p, od, oh++, 1);
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

/* ---- depthwise convolution ------------------------------------------------------------ */

/* q[0], q[step], q[2 * step], q[3 * step] (step 0: q[0] in every lane). */
static smelt_conv_v4 smelt_conv_load4(const float *q, long step)
{
    smelt_conv_v4 v;
    if (step == 1) {
        memcpy(&v, q, sizeof v);
    } else {
        const float t[4] = {q[0], q[step], q[2 * step], q[3 * step]};
        memcpy(&v, t, sizeof v);
    }
    return v;
}

/* y[0 .. n) = act(the first n values of a), n <= 4. */
static void smelt_conv_put4(float *y, smelt_conv_v4 a, long n, const smelt_act *act)
{
    const int relu = act->kind == SMELT_ACT_RELU;
    float v[4];
    long i;
    if (relu) a = smelt_conv_relu4(a);
    memcpy(v, &a, sizeof v);
    for (i = 0; i < n; ++i) y[i] = relu ? v[i] : smelt_act_f32(v[i], act);
}

/* Depthwise conv (one input channel per group, fewer than MB outputs per group), weights in
 * ONNX layout [m][1][kd][kh][kw]. Each input channel is first copied into `pad` (scratch) with
 * its zero padding written out, rows long enough for whole tiles and an even number of output
 * rows: then every output is a sum over all the taps with no bounds, and a tile is four
 * consecutive outputs (one vector) in each of two rows. */
SMELT_KERNEL void smelt_conv_dw_f32(const float *x, const float *w, const float *bias, float *y,
                                    float *pad, const smelt_conv_params *p)
{
    const long hw = (long)p->h * p->w, dhw = hw * p->d, ohw = (long)p->oh * p->ow;
    const long odhw = ohw * p->od, sw = p->sw;
    const long ow4 = (p->ow + 3) / 4 * 4, oh2 = (p->oh + 1) / 2 * 2;
    /* the padded extent the outputs read: planes, rows, row length */
    const long depth = (long)(p->od - 1) * p->sd + (long)(p->kd - 1) * p->dd + 1;
    const long rows = (oh2 - 1) * p->sh + (long)(p->kh - 1) * p->dh + 1;
    const long len = (ow4 - 1) * sw + (long)(p->kw - 1) * p->dw + 1;
    const long ktaps = (long)p->kd * p->kh * p->kw, mg = p->m / p->group, down = p->sh * len;
    /* the columns of a padded row that hold input: [c0, c1) */
    const long c0 = p->pw < len ? p->pw : len, c1 = p->pw + p->w < len ? p->pw + p->w : len;
    long n, ic, oc, id, ih, id0, id1, ih0, ih1;
    /* the padding is the same for every channel: zero it once, then copy in each channel's rows */
    memset(pad, 0, depth * rows * len * sizeof *pad);
    smelt_taps(p->pd, p->d, 1, depth, &id0, &id1);   /* input rows inside the extent */
    smelt_taps(p->ph, p->h, 1, rows, &ih0, &ih1);
    for (n = 0; n < p->batch; ++n) {
        for (ic = 0; ic < p->c; ++ic) {
            const float *xc = x + (n * p->c + ic) * dhw;
            for (id = id0; id < id1 && c1 > c0; ++id)
                for (ih = ih0; ih < ih1; ++ih)
                    memcpy(pad + ((id + p->pd) * rows + ih + p->ph) * len + c0,
                           xc + id * hw + ih * p->w + (c0 - p->pw), (c1 - c0) * sizeof *pad);
            for (oc = ic * mg; oc < (ic + 1) * mg; ++oc) {
                const float b = bias ? bias[oc] : 0.0f;
                const smelt_conv_v4 b4 = smelt_conv_load4(&b, 0);
                float *yc = y + (n * p->m + oc) * odhw;
                long od, oh, ow, kd, kh, kw;
                for (od = 0; od < p->od; ++od) {
                    for (oh = 0; oh < p->oh; oh += 2) {
                        const float *base = pad + (od * p->sd * rows + oh * p->sh) * len;
                        for (ow = 0; ow < p->ow; ow += 4) {
                            const float *wt = w + oc * ktaps;
                            const long n4 = p->ow - ow < 4 ? p->ow - ow : 4;
                            float *yr = yc + od * ohw + oh * p->ow + ow;
                            smelt_conv_v4 a0 = b4, a1 = b4;
                            for (kd = 0; kd < p->kd; ++kd) {
                                for (kh = 0; kh < p->kh; ++kh) {
                                    const float *q = base + (kd * p->dd * rows + kh * p->dh) * len
                                                     + ow * sw;
                                    for (kw = 0; kw < p->kw; ++kw, ++wt, q += p->dw) {
                                        a0 = smelt_conv_fma4(a0, *wt, smelt_conv_load4(q, sw));
                                        a1 = smelt_conv_fma4(a1, *wt, smelt_conv_load4(q + down, sw));
                                    }
                                }
                            }
                            smelt_conv_put4(yr, a0, n4, &p->act);
                            if (oh + 1 < p->oh) smelt_conv_put4(yr + p->ow, a1, n4, &p->act);
                        }
                    }
                }
            }
        }
    }
}

/* ---- transposed convolution ----------------------------------------------------------- */

/* y[i] = act(y[i]) for i in [0, n). */
static void smelt_conv_act_f32(float *y, long n, const smelt_act *act)
{
    const long n4 = n / 4 * 4;   /* the tail loop starts from n4 (not from where the first loop
                                    stopped): gcc then sees its bounds and warns of nothing */
    long i;
    if (act->kind == SMELT_ACT_RELU) {
        for (i = 0; i < n4; i += 4) {
            smelt_conv_v4 v;
            memcpy(&v, y + i, sizeof v);
            v = smelt_conv_relu4(v);
            memcpy(y + i, &v, sizeof v);
        }
        for (i = n4; i < n; ++i) y[i] = y[i] > 0.0f ? y[i] : 0.0f;
    } else if (act->kind != SMELT_ACT_NONE) {
        for (i = 0; i < n; ++i) y[i] = smelt_act_f32(y[i], act);
    }
}

/* y[i * step] += w * x[i] for i in [0, n), four at a time when y is contiguous. */
static void smelt_conv_axpy_f32(float *y, long step, const float *x, float w, long n)
{
    const long n4 = step == 1 ? n / 4 * 4 : 0;   /* see smelt_conv_act_f32 */
    long i;
    for (i = 0; i < n4; i += 4) {
        smelt_conv_v4 yv, xv;
        memcpy(&yv, y + i, sizeof yv);
        memcpy(&xv, x + i, sizeof xv);
        yv = smelt_conv_fma4(yv, w, xv);
        memcpy(y + i, &yv, sizeof yv);
    }
    for (i = n4; i < n; ++i) y[i * step] += w * x[i];
}

/* Transposed conv: x [n][c][d][h][w] -> y [n][m][od][oh][ow], w in ONNX layout
 * [c][m/group][kd][kh][kw]; p->pd, ph, pw are the pads cropped from the full output. Each input
 * row is scattered, one tap at a time, over the output row of that tap; the input columns whose
 * target is in range are found once per tap, not tested per column. */
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
                long kd, kh, kw, id, ih, id0, id1, ih0, ih1, iw0, iw1;
                for (kd = 0; kd < p->kd; ++kd) {
                    const long td = kd * p->dd - p->pd;   /* output index of input 0 at this tap */
                    smelt_taps(td, p->d, p->sd, p->od, &id0, &id1);
                    for (kh = 0; kh < p->kh; ++kh) {
                        const long th = kh * p->dh - p->ph;
                        smelt_taps(th, p->h, p->sh, p->oh, &ih0, &ih1);
                        for (kw = 0; kw < p->kw; ++kw) {
                            const long tw = kw * p->dw - p->pw;
                            const float wv = wc[(kd * p->kh + kh) * p->kw + kw];
                            smelt_taps(tw, p->w, sw, p->ow, &iw0, &iw1);
                            if (iw1 == iw0) continue;
                            for (id = id0; id < id1; ++id)
                                for (ih = ih0; ih < ih1; ++ih)
                                    smelt_conv_axpy_f32(yc + (id * p->sd + td) * ohw
                                                           + (ih * p->sh + th) * p->ow + iw0 * sw + tw,
                                                        sw, xc + id * hw + ih * p->w + iw0, wv,
                                                        iw1 - iw0);
                        }
                    }
                }
            }
            smelt_conv_act_f32(yc, odhw, &p->act);
        }
    }
}

#endif
