/*
 * redis_cluster.c - the `redis-cluster://HOST:PORT[,HOST:PORT...][?replicas=read]` adapter: a
 * Redis Cluster through hiredis 0.14, the way the cluster specification asks a client to talk
 * to it:
 *  - the seed nodes give the slot map (CLUSTER SHARDS, or CLUSTER SLOTS on servers before 7);
 *    every key goes to the primary of its slot (redis_cluster_map.c), one connection per node;
 *  - MOVED: the slot has a new owner for good: the map is updated, reloaded before the next
 *    command, and the command retried there; ASK: the slot is being migrated and this key is
 *    already on the importing node: ASKING then the command on that node, map unchanged. At
 *    most MAX_REDIRECTS of them per command;
 *  - the single-key operations of redis.c (redis_link.c): INCRBY, the SET NX PX lock with its
 *    token-checked release, on a hash-tagged key ("{kv}:lock") so that it lives in one slot;
 *  - batches as one pipeline per node, all sent before any reply is read;
 *  - count, clear and enumeration on every primary (DBSIZE, FLUSHDB, SCAN + pipelined GETs);
 *  - ?replicas=read: reads go to a replica of the slot's primary (READONLY), and may be stale.
 * A command that names keys of several slots is never sent (the cluster refuses it): batches
 * are split into single-key commands, so they are not atomic, and no capability claims more
 * than that (no KV_CAP_SNAPSHOT; kv_clear is one FLUSHDB per primary).
 *
 * Unlike redis://, a connection survives a node's failure: a broken link is opened again on
 * next use and the map reloaded, so that a client rides through a failover. The command that
 * met the failure still fails (it may or may not have been applied).
 *
 * Parameters: those of redis:// (timeout, connect_timeout, user, password, lock_key, lock_ttl)
 * but db, and replicas=no|read.
 */
#include "redis_cluster.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* redis-cli and the common clients follow at most 16 redirections for one command. */
#define MAX_REDIRECTS 16

static const kv_methods cluster_methods;

/* A MOVED or ASK error reply: "MOVED 3999 127.0.0.1:6381". Returns the node index or < 0. */
static int redirect_target(kv__cluster_conn *cc, const redisReply *rep) {
    const char *addr = strchr(rep->str, ' ');
    addr = addr ? strchr(addr + 1, ' ') : NULL;
    const char *colon = addr ? strrchr(addr, ':') : NULL;
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : 0;
    if (!colon || colon == addr + 1 || *end || port <= 0 || port > 65535)
        return kv__error(&cc->base, KV_EPROTO, "redis-cluster: malformed redirection '%s'",
                         rep->str);
    return kv__cluster_node_index(cc, addr + 1, (size_t)(colon - addr - 1), (int)port);
}

/* ASKING, then the command, in one round trip; returns the command's reply. */
static redisReply *asking(kv__cluster_conn *cc, kv__redis_link *l, const kv__redis_cmd *cmd,
                          int *rc) {
    static const char *const ask_argv[] = {"ASKING"};
    static const size_t ask_lens[] = {6};
    redisReply *ok = NULL, *rep = NULL;
    if (redisAppendCommandArgv(l->ctx, 1, (const char **)ask_argv, ask_lens) != REDIS_OK ||
        redisAppendCommandArgv(l->ctx, cmd->argc, cmd->argv, cmd->lens) != REDIS_OK) {
        *rc = kv__redis_link_fail(&cc->base, l, cmd->what, errno);
        return NULL;
    }
    if ((*rc = kv__redis_link_get_reply(&cc->base, l, cmd->what, &ok)) < 0 ||
        (*rc = kv__redis_link_get_reply(&cc->base, l, cmd->what, &rep)) < 0) {
        freeReplyObject(ok);
        return NULL;
    }
    freeReplyObject(ok);
    return rep;
}

static bool is_redirect(const redisReply *rep, const char *kind) {
    size_t n = strlen(kind);
    return rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, kind, n) == 0 && rep->str[n] == ' ';
}

