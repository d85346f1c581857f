/*
 * scan_formats.c - the smaller formats (security.md 1.6): NumPy .npy headers, GGUF metadata,
 * ONNX external-data locations, Keras 3 config.json and Jinja chat templates.
 *
 *  - .npy: the header dict is parsed by a tiny Python-literal reader (never eval); object dtypes
 *    ('O', also inside structured dtypes) block, because np.load needs allow_pickle=True, and the
 *    pickle that follows is analysed too.  Numeric arrays must end exactly at end of file.
 *  - GGUF: every count and length is bounded by the bytes that remain (checked arithmetic),
 *    tensor infos are checked (dims <= 4, element count, type sizes, alignment, offsets inside
 *    the data area, no overlap) and tokenizer.chat_template* strings go to the template check.
 *  - ONNX: a minimal protobuf walk ModelProto -> GraphProto -> TensorProto (initializers, sparse
 *    initializers, node attributes, subgraphs, functions) for external_data "location" values
 *    that escape the model folder: absolute, "..", backslash, drive letter, NUL or a scheme.
 *  - Keras: Lambda / TFSMLayer layers, serialized lambdas, "module" outside keras.
 *  - Chat templates: Jinja that reaches for Python internals (dunders, lipsum/cycler/joiner
 *    globals, attr filters, escapes that spell underscores, popen/eval/import).
 * Reads go through a small buffered reader over the source (64 KiB), so memory is constant.
 */
#include <stdlib.h>
#include <string.h>

#include "scan/scan_int.h"

/* ---- buffered reader ---- */

typedef struct rd {
    const scan_src *s;
    uint64_t pos;
    uint64_t bstart;
    size_t blen;
    int bad; /* read past the end */
    scan_ctx *c;
    uint8_t buf[65536];
} rd;

static int rd_get(rd *r, void *out, size_t n)
{
    if (r->bad || r->pos > r->s->size || n > r->s->size - r->pos) {
        r->bad = 1;
        return -1;
    }
    if (n > sizeof(r->buf)) {
        if (scan_src_read(r->s, r->pos, out, n)) {
            r->c->err = HG_ERR_IO;
            r->bad = 1;
            return -1;
        }
        r->pos += n;
        return 0;
    }
    if (r->pos < r->bstart || r->pos + n > r->bstart + r->blen) {
        uint64_t avail = r->s->size - r->pos;
        size_t want = avail < sizeof(r->buf) ? (size_t)avail : sizeof(r->buf);
        if (scan_src_read(r->s, r->pos, r->buf, want)) {
            r->c->err = HG_ERR_IO;
            r->bad = 1;
            return -1;
        }
        r->bstart = r->pos;
        r->blen = want;
    }
    memcpy(out, r->buf + (r->pos - r->bstart), n);
    r->pos += n;
    return 0;
}

static int rd_skip(rd *r, uint64_t n)
{
    if (r->bad || r->pos > r->s->size || n > r->s->size - r->pos) {
        r->bad = 1;
        return -1;
    }
    r->pos += n;
    return 0;
}

static uint64_t rd_u64(rd *r)
{
    uint8_t b[8] = {0};
    rd_get(r, b, 8);
    return scan_le64(b);
}

static uint32_t rd_u32(rd *r)
{
    uint8_t b[4] = {0};
    rd_get(r, b, 4);
    return scan_le32(b);
}

/* ---- chat templates ---- */

void scan_chat_template(scan_ctx *c, const char *where, const char *t, size_t n, int64_t off)
{
    static const char *const BAD[] = {
        "__class__", "__globals__", "__builtins__", "__subclasses__", "__import__", "__init__",
        "__mro__", "__base__", "__bases__", "__dict__", "__getattribute__", "__reduce",
        "mro(", "popen", "subprocess", "os.system", "eval(", "exec(", "import ", "import(",
        "lipsum", "cycler", "joiner", "_TemplateReference__context", "|attr", "| attr",
        "\\x5f", "\\u005f", "\\137", "getattr", "self._", "__code__", "func_globals",
    };
    for (size_t i = 0; i < sizeof(BAD) / sizeof(BAD[0]); i++) {
        size_t bl = strlen(BAD[i]);
        if (bl <= n && memmem(t, n, BAD[i], bl)) {
            scan_add(c, SCAN_BLOCK, "template.code", off, NULL,
                     "%s reaches for Python internals ('%s'): server-side template injection",
                     where, BAD[i]);
            return;
        }
    }
}

