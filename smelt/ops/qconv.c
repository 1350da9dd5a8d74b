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
    int fast_rq;   /* every |accumulator| < 2^30 and every shift < 0: smelt_dsp_rq is exact, also
                    * with the output offset folded into its rounding term (smelt_dsp_y) */
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
 * pixels by two output channels at a time. The two pixels' K inputs are two rows K bytes apart:
 * x itself for a 1x1 convolution, else their im2col (padding holds the input zero point, so every
 * sum starts from bias_full); for a 1x1 convolution with K % 8 == 0, K >= 16 they are first widened
 * to int16 (17 instead of 22 instructions per 16 MACs). With the fast requantization (fast_rq, no
 * clamp but int8's own) each block runs whole in asm (smelt_dsp_mm2_asm, smelt_dsp_mm2w_asm), else
 * in C (smelt_dsp_mm2). An odd last pixel or channel is recomputed as the pair (n - 2, n - 1): the
 * same values, written twice, and no stride 0. */

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

/* The fast requantization's rounding term with the output offset folded in (QConv2D.fast_rq
 * checks it stays in int32): ((r + (2 off + 1) 2^(e-1) - (r < 0)) >> e) = rdbp(r, e) + off. */
static inline int32_t smelt_dsp_round(int32_t off, int32_t e)
{
    return (int32_t)((uint32_t)(2 * off + 1) << (e - 1));
}

SMELT_KERNEL __attribute__((noinline)) int8_t smelt_dsp_out1(int32_t a, int c, const smelt_dsp_rqp *rp)
{
    const smelt_dsp_rqp r = *rp;
    if (r.fast) {
        const int32_t e = -r.s[c];
        return (int8_t)smelt_dsp_clamp(smelt_dsp_rq(a, r.m[c], e, smelt_dsp_round(r.off, e)), r.lo, r.hi);
    }
    return (int8_t)smelt_qconv_out(a, c, r.p);
}

/* The outputs of channels c and c + 1 for two pixels, in the general case. */
SMELT_KERNEL __attribute__((noinline)) void smelt_dsp_out4(int32_t a00, int32_t a01, int32_t a10, int32_t a11,
                                                           int c, int8_t *y0, int8_t *y1, const smelt_qconv_params *p)
{
    const smelt_dsp_rqp r = smelt_dsp_rqp_of(p);
    if (r.fast) {   /* each channel's factors shared by both pixels */
        const int32_t a[4] = {a00, a01, a10, a11};
        int j;
        for (j = 0; j < 2; ++j) {
            const int32_t m = r.m[c + j], e = -r.s[c + j], rd = smelt_dsp_round(r.off, e);
            y0[c + j] = (int8_t)smelt_dsp_clamp(smelt_dsp_rq(a[2 * j], m, e, rd), r.lo, r.hi);
            y1[c + j] = (int8_t)smelt_dsp_clamp(smelt_dsp_rq(a[2 * j + 1], m, e, rd), r.lo, r.hi);
        }
        return;
    }
    y0[c] = smelt_dsp_out1(a00, c, &r);
    y1[c] = smelt_dsp_out1(a01, c, &r);
    y0[c + 1] = smelt_dsp_out1(a10, c + 1, &r);
    y1[c + 1] = smelt_dsp_out1(a11, c + 1, &r);
}

/* y0[c], y1[c] for every output channel c (out_c >= 2) from the rows x0 and x0 + K: the C version
 * of smelt_dsp_mm2_asm for K % 4 != 0 and clamped or general requantization. */
SMELT_KERNEL __attribute__((noinline)) void smelt_dsp_mm2(const int8_t *x0, int K, const int8_t *w,
                                                          const int32_t *bias, int8_t *y0, int8_t *y1,
                                                          const smelt_qconv_params *p)
{
    const int G = K >> 2, OC = p->out_c;
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
        smelt_dsp_out4(a00, a01, a10, a11, c, y0, y1, p);
    }
}

/* Two pixels' K int8 inputs (K % 8 == 0) widened to int16 for smelt_dsp_mm2w_asm: per 4 inputs, pixel
 * 0's SXTB16 and SXTB16 ROR 8 words, then pixel 1's (the pair is read with two LDRD). */
