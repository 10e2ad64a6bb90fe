/*
 * fuzz_records.c - applying mutated records. The input (after a flags byte; bit 0: fix each
 * record's checksum up) is appended to a dict's stream after its end, the end is moved past it,
 * and a reader catches up on it.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "layout.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > 1 << 16)
        return 0;
    char name[64];
    ud_dict *d = fz_make_dict(fz_name(name));
    if (!d)
        return 0;
    ud_dict *reader = NULL;
    ud_options o = UD_OPTIONS_INIT;
    o.name = name;
    o.create = UD_ATTACH_ONLY;
    ud_open(&o, &reader);
    if (reader)
        ud_apply_update(reader); /* replayed up to the current end: it will read only ours */
    ud_close(d);
    size_t clen, slen;
    uint8_t *ctl = fz_read_seg(name, "", &clen), *st = fz_read_seg(name, ".stream", &slen);
    if (ctl && st && clen >= sizeof(ud__control)) {
        ud__control *c = (ud__control *)ctl;
        uint64_t base = atomic_load(&c->base), end = atomic_load(&c->end);
        size_t n = size - 1, at = sizeof(ud__stream_hdr) + (size_t)(end - base);
        size_t need = at + ((n + 7) & ~(size_t)7);
        uint8_t *grown = need > slen ? realloc(st, need) : st;
        if (grown) {
            st = grown;
            if (need > slen) {
                memset(st + slen, 0, need - slen);
                slen = need;
                atomic_store(&c->stream_cap, slen - sizeof(ud__stream_hdr));
            }
            memcpy(st + at, data + 1, n);
            if (data[0] & 1)
                fz_fix_records(st, slen, base, need - sizeof(ud__stream_hdr));
            atomic_store(&c->end, end + ((n + 7) & ~(uint64_t)7));
            fz_write_seg(name, ".stream", st, slen);
            fz_write_seg(name, "", ctl, clen);
            if (reader)
                fz_exercise(reader);
            fz_attach_and_read(name);
        }
    }
    free(ctl);
    free(st);
    ud_close(reader);
    ud_unlink_by_name(name);
    return 0;
}
