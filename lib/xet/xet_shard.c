/*
 * xet_shard.c - MDB shards (xet-spec.md 4): the upload body that lists files (as terms over
 * chunk ranges of xorbs) and the xorbs an upload created; also the body of global-dedup answers.
 *
 * Every record is 48 bytes, every integer little-endian, every hash raw:
 *
 *   offset         size   content
 *   0              48     header: tag[32], version u64 = 2, footer_size u64 (0 or 200)
 *   48             48     file block header: file_hash, flags u32, num_entries u32, reserved u64
 *                  48*k     k = num_entries terms: xorb_hash, xorb_flags u32, unpacked_bytes u32,
 *                           chunk_start u32, chunk_end u32 (exclusive)
 *                  48*k     if flags bit 31: verification entries: range_hash, reserved[16]
 *                  48       if flags bit 30: metadata ext: sha256 (2.8 order), reserved[16]
 *                  ...    more file blocks
 *                  48     bookend: 32 x 0xFF, 16 x 0x00
 *   xorb_info      48     xorb block header: xorb_hash, flags u32, num_chunks u32, raw_bytes u32,
 *                         bytes_on_disk u32
 *                  48*c     chunk entries: chunk_hash, raw_off u32, raw_len u32, flags u32,
 *                           reserved u32
 *                  ...    more xorb blocks
 *                  48     bookend
 *                  ...    lookup tables (full xet-core shards only; skipped, never written)
 *   n - 200        200    footer (4.5), present iff footer_size is 200
 *
 * The parser walks the sections front to back and checks every count against the bytes left
 * before allocating, so hostile input cannot make it read out of bounds or allocate more than a
 * small multiple of its own size.  A parsed shard satisfies:
 *  - no file or xorb hash is all ones (that hash is the bookend);
 *  - every term has chunk_start <= chunk_end, and an empty range carries no bytes;
 *  - term.verification is zero unless the file has XET_FILE_FLAG_VERIFICATION, file.sha256 is
 *    zero unless it has XET_FILE_FLAG_METADATA_EXT;
 *  - with a footer: file_info_offset is 48, xorb_info_offset is where the file section ends,
 *    footer_offset is n - 200, and every lookup table lies between the xorb section and the
 *    footer.  Reserved fields are not checked and not kept; the serializer writes zeros.
 * The serializer only writes what the parser accepts, so parse(serialize(s)) describes s.
 */
#include <stdlib.h>
#include <string.h>

#include "xet/xet_int.h"

/* "HFRepoMetaData", a NUL, then 17 fixed bytes (xet-core MDB_SHARD_HEADER_TAG). */
const uint8_t XET_SHARD_TAG[32] = {
    0x48, 0x46, 0x52, 0x65, 0x70, 0x6f, 0x4d, 0x65, 0x74, 0x61, 0x44, 0x61, 0x74, 0x61, 0x00, 0x55,
    0x69, 0x67, 0x45, 0x6a, 0x7b, 0x81, 0x57, 0x83, 0xa5, 0xbd, 0xd9, 0x5c, 0xcd, 0xd1, 0x4a, 0xa9,
};

#define REC            XET_SHARD_RECORD_LEN
#define HEADER_VERSION 2u
#define FOOTER_VERSION 1u
/* Lookup entries (xet-core shard_format.rs): (u64 key, u32 index) for files and xorbs,
 * (u64 key, u32 xorb index, u32 chunk index) for chunks. */
#define FILE_LOOKUP_ENTRY  12u
#define XORB_LOOKUP_ENTRY  12u
#define CHUNK_LOOKUP_ENTRY 16u

static int is_bookend(const uint8_t *hash)
{
    for (size_t i = 0; i < 32; i++)
        if (hash[i] != 0xFF)
            return 0;
    return 1;
}

/* 2.8: the stored sha256 is the digest with each 8-byte group reversed; the map is its own
 * inverse, so it converts in both directions. */
static void sha256_swap(const uint8_t in[32], uint8_t out[32])
{
    for (size_t g = 0; g < 32; g += 8)
        for (size_t i = 0; i < 8; i++)
            out[g + i] = in[g + 7 - i];
}