SMELT_KERNEL __attribute__((noinline)) void smelt_dsp_widen2(const int8_t *x0, const int8_t *x1, int K, int32_t *s)
{
    int i;
    for (i = 0; i < K; i += 4, s += 4) {
        const int32_t a = smelt_ld32(x0 + i), b = smelt_ld32(x1 + i);
        s[0] = __sxtb16(a);
        s[1] = smelt_sxtb16_ror8(a);
        s[2] = __sxtb16(b);
        s[3] = smelt_sxtb16_ror8(b);
    }
}

/* The arguments of smelt_dsp_mm2w_asm / smelt_dsp_mm2_asm (offsets fixed: the asm reads them and
 * advances bias ... y0 in place). */
typedef struct {
    const void *x;          /* 0: smelt_dsp_widen2's words, or two int8 rows K bytes apart */
    const int8_t *w;        /* 4: the first channel's weights */
    const int32_t *bias;    /* 8: of the first channel, then the next pair's */
    const int32_t *mult;    /* 12 */
    const int32_t *shift;   /* 16 */
    int8_t *y0;             /* 20: the first pixel's outputs */
    int32_t dy;             /* 24: the second pixel's outputs - y0 */
    int32_t K;              /* 28 */
    int32_t k;              /* 32: 2 * output_offset + 1 (smelt_dsp_round) */
    const int8_t *y0_end;   /* 36: y0 past the last pair */
} smelt_dsp_mm_args;

/* Fast requantization of accumulator A (smelt_dsp_rq, offset folded) with multiplier M, rounding
 * term R and exponent E: SMMLAR adds R to SMMULR(2 A, M) = r, and the sign correction uses A's sign
 * instead of r's (they differ only when r = 0, where both give the output offset: R >> E). */
#define SMELT_MM_RQ(A, M, R, E)                                                                    \
    "lsls " A ", " A ", #1\n\t"                                                                    \
    "smmlar r5, " A ", " M ", " R "\n\t"                                                           \
    "add " A ", r5, " A ", asr #31\n\t"                                                            \
    "asr " A ", " A ", " E "\n\t"                                                                  \
    "ssat " A ", #8, " A "\n\t"

/* A whole 2 pixels x 2 channels block per channel pair in asm (bias, the K loop, requantization
 * with int8's own clamp, stores): with gcc's register allocation around an asm loop that needs all
 * 14 registers, the C version spent ~80 instructions per block outside the loop, this ~50.
 * Registers: r0-r3 accumulators (a00 a01 a10 a11: pixel, channel), r4 weights, r5 inputs, r6 = K,
 * r7 loop count, r8-r12 and lr temporaries; [sp] holds the args. LOOP is the K loop. */
#define SMELT_MM_ASM(LOOP)                                                                         \
    __asm__ volatile(                                                                              \
        "push {r0, r4-r11, lr}\n\t"                                                                \
        "ldr r4, [r0, #4]\n\t"                                                                     \
        "ldr r6, [r0, #28]\n\t"                                                                    \
        "mov lr, r0\n\t"                                                                           \
        "1:\n\t"   /* lr = args */                                                                 \
        "ldr r5, [lr, #0]\n\t"                                                                     \
        "ldr r8, [lr, #8]\n\t"                                                                     \
        "ldrd r0, r2, [r8], #8\n\t"                                                                \
        "str r8, [lr, #8]\n\t"                                                                     \
        "mov r1, r0\n\t"                                                                           \
        "mov r3, r2\n\t"                                                                           \
        LOOP                                                                                       \
        "add r4, r4, r6\n\t"   /* past the second channel's weights */                             \
        "ldr lr, [sp]\n\t"                                                                         \
        "ldr r5, [lr, #16]\n\t"                                                                    \
        "ldrd r7, r8, [r5], #8\n\t"                                                                \
        "str r5, [lr, #16]\n\t"                                                                    \
        "ldr r9, [lr, #32]\n\t"                                                                    \
        "mvn r10, r7\n\t"                                                                          \
        "lsl r10, r9, r10\n\t"                                                                     \
        "rsb r7, r7, #0\n\t"                                                                       \
        "mvn r11, r8\n\t"                                                                          \
        "lsl r11, r9, r11\n\t"                                                                     \
        "rsb r8, r8, #0\n\t"                                                                       \
        "ldr r5, [lr, #12]\n\t"                                                                    \
        "ldrd r9, r12, [r5], #8\n\t"                                                               \
        "str r5, [lr, #12]\n\t"                                                                    \
        SMELT_MM_RQ("r0", "r9", "r10", "r7") SMELT_MM_RQ("r1", "r9", "r10", "r7")                  \
        SMELT_MM_RQ("r2", "r12", "r11", "r8") SMELT_MM_RQ("r3", "r12", "r11", "r8")                \
        "bfi r0, r2, #8, #8\n\t"                                                                   \
        "bfi r1, r3, #8, #8\n\t"                                                                   \
        "ldr r5, [lr, #20]\n\t"                                                                    \
        "ldr r7, [lr, #24]\n\t"                                                                    \
        "strh r1, [r5, r7]\n\t"                                                                    \
        "strh r0, [r5], #2\n\t"                                                                    \
        "str r5, [lr, #20]\n\t"                                                                    \
        "ldr r7, [lr, #36]\n\t"                                                                    \
        "cmp r5, r7\n\t"                                                                           \
        "bne 1b\n\t"                                                                               \
        "pop {r0, r4-r11, pc}\n\t")

