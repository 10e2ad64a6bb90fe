/*
 * lmdb_fixture.c - the lmdb adapter's test fixture (adapters/tests/kv_fixture.h): a test store
 * is a folder holding LMDB's data and lock files and the adapter's own lock file.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kv_fixture.h"

static void lmdb_remove(const char *uri) {
    const char *p = uri + strlen("lmdb:");
    int n = (int)strcspn(p, "?");
    static const char *const files[] = {"data.mdb", "lock.mdb", "kv.lock"};
    char path[1200];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%.*s/%s", n, p, files[i]);
        unlink(path);
    }
    snprintf(path, sizeof path, "%.*s", n, p);
    rmdir(path);
}

const kvt_fixture kvt_fixture_lmdb = {
    .scheme = "lmdb",
    .remove = lmdb_remove,
};
