/* smelt: a QEMU TCG plugin that counts the guest instructions executed between two marker
 * functions, exactly and deterministically.
 *
 *   qemu-system-arm ... -plugin insn_count.so,begin=0x1234,end=0x1240,out=/path/counts.txt
 *
 * Counting starts after the translation block that begins at `begin` (the entry of bench_begin)
 * and stops at the block that begins at `end` (the entry of bench_end); each begin/end pair
 * appends one line with its count to `out`. A called function's entry always starts a block.
 *
 * Debian's QEMU 7.2 is built with plugin support but ships no qemu-plugin.h, so the few
 * functions of plugin API version 1 used here are declared below (from the documented API).
 * Build: gcc -O2 -shared -fPIC insn_count.c -o insn_count.so (QEMU resolves the symbols). */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- QEMU plugin API, version 1 (the subset used) ---- */
typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t;
struct qemu_plugin_tb;

enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };

typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb, qemu_plugin_vcpu_udata_cb_t cb,
                                          enum qemu_plugin_cb_flags flags, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;
__attribute__((visibility("default")))
int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv);
/* ---- end of the API declarations ---- */

/* A block's user data: its instruction count, shifted, with its role in the low two bits. */
enum { ROLE_PLAIN = 0, ROLE_BEGIN = 1, ROLE_END = 2 };

static uint64_t begin_addr, end_addr;
static FILE *out;
static int counting;
static uint64_t count;

static void on_exec(unsigned int vcpu_index, void *userdata)
{
    uintptr_t data = (uintptr_t)userdata;
    (void)vcpu_index;

    switch (data & 3) {
    case ROLE_BEGIN:
        counting = 1;
        count = 0;
        break;
    case ROLE_END:
        if (counting) {
            fprintf(out, "%" PRIu64 "\n", count);
            fflush(out);
        }
        counting = 0;
        break;
    default:
        if (counting)
            count += data >> 2;
    }
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    uint64_t pc = qemu_plugin_tb_vaddr(tb);
    uintptr_t role = pc == begin_addr ? ROLE_BEGIN : pc == end_addr ? ROLE_END : ROLE_PLAIN;
    (void)id;

    qemu_plugin_register_vcpu_tb_exec_cb(tb, on_exec, QEMU_PLUGIN_CB_NO_REGS,
                                         (void *)((uintptr_t)qemu_plugin_tb_n_insns(tb) << 2 | role));
}

static void on_atexit(qemu_plugin_id_t id, void *userdata)
{
    (void)id;
    (void)userdata;
    fclose(out);
}

int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    const char *path = NULL;
    int i;
    (void)info;

    for (i = 0; i < argc; ++i) {
        if (strncmp(argv[i], "begin=", 6) == 0)
            begin_addr = strtoull(argv[i] + 6, NULL, 0);
        else if (strncmp(argv[i], "end=", 4) == 0)
            end_addr = strtoull(argv[i] + 4, NULL, 0);
        else if (strncmp(argv[i], "out=", 4) == 0)
            path = argv[i] + 4;
    }
    if (!path || !begin_addr || !end_addr) {
        fprintf(stderr, "insn_count: needs begin=ADDR,end=ADDR,out=FILE\n");
        return -1;
    }
    out = fopen(path, "w");
    if (!out) {
        perror(path);
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, on_atexit, NULL);
    return 0;
}
