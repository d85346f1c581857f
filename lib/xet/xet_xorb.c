/*
 * xet_xorb.c - xorbs: a concatenation of chunk records, no header, no footer in the upload form
 * (xet-spec.md 3).  The xorb hash is the merkle root over (chunk hash, uncompressed length).
 *
 * Limits (3.3): at most XET_MAX_XORB_CHUNKS chunks and XET_MAX_XORB_BYTES of uncompressed bytes;
 * offsets are u32 in shards, which these limits keep in range.
 *
 * The parser decodes every record, so a xorb it accepts is fully verified: the records are
 * well-formed, every payload decodes to its declared length, and the hash is recomputed from the
 * decoded bytes.  A record that starts with "XETBLOB" ends the records (server-side footer).
 */
#include <stdlib.h>
#include <string.h>

#include "xet/xet_int.h"

void xet_xorb_writer_init(xet_xorb_writer *w, xet_codec *codec)
{
    /* Records never exceed the uncompressed bytes plus 8 header bytes and a frame's overhead. */
    hg_buf_init(&w->data, XET_MAX_XORB_BYTES + XET_MAX_XORB_CHUNKS * 64u);
    w->chunks = NULL;
    w->nchunks = 0;
    w->raw_bytes = 0;
    w->codec = codec;
}

void xet_xorb_writer_free(xet_xorb_writer *w)
{
    hg_buf_free(&w->data);
    free(w->chunks);
    w->chunks = NULL;
    w->nchunks = 0;
    w->raw_bytes = 0;
}

int xet_xorb_writer_fits(const xet_xorb_writer *w, size_t len)
{
    return w->nchunks < XET_MAX_XORB_CHUNKS && len <= XET_MAX_XORB_BYTES - w->raw_bytes;
}

static hg_err grow_chunks(xet_xorb_chunk **chunks, size_t n)
{
    /* The capacity is implicit: 16, then doubling; grow when n reaches it. */
    if (n != 0 && (n < 16 || (n & (n - 1)) != 0))
        return HG_OK;
    size_t want = n ? 2 * n : 16;
    xet_xorb_chunk *p = realloc(*chunks, want * sizeof *p);
    if (!p)
        return HG_ERR_NOMEM;
    *chunks = p;
    return HG_OK;
}

hg_err xet_xorb_writer_add(xet_xorb_writer *w, const uint8_t *chunk, size_t len, xet_scheme scheme)
{
    if (len == 0 || len > XET_MAX_CHUNK)
        return HG_ERR_INVAL;
    if (!xet_xorb_writer_fits(w, len))
        return HG_ERR_TOOBIG;
    hg_err rc = grow_chunks(&w->chunks, w->nchunks);
    if (rc)
        return rc;
    size_t bound = xet_record_bound(len), written;
    uint8_t *dst;
    rc = hg_buf_reserve(&w->data, bound, &dst);
    if (rc)
        return rc;
    rc = xet_record_encode(w->codec, chunk, len, scheme, dst, bound, &written);
    if (rc)
        return rc;
    xet_xorb_chunk *c = &w->chunks[w->nchunks];
    xet_chunk_hash(chunk, len, &c->hash);
    c->raw_len = (uint32_t)len;
    c->raw_off = (uint32_t)w->raw_bytes;
    c->rec_off = (uint32_t)w->data.len;
    c->rec_len = (uint32_t)written;
    hg_buf_commit(&w->data, written);
    w->nchunks++;
    w->raw_bytes += len;
    return HG_OK;
}

static hg_err chunks_root(const xet_xorb_chunk *chunks, size_t n, xet_hash *out)
{
    xet_merkle m;
    xet_merkle_init(&m);
    for (size_t i = 0; i < n; i++)
        xet_merkle_add(&m, &chunks[i].hash, chunks[i].raw_len);
    return xet_merkle_finish(&m, out, NULL);
}

hg_err xet_xorb_writer_hash(const xet_xorb_writer *w, xet_hash *out)
{
    return chunks_root(w->chunks, w->nchunks, out);
}

void xet_xorb_info_free(xet_xorb_info *info)
{
    free(info->chunks);
    memset(info, 0, sizeof *info);
}

hg_err xet_xorb_parse(xet_codec *cx, const uint8_t *p, size_t n, xet_xorb_info *info,
                      hg_buf *raw_out)
{
    memset(info, 0, sizeof *info);
    uint8_t *tmp = raw_out ? NULL : malloc(XET_MAX_CHUNK);
    if (!raw_out && !tmp)
        return HG_ERR_NOMEM;
    hg_err rc = HG_OK;
    size_t pos = 0;
    while (pos < n) {
        if (n - pos >= 7 && !memcmp(p + pos, "XETBLOB", 7))
            break; /* footer: the records end here */
        if (info->nchunks >= XET_MAX_XORB_CHUNKS) {
            rc = HG_ERR_TOOBIG;
            break;
        }
        if ((rc = grow_chunks(&info->chunks, info->nchunks)))
            break;
        uint8_t *dst = tmp;
        if (raw_out && (rc = hg_buf_reserve(raw_out, XET_MAX_CHUNK, &dst)))
            break;
        size_t raw_len, rec_len;
        if ((rc = xet_record_decode(cx, p + pos, n - pos, dst, XET_MAX_CHUNK, &raw_len, &rec_len)))
            break;
        if (raw_len == 0 || raw_len > XET_MAX_XORB_BYTES - info->raw_bytes) {
            rc = raw_len == 0 ? HG_ERR_CORRUPT : HG_ERR_TOOBIG;
            break;
        }
        xet_xorb_chunk *c = &info->chunks[info->nchunks++];
        xet_chunk_hash(dst, raw_len, &c->hash);
        c->raw_len = (uint32_t)raw_len;
        c->raw_off = (uint32_t)info->raw_bytes;
        c->rec_off = (uint32_t)pos;
        c->rec_len = (uint32_t)rec_len;
        info->raw_bytes += raw_len;
        if (raw_out)
            hg_buf_commit(raw_out, raw_len);
        pos += rec_len;
    }
    free(tmp);
    if (!rc && info->nchunks == 0)
        rc = HG_ERR_CORRUPT; /* a xorb has at least one chunk */
    if (!rc)
        rc = chunks_root(info->chunks, info->nchunks, &info->hash);
    if (rc) {
        xet_xorb_info_free(info);
        return rc;
    }
    info->records_len = pos;
    return HG_OK;
}
