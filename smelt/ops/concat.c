/* Block copy for any element type: one input of a Concat into its place in the output, or one
 * output of a Split out of the input. */

/* count blocks of `bytes` bytes; consecutive blocks are dst_step / src_step bytes apart. */
SMELT_KERNEL void smelt_copy_blocks(void *dst, const void *src, long count, long bytes,
                                    long dst_step, long src_step)
{
    uint8_t *d = (uint8_t *)dst;
    const uint8_t *s = (const uint8_t *)src;
    long i;
    for (i = 0; i < count; ++i, d += dst_step, s += src_step) memcpy(d, s, (size_t)bytes);
}
