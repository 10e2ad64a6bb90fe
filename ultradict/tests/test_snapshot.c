/*
 * test_snapshot.c - portable snapshots: ud_save/ud_restore and their file forms, nested dicts
 * included, ud_snapshot_foreach, ud_close_save, and damaged snapshots (every single-bit flip,
 * truncation, extension) rejected with the dict unchanged.
 */
#include "testutil.h"

#include <errno.h>
#include <stdlib.h>

/* ---- Snapshots. ---- */

typedef struct snap_entry {
    char key[32];
    size_t klen;
    int type;
    unsigned char val[256];
    size_t vlen;
} snap_entry;

typedef struct snap_ctx {
    snap_entry e[16];
    int n;
} snap_ctx;

static int snap_cb(void *vctx, const void *key, size_t klen, const void *val, size_t vlen,
                   int type) {
    snap_ctx *ctx = vctx;
    if (ctx->n >= 16 || klen >= 32 || vlen > 256)
        return 99;
    snap_entry *e = &ctx->e[ctx->n++];
    memcpy(e->key, key, klen);
    e->key[klen] = 0;
    e->klen = klen;
    e->type = type;
    memcpy(e->val, val, vlen);
    e->vlen = vlen;
    return 0;
}

static int count_cb(void *vctx, const void *key, size_t klen, const void *val, size_t vlen,
                    int type) {
    (void)key, (void)klen, (void)val, (void)vlen, (void)type;
    (*(int *)vctx)++;
    return 0;
}

static const snap_entry *find_entry(const snap_ctx *c, const char *key, size_t klen) {
    for (int i = 0; i < c->n; i++) {
        if (c->e[i].klen == klen && memcmp(c->e[i].key, key, klen) == 0)
            return &c->e[i];
    }
    return NULL;
}

static const unsigned char BIN[] = {0, 1, 2, 0, 255};

/* Fills a recursive dict with the snapshot test's contents. */
static void fill(ud_dict *d) {
    ud_dict *child = NULL;
    assert_ok(ud_set(d, S("a"), S("1")));
    assert_ok(ud_set(d, S("bin"), BIN, sizeof BIN));
    assert_ok(ud_set(d, "", 0, S("empty key")));
    assert_ok(ud_set_dict(d, S("n"), &child));
    assert_ok(ud_set(child, S("x"), S("10")));
    assert_ok(ud_set(child, S("y"), S("20")));
    assert_ok(ud_close(child));
}

/* Checks that d holds exactly what fill() wrote. */
static void check_filled(ud_dict *d) {
    ud_buf v = UD_BUF_INIT;
    ud_dict *child = NULL;
    assert_int_equal(ud_len(d), 4);
    assert_ok(ud_get(d, S("a"), &v));
    assert_buf_eq(&v, "1", 1);
    assert_ok(ud_get(d, S("bin"), &v));
    assert_buf_eq(&v, BIN, sizeof BIN);
    assert_ok(ud_get(d, "", 0, &v));
    assert_buf_eq(&v, S("empty key"));
    assert_rc(ud_type(d, S("n")), UD_TYPE_DICT);
    assert_ok(ud_get_dict(d, S("n"), &child));
    char prefix[UD_NAME_MAX + 8];
    snprintf(prefix, sizeof prefix, "%s.", ud_name(d));
    assert_true(strncmp(ud_name(child), prefix, strlen(prefix)) == 0);
    assert_int_equal(ud_len(child), 2);
    assert_ok(ud_get(child, S("x"), &v));
    assert_buf_eq(&v, "10", 2);
    assert_ok(ud_get(child, S("y"), &v));
    assert_buf_eq(&v, "20", 2);
    assert_ok(ud_close(child));
    ud_buf_free(&v);
}

static bool is_snapshot_error(int rc) {
    return rc == UD_ECORRUPT || rc == UD_EBADMAGIC || rc == UD_EVERSION;
}

