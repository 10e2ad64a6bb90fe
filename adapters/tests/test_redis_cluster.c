/*
 * test_redis_cluster.c - what the redis-cluster:// adapter must do beyond the contract suite:
 *
 *     test_redis_cluster slots                  key slots of the cluster specification's examples
 *     test_redis_cluster service:redis-cluster  against the real cluster of scripts/services
 *                                               (skipped when it is not running)
 *
 * Against the cluster: the adapter's key slots equal CLUSTER KEYSLOT; a slot is migrated from
 * its primary to another with the steps of the specification (CLUSTER SETSLOT IMPORTING and
 * MIGRATING, MIGRATE key by key, SETSLOT NODE) while a forked worker keeps writing, reading and
 * incrementing keys of that slot: the worker and the test meet ASK (keys already moved) and
 * MOVED (after the slot changed hands), and not one operation fails or is lost; reads from
 * replicas see what was written.
 */
#include "redis_cluster.h"
#include "kv_fixture.h"
#include "testutil.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static char uri[1024], skip_reason[1024];

#define NEED_CLUSTER()                                                                             \
    do {                                                                                           \
        if (!uri[0]) {                                                                             \
            print_message("%s %s\n", UT_SKIP_MARK, skip_reason);                                   \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

static unsigned slot_of(const char *key) {
    return kv__redis_key_slot(key, strlen(key));
}

/* The examples of the cluster specification ("Keys hash tags"), and its CRC16 check value. */
static void test_spec_slots(void **state) {
    (void)state;
    assert_int_equal(slot_of("123456789"), 0x31C3 & 16383);
    assert_int_equal(slot_of("{user1000}.following"), slot_of("user1000"));
    assert_int_equal(slot_of("{user1000}.followers"), slot_of("user1000"));
    assert_int_not_equal(slot_of("foo{}{bar}"), slot_of("bar")); /* {} is no tag: the whole key */
    assert_int_equal(slot_of("foo{{bar}}zap"), slot_of("{bar"));
    assert_int_equal(slot_of("foo{bar}{zap}"), slot_of("bar"));
    /* Binary keys: a NUL byte is a byte like any other. */
    assert_int_equal(kv__redis_key_slot("a\0{b}", 5), slot_of("b"));
}

/* ---- Administration of the real cluster, straight through hiredis. ---- */

typedef struct node {
    char id[64], host[128];
    int port;
} node;

static redisContext *admin_connect(const char *host, int port) {
    struct timeval tv = {5, 0};
    redisContext *ctx = redisConnectWithTimeout(host, port, tv);
    assert_non_null(ctx);
    if (ctx->err)
        fail_msg("cannot connect to %s:%d: %s", host, port, ctx->errstr);
    redisSetTimeout(ctx, tv);
    return ctx;
}

/* Runs a command on host:port and returns its reply; an error reply fails the test. */
static redisReply *admin(const node *n, const char *fmt, ...) {
    redisContext *ctx = admin_connect(n->host, n->port);
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = redisvCommand(ctx, fmt, ap);
    va_end(ap);
    if (!rep || rep->type == REDIS_REPLY_ERROR)
        fail_msg("%s:%d: '%s': %s", n->host, n->port, fmt, rep ? rep->str : ctx->errstr);
    redisFree(ctx);
    return rep;
}

/* The first seed of the URI, "redis-cluster://HOST:PORT,...". */
static node seed(void) {
    node n = {0};
    const char *p = uri + strlen("redis-cluster://");
    size_t hl = strcspn(p, ":");
    assert_true(hl < sizeof(n.host));
    memcpy(n.host, p, hl);
    n.port = atoi(p + hl + 1);
    return n;
}

/* The primaries of the cluster, and which of them owns `slot` (*owner). */
static size_t primaries(node *out, size_t max, unsigned slot, size_t *owner) {
    node s = seed();
    redisReply *rep = admin(&s, "CLUSTER NODES");
    size_t n = 0;
    char *save = NULL;
    *owner = SIZE_MAX;
    for (char *line = strtok_r(rep->str, "\n", &save); line && n < max;
         line = strtok_r(NULL, "\n", &save)) {
        char id[64], addr[128], flags[128];
        int off = 0;
        if (sscanf(line, "%63s %127s %127s %*s %*s %*s %*s %*s%n", id, addr, flags, &off) < 3 ||
            !strstr(flags, "master") || strstr(flags, "fail"))
            continue;
        node *nd = &out[n];
        snprintf(nd->id, sizeof(nd->id), "%s", id);
        *strchr(addr, '@') = '\0';
        char *colon = strrchr(addr, ':');
        *colon = '\0';
        snprintf(nd->host, sizeof(nd->host), "%s", addr[0] ? addr : s.host);
        nd->port = atoi(colon + 1);
        /* The slot ranges: "0-5460 5461 ..." (and "[slot->-id]" while migrating). */
        for (char *r = line + off; *r;) {
            unsigned from, to;
            int used = 0;
            if (sscanf(r, " %u-%u%n", &from, &to, &used) == 2 ||
                (sscanf(r, " %u%n", &from, &used) == 1 && (to = from, 1))) {
                if (slot >= from && slot <= to)
                    *owner = n;
                r += used;
            } else {
                r += strcspn(r + 1, " ") + 1;
            }
        }
        n++;
    }
    freeReplyObject(rep);
    assert_true(*owner != SIZE_MAX);
    return n;
}

static void test_keyslot_matches_server(void **state) {
    (void)state;
    NEED_CLUSTER();
    node s = seed();
    ut_rng rng;
    ut_rng_seed(&rng, 17);
    static const char *const fixed[] = {"a",     "{a}",  "{}", "{}x",
                                        "x{y}z", "{{}}", "}{", "user:{42}"};
    for (int i = 0; i < 300; i++) {
        char key[40];
        size_t klen;
        if (i < (int)(sizeof(fixed) / sizeof(fixed[0]))) {
            klen = strlen(fixed[i]);
            memcpy(key, fixed[i], klen);
        } else {
            klen = 1 + ut_rng_below(&rng, sizeof(key) - 1);
            for (size_t j = 0; j < klen; j++)
                key[j] = "ab{}:0\x01\xff"[ut_rng_below(&rng, 8)];
        }
        redisContext *ctx = admin_connect(s.host, s.port);
        redisReply *rep = redisCommand(ctx, "CLUSTER KEYSLOT %b", key, klen);
        assert_non_null(rep);
        assert_int_equal(rep->type, REDIS_REPLY_INTEGER);
        assert_int_equal(kv__redis_key_slot(key, klen), (unsigned)rep->integer);
        freeReplyObject(rep);
        redisFree(ctx);
    }
}

/* ---- A slot migrated under a running worker. ---- */

#define TAG "{cluster-test}"
#define NKEYS 200     /* keys of the migration test, all in one slot */
#define MAX_KEYS 4000 /* keys of the reshard test, spread over every slot */

/* What the worker tells the parent, in shared memory. */
typedef struct worker_report {
    int stop;
    int started;
    uint64_t ops, failed, wrong, incrs, moved, ask;
    int nkeys;               /* the worker's keys: PREFIX:k:0 .. PREFIX:k:nkeys-1 */
    uint64_t last[MAX_KEYS]; /* sequence number last acknowledged per key (0: none) */
    char detail[256];
} worker_report;

/* The worker's keys: "PREFIX:k:I" and "PREFIX:counter"; a tagged prefix keeps them in one slot. */
static const char *prefix = TAG;

static int key_of(char *buf, size_t len, int i) {
    return snprintf(buf, len, "%s:k:%d", prefix, i);
}

static size_t counter_key(char *buf, size_t len) {
    return (size_t)snprintf(buf, len, "%s:counter", prefix);
}

static bool worker_fail(worker_report *w, kv_conn *c, const char *what) {
    w->failed++;
    snprintf(w->detail, sizeof(w->detail), "%s: %s", what, kv_errmsg(c));
    return false;
}

/* One round of the worker: set key i to a self-checking value, read it back, increment. */
static bool worker_round(worker_report *w, kv_conn *c, int i, uint64_t seq, kv_buf *v) {
    char key[64], val[64];
    int klen = key_of(key, sizeof(key), i);
    ut_value_make(val, sizeof(val), key, (size_t)klen, seq);
    if (kv_set(c, key, (size_t)klen, val, sizeof(val)) != 0)
        return worker_fail(w, c, "set");
    w->last[i] = seq;
    uint64_t got = 0;
    if (kv_get(c, key, (size_t)klen, v) != 0)
        return worker_fail(w, c, "get");
    if (ut_value_check(key, (size_t)klen, v->data, v->len, &got) != 0 || got != seq)
        w->wrong++;
    char ctr[64];
    if (kv_incr(c, ctr, counter_key(ctr, sizeof(ctr)), 1, NULL) != 0)
        return worker_fail(w, c, "incr");
    w->incrs++;
    w->ops += 3;
    return true;
}

static int worker(void *arg) {
    worker_report *w = arg;
    kv_conn *c = NULL;
    kv_buf v = KV_BUF_INIT;
    if (kv_open(uri, &c) != 0)
        return 10;
    __atomic_store_n(&w->started, 1, __ATOMIC_RELEASE);
    for (uint64_t seq = 1; !__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE); seq++)
        worker_round(w, c, (int)(seq % (uint64_t)w->nkeys), seq, &v);
    kv__redis_cluster_stats st;
    if (kv__redis_cluster_stats_of(c, &st) == 0) {
        w->moved = st.moved;
        w->ask = st.ask;
    }
    kv_buf_free(&v);
    kv_close(c);
    return 0;
}

/* Moves the keys of `slot` from `from` to `to` one MIGRATE at a time, until none is left. */
static size_t migrate_keys(const node *from, const node *to, unsigned slot, size_t at_most) {
    size_t moved = 0;
    for (;;) {
        redisReply *keys = admin(from, "CLUSTER GETKEYSINSLOT %u 10", slot);
        size_t n = keys->elements;
        for (size_t i = 0; i < n && moved < at_most; i++, moved++) {
            const redisReply *k = keys->element[i];
            freeReplyObject(
                admin(from, "MIGRATE %s %d %b 0 5000", to->host, to->port, k->str, k->len));
            ut_sleep(0.002); /* let the worker meet keys on both sides */
        }
        freeReplyObject(keys);
        if (n == 0 || moved >= at_most)
            return moved;
    }
}

/*
 * What a failed migration test must undo: the worker still running and the slot half-moved.
 * The teardown stops the one and finishes the other, so the cluster stays usable.
 */
static struct {
    worker_report *w;
    pid_t pid;
    bool migrating, resharding;
    unsigned slot;
    node nodes[16];
    size_t n, from, to;
} mig;

/* Gives the slot to mig.to on every primary: the target first, then the source, then others. */
static void hand_over(void) {
    const node *from = &mig.nodes[mig.from], *to = &mig.nodes[mig.to];
    freeReplyObject(admin(to, "CLUSTER SETSLOT %u NODE %s", mig.slot, to->id));
    freeReplyObject(admin(from, "CLUSTER SETSLOT %u NODE %s", mig.slot, to->id));
    for (size_t i = 0; i < mig.n; i++)
        if (i != mig.from && i != mig.to)
            freeReplyObject(admin(&mig.nodes[i], "CLUSTER SETSLOT %u NODE %s", mig.slot, to->id));
    mig.migrating = false;
}

static int teardown_migration(void **state) {
    (void)state;
    if (mig.w) {
        __atomic_store_n(&mig.w->stop, 1, __ATOMIC_RELEASE);
        if (mig.pid > 0)
            ut_wait(mig.pid, 60);
        ut_shared_free(mig.w, sizeof(*mig.w));
    }
    if (mig.migrating) {
        migrate_keys(&mig.nodes[mig.from], &mig.nodes[mig.to], mig.slot, SIZE_MAX);
        hand_over();
    }
    if (mig.resharding) {
        /* A reshard cut short leaves slots half-moved: redis-cli knows how to finish them. */
        char cmd[300];
        node s = seed();
        snprintf(cmd, sizeof(cmd), "redis-cli --cluster fix %s:%d --cluster-yes >/dev/null 2>&1",
                 s.host, s.port);
        if (system(cmd) != 0)
            fprintf(stderr, "redis-cli --cluster fix failed: check the cluster\n");
    }
    memset(&mig, 0, sizeof(mig));
    prefix = TAG;
    return 0;
}

/* The test's own connection reads a moved key (ASK), then after the handover (MOVED). */
static void check_redirect(kv_conn *c, uint64_t *count, bool moved) {
    kv__redis_cluster_stats before, after;
    kv_buf v = KV_BUF_INIT;
    char key[64];
    int klen = key_of(key, sizeof(key), NKEYS);
    assert_int_equal(kv__redis_cluster_stats_of(c, &before), 0);
    KVT_CHECK(c, kv_get(c, key, (size_t)klen, &v), 0);
    assert_memory_equal(v.data, "marker", 6);
    assert_int_equal(kv__redis_cluster_stats_of(c, &after), 0);
    if (moved)
        assert_true(after.moved > before.moved);
    else
        assert_true(after.ask > before.ask);
    *count += moved ? after.moved - before.moved : after.ask - before.ask;
    kv_buf_free(&v);
}

/* Every acknowledged write of the worker is there, and so is every acknowledged increment. */
static void check_nothing_lost(kv_conn *c, const worker_report *w) {
    kv_buf v = KV_BUF_INIT;
    int64_t counter = 0;
    for (int i = 0; i < w->nkeys; i++) {
        char key[64];
        int klen = key_of(key, sizeof(key), i);
        uint64_t seq = 0;
        if (!w->last[i])
            continue;
        KVT_CHECK(c, kv_get(c, key, (size_t)klen, &v), 0);
        assert_int_equal(ut_value_check(key, (size_t)klen, v.data, v.len, &seq), 0);
        assert_true(seq >= w->last[i]);
    }
    char ctr[64];
    KVT_CHECK(c, kv_incr(c, ctr, counter_key(ctr, sizeof(ctr)), 0, &counter), 0);
    assert_int_equal((uint64_t)counter, w->incrs);
    kv_buf_free(&v);
}

/* Resets the counter and starts the worker on nkeys keys; the teardown stops it if need be. */
static worker_report *start_worker(kv_conn *c, int nkeys) {
    char ctr[64];
    KVT_CHECK(c, kv_set(c, ctr, counter_key(ctr, sizeof(ctr)), "0", 1), 0);
    worker_report *w = mig.w = ut_shared_alloc(sizeof(*w));
    w->nkeys = nkeys;
    mig.pid = ut_fork(worker, w);
    assert_true(ut_wait_flag(&w->started, 30));
    ut_sleep(0.2);
    return w;
}

/* Prints the worker's figures and checks that no operation failed and nothing was lost. */
static void check_worker(kv_conn *c, const worker_report *w, const char *what) {
    print_message("%s: worker: %llu operations, %llu MOVED and %llu ASK followed, %llu failed, "
                  "%llu wrong\n",
                  what, (unsigned long long)w->ops, (unsigned long long)w->moved,
                  (unsigned long long)w->ask, (unsigned long long)w->failed,
                  (unsigned long long)w->wrong);
    if (w->failed)
        print_error("worker's last failure: %s\n", w->detail);
    assert_int_equal(w->failed, 0);
    assert_int_equal(w->wrong, 0);
    assert_true(w->ops > 0);
    check_nothing_lost(c, w);
}

static void test_migration_ask_moved(void **state) {
    (void)state;
    NEED_CLUSTER();
    mig.slot = slot_of(TAG);
    mig.n = primaries(mig.nodes, 16, mig.slot, &mig.from);
    assert_true(mig.n >= 2);
    mig.to = (mig.from + 1) % mig.n;
    const node *from = &mig.nodes[mig.from], *to = &mig.nodes[mig.to];
    kv_conn *c = NULL;
    KVT_CHECK(NULL, kv_open(uri, &c), 0);
    char key[64];
    int klen = key_of(key, sizeof(key), NKEYS);
    KVT_CHECK(c, kv_set(c, key, (size_t)klen, "marker", 6), 0);
    worker_report *w = start_worker(c, NKEYS);

    /* The specification's order: IMPORTING on the target before MIGRATING on the source. */
    mig.migrating = true;
    freeReplyObject(admin(to, "CLUSTER SETSLOT %u IMPORTING %s", mig.slot, from->id));
    freeReplyObject(admin(from, "CLUSTER SETSLOT %u MIGRATING %s", mig.slot, to->id));
    size_t moved_keys = migrate_keys(from, to, mig.slot, NKEYS / 2);
    /* The marker may still be on the source: move it now, so that reading it must ASK. */
    freeReplyObject(admin(from, "MIGRATE %s %d %b 0 5000", to->host, to->port, key, (size_t)klen));
    uint64_t test_ask = 0, test_moved = 0;
    check_redirect(c, &test_ask, false);
    moved_keys += migrate_keys(from, to, mig.slot, SIZE_MAX);
    hand_over();
    check_redirect(c, &test_moved, true);
    ut_sleep(0.3);

    __atomic_store_n(&w->stop, 1, __ATOMIC_RELEASE);
    assert_int_equal(ut_wait(mig.pid, 60), 0);
    mig.pid = 0;
    char what[768];
    snprintf(what, sizeof(what),
             "slot %u: %zu keys migrated from %s:%d to %s:%d (test: %llu ASK, %llu MOVED)",
             mig.slot, moved_keys, from->host, from->port, to->host, to->port,
             (unsigned long long)test_ask, (unsigned long long)test_moved);
    check_worker(c, w, what);
    assert_true(w->moved >= 1);
    kv_close(c);
}

/*
 * redis-cli --cluster reshard moves 1000 slots from one primary to the next and back while the
 * worker writes, reads and increments 4000 keys spread over every slot.
 */
static void reshard(const node *src, const node *dst) {
    char cmd[512];
    /* redis-cli refuses to reshard until every node agrees on the slot map, which takes a few
     * gossip rounds after the previous migration on a loaded machine: wait for that (bounded). */
    snprintf(cmd, sizeof(cmd), "redis-cli --cluster check %s:%d >/dev/null 2>&1", src->host,
             src->port);
    for (double t0 = ut_now(); system(cmd) != 0 && ut_now() - t0 < 30;)
        ut_sleep(0.5);
    snprintf(cmd, sizeof(cmd),
             "redis-cli --cluster reshard %s:%d --cluster-from %s --cluster-to %s "
             "--cluster-slots 1000 --cluster-yes >/dev/null 2>&1",
             src->host, src->port, src->id, dst->id);
    mig.resharding = true;
    assert_int_equal(system(cmd), 0);
    mig.resharding = false;
}

static void test_reshard_under_load(void **state) {
    (void)state;
    NEED_CLUSTER();
    if (system("redis-cli --version >/dev/null 2>&1") != 0)
        skip();
    node nodes[16];
    size_t from, n = primaries(nodes, 16, 0, &from);
    assert_true(n >= 2);
    const node *src = &nodes[from], *dst = &nodes[(from + 1) % n];
    kv_conn *c = NULL;
    KVT_CHECK(NULL, kv_open(uri, &c), 0);
    prefix = "reshard";
    worker_report *w = start_worker(c, MAX_KEYS);
    /* There and back, so that repeated runs leave the cluster as balanced as they found it. */
    double t0 = ut_now();
    reshard(src, dst);
    reshard(dst, src);
    double took = ut_now() - t0;
    ut_sleep(0.3);
    __atomic_store_n(&w->stop, 1, __ATOMIC_RELEASE);
    assert_int_equal(ut_wait(mig.pid, 60), 0);
    mig.pid = 0;
    char what[768];
    snprintf(what, sizeof(what), "1000 slots resharded from %s:%d to %s:%d and back in %.2f s",
             src->host, src->port, dst->host, dst->port, took);
    check_worker(c, w, what);
    assert_true(w->moved >= 1);
    kv_close(c);
}

/* What the cluster cannot do in one step is a capability it lacks, and says why. */
static void test_capabilities(void **state) {
    (void)state;
    NEED_CLUSTER();
    kv_conn *c = NULL;
    KVT_CHECK(NULL, kv_open(uri, &c), 0);
    unsigned caps = kv_caps(c);
    assert_true(caps & KV_CAP_ATOMIC_INCR);
    assert_true(caps & KV_CAP_LOCK);
    assert_true(caps & KV_CAP_ENUMERATE);
    assert_false(caps & KV_CAP_SNAPSHOT);
    assert_false(caps & KV_CAP_NATIVE_DUMP);
    KVT_CHECK(c, kv_dump_native(c), KV_ENOTSUP);
    assert_non_null(strstr(kv_errmsg(c), "point-in-time"));
    kv__redis_cluster_stats st;
    assert_int_equal(kv__redis_cluster_stats_of(c, &st), 0);
    node nodes[16];
    size_t owner;
    assert_int_equal(st.primaries, primaries(nodes, 16, 0, &owner));
    assert_int_equal(kv__redis_cluster_stats_of(NULL, &st), KV_EINVAL);
    kv_close(c);
}

/*
 * A primary killed (SIGKILL): its replica takes over after the cluster's node timeout, and the
 * same connection works again without being reopened (links are opened again, the map
 * reloaded). The node is then started again by scripts/services, and rejoins. Only against the
 * cluster of scripts/services (not a cluster given by KV_TEST_REDIS_CLUSTER_URI).
 */
static void test_failover_reconnects(void **state) {
    (void)state;
    NEED_CLUSTER();
    const char *env = getenv("KV_TEST_REDIS_CLUSTER_URI");
    if (env && *env)
        skip();
    unsigned slot = slot_of("{failover}");
    node nodes[16];
    size_t owner;
    primaries(nodes, 16, slot, &owner);
    kv_conn *c = NULL;
    KVT_CHECK(NULL, kv_open(uri, &c), 0);
    KVT_CHECK(c, kv_set(c, "{failover}:k", 12, "before", 6), 0);

    redisReply *info = admin(&nodes[owner], "INFO server");
    const char *p = strstr(info->str, "process_id:");
    assert_non_null(p);
    pid_t pid = (pid_t)atol(p + 11);
    freeReplyObject(info);
    assert_true(pid > 1);
    assert_int_equal(kill(pid, SIGKILL), 0);

    double t0 = ut_now(), deadline = t0 + 60;
    int rc, failures = 0;
    while ((rc = kv_set(c, "{failover}:k", 12, "after", 5)) != 0 && ut_now() < deadline) {
        failures++;
        ut_sleep(0.05);
    }
    double window = ut_now() - t0;
    print_message("primary %s:%d (pid %ld) killed: %d failed writes, the same connection wrote "
                  "again after %.2f s\n",
                  nodes[owner].host, nodes[owner].port, (long)pid, failures, window);
    KVT_CHECK(c, rc, 0);
    kv_buf v = KV_BUF_INIT;
    KVT_CHECK(c, kv_get(c, "{failover}:k", 12, &v), 0);
    assert_memory_equal(v.data, "after", 5);
    kv_buf_free(&v);
    kv_close(c);
    /* The killed node comes back as a replica of the primary that replaced it. */
    assert_int_equal(system(UT_SERVICES_SCRIPT " start redis-cluster >/dev/null 2>&1"), 0);
}

/* Reads from replicas: the description says so, and a write becomes visible there. */
static void test_replica_reads(void **state) {
    (void)state;
    NEED_CLUSTER();
    char ro_uri[1100];
    kv_conn *c = NULL, *ro = NULL;
    snprintf(ro_uri, sizeof(ro_uri), "%s%sreplicas=read", uri, strchr(uri, '?') ? "&" : "?");
    KVT_CHECK(NULL, kv_open(uri, &c), 0);
    KVT_CHECK(NULL, kv_open(ro_uri, &ro), 0);
    assert_null(strstr(kv_backend_version(c), "replicas"));
    assert_non_null(strstr(kv_backend_version(ro), "reads from replicas"));
    kv_buf v = KV_BUF_INIT;
    for (int i = 0; i < 20; i++) {
        char key[32], val[32];
        int kl = snprintf(key, sizeof(key), "replica-read:%d", i);
        int vl = snprintf(val, sizeof(val), "value %d", i);
        KVT_CHECK(c, kv_set(c, key, (size_t)kl, val, (size_t)vl), 0);
        /* Replication is asynchronous: wait, bounded, until the replica has it. */
        double deadline = ut_now() + 5;
        int rc;
        while ((rc = kv_get(ro, key, (size_t)kl, &v)) == KV_ENOTFOUND && ut_now() < deadline)
            ut_sleep(0.001);
        KVT_CHECK(ro, rc, 0);
        assert_int_equal(v.len, (size_t)vl);
        assert_memory_equal(v.data, val, (size_t)vl);
        /* Writes through a replica-reading connection still go to the primary. */
        KVT_CHECK(ro, kv_del(ro, key, (size_t)kl), 0);
    }
    kv_buf_free(&v);
    kv_close(ro);
    kv_close(c);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s slots|service:redis-cluster|URI\n", argv[0]);
        return 2;
    }
    alarm(600);
    if (strcmp(argv[1], "slots") == 0) {
        const struct CMUnitTest unit[] = {cmocka_unit_test(test_spec_slots)};
        return cmocka_run_group_tests_name("redis-cluster key slots", unit, NULL, NULL) ? 1 : 0;
    }
    if (!kvt_test_uri(argv[1], uri, sizeof(uri))) {
        snprintf(skip_reason, sizeof(skip_reason), "%s", uri);
        uri[0] = '\0';
        printf("%s %s\n", UT_SKIP_MARK, skip_reason);
    } else if (!ut_lock_server("redis-cluster", 240)) {
        fprintf(stderr, "another test run kept the redis-cluster for 240 s\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keyslot_matches_server),
        cmocka_unit_test(test_capabilities),
        cmocka_unit_test_teardown(test_migration_ask_moved, teardown_migration),
        cmocka_unit_test_teardown(test_reshard_under_load, teardown_migration),
        cmocka_unit_test(test_replica_reads),
        cmocka_unit_test(test_failover_reconnects),
    };
    return cmocka_run_group_tests_name("redis-cluster", tests, NULL, NULL) ? 1 : 0;
}
