/*
 * cmd_snapshot.c - portable snapshots: save a dict to a file or to any backend URI, and restore
 * it from one.
 */
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "kv.h"

/*
 * A target that starts with a URI scheme ("sqlite:", "redis://", "cloudflare-kv://" ...) names
 * a backend; anything else is a file ("./a:b" for a file whose name has a colon).
 */
static bool is_backend_uri(const char *t) {
    size_t n = strspn(t, "abcdefghijklmnopqrstuvwxyz0123456789+-");
    return n > 0 && t[0] >= 'a' && t[0] <= 'z' && t[n] == ':';
}

/* The key prefix under which a dict's snapshot lives in a backend unless --prefix says. */
static void default_prefix(const char *name, char *buf, size_t len) {
    snprintf(buf, len, "ultradict/%s/", name);
}

static int kv_failure(const char *uri, kv_conn *c, int rc) {
    if (strncmp(ud_errname(rc), "UD_", 3) == 0)
        return cli_fail(uri, rc); /* an UltraDict code: a bad snapshot */
    const char *detail = kv_errmsg(c);
    return cli_failf("%s: %s", uri, detail[0] ? detail : kv_strerror(rc));
}

/* Writes the snapshot to the backend at `uri` under `prefix`, and says what it wrote. */
static int save_to_backend(const char *uri, const char *prefix, const ud_buf *snap) {
    kv_conn *c;
    int rc = kv_open(uri, &c);
    if (rc)
        return cli_failf("%s: %s", uri, kv_errmsg(NULL));
    kv_manifest m;
    rc = kv_save_entries(c, prefix, snap->data ? snap->data : "", snap->len, &m);
    int status = rc ? kv_failure(uri, c, rc) : 0;
    kv_close(c);
    if (!status)
        printf("saved %" PRIu64 " entries (%" PRIu64 " bytes, checksum %016" PRIx64
               ") to %s under \"%s\"\n",
               m.count, m.bytes, m.checksum, uri, prefix);
    return status;
}

static int add_entry(void *ctx, const void *key, size_t klen, const void *val, size_t vlen,
                     int type) {
    return ud_snapshot_add(ctx, key, klen, val, vlen, type);
}

/* Reads a snapshot back from the backend at `uri`: verified there (count, checksum), then
 * rebuilt as a snapshot that ud_restore() verifies again. */
static int load_from_backend(const char *uri, const char *prefix, ud_buf *snap) {
    kv_conn *c;
    int rc = kv_open(uri, &c);
    if (rc)
        return cli_failf("%s: %s", uri, kv_errmsg(NULL));
    snap->len = 0;
    rc = kv_load_entries(c, prefix, add_entry, snap, NULL);
    int status = 0;
    if (rc == KV_ENOTFOUND)
        status = cli_failf("%s: no snapshot under \"%s\"", uri, prefix);
    else if (rc)
        status = kv_failure(uri, c, rc);
    else if ((rc = ud_snapshot_finish(snap)) != 0)
        status = cli_fail(uri, rc);
    kv_close(c);
    return status;
}

/* The FILE|URI operand and --prefix: whether it names a backend, or a usage error. */
static int check_target(const cli_command *cmd, const char *path, const char *prefix,
                        bool *remote) {
    if (path[0] == '\0')
        return cli_usage_error(cmd, "FILE or URI must not be empty");
    *remote = is_backend_uri(path);
    if (prefix && !*remote)
        return cli_usage_error(cmd, "--prefix applies to a backend URI, not to a file");
    return 0;
}

/* ---- save ---- */

