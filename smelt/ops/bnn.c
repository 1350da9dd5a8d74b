/* Binary layers: activations and weights are signs packed 8 channels per byte (bit 1 = +1,
 * bit 0 = -1, unused high bits 0 in both), so the dot product of n taps of C channels is
 * n * C - 2 * popcount(x XOR w). See smelt/ops/bnn.py for the formats. */

/* Portable popcount (SWAR); compilers turn it into a popcount instruction where there is one. */
SMELT_KERNEL int smelt_popcount32(uint32_t v)
{
    v = v - ((v >> 1) & 0x55555555u);
    v = (v & 0x33333333u) + ((v >> 2) & 0x33333333u);
    return (int)((((v + (v >> 4)) & 0x0f0f0f0fu) * 0x01010101u) >> 24);
}

/* popcount(a XOR b) over n bytes, four at a time. */
SMELT_KERNEL int smelt_xor_popcount(const uint8_t *a, const uint8_t *b, int n)
{
    int i = 0, count = 0;
    for (; i + 4 <= n; i += 4) {
        uint32_t u, v;
        memcpy(&u, a + i, 4);
        memcpy(&v, b + i, 4);
        count += smelt_popcount32(u ^ v);
    }
    for (; i < n; ++i) count += smelt_popcount32((uint32_t)(a[i] ^ b[i]));
    return count;
}

/* x [rows][c] int8 -> y [rows][ceil(c/8)]: bit = x >= threshold[channel]. */
SMELT_KERNEL void smelt_binarize_i8(const int8_t *x, uint8_t *y, long rows, int c, const int32_t *threshold)
{
    const int bytes = (c + 7) / 8;
    long r;
    int i;
    for (r = 0; r < rows; ++r) {
        const int8_t *xr = x + r * c;
        uint8_t *yr = y + r * bytes;
        memset(yr, 0, (size_t)bytes);
        for (i = 0; i < c; ++i)
            if (xr[i] >= threshold[i]) yr[i >> 3] |= (uint8_t)(1u << (i & 7));
    }
}

/* Output of one channel: a bit by threshold (binary_out), else int8 by TFLM requantization. */
#define SMELT_BNN_OUT_FIELDS                                                            \
    int binary_out;                                                                     \
    const int32_t *threshold; const uint8_t *flip;          /* binary_out */            \
    const int32_t *bias, *multiplier, *shift;               /* int8 out */              \
    int32_t output_offset, act_min, act_max;

typedef struct {
    int batches, in_h, in_w, in_c, in_bytes, out_h, out_w, out_c, k_h, k_w;
    int stride_h, stride_w, dil_h, dil_w, pad_top, pad_left;
    SMELT_BNN_OUT_FIELDS
} smelt_bconv_params;

typedef struct {
    int batches, in_c, in_bytes, out_c;
    SMELT_BNN_OUT_FIELDS
} smelt_bfc_params;

/* Writes channel c's result into the output row yp (packed bits or int8). */
#define SMELT_BNN_STORE(p, yp, c, dot)                                                                      \
    do {                                                                                                    \
        if ((p)->binary_out) {                                                                              \
            const int on = (p)->flip[c] ? (dot) <= (p)->threshold[c] : (dot) >= (p)->threshold[c];          \
            if (on) ((uint8_t *)(yp))[(c) >> 3] |= (uint8_t)(1u << ((c) & 7));                              \
        } else {                                                                                            \
            const int32_t v = smelt_mbqm((dot) + (p)->bias[c], (p)->multiplier[c], (p)->shift[c]);          \
            ((int8_t *)(yp))[c] = (int8_t)smelt_clamp32(v + (p)->output_offset, (p)->act_min, (p)->act_max); \
        }                                                                                                   \
    } while (0)

/* x packed NHWC, w packed [out_c][k_h][k_w][in_bytes]; y packed or int8 NHWC (void *: either). */
SMELT_KERNEL void smelt_bconv2d(const uint8_t *x, const uint8_t *w, void *y, const smelt_bconv_params *p)
{
    const int CB = p->in_bytes, KW = p->k_w;
    const int out_row = p->binary_out ? (p->out_c + 7) / 8 : p->out_c;
    int b, oy, ox, oc, ky, kx;
    for (b = 0; b < p->batches; ++b) {
        for (oy = 0; oy < p->out_h; ++oy) {
            const int iy0 = oy * p->stride_h - p->pad_top;
            for (ox = 0; ox < p->out_w; ++ox) {
                const int ix0 = ox * p->stride_w - p->pad_left;
                uint8_t *yp = (uint8_t *)y + (((long)b * p->out_h + oy) * p->out_w + ox) * out_row;
                if (p->binary_out) memset(yp, 0, (size_t)out_row);
                for (oc = 0; oc < p->out_c; ++oc) {
                    int count = 0, taps = 0;
                    int32_t dot;
                    for (ky = 0; ky < p->k_h; ++ky) {
                        const int iy = iy0 + ky * p->dil_h;
                        if (iy < 0 || iy >= p->in_h) continue;
                        for (kx = 0; kx < KW; ++kx) {
                            const int ix = ix0 + kx * p->dil_w;
                            if (ix < 0 || ix >= p->in_w) continue;
                            count += smelt_xor_popcount(x + (((long)b * p->in_h + iy) * p->in_w + ix) * CB,
                                                        w + (((long)oc * p->k_h + ky) * KW + kx) * CB, CB);
                            ++taps;
                        }
                    }
                    dot = (int32_t)taps * p->in_c - 2 * count;
                    SMELT_BNN_STORE(p, yp, oc, dot);
                }
            }
        }
    }
}

SMELT_KERNEL void smelt_bfc(const uint8_t *x, const uint8_t *w, void *y, const smelt_bfc_params *p)
{
    const int CB = p->in_bytes;
    const int out_row = p->binary_out ? (p->out_c + 7) / 8 : p->out_c;
    int b, n;
    for (b = 0; b < p->batches; ++b) {
        uint8_t *yp = (uint8_t *)y + (long)b * out_row;
        if (p->binary_out) memset(yp, 0, (size_t)out_row);
        for (n = 0; n < p->out_c; ++n) {
            const int32_t dot = p->in_c - 2 * smelt_xor_popcount(x + (long)b * CB, w + (long)n * CB, CB);
            SMELT_BNN_STORE(p, yp, n, dot);
        }
    }
}
