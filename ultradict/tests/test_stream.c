/*
 * test_stream.c - the stream of updates and full dumps (dump, load, apply_update, status,
 * wait), the value codec and static dump sizes. Nested dicts are in test_nesting.c, portable
 * snapshots in test_snapshot.c.
 */
#include "testutil.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

/* The dict `name`, created with the given buffer size (mutex lock), and in *b a second handle
 * on it. */
static ud_dict *open_two(const char *name, size_t buffer_size, ud_dict **b) {
    ud_dict *a = ut_open(name, UD_CREATE_ONLY, UD_LOCK_MUTEX, buffer_size);
    *b = ut_open(name, UD_ATTACH_ONLY, UD_LOCK_MUTEX, 0);
    return a;
}

static void test_dump_load_apply(const char *name) {
    ud_dict *b, *a = open_two(name, 65536, &b);
    ud_buf v = UD_BUF_INIT;
    ud_status_info sa0, sa, sb0, sb;

    assert_ok(ud_status(a, &sa0));
    assert_ok(ud_set(a, S("k1"), S("v1")));
    assert_ok(ud_status(a, &sa));
    assert_true(sa.end_position > sa0.end_position);
    assert_true(sa.stream_used > sa0.stream_used);
    assert_int_equal(sa.dump_count, sa0.dump_count);

    /* load() with no newer dump changes nothing; apply_update() replays the stream. */
    assert_rc(ud_get_local(b, S("k1"), &v), UD_ENOTFOUND);
    assert_ok(ud_load(b, false));
    assert_ok(ud_apply_update(b));
    assert_ok(ud_get_local(b, S("k1"), &v));
    assert_buf_eq(&v, "v1", 2);

    /* A dump: counter +1, stream emptied, dump position at the end. b is behind it (k1b). */
    assert_ok(ud_set(a, S("k1b"), S("x")));
    assert_ok(ud_dump(a));
    assert_ok(ud_status(a, &sa));
    assert_int_equal(sa.dump_count, sa0.dump_count + 1);
    assert_int_equal(sa.stream_used, 0);
    assert_int_equal(sa.dump_position, sa.end_position);
    assert_true(sa.last_dump_bytes > 0);
    assert_int_equal(sa.local_position, sa.end_position);

    /* load(false) loads a dump it has not loaded yet, once; load(true) always. */
    assert_ok(ud_status(b, &sb0));
    assert_ok(ud_load(b, false));
    assert_ok(ud_status(b, &sb));
    assert_int_equal(sb.local_dumps_loaded, sb0.local_dumps_loaded + 1);
    assert_ok(ud_load(b, false));
    assert_ok(ud_status(b, &sb));
    assert_int_equal(sb.local_dumps_loaded, sb0.local_dumps_loaded + 1);
    assert_ok(ud_load(b, true));
    assert_ok(ud_status(b, &sb));
    assert_int_equal(sb.local_dumps_loaded, sb0.local_dumps_loaded + 2);
    assert_ok(ud_get_local(b, S("k1"), &v));
    assert_buf_eq(&v, "v1", 2);

    /* One streamed record: b replays exactly one. */
    assert_ok(ud_set(a, S("k2"), S("v2")));
    assert_rc(ud_get_local(b, S("k2"), &v), UD_ENOTFOUND);
    assert_ok(ud_status(b, &sb0));
    assert_ok(ud_apply_update(b));
    assert_ok(ud_status(b, &sb));
    assert_int_equal(sb.local_records_applied, sb0.local_records_applied + 1);
    assert_int_equal(sb.local_dumps_loaded, sb0.local_dumps_loaded);
    assert_int_equal(sb.local_position, sb.end_position);
    assert_ok(ud_get_local(b, S("k2"), &v));
    assert_buf_eq(&v, "v2", 2);
    /* Nothing pending: apply_update is a no-op. */
    assert_ok(ud_apply_update(b));
    assert_ok(ud_status(b, &sb0));
    assert_int_equal(sb0.local_records_applied, sb.local_records_applied);

    /* A forced load goes back to the dump (k1, not k2, k3); apply_update replays the rest. */
    assert_ok(ud_del(a, S("k1")));
    assert_ok(ud_set(a, S("k3"), S("v3")));
    assert_ok(ud_load(b, true));
    assert_ok(ud_get_local(b, S("k1"), &v));
    assert_buf_eq(&v, "v1", 2);
    assert_rc(ud_get_local(b, S("k2"), &v), UD_ENOTFOUND);
    assert_rc(ud_get_local(b, S("k3"), &v), UD_ENOTFOUND);
    assert_ok(ud_apply_update(b));
    assert_rc(ud_get_local(b, S("k1"), &v), UD_ENOTFOUND);
    assert_ok(ud_get_local(b, S("k3"), &v));
    assert_buf_eq(&v, "v3", 2);
    ut_assert_same_dict(a, b);

    /* A dump by the attacher works the same way for the creator. */
    assert_ok(ud_set(b, S("k4"), S("v4")));
    assert_ok(ud_dump(b));
    assert_ok(ud_load(a, false));
    assert_ok(ud_get_local(a, S("k4"), &v));
    assert_buf_eq(&v, "v4", 2);
    ut_assert_same_dict(a, b);

    ud_buf_free(&v);
    assert_ok(ud_close(b));
    assert_ok(ud_close(a));
}

