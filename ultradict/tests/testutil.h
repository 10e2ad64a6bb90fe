/*
 * testutil.h - helpers shared by the UltraDict tests.
 *
 * Every test binary includes this header (it pulls in cmocka). It provides:
 *  - unique dict names per test process ("t_<pid>_<counter>"), remembered so that ut_cleanup()
 *    can unlink them all, whatever state a failed test left them in;
 *  - counters for open file descriptors and for /dev/shm entries, to detect leaks;
 *  - fork helpers: run a function in a child that _exit()s with its return value, and wait for
 *    it with a timeout that kills it, so that no test can hang. Children never call cmocka
 *    asserts: they report through their exit status or a shared-memory block, and the parent
 *    asserts;
 *  - self-checking values (the key, the length, a sequence number and a checksum are embedded
 *    in the value), so that a torn or garbled value is always detected;
 *  - small utilities: a seeded random generator, monotonic time, raw file access to segments;
 *  - for the tests of the backends (adapters/tests): the backend a test is given, private
 *    redis and memcached servers for the fault tests, numbered children (testutil_server.c).
 */
#ifndef UD_TESTUTIL_H
#define UD_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "ut_cmocka.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "ultradict.h"

/* Asserts that `expr` returns `expected`, printing both codes by name when it does not. */
#define assert_rc(expr, expected)                                                                  \
    do {                                                                                           \
        int ut_rc_got_ = (int)(expr);                                                              \
        int ut_rc_exp_ = (int)(expected);                                                          \
        if (ut_rc_got_ != ut_rc_exp_) {                                                            \
            print_error("%s:%d: %s\n  returned %s (%d), expected %s (%d)\n", __FILE__, __LINE__,   \
                        #expr, ud_errname(ut_rc_got_), ut_rc_got_, ud_errname(ut_rc_exp_),         \
                        ut_rc_exp_);                                                               \
            fail();                                                                                \
        }                                                                                          \
    } while (0)

#define assert_ok(expr) assert_rc((expr), 0)

/* A test given a fresh name (ut_name): UT_NAMED_TEST(fn) makes the cmocka row that runs
 * fn(name) through ut_run_named_test(). */
typedef struct ut_named_test {
    void (*fn)(const char *name);
} ut_named_test;
void ut_run_named_test(void **state);
#define UT_NAMED_TEST(fn)                                                                          \
    {                                                                                              \
#fn, ut_run_named_test, NULL, ut_teardown, &(ut_named_test) {                              \
            fn                                                                                     \
        }                                                                                          \
    }
/* UD_OPTIONS_INIT with the name set. */
ud_options ut_options(const char *name);

/*
 * Opening dicts in tests (each asserts success): a dict with the given create mode, lock mode
 * and buffer size (0: default), and a recursive one.
 */
ud_dict *ut_open(const char *name, int create, int lock, size_t buffer_size);
ud_dict *ut_open_recursive(const char *name, int create);
/* A test run once per lock mode: UT_LOCK_TESTS(name, fn) makes the cmocka rows name_mutex and
 * name_spin, which call fn(UD_LOCK_MUTEX) and fn(UD_LOCK_SPIN) through ut_run_lock_test(). */
