/* dict.c - creating, attaching, closing and unlinking dicts. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hash.h"
#include "internal.h"

#define DEFAULT_DUMP_SIZE 65536
#define UD__MIN_BUFFER_SIZE 4096

static const char *const seg_suffix[3] = {".stream", ".dump0", ".dump1"};

static void close_segments(ud_dict *d) {
    ud__seg_close(&d->control);
    ud__seg_close(&d->stream);
    ud__seg_close(&d->dump[0]);
    ud__seg_close(&d->dump[1]);
    d->ctl = NULL;
}

static ud__seg *aux_seg(ud_dict *d, int i) {
    return i == 0 ? &d->stream : &d->dump[i - 1];
}

/* Creates a fresh dict. UD_EEXIST if the control segment exists. */
static int create_new(ud_dict *d, const ud_options *o, uint32_t flags) {
    unsigned mode = o->mode & 0777u;
    int rc = ud__seg_create(&d->control, d->name, "", mode, ud__control_size());
    /* A name left by a creator that died inside ud_open() is taken over. */
    if (rc == UD_EEXIST && ud__reclaim_half_created(d->name) == 1)
        rc = ud__seg_create(&d->control, d->name, "", mode, ud__control_size());
    if (rc)
        return rc;
    /* Our identity first: if we die before the magic, others can tell the name is debris. */
    ud__control *c = d->control.addr;
    uint64_t me = ud__self_ident();
    c->creator_start = me & 0xffffffffu;
    __atomic_store_n(&c->creator_pid, (int32_t)(me >> 32), __ATOMIC_RELEASE); /* after the start */
    /* We own the name now. Any auxiliary segment already there is debris of a crashed creator
     * or of a partial unlink, and is replaced. */
    size_t dump_size =
        sizeof(ud__dump_hdr) + (o->full_dump_size ? o->full_dump_size : DEFAULT_DUMP_SIZE);
    size_t bs = o->buffer_size ? o->buffer_size : UD_DEFAULT_BUFFER_SIZE;
    size_t sizes[3] = {sizeof(ud__stream_hdr) + bs, dump_size, dump_size};
    int lk = ud__shm_lock();
    for (int i = 0; i < 3 && !rc; i++) {
        rc = ud__seg_create(aux_seg(d, i), d->name, seg_suffix[i], mode, sizes[i]);
        if (rc == UD_EEXIST) {
            ud__seg_unlink(d->name, seg_suffix[i]);
            rc = ud__seg_create(aux_seg(d, i), d->name, seg_suffix[i], mode, sizes[i]);
        }
    }
    ud__shm_unlock(lk);
    if (rc)
        goto fail;

    ud__stream_hdr *sh = d->stream.addr;
    sh->magic = UD__STREAM_MAGIC;
    sh->version = UD__LAYOUT_VERSION;
    for (int s = 0; s < 2; s++) {
        ud__dump_hdr *dh = d->dump[s].addr;
        dh->magic = UD__DUMP_MAGIC;
        dh->version = UD__LAYOUT_VERSION;
        dh->len = 0;
        dh->count = 0;
        dh->check = ud__hash(NULL, 0, 0); /* the empty dict at position 0 */
    }

    c->version = UD__LAYOUT_VERSION;
    c->header_size = sizeof *c;
    c->buffer_size = bs;
    c->full_dump_size = o->full_dump_size;
    c->lock_mode = (uint32_t)o->lock;
    c->flags = flags | (o->recurse ? UD__FLAG_RECURSE : 0);
    atomic_store(&c->stream_cap, bs);
    rc = ud__lock_init(c);
    if (rc)
        goto fail;
    /* Publishing the magic last tells attachers that everything above is in place. */
    __atomic_store_n(&c->magic, UD__MAGIC, __ATOMIC_RELEASE);
    d->creator = true;
    return 0;
fail:
    close_segments(d);
    ud__seg_unlink(d->name, "");
    for (int i = 0; i < 3; i++)
        ud__seg_unlink(d->name, seg_suffix[i]);
    return rc;
}

static int64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Opens the control segment and waits (bounded) until its creator has initialised it. */
/* The state of the control segment just opened: 0 when it is published, -EAGAIN while its
 * creator may still be filling it, else an error. */
