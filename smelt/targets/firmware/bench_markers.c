/* The markers bench_begin()/bench_end(): out-of-line, never inlined or merged, so that their entry
 * addresses (from the ELF symbol table) delimit the inference for the instruction counter. */
#include "smelt_io.h"

__attribute__((noinline, used)) void bench_begin(void)
{
    __asm__ volatile("" ::: "memory");
}

__attribute__((noinline, used)) void bench_end(void)
{
    __asm__ volatile("" ::: "memory");
}
