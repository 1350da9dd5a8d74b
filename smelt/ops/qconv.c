/* Quantized 2-D convolution and depthwise convolution (TFLite CONV_2D, DEPTHWISE_CONV_2D),
 * NHWC activations, OHWI / 1HWO weights, bit-exact with TFLM's reference kernels.
 *
 * TFLM sums w * (x + input_offset) over the taps inside the image only. Where the whole window
 * is inside, the int8 kernels start from bias_full = bias + input_offset * sum(w) (prepared at
 * compile time) and sum w * x: the same int32 value with one add less per MAC. */

typedef struct {
    int batches, in_h, in_w, in_c, out_h, out_w, out_c;
    int k_h, k_w;
    int w_in_c;            /* conv: input channels per group (weights' last dim) */
    int depth_multiplier;  /* depthwise */
    int stride_h, stride_w, dil_h, dil_w, pad_top, pad_left;
    int32_t input_offset, output_offset, act_min, act_max;
    const int32_t *multiplier, *shift;   /* per output channel (wide: 16-bit multiplier, total shift) */
    int wide;                            /* 16x8 with a 64-bit accumulator */
    const int32_t *bias_full;            /* int8: see above; NULL when input_offset is 0 */
    int fast_rq;   /* every |accumulator| < 2^30 and every shift < 0: smelt_dsp_rq is exact */
} smelt_qconv_params;

/* The taps k in [start, end) with 0 <= origin + dil * k < size. */
SMELT_KERNEL void smelt_qconv_taps(int origin, int dil, int k, int size, int *start, int *end)
{
    int s = 0, e = k;
    while (s < e && origin + dil * s < 0) ++s;
    while (e > s && origin + dil * (e - 1) >= size) --e;
    *start = s;
    *end = e;
}

SMELT_KERNEL int32_t smelt_qconv_out(int64_t acc, int c, const smelt_qconv_params *p)
{
    const int32_t v = p->wide ? smelt_mbqm64(acc, p->multiplier[c], p->shift[c])
                              : smelt_mbqm((int32_t)acc, p->multiplier[c], p->shift[c]);
    return smelt_clamp32(v + p->output_offset, p->act_min, p->act_max);
}

/* acc[j] += sum_i w[j * w_stride + i] * (x[i] + offset) for j < 4: four output channels share
 * each load of x. */
