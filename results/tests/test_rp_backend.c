/*
 * test_rp_backend.c - what a cell says about its backend ("backend_desc"): its role and identity
 * decide how reports and matching treat it, whatever its URI looks like; a document without the
 * fields is read and reported as before (the role and identity then come from the URI).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ut_cmocka.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rp.h"
#include "rp_compare.h"
#include "rp_testutil.h"

static void add_backend(rp_doc *d, const char *uri, const char *name) {
    rp_backend *b = rp_doc_add_backend(d);
    assert_non_null(b);
    rp_set_string(&b->uri, uri);
    rp_set_string(&b->name, name);
    b->reachable = true;
}

/* A cell of one read metric at `ops` ops/s; role RP_ROLE_UNKNOWN leaves "backend_desc" out. */
static rp_cell *add_cell(rp_doc *d, const char *uri, int role, const char *id, double ops) {
    add_backend(d, uri, "x");
    rp_cell *c = rp_doc_add_cell(d);
    assert_non_null(c);
    rp_set_string(&c->scenario, "read");
    rp_set_string(&c->backend, uri);
    rp_set_string(&c->backend_name, uri);
    rp_cell_add_param(c, "procs", "1");
    c->backend_role = role;
    if (id)
        rp_set_string(&c->backend_id, id);
    rp_metric *m = rp_cell_add_metric(c, "read");
    rp_rep r = {.ops = 1000, .seconds = 1000 / ops, .ops_per_sec = ops};
    rp_metric_add_rep(m, &r);
    rp_metric_summarise(m, 0.25);
    return c;
}

/* A document written before backends described themselves: roles and identities from URIs. */
static void test_old_document(void **state) {
    (void)state;
    char id[256];
    rp_doc *d = rpt_read_ok(RP_FIXTURES "/good.json");
    size_t seen = 0;
    for (size_t i = 0; i < d->ncells; i++) {
        const rp_cell *c = &d->cells[i];
        assert_int_equal(c->backend_role, RP_ROLE_UNKNOWN);
        assert_null(c->backend_id);
        int want = !strcmp(c->backend, "local:") ? RP_ROLE_BASELINE : RP_ROLE_STORE;
        assert_int_equal(rp_cell_role(c), want);
        if (!strcmp(c->backend, "redis://127.0.0.1:16379")) {
            assert_string_equal(rp_cell_identity(c, id, sizeof id), "redis://127.0.0.1:*");
            seen++;
        }
        if (!strcmp(c->backend, "sqlite:/tmp/udbench/bench.db"))
            assert_string_equal(rp_cell_identity(c, id, sizeof id), c->backend);
    }
    assert_true(seen > 0);
    rp_doc_free(d);
    rp_cell null_cell = {.backend = "null:"};
    assert_int_equal(rp_cell_role(&null_cell), RP_ROLE_FLOOR);
    assert_int_equal(rp_cell_role(NULL), RP_ROLE_UNKNOWN);
}

/* The fields decide: a baseline and a floor under any URI, "local:" as a plain store. */
static void test_fields_decide(void **state) {
    (void)state;
    rp_doc *d = rpt_dated_doc();
    add_cell(d, "mem:base", RP_ROLE_BASELINE, "mem:base", 100);
    add_cell(d, "local:", RP_ROLE_STORE, "local:", 400);
    add_cell(d, "void:", RP_ROLE_FLOOR, "void:", 1000);
    rpt_check_ok(d);
    char *t = rpt_report(d, RP_FORMAT_TEXT);
    /* The floor is not ranked; "x local" is against the baseline, not against "local:". */
    assert_null(strstr(t, "void:"));
    const char *store = strstr(t, "\n  local: ");
    assert_non_null(store);
    assert_non_null(strstr(store, "x local: 0.25"));
    free(t);
    rp_doc_free(d);
}

/* Written and read back: the fields survive; a bad role is refused with its path. */
static void test_round_trip(void **state) {
    (void)state;
    rp_doc *d = rpt_dated_doc();
    rp_cell *c = add_cell(d, "cloudflare-kv://127.0.0.1:8787", RP_ROLE_STORE,
                          "cloudflare-kv://127.0.0.1:*", 50);
    c->stand_in = true;
    add_cell(d, "sqlite:/data/x.db", RP_ROLE_UNKNOWN, NULL, 60);
    const char *path = RP_SCRATCH "/backend_desc.json";
    assert_int_equal(rp_doc_write(d, path), 0);
    rp_doc_free(d);
    char err[512];
    d = rpt_read_ok(path);
    assert_int_equal(d->cells[0].backend_role, RP_ROLE_STORE);
    assert_string_equal(d->cells[0].backend_id, "cloudflare-kv://127.0.0.1:*");
    assert_true(d->cells[0].stand_in);
    assert_int_equal(d->cells[1].backend_role, RP_ROLE_UNKNOWN); /* written without the field */
    rp_doc_free(d);

    /* The role must be one of the three names. */
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *text = calloc(1, 1 << 20);
    assert_non_null(text);
    size_t n = fread(text, 1, (1 << 20) - 1, f);
    fclose(f);
    char *role = strstr(text, "\"store\"");
    assert_true(n > 0 && role != NULL);
    memcpy(role, "\"shop\" ", 7);
    f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    free(text);
    assert_int_equal(rp_doc_read(path, &d, err, sizeof err), RP_ESCHEMA);
    assert_non_null(strstr(err, "backend_desc"));
    assert_non_null(strstr(err, "shop"));
}

/* Two runs match by identity: another port or host, the same backend by its adapter's word. */
static void test_match_by_identity(void **state) {
    (void)state;
    rp_doc *base = rpt_dated_doc(), *head = rpt_dated_doc();
    add_cell(base, "redis://10.0.0.1:6379", RP_ROLE_STORE, "redis://db:*", 100);
    rp_cell *like = add_cell(head, "redis://10.0.0.2:7000", RP_ROLE_STORE, "redis://db:*", 100);
    rp_match_index *x = NULL;
    assert_int_equal(rp_match_index_new(base, &x), 0);
    assert_non_null(rp_match_find(x, like, "read", NULL));
    /* Another identity is another backend, although only a port differs. */
    free(like->backend_id);
    like->backend_id = strdup("redis://other:*");
    assert_null(rp_match_find(x, like, "read", NULL));
    /* Without the field (an older head), the URI without its port decides, as before. */
    free(like->backend_id);
    like->backend_id = NULL;
    like->backend_role = RP_ROLE_UNKNOWN;
    free(like->backend);
    like->backend = strdup("redis://10.0.0.1:7000");
    free(base->cells[0].backend_id);
    base->cells[0].backend_id = NULL;
    assert_non_null(rp_match_find(x, like, "read", NULL));
    rp_match_index_free(x);
    rp_doc_free(base);
    rp_doc_free(head);
}

UT_CMOCKA_MAIN(NULL, NULL, cmocka_unit_test(test_old_document),
               cmocka_unit_test(test_fields_decide), cmocka_unit_test(test_round_trip),
               cmocka_unit_test(test_match_by_identity))
