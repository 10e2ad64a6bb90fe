/* list.c - the dicts on this machine, found by their control segments in /dev/shm. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

static const char *const aux[3] = {".stream", ".dump0", ".dump1"};

/* Reads the control segment read-only, without taking part in the dict. */
static void inspect(const char *name, ud_dict_info *info) {
    char path[UD__SEG_NAME_MAX + 2];
    if (ud__seg_path(path, name, "") != 0) {
        info->error = UD_ENAME;
        return;
    }
    int fd = ud__shm_open_file(path, O_RDONLY);
    if (fd < 0) {
        info->error = fd;
        return;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || (size_t)st.st_size < sizeof(ud__control)) {
        info->error = ud__half_created_dead(fd) == 1 ? UD_EINCOMPLETE : UD_ECORRUPT;
        close(fd);
        return;
    }
    /* A copy, not a mapping: another process may truncate the file at any moment (a crash
     * in ud_open, a damaged dict), and reading a mapping past the file's end is SIGBUS. */
    ud__control *c = malloc(sizeof *c);
    if (c == NULL) {
        info->error = -ENOMEM;
        close(fd);
        return;
    }
    if (pread(fd, c, sizeof *c, 0) != (ssize_t)sizeof *c) {
        info->error = ud__half_created_dead(fd) == 1 ? UD_EINCOMPLETE : UD_ECORRUPT;
        free(c);
        close(fd);
        return;
    }
    if (c->magic == 0 && ud__half_created_dead(fd) == 1)
        info->error = UD_EINCOMPLETE;
    else if (c->magic != UD__MAGIC)
        info->error = UD_EBADMAGIC;
    else if (c->version != UD__LAYOUT_VERSION || c->header_size != sizeof *c)
        info->error = UD_EVERSION;
    else {
        info->len = (size_t)atomic_load(&c->entries);
        info->creator_pid = c->creator_pid;
        uint64_t creator = ((uint64_t)(uint32_t)c->creator_pid << 32) | c->creator_start;
        info->creator_alive = ud__ident_alive(creator) == 1;
        info->attached_alive = ud__count_attached(c);
        info->orphaned = !info->creator_alive && info->attached_alive == 0;
    }
    free(c);
    close(fd);
}

static int add_segment(const char *base, const char *suffix, ud_dict_info *info) {
    char path[512];
    snprintf(path, sizeof path, "/dev/shm/%s%s", base, suffix);
    struct stat st;
    if (stat(path, &st) != 0)
        return 0;
    info->segments++;
    info->bytes += (uint64_t)st.st_size;
    return 1;
}

int ud_list(ud_list_fn fn, void *ctx) {
    if (!fn)
        return UD_EINVAL;
    ud__init_process();
    DIR *dir = opendir("/dev/shm");
    if (!dir)
        return -errno;
    struct dirent *de;
    int rc = 0;
    while (!rc && (de = readdir(dir)) != NULL) {
        const char *name = de->d_name;
        if (name[0] == '.' || strlen(name) >= UD_FULL_NAME_BUF || ud__validate_full_name(name) != 0)
            continue;
        /* A dict is a control segment with its stream beside it; other files with a valid
         * name are reported only if they carry our magic (damaged ones with an error). */
        ud_dict_info info;
        memset(&info, 0, sizeof info);
        memcpy(info.name, name, strlen(name) + 1);
        info.is_child = strchr(name, '.') != NULL;
        add_segment(name, "", &info);
        int parts = 0;
        for (int i = 0; i < 3; i++)
            parts += add_segment(name, aux[i], &info);
        inspect(name, &info);
        if (parts == 0 && info.error != 0 && info.error != UD_EINCOMPLETE)
            continue; /* somebody else's file */
        if (parts < 3 && info.error == 0)
            info.error = UD_ECORRUPT;
        rc = fn(ctx, &info);
    }
    closedir(dir);
    return rc;
}