/* The node that serves a slot, after reloading the map if something changed. */
static int slot_node(kv__cluster_conn *cc, unsigned slot, bool read) {
    int rc;
    if (cc->refresh && (rc = kv__cluster_load_map(cc)) < 0)
        return rc;
    uint16_t n = read && cc->replicas_read ? cc->reader[slot] : cc->primary[slot];
    if (n == KV__CLUSTER_NO_NODE)
        return kv__error(&cc->base, KV_ESERVER,
                         "redis-cluster: no node serves slot %u (is the cluster down?)", slot);
    return n;
}

/*
 * Sends one single-key command to the node of its key's slot, following redirections. A failed
 * link or a CLUSTERDOWN reply asks for a new map before the next command.
 */
static redisReply *follow(kv__cluster_conn *cc, const kv__redis_cmd *cmd, int node, int *rc) {
    bool ask = false;
    unsigned slot = kv__redis_key_slot(cmd->argv[cmd->key], cmd->lens[cmd->key]);
    for (int hops = 0;; hops++) {
        bool ro = cmd->read && cc->replicas_read && !ask;
        kv__redis_link *l = kv__cluster_link(cc, (size_t)node, ro, rc);
        redisReply *rep = !l    ? NULL
                          : ask ? asking(cc, l, cmd, rc)
                                : kv__redis_link_raw(&cc->base, l, cmd->what, cmd->argc, cmd->argv,
                                                     cmd->lens, rc);
        if (!rep) {
            cc->refresh = true;
            return NULL;
        }
        bool moved = is_redirect(rep, "MOVED");
        ask = is_redirect(rep, "ASK");
        if (!moved && !ask) {
            if (rep->type != REDIS_REPLY_ERROR)
                return rep;
            if (strncmp(rep->str, "CLUSTERDOWN", 11) == 0)
                cc->refresh = true;
            *rc = kv__redis_reply_error(&cc->base, l->where, rep, cmd->what);
            freeReplyObject(rep);
            return NULL;
        }
        node = redirect_target(cc, rep);
        freeReplyObject(rep);
        if (node < 0) {
            *rc = node;
            return NULL;
        }
        if (moved) {
            cc->moved++;
            cc->primary[slot] = cc->reader[slot] = (uint16_t)node;
            cc->refresh = true;
        } else {
            cc->ask++;
        }
        if (hops + 1 >= MAX_REDIRECTS) {
            *rc = kv__error(&cc->base, KV_ESERVER,
                            "redis-cluster %s: more than %d redirections for slot %u", cmd->what,
                            MAX_REDIRECTS, slot);
            return NULL;
        }
    }
}

static redisReply *cluster_send(kv_conn *c, const kv__redis_cmd *cmd, int *rc) {
    kv__cluster_conn *cc = (kv__cluster_conn *)c;
    unsigned slot = kv__redis_key_slot(cmd->argv[cmd->key], cmd->lens[cmd->key]);
    int node = slot_node(cc, slot, cmd->read);
    if (node < 0) {
        *rc = node;
        return NULL;
    }
    return follow(cc, cmd, node, rc);
}

static int cluster_get(kv_conn *c, const void *key, size_t klen, kv_buf *val) {
    return kv__redis_get(c, cluster_send, key, klen, val);
}

static int cluster_set(kv_conn *c, const void *key, size_t klen, const void *val, size_t vlen) {
    return kv__redis_set(c, cluster_send, key, klen, val, vlen);
}

static int cluster_del(kv_conn *c, const void *key, size_t klen) {
    return kv__redis_del(c, cluster_send, key, klen);
}

static int cluster_incr(kv_conn *c, const void *key, size_t klen, int64_t by, int64_t *result) {
    return kv__redis_incr(c, cluster_send, key, klen, by, result);
}

static int cluster_lock(kv_conn *c, double timeout) {
    kv__cluster_conn *cc = (kv__cluster_conn *)c;
    return kv__redis_lock_take(c, cluster_send, &cc->lock, timeout, cc->where);
}

static int cluster_unlock(kv_conn *c) {
    kv__cluster_conn *cc = (kv__cluster_conn *)c;
    return kv__redis_lock_release(c, cluster_send, &cc->lock, cc->where);
}

