/* Int8 convolution, depthwise convolution and fully connected layers with packed low-bit weights
 * (int4, ternary, binary, palettized), int8 activations, the arithmetic of qconv.c / qfc.c (int32
 * accumulation, TFLM requantization), whose params structs and helpers are reused. The weights
 * are decoded in the inner loop, never unpacked into RAM.
 *
 * Two layouts (qlowbit.py chooses, at compile time):
 *  SMELT_LB_STREAM  the IR's packed form: code i at bit i * bits of one little-endian stream (any
 *                   bits 1..8; codes may straddle bytes). Decoded one weight at a time: slow.
 *  the fast layouts, bits 1, 2, 4 or 8: every row (conv / FC: an output channel's K weights;
 *                   depthwise: one tap's OC weights) starts on a byte boundary, in 32-bit words of
 *                   G = 32 / bits codes; within a word, byte j holds at bits [f * bits, (f+1) * bits)
 *                   the code of weight 4 f + j. So field f of the four bytes is four consecutive
 *                   weights, the partners of one 32-bit word of inputs: shifting field f to the top
 *                   of each byte and masking gives those weights times 2^(8 - bits) as int8 bytes,
 *                   which SXTB16 splits into the (k, k + 2) and (k + 1, k + 3) pairs that SMLAD
 *                   multiplies with SXTB16 of the inputs: a decode costs a shift and a mask per word.
 *    SMELT_LB_SIGNED  the field is a bits-bit two's complement t, weight = mul * t + off (int4 and
 *                     ternary: mul 1, off 0; 1-bit codebooks {a, b}: mul a - b, off a, so a binary
 *                     layer sums t * x and adds off * sum(x) once per pixel).
 *    SMELT_LB_LOOKUP  the field is a code, weight = codebook[code] (palettes of 3..16 entries).
 * A row's codes past the last whole word are summed one at a time. */

#if defined(__GNUC__)
#define SMELT_LB_INLINE static inline __attribute__((always_inline))
#else
#define SMELT_LB_INLINE static inline
#endif

enum { SMELT_LB_STREAM = 0, SMELT_LB_SIGNED = 1, SMELT_LB_LOOKUP = 2 };

typedef struct {
    smelt_qconv_params q;      /* fast layouts: q.bias_full = bias + input_offset * sum(w) */
    int bits;                  /* 1..8 */
    const int8_t *codebook;    /* up to 2^bits entries */
    int mode;                  /* SMELT_LB_* */
    int32_t mul, off;          /* SMELT_LB_SIGNED: weight = mul * t + off */
    int row_bytes;             /* fast layouts: bytes per row (a last partial word is cut short) */
} smelt_qlowbit_conv_params;

typedef struct {
    smelt_qfc_params q;
    int bits;
    const int8_t *codebook;
    int mode;
    int32_t mul, off;
    int row_bytes;
} smelt_qlowbit_fc_params;

/* The weight at index i of a fast-layout row (any position: the tails, depthwise). */
static inline int32_t smelt_lb_value(const uint8_t *row, int i, int bits, int mode, int32_t mul, int32_t off,
                                     const int8_t *codebook)
{
    const int G = 32 / bits, r = i % G, f = r >> 2;
    const unsigned field = ((unsigned)row[(i / G) * 4 + (r & 3)] >> (f * bits)) & ((1u << bits) - 1u);
    if (mode == SMELT_LB_LOOKUP) return codebook[field];
    /* two's complement of the field: shift it to the top of a byte and back, arithmetically */
    return mul * ((int32_t)(int8_t)(uint8_t)(field << (8 - bits)) >> (8 - bits)) + off;
}

#if SMELT_DSP
/* SMELT_LB_SIGNED on ARMv7E-M, written out (the loop needs 14 registers; gcc spills the C): one
 * field of the channel pair's words at wp (channel 0) and wp + 4 (channel 1) against the input
 * words at xp (pixel 0) and xp + dx (pixel 1). SHIFT moves the field to the top of each byte in
 * t0 and t1. 24 instructions per 16 MACs (int8's smelt_dsp_mm2: 22). */