static void test_buffer_full_converges(const char *name) {
    ud_dict *b, *a = open_two(name, 4096, &b);
    ud_status_info s0, s;
    assert_ok(ud_apply_update(b));
    assert_ok(ud_status(a, &s0));

    /* ~40 KB of records through a 4 KB buffer: several dumps; b does not look meanwhile. */
    char val[128];
    for (int i = 0; i < 300; i++) {
        char k[16];
        snprintf(k, sizeof k, "key%d", i);
        ut_value_make(val, 100, k, strlen(k), (uint64_t)i);
        assert_ok(ud_set(a, S(k), val, 100));
        assert_ok(ud_status(a, &s));
        assert_true(s.stream_used <= s.stream_capacity);
    }
    assert_ok(ud_status(a, &s));
    printf("300 writes through a 4 KiB buffer: %llu dumps\n",
           (unsigned long long)(s.dump_count - s0.dump_count));
    assert_true(s.dump_count - s0.dump_count >= 3);
    assert_int_equal(s.buffer_size, 4096);

    ud_status_info b0, b1;
    assert_ok(ud_status(b, &b0));
    assert_ok(ud_apply_update(b));
    assert_ok(ud_status(b, &b1));
    assert_true(b1.local_dumps_loaded > b0.local_dumps_loaded);
    assert_int_equal(ud_len(b), 300);
    ut_assert_same_dict(a, b);

    /* Both handles write, alternating, with values of random sizes: still converging. */
    ut_rng r;
    ut_rng_seed(&r, 42);
    char big[2048];
    for (int i = 0; i < 2000; i++) {
        ud_dict *w = (i & 1) ? a : b;
        char k[16];
        snprintf(k, sizeof k, "r%d", (int)ut_rng_below(&r, 50));
        size_t len = UT_VALUE_MIN + (size_t)ut_rng_below(&r, 1500);
        if (ut_rng_below(&r, 10) == 0) {
            int rc = ud_del(w, S(k));
            if (rc != 0 && rc != UD_ENOTFOUND)
                fail_msg("del: %s", ud_errname(rc));
        } else {
            ut_value_make(big, len, k, strlen(k), (uint64_t)i);
            assert_ok(ud_set(w, S(k), big, len));
        }
        if (i % 100 == 99)
            ut_assert_same_dict(a, b);
    }
    ut_assert_same_dict(a, b);
    ud_dict *c = ut_open(name, UD_ATTACH_ONLY, UD_LOCK_MUTEX, 0);
    ut_assert_same_dict(a, c);
    assert_ok(ud_close(c));

    assert_ok(ud_close(b));
    assert_ok(ud_close(a));
}