/* ---- .npy ---- */

enum { L_DICT, L_SEQ, L_STR, L_INT, L_BOOL, L_NONE };
typedef struct lnode {
    int kind;
    const char *s; /* L_STR: contents (no escapes decoded) */
    size_t n;      /* L_STR length; L_SEQ/L_DICT: child count */
    int64_t i;
    int first, next; /* children (index), sibling */
} lnode;

typedef struct lparse {
    const char *p, *e;
    lnode nodes[512];
    int nn;
    int depth;
} lparse;

static void lp_ws(lparse *l)
{
    while (l->p < l->e && (*l->p == ' ' || *l->p == '\n' || *l->p == '\t'))
        l->p++;
}

static int lp_value(lparse *l)
{
    lp_ws(l);
    if (l->p >= l->e || l->nn >= 512 || l->depth > 16)
        return -1;
    int id = l->nn++;
    lnode *nd = &l->nodes[id];
    memset(nd, 0, sizeof(*nd));
    nd->first = nd->next = -1;
    char ch = *l->p;
    if (ch == '{' || ch == '(' || ch == '[') {
        char close = ch == '{' ? '}' : ch == '(' ? ')' : ']';
        nd->kind = ch == '{' ? L_DICT : L_SEQ;
        l->p++;
        int last = -1;
        l->depth++;
        for (;;) {
            lp_ws(l);
            if (l->p < l->e && *l->p == close) {
                l->p++;
                break;
            }
            for (int part = 0; part < (ch == '{' ? 2 : 1); part++) {
                int child = lp_value(l);
                if (child < 0)
                    return -1;
                if (last < 0)
                    l->nodes[id].first = child;
                else
                    l->nodes[last].next = child;
                last = child;
                l->nodes[id].n++;
                lp_ws(l);
                if (part == 0 && ch == '{') {
                    if (l->p >= l->e || *l->p != ':')
                        return -1;
                    l->p++;
                }
            }
            lp_ws(l);
            if (l->p < l->e && *l->p == ',')
                l->p++;
            else if (l->p >= l->e || *l->p != close)
                return -1;
        }
        l->depth--;
        return id;
    }
    if (ch == '\'' || ch == '"') {
        const char *s = ++l->p;
        while (l->p < l->e && *l->p != ch)
            l->p += (*l->p == '\\' && l->p + 1 < l->e) ? 2 : 1;
        if (l->p >= l->e)
            return -1;
        nd->kind = L_STR;
        nd->s = s;
        nd->n = (size_t)(l->p - s);
        l->p++;
        return id;
    }
    if ((ch >= '0' && ch <= '9') || ch == '-') {
        int neg = ch == '-';
        if (neg)
            l->p++;
        uint64_t v = 0;
        int digits = 0;
        while (l->p < l->e && *l->p >= '0' && *l->p <= '9') {
            if (v > (uint64_t)INT64_MAX / 10)
                return -1;
            v = v * 10 + (uint64_t)(*l->p++ - '0');
            digits++;
        }
        if (l->p < l->e && *l->p == 'L')
            l->p++;
        if (!digits || v > (uint64_t)INT64_MAX)
            return -1;
        nd->kind = L_INT;
        nd->i = neg ? -(int64_t)v : (int64_t)v;
        return id;
    }
    static const char *const words[] = {"True", "False", "None"};
    for (int w = 0; w < 3; w++) {
        size_t wl = strlen(words[w]);
        if ((size_t)(l->e - l->p) >= wl && !memcmp(l->p, words[w], wl)) {
            l->p += wl;
            nd->kind = w == 2 ? L_NONE : L_BOOL;
            nd->i = w == 0;
            return id;
        }
    }
    return -1;
}

/* Does a descr (string or structured list) contain an object type? */
static int descr_object(const lparse *l, int id)
{
    const lnode *nd = &l->nodes[id];
    if (nd->kind == L_STR) {
        const char *s = nd->s;
        size_t n = nd->n;
        if (n && (*s == '<' || *s == '>' || *s == '|' || *s == '='))
            s++, n--;
        return n && *s == 'O';
    }
    if (nd->kind != L_SEQ)
        return 0;
    for (int ch = nd->first; ch >= 0; ch = l->nodes[ch].next) {
        const lnode *f = &l->nodes[ch];
        if (f->kind == L_SEQ && f->first >= 0) {
            int t = l->nodes[f->first].next;
            if (t >= 0 && descr_object(l, t))
                return 1;
        } else if (f->kind == L_STR && descr_object(l, ch)) {
            return 1;
        }
    }
    return 0;
}