SMELT_KERNEL void smelt_qdot4_i8(const int8_t *x, const int8_t *w, long w_stride, int n, int32_t offset,
                                 int32_t acc[4])
{
    const int8_t *w1 = w + w_stride, *w2 = w1 + w_stride, *w3 = w2 + w_stride;
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    int i;
    for (i = 0; i < n; ++i) {
        const int32_t v = x[i] + offset;
        a0 += w[i] * v;
        a1 += w1[i] * v;
        a2 += w2[i] * v;
        a3 += w3[i] * v;
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

SMELT_KERNEL int32_t smelt_qdot_i8(const int8_t *x, const int8_t *w, int n, int32_t offset)
{
    int32_t acc = 0;
    int i;
    for (i = 0; i < n; ++i) acc += w[i] * (x[i] + offset);
    return acc;
}


#if SMELT_DSP
/* ---- ARMv7E-M DSP paths (see smelt_common.h): convolution as a matrix multiply of two output
 * pixels at a time, reading int8 on both sides (no widened copy, so no scratch for 1x1). The two
 * pixels' K inputs are two rows K bytes apart: x itself for a 1x1 convolution, else their im2col
 * (padding holds the input zero point, so every sum starts from bias_full). Each pair of output
 * channels takes 4 loads, 8 SXTB16 and 8 SMLAD per 16 MACs. An odd last pixel or channel is
 * recomputed as the pair (n - 2, n - 1): the same values, written twice, and no stride 0. */

/* The requantization of one layer, read once from the params into registers (a store through an
 * int8_t pointer may alias anything, so fields read in a loop would be reloaded after each). */
typedef struct {
    const int32_t *m, *s;
    int32_t off, lo, hi;
    int fast;
    const smelt_qconv_params *p;
} smelt_dsp_rqp;

static inline smelt_dsp_rqp smelt_dsp_rqp_of(const smelt_qconv_params *p)
{
    smelt_dsp_rqp r;
    r.m = p->multiplier;
    r.s = p->shift;
    r.off = p->output_offset;
    r.lo = p->act_min;
    r.hi = p->act_max;
    r.fast = p->fast_rq;
    r.p = p;
    return r;
}

static inline int8_t smelt_dsp_out1(int32_t a, int c, smelt_dsp_rqp r)
{
    if (r.fast) {
        const int32_t e = -r.s[c];
        return (int8_t)smelt_dsp_clamp(smelt_dsp_rq(a, r.m[c], e, (int32_t)1 << (e - 1)) + r.off, r.lo, r.hi);
    }
    return (int8_t)smelt_qconv_out(a, c, r.p);
}

/* The outputs of channels c and c + 1 for two pixels, in the general case. */
SMELT_KERNEL __attribute__((noinline)) void smelt_dsp_out4(int32_t a00, int32_t a01, int32_t a10, int32_t a11,
                                                           int c, int8_t *y0, int8_t *y1, const smelt_qconv_params *p)
{
    const smelt_dsp_rqp r = smelt_dsp_rqp_of(p);
    y0[c] = smelt_dsp_out1(a00, c, r);
    y1[c] = smelt_dsp_out1(a01, c, r);
    y0[c + 1] = smelt_dsp_out1(a10, c + 1, r);
    y1[c + 1] = smelt_dsp_out1(a11, c + 1, r);
}

/* y0[c], y1[c] for every output channel c (out_c >= 2) from the rows x0 and x0 + K. */
SMELT_KERNEL __attribute__((noinline)) void smelt_dsp_mm2(const int8_t *x0, int K, const int8_t *w,
                                                          const int32_t *bias, int8_t *y0, int8_t *y1,
                                                          const smelt_qconv_params *p)
{
    const int G = K >> 2, OC = p->out_c;
    const int32_t *mult = p->multiplier, *shift = p->shift, off = p->output_offset;
    /* The common case, requantized inline: smelt_dsp_rq and no clamp but int8's own. */
    const int plain = p->fast_rq && p->act_min == -128 && p->act_max == 127;
    int oc, k;
    for (oc = 0; oc < OC; oc += 2) {
        const int c = oc + 2 <= OC ? oc : OC - 2;   /* an odd last channel overlaps the one before */
        const int8_t *wp = w + (long)c * K, *xp = x0;
        int32_t a00 = bias[c], a01 = a00, a10 = bias[c + 1], a11 = a10;
        if (G) {
            /* Written out: the loop needs all 14 registers, and gcc spills the C version. */
            int32_t t0, t1, t2, t3, t4, t5, n = G;
            __asm__("1:\n\t"
                    "ldr %[t0], [%[wp], %[K]]\n\t"
                    "ldr %[t1], [%[wp]], #4\n\t"
                    "sxtb16 %[t2], %[t0]\n\t"
                    "sxtb16 %[t0], %[t0], ror #8\n\t"
                    "sxtb16 %[t3], %[t1]\n\t"
                    "sxtb16 %[t1], %[t1], ror #8\n\t"
                    "ldr %[t4], [%[xp], %[K]]\n\t"
                    "sxtb16 %[t5], %[t4]\n\t"
                    "sxtb16 %[t4], %[t4], ror #8\n\t"
                    "smlad %[a01], %[t5], %[t3], %[a01]\n\t"
                    "smlad %[a01], %[t4], %[t1], %[a01]\n\t"
                    "smlad %[a11], %[t5], %[t2], %[a11]\n\t"
                    "smlad %[a11], %[t4], %[t0], %[a11]\n\t"
                    "ldr %[t4], [%[xp]], #4\n\t"
                    "sxtb16 %[t5], %[t4]\n\t"
                    "sxtb16 %[t4], %[t4], ror #8\n\t"
                    "smlad %[a00], %[t5], %[t3], %[a00]\n\t"
                    "smlad %[a00], %[t4], %[t1], %[a00]\n\t"
                    "smlad %[a10], %[t5], %[t2], %[a10]\n\t"
                    "smlad %[a10], %[t4], %[t0], %[a10]\n\t"
                    "subs %[n], %[n], #1\n\t"
                    "bne 1b"
                    : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11),
                      [wp] "+r"(wp), [xp] "+r"(xp), [n] "+r"(n),
                      [t0] "=&r"(t0), [t1] "=&r"(t1), [t2] "=&r"(t2), [t3] "=&r"(t3),
                      [t4] "=&r"(t4), [t5] "=&r"(t5)
                    : [K] "r"(K)
                    : "cc", "memory");
        }
        for (k = 0; k < (K & 3); ++k) {
            a00 += wp[k] * xp[k];
            a01 += wp[k] * xp[K + k];
            a10 += wp[K + k] * xp[k];
            a11 += wp[K + k] * xp[K + k];
        }
        if (plain) {
            const int32_t m0 = mult[c], e0 = -shift[c], r0 = (int32_t)1 << (e0 - 1);
            const int32_t m1 = mult[c + 1], e1 = -shift[c + 1], r1 = (int32_t)1 << (e1 - 1);
            y0[c] = (int8_t)__ssat(smelt_dsp_rq(a00, m0, e0, r0) + off, 8);
            y1[c] = (int8_t)__ssat(smelt_dsp_rq(a01, m0, e0, r0) + off, 8);
            y0[c + 1] = (int8_t)__ssat(smelt_dsp_rq(a10, m1, e1, r1) + off, 8);
            y1[c + 1] = (int8_t)__ssat(smelt_dsp_rq(a11, m1, e1, r1) + off, 8);
        } else {
            smelt_dsp_out4(a00, a01, a10, a11, c, y0, y1, p);
        }
    }
}

/* The K inputs of output pixel (oy, ox) in weight order, out-of-image taps = the zero point. */
SMELT_KERNEL __attribute__((noinline)) void smelt_dsp_im2col(const int8_t *x, int oy, int ox, int8_t *col, const smelt_qconv_params *p)
{
    const int C = p->in_c, zp = -p->input_offset, run = p->k_w * C;
    const int iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
    int ky, kx, ky0, ky1, kx0, kx1, i;
    smelt_qconv_taps(iy0, p->dil_h, p->k_h, p->in_h, &ky0, &ky1);
    smelt_qconv_taps(ix0, p->dil_w, p->k_w, p->in_w, &kx0, &kx1);
    for (ky = 0; ky < p->k_h; ++ky, col += run) {
        const int8_t *xr = x + ((long)(iy0 + p->dil_h * ky) * p->in_w + ix0) * C;
        if (ky < ky0 || ky >= ky1) {
            memset(col, zp, (size_t)run);
            continue;
        }
        if (p->dil_w == 1 && kx0 == 0 && kx1 == p->k_w) {   /* one contiguous run */
            for (i = 0; i + 4 <= run; i += 4) memcpy(col + i, xr + i, 4);
            for (; i < run; ++i) col[i] = xr[i];
            continue;
        }
        for (kx = 0; kx < p->k_w; ++kx) {
            if (kx < kx0 || kx >= kx1) memset(col + kx * C, zp, (size_t)C);
            else memcpy(col + kx * C, xr + (long)p->dil_w * kx * C, (size_t)C);
        }
    }
}

/* scratch: 4 K bytes of widened inputs, then 2 K bytes of im2col (QConv2D.scratch); none for a
 * 1x1 stride-1 convolution without padding, which reads x directly. */
SMELT_KERNEL void smelt_qconv2d_i8_dsp(const int8_t *x, const int8_t *w, const int32_t *bias, int8_t *y,
                                       int8_t *cols, const smelt_qconv_params *p)
{
    const int K = p->k_h * p->k_w * p->in_c, P = p->out_h * p->out_w, OC = p->out_c;
    const int32_t *b0 = p->bias_full ? p->bias_full : bias;
    int b, pix;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *xb = x + (long)b * p->in_h * p->in_w * p->in_c;
        int8_t *yb = y + (long)b * P * OC;
        for (pix = 0; pix < P; pix += 2) {
            const int q = pix + 2 <= P ? pix : P - 2;
            const int8_t *r = xb + (long)q * K;
            if (cols) {
                smelt_dsp_im2col(xb, q / p->out_w, q % p->out_w, cols, p);
                smelt_dsp_im2col(xb, (q + 1) / p->out_w, (q + 1) % p->out_w, cols + K, p);
                r = cols;
            }
            smelt_dsp_mm2(r, K, w, b0, yb + (long)q * OC, yb + (long)(q + 1) * OC, p);
        }
    }
}
/* Depthwise, depth multiplier 1, C % 4 == 0: four channels per word; SXTB16 (SXTAB16 adds the
 * input offset) splits a word into channels (0, 2) and (1, 3), SMLABB/SMLATT accumulate each
 * channel on its own. Windows inside the image start from bias_full with no offset; windows that
 * cross the border sum their in-image taps of x + input_offset from bias, as the portable kernel. */
