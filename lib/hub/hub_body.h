/*
 * hub_body.h - segment-list response bodies (see hub_body.c).  A body is owned by the response
 * once attached (freed by the HTTP layer through reader_free).
 */
#ifndef HG_HUB_BODY_H
#define HG_HUB_BODY_H

#include "http/http.h"
#include "store/store.h"

typedef struct hub_seg {
    char *lit;      /* literal bytes (owned), or NULL for a range of the source */
    uint64_t off;   /* source offset */
    uint64_t len;
} hub_seg;

typedef struct hub_body {
    store *st;
    store_content content; /* the source when fd < 0 */
    store_reader *reader;
    int fd;                /* the source when >= 0 (owned) */
    char *mem;             /* the source when non-NULL (owned): small generated files */
    struct hub_flight *flight; /* the source when non-NULL (a reference): a download in progress */
    size_t mem_len;
    hub_seg *segs;
    size_t nsegs, cap;
    uint64_t total;
    size_t cur;
    uint64_t cur_base;
    size_t last_flight_seg; /* index of the last non-literal segment (its last byte is held) */
    unsigned flight_regions; /* regions of the flight this body was given bytes from */
} hub_body;

/* A body reading from a content (fd -1) or from an open file (fd, taken). */
HG_MUST_CHECK hg_err hub_body_new(store *st, const store_content *ct, int fd, hub_body **out);
/* A body whose source is a copy of data (LFS pointer texts). */
HG_MUST_CHECK hg_err hub_body_new_mem(const char *data, size_t len, hub_body **out);
/* A body reading from a download in progress (takes a new reference to f). */
HG_MUST_CHECK hg_err hub_body_new_flight(struct hub_flight *f, hub_body **out);
void hub_body_free(void *b);
/* Opens the store reader of a content body now and checks its xorb files (store_reader_check). */
HG_MUST_CHECK hg_err hub_body_prepare(hub_body *b);
HG_MUST_CHECK hg_err hub_body_literal(hub_body *b, const char *text, size_t len);
HG_MUST_CHECK hg_err hub_body_range(hub_body *b, uint64_t off, uint64_t len);
ssize_t hub_body_read(void *arg, uint64_t pos, char *buf, size_t max, http_park *park);
void hub_body_attach(hub_body *b, http_response *resp);

#define HUB_MAX_RANGES 64
/* Answers a Range request over source bytes [base, base+size) with b (taken, even on error):
 * 200 whole, 206 single range, 206 multipart/byteranges (up to max_ranges), or 416.  Sets the
 * status, Content-Range and Content-Type (ctype for single parts).  -1 on allocation failure. */
int hub_body_serve(hub_body **b, http_response *resp, const char *range_hdr, uint64_t base,
                   uint64_t size, const char *ctype, size_t max_ranges);

#endif
