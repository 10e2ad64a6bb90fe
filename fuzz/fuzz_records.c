/*
 * fuzz_records.c - applying mutated records. The input (after a flags byte; bit 0: fix each
 * record's checksum up) is appended to a dict's stream after its end, the end is moved past it,
 * and a reader catches up on it.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_image im;
    ud_dict *reader;
    if (size < 1 || size > 1 << 16 || !fz_image_make(&im, &reader))
        return 0;
    ud__control *c = fz_image_control(&im);
    if (c && im.seg[FZ_STREAM]) {
        uint64_t base = atomic_load(&c->base), end = atomic_load(&c->end);
        size_t n = size - 1, at = sizeof(ud__stream_hdr) + (size_t)(end - base);
        size_t need = at + ((n + 7) & ~(size_t)7), slen = im.len[FZ_STREAM];
        uint8_t *st = need > slen ? realloc(im.seg[FZ_STREAM], need) : im.seg[FZ_STREAM];
        if (st) {
            im.seg[FZ_STREAM] = st;
            if (need > slen) {
                memset(st + slen, 0, need - slen);
                im.len[FZ_STREAM] = slen = need;
                atomic_store(&c->stream_cap, slen - sizeof(ud__stream_hdr));
            }
            memcpy(st + at, data + 1, n);
            if (data[0] & 1)
                fz_fix_records(st, slen, base, need - sizeof(ud__stream_hdr));
            atomic_store(&c->end, end + ((n + 7) & ~(uint64_t)7));
            fz_image_write(&im, FZ_STREAM);
            fz_image_write(&im, FZ_CONTROL);
            if (reader)
                fz_exercise(reader);
            fz_attach_and_read(im.name);
        }
    }
    ud_close(reader);
    fz_image_free(&im);
    return 0;
}
