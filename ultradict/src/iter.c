/* iter.c - iteration over the local copy, in insertion order. */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

int ud_iter_open(ud_dict *d, ud_iter **out) {
    UD__CHECK_HANDLE(d);
    if (!out)
        return UD_EINVAL;
    int rc = ud__sync(d);
    if (rc)
        return rc;
    ud_iter *it = malloc(sizeof *it);
    if (!it)
        return -ENOMEM;
    it->d = d;
    it->next = 0;
    it->mutations = d->table.mutations;
    *out = it;
    return 0;
}

int ud_iter_next(ud_iter *it, ud_buf *key, ud_buf *val, int *type) {
    if (!it)
        return UD_EINVAL;
    ud_dict *d = it->d;
    if (d->table.mutations != it->mutations)
        return UD_ECHANGED;
    while (it->next < d->table.used && (d->table.entries[it->next].flags & UD__ENTRY_DELETED))
        it->next++;
    if (it->next >= d->table.used)
        return UD_ENOTFOUND;
    const ud__entry *e = &d->table.entries[it->next++];
    int rc = key ? ud__buf_set(key, e->kv, e->klen) : 0;
    if (!rc && val) {
        if (e->type == UD_TYPE_BYTES && d->codec) {
            val->len = 0;
            rc = d->codec->decode(d->codec->ctx, ud__entry_val(e), e->vlen, val) != 0
                     ? UD_ECODEC
                     : ud__buf_resize(val, val->len);
        } else {
            rc = ud__buf_set(val, ud__entry_val(e), e->vlen);
        }
    }
    if (!rc && type)
        *type = (int)e->type;
    return rc;
}

void ud_iter_close(ud_iter *it) {
    free(it);
}
