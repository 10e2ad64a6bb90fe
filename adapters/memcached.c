/*
 * memcached.c - the `memcached://HOST:PORT[,HOST:PORT...]` adapter, through libmemcached 1.1
 * (Debian 12), configured the way a memcached cluster is normally used:
 *  - the binary protocol (binary-safe keys, and increment_with_initial, which creates a missing
 *    counter in the same round trip);
 *  - consistent hashing (ketama) over several servers, so adding a server moves few keys;
 *  - connect and I/O timeouts, and no silent ejection of a failed server (the harness must see a
 *    failure, not a cache miss);
 *  - incr/decr for counters, an `add`-based lock with an expiry (add succeeds for one client
 *    only; the expiry frees the lock of a holder that died), mget for batch reads.
 * memcached cannot enumerate or count its entries: those slots are NULL and the capabilities say
 * so. Buffers returned by memcached_get() are copied and free()d here; none leaves this file.
 *
 * Parameters: timeout=S (5), connect_timeout=S (2), lock_key=K ("kv:lock"), lock_ttl=S (30,
 * whole seconds: memcached's expiry resolution).
 */
#include "kv_internal.h"

#include <errno.h>
#include <libmemcached/memcached.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct memcached_conn {
    kv_conn base;
    memcached_st *mc;
    bool broken;
    char broken_msg[400];
    bool locked;
    long lock_ttl;
    char lock_key[128];
    char token[33];
    char where[160];
    char version[64];
} memcached_conn;

static bool is_connection_error(memcached_return_t r) {
    switch (r) {
    case MEMCACHED_CONNECTION_FAILURE:
    case MEMCACHED_HOST_LOOKUP_FAILURE:
    case MEMCACHED_WRITE_FAILURE:
    case MEMCACHED_READ_FAILURE:
    case MEMCACHED_UNKNOWN_READ_FAILURE:
    case MEMCACHED_ERRNO:
    case MEMCACHED_SERVER_MARKED_DEAD:
    case MEMCACHED_SERVER_TEMPORARILY_DISABLED:
    case MEMCACHED_NO_SERVERS:
    case MEMCACHED_TIMEOUT:
    case MEMCACHED_CONNECTION_SOCKET_CREATE_FAILURE:
        return true;
    default:
        return false;
    }
}

/* Maps libmemcached's result and keeps its last message (which lives in the memcached_st). */
static int fail(memcached_conn *m, memcached_return_t r, const char *what) {
    int rc;
    /* Server statuses (E2BIG ...) leave no "last error": the result code is the message then. */
    const char *msg = memcached_last_error_message(m->mc);
    if (!msg || !*msg || memcached_last_error(m->mc) == MEMCACHED_SUCCESS)
        msg = memcached_strerror(m->mc, r);

    if (r == MEMCACHED_NOTFOUND)
        return KV_ENOTFOUND;
    if (is_connection_error(r)) {
        rc = r == MEMCACHED_TIMEOUT ? KV_ETIMEDOUT : KV_ECONN;
        m->broken = true;
        snprintf(m->broken_msg, sizeof(m->broken_msg), "%s (%s)", msg, m->where);
        return kv__error(&m->base, rc, "memcached %s: %s", what, m->broken_msg);
    }
    switch (r) {
    case MEMCACHED_E2BIG:
    case MEMCACHED_KEY_TOO_BIG:
        rc = KV_ETOOBIG;
        break;
    case MEMCACHED_BAD_KEY_PROVIDED:
        rc = strstr(msg, "too long") ? KV_ETOOBIG : KV_EINVAL;
        break;
    case MEMCACHED_MEMORY_ALLOCATION_FAILURE:
        rc = -ENOMEM;
        break;
    case MEMCACHED_SERVER_MEMORY_ALLOCATION_FAILURE:
        rc = KV_EFULL;
        break;
    default:
        rc = strstr(msg, "non-numeric") ? KV_ENOTNUM : KV_ESERVER;
        break;
    }
    return kv__error(&m->base, rc, "memcached %s: %s (%s)", what, msg, m->where);
}

static int check(memcached_conn *m, const char *what) {
    if (m->broken)
        return kv__error(&m->base, KV_ECONN, "memcached %s: the connection broke earlier: %s", what,
                         m->broken_msg);
    return 0;
}

