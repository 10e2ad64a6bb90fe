/*
 * redis_link.c - one hiredis connection to one Redis server, and the single-key operations of
 * the interface over an adapter's `send` (see redis_link.h). Shared by redis.c and
 * redis_cluster.c.
 */
#include "redis_link.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

static struct timeval to_timeval(double s) {
    struct timeval tv = {(time_t)s, (suseconds_t)((s - floor(s)) * 1e6)};
    return tv;
}

int kv__redis_link_open(kv__redis_link *l, const char *host, int port, const char *path,
                        double connect_timeout, double timeout, char *err, size_t errlen) {
    l->broken = false;
    if (path) {
        snprintf(l->where, sizeof(l->where), "%s", path);
        l->ctx = redisConnectUnixWithTimeout(path, to_timeval(connect_timeout));
    } else {
        snprintf(l->where, sizeof(l->where), "%s:%d", host, port);
        l->ctx = redisConnectWithTimeout(host, port, to_timeval(connect_timeout));
    }
    if (!l->ctx)
        return -ENOMEM;
    int rc = 0;
    if (l->ctx->err)
        rc = kv__errbuf(err, errlen, KV_ECONNECT, "redis: cannot connect to %s: %s", l->where,
                        l->ctx->errstr);
    else if (redisSetTimeout(l->ctx, to_timeval(timeout)) != REDIS_OK)
        rc = kv__errbuf(err, errlen, KV_ECONNECT, "redis: cannot set the timeout on %s: %s",
                        l->where, l->ctx->errstr);
    if (rc < 0)
        kv__redis_link_close(l);
    return rc;
}

void kv__redis_link_close(kv__redis_link *l) {
    if (l->ctx)
        redisFree(l->ctx);
    l->ctx = NULL;
}

int kv__redis_link_fail(kv_conn *c, kv__redis_link *l, const char *what, int saved_errno) {
    int rc;
    const char *why = l->ctx->errstr;

    switch (l->ctx->err) {
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
    l->broken = true;
    snprintf(l->broken_msg, sizeof(l->broken_msg), "%s (%s)", why, l->where);
    return kv__error(c, rc, "redis %s: %s", what, l->broken_msg);
}

int kv__redis_reply_error(kv_conn *c, const char *where, const redisReply *rep, const char *what) {
    int rc = KV_ESERVER;
    if (strstr(rep->str, "not an integer"))
        rc = KV_ENOTNUM;
    else if (strstr(rep->str, "overflow"))
        rc = KV_EOVERFLOW;
    else if (strncmp(rep->str, "OOM", 3) == 0)
        rc = KV_EFULL;
    return kv__error(c, rc, "redis %s: %s (%s)", what, rep->str, where);
}

int kv__redis_unexpected(kv_conn *c, const kv__redis_link *l, const redisReply *rep,
                         const char *what) {
    return kv__error(c, KV_EPROTO, "redis %s: unexpected reply of type %d (%s)", what, rep->type,
                     l->where);
}

redisReply *kv__redis_link_raw(kv_conn *c, kv__redis_link *l, const char *what, int argc,
                               const char **argv, const size_t *lens, int *rc) {
    if (l->broken || !l->ctx) {
        *rc = kv__error(c, KV_ECONN, "redis %s: the connection broke earlier: %s", what,
                        l->ctx ? l->broken_msg : "not connected");
        return NULL;
    }
    errno = 0;
    redisReply *rep = redisCommandArgv(l->ctx, argc, argv, lens);
    if (!rep) {
        *rc = kv__redis_link_fail(c, l, what, errno);
        return NULL;
    }
    *rc = 0;
    return rep;
}

redisReply *kv__redis_link_command(kv_conn *c, kv__redis_link *l, const char *what, int argc,
                                   const char **argv, const size_t *lens, int *rc) {
    redisReply *rep = kv__redis_link_raw(c, l, what, argc, argv, lens, rc);
    if (rep && rep->type == REDIS_REPLY_ERROR) {
        *rc = kv__redis_reply_error(c, l->where, rep, what);
        freeReplyObject(rep);
        return NULL;
    }
    return rep;
}

int kv__redis_link_get_reply(kv_conn *c, kv__redis_link *l, const char *what, redisReply **out) {
    void *p = NULL;
    errno = 0;
    if (redisGetReply(l->ctx, &p) != REDIS_OK || !p)
        return kv__redis_link_fail(c, l, what, errno);
    *out = p;
    return 0;
}

redisReply *kv__redis_scan_step(kv_conn *c, kv__redis_link *l, char cursor[32], int *rc) {
    const char *argv[] = {"SCAN", cursor, "COUNT", "1000"};
    size_t lens[] = {4, strlen(cursor), 5, 4};
    redisReply *rep = kv__redis_link_command(c, l, "SCAN", 4, argv, lens, rc);
    if (!rep)
        return NULL;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
        rep->element[0]->type != REDIS_REPLY_STRING || rep->element[0]->len >= 32 ||
        rep->element[1]->type != REDIS_REPLY_ARRAY) {
        *rc = kv__redis_unexpected(c, l, rep, "SCAN");
        freeReplyObject(rep);
        return NULL;
    }
    memcpy(cursor, rep->element[0]->str, rep->element[0]->len + 1);
    return rep;
}

