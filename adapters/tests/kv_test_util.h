/*
 * kv_test_util.h - what the kv test programs add to the project's one test library
 * (ultradict/tests/testutil.h: processes, gates, time, shared memory): finding the backend to
 * test, running numbered children, and starting private servers for the fault tests.
 */
#ifndef KV_TEST_UTIL_H
#define KV_TEST_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "testutil.h"

/* Printed (with the reason) when a service is not running; CTest reports the test as skipped. */
#define KV_TEST_SKIP_MARK "KV_TEST_SKIP:"

/*
 * Turns the command-line argument of a test into a backend URI in out (at most len bytes):
 *  - "service:NAME" (NAME as printed by scripts/services status: redis, redis-unix, memcached)
 *    takes the URI from the environment (KV_TEST_REDIS_URI, KV_TEST_REDIS_UNIX_URI,
 *    KV_TEST_MEMCACHED_URI) or else from `scripts/services status`;
 *  - anything else is a URI in which "%p" stands for the pid of this process.
 * Returns true with the URI, or false when the service is not available (out then holds the
 * reason).
 */
bool kvt_resolve_uri(const char *arg, char *out, size_t len);

/*
 * Serialises test runs that use the same shared server (redis, memcached) across processes:
 * CTest's RESOURCE_LOCK only orders the tests of one ctest run, and the contract suite clears
 * the store it is given. Takes an flock on /tmp/kv-contract-UID-SERVER.lock, waiting up to
 * `timeout` seconds, and keeps it until the process exits. False if it could not be taken.
 */
bool kvt_lock_server(const char *server, double timeout);

/* Removes the files a sqlite: or lmdb: URI created (for test URIs only). */
void kvt_remove_store(const char *uri);

/* The body of a child: returns its exit status (0 = success). Runs in the child only. */
typedef int (*kvt_child_fn)(int index, void *arg);

/*
 * Forks n children that run fn(i, arg) and _exit() with its result, and waits for all of them
 * for at most `timeout` seconds; children still running then are killed (SIGKILL) and count as
 * failed. Returns the number of children that failed, and prints why for each.
 */
int kvt_run_children(int n, kvt_child_fn fn, void *arg, double timeout);

/* Waits until *flag (in shared memory) becomes non-zero. False after `timeout` seconds. */
bool kvt_wait_flag(const int *flag, double timeout);

/* A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read it, close). */
int kvt_free_port(void);

/*
 * Starts a private server in the foreground on 127.0.0.1:port: "redis" (redis-server, no
 * persistence) or "memcached". Waits up to 5 s until it accepts connections. Returns its pid, or
 * -1 (with a message on stderr) if the program is missing or does not start.
 */
pid_t kvt_start_server(const char *kind, int port);

/* Stops a server started by kvt_start_server(): SIGKILL and waitpid. */
void kvt_kill_server(pid_t pid);

/* Waits until process pid is stopped (SIGSTOP took effect). False after `timeout` seconds. */
bool kvt_wait_stopped(pid_t pid, double timeout);

/* True if program `name` is found in PATH. */
bool kvt_have_program(const char *name);

#endif /* KV_TEST_UTIL_H */