/* 8 inputs of the widened rows: 17 instructions per 16 MACs (the x side needs no SXTB16). */
#define SMELT_MM2W_STEP                                                                            \
    "ldr r8, [r4, r6]\n\t"                                                                         \
    "ldr r9, [r4], #4\n\t"                                                                         \
    "sxtb16 r10, r8\n\t"                                                                           \
    "sxtb16 r8, r8, ror #8\n\t"                                                                    \
    "sxtb16 r11, r9\n\t"                                                                           \
    "sxtb16 r9, r9, ror #8\n\t"                                                                    \
    "ldrd r12, lr, [r5], #8\n\t"                                                                   \
    "smlad r0, r12, r11, r0\n\t"                                                                   \
    "smlad r0, lr, r9, r0\n\t"                                                                     \
    "smlad r2, r12, r10, r2\n\t"                                                                   \
    "smlad r2, lr, r8, r2\n\t"                                                                     \
    "ldrd r12, lr, [r5], #8\n\t"                                                                   \
    "smlad r1, r12, r11, r1\n\t"                                                                   \
    "smlad r1, lr, r9, r1\n\t"                                                                     \
    "smlad r3, r12, r10, r3\n\t"                                                                   \
    "smlad r3, lr, r8, r3\n\t"

/* 4 inputs of two int8 rows K bytes apart: 22 instructions per 16 MACs. */
#define SMELT_MM2_STEP                                                                             \
    "ldr r8, [r4, r6]\n\t"                                                                         \
    "ldr r9, [r4], #4\n\t"                                                                         \
    "sxtb16 r10, r8\n\t"                                                                           \
    "sxtb16 r8, r8, ror #8\n\t"                                                                    \
    "sxtb16 r11, r9\n\t"                                                                           \
    "sxtb16 r9, r9, ror #8\n\t"                                                                    \
    "ldr lr, [r5, r6]\n\t"                                                                         \
    "sxtb16 r12, lr\n\t"                                                                           \
    "sxtb16 lr, lr, ror #8\n\t"                                                                    \
    "smlad r1, r12, r11, r1\n\t"                                                                   \
    "smlad r1, lr, r9, r1\n\t"                                                                     \
    "smlad r3, r12, r10, r3\n\t"                                                                   \
    "smlad r3, lr, r8, r3\n\t"                                                                     \
    "ldr lr, [r5], #4\n\t"                                                                         \
    "sxtb16 r12, lr\n\t"                                                                           \
    "sxtb16 lr, lr, ror #8\n\t"                                                                    \
    "smlad r0, r12, r11, r0\n\t"                                                                   \
    "smlad r0, lr, r9, r0\n\t"                                                                     \
    "smlad r2, r12, r10, r2\n\t"                                                                   \
    "smlad r2, lr, r8, r2\n\t"

