/*
 * hub_body.c - response bodies assembled from segments: literal bytes (multipart headers),
 * ranges of a stored content (decoded from xorbs), or ranges of an open file (xorb records).
 *
 * The store reader is opened on the first read, so a HEAD (which reads nothing) costs no
 * chunk-map load.  A read error aborts the connection: the client sees a short body, never
 * wrong bytes.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hub/hub_body.h"
#include "hub/hub_flight.h"
#include "util/hg_fs.h"
#include "util/hg_log.h"

hg_err hub_body_new(store *st, const store_content *ct, int fd, hub_body **out)
{
    hub_body *b = calloc(1, sizeof *b);
    if (!b)
        return HG_ERR_NOMEM;
    b->st = st;
    if (ct)
        b->content = *ct;
    b->fd = fd;
    *out = b;
    return HG_OK;
}

hg_err hub_body_new_mem(const char *data, size_t len, hub_body **out)
{
    hg_err rc = hub_body_new(NULL, NULL, -1, out);
    if (rc)
        return rc;
    (*out)->mem = malloc(len ? len : 1);
    if (!(*out)->mem) {
        hub_body_free(*out);
        return HG_ERR_NOMEM;
    }
    memcpy((*out)->mem, data, len);
    (*out)->mem_len = len;
    return HG_OK;
}

hg_err hub_body_new_flight(hub_flight *f, hub_body **out)
{
    hg_err rc = hub_body_new(NULL, NULL, -1, out);
    if (!rc)
        (*out)->flight = hub_flight_ref(f);
    return rc;
}

void hub_body_free(void *arg)
{
    hub_body *b = arg;
    if (!b)
        return;
    free(b->mem);
    for (size_t i = 0; i < b->nsegs; i++)
        free(b->segs[i].lit);
    free(b->segs);
    store_reader_close(&b->reader);
    hub_flight_release(&b->flight);
    if (b->fd >= 0)
        close(b->fd);
    free(b);
}

hg_err hub_body_prepare(hub_body *b)
{
    hg_err rc = b->reader ? HG_OK : store_reader_open(b->st, &b->content, &b->reader);
    return rc ? rc : store_reader_check(b->reader);
}

static hg_err push(hub_body *b, hub_seg s)
{
    if (b->nsegs == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 8;
        hub_seg *p = realloc(b->segs, cap * sizeof *p);
        if (!p)
            return HG_ERR_NOMEM;
        b->segs = p;
        b->cap = cap;
    }
    b->segs[b->nsegs++] = s;
    b->total += s.len;
    return HG_OK;
}

hg_err hub_body_literal(hub_body *b, const char *text, size_t len)
{
    char *copy = malloc(len ? len : 1);
    if (!copy)
        return HG_ERR_NOMEM;
    memcpy(copy, text, len);
    hg_err rc = push(b, (hub_seg){.lit = copy, .off = 0, .len = len});
    if (rc)
        free(copy);
    return rc;
}

hg_err hub_body_range(hub_body *b, uint64_t off, uint64_t len)
{
    hg_err rc = push(b, (hub_seg){.lit = NULL, .off = off, .len = len});
    if (!rc)
        b->last_flight_seg = b->nsegs - 1;
    return rc;
}

ssize_t hub_body_read(void *arg, uint64_t pos, char *buf, size_t max, http_park *park)
{
    hub_body *b = arg;
    size_t done = 0;
    /* Reads are sequential: resume from the segment of the previous call. */
    if (pos < b->cur_base) {
        b->cur = 0;
        b->cur_base = 0;
    }
    while (done < max && b->cur < b->nsegs) {
        hub_seg *s = &b->segs[b->cur];
        uint64_t at = pos + done;
        if (at >= b->cur_base + s->len) {
            b->cur_base += s->len;
            b->cur++;
            continue;
        }
        uint64_t in = at - b->cur_base;
        size_t n = (size_t)(s->len - in < max - done ? s->len - in : max - done);
        if (s->lit) {
            memcpy(buf + done, s->lit + in, n);
        } else if (b->mem) {
            if (s->off + in + n > b->mem_len)
                return -1;
            memcpy(buf + done, b->mem + s->off + in, n);
        } else if (b->flight) {
            /* Park only when nothing was copied yet: bytes in hand go out first.  The last
             * byte of the response waits for the transfer's verdict. */
            uint64_t hold = b->cur == b->last_flight_seg ? s->off + s->len - 1 : UINT64_MAX;
            ssize_t got = hub_flight_read(b->flight, s->off + in, buf + done, n, hold, &b->flight_regions,
                                          done ? NULL : park);
            if (got < 0)
                return done ? (ssize_t)done : -1;
            if (got == 0)
                return (ssize_t)done; /* 0 with done == 0: parked */
            n = (size_t)got;
        } else if (b->fd >= 0) {
            if (hg_pread_all(b->fd, buf + done, n, s->off + in))
                return -1;
        } else {
            if (!b->reader && store_reader_open(b->st, &b->content, &b->reader)) {
                HG_ERROR("cannot read content of %llu bytes", (unsigned long long)b->content.size);
                return -1;
            }
            size_t got = 0;
            if (store_reader_read(b->reader, s->off + in, (uint8_t *)buf + done, n, &got) || got != n)
                /* Hand out the good bytes first: the connection then fails on the next call,
                 * which libmicrohttpd handles promptly (a failing first call is not). */
                return done + got ? (ssize_t)(done + got) : -1;
        }
        done += n;
    }
    return done ? (ssize_t)done : -1;
}