static int64_t descr_itemsize(const lnode *nd)
{
    if (nd->kind != L_STR || nd->n > 32)
        return 0;
    char b[33];
    memcpy(b, nd->s, nd->n);
    b[nd->n] = 0;
    char *s = b;
    if (*s == '<' || *s == '>' || *s == '|' || *s == '=')
        s++;
    char k = *s++;
    int64_t num = 0;
    while (*s >= '0' && *s <= '9' && num < (1 << 24))
        num = num * 10 + (*s++ - '0');
    if (k == 'M' || k == 'm')
        return *s == '[' || !*s ? (num ? num : 8) : 0;
    if (*s)
        return 0;
    switch (k) {
    case '?': return 1;
    case 'b': case 'i': case 'u': case 'f': case 'c': case 'S': case 'V': return num;
    case 'U': return num * 4;
    default: return 0;
    }
}

void scan_npy(scan_ctx *c, const scan_src *src)
{
    uint8_t h[12];
    if (src->size < 10 || scan_src_read(src, 0, h, 10)) {
        scan_add(c, SCAN_BLOCK, "npy.malformed", 0, NULL, "truncated .npy header");
        return;
    }
    unsigned major = h[6];
    uint64_t hl, start;
    if (major == 1) {
        hl = scan_le16(h + 8);
        start = 10;
    } else if (major == 2 || major == 3) {
        if (src->size < 12 || scan_src_read(src, 0, h, 12)) {
            scan_add(c, SCAN_BLOCK, "npy.malformed", 0, NULL, "truncated .npy header");
            return;
        }
        hl = scan_le32(h + 8);
        start = 12;
    } else {
        scan_add(c, SCAN_BLOCK, "npy.malformed", 6, NULL, "unknown .npy version %u", major);
        return;
    }
    if (hl > 10000 || hl > src->size - start) {
        scan_add(c, SCAN_BLOCK, "npy.malformed", 8, NULL,
                 "header length %llu too large (numpy refuses more than 10000)",
                 (unsigned long long)hl);
        return;
    }
    char *t = malloc((size_t)hl + 1);
    lparse *l = malloc(sizeof(*l));
    if (!t || !l) {
        free(t);
        free(l);
        c->err = HG_ERR_NOMEM;
        return;
    }
    if (scan_src_read(src, start, t, (size_t)hl)) {
        c->err = HG_ERR_IO;
        goto out;
    }
    l->p = t;
    l->e = t + hl;
    l->nn = 0;
    l->depth = 0;
    int root = lp_value(l);
    lp_ws(l);
    if (root < 0 || l->nodes[root].kind != L_DICT || l->p != l->e) {
        scan_add(c, SCAN_BLOCK, "npy.malformed", (int64_t)start, NULL,
                 "header is not a Python dict literal");
        goto out;
    }
    int descr = -1, shape = -1, fortran = -1, nkeys = 0;
    for (int k = l->nodes[root].first; k >= 0; k = l->nodes[l->nodes[k].next].next) {
        const lnode *kn = &l->nodes[k];
        int v = kn->next;
        nkeys++;
        if (kn->kind == L_STR && kn->n == 5 && !memcmp(kn->s, "descr", 5))
            descr = v;
        else if (kn->kind == L_STR && kn->n == 5 && !memcmp(kn->s, "shape", 5))
            shape = v;
        else if (kn->kind == L_STR && kn->n == 13 && !memcmp(kn->s, "fortran_order", 13))
            fortran = v;
    }
    if (descr < 0 || shape < 0 || fortran < 0 || nkeys != 3 || l->nodes[shape].kind != L_SEQ ||
        l->nodes[fortran].kind != L_BOOL) {
        scan_add(c, SCAN_BLOCK, "npy.malformed", (int64_t)start, NULL,
                 "header needs exactly descr, fortran_order and shape");
        goto out;
    }
    uint64_t count = 1;
    for (int d = l->nodes[shape].first; d >= 0; d = l->nodes[d].next) {
        const lnode *dn = &l->nodes[d];
        if (dn->kind != L_INT || dn->i < 0 || (dn->i && count > UINT64_MAX / (uint64_t)dn->i)) {
            scan_add(c, SCAN_BLOCK, "npy.malformed", (int64_t)start, NULL, "bad shape");
            goto out;
        }
        count *= (uint64_t)dn->i;
    }
    uint64_t data = start + hl;
    if (descr_object(l, descr)) {
        scan_add(c, SCAN_BLOCK, "npy.object_array", (int64_t)start, NULL,
                 "object array: loading needs allow_pickle=True and runs the embedded pickle");
        scan_src sub = scan_src_sub(src, data, src->size - data);
        size_t mark = c->res->nfindings;
        if (sub.size)
            scan_pickle_stream(c, &sub, NULL, 1);
        for (size_t i = mark; i < c->res->nfindings; i++)
            if (c->res->findings[i].offset >= 0)
                c->res->findings[i].offset += (int64_t)data;
        goto out;
    }
    int64_t isz = descr_itemsize(&l->nodes[descr]);
    if (isz > 0) {
        if ((uint64_t)isz > 0 && count > UINT64_MAX / (uint64_t)isz) {
            scan_add(c, SCAN_BLOCK, "npy.malformed", (int64_t)start, NULL, "array size overflows");
            goto out;
        }
        uint64_t need = count * (uint64_t)isz, have = src->size - data;
        if (have > need)
            scan_add(c, SCAN_BLOCK, "npy.trailing_data", (int64_t)(data + need), NULL,
                     "%llu bytes after the array data (polyglot?)", (unsigned long long)(have - need));
        else if (have < need)
            scan_add(c, SCAN_WARN, "npy.truncated", (int64_t)data, NULL,
                     "array needs %llu bytes, file has %llu", (unsigned long long)need,
                     (unsigned long long)have);
    } else {
        scan_add(c, SCAN_ALLOW, "npy.dtype_unchecked", (int64_t)start, NULL,
                 "structured or unusual dtype: data size not checked");
    }
out:
    free(t);
    free(l);
}

