/*
 * fuzz_attach.c - attaching to mutated segments. The input is a flags byte (bit 0: fix the
 * checksums up after mutating, so that mutations reach the code behind them) and then
 * mutations (segment 0-3, 16-bit offset, length, bytes) applied to the four segments of a
 * freshly made dict (control, stream, dump0, dump1). A fresh process then attaches and uses it.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "layout.h"

static const char *const suffix[4] = {"", ".stream", ".dump0", ".dump1"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    char name[64];
    ud_dict *d = fz_make_dict(fz_name(name));
    if (!d)
        return 0;
    ud_close(d);
    uint8_t *seg[4];
    size_t len[4];
    for (int i = 0; i < 4; i++)
        seg[i] = fz_read_seg(name, suffix[i], &len[i]);
    size_t p = 1;
    while (p + 4 <= size) {
        int s = data[p] & 3;
        size_t off = (size_t)data[p + 1] | (size_t)data[p + 2] << 8, n = data[p + 3];
        p += 4;
        if (n > size - p)
            n = size - p;
        if (seg[s] && off < len[s]) {
            size_t room = len[s] - off;
            memcpy(seg[s] + off, data + p, n < room ? n : room);
        }
        p += n;
    }
    if ((data[0] & 1) && seg[0] && len[0] >= sizeof(ud__control)) {
        const ud__control *c = (const ud__control *)seg[0];
        uint64_t base = atomic_load(&c->base), end = atomic_load(&c->end);
        if (seg[1] && end >= base)
            fz_fix_records(seg[1], len[1], base, end - base);
        for (int s = 2; s < 4; s++)
            if (seg[s])
                fz_fix_dump(seg[s], len[s]);
    }
    for (int i = 0; i < 4; i++) {
        if (seg[i])
            fz_write_seg(name, suffix[i], seg[i], len[i]);
        free(seg[i]);
    }
    fz_attach_and_read(name);
    ud_unlink_by_name(name);
    return 0;
}
