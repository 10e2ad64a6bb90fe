/*
 * lmdb.c - the `lmdb:DIR` adapter: the unnamed database of an LMDB environment in DIR.
 *
 * LMDB is the strongest embedded multi-process store in C, so it is used as its authors intend:
 *  - one MDB_env per environment per process. LMDB forbids opening the same environment twice in
 *    one process (its POSIX locks are per process), so connections to the same DIR share an
 *    environment through a small registry, reference-counted. After fork() the child ignores the
 *    parent's environments (LMDB: "use an MDB_env in the process which opened it") and opens
 *    its own.
 *  - MDB_NOTLS, so a read transaction belongs to its connection rather than to a thread; each
 *    connection keeps one read transaction that it resets and renews (no allocation per read).
 *  - stale reader slots of dead processes are cleared at open (mdb_reader_check).
 *  - the lock is a write transaction. LMDB's writer mutex cannot be waited for with a timeout,
 *    so kv_lock() first takes an flock() on DIR/kv.lock (polled until the timeout) and then
 *    begins the write transaction; plain writes still queue on LMDB's own mutex.
 *
 * Parameters: map_size=SIZE (1G; the most the database may grow to), max_readers=N (126),
 * sync=off|normal|full (normal: MDB_NOMETASYNC, durable except possibly the last transaction
 * after a system crash; off: MDB_NOSYNC; full: fsync at every commit). Connections that share
 * an environment get the parameters of the first one.
 */