#define SMELT_DW_TAP(xp, wp)                                                                       \
    do {                                                                                           \
        const int32_t xv = smelt_ld32(xp), wv = smelt_ld32(wp);                                    \
        const int32_t xe = __sxtab16(off2, xv), xo = smelt_sxtab16_ror8(off2, xv);                 \
        const int32_t we = __sxtb16(wv), wo = smelt_sxtb16_ror8(wv);                               \
        a0 = __smlabb(xe, we, a0);                                                                 \
        a2 = __smlatt(xe, we, a2);                                                                 \
        a1 = __smlabb(xo, wo, a1);                                                                 \
        a3 = __smlatt(xo, wo, a3);                                                                 \
    } while (0)

/* One tap of 4 channels at [xr + X] and [wr + X]; a row of a 3x3 window: X = 0, C, 2C. */
#define SMELT_DW_ASM_TAP(X)                                                                        \
    "ldr %[xv], [%[xr]" X "]\n\t"                                                                  \
    "ldr %[wv], [%[wr]" X "]\n\t"                                                                  \
    "sxtb16 %[xe], %[xv]\n\t"                                                                      \
    "sxtb16 %[xv], %[xv], ror #8\n\t"                                                              \
    "sxtb16 %[we], %[wv]\n\t"                                                                      \
    "sxtb16 %[wv], %[wv], ror #8\n\t"                                                              \
    "smlabb %[a0], %[xe], %[we], %[a0]\n\t"                                                        \
    "smlatt %[a2], %[xe], %[we], %[a2]\n\t"                                                        \
    "smlabb %[a1], %[xv], %[wv], %[a1]\n\t"                                                        \
    "smlatt %[a3], %[xv], %[wv], %[a3]\n\t"
