/*
 * cmd_watch.c - watch: wait for other processes to change a dict and print a line per change.
 */
#include <inttypes.h>

#include "cli.h"

/* What a watch stops at: a total time and a number of changes (0: none). */
typedef struct watch_limits {
    double timeout;
    uint64_t count;
} watch_limits;

/* Waits for changes and prints a line for each until the limits are reached. *seen counts the
 * changes; the result is 0, UD_ETIMEDOUT or another code of ud_wait() or ud_status(). */
static int watch_changes(ud_dict *d, const watch_limits *w, uint64_t *seen) {
    /* The timeout bounds the whole watch, not each wait, like timeout(1) would. */
    double deadline = w->timeout > 0 ? cli_now() + w->timeout : 0;
    while (w->count == 0 || *seen < w->count) {
        double left = 0;
        if (deadline > 0) {
            left = deadline - cli_now();
            if (left <= 0)
                return UD_ETIMEDOUT;
        }
        int err = ud_wait(d, left);
        if (err < 0)
            return err;
        ud_status_info st;
        if ((err = ud_status(d, &st)) < 0)
            return err;
        ++*seen;
        printf("change=%" PRIu64 " len=%zu end=%" PRIu64 " dumps=%" PRIu64 "\n", *seen, st.len,
               st.end_position, st.dump_count);
        /* Each line must reach a pipe at once: a script may be waiting for it. */
        fflush(stdout);
    }
    return 0;
}

/* The exit status of a watch that ran out of time after `seen` changes. */
static int watch_timed_out(const char *name, const watch_limits *w, uint64_t seen) {
    /* Without --count, a watch that saw something and ran out of time did its job. */
    if (w->count == 0 && seen > 0)
        return CLI_EXIT_OK;
    if (w->count == 0)
        cli_failf("%s: no change within %g seconds", name, w->timeout);
    else
        cli_failf("%s: %" PRIu64 " of %" PRIu64 " changes within %g seconds", name, seen, w->count,
                  w->timeout);
    return CLI_EXIT_TIMEOUT;
}

static int run_watch(const cli_command *cmd, int argc, char **argv) {
    static const struct option longopts[] = {{"timeout", required_argument, NULL, 't'},
                                             {"count", required_argument, NULL, 'c'},
                                             CLI_OPTION_HELP,
                                             CLI_OPTION_END};
    cli_args a;
    watch_limits w = {0, 0};
    int c, rc = cli_args_init(&a, cmd, argc, argv, "t:c:h", longopts);
    if (rc != 0)
        return rc;
    while ((c = cli_next_opt(&a)) != -1) {
        if (c == 't')
            rc = cli_parse_seconds(cmd, "--timeout", optarg, &w.timeout);
        else if (c == 'c')
            rc = cli_parse_count(cmd, "--count", optarg, &w.count);
        else
            return a.status;
        if (rc != 0)
            return rc;
    }
    if ((rc = cli_check_operands(&a, 1, 1)) != 0)
        return rc;
    const char *name = a.operands[0];

    ud_dict *d;
    if ((rc = cli_attach(name, &d)) != 0)
        return rc;
    /* Start from the current state, so that only changes made from now on are reported. */
    int err = ud_apply_update(d);
    if (err < 0)
        return cli_close(d, cli_fail(name, err));
    uint64_t seen = 0;
    err = watch_changes(d, &w, &seen);
    if (err == UD_ETIMEDOUT)
        return cli_close(d, watch_timed_out(name, &w, seen));
    return cli_close(d, err < 0 ? cli_fail(name, err) : rc);
}

const cli_command cli_cmd_watch = {
    "watch", "NAME [--timeout S] [--count N]", "Wait for changes and print a line for each.",
    "Each time other processes change the dict, prints\n"
    "  change=K len=ENTRIES end=STREAM_END_POSITION dumps=FULL_DUMPS_WRITTEN\n"
    "(several quick writes may show as one change).\n"
    "\n"
    "Options:\n"
    "  -t, --timeout S   stop after S decimal seconds in all (fractions allowed; 0: never)\n"
    "  -c, --count N     stop after N changes (0: never)\n"
    "  -h, --help        show this help\n"
    "\n"
    "Exit status: 0 after N changes, or when the time is up and at least one change was seen\n"
    "without --count; 3 when the time is up before that; 1 on an error; 2 on a usage error.\n",
    run_watch};
