/*
 * item.c - the item codec: one key and value with its kind and type, as records, dumps and
 * portable snapshots all store them (ud__item_hdr in layout.h), and a whole local table as the
 * items of a dump. A leaf: it calls only the table and the hash.
 */
#include <endian.h>
#include <string.h>

#include "hash.h"
#include "internal.h"

size_t ud__item_encode(char *dst, int kind, int type, const void *key, size_t klen, const void *val,
                       size_t vlen) {
    ud__item_hdr h = {htole32((uint32_t)klen), (uint8_t)kind, (uint8_t)type, 0, htole64(vlen)};
    memcpy(dst, &h, sizeof h);
    if (klen)
        memcpy(dst + sizeof h, key, klen);
    if (vlen)
        memcpy(dst + sizeof h + klen, val, vlen);
    return sizeof h + klen + vlen;
}

int ud__item_decode(const char *p, size_t avail, ud__item_hdr *h, const char **key,
                    const char **val) {
    if (avail < sizeof *h)
        return UD_ECORRUPT;
    memcpy(h, p, sizeof *h);
    h->klen = le32toh(h->klen);
    h->vlen = le64toh(h->vlen);
    if (h->klen > UD_KEY_MAX || (h->kind != UD__ITEM_SET && h->kind != UD__ITEM_DEL) ||
        (h->type != UD_TYPE_BYTES && h->type != UD_TYPE_DICT))
        return UD_ECORRUPT;
    size_t rest = avail - sizeof *h;
    if (h->klen > rest || h->vlen > rest - h->klen)
        return UD_ECORRUPT;
    *key = p + sizeof *h;
    *val = *key + h->klen;
    return 0;
}

void ud__table_encode(const ud__table *t, char *dst) {
    for (size_t i = 0; i < t->used; i++) {
        const ud__entry *e = &t->entries[i];
        /* Entries' bytes are scattered over the heap: fetch a few ahead of the copy. */
        if (i + 8 < t->used)
            __builtin_prefetch(t->entries[i + 8].kv);
        if (!(e->flags & UD__ENTRY_DELETED))
            dst += ud__item_encode(dst, UD__ITEM_SET, (int)e->type, e->kv, e->klen,
                                   ud__entry_val(e), e->vlen);
    }
}

/* Items are decoded a few steps ahead of their insertion so the index slot can be prefetched. */
#define DECODE_AHEAD 8

int ud__table_decode(ud__table *out, size_t len, uint64_t count) {
    int rc;
    /* Each item takes at least its header, which bounds a hostile count. */
    if (count > len / sizeof(ud__item_hdr))
        goto corrupt;
    rc = ud__table_reserve(out, (size_t)count);
    if (rc)
        goto fail;
    struct pending {
        char *k;
        size_t klen, vlen;
        uint64_t hash;
        uint32_t type;
    } ring[DECODE_AHEAD];
    char *p = out->arena, *end = out->arena + len;
    for (uint64_t i = 0; i < count + DECODE_AHEAD; i++) {
        if (i >= DECODE_AHEAD) {
            const struct pending *r = &ring[i % DECODE_AHEAD];
            rc = ud__table_put_borrowed(out, r->k, r->klen, r->vlen, r->hash, r->type);
            if (rc)
                goto fail;
        }
        if (i < count) {
            ud__item_hdr h;
            const char *k, *v;
            rc = ud__item_decode(p, (size_t)(end - p), &h, &k, &v);
            if (rc || h.kind != UD__ITEM_SET)
                goto corrupt;
            uint64_t hash = ud__hash(k, h.klen, 0);
            ud__table_prefetch(out, hash);
            ring[i % DECODE_AHEAD].k = (char *)k;
            ring[i % DECODE_AHEAD].klen = h.klen;
            ring[i % DECODE_AHEAD].vlen = h.vlen;
            ring[i % DECODE_AHEAD].hash = hash;
            ring[i % DECODE_AHEAD].type = h.type;
            p = (char *)v + h.vlen;
        }
    }
    if (p != end)
        goto corrupt;
    return 0;
corrupt:
    rc = UD_ECORRUPT;
fail:
    ud__table_recycle(out);
    return rc;
}
