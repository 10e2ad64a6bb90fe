/*
 * test_kv_contract.c - the contract every adapter must keep, run against one backend per run:
 *
 *     test_kv_contract URI            e.g. local:, sqlite:/tmp/t-%p.db ("%p": this pid)
 *     test_kv_contract service:NAME   a service of scripts/services (skipped if not running)
 *
 * Tests that need a capability the backend lacks check that the interface says so (KV_ENOTSUP)
 * instead of running. Multi-process tests fork children that open their own connections and
 * _exit() with a status; only the parent asserts, after waitpid, under a hang guard.
 */
#include "contract.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

char contract_uri[1024];
char contract_skip_reason[1024];
kv_conn *conn;

bool contract_has(unsigned cap) {
    return (kv_caps(conn) & cap) != 0;
}

static void fill_random(unsigned char *p, size_t n, unsigned seed) {
    uint64_t x = seed * UINT64_C(0x9e3779b97f4a7c15) + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (unsigned char)x;
    }
}

static int setup(void **state) {
    (void)state;
    if (!conn)
        return 0;
    /* A test that failed while holding the lock must not hang the tests after it. */
    kv_unlock(conn);
    return kv_clear(conn) == 0 ? 0 : -1;
    return 0;
}

/* ---- Single entries. ---- */

static void test_round_trip(void **state) {
    (void)state;
    NEED_CONN();
    kv_buf v = KV_BUF_INIT;

    CHECK_RC(kv_set(conn, "a", 1, "hello", 5), 0);
    CHECK_RC(kv_get(conn, "a", 1, &v), 0);
    assert_int_equal(v.len, 5);
    assert_memory_equal(v.data, "hello", 5);
    assert_int_equal(((char *)v.data)[5], '\0');

    /* An empty value is a value, not a missing key. */
    CHECK_RC(kv_set(conn, "empty", 5, "", 0), 0);
    CHECK_RC(kv_get(conn, "empty", 5, &v), 0);
    assert_int_equal(v.len, 0);
    CHECK_RC(kv_set(conn, "empty2", 6, NULL, 0), 0);
    CHECK_RC(kv_get(conn, "empty2", 6, &v), 0);
    assert_int_equal(v.len, 0);

    /* Binary keys and values: NUL bytes, high bytes, CR/LF that text protocols care about. */
    static const unsigned char bkey[] = {'b', 0, 0xff, '\r', '\n', ' ', 1};
    static const unsigned char bval[] = {0, 1, 0, 0xfe, '\r', '\n', 0};
    CHECK_RC(kv_set(conn, bkey, sizeof(bkey), bval, sizeof(bval)), 0);
    CHECK_RC(kv_get(conn, bkey, sizeof(bkey), &v), 0);
    assert_int_equal(v.len, sizeof(bval));
    assert_memory_equal(v.data, bval, sizeof(bval));
    CHECK_RC(kv_get(conn, "b", 1, &v), KV_ENOTFOUND); /* the prefix before the NUL is another key */

    /* 1 MiB of random bytes. */
    size_t big = 1u << 20;
    unsigned char *data = malloc(big);
    assert_non_null(data);
    fill_random(data, big, 7);
    CHECK_RC(kv_set(conn, "big", 3, data, big), 0);
    CHECK_RC(kv_get(conn, "big", 3, &v), 0);
    assert_int_equal(v.len, big);
    assert_memory_equal(v.data, data, big);
    free(data);
    kv_buf_free(&v);
}

static void test_missing_and_invalid(void **state) {
    (void)state;
    NEED_CONN();
    kv_buf v = KV_BUF_INIT;

    CHECK_RC(kv_get(conn, "nope", 4, &v), KV_ENOTFOUND);
    assert_true(kv_errmsg(conn)[0] != '\0');
    CHECK_RC(kv_del(conn, "nope", 4), KV_ENOTFOUND);

    /* A success clears the detail of the previous failure. */
    CHECK_RC(kv_set(conn, "x", 1, "1", 1), 0);
    assert_string_equal(kv_errmsg(conn), "");

    CHECK_RC(kv_get(conn, "", 0, &v), KV_EINVAL);
    CHECK_RC(kv_get(conn, NULL, 3, &v), KV_EINVAL);
    CHECK_RC(kv_set(conn, "x", 1, NULL, 3), KV_EINVAL);
    CHECK_RC(kv_get(conn, "x", 1, NULL), KV_EINVAL);
    assert_int_equal(kv_get(NULL, "x", 1, &v), KV_EINVAL);
    kv_buf_free(&v);
}

