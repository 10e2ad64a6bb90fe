/*
 * cmd_admin.c - the commands that manage a dict as a whole: create, status, dump, load, unlink.
 */
#include <string.h>

#include "cli.h"

/* Applies one of the CLI_CREATE_LONGOPTS options (c, with its argument arg) to *o: 0, or
 * CLI_EXIT_USAGE after printing what is wrong with the argument. */
static int create_option(const cli_command *cmd, int c, const char *arg, ud_options *o) {
    switch (c) {
    case 'b': {
        int rc = cli_parse_size(cmd, "--buffer-size", arg, &o->buffer_size);
        if (rc != 0)
            return rc;
        /* The header's minimum; saying so here beats the library's "invalid argument". */
        if (o->buffer_size < 4096)
            return cli_usage_error(cmd, "--buffer-size: must be at least 4096 (4K)");
        return 0;
    }
    case 'F':
        return cli_parse_size(cmd, "--full-dump-size", arg, &o->full_dump_size);
    case 'l':
        if (strcmp(arg, "mutex") == 0) {
            o->lock = UD_LOCK_MUTEX;
        } else if (strcmp(arg, "spin") == 0) {
            o->lock = UD_LOCK_SPIN;
        } else {
            char text[64];
            cli_escape_into(arg, text, sizeof(text));
            return cli_usage_error(cmd, "--lock: expected 'mutex' or 'spin', not '%s'", text);
        }
        return 0;
    case 'r':
        o->recurse = true;
        return 0;
    case 'm':
        return cli_parse_mode(cmd, "--mode", arg, &o->mode);
    default:
        return cli_usage_error(cmd, "internal error: unexpected option %d", c);
    }
}

bool cli_parse_create(cli_args *a, const cli_command *cmd, int argc, char **argv,
                      struct option extra, const char **extra_arg, ud_options *o, int min,
                      int max) {
    /* cli_next_opt() reads the table only while this function runs. */
    const struct option longopts[] = {CLI_CREATE_LONGOPTS, extra, CLI_OPTION_HELP, CLI_OPTION_END};
    char shortopts[sizeof CLI_CREATE_SHORTOPTS + 3] = CLI_CREATE_SHORTOPTS;
    size_t n = strlen(shortopts);
    shortopts[n++] = (char)extra.val;
    if (extra.has_arg == required_argument)
        shortopts[n++] = ':';
    shortopts[n++] = 'h';
    shortopts[n] = '\0';
    *extra_arg = NULL;
    int c;
    if ((a->status = cli_args_init(a, cmd, argc, argv, shortopts, longopts)) != 0)
        return false;
    while ((c = cli_next_opt(a)) != -1) {
        if (c == CLI_OPT_STOP)
            return false;
        if (c == extra.val)
            *extra_arg = extra.has_arg == no_argument ? "" : optarg;
        else if ((a->status = create_option(cmd, c, optarg, o)) != 0)
            return false;
    }
    a->status = cli_check_operands(a, min, max);
    return a->status == 0;
}

/* ---- create ---- */

static int run_create(const cli_command *cmd, int argc, char **argv) {
    static const struct option exist_ok_opt = {"exist-ok", no_argument, NULL, 'e'};
    cli_args a;
    ud_options o = UD_OPTIONS_INIT;
    const char *exist_ok;
    if (!cli_parse_create(&a, cmd, argc, argv, exist_ok_opt, &exist_ok, &o, 0, 1))
        return a.status;
    const char *name = a.noperands == 1 ? a.operands[0] : NULL;
    if (name != NULL && name[0] == '\0')
        return cli_fail(name, UD_ENAME);

    o.name = name;
    o.create = exist_ok != NULL ? UD_CREATE_OR_ATTACH : UD_CREATE_ONLY;
    /* The dict must outlive this process: that is the point of creating it from a shell. */
    o.auto_unlink = UD_AUTO_UNLINK_OFF;
    ud_dict *d;
    int err = ud_open(&o, &d);
    if (err < 0)
        return cli_fail(name != NULL ? name : "create", err);
    if (name == NULL)
        printf("%s\n", ud_name(d));
    return cli_close(d, CLI_EXIT_OK);
}

