/*
 * redis.c - the `redis://HOST:PORT[/DB]` and `redis+unix:PATH` adapter, through hiredis 0.14
 * (Debian 12): the blocking API with connect and command timeouts, binary-safe argv commands,
 * and the idioms of the Redis ecosystem:
 *  - INCRBY for counters;
 *  - the single-instance lock of the Redis documentation: SET key token NX PX ttl to take it,
 *    and a Lua script that deletes the key only if it still holds our token to release it (a
 *    holder whose lock expired must not delete the next holder's lock);
 *  - MGET for batch reads, pipelining (redisAppendCommandArgv + redisGetReply) for batch writes;
 *  - SCAN + MGET to enumerate, without blocking the server the way KEYS does.
 * The connection, the single-key operations and the lock live in redis_link.c, shared with
 * the redis-cluster adapter; this file sends them all to its one server. No hiredis reply
 * ever leaves the adapters: values are copied into the caller's kv_buf.
 *
 * Parameters: timeout=S (5: each command), connect_timeout=S (2), db=N (for redis+unix; TCP
 * URIs may also say /N), password=P and user=U (AUTH), lock_key=K ("kv:lock"), lock_ttl=S (30).
 */
#include "redis_link.h"
#include "redis_uri.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct redis_conn {
    kv_conn base;
    kv__redis_link link;
    kv__redis_lock lock;
    char version[64];
    uint64_t inject_ns; /* KV_REDIS_INJECT_DELAY_NS: a test's slowdown of every command */
} redis_conn;

static redisReply *command(redis_conn *r, const char *what, int argc, const char **argv,
                           const size_t *lens, int *rc) {
    return kv__redis_link_command(&r->base, &r->link, what, argc, argv, lens, rc);
}

static int unexpected(redis_conn *r, const redisReply *rep, const char *what) {
    return kv__redis_unexpected(&r->base, &r->link, rep, what);
}

/*
 * KV_REDIS_INJECT_DELAY_NS=N (tests of the regression gate only): each single-key command
 * spins N ns on the client after its reply, a known slowdown of this adapter and of no other,
 * which the gate must report as a regression of the redis cells alone. Unset or 0: nothing.
 */
static uint64_t inject_delay(void) {
    const char *e = getenv("KV_REDIS_INJECT_DELAY_NS");
    return e && *e ? strtoull(e, NULL, 10) : 0;
}

static void spin_ns(uint64_t ns) {
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do
        clock_gettime(CLOCK_MONOTONIC, &t);
    while ((uint64_t)(t.tv_sec - t0.tv_sec) * 1000000000u + (uint64_t)t.tv_nsec -
               (uint64_t)t0.tv_nsec <
           ns);
}

/* The one server serves every key. */
static redisReply *send_one(kv_conn *c, const kv__redis_cmd *cmd, int *rc) {
    redis_conn *r = (redis_conn *)c;
    redisReply *rep = command(r, cmd->what, cmd->argc, cmd->argv, cmd->lens, rc);
    if (r->inject_ns)
        spin_ns(r->inject_ns);
    return rep;
}

static int redis_get(kv_conn *c, const void *key, size_t klen, kv_buf *val) {
    return kv__redis_get(c, send_one, key, klen, val);
}

static int redis_set(kv_conn *c, const void *key, size_t klen, const void *val, size_t vlen) {
    return kv__redis_set(c, send_one, key, klen, val, vlen);
}

static int redis_del(kv_conn *c, const void *key, size_t klen) {
    return kv__redis_del(c, send_one, key, klen);
}

static int redis_incr(kv_conn *c, const void *key, size_t klen, int64_t by, int64_t *result) {
    return kv__redis_incr(c, send_one, key, klen, by, result);
}

static int redis_lock(kv_conn *c, double timeout) {
    redis_conn *r = (redis_conn *)c;
    return kv__redis_lock_take(c, send_one, &r->lock, timeout, r->link.where);
}

static int redis_unlock(kv_conn *c) {
    redis_conn *r = (redis_conn *)c;
    return kv__redis_lock_release(c, send_one, &r->lock, r->link.where);
}

/* Runs a command whose reply is an integer. */
static int command_int(redis_conn *r, const char *what, int argc, const char **argv,
                       const size_t *lens, long long *n) {
    int rc;
    redisReply *rep = command(r, what, argc, argv, lens, &rc);
    if (!rep)
        return rc;
    if (rep->type == REDIS_REPLY_INTEGER)
        *n = rep->integer;
    else
        rc = unexpected(r, rep, what);
    freeReplyObject(rep);
    return rc;
}

static int redis_count(kv_conn *c, uint64_t *n) {
    const char *argv[] = {"DBSIZE"};
    size_t lens[] = {6};
    long long v = 0;
    int rc = command_int((redis_conn *)c, "DBSIZE", 1, argv, lens, &v);
    if (rc == 0)
        *n = (uint64_t)v;
    return rc;
}

