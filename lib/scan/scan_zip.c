/*
 * scan_zip.c - a strict zip reader for model containers: PyTorch checkpoints (torch.save since
 * 1.6), NumPy .npz, Keras 3 .keras and generic archives (security.md 1.6 "ZIP-level tricks").
 *
 * The central directory is authoritative and every local header must agree with it (name,
 * method, flags, sizes, CRC); the archive must start at offset 0 and end with the end-of-central-
 * directory record (zip64 records allowed), and every byte in between must belong to exactly one
 * entry or to the central directory: no prefix, gap, overlap or trailing data (polyglots).
 * Names must be unique and relative (no "..", backslash, drive letter or NUL); encryption,
 * patch-data and undefined flag bits are refused.  Stored (method 0) members are read in place;
 * deflated (method 8) ones of up to 64 MiB are inflated (scan_inflate.c) into a buffer of the
 * declared size, which must come out exactly and with the declared CRC, and are then scanned
 * like stored ones.  A larger deflated member that may be unpickled blocks; others warn.
 *
 * Members are scanned by content (scan_dispatch), except the tensor records of a PyTorch
 * checkpoint (<archive>/data/<key>) and Keras weights, which are never read: memory and time do
 * not grow with the tensor bytes.  CRC-32 is checked for every member we read (up to 64 MiB).
 * PyTorch rules: exactly one data.pkl; every persistent storage id names a data/ record.
 */
#include <stdlib.h>
#include <string.h>

#include "scan/scan_int.h"

#define ZIP_MAX_ENTRIES 100000u
#define ZIP_MAX_CD      (64u << 20)
#define ZIP_MAX_READ    (64u << 20)
#define ZIP_MAX_INFLATE (64u << 20) /* declared size of a deflated member we inflate */

typedef struct zent {
    char *name;       /* owned, NUL-terminated (raw bytes) */
    uint16_t nlen;
    uint16_t flags, method;
    uint32_t crc;
    uint64_t csize, usize, lho;
    uint64_t data_off, end; /* data start; end of data and descriptor */
    int ok;           /* local header agreed */
} zent;

static int name_bad(const zent *e)
{
    const char *n = e->name;
    if (!e->nlen || strlen(n) != e->nlen || n[0] == '/' || strchr(n, '\\'))
        return 1;
    if (e->nlen >= 2 && n[1] == ':')
        return 1;
    for (const char *p = n; *p;) {
        const char *s = strchr(p, '/');
        size_t l = s ? (size_t)(s - p) : strlen(p);
        if (l == 2 && p[0] == '.' && p[1] == '.')
            return 1;
        p += l + (s ? 1 : 0);
    }
    return 0;
}

static int name_cmp(const void *a, const void *b)
{
    const zent *x = *(const zent *const *)a, *y = *(const zent *const *)b;
    return strcmp(x->name, y->name);
}

static int lho_cmp(const void *a, const void *b)
{
    const zent *x = *(const zent *const *)a, *y = *(const zent *const *)b;
    return x->lho < y->lho ? -1 : x->lho > y->lho;
}

/* Finds the EOCD: the last signature whose comment reaches exactly the end of the file. */
static int find_eocd(scan_ctx *c, const scan_src *src, uint64_t *eocd, uint8_t rec[22])
{
    uint64_t span = src->size < 22 + 65535 ? src->size : 22 + 65535;
    uint8_t *b = malloc((size_t)span);
    if (!b) {
        c->err = HG_ERR_NOMEM;
        return -1;
    }
    hg_err rc = scan_src_read(src, src->size - span, b, (size_t)span);
    if (rc) {
        free(b);
        c->err = rc;
        return -1;
    }
    int64_t found = -1, loose = -1;
    for (int64_t i = (int64_t)span - 22; i >= 0; i--) {
        if (memcmp(b + i, "PK\x05\x06", 4))
            continue;
        if ((uint64_t)i + 22 + scan_le16(b + i + 20) == span) {
            found = i;
            break;
        }
        if (loose < 0)
            loose = i;
    }
    if (found < 0 && loose >= 0) {
        scan_add(c, SCAN_BLOCK, "zip.trailing_data", (int64_t)(src->size - span) + loose + 22, NULL,
                 "data after the end-of-central-directory record (or a lying comment length)");
        found = loose;
    }
    if (found >= 0) {
        memcpy(rec, b + found, 22);
        *eocd = src->size - span + (uint64_t)found;
    }
    free(b);
    if (found < 0) {
        scan_add(c, SCAN_BLOCK, "zip.no_eocd", 0, NULL,
                 "starts like a zip but has no end-of-central-directory record");
        return -1;
    }
    return 0;
}

