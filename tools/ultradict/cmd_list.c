/*
 * cmd_list.c - the commands that list entries: keys and items, as escaped text, raw bytes or
 * JSON.
 */
#include "cli.h"

/* Nested dicts are printed recursively in JSON; a deeper chain than this is refused as damage. */
#define CLI_MAX_DEPTH 64

typedef enum { FORMAT_TEXT, FORMAT_RAW, FORMAT_JSON } list_format;

typedef struct list_job {
    bool items; /* items (KEY<TAB>VALUE) rather than keys */
    list_format format;
    const char *name; /* the dict, for messages */
} list_job;

/* A positive code of our own for print_snapshot(): nesting deeper than CLI_MAX_DEPTH. */
#define CLI_TOO_DEEP 1

/* The state of printing one (possibly nested) snapshot. */
typedef struct walk {
    const list_job *job;
    int depth;
    size_t count;
} walk;

static int print_snapshot(const list_job *job, const void *data, size_t len, int depth);

/* Writes one key or value in the chosen format. */
static void put_bytes(const list_job *job, const void *p, size_t n) {
    switch (job->format) {
    case FORMAT_TEXT:
        cli_put_escaped(stdout, p, n);
        break;
    case FORMAT_RAW:
        fwrite(p, 1, n, stdout);
        break;
    case FORMAT_JSON:
        cli_put_json_string(stdout, p, n);
        break;
    }
}

/* Prints one entry; a ud_snapshot_fn. A nested dict's value is its own snapshot. */
static int print_entry(void *ctx, const void *key, size_t klen, const void *val, size_t vlen,
                       int type) {
    walk *w = ctx;
    const list_job *job = w->job;
    bool json = job->format == FORMAT_JSON;
    if (json && w->count > 0)
        fputc(',', stdout);
    w->count++;
    put_bytes(job, key, klen);
    if (job->items) {
        fputs(json ? ":" : "\t", stdout);
        if (type != UD_TYPE_DICT) {
            put_bytes(job, val, vlen);
        } else if (!json) {
            fputs("<dict>", stdout);
        } else {
            if (w->depth + 1 >= CLI_MAX_DEPTH)
                return CLI_TOO_DEEP;
            int rc = print_snapshot(job, val, vlen, w->depth + 1);
            if (rc != 0)
                return rc;
        }
    }
    if (!json)
        fputc('\n', stdout);
    return 0;
}

/*
 * Prints every entry of a snapshot. In JSON, keys form an array and items an object (nested
 * dicts become nested objects); otherwise one entry per line.
 */
static int print_snapshot(const list_job *job, const void *data, size_t len, int depth) {
    bool json = job->format == FORMAT_JSON;
    walk w = {job, depth, 0};
    if (json)
        fputc(job->items ? '{' : '[', stdout);
    int rc = ud_snapshot_foreach(data, len, print_entry, &w);
    if (json)
        fputc(job->items ? '}' : ']', stdout);
    return rc;
}

/*
 * Lists the dict from a snapshot rather than an iterator: the snapshot is one consistent view
 * of the dict and its nested dicts, whereas an iterator walks the handle's live copy, which
 * the lookups of nested dicts would synchronise (and so invalidate) while other processes
 * write. On an error the output so far stays written and the message says why it stopped.
 */
static int print_dict(const list_job *job, ud_dict *d) {
    ud_buf snap = UD_BUF_INIT;
    int rc = ud_save(d, &snap);
    if (rc < 0) {
        ud_buf_free(&snap);
        return cli_fail(job->name, rc);
    }
    rc = print_snapshot(job, snap.data != NULL ? snap.data : "", snap.len, 0);
    if (job->format == FORMAT_JSON)
        fputc('\n', stdout);
    ud_buf_free(&snap);
    if (rc == CLI_TOO_DEEP)
        return cli_failf("%s: nested dicts deeper than %d levels", job->name, CLI_MAX_DEPTH);
    if (rc < 0)
        return cli_fail(job->name, rc);
    return CLI_EXIT_OK;
}

static int run_list(const cli_command *cmd, int argc, char **argv, bool items) {
    static const struct option longopts[] = {{"raw", no_argument, NULL, 'r'},
                                             {"json", no_argument, NULL, 'j'},
                                             CLI_OPTION_HELP,
                                             CLI_OPTION_END};
    cli_args a;
    bool raw = false, json = false;
    int c, rc = cli_args_init(&a, cmd, argc, argv, "rjh", longopts);
    if (rc != 0)
        return rc;
    while ((c = cli_next_opt(&a)) != -1) {
        if (c == 'r')
            raw = true;
        else if (c == 'j')
            json = true;
        else
            return a.status;
    }
    if (raw && json)
        return cli_usage_error(cmd, "--raw and --json cannot be used together");
    if ((rc = cli_check_operands(&a, 1, 1)) != 0)
        return rc;

    list_job job = {items, json ? FORMAT_JSON : raw ? FORMAT_RAW : FORMAT_TEXT, a.operands[0]};
    ud_dict *d;
    if ((rc = cli_attach(job.name, &d)) != 0)
        return rc;
    rc = print_dict(&job, d);
    return cli_close(d, rc);
}

static int run_keys(const cli_command *cmd, int argc, char **argv) {
    return run_list(cmd, argc, argv, false);
}

static int run_items(const cli_command *cmd, int argc, char **argv) {
    return run_list(cmd, argc, argv, true);
}

#define LIST_OPTIONS                                                                               \
    "Options:\n"                                                                                   \
    "  -r, --raw       write the bytes as they are, without escaping\n"                            \
    "  -j, --json      write JSON (bytes that are not UTF-8 become \\u00NN)\n"                     \
    "  -h, --help      show this help\n"

const cli_command cli_cmd_keys = {
    "keys", "NAME [--raw|--json]", "Print the keys, one per line, in insertion order.",
    "Bytes that are not printable (and the backslash) are written as \\xNN (\\\\), so that\n"
    "every key stays on one line.\n"
    "\n" LIST_OPTIONS,
    run_keys};

const cli_command cli_cmd_items = {
    "items", "NAME [--raw|--json]", "Print KEY<TAB>VALUE for every entry, in insertion order.",
    "Bytes that are not printable (and the backslash) are written as \\xNN (\\\\), so that\n"
    "every entry stays on one line. A nested dict is shown as <dict> in text and as an object\n"
    "with its contents in JSON.\n"
    "\n" LIST_OPTIONS,
    run_items};
