/*
 * redis_fixture.c - the redis adapter's test fixture (adapters/tests/kv_fixture.h): tests clear
 * the store they are given, so they use database 15 of the shared server, away from the
 * benchmarks' database 0.
 */
#include <string.h>

#include "kv_fixture.h"

#define TEST_DB "15"

static void redis_service_uri(const char *service, char *uri, size_t len) {
    /* redis://HOST:PORT takes the database as a path, redis+unix:PATH as a parameter. */
    const char *db = strcmp(service, "redis-unix") == 0 ? "?db=" TEST_DB : "/" TEST_DB;
    strncat(uri, db, len - strlen(uri) - 1);
}

static const char *const redis_services[] = {"redis", "redis-unix", NULL};

const kvt_fixture kvt_fixture_redis = {
    .services = redis_services,
    .server = "redis",
    .service_uri = redis_service_uri,
};
