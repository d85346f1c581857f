/*
 * xet_chunk.c - content-defined chunking with the gear hash (xet-spec.md 1).
 *
 * A chunk starts with h = 0.  Its first XET_SKIP (8127) bytes are never hashed; from chunk index
 * 8127 on, each byte updates h = 2h + GEAR[byte] and a position "matches" when the high 16 bits
 * of h are zero.  Variant L accepts every match (smallest chunk 8128 bytes); Variant M (the
 * default, xet-core) ignores matches that would give a chunk shorter than 8192 bytes and keeps
 * hashing with the same h.  With no accepted match a chunk ends at 131072 bytes or at the end of
 * the input.
 *
 * Streaming keeps the open chunk's bytes (fewer than XET_MAX_CHUNK) and h; the next index to hash
 * is max(buflen, XET_SKIP), so no position counter is needed.  Chunks lying wholly inside a piece
 * given to feed() are scanned and emitted in place, without a copy.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "xet/xet_int.h"

/* Hashes p[i..end) into *hp and returns the chunk size at the first match, or 0 if none.
 * This plain loop is the fastest form measured here (about one byte per cycle): each byte costs
 * two loads (the byte, its gear entry), which saturates the load ports, so neither interleaving
 * independent lanes (the state is a function of the last 64 bytes only) nor loading 8 bytes at
 * a time and shifting made it faster. */
static size_t scan(const uint8_t *p, size_t i, size_t end, uint64_t *hp)
{
    uint64_t h = *hp;
#define STEP(k)                                                                                    \
    h = (h << 1) + xet_gear[p[i + (k)]];                                                           \
    if (!(h & XET_GEAR_MASK)) {                                                                    \
        *hp = h;                                                                                   \
        return i + (k) + 1;                                                                        \
    }
    while (end - i >= 8) {
        STEP(0) STEP(1) STEP(2) STEP(3) STEP(4) STEP(5) STEP(6) STEP(7)
        i += 8;
    }
    while (i < end) {
        STEP(0)
        i++;
    }
#undef STEP
    *hp = h;
    return 0;
}

/* p is a chunk start; p[0..avail) is visible (avail <= MAX); indices below `from` were hashed
 * into *h already.  Returns the chunk length if it is decided within avail, else 0. */
static size_t find_cut(const uint8_t *p, size_t from, size_t avail, uint64_t *h, xet_variant v)
{
    size_t i = from < XET_SKIP ? XET_SKIP : from;
    if (v == XET_VARIANT_M) {
        /* Index i gives a chunk of i + 1 bytes: hash, but do not test, below XET_MIN_CHUNK. */
        size_t stop = avail < XET_MIN_CHUNK - 1 ? avail : XET_MIN_CHUNK - 1;
        uint64_t hv = *h;
        for (; i < stop; i++)
            hv = (hv << 1) + xet_gear[p[i]];
        *h = hv;
    }
    if (i < avail) {
        size_t cut = scan(p, i, avail, h);
        if (cut)
            return cut;
    }
    return avail == XET_MAX_CHUNK ? XET_MAX_CHUNK : 0;
}

hg_err xet_chunker_init(xet_chunker *c, xet_variant v)
{
    c->variant = v;
    c->h = 0;
    c->buflen = 0;
    c->buf = malloc(XET_MAX_CHUNK);
    return c->buf ? HG_OK : HG_ERR_NOMEM;
}

void xet_chunker_free(xet_chunker *c)
{
    free(c->buf);
    c->buf = NULL;
    c->buflen = 0;
}

int xet_chunker_feed(xet_chunker *c, const void *data, size_t len, xet_chunk_cb cb, void *arg)
{
    const uint8_t *d = data;
    while (len > 0) {
        if (c->buflen == 0) {
            /* Nothing held: look for a whole chunk inside the caller's bytes. */
            size_t avail = len < XET_MAX_CHUNK ? len : XET_MAX_CHUNK;
            uint64_t h = 0;
            size_t cut = find_cut(d, 0, avail, &h, c->variant);
            if (!cut) {
                memcpy(c->buf, d, len); /* len < XET_MAX_CHUNK here */
                c->buflen = len;
                c->h = h;
                return 0;
            }
            int rc = cb(arg, d, cut);
            if (rc)
                return rc;
            d += cut;
            len -= cut;
            continue;
        }
        size_t take = XET_MAX_CHUNK - c->buflen;
        if (take > len)
            take = len;
        memcpy(c->buf + c->buflen, d, take);
        size_t cut = find_cut(c->buf, c->buflen, c->buflen + take, &c->h, c->variant);
        if (!cut) {
            c->buflen += take;
            return 0; /* take == len, or a cut would have been forced */
        }
        size_t consumed = cut - c->buflen;
        c->buflen = 0;
        c->h = 0;
        int rc = cb(arg, c->buf, cut);
        if (rc)
            return rc;
        d += consumed;
        len -= consumed;
    }
    return 0;
}

int xet_chunker_finish(xet_chunker *c, xet_chunk_cb cb, void *arg)
{
    size_t n = c->buflen;
    c->buflen = 0;
    c->h = 0;
    return n ? cb(arg, c->buf, n) : 0;
}

size_t xet_next_chunk_len(const uint8_t *data, size_t len, xet_variant v)
{
    size_t avail = len < XET_MAX_CHUNK ? len : XET_MAX_CHUNK;
    uint64_t h = 0;
    size_t cut = find_cut(data, 0, avail, &h, v);
    return cut ? cut : avail;
}

hg_err xet_variant_parse(const char *s, xet_variant *out)
{
    if (!strcasecmp(s, "M"))
        *out = XET_VARIANT_M;
    else if (!strcasecmp(s, "L"))
        *out = XET_VARIANT_L;
    else
        return HG_ERR_INVAL;
    return HG_OK;
}
