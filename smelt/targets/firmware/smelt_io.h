/* smelt bench firmware: the two services a bench program needs from its platform. */
#ifndef SMELT_IO_H
#define SMELT_IO_H

/* Write a NUL-terminated string to the host (semihosting console, stdout or JS). */
void smelt_io_write(const char *s);

/* End the program with `status` as the emulator's (or process's) exit code. Never returns. */
void smelt_io_exit(int status);

/* The bench program (harness.c): runs the model once and prints its outputs; returns 0 on success. */
int smelt_bench_main(void);

/* Empty marker functions around the inference: the instruction counter counts between them. */
void bench_begin(void);
void bench_end(void);

#endif