static int run_save(const cli_command *cmd, int argc, char **argv) {
    static const struct option longopts[] = {
        {"prefix", required_argument, NULL, 'p'}, CLI_OPTION_HELP, CLI_OPTION_END};
    cli_args a;
    const char *prefix = NULL;
    int c, rc = cli_args_init(&a, cmd, argc, argv, "p:h", longopts);
    if (rc != 0)
        return rc;
    while ((c = cli_next_opt(&a)) != -1) {
        if (c != 'p')
            return a.status;
        prefix = optarg;
    }
    if ((rc = cli_check_operands(&a, 2, 2)) != 0)
        return rc;
    const char *name = a.operands[0], *path = a.operands[1];
    bool remote;
    if ((rc = check_target(cmd, path, prefix, &remote)) != 0)
        return rc;

    ud_dict *d;
    if ((rc = cli_attach(name, &d)) != 0)
        return rc;
    if (remote) {
        char def[UD_FULL_NAME_BUF + 16];
        default_prefix(name, def, sizeof def);
        ud_buf snap = UD_BUF_INIT;
        int err = ud_save(d, &snap);
        rc = err < 0 ? cli_fail(name, err) : save_to_backend(path, prefix ? prefix : def, &snap);
        ud_buf_free(&snap);
    } else if (strcmp(path, "-") == 0) {
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
    "save", "NAME FILE|URI [--prefix P]",
    "Write a portable snapshot of the dict to FILE (\"-\": standard output) or to a backend.",
    "The snapshot is versioned and checksummed, holds nested dicts too, and does not depend on\n"
    "the machine. A file is written under a temporary name and renamed into place, so a\n"
    "reader never sees half of it.\n"
    "\n"
    "A URI (sqlite:PATH, lmdb:DIR, redis://HOST:PORT, memcached://HOST:PORT,\n"
    "cloudflare-kv://HOST:PORT, cloudflare-d1://HOST:PORT, ...) stores one key per entry\n"
    "under the prefix, an index, and a manifest with the count and a checksum, written last.\n"
    "The new snapshot is written beside the old one, which is removed only after the manifest\n"
    "names the new one: a save killed at any moment leaves the old snapshot or the new one.\n"
    "\n"
    "Options:\n"
    "  -p, --prefix P  key prefix in the backend (default \"ultradict/NAME/\")\n"
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

/* Opens NAME with the options `o` (NULL: the defaults) in create mode `create`; the dict is
 * never unlinked on close (it is the user's). */
static int open_kept(const char *name, const ud_options *o, int create, ud_dict **d) {
    ud_options opts = o ? *o : (ud_options)UD_OPTIONS_INIT;
    opts.name = name;
    opts.create = create;
    opts.auto_unlink = UD_AUTO_UNLINK_OFF;
    return ud_open(&opts, d);
}

/*
 * Attaches to NAME, or creates it with `create` when it does not exist. *created tells which, so
 * that a failed restore can remove a dict it created. A dict that appears between the two
 * attempts (another process created it) is attached to.
 */
static int open_or_create(const char *name, const ud_options *create, ud_dict **d, bool *created) {
    *created = false;
    int err = open_kept(name, NULL, UD_ATTACH_ONLY, d);
    if (err != UD_ENOENT)
        return err;
    err = open_kept(name, create, UD_CREATE_ONLY, d);
    if (err == 0) {
        *created = true;
        return 0;
    }
    return err == UD_EEXIST ? open_kept(name, NULL, UD_ATTACH_ONLY, d) : err;
}

/*
 * Reads the snapshot to restore from the backend at `path` (under `prefix`, or the dict's
 * default one), from standard input ("-") or from a file, and verifies it; *nested tells
 * whether it holds nested dicts.
 */
static int read_snapshot(const char *name, const char *path, const char *prefix, bool remote,
                         ud_buf *snap, bool *nested) {
    bool stdin_input = strcmp(path, "-") == 0;
    int err;
    if (remote) {
        char def[UD_FULL_NAME_BUF + 16];
        default_prefix(name, def, sizeof def);
        int rc = load_from_backend(path, prefix ? prefix : def, snap);
        if (rc != 0)
            return rc;
        err = 0;
    } else {
        err = stdin_input ? cli_read_fd(STDIN_FILENO, snap) : cli_read_file(path, snap);
    }
    if (err == 0)
        err = ud_snapshot_foreach(snap->data != NULL ? snap->data : "", snap->len, scan_entry,
                                  nested);
    return err < 0 ? cli_fail(stdin_input ? "standard input" : path, err) : 0;
}

/* Restores `snap` into NAME, creating it with `o` if it does not exist (and removing it again
 * if the restore fails). */
static int restore_into(const char *name, const ud_options *o, const ud_buf *snap) {
    ud_dict *d;
    bool created;
    int err = open_or_create(name, o, &d, &created);
    if (err < 0)
        return cli_fail(name, err);
    int rc = 0;
    err = ud_restore(d, snap->data, snap->len);
    if (err < 0) {
        rc = cli_fail(name, err);
        if (created)
            ud_unlink(d);
    }
    return cli_close(d, rc);
}

static int run_restore(const cli_command *cmd, int argc, char **argv) {
    static const struct option prefix_opt = {"prefix", required_argument, NULL, 'p'};
    cli_args a;
    ud_options o = UD_OPTIONS_INIT;
    const char *prefix;
    if (!cli_parse_create(&a, cmd, argc, argv, prefix_opt, &prefix, &o, 2, 2))
        return a.status;
    int rc;
    const char *name = a.operands[0], *path = a.operands[1];
    if (path[0] != '\0' && name[0] == '\0') /* after an empty FILE, before a misused --prefix */
        return cli_fail(name, UD_ENAME);
    bool remote;
    if ((rc = check_target(cmd, path, prefix, &remote)) != 0)
        return rc;

    /*
     * The snapshot is read and verified before the dict is touched, so that a missing or
     * damaged file never leaves an empty dict behind, and a snapshot with nested dicts creates
     * a dict that can hold them.
     */
    ud_buf snap = UD_BUF_INIT;
    bool nested = false;
    rc = read_snapshot(name, path, prefix, remote, &snap, &nested);
    if (rc == 0) {
        o.recurse = o.recurse || nested;
        rc = restore_into(name, &o, &snap);
    }
    ud_buf_free(&snap);
    return rc;
}

const cli_command cli_cmd_restore = {
    "restore", "NAME FILE|URI [OPTIONS]",
    "Replace the dict's contents with a snapshot from FILE (\"-\": standard input) or a backend.",
    "The snapshot is verified entirely before anything changes, and the replacement is one\n"
    "atomic step for every process. A dict that does not exist is created (and stays until\n"
    "`ultradict unlink NAME`); the options below apply only then. A snapshot with nested\n"
    "dicts creates a dict with --recurse. From a backend URI, the snapshot saved under the\n"
    "prefix is read back and its count and checksum verified first.\n"
    "\n"
    "Options:\n" CLI_CREATE_HELP
    "  -p, --prefix P            key prefix in the backend (default \"ultradict/NAME/\")\n"
    "  -h, --help                show this help\n",
    run_restore};