/* Returns arr grown to hold at least need elements (doubling), or NULL with arr untouched. */
static void *grow_array(void *arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return arr;
    size_t ncap = *cap ? *cap : 8;
    while (ncap < need)
        ncap *= 2;
    if (ncap > SIZE_MAX / elem)
        return NULL;
    void *q = realloc(arr, ncap * elem);
    if (q)
        *cap = ncap;
    return q;
}

void xet_shard_free(xet_shard **sp)
{
    if (!sp || !*sp)
        return;
    xet_shard *s = *sp;
    for (size_t i = 0; i < s->nfiles; i++)
        free(s->files[i].terms);
    for (size_t i = 0; i < s->nxorbs; i++)
        free(s->xorbs[i].chunks);
    free(s->files);
    free(s->xorbs);
    free(s);
    *sp = NULL;
}

/* ---- parsing ---- */

/* One file block at p[*pos..limit).  The block is counted in s before its terms are allocated,
 * so xet_shard_free releases whatever was built when a later step fails. */
static hg_err parse_file(const uint8_t *p, size_t *pos, size_t limit, xet_shard *s, size_t *cap)
{
    const uint8_t *r = p + *pos;
    xet_shard_file *files = grow_array(s->files, cap, s->nfiles + 1, sizeof *files);
    if (!files)
        return HG_ERR_NOMEM;
    s->files = files;
    xet_shard_file *f = &files[s->nfiles++];
    memset(f, 0, sizeof *f);
    memcpy(f->file_hash.b, r, 32);
    f->flags = xet_le32(r + 32);
    uint32_t nterms = xet_le32(r + 36);
    *pos += REC;

    /* All records of the block must be present before anything is allocated.  64-bit
     * arithmetic: at most 2 * (2^32 - 1) + 1 records, no overflow. */
    uint64_t nrec = (uint64_t)nterms;
    if (f->flags & XET_FILE_FLAG_VERIFICATION)
        nrec += nterms;
    if (f->flags & XET_FILE_FLAG_METADATA_EXT)
        nrec += 1;
    if (nrec > (limit - *pos) / REC)
        return HG_ERR_CORRUPT;
    if (nterms) {
        f->terms = calloc(nterms, sizeof *f->terms);
        if (!f->terms)
            return HG_ERR_NOMEM;
        f->nterms = nterms;
    }
    for (uint32_t i = 0; i < nterms; i++, *pos += REC) {
        r = p + *pos;
        xet_shard_term *t = &f->terms[i];
        memcpy(t->xorb_hash.b, r, 32);
        t->xorb_flags = xet_le32(r + 32);
        t->unpacked_bytes = xet_le32(r + 36);
        t->chunk_start = xet_le32(r + 40);
        t->chunk_end = xet_le32(r + 44);
        if (t->chunk_end < t->chunk_start ||
            (t->chunk_end == t->chunk_start && t->unpacked_bytes != 0))
            return HG_ERR_CORRUPT;
    }
    if (f->flags & XET_FILE_FLAG_VERIFICATION)
        for (uint32_t i = 0; i < nterms; i++, *pos += REC)
            memcpy(f->terms[i].verification.b, p + *pos, 32);
    if (f->flags & XET_FILE_FLAG_METADATA_EXT) {
        sha256_swap(p + *pos, f->sha256);
        *pos += REC;
    }
    return HG_OK;
}

/* File blocks from *pos up to and including the bookend, which must lie before limit. */
static hg_err parse_files(const uint8_t *p, size_t *pos, size_t limit, xet_shard *s)
{
    size_t cap = 0;
    for (;;) {
        if (limit - *pos < REC)
            return HG_ERR_CORRUPT; /* truncated, or no bookend */
        if (is_bookend(p + *pos)) {
            *pos += REC;
            return HG_OK;
        }
        hg_err rc = parse_file(p, pos, limit, s, &cap);
        if (rc)
            return rc;
    }
}

