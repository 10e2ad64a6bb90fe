/*
 * sqlite.c - the `sqlite:PATH` adapter: one table `kv(k BLOB PRIMARY KEY, v BLOB)` in a SQLite
 * database file, used the way SQLite's own documentation recommends for several processes:
 * WAL journal (readers never block the writer), a busy timeout (writers queue instead of failing
 * at once), prepared statements, and BEGIN IMMEDIATE for read-modify-write and for the lock (a
 * deferred transaction that later upgrades to a writer can fail with SQLITE_BUSY at once, without
 * waiting, to avoid a deadlock).
 *
 * Parameters: busy_timeout=MS (5000), sync=off|normal|full (normal: WAL's recommended setting,
 * durable up to the last checkpoint, never corrupt).
 */
#include "kv_internal.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
    ST_GET,
    ST_SET,
    ST_DEL,
    ST_COUNT,
    ST_CLEAR,
    ST_EXPORT,
    ST_BEGIN,
    ST_BEGIN_IMMEDIATE,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_MAX
};

static const char *const statements[ST_MAX] = {
    [ST_GET] = "SELECT v FROM kv WHERE k = ?1",
    [ST_SET] = "INSERT INTO kv (k, v) VALUES (?1, ?2) ON CONFLICT (k) DO UPDATE SET v = excluded.v",
    [ST_DEL] = "DELETE FROM kv WHERE k = ?1",
    [ST_COUNT] = "SELECT count(*) FROM kv",
    [ST_CLEAR] = "DELETE FROM kv",
    [ST_EXPORT] = "SELECT k, v FROM kv",
    [ST_BEGIN] = "BEGIN",
    [ST_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
};

/*
 * A rowid table with a unique index on k, not WITHOUT ROWID: SQLite's documentation keeps
 * WITHOUT ROWID for rows smaller than about a twentieth of a page, because their whole row is
 * the b-tree key and every comparison with a row that overflows (a 1 MiB value) reassembles it.
 */
static const char create_table[] =
    "CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY NOT NULL, v BLOB NOT NULL)";

typedef struct sqlite_conn {
    kv_conn base;
    sqlite3 *db;
    sqlite3_stmt *st[ST_MAX];
    int busy_ms;
    bool locked; /* inside the BEGIN IMMEDIATE of kv_lock() */
} sqlite_conn;

/* Maps a SQLite result code to ours and writes the detail (what failed, and SQLite's words). */
static int fail(sqlite_conn *sc, int src, const char *what) {
    int rc;
    switch (src & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return kv__error(&sc->base, KV_ETIMEDOUT,
                         "sqlite %s: %s (the busy timeout of %d ms elapsed)", what,
                         sqlite3_errmsg(sc->db), sc->busy_ms);
    case SQLITE_FULL:
        rc = KV_EFULL;
        break;
    case SQLITE_TOOBIG:
        rc = KV_ETOOBIG;
        break;
    case SQLITE_NOMEM:
        rc = -ENOMEM;
        break;
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN: {
        int e = sqlite3_system_errno(sc->db);
        rc = e > 0 ? -e : KV_EBACKEND;
        break;
    }
    default:
        rc = KV_EBACKEND;
        break;
    }
    return kv__error(&sc->base, rc, "sqlite %s: %s (%s)", what, sqlite3_errmsg(sc->db),
                     sqlite3_db_filename(sc->db, "main"));
}

/* Runs a statement without results (BEGIN, COMMIT, DELETE ...). */
static int exec(sqlite_conn *sc, int which) {
    sqlite3_stmt *s = sc->st[which];
    int src = sqlite3_step(s);
    sqlite3_reset(s);
    if (src != SQLITE_DONE && src != SQLITE_ROW)
        return fail(sc, src, statements[which]);
    return 0;
}

static int bind_blob(sqlite_conn *sc, sqlite3_stmt *s, int i, const void *p, size_t n) {
    if (n > INT_MAX)
        return kv__error(&sc->base, KV_ETOOBIG, "sqlite: %zu bytes exceed SQLite's limit", n);
    int src = sqlite3_bind_blob(s, i, p, (int)n, SQLITE_STATIC);
    if (src != SQLITE_OK)
        return fail(sc, src, "bind");
    return 0;
}

/*
 * Starts a transaction unless kv_lock() already holds one (then the operation simply joins it).
 * Returns 1 when this call began a transaction that tx_end() must finish.
 */
static int tx_begin(sqlite_conn *sc, bool write) {
    if (sc->locked)
        return 0;
    int rc = exec(sc, write ? ST_BEGIN_IMMEDIATE : ST_BEGIN);
    return rc < 0 ? rc : 1;
}

/* Commits (rc == 0) or rolls back a transaction begun by tx_begin(); returns the final code. */
static int tx_end(sqlite_conn *sc, int began, int rc) {
    if (began != 1)
        return rc;
    if (rc == 0 || rc == KV_ENOTFOUND) {
        int crc = exec(sc, ST_COMMIT);
        if (crc == 0)
            return rc;
        rc = crc;
    }
    /* A failed statement may already have rolled back; a second ROLLBACK is then harmless. */
    char keep[KV_ERRMSG_MAX];
    memcpy(keep, sc->base.errmsg, sizeof(keep));
    exec(sc, ST_ROLLBACK);
    memcpy(sc->base.errmsg, keep, sizeof(keep));
    return rc;
}

static int get_stmt(sqlite_conn *sc, const void *key, size_t klen, kv_buf *val) {
    sqlite3_stmt *s = sc->st[ST_GET];
    int rc = bind_blob(sc, s, 1, key, klen);
    if (rc < 0)
        return rc;
    int src = sqlite3_step(s);
    if (src == SQLITE_ROW) {
        const void *v = sqlite3_column_blob(s, 0);
        rc = kv__buf_set(val, v, (size_t)sqlite3_column_bytes(s, 0));
    } else if (src == SQLITE_DONE) {
        rc = KV_ENOTFOUND;
    } else {
        rc = fail(sc, src, "get");
    }
    sqlite3_reset(s);
    return rc;
}

static int set_stmt(sqlite_conn *sc, const void *key, size_t klen, const void *val, size_t vlen) {
    sqlite3_stmt *s = sc->st[ST_SET];
    int rc = bind_blob(sc, s, 1, key, klen);
    if (rc == 0)
        rc = bind_blob(sc, s, 2, val, vlen);
    if (rc < 0)
        return rc;
    int src = sqlite3_step(s);
    sqlite3_reset(s);
    if (src != SQLITE_DONE)
        return fail(sc, src, "set");
    return 0;
}

static int sqlite_get(kv_conn *c, const void *key, size_t klen, kv_buf *val) {
    return get_stmt((sqlite_conn *)c, key, klen, val);
}

static int sqlite_set(kv_conn *c, const void *key, size_t klen, const void *val, size_t vlen) {
    return set_stmt((sqlite_conn *)c, key, klen, val, vlen);
}

static int sqlite_del(kv_conn *c, const void *key, size_t klen) {
    sqlite_conn *sc = (sqlite_conn *)c;
    sqlite3_stmt *s = sc->st[ST_DEL];
    int rc = bind_blob(sc, s, 1, key, klen);
    if (rc < 0)
        return rc;
    int src = sqlite3_step(s);
    sqlite3_reset(s);
    if (src != SQLITE_DONE)
        return fail(sc, src, "del");
    return sqlite3_changes(sc->db) ? 0 : KV_ENOTFOUND;
}

static int sqlite_incr(kv_conn *c, const void *key, size_t klen, int64_t by, int64_t *result) {
    sqlite_conn *sc = (sqlite_conn *)c;
    kv_buf cur = KV_BUF_INIT;
    int64_t v = 0;
    char num[24];

    int began = tx_begin(sc, true);
    if (began < 0)
        return began;
    int rc = get_stmt(sc, key, klen, &cur);
    if (rc == KV_ENOTFOUND) {
        rc = 0;
    } else if (rc == 0 && (rc = kv__parse_i64(cur.data, cur.len, &v)) < 0) {
        kv__error(c, rc, "sqlite incr: the stored value is not a decimal int64");
        goto out;
    }
    if (rc == 0 && (rc = kv__add_i64(v, by, &v)) < 0)
        kv__error(c, rc, "sqlite incr: %lld + %lld overflows", (long long)v, (long long)by);
    if (rc == 0)
        rc = set_stmt(sc, key, klen, num, kv__format_i64(v, num));
out:
    kv_buf_free(&cur);
    rc = tx_end(sc, began, rc);
    if (rc == 0)
        *result = v;
    return rc;
}

static int sqlite_lock(kv_conn *c, double timeout) {
    sqlite_conn *sc = (sqlite_conn *)c;
    if (sc->locked)
        return KV_ELOCKED;
    /* The busy handler is SQLite's own wait-with-timeout: lend it the lock's timeout. */
    int ms = timeout < 0                 ? INT_MAX
             : timeout * 1000 >= INT_MAX ? INT_MAX
                                         : (int)ceil(timeout * 1000);
    sqlite3_busy_timeout(sc->db, ms);
    int src = sqlite3_step(sc->st[ST_BEGIN_IMMEDIATE]);
    sqlite3_reset(sc->st[ST_BEGIN_IMMEDIATE]);
    sqlite3_busy_timeout(sc->db, sc->busy_ms);
    if (src == SQLITE_DONE) {
        sc->locked = true;
        return 0;
    }
    if ((src & 0xff) == SQLITE_BUSY)
        return kv__error(c, timeout == 0 ? KV_EBUSY : KV_ETIMEDOUT,
                         "sqlite lock: another connection holds the write lock%s",
                         timeout == 0 ? "" : " for longer than the timeout");
    return fail(sc, src, "BEGIN IMMEDIATE");
}

static int sqlite_unlock(kv_conn *c) {
    sqlite_conn *sc = (sqlite_conn *)c;
    if (!sc->locked)
        return KV_ENOTLOCKED;
    sc->locked = false;
    return tx_end(sc, 1, 0);
}

static int sqlite_count(kv_conn *c, uint64_t *n) {
    sqlite_conn *sc = (sqlite_conn *)c;
    sqlite3_stmt *s = sc->st[ST_COUNT];
    int src = sqlite3_step(s);
    if (src == SQLITE_ROW)
        *n = (uint64_t)sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    return src == SQLITE_ROW ? 0 : fail(sc, src, "count");
}

static int sqlite_clear(kv_conn *c) {
    return exec((sqlite_conn *)c, ST_CLEAR);
}

/* One SELECT reads one snapshot in WAL mode, so the export is consistent without a BEGIN. */
static int sqlite_export(kv_conn *c, kv_entry_fn fn, void *ctx) {
    sqlite_conn *sc = (sqlite_conn *)c;
    sqlite3_stmt *s = sc->st[ST_EXPORT];
    int rc = 0, src;

    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        const void *k = sqlite3_column_blob(s, 0);
        size_t klen = (size_t)sqlite3_column_bytes(s, 0);
        const void *v = sqlite3_column_blob(s, 1);
        size_t vlen = (size_t)sqlite3_column_bytes(s, 1);
        rc = fn(ctx, k ? k : "", klen, v ? v : "", vlen);
        if (rc)
            break;
    }
    if (!rc && src != SQLITE_DONE)
        rc = fail(sc, src, "export");
    sqlite3_reset(s);
    return rc;
}

