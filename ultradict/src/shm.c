/* shm.c - names, segments, and the identity of this process. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define UD__SHM_DIR "/dev/shm"

int ud__validate_name(const char *name) {
    if (!name)
        return UD_ENAME;
    size_t n = strlen(name);
    if (n == 0 || n > UD_NAME_MAX)
        return UD_ENAME;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-';
        if (!ok)
            return UD_ENAME;
    }
    return 0;
}

/* Accepts a user name, or a nested child's name: NAME(.c<hex>)*. */
int ud__validate_full_name(const char *name) {
    if (!name)
        return UD_ENAME;
    const char *dot = strchr(name, '.');
    size_t n = dot ? (size_t)(dot - name) : strlen(name);
    char root[UD_NAME_MAX + 1];
    if (n == 0 || n > UD_NAME_MAX)
        return UD_ENAME;
    memcpy(root, name, n);
    root[n] = '\0';
    int rc = ud__validate_name(root);
    if (rc)
        return rc;
    if (strlen(name) > UD_FULL_NAME_MAX)
        return UD_ENAME;
    for (const char *p = dot; p && *p;) {
        if (p[0] != '.' || p[1] != 'c')
            return UD_ENAME;
        p += 2;
        const char *q = p;
        while ((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'f'))
            q++;
        if (q == p || (*q != '\0' && *q != '.'))
            return UD_ENAME;
        p = q;
    }
    return 0;
}

int ud__seg_path(char *out, const char *base, const char *suffix) {
    int n = snprintf(out, UD__SEG_NAME_MAX + 2, "/%s%s", base, suffix);
    if (n < 0 || n > UD__SEG_NAME_MAX + 1)
        return UD_ENAME;
    return 0;
}

static int map_fd(ud__seg *s, int fd, size_t size) {
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return -errno;
    s->fd = fd;
    s->addr = p;
    s->size = size;
    return 0;
}

int ud__seg_create(ud__seg *s, const char *base, const char *suffix, unsigned mode, size_t size) {
    char path[UD__SEG_NAME_MAX + 2];
    int rc = ud__seg_path(path, base, suffix);
    if (rc)
        return rc;
    int fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return errno == EEXIST ? UD_EEXIST : -errno;
    /* shm_open applies the umask; the caller asked for exactly `mode`. */
    if (fchmod(fd, mode) != 0 || ftruncate(fd, (off_t)size) != 0) {
        rc = -errno;
        goto fail;
    }
    rc = map_fd(s, fd, size);
    if (rc)
        goto fail;
    return 0;
fail:
    close(fd);
    shm_unlink(path);
    return rc;
}

int ud__shm_open_file(const char *path, int flags) {
    int fd = shm_open(path, flags | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC, 0);
    if (fd < 0)
        return errno == ENOENT ? UD_ENOENT : errno == ELOOP ? UD_EBADMAGIC : -errno;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        int rc = S_ISREG(st.st_mode) ? -errno : UD_EBADMAGIC;
        close(fd);
        return rc;
    }
    return fd;
}

/* ud__shm_open_file() of segment base+suffix: the descriptor, or a negative code. */
static int open_named(const char *base, const char *suffix, int flags) {
    char path[UD__SEG_NAME_MAX + 2];
    int rc = ud__seg_path(path, base, suffix);
    return rc ? rc : ud__shm_open_file(path, flags);
}

int ud__seg_open(ud__seg *s, const char *base, const char *suffix) {
    int fd = open_named(base, suffix, O_RDWR);
    if (fd < 0)
        return fd;
    int rc;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = -errno;
        goto fail;
    }
    if (st.st_size <= 0) {
        rc = UD_ECORRUPT;
        goto fail;
    }
    rc = map_fd(s, fd, (size_t)st.st_size);
    if (rc)
        goto fail;
    return 0;
fail:
    close(fd);
    return rc;
}

static int remap(ud__seg *s, size_t size) {
    void *p = mremap(s->addr, s->size, size, MREMAP_MAYMOVE);
    if (p == MAP_FAILED)
        return -errno;
    s->addr = p;
    s->size = size;
    return 0;
}

int ud__seg_grow(ud__seg *s, size_t size) {
    struct stat st;
    if (fstat(s->fd, &st) != 0)
        return -errno;
    if (size > (size_t)INT64_MAX)
        return -EFBIG;
    bool grown = (size_t)st.st_size < size;
    if (grown && ftruncate(s->fd, (off_t)size) != 0)
        return -errno;
    if ((size_t)st.st_size > size)
        size = (size_t)st.st_size;
    int rc = size > s->size ? remap(s, size) : 0;
    /* A size that cannot be mapped must not stay in the file, or every process would fail to
     * map it from now on (the caller holds the lock: nobody else grows it meanwhile). */
    if (rc && grown && ftruncate(s->fd, st.st_size) != 0)
        rc = -errno;
    return rc;
}

