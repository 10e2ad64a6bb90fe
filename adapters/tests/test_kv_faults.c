/*
 * test_kv_faults.c - bad input and failures must give a clear error within the timeout, never a
 * hang or a crash.
 *
 *     test_kv_faults input     malformed URIs, unknown schemes, error codes, closed ports,
 *                              a server that accepts but never answers (no servers needed)
 *     test_kv_faults servers   private redis-server and memcached started by this test on free
 *                              ports and killed (or stopped) by PID in the middle of a run
 */
#include "kv.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define CHECK_OPEN_FAILS(u, want)                                                                  \
    do {                                                                                           \
        kv_conn *c_ = (kv_conn *)&sentinel;                                                        \
        int rc_ = kv_open((u), &c_);                                                               \
        if (rc_ != (want))                                                                         \
            print_error("kv_open(\"%s\") = %s (%s), want %s\n", (u), kv_errname(rc_),              \
                        kv_errmsg(NULL), kv_errname(want));                                        \
        assert_int_equal(rc_, (want));                                                             \
        assert_ptr_equal(c_, (kv_conn *)&sentinel); /* untouched on failure */                     \
        assert_true(kv_errmsg(NULL)[0] != '\0');                                                   \
    } while (0)

static int sentinel;

/* ---- Input. ---- */

static void test_malformed_uris(void **state) {
    (void)state;
    static const char *const bad[] = {
        "",
        "no-colon",
        ":body",
        "1abc:x",
        "local:something",
        "local:?x=1",
        "sqlite:",
        "sqlite:/tmp/x.db?busy_timeout=abc",
        "sqlite:/tmp/x.db?busy_timeout=-5",
        "sqlite:/tmp/x.db?bogus=1",
        "sqlite:/tmp/x.db?sync=maybe",
        "sqlite:/tmp/x.db?sync=off&sync=full",
        "sqlite:/tmp/x.db?&",
        "sqlite:/tmp/x.db?=1",
        "sqlite:/tmp/%zz.db",
        "sqlite:/tmp/%00.db",
        "lmdb:",
        "lmdb:/tmp/x?map_size=12Q",
        "lmdb:/tmp/x?map_size=1K",
        "redis:",
        "redis:127.0.0.1:6379",
        "redis://",
        "redis://127.0.0.1:99999",
        "redis://127.0.0.1:port",
        "redis://127.0.0.1:",
        "redis://[::1",
        "redis://::1:6379",
        "redis://127.0.0.1:6379/zero",
        "redis://127.0.0.1:6379?timeout=-1",
        "redis://127.0.0.1:6379?timeout=0",
        "redis://127.0.0.1:6379?lock_ttl=0",
        "redis+unix:",
        "redis-cluster:",
        "redis-cluster://",
        "redis-cluster://127.0.0.1:7000,",
        "redis-cluster://127.0.0.1:7000,,127.0.0.1:7001",
        "redis-cluster://127.0.0.1:99999",
        "redis-cluster://127.0.0.1:7000/3",
        "redis-cluster://127.0.0.1:7000?db=2",
        "redis-cluster://127.0.0.1:7000?replicas=maybe",
        "redis-cluster://127.0.0.1:7000?timeout=0",
        "memcached:",
        "memcached://",
        "memcached:127.0.0.1:11211",
        "memcached://127.0.0.1:11211,",
        "memcached://127.0.0.1:0",
        "memcached://127.0.0.1:11211?lock_ttl=0",
        "memcached://127.0.0.1:11211?nonsense=1",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *scheme_end = strchr(bad[i], ':');
        char scheme[32] = "";
        if (scheme_end && scheme_end - bad[i] < 31) {
            memcpy(scheme, bad[i], (size_t)(scheme_end - bad[i]));
            scheme[scheme_end - bad[i]] = '\0';
        }
        /* A URI for an adapter left out of this build fails as "not built" instead. */
        if (scheme[0] && strchr("slrm", scheme[0]) && !kv_adapter_built(scheme))
            continue;
        CHECK_OPEN_FAILS(bad[i], KV_EURI);
    }
    if (kv_adapter_built("ultradict")) {
        CHECK_OPEN_FAILS("ultradict:bad name!", KV_EURI);
        CHECK_OPEN_FAILS("ultradict:x?lock=sometimes", KV_EURI);
        CHECK_OPEN_FAILS("ultradict:x?buffer_size=big", KV_EURI);
    }
    kv_conn *c = NULL;
    assert_int_equal(kv_open(NULL, &c), KV_EINVAL);
    assert_int_equal(kv_open("local:", NULL), KV_EINVAL);
}

