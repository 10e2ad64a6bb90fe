/*
 * item.c - the item codec: one key and value with its kind and type, as records, dumps and
 * portable snapshots all store them (ud__item_hdr in layout.h), a whole local table as the
 * items of a dump, and the checksum of records and dumps (ud__check). A leaf: it calls only the
 * table and the hash.
 */
#include <endian.h>
#include <string.h>

#include "hash.h"
#include "internal.h"

/* Writes an item's header and key; returns their size (where the value goes). */
static size_t encode_head(char *dst, int kind, int type, const void *key, size_t klen,
                          size_t vlen) {
    ud__item_hdr h = {htole32((uint32_t)klen), (uint8_t)kind, (uint8_t)type, 0, htole64(vlen)};
    memcpy(dst, &h, sizeof h);
    if (klen)
        memcpy(dst + sizeof h, key, klen);
    return sizeof h + klen;
}

size_t ud__item_encode(char *dst, int kind, int type, const void *key, size_t klen, const void *val,
                       size_t vlen) {
    size_t at = encode_head(dst, kind, type, key, klen, vlen);
    if (vlen)
        memcpy(dst + at, val, vlen);
    return at + vlen;
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

/*
 * The checksum of records and dumps (ud__check). Short inputs take ud__hash() whole. Longer ones
 * are summed in 64-byte blocks - eight little-endian words added into eight lanes (a), and the
 * lanes' running totals added into eight more (b), Fletcher's two sums - which runs at the speed
 * of the loads (a multiply-and-fold hash of 64 KiB cost more than copying it twice); the few
 * bytes past the last block, the sixteen sums and the length then go through ud__hash() with the
 * seed. The b sums weigh each word by its distance from the end, so a torn or shifted body, or
 * one of another position (the seed), does not validate. The vector type is only a way to
 * write the eight lanes: every build computes the same sums, with AVX2 where the processor has
 * it.
 */
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "ud__check reads the body as little-endian words"
#endif

typedef uint64_t check_lanes __attribute__((vector_size(32)));

typedef struct check_state {
    check_lanes a0, a1, b0, b1;
} check_state;

#define CHECK_BLOCK 64
/* Bytes copied before the copy's blocks are summed, while they are still in the L1 cache. */
#define COPY_CHUNK 4096

#define SUM_BLOCKS_BODY                                                                            \
    check_lanes a0 = s->a0, a1 = s->a1, b0 = s->b0, b1 = s->b1;                                    \
    for (size_t i = 0; i + CHECK_BLOCK <= n; i += CHECK_BLOCK) {                                   \
        check_lanes w0, w1;                                                                        \
        memcpy(&w0, p + i, sizeof w0);                                                             \
        memcpy(&w1, p + i + sizeof w0, sizeof w1);                                                 \
        a0 += w0;                                                                                  \
        a1 += w1;                                                                                  \
        b0 += a0;                                                                                  \
        b1 += a1;                                                                                  \
    }                                                                                              \
    s->a0 = a0;                                                                                    \
    s->a1 = a1;                                                                                    \
    s->b0 = b0;                                                                                    \
    s->b1 = b1

static void sum_blocks_base(check_state *s, const char *p, size_t n) {
    SUM_BLOCKS_BODY;
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2"))) static void sum_blocks_avx2(check_state *s, const char *p,
                                                            size_t n) {
    SUM_BLOCKS_BODY;
}

/* Sums the whole blocks of p[0..n) (n a multiple of CHECK_BLOCK). */
static void sum_blocks(check_state *s, const char *p, size_t n) {
    if (__builtin_cpu_supports("avx2"))
        sum_blocks_avx2(s, p, n);
    else
        sum_blocks_base(s, p, n);
}
#else
#define sum_blocks sum_blocks_base
#endif

static uint64_t check_end(check_state *s, const char *tail, size_t tail_len, size_t len,
                          uint64_t seed) {
    uint64_t fold[18];
    memcpy(fold, &s->a0, 32);
    memcpy(fold + 4, &s->a1, 32);
    memcpy(fold + 8, &s->b0, 32);
    memcpy(fold + 12, &s->b1, 32);
    fold[16] = ud__hash(tail, tail_len, 0);
    fold[17] = (uint64_t)len;
    return ud__hash(fold, sizeof fold, seed);
}

uint64_t ud__check(const void *p, size_t len, uint64_t seed) {
    if (len < UD__CHECK_SUMMED)
        return ud__hash(p, len, seed);
    check_state s;
    memset(&s, 0, sizeof s);
    size_t whole = len & ~(size_t)(CHECK_BLOCK - 1);
    sum_blocks(&s, p, whole);
    return check_end(&s, (const char *)p + whole, len - whole, len, seed);
}

/* Copies src to dst + at (dst[0..at) already written) in chunks, summing the whole blocks of
 * dst that each chunk completes while they are still in the cache; returns where the summed
 * blocks end. */
static size_t copy_summing(check_state *s, char *dst, size_t at, const char *src, size_t n) {
    size_t done = 0;
    for (size_t off = 0; off <= n; off += COPY_CHUNK) {
        size_t c = n - off < COPY_CHUNK ? n - off : COPY_CHUNK;
        if (c)
            memcpy(dst + at + off, src + off, c);
        size_t upto = (at + off + c) & ~(size_t)(CHECK_BLOCK - 1);
        if (upto > done) {
            sum_blocks(s, dst + done, upto - done);
            done = upto;
        }
        if (c < COPY_CHUNK)
            break;
    }
    return done;
}

uint64_t ud__copy_check(void *dst, const void *src, size_t len, uint64_t seed) {
    if (len < UD__CHECK_SUMMED) {
        memcpy(dst, src, len);
        return ud__hash(dst, len, seed);
    }
    check_state s;
    memset(&s, 0, sizeof s);
    size_t done = copy_summing(&s, dst, 0, src, len);
    return check_end(&s, (char *)dst + done, len - done, len, seed);
}

uint64_t ud__item_encode_check(char *dst, int kind, int type, const void *key, size_t klen,
                               const void *val, size_t vlen, uint64_t seed) {
    size_t len = sizeof(ud__item_hdr) + klen + vlen;
    if (len < UD__CHECK_SUMMED) {
        ud__item_encode(dst, kind, type, key, klen, val, vlen);
        return ud__hash(dst, len, seed);
    }
    size_t at = encode_head(dst, kind, type, key, klen, vlen);
    check_state s;
    memset(&s, 0, sizeof s);
    size_t done = copy_summing(&s, dst, at, val, vlen);
    return check_end(&s, dst + done, len - done, len, seed);
}
