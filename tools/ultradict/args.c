/*
 * args.c - command-line parsing shared by every command: option handling around getopt_long,
 * operand counts, help and usage errors, and strict number parsers.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* The longest timeout we accept, so that no later conversion to a time type can overflow. */
#define CLI_MAX_SECONDS 1e9

/*
 * An operand such as "-5" or "-.5" would otherwise be read as a cluster of short options; no
 * command has a digit as an option, so these are always operands.
 */
static bool looks_like_negative_number(const char *s) {
    return s[0] == '-' &&
           (isdigit((unsigned char)s[1]) || (s[1] == '.' && isdigit((unsigned char)s[2])));
}

/*
 * Finds a long option by its exact name or by an unambiguous prefix, the way getopt_long does,
 * so that the reordering below and getopt agree on which option an element names.
 */
static const struct option *find_long_option(const struct option *opts, const char *name,
                                             size_t len, bool *ambiguous) {
    const struct option *found = NULL;
    *ambiguous = false;
    for (const struct option *o = opts; o->name != NULL; o++) {
        if (strncmp(o->name, name, len) != 0)
            continue;
        if (strlen(o->name) == len)
            return o;
        if (found != NULL && (found->has_arg != o->has_arg || found->val != o->val))
            *ambiguous = true;
        if (found == NULL)
            found = o;
    }
    return *ambiguous ? NULL : found;
}

/* Whether the option element `s` takes the following element as its argument. */
static bool option_takes_next(const cli_args *a, const char *s) {
    if (s[1] == '-') {
        const char *name = s + 2;
        if (strchr(name, '=') != NULL)
            return false;
        bool ambiguous;
        const struct option *o = find_long_option(a->longopts, name, strlen(name), &ambiguous);
        return o != NULL && o->has_arg == required_argument;
    }
    for (const char *p = s + 1; *p != '\0'; p++) {
        const char *q = *p == ':' || *p == '+' ? NULL : strchr(a->optstring + 2, *p);
        if (q != NULL && q[1] == ':')
            return p[1] == '\0';
    }
    return false;
}

int cli_args_init(cli_args *a, const cli_command *cmd, int argc, char **argv, const char *shortopts,
                  const struct option *longopts) {
    memset(a, 0, sizeof(*a));
    a->cmd = cmd;
    a->longopts = longopts;
    a->argv = argv;
    int n = snprintf(a->optstring, sizeof(a->optstring), "+:%s", shortopts);
    if (n < 0 || (size_t)n >= sizeof(a->optstring))
        return cli_failf("%s: internal error: option string too long", cmd->name);

    /*
     * Options go first, then the operands, each group in its original order; getopt is then
     * shown only the options. An explicit "--" ends the options and is dropped.
     */
    char **opts = malloc(sizeof(char *) * (size_t)(argc > 0 ? argc : 1));
    char **ops = malloc(sizeof(char *) * (size_t)(argc > 0 ? argc : 1));
    if (opts == NULL || ops == NULL) {
        free(opts);
        free(ops);
        return cli_fail(cmd->name, -ENOMEM);
    }
    int nopts = 0, nops = 0;
    for (int i = 1; i < argc; i++) {
        char *s = argv[i];
        if (strcmp(s, "--") == 0) {
            while (++i < argc)
                ops[nops++] = argv[i];
            break;
        }
        if (s[0] != '-' || s[1] == '\0' || looks_like_negative_number(s)) {
            ops[nops++] = s;
            continue;
        }
        opts[nopts++] = s;
        if (option_takes_next(a, s) && i + 1 < argc)
            opts[nopts++] = argv[++i];
    }
    memcpy(argv + 1, opts, sizeof(char *) * (size_t)nopts);
    memcpy(argv + 1 + nopts, ops, sizeof(char *) * (size_t)nops);
    free(opts);
    free(ops);
    a->optc = 1 + nopts;
    a->operands = argv + a->optc;
    a->noperands = nops;

    /* Zero makes glibc's getopt start afresh; we print our own messages. */
    optind = 0;
    opterr = 0;
    return 0;
}

/* Names an option in a message: the element as typed for a long one, "-c" for a short one. */
static void describe_option(const char *elem, int c, char *buf, size_t cap) {
    char tmp[128];
    if (elem != NULL && elem[0] == '-' && elem[1] == '-') {
        size_t len = strcspn(elem, "=");
        snprintf(tmp, sizeof(tmp), "%.*s", (int)(len < 100 ? len : 100), elem);
    } else {
        /* A byte that is not printable is escaped below, like any other user input. */
        tmp[0] = '-';
        tmp[1] = (char)(c != 0 ? c : '?');
        tmp[2] = '\0';
    }
    cli_escape_into(tmp, buf, cap);
}

