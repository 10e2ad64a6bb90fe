/*
 * test_kv_describe.c - what a backend says about itself (kv_describe(), kv_describe_uri(),
 * kv_shared_uri()): secrets hidden, identities without ports and temporary folders, roles and
 * stand-ins from the adapters, and shared names for unnamed stores.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ut_cmocka.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kv.h"

static kv_desc describe(const char *uri) {
    kv_desc d;
    memset(&d, 0x5a, sizeof d);
    assert_int_equal(kv_describe_uri(uri, &d), 0);
    return d;
}

static void test_secrets_hidden(void **state) {
    (void)state;
    kv_desc d = describe("redis://user:secret@127.0.0.1:6379/2?password=pw&timeout=1");
    assert_string_equal(d.uri, "redis://***@127.0.0.1:6379/2?password=***&timeout=1");
    assert_string_equal(d.identity, "redis://***@127.0.0.1:*/2?password=***&timeout=1");
    assert_null(strstr(d.uri, "secret"));
    assert_null(strstr(d.identity, "pw&"));
    assert_string_equal(d.name, "redis");
    assert_int_equal(d.role, KV_ROLE_STORE);
    assert_false(d.on_host);
    /* A path is no password: an '@' after the host list stays. */
    d = describe("redis+unix:/run/redis@1.sock?password=x");
    assert_string_equal(d.uri, "redis+unix:/run/redis@1.sock?password=***");
}

static void test_roles(void **state) {
    (void)state;
    assert_int_equal(describe("local:").role, KV_ROLE_BASELINE);
    assert_int_equal(describe("null:").role, KV_ROLE_FLOOR);
    assert_int_equal(describe("null:?size=8").role, KV_ROLE_FLOOR);
    assert_true(describe("local:").on_host);
    if (kv_adapter_built("sqlite")) {
        kv_desc d = describe("sqlite:/data/a.sqlite");
        assert_int_equal(d.role, KV_ROLE_STORE);
        assert_true(d.on_host);
        assert_false(d.stand_in);
    }
}

static void test_identity(void **state) {
    (void)state;
    if (kv_adapter_built("sqlite")) {
        kv_desc d = describe("sqlite:/tmp/udbench-AbC123/udbench.sqlite?sync=off");
        assert_string_equal(d.uri, "sqlite:/tmp/udbench-AbC123/udbench.sqlite?sync=off");
        assert_string_equal(d.identity, "sqlite:/tmp/*/udbench.sqlite?sync=off");
        /* A folder of the user's, and the file's own name, are kept. */
        assert_string_equal(describe("sqlite:/data/stores-2024/x-abcdef").identity,
                            "sqlite:/data/stores-2024/x-abcdef");
    }
    if (kv_adapter_built("lmdb"))
        assert_string_equal(describe("lmdb:/tmp/tmp.AbCdEf1234/db").identity, "lmdb:/tmp/*/db");
    if (kv_adapter_built("memcached"))
        assert_string_equal(describe("memcached://127.0.0.1:11211,[::1]:11212?timeout=1").identity,
                            "memcached://127.0.0.1:*,[::1]:*?timeout=1");
    /* The scheme's own ':' and a port-less host stay. */
    if (kv_adapter_built("redis"))
        assert_string_equal(describe("redis://db.example/3").identity, "redis://db.example/3");
}

static void test_stand_in(void **state) {
    (void)state;
    if (!kv_adapter_built("cloudflare-kv"))
        skip();
    assert_true(describe("cloudflare-kv://127.0.0.1:8787").stand_in);
    assert_true(describe("cloudflare-d1://localhost:1").stand_in);
    assert_false(describe("cloudflare-kv+https://kv.example.com").stand_in);
    assert_string_equal(describe("cloudflare-kv://127.0.0.1:8787").identity,
                        "cloudflare-kv://127.0.0.1:*");
}