/* Widened inputs (smelt_dsp_widen2, 8-byte aligned), K % 8 == 0; a arrives in r0 (AAPCS). */
SMELT_KERNEL __attribute__((naked, noinline)) void smelt_dsp_mm2w_asm(smelt_dsp_mm_args *a __attribute__((unused)))
{
    SMELT_MM_ASM("lsrs r7, r6, #3\n\t2:\n\t" SMELT_MM2W_STEP SMELT_MM2W_STEP "subs r7, r7, #1\n\tbne 2b\n\t");
}

/* int8 rows, K % 4 == 0. */
SMELT_KERNEL __attribute__((naked, noinline)) void smelt_dsp_mm2_asm(smelt_dsp_mm_args *a __attribute__((unused)))
{
    SMELT_MM_ASM("lsrs r7, r6, #2\n\t2:\n\t" SMELT_MM2_STEP "subs r7, r7, #1\n\tbne 2b\n\t");
}

/* y0[c], y1[c] for every output channel c (out_c >= 2) by the asm blocks, from channel pairs
 * (0, 1), (2, 3), ... and for an odd out_c the pair (out_c - 2, out_c - 1): wide selects
 * smelt_dsp_mm2w_asm (x = widened words) over smelt_dsp_mm2_asm (x = int8 rows). */
SMELT_KERNEL __attribute__((noinline)) void smelt_dsp_mm2_blocks(const void *x, int K, const int8_t *w,
                                                                 const int32_t *bias, int8_t *y0, int8_t *y1,
                                                                 int wide, const smelt_qconv_params *p)
{
    const int OC = p->out_c;
    int c0 = 0, pairs = OC / 2;
    for (;;) {
        smelt_dsp_mm_args a;
        a.x = x;
        a.w = w + (long)c0 * K;
        a.bias = bias + c0;
        a.mult = p->multiplier + c0;
        a.shift = p->shift + c0;
        a.y0 = y0 + c0;
        a.dy = (int32_t)(y1 - y0);
        a.K = K;
        a.k = 2 * p->output_offset + 1;
        a.y0_end = a.y0 + 2 * pairs;
        if (wide) smelt_dsp_mm2w_asm(&a);
        else smelt_dsp_mm2_asm(&a);
        if (!(OC & 1) || c0) return;
        c0 = OC - 2;
        pairs = 1;
    }
}

/* n rows of run bytes (run % 4 == 0), row bytes apart, into col: a window's im2col inside the image
 * (a function of its own: inlined, gcc spilled the loop's few values). */