/* ---- GGUF ---- */

static const struct {
    unsigned blck, size;
} GGML_TYPES[] = {
    [0] = {1, 4},     [1] = {1, 2},     [2] = {32, 18},   [3] = {32, 20},   [6] = {32, 22},
    [7] = {32, 24},   [8] = {32, 34},   [9] = {32, 36},   [10] = {256, 84}, [11] = {256, 110},
    [12] = {256, 144}, [13] = {256, 176}, [14] = {256, 210}, [15] = {256, 292}, [16] = {256, 66},
    [17] = {256, 74}, [18] = {256, 98}, [19] = {256, 50}, [20] = {32, 18},  [21] = {256, 110},
    [22] = {256, 82}, [23] = {256, 136}, [24] = {1, 1},   [25] = {1, 2},    [26] = {1, 4},
    [27] = {1, 8},    [28] = {1, 8},    [29] = {256, 56}, [30] = {1, 2},    [34] = {256, 54},
    [35] = {256, 66}, [39] = {32, 17},
};
#define NGGML (sizeof(GGML_TYPES) / sizeof(GGML_TYPES[0]))

typedef struct gt {
    uint64_t off, size;
} gt;

static int gt_cmp(const void *a, const void *b)
{
    const gt *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

static const unsigned GGUF_SCALAR[13] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

/* Skips (or checks) one value of type t; depth bounds nested arrays. */
static int gguf_value(scan_ctx *c, rd *r, uint32_t t, const char *key, int depth, uint32_t *u32)
{
    if (t > 12 || depth > 3)
        return -1;
    if (t == 8) {
        uint64_t l = rd_u64(r);
        if (r->bad || l > r->s->size - r->pos)
            return -1;
        if (key && !strncmp(key, "tokenizer.chat_template", 23)) {
            size_t n = l > (4u << 20) ? (4u << 20) : (size_t)l;
            char *b = malloc(n ? n : 1);
            if (!b) {
                c->err = HG_ERR_NOMEM;
                return -1;
            }
            int64_t at = (int64_t)r->pos;
            if (!rd_get(r, b, n))
                scan_chat_template(c, key, b, n, at);
            free(b);
            return rd_skip(r, l - n);
        }
        return rd_skip(r, l);
    }
    if (t == 9) {
        uint32_t et = rd_u32(r);
        uint64_t cnt = rd_u64(r);
        if (r->bad || et > 12)
            return -1;
        if (et == 8 || et == 9) {
            if (cnt > (r->s->size - r->pos) / 8)
                return -1;
            for (uint64_t i = 0; i < cnt; i++)
                if (gguf_value(c, r, et, NULL, depth + 1, NULL))
                    return -1;
            return 0;
        }
        if (cnt > (r->s->size - r->pos) / GGUF_SCALAR[et])
            return -1;
        return rd_skip(r, cnt * GGUF_SCALAR[et]);
    }
    if (u32 && t == 4) {
        *u32 = rd_u32(r);
        return r->bad ? -1 : 0;
    }
    return rd_skip(r, GGUF_SCALAR[t]);
}

void scan_gguf(scan_ctx *c, const scan_src *src)
{
    rd *r = calloc(1, sizeof(*r));
    gt *ts = NULL;
    char *key = NULL;
    if (!r) {
        c->err = HG_ERR_NOMEM;
        return;
    }
    r->s = src;
    r->c = c;
    r->pos = 4;
    uint32_t ver = rd_u32(r);
    uint64_t nt = rd_u64(r), nkv = rd_u64(r);
    if (r->bad) {
        scan_add(c, SCAN_BLOCK, "gguf.malformed", 0, NULL, "truncated GGUF header");
        goto out;
    }
    if (ver < 2 || ver > 3) {
        scan_add(c, ver == 1 ? SCAN_WARN : SCAN_BLOCK, "gguf.version", 4, NULL,
                 "GGUF version %u not supported", ver);
        goto out;
    }
    if (nkv > 65536 || nt > (1u << 20) || nt > (src->size - r->pos) / 24) {
        scan_add(c, SCAN_BLOCK, "gguf.malformed", 8, NULL,
                 "implausible counts: %llu tensors, %llu metadata entries", (unsigned long long)nt,
                 (unsigned long long)nkv);
        goto out;
    }
    key = malloc(65536);
    ts = calloc(nt ? (size_t)nt : 1, sizeof(*ts));
    if (!key || !ts) {
        c->err = HG_ERR_NOMEM;
        goto out;
    }
    uint32_t align = 32;
    for (uint64_t i = 0; i < nkv; i++) {
        uint64_t at = r->pos, kl = rd_u64(r);
        if (r->bad || kl == 0 || kl > 65535 || rd_get(r, key, (size_t)kl)) {
            scan_add(c, SCAN_BLOCK, "gguf.malformed", (int64_t)at, NULL, "bad metadata key");
            goto out;
        }
        key[kl] = 0;
        uint32_t t = rd_u32(r), v = 0;
        int is_align = !strcmp(key, "general.alignment");
        if (r->bad || gguf_value(c, r, t, key, 0, is_align ? &v : NULL)) {
            scan_add(c, SCAN_BLOCK, "gguf.malformed", (int64_t)at, NULL,
                     "bad metadata value for '%.100s'", key);
            goto out;
        }
        if (is_align) {
            if (t != 4 || !v || (v & (v - 1))) {
                scan_add(c, SCAN_BLOCK, "gguf.malformed", (int64_t)at, NULL,
                         "general.alignment must be a power of two");
                goto out;
            }
            align = v;
        }
    }
    for (uint64_t i = 0; i < nt; i++) {
        uint64_t at = r->pos, nl = rd_u64(r);
        if (r->bad || nl > 65535 || rd_skip(r, nl)) {
            scan_add(c, SCAN_BLOCK, "gguf.malformed", (int64_t)at, NULL, "bad tensor name");
            goto out;
        }
        uint32_t nd = rd_u32(r);
        if (r->bad || nd > 4) {
            scan_add(c, SCAN_BLOCK, "gguf.malformed", (int64_t)at, NULL, "tensor with %u dims", nd);
            goto out;
        }
        uint64_t ne = 1, d0 = 1;
        int ovf = 0;
        for (uint32_t d = 0; d < nd; d++) {
            uint64_t dim = rd_u64(r);
            if (d == 0)
                d0 = dim;
            if (dim && ne > UINT64_MAX / dim)
                ovf = 1;
            else
                ne *= dim;
        }
        uint32_t type = rd_u32(r);
        uint64_t off = rd_u64(r);
        if (r->bad || ovf) {
            scan_add(c, SCAN_BLOCK, "gguf.malformed", (int64_t)at, NULL,
                     "truncated tensor info or element count overflow");
            goto out;
        }
        if (off % align) {
            scan_add(c, SCAN_BLOCK, "gguf.tensor_misaligned", (int64_t)at, NULL,
                     "tensor offset %llu not aligned to %u", (unsigned long long)off, align);
            goto out;
        }
        ts[i].off = off;
        if (type < NGGML && GGML_TYPES[type].blck) {
            unsigned bl = GGML_TYPES[type].blck, sz = GGML_TYPES[type].size;
            if (d0 % bl || ne / bl > UINT64_MAX / sz) {
                scan_add(c, SCAN_BLOCK, "gguf.malformed", (int64_t)at, NULL, "tensor size invalid");
                goto out;
            }
            ts[i].size = ne / bl * sz;
        } else {
            scan_add(c, SCAN_WARN, "gguf.tensor_type", (int64_t)at, NULL,
                     "unknown tensor type %u: size not checked", type);
            ts[i].size = 0;
        }
    }
    uint64_t data = (r->pos + align - 1) / align * align;
    if (data > src->size) {
        scan_add(c, SCAN_BLOCK, "gguf.malformed", (int64_t)r->pos, NULL, "no data section");
        goto out;
    }
    qsort(ts, (size_t)nt, sizeof(*ts), gt_cmp);
    uint64_t prev_end = 0, dsz = src->size - data;
    for (uint64_t i = 0; i < nt; i++) {
        if (ts[i].off > dsz || ts[i].size > dsz - ts[i].off) {
            scan_add(c, SCAN_BLOCK, "gguf.tensor_out_of_bounds", (int64_t)(data + ts[i].off), NULL,
                     "tensor data runs past the end of the file");
            break;
        }
        if (ts[i].off < prev_end) {
            scan_add(c, SCAN_BLOCK, "gguf.tensor_overlap", (int64_t)(data + ts[i].off), NULL,
                     "tensors overlap");
            break;
        }
        prev_end = ts[i].off + ts[i].size;
    }
out:
    free(ts);
    free(key);
    free(r);
}

/* ---- ONNX ---- */

enum { PB_MODEL, PB_GRAPH, PB_NODE, PB_ATTR, PB_TENSOR, PB_SPARSE, PB_ENTRY, PB_FUNC };

typedef struct onnx_walk {
    scan_ctx *c;
    rd *r;
    int graph_seen;
    int bad;
} onnx_walk;

static int pb_varint(rd *r, uint64_t end, uint64_t *v)
{
    *v = 0;
    for (int i = 0; i < 10; i++) {
        uint8_t b;
        if (r->pos >= end || rd_get(r, &b, 1))
            return -1;
        *v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80))
            return 0;
    }
    return -1;
}