#define SMELT_DW_ASM_ROW SMELT_DW_ASM_TAP("") SMELT_DW_ASM_TAP(", %[C]") SMELT_DW_ASM_TAP(", %[C2]")
#define SMELT_DW_ASM_NEXT "add %[xr], %[xr], %[row]\n\tadd %[wr], %[wr], %[C2]\n\tadd %[wr], %[wr], %[C]\n\t"

/* n output pixels along a row, each summing the nky x nkx taps whose top-left input is x0 (then
 * x0 + step, ...) and weight w0, starting from b0 and adding off2 (input_offset in both halves,
 * or 0) to x. The hot loop of depthwise: a whole 3x3 window is written out in asm (gcc spills the
 * C version). */
SMELT_KERNEL __attribute__((noinline)) void smelt_dsp_dw_run(const int8_t *x0, const int8_t *w0, const int32_t *b0,
                                                             int8_t *yp, int n, int nky, int nkx, int32_t off2,
                                                             const smelt_qconv_params *p)
{
    const int C = p->in_c, KW = p->k_w;
    const long row = (long)p->in_w * C * p->dil_h, col = (long)C * p->dil_w, step = (long)C * p->stride_w;
    const int32_t *mult = p->multiplier, *shift = p->shift, off = p->output_offset;
    const int plain = p->fast_rq && p->act_min == -128 && p->act_max == 127;
    const int k3 = nky == 3 && nkx == 3 && KW == 3 && col == C && !off2;
    int i, c, ky, kx;
    for (i = 0; i < n; ++i, x0 += step, yp += C) {
        for (c = 0; c < C; c += 4) {
            int32_t a0 = b0[c], a1 = b0[c + 1], a2 = b0[c + 2], a3 = b0[c + 3];
            const int8_t *xr = x0 + c, *wr = w0 + c;
            if (k3) {
                int32_t xv, wv, xe, we;
                __asm__(SMELT_DW_ASM_ROW SMELT_DW_ASM_NEXT SMELT_DW_ASM_ROW SMELT_DW_ASM_NEXT SMELT_DW_ASM_ROW
                        : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [xr] "+r"(xr), [wr] "+r"(wr),
                          [xv] "=&r"(xv), [wv] "=&r"(wv), [xe] "=&r"(xe), [we] "=&r"(we)
                        : [C] "r"(C), [C2] "r"(2 * C), [row] "r"(row)
                        : "memory");
            } else {
                for (ky = 0; ky < nky; ++ky, xr += row, wr += (long)KW * C)
                    for (kx = 0; kx < nkx; ++kx) SMELT_DW_TAP(xr + kx * col, wr + (long)kx * C);
            }
            if (plain) {
                int32_t e = -shift[c];
                yp[c] = (int8_t)__ssat(smelt_dsp_rq(a0, mult[c], e, (int32_t)1 << (e - 1)) + off, 8);
                e = -shift[c + 1];
                yp[c + 1] = (int8_t)__ssat(smelt_dsp_rq(a1, mult[c + 1], e, (int32_t)1 << (e - 1)) + off, 8);
                e = -shift[c + 2];
                yp[c + 2] = (int8_t)__ssat(smelt_dsp_rq(a2, mult[c + 2], e, (int32_t)1 << (e - 1)) + off, 8);
                e = -shift[c + 3];
                yp[c + 3] = (int8_t)__ssat(smelt_dsp_rq(a3, mult[c + 3], e, (int32_t)1 << (e - 1)) + off, 8);
            } else {
                const smelt_dsp_rqp r = smelt_dsp_rqp_of(p);
                yp[c] = smelt_dsp_out1(a0, c, r);
                yp[c + 1] = smelt_dsp_out1(a1, c + 1, r);
                yp[c + 2] = smelt_dsp_out1(a2, c + 2, r);
                yp[c + 3] = smelt_dsp_out1(a3, c + 3, r);
            }
        }
    }
}

