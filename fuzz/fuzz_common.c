/* fuzz_common.c - helpers for the fuzz targets (see fuzz.h). */
#include "fuzz.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hash.h"
#include "internal.h"
#include "layout.h"

char *fz_name(char *buf) {
    static unsigned n;
    snprintf(buf, 64, "fz_%d_%u", (int)getpid(), n++);
    return buf;
}

ud_dict *fz_make_dict(const char *name) {
    ud_options o = UD_OPTIONS_INIT;
    o.name = name;
    o.create = UD_CREATE_ONLY;
    o.auto_unlink = UD_AUTO_UNLINK_OFF;
    o.buffer_size = 4096;
    ud_dict *d = NULL;
    if (ud_open(&o, &d) != 0)
        return NULL;
    ud_set(d, "a", 1, "1", 1);
    ud_set(d, "bb", 2, "22", 2);
    ud_dump(d);
    ud_set(d, "ccc", 3, "333", 3);
    ud_del(d, "a", 1);
    ud_item items[2] = {{"x", 1, "xx", 2}, {"y", 1, "yy", 2}};
    ud_update(d, items, 2);
    return d;
}

/*
 * A damaged lock word can name a live thread of another process (pid 1, say): to the library
 * that is a holder like any other, and a blocking call waits for it as it must. So the lock is
 * first probed with a short timeout, and a dict whose lock cannot be had is left alone.
 */
static bool lock_free_now(ud_dict *d) {
    ud_lock_options lo = UD_LOCK_OPTIONS_INIT;
    lo.timeout = 0.05;
    if (ud_lock(d, &lo) != 0)
        return false;
    return ud_unlock(d) == 0;
}

void fz_exercise(ud_dict *d) {
    if (!lock_free_now(d))
        return;
    ud_buf k = UD_BUF_INIT, v = UD_BUF_INIT;
    (void)ud_apply_update(d);
    (void)ud_len(d);
    (void)ud_get(d, "bb", 2, &v);
    ud_iter *it = NULL;
    int type;
    if (ud_iter_open(d, &it) == 0) {
        for (int i = 0; i < 10000 && ud_iter_next(it, &k, &v, &type) == 0; i++)
            ;
        ud_iter_close(it);
    }
    (void)ud_set(d, "new", 3, "v", 1);
    (void)ud_incr(d, "n", 1, 1, NULL);
    ud_buf_free(&k);
    ud_buf_free(&v);
}

void fz_attach_and_read(const char *name) {
    ud_options o = UD_OPTIONS_INIT;
    o.name = name;
    o.create = UD_ATTACH_ONLY;
    ud_dict *d = NULL;
    if (ud_open(&o, &d) == 0) {
        fz_exercise(d);
        ud_close(d);
    }
}

uint8_t *fz_read_seg(const char *name, const char *suffix, size_t *len) {
    char path[512];
    snprintf(path, sizeof path, "/dev/shm/%s%s", name, suffix);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return NULL;
    struct stat st;
    uint8_t *p = NULL;
    if (fstat(fd, &st) == 0 && (p = malloc((size_t)st.st_size + 1)) != NULL &&
        pread(fd, p, (size_t)st.st_size, 0) != st.st_size) {
        free(p);
        p = NULL;
    }
    *len = p ? (size_t)st.st_size : 0;
    close(fd);
    return p;
}

int fz_write_seg(const char *name, const char *suffix, const uint8_t *p, size_t len) {
    char path[512];
    snprintf(path, sizeof path, "/dev/shm/%s%s", name, suffix);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return -1;
    int rc = (len == 0 || write(fd, p, len) == (ssize_t)len) ? 0 : -1;
    close(fd);
    return rc;
}

static uint64_t rd64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

void fz_fix_records(uint8_t *stream, size_t len, uint64_t base, uint64_t used) {
    size_t off = sizeof(ud__stream_hdr), end = off + used;
    if (end > len || end < off)
        end = len;
    uint64_t at = base;
    while (off + sizeof(ud__rec_hdr) <= end) {
        ud__rec_hdr h;
        memcpy(&h, stream + off, sizeof h);
        if (h.len < sizeof h || h.len > end - off)
            break;
        size_t body = h.len - sizeof h;
        h.check =
            ud__check(stream + off + sizeof h, body, ud__rec_seed(at, h.len, h.flags, h.nitems));
        memcpy(stream + off, &h, sizeof h);
        size_t padded = (h.len + 7) & ~(size_t)7;
        off += padded;
        at += padded;
    }
}

void fz_fix_dump(uint8_t *dump, size_t len) {
    if (len < sizeof(ud__dump_hdr))
        return;
    ud__dump_hdr h;
    memcpy(&h, dump, sizeof h);
    uint64_t plen = h.len;
    if (plen > len - sizeof h)
        return;
    h.check = ud__check(dump + sizeof h, plen, rd64(dump + offsetof(ud__dump_hdr, pos)));
    memcpy(dump, &h, sizeof h);
}

static const char *const seg_suffix[FZ_NSEG] = {"", ".stream", ".dump0", ".dump1"};

bool fz_image_make(fz_image *im, ud_dict **reader) {
    memset(im, 0, sizeof *im);
    ud_dict *d = fz_make_dict(fz_name(im->name));
    if (!d)
        return false;
    if (reader) {
        ud_options o = UD_OPTIONS_INIT;
        o.name = im->name;
        o.create = UD_ATTACH_ONLY;
        *reader = NULL;
        ud_open(&o, reader);
        if (*reader)
            ud_apply_update(*reader); /* replayed up to the current end */
    }
    ud_close(d);
    for (int i = 0; i < FZ_NSEG; i++)
        im->seg[i] = fz_read_seg(im->name, seg_suffix[i], &im->len[i]);
    return true;
}

ud__control *fz_image_control(fz_image *im) {
    if (!im->seg[FZ_CONTROL] || im->len[FZ_CONTROL] < sizeof(ud__control))
        return NULL;
    return (ud__control *)im->seg[FZ_CONTROL];
}

void fz_image_write(const fz_image *im, int s) {
    if (im->seg[s])
        fz_write_seg(im->name, seg_suffix[s], im->seg[s], im->len[s]);
}

void fz_image_free(fz_image *im) {
    for (int i = 0; i < FZ_NSEG; i++) {
        free(im->seg[i]);
        im->seg[i] = NULL;
    }
    ud_unlink_by_name(im->name);
}