#define SMELT_LB_STEP(SHIFT)                                                                       \
    "ldr %[t0], [%[wp], #4]\n\t"                                                                   \
    "ldr %[t1], [%[wp]]\n\t" SHIFT                                                                 \
    "sxtb16 %[t2], %[t0]\n\t"                                                                      \
    "sxtb16 %[t0], %[t0], ror #8\n\t"                                                              \
    "sxtb16 %[t3], %[t1]\n\t"                                                                      \
    "sxtb16 %[t1], %[t1], ror #8\n\t"                                                              \
    "ldr %[t4], [%[xp], %[dx]]\n\t"                                                                \
    "sxtb16 %[t5], %[t4]\n\t"                                                                      \
    "sxtb16 %[t4], %[t4], ror #8\n\t"                                                              \
    "smlad %[a01], %[t5], %[t3], %[a01]\n\t"                                                       \
    "smlad %[a01], %[t4], %[t1], %[a01]\n\t"                                                       \
    "smlad %[a11], %[t5], %[t2], %[a11]\n\t"                                                       \
    "smlad %[a11], %[t4], %[t0], %[a11]\n\t"                                                       \
    "ldr %[t4], [%[xp]], #4\n\t"                                                                   \
    "sxtb16 %[t5], %[t4]\n\t"                                                                      \
    "sxtb16 %[t4], %[t4], ror #8\n\t"                                                              \
    "smlad %[a00], %[t5], %[t3], %[a00]\n\t"                                                       \
    "smlad %[a00], %[t4], %[t1], %[a00]\n\t"                                                       \
    "smlad %[a10], %[t5], %[t2], %[a10]\n\t"                                                       \
    "smlad %[a10], %[t4], %[t0], %[a10]\n\t"
#define SMELT_LB_SH(SH, MASK)                                                                      \
    "lsl %[t0], %[t0], #" #SH "\n\tand %[t0], %[t0], #" #MASK "\n\t"                              \
    "lsl %[t1], %[t1], #" #SH "\n\tand %[t1], %[t1], #" #MASK "\n\t"
#define SMELT_LB_TOP(MASK) "and %[t0], %[t0], #" #MASK "\n\tand %[t1], %[t1], #" #MASK "\n\t"
/* "+&r": dx is read after the in-out operands are written, so it must not share a register with
 * one of them (with dx = 0 gcc would otherwise give it an accumulator's register, also 0). */
#define SMELT_LB_ASM(WORD)                                                                         \
    do {                                                                                           \
        int32_t t0, t1, t2, t3, t4, t5, n = words;                                                 \
        __asm__("1:\n\t" WORD "add %[wp], %[wp], #8\n\t"                                           \
                "subs %[n], %[n], #1\n\t"                                                          \
                "bne 1b"                                                                           \
                : [a00] "+&r"(s00), [a01] "+&r"(s01), [a10] "+&r"(s10), [a11] "+&r"(s11),          \
                  [wp] "+&r"(wp), [xp] "+&r"(xp), [n] "+&r"(n),                                    \
                  [t0] "=&r"(t0), [t1] "=&r"(t1), [t2] "=&r"(t2), [t3] "=&r"(t3),                  \
                  [t4] "=&r"(t4), [t5] "=&r"(t5)                                                   \
                : [dx] "r"(dx)                                                                     \
                : "cc", "memory");                                                                 \
    } while (0)
#endif

/* s[0..3] = sums over k < K of w0[k] x0[k], w0[k] x1[k], w1[k] x0[k], w1[k] x1[k] for a channel
 * pair (w0, w1) of a fast layout and two pixels' inputs x0, x0 + dx, where SMELT_LB_SIGNED sums
 * t (weight = mul * t + off: the caller adds mul * s + off * sum(x)). A pair's block (qlowbit.py
 * pair_rows) interleaves the two rows' whole words (w0's, w1's, w0's, ...) and ends with their
 * partial last words, tb bytes each. Always inlined with constant bits and mode (smelt_lb_mm2
 * dispatches), so each width gets its own loop with the shifts and masks folded. */
