/*
 * test_nesting.c - nested dicts (recurse): storing, reading, replacing and clearing them, their
 * errors and their life after the parent closes; and under long names, the depth a name allows,
 * the error past it (UD_ENAMETOOLONG, which names the limit), and nothing created or changed
 * when it is refused.
 */
#include <stdio.h>
#include <string.h>

#include "testutil.h"

/* A fresh 200-character name (UD_NAME_MAX) under this process's prefix. */
static char *long_name(char *buf) {
    char base[64];
    ut_name(base);
    size_t n = strlen(base);
    memcpy(buf, base, n);
    memset(buf + n, 'x', UD_NAME_MAX - n);
    buf[UD_NAME_MAX] = '\0';
    ut_track(buf);
    return buf;
}

static void test_limit_is_named(void **state) {
    (void)state;
    assert_non_null(strstr(ud_strerror(UD_ENAMETOOLONG), "UD_FULL_NAME_MAX (242"));
    assert_string_equal(ud_errname(UD_ENAMETOOLONG), "UD_ENAMETOOLONG");
}

/* ud_set_dict adds ".c" and 8 hex digits per level: four levels fit under 200 characters. */
static void test_set_dict_depth(void **state) {
    (void)state;
    char name[UD_NAME_MAX + 1];
    ud_dict *root = ut_open_recursive(long_name(name), UD_CREATE_ONLY);
    ud_dict *level[5] = {root};
    int depth = 0;
    for (; depth < 4; depth++)
        assert_ok(ud_set_dict(level[depth], S("k"), &level[depth + 1]));
    assert_int_equal(strlen(ud_name(level[4])), UD_NAME_MAX + 4 * 10);
    int segments = ut_count_segments(name);
    ud_dict *none = NULL;
    assert_rc(ud_set_dict(level[4], S("k"), &none), UD_ENAMETOOLONG);
    assert_null(none);
    assert_int_equal(ut_count_segments(name), segments); /* nothing created */
    assert_int_equal(ud_len(level[4]), 0);               /* nothing stored */
    assert_int_equal(ut_unexpected_segments(name), 0);
    for (int i = 4; i >= 0; i--)
        assert_ok(ud_close(level[i]));
}

/* ud_child_create adds ".c" and 16 hex digits: two levels fit, the third is refused. */
static void test_child_create_depth(void **state) {
    (void)state;
    char name[UD_NAME_MAX + 1];
    ud_dict *root = ut_open_recursive(long_name(name), UD_CREATE_ONLY);
    ud_dict *a = NULL, *b = NULL, *c = NULL;
    assert_ok(ud_child_create(root, &a));
    assert_ok(ud_child_create(a, &b));
    assert_int_equal(strlen(ud_name(b)), UD_NAME_MAX + 2 * 18);
    int segments = ut_count_segments(name);
    assert_rc(ud_child_create(b, &c), UD_ENAMETOOLONG);
    assert_null(c);
    assert_int_equal(ut_count_segments(name), segments);
    /* The levels made so far are unpublished: unlinking the first removes them all. */
    assert_ok(ud_unlink(a));
    assert_ok(ud_close(b));
    assert_ok(ud_close(a));
    char root_only[UD_NAME_MAX + 8];
    snprintf(root_only, sizeof root_only, "%s.c", name);
    assert_int_equal(ut_count_shm_prefix(root_only), 0);
    assert_ok(ud_close(root));
}

/* ---- Nested dicts. ---- */

