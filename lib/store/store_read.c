/*
 * store_read.c - reading a content's bytes back from its xorbs.
 *
 * A reader loads the content's chunk map once (file offset, xorb, record offset and length of
 * every chunk), then serves reads at any offset: it finds the chunk by binary search, reads the
 * record with one pread, decodes it and keeps the last decoded chunk for the next sequential
 * read.  Every record is checked against the index (declared lengths); bytes are not re-hashed
 * here (ingest verified them and 'hubgate verify' re-checks them).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store_int.h"
#include "util/hg_fs.h"
#include "util/hg_log.h"

typedef struct rchunk {
    uint64_t file_off;
    uint32_t xorb; /* index into xorbs */
    uint32_t rec_off, rec_len, raw_len;
    int8_t raw;    /* -1 unknown, 1 stored uncompressed (read in place), 0 compressed */
} rchunk;

typedef struct rxorb {
    xet_hash hash;
    int64_t id;
    int fd;
} rxorb;

struct store_reader {
    store *st;
    uint64_t size;
    rchunk *chunks;
    size_t nchunks;
    rxorb *xorbs;
    size_t nxorbs;
    xet_codec *codec;
    uint8_t *rec;
    uint8_t *raw;
    size_t cached; /* chunk decoded in raw, or SIZE_MAX */
};

void store_reader_close(store_reader **pr)
{
    store_reader *r = *pr;
    if (!r)
        return;
    for (size_t i = 0; i < r->nxorbs; i++)
        if (r->xorbs[i].fd >= 0)
            close(r->xorbs[i].fd);
    free(r->xorbs);
    free(r->chunks);
    free(r->rec);
    free(r->raw);
    xet_codec_free(&r->codec);
    free(r);
    *pr = NULL;
}

static hg_err load_map(store_reader *r, store_conn *c, const store_term *t, size_t nt)
{
    uint64_t off = 0;
    size_t cap = 0;
    for (size_t i = 0; i < nt; i++) {
        size_t xi = r->nxorbs;
        for (size_t k = 0; k < r->nxorbs; k++)
            if (r->xorbs[k].id == t[i].xorb_id)
                xi = k;
        if (xi == r->nxorbs) {
            rxorb *p = realloc(r->xorbs, (r->nxorbs + 1) * sizeof *p);
            if (!p)
                return HG_ERR_NOMEM;
            r->xorbs = p;
            r->xorbs[r->nxorbs++] = (rxorb){t[i].xorb, t[i].xorb_id, -1};
        }
        sqlite3_stmt *s = store_stmt(c, STMT_XORB_CHUNKS);
        if (!s)
            return HG_ERR_IO;
        sqlite3_bind_int64(s, 1, t[i].xorb_id);
        sqlite3_bind_int64(s, 2, t[i].chunk_start);
        sqlite3_bind_int64(s, 3, t[i].chunk_end);
        uint32_t expect = t[i].chunk_start;
        uint64_t term_bytes = 0;
        int rc;
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            if ((uint32_t)sqlite3_column_int64(s, 0) != expect++)
                return HG_ERR_CORRUPT;
            if (r->nchunks == cap) {
                cap = cap ? 2 * cap : 64;
                rchunk *p = realloc(r->chunks, cap * sizeof *p);
                if (!p)
                    return HG_ERR_NOMEM;
                r->chunks = p;
            }
            rchunk *ch = &r->chunks[r->nchunks++];
            ch->file_off = off;
            ch->xorb = (uint32_t)xi;
            ch->raw_len = (uint32_t)sqlite3_column_int64(s, 2);
            ch->rec_off = (uint32_t)sqlite3_column_int64(s, 3);
            ch->rec_len = (uint32_t)sqlite3_column_int64(s, 4);
            ch->raw = -1;
            off += ch->raw_len;
            term_bytes += ch->raw_len;
        }
        if (rc != SQLITE_DONE)
            return store_sql_err(c, rc, "xorb chunks");
        if (expect != t[i].chunk_end || term_bytes != t[i].unpacked) {
            HG_ERROR("index: a term of xorb %lld does not match its chunks", (long long)t[i].xorb_id);
            return HG_ERR_CORRUPT;
        }
    }
    if (off != r->size) {
        HG_ERROR("index: content of %llu bytes has terms of %llu bytes", (unsigned long long)r->size,
                 (unsigned long long)off);
        return HG_ERR_CORRUPT;
    }
    return HG_OK;
}

hg_err store_reader_open(store *st, const store_content *ct, store_reader **out)
{
    store_conn *c = store_conn_get(st);
    if (!c)
        return HG_ERR_IO;
    store_reader *r = calloc(1, sizeof *r);
    if (!r)
        return HG_ERR_NOMEM;
    r->st = st;
    r->size = ct->size;
    r->cached = SIZE_MAX;
    r->rec = malloc(XET_CHUNK_HEADER_LEN + 2 * XET_MAX_CHUNK);
    r->raw = malloc(XET_MAX_CHUNK);
    hg_err rc = r->rec && r->raw ? xet_codec_new(&r->codec) : HG_ERR_NOMEM;
    store_term *terms = NULL;
    size_t nt = 0;
    if (!rc)
        rc = store_content_terms(st, ct->id, &terms, &nt);
    if (!rc)
        rc = load_map(r, c, terms, nt);
    free(terms);
    if (rc) {
        store_reader_close(&r);
        return rc;
    }
    *out = r;
    return HG_OK;
}