static void test_snapshots(void **state) {
    (void)state;
    char name[64], name2[64], name3[64];
    ud_dict *src = ut_open_recursive(ut_name(name), UD_CREATE_ONLY);
    fill(src);
    ud_buf snap = UD_BUF_INIT;
    assert_ok(ud_save(src, &snap));
    assert_true(snap.len > 0);

    /* Walk it without a dict, nested snapshot included. */
    snap_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    assert_ok(ud_snapshot_foreach(snap.data, snap.len, snap_cb, &ctx));
    assert_int_equal(ctx.n, 4);
    const snap_entry *e = find_entry(&ctx, "a", 1);
    assert_non_null(e);
    assert_int_equal(e->type, UD_TYPE_BYTES);
    assert_int_equal(e->vlen, 1);
    assert_memory_equal(e->val, "1", 1);
    e = find_entry(&ctx, "bin", 3);
    assert_non_null(e);
    assert_int_equal(e->vlen, sizeof BIN);
    assert_memory_equal(e->val, BIN, sizeof BIN);
    assert_non_null(find_entry(&ctx, "", 0));
    e = find_entry(&ctx, "n", 1);
    assert_non_null(e);
    assert_int_equal(e->type, UD_TYPE_DICT);
    snap_ctx sub;
    memset(&sub, 0, sizeof sub);
    assert_ok(ud_snapshot_foreach(e->val, e->vlen, snap_cb, &sub));
    assert_int_equal(sub.n, 2);
    e = find_entry(&sub, "y", 1);
    assert_non_null(e);
    assert_int_equal(e->vlen, 2);
    assert_memory_equal(e->val, "20", 2);
    /* A callback's non-zero return stops the walk and is returned. */
    memset(&sub, 0, sizeof sub);
    sub.n = 16;
    assert_rc(ud_snapshot_foreach(snap.data, snap.len, snap_cb, &sub), 99);

    /* Restore into another recursive dict: its old contents are replaced. */
    ud_dict *dst = ut_open_recursive(ut_name(name2), UD_CREATE_ONLY);
    assert_ok(ud_set(dst, S("junk"), S("gone after restore")));
    ud_dict *old = NULL;
    assert_ok(ud_set_dict(dst, S("oldchild"), &old));
    char oldname[UD_NAME_MAX + 32];
    snprintf(oldname, sizeof oldname, "%s", ud_name(old));
    assert_ok(ud_close(old));
    assert_ok(ud_restore(dst, snap.data, snap.len));
    assert_int_equal(ut_count_segments(oldname), 0); /* the replaced child is unlinked */
    check_filled(dst);
    assert_rc(ud_contains(dst, S("junk")), 0);
    ud_dict *dst2 = ut_open_recursive(name2, UD_ATTACH_ONLY);
    check_filled(dst2);
    assert_ok(ud_close(dst2));
    assert_int_equal(ut_unexpected_segments(name2), 0);
    /* 3 segments at least for the root, the register and the one child; no leftover child. */
    int segs = ut_count_segments(name2);

    /* Files: save, restore into a third dict. */
    char dir[] = "/tmp/ud_test_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/snap.uds", dir);
    assert_ok(ud_save_file(src, path));
    assert_true(ut_file_size(path) > 0);
    ud_dict *third = ut_open_recursive(ut_name(name3), UD_CREATE_ONLY);
    assert_ok(ud_restore_file(third, path));
    check_filled(third);
    /* A snapshot of a restored dict equals the original snapshot's contents. */
    ud_buf snap2 = UD_BUF_INIT;
    assert_ok(ud_save(third, &snap2));
    memset(&ctx, 0, sizeof ctx);
    assert_ok(ud_snapshot_foreach(snap2.data, snap2.len, snap_cb, &ctx));
    assert_int_equal(ctx.n, 4);

    /* Corruption: every single-bit flip anywhere is detected, and the dict is unchanged. */
    uint64_t h0;
    size_t n0;
    assert_ok(ut_dict_checksum(dst, &h0, &n0));
    unsigned char *bad = malloc(snap.len + 1);
    assert_non_null(bad);
    size_t step = snap.len > 2048 ? snap.len / 1024 : 1;
    char missed[1024] = "";
    int nmissed = 0;
    for (size_t i = 0; i < snap.len; i += step) {
        for (int bit = 0; bit < 8; bit += 7) {
            memcpy(bad, snap.data, snap.len);
            bad[i] ^= (unsigned char)(1u << bit);
            int rc = ud_restore(dst, bad, snap.len);
            int calls = 0;
            int frc = ud_snapshot_foreach(bad, snap.len, count_cb, &calls);
            if (!is_snapshot_error(rc) || !is_snapshot_error(frc) || calls != 0) {
                size_t used = strlen(missed);
                if (nmissed++ < 40 && used + 32 < sizeof missed)
                    snprintf(missed + used, sizeof missed - used, " %zu.%d(%s/%s)", i, bit,
                             ud_errname(rc), ud_errname(frc));
            }
        }
    }
    if (nmissed != 0)
        fail_msg("%d single-bit flips in a %zu-byte snapshot went undetected (byte.bit "
                 "(ud_restore/ud_snapshot_foreach)):%s",
                 nmissed, snap.len, missed);
    /* The magic: UD_EBADMAGIC. */
    memcpy(bad, snap.data, snap.len);
    bad[0] ^= 0xFF;
    assert_rc(ud_restore(dst, bad, snap.len), UD_EBADMAGIC);
    /* Truncated or extended: detected too. */
    size_t cuts[] = {0, 1, 7, snap.len / 2, snap.len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        int rc = ud_restore(dst, snap.data, cuts[i]);
        if (!is_snapshot_error(rc))
            fail_msg("snapshot cut to %zu of %zu bytes: ud_restore returned %s", cuts[i], snap.len,
                     ud_errname(rc));
    }
    memcpy(bad, snap.data, snap.len);
    bad[snap.len] = 0;
    assert_true(is_snapshot_error(ud_restore(dst, bad, snap.len + 1)));
    uint64_t h1;
    size_t n1;
    assert_ok(ut_dict_checksum(dst, &h1, &n1));
    assert_int_equal(n1, n0);
    assert_int_equal(h1, h0);
    check_filled(dst);
    assert_int_equal(ut_count_segments(name2), segs);

    /* A corrupted file, and a missing one. */
    bad[snap.len / 2] ^= 0x10;
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bad, 1, snap.len, f), snap.len);
    fclose(f);
    assert_true(is_snapshot_error(ud_restore_file(third, path)));
    check_filled(third);
    char missing[300];
    snprintf(missing, sizeof missing, "%s/missing.uds", dir);
    assert_rc(ud_restore_file(third, missing), -ENOENT);
    unlink(path);
    rmdir(dir);

    /* close_save hands back a snapshot of the whole dict. */
    ud_dict *h = ut_open_recursive(name, UD_ATTACH_ONLY);
    ud_buf snap3 = UD_BUF_INIT;
    assert_ok(ud_close_save(h, &snap3));
    int calls = 0;
    assert_ok(ud_snapshot_foreach(snap3.data, snap3.len, count_cb, &calls));
    assert_int_equal(calls, 4);

    free(bad);
    ud_buf_free(&snap);
    ud_buf_free(&snap2);
    ud_buf_free(&snap3);
    assert_ok(ud_close(third));
    assert_ok(ud_close(dst));
    assert_ok(ud_close(src));
    assert_int_equal(ut_count_segments(name), 0);
    assert_int_equal(ut_count_segments(name2), 0);
    assert_int_equal(ut_count_segments(name3), 0);
}

