/*
 * sqlite_fixture.c - the sqlite adapter's test fixture (adapters/tests/kv_fixture.h): a test
 * store is a database file with its WAL, shared-memory and journal files beside it.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kv_fixture.h"

static void sqlite_remove(const char *uri) {
    const char *p = uri + strlen("sqlite:");
    int n = (int)strcspn(p, "?");
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        char path[1200];
        snprintf(path, sizeof path, "%.*s%s", n, p, suffixes[i]);
        unlink(path);
    }
}

const kvt_fixture kvt_fixture_sqlite = {
    .scheme = "sqlite",
    .remove = sqlite_remove,
};
