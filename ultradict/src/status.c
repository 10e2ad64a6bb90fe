/* status.c - what a dict and a handle look like right now. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

int ud_status(ud_dict *d, ud_status_info *st) {
    UD__CHECK_HANDLE(d);
    if (!st)
        return UD_EINVAL;
    ud__control *c = d->ctl;
    memset(st, 0, sizeof *st);
    memcpy(st->name, d->name, strlen(d->name) + 1); /* names are shorter than UD__SEG_NAME_MAX */
    st->lock_mode = d->lock_mode;
    st->recurse = d->recurse;
    st->creator = d->creator;
    st->auto_unlink = d->auto_unlink;
    st->creator_pid = c->creator_pid;
    st->lock_holder = ud_lock_holder(d);
    st->len = d->table.count;
    st->buffer_size = c->buffer_size;
    st->stream_capacity = atomic_load(&c->stream_cap);
    st->end_position = atomic_load(&c->end);
    st->dump_position = atomic_load(&c->base);
    st->stream_used = st->end_position - st->dump_position;
    st->full_dump_size = c->full_dump_size;
    for (int s = 0; s < 2; s++) {
        ud__seg_refresh(&d->dump[s]);
        st->dump_capacity[s] = d->dump[s].size - sizeof(ud__dump_hdr);
    }
    st->last_dump_bytes = atomic_load(&c->dump_bytes);
    st->local_position = d->pos;
    st->dump_count = atomic_load(&c->dump_count);
    st->lock_recoveries = atomic_load(&c->lock_recoveries);
    st->local_dumps_loaded = d->dumps_loaded;
    st->local_records_applied = d->records_applied;
    st->attached = ud__count_attached(c);
    return 0;
}

int ud_print_status(ud_dict *d, FILE *f) {
    ud_status_info st;
    int rc = ud_status(d, &st);
    if (rc)
        return rc;
    if (!f)
        return UD_EINVAL;
    fprintf(f, "name: %s\n", st.name);
    fprintf(f, "lock_mode: %s\n", st.lock_mode == UD_LOCK_SPIN ? "spin" : "mutex");
    fprintf(f, "lock_holder: %d\n", (int)st.lock_holder);
    fprintf(f, "lock_recoveries: %" PRIu64 "\n", st.lock_recoveries);
    fprintf(f, "recurse: %s\n", st.recurse ? "true" : "false");
    fprintf(f, "creator: %s\n", st.creator ? "true" : "false");
    fprintf(f, "creator_pid: %d\n", (int)st.creator_pid);
    fprintf(f, "auto_unlink: %s\n", st.auto_unlink ? "true" : "false");
    fprintf(f, "attached: %u\n", st.attached);
    fprintf(f, "len: %zu\n", st.len);
    fprintf(f, "buffer_size: %zu\n", st.buffer_size);
    fprintf(f, "stream_capacity: %zu\n", st.stream_capacity);
    fprintf(f, "stream_used: %zu\n", st.stream_used);
    fprintf(f, "full_dump_size: %zu\n", st.full_dump_size);
    fprintf(f, "dump_capacity: %zu %zu\n", st.dump_capacity[0], st.dump_capacity[1]);
    fprintf(f, "last_dump_bytes: %zu\n", st.last_dump_bytes);
    fprintf(f, "dump_count: %" PRIu64 "\n", st.dump_count);
    fprintf(f, "end_position: %" PRIu64 "\n", st.end_position);
    fprintf(f, "dump_position: %" PRIu64 "\n", st.dump_position);
    fprintf(f, "local_position: %" PRIu64 "\n", st.local_position);
    fprintf(f, "local_dumps_loaded: %" PRIu64 "\n", st.local_dumps_loaded);
    fprintf(f, "local_records_applied: %" PRIu64 "\n", st.local_records_applied);
    return ferror(f) ? -EIO : 0;
}

uint64_t ud_change_position(const ud_dict *d) {
    if (!d)
        return 0;
    /* Inside a ud_lock() section the handle's own unpublished records are changes too: a
     * binding's cache must not serve what they replaced. And another handle of this thread
     * holding the lock publishes its pending records first, so that this one sees them move. */
    if (d->unpublished)
        return d->pending_end;
    if (atomic_load_explicit(&ud__holds, memory_order_relaxed) != 0)
        ud__share_hold(d);
    return atomic_load_explicit(&d->ctl->end, memory_order_acquire);
}

bool ud_lock_held(const ud_dict *d) {
    /* A child of fork() holds nothing its parent held, whatever the copied depth says; and the
     * lock belongs to the thread that took it, not to every thread sharing the handle. */
    return d && d->lock_depth > 0 &&
           d->lock_fork_gen == atomic_load_explicit(&ud__fork_gen, memory_order_relaxed) &&
           ud__lock_owned(d);
}