/* A snapshot of a plain (not recursive) dict restores into a plain dict. */
static void test_snapshot_plain(void **state) {
    (void)state;
    char name[64], name2[64];
    ud_dict *a = ut_open(ut_name(name), UD_CREATE_ONLY, UD_LOCK_MUTEX, 4096);
    char val[300];
    for (int i = 0; i < 500; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        size_t len = UT_VALUE_MIN + (size_t)(i % 250);
        ut_value_make(val, len, k, strlen(k), (uint64_t)i);
        assert_ok(ud_set(a, S(k), val, len));
    }
    ud_buf snap = UD_BUF_INIT;
    assert_ok(ud_save(a, &snap));
    ud_dict *b = ut_open(ut_name(name2), UD_CREATE_ONLY, UD_LOCK_MUTEX, 4096);
    assert_ok(ud_restore(b, snap.data, snap.len));
    ut_assert_same_dict(a, b);
    ud_dict *c = ut_open(name2, UD_ATTACH_ONLY, UD_LOCK_MUTEX, 0);
    ut_assert_same_dict(a, c);
    int calls = 0;
    assert_ok(ud_snapshot_foreach(snap.data, snap.len, count_cb, &calls));
    assert_int_equal(calls, 500);
    ud_buf_free(&snap);
    assert_ok(ud_close(c));
    assert_ok(ud_close(b));
    assert_ok(ud_close(a));
}

