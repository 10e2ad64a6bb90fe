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
 * No hiredis reply ever leaves this file: values are copied into the caller's kv_buf.
 *
 * Parameters: timeout=S (5: each command), connect_timeout=S (2), db=N (for redis+unix; TCP
 * URIs may also say /N), password=P and user=U (AUTH), lock_key=K ("kv:lock"), lock_ttl=S (30).
 */
#include "redis_uri.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

typedef struct redis_conn {
    kv_conn base;
    redisContext *ctx;
    bool broken;          /* hiredis contexts are unusable after an I/O or protocol error */
    char broken_msg[448]; /* why, for every later call */
    bool locked;
    long lock_ttl_ms;
    char lock_key[128];
    char token[33]; /* this holder's lock token */
    char where[300];
    char version[64];
} redis_conn;

static const char unlock_script[] =
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) "
    "else return 0 end";

static struct timeval to_timeval(double s) {
    struct timeval tv = {(time_t)s, (suseconds_t)((s - floor(s)) * 1e6)};
    return tv;
}

/* The context failed: say why, remember that the connection is broken, and map the error. */
static int ctx_fail(redis_conn *r, const char *what, int saved_errno) {
    int rc;
    const char *why = r->ctx->errstr;

    switch (r->ctx->err) {
    case REDIS_ERR_IO:
        if (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK || saved_errno == ETIMEDOUT) {
            rc = KV_ETIMEDOUT;
            why = "no reply within the timeout";
        } else {
            rc = KV_ECONN;
        }
        break;
    case REDIS_ERR_EOF:
        rc = KV_ECONN;
        why = "the server closed the connection";
        break;
    case REDIS_ERR_PROTOCOL:
        rc = KV_EPROTO;
        break;
    case REDIS_ERR_OOM:
        rc = -ENOMEM;
        break;
    default:
        rc = KV_ECONN;
        break;
    }
    r->broken = true;
    snprintf(r->broken_msg, sizeof(r->broken_msg), "%s (%s)", why, r->where);
    return kv__error(&r->base, rc, "redis %s: %s", what, r->broken_msg);
}

static int reply_error(redis_conn *r, const redisReply *rep, const char *what) {
    int rc = KV_ESERVER;
    if (strstr(rep->str, "not an integer"))
        rc = KV_ENOTNUM;
    else if (strstr(rep->str, "overflow"))
        rc = KV_EOVERFLOW;
    else if (strncmp(rep->str, "OOM", 3) == 0)
        rc = KV_EFULL;
    return kv__error(&r->base, rc, "redis %s: %s (%s)", what, rep->str, r->where);
}

static int unexpected(redis_conn *r, const redisReply *rep, const char *what) {
    return kv__error(&r->base, KV_EPROTO, "redis %s: unexpected reply of type %d (%s)", what,
                     rep->type, r->where);
}

/*
 * Runs one command. Returns the reply (the caller frees it), or NULL with *rc set: an error
 * reply has been turned into a code and a detail, and so has a failure of the connection.
 */
static redisReply *command(redis_conn *r, const char *what, int argc, const char **argv,
                           const size_t *lens, int *rc) {
    if (r->broken) {
        *rc = kv__error(&r->base, KV_ECONN, "redis %s: the connection broke earlier: %s", what,
                        r->broken_msg);
        return NULL;
    }
    errno = 0;
    redisReply *rep = redisCommandArgv(r->ctx, argc, argv, lens);
    if (!rep) {
        *rc = ctx_fail(r, what, errno);
        return NULL;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        *rc = reply_error(r, rep, what);
        freeReplyObject(rep);
        return NULL;
    }
    *rc = 0;
    return rep;
}

static int redis_get(kv_conn *c, const void *key, size_t klen, kv_buf *val) {
    redis_conn *r = (redis_conn *)c;
    const char *argv[] = {"GET", key};
    size_t lens[] = {3, klen};
    int rc;
    redisReply *rep = command(r, "GET", 2, argv, lens, &rc);
    if (!rep)
        return rc;
    if (rep->type == REDIS_REPLY_STRING)
        rc = kv__buf_set(val, rep->str, rep->len);
    else if (rep->type == REDIS_REPLY_NIL)
        rc = KV_ENOTFOUND;
    else
        rc = unexpected(r, rep, "GET");
    freeReplyObject(rep);
    return rc;
}

