/*
 * hg_fs.h - file-system helpers with explicit durability.
 *
 * Crash safety in hubgate rests on one pattern: write to a temporary name in the same directory,
 * fsync the file, rename it into place, fsync the directory.  A reader then sees either nothing
 * or the complete file.  Failing system calls are logged here with errno and mapped to
 * HG_ERR_IO once.
 */
#ifndef HG_FS_H
#define HG_FS_H

#include <stddef.h>
#include <stdint.h>

#include "util/hg_err.h"

/* mkdir -p with mode 0755. */
HG_MUST_CHECK hg_err hg_mkdirs(const char *path);
HG_MUST_CHECK hg_err hg_fsync_dir(const char *dir);
/* Writes data to path atomically and durably (tmp file + fsync + rename + fsync dir); the file
 * is created with mode (before umask). */
HG_MUST_CHECK hg_err hg_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode);
/* Reads a whole file of at most max bytes into a malloc'd, NUL-terminated buffer. */
HG_MUST_CHECK hg_err hg_read_file(const char *path, size_t max, char **out, size_t *len);
/* Writes all of buf at offset (retrying short writes and EINTR). */
HG_MUST_CHECK hg_err hg_pwrite_all(int fd, const void *buf, size_t len, uint64_t off);
/* Reads exactly len bytes at offset; HG_ERR_CORRUPT if the file is shorter. */
HG_MUST_CHECK hg_err hg_pread_all(int fd, void *buf, size_t len, uint64_t off);

#endif