SMELT_KERNEL __attribute__((noinline)) void smelt_dsp_rows(const int8_t *xr, long row, int n, int run, int8_t *col)
{
    int i;
    for (; n > 0; --n, xr += row)
        for (i = 0; i < run; i += 4, col += 4) memcpy(col, xr + i, 4);
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

/* scratch (QConv2D.scratch): 2 K bytes of im2col; for a 1x1 stride-1 convolution without padding,
 * which reads x directly, none or (K % 8 == 0, K >= 16) 4 K bytes of widened inputs. */
SMELT_KERNEL __attribute__((noinline)) void smelt_qconv2d_i8_dsp(const int8_t *x, const int8_t *w,
                                                                 const int32_t *bias, int8_t *y, int8_t *cols,
                                                                 const smelt_qconv_params *p)
{
    const int K = p->k_h * p->k_w * p->in_c, P = p->out_h * p->out_w, OC = p->out_c;
    const int32_t *b0 = p->bias_full ? p->bias_full : bias;
    const int direct = p->k_h == 1 && p->k_w == 1 && p->stride_h == 1 && p->stride_w == 1 && !p->pad_top &&
                       !p->pad_left && p->out_h == p->in_h && p->out_w == p->in_w;   /* x is the im2col */
    const int plain = p->fast_rq && p->act_min == -128 && p->act_max == 127;
    /* im2col of windows inside the image, copied here when each kernel row is whole words */
    const int OW = p->out_w, run = p->k_w * p->in_c, words = p->dil_w == 1 && !(run & 3);
    const int last_y = p->in_h - 1 - p->dil_h * (p->k_h - 1), last_x = p->in_w - p->k_w;
    const long row = (long)p->dil_h * p->in_w * p->in_c;
    int b, pix;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *xb = x + (long)b * p->in_h * p->in_w * p->in_c;
        int8_t *yb = y + (long)b * P * OC;
        for (pix = 0; pix < P; pix += 2) {
            const int q = pix + 2 <= P ? pix : P - 2;
            const int8_t *r = xb + (long)q * K;
            if (direct && cols && plain) {
                int32_t *s = (int32_t *)(void *)cols;   /* the arena's 8-byte alignment */
                smelt_dsp_widen2(r, r + K, K, s);
                smelt_dsp_mm2_blocks(s, K, w, b0, yb + (long)q * OC, yb + (long)(q + 1) * OC, 1, p);
                continue;
            }
            if (cols && !direct) {
                int j;
                for (j = 0; j < 2; ++j) {
                    const int oy = (q + j) / OW, ox = q + j - oy * OW;
                    const int iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
                    int8_t *col = cols + j * K;
                    if (words && iy0 >= 0 && ix0 >= 0 && iy0 <= last_y && ix0 <= last_x) {
                        /* inside the image, rows of whole words: copy them */
                        smelt_dsp_rows(xb + ((long)iy0 * p->in_w + ix0) * p->in_c, row, p->k_h, run, col);
                    } else {
                        smelt_dsp_im2col(xb, oy, ox, col, p);
                    }
                }
                r = cols;
            }
            if (plain && !(K & 3)) smelt_dsp_mm2_blocks(r, K, w, b0, yb + (long)q * OC, yb + (long)(q + 1) * OC, 0, p);
            else smelt_dsp_mm2(r, K, w, b0, yb + (long)q * OC, yb + (long)(q + 1) * OC, p);
        }
    }
}
/* Depthwise, depth multiplier 1, C % 4 == 0: four channels per word; SXTB16 splits a word into
 * channels (0, 2) and (1, 3), SMLABB/SMLATT accumulate each channel on its own. Every window reads
 * a band of input rows padded with the zero point (smelt_qdepthwise_i8_dsp), so it sums all its
 * taps of x from bias_full. */
#define SMELT_DW_TAP(xp, wp)                                                                       \
    do {                                                                                           \
        const int32_t xv = smelt_ld32(xp), wv = smelt_ld32(wp);                                    \
        const int32_t xe = __sxtb16(xv), xo = smelt_sxtb16_ror8(xv);                               \
        const int32_t we = __sxtb16(wv), wo = smelt_sxtb16_ror8(wv);                               \
        a0 = __smlabb(xe, we, a0);                                                                 \
        a2 = __smlatt(xe, we, a2);                                                                 \
        a1 = __smlabb(xo, wo, a1);                                                                 \
        a3 = __smlatt(xo, wo, a3);                                                                 \
    } while (0)

/* The arguments of smelt_dsp_dw3x3 (offsets fixed: the asm reads them). */
typedef struct {
    const int8_t *x;        /* 0: first window's top-left input */
    const int8_t *w;        /* 4 */
    const int32_t *bias;    /* 8: bias_full */
    const int32_t *mult;    /* 12 */
    const int32_t *shift;   /* 16 */
    int8_t *y;              /* 20 */
    int32_t C, row, step;   /* 24, 28, 32: channels; bytes from one input row (window) to the next */
    int32_t n;              /* 36: output pixels */
    int32_t k;              /* 40: 2 * output_offset + 1 (smelt_dsp_round) */
} smelt_dsp_dw_args;

#define SMELT_DW3_TAP(X)                                                                           \
    "ldr r6, [r4" X "]\n\t"                                                                        \
    "ldr r7, [r5" X "]\n\t"                                                                        \
    "sxtb16 r8, r6\n\t"                                                                            \
    "sxtb16 r6, r6, ror #8\n\t"                                                                    \
    "sxtb16 r9, r7\n\t"                                                                            \
    "sxtb16 r7, r7, ror #8\n\t"                                                                    \
    "smlabb r0, r8, r9, r0\n\t"                                                                    \
    "smlatt r2, r8, r9, r2\n\t"                                                                    \
    "smlabb r1, r6, r7, r1\n\t"                                                                    \
    "smlatt r3, r6, r7, r3\n\t"