int ud__seg_refresh(ud__seg *s) {
    struct stat st;
    if (fstat(s->fd, &st) != 0)
        return -errno;
    if ((size_t)st.st_size > s->size)
        return remap(s, (size_t)st.st_size);
    return 0;
}

void ud__seg_close(ud__seg *s) {
    if (s->addr)
        munmap(s->addr, s->size);
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    s->addr = NULL;
    s->size = 0;
}

int ud__seg_unlink(const char *base, const char *suffix) {
    char path[UD__SEG_NAME_MAX + 2];
    int rc = ud__seg_path(path, base, suffix);
    if (rc)
        return rc;
    return shm_unlink(path) == 0 ? 0 : -errno;
}

/* Reads the first 8 bytes of a segment into *magic (0 if it is shorter). 0, or why it could
 * not be opened (UD_ENOENT, -EACCES, UD_EBADMAGIC for what is not a regular file...). */
static int seg_magic(const char *base, const char *suffix, uint64_t *magic) {
    *magic = 0;
    int fd = open_named(base, suffix, O_RDONLY);
    if (fd < 0)
        return fd;
    if (pread(fd, magic, sizeof *magic, 0) != (ssize_t)sizeof *magic)
        *magic = 0;
    close(fd);
    return 0;
}

static int seg_exists(const char *base, const char *suffix) {
    char path[UD__SEG_NAME_MAX + 16];
    snprintf(path, sizeof path, UD__SHM_DIR "/%s%s", base, suffix);
    return access(path, F_OK) == 0;
}

/*
 * True if `entry` (a file name in /dev/shm) is a segment of the dict tree rooted at `name`:
 * name(.c<hex>)* followed by nothing or one of our suffixes. Nothing else is ever removed, so
 * unlinking "sem" does not touch POSIX semaphores called "sem.*".
 */
static bool in_tree(const char *entry, const char *name, size_t n) {
    if (strncmp(entry, name, n) != 0)
        return false;
    const char *p = entry + n;
    bool child = false;
    while (p[0] == '.' && p[1] == 'c') {
        const char *q = p + 2;
        while ((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'f'))
            q++;
        if (q == p + 2)
            break;
        p = q;
        child = true;
    }
    if (*p == '\0')
        return child;
    return strcmp(p, ".stream") == 0 || strcmp(p, ".dump0") == 0 || strcmp(p, ".dump1") == 0;
}

/* True if the creator recorded in c is gone - or, when it had not yet written its whole identity,
 * if the segment is older than the creator's initialisation window. The creator writes its start
 * time before its pid; a pid seen without the start time (another store order, or a damaged
 * file) proves only that a dead pid is dead: a live one may be that very creator. */
static bool creator_gone(const ud__control *c, const struct stat *st) {
    if (c->creator_pid > 0 && c->creator_start != 0) {
        uint64_t ident = ((uint64_t)(uint32_t)c->creator_pid << 32) | c->creator_start;
        return !ud__ident_alive(ident);
    }
    if (c->creator_pid > 0 && kill(c->creator_pid, 0) != 0 && errno == ESRCH)
        return true;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t age = ((int64_t)now.tv_sec - st->st_mtim.tv_sec) * 1000000000LL +
                  (now.tv_nsec - st->st_mtim.tv_nsec);
    return age > UD__INIT_WAIT_NS;
}

/* Opens the control segment of `name` read-only; -1 if it cannot be. */
static int open_control_ro(const char *name, char path[UD__SEG_NAME_MAX + 2]) {
    if (ud__seg_path(path, name, "") != 0)
        return -1;
    return ud__shm_open_file(path, O_RDONLY);
}

int ud__half_created_dead(int fd) {
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        return 0;
    if (st.st_size != 0 && (size_t)st.st_size != ud__control_size())
        return 0;
    ud__control c;
    memset(&c, 0, sizeof c);
    if (st.st_size != 0 && pread(fd, &c, sizeof c, 0) != (ssize_t)sizeof c)
        return 0;
    if (c.magic != 0)
        return 0;
    return creator_gone(&c, &st) ? 1 : 0;
}

