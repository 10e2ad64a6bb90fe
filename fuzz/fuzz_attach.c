/*
 * fuzz_attach.c - attaching to mutated segments. The input is a flags byte (bit 0: fix the
 * checksums up after mutating, so that mutations reach the code behind them) and then
 * mutations (segment 0-3, 16-bit offset, length, bytes) applied to the four segments of a
 * freshly made dict (control, stream, dump0, dump1). A fresh process then attaches and uses it.
 */
#include <string.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_image im;
    if (size < 1 || !fz_image_make(&im, NULL))
        return 0;
    size_t p = 1;
    while (p + 4 <= size) {
        int s = data[p] & 3;
        size_t off = (size_t)data[p + 1] | (size_t)data[p + 2] << 8, n = data[p + 3];
        p += 4;
        if (n > size - p)
            n = size - p;
        if (im.seg[s] && off < im.len[s]) {
            size_t room = im.len[s] - off;
            memcpy(im.seg[s] + off, data + p, n < room ? n : room);
        }
        p += n;
    }
    const ud__control *c = fz_image_control(&im);
    if ((data[0] & 1) && c) {
        uint64_t base = atomic_load(&c->base), end = atomic_load(&c->end);
        if (im.seg[FZ_STREAM] && end >= base)
            fz_fix_records(im.seg[FZ_STREAM], im.len[FZ_STREAM], base, end - base);
        for (int s = FZ_DUMP0; s <= FZ_DUMP1; s++)
            if (im.seg[s])
                fz_fix_dump(im.seg[s], im.len[s]);
    }
    for (int i = 0; i < FZ_NSEG; i++)
        fz_image_write(&im, i);
    fz_attach_and_read(im.name);
    fz_image_free(&im);
    return 0;
}
