/*
 * fuzz_kvsnap.c - a snapshot stored in a backend, as the bytes a backend hands back: the input
 * is three parts separated by "\n--\n": the manifest, the list of pending generations, and one
 * index chunk (stored as chunk 0 of the generation the manifest names, or of the format-1
 * layout), each with a few entries it may list. They are stored in a local: backend under a
 * prefix, read back with kv_load_entries(), then overwritten by a save of two entries (which
 * parses the pending list and removes the generations it and the manifest name), and read again.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "kv.h"

#define PREFIX "f/"

static int count_cb(void *ctx, const void *k, size_t kl, const void *v, size_t vl, int type) {
    (void)k, (void)kl, (void)v, (void)vl, (void)type;
    ++*(size_t *)ctx;
    return 0;
}

static int two_entries(const void *src, size_t len, kv_snapshot_fn fn, void *ctx) {
    (void)src, (void)len;
    int rc = fn(ctx, "a", 1, "1", 1, KV_TYPE_BYTES);
    return rc ? rc : fn(ctx, "b", 1, "", 0, KV_TYPE_BYTES);
}

/* The next part of [*p, end) up to the separator (or the end); moves *p past it. */
static const uint8_t *part(const uint8_t **p, const uint8_t *end, size_t *len) {
    const uint8_t *start = *p;
    const uint8_t *sep = memmem(start, (size_t)(end - start), "\n--\n", 4);
    *len = (size_t)((sep ? sep : end) - start);
    *p = sep ? sep + 4 : end;
    return start;
}

/* Stores chunk under the generation the manifest names (16 characters after "generation "). */
static void store_chunk(kv_conn *c, const uint8_t *man, size_t mlen, const uint8_t *chunk,
                        size_t clen) {
    char key[64] = PREFIX "index/0", entry[64] = PREFIX "entry/a";
    const uint8_t *g = memmem(man, mlen, "generation ", 11);
    if (g && (size_t)(man + mlen - g) >= 11 + 16) {
        snprintf(key, sizeof key, PREFIX "gen/%.16s/index/0", (const char *)g + 11);
        snprintf(entry, sizeof entry, PREFIX "gen/%.16s/entry/a", (const char *)g + 11);
    }
    kv_set(c, key, strlen(key), clen ? chunk : (const uint8_t *)"", clen);
    /* The entry a seed chunk lists. */
    kv_set(c, entry, strlen(entry), "1", 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    kv_conn *c = NULL;
    if (kv_open("local:", &c) != 0)
        return 0;
    const uint8_t *p = data, *end = data + size;
    size_t mlen, plen, clen;
    const uint8_t *man = part(&p, end, &mlen);
    const uint8_t *pend = part(&p, end, &plen);
    const uint8_t *chunk = part(&p, end, &clen);
    kv_set(c, PREFIX "manifest", 10, mlen ? man : (const uint8_t *)"", mlen);
    kv_set(c, PREFIX "pending", 9, plen ? pend : (const uint8_t *)"", plen);
    store_chunk(c, man, mlen, chunk, clen);
    size_t n = 0;
    kv_manifest m;
    (void)kv_load_entries(c, PREFIX, count_cb, &n, &m);
    if (kv_save_entries_from(c, PREFIX, two_entries, NULL, 0, &m) == 0) {
        n = 0;
        /* A whole save must read back whole. */
        if (kv_load_entries(c, PREFIX, count_cb, &n, NULL) != 0 || n != 2)
            abort();
    }
    kv_close(c);
    return 0;
}