#define SMELT_DW3_ROW SMELT_DW3_TAP("") SMELT_DW3_TAP(", r10") SMELT_DW3_TAP(", r11")
#define SMELT_DW3_NEXT "add r4, r4, r12\n\tadd r5, r5, lr\n\t"
/* SMELT_MM_RQ with the multiplier, rounding term and exponent M, R, E of a channel (R is the temp). */
#define SMELT_DW3_RQ(A, M, R, E)                                                                   \
    "lsls " A ", " A ", #1\n\t"                                                                    \
    "smmlar " R ", " A ", " M ", " R "\n\t"                                                        \
    "add " A ", " R ", " A ", asr #31\n\t"                                                         \
    "asr " A ", " A ", " E "\n\t"                                                                  \
    "ssat " A ", #8, " A "\n\t"

/* Depthwise 3x3, dilation 1, fast requantization with int8's own clamp: n output pixels along a
 * row (windows inside x: smelt_qdepthwise_i8_dsp pads a band of rows), four channels at a time
 * and, for them, every pixel; all in asm (gcc spilled the C around the window's asm). Each group's
 * multipliers, rounding terms and exponents are set up once on the stack, then read with LDM.
 * Registers: r0-r3 accumulators, r4/r5 input/weight row, r6-r9 taps, r10 = C, r11 = 2C, r12 = the
 * input row stride, lr = 3C. Stack: [sp, 0..44] (M, R, E) of the group's 4 channels, 48 this
 * pixel's input, 52 its output, 56 pixels left, 60/64/68/72 the group's input/weights/output/bias,
 * 76 mult, 80 shift, 84 groups left, 88 step, 92 k, 96 n. a arrives in r0 (AAPCS). */