static void test_status_fields(const char *name) {
    ud_dict *b, *a = open_two(name, 8192, &b);
    ud_status_info s, t;

    assert_ok(ud_status(a, &s));
    assert_string_equal(s.name, name);
    assert_int_equal(s.lock_mode, UD_LOCK_MUTEX);
    assert_false(s.recurse);
    assert_true(s.creator);
    assert_true(s.auto_unlink);
    assert_int_equal(s.creator_pid, getpid());
    assert_int_equal(s.lock_holder, 0);
    assert_int_equal(s.len, 0);
    assert_int_equal(s.buffer_size, 8192);
    assert_true(s.stream_capacity >= 8192);
    assert_int_equal(s.full_dump_size, 0);
    assert_true(s.dump_position <= s.end_position);
    assert_int_equal(s.lock_recoveries, 0);
    assert_true(s.attached >= 1);

    assert_ok(ud_status(b, &t));
    assert_string_equal(t.name, name);
    assert_false(t.creator);
    assert_false(t.auto_unlink);
    assert_int_equal(t.creator_pid, getpid());

    uint64_t end = s.end_position;
    size_t used = s.stream_used;
    for (int i = 0; i < 10; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        assert_ok(ud_set(a, S(k), S("0123456789")));
        assert_ok(ud_status(a, &s));
        assert_true(s.end_position > end);
        assert_true(s.stream_used > used);
        assert_int_equal(s.len, (size_t)i + 1);
        assert_int_equal(s.local_position, s.end_position);
        end = s.end_position;
        used = s.stream_used;
    }
    /* The logical end counts everything streamed; it never moves back, even after a dump. */
    assert_ok(ud_dump(a));
    assert_ok(ud_status(a, &s));
    assert_true(s.end_position >= end);
    assert_true(s.last_dump_bytes >= 10 * 12);
    assert_true(s.dump_capacity[0] > 0 || s.dump_capacity[1] > 0);

    /* The lock holder while locked. */
    assert_ok(ud_lock(b, NULL));
    assert_ok(ud_status(a, &s));
    assert_int_equal(s.lock_holder, getpid());
    assert_ok(ud_unlock(b));
    assert_ok(ud_status(a, &s));
    assert_int_equal(s.lock_holder, 0);

    /* b catches up; its len and position match. */
    assert_ok(ud_apply_update(b));
    assert_ok(ud_status(b, &t));
    assert_int_equal(t.len, 10);
    assert_int_equal(t.local_position, t.end_position);

    /* The printable status: one "key: value" a line, naming the dict. */
    char *text = NULL;
    size_t tlen = 0;
    FILE *f = open_memstream(&text, &tlen);
    assert_non_null(f);
    assert_ok(ud_print_status(a, f));
    fclose(f);
    assert_non_null(text);
    assert_non_null(strstr(text, name));
    int lines = 0;
    for (char *line = text; *line;) {
        char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        if (n > 0) {
            lines++;
            if (memmem(line, n, ": ", 2) == NULL)
                fail_msg("status line without \"key: value\": %.*s", (int)n, line);
        }
        line += n + (nl ? 1 : 0);
    }
    assert_true(lines >= 10);
    free(text);

    assert_ok(ud_close(b));
    assert_ok(ud_close(a));
}

/* Child: waits (varg: the delay in seconds), then writes w=1 through its own handle. */
static int delayed_writer(ud_dict *d, void *varg) {
    ut_sleep(*(const double *)varg);
    if (ud_set(d, S("w"), S("1")) != 0)
        return 3;
    ud_close(d);
    return 0;
}