static void test_recurse(const char *name) {
    ud_dict *root = ut_open_recursive(name, UD_CREATE_ONLY);
    ud_dict *other = ut_open_recursive(name, UD_ATTACH_ONLY);
    ud_dict *child = NULL, *child2 = NULL;
    ud_buf v = UD_BUF_INIT;
    int64_t r;

    ud_status_info st;
    assert_ok(ud_status(other, &st));
    assert_true(st.recurse);

    assert_ok(ud_set(root, S("plain"), S("bytes")));
    assert_ok(ud_set_dict(root, S("nested"), &child));
    assert_non_null(child);
    char cname[UD_NAME_MAX + 32];
    snprintf(cname, sizeof cname, "%s", ud_name(child));
    char want_prefix[80];
    snprintf(want_prefix, sizeof want_prefix, "%s.c", name);
    if (strncmp(cname, want_prefix, strlen(want_prefix)) != 0)
        fail_msg("the child is called %s, expected %s<hex>", cname, want_prefix);

    assert_rc(ud_type(root, S("nested")), UD_TYPE_DICT);
    assert_rc(ud_type(root, S("plain")), UD_TYPE_BYTES);
    assert_rc(ud_type(root, S("none")), UD_ENOTFOUND);
    assert_rc(ud_get(root, S("nested"), &v), UD_EWRONGTYPE);
    assert_rc(ud_get_dict(root, S("plain"), &child2), UD_EWRONGTYPE);
    assert_null(child2);
    assert_rc(ud_get_dict(root, S("none"), &child2), UD_ENOTFOUND);
    assert_rc(ud_incr(root, S("nested"), 1, NULL), UD_EWRONGTYPE);
    assert_rc(ud_type(root, S("nested")), UD_TYPE_DICT);

    /* Nested updates are visible through another handle (and another path to the child). */
    assert_ok(ud_set(child, S("counter"), S("0")));
    assert_rc(ud_type(other, S("nested")), UD_TYPE_DICT);
    assert_ok(ud_get_dict(other, S("nested"), &child2));
    assert_string_equal(ud_name(child2), cname);
    assert_ok(ud_get(child2, S("counter"), &v));
    assert_buf_eq(&v, "0", 1);
    assert_ok(ud_incr(child2, S("counter"), 1, &r));
    assert_ok(ud_get(child, S("counter"), &v));
    assert_buf_eq(&v, "1", 1);

    /* Closing the child handles does not remove the child: it belongs to the root. */
    assert_ok(ud_close(child));
    assert_ok(ud_close(child2));
    child = child2 = NULL;
    assert_true(ut_count_segments(cname) >= 2);
    assert_ok(ud_get_dict(root, S("nested"), &child));
    assert_ok(ud_get(child, S("counter"), &v));
    assert_buf_eq(&v, "1", 1);
    assert_ok(ud_close(child));

    /* Iteration reports the type. */
    ud_iter *it = NULL;
    ud_buf k = UD_BUF_INIT;
    int type = -1, rc, dicts = 0, bytes = 0;
    assert_ok(ud_iter_open(other, &it));
    while ((rc = ud_iter_next(it, &k, NULL, &type)) == 0) {
        if (type == UD_TYPE_DICT) {
            dicts++;
            assert_buf_eq(&k, "nested", 6);
        } else {
            bytes++;
        }
    }
    assert_rc(rc, UD_ENOTFOUND);
    ud_iter_close(it);
    assert_int_equal(dicts, 1);
    assert_int_equal(bytes, 1);
    ud_buf_free(&k);
    assert_int_equal(ut_unexpected_segments(name), 0);

    /* Replacing the nested dict unlinks the old child. */
    assert_ok(ud_set_dict(other, S("nested"), &child));
    assert_string_not_equal(ud_name(child), cname);
    assert_int_equal(ut_count_segments(cname), 0);
    assert_int_equal(ud_len(child), 0);
    char cname2[UD_NAME_MAX + 32];
    snprintf(cname2, sizeof cname2, "%s", ud_name(child));
    assert_ok(ud_close(child));

    /* Overwriting it with bytes unlinks it too. */
    assert_ok(ud_set(root, S("nested"), S("now bytes")));
    assert_int_equal(ut_count_segments(cname2), 0);
    assert_rc(ud_type(other, S("nested")), UD_TYPE_BYTES);

    /* So does deleting it, popping it and clearing the root. */
    assert_ok(ud_set_dict(root, S("d1"), &child));
    snprintf(cname, sizeof cname, "%s", ud_name(child));
    assert_ok(ud_close(child));
    assert_ok(ud_del(other, S("d1")));
    assert_int_equal(ut_count_segments(cname), 0);

    assert_ok(ud_set_dict(root, S("d2"), NULL));
    assert_ok(ud_get_dict(root, S("d2"), &child));
    snprintf(cname, sizeof cname, "%s", ud_name(child));
    assert_ok(ud_close(child));
    assert_ok(ud_clear(other));
    assert_int_equal(ut_count_segments(cname), 0);

    /* Nested deeper, like the original's example {'nested': {'deeper': {0: 2}}}. */
    ud_dict *gc = NULL, *c2 = NULL, *gc2 = NULL;
    assert_ok(ud_set_dict(root, S("nested"), &child));
    assert_ok(ud_set_dict(child, S("deeper"), &gc));
    assert_ok(ud_incr(gc, S("0"), 1, NULL));
    assert_ok(ud_get_dict(other, S("nested"), &c2));
    assert_ok(ud_get_dict(c2, S("deeper"), &gc2));
    assert_ok(ud_incr(gc2, S("0"), 1, &r));
    assert_int_equal(r, 2);
    assert_ok(ud_get(gc, S("0"), &v));
    assert_buf_eq(&v, "2", 1);
    char gcname[UD_NAME_MAX + 64];
    snprintf(gcname, sizeof gcname, "%s", ud_name(gc));
    assert_true(strncmp(gcname, ud_name(child), strlen(ud_name(child))) == 0);
    assert_ok(ud_close(gc2));
    assert_ok(ud_close(c2));
    assert_ok(ud_close(gc));
    assert_ok(ud_close(child));
    assert_int_equal(ut_unexpected_segments(name), 0);
    /* Deleting the middle dict removes the grandchild too. */
    assert_ok(ud_del(other, S("nested")));
    assert_int_equal(ut_count_segments(gcname), 0);

    /* Many children, then unlinking the root leaves nothing under its name. */
    for (int i = 0; i < 5; i++) {
        char key[16];
        snprintf(key, sizeof key, "c%d", i);
        assert_ok(ud_set_dict(root, S(key), &child));
        assert_ok(ud_set(child, S("x"), S("y")));
        assert_ok(ud_dump(child));
        assert_ok(ud_close(child));
    }
    assert_ok(ud_dump(root));
    assert_int_equal(ut_unexpected_segments(name), 0);
    assert_true(ut_count_segments(name) >= 2 + 5 * 2);
    assert_ok(ud_unlink(root));
    assert_int_equal(ut_count_segments(name), 0);
    assert_ok(ud_close(other));
    assert_rc_either(ud_close(root), 0, UD_ENOENT);
    assert_int_equal(ut_count_segments(name), 0);
    ud_buf_free(&v);
}

