/*
 * recurse.c - nested dicts. A nested dict is a dict of its own named "<parent>.c<hex>", and its
 * parent stores that name as a value of type UD_TYPE_DICT. The names are the register: every
 * segment of a dict's subtree starts with "<name>.", so unlinking a dict and everything under
 * that prefix removes the whole tree, even after a crash between creating a child and storing
 * it. Names read back from shared memory are validated before use and never leave the subtree.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "hash.h"
#include "internal.h"

/* A stored child name must be "<d->name>.c<hex>" with nothing else. */
static int check_child_name(ud_dict *d, const char *name, size_t nlen) {
    size_t n = strlen(d->name);
    if (nlen <= n + 2 || nlen > UD_FULL_NAME_MAX || memcmp(name, d->name, n) != 0 ||
        name[n] != '.' || name[n + 1] != 'c')
        return UD_ECORRUPT;
    for (size_t i = n + 2; i < nlen; i++) {
        char ch = name[i];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
            return UD_ECORRUPT;
    }
    return 0;
}

void ud__drop_child(ud_dict *d, const char *val, size_t vlen, uint32_t type) {
    if (type != UD_TYPE_DICT || check_child_name(d, val, vlen) != 0)
        return;
    char name[UD__SEG_NAME_MAX + 1];
    memcpy(name, val, vlen);
    name[vlen] = '\0';
    ud__unlink_tree(name);
}

int ud__open_child(ud_dict *d, const char *name, size_t nlen, int create, ud_dict **out) {
    int rc = check_child_name(d, name, nlen);
    if (rc)
        return rc;
    char full[UD__SEG_NAME_MAX + 1];
    memcpy(full, name, nlen);
    full[nlen] = '\0';
    ud_options o = UD_OPTIONS_INIT;
    o.create = create;
    o.buffer_size = create == UD_CREATE_ONLY ? d->ctl->buffer_size : 0;
    o.lock = d->lock_mode;
    o.auto_unlink = UD_AUTO_UNLINK_OFF;
    o.recurse = true;
    o.mode = d->mode;
    o.codec = d->codec;
    return ud__open_internal(&o, full, UD__FLAG_CHILD, out);
}

int ud__create_child(ud_dict *d, char *name, ud_dict **out) {
    return ud__create_child_named(d, name, false, out);
}

int ud__create_child_named(ud_dict *d, char *name, bool detached, ud_dict **out) {
    for (int tries = 0; tries < 8; tries++) {
        uint32_t r;
        if (getrandom(&r, sizeof r, 0) != sizeof r)
            r = (uint32_t)ud__hash(&r, sizeof r, ud__self_ident() + (uint64_t)tries);
        /* A child made outside the parent's lock (ud_child_create) has 16 hex digits, one made
         * and published under it 8: ud__reclaim_orphans() tells them apart by that. */
        int n = detached ? snprintf(name, UD__SEG_NAME_MAX + 1, "%s.c%08x%08x", d->name, r,
                                    (uint32_t)(ud__self_ident() >> 32))
                         : snprintf(name, UD__SEG_NAME_MAX + 1, "%s.c%08x", d->name, r);
        if (n < 0 || (size_t)n > UD_FULL_NAME_MAX)
            return UD_ENAMETOOLONG; /* checked before anything is created */
        int rc = ud__open_child(d, name, (size_t)n, UD_CREATE_ONLY, out);
        if (rc != UD_EEXIST)
            return rc;
    }
    return UD_EEXIST;
}

/* Copies into old the name of the nested dict stored under key now, or "" if there is none:
 * the child that a new value replaces, to drop once the new one is stored. */
static void old_child_name(ud_dict *d, const void *key, size_t klen,
                           char old[UD__SEG_NAME_MAX + 1]) {
    ud__entry *e = ud__table_find(&d->table, key, klen, ud__hash(key, klen, 0));
    old[0] = '\0';
    if (e && e->type == UD_TYPE_DICT && e->vlen <= UD__SEG_NAME_MAX) {
        memcpy(old, ud__entry_val(e), e->vlen);
        old[e->vlen] = '\0';
    }
}

int ud_set_dict(ud_dict *d, const void *key, size_t klen, ud_dict **child) {
    UD__CHECK_HANDLE(d);
    if (!d->recurse)
        return UD_ENOTRECURSIVE;
    if ((!key && klen) || klen > UD_KEY_MAX)
        return klen > UD_KEY_MAX ? UD_ETOOBIG : UD_EINVAL;
    int rc = ud__lock(d);
    if (rc)
        return rc;
    rc = ud__sync(d);
    ud_dict *c = NULL;
    char name[UD__SEG_NAME_MAX + 1];
    if (!rc)
        rc = ud__create_child(d, name, &c);
    char old[UD__SEG_NAME_MAX + 1] = "";
    if (!rc) {
        old_child_name(d, key, klen, old);
        rc = ud__write_item(d, UD__ITEM_SET, UD_TYPE_DICT, key, klen, name, strlen(name));
        if (rc) {
            ud_close(c);
            ud__unlink_tree(name);
            c = NULL;
        }
    }
    ud__unlock(d);
    if (rc)
        return rc;
    if (old[0])
        ud__drop_child(d, old, strlen(old), UD_TYPE_DICT);
    if (child)
        *child = c;
    else
        ud_close(c);
    return 0;
}