static int sqlite_get_many(kv_conn *c, const kv_key *keys, size_t n, kv_buf *vals, int *rcs) {
    sqlite_conn *sc = (sqlite_conn *)c;
    int rc = 0;
    int began = tx_begin(sc, false);
    if (began < 0)
        return began;
    for (size_t i = 0; i < n; i++) {
        rc = get_stmt(sc, keys[i].key, keys[i].klen, &vals[i]);
        if (rc < 0 && rc != KV_ENOTFOUND)
            break;
        rcs[i] = rc;
        rc = 0;
    }
    return tx_end(sc, began, rc);
}

static int sqlite_set_many(kv_conn *c, const kv_item *items, size_t n) {
    sqlite_conn *sc = (sqlite_conn *)c;
    int rc = 0;
    int began = tx_begin(sc, true);
    if (began < 0)
        return began;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = set_stmt(sc, items[i].key, items[i].klen, items[i].val ? items[i].val : "",
                      items[i].vlen);
    return tx_end(sc, began, rc);
}

/* Removes n keys in one transaction. */
static int sqlite_del_many(kv_conn *c, const kv_key *keys, size_t n) {
    sqlite_conn *sc = (sqlite_conn *)c;
    int rc = 0;
    int began = tx_begin(sc, true);
    if (began < 0)
        return began;
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = sqlite_del(c, keys[i].key, keys[i].klen);
        if (rc == KV_ENOTFOUND)
            rc = 0;
    }
    return tx_end(sc, began, rc);
}