/* Applies `check` to the control segment of `name`, opened read-only; 0 if it cannot be. */
static int check_control(const char *name, int (*check)(int fd)) {
    char path[UD__SEG_NAME_MAX + 2];
    int fd = open_control_ro(name, path);
    if (fd < 0)
        return 0;
    int r = check(fd);
    close(fd);
    return r;
}

static int creator_alive_fd(int fd) {
    struct stat st;
    ud__control c;
    memset(&c, 0, sizeof c);
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        return 0;
    if ((size_t)st.st_size < sizeof c || pread(fd, &c, sizeof c, 0) != (ssize_t)sizeof c)
        memset(&c, 0, sizeof c); /* no identity yet: the initialisation window decides */
    return creator_gone(&c, &st) ? 0 : 1;
}

int ud__creator_alive_name(const char *name) {
    return check_control(name, creator_alive_fd);
}

int ud__reclaim_half_created(const char *name) {
    char path[UD__SEG_NAME_MAX + 2];
    int fd = open_control_ro(name, path);
    if (fd < 0)
        return 0;
    int dead = ud__half_created_dead(fd);
    struct stat mine, now;
    char full[UD__SEG_NAME_MAX + 16];
    snprintf(full, sizeof full, UD__SHM_DIR "/%s", name);
    /* Only the file we examined, not one a new creator put under the name meanwhile. */
    if (dead && fstat(fd, &mine) == 0 && stat(full, &now) == 0 && mine.st_ino == now.st_ino &&
        mine.st_dev == now.st_dev)
        dead = shm_unlink(path) == 0;
    else
        dead = 0;
    close(fd);
    return dead;
}

int ud__half_created_name(const char *name) {
    return check_control(name, ud__half_created_dead);
}

/* Reads an unpublished control segment into *c (zeroes while it has no size yet). 1 if it is
 * one (a regular file of size 0 or of a control segment, without magic), else 0. */
static int read_unpublished(int fd, ud__control *c) {
    struct stat st;
    memset(c, 0, sizeof *c);
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        return 0;
    if (st.st_size == 0)
        return 1; /* between shm_open() and ftruncate() */
    if ((size_t)st.st_size != ud__control_size() ||
        pread(fd, c, sizeof *c, 0) != (ssize_t)sizeof *c)
        return 0;
    return c->magic == 0;
}

static int unpublished_fd(int fd) {
    ud__control c;
    return read_unpublished(fd, &c);
}

static int nameless_creator_fd(int fd) {
    ud__control c;
    return read_unpublished(fd, &c) && (c.creator_pid <= 0 || c.creator_start == 0);
}

int ud__unpublished_name(const char *name) {
    return check_control(name, unpublished_fd);
}

int ud__nameless_creator_name(const char *name) {
    return check_control(name, nameless_creator_fd);
}

int ud__unlink_tree(const char *name) {
    /* Only a dict of ours is removed: its control segment carries our magic, or - if the
     * control segment is damaged or gone - its stream segment does. */
    uint64_t cm, sm;
    int crc = seg_magic(name, "", &cm), src = seg_magic(name, ".stream", &sm);
    bool ours =
        cm == UD__MAGIC || sm == UD__STREAM_MAGIC || (crc == 0 && ud__half_created_name(name));
    if (!ours) {
        /* Say why: another user's dict is -EACCES, not a bad magic. */
        if (crc == -EACCES || src == -EACCES)
            return -EACCES;
        /* Without a magic yet, it may be a creator at work or one that died within its
         * initialisation window: a second later the name is either a dict or debris. */
        if (crc == 0 && cm == 0 && ud__unpublished_name(name) == 1)
            return UD_ECREATING;
        return seg_exists(name, "") || seg_exists(name, ".stream") ? UD_EBADMAGIC : UD_ENOENT;
    }
    return ud__unlink_tree_unchecked(name);
}

/* ud__seg_is_named() of the segment path "/NAME" (ud__seg_path()). */
static int seg_is_path(const ud__seg *s, const char *path) {
    char full[UD__SEG_NAME_MAX + 16];
    snprintf(full, sizeof full, "%s%s", UD__SHM_DIR "/", path + 1);
    struct stat mine, now;
    if (fstat(s->fd, &mine) != 0)
        return -errno;
    if (stat(full, &now) != 0)
        return -errno;
    if (mine.st_ino != now.st_ino || mine.st_dev != now.st_dev)
        return UD_ENOENT; /* the name is another dict's now */
    return 0;
}

int ud__seg_is_named(const ud__seg *s, const char *base, const char *suffix) {
    char path[UD__SEG_NAME_MAX + 2];
    int rc = ud__seg_path(path, base, suffix);
    return rc ? rc : seg_is_path(s, path);
}

