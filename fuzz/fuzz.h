/*
 * fuzz.h - what the fuzz targets share. Each target is one LLVMFuzzerTestOneInput(); built
 * with clang and -fsanitize=fuzzer it is a libFuzzer binary (scripts/fuzz), built with any
 * compiler and driver.c it replays inputs given as files or directories (the tests replay the
 * seed corpus and every committed crash input that way).
 */
#ifndef UD_FUZZ_H
#define UD_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "layout.h"
#include "ultradict.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A dict name unique to this process and call ("fz_<pid>_<n>"), into buf (64 bytes). */
char *fz_name(char *buf);
/* Creates a dict `name` with a few entries, a dump and records after it; leaves it in /dev/shm
 * (auto_unlink off) and returns the open handle, or NULL. */
ud_dict *fz_make_dict(const char *name);
/* Reads everything a handle offers (len, every key through iteration, a get, a write); never
 * fails, only exercises. */
void fz_exercise(ud_dict *d);
/* Opens name (attach only) and exercises it; closes it. */
void fz_attach_and_read(const char *name);
/* Reads/writes a whole segment file /dev/shm/<name><suffix>. */
uint8_t *fz_read_seg(const char *name, const char *suffix, size_t *len);
int fz_write_seg(const char *name, const char *suffix, const uint8_t *p, size_t len);
/* Recomputes the checksum of every record in a stream segment image (records from `base`,
 * `used` bytes), and of a dump segment image, so that mutations get past the checks. */
void fz_fix_records(uint8_t *stream, size_t len, uint64_t base, uint64_t used);
void fz_fix_dump(uint8_t *dump, size_t len);

/*
 * The segment files of a dict made by fz_make_dict(), in memory, for the targets that mutate
 * segments: seg[FZ_CONTROL..FZ_DUMP1] (NULL when a file could not be read) and their lengths.
 */
enum { FZ_CONTROL, FZ_STREAM, FZ_DUMP0, FZ_DUMP1, FZ_NSEG };
typedef struct fz_image {
    char name[64];
    uint8_t *seg[FZ_NSEG];
    size_t len[FZ_NSEG];
} fz_image;
/*
 * Makes a dict under a fresh name, closes it and reads its segments into im. With `reader`,
 * an attached handle that has caught up to the current end is opened first and left in
 * *reader (NULL if it could not be opened). False when the dict could not be made: skip the
 * input (im holds nothing to free).
 */
bool fz_image_make(fz_image *im, ud_dict **reader);
/* The control header of the image, or NULL when it is missing or short. */
ud__control *fz_image_control(fz_image *im);
/* Writes segment s back to its file (a NULL segment is left alone). */
void fz_image_write(const fz_image *im, int s);
/* Frees the segments and unlinks the dict. */
void fz_image_free(fz_image *im);

#endif