static int sub_type(int t, uint64_t f)
{
    switch (t) {
    case PB_MODEL: return f == 7 ? PB_GRAPH : f == 25 ? PB_FUNC : -1;
    case PB_FUNC: return f == 7 ? PB_NODE : -1;
    case PB_GRAPH: return f == 1 ? PB_NODE : f == 5 ? PB_TENSOR : f == 15 ? PB_SPARSE : -1;
    case PB_NODE: return f == 5 ? PB_ATTR : -1;
    case PB_ATTR:
        return (f == 5 || f == 10) ? PB_TENSOR : (f == 6 || f == 11) ? PB_GRAPH
               : (f == 22 || f == 23) ? PB_SPARSE : -1;
    case PB_SPARSE: return (f == 1 || f == 2) ? PB_TENSOR : -1;
    case PB_TENSOR: return f == 13 ? PB_ENTRY : -1;
    default: return -1;
    }
}

static void check_location(onnx_walk *w, const char *v, size_t n, uint64_t at)
{
    int bad = n == 0 || v[0] == '/' || memchr(v, '\\', n) || memchr(v, 0, n) || memchr(v, ':', n);
    for (size_t i = 0; !bad && i < n;) {
        const char *s = memchr(v + i, '/', n - i);
        size_t l = s ? (size_t)(s - (v + i)) : n - i;
        if (l == 2 && v[i] == '.' && v[i + 1] == '.')
            bad = 1;
        i += l + 1;
    }
    if (bad)
        scan_add(w->c, SCAN_BLOCK, "onnx.external_data_path", (int64_t)at, NULL,
                 "external data location '%.*s' escapes the model folder", (int)(n > 200 ? 200 : n), v);
}

