/*
 * test_nesting.c - nested dicts under long names: the depth a name allows, the error past it
 * (UD_ENAMETOOLONG, which names the limit), and nothing created or changed when it is refused.
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limit_is_named),
        cmocka_unit_test_teardown(test_set_dict_depth, ut_teardown),
        cmocka_unit_test_teardown(test_child_create_depth, ut_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
