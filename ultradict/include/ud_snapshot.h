/*
 * ud_snapshot.h - portable snapshots of a dict: saving, restoring, and building or walking one
 * without a dict. A part of ultradict.h, which includes it in its place among its topics:
 * include ultradict.h, whose rules (ownership, return codes, threads) hold here too.
 */
#ifndef UD_SNAPSHOT_H
#define UD_SNAPSHOT_H

#ifndef ULTRADICT_H
#error "ud_snapshot.h is a part of ultradict.h: include ultradict.h"
#endif

/* ---- Portable snapshots (versioned, checksummed, little-endian; nested dicts included). ---- */

/*
 * Writes a snapshot of the whole dict (nested dicts included) into *out (caller-owned; len is set,
 * earlier contents are replaced), taken under the lock so that it is one consistent state.
 * Returns 0, UD_EINVAL, UD_ECORRUPT, -ENOMEM, or an error of ud_lock().
 */
UD_EXPORT int ud_save(ud_dict *d, ud_buf *out);
/*
 * Replaces the dict's contents with a snapshot, as one atomic step. The snapshot is verified
 * entirely before anything changes. Returns 0, UD_EBADMAGIC, UD_EVERSION or UD_ECORRUPT (the
 * snapshot is refused, the dict unchanged), or a common error.
 */
UD_EXPORT int ud_restore(ud_dict *d, const void *data, size_t len);
/*
 * ud_save() to a file, written to a temporary name in the same folder, flushed and renamed into
 * place: the file at `path` is either the old one or the complete new one. Returns what
 * ud_save() returns, or -errno from creating, writing or renaming the file.
 */
UD_EXPORT int ud_save_file(ud_dict *d, const char *path);
/* ud_restore() from a file. Returns what ud_restore() returns, or -errno from reading it. */
UD_EXPORT int ud_restore_file(ud_dict *d, const char *path);

/*
 * Walks a snapshot without a dict: calls fn for every top-level entry (type UD_TYPE_DICT values
 * are nested snapshots). Verifies the snapshot first. fn returns 0 to go on, non-zero to stop.
 * Returns 0 after the last entry, the first non-zero value fn returned, or UD_EINVAL /
 * UD_EBADMAGIC / UD_EVERSION / UD_ECORRUPT (nothing is called for a snapshot that fails).
 */
typedef int (*ud_snapshot_fn)(void *ctx, const void *key, size_t klen, const void *val, size_t vlen,
                              int type);
UD_EXPORT int ud_snapshot_foreach(const void *data, size_t len, ud_snapshot_fn fn, void *ctx);

/*
 * Builds a snapshot from entries (read back from another store, say): start with an empty
 * ud_buf, add every entry (a UD_TYPE_DICT value must itself be a snapshot), then finish. The
 * result is what ud_restore() and ud_snapshot_foreach() accept. Keys are checked against
 * UD_KEY_MAX (UD_ETOOBIG); a key added twice makes the snapshot invalid (UD_ECORRUPT when it is
 * restored). ud_snapshot_add() returns 0, UD_EINVAL, UD_ETOOBIG or -ENOMEM.
 */
UD_EXPORT int ud_snapshot_add(ud_buf *snap, const void *key, size_t klen, const void *val,
                              size_t vlen, int type);
/*
 * Completes a snapshot built with ud_snapshot_add(): writes the header's size and checksum and
 * verifies the result (an empty buffer becomes an empty snapshot). Returns 0, UD_EINVAL (snap is
 * NULL or shorter than a header), -ENOMEM, or UD_ECORRUPT / UD_ETOOBIG from the verification.
 */
UD_EXPORT int ud_snapshot_finish(ud_buf *snap);

#endif /* UD_SNAPSHOT_H */
