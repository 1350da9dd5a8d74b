/* smelt bench I/O for Cortex-M: ARM semihosting (bkpt 0xAB), served by QEMU. */
#include <stdint.h>

#include "smelt_io.h"

enum { SYS_WRITE0 = 0x04, SYS_EXIT_EXTENDED = 0x20 };
enum { ADP_STOPPED_APPLICATION_EXIT = 0x20026 };

static int semihost(int op, const void *arg)
{
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;

    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void smelt_io_write(const char *s)
{
    semihost(SYS_WRITE0, s);
}

void smelt_io_exit(int status)
{
    uint32_t block[2];

    block[0] = ADP_STOPPED_APPLICATION_EXIT;
    block[1] = (uint32_t)status;
    semihost(SYS_EXIT_EXTENDED, block);
    for (;;) {
    }
}
