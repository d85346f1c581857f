/*
 * scan_hdf5.c - Keras .h5 models: the root group's "model_config" attribute, the model's JSON,
 * judged like the config.json of a .keras archive (a Lambda layer carries marshalled Python code
 * that loading runs: CVE-2024-3660; security.md 1.7).
 *
 * Only what that takes is read: the superblock (versions 0-3, found at offset 0 or a power of two
 * from 512, after a user block, as the HDF5 library looks for it), the root group's object header
 * (version 1 or 2, continuation blocks followed) and its attribute messages; a string value is
 * fixed-length in the message or variable-length in a global heap collection.  Checksums are not
 * verified (a file the HDF5 library rejects loads nothing).  Anything else - dense attribute
 * storage, shared datatypes, other sizes of offsets - leaves the file "not inspected" (warn), as
 * does a file with no model_config: HDF5 bytes are never allowed on a guess.
 * Reads are bounded: at most 64 header blocks of at most 1 MiB, a config of at most 64 MiB.
 *
 * Where the structure could not be followed, the bytes are searched for a Keras config by its
 * text ('{"class_name"'), so that a Lambda layer cannot hide behind a storage form this reader
 * does not follow (a config padded past 64 KiB goes to dense storage).  Only findings come of
 * it; the file stays "not inspected".  A config written with escaped key names is not found.
 * The search parses at most 16 candidates and 64 MiB of JSON in all.
 */
#include <stdlib.h>
#include <string.h>

#include "scan/scan_int.h"

#define H5_MAX_BLOCKS 64
#define H5_MAX_BLOCK  (1u << 20)
#define H5_MAX_CONFIG (64u << 20)
#define H5_SEARCH_WINDOW (4u << 20)
#define H5_SEARCH_TRIES 16

static const uint8_t h5_sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};

typedef struct h5 {
    scan_ctx *c;
    const scan_src *src;
    uint64_t base;   /* file offset that HDF5 addresses are relative to */
    unsigned osize;  /* size of offsets, and of lengths: 8 (what h5py writes) */
    int found;       /* model_config read and judged */
    int searched;    /* configs found by searching the bytes and judged */
    uint64_t budget; /* bytes the search may still hand to the JSON parser */
    const char *why; /* why the file could not be inspected */
    struct {
        uint64_t addr, len;
        int v2;
    } todo[H5_MAX_BLOCKS];
    unsigned ntodo;
} h5;

/* A whole [addr, addr + n) of the file (addresses relative to base) into a new buffer. */
static uint8_t *h5_read(h5 *f, uint64_t addr, uint64_t n)
{
    if (addr > f->src->size || f->base > f->src->size - addr || n > f->src->size - f->base - addr) {
        f->why = "an address beyond the end of the file";
        return NULL;
    }
    uint8_t *b = malloc(n ? (size_t)n : 1);
    if (!b) {
        f->c->err = HG_ERR_NOMEM;
        return NULL;
    }
    if (scan_src_read(f->src, f->base + addr, b, (size_t)n)) {
        free(b);
        f->c->err = HG_ERR_IO;
        return NULL;
    }
    return b;
}

static void h5_queue(h5 *f, uint64_t addr, uint64_t len, int v2)
{
    if (f->ntodo == H5_MAX_BLOCKS) {
        f->why = "too many object header blocks";
        return;
    }
    f->todo[f->ntodo].addr = addr;
    f->todo[f->ntodo].len = len;
    f->todo[f->ntodo].v2 = v2;
    f->ntodo++;
}

