/*
 * test_cf_runtime.c - the Cloudflare adapters against a private local runtime (our Worker in
 * workerd), started and stopped by the test: data survives a restart; 429 and 5xx answers
 * (from the Worker's fault switch) are retried and then succeed, or end in a clear error once
 * the retry budget is spent; a timeout is a clear error in time; a runtime that is not running,
 * or dies in the middle, is a clear error within the timeout, never a hang; the token is
 * required when configured and never appears in a message.
 */
#include "cf_test_runtime.h"
#include "kv.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static cft_runtime rt;
/* The second runtime of test_token: file scope, so the teardown stops it if an assert fails. */
static cft_runtime sec;
static char skip_reason[256];
static bool up;

static const char *const schemes[][2] = {
    {"cloudflare-kv", ""},
    {"cloudflare-d1", ""},
    {"cloudflare-rest", ""},
    {"cloudflare-rest", "?store=d1"},
};
#define NSCHEMES (sizeof(schemes) / sizeof(schemes[0]))

static kv_conn *open_uri(const char *scheme, const char *query) {
    char uri[300];
    kv_conn *c = NULL;
    cft_uri(&rt, scheme, query, uri, sizeof(uri));
    int rc = kv_open(uri, &c);
    if (rc < 0)
        print_error("kv_open(%s): %s: %s\n", uri, kv_errname(rc), kv_errmsg(NULL));
    assert_int_equal(rc, 0);
    return c;
}

static void clear_faults(void) {
    assert_int_equal(cft_http(&rt, "DELETE", "/_faults", NULL, NULL), 200);
}

static const unsigned char bkey[] = {'p', 0, 0xff, '/', '.', 1};
static const unsigned char bval[] = {0, 0xfe, 'x', 0, '\n'};

static void test_restart_keeps_data(void **state) {
    (void)state;
    CFT_NEED_RUNTIME(up, skip_reason);
    kv_buf v = KV_BUF_INIT;
    for (size_t i = 0; i < NSCHEMES; i++) {
        kv_conn *c = open_uri(schemes[i][0], schemes[i][1]);
        char key[16], val[64];
        snprintf(key, sizeof(key), "persist-%zu", i);
        int n = snprintf(val, sizeof(val), "kept by %s%s", schemes[i][0], schemes[i][1]);
        CFT_CHECK_RC(c, kv_set(c, key, strlen(key), val, (size_t)n), 0);
        CFT_CHECK_RC(c, kv_set(c, bkey, sizeof(bkey), bval, sizeof(bval)), 0);
        kv_close(c);
    }
    double t0 = ut_now();
    cft_stop(&rt);
    assert_int_equal(cft_start(&rt), 0);
    print_message("runtime restarted in %.2f s\n", ut_now() - t0);
    for (size_t i = 0; i < NSCHEMES; i++) {
        kv_conn *c = open_uri(schemes[i][0], schemes[i][1]);
        char key[16], val[64];
        snprintf(key, sizeof(key), "persist-%zu", i);
        int n = snprintf(val, sizeof(val), "kept by %s%s", schemes[i][0], schemes[i][1]);
        CFT_CHECK_RC(c, kv_get(c, key, strlen(key), &v), 0);
        assert_int_equal(v.len, (size_t)n);
        assert_memory_equal(v.data, val, (size_t)n);
        CFT_CHECK_RC(c, kv_get(c, bkey, sizeof(bkey), &v), 0);
        assert_int_equal(v.len, sizeof(bval));
        assert_memory_equal(v.data, bval, sizeof(bval));
        kv_close(c);
    }
    kv_buf_free(&v);
}