SMELT_LB_INLINE void smelt_lb_mm2_k(const int8_t *x0, long dx, int K, const uint8_t *wpair, const int bits,
                                    const int mode, const int8_t *cb, int32_t s[4])
{
    const int G = 32 / bits, words = K / G, tb = K % G < 4 ? K % G : 4;
    const uint8_t *t0w = wpair + 8 * words, *t1w = t0w + tb;   /* the partial words */
    int32_t s00 = 0, s01 = 0, s10 = 0, s11 = 0;
    int i;
#if SMELT_DSP
    const uint8_t *wp = wpair;
    const int8_t *xp = x0;
    if (words && mode == SMELT_LB_SIGNED) {
        if (bits == 8) SMELT_LB_ASM(SMELT_LB_STEP(""));
        if (bits == 4) SMELT_LB_ASM(SMELT_LB_STEP(SMELT_LB_SH(4, 0xF0F0F0F0)) SMELT_LB_STEP(SMELT_LB_TOP(0xF0F0F0F0)));
        if (bits == 2)
            SMELT_LB_ASM(SMELT_LB_STEP(SMELT_LB_SH(6, 0xC0C0C0C0)) SMELT_LB_STEP(SMELT_LB_SH(4, 0xC0C0C0C0))
                         SMELT_LB_STEP(SMELT_LB_SH(2, 0xC0C0C0C0)) SMELT_LB_STEP(SMELT_LB_TOP(0xC0C0C0C0)));
        if (bits == 1)
            SMELT_LB_ASM(SMELT_LB_STEP(SMELT_LB_SH(7, 0x80808080)) SMELT_LB_STEP(SMELT_LB_SH(6, 0x80808080))
                         SMELT_LB_STEP(SMELT_LB_SH(5, 0x80808080)) SMELT_LB_STEP(SMELT_LB_SH(4, 0x80808080))
                         SMELT_LB_STEP(SMELT_LB_SH(3, 0x80808080)) SMELT_LB_STEP(SMELT_LB_SH(2, 0x80808080))
                         SMELT_LB_STEP(SMELT_LB_SH(1, 0x80808080)) SMELT_LB_STEP(SMELT_LB_TOP(0x80808080)));
        if (bits < 8) {   /* exact: every term was a multiple of 2^(8-bits) */
            s00 >>= 8 - bits;
            s01 >>= 8 - bits;
            s10 >>= 8 - bits;
            s11 >>= 8 - bits;
        }
    } else if (words) {   /* SMELT_LB_LOOKUP: four codebook loads per field and channel */
        const uint32_t m = (1u << bits) - 1u;
        int g, f;
        for (g = 0; g < words; ++g, wp += 8) {
            for (f = 0; f < 8 / bits; ++f, xp += 4) {
                const int32_t xv0 = smelt_ld32(xp), xv1 = smelt_ld32(xp + dx);
                const int32_t xe0 = __sxtb16(xv0), xo0 = smelt_sxtb16_ror8(xv0);
                const int32_t xe1 = __sxtb16(xv1), xo1 = smelt_sxtb16_ror8(xv1);
                const uint32_t ta = (uint32_t)smelt_ld32(wp) >> (bits * f);
                const uint32_t tb2 = (uint32_t)smelt_ld32(wp + 4) >> (bits * f);
                int32_t e = (int32_t)(((uint32_t)cb[ta & m] & 0xFFFFu) | ((uint32_t)cb[(ta >> 16) & m] << 16));
                int32_t o = (int32_t)(((uint32_t)cb[(ta >> 8) & m] & 0xFFFFu) | ((uint32_t)cb[(ta >> 24) & m] << 16));
                s00 = __smlad(xo0, o, __smlad(xe0, e, s00));
                s01 = __smlad(xo1, o, __smlad(xe1, e, s01));
                e = (int32_t)(((uint32_t)cb[tb2 & m] & 0xFFFFu) | ((uint32_t)cb[(tb2 >> 16) & m] << 16));
                o = (int32_t)(((uint32_t)cb[(tb2 >> 8) & m] & 0xFFFFu) | ((uint32_t)cb[(tb2 >> 24) & m] << 16));
                s10 = __smlad(xo0, o, __smlad(xe0, e, s10));
                s11 = __smlad(xo1, o, __smlad(xe1, e, s11));
            }
        }
    }
#else
    for (i = 0; i < words * G; ++i) {
        const int g = i / G, r = i % G;
        const int32_t va = smelt_lb_value(wpair + 8 * g, r, bits, mode, 1, 0, cb);
        const int32_t vb = smelt_lb_value(wpair + 8 * g + 4, r, bits, mode, 1, 0, cb);
        s00 += va * x0[i];
        s01 += va * x0[dx + i];
        s10 += vb * x0[i];
        s11 += vb * x0[dx + i];
    }
#endif
    for (i = words * G; i < K; ++i) {   /* the codes of the partial words */
        const int32_t va = smelt_lb_value(t0w, i - words * G, bits, mode, 1, 0, cb);
        const int32_t vb = smelt_lb_value(t1w, i - words * G, bits, mode, 1, 0, cb);
        s00 += va * x0[i];
        s01 += va * x0[dx + i];
        s10 += vb * x0[i];
        s11 += vb * x0[dx + i];
    }
    s[0] = s00;
    s[1] = s01;
    s[2] = s10;
    s[3] = s11;
}

