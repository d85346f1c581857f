/*
 * scan.c - the scanner's front: byte sources, findings and verdicts, format detection by
 * content, raw pickle streams (single, concatenated, legacy PyTorch, joblib) and the JSON report.
 *
 * Detection order (security.md 0.1, 1.6): zip local header at offset 0, NumPy magic, GGUF magic,
 * a safetensors header, an HDF5 superblock (at 0: the file is HDF5; after a user block: HDF5 as
 * well as what the first bytes are), 7z / compression magics, ONNX (by name or a protobuf
 * ModelProto), then the pickle machine itself, which also covers protocol 0/1 pickles that have
 * no magic.
 * Bytes the pickle machine rejects before anything that could run code are "opaque": such a file
 * is allowed with a "format.unknown" note (text, configs, raw tensor dumps).
 *
 * Verdict: the worst severity among the findings.  Thread-safe: state lives in scan_ctx on the
 * caller's stack.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scan/scan_int.h"
#include "util/hg_fs.h"

/* ---- sources ---- */

hg_err scan_src_read(const scan_src *s, uint64_t off, void *buf, size_t n)
{
    if (off > s->size || n > s->size - off)
        return HG_ERR_CORRUPT;
    if (!n)
        return HG_OK;
    if (s->mem) {
        memcpy(buf, s->mem + s->off + off, n);
        return HG_OK;
    }
    return hg_pread_all(s->fd, buf, n, s->off + off);
}

scan_src scan_src_sub(const scan_src *s, uint64_t off, uint64_t len)
{
    scan_src r = *s;
    r.off = s->off + off;
    r.size = len;
    return r;
}

hg_err scan_src_load(const scan_src *s, size_t max, uint8_t **out, size_t *len)
{
    size_t n = s->size < max ? (size_t)s->size : max;
    uint8_t *b = malloc(n ? n : 1);
    if (!b)
        return HG_ERR_NOMEM;
    hg_err rc = scan_src_read(s, 0, b, n);
    if (rc) {
        free(b);
        return rc;
    }
    *out = b;
    *len = n;
    return HG_OK;
}

int scan_has_ext(const char *name, const char *ext)
{
    if (!name)
        return 0;
    size_t nl = strlen(name), el = strlen(ext);
    return nl >= el && !strcasecmp(name + nl - el, ext);
}

uint32_t scan_crc32(uint32_t crc, const uint8_t *p, size_t n)
{
    static const uint32_t T[16] = {
        0x00000000, 0x1db71064, 0x3b6e20c8, 0x26d930ac, 0x76dc4190, 0x6b6b51f4,
        0x4db26158, 0x5005713c, 0xedb88320, 0xf00f9344, 0xd6d6a3e8, 0xcb61b38c,
        0x9b64c2b0, 0x86d3d2d4, 0xa00ae278, 0xbdbdf21c,
    };
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        crc = (crc >> 4) ^ T[crc & 15];
        crc = (crc >> 4) ^ T[crc & 15];
    }
    return ~crc;
}

/* ---- findings ---- */

/* Copies s with control characters and non-ASCII bytes written as \xHH: names come from
 * untrusted bytes and must print (and encode as JSON) unambiguously. */
static char *escape_dup(const char *s)
{
    size_t n = 0;
    for (const char *p = s; *p; p++)
        n += ((uint8_t)*p < 0x20 || (uint8_t)*p >= 0x7f) ? 4 : 1;
    char *o = malloc(n + 1), *q = o;
    if (!o)
        return NULL;
    for (const char *p = s; *p; p++) {
        uint8_t ch = (uint8_t)*p;
        if (ch < 0x20 || ch >= 0x7f) {
            static const char hx[] = "0123456789abcdef";
            *q++ = '\\';
            *q++ = 'x';
            *q++ = hx[ch >> 4];
            *q++ = hx[ch & 15];
        } else {
            *q++ = (char)ch;
        }
    }
    *q = 0;
    return o;
}