static hg_err parse_xorb(const uint8_t *p, size_t *pos, size_t limit, xet_shard *s, size_t *cap)
{
    const uint8_t *r = p + *pos;
    xet_shard_xorb *xorbs = grow_array(s->xorbs, cap, s->nxorbs + 1, sizeof *xorbs);
    if (!xorbs)
        return HG_ERR_NOMEM;
    s->xorbs = xorbs;
    xet_shard_xorb *x = &xorbs[s->nxorbs++];
    memset(x, 0, sizeof *x);
    memcpy(x->xorb_hash.b, r, 32);
    x->flags = xet_le32(r + 32);
    uint32_t nchunks = xet_le32(r + 36);
    x->raw_bytes = xet_le32(r + 40);
    x->bytes_on_disk = xet_le32(r + 44);
    *pos += REC;

    if (nchunks > (limit - *pos) / REC)
        return HG_ERR_CORRUPT;
    if (nchunks) {
        x->chunks = calloc(nchunks, sizeof *x->chunks);
        if (!x->chunks)
            return HG_ERR_NOMEM;
        x->nchunks = nchunks;
    }
    for (uint32_t i = 0; i < nchunks; i++, *pos += REC) {
        r = p + *pos;
        xet_shard_chunk *c = &x->chunks[i];
        memcpy(c->hash.b, r, 32);
        c->raw_off = xet_le32(r + 32);
        c->raw_len = xet_le32(r + 36);
        c->flags = xet_le32(r + 40);
        /* r + 44: reserved, ignored */
    }
    return HG_OK;
}

/* Xorb blocks from *pos up to and including the bookend.  When open_end is set (a footer names
 * a file lookup table at limit), reaching limit exactly also ends the section, as in
 * huggingface.js shardParser.ts. */
static hg_err parse_xorbs(const uint8_t *p, size_t *pos, size_t limit, int open_end, xet_shard *s)
{
    size_t cap = 0;
    for (;;) {
        if (open_end && *pos == limit)
            return HG_OK;
        if (limit - *pos < REC)
            return HG_ERR_CORRUPT;
        if (is_bookend(p + *pos)) {
            *pos += REC;
            return HG_OK;
        }
        hg_err rc = parse_xorb(p, pos, limit, s, &cap);
        if (rc)
            return rc;
    }
}

static void read_footer(const uint8_t *r, xet_shard_footer *f)
{
    f->version = xet_le64(r);
    f->file_info_offset = xet_le64(r + 8);
    f->xorb_info_offset = xet_le64(r + 16);
    f->file_lookup_offset = xet_le64(r + 24);
    f->file_lookup_num = xet_le64(r + 32);
    f->xorb_lookup_offset = xet_le64(r + 40);
    f->xorb_lookup_num = xet_le64(r + 48);
    f->chunk_lookup_offset = xet_le64(r + 56);
    f->chunk_lookup_num = xet_le64(r + 64);
    memcpy(f->hmac_key.b, r + 72, 32);
    f->creation_timestamp = xet_le64(r + 104);
    f->key_expiry = xet_le64(r + 112);
    /* r + 120: 48 reserved bytes */
    f->stored_bytes_on_disk = xet_le64(r + 168);
    f->materialized_bytes = xet_le64(r + 176);
    f->stored_bytes = xet_le64(r + 184);
    f->footer_offset = xet_le64(r + 192);
}

/* A lookup table: absent (offset 0, no entries) or wholly inside [lo, end). */
static int lookup_ok(uint64_t off, uint64_t num, uint64_t entry, uint64_t lo, uint64_t end)
{
    if (off == 0)
        return num == 0;
    return off >= lo && off <= end && num <= (end - off) / entry;
}

/* The footer checks that do not depend on the sections; end is where the footer starts. */
static hg_err check_footer(const xet_shard_footer *f, uint64_t end)
{
    if (f->version != FOOTER_VERSION || f->file_info_offset != XET_SHARD_HEADER_LEN ||
        f->footer_offset != end)
        return HG_ERR_CORRUPT;
    /* The file section holds at least its bookend. */
    if (f->xorb_info_offset < XET_SHARD_HEADER_LEN + REC || f->xorb_info_offset > end)
        return HG_ERR_CORRUPT;
    if (!lookup_ok(f->file_lookup_offset, f->file_lookup_num, FILE_LOOKUP_ENTRY,
                   f->xorb_info_offset, end) ||
        !lookup_ok(f->xorb_lookup_offset, f->xorb_lookup_num, XORB_LOOKUP_ENTRY,
                   f->xorb_info_offset, end) ||
        !lookup_ok(f->chunk_lookup_offset, f->chunk_lookup_num, CHUNK_LOOKUP_ENTRY,
                   f->xorb_info_offset, end))
        return HG_ERR_CORRUPT;
    return HG_OK;
}

