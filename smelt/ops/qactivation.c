/* Quantized activations on int16 inputs, bit-exact with TFLM (int8 inputs use qlut.c tables). */

typedef struct {
    int32_t input_zero_point, output_zero_point;
    int32_t multiplier, shift;           /* for x >= zero point */
    int32_t multiplier_neg, shift_neg;   /* for x < zero point (LEAKY_RELU's alpha) */
    int32_t act_min, act_max;
} smelt_qrescale_params;

/* RELU and LEAKY_RELU: requantize each side of the zero point by its own multiplier, clamp. */
SMELT_KERNEL void smelt_qrescale_i16(const int16_t *x, int16_t *y, long n, const smelt_qrescale_params *p)
{
    long i;
    for (i = 0; i < n; ++i) {
        const int32_t v = x[i] - p->input_zero_point;
        const int32_t r = v >= 0 ? smelt_mbqm(v, p->multiplier, p->shift)
                                 : smelt_mbqm(v, p->multiplier_neg, p->shift_neg);
        y[i] = (int16_t)smelt_clamp32(r + p->output_zero_point, p->act_min, p->act_max);
    }
}

/* RELU6: a clamp in the input's own quantization. */
SMELT_KERNEL void smelt_qclamp_i16(const int16_t *x, int16_t *y, long n, int32_t lo, int32_t hi)
{
    long i;
    for (i = 0; i < n; ++i) y[i] = (int16_t)smelt_clamp32(x[i], lo, hi);
}

typedef struct {
    int32_t multiplier, shift;   /* input rescaling: (x * multiplier + round) >> shift */
    const uint16_t *table;       /* sigmoid(i / 24) in Q0.16, 256 entries */
} smelt_qsigmoid16_params;

SMELT_KERNEL int32_t smelt_qsigmoid16_input(int16_t x, const smelt_qsigmoid16_params *p)
{
    const int32_t round = p->shift > 0 ? (int32_t)1 << (p->shift - 1) : 0;
    return (x * p->multiplier + round) >> p->shift;
}

/* LOGISTIC: the table at |x| / 2^9, linearly interpolated; negative inputs by 1 - sigmoid. */
SMELT_KERNEL void smelt_qlogistic_i16(const int16_t *x, int16_t *y, long n, const smelt_qsigmoid16_params *p)
{
    long i;
    for (i = 0; i < n; ++i) {
        const int32_t v = smelt_qsigmoid16_input(x[i], p);
        const uint32_t a = (uint32_t)(v < 0 ? -v : v), h = a >> 9;
        uint32_t r = 0x7FFFu << 10;
        if (h < 255) r = ((uint32_t)p->table[h] << 9) + (a & 0x1FFu) * (uint32_t)(p->table[h + 1] - p->table[h]);
        r = v >= 0 ? r + (1u << 9) : (1u << 25) - r + (1u << 9) - 1u;
        y[i] = (int16_t)(r >> 10);
    }
}

/* TANH = 2 sigmoid(2x) - 1: the same table at |x| / 2^8. */
SMELT_KERNEL void smelt_qtanh_i16(const int16_t *x, int16_t *y, long n, const smelt_qsigmoid16_params *p)
{
    long i;
    for (i = 0; i < n; ++i) {
        const int32_t v = smelt_qsigmoid16_input(x[i], p);
        const uint32_t a = (uint32_t)(v < 0 ? -v : v), h = a >> 8;
        int32_t r = 0xFFFF << 8;
        if (h < 255) r = (int32_t)(((uint32_t)p->table[h] << 8) + (a & 0xFFu) * (uint32_t)(p->table[h + 1] - p->table[h]));
        r = v >= 0 ? r - (1 << 23) + (1 << 7) : -r + (1 << 23) + (1 << 7) - 1;
        y[i] = (int16_t)(r >> 8);
    }
}