/* 429 with Retry-After: retried after the wait it asks for, then it succeeds. */
static void test_429_retried(void **state) {
    (void)state;
    CFT_NEED_RUNTIME(up, skip_reason);
    kv_buf v = KV_BUF_INIT;
    kv_conn *c = open_uri("cloudflare-kv", "");
    CFT_CHECK_RC(c, kv_set(c, "r", 1, "ok", 2), 0);
    assert_int_equal(cft_faults(&rt, 2, 429, 1, 0), 0);
    double t0 = ut_now();
    CFT_CHECK_RC(c, kv_get(c, "r", 1, &v), 0);
    double dt = ut_now() - t0;
    print_message("two 429 (Retry-After: 1) then success in %.2f s\n", dt);
    assert_true(dt >= 1.9 && dt < 15);
    assert_memory_equal(v.data, "ok", 2);
    kv_close(c);
    kv_buf_free(&v);
}

/* 503 without Retry-After: exponential backoff with jitter, then success. */
static void test_5xx_retried(void **state) {
    (void)state;
    CFT_NEED_RUNTIME(up, skip_reason);
    kv_conn *c = open_uri("cloudflare-d1", "");
    assert_int_equal(cft_faults(&rt, 3, 503, -1, 0), 0);
    double t0 = ut_now();
    CFT_CHECK_RC(c, kv_set(c, "s", 1, "v", 1), 0);
    print_message("three 503 then success in %.2f s\n", ut_now() - t0);
    kv_close(c);
}

/* A fault that outlasts the budget: a clear error, in bounded time. */
static void test_retry_budget_spent(void **state) {
    (void)state;
    CFT_NEED_RUNTIME(up, skip_reason);
    kv_buf v = KV_BUF_INIT;
    kv_conn *c = open_uri("cloudflare-rest", "?retries=2");
    assert_int_equal(cft_faults(&rt, 50, 503, -1, 0), 0);
    double t0 = ut_now();
    CFT_CHECK_RC(c, kv_get(c, "r", 1, &v), KV_ESERVER);
    double dt = ut_now() - t0;
    print_message("gave up after %.2f s: %s\n", dt, kv_errmsg(c));
    assert_true(dt < 5);
    assert_non_null(strstr(kv_errmsg(c), "HTTP 503"));
    assert_non_null(strstr(kv_errmsg(c), "retries"));
    clear_faults();
    /* The connection still works once the server does. */
    CFT_CHECK_RC(c, kv_set(c, "r", 1, "ok", 2), 0);
    kv_close(c);
    kv_buf_free(&v);
}

/* An atomic increment is not repeated after a 5xx (it may have been applied), but is after 429. */
static void test_incr_retry_rules(void **state) {
    (void)state;
    CFT_NEED_RUNTIME(up, skip_reason);
    int64_t r = 0;
    kv_conn *c = open_uri("cloudflare-d1", "");
    CFT_CHECK_RC(c, kv_set(c, "n", 1, "10", 2), 0);
    assert_int_equal(cft_faults(&rt, 1, 503, -1, 0), 0);
    CFT_CHECK_RC(c, kv_incr(c, "n", 1, 1, &r), KV_ESERVER);
    assert_int_equal(cft_faults(&rt, 1, 429, 0, 0), 0);
    CFT_CHECK_RC(c, kv_incr(c, "n", 1, 1, &r), 0);
    assert_int_equal(r, 11); /* the faulted attempts never reached the table */
    kv_close(c);
}

/* A server that does not answer in time: KV_ETIMEDOUT within the timeout, then fail fast. */
static void test_timeout(void **state) {
    (void)state;
    CFT_NEED_RUNTIME(up, skip_reason);
    kv_buf v = KV_BUF_INIT;
    kv_conn *c = open_uri("cloudflare-kv", "?timeout=1&retries=0");
    assert_int_equal(cft_faults(&rt, 1, 0, -1, 4000), 0);
    double t0 = ut_now();
    CFT_CHECK_RC(c, kv_get(c, "r", 1, &v), KV_ETIMEDOUT);
    double dt = ut_now() - t0;
    print_message("timed out after %.2f s: %s\n", dt, kv_errmsg(c));
    assert_true(dt >= 0.9 && dt < 3);
    t0 = ut_now();
    CFT_CHECK_RC(c, kv_get(c, "r", 1, &v), KV_ECONN);
    assert_true(ut_now() - t0 < 0.1);
    kv_close(c);
    kv_buf_free(&v);
    clear_faults();
}