/* A variable-length string: object idx of the global heap collection at addr. */
static uint8_t *h5_vlen(h5 *f, uint64_t addr, uint32_t idx, size_t *len)
{
    uint8_t *hd = h5_read(f, addr, 16);
    if (!hd)
        return NULL;
    uint64_t csize = memcmp(hd, "GCOL", 4) || hd[4] != 1 ? 0 : scan_le64(hd + 8);
    free(hd);
    if (csize < 16 || csize > H5_MAX_CONFIG + 4096) {
        f->why = "a global heap that is not one";
        return NULL;
    }
    uint8_t *col = h5_read(f, addr, csize);
    if (!col)
        return NULL;
    uint8_t *out = NULL;
    for (uint64_t at = 16; at + 16 <= csize;) {
        uint16_t oi = scan_le16(col + at);
        uint64_t osz = scan_le64(col + at + 8);
        if (oi == 0 || osz > csize - at - 16)
            break;
        if (oi == idx) {
            out = malloc(osz ? (size_t)osz : 1);
            if (!out)
                f->c->err = HG_ERR_NOMEM;
            else
                memcpy(out, col + at + 16, (size_t)osz);
            *len = (size_t)osz;
            break;
        }
        at += 16 + ((osz + 7) & ~(uint64_t)7);
    }
    if (!out && !f->c->err)
        f->why = "a string missing from its global heap";
    free(col);
    return out;
}

/* An attribute message: judges its value when it is the model config. */
static void h5_attribute(h5 *f, const uint8_t *d, size_t n)
{
    if (n < 8)
        return;
    unsigned ver = d[0], flags = d[1];
    size_t name_sz = scan_le16(d + 2), dt_sz = scan_le16(d + 4), ds_sz = scan_le16(d + 6), p;
    if (ver == 1) {
        p = 8;
        name_sz = (name_sz + 7) & ~(size_t)7;
        dt_sz = (dt_sz + 7) & ~(size_t)7;
        ds_sz = (ds_sz + 7) & ~(size_t)7;
    } else if (ver == 2 || ver == 3) {
        p = ver == 3 ? 9 : 8;
    } else {
        return;
    }
    size_t nlen = scan_le16(d + 2);
    if (p > n || name_sz > n - p || nlen == 0 || nlen > name_sz)
        return;
    const char *name = (const char *)d + p;
    if (nlen != sizeof "model_config" || memcmp(name, "model_config", nlen))
        return;
    p += name_sz;
    if (flags & 3) {
        f->why = "a model_config with a shared datatype";
        return;
    }
    if (dt_sz > n - p || dt_sz < 8 || ds_sz > n - p - dt_sz) {
        f->why = "a malformed model_config attribute";
        return;
    }
    const uint8_t *dt = d + p, *data = d + p + dt_sz + ds_sz;
    size_t avail = n - p - dt_sz - ds_sz;
    unsigned cls = dt[0] & 0x0f;
    uint8_t *json = NULL;
    size_t jlen = 0;
    if (cls == 3) { /* fixed-length string */
        jlen = scan_le32(dt + 4) < avail ? scan_le32(dt + 4) : avail;
        json = malloc(jlen ? jlen : 1);
        if (!json) {
            f->c->err = HG_ERR_NOMEM;
            return;
        }
        memcpy(json, data, jlen);
    } else if (cls == 9 && (dt[1] & 0x0f) == 1 && avail >= 4 + 8 + 4) { /* variable-length string */
        json = h5_vlen(f, scan_le64(data + 4), scan_le32(data + 12), &jlen);
        if (!json)
            return;
    } else {
        f->why = "a model_config that is not a string";
        return;
    }
    while (jlen && (json[jlen - 1] == '\0' || json[jlen - 1] == ' ')) /* null or space padded */
        jlen--;
    scan_keras_config(f->c, json, jlen, "model_config");
    free(json);
    f->found = 1;
}

/* The messages of one header block.  v1: 8-byte message headers, 8-byte aligned; v2: 4 (or 6
 * with creation order) and packed. */
static void h5_messages(h5 *f, const uint8_t *b, size_t n, int v2, int order)
{
    size_t hs = v2 ? (order ? 6 : 4) : 8;
    for (size_t at = 0; at + hs <= n && !f->c->err;) {
        unsigned type = v2 ? b[at] : scan_le16(b + at);
        size_t sz = scan_le16(b + at + (v2 ? 1 : 2));
        const uint8_t *d = b + at + hs;
        if (sz > n - at - hs)
            break; /* the gap at the end of a v2 block, or a bad size */
        if (type == 0x0c)
            h5_attribute(f, d, sz);
        else if (type == 0x10 && sz >= 16)
            h5_queue(f, scan_le64(d), scan_le64(d + 8), v2);
        else if (type == 0x15 && !f->why)
            f->why = "attributes in dense storage";
        at += hs + sz;
    }
}