static void test_overwrite_and_delete(void **state) {
    (void)state;
    NEED_CONN();
    kv_buf v = KV_BUF_INIT;

    CHECK_RC(kv_set(conn, "k", 1, "first", 5), 0);
    CHECK_RC(kv_set(conn, "k", 1, "a much longer second value", 26), 0);
    CHECK_RC(kv_get(conn, "k", 1, &v), 0);
    assert_int_equal(v.len, 26);
    assert_memory_equal(v.data, "a much longer second value", 26);
    CHECK_RC(kv_set(conn, "k", 1, "3", 1), 0);
    CHECK_RC(kv_get(conn, "k", 1, &v), 0);
    assert_int_equal(v.len, 1);
    assert_memory_equal(v.data, "3", 1);

    CHECK_RC(kv_del(conn, "k", 1), 0);
    CHECK_RC(kv_get(conn, "k", 1, &v), KV_ENOTFOUND);
    CHECK_RC(kv_del(conn, "k", 1), KV_ENOTFOUND);
    /* A deleted key can come back. */
    CHECK_RC(kv_set(conn, "k", 1, "again", 5), 0);
    CHECK_RC(kv_get(conn, "k", 1, &v), 0);
    assert_memory_equal(v.data, "again", 5);
    kv_buf_free(&v);
}

static void test_incr(void **state) {
    (void)state;
    NEED_CONN();
    kv_buf v = KV_BUF_INIT;
    int64_t r = -1;

    CHECK_RC(kv_incr(conn, "n", 1, 5, &r), 0); /* a missing key counts from 0 */
    assert_int_equal(r, 5);
    CHECK_RC(kv_incr(conn, "n", 1, 1, &r), 0);
    assert_int_equal(r, 6);
    CHECK_RC(kv_incr(conn, "n", 1, -2, &r), 0);
    assert_int_equal(r, 4);
    CHECK_RC(kv_incr(conn, "n", 1, 0, NULL), 0);
    CHECK_RC(kv_get(conn, "n", 1, &v), 0);
    assert_int_equal(v.len, 1);
    assert_memory_equal(v.data, "4", 1);

    /* Counters are decimal ASCII, shared with kv_set(). */
    CHECK_RC(kv_set(conn, "m", 1, "41", 2), 0);
    CHECK_RC(kv_incr(conn, "m", 1, 1, &r), 0);
    assert_int_equal(r, 42);

    CHECK_RC(kv_set(conn, "s", 1, "abc", 3), 0);
    CHECK_RC(kv_incr(conn, "s", 1, 1, &r), KV_ENOTNUM);
    assert_true(kv_errmsg(conn)[0] != '\0');
    CHECK_RC(kv_get(conn, "s", 1, &v), 0); /* unchanged */
    assert_memory_equal(v.data, "abc", 3);

    CHECK_RC(kv_set(conn, "max", 3, "9223372036854775807", 19), 0);
    CHECK_RC(kv_incr(conn, "max", 3, 1, &r), KV_EOVERFLOW);
    kv_buf_free(&v);
}

static void test_batch(void **state) {
    (void)state;
    NEED_CONN();
    enum { N = 200 };
    kv_item items[N];
    char keys[N][16], vals[N][32];
    for (int i = 0; i < N; i++) {
        int kl = snprintf(keys[i], sizeof(keys[i]), "batch:%d", i);
        int vl = snprintf(vals[i], sizeof(vals[i]), "value-%d-%d", i, i * 7);
        items[i] = (kv_item){keys[i], (size_t)kl, vals[i], (size_t)vl};
    }
    items[3].vlen = 0; /* one empty value in the batch */
    CHECK_RC(kv_set_many(conn, items, N), 0);

    /* Read back every other key, plus missing keys and a duplicate. */
    kv_key q[N / 2 + 3];
    kv_buf out[N / 2 + 3];
    int rcs[N / 2 + 3];
    size_t nq = 0;
    for (int i = 0; i < N; i += 2)
        q[nq++] = (kv_key){keys[i], items[i].klen};
    q[nq++] = (kv_key){"batch:missing", 13};
    q[nq++] = (kv_key){keys[4], items[4].klen};
    q[nq++] = (kv_key){"batch:3", 7};
    memset(out, 0, sizeof(out));
    CHECK_RC(kv_get_many(conn, q, nq, out, rcs), 0);
    for (size_t j = 0; j < N / 2; j++) {
        assert_int_equal(rcs[j], 0);
        assert_int_equal(out[j].len, items[2 * j].vlen);
        assert_memory_equal(out[j].data, items[2 * j].val, items[2 * j].vlen);
    }
    assert_int_equal(rcs[N / 2], KV_ENOTFOUND);
    assert_int_equal(rcs[N / 2 + 1], 0);
    assert_memory_equal(out[N / 2 + 1].data, vals[4], items[4].vlen);
    assert_int_equal(rcs[N / 2 + 2], 0);
    assert_int_equal(out[N / 2 + 2].len, 0);
    for (size_t j = 0; j < nq; j++)
        kv_buf_free(&out[j]);

    CHECK_RC(kv_set_many(conn, items, 0), 0);
    CHECK_RC(kv_import(conn, items, N), 0);

    /* Removing every other key and a missing one: the others stay. */
    CHECK_RC(kv_del_many(conn, q, N / 2 + 1), 0);
    CHECK_RC(kv_del_many(conn, q, 0), 0);
    memset(out, 0, sizeof(out));
    CHECK_RC(kv_get_many(conn, q, nq, out, rcs), 0);
    for (size_t j = 0; j < N / 2 + 2; j++)
        assert_int_equal(rcs[j], KV_ENOTFOUND);
    assert_int_equal(rcs[N / 2 + 2], 0);
    for (size_t j = 0; j < nq; j++)
        kv_buf_free(&out[j]);
}