/* ---- Pipelines: one per node, every request sent before any reply is read. ---- */

/*
 * After a failure part-way through a pipeline, the links it used may still owe replies: close
 * them (they are opened again on next use) so that no reply is ever taken for another request.
 */
static void drop_links(kv__cluster_conn *cc, const int *node, size_t n) {
    for (size_t i = 0; node && i < n; i++) {
        if (node[i] < 0)
            break;
        kv__cluster_node *nd = cc->nodes[node[i]];
        kv__redis_link_close(&nd->link);
        nd->readonly = false;
    }
    cc->refresh = true;
}

/*
 * Sends cmds[0..n) (single-key commands) as one pipeline per node and stores each final reply
 * in reps[i] (the caller frees them). A reply that redirects is followed on its own afterwards.
 * An error reply is kept in reps[i] for the caller. Returns 0 or the first link failure (then
 * every reps[i] is NULL or freed by the caller all the same).
 */
static int pipeline(kv__cluster_conn *cc, const kv__redis_cmd *cmds, size_t n, redisReply **reps) {
    int *node = malloc(n * sizeof(*node)), rc = n && !node ? -ENOMEM : 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        reps[i] = NULL;
        unsigned slot = kv__redis_key_slot(cmds[i].argv[cmds[i].key], cmds[i].lens[cmds[i].key]);
        if ((node[i] = slot_node(cc, slot, cmds[i].read)) < 0)
            rc = node[i];
    }
    /* Nodes in order of first appearance; each node's replies come back in its send order. */
    for (size_t i = 0; i < n && rc == 0; i++) {
        kv__redis_link *l =
            kv__cluster_link(cc, (size_t)node[i], cmds[i].read && cc->replicas_read, &rc);
        if (l &&
            redisAppendCommandArgv(l->ctx, cmds[i].argc, cmds[i].argv, cmds[i].lens) != REDIS_OK)
            rc = kv__redis_link_fail(&cc->base, l, cmds[i].what, errno);
    }
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = kv__redis_link_get_reply(&cc->base, &cc->nodes[node[i]]->link, cmds[i].what, &reps[i]);
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (!is_redirect(reps[i], "MOVED") && !is_redirect(reps[i], "ASK"))
            continue;
        freeReplyObject(reps[i]);
        reps[i] = NULL;
        /* Start from the old node again: follow() counts and handles the redirection. */
        if (!(reps[i] = follow(cc, &cmds[i], node[i], &rc)))
            break;
    }
    if (rc < 0)
        drop_links(cc, node, n);
    free(node);
    return rc;
}

/* Runs n commands made by make(i) as pipelines; check(i, reply) judges each reply. */
typedef struct batch {
    kv__cluster_conn *cc;
    size_t n;
    kv__redis_cmd *cmds;
    const char **argv; /* 3 per command */
    size_t *lens;
    redisReply **reps;
} batch;

static int batch_init(batch *b, kv__cluster_conn *cc, size_t n) {
    b->cc = cc;
    b->n = n;
    b->cmds = calloc(n ? n : 1, sizeof(*b->cmds));
    b->argv = calloc(n ? 3 * n : 1, sizeof(*b->argv));
    b->lens = calloc(n ? 3 * n : 1, sizeof(*b->lens));
    b->reps = calloc(n ? n : 1, sizeof(redisReply *));
    return b->cmds && b->argv && b->lens && b->reps ? 0 : -ENOMEM;
}

/* Command i of the batch: GET key (read) or SET key val. */
static void batch_cmd(batch *b, size_t i, const void *key, size_t klen, const void *val,
                      size_t vlen, bool set) {
    const char **argv = b->argv + 3 * i;
    size_t *lens = b->lens + 3 * i;
    argv[0] = set ? "SET" : "GET";
    lens[0] = 3;
    argv[1] = key;
    lens[1] = klen;
    argv[2] = val ? val : "";
    lens[2] = vlen;
    b->cmds[i] = (kv__redis_cmd){
        set ? "SET (pipeline)" : "GET (pipeline)", set ? 3 : 2, argv, lens, 1, !set};
}

