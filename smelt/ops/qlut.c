/* Table lookup for elementwise ops on 8-bit inputs: y = table[x + 128] (int8) or table[x] (uint8).
 * The table is the op's numpy reference evaluated at compile time on all 256 inputs, so the
 * kernel is bit-exact with it by construction. */

#define SMELT_QLUT(NAME, TI, TO, OFFSET)                                                            \
SMELT_KERNEL void NAME(const TI *x, TO *y, long n, const TO *table)                                \
{                                                                                                   \
    long i;                                                                                         \
    for (i = 0; i < n; ++i) y[i] = table[x[i] + OFFSET];                                            \
}

SMELT_QLUT(smelt_qlut_i8_i8, int8_t, int8_t, 128)
SMELT_QLUT(smelt_qlut_i8_u8, int8_t, uint8_t, 128)
SMELT_QLUT(smelt_qlut_i8_i16, int8_t, int16_t, 128)
SMELT_QLUT(smelt_qlut_i8_i32, int8_t, int32_t, 128)
SMELT_QLUT(smelt_qlut_u8_i8, uint8_t, int8_t, 0)
