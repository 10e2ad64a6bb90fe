/*
 * test_cf_batch.c - the batching loops of cf_batch.c, without a server: when cf_bulk_write()
 * sends a body (entry count, byte bound, runs taken by one addition, errors) and how
 * cf_get_chunks() cuts a batch of keys.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ut_cmocka.h"

#include "cf_internal.h"

/* What the fake store saw: the bodies it sent, and a failure to inject. */
static struct {
    char sent[8][256];
    size_t nsent;
    size_t adds;
    size_t run;       /* items one addition takes (1: one each) */
    size_t fail_send; /* fail the send with this 1-based number (0: never) */
    size_t bad_item;  /* check refuses the item whose value starts with this byte (0: none) */
} fake;

static void reset(void) {
    memset(&fake, 0, sizeof fake);
    fake.run = 1;
}

static int fake_check(cf_conn *c, const kv_item *it) {
    (void)c;
    return fake.bad_item && it->vlen && *(const char *)it->val == (char)fake.bad_item ? KV_ETOOBIG
                                                                                      : 0;
}

/* Appends "[" before the first addition of a body, "," before the others, then the keys. */
static int fake_add(cf_conn *c, const kv_item *items, size_t avail, size_t in_body, size_t *used) {
    fake.adds++;
    *used = fake.run < avail ? fake.run : avail;
    int rc = cf_lit(&c->body, in_body ? "," : "[");
    for (size_t i = 0; rc == 0 && i < *used; i++)
        rc = kv__buf_append(&c->body, items[i].key, items[i].klen);
    return rc;
}

static int fake_send(cf_conn *c) {
    if (++fake.nsent == fake.fail_send)
        return KV_ESERVER;
    assert_true(fake.nsent <= 8);
    snprintf(fake.sent[fake.nsent - 1], sizeof fake.sent[0], "%.*s]", (int)c->body.len,
             (const char *)c->body.data);
    return 0;
}

static size_t fake_cost(const kv_item *it) {
    return it->vlen;
}

/* Items keyed "a", "b", ... with values of `vlen` bytes of 'v'. */
static kv_item items[8];
static char keys[8][2], vals[8][64];
static const kv_item *make_items(size_t n, size_t vlen) {
    for (size_t i = 0; i < n; i++) {
        keys[i][0] = (char)('a' + i);
        memset(vals[i], 'v', vlen);
        items[i] = (kv_item){keys[i], 1, vals[i], vlen};
    }
    return items;
}

/* The connection a bulk test writes through (BULK_TEST): zeroed, with the fake reset, before
 * the test; its body freed after. */
static cf_conn bulk_conn;

static int bulk_setup(void **state) {
    memset(&bulk_conn, 0, sizeof bulk_conn);
    reset();
    *state = &bulk_conn;
    return 0;
}

static int bulk_teardown(void **state) {
    cf_conn *c = *state;
    kv_buf_free(&c->body);
    return 0;
}

#define BULK_TEST(fn) cmocka_unit_test_setup_teardown(fn, bulk_setup, bulk_teardown)

static void test_entry_bound(void **state) {
    cf_conn *c = *state;
    const cf_bulk b = {.max_entries = 3, .body_max = SIZE_MAX, .add = fake_add, .send = fake_send};
    reset();
    assert_int_equal(cf_bulk_write(c, make_items(7, 1), 7, &b), 0);
    assert_int_equal(fake.nsent, 3);
    assert_string_equal(fake.sent[0], "[a,b,c]");
    assert_string_equal(fake.sent[1], "[d,e,f]");
    assert_string_equal(fake.sent[2], "[g]");
}

