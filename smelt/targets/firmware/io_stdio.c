/* smelt bench I/O over the C library's stdio: the host, and RISC-V (picolibc, whose stdout and
 * exit() go through semihosting). */
#include <stdio.h>
#include <stdlib.h>

#include "smelt_io.h"

void smelt_io_write(const char *s)
{
    fputs(s, stdout);
}

void smelt_io_exit(int status)
{
    fflush(stdout);
    exit(status);
}

int main(void)
{
    smelt_io_exit(smelt_bench_main());
    return 0;
}
