/*
 * contract_snapshot.c - the snapshot part of the contract suite: kv_save_entries() and
 * kv_load_entries() with 100,000 entries through the backend under test, tampering and missing
 * entries detected, what an earlier save leaves behind removed, and format-1 snapshots (the
 * layout before generations) still read and replaced.
 */
#include "contract.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef KV_TEST_HAVE_ULTRADICT
#include <ultradict.h>
#endif

/* ---- Snapshots. ---- */

/* Entries of the snapshot round trips: 100k unless KV_TEST_SNAP_N says (slow stores, such as the
 * local Workers KV that writes a file per entry, run a smaller one). */
static size_t snap_n(void) {
    const char *e = getenv("KV_TEST_SNAP_N");
    int n = e ? atoi(e) : 0;
    return n > 0 ? (size_t)n : 100000;
}
#define SNAP_N snap_n()

/* A synthetic snapshot source: SNAP_N entries, deterministic, some binary and empty. */
struct synth {
    size_t n;
};

static size_t synth_entry(size_t i, char *k, char *v) {
    sprintf(k, "key:%07zu", i);
    size_t vl = i % 97 == 0 ? 0 : (size_t)sprintf(v, "value %zu %zx", i, i * 2654435761u);
    if (i % 5 == 0 && vl > 3)
        v[2] = 0;
    return vl;
}

static int synth_source(const void *src, size_t srclen, kv_snapshot_fn fn, void *ctx) {
    const struct synth *s = src;
    char k[32], v[64];
    (void)srclen;
    for (size_t i = 0; i < s->n; i++) {
        size_t vl = synth_entry(i, k, v);
        int rc = fn(ctx, k, strlen(k), v, vl, KV_TYPE_BYTES);
        if (rc)
            return rc;
    }
    return 0;
}

struct verify {
    size_t next;
    size_t bad;
};

static int verify_entry(void *ctx, const void *key, size_t klen, const void *val, size_t vlen,
                        int type) {
    struct verify *vf = ctx;
    char k[32], v[64];
    size_t vl = synth_entry(vf->next++, k, v);
    if (klen != strlen(k) || memcmp(key, k, klen) != 0 || vlen != vl || memcmp(val, v, vl) != 0 ||
        type != KV_TYPE_BYTES)
        vf->bad++;
    return 0;
}

static int count_calls(void *ctx, const void *key, size_t klen, const void *val, size_t vlen,
                       int type) {
    (void)key;
    (void)klen;
    (void)val;
    (void)vlen;
    (void)type;
    ++*(size_t *)ctx;
    return 0;
}

void test_snapshot_round_trip(void **state) {
    (void)state;
    NEED_CONN();
    struct synth s = {SNAP_N};
    kv_manifest m = {0}, m2 = {0};
    struct verify vf = {0, 0};

    double t0 = ut_now();
    CHECK_RC(kv_save_entries_from(conn, "snap/", synth_source, &s, 0, &m), 0);
    double t1 = ut_now();
    assert_int_equal(m.count, SNAP_N);
    CHECK_RC(kv_load_entries(conn, "snap/", verify_entry, &vf, &m2), 0);
    double t2 = ut_now();
    assert_int_equal(vf.next, SNAP_N);
    assert_int_equal(vf.bad, 0);
    assert_int_equal(m2.count, m.count);
    assert_true(m2.checksum == m.checksum);
    print_message("snapshot of %zu entries: save %.2f s, load %.2f s\n", SNAP_N, t1 - t0, t2 - t1);

    /* An altered entry: the load refuses before handing out anything. */
    size_t calls = 0;
    char key[128];
    snprintf(key, sizeof key, "snap/gen/%s/entry/key:0000042", m.generation);
    assert_int_equal(strlen(m.generation), 16);
    CHECK_RC(kv_set(conn, key, strlen(key), "tampered", 8), 0);
    CHECK_RC(kv_load_entries(conn, "snap/", count_calls, &calls, NULL), KV_ECORRUPT);
    assert_int_equal(calls, 0);
    /* A missing entry, likewise. */
    CHECK_RC(kv_del(conn, key, strlen(key)), 0);
    CHECK_RC(kv_load_entries(conn, "snap/", count_calls, &calls, NULL), KV_ECORRUPT);
    assert_int_equal(calls, 0);
    /* No manifest under another prefix. */
    CHECK_RC(kv_load_entries(conn, "other/", count_calls, &calls, NULL), KV_ENOTFOUND);

    /* A smaller save under the same prefix removes what the earlier one left behind. */
    CHECK_RC(kv_clear(conn), 0);
    s.n = 50;
    CHECK_RC(kv_save_entries_from(conn, "p/", synth_source, &s, 0, NULL), 0);
    s.n = 10;
    CHECK_RC(kv_save_entries_from(conn, "p/", synth_source, &s, 0, &m), 0);
    kv_buf v = KV_BUF_INIT;
    snprintf(key, sizeof key, "p/gen/%s/entry/key:0000009", m.generation);
    CHECK_RC(kv_get(conn, key, strlen(key), &v), 0);
    snprintf(key, sizeof key, "p/gen/%s/entry/key:0000010", m.generation);
    CHECK_RC(kv_get(conn, key, strlen(key), &v), KV_ENOTFOUND);
    /* Nothing of the earlier save is left: 10 entries, one index chunk, the manifest. */
    uint64_t count;
    if (kv_count(conn, &count) == 0)
        assert_int_equal(count, 12);
    vf = (struct verify){0, 0};
    CHECK_RC(kv_load_entries(conn, "p/", verify_entry, &vf, NULL), 0);
    assert_int_equal(vf.next, 10);
    assert_int_equal(vf.bad, 0);
    kv_buf_free(&v);
}

