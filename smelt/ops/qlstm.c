/* Quantized LSTM (TFLite UNIDIRECTIONAL_SEQUENCE_LSTM, int8 activations, int16 cell state),
 * bit-exact with TFLM's integer kernel. Uses qactivation.c's int16 sigmoid and tanh. */

typedef struct {
    const int8_t *w_in, *w_rec;         /* [S, I], [S, S] */
    const int32_t *bias_in, *bias_rec;  /* biases with the input / hidden zero points folded in */
    int32_t mult_in, shift_in, mult_rec, shift_rec;   /* to Q3.12 */
} smelt_qlstm_gate;

typedef struct {
    int batches, steps, input_size, state_size, time_major;
    int cell_tanh;                      /* cell gate: tanh (else sigmoid) */
    smelt_qlstm_gate forget, input, cell, output;
    int32_t forget_mult, forget_shift;  /* f * c -> cell scale */
    int32_t input_mult, input_shift;    /* i * g -> cell scale */
    int32_t output_mult, output_shift;  /* o * tanh(c) -> hidden scale */
    int32_t hidden_zero_point;
    int32_t cell_clip;                  /* 0: no clipping */
    smelt_qsigmoid16_params tanh_cell;  /* tanh of the cell state (its scale's rescaling) */
    smelt_qsigmoid16_params gate_act;   /* sigmoid / tanh of Q3.12 gate sums */
} smelt_qlstm_params;

SMELT_KERNEL int16_t smelt_qlstm_sat16(int32_t v)
{
    return (int16_t)smelt_clamp32(v, -32768, 32767);
}

/* out = act(requant(W_in x + b_in) + requant(W_rec h + b_rec)) in Q0.15. */
SMELT_KERNEL void smelt_qlstm_gate_out(const smelt_qlstm_gate *gt, const int8_t *x, const int8_t *h,
                                       int16_t *out, int act_tanh, const smelt_qlstm_params *p)
{
    const int I = p->input_size, S = p->state_size;
    int s, k;
    for (s = 0; s < S; ++s) {
        int32_t ai = gt->bias_in[s], ar = gt->bias_rec[s];
        const int8_t *wi = gt->w_in + (long)s * I, *wr = gt->w_rec + (long)s * S;
        for (k = 0; k < I; ++k) ai += wi[k] * x[k];
        for (k = 0; k < S; ++k) ar += wr[k] * h[k];
        out[s] = smelt_qlstm_sat16(smelt_qlstm_sat16(smelt_mbqm(ai, gt->mult_in, gt->shift_in)) +
                                   smelt_qlstm_sat16(smelt_mbqm(ar, gt->mult_rec, gt->shift_rec)));
    }
    if (act_tanh) smelt_qtanh_i16(out, out, S, &p->gate_act);
    else smelt_qlogistic_i16(out, out, S, &p->gate_act);
}

/* One time step of one batch row: h (int8) and c (int16) are updated in place. */
SMELT_KERNEL void smelt_qlstm_step(const int8_t *x, int8_t *h, int16_t *c, int16_t *buf,
                                   const smelt_qlstm_params *p)
{
    const int S = p->state_size;
    int16_t *f = buf, *i = buf + S, *g = buf + 2 * S, *o = buf + 3 * S;
    int s;
    smelt_qlstm_gate_out(&p->forget, x, h, f, 0, p);
    smelt_qlstm_gate_out(&p->input, x, h, i, 0, p);
    smelt_qlstm_gate_out(&p->cell, x, h, g, p->cell_tanh, p);
    smelt_qlstm_gate_out(&p->output, x, h, o, 0, p);   /* from the previous h: read before h changes */
    for (s = 0; s < S; ++s) {
        int16_t cs = smelt_qlstm_sat16(smelt_mbqm(f[s] * c[s], p->forget_mult, p->forget_shift));
        cs = smelt_qlstm_sat16(cs + smelt_qlstm_sat16(smelt_mbqm(i[s] * g[s], p->input_mult, p->input_shift)));
        if (p->cell_clip) cs = (int16_t)smelt_clamp32(cs, -p->cell_clip, p->cell_clip);
        c[s] = cs;
    }
    smelt_qtanh_i16(c, f, S, &p->tanh_cell);   /* f: tanh(c) */
    for (s = 0; s < S; ++s)
        h[s] = (int8_t)smelt_clamp32(p->hidden_zero_point + smelt_mbqm(f[s] * o[s], p->output_mult, p->output_shift),
                                     -128, 127);
}

SMELT_KERNEL void smelt_qlstm_i8(const int8_t *x, int8_t *y, int8_t *hidden, int16_t *cell, int16_t *buf,
                                 const smelt_qlstm_params *p)
{
    const int B = p->batches, T = p->steps, I = p->input_size, S = p->state_size;
    int b, t;
    for (b = 0; b < B; ++b) {
        for (t = 0; t < T; ++t) {
            /* x and y are [B, T, .], or [T, B, .] when time major. */
            const long row = p->time_major ? (long)t * B + b : (long)b * T + t;
            smelt_qlstm_step(x + row * I, hidden + (long)b * S, cell + (long)b * S, buf, p);
            memcpy(y + row * S, hidden + (long)b * S, (size_t)S);
        }
    }
}