void scan_add(scan_ctx *c, scan_verdict sev, const char *id, int64_t offset, const char *global,
              const char *fmt, ...)
{
    scan_result *r = c->res;
    if (sev > r->verdict)
        r->verdict = sev;
    if (r->nfindings >= SCAN_MAX_FINDINGS) {
        r->dropped++;
        return;
    }
    if (r->nfindings == r->afindings) {
        size_t na = r->afindings ? r->afindings * 2 : 8;
        scan_finding *nf = realloc(r->findings, na * sizeof(*nf));
        if (!nf) {
            c->err = HG_ERR_NOMEM;
            return;
        }
        r->findings = nf;
        r->afindings = na;
    }
    scan_finding *f = &r->findings[r->nfindings];
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    f->id = id;
    f->severity = sev;
    f->offset = offset;
    f->message = escape_dup(buf);
    f->global = global ? escape_dup(global) : NULL;
    f->member = c->member ? strdup(c->member) : NULL;
    if (!f->message || (global && !f->global) || (c->member && !f->member)) {
        free(f->message);
        free(f->global);
        free(f->member);
        c->err = HG_ERR_NOMEM;
        return;
    }
    r->nfindings++;
}

static void finding_free(scan_finding *f)
{
    free(f->message);
    free(f->global);
    free(f->member);
}

void scan_truncate_findings(scan_ctx *c, size_t mark)
{
    scan_result *r = c->res;
    while (r->nfindings > mark)
        finding_free(&r->findings[--r->nfindings]);
    scan_verdict v = SCAN_ALLOW;
    for (size_t i = 0; i < r->nfindings; i++)
        if (r->findings[i].severity > v)
            v = r->findings[i].severity;
    if (r->dropped == 0)
        r->verdict = v;
}

void scan_result_free(scan_result *r)
{
    for (size_t i = 0; i < r->nfindings; i++)
        finding_free(&r->findings[i]);
    free(r->findings);
    memset(r, 0, sizeof(*r));
}

const char *scan_verdict_name(scan_verdict v)
{
    return v == SCAN_BLOCK ? "block" : v == SCAN_WARN ? "warn" : "allow";
}

const char *scan_severity_name(scan_verdict v)
{
    return v == SCAN_BLOCK ? "block" : v == SCAN_WARN ? "warn" : "info";
}

/* ---- raw pickle streams ---- */

static const uint8_t TORCH_MAGIC[10] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
#define MAX_PICKLES 64

/* Analyses the pickle starting at off, reading a growing window of the source. */
static pk_status pickle_at(scan_ctx *c, const scan_src *src, uint64_t off, pk_info *info)
{
    uint64_t avail = src->size - off;
    size_t win = avail < (16u << 20) ? (size_t)avail : (16u << 20);
    for (;;) {
        uint8_t *buf;
        size_t len;
        scan_src w = scan_src_sub(src, off, win);
        hg_err rc = scan_src_load(&w, win, &buf, &len);
        if (rc) {
            c->err = rc;
            memset(info, 0, sizeof(*info));
            return PK_OPAQUE;
        }
        unsigned flags = len < avail ? PKF_PREFIX : 0;
        pk_status st = scan_pickle(c, buf, len, off, flags, info);
        free(buf);
        if (st != PK_SHORT)
            return st;
        pk_info_free(info);
        if (win >= SCAN_MAX_PICKLE) {
            scan_add(c, SCAN_BLOCK, "pickle.too_large", (int64_t)off, NULL,
                     "pickle longer than %u MiB: not analysed", SCAN_MAX_PICKLE >> 20);
            memset(info, 0, sizeof(*info));
            info->risky = 1;
            return PK_BAD;
        }
        uint64_t nw = (uint64_t)win * 8;
        if (nw > SCAN_MAX_PICKLE)
            nw = SCAN_MAX_PICKLE;
        if (nw > avail)
            nw = avail;
        win = (size_t)nw;
    }
}

static int storage_cmp(const void *a, const void *b)
{
    return strcmp(((const pk_storage *)a)->key, ((const pk_storage *)b)->key);
}

