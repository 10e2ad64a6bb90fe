/*
 * kv_fixture.h - the backends' test fixtures: what a test of a backend needs beyond its URI
 * (prefix kvt_). Each fixture lives beside its adapter (adapters/NAME_fixture.c) and is listed
 * once in kv_fixture.c; the tests reach every backend through these functions only.
 */
#ifndef KV_FIXTURE_H
#define KV_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>

/* One backend's fixture; any member may be NULL. */
typedef struct kvt_fixture {
    const char *scheme;          /* the scheme of the test URIs it serves ("sqlite") */
    const char *const *services; /* the `scripts/services status` names it serves */
    const char *server;          /* the shared server those services run on (the lock name) */
    void (*service_uri)(const char *service, char *uri, size_t len); /* keeps tests apart */
    void (*remove)(const char *uri); /* removes what a test URI created */
} kvt_fixture;

extern const kvt_fixture kvt_fixture_redis, kvt_fixture_sqlite, kvt_fixture_lmdb;

/*
 * The URI a test's argument stands for: ut_resolve_uri() ("service:NAME" or a URI with %p),
 * then the fixture of that service adjusts a URI taken from `scripts/services status` (redis:
 * database 15, away from the benchmarks' database 0). True with the URI, false with the reason
 * in out.
 */
bool kvt_test_uri(const char *arg, char *out, size_t len);

/* The shared server a "service:NAME" argument runs on (for ut_lock_server()): the fixture's
 * server, else NAME; NULL for a plain URI. */
const char *kvt_server(const char *arg);

/* Removes the files (or other leftovers) a test URI created, through its scheme's fixture. */
void kvt_remove_store(const char *uri);

/* In a cmocka test: asserts rc == want, and prints connection c's detail when it is not. */
#define KVT_CHECK(c, rc, want)                                                                     \
    do {                                                                                           \
        int rc_ = (rc);                                                                            \
        if (rc_ != (want))                                                                         \
            print_error("%s:%d: got %s (%s), want %s\n", __FILE__, __LINE__, kv_errname(rc_),      \
                        kv_errmsg(c), kv_errname(want));                                           \
        assert_int_equal(rc_, (want));                                                             \
    } while (0)

#endif /* KV_FIXTURE_H */
