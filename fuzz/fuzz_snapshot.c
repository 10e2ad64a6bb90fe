/*
 * fuzz_snapshot.c - restoring mutated snapshots. The input is a flags byte (bit 0: fix the
 * header's payload length and checksum up) and a snapshot; it is walked with
 * ud_snapshot_foreach and restored into a recursive dict, which is then used.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "hash.h"

#define SNAP_HDR 48
#define SNAP_SEED 0x55445348ull /* snapshot.c */

static int count_cb(void *ctx, const void *k, size_t kl, const void *v, size_t vl, int type) {
    (void)k, (void)kl, (void)v, (void)vl, (void)type;
    ++*(size_t *)ctx;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    size_t n = size - 1;
    uint8_t *snap = malloc(n ? n : 1);
    if (!snap)
        return 0;
    memcpy(snap, data + 1, n);
    if ((data[0] & 1) && n >= SNAP_HDR) {
        uint64_t plen = n - SNAP_HDR, check = ud__hash(snap + SNAP_HDR, plen, SNAP_SEED);
        memcpy(snap + 24, &plen, 8);
        memcpy(snap + 32, &check, 8);
    }
    size_t items = 0;
    (void)ud_snapshot_foreach(snap, n, count_cb, &items);
    char name[64];
    ud_options o = UD_OPTIONS_INIT;
    o.name = fz_name(name);
    o.create = UD_CREATE_ONLY;
    o.recurse = true;
    ud_dict *d = NULL;
    if (ud_open(&o, &d) == 0) {
        ud_set(d, "old", 3, "v", 1);
        (void)ud_restore(d, snap, n);
        fz_exercise(d);
        ud_buf again = UD_BUF_INIT;
        (void)ud_save(d, &again);
        ud_buf_free(&again);
        ud_clear(d);
        ud_close(d);
    }
    ud_unlink_by_name(name);
    free(snap);
    return 0;
}