static int mc_get(kv_conn *c, const void *key, size_t klen, kv_buf *val) {
    memcached_conn *m = (memcached_conn *)c;
    memcached_return_t r;
    size_t vlen = 0;
    uint32_t flags;
    int rc = check(m, "get");
    if (rc < 0)
        return rc;
    char *v = memcached_get(m->mc, key, klen, &vlen, &flags, &r);
    if (!memcached_success(r)) {
        free(v);
        return fail(m, r, "get");
    }
    /* An empty value comes back as NULL with success. */
    rc = kv__buf_set(val, v, v ? vlen : 0);
    free(v);
    return rc;
}

static int mc_set(kv_conn *c, const void *key, size_t klen, const void *val, size_t vlen) {
    memcached_conn *m = (memcached_conn *)c;
    int rc = check(m, "set");
    if (rc < 0)
        return rc;
    memcached_return_t r = memcached_set(m->mc, key, klen, val, vlen, 0, 0);
    return memcached_success(r) ? 0 : fail(m, r, "set");
}

static int mc_del(kv_conn *c, const void *key, size_t klen) {
    memcached_conn *m = (memcached_conn *)c;
    int rc = check(m, "delete");
    if (rc < 0)
        return rc;
    memcached_return_t r = memcached_delete(m->mc, key, klen, 0);
    return memcached_success(r) ? 0 : fail(m, r, "delete");
}

/*
 * libmemcached 1.1 turns the binary protocol's "non-numeric value" status into
 * MEMCACHED_UNKNOWN_READ_FAILURE and resets the connection (it reconnects on the next request),
 * which looks exactly like a lost server. Reading the value tells the two apart: a server that
 * answers with a value that is not an unsigned decimal is the "not a counter" case.
 */
static bool stored_value_not_a_counter(memcached_conn *m, const void *key, size_t klen) {
    memcached_return_t r;
    size_t vlen = 0;
    uint32_t flags;
    char *v = memcached_get(m->mc, key, klen, &vlen, &flags, &r);
    bool not_counter = memcached_success(r) && (vlen == 0 || vlen > 20);
    for (size_t i = 0; v && memcached_success(r) && i < vlen && !not_counter; i++)
        not_counter = v[i] < '0' || v[i] > '9';
    free(v);
    return not_counter;
}

/*
 * memcached counters are unsigned 64-bit: incr wraps past 2^64 and decr stops at 0. A missing key
 * is created with the initial value, which is the result we want (0 + by) when by >= 0.
 */
static int mc_incr(kv_conn *c, const void *key, size_t klen, int64_t by, int64_t *result) {
    memcached_conn *m = (memcached_conn *)c;
    memcached_return_t r;
    uint64_t v = 0;
    int rc = check(m, "incr");
    if (rc < 0)
        return rc;
    if (by >= 0)
        r = memcached_increment_with_initial(m->mc, key, klen, (uint64_t)by, (uint64_t)by, 0, &v);
    else
        r = memcached_decrement_with_initial(m->mc, key, klen, (uint64_t)0 - (uint64_t)by, 0, 0,
                                             &v);
    if (r == MEMCACHED_UNKNOWN_READ_FAILURE && stored_value_not_a_counter(m, key, klen))
        return kv__error(c, KV_ENOTNUM,
                         "memcached %s: the stored value is not an unsigned "
                         "decimal integer (%s)",
                         by >= 0 ? "incr" : "decr", m->where);
    if (!memcached_success(r))
        return fail(m, r, by >= 0 ? "incr" : "decr");
    if (v > (uint64_t)INT64_MAX)
        return kv__error(c, KV_EOVERFLOW, "memcached incr: %llu does not fit in int64 (%s)",
                         (unsigned long long)v, m->where);
    *result = (int64_t)v;
    return 0;
}

static int mc_lock(kv_conn *c, double timeout) {
    memcached_conn *m = (memcached_conn *)c;
    double deadline = timeout < 0 ? -1 : kv__now() + timeout, delay = 0;

    if (m->locked)
        return KV_ELOCKED;
    int rc = kv__random_hex(m->token, 16);
    if (rc < 0)
        return rc;
    size_t klen = strlen(m->lock_key);
    for (;;) {
        if ((rc = check(m, "add (lock)")) < 0)
            return rc;
        memcached_return_t r =
            memcached_add(m->mc, m->lock_key, klen, m->token, 32, (time_t)m->lock_ttl, 0);
        if (memcached_success(r)) {
            m->locked = true;
            return 0;
        }
        if (r != MEMCACHED_NOTSTORED && r != MEMCACHED_DATA_EXISTS)
            return fail(m, r, "add (lock)");
        if (timeout == 0)
            return kv__error(c, KV_EBUSY, "memcached lock: '%s' is held by another client (%s)",
                             m->lock_key, m->where);
        if (!kv__backoff(&delay, deadline))
            return kv__error(c, KV_ETIMEDOUT,
                             "memcached lock: '%s' still held by another client after %.3f s "
                             "(%s)",
                             m->lock_key, timeout, m->where);
    }
}