static const char *sqlite_version(kv_conn *c) {
    (void)c;
    return sqlite3_libversion();
}

static int sqlite_close(kv_conn *c) {
    sqlite_conn *sc = (sqlite_conn *)c;
    if (sc->locked)
        exec(sc, ST_ROLLBACK);
    for (int i = 0; i < ST_MAX; i++)
        sqlite3_finalize(sc->st[i]);
    int src = sqlite3_close(sc->db);
    free(sc);
    return src == SQLITE_OK ? 0 : KV_EBACKEND;
}

static const kv_methods sqlite_methods = {
    .version = 4,
    .name = "sqlite",
    .close = sqlite_close,
    .backend_version = sqlite_version,
    .get = sqlite_get,
    .set = sqlite_set,
    .del = sqlite_del,
    .incr = sqlite_incr,
    .lock = sqlite_lock,
    .unlock = sqlite_unlock,
    .count = sqlite_count,
    .clear = sqlite_clear,
    .export_all = sqlite_export,
    .get_many = sqlite_get_many,
    .set_many = sqlite_set_many,
    .del_many = sqlite_del_many,
};

/* Runs one SQL text during set-up (pragmas, CREATE TABLE). */
/*
 * Runs one statement of the setup. Switching a new file to WAL answers SQLITE_BUSY at once, without
 * the busy handler, while another process sets the same file up (the ranks of an MPI run all open
 * it together): the setup retries, every 2 ms, for as long as the busy timeout allows.
 */
