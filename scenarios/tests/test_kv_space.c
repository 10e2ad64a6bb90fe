/*
 * test_kv_space.c - the working sets of the key-value workloads on a persistent store: each
 * shape (keys x value size) in a key space of its own, so that setting up one shape leaves the
 * others' in place, and a shape set up again is not written again. On the local Cloudflare
 * runtime `read` and `large` cleared each other's, a minute each way; here on SQLite.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scen.h"

/* The default suite's two shapes get spaces of their own, never "k", the same every time. */
static void test_spaces(void **state) {
    (void)state;
    char a = sc_key_space(10000, 100), b = sc_key_space(128, 65536);
    assert_true(a != b);
    assert_true(a != 'k' && b != 'k');
    assert_true(a >= 'a' && a <= 'z' && b >= 'a' && b <= 'z');
    assert_int_equal(a, sc_key_space(10000, 100));
    char key[SC_KEY_MAX];
    assert_int_equal(sc_key_in(key, 42, a), SC_KEY_LEN);
    assert_int_equal(key[0], a);
    assert_string_equal(key + 1, "0000000042");
}

/* A cell of the catalogue's `read` with `keys` keys of `size` bytes on conn. */
static void init_cell(sc_cell *c, const kv_conn *kv, uint64_t keys, size_t size) {
    memset(c, 0, sizeof *c);
    c->scenario = sc_find_scenario("read");
    assert_non_null(c->scenario);
    c->caps = kv_caps(kv);
    c->p.keys = keys;
    c->p.value_size = size;
}

static uint64_t count(kv_conn *kv) {
    uint64_t n = 0;
    assert_int_equal(kv_count(kv, &n), 0);
    return n;
}

/* Key i of cell c's space holds a value that sc_prefill wrote for it. */
static void assert_holds(kv_conn *kv, const sc_cell *c, uint64_t i) {
    char key[SC_KEY_MAX];
    size_t klen = sc_key_in(key, i, sc_key_space(c->p.keys, c->p.value_size));
    kv_buf v = KV_BUF_INIT;
    assert_int_equal(kv_get(kv, key, klen, &v), 0);
    assert_int_equal(sc_value_check(v.data, v.len, i, c->p.value_size), 0);
    kv_buf_free(&v);
}

static void test_shapes_side_by_side(void **state) {
    (void)state;
    char dir[] = "/tmp/test_kv_space_XXXXXX", uri[128], path[96];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/s.db", dir);
    snprintf(uri, sizeof uri, "sqlite:%s", path);
    kv_conn *kv;
    assert_int_equal(kv_open(uri, &kv), 0);
    assert_true(kv_caps(kv) & KV_CAP_PERSISTENT);
    sc_cell small, large;
    init_cell(&small, kv, 50, 100);
    init_cell(&large, kv, 4, 65536);
    char err[256] = "";
    /* Each shape: its keys and its mark. */
    assert_int_equal(sc_kv_setup(&small, kv, err, sizeof err), 0);
    assert_int_equal(count(kv), 51);
    assert_int_equal(sc_kv_setup(&large, kv, err, sizeof err), 0);
    assert_int_equal(count(kv), 51 + 5);
    assert_holds(kv, &small, 0);
    assert_holds(kv, &small, 49);
    assert_holds(kv, &large, 3);
    /* Set up again: found, not written (a key removed behind the mark's back stays removed). */
    char key[SC_KEY_MAX];
    size_t klen = sc_key_in(key, 7, sc_key_space(50, 100));
    assert_int_equal(kv_del(kv, key, klen), 0);
    assert_int_equal(sc_kv_setup(&small, kv, err, sizeof err), 0);
    assert_int_equal(count(kv), 55);
    assert_int_equal(kv_close(kv), 0);
    /* From run to run: a new connection finds both. */
    assert_int_equal(kv_open(uri, &kv), 0);
    assert_int_equal(sc_kv_setup(&large, kv, err, sizeof err), 0);
    assert_int_equal(sc_kv_setup(&small, kv, err, sizeof err), 0);
    assert_int_equal(count(kv), 55);
    assert_int_equal(kv_close(kv), 0);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spaces),
        cmocka_unit_test(test_shapes_side_by_side),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