/*
 * memcached has no compare-and-delete, so the release reads the token back and deletes only a
 * lock that is still ours. The window between the two is the ecosystem's known limit: it
 * matters only if the lock expires in that instant.
 */
static int mc_unlock(kv_conn *c) {
    memcached_conn *m = (memcached_conn *)c;
    memcached_return_t r;
    size_t vlen = 0, klen = strlen(m->lock_key);
    uint32_t flags;

    if (!m->locked)
        return KV_ENOTLOCKED;
    m->locked = false;
    int rc = check(m, "unlock");
    if (rc < 0)
        return rc;
    char *v = memcached_get(m->mc, m->lock_key, klen, &vlen, &flags, &r);
    bool ours = memcached_success(r) && v && vlen == 32 && memcmp(v, m->token, 32) == 0;
    free(v);
    if (!memcached_success(r) && r != MEMCACHED_NOTFOUND)
        return fail(m, r, "get (unlock)");
    if (!ours)
        return kv__error(c, KV_ENOTLOCKED,
                         "memcached unlock: '%s' expired (lock_ttl) and may have been taken by "
                         "another client (%s)",
                         m->lock_key, m->where);
    r = memcached_delete(m->mc, m->lock_key, klen, 0);
    if (!memcached_success(r) && r != MEMCACHED_NOTFOUND)
        return fail(m, r, "delete (unlock)");
    return 0;
}

static int mc_clear(kv_conn *c) {
    memcached_conn *m = (memcached_conn *)c;
    int rc = check(m, "flush");
    if (rc < 0)
        return rc;
    memcached_return_t r = memcached_flush(m->mc, 0);
    return memcached_success(r) ? 0 : fail(m, r, "flush");
}

/*
 * mget sends every key (grouped per server) before reading any reply; results arrive in any
 * order, so a table maps each returned key back to its position in the batch.
 */
/*
 * Fills the key arrays of memcached_mget(), marks every key missing, and records in pos the
 * first position of each key (duplicates are copied from it at the end).
 */
static int index_keys(kv__table *pos, const kv_key *keys, size_t n, const char **kp, size_t *kl,
                      int *rcs) {
    for (size_t i = 0; i < n; i++) {
        kp[i] = keys[i].key;
        kl[i] = keys[i].klen;
        rcs[i] = KV_ENOTFOUND;
        const void *dummy;
        size_t dlen;
        int rc = 0;
        if (kv__table_get(pos, kp[i], kl[i], &dummy, &dlen) == KV_ENOTFOUND &&
            (rc = kv__table_set(pos, kp[i], kl[i], &i, sizeof(i))) < 0)
            return rc;
    }
    return 0;
}

/* The position pos recorded for a key, or false when the key is not one of the batch. */
static bool position_of(kv__table *pos, const void *key, size_t klen, size_t *i) {
    const void *p;
    size_t plen;
    if (kv__table_get(pos, key, klen, &p, &plen) < 0)
        return false;
    memcpy(i, p, sizeof(*i));
    return true;
}

/* Reads every result of the mget into vals at the key's first position. */
static int fetch_results(memcached_conn *m, kv__table *pos, memcached_result_st *res, kv_buf *vals,
                         int *rcs) {
    memcached_return_t r;
    int rc = 0;
    while (memcached_fetch_result(m->mc, res, &r)) {
        size_t i;
        if (!position_of(pos, memcached_result_key_value(res), memcached_result_key_length(res),
                         &i))
            continue;
        const char *v = memcached_result_value(res);
        /* Read every result even after a failure, so the connection stays in step. */
        if (rc == 0 && (rc = kv__buf_set(&vals[i], v, v ? memcached_result_length(res) : 0)) == 0)
            rcs[i] = 0;
    }
    if (rc == 0 && r != MEMCACHED_END && r != MEMCACHED_NOTFOUND && !memcached_success(r))
        rc = fail(m, r, "mget");
    return rc;
}

/* Gives each later copy of a key the value found for its first position. */
static int copy_duplicates(kv__table *pos, const kv_key *keys, size_t n, kv_buf *vals, int *rcs) {
    for (size_t i = 0; i < n; i++) {
        size_t first;
        if (rcs[i] == 0 || !position_of(pos, keys[i].key, keys[i].klen, &first))
            continue;
        if (first != i && rcs[first] == 0) {
            int rc = kv__buf_set(&vals[i], vals[first].data, vals[first].len);
            if (rc < 0)
                return rc;
            rcs[i] = 0;
        }
    }
    return 0;
}