/* Fills sizes/offset from a zip64 extra field where the 32-bit fields are saturated. */
static int zip64_extra(const uint8_t *x, size_t xl, zent *e, int need_u, int need_c, int need_o)
{
    size_t i = 0;
    while (i + 4 <= xl) {
        uint16_t id = scan_le16(x + i), l = scan_le16(x + i + 2);
        if (i + 4 + l > xl)
            return -1;
        if (id == 1) {
            const uint8_t *p = x + i + 4;
            size_t k = 0;
            if (need_u) {
                if (k + 8 > l)
                    return -1;
                e->usize = scan_le64(p + k);
                k += 8;
            }
            if (need_c) {
                if (k + 8 > l)
                    return -1;
                e->csize = scan_le64(p + k);
                k += 8;
            }
            if (need_o) {
                if (k + 8 > l)
                    return -1;
                e->lho = scan_le64(p + k);
            }
            return 0;
        }
        i += 4 + (size_t)l;
    }
    return (need_u || need_c || need_o) ? -1 : 0;
}

/* Checks one local header against its central entry; sets e->data_off and e->end. */
static void check_local(scan_ctx *c, const scan_src *src, zent *e)
{
    uint8_t h[30];
    c->member = e->name;
    if (e->lho > src->size || src->size - e->lho < 30 || scan_src_read(src, e->lho, h, 30) ||
        memcmp(h, "PK\x03\x04", 4)) {
        scan_add(c, SCAN_BLOCK, "zip.bad_local_header", (int64_t)e->lho, NULL,
                 "no local header where the central directory points");
        return;
    }
    uint16_t nl = scan_le16(h + 26), xl = scan_le16(h + 28);
    char *ln = malloc((size_t)nl + 1);
    if (!ln) {
        c->err = HG_ERR_NOMEM;
        return;
    }
    if (scan_src_read(src, e->lho + 30, ln, nl)) {
        free(ln);
        scan_add(c, SCAN_BLOCK, "zip.bad_local_header", (int64_t)e->lho, NULL, "truncated local header");
        return;
    }
    int same = nl == e->nlen && !memcmp(ln, e->name, nl);
    free(ln);
    if (!same) {
        scan_add(c, SCAN_BLOCK, "zip.name_mismatch", (int64_t)e->lho, NULL,
                 "local header names a different file than the central directory");
        return;
    }
    uint16_t lf = scan_le16(h + 6), lm = scan_le16(h + 8);
    uint32_t lcrc = scan_le32(h + 14), lc = scan_le32(h + 18), lu = scan_le32(h + 22);
    if (lf != e->flags || lm != e->method) {
        scan_add(c, SCAN_BLOCK, "zip.header_mismatch", (int64_t)e->lho, NULL,
                 "local and central headers disagree on flags or method");
        return;
    }
    if (!(lf & 8) && (lcrc != e->crc || (lc != 0xFFFFFFFFu && lc != e->csize) ||
                      (lu != 0xFFFFFFFFu && lu != e->usize))) {
        scan_add(c, SCAN_BLOCK, "zip.header_mismatch", (int64_t)e->lho, NULL,
                 "local and central headers disagree on CRC or sizes");
        return;
    }
    e->data_off = e->lho + 30 + nl + xl;
    if (e->data_off > src->size || e->csize > src->size - e->data_off) {
        scan_add(c, SCAN_BLOCK, "zip.bad_local_header", (int64_t)e->lho, NULL,
                 "member data runs past the end of the file");
        return;
    }
    e->end = e->data_off + e->csize;
    if (lf & 8) { /* data descriptor: [sig] crc csize usize, sizes 4 or 8 bytes */
        uint8_t d[24] = {0};
        uint64_t avail = src->size - e->end;
        if (scan_src_read(src, e->end, d, avail < 24 ? (size_t)avail : 24)) {
            c->err = HG_ERR_IO;
            return;
        }
        size_t s = !memcmp(d, "PK\x07\x08", 4) ? 4 : 0, len = 0;
        if (scan_le32(d + s) == e->crc && scan_le32(d + s + 4) == e->csize &&
            scan_le32(d + s + 8) == e->usize)
            len = s + 12;
        else if (s + 20 <= 24 && scan_le32(d + s) == e->crc && scan_le64(d + s + 4) == e->csize &&
                 scan_le64(d + s + 12) == e->usize)
            len = s + 20;
        if (!len || len > avail) {
            scan_add(c, SCAN_BLOCK, "zip.header_mismatch", (int64_t)e->end, NULL,
                     "data descriptor disagrees with the central directory");
            return;
        }
        e->end += len;
    }
    e->ok = 1;
}