static void batch_free(batch *b) {
    for (size_t i = 0; b->reps && i < b->n; i++)
        freeReplyObject(b->reps[i]);
    free(b->cmds);
    free(b->argv);
    free(b->lens);
    free(b->reps);
}

/* The code of reply i of a batch that should be a value or nil. */
static int value_reply(batch *b, size_t i, kv_buf *val) {
    const redisReply *r = b->reps[i];
    if (r->type == REDIS_REPLY_NIL)
        return KV_ENOTFOUND;
    if (r->type == REDIS_REPLY_STRING)
        return val ? kv__buf_set(val, r->str, r->len) : 0;
    if (r->type == REDIS_REPLY_ERROR)
        return kv__error(&b->cc->base, KV_ESERVER, "redis-cluster GET: %s", r->str);
    return kv__error(&b->cc->base, KV_EPROTO, "redis-cluster GET: reply of type %d", r->type);
}

static int cluster_get_many(kv_conn *c, const kv_key *keys, size_t n, kv_buf *vals, int *rcs) {
    batch b;
    int rc = batch_init(&b, (kv__cluster_conn *)c, n);
    for (size_t i = 0; rc == 0 && i < n; i++)
        batch_cmd(&b, i, keys[i].key, keys[i].klen, NULL, 0, false);
    if (rc == 0)
        rc = pipeline(b.cc, b.cmds, n, b.reps);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        int r = value_reply(&b, i, &vals[i]);
        if (r == 0 || r == KV_ENOTFOUND)
            rcs[i] = r;
        else
            rc = r;
    }
    batch_free(&b);
    return rc;
}

static int cluster_set_many(kv_conn *c, const kv_item *items, size_t n) {
    batch b;
    int rc = batch_init(&b, (kv__cluster_conn *)c, n);
    for (size_t i = 0; rc == 0 && i < n; i++)
        batch_cmd(&b, i, items[i].key, items[i].klen, items[i].val, items[i].vlen, true);
    if (rc == 0)
        rc = pipeline(b.cc, b.cmds, n, b.reps);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const redisReply *r = b.reps[i];
        if (r->type == REDIS_REPLY_ERROR)
            rc = kv__redis_reply_error(c, b.cc->where, r, "SET (pipeline)");
        else if (r->type != REDIS_REPLY_STATUS)
            rc = kv__error(c, KV_EPROTO, "redis-cluster SET: reply of type %d", r->type);
    }
    batch_free(&b);
    return rc;
}

/* ---- The whole store: every primary. ---- */

/* Runs `argv` on every primary of the map; fn(ctx, reply) for each. */
static int on_primaries(kv__cluster_conn *cc, const char *what, int argc, const char **argv,
                        const size_t *lens, int (*fn)(void *ctx, const redisReply *r), void *ctx) {
    int rc = 0;
    if (cc->refresh && (rc = kv__cluster_load_map(cc)) < 0)
        return rc;
    for (size_t i = 0; i < cc->nnodes && rc == 0; i++) {
        if (!cc->nodes[i]->primary)
            continue;
        kv__redis_link *l = kv__cluster_link(cc, i, false, &rc);
        redisReply *rep =
            l ? kv__redis_link_command(&cc->base, l, what, argc, argv, lens, &rc) : NULL;
        if (!rep) {
            cc->refresh = true;
            break;
        }
        rc = fn ? fn(ctx, rep) : 0;
        freeReplyObject(rep);
    }
    return rc;
}

static int add_count(void *ctx, const redisReply *r) {
    if (r->type != REDIS_REPLY_INTEGER || r->integer < 0)
        return KV_EPROTO;
    *(uint64_t *)ctx += (uint64_t)r->integer;
    return 0;
}

static int cluster_count(kv_conn *c, uint64_t *n) {
    const char *argv[] = {"DBSIZE"};
    size_t lens[] = {6};
    uint64_t sum = 0;
    int rc = on_primaries((kv__cluster_conn *)c, "DBSIZE", 1, argv, lens, add_count, &sum);
    if (rc == 0)
        *n = sum;
    return rc;
}