static int report_bad_option(cli_args *a, int c, const char *elem) {
    char what[160];
    describe_option(elem, optopt, what, sizeof(what));
    if (c == ':')
        return cli_usage_error(a->cmd, "option '%s' needs an argument", what);
    if (elem != NULL && elem[0] == '-' && elem[1] == '-') {
        bool ambiguous;
        const char *name = elem + 2;
        size_t len = strcspn(name, "=");
        const struct option *o = find_long_option(a->longopts, name, len, &ambiguous);
        if (ambiguous)
            return cli_usage_error(a->cmd, "ambiguous option '%s'", what);
        if (o != NULL && name[len] == '=' && o->has_arg == no_argument)
            return cli_usage_error(a->cmd, "option '--%s' takes no argument", o->name);
    }
    return cli_usage_error(a->cmd, "unknown option '%s'", what);
}

int cli_next_opt(cli_args *a) {
    /* The element getopt is about to read; a long option is always a whole element. */
    int before = optind < 1 ? 1 : optind;
    const char *elem = before < a->optc ? a->argv[before] : NULL;
    int c = getopt_long(a->optc, a->argv, a->optstring, a->longopts, NULL);
    switch (c) {
    case 'h':
        cli_print_help(a->cmd, stdout);
        a->status = CLI_EXIT_OK;
        return CLI_OPT_STOP;
    case '?':
    case ':':
        a->status = report_bad_option(a, c, elem);
        return CLI_OPT_STOP;
    default:
        return c;
    }
}

int cli_check_operands(cli_args *a, int min, int max) {
    if (a->noperands < min)
        return cli_usage_error(a->cmd, "missing operand");
    if (max >= 0 && a->noperands > max) {
        char what[128];
        cli_escape_into(a->operands[max], what, sizeof(what));
        return cli_usage_error(a->cmd, "unexpected operand '%s'", what);
    }
    return 0;
}

void cli_print_help(const cli_command *cmd, FILE *f) {
    fprintf(f, "Usage: ultradict %s %s\n%s\n\n%s", cmd->name, cmd->synopsis, cmd->summary,
            cmd->help);
}

int cli_usage_error(const cli_command *cmd, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "ultradict: %s: ", cmd->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nUsage: ultradict %s %s\nTry 'ultradict %s --help' for more information.\n",
            cmd->name, cmd->synopsis, cmd->name);
    return CLI_EXIT_USAGE;
}

/*
 * Reports a malformed number as "WHAT: BEFORE 'TEXT' AFTER", quoting the text escaped (it comes
 * straight from the user).
 */
static int bad_number(const cli_command *cmd, const char *what, const char *s, const char *before,
                      const char *after) {
    char text[128];
    cli_escape_into(s, text, sizeof(text));
    return cli_usage_error(cmd, "%s: %s '%s' %s", what, before, text, after);
}

/*
 * Reads the leading decimal digits of s as an unsigned 64-bit number, a `kind` ("size",
 * "count") for the messages, with *end after the digits (end NULL: s must be digits only).
 * strtoull alone would accept leading blanks and silently negate a leading '-', so the first
 * character must be a digit. Returns 0, or the usage error for a negative number, one past
 * 2^64 - 1, or no digits or others after them ("invalid KIND" and `hint`).
 */
static int read_u64(const cli_command *cmd, const char *what, const char *s, const char *kind,
                    const char *hint, uint64_t *out, char **end) {
    if (s[0] == '-')
        return bad_number(cmd, what, s, kind, "is negative");
    char invalid[32];
    snprintf(invalid, sizeof invalid, "invalid %s", kind);
    if (!isdigit((unsigned char)s[0]))
        return bad_number(cmd, what, s, invalid, hint);
    char *stop;
    errno = 0;
    unsigned long long v = strtoull(s, &stop, 10);
    if (errno == ERANGE)
        return bad_number(cmd, what, s, kind, "is too large");
    if (!end && *stop != '\0')
        return bad_number(cmd, what, s, invalid, hint);
    if (end)
        *end = stop;
    *out = (uint64_t)v;
    return 0;
}