/* The checksum of a manifest, computed here independently of the library. */
static uint64_t entry_sum(uint64_t h, const char *key, const char *val) {
    unsigned char n[8], t = KV_TYPE_BYTES;
    size_t kl = strlen(key), vl = strlen(val);
    for (int i = 0; i < 8; i++)
        n[i] = (unsigned char)((uint64_t)kl >> (8 * i));
    h = ut_fnv(ut_fnv(h, n, 8), key, kl);
    for (int i = 0; i < 8; i++)
        n[i] = (unsigned char)((uint64_t)vl >> (8 * i));
    h = ut_fnv(ut_fnv(h, n, 8), val, vl);
    return ut_fnv(h, &t, 1);
}

/*
 * A format-1 snapshot (written before generations: entries under P "entry/", the index under
 * P "index/") still restores, and a save over it removes its keys.
 */
void test_snapshot_format1(void **state) {
    (void)state;
    NEED_CONN();
    static const char index[] = "\0\2\0\0\0k1\0\2\0\0\0k2";
    char manifest[256];
    uint64_t sum = entry_sum(entry_sum(UT_FNV_INIT, "k1", "one"), "k2", "two");
    snprintf(manifest, sizeof manifest,
             "kv-snapshot 1\ncount 2\nbytes 10\nchunks 1\nchecksum %016llx\n",
             (unsigned long long)sum);
    CHECK_RC(kv_set(conn, "old/entry/k1", 12, "one", 3), 0);
    CHECK_RC(kv_set(conn, "old/entry/k2", 12, "two", 3), 0);
    CHECK_RC(kv_set(conn, "old/index/0", 11, index, sizeof index - 1), 0);
    CHECK_RC(kv_set(conn, "old/manifest", 12, manifest, strlen(manifest)), 0);
    kv_manifest m;
    size_t calls = 0;
    CHECK_RC(kv_load_entries(conn, "old/", count_calls, &calls, &m), 0);
    assert_int_equal(calls, 2);
    assert_string_equal(m.generation, "");

    struct synth s = {5};
    CHECK_RC(kv_save_entries_from(conn, "old/", synth_source, &s, 0, &m), 0);
    kv_buf v = KV_BUF_INIT;
    CHECK_RC(kv_get(conn, "old/entry/k1", 12, &v), KV_ENOTFOUND);
    CHECK_RC(kv_get(conn, "old/index/0", 11, &v), KV_ENOTFOUND);
    struct verify vf = {0, 0};
    CHECK_RC(kv_load_entries(conn, "old/", verify_entry, &vf, NULL), 0);
    assert_int_equal(vf.next, 5);
    assert_int_equal(vf.bad, 0);
    kv_buf_free(&v);
}

#ifdef KV_TEST_HAVE_ULTRADICT
/*
 * The dicts of the tests below live here, so that the teardown closes (and so unlinks) them even
 * when an assertion ends a test early: a 100,000-entry dict left in /dev/shm is 8 MB.
 */
static ud_dict *dicts[2];
static ud_buf snap_buf;

int teardown_dicts(void **state) {
    (void)state;
    for (size_t i = 0; i < 2; i++) {
        ud_close(dicts[i]);
        dicts[i] = NULL;
    }
    ud_buf_free(&snap_buf);
    return 0;
}

/* The real thing: an UltraDict's ud_save() bytes through the backend and back. */
struct ud_verify {
    ud_dict *d;
    size_t n, bad;
    ud_buf v;
};