static int control_state(const ud_dict *d) {
    if (d->control.size >= sizeof(ud__control)) {
        const ud__control *c = d->control.addr;
        uint64_t magic = __atomic_load_n(&c->magic, __ATOMIC_ACQUIRE);
        if (magic == UD__MAGIC)
            return 0;
        if (magic != 0)
            return UD_EBADMAGIC;
        if (ud__half_created_dead(d->control.fd) == 1)
            return UD_EINCOMPLETE; /* nobody will ever finish it */
        return -EAGAIN;
    }
    /* Too small: a creator between shm_open() and ftruncate(), or a damaged file. */
    return d->control.size >= 8 && *(uint64_t *)d->control.addr != UD__MAGIC &&
                   *(uint64_t *)d->control.addr != 0
               ? UD_EBADMAGIC
               : -EAGAIN;
}

static int open_control(ud_dict *d) {
    int64_t deadline = mono_ns() + UD__INIT_WAIT_NS;
    for (;;) {
        int rc = ud__seg_open(&d->control, d->name, "");
        if (rc == 0) {
            rc = control_state(d);
            if (rc == 0)
                return 0;
        }
        if (rc == UD_ECORRUPT && ud__half_created_name(d->name) == 1)
            return UD_EINCOMPLETE; /* killed between creating the segment and sizing it */
        if (rc != -EAGAIN && rc != UD_ECORRUPT)
            return rc;
        ud__seg_close(&d->control);
        if (mono_ns() >= deadline) {
            /* The creator had the whole window and never published: it is gone. */
            if (ud__half_created_name(d->name) == 1)
                return UD_EINCOMPLETE;
            return rc == -EAGAIN ? UD_ECORRUPT : rc;
        }
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
}

/*
 * Without an explicit mode, a process attaches only to a dict of its own user that nobody else
 * may write: otherwise another local user could pre-create the name and have this process
 * read their data and write its own into their segments.
 */
static int check_owner(ud_dict *d, const ud_options *o) {
    if (!(o->mode & UD__MODE_DEFAULTED))
        return 0;
    struct stat st;
    if (fstat(d->control.fd, &st) != 0)
        return -errno;
    return st.st_uid != geteuid() || (st.st_mode & 022) != 0 ? UD_EFOREIGN : 0;
}

/* The control header as a creator leaves it: its layout version, sane sizes and positions, a
 * lock of a known mode and kind. */
static int check_control(const ud__control *c) {
    if (c->version != UD__LAYOUT_VERSION || c->header_size != sizeof *c)
        return UD_EVERSION;
    /* base is only ever set to an end already published, and end only grows: base first. */
    uint64_t base = atomic_load(&c->base);
    if (c->lock_mode > UD_LOCK_SPIN || c->buffer_size < 4096 || base > atomic_load(&c->end) ||
        ud__lock_check(c) != 0)
        return UD_ECORRUPT;
    return 0;
}

/* The attacher's explicit sizes and lock mode must be the creator's, unless it defers to them. */
static int check_attach_options(const ud__control *c, const ud_options *o) {
    if (o->attach == UD_ATTACH_CREATOR)
        return 0; /* the creator's values win */
    if ((o->buffer_size && o->buffer_size != c->buffer_size) ||
        (o->full_dump_size && o->full_dump_size != c->full_dump_size) ||
        (o->lock != UD_LOCK_MUTEX && (uint32_t)o->lock != c->lock_mode))
        return UD_EMISMATCH;
    return 0;
}

/* Opens the stream and the two dump segments of a dict whose control segment is open, and
 * checks the stream's header and the dumps' sizes. */
static int open_parts(ud_dict *d) {
    for (int i = 0; i < 3; i++) {
        int rc = ud__seg_open(aux_seg(d, i), d->name, seg_suffix[i]);
        if (rc)
            return rc == UD_ENOENT ? UD_ECORRUPT : rc; /* the control exists, its parts are gone */
    }
    ud__stream_hdr *sh = d->stream.addr;
    if (d->stream.size < sizeof *sh || sh->magic != UD__STREAM_MAGIC)
        return UD_EBADMAGIC;
    if (sh->version != UD__LAYOUT_VERSION)
        return UD_EVERSION;
    /* A damaged dump segment is not fatal here: readers skip a dump whose header does not
     * validate, and the next dump rewrites the segment. */
    for (int s = 0; s < 2; s++) {
        if (d->dump[s].size < sizeof(ud__dump_hdr))
            return UD_ECORRUPT;
    }
    return 0;
}

/* Whether the control segment we hold has lost its name (its dict was unlinked). */
static bool control_unlinked(const ud_dict *d) {
    struct stat st;
    return fstat(d->control.fd, &st) == 0 && st.st_nlink == 0;
}

static int attach_existing(ud_dict *d, const ud_options *o) {
    int rc = open_control(d);
    if (rc)
        return rc;
    rc = check_owner(d, o);
    if (!rc)
        rc = check_control(d->control.addr);
    if (!rc)
        rc = check_attach_options(d->control.addr, o);
    if (!rc)
        rc = open_parts(d);
    /* The control segment is unlinked first (ud__unlink_tree_unchecked): one that lost its
     * name while we attached belongs to a dict being removed, whose parts may be gone or be a
     * new dict's. Not corrupt: the dict is gone, and the open starts again. */
    if (control_unlinked(d))
        rc = UD_ENOENT;
    if (rc) {
        close_segments(d);
        return rc;
    }
    d->creator = false;
    return 0;
}

/*
 * Why a create found `name` taken. A creator a few microseconds into ud_open() writes its
 * identity at once, and is then known alive: the name exists. One that stays without identity
 * may have been killed there, less than its initialisation window ago (else create_new() would
 * have taken the name over): neither "exists" nor free yet.
 */
static int name_taken(const char *name) {
    int64_t deadline = mono_ns() + UD__IDENT_WAIT_NS;
    while (ud__nameless_creator_name(name) == 1) {
        if (mono_ns() >= deadline)
            return UD_ECREATING;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return UD_EEXIST;
}

int ud__open_internal(const ud_options *o, const char *full_name, uint32_t flags, ud_dict **out) {
    ud__init_process();
    /* Before any handle exists: the dump a lock section defers is run through this hook. */
    ud__section_set_dump(ud__dump_locked);
    ud_dict *d = calloc(1, sizeof *d);
    if (!d)
        return -ENOMEM;
    d->control = d->stream = d->dump[0] = d->dump[1] = (ud__seg)UD__SEG_INIT;
    ud__table_init(&d->table);
    ud__table_init(&d->spare);
    d->attach_slot = -1;
    snprintf(d->name, sizeof d->name, "%s", full_name);

    int rc = UD_ENOENT;
    /* Bounded: each round loses a race against another process creating or unlinking. */
    for (int round = 0; round < 100; round++) {
        if (o->create != UD_ATTACH_ONLY) {
            rc = create_new(d, o, flags);
            if (rc != UD_EEXIST || o->create == UD_CREATE_ONLY)
                break;
        }
        rc = attach_existing(d, o);
        /* A dead creator's half-created dict: the next create round takes the name over. */
        if (rc == UD_EINCOMPLETE && o->create == UD_CREATE_OR_ATTACH)
            continue;
        if (rc != UD_ENOENT || o->create == UD_ATTACH_ONLY)
            break;
    }
    if (rc == UD_EEXIST && o->create == UD_CREATE_ONLY)
        rc = name_taken(d->name);
    if (rc) {
        ud__table_free(&d->table);
        free(d);
        return rc;
    }
    d->ctl = d->control.addr;
    struct stat st;
    if (fstat(d->control.fd, &st) == 0)
        d->seg_id = ((uint64_t)st.st_dev << 40) ^ (uint64_t)st.st_ino;
    d->lock_mode = (int)d->ctl->lock_mode;
    d->recurse = (d->ctl->flags & UD__FLAG_RECURSE) != 0;
    d->codec = o->codec;
    d->mode = o->mode;
    d->auto_unlink = o->auto_unlink == UD_AUTO_UNLINK_ON ||
                     (o->auto_unlink == UD_AUTO_UNLINK_DEFAULT && d->creator);
    d->lock_fork_gen = atomic_load(&ud__fork_gen);
    d->open_fork_gen = d->lock_fork_gen;
    ud__register_attach(d);
    *out = d;
    return 0;
}

static int normalise_options(const ud_options *opts, ud_options *o) {
    static const ud_options defaults = UD_OPTIONS_INIT;
    *o = opts ? *opts : defaults;
    if (o->create < UD_CREATE_OR_ATTACH || o->create > UD_ATTACH_ONLY || o->lock < UD_LOCK_MUTEX ||
        o->lock > UD_LOCK_SPIN || o->auto_unlink < UD_AUTO_UNLINK_DEFAULT ||
        o->auto_unlink > UD_AUTO_UNLINK_OFF || (o->mode & ~0777u) != 0)
        return UD_EINVAL;
    if (o->codec && (!o->codec->encode || !o->codec->decode))
        return UD_EINVAL;
    if (o->attach != UD_ATTACH_STRICT && o->attach != UD_ATTACH_CREATOR)
        return UD_EINVAL;
    if (o->buffer_size > ((size_t)1 << 40))
        return UD_EINVAL;
    /* Small buffers are rounded up to the smallest stream the library runs with. */
    if (o->buffer_size != 0 && o->buffer_size < UD__MIN_BUFFER_SIZE)
        o->buffer_size = UD__MIN_BUFFER_SIZE;
    if (o->full_dump_size > ((size_t)1 << 40))
        return UD_EINVAL;
    if (o->mode == 0)
        o->mode = 0600 | UD__MODE_DEFAULTED;
    return 0;
}

int ud_open(const ud_options *opts, ud_dict **out) {
    if (!out)
        return UD_EINVAL;
    ud_options o;
    int rc = normalise_options(opts, &o);
    if (rc)
        return rc;
    char name[UD_NAME_MAX + 1];
    if (o.name) {
        rc = ud__validate_name(o.name);
        if (rc)
            return rc;
        snprintf(name, sizeof name, "%s", o.name);
    } else {
        if (o.create == UD_ATTACH_ONLY)
            return UD_EINVAL;
        uint64_t r;
        if (getrandom(&r, sizeof r, 0) != sizeof r)
            r = ud__hash(&o, sizeof o, (uint64_t)mono_ns() ^ ud__self_ident());
        snprintf(name, sizeof name, "ud_%016llx", (unsigned long long)r);
    }
    return ud__open_internal(&o, name, 0, out);
}

static void release_handle(ud_dict *d) {
    /* Only the thread holding the lock can give it back (a mutex is owned by a thread). */
    if (d->lock_depth > 0 && d->lock_fork_gen == atomic_load(&ud__fork_gen) && ud__lock_owned(d)) {
        d->lock_depth = 1;
        ud__unlock(d);
    }
    ud__unregister_attach(d);
    close_segments(d);
    ud__table_free(&d->table);
    ud__table_free(&d->spare);
    ud_buf_free(&d->scratch);
    ud_buf_free(&d->codec_buf);
    free(d);
}

/* True if the name still refers to the segment this handle has open (not a newer dict that
 * took the name after an unlink). */
static bool name_is_ours(const ud_dict *d) {
    return ud__seg_is_named(&d->control, d->name, "") == 0;
}

/*
 * Removes the dict of handle d: its control segment first (a process killed halfway leaves only
 * parts, which the next create replaces), then each part while the name still is that very
 * segment, then its children. A creator may take the name the moment the control segment is
 * gone and replace the parts; a scan by name would remove the new dict's segments.
 */
static int unlink_own_tree(ud_dict *d) {
    int rc = ud__seg_unlink_own(&d->control, d->name, "");
    if (rc)
        return rc;
    int lk = ud__shm_lock();
    for (int i = 0; i < 3; i++)
        (void)ud__seg_unlink_own(aux_seg(d, i), d->name, seg_suffix[i]);
    ud__shm_unlock(lk);
    return ud__unlink_children(d->name);
}

int ud_close(ud_dict *d) {
    if (!d)
        return 0;
    int rc = 0;
    /* Only the process that opened the handle unlinks; a forked copy just lets go. */
    if (d->auto_unlink && d->open_fork_gen == atomic_load(&ud__fork_gen) && name_is_ours(d)) {
        rc = unlink_own_tree(d);
        if (rc == UD_ENOENT)
            rc = 0;
    }
    release_handle(d);
    return rc;
}

int ud_unlink(ud_dict *d) {
    UD__CHECK_HANDLE(d);
    if (!name_is_ours(d))
        return UD_ENOENT; /* already gone, or the name now belongs to another dict */
    d->auto_unlink = false;
    return ud__unlink_tree(d->name);
}

int ud_unlink_by_name(const char *name) {
    int rc = ud__validate_full_name(name);
    if (rc)
        return rc;
    return ud__unlink_tree(name);
}

int ud_exists(const char *name) {
    int rc = ud__validate_full_name(name);
    if (rc)
        return rc;
    ud__seg s = UD__SEG_INIT;
    rc = ud__seg_open(&s, name, "");
    ud__seg_close(&s);
    if (rc == 0 || rc == UD_ECORRUPT)
        return 1;
    return rc == UD_ENOENT ? 0 : rc;
}

const char *ud_name(const ud_dict *d) {
    return d ? d->name : NULL;
}