/* Snapshots built entry by entry (ud_snapshot_add / ud_snapshot_finish). */
static void test_snapshot_build(const char *name) {
    ud_dict *d = ut_open_recursive(name, UD_CREATE_ONLY);
    assert_ok(ud_set(d, S("old"), S("gone after restore")));

    /* An empty snapshot is valid and empties the dict. */
    ud_buf empty = UD_BUF_INIT;
    assert_ok(ud_snapshot_finish(&empty));
    int calls = 0;
    assert_ok(ud_snapshot_foreach(empty.data, empty.len, count_cb, &calls));
    assert_int_equal(calls, 0);

    /* A nested snapshot, then the outer one holding it. */
    ud_buf inner = UD_BUF_INIT, outer = UD_BUF_INIT;
    assert_ok(ud_snapshot_add(&inner, S("x"), S("10"), UD_TYPE_BYTES));
    assert_ok(ud_snapshot_add(&inner, S("y"), S("20"), UD_TYPE_BYTES));
    assert_ok(ud_snapshot_finish(&inner));
    assert_ok(ud_snapshot_add(&outer, S("a"), S("1"), UD_TYPE_BYTES));
    assert_ok(ud_snapshot_add(&outer, S("bin"), BIN, sizeof BIN, UD_TYPE_BYTES));
    assert_ok(ud_snapshot_add(&outer, "", 0, S("empty key"), UD_TYPE_BYTES));
    assert_ok(ud_snapshot_add(&outer, S("n"), inner.data, inner.len, UD_TYPE_DICT));
    assert_ok(ud_snapshot_finish(&outer));
    calls = 0;
    assert_ok(ud_snapshot_foreach(outer.data, outer.len, count_cb, &calls));
    assert_int_equal(calls, 4);
    assert_ok(ud_restore(d, outer.data, outer.len));
    check_filled(d);
    assert_rc(ud_contains(d, S("old")), 0);

    /* Bad input: a key too long, an unknown type, a nested value that is not a snapshot. */
    char *big = calloc(1, UD_KEY_MAX + 1);
    assert_non_null(big);
    ud_buf bad = UD_BUF_INIT;
    assert_rc(ud_snapshot_add(&bad, big, UD_KEY_MAX + 1, S("v"), UD_TYPE_BYTES), UD_ETOOBIG);
    assert_rc(ud_snapshot_add(&bad, S("k"), S("v"), 7), UD_EINVAL);
    free(big);
    ud_buf_free(&bad);
    assert_ok(ud_snapshot_add(&bad, S("n"), S("not a snapshot"), UD_TYPE_DICT));
    int rc = ud_snapshot_finish(&bad);
    if (rc == 0)
        rc = ud_restore(d, bad.data, bad.len);
    assert_true(is_snapshot_error(rc));
    check_filled(d);

    /* A key added twice makes the snapshot invalid when it is restored; nothing changes.
     * (Results are checked after everything is freed, so a failure leaves nothing behind.) */
    uint64_t h0 = 0, h1 = 1;
    size_t n0 = 0, n1 = 1;
    assert_ok(ut_dict_checksum(d, &h0, &n0));
    ud_buf dup = UD_BUF_INIT;
    assert_ok(ud_snapshot_add(&dup, S("k"), S("1"), UD_TYPE_BYTES));
    assert_ok(ud_snapshot_add(&dup, S("k"), S("2"), UD_TYPE_BYTES));
    int rc_dup = ud_snapshot_finish(&dup);
    if (rc_dup == 0)
        rc_dup = ud_restore(d, dup.data, dup.len);
    int rc_sum = ut_dict_checksum(d, &h1, &n1);

    /* Restoring the empty snapshot empties the dict and unlinks its child. */
    int rc_empty = ud_restore(d, empty.data, empty.len);
    size_t len_after = ud_len(d);
    int unexpected = ut_unexpected_segments(name);
    int segs = ut_count_segments(name);

    ud_buf_free(&empty);
    ud_buf_free(&inner);
    ud_buf_free(&outer);
    ud_buf_free(&bad);
    ud_buf_free(&dup);
    assert_ok(ud_close(d));

    assert_rc(rc_dup, UD_ECORRUPT);
    assert_ok(rc_sum);
    assert_int_equal(n1, n0);
    assert_int_equal(h1, h0);
    assert_ok(rc_empty);
    assert_int_equal(len_after, 0);
    assert_int_equal(unexpected, 0);
    assert_true(segs <= 4);
}

/* A link planted where the temporary file used to go (PATH.tmp.PID) is never followed: the
 * file it points at stays as it was, and PATH receives the snapshot. */
static void test_save_file_planted_link(void **state) {
    (void)state;
    char name[64];
    ud_dict *d = ut_open(ut_name(name), UD_CREATE_ONLY, UD_LOCK_MUTEX, 0);
    assert_ok(ud_set(d, S("k"), S("v")));
    char dir[] = "/tmp/ud_test_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], victim[256], link[300];
    snprintf(path, sizeof path, "%s/snap.uds", dir);
    snprintf(victim, sizeof victim, "%s/victim", dir);
    FILE *f = fopen(victim, "w");
    assert_non_null(f);
    fputs("precious", f);
    fclose(f);
    snprintf(link, sizeof link, "%s.tmp.%d", path, (int)getpid());
    assert_int_equal(symlink(victim, link), 0);
    assert_ok(ud_save_file(d, path));
    size_t n;
    unsigned char *v = ut_file_read(victim, &n);
    assert_non_null(v);
    assert_int_equal(n, 8);
    assert_memory_equal(v, "precious", 8);
    free(v);
    ud_dict *r = ut_open(ut_name(name), UD_CREATE_ONLY, UD_LOCK_MUTEX, 0);
    assert_ok(ud_restore_file(r, path));
    assert_int_equal(ud_len(r), 1);
    /* The only files left are the snapshot, the victim and the planted link. */
    char cmd[400];
    snprintf(cmd, sizeof cmd, "test $(ls -A %s | wc -l) = 3", dir);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    assert_ok(ud_close(r));
    assert_ok(ud_close(d));
}

UT_MAIN(UT_TEST(test_snapshots), UT_TEST(test_snapshot_plain), UT_NAMED_TEST(test_snapshot_build),
        UT_TEST(test_save_file_planted_link))