static void test_unknown_schemes(void **state) {
    (void)state;
    CHECK_OPEN_FAILS("foo:bar", KV_ESCHEME);
    CHECK_OPEN_FAILS("http://127.0.0.1:80", KV_ESCHEME);
    CHECK_OPEN_FAILS("rediss://127.0.0.1:6379", KV_ESCHEME);
    assert_non_null(strstr(kv_errmsg(NULL), "rediss"));
    if (!kv_adapter_built("cloudflare-kv"))
        CHECK_OPEN_FAILS("cloudflare-kv://127.0.0.1:8787", KV_ENOTBUILT);
    assert_false(kv_adapter_built("foo"));
    assert_true(kv_adapter_built("local"));
    assert_true(kv_adapter_built("LOCAL"));
}

static void test_interface_basics(void **state) {
    (void)state;
    kv_conn *c = NULL;
    char caps[128];

    assert_int_equal(kv_close(NULL), 0);
    assert_int_equal(kv_caps(NULL), 0);
    assert_int_equal(kv_open("local:", &c), 0);
    assert_string_equal(kv_errmsg(NULL), ""); /* a success clears the last open failure */
    assert_string_equal(kv_backend_name(c), "local");
    kv_caps_string(kv_caps(c), caps, sizeof(caps));
    assert_non_null(strstr(caps, "atomic_incr"));
    assert_null(strstr(caps, "cross_process"));
    kv_caps_string(KV_CAP_LOCK | KV_CAP_BATCH, caps, sizeof(caps));
    assert_string_equal(caps, "lock,batch");
    kv_caps_string(KV_CAP_LOCK | KV_CAP_BATCH, caps, 6);
    assert_string_equal(caps, "lock");

    /* The one list of codes: distinct values, names and messages for all of them. */
    static const int codes[] = {
#define XX(code, val, msg) code,
        KV_ERRNO_MAP(XX)
#undef XX
    };
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        assert_true(codes[i] < -2000);
        assert_int_equal(strncmp(kv_errname(codes[i]), "KV_E", 4), 0);
        assert_string_not_equal(kv_strerror(codes[i]), "unknown error");
    }
    assert_string_equal(kv_errname(KV_ENOTFOUND), "KV_ENOTFOUND");
    assert_string_equal(kv_errname(-ECONNREFUSED), "ECONNREFUSED");
    assert_string_equal(kv_strerror(-ENOENT), "No such file or directory");
    assert_string_equal(kv_strerror(0), "success");
    assert_string_equal(kv_strerror(-1999), "unknown error");
    assert_string_equal(kv_errname(12345), "UNKNOWN");

    /* The version check: local is a version-1 table, its batches run through the core's loop. */
    kv_item items[2] = {{"a", 1, "1", 1}, {"b", 1, "2", 1}};
    kv_key keys[3] = {{"a", 1}, {"zz", 2}, {"b", 1}};
    kv_buf vals[3] = {KV_BUF_INIT, KV_BUF_INIT, KV_BUF_INIT};
    int rcs[3];
    assert_int_equal(c->methods->version, 1);
    assert_int_equal(kv_set_many(c, items, 2), 0);
    assert_int_equal(kv_get_many(c, keys, 3, vals, rcs), 0);
    assert_int_equal(rcs[0], 0);
    assert_int_equal(rcs[1], KV_ENOTFOUND);
    assert_int_equal(rcs[2], 0);
    assert_memory_equal(vals[2].data, "2", 1);
    for (int i = 0; i < 3; i++)
        kv_buf_free(&vals[i]);
    assert_int_equal(kv_close(c), 0);
}

