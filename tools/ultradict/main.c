/*
 * main.c - the `ultradict` command-line tool: finds the command and runs it.
 *
 * Global options come before the command (--help, --version); everything after the command
 * belongs to it. See cli.h for the exit statuses.
 */
#include <errno.h>
#include <string.h>

#include "cli.h"

/* In the order `ultradict --help` lists them: the dict protocol first, then administration. */
static const cli_command *const commands[] = {
    &cli_cmd_create, &cli_cmd_get,     &cli_cmd_set,    &cli_cmd_del,
    &cli_cmd_incr,   &cli_cmd_len,     &cli_cmd_keys,   &cli_cmd_items,
    &cli_cmd_status, &cli_cmd_dump,    &cli_cmd_load,   &cli_cmd_watch,
    &cli_cmd_save,   &cli_cmd_restore, &cli_cmd_unlink, &cli_cmd_ls,
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const cli_command *find_command(const char *name) {
    for (size_t i = 0; i < NCOMMANDS; i++) {
        if (strcmp(commands[i]->name, name) == 0)
            return commands[i];
    }
    return NULL;
}

static void print_usage(FILE *f) {
    fputs("Usage: ultradict [--help|--version] COMMAND [ARGS...]\n"
          "Inspect, edit, save, restore and clean up UltraDicts: dicts shared between processes\n"
          "through shared memory.\n"
          "\n"
          "Commands:\n",
          f);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-8s %s\n", commands[i]->name, commands[i]->summary);
    fputs("\n"
          "Run 'ultradict COMMAND --help' for the arguments and options of a command.\n"
          "A dict is never removed by this tool except by 'ultradict unlink'.\n"
          "\n"
          "Exit status: 0 on success; 1 on an error, with a one-line message on stderr;\n"
          "2 on a usage error; 3 when 'watch' times out.\n",
          f);
}

/* Reports an unknown command or global option (`kind`) and how to find the right one. */
static int usage_error(const char *kind, const char *what) {
    char text[128];
    cli_escape_into(what, text, sizeof(text));
    fprintf(stderr, "ultradict: unknown %s '%s'", kind, text);
    fputs("\nUsage: ultradict [--help|--version] COMMAND [ARGS...]\n"
          "Try 'ultradict --help' for the list of commands.\n",
          stderr);
    return CLI_EXIT_USAGE;
}

/*
 * Output is buffered; a failure to write it (a full disk, a closed pipe that does not raise
 * SIGPIPE) only shows when it is flushed, and must not pass for success.
 */
static int finish_output(int status) {
    if (fflush(stdout) != 0 || ferror(stdout)) {
        int err = errno != 0 ? errno : EIO;
        fprintf(stderr, "ultradict: standard output: %s\n", ud_strerror(-err));
        return status == CLI_EXIT_OK ? CLI_EXIT_FAILURE : status;
    }
    return status;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        print_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *first = argv[1];
    if (strcmp(first, "--help") == 0 || strcmp(first, "-h") == 0) {
        print_usage(stdout);
        return finish_output(CLI_EXIT_OK);
    }
    if (strcmp(first, "--version") == 0 || strcmp(first, "-V") == 0) {
        printf("ultradict %s\n", UD_VERSION_STRING);
        return finish_output(CLI_EXIT_OK);
    }
    if (strcmp(first, "help") == 0) {
        if (argc == 2) {
            print_usage(stdout);
            return finish_output(CLI_EXIT_OK);
        }
        const cli_command *cmd = find_command(argv[2]);
        if (cmd == NULL)
            return usage_error("command", argv[2]);
        cli_print_help(cmd, stdout);
        return finish_output(CLI_EXIT_OK);
    }
    if (first[0] == '-')
        return usage_error("option", first);

    const cli_command *cmd = find_command(first);
    if (cmd == NULL)
        return usage_error("command", first);
    errno = 0;
    return finish_output(cmd->run(cmd, argc - 1, argv + 1));
}