static void test_count_clear(void **state) {
    (void)state;
    NEED_CONN();
    uint64_t n = 99;
    kv_buf v = KV_BUF_INIT;

    for (int i = 0; i < 10; i++) {
        char k[8];
        int kl = snprintf(k, sizeof(k), "c%d", i);
        CHECK_RC(kv_set(conn, k, (size_t)kl, "v", 1), 0);
    }
    if (contract_has(KV_CAP_COUNT)) {
        CHECK_RC(kv_count(conn, &n), 0);
        assert_int_equal(n, 10);
        CHECK_RC(kv_del(conn, "c0", 2), 0);
        CHECK_RC(kv_count(conn, &n), 0);
        assert_int_equal(n, 9);
    } else {
        CHECK_RC(kv_count(conn, &n), KV_ENOTSUP);
    }
    CHECK_RC(kv_clear(conn), 0);
    CHECK_RC(kv_get(conn, "c5", 2, &v), KV_ENOTFOUND);
    if (contract_has(KV_CAP_COUNT)) {
        CHECK_RC(kv_count(conn, &n), 0);
        assert_int_equal(n, 0);
    }
    /* The store works after a clear. */
    CHECK_RC(kv_set(conn, "c5", 2, "w", 1), 0);
    CHECK_RC(kv_get(conn, "c5", 2, &v), 0);
    kv_buf_free(&v);
}

/* ---- Export and import. ---- */

#define EXPORT_N 500

struct collected {
    kv_item items[EXPORT_N + 8];
    size_t n;
    int bad;
};

static int collect(void *ctx, const void *key, size_t klen, const void *val, size_t vlen) {
    struct collected *c = ctx;
    if (c->n == EXPORT_N + 8) {
        c->bad++;
        return 0;
    }
    /* One block per entry, key then value; freed through items[i].key. */
    unsigned char *mem = malloc(klen + vlen + 1);
    if (!mem)
        return -ENOMEM;
    memcpy(mem, key, klen);
    memcpy(mem + klen, val, vlen);
    c->items[c->n].key = mem;
    c->items[c->n].klen = klen;
    c->items[c->n].val = mem + klen;
    c->items[c->n].vlen = vlen;
    c->n++;
    return 0;
}

static int stop_at_three(void *ctx, const void *key, size_t klen, const void *val, size_t vlen) {
    (void)key;
    (void)klen;
    (void)val;
    (void)vlen;
    return ++*(int *)ctx == 3 ? 77 : 0;
}

static void make_entry(int i, char *k, size_t *kl, char *v, size_t *vl) {
    *kl = (size_t)sprintf(k, "exp:%04d", i);
    *vl = (size_t)sprintf(v, "v%d", i * 31);
    v[1] = (char)(i % 3 == 0 ? 0 : v[1]); /* NUL bytes inside some values */
}

