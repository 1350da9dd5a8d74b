/* One-layer LSTM and GRU, float32: forward, reverse or bidirectional, layout 0 or 1.
 *
 * Each time step projects X_t and H_{t-1} on the stacked gate weights with gemm.c's dot-product
 * kernel (W and R are [gates * hidden, k], rows of k), then combines the gates elementwise.
 * Scratch holds the two projections, the running state and the summed biases. */

#ifdef SMELT_FLOAT

/* RNN activations beyond smelt_act's kinds (the numbers are mirrored in ops/rnn.py). */
enum {
    SMELT_RNN_AFFINE = 32, SMELT_RNN_THRESHOLDED_RELU, SMELT_RNN_SCALED_TANH, SMELT_RNN_SOFTSIGN,
    SMELT_RNN_SOFTPLUS
};

typedef struct {
    long seq, batch, input, hidden;
    int directions;           /* 1, or 2 (the second runs backwards) */
    int reverse;              /* the single direction runs backwards */
    int input_forget;         /* LSTM: f = 1 - i */
    int linear_before_reset;  /* GRU */
    float clip;               /* gate inputs are clamped to [-clip, clip] */
    long x_ts, x_bs;          /* X[t][b] starts at t * x_ts + b * x_bs */
    long y_ts, y_ds, y_bs;    /* Y[t][d][b] starts at t * y_ts + d * y_ds + b * y_bs */
    long h_ds, h_bs;          /* initial_h, initial_c, Y_h, Y_c: [d][b] at d * h_ds + b * h_bs */
    smelt_act act[6];         /* per direction: f, g, h (LSTM) or f, g (GRU) */
} smelt_rnn_params;

/* tanh with one expf (absolute error < 2e-7): much cheaper than glibc's tanhf. */
static inline float smelt_rnn_tanh_f32(float x)
{
    return 1.0f - 2.0f / (1.0f + expf(2.0f * x));
}

static inline float smelt_rnn_act_f32(float x, const smelt_act *a)
{
    switch (a->kind) {
    case SMELT_ACT_TANH: return smelt_rnn_tanh_f32(x);
    case SMELT_RNN_AFFINE: return a->alpha * x + a->beta;
    case SMELT_RNN_THRESHOLDED_RELU: return x > a->alpha ? x : 0.0f;
    case SMELT_RNN_SCALED_TANH: return a->alpha * smelt_rnn_tanh_f32(a->beta * x);
    case SMELT_RNN_SOFTSIGN: return x / (1.0f + fabsf(x));
    case SMELT_RNN_SOFTPLUS: return logf(1.0f + expf(x));
    default: return smelt_act_f32(x, a);
    }
}

/* A gate: its input clamped to [-clip, clip], then activated. */
static inline float smelt_rnn_gate_f32(float x, float clip, const smelt_act *a)
{
    return smelt_rnn_act_f32(x < -clip ? -clip : (x > clip ? clip : x), a);
}

/* dst[b][0..h) = src[b * src_rs ..] for b < rows; zeros when src is NULL. */
static void smelt_rnn_rows_f32(float *dst, long dst_rs, const float *src, long src_rs, long rows, long h)
{
    long b;
    for (b = 0; b < rows; ++b) {
        if (src)
            memcpy(dst + b * dst_rs, src + b * src_rs, (size_t)h * sizeof(float));
        else
            memset(dst + b * dst_rs, 0, (size_t)h * sizeof(float));
    }
}

/* bias[i] = Wb[i] + Rb[i] for i < n (b = [Wb, Rb], or NULL: zeros). */
static void smelt_rnn_bias_f32(const float *b, long n, float *bias)
{
    long i;
    for (i = 0; i < n; ++i) bias[i] = b ? b[i] + b[n + i] : 0.0f;
}