static int cluster_clear(kv_conn *c) {
    const char *argv[] = {"FLUSHDB"};
    size_t lens[] = {7};
    return on_primaries((kv__cluster_conn *)c, "FLUSHDB", 1, argv, lens, NULL, NULL);
}

/* Reads the values of the keys of one SCAN step (pipelined GETs) and passes them on. */
static int export_keys(kv__cluster_conn *cc, const kv__redis_scan_keys *sk, kv_entry_fn fn,
                       void *ctx) {
    batch b;
    int rc = batch_init(&b, cc, sk->n);
    for (size_t i = 0; rc == 0 && i < sk->n; i++)
        batch_cmd(&b, i, sk->keys[i], sk->klens[i], NULL, 0, false);
    if (rc == 0)
        rc = pipeline(cc, b.cmds, sk->n, b.reps);
    for (size_t i = 0; rc == 0 && i < sk->n; i++) {
        int r = value_reply(&b, i, NULL);
        /* A key deleted between SCAN and GET is simply gone; not an error. */
        if (r == 0)
            rc = fn(ctx, sk->keys[i], sk->klens[i], b.reps[i]->str, b.reps[i]->len);
        else if (r != KV_ENOTFOUND)
            rc = r;
    }
    batch_free(&b);
    return rc;
}

/*
 * SCAN on every primary. A key met twice (SCAN may repeat one, and a key migrated during the
 * walk may show up on two nodes) is passed on once.
 */
static int cluster_export(kv_conn *c, kv_entry_fn fn, void *ctx) {
    kv__cluster_conn *cc = (kv__cluster_conn *)c;
    kv__redis_scan_keys sk = {0};
    int rc = kv__table_new(&sk.seen);
    if (rc == 0 && cc->refresh)
        rc = kv__cluster_load_map(cc);
    for (size_t i = 0; i < cc->nnodes && rc == 0; i++) {
        char cursor[32] = "0";
        if (!cc->nodes[i]->primary)
            continue;
        do {
            kv__redis_link *l = kv__cluster_link(cc, i, false, &rc);
            redisReply *rep = l ? kv__redis_scan_step(c, l, cursor, &rc) : NULL;
            if (!rep)
                break;
            rc = kv__redis_collect_new_keys(&sk, rep->element[1]);
            if (rc == 0 && sk.n)
                rc = export_keys(cc, &sk, fn, ctx);
            freeReplyObject(rep);
        } while (rc == 0 && strcmp(cursor, "0") != 0);
    }
    kv__redis_scan_keys_free(&sk);
    return rc;
}

/*
 * What a cluster cannot do in one step is refused with the reason, not imitated: there is no
 * point-in-time copy of all primaries (no KV_CAP_SNAPSHOT, no KV_CAP_NATIVE_DUMP).
 */
static int no_native_dump(kv_conn *c) {
    return kv__error(
        c, KV_ENOTSUP,
        "redis-cluster: no native dump of the whole store: each primary saves its own "
        "slots (BGSAVE) at its own moment, never one point-in-time copy of the cluster");
}

static const char *cluster_version(kv_conn *c) {
    return ((kv__cluster_conn *)c)->version;
}

static void free_nodes(kv__cluster_conn *cc) {
    for (size_t i = 0; i < cc->nnodes; i++) {
        kv__redis_link_close(&cc->nodes[i]->link);
        free(cc->nodes[i]);
    }
    cc->nnodes = 0;
}

static int cluster_close(kv_conn *c) {
    kv__cluster_conn *cc = (kv__cluster_conn *)c;
    if (cc->lock.locked)
        cluster_unlock(c);
    free_nodes(cc);
    free(cc);
    return 0;
}

static const kv_methods cluster_methods = {
    .version = 3,
    .name = "redis-cluster",
    .close = cluster_close,
    .backend_version = cluster_version,
    .get = cluster_get,
    .set = cluster_set,
    .del = cluster_del,
    .incr = cluster_incr,
    .lock = cluster_lock,
    .unlock = cluster_unlock,
    .count = cluster_count,
    .clear = cluster_clear,
    .export_all = cluster_export,
    .get_many = cluster_get_many,
    .set_many = cluster_set_many,
    .dump_native = no_native_dump,
    .load_native = no_native_dump,
};

