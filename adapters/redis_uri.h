/*
 * redis_uri.h - the target of a redis://, redis+unix: or redis-cluster:// URI, shared by redis.c
 * and redis_cluster.c (which connect) and redis_uri.c (which parses, and needs no hiredis).
 */
#ifndef KV_REDIS_URI_H
#define KV_REDIS_URI_H

#include "kv_internal.h"

/* Where and how to connect, from the URI. */
typedef struct kv__redis_target {
    bool unix_socket;
    const char *path; /* redis+unix */
    char host[256];
    int port;
    long db;
    double timeout, connect_timeout, lock_ttl;
    const char *user, *password, *lock_key;
    char userinfo[256]; /* USER:PASSWORD@ of the authority, kept apart from the host */
} kv__redis_target;

/*
 * Fills *t from the URI (t zeroed with port 6379 beforehand). The strings of *t point into the
 * URI or into t itself. Returns 0 or KV_EURI with the detail in err.
 */
int kv__redis_parse_target(kv__uri *u, kv__redis_target *t, char *err, size_t errlen);

/* The seed nodes and options of a redis-cluster:// URI. */
#define KV__REDIS_MAX_SEEDS 16
typedef struct kv__redis_seed {
    char host[256];
    int port;
} kv__redis_seed;

typedef struct kv__redis_cluster_target {
    kv__redis_target t; /* timeouts, credentials and the lock (db is 0, host unused) */
    kv__redis_seed seeds[KV__REDIS_MAX_SEEDS];
    size_t nseeds;
    bool replicas_read; /* ?replicas=read: reads go to replicas (READONLY) */
} kv__redis_cluster_target;

/*
 * Fills *ct (zeroed beforehand) from redis-cluster://HOST[:PORT][,HOST[:PORT]...][?...]: the
 * redis parameters (but db), and replicas=no|read. The lock's key defaults to "{kv}:lock".
 * Returns 0 or KV_EURI with the detail in err.
 */
int kv__redis_parse_cluster(kv__uri *u, kv__redis_cluster_target *ct, char *err, size_t errlen);

#endif