SMELT_KERNEL void smelt_lb_mm2(const int8_t *x0, long dx, int K, const uint8_t *wpair, int bits, int mode,
                               const int8_t *cb, int32_t s[4])
{
    if (mode == SMELT_LB_SIGNED) {
        switch (bits) {
        case 1: smelt_lb_mm2_k(x0, dx, K, wpair, 1, SMELT_LB_SIGNED, cb, s); return;
        case 2: smelt_lb_mm2_k(x0, dx, K, wpair, 2, SMELT_LB_SIGNED, cb, s); return;
        case 4: smelt_lb_mm2_k(x0, dx, K, wpair, 4, SMELT_LB_SIGNED, cb, s); return;
        default: smelt_lb_mm2_k(x0, dx, K, wpair, 8, SMELT_LB_SIGNED, cb, s); return;
        }
    }
    if (bits == 2) smelt_lb_mm2_k(x0, dx, K, wpair, 2, SMELT_LB_LOOKUP, cb, s);
    else smelt_lb_mm2_k(x0, dx, K, wpair, 4, SMELT_LB_LOOKUP, cb, s);   /* qlowbit.py: lookup is 2 or 4 bits */
}

/* The int32 accumulator (wrapping, as TFLM's) from smelt_lb_mm2's sum s and the inputs' sum sx. */
static inline int32_t smelt_lb_acc(int32_t base, int32_t s, int32_t sx, int mode, int32_t mul, int32_t off)
{
    if (mode != SMELT_LB_SIGNED) return (int32_t)((uint32_t)base + (uint32_t)s);
    return (int32_t)((uint32_t)base + (uint32_t)mul * (uint32_t)s + (uint32_t)off * (uint32_t)sx);
}

static inline int32_t smelt_lb_sum(const int8_t *x, int n)
{
    int32_t s = 0;
    int i;
    for (i = 0; i < n; ++i) s += x[i];
    return s;
}

static inline int8_t smelt_lb_out(int32_t acc, int c, const smelt_qconv_params *p)
{
#if SMELT_DSP
    if (p->fast_rq) {   /* QConv2D.fast_rq checked the bounds on the decoded weights */
        const int32_t e = -p->shift[c];
        const int32_t round = (int32_t)((uint32_t)(2 * p->output_offset + 1) << (e - 1));
        return (int8_t)smelt_dsp_clamp(smelt_dsp_rq(acc, p->multiplier[c], e, round), p->act_min, p->act_max);
    }
#endif
    return (int8_t)smelt_qconv_out(acc, c, p);
}

/* The K = k_h k_w in_c inputs of output pixel (oy, ox) in weight order, out-of-image taps holding
 * the input zero point (which adds nothing: the sums start from bias_full). */
SMELT_KERNEL void smelt_lb_im2col(const int8_t *x, int oy, int ox, int8_t *col, const smelt_qconv_params *p)
{
    const int C = p->in_c, iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
    int ky, kx;
    for (ky = 0; ky < p->k_h; ++ky) {
        const int iy = iy0 + p->dil_h * ky;
        for (kx = 0; kx < p->k_w; ++kx, col += C) {
            const int ix = ix0 + p->dil_w * kx;
            if (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w) memset(col, -p->input_offset, (size_t)C);
            else memcpy(col, x + ((long)iy * p->in_w + ix) * C, (size_t)C);
        }
    }
}

