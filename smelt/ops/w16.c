/* Float convolution and fully connected layers whose weights are stored as IEEE half (uint16 bit
 * patterns): half the flash of float32. Each output channel's weights are converted to float32
 * into scratch (bit manipulation: no _Float16, no libm), then the layer computes in float32. */

/* IEEE half -> float32, exact for every half (zero, subnormal, normal, inf, NaN). */
SMELT_KERNEL float smelt_half_to_float(uint16_t h)
{
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu, bits;
    float f;
    if (e == 0x1f) {
        bits = sign | 0x7f800000u | (m << 13);
    } else if (e) {
        bits = sign | ((e + 112u) << 23) | (m << 13);
    } else if (!m) {
        bits = sign;
    } else {   /* subnormal: m * 2^-24, normalized */
        e = 113;
        while (!(m & 0x400u)) {
            m <<= 1;
            --e;
        }
        bits = sign | (e << 23) | ((m & 0x3ffu) << 13);
    }
    memcpy(&f, &bits, sizeof f);
    return f;
}

SMELT_KERNEL void smelt_half_to_float_n(const uint16_t *h, float *f, long n)
{
    long i;
    for (i = 0; i < n; ++i) f[i] = smelt_half_to_float(h[i]);
}

#ifdef SMELT_FLOAT
typedef struct {
    int batches, in_c, in_h, in_w, out_c, out_h, out_w, k_h, k_w, group;
    int stride_h, stride_w, dil_h, dil_w, pad_top, pad_left;
    smelt_act act;
} smelt_w16_conv_params;

typedef struct {
    int batches, in_depth, out_depth;
    float alpha, beta;
    smelt_act act;
} smelt_w16_fc_params;

/* NCHW; wf: one output channel's weights [in_c / group][k_h][k_w] as float (scratch). */
SMELT_KERNEL void smelt_w16_conv_f32(const float *x, const uint16_t *w, const float *bias, float *y, float *wf,
                                     const smelt_w16_conv_params *p)
{
    const int gc = p->in_c / p->group, per_group = p->out_c / p->group, KH = p->k_h, KW = p->k_w;
    const long taps = (long)gc * KH * KW;
    int b, oc, oy, ox, ic, ky, kx;
    for (oc = 0; oc < p->out_c; ++oc) {
        const int c0 = oc / per_group * gc;
        smelt_half_to_float_n(w + oc * taps, wf, taps);
        for (b = 0; b < p->batches; ++b) {
            for (oy = 0; oy < p->out_h; ++oy) {
                const int iy0 = oy * p->stride_h - p->pad_top;
                for (ox = 0; ox < p->out_w; ++ox) {
                    const int ix0 = ox * p->stride_w - p->pad_left;
                    float acc = bias ? bias[oc] : 0.0f;
                    for (ic = 0; ic < gc; ++ic) {
                        const float *xc = x + ((long)b * p->in_c + c0 + ic) * p->in_h * p->in_w;
                        const float *wc = wf + (long)ic * KH * KW;
                        for (ky = 0; ky < KH; ++ky) {
                            const int iy = iy0 + ky * p->dil_h;
                            if (iy < 0 || iy >= p->in_h) continue;
                            for (kx = 0; kx < KW; ++kx) {
                                const int ix = ix0 + kx * p->dil_w;
                                if (ix >= 0 && ix < p->in_w) acc += wc[ky * KW + kx] * xc[(long)iy * p->in_w + ix];
                            }
                        }
                    }
                    y[(((long)b * p->out_c + oc) * p->out_h + oy) * p->out_w + ox] = smelt_act_f32(acc, &p->act);
                }
            }
        }
    }
}

/* y[b][n] = act(alpha * sum_k x[b][k] * w[n][k] + beta * bias[n]); wf: one row of w (scratch). */
SMELT_KERNEL void smelt_w16_fc_f32(const float *x, const uint16_t *w, const float *bias, float *y, float *wf,
                                   const smelt_w16_fc_params *p)
{
    const int K = p->in_depth, N = p->out_depth;
    int b, n, k;
    for (n = 0; n < N; ++n) {
        smelt_half_to_float_n(w + (long)n * K, wf, K);
        for (b = 0; b < p->batches; ++b) {
            const float *xb = x + (long)b * K;
            float acc = 0.0f;
            for (k = 0; k < K; ++k) acc += xb[k] * wf[k];
            acc *= p->alpha;
            if (bias) acc += p->beta * bias[n];
            y[(long)b * N + n] = smelt_act_f32(acc, &p->act);
        }
    }
}
#endif