static int redis_clear(kv_conn *c) {
    redis_conn *r = (redis_conn *)c;
    const char *argv[] = {"FLUSHDB"};
    size_t lens[] = {7};
    int rc;
    freeReplyObject(command(r, "FLUSHDB", 1, argv, lens, &rc));
    return rc;
}

/* MGET of n keys; fn(ctx, i, reply element) for each of them. */
static int mget(redis_conn *r, size_t n, const char *const *keys, const size_t *klens,
                int (*fn)(void *ctx, size_t i, const redisReply *v), void *ctx) {
    const char **argv = malloc((n + 1) * sizeof(*argv));
    size_t *lens = malloc((n + 1) * sizeof(*lens));
    redisReply *rep = NULL;
    int rc = -ENOMEM;

    if (!argv || !lens || n >= (size_t)INT32_MAX)
        goto out;
    argv[0] = "MGET";
    lens[0] = 4;
    memcpy(argv + 1, keys, n * sizeof(*argv));
    memcpy(lens + 1, klens, n * sizeof(*lens));
    if (!(rep = command(r, "MGET", (int)n + 1, argv, lens, &rc)))
        goto out;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != n) {
        rc = unexpected(r, rep, "MGET");
        goto out;
    }
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = fn(ctx, i, rep->element[i]);
out:
    freeReplyObject(rep);
    free(argv);
    free(lens);
    return rc;
}

struct get_many_ctx {
    redis_conn *r;
    kv_buf *vals;
    int *rcs;
};

static int get_many_one(void *ctx, size_t i, const redisReply *v) {
    struct get_many_ctx *g = ctx;
    if (v->type == REDIS_REPLY_NIL) {
        g->rcs[i] = KV_ENOTFOUND;
        return 0;
    }
    if (v->type != REDIS_REPLY_STRING)
        return unexpected(g->r, v, "MGET");
    g->rcs[i] = 0;
    return kv__buf_set(&g->vals[i], v->str, v->len);
}

static int redis_get_many(kv_conn *c, const kv_key *keys, size_t n, kv_buf *vals, int *rcs) {
    redis_conn *r = (redis_conn *)c;
    struct get_many_ctx g = {r, vals, rcs};
    const char **kp = malloc(n * sizeof(*kp));
    size_t *kl = malloc(n * sizeof(*kl));
    int rc = -ENOMEM;
    if (kp && kl) {
        for (size_t i = 0; i < n; i++) {
            kp[i] = keys[i].key;
            kl[i] = keys[i].klen;
        }
        rc = mget(r, n, kp, kl, get_many_one, &g);
    }
    free(kp);
    free(kl);
    return rc;
}

/*
 * Pipelines n SETs: all requests go out in one write, then every reply is read, even after an
 * error reply, so that the connection stays in step with the server.
 */
static int redis_set_many(kv_conn *c, const kv_item *items, size_t n) {
    redis_conn *r = (redis_conn *)c;
    int rc = 0;

    if (r->link.broken)
        return kv__error(c, KV_ECONN, "redis SET: the connection broke earlier: %s",
                         r->link.broken_msg);
    for (size_t i = 0; i < n; i++) {
        const char *argv[] = {"SET", items[i].key, items[i].val ? items[i].val : ""};
        size_t lens[] = {3, items[i].klen, items[i].vlen};
        if (redisAppendCommandArgv(r->link.ctx, 3, argv, lens) != REDIS_OK)
            return kv__redis_link_fail(c, &r->link, "SET (pipeline)", errno);
    }
    for (size_t i = 0; i < n; i++) {
        redisReply *rep;
        int lrc = kv__redis_link_get_reply(c, &r->link, "SET (pipeline)", &rep);
        if (lrc < 0)
            return lrc;
        if (rc == 0 && rep->type == REDIS_REPLY_ERROR)
            rc = kv__redis_reply_error(c, r->link.where, rep, "SET (pipeline)");
        else if (rc == 0 && rep->type != REDIS_REPLY_STATUS)
            rc = unexpected(r, rep, "SET (pipeline)");
        freeReplyObject(rep);
    }
    return rc;
}

/* Removes n keys with one DEL (a missing key counts 0, which is fine). */
static int redis_del_many(kv_conn *c, const kv_key *keys, size_t n) {
    const char **argv = malloc((n + 1) * sizeof(*argv));
    size_t *lens = malloc((n + 1) * sizeof(*lens));
    long long removed = 0;
    int rc = -ENOMEM;
    if (argv && lens) {
        argv[0] = "DEL";
        lens[0] = 3;
        for (size_t i = 0; i < n; i++) {
            argv[i + 1] = keys[i].key;
            lens[i + 1] = keys[i].klen;
        }
        rc = command_int((redis_conn *)c, "DEL", (int)(n + 1), argv, lens, &removed);
    }
    free(argv);
    free(lens);
    return rc < 0 ? rc : 0;
}

struct export_ctx {
    redis_conn *r;
    kv_entry_fn fn;
    void *ctx;
    const char *const *keys;
    const size_t *klens;
};