const cli_command cli_cmd_create = {
    "create", "[NAME] [OPTIONS]", "Create a dict that stays until `ultradict unlink NAME`.",
    "Without NAME, a random name is chosen and printed. Sizes accept a K, M or G suffix\n"
    "(1024-based).\n"
    "\n"
    "Options:\n" CLI_CREATE_HELP
    "  -e, --exist-ok            succeed if the dict exists (its options must match)\n"
    "  -h, --help                show this help\n"
    "\n"
    "Exit status: 0 on success, 1 on an error (e.g. the dict exists), 2 on a usage error.\n",
    run_create};

/* ---- status, dump, load: attach, do one thing, report. ---- */

/* The shared body of the commands that take NAME and at most a --force flag. */
static int run_simple(const cli_command *cmd, int argc, char **argv, bool accept_force,
                      int (*action)(ud_dict *d, bool force)) {
    cli_args a;
    bool force;
    if (!cli_parse_flag(&a, cmd, argc, argv, accept_force ? "force" : NULL, 'f', &force, 1, 1))
        return a.status;
    int rc = 0;

    ud_dict *d;
    if ((rc = cli_attach(a.operands[0], &d)) != 0)
        return rc;
    int err = action(d, force);
    if (err < 0)
        rc = cli_fail(a.operands[0], err);
    return cli_close(d, rc);
}

static int do_status(ud_dict *d, bool force) {
    (void)force;
    /* The status describes this handle's copy, which must first catch up with the dict. */
    int rc = ud_apply_update(d);
    return rc < 0 ? rc : ud_print_status(d, stdout);
}

static int do_dump(ud_dict *d, bool force) {
    (void)force;
    return ud_dump(d);
}

static int do_load(ud_dict *d, bool force) {
    return ud_load(d, force);
}

static int run_status(const cli_command *cmd, int argc, char **argv) {
    return run_simple(cmd, argc, argv, false, do_status);
}

static int run_dump(const cli_command *cmd, int argc, char **argv) {
    return run_simple(cmd, argc, argv, false, do_dump);
}

static int run_load(const cli_command *cmd, int argc, char **argv) {
    return run_simple(cmd, argc, argv, true, do_load);
}

const cli_command cli_cmd_status = {"status", "NAME", "Print the dict's status, one field a line.",
                                    "Options:\n"
                                    "  -h, --help      show this help\n",
                                    run_status};

const cli_command cli_cmd_dump = {
    "dump", "NAME", "Write a full dump now and reset the stream of updates.",
    "Every process loads the new dump the next time it synchronises.\n"
    "\n"
    "Options:\n"
    "  -h, --help      show this help\n",
    run_dump};

const cli_command cli_cmd_load = {
    "load", "NAME [-f|--force]", "Load the latest full dump (checks that it can be read).",
    "Loads the dump into this tool's private copy, which verifies it; nothing is printed on\n"
    "success.\n"
    "\n"
    "Options:\n"
    "  -f, --force     load it even if this handle has loaded it already\n"
    "  -h, --help      show this help\n",
    run_load};

/* ---- unlink ---- */

static int run_unlink(const cli_command *cmd, int argc, char **argv) {
    cli_args a;
    bool ignore_missing;
    if (!cli_parse_flag(&a, cmd, argc, argv, "ignore-missing", 'f', &ignore_missing, 1, -1))
        return a.status;
    int rc = 0;

    /* Every name is tried, so that one missing dict does not leave the others in place. */
    for (int i = 0; i < a.noperands; i++) {
        const char *name = a.operands[i];
        /*
         * Only a name whose control segment exists is handed to ud_unlink_by_name(), which
         * would otherwise remove every NAME.* file in /dev/shm, dict or not: "unlink sem"
         * must not delete the system's named semaphores (/dev/shm/sem.*).
         */
        int err = name[0] == '\0' ? UD_ENAME : ud_exists(name);
        if (err == 0)
            err = UD_ENOENT;
        else if (err > 0)
            err = ud_unlink_by_name(name);
        if (err < 0 && !(err == UD_ENOENT && ignore_missing))
            rc = cli_fail(name, err);
    }
    return rc;
}

const cli_command cli_cmd_unlink = {
    "unlink", "NAME... [-f|--ignore-missing]", "Remove dicts and all their segments.",
    "Removes every segment of each dict (and of its nested dicts), whether or not a process\n"
    "still uses it. Processes that are attached keep working; nobody new can attach.\n"
    "\n"
    "Options:\n"
    "  -f, --ignore-missing  succeed when a dict does not exist\n"
    "  -h, --help            show this help\n"
    "\n"
    "Exit status: 0 on success, 1 if a dict could not be removed, 2 on a usage error.\n",
    run_unlink};