/* Fast layouts, ungrouped: two output pixels at a time (their inputs are x itself for a 1x1
 * stride-1 convolution, else their im2col in cols, 2 K bytes) times a pair of output channels
 * (rows 2 RB bytes apart, see smelt_lb_mm2_k). An odd last pixel is computed as a pair with itself. */
SMELT_KERNEL void smelt_qlowbit_conv2d_fast(const int8_t *x, const uint8_t *w, const int32_t *bias, int8_t *y,
                                            int8_t *cols, const smelt_qlowbit_conv_params *lp)
{
    const smelt_qconv_params *p = &lp->q;
    const int K = p->k_h * p->k_w * p->in_c, P = p->out_h * p->out_w, OC = p->out_c, RB = lp->row_bytes;
    const int bits = lp->bits, mode = lp->mode, sums = mode == SMELT_LB_SIGNED && lp->off;
    const int32_t mul = lp->mul, off = lp->off, *b0 = p->bias_full ? p->bias_full : bias;
    const int direct = !cols;
    int b, pix, oc;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *xb = x + (long)b * p->in_h * p->in_w * p->in_c;
        int8_t *yb = y + (long)b * P * OC;
        for (pix = 0; pix < P; pix += 2) {
            const int q1 = pix + 1 < P ? pix + 1 : pix;
            const int8_t *r0 = xb + (long)pix * K, *r1 = xb + (long)q1 * K;
            int8_t *y0 = yb + (long)pix * OC, *y1 = yb + (long)q1 * OC;
            int32_t sx0 = 0, sx1 = 0, s[4];
            if (!direct) {
                smelt_lb_im2col(xb, pix / p->out_w, pix % p->out_w, cols, p);
                smelt_lb_im2col(xb, q1 / p->out_w, q1 % p->out_w, cols + K, p);
                r0 = cols;
                r1 = cols + K;
            }
            if (sums) {
                sx0 = smelt_lb_sum(r0, K);
                sx1 = smelt_lb_sum(r1, K);
            }
            for (oc = 0; oc < OC; oc += 2) {   /* an odd last channel: its pair's second row is zeros */
                const int c1 = oc + 1 < OC ? oc + 1 : oc;
                smelt_lb_mm2(r0, r1 - r0, K, w + (long)oc * RB, bits, mode, lp->codebook, s);
                y0[oc] = smelt_lb_out(smelt_lb_acc(b0[oc], s[0], sx0, mode, mul, off), oc, p);
                y1[oc] = smelt_lb_out(smelt_lb_acc(b0[oc], s[1], sx1, mode, mul, off), oc, p);
                if (c1 == oc) break;
                y0[c1] = smelt_lb_out(smelt_lb_acc(b0[c1], s[2], sx0, mode, mul, off), c1, p);
                y1[c1] = smelt_lb_out(smelt_lb_acc(b0[c1], s[3], sx1, mode, mul, off), c1, p);
            }
        }
    }
}

#if SMELT_DSP
/* SMELT_LB_SIGNED weights (mul 1, off 0), depth multiplier 1, C % 4 == 0: four channels per field.
 * SXTB16 of a field shifted to the top of each byte gives the weights of channels (c, c + 2) and
 * (c + 1, c + 3) times 2^(8 - bits); SMLABB / SMLATT accumulate each channel on its own with the
 * inputs + input_offset (SADD16). */