/* The root group's object header at addr, and every continuation block it names. */
static void h5_object(h5 *f, uint64_t addr)
{
    uint8_t *pre = h5_read(f, addr, 40); /* the longest v2 prefix is 34 bytes */
    if (!pre)
        return;
    int v2 = !memcmp(pre, "OHDR", 4);
    int order = 0;
    if (v2 && pre[4] == 2) {
        unsigned fl = pre[5];
        size_t p = 6 + (fl & 0x20 ? 16 : 0) + (fl & 0x10 ? 4 : 0);
        unsigned w = 1u << (fl & 3);
        uint64_t len = 0;
        for (unsigned i = 0; i < w; i++)
            len |= (uint64_t)pre[p + i] << (8 * i);
        order = (fl & 0x04) != 0;
        h5_queue(f, addr + p + w, len, 1);
    } else if (!v2 && pre[0] == 1) {
        h5_queue(f, addr + 16, scan_le32(pre + 8), 0);
    } else {
        f->why = "an object header of an unknown version";
    }
    free(pre);
    for (unsigned i = 0; i < f->ntodo && !f->c->err && !f->found; i++) {
        uint64_t a = f->todo[i].addr, len = f->todo[i].len;
        int chk = f->todo[i].v2 && i > 0; /* continuation blocks of v2 headers: "OCHK" + messages */
        if (len > H5_MAX_BLOCK) {
            f->why = "an object header block over 1 MiB";
            return;
        }
        uint8_t *b = h5_read(f, a, len);
        if (!b)
            return;
        if (chk && (len < 8 || memcmp(b, "OCHK", 4)))
            f->why = "a continuation block that is not one";
        else if (chk)
            h5_messages(f, b + 4, (size_t)len - 8, 1, order);
        else
            h5_messages(f, b, (size_t)len, f->todo[i].v2, order);
        free(b);
    }
}

/* The root object header's address from the superblock at f->base, or -1. */
static int h5_superblock(h5 *f, uint64_t *root)
{
    uint8_t sb[96];
    size_t n = f->src->size - f->base < sizeof sb ? (size_t)(f->src->size - f->base) : sizeof sb;
    if (n < 48 || scan_src_read(f->src, f->base, sb, n))
        return -1;
    unsigned ver = sb[8];
    if (ver <= 1) {
        f->osize = sb[13];
        if (f->osize != 8 || sb[14] != 8)
            return -1;
        size_t a = ver == 0 ? 24 : 28; /* base, free space, end of file, driver; then the root entry */
        if (a + 6 * 8 > n)
            return -1;
        uint64_t base = scan_le64(sb + a);
        *root = scan_le64(sb + a + 5 * 8);
        if (base != f->base)
            return -1; /* relocated files: addresses would need the stored base */
        return 0;
    }
    if (ver == 2 || ver == 3) {
        f->osize = sb[9];
        if (f->osize != 8 || sb[10] != 8 || 12 + 4 * 8 > n)
            return -1;
        if (scan_le64(sb + 12) != f->base)
            return -1;
        *root = scan_le64(sb + 12 + 3 * 8);
        return 0;
    }
    return -1;
}

uint64_t scan_hdf5_find(const scan_src *src)
{
    uint8_t sig[8];
    for (uint64_t at = 0; at + sizeof sig <= src->size; at = at ? at * 2 : 512) {
        if (scan_src_read(src, at, sig, sizeof sig))
            return UINT64_MAX;
        if (!memcmp(sig, h5_sig, sizeof sig))
            return at;
    }
    return UINT64_MAX;
}

/* Parses the JSON value starting at off (a '{'), reading more of the file while the value runs
 * past what was read; judges it if it is a Keras config.  Returns the bytes it took, 0 if it is
 * not one. */
