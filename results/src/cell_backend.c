/*
 * cell_backend.c - what a cell says about its backend: its part in the run and its identity.
 *
 * Newer documents carry both in "backend_desc", as the backend's adapter described itself.
 * Older documents do not: for them, and only here, the URI's scheme and shape stand in (the
 * rules the harness used before backends described themselves).
 */
#include <string.h>

#include "internal.h"

static const char *const role_names[] = {NULL, "store", "baseline", "floor"};

const char *rp_role_name(int role) {
    return role > RP_ROLE_UNKNOWN && role <= RP_ROLE_FLOOR ? role_names[role] : NULL;
}

int rp__role_parse(const char *name) {
    for (int r = RP_ROLE_STORE; name && r <= RP_ROLE_FLOOR; r++)
        if (strcmp(name, role_names[r]) == 0)
            return r;
    return RP_ROLE_UNKNOWN;
}

int rp_cell_role(const rp_cell *c) {
    if (!c)
        return RP_ROLE_UNKNOWN;
    if (c->backend_role != RP_ROLE_UNKNOWN)
        return c->backend_role;
    /* A document from before "backend_desc". */
    if (c->backend && strncmp(c->backend, "local:", 6) == 0)
        return RP_ROLE_BASELINE;
    if (c->backend && strncmp(c->backend, "null:", 5) == 0)
        return RP_ROLE_FLOOR;
    return RP_ROLE_STORE;
}

const char *rp_cell_identity(const rp_cell *c, char *buf, size_t len) {
    if (!buf || !len)
        return buf;
    buf[0] = '\0';
    if (c && c->backend_id)
        snprintf(buf, len, "%s", c->backend_id);
    else if (c)
        rp__uri_key(c->backend, buf, len); /* a document from before "backend_desc" */
    return buf;
}

bool rp__same_cell_backend(const rp_cell *a, const rp_cell *b) {
    if (a->backend && b->backend && strcmp(a->backend, b->backend) == 0)
        return true;
    char ka[1024], kb[1024];
    return strcmp(rp_cell_identity(a, ka, sizeof ka), rp_cell_identity(b, kb, sizeof kb)) == 0;
}