/* The finding when a member's bytes do not have the directory's CRC-32. */
static void crc_verdict(scan_ctx *c, const zent *e, uint32_t crc)
{
    if (crc != e->crc)
        scan_add(c, SCAN_BLOCK, "zip.crc_mismatch", (int64_t)e->data_off, NULL,
                 "CRC-32 of the member does not match the directory (readers disagree)");
}

/* Reads a stored member (<= ZIP_MAX_READ) and checks its CRC. */
static uint8_t *read_member(scan_ctx *c, const scan_src *src, const zent *e)
{
    if (e->csize > ZIP_MAX_READ)
        return NULL;
    uint8_t *b = malloc(e->csize ? (size_t)e->csize : 1);
    if (!b) {
        c->err = HG_ERR_NOMEM;
        return NULL;
    }
    if (scan_src_read(src, e->data_off, b, (size_t)e->csize)) {
        free(b);
        c->err = HG_ERR_IO;
        return NULL;
    }
    crc_verdict(c, e, scan_crc32(0, b, (size_t)e->csize));
    return b;
}

/* Checks the CRC-32 of a member (<= ZIP_MAX_READ) without holding it: 1 MiB at a time from a
 * file, in place from memory. */
static void check_crc(scan_ctx *c, const scan_src *src, const zent *e)
{
    if (e->csize > ZIP_MAX_READ)
        return;
    uint32_t crc = 0;
    if (src->mem) {
        if (e->data_off > src->size || e->csize > src->size - e->data_off) {
            c->err = HG_ERR_IO;
            return;
        }
        crc = scan_crc32(0, src->mem + src->off + e->data_off, (size_t)e->csize);
    } else {
        size_t blk = 1u << 20;
        uint8_t *b = malloc(blk);
        if (!b) {
            c->err = HG_ERR_NOMEM;
            return;
        }
        for (uint64_t at = 0; at < e->csize; at += blk) {
            size_t n = e->csize - at < blk ? (size_t)(e->csize - at) : blk;
            if (scan_src_read(src, e->data_off + at, b, n)) {
                c->err = HG_ERR_IO;
                break;
            }
            crc = scan_crc32(crc, b, n);
        }
        free(b);
        if (c->err)
            return;
    }
    crc_verdict(c, e, crc);
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* The PyTorch data.pkl: analysed in memory, storages cross-checked against data/ records. */
static void torch_data_pkl(scan_ctx *c, const scan_src *src, const zent *e, zent *ents, size_t n,
                           const char *archive)
{
    if (e->csize > SCAN_MAX_PICKLE) {
        scan_add(c, SCAN_BLOCK, "pickle.too_large", (int64_t)e->data_off, NULL,
                 "data.pkl larger than %u MiB", SCAN_MAX_PICKLE >> 20);
        return;
    }
    uint8_t *b = malloc(e->csize ? (size_t)e->csize : 1);
    if (!b) {
        c->err = HG_ERR_NOMEM;
        return;
    }
    if (scan_src_read(src, e->data_off, b, (size_t)e->csize)) {
        free(b);
        c->err = HG_ERR_IO;
        return;
    }
    if (scan_crc32(0, b, (size_t)e->csize) != e->crc)
        scan_add(c, SCAN_BLOCK, "zip.crc_mismatch", (int64_t)e->data_off, NULL,
                 "CRC-32 of data.pkl does not match the directory (readers disagree)");
    pk_info info;
    pk_status st = scan_pickle(c, b, (size_t)e->csize, 0, 0, &info);
    free(b);
    if (st == PK_OPAQUE)
        scan_add(c, SCAN_BLOCK, "pickle.malformed", (int64_t)info.end, NULL,
                 "data.pkl is not a pickle");
    if (st == PK_STOP && info.end < e->csize)
        scan_add(c, SCAN_BLOCK, "pickle.trailing_data", (int64_t)info.end, NULL,
                 "%llu bytes after STOP in data.pkl", (unsigned long long)(e->csize - info.end));
    size_t missing = 0, small = 0;
    char want[1024];
    for (size_t i = 0; i < info.nstorages; i++) {
        snprintf(want, sizeof(want), "%s/data/%s", archive, info.storages[i].key);
        const zent *rec = NULL;
        for (size_t j = 0; j < n && !rec; j++)
            if (!strcmp(ents[j].name, want))
                rec = &ents[j];
        if (!rec)
            missing++;
        else if (info.storages[i].elsize &&
                 info.storages[i].numel > rec->usize / info.storages[i].elsize)
            small++;
    }
    if (missing)
        scan_add(c, SCAN_WARN, "torch.missing_storage", -1, NULL,
                 "%zu persistent storage ids name no data/ record", missing);
    if (small)
        scan_add(c, SCAN_WARN, "torch.storage_too_small", -1, NULL,
                 "%zu storages are larger than their data/ record", small);
    pk_info_free(&info);
}

/* What the archive is, for the rules of its members. */
typedef struct zip_kind {
    const char *fmt;  /* "pytorch-zip", "keras", "npz" or "zip" */
    size_t ndata;     /* data.pkl records */
    const char *arch; /* PyTorch archive name */
    zent *ents;
    size_t n;
} zip_kind;

/* Scans the bytes of one member: e->data_off and e->csize locate them in src (the archive for a
 * stored member, the inflated bytes for a deflated one). */
static void scan_member(scan_ctx *c, const scan_src *src, const zent *e, const zip_kind *k)
{
    int picklish = ends_with(e->name, ".pkl") || ends_with(e->name, ".pickle");
    if (!strcmp(k->fmt, "keras") && ends_with(e->name, ".h5"))
        return;
    if (k->ndata && (!strcmp(e->name, "data.pkl") || ends_with(e->name, "/data.pkl"))) {
        torch_data_pkl(c, src, e, k->ents, k->n, k->arch);
        return;
    }
    if (!strcmp(k->fmt, "keras") && !strcmp(e->name, "config.json")) {
        uint8_t *b = read_member(c, src, e);
        if (b)
            scan_keras_config(c, b, (size_t)e->csize, "config.json");
        else if (!c->err)
            scan_add(c, SCAN_BLOCK, "keras.config_too_large", -1, NULL, "config.json too large");
        free(b);
        return;
    }
    check_crc(c, src, e);
    scan_src sub = scan_src_sub(src, e->data_off, e->csize);
    if (picklish) {
        scan_pickle_stream(c, &sub, e->name, 1);
        return;
    }
    const char *mf = scan_dispatch(c, &sub, e->name);
    if (!strcmp(k->fmt, "npz") && strcmp(mf, "npy"))
        scan_add(c, SCAN_WARN, "npz.member_not_npy", (int64_t)e->data_off, NULL,
                 ".npy member that is not a NumPy array (%s)", mf);
    if (k->ndata && strcmp(mf, "unknown") && strcmp(mf, "empty"))
        scan_add(c, SCAN_WARN, "torch.unexpected_record", (int64_t)e->data_off, NULL,
                 "PyTorch archive record holds a %s", mf);
}

/* Inflates a deflated member into a buffer of its declared size and scans that like a stored
 * member (offsets in its findings are then offsets into the inflated bytes).  A stream that is
 * invalid, or does not come out at exactly the declared size, blocks: loaders would disagree. */
static void inflate_and_scan(scan_ctx *c, const scan_src *src, const zent *e, const zip_kind *k)
{
    uint8_t *in = malloc(e->csize ? (size_t)e->csize : 1), *out = malloc(e->usize ? (size_t)e->usize : 1);
    if (!in || !out) {
        c->err = HG_ERR_NOMEM;
        goto out;
    }
    if (scan_src_read(src, e->data_off, in, (size_t)e->csize)) {
        c->err = HG_ERR_IO;
        goto out;
    }
    size_t got = 0;
    const char *why = NULL;
    int rc = scan_inflate(in, (size_t)e->csize, out, (size_t)e->usize, &got, &why);
    free(in); /* only the inflated bytes are scanned */
    in = NULL;
    if (rc != 0) {
        scan_add(c, SCAN_BLOCK, "zip.bad_deflate", (int64_t)e->data_off, NULL,
                 "deflated member cannot be inflated: %s", why);
        goto out;
    }
    if (got != e->usize) {
        scan_add(c, SCAN_BLOCK, "zip.bad_deflate", (int64_t)e->data_off, NULL,
                 "deflated member inflates to %zu bytes, the directory says %llu", got,
                 (unsigned long long)e->usize);
        goto out;
    }
    scan_src mem = {.fd = -1, .mem = out, .off = 0, .size = e->usize};
    zent m = *e;
    m.method = 0;
    m.data_off = 0;
    m.csize = e->usize;
    scan_member(c, &mem, &m, k);
out:
    free(in);
    free(out);
}

const char *scan_zip(scan_ctx *c, const scan_src *src, const char *zname)
{
    (void)zname;
    if (c->zip_depth >= 2) {
        scan_add(c, SCAN_BLOCK, "zip.too_deep", 0, NULL, "zip archives nested more than one level");
        return "zip";
    }
    uint8_t r[22];
    uint64_t eocd;
    if (find_eocd(c, src, &eocd, r))
        return "zip";
    uint64_t entries = scan_le16(r + 10), cd_size = scan_le32(r + 12), cd_off = scan_le32(r + 16);
    uint64_t cd_end = eocd;
    if (scan_le16(r + 4) || scan_le16(r + 6) || scan_le16(r + 8) != scan_le16(r + 10)) {
        scan_add(c, SCAN_BLOCK, "zip.multidisk", (int64_t)eocd, NULL, "multi-disk archive");
        return "zip";
    }
    if (eocd >= 20) {
        uint8_t loc[20];
        if (!scan_src_read(src, eocd - 20, loc, 20) && !memcmp(loc, "PK\x06\x07", 4)) {
            uint64_t z = scan_le64(loc + 8);
            uint8_t z64[56];
            if (z > eocd - 20 || eocd - 20 - z < 56 || scan_src_read(src, z, z64, 56) ||
                memcmp(z64, "PK\x06\x06", 4) || z + 12 + scan_le64(z64 + 4) != eocd - 20) {
                scan_add(c, SCAN_BLOCK, "zip.zip64", (int64_t)z, NULL, "inconsistent zip64 records");
                return "zip";
            }
            entries = scan_le64(z64 + 32);
            cd_size = scan_le64(z64 + 40);
            cd_off = scan_le64(z64 + 48);
            cd_end = z;
        }
    }
    if (cd_off > cd_end || cd_size != cd_end - cd_off) {
        scan_add(c, SCAN_BLOCK, "zip.cd_mismatch", (int64_t)cd_off, NULL,
                 "central directory does not end where the end record starts");
        return "zip";
    }
    if (cd_size > ZIP_MAX_CD || entries > ZIP_MAX_ENTRIES) {
        scan_add(c, SCAN_BLOCK, "zip.too_large", (int64_t)cd_off, NULL,
                 "central directory too large (%llu entries)", (unsigned long long)entries);
        return "zip";
    }
    uint8_t *cd = malloc(cd_size ? (size_t)cd_size : 1);
    zent *ents = calloc(entries ? (size_t)entries : 1, sizeof(*ents));
    zent **order = calloc(entries ? (size_t)entries : 1, sizeof(*order));
    const char *fmt = "zip";
    size_t n = 0;
    if (!cd || !ents || !order) {
        c->err = HG_ERR_NOMEM;
        goto out;
    }
    if (scan_src_read(src, cd_off, cd, (size_t)cd_size)) {
        c->err = HG_ERR_IO;
        goto out;
    }
    size_t p = 0;
    while (p < cd_size) {
        if (n >= entries || cd_size - p < 46 || memcmp(cd + p, "PK\x01\x02", 4)) {
            scan_add(c, SCAN_BLOCK, "zip.count_mismatch", (int64_t)(cd_off + p), NULL,
                     "central directory holds more or other records than the end record says");
            goto out;
        }
        const uint8_t *h = cd + p;
        size_t nl = scan_le16(h + 28), xl = scan_le16(h + 30), cl = scan_le16(h + 32);
        if (46 + nl + xl + cl > cd_size - p) {
            scan_add(c, SCAN_BLOCK, "zip.count_mismatch", (int64_t)(cd_off + p), NULL,
                     "central directory record runs past the directory");
            goto out;
        }
        zent *e = &ents[n++];
        e->name = malloc(nl + 1);
        if (!e->name) {
            c->err = HG_ERR_NOMEM;
            goto out;
        }
        memcpy(e->name, h + 46, nl);
        e->name[nl] = 0;
        e->nlen = (uint16_t)nl;
        e->flags = scan_le16(h + 8);
        e->method = scan_le16(h + 10);
        e->crc = scan_le32(h + 16);
        e->csize = scan_le32(h + 20);
        e->usize = scan_le32(h + 24);
        e->lho = scan_le32(h + 42);
        c->member = e->name;
        if (zip64_extra(h + 46 + nl, xl, e, e->usize == 0xFFFFFFFFu, e->csize == 0xFFFFFFFFu,
                        e->lho == 0xFFFFFFFFu))
            scan_add(c, SCAN_BLOCK, "zip.zip64", (int64_t)(cd_off + p), NULL,
                     "missing or short zip64 extra field");
        if (e->flags & 1)
            scan_add(c, SCAN_BLOCK, "zip.encrypted", (int64_t)(cd_off + p), NULL,
                     "encrypted member (flag bit 0)");
        if (e->flags & ~(uint16_t)(1 | 2 | 4 | 8 | 0x800))
            scan_add(c, SCAN_BLOCK, "zip.flags", (int64_t)(cd_off + p), NULL,
                     "general-purpose flags 0x%04x (patch data, strong encryption or undefined)",
                     e->flags);
        if (e->method != 0 && e->method != 8)
            scan_add(c, SCAN_BLOCK, "zip.method", (int64_t)(cd_off + p), NULL,
                     "compression method %u", e->method);
        if (name_bad(e))
            scan_add(c, SCAN_BLOCK, "zip.path_traversal", (int64_t)(cd_off + p), NULL,
                     "member name is absolute, empty, has '..', a backslash, a drive or a NUL");
        p += 46 + nl + xl + cl;
    }
    c->member = NULL;
    if (n != entries) {
        scan_add(c, SCAN_BLOCK, "zip.count_mismatch", (int64_t)eocd, NULL,
                 "end record announces %llu entries, the directory holds %zu",
                 (unsigned long long)entries, n);
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        order[i] = &ents[i];
    qsort(order, n, sizeof(*order), name_cmp);
    for (size_t i = 1; i < n; i++)
        if (!strcmp(order[i]->name, order[i - 1]->name)) {
            c->member = order[i]->name;
            scan_add(c, SCAN_BLOCK, "zip.duplicate_member", (int64_t)order[i]->lho, NULL,
                     "two members have the same name (readers pick different ones)");
        }
    c->member = NULL;
    for (size_t i = 0; i < n && !c->err; i++)
        check_local(c, src, &ents[i]);
    c->member = NULL;
    /* coverage: entries back to back from 0, then the central directory */
    qsort(order, n, sizeof(*order), lho_cmp);
    uint64_t at = 0;
    int cov_ok = 1;
    for (size_t i = 0; i < n && cov_ok; i++) {
        if (!order[i]->ok) {
            cov_ok = 0;
            break;
        }
        if (order[i]->lho != at) {
            scan_add(c, SCAN_BLOCK, order[i]->lho > at ? (at ? "zip.gap" : "zip.prefix_data")
                                                       : "zip.overlap",
                     (int64_t)at, NULL, "%s before the member at %llu",
                     order[i]->lho > at ? "bytes that belong to no member" : "members overlap",
                     (unsigned long long)order[i]->lho);
            cov_ok = 0;
        }
        at = order[i]->end;
    }
    if (cov_ok && at != cd_off)
        scan_add(c, SCAN_BLOCK, at < cd_off ? "zip.gap" : "zip.overlap", (int64_t)at, NULL,
                 "members do not end where the central directory starts");

    /* what kind of archive */
    const char *archive = NULL;
    size_t archive_len = 0, ndata = 0, nnpy = 0;
    int has_config = 0, has_keras_meta = 0;
    for (size_t i = 0; i < n; i++) {
        const char *nm = ents[i].name;
        if (!strcmp(nm, "data.pkl") || ends_with(nm, "/data.pkl"))
            ndata++;
        if (ends_with(nm, ".npy"))
            nnpy++;
        if (!strcmp(nm, "config.json"))
            has_config = 1;
        if (!strcmp(nm, "metadata.json") || !strcmp(nm, "model.weights.h5"))
            has_keras_meta = 1;
    }
    if (n) {
        const char *sl = strchr(ents[0].name, '/');
        archive = ents[0].name;
        archive_len = sl ? (size_t)(sl - archive) : 0;
    }
    char arch[512] = "";
    if (archive_len && archive_len < sizeof(arch))
        memcpy(arch, archive, archive_len);
    if (ndata)
        fmt = "pytorch-zip";
    else if (has_config && has_keras_meta)
        fmt = "keras";
    else if (n && nnpy == n)
        fmt = "npz";
    if (ndata > 1)
        scan_add(c, SCAN_BLOCK, "torch.multiple_data_pkl", -1, NULL,
                 "%zu data.pkl records (loaders pick different ones)", ndata);

    /* members */
    size_t compressed = 0;
    char datapfx[600];
    snprintf(datapfx, sizeof(datapfx), "%s/data/", arch);
    c->zip_depth++;
    zip_kind k = {fmt, ndata, arch, ents, n};
    for (size_t i = 0; i < n && !c->err; i++) {
        zent *e = &ents[i];
        if (!e->ok || e->method > 8)
            continue;
        c->member = e->name;
        int picklish = ends_with(e->name, ".pkl") || ends_with(e->name, ".pickle");
        int torch_record = ndata && arch[0] && !strncmp(e->name, datapfx, strlen(datapfx));
        if (ends_with(e->name, "/"))
            continue;
        if (torch_record)
            continue; /* tensor bytes: never unpickled, never read (stored or deflated) */
        if (e->method == 0) {
            scan_member(c, src, e, &k);
            continue;
        }
        if (e->usize <= ZIP_MAX_INFLATE && e->csize <= ZIP_MAX_READ) {
            inflate_and_scan(c, src, e, &k);
            continue;
        }
        if (picklish || ndata)
            scan_add(c, SCAN_BLOCK, "zip.compressed_pickle", (int64_t)e->data_off, NULL,
                     "deflated member over %u MiB that may be unpickled: not inspected", ZIP_MAX_INFLATE >> 20);
        else if (!compressed++)
            scan_add(c, SCAN_WARN, "zip.compressed_member", (int64_t)e->data_off, NULL,
                     "deflated member over %u MiB: contents not inspected", ZIP_MAX_INFLATE >> 20);
    }
    c->zip_depth--;
    c->member = NULL;
    if (!c->err && n && ndata && ents[0].name && !archive_len)
        scan_add(c, SCAN_WARN, "torch.layout", -1, NULL,
                 "PyTorch records are not under one archive folder");
out:
    for (size_t i = 0; i < n; i++)
        free(ents[i].name);
    free(ents);
    free(order);
    free(cd);
    c->member = NULL;
    return fmt;
}
