/*
 * cmd_data.c - the commands that read and write single entries: get, set, del, incr, len.
 */
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* The lines the help texts of these commands share. */
#define HELP_OPTION "  -h, --help      show this help\n"
#define ONLY_HELP_OPTION "Options:\n" HELP_OPTION
#define EXIT_KEY                                                                                   \
    "\nExit status: 0 on success, 1 if the dict or the key does not exist, 2 on a usage error.\n"

/*
 * Attaches the dict NAME of a command whose operands are NAME KEY [...], once its arguments are
 * parsed (`parsed`: what cli_parse_*() returned). False when the command stops with *rc: the
 * help or a usage error (a->status), or the attach's failure.
 */
static bool attach_operands(const cli_args *a, bool parsed, ud_dict **d, int *rc) {
    if (!parsed) {
        *rc = a->status;
        return false;
    }
    *rc = cli_attach(a->operands[0], d);
    return *rc == 0;
}

/* Closes d and gives the exit status of an operation on KEY that returned err. */
static int finish_key(const cli_args *a, ud_dict *d, int err) {
    int rc = err < 0 ? cli_fail_key(a->operands[0], a->operands[1], err) : 0;
    return cli_close(d, rc);
}

/* ---- get ---- */

static int run_get(const cli_command *cmd, int argc, char **argv) {
    cli_args a;
    bool newline;
    ud_dict *d;
    int rc;
    if (!attach_operands(&a, cli_parse_flag(&a, cmd, argc, argv, "newline", 'n', &newline, 2, 2),
                         &d, &rc))
        return rc;
    const char *key = a.operands[1];
    ud_buf val = UD_BUF_INIT;
    int err = ud_get(d, key, strlen(key), &val);
    if (err >= 0) {
        /* Raw bytes: the value may be binary, and a script may compare it byte for byte. */
        if (val.len > 0)
            fwrite(val.data, 1, val.len, stdout);
        if (newline)
            fputc('\n', stdout);
    }
    ud_buf_free(&val);
    return finish_key(&a, d, err);
}

const cli_command cli_cmd_get = {
    "get", "NAME KEY [-n|--newline]", "Print the value of KEY.",
    "The value's bytes are written to standard output exactly as stored.\n"
    "\n"
    "Options:\n"
    "  -n, --newline   write a newline after the value\n" HELP_OPTION EXIT_KEY,
    run_get};

/* ---- set ---- */

static int run_set(const cli_command *cmd, int argc, char **argv) {
    cli_args a;
    if (!cli_parse_plain(&a, cmd, argc, argv, 2, 3))
        return a.status;
    const char *key = a.operands[1];
    const char *arg = a.noperands == 3 ? a.operands[2] : "-";

    /* Read stdin before attaching, so that a slow producer does not hold a handle open. */
    ud_buf input = UD_BUF_INIT;
    const void *val = arg;
    size_t vlen = strlen(arg);
    if (strcmp(arg, "-") == 0) {
        int err = cli_read_fd(STDIN_FILENO, &input);
        if (err < 0) {
            ud_buf_free(&input);
            return cli_fail("standard input", err);
        }
        val = input.data != NULL ? input.data : "";
        vlen = input.len;
    }

    ud_dict *d;
    int rc;
    if (attach_operands(&a, true, &d, &rc))
        rc = finish_key(&a, d, ud_set(d, key, strlen(key), val, vlen));
    ud_buf_free(&input);
    return rc;
}

const cli_command cli_cmd_set = {
    "set", "NAME KEY [VALUE|-]", "Set KEY to VALUE.",
    "Without VALUE, or with \"-\", the value is read from standard input up to its end, byte\n"
    "for byte (binary data and NUL bytes included). Put \"--\" before a VALUE that starts\n"
    "with \"-\".\n"
    "\n" ONLY_HELP_OPTION "\nExit status: 0 on success, 1 on an error, 2 on a usage error.\n",
    run_set};

/* ---- del ---- */

static int run_del(const cli_command *cmd, int argc, char **argv) {
    cli_args a;
    bool ignore_missing;
    ud_dict *d;
    int rc;
    if (!attach_operands(
            &a, cli_parse_flag(&a, cmd, argc, argv, "ignore-missing", 'f', &ignore_missing, 2, 2),
            &d, &rc))
        return rc;
    const char *key = a.operands[1];
    int err = ud_del(d, key, strlen(key));
    return finish_key(&a, d, err == UD_ENOTFOUND && ignore_missing ? 0 : err);
}

const cli_command cli_cmd_del = {"del", "NAME KEY [-f|--ignore-missing]", "Remove KEY.",
                                 "Options:\n"
                                 "  -f, --ignore-missing  succeed when the key does not exist\n"
                                 "  -h, --help            show this help\n" EXIT_KEY,
                                 run_del};

/* ---- incr ---- */

static int run_incr(const cli_command *cmd, int argc, char **argv) {
    cli_args a;
    if (!cli_parse_plain(&a, cmd, argc, argv, 2, 3))
        return a.status;
    int rc = 0;
    const char *key = a.operands[1];
    int64_t by = 1;
    if (a.noperands == 3 && (rc = cli_parse_int64(cmd, "BY", a.operands[2], &by)) != 0)
        return rc;
    ud_dict *d;
    if (!attach_operands(&a, true, &d, &rc))
        return rc;
    int64_t result;
    int err = ud_incr(d, key, strlen(key), by, &result);
    if (err >= 0)
        printf("%" PRId64 "\n", result);
    return finish_key(&a, d, err);
}

const cli_command cli_cmd_incr = {
    "incr", "NAME KEY [BY]", "Add BY (default 1) to the integer at KEY and print the result.",
    "The value is a decimal integer in ASCII, like a Redis or memcached counter; a missing key\n"
    "counts from 0. BY may be negative. The addition is one atomic step for every process.\n"
    "\n" ONLY_HELP_OPTION "\n"
    "Exit status: 0 on success, 1 on an error (e.g. the value is not an integer, or the sum\n"
    "overflows 64 bits), 2 on a usage error.\n",
    run_incr};

/* ---- len ---- */

static int run_len(const cli_command *cmd, int argc, char **argv) {
    cli_args a;
    if (!cli_parse_plain(&a, cmd, argc, argv, 1, 1))
        return a.status;
    int rc = 0;

    ud_dict *d;
    if ((rc = cli_attach(a.operands[0], &d)) != 0)
        return rc;
    /* ud_len() hides a synchronisation error behind the local count; surface it instead. */
    int err = ud_apply_update(d);
    if (err < 0)
        rc = cli_fail(a.operands[0], err);
    else
        printf("%zu\n", ud_len(d));
    return cli_close(d, rc);
}

const cli_command cli_cmd_len = {"len", "NAME", "Print the number of entries.", ONLY_HELP_OPTION,
                                 run_len};
