/*
 * redis_cluster_map.c - the slot map of a Redis Cluster, as the cluster specification describes
 * it: a key's slot is CRC16 (XMODEM) of the key, or of its hash tag (the bytes between the
 * first '{' and the first '}' after it, when there are any), modulo 16384; the map of slots to
 * nodes comes from CLUSTER SHARDS (Redis 7) or CLUSTER SLOTS (older servers). Also the nodes'
 * links, opened on first use.
 */
#include "redis_cluster.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

unsigned kv__redis_key_slot(const void *key, size_t klen) {
    const unsigned char *p = key;
    const unsigned char *open = memchr(p, '{', klen);
    if (open) {
        size_t rest = klen - (size_t)(open + 1 - p);
        const unsigned char *close = memchr(open + 1, '}', rest);
        if (close && close > open + 1) {
            p = open + 1;
            klen = (size_t)(close - p);
        }
    }
    unsigned crc = 0;
    for (size_t i = 0; i < klen; i++) {
        crc ^= (unsigned)p[i] << 8;
        for (int b = 0; b < 8; b++)
            crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
    return crc & (KV__CLUSTER_SLOTS - 1);
}

int kv__cluster_node_index(kv__cluster_conn *cc, const char *host, size_t hlen, int port) {
    for (size_t i = 0; i < cc->nnodes; i++) {
        const kv__cluster_node *n = cc->nodes[i];
        if (n->port == port && strlen(n->host) == hlen && memcmp(n->host, host, hlen) == 0)
            return (int)i;
    }
    if (cc->nnodes == KV__CLUSTER_MAX_NODES || hlen >= sizeof(cc->nodes[0]->host))
        return kv__error(&cc->base, KV_EFULL,
                         "redis-cluster: more than %d nodes, or a host name "
                         "too long",
                         KV__CLUSTER_MAX_NODES);
    kv__cluster_node *n = calloc(1, sizeof(*n));
    if (!n)
        return -ENOMEM;
    memcpy(n->host, host, hlen);
    n->port = port;
    snprintf(n->link.where, sizeof(n->link.where), "%s:%d", n->host, port);
    cc->nodes[cc->nnodes] = n;
    return (int)cc->nnodes++;
}

/* AUTH on a new link when the URI gave a password. */
static int log_in(kv__cluster_conn *cc, kv__redis_link *l) {
    if (!cc->password[0])
        return 0;
    const char *argv[] = {"AUTH", cc->user[0] ? cc->user : cc->password, cc->password};
    size_t lens[] = {4, strlen(argv[1]), strlen(cc->password)};
    int rc;
    freeReplyObject(
        kv__redis_link_command(&cc->base, l, "AUTH", cc->user[0] ? 3 : 2, argv, lens, &rc));
    return rc;
}

kv__redis_link *kv__cluster_link(kv__cluster_conn *cc, size_t i, bool readonly, int *rc) {
    kv__cluster_node *n = cc->nodes[i];
    char err[KV_ERRMSG_MAX];
    if (n->link.ctx && n->link.broken) {
        /* A failed node may come back (restarted, or replaced): connect again next time. */
        kv__redis_link_close(&n->link);
        n->readonly = false;
    }
    if (!n->link.ctx) {
        if ((*rc = kv__redis_link_open(&n->link, n->host, n->port, NULL, cc->connect_timeout,
                                       cc->timeout, err, sizeof(err))) < 0) {
            kv__error(&cc->base, *rc, "%s", err);
            return NULL;
        }
        if ((*rc = log_in(cc, &n->link)) < 0)
            return NULL;
    }
    if (readonly && !n->readonly) {
        const char *argv[] = {"READONLY"};
        size_t lens[] = {8};
        redisReply *rep =
            kv__redis_link_command(&cc->base, &n->link, "READONLY", 1, argv, lens, rc);
        if (!rep)
            return NULL;
        freeReplyObject(rep);
        n->readonly = true;
    }
    *rc = 0;
    return &n->link;
}

/* The map being built: a shard's slot ranges, its primary and one replica to read from. */
typedef struct map_build {
    kv__cluster_conn *cc;
    const kv__cluster_node *asked; /* an empty host in a reply means this node */
    uint16_t primary[KV__CLUSTER_SLOTS];
    uint16_t reader[KV__CLUSTER_SLOTS];
} map_build;

/* The node index of an address in a reply ("" or "?" stand for the node that was asked). */
static int reply_node(map_build *mb, const redisReply *ip, long long port) {
    if (ip->type != REDIS_REPLY_STRING || port <= 0 || port > 65535)
        return kv__error(&mb->cc->base, KV_EPROTO, "redis-cluster: a node without an address");
    const char *host = ip->str;
    size_t hlen = ip->len;
    if (hlen == 0 || strcmp(host, "?") == 0) {
        host = mb->asked->host;
        hlen = strlen(host);
    }
    return kv__cluster_node_index(mb->cc, host, hlen, (int)port);
}

static int assign(map_build *mb, long long from, long long to, int primary, int reader) {
    if (from < 0 || to >= KV__CLUSTER_SLOTS || from > to)
        return kv__error(&mb->cc->base, KV_EPROTO, "redis-cluster: slot range %lld-%lld", from, to);
    for (long long s = from; s <= to; s++) {
        mb->primary[s] = (uint16_t)primary;
        mb->reader[s] = (uint16_t)(reader >= 0 ? reader : primary);
    }
    return 0;
}

/* The value of `name` in a RESP2 flat map (name, value, name, value ...), or NULL. */
static const redisReply *map_get(const redisReply *m, const char *name) {
    if (m->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (size_t i = 0; i + 1 < m->elements; i += 2)
        if (m->element[i]->type == REDIS_REPLY_STRING && strcmp(m->element[i]->str, name) == 0)
            return m->element[i + 1];
    return NULL;
}

static bool str_is(const redisReply *r, const char *s) {
    return r && r->type == REDIS_REPLY_STRING && strcmp(r->str, s) == 0;
}

/* Spreads the processes that read from replicas over a shard's replicas. */
static int pick(const int *replicas, int n) {
    return n ? replicas[getpid() % n] : -1;
}

/* One shard of CLUSTER SHARDS: "slots" [from, to, ...], "nodes" [{id, port, ip, role, ...}]. */
static int shard_to_map(map_build *mb, const redisReply *shard) {
    const redisReply *slots = map_get(shard, "slots"), *nodes = map_get(shard, "nodes");
    int primary = -1, replicas[8], nrep = 0;
    if (!slots || !nodes || slots->type != REDIS_REPLY_ARRAY || nodes->type != REDIS_REPLY_ARRAY)
        return kv__error(&mb->cc->base, KV_EPROTO,
                         "redis-cluster: CLUSTER SHARDS: no slots or "
                         "nodes in a shard");
    for (size_t i = 0; i < nodes->elements; i++) {
        const redisReply *n = nodes->element[i], *ip = map_get(n, "ip"), *port = map_get(n, "port");
        if (!ip || !port || port->type != REDIS_REPLY_INTEGER)
            continue;
        bool is_primary = str_is(map_get(n, "role"), "master");
        if (!is_primary && (!str_is(map_get(n, "health"), "online") || nrep == 8))
            continue;
        int idx = reply_node(mb, ip, port->integer);
        if (idx < 0)
            return idx;
        if (is_primary)
            primary = idx;
        else
            replicas[nrep++] = idx;
    }
    if (slots->elements == 0)
        return 0; /* a shard without slots: a primary being added, or emptied */
    if (primary < 0)
        return kv__error(&mb->cc->base, KV_EPROTO, "redis-cluster: a shard without a primary");
    int reader = mb->cc->replicas_read ? pick(replicas, nrep) : -1, rc = 0;
    for (size_t i = 0; i + 1 < slots->elements && rc == 0; i += 2) {
        if (slots->element[i]->type != REDIS_REPLY_INTEGER ||
            slots->element[i + 1]->type != REDIS_REPLY_INTEGER)
            return kv__error(&mb->cc->base, KV_EPROTO, "redis-cluster: CLUSTER SHARDS slots");
        rc =
            assign(mb, slots->element[i]->integer, slots->element[i + 1]->integer, primary, reader);
    }
    return rc;
}

/* One range of CLUSTER SLOTS: from, to, [ip, port, id], then a [ip, port, id] per replica. */
static int range_to_map(map_build *mb, const redisReply *r) {
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
        r->element[0]->type != REDIS_REPLY_INTEGER || r->element[1]->type != REDIS_REPLY_INTEGER)
        return kv__error(&mb->cc->base, KV_EPROTO, "redis-cluster: CLUSTER SLOTS range");
    int idx[8], n = 0;
    for (size_t i = 2; i < r->elements && n < 8; i++) {
        const redisReply *node = r->element[i];
        if (node->type != REDIS_REPLY_ARRAY || node->elements < 2 ||
            node->element[1]->type != REDIS_REPLY_INTEGER)
            return kv__error(&mb->cc->base, KV_EPROTO, "redis-cluster: CLUSTER SLOTS node");
        if ((idx[n] = reply_node(mb, node->element[0], node->element[1]->integer)) < 0)
            return idx[n];
        n++;
    }
    int reader = mb->cc->replicas_read ? pick(idx + 1, n - 1) : -1;
    return assign(mb, r->element[0]->integer, r->element[1]->integer, idx[0], reader);
}

/* Asks node i for the map: CLUSTER SHARDS, or CLUSTER SLOTS where SHARDS is unknown. */
static int map_from(map_build *mb, size_t i) {
    int rc;
    kv__cluster_conn *cc = mb->cc;
    kv__redis_link *l = kv__cluster_link(cc, i, false, &rc);
    if (!l)
        return rc;
    mb->asked = cc->nodes[i];
    const char *shards[] = {"CLUSTER", "SHARDS"}, *slots[] = {"CLUSTER", "SLOTS"};
    size_t shards_lens[] = {7, 6}, slots_lens[] = {7, 5};
    bool by_shards = true;
    redisReply *rep =
        kv__redis_link_raw(&cc->base, l, "CLUSTER SHARDS", 2, shards, shards_lens, &rc);
    if (rep && rep->type == REDIS_REPLY_ERROR) {
        freeReplyObject(rep);
        by_shards = false;
        rep = kv__redis_link_command(&cc->base, l, "CLUSTER SLOTS", 2, slots, slots_lens, &rc);
    }
    if (!rep)
        return rc;
    if (rep->type != REDIS_REPLY_ARRAY)
        rc = kv__redis_unexpected(&cc->base, l, rep, "CLUSTER SHARDS");
    for (size_t s = 0; s < KV__CLUSTER_SLOTS; s++)
        mb->primary[s] = mb->reader[s] = KV__CLUSTER_NO_NODE;
    for (size_t k = 0; rc == 0 && k < rep->elements; k++)
        rc = by_shards ? shard_to_map(mb, rep->element[k]) : range_to_map(mb, rep->element[k]);
    freeReplyObject(rep);
    return rc;
}

int kv__cluster_load_map(kv__cluster_conn *cc) {
    map_build *mb = malloc(sizeof(*mb));
    int rc = KV_ECONNECT;
    if (!mb)
        return -ENOMEM;
    mb->cc = cc;
    /* The node list grows while replies are read: the nodes known now are the ones to ask. */
    size_t known = cc->nnodes;
    for (size_t i = 0; i < known; i++) {
        if ((rc = map_from(mb, i)) == 0)
            break;
    }
    if (rc == 0) {
        memcpy(cc->primary, mb->primary, sizeof(cc->primary));
        memcpy(cc->reader, mb->reader, sizeof(cc->reader));
        for (size_t i = 0; i < cc->nnodes; i++)
            cc->nodes[i]->primary = false;
        for (size_t s = 0; s < KV__CLUSTER_SLOTS; s++)
            if (cc->primary[s] != KV__CLUSTER_NO_NODE)
                cc->nodes[cc->primary[s]]->primary = true;
        cc->refresh = false;
        cc->refreshes++;
    }
    free(mb);
    return rc;
}