int ud__seg_unlink_own(const ud__seg *s, const char *base, const char *suffix) {
    char path[UD__SEG_NAME_MAX + 2];
    int rc = ud__seg_path(path, base, suffix);
    if (!rc)
        rc = seg_is_path(s, path);
    if (rc)
        return rc;
    return shm_unlink(path) == 0 ? 0 : -errno;
}

int ud__shm_lock(void) {
    int fd = open(UD__SHM_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0 && flock(fd, LOCK_EX) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

void ud__shm_unlock(int fd) {
    if (fd >= 0)
        close(fd);
}

/* Unlinks the segments of the tree of `name`: with `children`, only those of its nested
 * children (name.c<hex>...), never the root's own four; else all of them. `err` is the first
 * error so far; returns the first error of all (a segment already gone is none). */
static int unlink_entries(const char *name, bool children, int err) {
    DIR *dir = opendir(UD__SHM_DIR);
    if (!dir)
        return -errno;
    size_t n = strlen(name);
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        bool mine = in_tree(de->d_name, name, n);
        if (children)
            mine = mine && strncmp(de->d_name + n, ".c", 2) == 0;
        else
            mine = mine || strcmp(de->d_name, name) == 0; /* in_tree() leaves out the name itself */
        if (!mine)
            continue;
        int rc = ud__seg_unlink(de->d_name, "");
        if (rc != 0 && rc != -ENOENT && !err)
            err = rc;
    }
    closedir(dir);
    return err;
}

int ud__unlink_children(const char *name) {
    return unlink_entries(name, true, 0);
}

int ud__unlink_tree_unchecked(const char *name) {
    /* The control segment goes first: a process killed halfway through leaves only parts
     * without it, which the next create of the name replaces, never a control segment whose
     * parts are missing (which nobody could create or attach). */
    int err = ud__seg_unlink(name, "");
    return unlink_entries(name, false, err == -ENOENT ? 0 : err);
}

/* ---- Process identity ---- */

_Atomic uint64_t ud__fork_gen;
_Atomic int32_t ud__self_pid;
/* Counted by section.c; defined here, beside the fork generation, because the fork handler
 * below resets it. */
_Atomic unsigned ud__holds;
static _Atomic uint64_t self_ident;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

/* Reads the state letter and start time (in clock ticks since boot) of a process. */
static int read_proc_stat(pid_t pid, char *state, uint64_t *start) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -EIO;
    buf[n] = '\0';
    /* The command name may contain spaces and parentheses: fields resume after the last ')'. */
    char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ')
        return -EIO;
    p += 2;
    *state = *p;
    /* Field 3 is the state; the start time is field 22. */
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        if (!p)
            return -EIO;
        p++;
    }
    *start = strtoull(p, NULL, 10);
    return 0;
}

static uint64_t compute_self_ident(void) {
    pid_t pid = getpid();
    char state;
    uint64_t start = 0;
    if (read_proc_stat(pid, &state, &start) != 0)
        start = 0;
    return ((uint64_t)(uint32_t)pid << 32) | (start & 0xffffffffu);
}

static void atfork_child(void) {
    atomic_fetch_add(&ud__fork_gen, 1);
    atomic_store(&ud__holds, 0); /* the parent's holds are not the child's */
    atomic_store(&self_ident, compute_self_ident());
    atomic_store(&ud__self_pid, (int32_t)getpid());
}

static void init_once_fn(void) {
    atomic_store(&self_ident, compute_self_ident());
    atomic_store(&ud__self_pid, (int32_t)getpid());
    pthread_atfork(NULL, NULL, atfork_child);
}

void ud__init_process(void) {
    pthread_once(&init_once, init_once_fn);
}

uint64_t ud__self_ident(void) {
    uint64_t id = atomic_load_explicit(&self_ident, memory_order_relaxed);
    if (id)
        return id;
    ud__init_process();
    return atomic_load_explicit(&self_ident, memory_order_relaxed);
}

int ud__ident_alive(uint64_t ident) {
    pid_t pid = (pid_t)(ident >> 32);
    if (pid <= 0)
        return 0;
    if (kill(pid, 0) != 0 && errno == ESRCH)
        return 0;
    char state;
    uint64_t start;
    if (read_proc_stat(pid, &state, &start) != 0)
        return errno == EACCES ? 1 : 0;
    /* A zombie has released everything but its pid: it holds nothing any more. */
    if (state == 'Z' || state == 'X')
        return 0;
    /* A different start time means the pid was reused by a new process. */
    return (start & 0xffffffffu) == (ident & 0xffffffffu);
}