static void test_closed_port(void **state) {
    (void)state;
    int port = ut_free_port();
    char u[128];
    assert_true(port > 0);
    if (kv_adapter_built("redis")) {
        snprintf(u, sizeof(u), "redis://127.0.0.1:%d?connect_timeout=1", port);
        double t0 = ut_now();
        CHECK_OPEN_FAILS(u, KV_ECONNECT);
        assert_true(ut_now() - t0 < 2.0);
        assert_non_null(strstr(kv_errmsg(NULL), "127.0.0.1"));
        CHECK_OPEN_FAILS("redis+unix:/nonexistent/redis.sock", KV_ECONNECT);
    }
    if (kv_adapter_built("redis-cluster")) {
        /* Every seed is tried, and the last one's failure is the one reported. */
        snprintf(u, sizeof(u), "redis-cluster://127.0.0.1:%d,localhost:%d?connect_timeout=1", port,
                 port);
        CHECK_OPEN_FAILS(u, KV_ECONNECT);
        assert_non_null(strstr(kv_errmsg(NULL), "localhost"));
    }
    if (kv_adapter_built("memcached")) {
        snprintf(u, sizeof(u), "memcached://127.0.0.1:%d?connect_timeout=1", port);
        double t0 = ut_now();
        CHECK_OPEN_FAILS(u, KV_ECONNECT);
        assert_true(ut_now() - t0 < 2.0);
        /* One dead server among live-looking ones is still an error. */
        snprintf(u, sizeof(u), "memcached://127.0.0.1:%d,127.0.0.1:%d?connect_timeout=1", port,
                 port + 1 > 65535 ? port - 1 : port + 1);
        CHECK_OPEN_FAILS(u, KV_ECONNECT);
    }
}

/*
 * A server that accepts connections and never answers: the kernel completes the handshake from
 * the listen backlog, so only the command timeout can save the client.
 */
/* The kinds of server the fault tests run against. */
static const char *kinds[] = {"redis", "memcached"};

static void test_silent_server(void **state) {
    (void)state;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    socklen_t alen = sizeof(a);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 16), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    int port = ntohs(a.sin_port);
    char u[128];

    for (size_t k = 0; k < 2; k++) {
        if (!kv_adapter_built(kinds[k]))
            continue;
        snprintf(u, sizeof(u), "%s://127.0.0.1:%d?timeout=0.3&connect_timeout=0.3", kinds[k], port);
        kv_conn *c = (kv_conn *)&sentinel;
        double t0 = ut_now();
        int rc = kv_open(u, &c);
        double dt = ut_now() - t0;
        print_message("silent %s: %s after %.2f s: %s\n", kinds[k], kv_errname(rc), dt,
                      kv_errmsg(NULL));
        /* redis times out; memcached may also call the connection failed. */
        if (k == 0)
            assert_int_equal(rc, KV_ETIMEDOUT);
        else
            assert_true(rc == KV_ECONNECT || rc == KV_ETIMEDOUT);
        assert_true(dt < 2.0);
    }
    close(fd);
}

static void test_bad_paths(void **state) {
    (void)state;
    kv_conn *c = (kv_conn *)&sentinel;
    if (kv_adapter_built("sqlite")) {
        int rc = kv_open("sqlite:/nonexistent-dir/sub/x.db", &c);
        assert_true(rc < 0);
        assert_ptr_equal(c, (kv_conn *)&sentinel);
        assert_non_null(strstr(kv_errmsg(NULL), "/nonexistent-dir/sub/x.db"));
    }
    if (kv_adapter_built("lmdb")) {
        int rc = kv_open("lmdb:/nonexistent-dir/sub/db", &c);
        assert_int_equal(rc, -ENOENT);
        assert_ptr_equal(c, (kv_conn *)&sentinel);
        rc = kv_open("lmdb:/dev/null", &c);
        assert_true(rc < 0);
    }
}

/* ---- Servers killed or stopped in the middle of a run. ---- */

/*
 * Every private server is recorded, so that a failed assertion (which leaves the test function
 * at once) still gets them killed, by the teardown or at exit.
 */
static pid_t servers[8];