/* Legacy torch.save: magic, protocol, sys_info, data, storage keys, then raw storages. */
static void legacy_torch(scan_ctx *c, const scan_src *src, uint64_t pos)
{
    static const char *const what[] = {"protocol version", "sys_info", "data", "storage keys"};
    pk_info data = {0};
    for (int i = 0; i < 4; i++) {
        pk_info info;
        if (pos >= src->size) {
            scan_add(c, SCAN_BLOCK, "torch_legacy.truncated", (int64_t)pos, NULL,
                     "legacy PyTorch file ends before its %s pickle", what[i]);
            pk_info_free(&data);
            return;
        }
        pk_status st = pickle_at(c, src, pos, &info);
        if (st != PK_STOP) {
            if (st == PK_OPAQUE)
                scan_add(c, SCAN_BLOCK, "torch_legacy.malformed", (int64_t)pos, NULL,
                         "legacy PyTorch %s pickle is not a pickle", what[i]);
            pk_info_free(&info);
            pk_info_free(&data);
            return;
        }
        if (i != 2 && !info.literal_only)
            scan_add(c, SCAN_BLOCK, "torch_legacy.header_code", (int64_t)pos, NULL,
                     "legacy PyTorch %s pickle imports or calls", what[i]);
        pos += info.end;
        if (i == 2)
            data = info;
        else
            pk_info_free(&info);
    }
    /* The tail holds each distinct storage once: int64 element count + bytes. */
    uint64_t expect = 0;
    int known = 1;
    if (data.nstorages) {
        qsort(data.storages, data.nstorages, sizeof(pk_storage), storage_cmp);
        for (size_t i = 0; i < data.nstorages; i++) {
            if (i && !strcmp(data.storages[i].key, data.storages[i - 1].key))
                continue;
            const pk_storage *s = &data.storages[i];
            if (!s->elsize || s->numel > (UINT64_MAX / 2) / s->elsize)
                known = 0;
            else
                expect += 8 + s->numel * s->elsize;
        }
    }
    uint64_t tail = src->size - pos;
    if (known && tail > expect)
        scan_add(c, SCAN_BLOCK, "torch_legacy.trailing_data", (int64_t)(pos + expect), NULL,
                 "%llu bytes after the storages of a legacy PyTorch file",
                 (unsigned long long)(tail - expect));
    else if (known && tail < expect)
        scan_add(c, SCAN_WARN, "torch_legacy.truncated", (int64_t)pos, NULL,
                 "legacy PyTorch storages need %llu bytes, the file has %llu",
                 (unsigned long long)expect, (unsigned long long)tail);
    pk_info_free(&data);
}

const char *scan_pickle_stream(scan_ctx *c, const scan_src *src, const char *name, int strong)
{
    (void)name;
    size_t mark0 = c->res->nfindings;
    pk_info info;
    pk_status st = pickle_at(c, src, 0, &info);
    if (c->err)
        return NULL;
    if (st == PK_OPAQUE) {
        pk_info_free(&info);
        if (!strong)
            return NULL;
        scan_add(c, SCAN_WARN, "pickle.malformed", (int64_t)info.end, NULL,
                 "starts like a pickle but is not one (nothing before the error can run code)");
        return "pickle";
    }
    if (st == PK_BAD) {
        pk_info_free(&info);
        return "pickle";
    }
    if (info.is_int && info.nintbytes == sizeof(TORCH_MAGIC) &&
        !memcmp(info.intbytes, TORCH_MAGIC, sizeof(TORCH_MAGIC))) {
        uint64_t end = info.end;
        pk_info_free(&info);
        legacy_torch(c, src, end);
        return "pytorch-legacy";
    }
    const char *fmt = info.joblib ? "joblib" : "pickle";
    int any_risky = info.risky;
    uint64_t pos = info.end;
    pk_info_free(&info);
    for (int n = 1; pos < src->size && !c->err; n++) {
        if (n >= MAX_PICKLES) {
            scan_add(c, SCAN_BLOCK, "pickle.limit", (int64_t)pos, NULL,
                     "more than %d concatenated pickles", MAX_PICKLES);
            break;
        }
        uint8_t head[4] = {0};
        uint64_t rest = src->size - pos;
        if (scan_src_read(src, pos, head, rest < 4 ? (size_t)rest : 4)) {
            c->err = HG_ERR_IO;
            break;
        }
        if (!memcmp(head, "PK\x03\x04", 4)) {
            /* pickle/zip polyglot: report it and judge the archive too */
            scan_add(c, SCAN_BLOCK, "pickle.trailing_data", (int64_t)pos, NULL,
                     "a zip archive follows the pickle at %llu (pickle/zip polyglot)",
                     (unsigned long long)pos);
            scan_src zsub = scan_src_sub(src, pos, rest);
            const char *saved = c->member;
            c->member = "(appended zip)";
            scan_zip(c, &zsub, NULL);
            c->member = saved;
            break;
        }
        st = pickle_at(c, src, pos, &info);
        if (st == PK_STOP) {
            if (n == 1)
                scan_add(c, SCAN_WARN, "pickle.multiple", (int64_t)pos, NULL,
                         "several pickles are concatenated (sequential loaders read them all)");
            any_risky |= info.risky;
            fmt = info.joblib ? "joblib" : fmt;
            pos += info.end;
            pk_info_free(&info);
            continue;
        }
        any_risky |= info.risky;
        pk_info_free(&info);
        if (st == PK_OPAQUE) {
            if (!any_risky && !strong) {
                /* a literal-only prefix followed by other bytes: not a pickle file */
                scan_truncate_findings(c, mark0);
                return NULL;
            }
            scan_add(c, SCAN_BLOCK, "pickle.trailing_data", (int64_t)pos, NULL,
                     "%llu bytes after STOP are not a pickle%s", (unsigned long long)rest,
                     !memcmp(head, "PK\x03\x04", 4) ? " (a zip archive: pickle/zip polyglot)" : "");
        }
        break;
    }
    return fmt;
}