static void test_byte_bound(void **state) {
    cf_conn *c = *state;
    /* "[a" is 2 bytes: with a cost of 10 per item, a body of 2 + 10 > 11 must go first. */
    const cf_bulk b = {.max_entries = SIZE_MAX,
                       .body_max = 11,
                       .cost = fake_cost,
                       .add = fake_add,
                       .send = fake_send};
    reset();
    assert_int_equal(cf_bulk_write(c, make_items(3, 10), 3, &b), 0);
    assert_int_equal(fake.nsent, 3);
    assert_string_equal(fake.sent[0], "[a]");
    assert_string_equal(fake.sent[2], "[c]");
    /* An entry larger than the bound still goes, alone. */
    reset();
    assert_int_equal(cf_bulk_write(c, make_items(1, 40), 1, &b), 0);
    assert_int_equal(fake.nsent, 1);
}

static void test_runs(void **state) {
    cf_conn *c = *state;
    const cf_bulk b = {.max_entries = 2, .body_max = SIZE_MAX, .add = fake_add, .send = fake_send};
    reset();
    fake.run = 2; /* each addition takes two items: the bound counts additions */
    assert_int_equal(cf_bulk_write(c, make_items(5, 1), 5, &b), 0);
    assert_int_equal(fake.adds, 3);
    assert_int_equal(fake.nsent, 2);
    assert_string_equal(fake.sent[0], "[ab,cd]");
    assert_string_equal(fake.sent[1], "[e]");
}

static void test_errors(void **state) {
    cf_conn *c = *state;
    cf_bulk b = {.max_entries = 2,
                 .body_max = SIZE_MAX,
                 .check = fake_check,
                 .add = fake_add,
                 .send = fake_send};
    /* A refused item stops the write before anything pending is sent. */
    reset();
    make_items(3, 1);
    vals[1][0] = 'x';
    fake.bad_item = 'x';
    assert_int_equal(cf_bulk_write(c, items, 3, &b), KV_ETOOBIG);
    assert_int_equal(fake.nsent, 0);
    /* A failed send is returned, and nothing after it is sent. */
    reset();
    fake.fail_send = 1;
    assert_int_equal(cf_bulk_write(c, make_items(5, 1), 5, &b), KV_ESERVER);
    assert_int_equal(fake.nsent, 1);
    /* Nothing to write: no request at all. */
    reset();
    assert_int_equal(cf_bulk_write(c, items, 0, &b), 0);
    assert_int_equal(fake.nsent, 0);
}

static size_t chunk_starts[8], chunk_sizes[8], nchunks;
static const kv_key *chunk_base;
static int fake_get(cf_conn *c, const kv_key *k, size_t n, kv_buf *vals_, int *rcs) {
    (void)c;
    (void)vals_;
    (void)rcs;
    chunk_starts[nchunks] = (size_t)(k - chunk_base);
    chunk_sizes[nchunks++] = n;
    return nchunks == 3 && n == 7 ? KV_ECONN : 0;
}

static void test_get_chunks(void **state) {
    (void)state;
    static kv_key k[2500];
    static kv_buf v[2500];
    static int rcs[2500];
    chunk_base = k;
    nchunks = 0;
    assert_int_equal(cf_get_chunks(NULL, k, 2500, v, rcs, 1000, fake_get), 0);
    assert_int_equal(nchunks, 3);
    assert_int_equal(chunk_starts[2], 2000);
    assert_int_equal(chunk_sizes[2], 500);
    /* The first failing chunk ends the batch with its error. */
    nchunks = 0;
    assert_int_equal(cf_get_chunks(NULL, k, 27, v, rcs, 10, fake_get), KV_ECONN);
    assert_int_equal(nchunks, 3);
    nchunks = 0;
    assert_int_equal(cf_get_chunks(NULL, k, 0, v, rcs, 10, fake_get), 0);
    assert_int_equal(nchunks, 0);
}

UT_CMOCKA_MAIN(NULL, NULL, BULK_TEST(test_entry_bound), BULK_TEST(test_byte_bound),
               BULK_TEST(test_runs), BULK_TEST(test_errors), cmocka_unit_test(test_get_chunks))