SMELT_KERNEL void smelt_qdepthwise_i8_dsp(const int8_t *x, const int8_t *w, const int32_t *bias, int8_t *y,
                                          const smelt_qconv_params *p)
{
    const int H = p->in_h, W = p->in_w, C = p->in_c, KH = p->k_h, KW = p->k_w;
    const int OH = p->out_h, OW = p->out_w, SH = p->stride_h, SW = p->stride_w, DH = p->dil_h, DW = p->dil_w;
    const int32_t *bias_full = p->bias_full ? p->bias_full : bias;
    const int32_t off_in = (int32_t)(((uint32_t)p->input_offset & 0xFFFFu) * 0x10001u);
    int b, oy, ox, ky0, ky1, kx0, kx1, in0, in1;
    /* The columns [in0, in1) whose windows lie inside horizontally run together. */
    for (in0 = 0; in0 < OW && in0 * SW - p->pad_left < 0; ++in0) {}
    for (in1 = OW; in1 > in0 && (in1 - 1) * SW - p->pad_left + DW * (KW - 1) >= W; --in1) {}
    for (b = 0; b < p->batches; ++b) {
        for (oy = 0; oy < OH; ++oy) {
            const int iy0 = oy * SH - p->pad_top;
            int8_t *yr = y + ((long)b * OH + oy) * OW * C;
            smelt_qconv_taps(iy0, DH, KH, H, &ky0, &ky1);
            for (ox = 0; ox < OW; ++ox) {
                const int ix0 = ox * SW - p->pad_left;
                const int run = ox == in0 && ky0 == 0 && ky1 == KH ? in1 - in0 : 0;
                const int8_t *x0;
                smelt_qconv_taps(ix0, DW, KW, W, &kx0, &kx1);
                x0 = x + (((long)b * H + iy0 + DH * ky0) * W + ix0 + DW * kx0) * C;
                if (run) {
                    smelt_dsp_dw_run(x0, w, bias_full, yr + (long)ox * C, run, KH, KW, 0, p);
                    ox += run - 1;
                    continue;
                }
                smelt_dsp_dw_run(x0, w + ((long)ky0 * KW + kx0) * C, bias, yr + (long)ox * C, 1, ky1 - ky0,
                                 kx1 - kx0, off_in, p);
            }
        }
    }
}
#endif

