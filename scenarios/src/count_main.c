/*
 * count_main.c - udcount: single-process, CPU-bound operations for the deterministic channel
 * of the gate, counted under valgrind (udbench gate --channel count).
 *
 *   udcount CASE N     runs a fixed setup, then N operations of CASE; prints nothing
 *
 * The gate runs every case with N and 2N operations and takes the difference, so the
 * instructions of start-up and setup cancel out and what is left is instructions per operation.
 * Everything here is deterministic: fixed keys and values, no clock, no randomness, one
 * process. Never use this channel for locks under contention, several processes, or servers:
 * valgrind runs one thread at a time and counts no waiting, so it is blind to exactly what those
 * measure. The "-2h" cases come closest: two handles of one dict take turns, one operation each,
 * as two processes whose writes interleave do - the work each write does for the other's
 * records (replay), without the cache lines that would cross between cores.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kv.h"
#include "ultradict.h"

#define KEYS 1000

static const char *const cases[] = {"ud-get",    "ud-set",     "ud-incr",   "ud-lock",
                                    "ud-set-2h", "ud-incr-2h", "local-get", "local-set",
                                    "encode",    "decode",     NULL};

/* The keys, made once in the setup so that the counted loop holds only the operations. */
static char keys[KEYS][16];

static void make_keys(void) {
    for (unsigned i = 0; i < KEYS; i++)
        snprintf(keys[i], sizeof keys[i], "key:%06u", i);
}

static void key_of(unsigned i, char *k, size_t *klen) {
    memcpy(k, keys[i % KEYS], 10);
    *klen = 10;
}

static int fail(const char *what, int rc) {
    fprintf(stderr, "udcount: %s failed (%d)\n", what, rc);
    return 1;
}

static int count_entry(void *ctx, const void *key, size_t klen, const void *val, size_t vlen,
                       int type) {
    (void)key;
    (void)val;
    (void)type;
    *(size_t *)ctx += klen + vlen;
    return 0;
}

/* ud-lock: one uncontended ud_lock() and ud_unlock() pair, the lock's fast path. */
static int lock_unlock(ud_dict *d) {
    int rc = ud_lock(d, NULL);
    return rc ? rc : ud_unlock(d);
}

static int run_ud(const char *c, unsigned long n) {
    char name[64], k[32], v[100];
    size_t klen;
    memset(v, 'v', sizeof v);
    snprintf(name, sizeof name, "udcount-%ld", (long)getpid());
    ud_options o = UD_OPTIONS_INIT;
    o.name = name;
    o.create = UD_CREATE_ONLY;
    ud_dict *d;
    int rc = ud_open(&o, &d);
    if (rc)
        return fail("ud_open", rc);
    for (unsigned i = 0; i < KEYS && !rc; i++) {
        key_of(i, k, &klen);
        rc = ud_set(d, k, klen, v, sizeof v);
    }
    ud_buf b = UD_BUF_INIT, snap = UD_BUF_INIT;
    if (!rc && !strcmp(c, "decode"))
        rc = ud_save(d, &snap);
    /* The second handle of the "-2h" cases (d itself otherwise). */
    ud_dict *h[2] = {d, d};
    if (!rc && strstr(c, "-2h")) {
        o.create = UD_ATTACH_ONLY;
        rc = ud_open(&o, &h[1]);
    }
    for (unsigned long i = 0; i < n && !rc; i++) {
        key_of((unsigned)(i * 7919u), k, &klen);
        if (!strcmp(c, "ud-get"))
            rc = ud_get(d, k, klen, &b);
        else if (!strncmp(c, "ud-set", 6))
            rc = ud_set(h[i & 1], k, klen, v, sizeof v);
        else if (!strncmp(c, "ud-incr", 7))
            rc = ud_incr(h[i & 1], "counter", 7, 1, NULL);
        else if (!strcmp(c, "ud-lock"))
            rc = lock_unlock(d);
        else if (!strcmp(c, "encode"))
            rc = ud_save(d, &b);
        else {
            size_t bytes = 0;
            rc = ud_snapshot_foreach(snap.data, snap.len, count_entry, &bytes);
        }
    }
    ud_buf_free(&b);
    ud_buf_free(&snap);
    int rc2 = h[1] != d ? ud_close(h[1]) : 0;
    rc2 = rc2 ? rc2 : ud_close(d);
    return rc || rc2 ? fail(c, rc ? rc : rc2) : 0;
}

static int run_local(const char *c, unsigned long n) {
    kv_conn *kv;
    int rc = kv_open("local:", &kv);
    if (rc)
        return fail("kv_open local:", rc);
    char k[32], v[100];
    size_t klen;
    memset(v, 'v', sizeof v);
    for (unsigned i = 0; i < KEYS && !rc; i++) {
        key_of(i, k, &klen);
        rc = kv_set(kv, k, klen, v, sizeof v);
    }
    kv_buf b = KV_BUF_INIT;
    for (unsigned long i = 0; i < n && !rc; i++) {
        key_of((unsigned)(i * 7919u), k, &klen);
        rc = !strcmp(c, "local-get") ? kv_get(kv, k, klen, &b) : kv_set(kv, k, klen, v, sizeof v);
    }
    kv_buf_free(&b);
    kv_close(kv);
    return rc ? fail(c, rc) : 0;
}

int main(int argc, char **argv) {
    if (argc == 2 && !strcmp(argv[1], "--list")) {
        for (int i = 0; cases[i]; i++)
            puts(cases[i]);
        return 0;
    }
    char *end = NULL;
    unsigned long n = argc == 3 ? strtoul(argv[2], &end, 10) : 0;
    int known = 0;
    for (int i = 0; argc == 3 && cases[i]; i++)
        known |= !strcmp(argv[1], cases[i]);
    if (!known || !end || *end || n == 0) {
        fprintf(stderr, "Usage: udcount CASE N   (CASE: ud-get ud-set ud-incr ud-lock ud-set-2h "
                        "ud-incr-2h local-get local-set encode decode; udcount --list)\n");
        return 2;
    }
    make_keys();
    return !strncmp(argv[1], "local-", 6) ? run_local(argv[1], n) : run_ud(argv[1], n);
}
