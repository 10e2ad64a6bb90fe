/*
 * test_kv_fixture.c - the backends' test fixtures: the store a test leaves is removed, a test URI
 * from the environment is used as given, and services map to the server they share.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ut_cmocka.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kv.h"
#include "kv_fixture.h"

static bool exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* A store made through kv_open() is gone after kvt_remove_store(), files and folder alike. */
static void remove_after_open(const char *scheme, const char *name) {
    if (!kv_adapter_built(scheme))
        return;
    char dir[] = "/tmp/kvfixture-XXXXXX", uri[256], path[200];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(uri, sizeof uri, "%s:%s?sync=off", scheme, path);
    kv_conn *c;
    assert_int_equal(kv_open(uri, &c), 0);
    assert_int_equal(kv_set(c, "k", 1, "v", 1), 0);
    kv_close(c);
    assert_true(exists(path));
    kvt_remove_store(uri);
    assert_false(exists(path));
    assert_int_equal(rmdir(dir), 0); /* nothing else was left in the folder */
}

static void test_remove(void **state) {
    (void)state;
    remove_after_open("sqlite", "t.db");
    remove_after_open("lmdb", "t.lmdb");
    kvt_remove_store("local:"); /* no fixture: nothing to do */
}

static void test_services(void **state) {
    (void)state;
    assert_string_equal(kvt_server("service:redis-unix"), "redis");
    assert_string_equal(kvt_server("service:redis"), "redis");
    assert_string_equal(kvt_server("service:memcached"), "memcached");
    assert_null(kvt_server("sqlite:/x"));
    /* A URI from the environment is the test's as given (no database 15 appended). */
    char out[256];
    setenv("KV_TEST_REDIS_URI", "redis://127.0.0.1:1/3", 1);
    assert_true(kvt_test_uri("service:redis", out, sizeof out));
    assert_string_equal(out, "redis://127.0.0.1:1/3");
    unsetenv("KV_TEST_REDIS_URI");
    assert_true(kvt_test_uri("lmdb:/tmp/x-%p", out, sizeof out));
    char want[64];
    snprintf(want, sizeof want, "lmdb:/tmp/x-%d", (int)getpid());
    assert_string_equal(out, want);
}

UT_CMOCKA_MAIN(NULL, NULL, cmocka_unit_test(test_remove), cmocka_unit_test(test_services))
