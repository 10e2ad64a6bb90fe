/*
 * redis_uri.h - the target of a redis:// or redis+unix: URI, shared by redis.c (which connects)
 * and redis_uri.c (which parses, and needs no hiredis).
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

#endif