static pid_t start_server(const char *kind, int port) {
    pid_t pid = ut_start_server(kind, port);
    for (size_t i = 0; pid > 0 && i < sizeof(servers) / sizeof(servers[0]); i++) {
        if (servers[i] == 0) {
            servers[i] = pid;
            break;
        }
    }
    return pid;
}

static void kill_server(pid_t pid) {
    for (size_t i = 0; i < sizeof(servers) / sizeof(servers[0]); i++)
        if (servers[i] == pid)
            servers[i] = 0;
    kill(pid, SIGCONT);
    ut_kill_server(pid);
}

static void kill_all_servers(void) {
    for (size_t i = 0; i < sizeof(servers) / sizeof(servers[0]); i++)
        if (servers[i] > 0)
            kill_server(servers[i]);
}

static int teardown_servers(void **state) {
    (void)state;
    kill_all_servers();
    return 0;
}

static bool kind_available(const char *kind) {
    return kv_adapter_built(kind) &&
           ut_have_program(strcmp(kind, "redis") == 0 ? "redis-server" : "memcached");
}

static void server_uri(const char *kind, int port, const char *query, char *u, size_t len) {
    snprintf(u, len, "%s://127.0.0.1:%d?%s", kind, port, query);
}

/* A fault test on one private server: its kind, its pid, and its URI. */
typedef void (*server_case)(const char *kind, pid_t server, const char *u);

/*
 * Runs fn once per kind of server that is available, each time on a fresh private server on a
 * free port, whose URI carries the query given for its kind; skips the test when no kind is.
 */
static void on_each_server(const char *redis_query, const char *memcached_query, server_case fn) {
    int ran = 0;
    for (size_t k = 0; k < 2; k++) {
        if (!kind_available(kinds[k]))
            continue;
        ran++;
        int port = ut_free_port();
        pid_t server = start_server(kinds[k], port);
        assert_true(server > 0);
        char u[160];
        server_uri(kinds[k], port, k == 0 ? redis_query : memcached_query, u, sizeof(u));
        fn(kinds[k], server, u);
    }
    if (!ran) {
        print_message("%s neither redis-server nor memcached is available\n", UT_SKIP_MARK);
        skip();
    }
}

/*
 * A child hammers the server with writes while the parent kills the server by PID: the child
 * must get a connection error within the timeout, and every later call must fail fast.
 */
static int hammer_child(int index, void *arg) {
    const char *u = arg;
    kv_conn *c;
    (void)index;
    if (kv_open(u, &c) < 0) {
        fprintf(stderr, "child: %s\n", kv_errmsg(NULL));
        return 10;
    }
    /* The call that meets the dead server must give up within its timeout (1 s) plus slack. */
    double call_time = 0;
    kv_buf got = KV_BUF_INIT;
    int rc = 0;
    for (long i = 0;; i++) {
        char num[24];
        int len = snprintf(num, sizeof(num), "%ld", i);
        double t_call = ut_now();
        rc = kv_set(c, "hammer", 6, num, (size_t)len);
        if (rc == 0)
            rc = kv_get(c, "hammer", 6, &got);
        if (rc < 0) {
            call_time = ut_now() - t_call;
            break;
        }
    }
    kv_buf_free(&got);
    if (rc != KV_ECONN && rc != KV_ETIMEDOUT) {
        fprintf(stderr, "child: unexpected %s: %s\n", kv_errname(rc), kv_errmsg(c));
        return 11;
    }
    fprintf(stderr, "child: server gone after %.3f s: %s: %s\n", call_time, kv_errname(rc),
            kv_errmsg(c));
    if (call_time > 2.0)
        return 14;
    /* Broken now: every call fails at once with KV_ECONN, batches too. */
    double t0 = ut_now();
    kv_item item = {"k", 1, "v", 1};
    kv_key key = {"k", 1};
    kv_buf val = KV_BUF_INIT;
    int rcs[1];
    if (kv_set(c, "k", 1, "v", 1) != KV_ECONN || kv_incr(c, "k", 1, 1, NULL) != KV_ECONN ||
        kv_set_many(c, &item, 1) != KV_ECONN || kv_get_many(c, &key, 1, &val, rcs) != KV_ECONN ||
        kv_lock(c, 1.0) != KV_ECONN)
        return 12;
    kv_buf_free(&val);
    if (ut_now() - t0 > 0.5)
        return 13;
    kv_close(c);
    return 0;
}