static void test_wait(const char *name) {
    ud_dict *b, *a = open_two(name, 0, &b);
    ud_buf v = UD_BUF_INIT;

    /* No change: UD_ETIMEDOUT after about the timeout. */
    double t0 = ut_now();
    assert_rc(ud_wait(b, 0.2), UD_ETIMEDOUT);
    double el = ut_now() - t0;
    if (el < 0.15 || el > 2.0)
        fail_msg("ud_wait(0.2) took %.3f s", el);

    /* Another process writes after 100 ms: ud_wait returns 0 and has applied the update. */
    double delay = 0.1;
    pid_t pid = ut_fork_on(name, delayed_writer, &delay);
    assert_true(pid > 0);
    t0 = ut_now();
    int rc = ud_wait(b, 5.0);
    el = ut_now() - t0;
    int st = ut_wait(pid, 10.0);
    assert_rc(rc, 0);
    assert_int_equal(st, 0);
    if (el > 4.0)
        fail_msg("ud_wait noticed the change only after %.3f s", el);
    printf("ud_wait woke %.1f ms after it started (writer slept 100 ms)\n", el * 1000);
    assert_ok(ud_get_local(b, S("w"), &v));
    assert_buf_eq(&v, "1", 1);

    /* A change that is already pending counts: no waiting. */
    assert_ok(ud_set(a, S("x"), S("2")));
    t0 = ut_now();
    assert_ok(ud_wait(b, 2.0));
    assert_true(ut_now() - t0 < 1.0);
    assert_ok(ud_get_local(b, S("x"), &v));
    assert_buf_eq(&v, "2", 1);

    /* And nothing new again: timeout. */
    assert_rc(ud_wait(b, 0.05), UD_ETIMEDOUT);

    ud_buf_free(&v);
    assert_ok(ud_close(b));
    assert_ok(ud_close(a));
}

/* ---- The value codec: XOR 0x5A behind a 2-byte prefix "X1". ---- */

typedef struct codec_ctx {
    int encodes, decodes;
} codec_ctx;

static int xor_encode(void *vctx, const void *in, size_t len, ud_buf *out) {
    codec_ctx *ctx = vctx;
    ctx->encodes++;
    if (len == 4 && memcmp(in, "FAIL", 4) == 0)
        return -1;
    void *p = realloc(out->data, len + 3);
    if (p == NULL)
        return -ENOMEM;
    out->data = p;
    out->cap = len + 3;
    unsigned char *o = p;
    o[0] = 'X';
    o[1] = '1';
    for (size_t i = 0; i < len; i++)
        o[2 + i] = ((const unsigned char *)in)[i] ^ 0x5A;
    o[len + 2] = 0;
    out->len = len + 2;
    return 0;
}

static int xor_decode(void *vctx, const void *in, size_t len, ud_buf *out) {
    codec_ctx *ctx = vctx;
    ctx->decodes++;
    const unsigned char *c = in;
    if (len < 2 || c[0] != 'X' || c[1] != '1')
        return -1;
    void *p = realloc(out->data, len);
    if (p == NULL)
        return -ENOMEM;
    out->data = p;
    out->cap = len;
    unsigned char *o = p;
    for (size_t i = 2; i < len; i++)
        o[i - 2] = c[i] ^ 0x5A;
    o[len - 2] = 0;
    out->len = len - 2;
    return 0;
}

static void xor_bytes(const char *in, size_t n, char *out) {
    out[0] = 'X';
    out[1] = '1';
    for (size_t i = 0; i < n; i++)
        out[2 + i] = (char)(in[i] ^ 0x5A);
}