typedef struct ut_lock_test {
    void (*fn)(int lock);
    int lock;
} ut_lock_test;
void ut_run_lock_test(void **state);
/* clang-format off */
#define UT_LOCK_TESTS(name, fn) \
    {#name "_mutex", ut_run_lock_test, NULL, ut_teardown, &(ut_lock_test){fn, UD_LOCK_MUTEX}}, \
    {#name "_spin", ut_run_lock_test, NULL, ut_teardown, &(ut_lock_test){fn, UD_LOCK_SPIN}}
/* clang-format on */

/* A cmocka row for a test that ut_teardown() cleans up after. */
#define UT_TEST(fn) cmocka_unit_test_teardown(fn, ut_teardown)
/*
 * The main() of a test file: runs the cmocka rows given (UT_TEST, UT_LOCK_TESTS, ...) as one
 * group, whose teardown, ut_teardown(), also catches what a test without one left behind.
 */
#define UT_MAIN(...) UT_CMOCKA_MAIN(NULL, ut_teardown, __VA_ARGS__)

/* Two handles of one fresh dict in this process: `d` created with the defaults (mutex lock),
 * `o` attached by name. */
typedef struct ut_pair {
    char name[64];
    ud_dict *d, *o;
} ut_pair;
ut_pair ut_pair_open(void);
/* Closes both handles, asserting that each close succeeds. */
void ut_pair_close(ut_pair *p);
/* A test on such a pair: UT_PAIR_TEST(fn) makes the cmocka row that runs fn(d, o, v) through
 * ut_run_pair_test(), with an empty value buffer v that it frees afterwards, then closes the
 * pair (asserting that each close succeeds). */
typedef struct ut_pair_test {
    void (*fn)(ud_dict *d, ud_dict *o, ud_buf *v);
} ut_pair_test;
void ut_run_pair_test(void **state);
#define UT_PAIR_TEST(fn)                                                                           \
    {                                                                                              \
#fn, ut_run_pair_test, NULL, ut_teardown, &(ut_pair_test) {                                \
            fn                                                                                     \
        }                                                                                          \
    }
/* Asserts that two handles see the same entries (count and checksum of the sorted items). */
void ut_assert_same_dict(ud_dict *a, ud_dict *b);

/* Asserts that `expr` returns one of two codes. */
#define assert_rc_either(expr, a, b)                                                               \
    do {                                                                                           \
        int ut_rc_got_ = (int)(expr);                                                              \
        if (ut_rc_got_ != (int)(a) && ut_rc_got_ != (int)(b)) {                                    \
            print_error("%s:%d: %s\n  returned %s (%d), expected %s or %s\n", __FILE__, __LINE__,  \
                        #expr, ud_errname(ut_rc_got_), ut_rc_got_, ud_errname((int)(a)),           \
                        ud_errname((int)(b)));                                                     \
            fail();                                                                                \
        }                                                                                          \
    } while (0)

/* Asserts that a ud_buf holds exactly the bytes (p, n) and is NUL-terminated after them. */
#define assert_buf_eq(buf, ...) ut_assert_buf_eq((buf), __VA_ARGS__, __FILE__, __LINE__)
void ut_assert_buf_eq(const ud_buf *b, const void *p, size_t n, const char *file, int line);

/* Shorthands for C-string keys and values. */
#define S(str) (str), strlen(str)

/* ---- Names and cleanup. ---- */

/*
 * Writes a fresh name "t_<pid>_<counter>" into buf (at least 64 bytes) and remembers it for
 * ut_cleanup(). Returns buf.
 */
char *ut_name(char *buf);
/* Remembers a name made elsewhere (e.g. a random name) for ut_cleanup(). */
void ut_track(const char *name);
/* The prefix every name of this process starts with ("t_<pid>_"). */
const char *ut_prefix(void);
/*
 * Unlinks every remembered dict with ud_unlink_by_name(), then removes whatever this process
 * still has in /dev/shm under its prefix. Returns the number of entries that ud_unlink_by_name()
 * left behind (0 when the library cleaned up everything).
 */
int ut_cleanup(void);
/* A cmocka group/test teardown that calls ut_cleanup() and fails if anything was left behind. */
int ut_teardown(void **state);

/* ---- Counting resources. ---- */

/* The number of open file descriptors of this process. */
int ut_count_fds(void);
/* The number of entries in /dev/shm whose name starts with prefix. */
int ut_count_shm_prefix(const char *prefix);
/* The number of /dev/shm entries of the dict `name`: `name` itself and `name.*`. */
int ut_count_segments(const char *name);
/*
 * Checks that every /dev/shm entry of dict `name` is one of the known segments
 * (NAME, NAME.stream, NAME.dump0, NAME.dump1, and with recursion nested children
 * NAME(.c<hex>)+ with the same suffixes; a NAME.reg register is tolerated).
 * Returns the number of unexpected entries and prints them.
 */
int ut_unexpected_segments(const char *name);
/*
 * Lists the dicts (asserting that ud_list succeeds) and returns how many entries it gave for
 * `name`; the last one's information goes to *info (zeroed first).
 */
int ut_list_find(const char *name, ud_dict_info *info);
/* The path /dev/shm/<name><suffix> into buf (at least 512 bytes). */
char *ut_shm_path(char *buf, const char *name, const char *suffix);
/* Size of a file, or -1. */
long long ut_file_size(const char *path);
/* Reads a whole file into a malloc()ed buffer; returns NULL on failure. */
unsigned char *ut_file_read(const char *path, size_t *len);
/* Writes n bytes at offset into an existing file. Returns 0 or -1. */
int ut_file_pwrite(const char *path, long long off, const void *p, size_t n);
/* Searches a file for a byte string; returns its offset or -1. */
long long ut_file_find(const char *path, const void *needle, size_t n, long long from);

/* ---- Processes. ---- */

/* In a child: attaches to the dict `name` (UD_ATTACH_ONLY), or returns NULL. */
ud_dict *ut_attach(const char *name);
/*
 * In the parent: waits for n children (ut_wait_all) and fails the test, naming each child that
 * did not exit with 0.
 */
void ut_assert_children(const pid_t *pids, int n, double timeout, const char *what);

/* Runs fn(arg) in a forked child, which _exit()s with fn's return value (0..255). */
pid_t ut_fork(int (*fn)(void *), void *arg);
/* The body of a child that works on its own handle of a dict; returns the exit status. */
typedef int (*ut_dict_fn)(ud_dict *d, void *arg);
/*
 * Runs fn(d, arg) in a forked child (ut_fork), where d is the child's own handle of the dict
 * `name` (ut_attach): the child exits with 2 if it cannot attach, else with fn's return value.
 * fn closes d, or leaves it to the exit.
 */
pid_t ut_fork_on(const char *name, ut_dict_fn fn, void *arg);
/* Starts n such children into pids[], asserting that each fork succeeds. */
void ut_fork_n_on(pid_t *pids, int n, const char *name, ut_dict_fn fn, void *arg);
/*
 * Forks and execs this very binary (/proc/self/exe) with argv (argv[0] is set for you; the list
 * ends with NULL). Returns the child's pid or -1.
 */
pid_t ut_spawn_self(const char *const *args);
/*
 * Waits for pid at most `timeout` seconds. Returns its exit status (0..255), 128 + the signal
 * number if a signal killed it, or -1 if the timeout passed (the child is then killed with
 * SIGKILL and reaped).
 */
int ut_wait(pid_t pid, double timeout);
/*
 * Waits for all n children within `timeout` seconds in total (killing those left at the end).
 * Stores each status (as ut_wait) in status[] when not NULL; returns the number of children
 * whose status is not 0.
 */
int ut_wait_all(const pid_t *pids, int n, double timeout, int *status);
/* A human description of a ut_wait() status ("exit 3", "signal 11", "timeout"). */
const char *ut_status_str(int status, char *buf, size_t cap);
/*
 * A start gate for children (fork or exec): ut_gate_open() makes a pipe whose write end is
 * close-on-exec; a child calls ut_gate_wait() (closing its copy of the write end first, for
 * forked children) and blocks until the parent calls ut_gate_release(). Returns 0 or -1.
 */
int ut_gate_open(int gate[2]);
int ut_gate_wait(int gate[2]);
void ut_gate_release(int gate[2]);
void ut_gate_close(int gate[2]);
/* Runs fn(arg) in a forked child (ut_fork) once the gate opens; the child exits with 2 if its
 * wait at the gate fails, else with fn's return value. */
pid_t ut_fork_gated(int gate[2], int (*fn)(void *), void *arg);
/*
 * Opens the gate (ut_gate_release) that n children wait behind, waits for them as
 * ut_assert_children(pids, n, timeout, what) does, and closes the gate. Returns the seconds from
 * the release to the last child's exit.
 */
double ut_gate_run(int gate[2], const pid_t *pids, int n, double timeout, const char *what);
/*
 * The reverse of a gate: a child that must reach some state (hold a lock, be about to wait)
 * before the parent goes on. ut_fork_ready() makes the pipe `ready`, starts fn(d, arg) as
 * ut_fork_on() does, and returns the child's pid once the child has called ut_ready(ready),
 * failing the test if the child ended before. ut_ready() writes the child's one byte; 0 or -1.
 */
pid_t ut_fork_ready(const char *name, ut_dict_fn fn, void *arg, int ready[2]);
int ut_ready(int ready[2]);
/*
 * A child that holds the lock of a dict: ut_holder_start() forks it (ut_fork_ready), and returns
 * its pid once it holds the lock. With die_after >= 0 the child then exits that many seconds
 * later, still holding the lock; with UT_HOLD_UNTIL_RELEASED it waits until
 * ut_holder_release(), which lets it unlock (a stolen lock is no failure) and close, and asserts
 * that it exited with 0 within `timeout` seconds. A child forked while the holder holds the
 * lock inherits h->release[1], and must close it, or the release never reaches the holder.
 */
#define UT_HOLD_UNTIL_RELEASED (-1.0)
typedef struct ut_holder {
    double die_after;
    int ready[2];
    int release[2];
    pid_t pid;
} ut_holder;
pid_t ut_holder_start(ut_holder *h, const char *name, double die_after);
void ut_holder_release(ut_holder *h, double timeout);
/* Memory shared with children forked afterwards (MAP_SHARED | MAP_ANONYMOUS), zeroed. */
void *ut_shared_alloc(size_t n);
void ut_shared_free(void *p, size_t n);

/* ---- Time and randomness. ---- */

/* Monotonic time in seconds. */
double ut_now(void);
/* Sleeps for s seconds. */
void ut_sleep(double s);

typedef struct ut_rng {
    uint64_t s;
} ut_rng;
void ut_rng_seed(ut_rng *r, uint64_t seed);
uint64_t ut_rng_next(ut_rng *r);
/* Uniform in [0, n). */
uint64_t ut_rng_below(ut_rng *r, uint64_t n);

/* ---- Self-checking values. ---- */

/* The smallest self-checking value. */
#define UT_VALUE_MIN 32
/*
 * Writes a self-checking value of exactly `len` bytes (len >= UT_VALUE_MIN) for key into out.
 * The same (key, seq, len) always gives the same bytes.
 */
void ut_value_make(void *out, size_t len, const void *key, size_t klen, uint64_t seq);
/*
 * 0 if (val, vlen) is an intact self-checking value made for key (then *seq is set when not
 * NULL), -1 otherwise.
 */
int ut_value_check(const void *key, size_t klen, const void *val, size_t vlen, uint64_t *seq);

/* FNV-1a, 64 bits, chainable (start with UT_FNV_INIT). */
#define UT_FNV_INIT 0xcbf29ce484222325ULL
uint64_t ut_fnv(uint64_t h, const void *p, size_t n);

/*
 * A checksum of the whole dict as seen by handle d: the items sorted by key, each hashed as
 * (klen, key, type, vlen, value). Nested dicts hash as their type only. Synchronises d first.
 * Returns 0 and sets *sum and *count, or a negative code.
 */
int ut_dict_checksum(ud_dict *d, uint64_t *sum, size_t *count);

/* An item for ut_items_checksum(): the same checksum over items held by the test. */
typedef struct ut_kv {
    const void *key;
    size_t klen;
    const void *val;
    size_t vlen;
    int type;
} ut_kv;
uint64_t ut_items_checksum(ut_kv *items, size_t n);

/*
 * In a child: increments `key` of d by 1, k times. 0 when each result was larger than the one
 * before (the first and the last result go to *first and *last, either may be NULL), 1 when an
 * ud_incr failed, 2 when a result was not larger than the one before.
 */
int ut_incr_rising(ud_dict *d, const char *key, long k, int64_t *first, int64_t *last);

/* Parses a whole buffer as a decimal int64. 0 on success. */
int ut_parse_i64(const void *p, size_t n, int64_t *out);
/* In the parent: the value of `key` in d as a decimal int64, asserting that it is there and
 * parses. */
int64_t ut_get_i64(ud_dict *d, const char *key);

/* ---- Backends and servers (testutil_server.c). ---- */

/* Printed (with the reason) when a service is not running; CTest reports the test as skipped. */
#define UT_SKIP_MARK "KV_TEST_SKIP:"

/*
 * Turns the command-line argument of a test into a backend URI in out (at most len bytes):
 *  - "service:NAME" (NAME as printed by scripts/services status: redis, redis-unix, memcached)
 *    takes the URI from the environment (KV_TEST_REDIS_URI, KV_TEST_REDIS_UNIX_URI,
 *    KV_TEST_MEMCACHED_URI) or else from `scripts/services status`;
 *  - anything else is a URI in which "%p" stands for the pid of this process.
 * Returns true with the URI, or false when the service is not available (out then holds the
 * reason). *via_services says whether the URI came from `scripts/services status` (then a
 * backend's test fixture, adapters/tests/kv_fixture.h, may adjust it).
 */
bool ut_resolve_uri(const char *arg, char *out, size_t len, bool *via_services);

/*
 * Serialises test runs that use the same shared server (redis, memcached) across processes:
 * CTest's RESOURCE_LOCK only orders the tests of one ctest run, and the contract suite clears
 * the store it is given. Takes an flock on /tmp/kv-contract-UID-SERVER.lock, waiting up to
 * `timeout` seconds, and keeps it until the process exits. False if it could not be taken.
 */
bool ut_lock_server(const char *server, double timeout);

/* The body of child number `index`: returns its exit status (0 = success). */
typedef int (*ut_child_fn)(int index, void *arg);

/*
 * Forks (ut_fork) at most 64 children that run fn(i, arg) and _exit() with its result, and
 * waits for all of them for at most `timeout` seconds; children still running then are killed
 * (SIGKILL) and count as failed. Returns the number of children that failed, and prints why
 * for each.
 */
int ut_run_children(int n, ut_child_fn fn, void *arg, double timeout);

/* Waits until *flag (in shared memory) becomes non-zero. False after `timeout` seconds. */
bool ut_wait_flag(const int *flag, double timeout);

/* A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read it, close). */
int ut_free_port(void);

/*
 * Starts a private server in the foreground on 127.0.0.1:port: "redis" (redis-server, no
 * persistence) or "memcached". Waits up to 5 s until it accepts connections. Returns its pid, or
 * -1 (with a message on stderr) if the program is missing or does not start.
 */
pid_t ut_start_server(const char *kind, int port);

/* Stops a server started by ut_start_server(): SIGKILL and waitpid. */
void ut_kill_server(pid_t pid);

/* Waits until process pid is stopped (SIGSTOP took effect). False after `timeout` seconds. */
bool ut_wait_stopped(pid_t pid, double timeout);

/* True if program `name` is found in PATH. */
bool ut_have_program(const char *name);

#endif /* UD_TESTUTIL_H */