SMELT_KERNEL __attribute__((naked, noinline)) void smelt_dsp_dw3x3(const smelt_dsp_dw_args *a __attribute__((unused)))
{
    __asm__ volatile(
        "push {r4-r11, lr}\n\t"
        "sub sp, sp, #104\n\t"
        "ldr r10, [r0, #24]\n\t"
        "add r11, r10, r10\n\t"
        "add lr, r11, r10\n\t"
        "ldr r12, [r0, #28]\n\t"
        "ldr r1, [r0, #0]\n\t"
        "str r1, [sp, #60]\n\t"
        "ldr r1, [r0, #4]\n\t"
        "str r1, [sp, #64]\n\t"
        "ldr r1, [r0, #20]\n\t"
        "str r1, [sp, #68]\n\t"
        "ldr r1, [r0, #8]\n\t"
        "str r1, [sp, #72]\n\t"
        "ldr r1, [r0, #12]\n\t"
        "str r1, [sp, #76]\n\t"
        "ldr r1, [r0, #16]\n\t"
        "str r1, [sp, #80]\n\t"
        "ldr r1, [r0, #32]\n\t"
        "str r1, [sp, #88]\n\t"
        "ldr r1, [r0, #40]\n\t"
        "str r1, [sp, #92]\n\t"
        "ldr r1, [r0, #36]\n\t"
        "str r1, [sp, #96]\n\t"
        "lsrs r1, r10, #2\n\t"
        "str r1, [sp, #84]\n\t"
        "1:\n\t"   /* each group of four channels: (M, R = k << (e - 1), E = e) */
        "ldr r4, [sp, #76]\n\t"
        "ldm r4!, {r0-r3}\n\t"
        "str r4, [sp, #76]\n\t"
        "ldr r4, [sp, #80]\n\t"
        "ldm r4!, {r5-r8}\n\t"
        "str r4, [sp, #80]\n\t"
        "ldr r9, [sp, #92]\n\t"
        "str r0, [sp, #0]\n\t"
        "mvn r4, r5\n\t"
        "lsl r4, r9, r4\n\t"
        "str r4, [sp, #4]\n\t"
        "rsb r5, r5, #0\n\t"
        "str r5, [sp, #8]\n\t"
        "str r1, [sp, #12]\n\t"
        "mvn r4, r6\n\t"
        "lsl r4, r9, r4\n\t"
        "str r4, [sp, #16]\n\t"
        "rsb r6, r6, #0\n\t"
        "str r6, [sp, #20]\n\t"
        "str r2, [sp, #24]\n\t"
        "mvn r4, r7\n\t"
        "lsl r4, r9, r4\n\t"
        "str r4, [sp, #28]\n\t"
        "rsb r7, r7, #0\n\t"
        "str r7, [sp, #32]\n\t"
        "str r3, [sp, #36]\n\t"
        "mvn r4, r8\n\t"
        "lsl r4, r9, r4\n\t"
        "str r4, [sp, #40]\n\t"
        "rsb r8, r8, #0\n\t"
        "str r8, [sp, #44]\n\t"
        "ldr r4, [sp, #60]\n\t"
        "str r4, [sp, #48]\n\t"
        "ldr r4, [sp, #68]\n\t"
        "str r4, [sp, #52]\n\t"
        "ldr r4, [sp, #96]\n\t"
        "str r4, [sp, #56]\n\t"
        "2:\n\t"   /* each pixel */
        "ldr r4, [sp, #72]\n\t"
        "ldm r4, {r0-r3}\n\t"
        "ldr r4, [sp, #48]\n\t"
        "ldr r6, [sp, #88]\n\t"
        "add r6, r4, r6\n\t"
        "str r6, [sp, #48]\n\t"
        "ldr r5, [sp, #64]\n\t"
        SMELT_DW3_ROW SMELT_DW3_NEXT SMELT_DW3_ROW SMELT_DW3_NEXT SMELT_DW3_ROW
        "ldm sp, {r4-r9}\n\t"
        SMELT_DW3_RQ("r0", "r4", "r5", "r6") SMELT_DW3_RQ("r1", "r7", "r8", "r9")
        "add r9, sp, #24\n\t"
        "ldm r9, {r4-r9}\n\t"
        SMELT_DW3_RQ("r2", "r4", "r5", "r6") SMELT_DW3_RQ("r3", "r7", "r8", "r9")
        "bfi r0, r1, #8, #8\n\t"
        "bfi r0, r2, #16, #8\n\t"
        "bfi r0, r3, #24, #8\n\t"
        "ldr r4, [sp, #52]\n\t"
        "str r0, [r4]\n\t"
        "add r4, r4, r10\n\t"
        "str r4, [sp, #52]\n\t"
        "ldr r4, [sp, #56]\n\t"
        "subs r4, r4, #1\n\t"
        "str r4, [sp, #56]\n\t"
        "bne 2b\n\t"
        "ldr r4, [sp, #60]\n\t"
        "adds r4, r4, #4\n\t"
        "str r4, [sp, #60]\n\t"
        "ldr r4, [sp, #64]\n\t"
        "adds r4, r4, #4\n\t"
        "str r4, [sp, #64]\n\t"
        "ldr r4, [sp, #68]\n\t"
        "adds r4, r4, #4\n\t"
        "str r4, [sp, #68]\n\t"
        "ldr r4, [sp, #72]\n\t"
        "adds r4, r4, #16\n\t"
        "str r4, [sp, #72]\n\t"
        "ldr r4, [sp, #84]\n\t"
        "subs r4, r4, #1\n\t"
        "str r4, [sp, #84]\n\t"
        "bne 1b\n\t"
        "add sp, sp, #104\n\t"
        "pop {r4-r11, pc}\n\t");
}

/* n output pixels along a row of the band (rows `row` bytes apart), each summing k_h x k_w taps
 * from x0 (then x0 + step, ...), w and b0: 3x3 windows without dilation and with the fast
 * requantization run all in asm (smelt_dsp_dw3x3), the rest here. */
