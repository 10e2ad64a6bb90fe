/*
 * cmd_watch.c - watch: wait for other processes to change a dict and print a line per change.
 */
#include <inttypes.h>

#include "cli.h"

static int run_watch(const cli_command *cmd, int argc, char **argv) {
    static const struct option longopts[] = {{"timeout", required_argument, NULL, 't'},
                                             {"count", required_argument, NULL, 'c'},
                                             CLI_OPTION_HELP,
                                             CLI_OPTION_END};
    cli_args a;
    double timeout = 0;
    uint64_t count = 0;
    int c, rc = cli_args_init(&a, cmd, argc, argv, "t:c:h", longopts);
    if (rc != 0)
        return rc;
    while ((c = cli_next_opt(&a)) != -1) {
        if (c == 't')
            rc = cli_parse_seconds(cmd, "--timeout", optarg, &timeout);
        else if (c == 'c')
            rc = cli_parse_count(cmd, "--count", optarg, &count);
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

    /* The timeout bounds the whole watch, not each wait, like timeout(1) would. */
    double deadline = timeout > 0 ? cli_now() + timeout : 0;
    uint64_t seen = 0;
    while (count == 0 || seen < count) {
        double left = 0;
        if (deadline > 0) {
            left = deadline - cli_now();
            if (left <= 0) {
                err = UD_ETIMEDOUT;
                break;
            }
        }
        err = ud_wait(d, left);
        if (err < 0)
            break;
        ud_status_info st;
        if ((err = ud_status(d, &st)) < 0)
            break;
        seen++;
        printf("change=%" PRIu64 " len=%zu end=%" PRIu64 " dumps=%" PRIu64 "\n", seen, st.len,
               st.end_position, st.dump_count);
        /* Each line must reach a pipe at once: a script may be waiting for it. */
        fflush(stdout);
    }

    if (err == UD_ETIMEDOUT) {
        /* Without --count, a watch that saw something and ran out of time did its job. */
        if (count == 0 && seen > 0)
            return cli_close(d, CLI_EXIT_OK);
        if (count == 0)
            cli_failf("%s: no change within %g seconds", name, timeout);
        else
            cli_failf("%s: %" PRIu64 " of %" PRIu64 " changes within %g seconds", name, seen, count,
                      timeout);
        return cli_close(d, CLI_EXIT_TIMEOUT);
    }
    if (err < 0)
        rc = cli_fail(name, err);
    return cli_close(d, rc);
}

const cli_command cli_cmd_watch = {
    "watch", "NAME [--timeout S] [--count N]", "Wait for changes and print a line for each.",
    "Each time other processes change the dict, prints\n"
    "  change=K len=ENTRIES end=STREAM_END_POSITION dumps=FULL_DUMPS_WRITTEN\n"
    "(several quick writes may show as one change).\n"
    "\n"
    "Options:\n"
    "  -t, --timeout S   stop after S seconds in all (fractions allowed; 0: never)\n"
    "  -c, --count N     stop after N changes (0: never)\n"
    "  -h, --help        show this help\n"
    "\n"
    "Exit status: 0 after N changes, or when the time is up and at least one change was seen\n"
    "without --count; 3 when the time is up before that; 1 on an error; 2 on a usage error.\n",
    run_watch};