SMELT_KERNEL void smelt_qlowbit_depthwise_dsp(const int8_t *x, const uint8_t *w, const int32_t *bias, int8_t *y,
                                              const smelt_qlowbit_conv_params *lp)
{
    const smelt_qconv_params *p = &lp->q;
    const int H = p->in_h, W = p->in_w, C = p->in_c, RB = lp->row_bytes, bits = lp->bits;
    const int G = 32 / bits, per = 8 / bits, down = 8 - bits;
    const uint32_t top = bits == 8 ? 0xFFFFFFFFu : ((0xFFu << (8 - bits)) & 0xFFu) * 0x01010101u;
    const int32_t off2 = (int32_t)(((uint32_t)p->input_offset & 0xFFFFu) | ((uint32_t)p->input_offset << 16));
    int b, oy, ox, c, ky, kx, ky0, ky1, kx0, kx1;
    for (b = 0; b < p->batches; ++b) {
        for (oy = 0; oy < p->out_h; ++oy) {
            const int iy0 = oy * p->stride_h - p->pad_top;
            smelt_qconv_taps(iy0, p->dil_h, p->k_h, H, &ky0, &ky1);
            for (ox = 0; ox < p->out_w; ++ox) {
                const int ix0 = ox * p->stride_w - p->pad_left;
                int8_t *yp = y + (((long)b * p->out_h + oy) * p->out_w + ox) * C;
                smelt_qconv_taps(ix0, p->dil_w, p->k_w, W, &kx0, &kx1);
                for (c = 0; c < C; c += 4) {
                    const int sh = 8 - bits * ((c / 4) % per + 1);   /* field (c / 4) % per to the top of each byte */
                    const uint8_t *wc = w + (c / G) * 4;
                    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
                    for (ky = ky0; ky < ky1; ++ky) {
                        const int8_t *xr = x + (((long)b * H + iy0 + p->dil_h * ky) * W + ix0) * C + c;
                        const uint8_t *wr = wc + (long)ky * p->k_w * RB;
                        for (kx = kx0; kx < kx1; ++kx) {
                            const int32_t t = (int32_t)(((uint32_t)smelt_ld32(wr + (long)kx * RB) << sh) & top);
                            const int32_t xv = smelt_ld32(xr + (long)p->dil_w * kx * C);
                            const int32_t xe = __sadd16(__sxtb16(xv), off2), xo = __sadd16(smelt_sxtb16_ror8(xv), off2);
                            const int32_t we = __sxtb16(t), wo = smelt_sxtb16_ror8(t);
                            a0 = __smlabb(xe, we, a0);
                            a2 = __smlatt(xe, we, a2);
                            a1 = __smlabb(xo, wo, a1);
                            a3 = __smlatt(xo, wo, a3);
                        }
                    }
                    yp[c] = smelt_lb_out(bias[c] + (a0 >> down), c, p);
                    yp[c + 1] = smelt_lb_out(bias[c + 1] + (a1 >> down), c + 1, p);
                    yp[c + 2] = smelt_lb_out(bias[c + 2] + (a2 >> down), c + 2, p);
                    yp[c + 3] = smelt_lb_out(bias[c + 3] + (a3 >> down), c + 3, p);
                }
            }
        }
    }
}
#endif

/* Fast layouts: weights 1HWO, a row of OC codes per tap; TFLM's sum over the taps inside the image. */
SMELT_KERNEL void smelt_qlowbit_depthwise_fast(const int8_t *x, const uint8_t *w, const int32_t *bias, int8_t *y,
                                               const smelt_qlowbit_conv_params *lp)
{
    const smelt_qconv_params *p = &lp->q;
    const int H = p->in_h, W = p->in_w, C = p->in_c, M = p->depth_multiplier, OC = p->out_c, RB = lp->row_bytes;
    const int bits = lp->bits, mode = lp->mode;
    int b, oy, ox, oc, ky, kx, ky0, ky1, kx0, kx1;
#if SMELT_DSP
    if (mode == SMELT_LB_SIGNED && lp->mul == 1 && lp->off == 0 && M == 1 && C % 4 == 0) {
        smelt_qlowbit_depthwise_dsp(x, w, bias, y, lp);
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
                smelt_qconv_taps(ix0, p->dil_w, p->k_w, W, &kx0, &kx1);
                for (oc = 0; oc < OC; ++oc) {
                    int32_t acc = bias[oc];
                    for (ky = ky0; ky < ky1; ++ky) {
                        for (kx = kx0; kx < kx1; ++kx) {
                            const int8_t *xp = x + (((long)b * H + iy0 + p->dil_h * ky) * W + ix0 + p->dil_w * kx) * C;
                            const uint8_t *row = w + (long)(ky * p->k_w + kx) * RB;
                            acc += smelt_lb_value(row, oc, bits, mode, lp->mul, lp->off, lp->codebook)
                                   * (xp[oc / M] + p->input_offset);
                        }
                    }
                    yp[oc] = smelt_lb_out(acc, oc, p);
                }
            }
        }
    }
}