/* ---- detection ---- */

static int pickle_name(const char *name)
{
    static const char *const ext[] = {".pkl", ".pickle", ".joblib", ".bin", ".pt", ".pth", ".ckpt",
                                      ".dat", ".data", ".dill", ".npy", ".z", ".pkl.gz",
                                      ".pkl.bz2", ".pkl.xz", ".pkl.lzma", ".pkl.lz4",
                                      ".joblib.gz", ".pt.gz", ".bin.gz"};
    for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++)
        if (scan_has_ext(name, ext[i]))
            return 1;
    return 0;
}

static void scan_json_file(scan_ctx *c, const scan_src *src)
{
    uint8_t *b;
    size_t n;
    if (src->size > (16u << 20))
        return;
    hg_err rc = scan_src_load(src, (size_t)src->size, &b, &n);
    if (rc) {
        c->err = rc;
        return;
    }
    json_error_t je;
    json_t *j = json_loadb((const char *)b, n, 0, &je);
    free(b);
    if (!j)
        return;
    json_t *t = json_object_get(j, "chat_template");
    if (json_is_string(t)) {
        scan_chat_template(c, "chat_template", json_string_value(t), json_string_length(t), -1);
    } else if (json_is_array(t)) {
        size_t i;
        json_t *e;
        json_array_foreach(t, i, e) {
            json_t *tt = json_object_get(e, "template");
            if (json_is_string(tt))
                scan_chat_template(c, "chat_template", json_string_value(tt),
                                   json_string_length(tt), -1);
        }
    }
    json_decref(j);
}

/* An end-of-central-directory record whose comment reaches the end of the file. */
static int has_eocd(scan_ctx *c, const scan_src *src)
{
    uint64_t span = src->size < 22 + 65535 ? src->size : 22 + 65535;
    if (span < 22)
        return 0;
    uint8_t *b = malloc((size_t)span);
    if (!b) {
        c->err = HG_ERR_NOMEM;
        return 0;
    }
    int found = 0;
    if (!scan_src_read(src, src->size - span, b, (size_t)span))
        for (size_t i = (size_t)span - 22 + 1; i-- > 0 && !found;)
            found = !memcmp(b + i, "PK\x05\x06", 4) && i + 22 + scan_le16(b + i + 20) == span;
    free(b);
    return found;
}

