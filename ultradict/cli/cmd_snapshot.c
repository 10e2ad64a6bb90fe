/*
 * cmd_snapshot.c - portable snapshots: save a dict to a file and restore it from one.
 */
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* ---- save ---- */

static int run_save(const cli_command *cmd, int argc, char **argv) {
    static const struct option longopts[] = {CLI_OPTION_HELP, CLI_OPTION_END};
    cli_args a;
    int rc = cli_args_init(&a, cmd, argc, argv, "h", longopts);
    if (rc != 0)
        return rc;
    if (cli_next_opt(&a) != -1)
        return a.status;
    if ((rc = cli_check_operands(&a, 2, 2)) != 0)
        return rc;
    const char *name = a.operands[0], *path = a.operands[1];
    if (path[0] == '\0')
        return cli_usage_error(cmd, "FILE must not be empty");

    ud_dict *d;
    if ((rc = cli_attach(name, &d)) != 0)
        return rc;
    if (strcmp(path, "-") == 0) {
        ud_buf snap = UD_BUF_INIT;
        int err = ud_save(d, &snap);
        if (err < 0)
            rc = cli_fail(name, err);
        else if (snap.len > 0)
            fwrite(snap.data, 1, snap.len, stdout);
        ud_buf_free(&snap);
    } else {
        /* A system error is about the file; one of ours is about the dict. */
        int err = ud_save_file(d, path);
        if (err < 0)
            rc = cli_fail(CLI_IS_SYSTEM_ERROR(err) ? path : name, err);
    }
    return cli_close(d, rc);
}

const cli_command cli_cmd_save = {
    "save", "NAME FILE", "Write a portable snapshot of the dict to FILE (\"-\": standard output).",
    "The snapshot is versioned and checksummed, holds nested dicts too, and does not depend on\n"
    "the machine. The file is written under a temporary name and renamed into place, so a\n"
    "reader never sees half of it.\n"
    "\n"
    "Options:\n"
    "  -h, --help      show this help\n",
    run_save};

/* ---- restore ---- */

/* Notes whether a snapshot holds nested dicts, which a new dict must be created to accept. */
static int scan_entry(void *ctx, const void *key, size_t klen, const void *val, size_t vlen,
                      int type) {
    (void)key;
    (void)klen;
    (void)val;
    (void)vlen;
    if (type == UD_TYPE_DICT)
        *(bool *)ctx = true;
    return 0;
}

/*
 * Attaches to NAME, or creates it with `o` when it does not exist. *created tells which, so
 * that a failed restore can remove a dict it created. A dict that appears between the two
 * attempts (another process created it) is attached to.
 */
static int open_or_create(const char *name, const ud_options *create, ud_dict **d, bool *created) {
    ud_options o = UD_OPTIONS_INIT;
    o.name = name;
    o.create = UD_ATTACH_ONLY;
    o.auto_unlink = UD_AUTO_UNLINK_OFF;
    int err = ud_open(&o, d);
    *created = false;
    if (err != UD_ENOENT)
        return err;
    o = *create;
    o.name = name;
    o.create = UD_CREATE_ONLY;
    o.auto_unlink = UD_AUTO_UNLINK_OFF;
    err = ud_open(&o, d);
    if (err == 0) {
        *created = true;
        return 0;
    }
    if (err != UD_EEXIST)
        return err;
    o = (ud_options)UD_OPTIONS_INIT;
    o.name = name;
    o.create = UD_ATTACH_ONLY;
    o.auto_unlink = UD_AUTO_UNLINK_OFF;
    return ud_open(&o, d);
}

static int run_restore(const cli_command *cmd, int argc, char **argv) {
    static const struct option longopts[] = {CLI_CREATE_LONGOPTS, CLI_OPTION_HELP, CLI_OPTION_END};
    cli_args a;
    ud_options o = UD_OPTIONS_INIT;
    int c, rc = cli_args_init(&a, cmd, argc, argv, CLI_CREATE_SHORTOPTS "h", longopts);
    if (rc != 0)
        return rc;
    while ((c = cli_next_opt(&a)) != -1) {
        if (c == CLI_OPT_STOP)
            return a.status;
        if ((rc = cli_create_option(cmd, c, optarg, &o)) != 0)
            return rc;
    }
    if ((rc = cli_check_operands(&a, 2, 2)) != 0)
        return rc;
    const char *name = a.operands[0], *path = a.operands[1];
    if (path[0] == '\0')
        return cli_usage_error(cmd, "FILE must not be empty");
    if (name[0] == '\0')
        return cli_fail(name, UD_ENAME);

    /*
     * The snapshot is read and verified before the dict is touched, so that a missing or
     * damaged file never leaves an empty dict behind, and a snapshot with nested dicts creates
     * a dict that can hold them.
     */
    ud_buf snap = UD_BUF_INIT;
    bool stdin_input = strcmp(path, "-") == 0;
    int err = stdin_input ? cli_read_fd(STDIN_FILENO, &snap) : cli_read_file(path, &snap);
    bool nested = false;
    if (err == 0)
        err =
            ud_snapshot_foreach(snap.data != NULL ? snap.data : "", snap.len, scan_entry, &nested);
    if (err < 0) {
        ud_buf_free(&snap);
        return cli_fail(stdin_input ? "standard input" : path, err);
    }
    o.recurse = o.recurse || nested;

    ud_dict *d;
    bool created;
    err = open_or_create(name, &o, &d, &created);
    if (err < 0) {
        ud_buf_free(&snap);
        return cli_fail(name, err);
    }
    err = ud_restore(d, snap.data, snap.len);
    ud_buf_free(&snap);
    if (err < 0) {
        rc = cli_fail(name, err);
        if (created)
            ud_unlink(d);
    }
    return cli_close(d, rc);
}

const cli_command cli_cmd_restore = {
    "restore", "NAME FILE [OPTIONS]",
    "Replace the dict's contents with a snapshot from FILE (\"-\": standard input).",
    "The snapshot is verified entirely before anything changes, and the replacement is one\n"
    "atomic step for every process. A dict that does not exist is created (and stays until\n"
    "`ultradict unlink NAME`); the options below apply only then. A snapshot with nested\n"
    "dicts creates a dict with --recurse.\n"
    "\n"
    "Options:\n" CLI_CREATE_HELP "  -h, --help                show this help\n",
    run_restore};