/* Nothing listens on the port: KV_ECONNECT quickly, with a sentence that says so. */
static void test_not_running(void **state) {
    (void)state;
    cft_runtime none = {0};
    char uri[200];
    kv_conn *c = NULL;
    none.port = ut_free_port();
    for (size_t i = 0; i < NSCHEMES; i++) {
        cft_uri(&none, schemes[i][0], i == 3 ? "?store=d1&connect_timeout=1" : "?connect_timeout=1",
                uri, sizeof(uri));
        double t0 = ut_now();
        int rc = kv_open(uri, &c);
        double dt = ut_now() - t0;
        print_message("%s: %s in %.2f s: %s\n", uri, kv_errname(rc), dt, kv_errmsg(NULL));
        assert_int_equal(rc, KV_ECONNECT);
        assert_true(dt < 5);
        assert_non_null(strstr(kv_errmsg(NULL), "127.0.0.1"));
    }
}

/* The token: required when set, both header forms accepted, never echoed in a message. */
static void test_token(void **state) {
    (void)state;
    CFT_NEED_RUNTIME(up, skip_reason);
    snprintf(sec.token, sizeof(sec.token), "s3cret-token-%d", (int)getpid());
    if (cft_start(&sec) != 0)
        fail_msg("cannot start a second runtime");
    char uri[200], auth[100];
    kv_conn *c = NULL;
    unsetenv("CLOUDFLARE_WORKER_TOKEN");
    unsetenv("CLOUDFLARE_API_TOKEN");
    cft_uri(&sec, "cloudflare-kv", "", uri, sizeof(uri));
    assert_int_equal(kv_open(uri, &c), KV_ESERVER);
    print_message("without the token: %s\n", kv_errmsg(NULL));
    assert_null(strstr(kv_errmsg(NULL), sec.token));

    /* A wrong token: refused, and neither token shows up in the message. */
    setenv("CLOUDFLARE_WORKER_TOKEN", "wrong-token-value", 1);
    assert_int_equal(kv_open(uri, &c), KV_ESERVER);
    assert_null(strstr(kv_errmsg(NULL), "wrong-token-value"));

    setenv("CLOUDFLARE_WORKER_TOKEN", sec.token, 1);
    assert_int_equal(kv_open(uri, &c), 0);
    CFT_CHECK_RC(c, kv_set(c, "t", 1, "v", 1), 0);
    kv_close(c);
    setenv("CLOUDFLARE_API_TOKEN", sec.token, 1);
    cft_uri(&sec, "cloudflare-rest", "?store=d1", uri, sizeof(uri));
    assert_int_equal(kv_open(uri, &c), 0);
    kv_close(c);

    /* The seed's raw form and the Bearer form; the health route is always open. */
    snprintf(auth, sizeof(auth), "Bearer %s", sec.token);
    assert_int_equal(cft_http(&sec, "GET", "/_kv/keys", NULL, auth), 200);
    assert_int_equal(cft_http(&sec, "GET", "/_kv/keys", NULL, sec.token), 200);
    assert_int_equal(cft_http(&sec, "GET", "/_kv/keys", NULL, "Bearer nope"), 401);
    assert_int_equal(cft_http(&sec, "GET", "/_kv/keys", NULL, NULL), 401);
    assert_int_equal(cft_http(&sec, "GET", "/_health", NULL, NULL), 200);
    unsetenv("CLOUDFLARE_WORKER_TOKEN");
    unsetenv("CLOUDFLARE_API_TOKEN");
    cft_stop(&sec);
    cft_remove(&sec);
}

