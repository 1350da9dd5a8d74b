/* smelt wasm32 build: the string.h subset the kernels use. With -mbulk-memory clang turns these
 * builtins into memory.copy / memory.fill instructions; nothing is imported. */
#ifndef SMELT_WASM_STRING_H
#define SMELT_WASM_STRING_H

#include <stddef.h>

void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);

#endif
