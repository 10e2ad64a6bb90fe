/*
 * cli.h - shared pieces of the `ultradict` command-line tool.
 *
 * Every command is a cli_command defined in its own cmd_*.c file and listed in main.c. A
 * command's run() receives argv with argv[0] set to the command's name and returns the process
 * exit status:
 *  - CLI_EXIT_OK (0) on success;
 *  - CLI_EXIT_FAILURE (1) after printing one line "ultradict: <context>: <reason>" to stderr;
 *  - CLI_EXIT_USAGE (2) after printing what was wrong with the command line and a hint;
 *  - CLI_EXIT_TIMEOUT (3) when `watch` saw no change in time.
 *
 * The tool never deletes a dict by closing it: every dict is opened with auto_unlink OFF, and
 * only `unlink` removes one.
 */
#ifndef ULTRADICT_CLI_H
#define ULTRADICT_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ultradict.h"

enum { CLI_EXIT_OK = 0, CLI_EXIT_FAILURE = 1, CLI_EXIT_USAGE = 2, CLI_EXIT_TIMEOUT = 3 };

typedef struct cli_command cli_command;

struct cli_command {
    const char *name;
    /* The operands and options in one line, e.g. "NAME KEY [--newline]". */
    const char *synopsis;
    /* One line for `ultradict --help`. */
    const char *summary;
    /* The rest of `ultradict CMD --help`: what it does, its options, its exit status. */
    const char *help;
    int (*run)(const cli_command *cmd, int argc, char **argv);
};

/* The commands, each defined in its cmd_*.c file. */
extern const cli_command cli_cmd_create, cli_cmd_get, cli_cmd_set, cli_cmd_del, cli_cmd_incr,
    cli_cmd_len, cli_cmd_keys, cli_cmd_items, cli_cmd_status, cli_cmd_dump, cli_cmd_load,
    cli_cmd_watch, cli_cmd_save, cli_cmd_restore, cli_cmd_unlink, cli_cmd_ls;

/* ---- Command-line parsing (args.c). ---- */

/* Every command accepts -h/--help; put this last but one in its option table. */
#define CLI_OPTION_HELP                                                                            \
    { "help", no_argument, NULL, 'h' }
#define CLI_OPTION_END                                                                             \
    { NULL, 0, NULL, 0 }

/* cli_next_opt() returns this when the command must stop with cli_args.status. */
#define CLI_OPT_STOP (-2)

/*
 * The state of parsing one command's arguments. cli_args_init() moves the options (and their
 * arguments) in front of the operands, so that options may follow operands and an operand may
 * look like a negative number ("incr NAME KEY -5") without getopt taking it for an option.
 */
typedef struct cli_args {
    const cli_command *cmd;
    const struct option *longopts;
    char optstring[64];
    int optc; /* elements argv[0..optc) are the command name and its options */
    char **argv;
    int noperands; /* argv[optc..optc+noperands) are the operands */
    char **operands;
    int status; /* the exit status after CLI_OPT_STOP */
} cli_args;

/*
 * Prepares argv (which it reorders in place) for cli_next_opt(). `shortopts` uses getopt's
 * syntax without the leading "+:" and must contain "h"; `longopts` must contain CLI_OPTION_HELP.
 * Returns 0, or an exit status after printing why it failed.
 */
int cli_args_init(cli_args *a, const cli_command *cmd, int argc, char **argv, const char *shortopts,
                  const struct option *longopts);

/*
 * Returns the next option character, -1 when the options are done, or CLI_OPT_STOP after
 * printing the help (status 0) or a usage error (status 2). The option's argument is in optarg.
 */
int cli_next_opt(cli_args *a);

/* Checks the operand count; prints a usage error and returns CLI_EXIT_USAGE when it is wrong. */
int cli_check_operands(cli_args *a, int min, int max);

/*
 * The whole argument parsing of a command whose only option, besides --help, is one flag:
 * --FLAG_LONG / -FLAG_SHORT sets *flag (flag_long NULL: no flag at all), and the operand count
 * must lie in [min, max] (max -1: no limit). Returns true when the command goes on (the
 * operands are in a->operands), false when it must stop with a->status (the help or a usage
 * error was printed).
 */
bool cli_parse_flag(cli_args *a, const cli_command *cmd, int argc, char **argv,
                    const char *flag_long, char flag_short, bool *flag, int min, int max);
/* cli_parse_flag() for a command whose only option is -h/--help. */
bool cli_parse_plain(cli_args *a, const cli_command *cmd, int argc, char **argv, int min, int max);

/* Prints the help of a command to `f`. */
void cli_print_help(const cli_command *cmd, FILE *f);