static void test_shared_uri(void **state) {
    (void)state;
    char out[256];
    assert_int_equal(kv_shared_uri("sqlite:/x", "t_1", out, sizeof out), 0);
    assert_string_equal(out, "sqlite:/x");
    assert_int_equal(kv_shared_uri("local:", "t_1", out, sizeof out), 0);
    assert_string_equal(out, "local:");
    if (kv_adapter_built("ultradict")) {
        assert_true(describe("ultradict:").unnamed);
        assert_false(describe("ultradict:name").unnamed);
        assert_int_equal(kv_shared_uri("ultradict:?lock=spin", "t_1", out, sizeof out), 0);
        assert_string_equal(out, "ultradict:t_1_ultradict?lock=spin");
        assert_int_equal(kv_shared_uri("ultradict:", "t_1", out, 10), -ENAMETOOLONG);
    }
    if (kv_adapter_built("boost-ipc")) {
        assert_true(describe("boost-ipc:").unnamed);
        assert_int_equal(kv_shared_uri("boost-ipc:", "t_1", out, sizeof out), 0);
        assert_string_equal(out, "boost-ipc:t_1_boostipc");
    }
}

static void test_bad_input(void **state) {
    (void)state;
    kv_desc d;
    memset(&d, 0x5a, sizeof d);
    kv_desc before = d;
    assert_int_equal(kv_describe_uri(NULL, &d), KV_EINVAL);
    assert_int_equal(kv_describe_uri("local:", NULL), KV_EINVAL);
    assert_int_equal(kv_describe_uri("no scheme", &d), KV_EURI);
    assert_int_equal(kv_describe_uri("nosuch://x", &d), KV_ESCHEME);
    assert_memory_equal(&d, &before, sizeof d); /* written on success only */
    assert_int_equal(kv_describe(NULL, &d), KV_EINVAL);
    char out[8];
    assert_int_equal(kv_shared_uri(NULL, "t", out, sizeof out), KV_EINVAL);
    assert_int_equal(kv_shared_uri("nosuch:", "t", out, sizeof out), KV_ESCHEME);
    /* What cannot be described is still printed without its secrets. */
    char shown[128];
    assert_string_equal(kv_redact_uri("rediss://u:pw@h:1/0?password=x&db=2", shown, sizeof shown),
                        "rediss://***@h:1/0?password=***&db=2");
    assert_string_equal(kv_redact_uri(NULL, shown, sizeof shown), "");
}

/* An open connection describes itself from the URI it was opened with, with its table's name. */
static void test_connection(void **state) {
    (void)state;
    kv_conn *c;
    kv_desc d;
    assert_int_equal(kv_open("local:", &c), 0);
    assert_int_equal(kv_describe(c, &d), 0);
    assert_string_equal(d.name, "local");
    assert_string_equal(d.uri, "local:");
    assert_int_equal(d.role, KV_ROLE_BASELINE);
    kv_close(c);
    assert_int_equal(kv_open("null:?size=4", &c), 0);
    assert_int_equal(kv_describe(c, &d), 0);
    assert_int_equal(d.role, KV_ROLE_FLOOR);
    assert_string_equal(d.uri, "null:?size=4");
    kv_close(c);
    if (kv_adapter_built("ultradict")) {
        char uri[64];
        snprintf(uri, sizeof uri, "ultradict:kvdesc_%d", (int)getpid());
        assert_int_equal(kv_open(uri, &c), 0);
        assert_int_equal(kv_describe(c, &d), 0);
        assert_string_equal(d.name, "ultradict");
        assert_string_equal(d.identity, uri);
        assert_true(d.on_host);
        assert_false(d.unnamed);
        kv_close(c);
    }
}

UT_CMOCKA_MAIN(NULL, NULL, cmocka_unit_test(test_secrets_hidden), cmocka_unit_test(test_roles),
               cmocka_unit_test(test_identity), cmocka_unit_test(test_stand_in),
               cmocka_unit_test(test_shared_uri), cmocka_unit_test(test_bad_input),
               cmocka_unit_test(test_connection))