static void test_recurse_errors_and_close(void **state) {
    (void)state;
    char name[64], name2[64];
    ud_dict *plain = ut_open(ut_name(name), UD_CREATE_ONLY, UD_LOCK_MUTEX, 0);
    ud_dict *child = NULL;
    assert_rc(ud_set_dict(plain, S("n"), &child), UD_ENOTRECURSIVE);
    assert_null(child);
    assert_rc(ud_contains(plain, S("n")), 0);
    assert_ok(ud_close(plain));

    /* The creator's close removes the root, the register and every child. */
    ud_dict *root = ut_open_recursive(ut_name(name2), UD_CREATE_ONLY);
    assert_ok(ud_set_dict(root, S("a"), &child));
    assert_ok(ud_set(child, S("k"), S("v")));
    assert_ok(ud_close(child));
    assert_ok(ud_set_dict(root, S("b"), NULL));
    assert_true(ut_count_segments(name2) > 2);
    assert_ok(ud_close(root));
    assert_int_equal(ut_count_segments(name2), 0);

    /* ud_unlink_by_name finds the children through the register. */
    ud_options o = ut_options(name2);
    o.recurse = true;
    o.auto_unlink = UD_AUTO_UNLINK_OFF;
    assert_ok(ud_open(&o, &root));
    assert_ok(ud_set_dict(root, S("a"), NULL));
    assert_ok(ud_close(root));
    assert_true(ut_count_segments(name2) > 2);
    assert_ok(ud_unlink_by_name(name2));
    assert_int_equal(ut_count_segments(name2), 0);
}

UT_MAIN(UT_NAMED_TEST(test_recurse), UT_TEST(test_recurse_errors_and_close),
        cmocka_unit_test(test_limit_is_named), UT_TEST(test_set_dict_depth),
        UT_TEST(test_child_create_depth))
