/*
 * insn_count: a QEMU TCG plugin counting guest instructions between marker
 * system calls.
 *
 * The guest marks a region by calling syscall(SYSNO, op, region): op 1
 * begins the region, op 2 ends it (emoedge.bench_markers issues these; on
 * a real kernel the number is unassigned and the call returns ENOSYS). The
 * plugin adds the guest instructions executed between a begin and the next
 * end of the same region to that region's total, so a region measured many
 * times accumulates. At exit it writes one line per region that was used:
 *
 *     region <id> <completed begin/end pairs> <instructions>
 *
 * plus "total <instructions of the whole run>" and "sysno <SYSNO>", to the
 * file named by the plugin argument out=PATH (stderr when absent).
 *
 * Counting: every translated block adds its instruction count to one
 * counter when it starts executing (an inline add, no callback), so counts
 * are exact for the instructions QEMU executes, and repeat run to run for a
 * single-threaded guest. With several guest threads the shared counter is
 * updated without atomics and the interleaving differs run to run: count
 * with one thread.
 *
 * Build:  gcc -O2 -shared -fPIC -I<dir holding qemu-plugin.h> \
 *             -o libinsn_count.so insn_count.c
 * Run:    qemu-aarch64 -plugin ./libinsn_count.so,out=counts.txt,sysno=N ...
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qemu-plugin.h>

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

#define MAX_REGIONS 64
#define OP_BEGIN 1
#define OP_END 2

static uint64_t executed;              /* guest instructions so far */
static int64_t marker_sysno = 0x454D4F; /* overridden by sysno=N */
static uint64_t started[MAX_REGIONS];
static uint64_t totals[MAX_REGIONS];
static uint64_t pairs[MAX_REGIONS];
static int open_region[MAX_REGIONS];
static uint64_t unmatched_ends;
static char out_path[4096];

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &executed,
                                             qemu_plugin_tb_n_insns(tb));
}

static void on_syscall(qemu_plugin_id_t id, unsigned int vcpu, int64_t num, uint64_t a1,
                       uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6,
                       uint64_t a7, uint64_t a8)
{
    (void)id; (void)vcpu; (void)a3; (void)a4; (void)a5; (void)a6; (void)a7; (void)a8;
    if (num != marker_sysno || a2 >= MAX_REGIONS) {
        return;
    }
    if (a1 == OP_BEGIN) {
        started[a2] = executed;
        open_region[a2] = 1;
    } else if (a1 == OP_END) {
        if (!open_region[a2]) {
            unmatched_ends++;
            return;
        }
        totals[a2] += executed - started[a2];
        pairs[a2]++;
        open_region[a2] = 0;
    }
}

static void on_finish(qemu_plugin_id_t id, void *userdata)
{
    (void)id; (void)userdata;
    FILE *out = out_path[0] ? fopen(out_path, "w") : NULL;
    FILE *dest = out ? out : stderr;
    fprintf(dest, "sysno %" PRId64 "\n", marker_sysno);
    fprintf(dest, "total %" PRIu64 "\n", executed);
    for (int i = 0; i < MAX_REGIONS; i++) {
        if (pairs[i]) {
            fprintf(dest, "region %d %" PRIu64 " %" PRIu64 "\n", i, pairs[i], totals[i]);
        }
    }
    if (unmatched_ends) {
        fprintf(dest, "unmatched_ends %" PRIu64 "\n", unmatched_ends);
    }
    if (out) {
        fclose(out);
    }
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
                                           int argc, char **argv)
{
    (void)info;
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "out=", 4) == 0) {
            snprintf(out_path, sizeof out_path, "%s", argv[i] + 4);
        } else if (strncmp(argv[i], "sysno=", 6) == 0) {
            marker_sysno = strtoll(argv[i] + 6, NULL, 0);
        } else {
            fprintf(stderr, "insn_count: unknown argument %s\n", argv[i]);
            return -1;
        }
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_vcpu_syscall_cb(id, on_syscall);
    qemu_plugin_register_atexit_cb(id, on_finish, NULL);
    return 0;
}
