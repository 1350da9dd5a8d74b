/* smelt bench program: runs the model once on the inputs embedded by smelt (bench_data.h) and
 * prints every output as one line "smelt-out <index> <hex bytes>", then the model's return code.
 *
 * bench_data.h (generated) defines SMELT_NUM_OUTPUTS, SMELT_RUN() (the model call on the embedded
 * inputs and the output buffers) and smelt_outputs[] (each output's bytes and size). */
#include "bench_data.h"
#include "smelt_io.h"

static void write_hex_line(int index, const uint8_t *bytes, unsigned long n)
{
    static const char digits[] = "0123456789abcdef";
    char buf[2 * 32 + 1];
    char num[12];
    unsigned long i = 0;
    int k = (int)sizeof num - 1;

    num[k] = '\0';
    do {
        num[--k] = (char)('0' + index % 10);
        index /= 10;
    } while (index > 0 && k > 1);
    num[--k] = ' ';
    smelt_io_write("smelt-out");
    smelt_io_write(num + k);
    smelt_io_write(" ");
    while (i < n) {
        unsigned j = 0;
        for (; j < 32 && i < n; ++j, ++i) {
            buf[2 * j] = digits[bytes[i] >> 4];
            buf[2 * j + 1] = digits[bytes[i] & 15];
        }
        buf[2 * j] = '\0';
        smelt_io_write(buf);
    }
    smelt_io_write("\n");
}

int smelt_bench_main(void)
{
    int rc, i;

    bench_begin();
    rc = SMELT_RUN();
    bench_end();
    for (i = 0; i < SMELT_NUM_OUTPUTS; ++i)
        write_hex_line(i, smelt_outputs[i].bytes, smelt_outputs[i].size);
    smelt_io_write(rc == 0 ? "smelt-done\n" : "smelt-model-error\n");
    return rc == 0 ? 0 : 2;
}
