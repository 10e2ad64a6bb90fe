/*
 * fuzz_dump.c - loading mutated dumps. The input is a flags byte (bit 0: fix the dump's
 * checksum up), a 32-bit entry count and the dump payload; it is published as the newest dump
 * of a dict (in the slot that does not hold the current one) and a fresh handle loads it.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "layout.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 5 || size > 1 << 20)
        return 0;
    char name[64];
    ud_dict *d = fz_make_dict(fz_name(name));
    if (!d)
        return 0;
    ud_close(d);
    size_t clen, len[2];
    uint8_t *ctl = fz_read_seg(name, "", &clen);
    uint8_t *dump[2] = {fz_read_seg(name, ".dump0", &len[0]), fz_read_seg(name, ".dump1", &len[1])};
    if (ctl && dump[0] && dump[1] && clen >= sizeof(ud__control)) {
        ud__control *c = (ud__control *)ctl;
        uint64_t base = atomic_load(&c->base), end = atomic_load(&c->end);
        /* The slot that does not hold the dump at base. */
        int s = 0;
        ud__dump_hdr *h0 = (ud__dump_hdr *)dump[0];
        if (atomic_load(&h0->pos) == base && !(atomic_load(&h0->seq) & 1))
            s = 1;
        size_t plen = size - 5, need = sizeof(ud__dump_hdr) + plen;
        uint8_t *seg = need > len[s] ? realloc(dump[s], need) : dump[s];
        if (seg) {
            dump[s] = seg;
            if (need > len[s])
                len[s] = need;
            ud__dump_hdr *h = (ud__dump_hdr *)seg;
            h->magic = UD__DUMP_MAGIC;
            h->version = UD__LAYOUT_VERSION;
            atomic_store(&h->seq, (atomic_load(&h->seq) | 1) + 1);
            atomic_store(&h->pos, end);
            h->len = plen;
            uint32_t count;
            memcpy(&count, data + 1, 4);
            h->count = count;
            memcpy(seg + sizeof *h, data + 5, plen);
            if (data[0] & 1)
                fz_fix_dump(seg, len[s]);
            atomic_store(&c->base, end);
            fz_write_seg(name, s ? ".dump1" : ".dump0", seg, len[s]);
            fz_write_seg(name, "", ctl, clen);
            fz_attach_and_read(name);
        }
    }
    free(ctl);
    free(dump[0]);
    free(dump[1]);
    ud_unlink_by_name(name);
    return 0;
}