/* scratch: the DSP path's buffers (NULL when the op declared none; the portable path needs none). */
SMELT_KERNEL void smelt_qconv2d_i8(const int8_t *x, const int8_t *w, const int32_t *bias, int8_t *y,
                                   int8_t *scratch, const smelt_qconv_params *p)
{
    const int H = p->in_h, W = p->in_w, C = p->in_c, WC = p->w_in_c, KW = p->k_w;
    const int per_group = p->out_c / (C / WC);
    const long w_stride = (long)p->k_h * KW * WC;
    /* With one group and no horizontal dilation, a row of taps is one contiguous run of x. */
    const int row_runs = WC == C && p->dil_w == 1;
    int b, oy, ox, oc, j, ky, kx, ky0, ky1, kx0, kx1;
#if SMELT_DSP
    if ((scratch || (p->k_h == 1 && p->k_w == 1 && p->stride_h == 1 && p->stride_w == 1 && !p->pad_top &&
                     !p->pad_left && p->out_h == H && p->out_w == W)) &&
        WC == C && !p->wide && (p->bias_full || !p->input_offset) && p->out_h * p->out_w >= 2 &&
        p->out_c >= 2) {
        smelt_qconv2d_i8_dsp(x, w, bias, y, scratch, p);
        return;
    }
#endif
    (void)scratch;
    for (b = 0; b < p->batches; ++b) {
        for (oy = 0; oy < p->out_h; ++oy) {
            const int iy0 = oy * p->stride_h - p->pad_top;
            smelt_qconv_taps(iy0, p->dil_h, p->k_h, H, &ky0, &ky1);
            for (ox = 0; ox < p->out_w; ++ox) {
                const int ix0 = ox * p->stride_w - p->pad_left;
                int8_t *yp = y + (((long)b * p->out_h + oy) * p->out_w + ox) * p->out_c;
                int full;
                int32_t offset;
                smelt_qconv_taps(ix0, p->dil_w, KW, W, &kx0, &kx1);
                full = p->bias_full && ky0 == 0 && ky1 == p->k_h && kx0 == 0 && kx1 == KW;
                offset = full ? 0 : p->input_offset;
                for (oc = 0; oc < p->out_c; ) {
                    /* Four channels of one group at a time, then one. */
                    const int n = oc % per_group + 4 <= per_group ? 4 : 1;
                    const int8_t *wo = w + oc * w_stride;
                    const long group_c = (long)(oc / per_group) * WC;
                    int32_t acc[4];
                    for (j = 0; j < n; ++j) acc[j] = full ? p->bias_full[oc + j] : bias[oc + j];
                    for (ky = ky0; ky < ky1; ++ky) {
                        const int8_t *xr = x + (((long)b * H + iy0 + p->dil_h * ky) * W + ix0) * C + group_c;
                        const int8_t *wr = wo + (long)ky * KW * WC;
                        if (row_runs) {
                            if (n == 4) smelt_qdot4_i8(xr + (long)kx0 * C, wr + (long)kx0 * WC, w_stride,
                                                       (kx1 - kx0) * WC, offset, acc);
                            else acc[0] += smelt_qdot_i8(xr + (long)kx0 * C, wr + (long)kx0 * WC,
                                                         (kx1 - kx0) * WC, offset);
                            continue;
                        }
                        for (kx = kx0; kx < kx1; ++kx) {
                            const int8_t *xp = xr + (long)p->dil_w * kx * C, *wp = wr + (long)kx * WC;
                            if (n == 4) smelt_qdot4_i8(xp, wp, w_stride, WC, offset, acc);
                            else acc[0] += smelt_qdot_i8(xp, wp, WC, offset);
                        }
                    }
                    for (j = 0; j < n; ++j) yp[oc + j] = (int8_t)smelt_qconv_out(acc[j], oc + j, p);
                    oc += n;
                }
            }
        }
    }
}