/* Fast layouts: two output rows at a time; bias holds input_offset * (row sums), as in qfc.c. */
SMELT_KERNEL void smelt_qlowbit_fc_fast(const int8_t *x, const uint8_t *w, const int32_t *bias, int8_t *y,
                                        const smelt_qlowbit_fc_params *lp)
{
    const smelt_qfc_params *p = &lp->q;
    const int K = p->in_depth, N = p->out_depth, RB = lp->row_bytes, mode = lp->mode;
    int b, n, j;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *xb = x + (long)b * K;
        const int32_t sx = mode == SMELT_LB_SIGNED && lp->off ? smelt_lb_sum(xb, K) : 0;
        for (n = 0; n < N; n += 2) {
            const int n1 = n + 1 < N ? n + 1 : n;
            int32_t s[4];
            smelt_lb_mm2(xb, 0, K, w + (long)n * RB, lp->bits, mode, lp->codebook, s);
            for (j = 0; j < 1 + (n1 != n); ++j) {
                const int r = n + j, c = p->per_channel ? r : 0;
                int32_t acc = smelt_lb_acc(bias[r], s[2 * j], sx, mode, lp->mul, lp->off);
                acc = smelt_mbqm(acc, p->multiplier[c], p->shift[c]) + p->output_offset;
                y[(long)b * N + r] = (int8_t)smelt_clamp32(acc, p->act_min, p->act_max);
            }
        }
    }
}

/* ---- SMELT_LB_STREAM: any bits, one weight at a time ---- */
/* codebook[code i]; a code may straddle two bytes (bits 3, 5, 6, 7), and then both exist. */
SMELT_KERNEL int32_t smelt_qlowbit_w(const uint8_t *w, long i, int bits, const int8_t *codebook)
{
    const long pos = i * bits;
    const int off = (int)(pos & 7);
    unsigned v = w[pos >> 3];
    if (off + bits > 8) v |= (unsigned)w[(pos >> 3) + 1] << 8;
    return codebook[(v >> off) & ((1u << bits) - 1u)];
}

/* sum_i codebook[w code i0 + i] * (x[i] + offset), i < n */
SMELT_KERNEL int32_t smelt_qlowbit_dot(const int8_t *x, const uint8_t *w, long i0, int n, int32_t offset,
                                       int bits, const int8_t *codebook)
{
    int32_t acc = 0;
    int i;
    for (i = 0; i < n; ++i) acc += smelt_qlowbit_w(w, i0 + i, bits, codebook) * (x[i] + offset);
    return acc;
}

/* cols: scratch for the fast layouts' im2col (2 K bytes), NULL for a 1x1 stride-1 convolution. */
SMELT_KERNEL void smelt_qlowbit_conv2d_i8(const int8_t *x, const uint8_t *w, const int32_t *bias, int8_t *y,
                                          int8_t *cols, const smelt_qlowbit_conv_params *lp)
{
    const smelt_qconv_params *p = &lp->q;
    const int H = p->in_h, W = p->in_w, C = p->in_c, WC = p->w_in_c, KH = p->k_h, KW = p->k_w;
    const int per_group = p->out_c / (C / WC);
    int b, oy, ox, oc, ky, kx, ky0, ky1, kx0, kx1;
    if (lp->mode != SMELT_LB_STREAM) {
        smelt_qlowbit_conv2d_fast(x, w, bias, y, cols, lp);
        return;
    }
    for (b = 0; b < p->batches; ++b) {
        for (oy = 0; oy < p->out_h; ++oy) {
            const int iy0 = oy * p->stride_h - p->pad_top;
            smelt_qconv_taps(iy0, p->dil_h, KH, H, &ky0, &ky1);
            for (ox = 0; ox < p->out_w; ++ox) {
                const int ix0 = ox * p->stride_w - p->pad_left;
                int8_t *yp = y + (((long)b * p->out_h + oy) * p->out_w + ox) * p->out_c;
                smelt_qconv_taps(ix0, p->dil_w, KW, W, &kx0, &kx1);
                for (oc = 0; oc < p->out_c; ++oc) {
                    const long group_c = (long)(oc / per_group) * WC;
                    int32_t acc = bias[oc];
                    for (ky = ky0; ky < ky1; ++ky) {
                        for (kx = kx0; kx < kx1; ++kx) {
                            const int8_t *xp = x + (((long)b * H + iy0 + p->dil_h * ky) * W + ix0 + p->dil_w * kx) * C
                                               + group_c;
                            const long wi = (((long)oc * KH + ky) * KW + kx) * WC;
                            acc += smelt_qlowbit_dot(xp, w, wi, WC, p->input_offset, lp->bits, lp->codebook);
                        }
                    }
                    yp[oc] = (int8_t)smelt_qconv_out(acc, oc, p);
                }
            }
        }
    }
}