static hg_err parse_sections(const uint8_t *p, size_t n, xet_shard *s)
{
    size_t end = n, xorb_limit = n;
    if (s->has_footer) {
        if (n - XET_SHARD_HEADER_LEN < XET_SHARD_FOOTER_LEN)
            return HG_ERR_CORRUPT;
        end = n - XET_SHARD_FOOTER_LEN;
        read_footer(p + end, &s->footer);
        hg_err rc = check_footer(&s->footer, end);
        if (rc)
            return rc;
        if (s->footer.file_lookup_offset)
            xorb_limit = (size_t)s->footer.file_lookup_offset; /* <= end, checked */
        else
            xorb_limit = end;
    }

    size_t pos = XET_SHARD_HEADER_LEN;
    hg_err rc = parse_files(p, &pos, end, s);
    if (rc)
        return rc;
    if (s->has_footer && pos != s->footer.xorb_info_offset)
        return HG_ERR_CORRUPT;
    /* check_footer put xorb_info_offset, hence pos, at or before xorb_limit. */
    rc = parse_xorbs(p, &pos, xorb_limit, s->has_footer && s->footer.file_lookup_offset != 0, s);
    if (rc)
        return rc;

    if (!s->has_footer)
        return pos == n ? HG_OK : HG_ERR_CORRUPT; /* no room for lookup tables: trailing bytes */
    /* Bytes between the xorb section and the footer are the lookup tables; they must not
     * overlap the sections. */
    if ((s->footer.xorb_lookup_offset && s->footer.xorb_lookup_offset < pos) ||
        (s->footer.chunk_lookup_offset && s->footer.chunk_lookup_offset < pos))
        return HG_ERR_CORRUPT;
    return HG_OK;
}

hg_err xet_shard_parse(const uint8_t *p, size_t n, xet_shard **out)
{
    *out = NULL;
    if (n > XET_SHARD_MAX_LEN)
        return HG_ERR_TOOBIG;
    if (n < XET_SHARD_HEADER_LEN || memcmp(p, XET_SHARD_TAG, sizeof XET_SHARD_TAG) != 0)
        return HG_ERR_CORRUPT;
    uint64_t version = xet_le64(p + 32), footer_size = xet_le64(p + 40);
    if (version != HEADER_VERSION || (footer_size != 0 && footer_size != XET_SHARD_FOOTER_LEN))
        return HG_ERR_CORRUPT;

    xet_shard *s = calloc(1, sizeof *s);
    if (!s)
        return HG_ERR_NOMEM;
    s->version = version;
    s->footer_size = footer_size;
    s->has_footer = footer_size != 0;
    hg_err rc = parse_sections(p, n, s);
    if (rc) {
        xet_shard_free(&s);
        return rc;
    }
    *out = s;
    return HG_OK;
}

/* ---- serialization ---- */

/* Everything the serializer relies on, so that what it writes parses back to the same shard. */
static hg_err check_shard(const xet_shard *s)
{
    if (!s || (s->nfiles && !s->files) || (s->nxorbs && !s->xorbs))
        return HG_ERR_INVAL;
    for (size_t i = 0; i < s->nfiles; i++) {
        const xet_shard_file *f = &s->files[i];
        if ((f->nterms && !f->terms) || is_bookend(f->file_hash.b))
            return HG_ERR_INVAL;
        for (uint32_t t = 0; t < f->nterms; t++) {
            const xet_shard_term *e = &f->terms[t];
            if (e->chunk_end < e->chunk_start ||
                (e->chunk_end == e->chunk_start && e->unpacked_bytes != 0))
                return HG_ERR_INVAL;
        }
    }
    for (size_t i = 0; i < s->nxorbs; i++) {
        const xet_shard_xorb *x = &s->xorbs[i];
        if ((x->nchunks && !x->chunks) || is_bookend(x->xorb_hash.b))
            return HG_ERR_INVAL;
    }
    return HG_OK;
}

/* Appends one 48-byte record: a 32-byte hash and four u32 (every record has this shape;
 * a u64 field written as two u32 halves is the same bytes). */
static hg_err put_record(hg_buf *b, const uint8_t hash[32], uint32_t w0, uint32_t w1, uint32_t w2,
                         uint32_t w3)
{
    uint8_t r[REC];
    memcpy(r, hash, 32);
    xet_put32(r + 32, w0);
    xet_put32(r + 36, w1);
    xet_put32(r + 40, w2);
    xet_put32(r + 44, w3);
    return hg_buf_append(b, r, sizeof r);
}

