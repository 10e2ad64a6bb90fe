/*
 * cf_test_runtime.h - a private local Cloudflare runtime for the tests: our Worker in workerd
 * through miniflare (worker/run.mjs), on its own port and folder, with the fault switch on.
 */
#ifndef CF_TEST_RUNTIME_H
#define CF_TEST_RUNTIME_H

#include <stdbool.h>
#include <sys/types.h>

/* The project's test library: ut_now(), ut_sleep(), ut_free_port(), UT_SKIP_MARK. */
#include "kv_fixture.h"
#include "testutil.h"

typedef struct cft_runtime {
    pid_t pid; /* the launcher, leader of its process group; 0 when stopped */
    int port;
    char dir[512];  /* data and log folder */
    char token[64]; /* the Worker token, "" for none */
} cft_runtime;

/* True if node and the installed miniflare are there; otherwise why not in `why`. */
bool cft_available(char *why, size_t len);

/*
 * Starts the runtime on rt->port (0: a free one is picked) with its data under rt->dir (created
 * when empty: a fresh folder in /dev/shm or /tmp). Waits until it answers (at most 60 s).
 * Returns 0 or -1 with a message on stderr.
 */
int cft_start(cft_runtime *rt);

/*
 * Makes sure rt's process group is killed if this test process dies of a signal (an alarm, an
 * abort, a crash): a leaked runtime would keep its port and files. Up to 4 runtimes.
 */
void cft_guard(cft_runtime *rt);

/*
 * The group setup of a test on a private runtime: clears the CLOUDFLARE_* variables the
 * adapters read (tokens, ids); prints the skip mark and the reason (kept in why) and returns 0
 * with *up false when node or miniflare is missing; starts rt and returns 0 with *up true once
 * it answers; -1 when it does not start.
 */
int cft_setup(cft_runtime *rt, bool *up, char *why, size_t len);

/* SIGTERM to the process group, SIGKILL after 10 s; reaps it. */
void cft_stop(cft_runtime *rt);

/* SIGKILL to the process group (a crash), reaps it. */
void cft_kill(cft_runtime *rt);

/* Removes rt->dir and everything in it. */
void cft_remove(cft_runtime *rt);

/* A URI of scheme `scheme` ("cloudflare-kv", ...) for rt, with an optional query ("" or "?..."). */
void cft_uri(const cft_runtime *rt, const char *scheme, const char *query, char *out, size_t len);

/*
 * An HTTP request to the runtime (for the fault switch); returns the HTTP status or -1.
 * `auth` is sent verbatim as the Authorization header when not NULL.
 */
long cft_http(const cft_runtime *rt, const char *method, const char *path, const char *json,
              const char *auth);

/* Sets the fault switch: the next `count` requests fail with `status` (0: delay only). */
int cft_faults(const cft_runtime *rt, int count, int status, int retry_after, int delay_ms);

/* In a cmocka test: skips it, with the skip mark and `why`, unless `up` (the runtime runs). */
#define CFT_NEED_RUNTIME(up, why)                                                                  \
    do {                                                                                           \
        if (!(up)) {                                                                               \
            print_message("%s %s\n", UT_SKIP_MARK, (why));                                         \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

/* In a cmocka test: asserts that a kv call returned `want`, printing the connection's message. */
#define CFT_CHECK_RC(c, rc, want) KVT_CHECK(c, rc, want)

#endif /* CF_TEST_RUNTIME_H */
