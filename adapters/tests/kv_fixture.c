/*
 * kv_fixture.c - the list of the backends' test fixtures and the lookups over it.
 */
#include "kv_fixture.h"

#include <string.h>

#include "testutil.h"

/* Every fixture; a backend without one needs nothing beyond its URI. */
static const kvt_fixture *const fixtures[] = {&kvt_fixture_redis, &kvt_fixture_sqlite,
                                              &kvt_fixture_lmdb};

#define NFIXTURES (sizeof fixtures / sizeof fixtures[0])

/* The fixture serving "service:NAME", or NULL. */
static const kvt_fixture *by_service(const char *name) {
    for (size_t i = 0; i < NFIXTURES; i++)
        for (const char *const *s = fixtures[i]->services; s && *s; s++)
            if (strcmp(*s, name) == 0)
                return fixtures[i];
    return NULL;
}

/* The fixture of uri's scheme, or NULL. */
static const kvt_fixture *by_scheme(const char *uri) {
    size_t n = strcspn(uri, ":");
    for (size_t i = 0; uri[n] == ':' && i < NFIXTURES; i++)
        if (fixtures[i]->scheme && strlen(fixtures[i]->scheme) == n &&
            strncmp(fixtures[i]->scheme, uri, n) == 0)
            return fixtures[i];
    return NULL;
}

static const char *service_of(const char *arg) {
    return strncmp(arg, "service:", 8) == 0 ? arg + 8 : NULL;
}

bool kvt_test_uri(const char *arg, char *out, size_t len) {
    bool from_services;
    if (!ut_resolve_uri(arg, out, len, &from_services))
        return false;
    const char *name = service_of(arg);
    const kvt_fixture *f = name ? by_service(name) : NULL;
    /* A URI from the environment is used as given. */
    if (from_services && f && f->service_uri)
        f->service_uri(name, out, len);
    return true;
}

const char *kvt_server(const char *arg) {
    const char *name = service_of(arg);
    const kvt_fixture *f = name ? by_service(name) : NULL;
    return f && f->server ? f->server : name;
}

void kvt_remove_store(const char *uri) {
    const kvt_fixture *f = by_scheme(uri);
    if (f && f->remove)
        f->remove(uri);
}