/* Depthwise: per output pixel, the taps add into one int32 accumulator per output channel
 * (acc, the node's scratch), walking x and w contiguously along the channels. */
SMELT_KERNEL void smelt_qdepthwise_i8(const int8_t *x, const int8_t *w, const int32_t *bias, int8_t *y,
                                      int32_t *acc, const smelt_qconv_params *p)
{
    const int H = p->in_h, W = p->in_w, C = p->in_c, M = p->depth_multiplier, OC = p->out_c;
    int b, oy, ox, oc, ic, m, ky, kx, ky0, ky1, kx0, kx1;
#if SMELT_DSP
    if (M == 1 && C % 4 == 0 && (p->bias_full || !p->input_offset)) {
        smelt_qdepthwise_i8_dsp(x, w, bias, y, p);
        return;
    }
#endif
    for (b = 0; b < p->batches; ++b) {
        for (oy = 0; oy < p->out_h; ++oy) {
            const int iy0 = oy * p->stride_h - p->pad_top;
            smelt_qconv_taps(iy0, p->dil_h, p->k_h, H, &ky0, &ky1);
            for (ox = 0; ox < p->out_w; ++ox) {
                const int ix0 = ox * p->stride_w - p->pad_left;
                int8_t *yp = y + (((long)b * p->out_h + oy) * p->out_w + ox) * OC;
                int full;
                int32_t offset;
                smelt_qconv_taps(ix0, p->dil_w, p->k_w, W, &kx0, &kx1);
                full = p->bias_full && ky0 == 0 && ky1 == p->k_h && kx0 == 0 && kx1 == p->k_w;
                offset = full ? 0 : p->input_offset;
                memcpy(acc, full ? p->bias_full : bias, (size_t)OC * sizeof(int32_t));
                for (ky = ky0; ky < ky1; ++ky) {
                    for (kx = kx0; kx < kx1; ++kx) {
                        const int8_t *xp = x + (((long)b * H + iy0 + p->dil_h * ky) * W + ix0 + p->dil_w * kx) * C;
                        const int8_t *wp = w + ((long)ky * p->k_w + kx) * OC;
                        if (M == 1) {
                            for (oc = 0; oc < OC; ++oc) acc[oc] += wp[oc] * (xp[oc] + offset);
                            continue;
                        }
                        for (ic = 0, oc = 0; ic < C; ++ic) {
                            const int32_t v = xp[ic] + offset;
                            for (m = 0; m < M; ++m, ++oc) acc[oc] += wp[oc] * v;
                        }
                    }
                }
                for (oc = 0; oc < OC; ++oc) yp[oc] = (int8_t)smelt_qconv_out(acc[oc], oc, p);
            }
        }
    }
}

