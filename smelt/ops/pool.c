/* Max and average pooling, float32, ONNX layout (N, C, spatial...). One, two or three spatial
 * dims are all seen as D x H x W (missing leading dims are 1). The valid row taps are found once
 * per output row; columns whose window lies inside the input need no bounds at all. */

#ifdef SMELT_FLOAT

typedef struct {
    long planes;            /* batch * channels */
    int d, h, w;            /* input spatial size */
    int od, oh, ow;         /* output spatial size */
    int kd, kh, kw;         /* window */
    int sd, sh, sw;         /* strides */
    int dd, dh, dw;         /* dilations */
    int pd, ph, pw;         /* leading pads */
    int pd1, ph1, pw1;      /* trailing pads: the extent count_include_pad counts */
    int max;                /* 1: MaxPool, 0: AveragePool */
    int count_include_pad;
    int column_major;       /* MaxPool indices in column-major order (storage_order 1) */
} smelt_pool_params;

/* Taps of a window inside the padded extent [-pad, n + pad_end), for count_include_pad. */
static long smelt_pool_padded(long start, long k, long step, long n, long pad, long pad_end)
{
    long lo, hi;
    smelt_taps(start + pad, k, step, n + pad + pad_end, &lo, &hi);
    return hi - lo;
}

/* y (and, for MaxPool, the flat input index of each maximum when indices is not NULL). */
SMELT_KERNEL void smelt_pool_f32(const float *x, float *y, int64_t *indices, const smelt_pool_params *p)
{
    const long hw = (long)p->h * p->w, dhw = hw * p->d;
    long plane, od, oh, ow, ow_in, ow_out;
    /* columns [ow_in, ow_out) have every kw tap inside the input */
    smelt_taps(-(long)p->pw, p->ow, p->sw, p->w - (long)(p->kw - 1) * p->dw, &ow_in, &ow_out);
    for (plane = 0; plane < p->planes; ++plane) {
        const float *xp = x + plane * dhw;
        for (od = 0; od < p->od; ++od) {
            const long id = od * p->sd - p->pd;
            long kd0, kd1, cd;
            smelt_taps(id, p->kd, p->dd, p->d, &kd0, &kd1);
            cd = p->count_include_pad ? smelt_pool_padded(id, p->kd, p->dd, p->d, p->pd, p->pd1) : kd1 - kd0;
            for (oh = 0; oh < p->oh; ++oh) {
                const long ih = oh * p->sh - p->ph;
                long kh0, kh1, ch;
                smelt_taps(ih, p->kh, p->dh, p->h, &kh0, &kh1);
                ch = p->count_include_pad ? smelt_pool_padded(ih, p->kh, p->dh, p->h, p->ph, p->ph1) : kh1 - kh0;
                for (ow = 0; ow < p->ow; ++ow, ++y) {
                    const long iw = ow * p->sw - p->pw;
                    long kw0 = 0, kw1 = p->kw, cw = p->kw, kd, kh, kw;
                    if (ow < ow_in || ow >= ow_out) {
                        smelt_taps(iw, p->kw, p->dw, p->w, &kw0, &kw1);
                        cw = p->count_include_pad ? smelt_pool_padded(iw, p->kw, p->dw, p->w, p->pw, p->pw1)
                                                  : kw1 - kw0;
                    }
                    if (p->max) {
                        float m = -3.40282347e38f;   /* the lowest float: an all-padding window */
                        long best = 0;
                        for (kd = kd0; kd < kd1; ++kd) {
                            for (kh = kh0; kh < kh1; ++kh) {
                                const long row = (id + kd * p->dd) * hw + (ih + kh * p->dh) * p->w + iw;
                                if (indices) {
                                    for (kw = kw0; kw < kw1; ++kw) {
                                        if (xp[row + kw * p->dw] > m) {
                                            m = xp[row + kw * p->dw];
                                            best = row + kw * p->dw;
                                        }
                                    }
                                } else {
                                    for (kw = kw0; kw < kw1; ++kw) {
                                        const float v = xp[row + kw * p->dw];
                                        m = v > m ? v : m;
                                    }
                                }
                            }
                        }
                        *y = m;
                        if (indices) {
                            /* best is row-major within the plane; reorder it when asked */
                            const long bd = best / hw, bh = best % hw / p->w, bw = best % p->w;
                            *indices++ = plane * dhw + (p->column_major ? (bw * p->h + bh) * p->d + bd : best);
                        }
                    } else {
                        float s = 0.0f;
                        for (kd = kd0; kd < kd1; ++kd) {
                            for (kh = kh0; kh < kh1; ++kh) {
                                const long row = (id + kd * p->dd) * hw + (ih + kh * p->dh) * p->w + iw;
                                for (kw = kw0; kw < kw1; ++kw) s += xp[row + kw * p->dw];
                            }
                        }
                        *y = s / (float)(cd * ch * cw);
                    }
                }
            }
        }
    }
}

/* GlobalMaxPool / GlobalAveragePool: one value per plane of `size` elements. */
SMELT_KERNEL void smelt_global_pool_f32(const float *x, float *y, long planes, long size, int max)
{
    long c, i;
    for (c = 0; c < planes; ++c, x += size) {
        float r = x[0];
        if (max) {
            for (i = 1; i < size; ++i) r = x[i] > r ? x[i] : r;
        } else {
            for (i = 1; i < size; ++i) r += x[i];
            r /= (float)size;
        }
        y[c] = r;
    }
}

#endif
