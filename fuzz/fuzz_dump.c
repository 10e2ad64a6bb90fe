/*
 * fuzz_dump.c - loading mutated dumps. The input is a flags byte (bit 0: fix the dump's
 * checksum up), a 32-bit entry count and the dump payload; it is published as the newest dump
 * of a dict (in the slot that does not hold the current one) and a fresh handle loads it.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

/* The dump slot that does not hold the dump at base: the one a new dump goes into. */
static int free_slot(const fz_image *im, uint64_t base) {
    const ud__dump_hdr *h0 = (const ud__dump_hdr *)im->seg[FZ_DUMP0];
    return atomic_load(&h0->pos) == base && !(atomic_load(&h0->seq) & 1) ? FZ_DUMP1 : FZ_DUMP0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_image im;
    if (size < 5 || size > 1 << 20 || !fz_image_make(&im, NULL))
        return 0;
    ud__control *c = fz_image_control(&im);
    if (c && im.seg[FZ_DUMP0] && im.seg[FZ_DUMP1]) {
        uint64_t base = atomic_load(&c->base), end = atomic_load(&c->end);
        int s = free_slot(&im, base);
        size_t plen = size - 5, need = sizeof(ud__dump_hdr) + plen;
        uint8_t *seg = need > im.len[s] ? realloc(im.seg[s], need) : im.seg[s];
        if (seg) {
            im.seg[s] = seg;
            if (need > im.len[s])
                im.len[s] = need;
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
                fz_fix_dump(seg, im.len[s]);
            atomic_store(&c->base, end);
            fz_image_write(&im, s);
            fz_image_write(&im, FZ_CONTROL);
            fz_attach_and_read(im.name);
        }
    }
    fz_image_free(&im);
    return 0;
}