static int mc_get_many(kv_conn *c, const kv_key *keys, size_t n, kv_buf *vals, int *rcs) {
    memcached_conn *m = (memcached_conn *)c;
    kv__table *pos = NULL;
    const char **kp = malloc(n * sizeof(*kp));
    size_t *kl = malloc(n * sizeof(*kl));
    memcached_result_st res_mem, *res = NULL;
    int rc = check(m, "mget");
    /*
     * A result the caller provides: memcached_fetch_result() frees a result it allocated itself
     * when the results run out, and a later memcached_result_free() would free it twice.
     */
    if (rc == 0 && (!kp || !kl || kv__table_new(&pos) < 0 ||
                    !(res = memcached_result_create(m->mc, &res_mem))))
        rc = -ENOMEM;
    if (rc == 0)
        rc = index_keys(pos, keys, n, kp, kl, rcs);
    if (rc == 0) {
        memcached_return_t r = memcached_mget(m->mc, kp, kl, n);
        if (!memcached_success(r))
            rc = fail(m, r, "mget");
    }
    if (rc == 0)
        rc = fetch_results(m, pos, res, vals, rcs);
    if (rc == 0)
        rc = copy_duplicates(pos, keys, n, vals, rcs);
    memcached_result_free(res);
    kv__table_free(pos);
    free(kp);
    free(kl);
    return rc;
}

static const char *mc_version(kv_conn *c) {
    return ((memcached_conn *)c)->version;
}

static int mc_close(kv_conn *c) {
    memcached_conn *m = (memcached_conn *)c;
    if (m->locked && !m->broken)
        mc_unlock(c);
    memcached_free(m->mc);
    free(m);
    return 0;
}

static const kv_methods memcached_methods = {
    .version = 2,
    .name = "memcached",
    .close = mc_close,
    .backend_version = mc_version,
    .get = mc_get,
    .set = mc_set,
    .del = mc_del,
    .incr = mc_incr,
    .lock = mc_lock,
    .unlock = mc_unlock,
    .count = NULL, /* memcached cannot count its entries exactly */
    .clear = mc_clear,
    .export_all = NULL, /* nor enumerate them */
    .get_many = mc_get_many,
    .set_many = NULL, /* no multi-set in the protocol: the core's loop of sets */
};

/* The parameters of a memcached: URI. */
typedef struct mc_options {
    double timeout, connect_timeout;
    long lock_ttl;
    const char *lock_key;
} mc_options;

static int parse_options(kv__uri *u, mc_options *o, char *err, size_t errlen) {
    int rc;
    if ((rc = kv__uri_seconds(u, "timeout", 5, &o->timeout, err, errlen)) < 0 ||
        (rc = kv__uri_seconds(u, "connect_timeout", 2, &o->connect_timeout, err, errlen)) < 0 ||
        (rc = kv__uri_int(u, "lock_ttl", 30, 1, 30L * 86400, &o->lock_ttl, err, errlen)) < 0)
        return rc;
    o->lock_key = kv__uri_param(u, "lock_key");
    if ((rc = kv__uri_check_unused(u, err, errlen)) < 0)
        return rc;
    if (o->timeout < 0.001 || o->connect_timeout < 0.001)
        return kv__errbuf(err, errlen, KV_EURI, "'%s': timeouts must be at least 1 ms", u->text);
    if (!o->lock_key)
        o->lock_key = "kv:lock";
    if (!*o->lock_key || strlen(o->lock_key) >= 128)
        return kv__errbuf(err, errlen, KV_EURI, "'%s': lock_key must be 1-127 bytes", u->text);
    if (strncmp(u->body, "//", 2) != 0 || u->body[2] == '\0')
        return kv__errbuf(err, errlen, KV_EURI,
                          "'%s': expected memcached://HOST[:PORT][,HOST[:PORT]...]", u->text);
    return 0;
}

