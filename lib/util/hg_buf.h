/*
 * hg_buf.h - a growable byte buffer with a hard size cap (after curl's dynbuf).
 *
 * The cap is set at init and never exceeded: an append that would pass it fails with
 * HG_ERR_TOOBIG and, like any failed append, frees the buffer (so a half-built buffer is never
 * used by mistake).  hg_buf_take() hands the bytes to the caller, who then owns them.
 * Not thread-safe; a buffer belongs to one owner at a time.
 */
#ifndef HG_BUF_H
#define HG_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "util/hg_err.h"

typedef struct hg_buf {
    uint8_t *data;
    size_t len;
    size_t alloc;
    size_t cap; /* hard limit on len */
} hg_buf;

void hg_buf_init(hg_buf *b, size_t cap);
/* Appends n bytes. On failure the buffer is freed and reset to empty. */
HG_MUST_CHECK hg_err hg_buf_append(hg_buf *b, const void *p, size_t n);
/* Makes room for n more bytes and returns a pointer to them (len unchanged; use hg_buf_commit). */
HG_MUST_CHECK hg_err hg_buf_reserve(hg_buf *b, size_t n, uint8_t **out);
void hg_buf_commit(hg_buf *b, size_t n);
/* Drops the contents but keeps the memory. */
void hg_buf_reset(hg_buf *b);
/* Returns the owned bytes (may be NULL when empty) and resets the buffer. */
uint8_t *hg_buf_take(hg_buf *b, size_t *len);
void hg_buf_free(hg_buf *b);

#endif
