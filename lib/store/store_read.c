/*
 * store_read.c - reading a content's bytes back from its xorbs.
 *
 * A reader loads the content's chunk map once (file offset, xorb, record offset and length of
 * every chunk), then serves reads at any offset: it finds the chunk by binary search, reads the
 * record with one pread, decodes it and keeps the last decoded chunk for the next sequential
 * read.  Every record is checked against the index (declared lengths), and every chunk is
 * re-hashed the first time this process reads it (store_vcache.h): damage on disk turns into a
 * read error, never into wrong bytes.  Later reads of a verified chunk go straight from the file
 * (uncompressed records) into the caller's buffer.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store_int.h"
#include "util/hg_fs.h"
#include "util/hg_log.h"

typedef struct rchunk {
    uint64_t file_off;
    uint32_t xorb; /* index into xorbs */
    uint32_t idx;  /* chunk index in its xorb */
    uint32_t rec_off, rec_len, raw_len;
    int8_t raw;    /* -1 unknown, 1 stored uncompressed (read in place), 0 compressed */
} rchunk;

typedef struct rxorb {
    xet_hash hash;
    int64_t id;
    int fd;
    uint64_t fp;   /* file fingerprint, for the verified-chunk set */
    uint64_t need; /* bytes the chunk map needs from the file */
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
            r->xorbs[r->nxorbs++] = (rxorb){t[i].xorb, t[i].xorb_id, -1, 0, 0};
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
            ch->idx = expect - 1;
            ch->raw_len = (uint32_t)sqlite3_column_int64(s, 2);
            ch->rec_off = (uint32_t)sqlite3_column_int64(s, 3);
            ch->rec_len = (uint32_t)sqlite3_column_int64(s, 4);
            ch->raw = -1;
            if ((uint64_t)ch->rec_off + ch->rec_len > r->xorbs[xi].need)
                r->xorbs[xi].need = (uint64_t)ch->rec_off + ch->rec_len;
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

static void log_xorb(const rxorb *x, const char *what, uint32_t at)
{
    char hex[XET_HEX_LEN + 1];
    xet_hash_to_hex(&x->hash, hex);
    HG_ERROR("xorb %s: %s at %u (damaged on disk? run 'hubgate verify')", hex, what, at);
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
        struct stat sb;
        if (fstat(x->fd, &sb) != 0) {
            HG_ERROR("stat %s: %s", path, strerror(errno));
            return HG_ERR_IO;
        }
        if ((uint64_t)sb.st_size < x->need) {
            HG_ERROR("%s: %llu bytes, the index needs %llu (truncated; run 'hubgate verify')", path,
                     (unsigned long long)sb.st_size, (unsigned long long)x->need);
            close(x->fd);
            x->fd = -1;
            return HG_ERR_CORRUPT;
        }
        x->fp = (uint64_t)sb.st_ino * 0x9E3779B97F4A7C15ull ^ (uint64_t)sb.st_size ^
                ((uint64_t)sb.st_mtim.tv_sec * 1000000000ull + (uint64_t)sb.st_mtim.tv_nsec) << 1;
    }
    *fd = x->fd;
    return HG_OK;
}

hg_err store_reader_check(store_reader *r)
{
    int fd;
    for (size_t i = 0; i < r->nxorbs; i++) {
        hg_err rc = xorb_fd(r, &r->xorbs[i], &fd);
        if (rc)
            return rc;
    }
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

/* Decodes chunk i into r->raw; verify also re-hashes it against the index. */
static hg_err decode_chunk(store_reader *r, size_t i, int verify)
{
    if (r->cached == i)
        return HG_OK;
    r->cached = SIZE_MAX;
    const rchunk *ch = &r->chunks[i];
    rxorb *x = &r->xorbs[ch->xorb];
    int fd;
    hg_err rc = xorb_fd(r, x, &fd);
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
        log_xorb(x, "record does not decode to what the index says", ch->rec_off);
        return HG_ERR_CORRUPT;
    }
    if (verify) {
        store_conn *c;
        sqlite3_stmt *s = store_thread_stmt(r->st, STMT_CHUNK_HASH, &c);
        if (!s)
            return HG_ERR_IO;
        sqlite3_bind_int64(s, 1, x->id);
        sqlite3_bind_int64(s, 2, ch->idx);
        int sr = sqlite3_step(s);
        if (sr != SQLITE_ROW || sqlite3_column_bytes(s, 0) != (int)sizeof(xet_hash))
            return sr == SQLITE_ROW || sr == SQLITE_DONE ? HG_ERR_CORRUPT : store_sql_err(c, sr, "chunk hash");
        xet_hash want, got;
        memcpy(&want, sqlite3_column_blob(s, 0), sizeof want);
        sqlite3_reset(s);
        xet_chunk_hash(r->raw, raw_len, &got);
        if (memcmp(&want, &got, sizeof want) != 0) {
            log_xorb(x, "chunk hash mismatch in the record", ch->rec_off);
            return HG_ERR_CORRUPT;
        }
        store_vcache_mark(&r->st->verified, x->id, x->fp, ch->idx);
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
        if (rc) {
            *got = done;
            return rc;
        }
        int verified = r->cached == i ||
                       store_vcache_test(&r->st->verified, r->xorbs[ch->xorb].id, r->xorbs[ch->xorb].fp, ch->idx);
        uint64_t in_chunk = offset + done - ch->file_off;
        size_t n = ch->raw_len - (size_t)in_chunk;
        if (n > len - done)
            n = len - done;
        if (ch->raw && verified) {
            /* Verified uncompressed record: one pread straight into the caller's buffer. */
            int fd;
            if ((rc = xorb_fd(r, &r->xorbs[ch->xorb], &fd)) ||
                (rc = hg_pread_all(fd, buf + done, n, ch->rec_off + XET_CHUNK_HEADER_LEN + in_chunk))) {
                *got = done;
                return rc;
            }
        } else {
            if ((rc = decode_chunk(r, i, !verified))) {
                *got = done;
                return rc;
            }
            memcpy(buf + done, r->raw + in_chunk, n);
        }
        done += n;
    }
    *got = done;
    return HG_OK;
}