int kv__redis_collect_new_keys(kv__redis_scan_keys *sk, const redisReply *arr) {
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

void kv__redis_scan_keys_free(kv__redis_scan_keys *sk) {
    free(sk->keys);
    free(sk->klens);
    kv__table_free(sk->seen);
    sk->keys = NULL;
    sk->klens = NULL;
    sk->seen = NULL;
}

/* True if CONFIG GET NAME answers with a value that `pred` accepts. */
static bool config_is(kv_conn *c, kv__redis_link *l, const char *name,
                      bool (*pred)(const redisReply *v)) {
    const char *argv[] = {"CONFIG", "GET", name};
    size_t lens[] = {6, 3, strlen(name)};
    int rc;
    bool yes = false;
    redisReply *rep = kv__redis_link_command(c, l, "CONFIG GET", 3, argv, lens, &rc);
    if (rep) {
        yes = rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
              rep->element[1]->type == REDIS_REPLY_STRING && pred(rep->element[1]);
        freeReplyObject(rep);
    }
    return yes;
}

static bool non_empty(const redisReply *v) {
    return v->len > 0;
}

static bool is_yes(const redisReply *v) {
    return strcmp(v->str, "yes") == 0;
}

int kv__redis_server_facts(kv_conn *c, kv__redis_link *l, char *version, size_t vlen,
                           bool *persistent) {
    const char *info[] = {"INFO", "server"};
    size_t info_lens[] = {4, 6};
    int rc;
    redisReply *rep = kv__redis_link_command(c, l, "INFO", 2, info, info_lens, &rc);
    if (!rep)
        return rc;
    const char *v = rep->type == REDIS_REPLY_STRING ? strstr(rep->str, "redis_version:") : NULL;
    int len = v ? (int)strcspn(v + 14, "\r\n") : 0;
    snprintf(version, vlen, "%.*s (hiredis %d.%d.%d)", len, v ? v + 14 : "?", HIREDIS_MAJOR,
             HIREDIS_MINOR, HIREDIS_PATCH);
    freeReplyObject(rep);

    /* CONFIG may be renamed away on managed servers: then we do not claim persistence. */
    *persistent = config_is(c, l, "save", non_empty);
    if (!l->broken && config_is(c, l, "appendonly", is_yes))
        *persistent = true;
    return l->broken ? KV_ECONN : 0;
}

/* ---- Single-key operations. ---- */

/* Sends a command whose reply is an integer. */
static int send_int(kv_conn *c, kv__redis_send_fn send, const kv__redis_cmd *cmd, long long *n) {
    int rc;
    redisReply *rep = send(c, cmd, &rc);
    if (!rep)
        return rc;
    if (rep->type == REDIS_REPLY_INTEGER)
        *n = rep->integer;
    else
        rc = kv__error(c, KV_EPROTO, "redis %s: unexpected reply of type %d", cmd->what, rep->type);
    freeReplyObject(rep);
    return rc;
}

int kv__redis_get(kv_conn *c, kv__redis_send_fn send, const void *key, size_t klen, kv_buf *val) {
    const char *argv[] = {"GET", key};
    size_t lens[] = {3, klen};
    kv__redis_cmd cmd = {"GET", 2, argv, lens, 1, true};
    int rc;
    redisReply *rep = send(c, &cmd, &rc);
    if (!rep)
        return rc;
    if (rep->type == REDIS_REPLY_STRING)
        rc = kv__buf_set(val, rep->str, rep->len);
    else if (rep->type == REDIS_REPLY_NIL)
        rc = KV_ENOTFOUND;
    else
        rc = kv__error(c, KV_EPROTO, "redis GET: unexpected reply of type %d", rep->type);
    freeReplyObject(rep);
    return rc;
}

int kv__redis_set(kv_conn *c, kv__redis_send_fn send, const void *key, size_t klen, const void *val,
                  size_t vlen) {
    const char *argv[] = {"SET", key, val ? val : ""};
    size_t lens[] = {3, klen, vlen};
    kv__redis_cmd cmd = {"SET", 3, argv, lens, 1, false};
    int rc;
    redisReply *rep = send(c, &cmd, &rc);
    if (!rep)
        return rc;
    if (rep->type != REDIS_REPLY_STATUS)
        rc = kv__error(c, KV_EPROTO, "redis SET: unexpected reply of type %d", rep->type);
    freeReplyObject(rep);
    return rc;
}

int kv__redis_del(kv_conn *c, kv__redis_send_fn send, const void *key, size_t klen) {
    const char *argv[] = {"DEL", key};
    size_t lens[] = {3, klen};
    kv__redis_cmd cmd = {"DEL", 2, argv, lens, 1, false};
    long long n = 0;
    int rc = send_int(c, send, &cmd, &n);
    return rc < 0 ? rc : n ? 0 : KV_ENOTFOUND;
}

int kv__redis_incr(kv_conn *c, kv__redis_send_fn send, const void *key, size_t klen, int64_t by,
                   int64_t *result) {
    char num[24];
    const char *argv[] = {"INCRBY", key, num};
    size_t lens[] = {6, klen, kv__format_i64(by, num)};
    kv__redis_cmd cmd = {"INCRBY", 3, argv, lens, 1, false};
    long long n = 0;
    int rc = send_int(c, send, &cmd, &n);
    if (rc == 0 && result)
        *result = n;
    return rc;
}

/*
 * The single-instance lock of the Redis documentation: SET key token NX PX ttl takes it; the
 * release deletes the key only if it still holds our token (a holder whose lock expired must
 * not delete the next holder's lock).
 */
static const char unlock_script[] =
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) "
    "else return 0 end";

