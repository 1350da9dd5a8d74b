/* Quantized ADD, SUB and MUL with broadcasting (up to 6 dimensions), bit-exact with TFLM. */

enum { SMELT_QADD = 0, SMELT_QSUB = 1, SMELT_QMUL = 2 };

typedef struct {
    int op;
    long size;
    int broadcast;                    /* 0: both inputs have the output's shape */
    int rank;
    long dims[6], a_strides[6], b_strides[6];
    int32_t a_offset, b_offset, out_offset;
    int left_shift;                   /* ADD/SUB: 20 (int8) or 15 (int16) bits of headroom */
    int32_t a_multiplier, a_shift, b_multiplier, b_shift, out_multiplier, out_shift;
    int32_t act_min, act_max;
} smelt_qbinary_params;

SMELT_KERNEL int32_t smelt_qbinary_one(int32_t a, int32_t b, const smelt_qbinary_params *p)
{
    int32_t raw;
    a += p->a_offset;
    b += p->b_offset;
    if (p->op == SMELT_QMUL) {
        raw = smelt_mbqm(a * b, p->out_multiplier, p->out_shift);
    } else {
        const int32_t sa = smelt_mbqm(smelt_shl32(a, p->left_shift), p->a_multiplier, p->a_shift);
        const int32_t sb = smelt_mbqm(smelt_shl32(b, p->left_shift), p->b_multiplier, p->b_shift);
        raw = smelt_mbqm(p->op == SMELT_QADD ? sa + sb : sa - sb, p->out_multiplier, p->out_shift);
    }
    return smelt_clamp32(raw + p->out_offset, p->act_min, p->act_max);
}

#define SMELT_QBINARY(NAME, T)                                                                      \
SMELT_KERNEL void NAME(const T *a, const T *b, T *y, const smelt_qbinary_params *p)                \
{                                                                                                   \
    long i, ia = 0, ib = 0, idx[6] = {0, 0, 0, 0, 0, 0};                                            \
    int d;                                                                                          \
    if (!p->broadcast) {                                                                            \
        for (i = 0; i < p->size; ++i) y[i] = (T)smelt_qbinary_one(a[i], b[i], p);                   \
        return;                                                                                     \
    }                                                                                               \
    for (i = 0; i < p->size; ++i) {                                                                 \
        y[i] = (T)smelt_qbinary_one(a[ia], b[ib], p);                                               \
        /* Step the output index like an odometer, moving each input along its strides. */          \
        for (d = p->rank - 1; d >= 0; --d) {                                                        \
            ia += p->a_strides[d];                                                                  \
            ib += p->b_strides[d];                                                                  \
            if (++idx[d] < p->dims[d]) break;                                                       \
            ia -= p->a_strides[d] * p->dims[d];                                                     \
            ib -= p->b_strides[d] * p->dims[d];                                                     \
            idx[d] = 0;                                                                             \
        }                                                                                           \
    }                                                                                               \
}

SMELT_QBINARY(smelt_qbinary_i8, int8_t)
SMELT_QBINARY(smelt_qbinary_i16, int16_t)