/* Depthwise: weights 1HWO, output channel oc reads input channel oc / depth_multiplier. */
SMELT_KERNEL void smelt_qlowbit_depthwise_i8(const int8_t *x, const uint8_t *w, const int32_t *bias, int8_t *y,
                                             const smelt_qlowbit_conv_params *lp)
{
    const smelt_qconv_params *p = &lp->q;
    const int H = p->in_h, W = p->in_w, C = p->in_c, M = p->depth_multiplier, OC = p->out_c;
    int b, oy, ox, oc, ky, kx, ky0, ky1, kx0, kx1;
    if (lp->mode != SMELT_LB_STREAM) {
        smelt_qlowbit_depthwise_fast(x, w, bias, y, lp);
        return;
    }
    for (b = 0; b < p->batches; ++b) {
        for (oy = 0; oy < p->out_h; ++oy) {
            const int iy0 = oy * p->stride_h - p->pad_top;
            smelt_qconv_taps(iy0, p->dil_h, p->k_h, H, &ky0, &ky1);
            for (ox = 0; ox < p->out_w; ++ox) {
                const int ix0 = ox * p->stride_w - p->pad_left;
                int8_t *yp = y + (((long)b * p->out_h + oy) * p->out_w + ox) * OC;
                smelt_qconv_taps(ix0, p->dil_w, p->k_w, W, &kx0, &kx1);
                for (oc = 0; oc < OC; ++oc) {
                    int32_t acc = bias[oc];
                    for (ky = ky0; ky < ky1; ++ky) {
                        for (kx = kx0; kx < kx1; ++kx) {
                            const int8_t *xp = x + (((long)b * H + iy0 + p->dil_h * ky) * W + ix0 + p->dil_w * kx) * C;
                            const long wi = ((long)ky * p->k_w + kx) * OC + oc;
                            acc += smelt_qlowbit_w(w, wi, lp->bits, lp->codebook) * (xp[oc / M] + p->input_offset);
                        }
                    }
                    yp[oc] = (int8_t)smelt_qconv_out(acc, oc, p);
                }
            }
        }
    }
}

/* bias already holds input_offset * (row sums of the decoded weights), as in qfc.c. */
SMELT_KERNEL void smelt_qlowbit_fc_i8(const int8_t *x, const uint8_t *w, const int32_t *bias, int8_t *y,
                                      const smelt_qlowbit_fc_params *lp)
{
    const smelt_qfc_params *p = &lp->q;
    const int K = p->in_depth, N = p->out_depth;
    int b, n;
    if (lp->mode != SMELT_LB_STREAM) {
        smelt_qlowbit_fc_fast(x, w, bias, y, lp);
        return;
    }
    for (b = 0; b < p->batches; ++b) {
        for (n = 0; n < N; ++n) {
            const int c = p->per_channel ? n : 0;
            int32_t acc = bias[n] + smelt_qlowbit_dot(x + (long)b * K, w, (long)n * K, K, 0, lp->bits, lp->codebook);
            acc = smelt_mbqm(acc, p->multiplier[c], p->shift[c]) + p->output_offset;
            y[(long)b * N + n] = (int8_t)smelt_clamp32(acc, p->act_min, p->act_max);
        }
    }
}
