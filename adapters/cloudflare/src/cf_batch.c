/*
 * cf_batch.c - the batching and paging loops the Cloudflare stores share: reads in chunks of
 * keys, writes in bulk requests bounded by entries and bytes, and listings that come in pages.
 * Each store says what one request holds; the loops here say when one is sent.
 */
#include "cf_internal.h"

int cf_get_chunks(cf_conn *c, const kv_key *keys, size_t n, kv_buf *vals, int *rcs, size_t step,
                  cf_get_fn get) {
    for (size_t i = 0; i < n; i += step) {
        int rc = get(c, keys + i, n - i < step ? n - i : step, vals + i, rcs + i);
        if (rc < 0)
            return rc;
    }
    return 0;
}

size_t cf_b64_cost(const kv_item *it) {
    return it->vlen / 3 * 4;
}

/* Whether the body must go before items[i] is added to it. */
static bool body_full(const cf_conn *c, const cf_bulk *b, size_t in_body, const kv_item *it) {
    size_t cost = b->cost ? b->cost(it) : 0;
    return in_body && (in_body == b->max_entries || c->body.len + cost > b->body_max);
}

int cf_bulk_write(cf_conn *c, const kv_item *items, size_t n, const cf_bulk *b) {
    size_t in_body = 0;
    int rc = 0;
    c->body.len = 0;
    for (size_t i = 0; rc == 0 && i < n;) {
        if (b->check && (rc = b->check(c, &items[i])) < 0)
            break;
        if (body_full(c, b, in_body, &items[i])) {
            if ((rc = b->send(c)) < 0)
                break;
            c->body.len = 0;
            in_body = 0;
        }
        size_t used = 1;
        rc = b->add(c, items + i, n - i, in_body, &used);
        in_body++;
        i += used;
    }
    if (rc == 0 && in_body)
        rc = b->send(c);
    c->body.len = 0;
    return rc;
}

int cf_export_pages(cf_conn *c, cf_pager *p, int (*page)(cf_conn *c, cf_pager *p)) {
    int rc;
    do
        rc = page(c, p);
    while (rc == 0 && p->n > 0);
    kv_buf_free(&p->after);
    kv_buf_free(&p->k);
    kv_buf_free(&p->v);
    return rc;
}
