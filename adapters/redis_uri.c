/* redis_uri.c - parsing redis://[USER:PASSWORD@]HOST[:PORT][/DB] and redis+unix:PATH URIs. */
#include "redis_uri.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The query parameters: timeouts, db, credentials and the lock's key (default_lock_key if none). */
static int parse_params(kv__uri *u, kv__redis_target *t, const char *default_lock_key, char *err,
                        size_t errlen) {
    int rc;
    if ((rc = kv__uri_seconds(u, "timeout", 5, &t->timeout, err, errlen)) < 0 ||
        (rc = kv__uri_seconds(u, "connect_timeout", 2, &t->connect_timeout, err, errlen)) < 0 ||
        (rc = kv__uri_seconds(u, "lock_ttl", 30, &t->lock_ttl, err, errlen)) < 0 ||
        (rc = kv__uri_int(u, "db", 0, 0, 1 << 20, &t->db, err, errlen)) < 0)
        return rc;
    t->password = kv__uri_param(u, "password");
    t->user = kv__uri_param(u, "user");
    t->lock_key = kv__uri_param(u, "lock_key");
    if ((rc = kv__uri_check_unused(u, err, errlen)) < 0)
        return rc;
    if (t->timeout <= 0 || t->connect_timeout <= 0 || t->lock_ttl < 0.001)
        return kv__errbuf(err, errlen, KV_EURI, "'%s': timeouts and lock_ttl must be positive",
                          u->text);
    if (!t->lock_key)
        t->lock_key = default_lock_key;
    if (!*t->lock_key || strlen(t->lock_key) >= 128)
        return kv__errbuf(err, errlen, KV_EURI, "'%s': lock_key must be 1-127 bytes", u->text);
    return 0;
}

/* redis://[USER:PASSWORD@]HOST[:PORT][/DB]: the database in the path wins over ?db=. */
static int parse_authority(kv__uri *u, kv__redis_target *t, char *err, size_t errlen) {
    if (strncmp(u->body, "//", 2) != 0)
        return kv__errbuf(err, errlen, KV_EURI, "'%s': expected redis://HOST[:PORT][/DB]", u->text);
    const char *auth = u->body + 2;
    const char *slash = strchr(auth, '/');
    size_t alen = slash ? (size_t)(slash - auth) : strlen(auth);
    const char *at = memrchr(auth, '@', alen);
    if (at) {
        if ((size_t)(at - auth) >= sizeof(t->userinfo))
            return kv__errbuf(err, errlen, KV_EURI, "'%s': user information too long", u->text);
        memcpy(t->userinfo, auth, (size_t)(at - auth));
        t->userinfo[at - auth] = '\0';
        alen -= (size_t)(at + 1 - auth);
        auth = at + 1;
    }
    int rc = kv__parse_hostport(auth, alen, t->host, sizeof(t->host), 6379, &t->port, err, errlen);
    if (rc < 0 || !slash || !slash[1])
        return rc;
    char *end;
    long n = strtol(slash + 1, &end, 10);
    if (*end || n < 0 || n > (1 << 20))
        return kv__errbuf(err, errlen, KV_EURI, "'%s': the database must be a number", u->text);
    t->db = n;
    return 0;
}

/* USER:PASSWORD, :PASSWORD or PASSWORD in the authority override the parameters. */
static void split_userinfo(kv__redis_target *t) {
    if (!t->userinfo[0])
        return;
    char *colon = strchr(t->userinfo, ':');
    if (!colon) {
        t->password = t->userinfo;
        return;
    }
    *colon = '\0';
    t->password = colon + 1;
    if (colon != t->userinfo)
        t->user = t->userinfo;
}

int kv__redis_parse_target(kv__uri *u, kv__redis_target *t, char *err, size_t errlen) {
    int rc = parse_params(u, t, "kv:lock", err, errlen);
    if (rc < 0)
        return rc;
    t->unix_socket = strcasecmp(u->scheme, "redis+unix") == 0;
    if (!t->unix_socket) {
        if ((rc = parse_authority(u, t, err, errlen)) < 0)
            return rc;
        split_userinfo(t);
        return 0;
    }
    t->path = u->body;
    if (strncmp(t->path, "//", 2) == 0)
        t->path += 2;
    if (!*t->path)
        return kv__errbuf(err, errlen, KV_EURI, "'%s': redis+unix needs a socket path", u->text);
    return 0;
}

int kv__redis_parse_cluster(kv__uri *u, kv__redis_cluster_target *ct, char *err, size_t errlen) {
    int choice = 0, rc;
    static const char *const replicas[] = {"no", "read", NULL};
    if ((rc = kv__uri_choice(u, "replicas", replicas, 0, &choice, err, errlen)) < 0)
        return rc;
    ct->replicas_read = choice == 1;
    /* A hash tag puts the lock in one slot, whatever the key's other bytes are. */
    if ((rc = parse_params(u, &ct->t, "{kv}:lock", err, errlen)) < 0)
        return rc;
    if (ct->t.db != 0)
        return kv__errbuf(err, errlen, KV_EURI, "'%s': a Redis Cluster has only database 0",
                          u->text);
    if (strncmp(u->body, "//", 2) != 0 || !u->body[2])
        return kv__errbuf(err, errlen, KV_EURI,
                          "'%s': expected redis-cluster://HOST:PORT[,HOST:PORT...]", u->text);
    const char *s = u->body + 2;
    ct->nseeds = 0;
    for (;;) {
        size_t len = strcspn(s, ",/");
        if (ct->nseeds == KV__REDIS_MAX_SEEDS)
            return kv__errbuf(err, errlen, KV_EURI, "'%s': more than %d seed nodes", u->text,
                              KV__REDIS_MAX_SEEDS);
        kv__redis_seed *sd = &ct->seeds[ct->nseeds];
        if ((rc = kv__parse_hostport(s, len, sd->host, sizeof(sd->host), 6379, &sd->port, err,
                                     errlen)) < 0)
            return rc;
        ct->nseeds++;
        s += len;
        if (*s != ',')
            break;
        if (!*++s)
            return kv__errbuf(err, errlen, KV_EURI, "'%s': empty node after ','", u->text);
    }
    if (*s && strcmp(s, "/") != 0 && strcmp(s, "/0") != 0)
        return kv__errbuf(err, errlen, KV_EURI, "'%s': a Redis Cluster has only database 0",
                          u->text);
    return 0;
}