/* 16x8: int16 activations (zero point 0), 32- or 64-bit accumulation as TFLM (see `wide`). */
SMELT_KERNEL void smelt_qconv2d_i16(const int16_t *x, const int8_t *w, const int64_t *bias, int16_t *y,
                                    const smelt_qconv_params *p)
{
    const int H = p->in_h, W = p->in_w, C = p->in_c, WC = p->w_in_c;
    const int per_group = p->out_c / (C / WC);
    const long w_stride = (long)p->k_h * p->k_w * WC;
    int b, oy, ox, oc, ky, kx, ic, ky0, ky1, kx0, kx1;
    for (b = 0; b < p->batches; ++b) {
        for (oy = 0; oy < p->out_h; ++oy) {
            const int iy0 = oy * p->stride_h - p->pad_top;
            smelt_qconv_taps(iy0, p->dil_h, p->k_h, H, &ky0, &ky1);
            for (ox = 0; ox < p->out_w; ++ox) {
                const int ix0 = ox * p->stride_w - p->pad_left;
                int16_t *yp = y + (((long)b * p->out_h + oy) * p->out_w + ox) * p->out_c;
                smelt_qconv_taps(ix0, p->dil_w, p->k_w, W, &kx0, &kx1);
                for (oc = 0; oc < p->out_c; ++oc) {
                    const int8_t *wo = w + oc * w_stride;
                    const long group_c = (long)(oc / per_group) * WC;
                    int64_t acc = bias[oc];
                    for (ky = ky0; ky < ky1; ++ky) {
                        for (kx = kx0; kx < kx1; ++kx) {
                            const int16_t *xp = x + (((long)b * H + iy0 + p->dil_h * ky) * W + ix0 + p->dil_w * kx) * C + group_c;
                            const int8_t *wp = wo + ((long)ky * p->k_w + kx) * WC;
                            for (ic = 0; ic < WC; ++ic) acc += (int32_t)wp[ic] * xp[ic];
                        }
                    }
                    yp[oc] = (int16_t)smelt_qconv_out(acc, oc, p);
                }
            }
        }
    }
}

SMELT_KERNEL void smelt_qdepthwise_i16(const int16_t *x, const int8_t *w, const int64_t *bias, int16_t *y,
                                       int64_t *acc, const smelt_qconv_params *p)
{
    const int H = p->in_h, W = p->in_w, C = p->in_c, M = p->depth_multiplier, OC = p->out_c;
    int b, oy, ox, oc, ic, m, ky, kx, ky0, ky1, kx0, kx1;
    for (b = 0; b < p->batches; ++b) {
        for (oy = 0; oy < p->out_h; ++oy) {
            const int iy0 = oy * p->stride_h - p->pad_top;
            smelt_qconv_taps(iy0, p->dil_h, p->k_h, H, &ky0, &ky1);
            for (ox = 0; ox < p->out_w; ++ox) {
                const int ix0 = ox * p->stride_w - p->pad_left;
                int16_t *yp = y + (((long)b * p->out_h + oy) * p->out_w + ox) * OC;
                smelt_qconv_taps(ix0, p->dil_w, p->k_w, W, &kx0, &kx1);
                memcpy(acc, bias, (size_t)OC * sizeof(int64_t));
                for (ky = ky0; ky < ky1; ++ky) {
                    for (kx = kx0; kx < kx1; ++kx) {
                        const int16_t *xp = x + (((long)b * H + iy0 + p->dil_h * ky) * W + ix0 + p->dil_w * kx) * C;
                        const int8_t *wp = w + ((long)ky * p->k_w + kx) * OC;
                        for (ic = 0, oc = 0; ic < C; ++ic)
                            for (m = 0; m < M; ++m, ++oc) acc[oc] += (int32_t)wp[oc] * xp[ic];
                    }
                }
                for (oc = 0; oc < OC; ++oc) yp[oc] = (int16_t)smelt_qconv_out(acc[oc], oc, p);
            }
        }
    }
}