/* The entry at key, after synchronising, if it holds a nested dict. */
static int find_child(ud_dict *d, const void *key, size_t klen, ud__entry **out) {
    if (!key && klen)
        return UD_EINVAL;
    if (klen > UD_KEY_MAX)
        return UD_ETOOBIG;
    int rc = ud__sync(d);
    if (rc)
        return rc;
    ud__entry *e = ud__table_find(&d->table, key, klen, ud__hash(key, klen, 0));
    if (!e)
        return UD_ENOTFOUND;
    if (e->type != UD_TYPE_DICT)
        return UD_EWRONGTYPE;
    *out = e;
    return 0;
}

/* find_child() behind the checks of a public call whose output is `out`. */
static int public_find_child(ud_dict *d, const void *key, size_t klen, const void *out,
                             ud__entry **e) {
    UD__CHECK_HANDLE(d);
    if (!out)
        return UD_EINVAL;
    return find_child(d, key, klen, e);
}

int ud_get_dict(ud_dict *d, const void *key, size_t klen, ud_dict **child) {
    ud__entry *e;
    int rc = public_find_child(d, key, klen, child, &e);
    if (rc)
        return rc;
    return ud__open_child(d, ud__entry_val(e), e->vlen, UD_ATTACH_ONLY, child);
}

int ud_child_name(ud_dict *d, const void *key, size_t klen, ud_buf *name) {
    ud__entry *e;
    int rc = public_find_child(d, key, klen, name, &e);
    if (rc)
        return rc;
    rc = check_child_name(d, ud__entry_val(e), e->vlen);
    return rc ? rc : ud__buf_set(name, ud__entry_val(e), e->vlen);
}

int ud_open_child(ud_dict *d, const char *name, ud_dict **child) {
    UD__CHECK_HANDLE(d);
    if (!name || !child)
        return UD_EINVAL;
    return ud__open_child(d, name, strlen(name), UD_ATTACH_ONLY, child);
}

int ud_child_create(ud_dict *d, ud_dict **child) {
    UD__CHECK_HANDLE(d);
    if (!child)
        return UD_EINVAL;
    if (!d->recurse)
        return UD_ENOTRECURSIVE;
    char name[UD__SEG_NAME_MAX + 1];
    return ud__create_child_named(d, name, true, child);
}

int ud_set_child(ud_dict *d, const void *key, size_t klen, ud_dict *child) {
    UD__CHECK_HANDLE(d);
    if (!child)
        return UD_EINVAL;
    if (!d->recurse)
        return UD_ENOTRECURSIVE;
    if ((!key && klen) || klen > UD_KEY_MAX)
        return klen > UD_KEY_MAX ? UD_ETOOBIG : UD_EINVAL;
    size_t nlen = strlen(child->name);
    int rc = check_child_name(d, child->name, nlen);
    if (rc)
        return UD_EINVAL;
    rc = ud__lock(d);
    if (rc)
        return rc;
    rc = ud__sync(d);
    char old[UD__SEG_NAME_MAX + 1] = "";
    if (!rc) {
        old_child_name(d, key, klen, old);
        rc = ud__write_item(d, UD__ITEM_SET, UD_TYPE_DICT, key, klen, child->name, nlen);
    }
    ud__unlock(d);
    /* Storing a child under the key it already has must not unlink it. */
    if (!rc && old[0] && strcmp(old, child->name) != 0)
        ud__drop_child(d, old, strlen(old), UD_TYPE_DICT);
    return rc;
}

/* True if the table references the child `name` (a value of type dict). */
static bool referenced(const ud__table *t, const char *name, size_t n) {
    for (size_t i = 0; i < t->used; i++) {
        const ud__entry *e = &t->entries[i];
        if (!(e->flags & UD__ENTRY_DELETED) && e->type == UD_TYPE_DICT && e->vlen == n &&
            memcmp(ud__entry_val(e), name, n) == 0)
            return true;
    }
    return false;
}

int ud__reclaim_orphans(ud_dict *d) {
    /* A direct child in /dev/shm that the (synchronised) parent does not reference is debris
     * of a process killed between creating it and committing it, or between replacing it and
     * unlinking it - or a child that a live process is still filling (ud_child_create(), then
     * ud_set_child()), which must be left alone. Children made under the lock (8 hex digits)
     * are debris whenever unreferenced; detached ones (16 digits) only once their creator has
     * exited. */
    DIR *dir = opendir("/dev/shm");
    if (!dir)
        return -errno;
    size_t n = strlen(d->name);
    struct dirent *de;
    int reclaimed = 0;
    while ((de = readdir(dir)) != NULL) {
        const char *p = de->d_name;
        if (strncmp(p, d->name, n) != 0 || p[n] != '.' || p[n + 1] != 'c')
            continue;
        size_t q = n + 2;
        while ((p[q] >= '0' && p[q] <= '9') || (p[q] >= 'a' && p[q] <= 'f'))
            q++;
        if (q == n + 2 || p[q] != '\0' || q > UD__SEG_NAME_MAX)
            continue; /* not a direct child's control segment */
        if (referenced(&d->table, p, q))
            continue;
        char child[UD__SEG_NAME_MAX + 1];
        memcpy(child, p, q + 1);
        if (q - (n + 2) == 16 && ud__creator_alive_name(child))
            continue;
        /* Ours even without a magic: a creator killed before writing it held our lock. */
        if (ud__unlink_tree_unchecked(child) == 0)
            reclaimed++;
    }
    closedir(dir);
    return reclaimed;
}

int ud_reclaim(ud_dict *d) {
    UD__CHECK_HANDLE(d);
    if (!d->recurse)
        return 0;
    int rc = ud__lock(d);
    if (rc)
        return rc;
    rc = ud__sync(d);
    if (!rc)
        rc = ud__reclaim_orphans(d);
    ud__unlock(d);
    return rc;
}