#include "kv_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* One environment opened by this process, shared by its connections to the same folder. */
struct env_entry {
    struct env_entry *next;
    dev_t dev;
    ino_t ino;
    pid_t pid;
    int refs;
    MDB_env *env;
    MDB_dbi dbi;
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct env_entry *registry;

typedef struct lmdb_conn {
    kv_conn base;
    struct env_entry *ent;
    MDB_env *env;
    MDB_dbi dbi;
    MDB_txn *rtxn;   /* this connection's read transaction, reset between uses */
    MDB_txn *wtxn;   /* the write transaction of kv_lock(), or NULL */
    bool wtxn_error; /* an operation failed inside wtxn: LMDB requires it to be aborted */
    int lockfd;      /* DIR/kv.lock */
    size_t maxkey;
    char dir[256];
    char version[24];
} lmdb_conn;

static int fail(lmdb_conn *lc, int mrc, const char *what) {
    int rc;
    switch (mrc) {
    case MDB_NOTFOUND:
        return KV_ENOTFOUND;
    case MDB_MAP_FULL:
        return kv__error(&lc->base, KV_EFULL,
                         "lmdb %s: the map is full (%s); open it with a larger ?map_size=", what,
                         lc->dir);
    case MDB_BAD_VALSIZE:
        rc = KV_ETOOBIG;
        break;
    default:
        /* LMDB returns errno values as they are and its own codes below zero. */
        rc = mrc > 0 ? -mrc : KV_EBACKEND;
        break;
    }
    return kv__error(&lc->base, rc, "lmdb %s: %s (%s)", what, mdb_strerror(mrc), lc->dir);
}

static int check_key(lmdb_conn *lc, size_t klen) {
    if (klen > lc->maxkey)
        return kv__error(&lc->base, KV_ETOOBIG, "lmdb: a key of %zu bytes exceeds LMDB's %zu", klen,
                         lc->maxkey);
    return 0;
}

/* A read transaction: the lock's write transaction when held, else the renewed reader. */
static int rd_begin(lmdb_conn *lc, MDB_txn **t) {
    int mrc;
    if (lc->wtxn) {
        if (lc->wtxn_error)
            return kv__error(&lc->base, KV_EBACKEND,
                             "lmdb: an earlier failure spoilt the locked transaction; unlock");
        *t = lc->wtxn;
        return 0;
    }
    if (lc->rtxn)
        mrc = mdb_txn_renew(lc->rtxn);
    else
        mrc = mdb_txn_begin(lc->env, NULL, MDB_RDONLY, &lc->rtxn);
    if (mrc)
        return fail(lc, mrc, "begin read");
    *t = lc->rtxn;
    return 0;
}

static void rd_end(lmdb_conn *lc, MDB_txn *t) {
    if (t == lc->rtxn)
        mdb_txn_reset(t);
}

static int wr_begin(lmdb_conn *lc, MDB_txn **t) {
    if (lc->wtxn)
        return rd_begin(lc, t);
    int mrc = mdb_txn_begin(lc->env, NULL, 0, t);
    return mrc ? fail(lc, mrc, "begin write") : 0;
}

/* Commits (rc == 0) or aborts a transaction of wr_begin(); inside the lock only records rc. */
static int wr_end(lmdb_conn *lc, MDB_txn *t, int rc) {
    if (t == lc->wtxn) {
        if (rc < 0 && rc != KV_ENOTFOUND && rc != KV_ENOTNUM && rc != KV_EOVERFLOW)
            lc->wtxn_error = true;
        return rc;
    }
    if (rc < 0) {
        mdb_txn_abort(t);
        return rc;
    }
    int mrc = mdb_txn_commit(t);
    return mrc ? fail(lc, mrc, "commit") : 0;
}

static int get_in(lmdb_conn *lc, MDB_txn *t, const void *key, size_t klen, kv_buf *val) {
    MDB_val k = {klen, (void *)key}, v;
    int mrc = mdb_get(t, lc->dbi, &k, &v);
    if (mrc)
        return fail(lc, mrc, "get");
    return kv__buf_set(val, v.mv_data, v.mv_size);
}

static int put_in(lmdb_conn *lc, MDB_txn *t, const void *key, size_t klen, const void *val,
                  size_t vlen) {
    MDB_val k = {klen, (void *)key}, v = {vlen, (void *)val};
    int mrc = mdb_put(t, lc->dbi, &k, &v, 0);
    return mrc ? fail(lc, mrc, "put") : 0;
}

static int lmdb_get(kv_conn *c, const void *key, size_t klen, kv_buf *val) {
    lmdb_conn *lc = (lmdb_conn *)c;
    MDB_txn *t = NULL;
    int rc = check_key(lc, klen);
    if (rc < 0 || (rc = rd_begin(lc, &t)) < 0)
        return rc;
    rc = get_in(lc, t, key, klen, val);
    rd_end(lc, t);
    return rc;
}

static int lmdb_set(kv_conn *c, const void *key, size_t klen, const void *val, size_t vlen) {
    lmdb_conn *lc = (lmdb_conn *)c;
    MDB_txn *t = NULL;
    int rc = check_key(lc, klen);
    if (rc < 0 || (rc = wr_begin(lc, &t)) < 0)
        return rc;
    return wr_end(lc, t, put_in(lc, t, key, klen, val, vlen));
}

static int lmdb_del(kv_conn *c, const void *key, size_t klen) {
    lmdb_conn *lc = (lmdb_conn *)c;
    MDB_txn *t = NULL;
    int rc = check_key(lc, klen);
    if (rc < 0 || (rc = wr_begin(lc, &t)) < 0)
        return rc;
    MDB_val k = {klen, (void *)key};
    int mrc = mdb_del(t, lc->dbi, &k, NULL);
    return wr_end(lc, t, mrc ? fail(lc, mrc, "del") : 0);
}

static int lmdb_incr(kv_conn *c, const void *key, size_t klen, int64_t by, int64_t *result) {
    lmdb_conn *lc = (lmdb_conn *)c;
    MDB_txn *t = NULL;
    MDB_val k = {klen, (void *)key}, v;
    int64_t cur = 0;
    char num[24];

    int rc = check_key(lc, klen);
    if (rc < 0 || (rc = wr_begin(lc, &t)) < 0)
        return rc;
    int mrc = mdb_get(t, lc->dbi, &k, &v);
    if (mrc == 0 && (rc = kv__parse_i64(v.mv_data, v.mv_size, &cur)) < 0)
        kv__error(c, rc, "lmdb incr: the stored value is not a decimal int64");
    else if (mrc && mrc != MDB_NOTFOUND)
        rc = fail(lc, mrc, "incr");
    else if ((rc = kv__add_i64(cur, by, &cur)) < 0)
        kv__error(c, rc, "lmdb incr: %lld + %lld overflows", (long long)cur, (long long)by);
    else
        rc = put_in(lc, t, key, klen, num, kv__format_i64(cur, num));
    rc = wr_end(lc, t, rc);
    if (rc == 0)
        *result = cur;
    return rc;
}

static int lmdb_lock(kv_conn *c, double timeout) {
    lmdb_conn *lc = (lmdb_conn *)c;
    double deadline = timeout < 0 ? -1 : kv__now() + timeout, delay = 0;

    if (lc->wtxn)
        return KV_ELOCKED;
    while (flock(lc->lockfd, LOCK_EX | LOCK_NB) < 0) {
        if (errno != EWOULDBLOCK && errno != EINTR)
            return kv__error(c, -errno, "lmdb lock: flock(%s/kv.lock): %s", lc->dir,
                             strerror(errno));
        if (timeout == 0)
            return kv__error(c, KV_EBUSY, "lmdb lock: another connection holds it");
        if (!kv__backoff(&delay, deadline))
            return kv__error(c, KV_ETIMEDOUT,
                             "lmdb lock: still held by another connection "
                             "after %.3f s",
                             timeout);
    }
    int mrc = mdb_txn_begin(lc->env, NULL, 0, &lc->wtxn);
    if (mrc) {
        lc->wtxn = NULL;
        flock(lc->lockfd, LOCK_UN);
        return fail(lc, mrc, "begin write");
    }
    lc->wtxn_error = false;
    return 0;
}

static int lmdb_unlock(kv_conn *c) {
    lmdb_conn *lc = (lmdb_conn *)c;
    int rc = 0;

    if (!lc->wtxn)
        return KV_ENOTLOCKED;
    if (lc->wtxn_error) {
        mdb_txn_abort(lc->wtxn);
        rc = kv__error(c, KV_EBACKEND,
                       "lmdb unlock: the locked transaction failed earlier and was rolled back");
    } else {
        int mrc = mdb_txn_commit(lc->wtxn);
        if (mrc)
            rc = fail(lc, mrc, "commit");
    }
    lc->wtxn = NULL;
    flock(lc->lockfd, LOCK_UN);
    return rc;
}

static int lmdb_count(kv_conn *c, uint64_t *n) {
    lmdb_conn *lc = (lmdb_conn *)c;
    MDB_txn *t = NULL;
    MDB_stat st;
    int rc = rd_begin(lc, &t);
    if (rc < 0)
        return rc;
    int mrc = mdb_stat(t, lc->dbi, &st);
    rd_end(lc, t);
    if (mrc)
        return fail(lc, mrc, "stat");
    *n = st.ms_entries;
    return 0;
}

static int lmdb_clear(kv_conn *c) {
    lmdb_conn *lc = (lmdb_conn *)c;
    MDB_txn *t = NULL;
    int rc = wr_begin(lc, &t);
    if (rc < 0)
        return rc;
    int mrc = mdb_drop(t, lc->dbi, 0);
    return wr_end(lc, t, mrc ? fail(lc, mrc, "drop") : 0);
}

/* A cursor over one read transaction: a consistent snapshot however long the walk takes. */
static int lmdb_export(kv_conn *c, kv_entry_fn fn, void *ctx) {
    lmdb_conn *lc = (lmdb_conn *)c;
    MDB_txn *t = NULL;
    MDB_cursor *cur;
    MDB_val k, v;
    int rc = rd_begin(lc, &t);
    if (rc < 0)
        return rc;
    int mrc = mdb_cursor_open(t, lc->dbi, &cur);
    if (mrc) {
        rd_end(lc, t);
        return fail(lc, mrc, "cursor");
    }
    for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        rc = fn(ctx, k.mv_data, k.mv_size, v.mv_size ? v.mv_data : "", v.mv_size);
        if (rc)
            break;
    }
    if (!rc && mrc != MDB_NOTFOUND)
        rc = fail(lc, mrc, "cursor");
    mdb_cursor_close(cur);
    rd_end(lc, t);
    return rc;
}

