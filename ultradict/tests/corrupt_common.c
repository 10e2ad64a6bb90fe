/* corrupt_common.c - the sandbox and helpers of the damaged-segment tests (corrupt.h). */
#include "corrupt.h"

sandbox *cr_sb;

int cr_sandbox_init(void) {
    cr_sb = ut_shared_alloc(sizeof *cr_sb);
    return cr_sb != NULL ? 0 : -1;
}

void cr_run_sandboxed(int (*scenario)(void *), const char *what) {
    memset(cr_sb, 0, sizeof *cr_sb);
    ut_name(cr_sb->name);
    pid_t pid = ut_fork(scenario, cr_sb->name);
    assert_true(pid > 0);
    int st = ut_wait(pid, GUARD);
    if (st != 0) {
        char buf[64];
        if (cr_sb->line != 0)
            fail_msg("%s: line %d: %s", what, cr_sb->line, cr_sb->msg);
        fail_msg("%s: the child ended badly: %s (a crash or a hang in the library)", what,
                 ut_status_str(st, buf, sizeof buf));
    }
}

void cr_test(void **state) {
    const cr_case *c = *state;
    cr_run_sandboxed(c->scenario, c->what);
    if (c->labels[0] == NULL)
        return;
    for (int i = 0; i < 3 && c->labels[i] != NULL; i++)
        printf("%s%s", c->labels[i], ud_errname(cr_sb->rc[i]));
    printf("\n");
}

int cr_open_rc(const char *name, int create, ud_dict **out) {
    ud_options o = UD_OPTIONS_INIT;
    o.name = name;
    o.create = create;
    return ud_open(&o, out);
}

int cr_make_dict(const char *name) {
    ud_options o = UD_OPTIONS_INIT;
    o.name = name;
    o.create = UD_CREATE_ONLY;
    o.auto_unlink = UD_AUTO_UNLINK_OFF;
    ud_dict *d = NULL;
    CHECK_RC(ud_open(&o, &d), 0);
    CHECK_RC(ud_set(d, S("a"), S("1")), 0);
    CHECK_RC(ud_set(d, S("b"), S("2")), 0);
    CHECK_RC(ud_dump(d), 0);
    CHECK_RC(ud_set(d, S("c"), S("3")), 0);
    CHECK_RC(ud_close(d), 0);
    return 0;
}

bool cr_is_clear_error(int rc) {
    return rc == UD_EBADMAGIC || rc == UD_ECORRUPT || rc == UD_EVERSION;
}