static void test_export_import(void **state) {
    (void)state;
    NEED_CONN();
    if (!contract_has(KV_CAP_ENUMERATE)) {
        CHECK_RC(kv_export(conn, collect, NULL), KV_ENOTSUP);
        return;
    }
    struct collected *c = calloc(1, sizeof(*c));
    char k[32], v[32];
    size_t kl, vl;
    kv_buf got = KV_BUF_INIT;
    uint64_t n;

    for (int i = 0; i < EXPORT_N; i++) {
        make_entry(i, k, &kl, v, &vl);
        CHECK_RC(kv_set(conn, k, kl, v, vl), 0);
    }
    CHECK_RC(kv_export(conn, collect, c), 0);
    assert_int_equal(c->bad, 0);
    assert_int_equal(c->n, EXPORT_N);

    int count = 0;
    CHECK_RC(kv_export(conn, stop_at_three, &count), 77);
    assert_int_equal(count, 3);

    CHECK_RC(kv_clear(conn), 0);
    CHECK_RC(kv_import(conn, c->items, c->n), 0);
    CHECK_RC(kv_count(conn, &n), 0);
    assert_int_equal(n, EXPORT_N);
    for (int i = 0; i < EXPORT_N; i++) {
        make_entry(i, k, &kl, v, &vl);
        CHECK_RC(kv_get(conn, k, kl, &got), 0);
        assert_int_equal(got.len, vl);
        assert_memory_equal(got.data, v, vl);
    }
    for (size_t i = 0; i < c->n; i++)
        free((void *)c->items[i].key);
    free(c);
    kv_buf_free(&got);
}

/* ---- The interface itself. ---- */

static void test_identity(void **state) {
    (void)state;
    NEED_CONN();
    char caps[256];
    assert_true(kv_backend_name(conn)[0] != '\0');
    assert_true(kv_backend_version(conn)[0] != '\0');
    kv_caps_string(kv_caps(conn), caps, sizeof(caps));
    print_message("backend %s %s, capabilities: %s\n", kv_backend_name(conn),
                  kv_backend_version(conn), caps);
    /* Every backend is meant to be shared by processes, except the private local table. */
    if (strcmp(kv_backend_name(conn), "local") != 0)
        assert_true(contract_has(KV_CAP_CROSS_PROCESS));
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s URI|service:NAME\n", argv[0]);
        return 2;
    }
    /* A hang anywhere fails the run instead of blocking CI: SIGALRM's default action kills. */
    alarm(300);
    if (kvt_test_uri(argv[1], contract_uri, sizeof(contract_uri))) {
        const char *server = kvt_server(argv[1]);
        if (server) {
            if (!ut_lock_server(server, 240)) {
                fprintf(stderr, "another test run kept the %s server for 240 s\n", server);
                return 1;
            }
        }
        int rc = kv_open(contract_uri, &conn);
        if (rc < 0) {
            fprintf(stderr, "kv_open(%s): %s: %s\n", contract_uri, kv_errname(rc), kv_errmsg(NULL));
            return 1;
        }
    } else {
        snprintf(contract_skip_reason, sizeof(contract_skip_reason), "%s", contract_uri);
        printf("%s %s\n", UT_SKIP_MARK, contract_skip_reason);
    }

    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_identity, setup),
        cmocka_unit_test_setup(test_round_trip, setup),
        cmocka_unit_test_setup(test_missing_and_invalid, setup),
        cmocka_unit_test_setup(test_overwrite_and_delete, setup),
        cmocka_unit_test_setup(test_incr, setup),
        cmocka_unit_test_setup(test_batch, setup),
        cmocka_unit_test_setup(test_count_clear, setup),
        cmocka_unit_test_setup(test_export_import, setup),
        cmocka_unit_test_setup(test_lock_basics, setup),
        cmocka_unit_test_setup(test_incr_processes, setup),
        cmocka_unit_test_setup(test_lock_processes, setup),
        cmocka_unit_test_setup(test_snapshot_round_trip, setup),
        cmocka_unit_test_setup(test_snapshot_format1, setup),
        cmocka_unit_test_setup(test_snapshot_overwrite_killed, setup),
#ifdef KV_TEST_HAVE_ULTRADICT
        cmocka_unit_test_setup_teardown(test_snapshot_ultradict, setup, teardown_dicts),
        cmocka_unit_test_setup_teardown(test_snapshot_nested, setup, teardown_dicts),
#endif
    };
    char name[1100];
    snprintf(name, sizeof(name), "kv contract: %s", conn ? contract_uri : argv[1]);
    int failed = cmocka_run_group_tests_name(name, tests, NULL, NULL);
    if (conn) {
        kv_clear(conn);
        kv_close(conn);
        kvt_remove_store(contract_uri);
    }
    return failed ? 1 : 0;
}