static hg_err xorb_fd(store_reader *r, rxorb *x, int *fd)
{
    if (x->fd < 0) {
        char path[4096];
        store_xorb_path(r->st, &x->hash, path, sizeof path);
        x->fd = open(path, O_RDONLY | O_CLOEXEC);
        if (x->fd < 0) {
            HG_ERROR("open %s: %s", path, strerror(errno));
            return errno == ENOENT ? HG_ERR_CORRUPT : HG_ERR_IO;
        }
    }
    *fd = x->fd;
    return HG_OK;
}

/* Learns whether chunk i is stored uncompressed (its bytes can then be read in place). */
static hg_err probe_chunk(store_reader *r, size_t i)
{
    rchunk *ch = &r->chunks[i];
    int fd;
    uint8_t hdr[XET_CHUNK_HEADER_LEN];
    xet_chunk_header h;
    hg_err rc = xorb_fd(r, &r->xorbs[ch->xorb], &fd);
    if (!rc)
        rc = hg_pread_all(fd, hdr, sizeof hdr, ch->rec_off);
    if (!rc && (xet_chunk_header_parse(hdr, sizeof hdr, &h) || h.raw_len != ch->raw_len ||
                XET_CHUNK_HEADER_LEN + h.stored_len != ch->rec_len))
        rc = HG_ERR_CORRUPT;
    if (rc == HG_ERR_CORRUPT) {
        char hex[XET_HEX_LEN + 1];
        xet_hash_to_hex(&r->xorbs[ch->xorb].hash, hex);
        HG_ERROR("xorb %s: record header at %u does not match the index", hex, ch->rec_off);
    }
    if (!rc)
        ch->raw = h.scheme == XET_SCHEME_NONE;
    return rc;
}

static hg_err decode_chunk(store_reader *r, size_t i)
{
    if (r->cached == i)
        return HG_OK;
    const rchunk *ch = &r->chunks[i];
    int fd;
    hg_err rc = xorb_fd(r, &r->xorbs[ch->xorb], &fd);
    if (rc)
        return rc;
    if (ch->rec_len > XET_CHUNK_HEADER_LEN + 2 * XET_MAX_CHUNK)
        return HG_ERR_CORRUPT;
    if ((rc = hg_pread_all(fd, r->rec, ch->rec_len, ch->rec_off)))
        return rc;
    size_t raw_len, rec_len;
    rc = xet_record_decode(r->codec, r->rec, ch->rec_len, r->raw, XET_MAX_CHUNK, &raw_len, &rec_len);
    if (!rc && (raw_len != ch->raw_len || rec_len != ch->rec_len))
        rc = HG_ERR_CORRUPT;
    if (rc) {
        char hex[XET_HEX_LEN + 1];
        xet_hash_to_hex(&r->xorbs[ch->xorb].hash, hex);
        HG_ERROR("xorb %s: record at %u does not match the index", hex, ch->rec_off);
        r->cached = SIZE_MAX;
        return HG_ERR_CORRUPT;
    }
    r->cached = i;
    return HG_OK;
}

hg_err store_reader_read(store_reader *r, uint64_t offset, uint8_t *buf, size_t len, size_t *got)
{
    *got = 0;
    if (offset >= r->size || len == 0)
        return HG_OK;
    /* The chunk holding offset. */
    size_t lo = 0, hi = r->nchunks;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->chunks[mid].file_off <= offset)
            lo = mid;
        else
            hi = mid;
    }
    size_t done = 0;
    for (size_t i = lo; i < r->nchunks && done < len; i++) {
        const rchunk *ch = &r->chunks[i];
        hg_err rc = ch->raw < 0 ? probe_chunk(r, i) : HG_OK;
        if (rc)
            return rc;
        uint64_t in_chunk = offset + done - ch->file_off;
        size_t n = ch->raw_len - (size_t)in_chunk;
        if (n > len - done)
            n = len - done;
        if (ch->raw) {
            /* Uncompressed record: one pread straight into the caller's buffer. */
            int fd;
            if ((rc = xorb_fd(r, &r->xorbs[ch->xorb], &fd)) ||
                (rc = hg_pread_all(fd, buf + done, n, ch->rec_off + XET_CHUNK_HEADER_LEN + in_chunk)))
                return rc;
        } else {
            if ((rc = decode_chunk(r, i)))
                return rc;
            memcpy(buf + done, r->raw + in_chunk, n);
        }
        done += n;
    }
    *got = done;
    return HG_OK;
}