void hub_body_attach(hub_body *b, http_response *resp)
{
    resp->body_kind = HTTP_BODY_READER;
    resp->size = b->total;
    resp->reader = hub_body_read;
    resp->reader_free = hub_body_free;
    resp->reader_arg = b;
}

#include <stdio.h>
#include <sys/random.h>

#include "http/http_range.h"

int hub_body_serve(hub_body **pb, http_response *resp, const char *range_hdr, uint64_t base,
                   uint64_t size, const char *ctype, size_t max_ranges)
{
    hub_body *b = *pb;
    http_range rs[HUB_MAX_RANGES];
    size_t n = 0;
    if (max_ranges > HUB_MAX_RANGES)
        max_ranges = HUB_MAX_RANGES;
    http_range_result rr = http_range_parse(range_hdr, size, rs, max_ranges, &n);
    hg_err rc = HG_OK;
    char cr[HTTP_CONTENT_RANGE_MAX];
    if (rr == HTTP_RANGE_OK && n > 1 && http_ranges_abusive(rs, n, size))
        rr = HTTP_RANGE_IGNORE;
    if (size == 0 && (rr == HTTP_RANGE_UNSATISFIABLE || rr == HTTP_RANGE_OK)) {
        /* An empty file under "bytes=0-0" (JS probe): 200 with "Content-Range: bytes * /0"
         * rather than a 416 that JS treats as an error (hub-protocol.md Q5). */
        http_content_range(cr, sizeof cr, NULL, 0);
        rc = http_response_header(resp, "Content-Range", "%s", cr);
        rr = HTTP_RANGE_IGNORE;
    }
    if (rr == HTTP_RANGE_UNSATISFIABLE) {
        http_content_range(cr, sizeof cr, NULL, size);
        hub_body_free(b);
        *pb = NULL;
        resp->status = 416;
        rc = http_response_header(resp, "Content-Range", "%s", cr);
        if (!rc)
            rc = http_response_body(resp, "", 0);
        return rc ? -1 : 0;
    }
    if (rr != HTTP_RANGE_OK) { /* NONE, IGNORE, TOO_MANY: the whole representation */
        resp->status = 200;
        if (!rc)
            rc = hub_body_range(b, base, size);
    } else if (n == 1) {
        resp->status = 206;
        http_content_range(cr, sizeof cr, &rs[0], size);
        rc = http_response_header(resp, "Content-Range", "%s", cr);
        if (!rc)
            rc = hub_body_range(b, base + rs[0].start, rs[0].end - rs[0].start + 1);
    } else {
        uint64_t seed;
        if (getrandom(&seed, sizeof seed, 0) != sizeof seed)
            seed = (uint64_t)(uintptr_t)b ^ (uint64_t)size;
        char boundary[HTTP_BOUNDARY_LEN + 1], mct[128];
        http_multipart_boundary(boundary, seed);
        http_multipart_content_type(mct, sizeof mct, boundary);
        resp->status = 206;
        rc = http_response_header(resp, "Content-Type", "%s", mct);
        for (size_t i = 0; i < n && !rc; i++) {
            char hdr[512];
            size_t hl = http_multipart_part_header(hdr, sizeof hdr, boundary, ctype, &rs[i], size, i == 0);
            rc = hl ? hub_body_literal(b, hdr, hl) : HG_ERR_INVAL;
            if (!rc)
                rc = hub_body_range(b, base + rs[i].start, rs[i].end - rs[i].start + 1);
        }
        char tr[128];
        size_t tl = http_multipart_trailer(tr, sizeof tr, boundary);
        if (!rc)
            rc = tl ? hub_body_literal(b, tr, tl) : HG_ERR_INVAL;
        ctype = NULL;
    }
    if (!rc && ctype)
        rc = http_response_header(resp, "Content-Type", "%s", ctype);
    if (rc) {
        hub_body_free(b);
        *pb = NULL;
        return -1;
    }
    if (b->fd >= 0 && b->nsegs == 1 && !b->segs[0].lit) {
        /* One range of an open file: sendfile, no copy through a buffer. */
        resp->body_kind = HTTP_BODY_FD;
        resp->fd = b->fd;
        resp->fd_off = b->segs[0].off;
        resp->fd_len = b->segs[0].len;
        b->fd = -1;
        hub_body_free(b);
        *pb = NULL;
        return 0;
    }
    hub_body_attach(b, resp);
    *pb = NULL;
    return 0;
}