const char *scan_dispatch(scan_ctx *c, const scan_src *src, const char *name)
{
    uint8_t h[16] = {0};
    size_t hn = src->size < sizeof(h) ? (size_t)src->size : sizeof(h);
    hg_err rc = scan_src_read(src, 0, h, hn);
    if (rc) {
        c->err = rc;
        return "unknown";
    }
    if (!src->size) {
        scan_add(c, SCAN_ALLOW, "format.empty", -1, NULL, "empty file");
        return "empty";
    }
    if (hn >= 4 && (!memcmp(h, "PK\x03\x04", 4) || !memcmp(h, "PK\x05\x06", 4)))
        return scan_zip(c, src, name);
    if (hn >= 6 && !memcmp(h, "\x93NUMPY", 6)) {
        scan_npy(c, src);
        return "npy";
    }
    if (hn >= 4 && !memcmp(h, "PAR1", 4) && src->size >= 12) {
        /* Parquet (datasets): "PAR1" at both ends; columnar data, nothing that runs when read.
         * Without the tail magic it is not parquet, and 'P' is also a pickle opcode. */
        uint8_t t[4];
        if (!scan_src_read(src, src->size - 4, t, 4) && !memcmp(t, "PAR1", 4))
            return "parquet";
    }
    if (hn >= 4 && !memcmp(h, "GGUF", 4)) {
        scan_gguf(c, src);
        return "gguf";
    }
    if (hn >= 9) {
        uint64_t hl = scan_le64(h);
        size_t i = 8;
        while (i < hn && (h[i] == ' ' || h[i] == '\n' || h[i] == '\r' || h[i] == '\t'))
            i++;
        /* The name breaks the tie only for bytes that could be meant as a header (a length
         * that fits 32 bits, or JSON after it): random or other content named .safetensors is
         * judged as what it is. */
        int plausible = hl < ((uint64_t)1 << 32) || (i < hn && (h[i] == '{' || h[i] == '['));
        if ((hl >= 2 && hl <= src->size - 8 && i < hn && h[i] == '{') ||
            (plausible && scan_has_ext(name, ".safetensors"))) {
            scan_safetensors(c, src);
            return "safetensors";
        }
    } else if (scan_has_ext(name, ".safetensors")) {
        scan_safetensors(c, src);
        return "safetensors";
    }
    /* HDF5 readers look for the superblock at 0, 512, 1024, 2048...: after a user block a file
     * is HDF5 to them and whatever its first bytes say to others; it is judged as both. */
    uint64_t h5at = scan_hdf5_find(src);
    if (h5at == 0) {
        scan_hdf5(c, src, 0);
        return "hdf5";
    }
    if (h5at != UINT64_MAX)
        scan_hdf5(c, src, h5at);
    if (hn >= 6 && !memcmp(h, "7z\xbc\xaf\x27\x1c", 6)) {
        scan_add(c, SCAN_WARN, "archive.not_inspected", 0, NULL,
                 "7z archive: members cannot be inspected");
        return "7z";
    }
    int compressed = (hn >= 2 && h[0] == 0x1f && h[1] == 0x8b) ||
                     (hn >= 3 && !memcmp(h, "BZh", 3)) ||
                     (hn >= 6 && !memcmp(h, "\xfd\x37\x7a\x58\x5a\x00", 6)) ||
                     (hn >= 4 && !memcmp(h, "\x04\x22\x4d\x18", 4)) ||
                     (hn >= 4 && !memcmp(h, "\x28\xb5\x2f\xfd", 4)) ||
                     (hn >= 2 && !memcmp(h, "ZF", 2) && scan_has_ext(name, ".joblib")) ||
                     (hn >= 2 && h[0] == 0x78 && (h[1] == 0x01 || h[1] == 0x5e || h[1] == 0x9c ||
                                                 h[1] == 0xda) && pickle_name(name)) ||
                     (hn >= 2 && h[0] == 0x5d && h[1] == 0x00 && pickle_name(name));
    if (compressed) {
        if (pickle_name(name)) {
            scan_add(c, SCAN_BLOCK, "container.compressed_pickle", 0, NULL,
                     "compressed file with a pickle-like name (joblib/torch): cannot be inspected");
        } else {
            scan_add(c, SCAN_ALLOW, "format.compressed", 0, NULL, "compressed file, not inspected");
        }
        return "compressed";
    }
    if ((scan_has_ext(name, ".onnx") || h[0] == 0x08) && scan_onnx(c, src, scan_has_ext(name, ".onnx")))
        return "onnx";
    int strong = hn >= 2 && h[0] == 0x80 && h[1] <= 5;
    const char *f = scan_pickle_stream(c, src, name, strong);
    if (f)
        return f;
    if (has_eocd(c, src)) {
        scan_add(c, SCAN_BLOCK, "zip.prefix_data", 0, NULL,
                 "a zip archive that does not start at offset 0 (zip readers that search for the "
                 "end record open it: polyglot)");
        return "zip";
    }
    if (h5at != UINT64_MAX)
        return "hdf5"; /* after a user block that is nothing else */
    if (scan_has_ext(name, ".json"))
        scan_json_file(c, src);
    if (!c->zip_depth)
        scan_add(c, SCAN_ALLOW, "format.unknown", -1, NULL,
                 "unknown format (not a pickle: nothing in it could run code when unpickled)");
    return "unknown";
}