int cli_parse_size(const cli_command *cmd, const char *what, const char *s, size_t *out) {
    static const char *const hint = "(expected digits with an optional K, M or G suffix)";
    uint64_t v;
    char *end;
    int rc = read_u64(cmd, what, s, "size", hint, &v, &end);
    if (rc != 0)
        return rc;
    unsigned shift = 0;
    switch (*end) {
    case '\0':
        break;
    case 'k':
    case 'K':
        shift = 10;
        break;
    case 'm':
    case 'M':
        shift = 20;
        break;
    case 'g':
    case 'G':
        shift = 30;
        break;
    case 't':
    case 'T':
        shift = 40;
        break;
    default:
        return bad_number(cmd, what, s, "invalid size", hint);
    }
    if (shift != 0 && end[1] != '\0')
        return bad_number(cmd, what, s, "invalid size", hint);
    if (v > (UINT64_MAX >> shift) || (v << shift) > SIZE_MAX)
        return bad_number(cmd, what, s, "size", "is too large");
    *out = (size_t)(v << shift);
    return 0;
}

int cli_parse_count(const cli_command *cmd, const char *what, const char *s, uint64_t *out) {
    uint64_t v;
    int rc = read_u64(cmd, what, s, "count", "(expected digits)", &v, NULL);
    if (rc == 0)
        *out = v;
    return rc;
}

int cli_parse_int64(const cli_command *cmd, const char *what, const char *s, int64_t *out) {
    const char *digits = s[0] == '-' || s[0] == '+' ? s + 1 : s;
    if (!isdigit((unsigned char)digits[0]))
        return bad_number(cmd, what, s, "invalid integer",
                          "(expected digits with an optional sign)");
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno == ERANGE || v < INT64_MIN || v > INT64_MAX)
        return bad_number(cmd, what, s, "integer", "is out of the 64-bit range");
    if (*end != '\0')
        return bad_number(cmd, what, s, "invalid integer",
                          "(expected digits with an optional sign)");
    *out = (int64_t)v;
    return 0;
}

int cli_parse_seconds(const cli_command *cmd, const char *what, const char *s, double *out) {
    if (s[0] == '-')
        return bad_number(cmd, what, s, "duration", "is negative");
    /* Decimal digits with at most one point, nothing else: strtod() alone would also take
     * blanks, signs, "nan", "inf", exponents and hexadecimal ("0x10" as 16 seconds). */
    size_t whole = strspn(s, "0123456789");
    size_t frac = s[whole] == '.' ? strspn(s + whole + 1, "0123456789") : 0;
    size_t len = whole + (s[whole] == '.') + frac;
    if (whole + frac == 0 || s[len] != '\0')
        return bad_number(cmd, what, s, "invalid duration", "(expected decimal seconds, e.g. 2.5)");
    errno = 0;
    double v = strtod(s, NULL);
    if (errno == ERANGE && v != 0.0)
        return bad_number(cmd, what, s, "duration", "is too large");
    if (!isfinite(v) || v > CLI_MAX_SECONDS)
        return bad_number(cmd, what, s, "duration", "is too large (at most 1000000000 seconds)");
    *out = v;
    return 0;
}

int cli_parse_mode(const cli_command *cmd, const char *what, const char *s, unsigned *out) {
    static const char *const hint = "(expected octal permission bits such as 0600)";
    size_t n = strlen(s);
    if (n == 0 || n > 4 || strspn(s, "01234567") != n)
        return bad_number(cmd, what, s, "invalid mode", hint);
    unsigned long v = strtoul(s, NULL, 8);
    if (v > 0777)
        return bad_number(cmd, what, s, "invalid mode", hint);
    *out = (unsigned)v;
    return 0;
}

bool cli_parse_flag(cli_args *a, const cli_command *cmd, int argc, char **argv,
                    const char *flag_long, char flag_short, bool *flag, int min, int max) {
    /* cli_next_opt() reads the table only while this function runs. */
    const struct option longopts[] = {
        {flag_long ? flag_long : "help", no_argument, NULL, flag_long ? flag_short : 'h'},
        CLI_OPTION_HELP,
        CLI_OPTION_END};
    char shortopts[3] = {(char)(flag_long ? flag_short : 'h'), 'h', '\0'};
    *flag = false;
    int c, rc = cli_args_init(a, cmd, argc, argv, shortopts, longopts);
    if (rc != 0) {
        a->status = rc;
        return false;
    }
    while ((c = cli_next_opt(a)) != -1) {
        if (c == CLI_OPT_STOP || !flag_long || c != flag_short)
            return false;
        *flag = true;
    }
    a->status = cli_check_operands(a, min, max);
    return a->status == 0;
}

bool cli_parse_plain(cli_args *a, const cli_command *cmd, int argc, char **argv, int min, int max) {
    bool unused;
    return cli_parse_flag(a, cmd, argc, argv, NULL, 0, &unused, min, max);
}