/* The service's limits are clear errors before anything is sent; big D1 values still work. */
static void test_limits(void **state) {
    (void)state;
    CFT_NEED_RUNTIME(up, skip_reason);
    kv_buf v = KV_BUF_INIT;
    char key[600];
    memset(key, 'k', sizeof(key));
    size_t big = (25u << 20) + 1;
    unsigned char *data = malloc(big);
    assert_non_null(data);
    for (size_t i = 0; i < big; i++)
        data[i] = (unsigned char)(i * 31 + 7);

    kv_conn *c = open_uri("cloudflare-kv", "");
    CFT_CHECK_RC(c, kv_set(c, key, 512, "v", 1), 0);
    CFT_CHECK_RC(c, kv_set(c, key, 513, "v", 1), KV_ETOOBIG);
    assert_non_null(strstr(kv_errmsg(c), "512"));
    CFT_CHECK_RC(c, kv_set(c, "big", 3, data, big), KV_ETOOBIG);
    assert_non_null(strstr(kv_errmsg(c), "25 MiB"));
    kv_close(c);

    for (int i = 0; i < 2; i++) {
        c = i ? open_uri("cloudflare-rest", "?store=d1") : open_uri("cloudflare-d1", "");
        CFT_CHECK_RC(c, kv_set(c, "big", 3, data, 2000001), KV_ETOOBIG);
        assert_non_null(strstr(kv_errmsg(c), "2000000"));
        /* 1.9 MB of bytes: over the official API this is hex in pieces, in one transaction. */
        CFT_CHECK_RC(c, kv_set(c, "big", 3, data, 1900000), 0);
        CFT_CHECK_RC(c, kv_get(c, "big", 3, &v), 0);
        assert_int_equal(v.len, 1900000);
        assert_memory_equal(v.data, data, 1900000);
        kv_close(c);
    }
    free(data);
    kv_buf_free(&v);
}

/* The runtime dies under open connections: a clear error within the timeout, then fail fast. */
static void test_stopped_mid_run(void **state) {
    (void)state;
    CFT_NEED_RUNTIME(up, skip_reason);
    kv_buf v = KV_BUF_INIT;
    kv_conn *cs[NSCHEMES];
    for (size_t i = 0; i < NSCHEMES; i++) {
        char q[64];
        snprintf(q, sizeof(q), "%s%sconnect_timeout=1&retries=2", schemes[i][1],
                 schemes[i][1][0] ? "&" : "?");
        cs[i] = open_uri(schemes[i][0], q);
        CFT_CHECK_RC(cs[i], kv_set(cs[i], "m", 1, "v", 1), 0);
    }
    cft_kill(&rt);
    for (size_t i = 0; i < NSCHEMES; i++) {
        double t0 = ut_now();
        int rc = kv_get(cs[i], "m", 1, &v);
        double dt = ut_now() - t0;
        print_message("%s%s after the crash: %s in %.2f s: %s\n", schemes[i][0], schemes[i][1],
                      kv_errname(rc), dt, kv_errmsg(cs[i]));
        assert_true(rc == KV_ECONNECT || rc == KV_ECONN);
        assert_true(dt < 5);
        t0 = ut_now();
        CFT_CHECK_RC(cs[i], kv_get(cs[i], "m", 1, &v), KV_ECONN);
        assert_true(ut_now() - t0 < 0.1);
        kv_close(cs[i]);
    }
    kv_buf_free(&v);
}

static int group_setup(void **state) {
    (void)state;
    return cft_setup(&rt, &up, skip_reason, sizeof(skip_reason));
}

static int group_teardown(void **state) {
    (void)state;
    cft_stop(&rt);
    cft_remove(&rt);
    cft_stop(&sec);
    cft_remove(&sec);
    return 0;
}

int main(void) {
    /* A hang fails the run instead of blocking CI. */
    alarm(240);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_restart_keeps_data),
        cmocka_unit_test(test_429_retried),
        cmocka_unit_test(test_5xx_retried),
        cmocka_unit_test(test_retry_budget_spent),
        cmocka_unit_test(test_incr_retry_rules),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_not_running),
        cmocka_unit_test(test_token),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_stopped_mid_run),
    };
    return cmocka_run_group_tests_name("cloudflare runtime", tests, group_setup, group_teardown);
}