static int pb_walk(onnx_walk *w, int type, uint64_t end, int depth)
{
    rd *r = w->r;
    char key[16] = "";
    if (depth > 32)
        return -1;
    while (r->pos < end) {
        uint64_t k, v;
        if (pb_varint(r, end, &k))
            return -1;
        uint64_t f = k >> 3;
        if (f == 0)
            return -1;
        switch (k & 7) {
        case 0:
            if (pb_varint(r, end, &v))
                return -1;
            break;
        case 1: if (end - r->pos < 8 || rd_skip(r, 8)) return -1; break;
        case 5: if (end - r->pos < 4 || rd_skip(r, 4)) return -1; break;
        case 2: {
            if (pb_varint(r, end, &v) || v > end - r->pos)
                return -1;
            uint64_t at = r->pos;
            int st = sub_type(type, f);
            if (type == PB_MODEL && f == 7)
                w->graph_seen = 1;
            if (st >= 0) {
                if (pb_walk(w, st, r->pos + v, depth + 1))
                    return -1;
            } else if (type == PB_ENTRY && (f == 1 || f == 2) && v <= 4096) {
                char buf[4096];
                if (rd_get(r, buf, (size_t)v))
                    return -1;
                if (f == 1)
                    snprintf(key, sizeof(key), "%.*s", (int)(v < 15 ? v : 15), buf);
                else if (!strcmp(key, "location"))
                    check_location(w, buf, (size_t)v, at);
            } else if (rd_skip(r, v)) {
                return -1;
            }
            break;
        }
        default:
            return -1;
        }
    }
    return r->pos == end ? 0 : -1;
}