static void test_codec(const char *name) {
    codec_ctx ctx = {0, 0};
    ud_codec codec = {xor_encode, xor_decode, &ctx};
    ud_options o = ut_options(name);
    o.codec = &codec;
    ud_dict *a = NULL, *b = NULL;
    assert_ok(ud_open(&o, &a));
    o.create = UD_ATTACH_ONLY;
    assert_ok(ud_open(&o, &b));
    ud_options raw_o = ut_options(name);
    raw_o.create = UD_ATTACH_ONLY;
    ud_dict *raw = NULL; /* no codec: sees the stored bytes */
    assert_ok(ud_open(&raw_o, &raw));
    ud_buf v = UD_BUF_INIT, k = UD_BUF_INIT;
    const char secret[] = "PLAINTEXT-SECRET-1234567";
    char enc[64];
    xor_bytes(secret, strlen(secret), enc);

    assert_ok(ud_set(a, S("k"), S(secret)));
    assert_true(ctx.encodes >= 1);
    assert_ok(ud_get(b, S("k"), &v));
    assert_buf_eq(&v, S(secret));
    assert_true(ctx.decodes >= 1);
    assert_ok(ud_get(raw, S("k"), &v));
    assert_buf_eq(&v, enc, strlen(secret) + 2);

    /* The plaintext is nowhere in shared memory; the encoded bytes are. */
    char path[512];
    assert_int_equal(ut_file_find(ut_shm_path(path, name, ".stream"), S(secret), 0), -1);
    assert_true(ut_file_find(path, enc, strlen(secret) + 2, 0) >= 0);
    assert_ok(ud_dump(a));
    for (int i = 0; i < 2; i++) {
        char suf[8];
        snprintf(suf, sizeof suf, ".dump%d", i);
        if (ut_file_size(ut_shm_path(path, name, suf)) > 0)
            assert_int_equal(ut_file_find(path, S(secret), 0), -1);
    }

    /* Every way in and out goes through the codec. */
    assert_ok(ud_get_local(a, S("k"), &v));
    assert_buf_eq(&v, S(secret));
    assert_ok(ud_get_default(b, S("none"), S("dflt"), &v));
    assert_buf_eq(&v, "dflt", 4);
    ud_item items[] = {{"u1", 2, "one", 3}, {"u2", 2, "two", 3}};
    assert_ok(ud_update(a, items, 2));
    assert_ok(ud_get(raw, S("u1"), &v));
    char enc2[8];
    xor_bytes("one", 3, enc2);
    assert_buf_eq(&v, enc2, 5);
    assert_ok(ud_setdefault(b, S("sd"), S("dflt"), &v));
    assert_buf_eq(&v, "dflt", 4);
    assert_ok(ud_setdefault(a, S("sd"), S("other"), &v));
    assert_buf_eq(&v, "dflt", 4);
    assert_ok(ud_pop(b, S("u2"), &v));
    assert_buf_eq(&v, "two", 3);

    ud_iter *it = NULL;
    assert_ok(ud_iter_open(b, &it));
    int n = 0, rc;
    while ((rc = ud_iter_next(it, &k, &v, NULL)) == 0) {
        n++;
        if (k.len == 1 && memcmp(k.data, "k", 1) == 0)
            assert_buf_eq(&v, S(secret));
    }
    assert_rc(rc, UD_ENOTFOUND);
    ud_iter_close(it);
    assert_int_equal(n, 3);

    assert_ok(ud_popitem(a, &k, &v));
    assert_buf_eq(&k, "sd", 2);
    assert_buf_eq(&v, "dflt", 4);

    /* An encoder failure: UD_ECODEC, nothing stored. */
    size_t len0 = ud_len(a);
    assert_rc(ud_set(a, S("bad"), S("FAIL")), UD_ECODEC);
    assert_rc(ud_get_local(a, S("bad"), &v), UD_ENOTFOUND);
    assert_rc(ud_contains(b, S("bad")), 0);
    assert_int_equal(ud_len(b), len0);
    /* A decoder failure (bytes written without the codec): UD_ECODEC. */
    assert_ok(ud_set(raw, S("plain"), S("no prefix")));
    assert_rc(ud_get(b, S("plain"), &v), UD_ECODEC);

    /* incr does not pass through the codec. */
    assert_ok(ud_incr(a, S("n"), 5, NULL));
    assert_ok(ud_get(raw, S("n"), &v));
    assert_buf_eq(&v, "5", 1);

    ud_buf_free(&v);
    ud_buf_free(&k);
    assert_ok(ud_close(raw));
    assert_ok(ud_close(b));
    assert_ok(ud_close(a));
}

/* ---- Static dump size. ---- */