/* Adds the servers of "HOST[:PORT][,HOST[:PORT]...]" (after the "//") to m->mc. */
static int add_servers(memcached_conn *m, kv__uri *u, char *err, size_t errlen) {
    for (const char *s = u->body + 2; *s;) {
        size_t len = strcspn(s, ",");
        char host[256];
        int port;
        int rc = kv__parse_hostport(s, len, host, sizeof(host), 11211, &port, err, errlen);
        if (rc < 0)
            return rc;
        memcached_return_t r = memcached_server_add(m->mc, host, (in_port_t)port);
        if (!memcached_success(r))
            return kv__errbuf(err, errlen, KV_EURI, "memcached: cannot add server '%.*s': %s",
                              (int)len, s, memcached_strerror(m->mc, r));
        s += len;
        if (*s == ',' && *++s == '\0')
            return kv__errbuf(err, errlen, KV_EURI, "'%s': empty server after ','", u->text);
    }
    return 0;
}

static int set_behaviors(memcached_conn *m, const mc_options *o, char *err, size_t errlen) {
    const struct {
        memcached_behavior_t flag;
        uint64_t value;
    } behaviors[] = {
        {MEMCACHED_BEHAVIOR_BINARY_PROTOCOL, 1},
        {MEMCACHED_BEHAVIOR_DISTRIBUTION, MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA},
        {MEMCACHED_BEHAVIOR_TCP_NODELAY, 1},
        /* Timeouts apply to non-blocking sockets only; replies are still awaited. */
        {MEMCACHED_BEHAVIOR_NO_BLOCK, 1},
        {MEMCACHED_BEHAVIOR_CONNECT_TIMEOUT, (uint64_t)(o->connect_timeout * 1000)},
        {MEMCACHED_BEHAVIOR_POLL_TIMEOUT, (uint64_t)(o->timeout * 1000)},
        {MEMCACHED_BEHAVIOR_RCV_TIMEOUT, (uint64_t)(o->timeout * 1e6)},
        {MEMCACHED_BEHAVIOR_SND_TIMEOUT, (uint64_t)(o->timeout * 1e6)},
        {MEMCACHED_BEHAVIOR_AUTO_EJECT_HOSTS, 0},
        {MEMCACHED_BEHAVIOR_REMOVE_FAILED_SERVERS, 0},
    };
    for (size_t i = 0; i < sizeof(behaviors) / sizeof(behaviors[0]); i++) {
        memcached_return_t r = memcached_behavior_set(m->mc, behaviors[i].flag, behaviors[i].value);
        if (!memcached_success(r))
            return kv__errbuf(err, errlen, KV_EBACKEND, "memcached: behavior %d: %s",
                              (int)behaviors[i].flag, memcached_strerror(m->mc, r));
    }
    return 0;
}

/* VERSION goes to every server: it proves they all answer before the first real request. */
static int reach_servers(memcached_conn *m, char *err, size_t errlen) {
    memcached_return_t r = memcached_version(m->mc);
    if (!memcached_success(r)) {
        const char *msg = memcached_last_error_message(m->mc);
        return kv__errbuf(err, errlen, KV_ECONNECT, "memcached: cannot reach %s: %s", m->where,
                          msg && *msg ? msg : memcached_strerror(m->mc, r));
    }
    const memcached_instance_st *first = memcached_server_instance_by_position(m->mc, 0);
    snprintf(m->version, sizeof(m->version), "%u.%u.%u (libmemcached %s)",
             memcached_server_major_version(first), memcached_server_minor_version(first),
             memcached_server_micro_version(first), memcached_lib_version());
    return 0;
}

int kv__memcached_open(kv__uri *u, kv_conn **out, char *err, size_t errlen) {
    mc_options o;
    int rc = parse_options(u, &o, err, errlen);
    if (rc < 0)
        return rc;
    memcached_conn *m = calloc(1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    m->lock_ttl = o.lock_ttl;
    snprintf(m->lock_key, sizeof(m->lock_key), "%s", o.lock_key);
    snprintf(m->where, sizeof(m->where), "%s", u->body + 2);
    m->mc = memcached_create(NULL);
    rc = m->mc ? 0 : -ENOMEM;
    if (rc == 0)
        rc = add_servers(m, u, err, errlen);
    if (rc == 0)
        rc = set_behaviors(m, &o, err, errlen);
    if (rc == 0)
        rc = reach_servers(m, err, errlen);
    if (rc < 0) {
        memcached_free(m->mc);
        free(m);
        return rc;
    }
    m->base.methods = &memcached_methods;
    m->base.caps = KV_CAP_ATOMIC_INCR | KV_CAP_LOCK | KV_CAP_CROSS_PROCESS;
    *out = &m->base;
    return 0;
}

/* A server (or a pool): the ports are not part of the identity. */
void kv__memcached_describe(kv__uri *u, kv_desc *d) {
    (void)u;
    kv__desc_mask_ports(d);
}