static int lmdb_get_many(kv_conn *c, const kv_key *keys, size_t n, kv_buf *vals, int *rcs) {
    lmdb_conn *lc = (lmdb_conn *)c;
    MDB_txn *t = NULL;
    int rc = 0;
    for (size_t i = 0; i < n; i++)
        if ((rc = check_key(lc, keys[i].klen)) < 0)
            return rc;
    if ((rc = rd_begin(lc, &t)) < 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        rc = get_in(lc, t, keys[i].key, keys[i].klen, &vals[i]);
        if (rc < 0 && rc != KV_ENOTFOUND)
            break;
        rcs[i] = rc;
        rc = 0;
    }
    rd_end(lc, t);
    return rc;
}

static int lmdb_set_many(kv_conn *c, const kv_item *items, size_t n) {
    lmdb_conn *lc = (lmdb_conn *)c;
    MDB_txn *t = NULL;
    int rc = 0;
    for (size_t i = 0; i < n; i++)
        if ((rc = check_key(lc, items[i].klen)) < 0)
            return rc;
    if ((rc = wr_begin(lc, &t)) < 0)
        return rc;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = put_in(lc, t, items[i].key, items[i].klen, items[i].val ? items[i].val : "",
                    items[i].vlen);
    return wr_end(lc, t, rc);
}