/* Prints "ultradict: CMD: <message>" and a hint to stderr; returns CLI_EXIT_USAGE. */
int cli_usage_error(const cli_command *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Number parsers for option values and operands. Each prints a usage error naming `what` and
 * returns CLI_EXIT_USAGE on garbage, a sign where none is allowed, or overflow; 0 otherwise.
 */
int cli_parse_size(const cli_command *cmd, const char *what, const char *s, size_t *out);
int cli_parse_count(const cli_command *cmd, const char *what, const char *s, uint64_t *out);
int cli_parse_int64(const cli_command *cmd, const char *what, const char *s, int64_t *out);
int cli_parse_seconds(const cli_command *cmd, const char *what, const char *s, double *out);
int cli_parse_mode(const cli_command *cmd, const char *what, const char *s, unsigned *out);

/* ---- The options that describe a new dict, shared by create and restore (cmd_admin.c). ---- */

#define CLI_CREATE_SHORTOPTS "b:F:l:rm:"
/* clang-format off */
#define CLI_CREATE_LONGOPTS                                                                        \
    {"buffer-size", required_argument, NULL, 'b'},                                                 \
    {"full-dump-size", required_argument, NULL, 'F'},                                              \
    {"lock", required_argument, NULL, 'l'},                                                        \
    {"recurse", no_argument, NULL, 'r'},                                                           \
    {"mode", required_argument, NULL, 'm'}
/* clang-format on */
#define CLI_CREATE_HELP                                                                            \
    "  -b, --buffer-size N       size of the stream of updates (default 1M, at least 4K)\n"        \
    "  -F, --full-dump-size N    static size of each dump segment (default: grow as needed)\n"     \
    "  -l, --lock mutex|spin     robust mutex (default) or the original's spin lock\n"             \
    "  -r, --recurse             allow nested dicts\n"                                             \
    "  -m, --mode OCTAL          permission bits of the segments (default 0600)\n"

/*
 * The whole argument parsing of a command that creates a dict (cmd_admin.c): the
 * CLI_CREATE_LONGOPTS options applied to *o, one more option `extra` whose argument ("" for a
 * flag) goes to *extra_arg (NULL when it is not given), --help, and an operand count in
 * [min, max]. Returns true when the command goes on, false when it must stop with a->status,
 * like cli_parse_flag().
 */
bool cli_parse_create(cli_args *a, const cli_command *cmd, int argc, char **argv,
                      struct option extra, const char **extra_arg, ud_options *o, int min, int max);

/* ---- Dicts, errors and input (util.c). ---- */

/* The library's own codes are all below -1000 (ultradict.h); -errno values are above. */
#define CLI_IS_SYSTEM_ERROR(rc) ((rc) < 0 && (rc) > -1000)

/* Prints "ultradict: <context>: <ud_strerror(rc)>" (context escaped); returns CLI_EXIT_FAILURE. */
int cli_fail(const char *context, int rc);
/*
 * Reports the failure of an operation on KEY of dict NAME: an error about the key itself names
 * the key ("ultradict: KEY: key not found"), any other error (a damaged dict, a system error)
 * names the dict. Returns CLI_EXIT_FAILURE.
 */
int cli_fail_key(const char *name, const char *key, int rc);
/* Prints "ultradict: <message>"; returns CLI_EXIT_FAILURE. */
int cli_failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Attaches to an existing dict (UD_ATTACH_ONLY, auto_unlink OFF). Returns 0, or
 * CLI_EXIT_FAILURE after printing why.
 */
int cli_attach(const char *name, ud_dict **out);

/*
 * Closes `d` and returns `status`, or CLI_EXIT_FAILURE if the close failed while the command
 * had succeeded so far.
 */
int cli_close(ud_dict *d, int status);

/* Reads everything from `fd` into *out (replacing its contents). Returns 0 or -errno. */
int cli_read_fd(int fd, ud_buf *out);
/* Reads a whole file into *out. Returns 0 or -errno. */
int cli_read_file(const char *path, ud_buf *out);

/* Seconds on the monotonic clock. */
double cli_now(void);

/* ---- Output (output.c). ---- */

/*
 * Writes bytes for a terminal or a line-oriented tool: printable ASCII and valid UTF-8
 * characters as they are, a backslash as "\\", every other byte as "\xNN". The output never
 * contains a control character, so one entry stays on one line.
 */
void cli_put_escaped(FILE *f, const void *p, size_t n);

/*
 * Writes the C string `s`, escaped as cli_put_escaped() does, into buf (always terminated); a
 * string that does not fit ends with "...". For quoting user input in messages.
 */
void cli_escape_into(const char *s, char *buf, size_t cap);

/*
 * Writes bytes as a JSON string with its quotes. Valid UTF-8 is kept; control characters are
 * escaped; a byte that is not part of valid UTF-8 is written as \u00NN (its Latin-1 reading),
 * so the output is always valid JSON.
 */
void cli_put_json_string(FILE *f, const void *p, size_t n);

/* Formats a byte count with a 1024-based suffix ("512B", "1.5K", "20M") into buf. */
void cli_human_bytes(uint64_t bytes, char *buf, size_t cap);

#endif /* ULTRADICT_CLI_H */
