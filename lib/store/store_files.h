/*
 * store_files.h - contiguous copies of often-read contents, so that they go out with sendfile.
 *
 * The store keeps every content as chunks in xorbs (deduplicated, compressed where it pays), and
 * a plain download is assembled from them by copying through a buffer.  For a content that is
 * read again and again, the cost of that copy is the whole difference to a static file server,
 * so the store may also keep it as one plain file, DATA/files/ab/<sha256 hex>: a cache, bounded
 * in size (least recently served first out), that can be deleted at any time.
 *
 * Invariants:
 *  - A plain file appears under its name only complete (written to tmp/, fsynced, renamed), and
 *    only with bytes that were verified: assembled by a store reader (every chunk hashed) or a
 *    download whose sha256 matched.
 *  - A process serves a plain file only after it hashed it itself once (sha256 over the whole
 *    file, remembered per inode and size like the verified-chunk set): a file damaged or
 *    replaced behind the store's back is never served, it is deleted.
 *
 * Threading: every function may be called from any thread.  Materialising, verifying and
 * trimming do real I/O and belong on a background thread.
 */
#ifndef HG_STORE_FILES_H
#define HG_STORE_FILES_H

#include <stdint.h>

#include "store/store.h"

/* Opens the plain file of ct for reading.  HG_OK: *fd is open (the caller owns it) and the file
 * was verified by this process.  HG_ERR_NOTFOUND: there is none.  HG_ERR_AGAIN: there is one,
 * not verified yet by this process (store_files_verify). */
HG_MUST_CHECK hg_err store_files_open(store *st, const store_content *ct, int *fd);
/* Hashes the plain file of ct; a match makes it servable, a mismatch deletes it (HG_ERR_CORRUPT). */
HG_MUST_CHECK hg_err store_files_verify(store *st, const store_content *ct);
/* Writes the plain file of ct from its chunks (a no-op if it exists). */
HG_MUST_CHECK hg_err store_files_materialize(store *st, const store_content *ct);
/* Makes the plain file of ct from fd, an open file already holding exactly ct's bytes (verified
 * by the caller, for example a finished download): hard-linked when the file system allows,
 * copied otherwise.  The file counts as verified by this process. */
HG_MUST_CHECK hg_err store_files_adopt(store *st, const store_content *ct, int fd);
/* Deletes the least recently served plain files until they take at most budget bytes;
 * *used (may be NULL) receives what remains. */
HG_MUST_CHECK hg_err store_files_trim(store *st, uint64_t budget, uint64_t *used);
/* An anonymous file holding ct's bytes assembled from its chunks (every chunk hashed), for a
 * reader that needs them contiguous (the scanner); the caller closes *fd. */
HG_MUST_CHECK hg_err store_files_temp_copy(store *st, const store_content *ct, int *fd);
/* Creates an anonymous file in the store's tmp/ that store_files_adopt can link into place
 * (O_TMPFILE where the file system has it; else created and unlinked at once). */
HG_MUST_CHECK hg_err store_files_tmpfile(store *st, int *fd);

#endif