/* Removes n keys in one write transaction (one sync instead of n). */
static int lmdb_del_many(kv_conn *c, const kv_key *keys, size_t n) {
    lmdb_conn *lc = (lmdb_conn *)c;
    MDB_txn *t = NULL;
    int rc = wr_begin(lc, &t);
    if (rc < 0)
        return rc;
    /* A key too long for LMDB cannot be stored, so there is nothing to remove: skip it. */
    for (size_t i = 0; i < n && rc == 0; i++) {
        MDB_val k = {keys[i].klen, (void *)keys[i].key};
        int mrc = keys[i].klen > lc->maxkey ? 0 : mdb_del(t, lc->dbi, &k, NULL);
        if (mrc && mrc != MDB_NOTFOUND)
            rc = fail(lc, mrc, "del");
    }
    return wr_end(lc, t, rc);
}

static const char *lmdb_version(kv_conn *c) {
    return ((lmdb_conn *)c)->version;
}

/* Drops a reference to a shared environment; the last one closes it. */
static void env_release(struct env_entry *ent) {
    pthread_mutex_lock(&registry_lock);
    if (--ent->refs == 0) {
        for (struct env_entry **p = &registry; *p; p = &(*p)->next) {
            if (*p == ent) {
                *p = ent->next;
                break;
            }
        }
        mdb_env_close(ent->env);
        free(ent);
    }
    pthread_mutex_unlock(&registry_lock);
}

static int lmdb_close(kv_conn *c) {
    lmdb_conn *lc = (lmdb_conn *)c;
    if (lc->wtxn) {
        mdb_txn_abort(lc->wtxn);
        flock(lc->lockfd, LOCK_UN);
    }
    if (lc->rtxn)
        mdb_txn_abort(lc->rtxn);
    close(lc->lockfd);
    env_release(lc->ent);
    free(lc);
    return 0;
}

static const kv_methods lmdb_methods = {
    .version = 4,
    .name = "lmdb",
    .close = lmdb_close,
    .backend_version = lmdb_version,
    .get = lmdb_get,
    .set = lmdb_set,
    .del = lmdb_del,
    .incr = lmdb_incr,
    .lock = lmdb_lock,
    .unlock = lmdb_unlock,
    .count = lmdb_count,
    .clear = lmdb_clear,
    .export_all = lmdb_export,
    .get_many = lmdb_get_many,
    .set_many = lmdb_set_many,
    .del_many = lmdb_del_many,
};

/* Opens a new environment for this process. Called with registry_lock held. */
static int env_create(const char *dir, uint64_t map_size, long max_readers, unsigned flags,
                      struct env_entry *ent, char *err, size_t errlen) {
    MDB_txn *t = NULL;
    int mrc = mdb_env_create(&ent->env);
    if (mrc)
        goto fail;
    if ((mrc = mdb_env_set_mapsize(ent->env, (size_t)map_size)) ||
        (mrc = mdb_env_set_maxreaders(ent->env, (unsigned)max_readers)) ||
        (mrc = mdb_env_open(ent->env, dir, MDB_NOTLS | flags, 0600)))
        goto fail_env;
    /* Reader slots of processes that died (e.g. killed scenario workers) would pin old pages. */
    int dead = 0;
    mdb_reader_check(ent->env, &dead);
    /*
     * The unnamed database always exists, so a read-only transaction can open its handle: a
     * write transaction here would wait for any process that holds the lock.
     */
    if ((mrc = mdb_txn_begin(ent->env, NULL, MDB_RDONLY, &t)))
        goto fail_env;
    if ((mrc = mdb_dbi_open(t, NULL, 0, &ent->dbi))) {
        mdb_txn_abort(t);
        goto fail_env;
    }
    if ((mrc = mdb_txn_commit(t)))
        goto fail_env;
    return 0;

fail_env:
    mdb_env_close(ent->env);
fail:
    return kv__errbuf(err, errlen, mrc > 0 ? -mrc : KV_EBACKEND, "lmdb: cannot open '%s': %s", dir,
                      mdb_strerror(mrc));
}