int kv__redis_lock_take(kv_conn *c, kv__redis_send_fn send, kv__redis_lock *lk, double timeout,
                        const char *where) {
    double deadline = timeout < 0 ? -1 : kv__now() + timeout, delay = 0;
    char ttl[24];

    if (lk->locked)
        return KV_ELOCKED;
    int rc = kv__random_hex(lk->token, 16);
    if (rc < 0)
        return rc;
    const char *argv[] = {"SET", lk->key, lk->token, "NX", "PX", ttl};
    size_t lens[] = {3, strlen(lk->key), 32, 2, 2, kv__format_i64(lk->ttl_ms, ttl)};
    kv__redis_cmd cmd = {"SET NX (lock)", 6, argv, lens, 1, false};
    for (;;) {
        redisReply *rep = send(c, &cmd, &rc);
        if (!rep)
            return rc;
        int type = rep->type;
        freeReplyObject(rep);
        if (type == REDIS_REPLY_STATUS) {
            lk->locked = true;
            return 0;
        }
        if (type != REDIS_REPLY_NIL)
            return kv__error(c, KV_EPROTO, "redis lock: unexpected reply (%s)", where);
        if (timeout == 0)
            return kv__error(c, KV_EBUSY, "redis lock: '%s' is held by another client (%s)",
                             lk->key, where);
        if (!kv__backoff(&delay, deadline))
            return kv__error(c, KV_ETIMEDOUT,
                             "redis lock: '%s' still held by another client after %.3f s (%s)",
                             lk->key, timeout, where);
    }
}

int kv__redis_lock_release(kv_conn *c, kv__redis_send_fn send, kv__redis_lock *lk,
                           const char *where) {
    const char *argv[] = {"EVAL", unlock_script, "1", lk->key, lk->token};
    size_t lens[] = {4, sizeof(unlock_script) - 1, 1, strlen(lk->key), 32};
    kv__redis_cmd cmd = {"EVAL (unlock)", 5, argv, lens, 3, false};
    long long n = 0;

    if (!lk->locked)
        return KV_ENOTLOCKED;
    lk->locked = false;
    int rc = send_int(c, send, &cmd, &n);
    if (rc == 0 && n != 1)
        rc = kv__error(c, KV_ENOTLOCKED,
                       "redis unlock: '%s' expired (lock_ttl) and may have been taken by another "
                       "client (%s)",
                       lk->key, where);
    return rc;
}
