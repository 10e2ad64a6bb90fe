/*
 * cmd_ls.c - ls: the dicts on this machine, their segments and sizes, and which look orphaned
 * or damaged.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef struct dict_list {
    ud_dict_info *items;
    size_t len, cap;
    bool all;
} dict_list;

/* Collects the dicts first: they are sorted by name before anything is printed. */
static int collect(void *ctx, const ud_dict_info *info) {
    dict_list *l = ctx;
    if (info->is_child && !l->all)
        return 0;
    if (l->len == l->cap) {
        size_t cap = l->cap == 0 ? 64 : l->cap * 2;
        ud_dict_info *p = realloc(l->items, cap * sizeof(*p));
        if (p == NULL)
            return -ENOMEM;
        l->items = p;
        l->cap = cap;
    }
    l->items[l->len] = *info;
    /* The name comes from the file system; make sure it is terminated whatever it held. */
    l->items[l->len].name[sizeof(info->name) - 1] = '\0';
    l->len++;
    return 0;
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const ud_dict_info *)a)->name, ((const ud_dict_info *)b)->name);
}

/* The FLAGS column: ORPHANED, DAMAGED(UD_E...), CHILD, comma-separated, or "-". */
static void format_flags(const ud_dict_info *in, char *buf, size_t cap) {
    size_t pos = 0;
    buf[0] = '\0';
    if (in->error != 0)
        pos += (size_t)snprintf(buf + pos, cap - pos, "DAMAGED(%s)", ud_errname(in->error));
    if (in->orphaned && pos < cap)
        pos += (size_t)snprintf(buf + pos, cap - pos, "%sORPHANED", pos > 0 ? "," : "");
    if (in->is_child && pos < cap)
        pos += (size_t)snprintf(buf + pos, cap - pos, "%sCHILD", pos > 0 ? "," : "");
    if (pos == 0)
        snprintf(buf, cap, "-");
}

static void print_table(const dict_list *l) {
    int width = 4;
    for (size_t i = 0; i < l->len; i++) {
        char name[sizeof(l->items[i].name) * 4 + 4];
        cli_escape_into(l->items[i].name, name, sizeof(name));
        int n = (int)strlen(name);
        width = n > width ? n : width;
    }
    printf("%-*s %8s %8s %8s %8s %5s %8s  %s\n", width, "NAME", "SEGMENTS", "BYTES", "ENTRIES",
           "CREATOR", "ALIVE", "ATTACHED", "FLAGS");
    for (size_t i = 0; i < l->len; i++) {
        const ud_dict_info *in = &l->items[i];
        char name[sizeof(in->name) * 4 + 4], bytes[32], flags[96];
        cli_escape_into(in->name, name, sizeof(name));
        cli_human_bytes(in->bytes, bytes, sizeof(bytes));
        format_flags(in, flags, sizeof(flags));
        printf("%-*s %8d %8s %8zu %8ld %5s %8u  %s\n", width, name, in->segments, bytes, in->len,
               (long)in->creator_pid, in->creator_alive ? "yes" : "no", in->attached_alive, flags);
    }
}

static void print_json(const dict_list *l) {
    fputc('[', stdout);
    for (size_t i = 0; i < l->len; i++) {
        const ud_dict_info *in = &l->items[i];
        fputs(i > 0 ? ",\n {" : "\n {", stdout);
        fputs("\"name\":", stdout);
        cli_put_json_string(stdout, in->name, strlen(in->name));
        printf(",\"segments\":%d,\"bytes\":%" PRIu64 ",\"entries\":%zu,\"creator_pid\":%ld"
               ",\"creator_alive\":%s,\"attached\":%u,\"orphaned\":%s,\"is_child\":%s,"
               "\"error\":",
               in->segments, in->bytes, in->len, (long)in->creator_pid,
               in->creator_alive ? "true" : "false", in->attached_alive,
               in->orphaned ? "true" : "false", in->is_child ? "true" : "false");
        if (in->error != 0)
            printf("\"%s\"}", ud_errname(in->error));
        else
            fputs("null}", stdout);
    }
    fputs(l->len > 0 ? "\n]\n" : "]\n", stdout);
}

static int run_ls(const cli_command *cmd, int argc, char **argv) {
    static const struct option longopts[] = {{"json", no_argument, NULL, 'j'},
                                             {"all", no_argument, NULL, 'a'},
                                             CLI_OPTION_HELP,
                                             CLI_OPTION_END};
    cli_args a;
    bool json = false;
    dict_list l = {NULL, 0, 0, false};
    int c, rc = cli_args_init(&a, cmd, argc, argv, "jah", longopts);
    if (rc != 0)
        return rc;
    while ((c = cli_next_opt(&a)) != -1) {
        if (c == 'j')
            json = true;
        else if (c == 'a')
            l.all = true;
        else
            return a.status;
    }
    if ((rc = cli_check_operands(&a, 0, 0)) != 0)
        return rc;

    int err = ud_list(collect, &l);
    if (err < 0) {
        free(l.items);
        return cli_fail("ls", err);
    }
    if (l.len > 0)
        qsort(l.items, l.len, sizeof(*l.items), by_name);
    if (json)
        print_json(&l);
    else
        print_table(&l);
    free(l.items);
    return CLI_EXIT_OK;
}

const cli_command cli_cmd_ls = {
    "ls", "[--json] [--all]", "List the dicts on this machine.",
    "Columns: NAME, SEGMENTS (files in /dev/shm), BYTES (their total size), ENTRIES (as the\n"
    "last writer left them), CREATOR (pid) and whether it is ALIVE, ATTACHED (live processes),\n"
    "and FLAGS:\n"
    "  ORPHANED            no live process uses it and its creator is gone: `ultradict unlink`\n"
    "                      removes it (a dict made by `ultradict create` is orphaned by design)\n"
    "  DAMAGED(UD_E...)    its control segment could not be read, and why\n"
    "  CHILD               a nested dict or the register of a recursive dict (with --all)\n"
    "\n"
    "Options:\n"
    "  -j, --json      write a JSON array of objects instead of the table\n"
    "  -a, --all       include nested dicts and registers\n"
    "  -h, --help      show this help\n",
    run_ls};