int kv__lmdb_open(kv__uri *u, kv_conn **out, char *err, size_t errlen) {
    static const char *const syncs[] = {"off", "normal", "full", NULL};
    static const unsigned sync_flags[] = {MDB_NOSYNC, MDB_NOMETASYNC, 0};
    uint64_t map_size;
    long max_readers;
    int sync, rc;
    struct stat st;

    if (u->body[0] == '\0')
        return kv__errbuf(err, errlen, KV_EURI, "'%s': lmdb needs a folder (lmdb:DIR)", u->text);
    if ((rc = kv__uri_size(u, "map_size", UINT64_C(1) << 30, &map_size, err, errlen)) < 0 ||
        (rc = kv__uri_int(u, "max_readers", 126, 1, 1 << 20, &max_readers, err, errlen)) < 0 ||
        (rc = kv__uri_choice(u, "sync", syncs, 1, &sync, err, errlen)) < 0 ||
        (rc = kv__uri_check_unused(u, err, errlen)) < 0)
        return rc;
    if (map_size < (1u << 20) || map_size > SIZE_MAX)
        return kv__errbuf(err, errlen, KV_EURI, "'%s': map_size must be at least 1M", u->text);
    if (strlen(u->body) + sizeof("/kv.lock") > 256)
        return kv__errbuf(err, errlen, KV_EURI, "'%s': the path is too long", u->text);

    if (mkdir(u->body, 0700) < 0 && errno != EEXIST)
        return kv__errbuf(err, errlen, -errno, "lmdb: cannot create folder '%s': %s", u->body,
                          strerror(errno));
    if (stat(u->body, &st) < 0 || !S_ISDIR(st.st_mode))
        return kv__errbuf(err, errlen, errno ? -errno : -ENOTDIR, "lmdb: '%s' is not a folder",
                          u->body);

    lmdb_conn *lc = calloc(1, sizeof(*lc));
    if (!lc)
        return -ENOMEM;
    snprintf(lc->dir, sizeof(lc->dir), "%s", u->body);
    char lockpath[sizeof(lc->dir) + 16];
    snprintf(lockpath, sizeof(lockpath), "%s/kv.lock", u->body);
    lc->lockfd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lc->lockfd < 0) {
        rc = kv__errbuf(err, errlen, -errno, "lmdb: cannot open '%s': %s", lockpath,
                        strerror(errno));
        goto fail_conn;
    }

    pthread_mutex_lock(&registry_lock);
    struct env_entry *ent = registry;
    pid_t pid = getpid();
    while (ent && !(ent->dev == st.st_dev && ent->ino == st.st_ino && ent->pid == pid))
        ent = ent->next;
    if (ent) {
        ent->refs++;
    } else {
        ent = calloc(1, sizeof(*ent));
        if (!ent) {
            rc = -ENOMEM;
        } else if ((rc = env_create(u->body, map_size, max_readers, sync_flags[sync], ent, err,
                                    errlen)) < 0) {
            free(ent);
        } else {
            ent->dev = st.st_dev;
            ent->ino = st.st_ino;
            ent->pid = pid;
            ent->refs = 1;
            ent->next = registry;
            registry = ent;
        }
    }
    pthread_mutex_unlock(&registry_lock);
    if (rc < 0)
        goto fail_fd;

    lc->ent = ent;
    lc->env = ent->env;
    lc->dbi = ent->dbi;
    lc->maxkey = (size_t)mdb_env_get_maxkeysize(ent->env);
    int major, minor, patch;
    mdb_version(&major, &minor, &patch);
    snprintf(lc->version, sizeof(lc->version), "%d.%d.%d", major, minor, patch);
    lc->base.methods = &lmdb_methods;
    lc->base.caps = KV_CAP_ATOMIC_INCR | KV_CAP_LOCK | KV_CAP_ENUMERATE | KV_CAP_SNAPSHOT |
                    KV_CAP_CROSS_PROCESS | KV_CAP_PERSISTENT | KV_CAP_BATCH | KV_CAP_COUNT;
    *out = &lc->base;
    return 0;

fail_fd:
    close(lc->lockfd);
fail_conn:
    free(lc);
    return rc;
}

/* A folder of this host; a default store sits in a fresh temporary folder each run. */
void kv__lmdb_describe(kv__uri *u, kv_desc *d) {
    (void)u;
    kv__desc_path_on_host(d);
}