SMELT_KERNEL __attribute__((noinline)) void smelt_dsp_dw_run(const int8_t *x0, const int8_t *w0, const int32_t *b0,
                                                             int8_t *yp, int n, long row, const smelt_qconv_params *p)
{
    const int C = p->in_c, KH = p->k_h, KW = p->k_w;
    const long col = (long)C * p->dil_w, step = (long)C * p->stride_w;
    const smelt_dsp_rqp r = smelt_dsp_rqp_of(p);
    int i, c, ky, kx;
    if (KH == 3 && KW == 3 && col == C && r.fast && r.lo == -128 && r.hi == 127) {
        const smelt_dsp_dw_args a = {x0, w0, b0, r.m, r.s, yp, C, (int32_t)row, (int32_t)step, n, 2 * r.off + 1};
        smelt_dsp_dw3x3(&a);
        return;
    }
    for (i = 0; i < n; ++i, x0 += step, yp += C) {
        for (c = 0; c < C; c += 4) {
            int32_t a0 = b0[c], a1 = b0[c + 1], a2 = b0[c + 2], a3 = b0[c + 3];
            const int8_t *xr = x0 + c, *wr = w0 + c;
            for (ky = 0; ky < KH; ++ky, xr += row, wr += (long)KW * C)
                for (kx = 0; kx < KW; ++kx) SMELT_DW_TAP(xr + kx * col, wr + (long)kx * C);
            yp[c] = smelt_dsp_out1(a0, c, &r);
            yp[c + 1] = smelt_dsp_out1(a1, c + 1, &r);
            yp[c + 2] = smelt_dsp_out1(a2, c + 2, &r);
            yp[c + 3] = smelt_dsp_out1(a3, c + 3, &r);
        }
    }
}

/* band: k_h ((out_w - 1) stride_w + (k_w - 1) dil_w + 1) C bytes of scratch (QDepthwiseConv2D.
 * scratch). Each output row reads a copy of its k_h input rows padded with the zero point
 * (out-of-image taps then add 0 from bias_full), so that the whole row runs in one call. */
SMELT_KERNEL __attribute__((noinline)) void smelt_qdepthwise_i8_dsp(const int8_t *x, const int8_t *w,
                                                                    const int32_t *bias, int8_t *y, int8_t *band,
                                                                    const smelt_qconv_params *p)
{
    const int H = p->in_h, W = p->in_w, C = p->in_c, KH = p->k_h, OH = p->out_h, OW = p->out_w;
    const int BW = (OW - 1) * p->stride_w + (p->k_w - 1) * p->dil_w + 1, zp = -p->input_offset;
    const int lo = p->pad_left < BW ? p->pad_left : BW, mid = W < BW - lo ? W : BW - lo;
    const int32_t *bias_full = p->bias_full ? p->bias_full : bias;
    int b, oy, ky;
    for (b = 0; b < p->batches; ++b) {
        for (oy = 0; oy < OH; ++oy) {
            int8_t *br = band;
            for (ky = 0; ky < KH; ++ky, br += (long)BW * C) {
                const int iy = oy * p->stride_h - p->pad_top + ky * p->dil_h;
                if (iy < 0 || iy >= H) {
                    memset(br, zp, (size_t)BW * C);
                    continue;
                }
                memset(br, zp, (size_t)lo * C);
                memcpy(br + (long)lo * C, x + ((long)b * H + iy) * W * C, (size_t)mid * C);
                memset(br + (long)(lo + mid) * C, zp, (size_t)(BW - lo - mid) * C);
            }
            smelt_dsp_dw_run(band, w, bias_full, y + ((long)b * OH + oy) * OW * C, OW, (long)BW * C, p);
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
        /* acc is the band of padded rows (QDepthwiseConv2D.scratch makes it large enough) */
        smelt_qdepthwise_i8_dsp(x, w, bias, y, (int8_t *)(void *)acc, p);
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

/* The entries for layers the compiler knows the DSP kernels take (QConv2D.dsp_taken): no dispatch
 * test, so a DSP build does not link the portable kernels in. */
SMELT_KERNEL void smelt_qconv2d_i8_d(const int8_t *x, const int8_t *w, const int32_t *bias, int8_t *y,
                                     int8_t *scratch, const smelt_qconv_params *p)
{
#if SMELT_DSP
    smelt_qconv2d_i8_dsp(x, w, bias, y, scratch, p);
#else
    smelt_qconv2d_i8(x, w, bias, y, scratch, p);
#endif
}

SMELT_KERNEL void smelt_qdepthwise_i8_d(const int8_t *x, const int8_t *w, const int32_t *bias, int8_t *y,
                                        int32_t *acc, const smelt_qconv_params *p)
{
#if SMELT_DSP
    smelt_qdepthwise_i8_dsp(x, w, bias, y, (int8_t *)(void *)acc, p);
#else
    smelt_qdepthwise_i8(x, w, bias, y, acc, p);
#endif
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