static void server_killed_case(const char *kind, pid_t server, const char *u) {
    kv_conn *c;
    int rc = kv_open(u, &c);
    if (rc < 0)
        print_error("kv_open(%s): %s\n", u, kv_errmsg(NULL));
    assert_int_equal(rc, 0);
    assert_int_equal(kv_set(c, "before", 6, "1", 1), 0);

    /* The hammering child runs while the server dies under it. */
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0)
        _exit(hammer_child(0, (void *)u));
    ut_sleep(300 / 1000.0);
    kill_server(server);
    double t0 = ut_now();
    int status = -1;
    while (waitpid(child, &status, WNOHANG) == 0 && ut_now() - t0 < 10)
        ut_sleep(10 / 1000.0);
    if (ut_now() - t0 >= 10) {
        kill(child, SIGKILL);
        waitpid(child, &status, 0);
        fail_msg("%s: the client hung after the server was killed", kind);
    }
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_true(ut_now() - t0 < 3.0);

    /* The parent's idle connection notices on its next call, within the timeout. */
    t0 = ut_now();
    kv_buf got = KV_BUF_INIT;
    rc = kv_get(c, "before", 6, &got);
    kv_buf_free(&got);
    print_message("%s killed: idle connection got %s after %.2f s: %s\n", kind, kv_errname(rc),
                  ut_now() - t0, kv_errmsg(c));
    assert_true(rc == KV_ECONN || rc == KV_ETIMEDOUT);
    assert_true(ut_now() - t0 < 2.5);
    assert_int_equal(kv_close(c), 0);

    /* And a new connection is refused cleanly. */
    kv_conn *c2 = (kv_conn *)&sentinel;
    assert_int_equal(kv_open(u, &c2), KV_ECONNECT);
    assert_ptr_equal(c2, (kv_conn *)&sentinel);
}

static void test_server_killed(void **state) {
    (void)state;
    on_each_server("timeout=1&connect_timeout=1", "timeout=1&connect_timeout=1",
                   server_killed_case);
}

/* A stopped (SIGSTOP) server keeps the connection open and answers nothing: only timeouts help. */
static void server_stopped_case(const char *kind, pid_t server, const char *u) {
    kv_conn *c;
    assert_int_equal(kv_open(u, &c), 0);
    assert_int_equal(kv_set(c, "k", 1, "v", 1), 0);

    kill(server, SIGSTOP);
    assert_true(ut_wait_stopped(server, 2.0));
    double t0 = ut_now();
    kv_buf got = KV_BUF_INIT;
    int rc = kv_get(c, "k", 1, &got);
    double dt = ut_now() - t0;
    kv_buf_free(&got);
    print_message("%s stopped: %s after %.2f s: %s\n", kind, kv_errname(rc), dt, kv_errmsg(c));
    assert_true(rc == KV_ETIMEDOUT || rc == KV_ECONN);
    assert_true(dt >= 0.3 && dt < 2.5);
    /* Broken for good, even once the server runs again. */
    kill(server, SIGCONT);
    assert_int_equal(kv_set(c, "k", 1, "v", 1), KV_ECONN);
    kv_close(c);
    kill_server(server);
}

static void test_server_stopped(void **state) {
    (void)state;
    on_each_server("timeout=0.5&connect_timeout=0.5", "timeout=0.5&connect_timeout=0.5",
                   server_stopped_case);
}