/* ---- entry points ---- */

static hg_err run(scan_src *src, const char *name_hint, scan_result *out)
{
    memset(out, 0, sizeof(*out));
    scan_ctx c = {.res = out};
    out->format = scan_dispatch(&c, src, name_hint);
    if (c.err) {
        scan_result_free(out);
        return c.err;
    }
    return HG_OK;
}

hg_err scan_fd(int fd, uint64_t size, const char *name_hint, scan_result *out)
{
    scan_src s = {.fd = fd, .mem = NULL, .off = 0, .size = size};
    return run(&s, name_hint, out);
}

hg_err scan_mem(const void *data, size_t size, const char *name_hint, scan_result *out)
{
    scan_src s = {.fd = -1, .mem = data, .off = 0, .size = size};
    return run(&s, name_hint, out);
}

hg_err scan_path(const char *path, scan_result *out)
{
    memset(out, 0, sizeof(*out));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return HG_ERR_IO;
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        close(fd);
        return HG_ERR_IO;
    }
    hg_err rc = scan_fd(fd, (uint64_t)st.st_size, path, out);
    close(fd);
    return rc;
}

json_t *scan_result_json(const scan_result *r, const char *file)
{
    json_t *o = json_object(), *arr = json_array();
    if (!o || !arr)
        goto fail;
    if (json_object_set_new(o, "file", json_string(file ? file : "")) ||
        json_object_set_new(o, "format", json_string(r->format ? r->format : "unknown")) ||
        json_object_set_new(o, "verdict", json_string(scan_verdict_name(r->verdict))))
        goto fail;
    for (size_t i = 0; i < r->nfindings; i++) {
        const scan_finding *f = &r->findings[i];
        json_t *e = json_object();
        if (!e || json_array_append_new(arr, e))
            goto fail;
        /* messages and names come from untrusted bytes: keep them valid UTF-8 for jansson */
        json_t *msg = json_string(f->message);
        if (!msg)
            msg = json_stringn_nocheck("(message not valid UTF-8)", 25);
        if (json_object_set_new(e, "id", json_string(f->id)) ||
            json_object_set_new(e, "severity", json_string(scan_severity_name(f->severity))) ||
            json_object_set_new(e, "message", msg))
            goto fail;
        if (f->global) {
            json_t *g = json_string(f->global);
            if (!g)
                g = json_string("(not valid UTF-8)");
            if (json_object_set_new(e, "global", g))
                goto fail;
        }
        if (f->member) {
            json_t *mm = json_string(f->member);
            if (!mm)
                mm = json_string("(not valid UTF-8)");
            if (json_object_set_new(e, "member", mm))
                goto fail;
        }
        if (f->offset >= 0 && json_object_set_new(e, "offset", json_integer(f->offset)))
            goto fail;
    }
    if (r->dropped) {
        char msg[64];
        snprintf(msg, sizeof(msg), "%zu further findings omitted", r->dropped);
        json_t *e = json_pack("{s:s, s:s, s:s}", "id", "scan.too_many_findings", "severity",
                              scan_severity_name(r->verdict), "message", msg);
        if (!e || json_array_append_new(arr, e))
            goto fail;
    }
    if (json_object_set_new(o, "findings", arr))
        goto fail_o;
    return o;
fail:
    json_decref(arr);
fail_o:
    json_decref(o);
    return NULL;
}