static int export_one(void *ctx, size_t i, const redisReply *v) {
    struct export_ctx *e = ctx;
    /* A key deleted between SCAN and MGET is simply gone; not an error. */
    if (v->type == REDIS_REPLY_NIL)
        return 0;
    if (v->type != REDIS_REPLY_STRING)
        return unexpected(e->r, v, "MGET");
    return e->fn(e->ctx, e->keys[i], e->klens[i], v->str, v->len);
}

/*
 * SCAN returns every key that exists for the whole walk at least once, but may return a key
 * twice: a set of the keys already passed on removes the duplicates.
 */
static int redis_export(kv_conn *c, kv_entry_fn fn, void *ctx) {
    redis_conn *r = (redis_conn *)c;
    kv__redis_scan_keys sk = {0};
    char cursor[32] = "0";
    int rc = kv__table_new(&sk.seen);
    if (rc < 0)
        return rc;
    do {
        redisReply *rep = kv__redis_scan_step(c, &r->link, cursor, &rc);
        if (!rep)
            break;
        rc = kv__redis_collect_new_keys(&sk, rep->element[1]);
        if (rc == 0 && sk.n) {
            struct export_ctx e = {r, fn, ctx, sk.keys, sk.klens};
            rc = mget(r, sk.n, sk.keys, sk.klens, export_one, &e);
        }
        freeReplyObject(rep);
    } while (rc == 0 && strcmp(cursor, "0") != 0);
    kv__redis_scan_keys_free(&sk);
    return rc;
}

static const char *redis_version(kv_conn *c) {
    return ((redis_conn *)c)->version;
}

static int redis_close(kv_conn *c) {
    redis_conn *r = (redis_conn *)c;
    /* Leave the lock to expire if the connection is broken; release it otherwise. */
    if (r->lock.locked && !r->link.broken)
        redis_unlock(c);
    kv__redis_link_close(&r->link);
    free(r);
    return 0;
}

static const kv_methods redis_methods = {
    .version = 4,
    .name = "redis",
    .close = redis_close,
    .backend_version = redis_version,
    .get = redis_get,
    .set = redis_set,
    .del = redis_del,
    .incr = redis_incr,
    .lock = redis_lock,
    .unlock = redis_unlock,
    .count = redis_count,
    .clear = redis_clear,
    .export_all = redis_export,
    .get_many = redis_get_many,
    .set_many = redis_set_many,
    .del_many = redis_del_many,
};

/* AUTH and SELECT when asked; the detail of a failure is left in r->base.errmsg. */
static int log_in(redis_conn *r, const kv__redis_target *t) {
    redisReply *rep;
    int rc = 0;
    if (t->password) {
        const char *argv[] = {"AUTH", t->user ? t->user : t->password, t->password};
        size_t lens[] = {4, strlen(argv[1]), strlen(t->password)};
        if (!(rep = command(r, "AUTH", t->user ? 3 : 2, argv, lens, &rc)))
            return rc;
        freeReplyObject(rep);
    }
    if (t->db) {
        char num[24];
        const char *argv[] = {"SELECT", num};
        size_t lens[] = {6, kv__format_i64(t->db, num)};
        if (!(rep = command(r, "SELECT", 2, argv, lens, &rc)))
            return rc;
        freeReplyObject(rep);
    }
    return 0;
}

int kv__redis_open(kv__uri *u, kv_conn **out, char *err, size_t errlen) {
    kv__redis_target t = {.port = 6379};
    int rc = kv__redis_parse_target(u, &t, err, errlen);
    if (rc < 0)
        return rc;

    redis_conn *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    r->lock.ttl_ms = (long)ceil(t.lock_ttl * 1000);
    r->inject_ns = inject_delay();
    snprintf(r->lock.key, sizeof(r->lock.key), "%s", t.lock_key);
    if ((rc = kv__redis_link_open(&r->link, t.host, t.port, t.unix_socket ? t.path : NULL,
                                  t.connect_timeout, t.timeout, err, errlen)) < 0)
        goto fail;
    r->base.methods = &redis_methods;
    bool persistent = false;
    if ((rc = log_in(r, &t)) < 0 ||
        (rc = kv__redis_server_facts(&r->base, &r->link, r->version, sizeof(r->version),
                                     &persistent)) < 0) {
        kv__errbuf(err, errlen, rc, "%s", r->base.errmsg);
        goto fail;
    }
    r->base.caps = KV_CAP_ATOMIC_INCR | KV_CAP_LOCK | KV_CAP_ENUMERATE | KV_CAP_CROSS_PROCESS |
                   KV_CAP_BATCH | KV_CAP_COUNT | (persistent ? KV_CAP_PERSISTENT : 0);
    *out = &r->base;
    return 0;

fail:
    kv__redis_link_close(&r->link);
    free(r);
    return rc;
}

/* A server: the password stays out of reports, and the port (a private port of the test or
 * benchmark services) is not part of the identity; a unix socket may sit in a temporary folder. */
void kv__redis_describe(kv__uri *u, kv_desc *d) {
    (void)u;
    snprintf(d->name, sizeof d->name, "redis");
    kv__desc_hide_param(d, "password");
    kv__desc_mask_ports(d);
    kv__desc_mask_temporary(d);
}