static int setup_exec(sqlite3 *db, const char *sql, int busy_ms, char *err, size_t errlen) {
    char *msg = NULL;
    struct timespec t0, now, pause = {0, 2000000};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int src = sqlite3_exec(db, sql, NULL, NULL, &msg);
    while ((src & 0xff) == SQLITE_BUSY) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000 >= busy_ms)
            break;
        sqlite3_free(msg);
        msg = NULL;
        nanosleep(&pause, NULL);
        src = sqlite3_exec(db, sql, NULL, NULL, &msg);
    }
    if (src == SQLITE_OK)
        return 0;
    int rc = (src & 0xff) == SQLITE_BUSY ? KV_ETIMEDOUT : KV_EBACKEND;
    kv__errbuf(err, errlen, rc, "sqlite %s: %s (%s)", sql, msg ? msg : sqlite3_errstr(src),
               sqlite3_db_filename(db, "main"));
    sqlite3_free(msg);
    return rc;
}

int kv__sqlite_open(kv__uri *u, kv_conn **out, char *err, size_t errlen) {
    static const char *const syncs[] = {"off", "normal", "full", NULL};
    static const char *const sync_sql[] = {"PRAGMA synchronous=OFF", "PRAGMA synchronous=NORMAL",
                                           "PRAGMA synchronous=FULL"};
    long busy_ms;
    int sync, rc, src;

    if (u->body[0] == '\0')
        return kv__errbuf(err, errlen, KV_EURI, "'%s': sqlite needs a path (sqlite:PATH)", u->text);
    if ((rc = kv__uri_int(u, "busy_timeout", 5000, 0, INT_MAX, &busy_ms, err, errlen)) < 0 ||
        (rc = kv__uri_choice(u, "sync", syncs, 1, &sync, err, errlen)) < 0 ||
        (rc = kv__uri_check_unused(u, err, errlen)) < 0)
        return rc;

    sqlite_conn *sc = calloc(1, sizeof(*sc));
    if (!sc)
        return -ENOMEM;
    sc->busy_ms = (int)busy_ms;
    src = sqlite3_open_v2(u->body, &sc->db,
                          SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (src != SQLITE_OK) {
        int e = sc->db ? sqlite3_system_errno(sc->db) : 0;
        rc = e > 0 ? -e : KV_EBACKEND;
        kv__errbuf(err, errlen, rc, "sqlite: cannot open '%s': %s", u->body,
                   sc->db ? sqlite3_errmsg(sc->db) : sqlite3_errstr(src));
        goto fail_db;
    }
    sqlite3_extended_result_codes(sc->db, 1);
    /* The busy timeout comes first: the pragmas and CREATE TABLE may meet other processes. */
    sqlite3_busy_timeout(sc->db, sc->busy_ms);
    bool memory = strcmp(u->body, ":memory:") == 0;
    if ((rc = setup_exec(sc->db, "PRAGMA journal_mode=WAL", sc->busy_ms, err, errlen)) < 0 ||
        (rc = setup_exec(sc->db, sync_sql[sync], sc->busy_ms, err, errlen)) < 0 ||
        (rc = setup_exec(sc->db, create_table, sc->busy_ms, err, errlen)) < 0)
        goto fail_db;
    for (int i = 0; i < ST_MAX; i++) {
        src = sqlite3_prepare_v3(sc->db, statements[i], -1, SQLITE_PREPARE_PERSISTENT, &sc->st[i],
                                 NULL);
        if (src != SQLITE_OK) {
            rc = kv__errbuf(err, errlen, KV_EBACKEND, "sqlite: cannot prepare '%s': %s",
                            statements[i], sqlite3_errmsg(sc->db));
            goto fail_stmts;
        }
    }
    sc->base.methods = &sqlite_methods;
    sc->base.caps = KV_CAP_ATOMIC_INCR | KV_CAP_LOCK | KV_CAP_ENUMERATE | KV_CAP_SNAPSHOT |
                    KV_CAP_BATCH | KV_CAP_COUNT;
    if (!memory)
        sc->base.caps |= KV_CAP_CROSS_PROCESS | KV_CAP_PERSISTENT;
    *out = &sc->base;
    return 0;

fail_stmts:
    for (int i = 0; i < ST_MAX; i++)
        sqlite3_finalize(sc->st[i]);
fail_db:
    sqlite3_close(sc->db);
    free(sc);
    return rc;
}

/* A file of this host; a default store sits in a fresh temporary folder each run. */
void kv__sqlite_describe(kv__uri *u, kv_desc *d) {
    (void)u;
    kv__desc_path_on_host(d);
}