int kv__redis_cluster_stats_of(kv_conn *c, kv__redis_cluster_stats *st) {
    if (!c || c->methods != &cluster_methods || !st)
        return KV_EINVAL;
    const kv__cluster_conn *cc = (const kv__cluster_conn *)c;
    *st = (kv__redis_cluster_stats){cc->moved, cc->ask, cc->refreshes, 0};
    for (size_t i = 0; i < cc->nnodes; i++)
        st->primaries += cc->nodes[i]->primary;
    return 0;
}

/* The version and persistence of the first primary, and the description of the cluster. */
static int describe(kv__cluster_conn *cc, bool *persistent) {
    size_t first = 0, primaries = 0;
    for (size_t i = cc->nnodes; i-- > 0;)
        if (cc->nodes[i]->primary) {
            first = i;
            primaries++;
        }
    int rc;
    char version[64];
    kv__redis_link *l = kv__cluster_link(cc, first, false, &rc);
    if (!l || (rc = kv__redis_server_facts(&cc->base, l, version, sizeof(version), persistent)) < 0)
        return rc;
    snprintf(cc->where, sizeof(cc->where), "cluster of %zu primaries, first %s", primaries,
             l->where);
    snprintf(cc->version, sizeof(cc->version), "%s, %zu primaries%s", version, primaries,
             cc->replicas_read ? ", reads from replicas (READONLY)" : "");
    return 0;
}

static int setup(kv__cluster_conn *cc, const kv__redis_cluster_target *ct, char *err,
                 size_t errlen) {
    int rc = 0;
    for (size_t i = 0; i < ct->nseeds && rc >= 0; i++)
        rc = kv__cluster_node_index(cc, ct->seeds[i].host, strlen(ct->seeds[i].host),
                                    ct->seeds[i].port);
    bool persistent = false;
    if (rc >= 0 && (rc = kv__cluster_load_map(cc)) == 0)
        rc = describe(cc, &persistent);
    if (rc < 0)
        return kv__errbuf(err, errlen, rc == KV_ECONN ? KV_ECONNECT : rc, "%s", cc->base.errmsg);
    cc->base.caps = KV_CAP_ATOMIC_INCR | KV_CAP_LOCK | KV_CAP_ENUMERATE | KV_CAP_CROSS_PROCESS |
                    KV_CAP_BATCH | KV_CAP_COUNT | (persistent ? KV_CAP_PERSISTENT : 0);
    return 0;
}

int kv__redis_cluster_open(kv__uri *u, kv_conn **out, char *err, size_t errlen) {
    kv__redis_cluster_target *ct = calloc(1, sizeof(*ct));
    kv__cluster_conn *cc = calloc(1, sizeof(*cc));
    int rc = -ENOMEM;
    if (!ct || !cc)
        goto fail;
    if ((rc = kv__redis_parse_cluster(u, ct, err, errlen)) < 0)
        goto fail;
    cc->base.methods = &cluster_methods;
    cc->timeout = ct->t.timeout;
    cc->connect_timeout = ct->t.connect_timeout;
    cc->replicas_read = ct->replicas_read;
    snprintf(cc->user, sizeof(cc->user), "%s", ct->t.user ? ct->t.user : "");
    snprintf(cc->password, sizeof(cc->password), "%s", ct->t.password ? ct->t.password : "");
    cc->lock.ttl_ms = (long)ceil(ct->t.lock_ttl * 1000);
    snprintf(cc->lock.key, sizeof(cc->lock.key), "%s", ct->t.lock_key);
    if ((rc = setup(cc, ct, err, errlen)) < 0)
        goto fail;
    free(ct);
    *out = &cc->base;
    return 0;

fail:
    if (cc)
        free_nodes(cc);
    free(cc);
    free(ct);
    return rc;
}

/* Like redis: the password hidden, the seed nodes' ports not part of the identity. */
void kv__redis_cluster_describe(kv__uri *u, kv_desc *d) {
    (void)u;
    kv__desc_hide_param(d, "password");
    kv__desc_mask_ports(d);
}