static uint64_t h5_try_config(h5 *f, uint64_t off)
{
    uint64_t left = f->src->size - off;
    for (size_t n = 1u << 20;; n *= 2) {
        size_t take = left < n ? (size_t)left : n;
        if (take > f->budget)
            return 0;
        f->budget -= take;
        char *buf = malloc(take);
        if (!buf) {
            f->c->err = HG_ERR_NOMEM;
            return 0;
        }
        if (scan_src_read(f->src, off, buf, take)) {
            free(buf);
            return 0;
        }
        json_error_t je;
        json_t *j = json_loadb(buf, take, JSON_DISABLE_EOF_CHECK | JSON_REJECT_DUPLICATES, &je);
        free(buf);
        if (!j) {
            /* cut off by the end of what was read: read more (a config is at most 64 MiB) */
            if (je.position >= (int)take - 1 && take < left && n < H5_MAX_CONFIG)
                continue;
            return 0;
        }
        uint64_t used = je.position > 0 ? (uint64_t)je.position : 1;
        if (json_is_string(json_object_get(j, "class_name")) && json_is_object(json_object_get(j, "config"))) {
            scan_keras_json(f->c, j);
            f->searched++;
        } else {
            used = 0;
        }
        json_decref(j);
        return used;
    }
}

/* The file's bytes, searched for '{"class_name"' (whitespace allowed after the brace), a window
 * at a time; windows overlap by enough that a needle and the 64 bytes before it are whole in one
 * of them.  A config that was judged is skipped as a whole. */
static void h5_search_configs(h5 *f)
{
    static const char needle[] = "\"class_name\"";
    const size_t nl = sizeof needle - 1, overlap = nl + 64;
    char *w = malloc(H5_SEARCH_WINDOW);
    if (!w) {
        f->c->err = HG_ERR_NOMEM;
        return;
    }
    unsigned tries = 0;
    f->budget = H5_MAX_CONFIG;
    for (uint64_t pos = 0; pos < f->src->size && tries < H5_SEARCH_TRIES && !f->c->err;) {
        uint64_t left = f->src->size - pos, resume = 0;
        size_t n = left < H5_SEARCH_WINDOW ? (size_t)left : H5_SEARCH_WINDOW;
        if (n < nl || scan_src_read(f->src, pos, w, n))
            break;
        for (size_t from = 0; tries < H5_SEARCH_TRIES && !f->c->err;) {
            const char *hit = memmem(w + from, n - from, needle, nl);
            if (!hit)
                break;
            size_t i = (size_t)(hit - w);
            from = i + 1;
            while (i > 0 && w[i - 1] && strchr(" \t\r\n", w[i - 1]))
                i--;
            if (i == 0 || w[i - 1] != '{')
                continue;
            tries++;
            uint64_t start = pos + i - 1, used = h5_try_config(f, start);
            if (start + used >= pos + n) {
                resume = start + used;
                break;
            }
            if (start + used > pos + from)
                from = (size_t)(start + used - pos);
        }
        if (resume)
            pos = resume;
        else if (n == left)
            break;
        else
            pos += n - overlap;
    }
    free(w);
}

void scan_hdf5(scan_ctx *c, const scan_src *src, uint64_t at)
{
    h5 *f = calloc(1, sizeof *f);
    if (!f) {
        c->err = HG_ERR_NOMEM;
        return;
    }
    f->c = c;
    f->src = src;
    f->base = at;
    if (at)
        scan_add(c, SCAN_WARN, "hdf5.user_block", (int64_t)at, NULL,
                 "HDF5 superblock after a %llu-byte user block (other readers see other bytes first)",
                 (unsigned long long)at);
    uint64_t root;
    if (h5_superblock(f, &root) != 0)
        f->why = "a superblock this reader does not know (it reads versions 0-3 with 8-byte offsets)";
    else
        h5_object(f, root);
    if (!f->found && f->why && !c->err)
        h5_search_configs(f);
    if (f->found)
        scan_add(c, SCAN_ALLOW, "hdf5.keras_config", -1, NULL, "Keras model_config checked");
    else if (!c->err)
        scan_add(c, SCAN_WARN, "hdf5.not_inspected", (int64_t)at, NULL,
                 "HDF5 file without a model_config this reader can get to (%s): not inspected%s",
                 f->why ? f->why : "there is none",
                 f->searched ? "; the Keras config found in its bytes was checked" : "");
    free(f);
}
