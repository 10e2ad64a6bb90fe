/*
 * redis_cluster.h - what the two files of the redis-cluster:// adapter share: the connection
 * (nodes, their links, the slot map) in redis_cluster.c, the key slots and the loading of the
 * slot map in redis_cluster_map.c. Also what the cluster's own tests may ask of a connection
 * (kv__redis_cluster_stats) and the key slot function they check against CLUSTER KEYSLOT.
 */
#ifndef KV_REDIS_CLUSTER_H
#define KV_REDIS_CLUSTER_H

#include "redis_link.h"
#include "redis_uri.h"

#define KV__CLUSTER_SLOTS 16384
#define KV__CLUSTER_MAX_NODES 64
/* No node serves the slot (the map has a hole: a cluster that is down or being set up). */
#define KV__CLUSTER_NO_NODE UINT16_MAX

/* One node of the cluster; its link is opened on first use and again after it broke. */
typedef struct kv__cluster_node {
    char host[256];
    int port;
    kv__redis_link link;
    bool readonly; /* READONLY sent on the current link (reads from a replica) */
    bool primary;  /* serves slots in the current map */
} kv__cluster_node;

typedef struct kv__cluster_conn {
    kv_conn base;
    double timeout, connect_timeout;
    char user[128], password[256];
    bool replicas_read;
    kv__cluster_node *nodes[KV__CLUSTER_MAX_NODES];
    size_t nnodes;
    uint16_t primary[KV__CLUSTER_SLOTS]; /* node of each slot */
    uint16_t reader[KV__CLUSTER_SLOTS];  /* node that serves reads of each slot */
    bool refresh;                        /* reload the map before the next command */
    uint64_t moved, ask, refreshes;      /* redirections followed, maps loaded */
    kv__redis_lock lock;
    char where[360];
    char version[160];
} kv__cluster_conn;

/* Redirections and map loads of a redis-cluster connection since it was opened. */
typedef struct kv__redis_cluster_stats {
    uint64_t moved;     /* MOVED replies followed (each also updates the map) */
    uint64_t ask;       /* ASK replies followed (ASKING, then the command; map unchanged) */
    uint64_t refreshes; /* slot maps loaded (CLUSTER SHARDS or CLUSTER SLOTS) */
    size_t primaries;   /* primaries in the current map */
} kv__redis_cluster_stats;

/* Fills *st for a redis-cluster connection. 0, or KV_EINVAL for any other connection. */
int kv__redis_cluster_stats_of(kv_conn *c, kv__redis_cluster_stats *st);

/* The slot of a key: CRC16 (XMODEM) of the key, or of its hash tag {...}, modulo 16384. */
unsigned kv__redis_key_slot(const void *key, size_t klen);

/* The index of node HOST:PORT, added if new. Returns the index or KV_EFULL (too many nodes). */
int kv__cluster_node_index(kv__cluster_conn *cc, const char *host, size_t hlen, int port);

/* The link of node i, (re)connected (AUTH, READONLY when asked) if needed; NULL with *rc. */
kv__redis_link *kv__cluster_link(kv__cluster_conn *cc, size_t i, bool readonly, int *rc);

/*
 * Loads the slot map from the first node that answers CLUSTER SHARDS (Redis 7) or, failing
 * that, CLUSTER SLOTS. Returns 0, or the failure of the last node tried (detail in cc->base).
 */
int kv__cluster_load_map(kv__cluster_conn *cc);

#endif