/* Gate order in W, R and B: i, o, f, c. P (peepholes): i, o, f. */
SMELT_KERNEL void smelt_lstm_f32(const float *x, const float *w, const float *r, const float *b,
                                 const float *h0, const float *c0, const float *peep, float *y,
                                 float *yh, float *yc, float *scratch, const smelt_rnn_params *p)
{
    const long n = p->batch, hs = p->hidden, g4 = 4 * hs;
    const float clip = p->clip;
    float *gx = scratch, *gh = gx + n * g4, *h = gh + n * g4, *c = h + n * hs, *bias = c + n * hs;
    long d, s, bi, j;
    for (d = 0; d < p->directions; ++d) {
        const float *wd = w + d * g4 * p->input, *rd = r + d * g4 * hs;
        const float *pd = peep ? peep + d * 3 * hs : NULL;
        const smelt_act *act = p->act + 3 * d;
        const int backward = d == 1 || p->reverse;
        smelt_rnn_bias_f32(b ? b + d * 2 * g4 : NULL, g4, bias);
        smelt_rnn_rows_f32(h, hs, h0 ? h0 + d * p->h_ds : NULL, p->h_bs, n, hs);
        smelt_rnn_rows_f32(c, hs, c0 ? c0 + d * p->h_ds : NULL, p->h_bs, n, hs);
        for (s = 0; s < p->seq; ++s) {
            const long t = backward ? p->seq - 1 - s : s;
            smelt_mm_nt_f32(n, g4, p->input, x + t * p->x_ts, p->x_bs, wd, gx, g4);
            smelt_mm_nt_f32(n, g4, hs, h, hs, rd, gh, g4);
            for (bi = 0; bi < n; ++bi) {
                const float *gxb = gx + bi * g4, *ghb = gh + bi * g4;
                float *hb = h + bi * hs, *cb = c + bi * hs;
                for (j = 0; j < hs; ++j) {
                    const float cp = cb[j];
                    float gi = gxb[j] + ghb[j] + bias[j];
                    float go = gxb[hs + j] + ghb[hs + j] + bias[hs + j];
                    float gf = gxb[2 * hs + j] + ghb[2 * hs + j] + bias[2 * hs + j];
                    const float gc = gxb[3 * hs + j] + ghb[3 * hs + j] + bias[3 * hs + j];
                    float ig, fg, cn;
                    if (pd) {
                        gi += pd[j] * cp;
                        gf += pd[2 * hs + j] * cp;
                    }
                    ig = smelt_rnn_gate_f32(gi, clip, &act[0]);
                    fg = p->input_forget ? 1.0f - ig : smelt_rnn_gate_f32(gf, clip, &act[0]);
                    cn = fg * cp + ig * smelt_rnn_gate_f32(gc, clip, &act[1]);
                    if (pd) go += pd[hs + j] * cn;
                    cb[j] = cn;
                    hb[j] = smelt_rnn_gate_f32(go, clip, &act[0]) * smelt_rnn_act_f32(cn, &act[2]);
                }
            }
            if (y) smelt_rnn_rows_f32(y + t * p->y_ts + d * p->y_ds, p->y_bs, h, hs, n, hs);
        }
        if (yh) smelt_rnn_rows_f32(yh + d * p->h_ds, p->h_bs, h, hs, n, hs);
        if (yc) smelt_rnn_rows_f32(yc + d * p->h_ds, p->h_bs, c, hs, n, hs);
    }
}

/* Gate order in W, R and B: z, r, h. */
SMELT_KERNEL void smelt_gru_f32(const float *x, const float *w, const float *r, const float *b,
                                const float *h0, float *y, float *yh, float *scratch,
                                const smelt_rnn_params *p)
{
    const long n = p->batch, hs = p->hidden, g3 = 3 * hs;
    const float clip = p->clip;
    const int lbr = p->linear_before_reset;
    float *gx = scratch, *gh = gx + n * g3, *h = gh + n * g3, *rh = h + n * hs, *bias = rh + n * hs;
    const float *rbh = bias + g3;
    long d, s, bi, j;
    for (d = 0; d < p->directions; ++d) {
        const float *wd = w + d * g3 * p->input, *rd = r + d * g3 * hs;
        const float *bd = b ? b + d * 2 * g3 : NULL;
        const smelt_act *act = p->act + 2 * d;
        const int backward = d == 1 || p->reverse;
        /* bias: Wb + Rb per gate, then Rbh alone; with linear_before_reset, Rbh goes inside
         * r * (...), so the h gate's own bias is Wbh alone. */
        smelt_rnn_bias_f32(bd, g3, bias);
        for (j = 0; j < hs; ++j) {
            bias[g3 + j] = bd ? bd[g3 + 2 * hs + j] : 0.0f;
            if (lbr && bd) bias[2 * hs + j] = bd[2 * hs + j];
        }
        smelt_rnn_rows_f32(h, hs, h0 ? h0 + d * p->h_ds : NULL, p->h_bs, n, hs);
        for (s = 0; s < p->seq; ++s) {
            const long t = backward ? p->seq - 1 - s : s;
            smelt_mm_nt_f32(n, g3, p->input, x + t * p->x_ts, p->x_bs, wd, gx, g3);
            smelt_mm_nt_f32(n, lbr ? g3 : 2 * hs, hs, h, hs, rd, gh, g3);
            /* z (kept in gx's z slot), r, and what the h gate's recurrent term needs from r. */
            for (bi = 0; bi < n; ++bi) {
                float *gxb = gx + bi * g3, *ghb = gh + bi * g3;
                const float *hb = h + bi * hs;
                float *rhb = rh + bi * hs;
                for (j = 0; j < hs; ++j) {
                    const float rg = smelt_rnn_gate_f32(gxb[hs + j] + ghb[hs + j] + bias[hs + j], clip,
                                                        &act[0]);
                    gxb[j] = smelt_rnn_gate_f32(gxb[j] + ghb[j] + bias[j], clip, &act[0]);
                    if (lbr)
                        ghb[2 * hs + j] = rg * (ghb[2 * hs + j] + rbh[j]);
                    else
                        rhb[j] = rg * hb[j];
                }
            }
            if (!lbr) smelt_mm_nt_f32(n, hs, hs, rh, hs, rd + 2 * hs * hs, gh + 2 * hs, g3);
            for (bi = 0; bi < n; ++bi) {
                const float *gxb = gx + bi * g3, *ghb = gh + bi * g3;
                float *hb = h + bi * hs;
                for (j = 0; j < hs; ++j) {
                    const float hh = smelt_rnn_gate_f32(gxb[2 * hs + j] + ghb[2 * hs + j] + bias[2 * hs + j],
                                                        clip, &act[1]);
                    hb[j] = (1.0f - gxb[j]) * hh + gxb[j] * hb[j];
                }
            }
            if (y) smelt_rnn_rows_f32(y + t * p->y_ts + d * p->y_ds, p->y_bs, h, hs, n, hs);
        }
        if (yh) smelt_rnn_rows_f32(yh + d * p->h_ds, p->h_bs, h, hs, n, hs);
    }
}
#endif