/* An advisory lock with an expiry: a holder that outlives it finds out at unlock. */
static void lock_expiry_case(const char *kind, pid_t server, const char *u) {
    bool redis = strcmp(kind, "redis") == 0;
    kv_conn *a, *b;
    assert_int_equal(kv_open(u, &a), 0);
    assert_int_equal(kv_open(u, &b), 0);
    assert_int_equal(kv_lock(a, 0), 0);
    assert_int_equal(kv_lock(b, 0), KV_EBUSY);
    /* memcached expiries have a resolution of one second. */
    ut_sleep(redis ? 0.4 : 2.1);
    assert_int_equal(kv_lock(b, 1.0), 0);
    assert_int_equal(kv_unlock(a), KV_ENOTLOCKED); /* must not release b's lock */
    assert_int_equal(kv_lock(a, 0), KV_EBUSY);
    assert_int_equal(kv_unlock(b), 0);
    assert_int_equal(kv_lock(a, 0), 0);
    kv_close(a); /* releases the lock */
    assert_int_equal(kv_lock(b, 0), 0);
    kv_close(b);
    kill_server(server);
}

static void test_lock_expiry(void **state) {
    (void)state;
    on_each_server("lock_ttl=0.2", "lock_ttl=1", lock_expiry_case);
}

/* Several memcached servers: consistent hashing spreads keys, and every key reads back. */
static void test_memcached_cluster(void **state) {
    (void)state;
    if (!kind_available("memcached"))
        skip();
    int p1 = ut_free_port();
    pid_t s1 = start_server("memcached", p1);
    int p2 = ut_free_port();
    pid_t s2 = start_server("memcached", p2);
    assert_true(s1 > 0 && s2 > 0);
    char u[160], one[96];
    snprintf(u, sizeof(u), "memcached://127.0.0.1:%d,127.0.0.1:%d", p1, p2);
    snprintf(one, sizeof(one), "memcached://127.0.0.1:%d", p1);
    kv_conn *both, *first;
    assert_int_equal(kv_open(u, &both), 0);
    assert_int_equal(kv_open(one, &first), 0);
    int on_first = 0;
    kv_buf v = KV_BUF_INIT;
    for (int i = 0; i < 200; i++) {
        char k[16];
        int kl = snprintf(k, sizeof(k), "spread%d", i);
        assert_int_equal(kv_set(both, k, (size_t)kl, k, (size_t)kl), 0);
    }
    for (int i = 0; i < 200; i++) {
        char k[16];
        int kl = snprintf(k, sizeof(k), "spread%d", i);
        assert_int_equal(kv_get(both, k, (size_t)kl, &v), 0);
        assert_memory_equal(v.data, k, (size_t)kl);
        if (kv_get(first, k, (size_t)kl, &v) == 0)
            on_first++;
    }
    print_message("memcached cluster: %d of 200 keys on the first server\n", on_first);
    assert_true(on_first > 20 && on_first < 180);
    kv_buf_free(&v);
    kv_close(both);
    kv_close(first);
    kill_server(s1);
    kill_server(s2);
}

int main(int argc, char **argv) {
    alarm(110);
    atexit(kill_all_servers);
    /* A killed server must surface as an error, not as SIGPIPE killing the client. */
    signal(SIGPIPE, SIG_IGN);
    if (argc == 2 && strcmp(argv[1], "input") == 0) {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_malformed_uris),   cmocka_unit_test(test_unknown_schemes),
            cmocka_unit_test(test_interface_basics), cmocka_unit_test(test_closed_port),
            cmocka_unit_test(test_silent_server),    cmocka_unit_test(test_bad_paths),
        };
        return cmocka_run_group_tests_name("kv faults: input", tests, NULL, NULL) ? 1 : 0;
    }
    if (argc == 2 && strcmp(argv[1], "servers") == 0) {
        if (!kind_available("redis") && !kind_available("memcached")) {
            printf("%s neither redis-server nor memcached (with its adapter) is available\n",
                   UT_SKIP_MARK);
            return 0;
        }
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_teardown(test_server_killed, teardown_servers),
            cmocka_unit_test_teardown(test_server_stopped, teardown_servers),
            cmocka_unit_test_teardown(test_lock_expiry, teardown_servers),
            cmocka_unit_test_teardown(test_memcached_cluster, teardown_servers),
        };
        return cmocka_run_group_tests_name("kv faults: servers", tests, NULL, NULL) ? 1 : 0;
    }
    fprintf(stderr, "usage: %s input|servers\n", argv[0]);
    return 2;
}