int scan_onnx(scan_ctx *c, const scan_src *src, int hinted)
{
    rd *r = calloc(1, sizeof(*r));
    if (!r) {
        c->err = HG_ERR_NOMEM;
        return 0;
    }
    r->s = src;
    r->c = c;
    onnx_walk w = {.c = c, .r = r};
    size_t mark = c->res->nfindings;
    int rc = pb_walk(&w, PB_MODEL, src->size, 0);
    free(r);
    if (!rc && w.graph_seen)
        return 1;
    scan_truncate_findings(c, mark);
    if (!hinted)
        return 0;
    scan_add(c, SCAN_WARN, "onnx.malformed", -1, NULL, "named .onnx but not a valid ModelProto");
    return 1;
}

/* ---- Keras ---- */

static void keras_walk(scan_ctx *c, json_t *j, int depth)
{
    if (depth > 64)
        return;
    if (json_is_array(j)) {
        size_t i;
        json_t *e;
        json_array_foreach(j, i, e) keras_walk(c, e, depth + 1);
        return;
    }
    if (!json_is_object(j))
        return;
    const char *cls = json_string_value(json_object_get(j, "class_name"));
    const char *mod = json_string_value(json_object_get(j, "module"));
    const char *reg = json_string_value(json_object_get(j, "registered_name"));
    if (cls && (!strcmp(cls, "Lambda") || !strcmp(cls, "TFSMLayer")))
        scan_add(c, SCAN_BLOCK, !strcmp(cls, "Lambda") ? "keras.lambda" : "keras.tfsmlayer", -1,
                 NULL, "%s layer (%s)", cls,
                 !strcmp(cls, "Lambda") ? "runs serialized Python code" : "loads an external model");
    if (cls && !strcmp(cls, "__lambda__"))
        scan_add(c, SCAN_BLOCK, "keras.function", -1, NULL, "serialized Python lambda in the config");
    if (mod && strcmp(mod, "keras") && strncmp(mod, "keras.", 6))
        scan_add(c, SCAN_BLOCK, "keras.module", -1, mod,
                 "config object from module '%.200s' (outside keras)", mod);
    if (reg && strchr(reg, '>'))
        scan_add(c, SCAN_WARN, "keras.custom_object", -1, NULL,
                 "custom registered object '%.200s' (needs code from outside the file)", reg);
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v) keras_walk(c, v, depth + 1);
}

void scan_keras_json(scan_ctx *c, json_t *j)
{
    keras_walk(c, j, 0);
}

void scan_keras_config(scan_ctx *c, const uint8_t *p, size_t n, const char *what)
{
    json_error_t je;
    json_t *j = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        scan_add(c, SCAN_BLOCK, "keras.config_invalid", -1, NULL, "%s is not valid JSON: %s", what, je.text);
        return;
    }
    keras_walk(c, j, 0);
    json_decref(j);
}