static hg_err put_bookend(hg_buf *b)
{
    uint8_t ones[32];
    memset(ones, 0xFF, sizeof ones);
    return put_record(b, ones, 0, 0, 0, 0);
}

static hg_err put_file(hg_buf *b, const xet_shard_file *f)
{
    hg_err rc = put_record(b, f->file_hash.b, f->flags, f->nterms, 0, 0);
    for (uint32_t i = 0; !rc && i < f->nterms; i++) {
        const xet_shard_term *t = &f->terms[i];
        rc = put_record(b, t->xorb_hash.b, t->xorb_flags, t->unpacked_bytes, t->chunk_start,
                        t->chunk_end);
    }
    if (f->flags & XET_FILE_FLAG_VERIFICATION)
        for (uint32_t i = 0; !rc && i < f->nterms; i++)
            rc = put_record(b, f->terms[i].verification.b, 0, 0, 0, 0);
    if (!rc && (f->flags & XET_FILE_FLAG_METADATA_EXT)) {
        uint8_t stored[32];
        sha256_swap(f->sha256, stored);
        rc = put_record(b, stored, 0, 0, 0, 0);
    }
    return rc;
}

static hg_err put_xorb(hg_buf *b, const xet_shard_xorb *x)
{
    hg_err rc = put_record(b, x->xorb_hash.b, x->flags, x->nchunks, x->raw_bytes, x->bytes_on_disk);
    for (uint32_t i = 0; !rc && i < x->nchunks; i++) {
        const xet_shard_chunk *c = &x->chunks[i];
        rc = put_record(b, c->hash.b, c->raw_off, c->raw_len, c->flags, 0);
    }
    return rc;
}

/* The footer as huggingface.js writes it (4.6): no lookup tables (offsets and counts 0), no
 * HMAC key, expiry 0, no materialized bytes. */
static hg_err put_footer(hg_buf *b, const xet_shard *s, uint64_t xorb_info_offset,
                         uint64_t timestamp)
{
    uint64_t on_disk = 0, raw = 0;
    for (size_t i = 0; i < s->nxorbs; i++) {
        on_disk += s->xorbs[i].bytes_on_disk;
        raw += s->xorbs[i].raw_bytes;
    }
    uint8_t r[XET_SHARD_FOOTER_LEN];
    memset(r, 0, sizeof r);
    xet_put64(r, FOOTER_VERSION);
    xet_put64(r + 8, XET_SHARD_HEADER_LEN);
    xet_put64(r + 16, xorb_info_offset);
    xet_put64(r + 104, timestamp);
    xet_put64(r + 168, on_disk);
    xet_put64(r + 184, raw);
    xet_put64(r + 192, b->len);
    return hg_buf_append(b, r, sizeof r);
}

hg_err xet_shard_serialize(const xet_shard *s, int with_footer, uint64_t timestamp, hg_buf *out)
{
    /* out is an output parameter: initialized here with the shard size cap, so the caller never
     * gets a shard it could not upload; on error it is left empty. */
    hg_buf_init(out, XET_SHARD_MAX_LEN);
    hg_err rc = check_shard(s);
    if (rc)
        return rc;

    uint8_t h[XET_SHARD_HEADER_LEN];
    memcpy(h, XET_SHARD_TAG, sizeof XET_SHARD_TAG);
    xet_put64(h + 32, HEADER_VERSION);
    xet_put64(h + 40, with_footer ? XET_SHARD_FOOTER_LEN : 0);
    rc = hg_buf_append(out, h, sizeof h);

    /* A failed append frees out, so the first error is returned with out empty. */
    for (size_t i = 0; !rc && i < s->nfiles; i++)
        rc = put_file(out, &s->files[i]);
    if (!rc)
        rc = put_bookend(out);
    uint64_t xorb_info_offset = out->len;
    for (size_t i = 0; !rc && i < s->nxorbs; i++)
        rc = put_xorb(out, &s->xorbs[i]);
    if (!rc)
        rc = put_bookend(out);
    if (!rc && with_footer)
        rc = put_footer(out, s, xorb_info_offset, timestamp);
    return rc;
}