static int ud_verify_entry(void *ctx, const void *key, size_t klen, const void *val, size_t vlen,
                           int type) {
    struct ud_verify *u = ctx;
    u->n++;
    if (type != KV_TYPE_BYTES || ud_get(u->d, key, klen, &u->v) != 0 || u->v.len != vlen ||
        memcmp(u->v.data, val, vlen) != 0)
        u->bad++;
    return 0;
}

void test_snapshot_ultradict(void **state) {
    (void)state;
    NEED_CONN();
    ud_buf *snap = &snap_buf;
    assert_int_equal(ud_open(NULL, &dicts[0]), 0);
    ud_dict *d = dicts[0];
    enum { BATCH = 1000 };
    ud_item items[BATCH];
    char keys[BATCH][32], vals[BATCH][64];
    for (size_t base = 0; base < SNAP_N; base += BATCH) {
        for (size_t i = 0; i < BATCH; i++) {
            size_t vl = synth_entry(base + i, keys[i], vals[i]);
            items[i] = (ud_item){keys[i], strlen(keys[i]), vals[i], vl};
        }
        assert_int_equal(ud_update(d, items, BATCH), 0);
    }
    assert_int_equal(ud_save(d, snap), 0);
    kv_manifest m;
    CHECK_RC(kv_save_entries(conn, "ud/", snap->data, snap->len, &m), 0);
    assert_int_equal(m.count, SNAP_N);
    struct ud_verify u = {d, 0, 0, UD_BUF_INIT};
    CHECK_RC(kv_load_entries(conn, "ud/", ud_verify_entry, &u, NULL), 0);
    assert_int_equal(u.n, SNAP_N);
    assert_int_equal(u.bad, 0);
    /* Bytes that are not a snapshot are refused before the earlier save is touched. */
    CHECK_RC(kv_save_entries(conn, "ud/", "not a snapshot", 14, NULL), KV_ECORRUPT);
    kv_manifest again;
    size_t calls = 0;
    CHECK_RC(kv_load_entries(conn, "ud/", count_calls, &calls, &again), 0);
    assert_int_equal(calls, SNAP_N);
    ud_buf_free(&u.v);
}

/* What a nested dict's entry turns into: its type, and the entries of its own snapshot. */
struct nested_seen {
    int bytes, dicts, inner, bad;
};

static int inner_entry(void *ctx, const void *key, size_t klen, const void *val, size_t vlen,
                       int type) {
    struct nested_seen *n = ctx;
    if (klen == 1 && memcmp(key, "x", 1) == 0 && vlen == 1 && memcmp(val, "1", 1) == 0 &&
        type == UD_TYPE_BYTES)
        n->inner++;
    else
        n->bad++;
    return 0;
}

static int nested_entry(void *ctx, const void *key, size_t klen, const void *val, size_t vlen,
                        int type) {
    struct nested_seen *n = ctx;
    if (type == KV_TYPE_DICT && klen == 5 && memcmp(key, "child", 5) == 0) {
        n->dicts++;
        if (ud_snapshot_foreach(val, vlen, inner_entry, n) != 0)
            n->bad++;
    } else if (type == KV_TYPE_BYTES && klen == 3 && memcmp(key, "top", 3) == 0) {
        n->bytes++;
    } else {
        n->bad++;
    }
    return 0;
}

void test_snapshot_nested(void **state) {
    (void)state;
    NEED_CONN();
    ud_options o = UD_OPTIONS_INIT;
    o.recurse = true;
    ud_buf *snap = &snap_buf;
    assert_int_equal(ud_open(&o, &dicts[0]), 0);
    ud_dict *d = dicts[0];
    assert_int_equal(ud_set(d, "top", 3, "v", 1), 0);
    assert_int_equal(ud_set_dict(d, "child", 5, &dicts[1]), 0);
    assert_int_equal(ud_set(dicts[1], "x", 1, "1", 1), 0);
    assert_int_equal(ud_save(d, snap), 0);

    kv_manifest m;
    CHECK_RC(kv_save_entries(conn, "nested/", snap->data, snap->len, &m), 0);
    assert_int_equal(m.count, 2);
    struct nested_seen n = {0, 0, 0, 0};
    CHECK_RC(kv_load_entries(conn, "nested/", nested_entry, &n, NULL), 0);
    assert_int_equal(n.bytes, 1);
    assert_int_equal(n.dicts, 1);
    assert_int_equal(n.inner, 1);
    assert_int_equal(n.bad, 0);
}
#endif