static int redis_set(kv_conn *c, const void *key, size_t klen, const void *val, size_t vlen) {
    redis_conn *r = (redis_conn *)c;
    const char *argv[] = {"SET", key, val};
    size_t lens[] = {3, klen, vlen};
    int rc;
    redisReply *rep = command(r, "SET", 3, argv, lens, &rc);
    if (!rep)
        return rc;
    if (rep->type != REDIS_REPLY_STATUS)
        rc = unexpected(r, rep, "SET");
    freeReplyObject(rep);
    return rc;
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

static int redis_del(kv_conn *c, const void *key, size_t klen) {
    const char *argv[] = {"DEL", key};
    size_t lens[] = {3, klen};
    long long n = 0;
    int rc = command_int((redis_conn *)c, "DEL", 2, argv, lens, &n);
    return rc < 0 ? rc : n ? 0 : KV_ENOTFOUND;
}

static int redis_incr(kv_conn *c, const void *key, size_t klen, int64_t by, int64_t *result) {
    char num[24];
    const char *argv[] = {"INCRBY", key, num};
    size_t lens[] = {6, klen, kv__format_i64(by, num)};
    long long n = 0;
    int rc = command_int((redis_conn *)c, "INCRBY", 3, argv, lens, &n);
    if (rc == 0)
        *result = n;
    return rc;
}

static int redis_lock(kv_conn *c, double timeout) {
    redis_conn *r = (redis_conn *)c;
    double deadline = timeout < 0 ? -1 : kv__now() + timeout, delay = 0;
    char ttl[24];

    if (r->locked)
        return KV_ELOCKED;
    int rc = kv__random_hex(r->token, 16);
    if (rc < 0)
        return rc;
    const char *argv[] = {"SET", r->lock_key, r->token, "NX", "PX", ttl};
    size_t lens[] = {3, strlen(r->lock_key), 32, 2, 2, kv__format_i64(r->lock_ttl_ms, ttl)};
    for (;;) {
        redisReply *rep = command(r, "SET NX (lock)", 6, argv, lens, &rc);
        if (!rep)
            return rc;
        int type = rep->type;
        freeReplyObject(rep);
        if (type == REDIS_REPLY_STATUS) {
            r->locked = true;
            return 0;
        }
        if (type != REDIS_REPLY_NIL)
            return kv__error(c, KV_EPROTO, "redis lock: unexpected reply (%s)", r->where);
        if (timeout == 0)
            return kv__error(c, KV_EBUSY, "redis lock: '%s' is held by another client (%s)",
                             r->lock_key, r->where);
        if (!kv__backoff(&delay, deadline))
            return kv__error(c, KV_ETIMEDOUT,
                             "redis lock: '%s' still held by another client after %.3f s (%s)",
                             r->lock_key, timeout, r->where);
    }
}

static int redis_unlock(kv_conn *c) {
    redis_conn *r = (redis_conn *)c;
    const char *argv[] = {"EVAL", unlock_script, "1", r->lock_key, r->token};
    size_t lens[] = {4, sizeof(unlock_script) - 1, 1, strlen(r->lock_key), 32};
    long long n = 0;

    if (!r->locked)
        return KV_ENOTLOCKED;
    r->locked = false;
    int rc = command_int(r, "EVAL (unlock)", 5, argv, lens, &n);
    if (rc == 0 && n != 1)
        rc = kv__error(c, KV_ENOTLOCKED,
                       "redis unlock: '%s' expired (lock_ttl) and may have been taken by another "
                       "client (%s)",
                       r->lock_key, r->where);
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

    if (r->broken)
        return kv__error(c, KV_ECONN, "redis SET: the connection broke earlier: %s", r->broken_msg);
    for (size_t i = 0; i < n; i++) {
        const char *argv[] = {"SET", items[i].key, items[i].val ? items[i].val : ""};
        size_t lens[] = {3, items[i].klen, items[i].vlen};
        if (redisAppendCommandArgv(r->ctx, 3, argv, lens) != REDIS_OK)
            return ctx_fail(r, "SET (pipeline)", errno);
    }
    for (size_t i = 0; i < n; i++) {
        void *p = NULL;
        errno = 0;
        if (redisGetReply(r->ctx, &p) != REDIS_OK || !p)
            return ctx_fail(r, "SET (pipeline)", errno);
        redisReply *rep = p;
        if (rc == 0 && rep->type == REDIS_REPLY_ERROR)
            rc = reply_error(r, rep, "SET (pipeline)");
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

/* One SCAN step from *cursor: the reply (to free) with its key array checked; *cursor advances. */
static redisReply *scan_step(redis_conn *r, char cursor[32], int *rc) {
    const char *argv[] = {"SCAN", cursor, "COUNT", "1000"};
    size_t lens[] = {4, strlen(cursor), 5, 4};
    redisReply *rep = command(r, "SCAN", 4, argv, lens, rc);
    if (!rep)
        return NULL;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
        rep->element[0]->type != REDIS_REPLY_STRING || rep->element[0]->len >= 32 ||
        rep->element[1]->type != REDIS_REPLY_ARRAY) {
        *rc = unexpected(r, rep, "SCAN");
        freeReplyObject(rep);
        return NULL;
    }
    memcpy(cursor, rep->element[0]->str, rep->element[0]->len + 1);
    return rep;
}

/* The keys of one SCAN step not seen before, as MGET arguments (pointers into the reply). */
typedef struct scan_keys {
    kv__table *seen;
    const char **keys;
    size_t *klens, n, cap;
} scan_keys;

static int collect_new_keys(scan_keys *sk, const redisReply *arr) {
    sk->n = 0;
    if (arr->elements > sk->cap) {
        sk->cap = arr->elements;
        free(sk->keys);
        free(sk->klens);
        sk->keys = malloc(sk->cap * sizeof(*sk->keys));
        sk->klens = malloc(sk->cap * sizeof(*sk->klens));
        if (!sk->keys || !sk->klens)
            return -ENOMEM;
    }
    int rc = 0;
    for (size_t i = 0; i < arr->elements && rc == 0; i++) {
        const redisReply *k = arr->element[i];
        const void *dummy;
        size_t dlen;
        if (k->type != REDIS_REPLY_STRING || k->len == 0 ||
            kv__table_get(sk->seen, k->str, k->len, &dummy, &dlen) == 0)
            continue;
        rc = kv__table_set(sk->seen, k->str, k->len, "", 0);
        sk->keys[sk->n] = k->str;
        sk->klens[sk->n] = k->len;
        sk->n++;
    }
    return rc;
}

/*
 * SCAN returns every key that exists for the whole walk at least once, but may return a key
 * twice: a set of the keys already passed on removes the duplicates.
 */
static int redis_export(kv_conn *c, kv_entry_fn fn, void *ctx) {
    redis_conn *r = (redis_conn *)c;
    scan_keys sk = {0};
    char cursor[32] = "0";
    int rc = kv__table_new(&sk.seen);
    if (rc < 0)
        return rc;
    do {
        redisReply *rep = scan_step(r, cursor, &rc);
        if (!rep)
            break;
        rc = collect_new_keys(&sk, rep->element[1]);
        if (rc == 0 && sk.n) {
            struct export_ctx e = {r, fn, ctx, sk.keys, sk.klens};
            rc = mget(r, sk.n, sk.keys, sk.klens, export_one, &e);
        }
        freeReplyObject(rep);
    } while (rc == 0 && strcmp(cursor, "0") != 0);
    free(sk.keys);
    free(sk.klens);
    kv__table_free(sk.seen);
    return rc;
}

static const char *redis_version(kv_conn *c) {
    return ((redis_conn *)c)->version;
}

static int redis_close(kv_conn *c) {
    redis_conn *r = (redis_conn *)c;
    /* Leave the lock to expire if the connection is broken; release it otherwise. */
    if (r->locked && !r->broken)
        redis_unlock(c);
    redisFree(r->ctx);
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

/* The server's version, and whether it is configured to persist (RDB snapshots or AOF). */
static int server_facts(redis_conn *r, bool *persistent) {
    const char *info[] = {"INFO", "server"};
    size_t info_lens[] = {4, 6};
    int rc;
    redisReply *rep = command(r, "INFO", 2, info, info_lens, &rc);
    if (!rep)
        return rc;
    const char *v = rep->type == REDIS_REPLY_STRING ? strstr(rep->str, "redis_version:") : NULL;
    int len = v ? (int)strcspn(v + 14, "\r\n") : 0;
    snprintf(r->version, sizeof(r->version), "%.*s (hiredis %d.%d.%d)", len, v ? v + 14 : "?",
             HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH);
    freeReplyObject(rep);

    /* CONFIG may be renamed away on managed servers: then we do not claim persistence. */
    *persistent = false;
    const char *cfg[] = {"CONFIG", "GET", "save"};
    const char *aof[] = {"CONFIG", "GET", "appendonly"};
    size_t cfg_lens[] = {6, 3, 4}, aof_lens[] = {6, 3, 10};
    if ((rep = command(r, "CONFIG GET", 3, cfg, cfg_lens, &rc))) {
        if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
            rep->element[1]->type == REDIS_REPLY_STRING && rep->element[1]->len > 0)
            *persistent = true;
        freeReplyObject(rep);
    }
    if (r->broken)
        return KV_ECONN;
    if ((rep = command(r, "CONFIG GET", 3, aof, aof_lens, &rc))) {
        if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
            rep->element[1]->type == REDIS_REPLY_STRING && strcmp(rep->element[1]->str, "yes") == 0)
            *persistent = true;
        freeReplyObject(rep);
    }
    return r->broken ? KV_ECONN : 0;
}

/* Connects with the connect timeout, then sets the timeout of every later call. */
static int connect_target(redis_conn *r, const kv__redis_target *t, char *err, size_t errlen) {
    if (t->unix_socket) {
        snprintf(r->where, sizeof(r->where), "%s", t->path);
        r->ctx = redisConnectUnixWithTimeout(t->path, to_timeval(t->connect_timeout));
    } else {
        snprintf(r->where, sizeof(r->where), "%s:%d", t->host, t->port);
        r->ctx = redisConnectWithTimeout(t->host, t->port, to_timeval(t->connect_timeout));
    }
    if (!r->ctx)
        return -ENOMEM;
    if (r->ctx->err)
        return kv__errbuf(err, errlen, KV_ECONNECT, "redis: cannot connect to %s: %s", r->where,
                          r->ctx->errstr);
    if (redisSetTimeout(r->ctx, to_timeval(t->timeout)) != REDIS_OK)
        return kv__errbuf(err, errlen, KV_ECONNECT, "redis: cannot set the timeout on %s: %s",
                          r->where, r->ctx->errstr);
    return 0;
}

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
    r->lock_ttl_ms = (long)ceil(t.lock_ttl * 1000);
    snprintf(r->lock_key, sizeof(r->lock_key), "%s", t.lock_key);
    if ((rc = connect_target(r, &t, err, errlen)) < 0)
        goto fail;
    r->base.methods = &redis_methods;
    bool persistent = false;
    if ((rc = log_in(r, &t)) < 0 || (rc = server_facts(r, &persistent)) < 0) {
        kv__errbuf(err, errlen, rc, "%s", r->base.errmsg);
        goto fail;
    }
    r->base.caps = KV_CAP_ATOMIC_INCR | KV_CAP_LOCK | KV_CAP_ENUMERATE | KV_CAP_CROSS_PROCESS |
                   KV_CAP_BATCH | KV_CAP_COUNT | (persistent ? KV_CAP_PERSISTENT : 0);
    *out = &r->base;
    return 0;

fail:
    redisFree(r->ctx);
    free(r);
    return rc;
}