static void test_static_dump_full(const char *name) {
    ud_options o = ut_options(name);
    o.buffer_size = 4096;
    o.full_dump_size = 8192;
    ud_dict *a = NULL;
    assert_ok(ud_open(&o, &a));
    ud_dict *b = ut_open(name, UD_ATTACH_ONLY, UD_LOCK_MUTEX, 0);
    ud_status_info st;
    assert_ok(ud_status(b, &st));
    assert_int_equal(st.full_dump_size, 8192);
    size_t cap0 = st.dump_capacity[0], cap1 = st.dump_capacity[1];
    assert_true(cap0 >= 8192);

    /* Distinct keys of 100 bytes: the dict outgrows 8 KiB and a dump cannot hold it. */
    char val[100];
    memset(val, 'v', sizeof val);
    int rc = 0, i;
    for (i = 0; i < 1000; i++) {
        char k[16];
        snprintf(k, sizeof k, "key%04d", i);
        rc = ud_set(a, S(k), val, sizeof val);
        if (rc != 0)
            break;
    }
    assert_rc(rc, UD_EDUMPFULL);
    assert_true(i > 40); /* 8 KiB held at least 40 entries before it filled */
    char k[16];
    snprintf(k, sizeof k, "key%04d", i);
    /* Nothing changed, not even the writer's own local copy. */
    ud_buf lv = UD_BUF_INIT;
    assert_rc(ud_get_local(a, S(k), &lv), UD_ENOTFOUND);
    ud_buf_free(&lv);
    assert_rc(ud_contains(a, S(k)), 0);
    assert_rc(ud_contains(b, S(k)), 0);
    assert_int_equal(ud_len(a), (size_t)i);
    assert_int_equal(ud_len(b), (size_t)i);
    ut_assert_same_dict(a, b);
    assert_ok(ud_status(a, &st));
    assert_int_equal(st.dump_capacity[0], cap0);
    assert_int_equal(st.dump_capacity[1], cap1);
    /* The failed write left no trace in the stream either: a fresh handle agrees. */
    ud_dict *c = ut_open(name, UD_ATTACH_ONLY, UD_LOCK_MUTEX, 0);
    ut_assert_same_dict(a, c);
    assert_ok(ud_close(c));

    /* The dict can always shrink again: del, pop, popitem, restore and clear succeed however
     * full the stream is (each is tried after rewriting a key until the stream must dump). */
    char key0[16];
    snprintf(key0, sizeof key0, "key%04d", 0);
    for (int round = 0; round < 4; round++) {
        for (int w = 0; w < 200; w++) {
            rc = ud_set(a, S(key0), val, sizeof val);
            if (rc)
                break;
        }
        assert_ok(rc);
        ud_buf pv = UD_BUF_INIT, pk = UD_BUF_INIT;
        snprintf(k, sizeof k, "key%04d", 1 + round);
        if (round == 0)
            assert_ok(ud_del(a, S(k)));
        else if (round == 1)
            assert_ok(ud_pop(a, S(k), &pv));
        else if (round == 2)
            assert_ok(ud_popitem(a, &pk, &pv));
        else {
            ud_buf snap = UD_BUF_INIT;
            assert_ok(ud_snapshot_add(&snap, S("only"), S("one"), UD_TYPE_BYTES));
            assert_ok(ud_snapshot_finish(&snap));
            assert_ok(ud_restore(a, snap.data, snap.len));
            ud_buf_free(&snap);
            assert_int_equal(ud_len(b), 1);
        }
        ud_buf_free(&pv);
        ud_buf_free(&pk);
    }
    for (int w = 0; w < 200; w++)
        assert_ok(ud_set(a, S("only"), val, sizeof val));
    assert_ok(ud_clear(a));
    assert_int_equal(ud_len(b), 0);
    ut_assert_same_dict(a, b);
    /* And it fills up again to the same limit. */
    for (i = 0; i < 1000; i++) {
        snprintf(k, sizeof k, "key%04d", i);
        if ((rc = ud_set(a, S(k), val, sizeof val)) != 0)
            break;
    }
    assert_rc(rc, UD_EDUMPFULL);
    assert_true(i > 40);

    assert_ok(ud_close(b));
    assert_ok(ud_close(a));
}

UT_MAIN(UT_NAMED_TEST(test_dump_load_apply), UT_NAMED_TEST(test_buffer_full_converges),
        UT_NAMED_TEST(test_status_fields), UT_NAMED_TEST(test_wait), UT_NAMED_TEST(test_codec),
        UT_NAMED_TEST(test_static_dump_full))
