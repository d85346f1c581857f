/*
 * git.c - git object hashing as the Hugging Face Hub uses it (see git.h).
 *
 * Everything here reproduces git's own byte formats; the unit test pins each one against ids
 * computed by real git.  Trees are built from a sorted file list in one pass: sorting full
 * paths bytewise puts every directory's entries in git's tree order (see git_build_trees).
 */
#include "git/git.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

static const char hexdigits[] = "0123456789abcdef";

const git_oid GIT_OID_EMPTY_BLOB = {{0xe6, 0x9d, 0xe2, 0x9b, 0xb2, 0xd1, 0xd6, 0x43, 0x4b, 0x8b,
                                     0x29, 0xae, 0x77, 0x5a, 0xd8, 0xc2, 0xe4, 0x8c, 0x53, 0x91}};
const git_oid GIT_OID_EMPTY_TREE = {{0x4b, 0x82, 0x5d, 0xc6, 0x42, 0xcb, 0x6e, 0xb9, 0xa0, 0x60,
                                     0xe5, 0x4b, 0xf8, 0xd6, 0x92, 0x88, 0xfb, 0xee, 0x49, 0x04}};

/* ---- hex ---- */

static void bytes_to_hex(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hexdigits[p[i] >> 4];
        out[2 * i + 1] = hexdigits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Lowercase-only variant for the strict pointer parser: git-lfs always writes lower case. */
static int hexval_lower(char c)
{
    return (c >= 'A' && c <= 'F') ? -1 : hexval(c);
}

void git_oid_to_hex(const git_oid *id, char out[GIT_OID_HEX_LEN + 1])
{
    bytes_to_hex(id->b, sizeof id->b, out);
}

hg_err git_oid_from_hex(const char *s, size_t n, git_oid *out)
{
    if (!s || n != GIT_OID_HEX_LEN)
        return HG_ERR_INVAL;
    git_oid tmp;
    for (size_t i = 0; i < sizeof tmp.b; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return HG_ERR_INVAL;
        tmp.b[i] = (uint8_t)(hi << 4 | lo);
    }
    *out = tmp;
    return HG_OK;
}

int git_oid_eq(const git_oid *a, const git_oid *b)
{
    return memcmp(a->b, b->b, sizeof a->b) == 0;
}

/* ---- SHA-1 plumbing ---- */

/* "<type> <len>\0": git's loose-object header, hashed in front of every object body. */
static size_t object_header(char *buf, size_t cap, const char *type, uint64_t len)
{
    int k = snprintf(buf, cap, "%s %" PRIu64, type, len);
    if (k < 0 || (size_t)k >= cap)
        return 0;
    return (size_t)k + 1; /* include the NUL */
}

static hg_err sha1_begin(EVP_MD_CTX *ctx, const char *type, uint64_t len)
{
    char hdr[32];
    size_t hlen = object_header(hdr, sizeof hdr, type, len);
    if (hlen == 0)
        return HG_ERR_INVAL;
    if (EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) != 1 || EVP_DigestUpdate(ctx, hdr, hlen) != 1)
        return HG_ERR_NOMEM; /* EVP only fails here when it cannot allocate */
    return HG_OK;
}

static hg_err sha1_end(EVP_MD_CTX *ctx, git_oid *out)
{
    unsigned int mdlen = 0;
    uint8_t md[EVP_MAX_MD_SIZE];
    if (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != sizeof out->b)
        return HG_ERR_NOMEM;
    memcpy(out->b, md, sizeof out->b);
    return HG_OK;
}

static hg_err hash_object(EVP_MD_CTX *ctx, const char *type, const void *body, size_t len,
                          git_oid *out)
{
    hg_err rc = sha1_begin(ctx, type, len);
    if (rc)
        return rc;
    if (len && EVP_DigestUpdate(ctx, body, len) != 1)
        return HG_ERR_NOMEM;
    return sha1_end(ctx, out);
}

static int known_type(const char *type)
{
    return type && (!strcmp(type, "blob") || !strcmp(type, "tree") || !strcmp(type, "commit") ||
                    !strcmp(type, "tag"));
}

hg_err git_object_id(const char *type, const void *body, size_t len, git_oid *out)
{
    if (!known_type(type) || (len && !body))
        return HG_ERR_INVAL;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx)
        return HG_ERR_NOMEM;
    hg_err rc = hash_object(ctx, type, body, len, out);
    EVP_MD_CTX_free(ctx);
    return rc;
}

/* ---- blobs ---- */

hg_err git_blob_hasher_init(git_blob_hasher *h, uint64_t size)
{
    h->ctx = NULL;
    h->declared = size;
    h->fed = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx)
        return HG_ERR_NOMEM;
    hg_err rc = sha1_begin(ctx, "blob", size);
    if (rc) {
        EVP_MD_CTX_free(ctx);
        return rc;
    }
    h->ctx = ctx;
    return HG_OK;
}

hg_err git_blob_hasher_update(git_blob_hasher *h, const void *data, size_t n)
{
    if (!h->ctx)
        return HG_ERR_INVAL;
    if (n == 0)
        return HG_OK;
    if (!data)
        return HG_ERR_INVAL;
    /* Overrun is detected here already so a too-long stream fails before it is all read. */
    if ((uint64_t)n > h->declared - h->fed) {
        h->fed = h->declared + 1; /* sticky: final reports it too */
        return HG_ERR_CORRUPT;
    }
    if (EVP_DigestUpdate((EVP_MD_CTX *)h->ctx, data, n) != 1)
        return HG_ERR_NOMEM;
    h->fed += n;
    return HG_OK;
}

void git_blob_hasher_abort(git_blob_hasher *h)
{
    EVP_MD_CTX_free((EVP_MD_CTX *)h->ctx); /* NULL-safe */
    h->ctx = NULL;
}

hg_err git_blob_hasher_final(git_blob_hasher *h, git_oid *out)
{
    if (!h->ctx)
        return HG_ERR_INVAL;
    hg_err rc = HG_ERR_CORRUPT;
    git_oid id;
    if (h->fed == h->declared) {
        rc = sha1_end((EVP_MD_CTX *)h->ctx, &id);
        if (rc == HG_OK)
            *out = id;
    }
    git_blob_hasher_abort(h);
    return rc;
}

hg_err git_blob_id(const void *data, size_t n, git_oid *out)
{
    if (n && !data)
        return HG_ERR_INVAL;
    return git_object_id("blob", data, n, out);
}

/* ---- LFS pointers ---- */

static const char LFS_VERSION_LINE[] = "version https://git-lfs.github.com/spec/v1\n";
static const char LFS_OID_PREFIX[] = "oid sha256:";
static const char LFS_SIZE_PREFIX[] = "size ";

hg_err git_lfs_pointer(const uint8_t sha256[32], uint64_t size, char *out, size_t cap,
                       size_t *len)
{
    char hex[65];
    bytes_to_hex(sha256, 32, hex);
    char buf[GIT_LFS_POINTER_MAX + 1];
    int k = snprintf(buf, sizeof buf, "%s%s%s\n%s%" PRIu64 "\n", LFS_VERSION_LINE,
                     LFS_OID_PREFIX, hex, LFS_SIZE_PREFIX, size);
    if (k < 0 || (size_t)k > GIT_LFS_POINTER_MAX)
        return HG_ERR_INVAL; /* cannot happen: the length is bounded by construction */
    if ((size_t)k > cap)
        return HG_ERR_TOOBIG;
    memcpy(out, buf, (size_t)k);
    if ((size_t)k < cap)
        out[k] = '\0';
    *len = (size_t)k;
    return HG_OK;
}

hg_err git_lfs_pointer_parse(const char *text, size_t n, uint8_t sha256[32], uint64_t *size)
{
    const size_t vlen = sizeof LFS_VERSION_LINE - 1, olen = sizeof LFS_OID_PREFIX - 1,
                 slen = sizeof LFS_SIZE_PREFIX - 1;
    if (!text || n > GIT_LFS_POINTER_MAX)
        return HG_ERR_CORRUPT;
    size_t pos = 0;
    if (n < vlen + olen + 65 + slen + 2 || memcmp(text, LFS_VERSION_LINE, vlen) != 0)
        return HG_ERR_CORRUPT;
    pos = vlen;
    if (memcmp(text + pos, LFS_OID_PREFIX, olen) != 0)
        return HG_ERR_CORRUPT;
    pos += olen;
    uint8_t digest[32];
    for (size_t i = 0; i < 32; i++) {
        int hi = hexval_lower(text[pos + 2 * i]), lo = hexval_lower(text[pos + 2 * i + 1]);
        if (hi < 0 || lo < 0)
            return HG_ERR_CORRUPT;
        digest[i] = (uint8_t)(hi << 4 | lo);
    }
    pos += 64;
    if (text[pos++] != '\n' || memcmp(text + pos, LFS_SIZE_PREFIX, slen) != 0)
        return HG_ERR_CORRUPT;
    pos += slen;
    size_t dstart = pos;
    uint64_t v = 0;
    while (pos < n && text[pos] >= '0' && text[pos] <= '9') {
        unsigned d = (unsigned)(text[pos] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return HG_ERR_CORRUPT;
        v = v * 10 + d;
        pos++;
    }
    size_t ndig = pos - dstart;
    /* Canonical decimal only: one digit for zero, otherwise no leading zero. */
    if (ndig == 0 || (ndig > 1 && text[dstart] == '0'))
        return HG_ERR_CORRUPT;
    if (pos != n - 1 || text[pos] != '\n')
        return HG_ERR_CORRUPT;
    memcpy(sha256, digest, 32);
    *size = v;
    return HG_OK;
}

hg_err git_lfs_pointer_blob_id(const uint8_t sha256[32], uint64_t size, git_oid *out)
{
    char buf[GIT_LFS_POINTER_MAX + 1];
    size_t len;
    hg_err rc = git_lfs_pointer(sha256, size, buf, sizeof buf, &len);
    if (rc)
        return rc;
    return git_blob_id(buf, len, out);
}

/* ---- default .gitattributes and LFS path rules ---- */

/*
 * The Hub's default .gitattributes for new repos, as found in repos it created (and in the
 * many tools that replicate it).  Each list is written once as an X-macro so that the text and
 * the matcher's pattern table cannot drift apart.  P(pattern) is a rule line, C(text) a
 * comment line.  Models and Spaces share one template; datasets add compression formats
 * (lz4, mds) and media groups.
 */
#define HG_LFS_COMMON_HEAD(P)                                                                   \
    P("*.7z") P("*.arrow") P("*.bin") P("*.bz2") P("*.ckpt") P("*.ftz") P("*.gz") P("*.h5")   \
    P("*.joblib") P("*.lfs.*")
#define HG_LFS_COMMON_TAIL(P)                                                                   \
    P("*.mlmodel") P("*.model") P("*.msgpack") P("*.npy") P("*.npz") P("*.onnx") P("*.ot")    \
    P("*.parquet") P("*.pb") P("*.pickle") P("*.pkl") P("*.pt") P("*.pth") P("*.rar")         \
    P("*.safetensors") P("saved_model/**/*") P("*.tar.*") P("*.tar") P("*.tflite") P("*.tgz") \
    P("*.wasm") P("*.xz") P("*.zip") P("*.zst") P("*tfevents*")

#define HG_LFS_MODEL(P, C) HG_LFS_COMMON_HEAD(P) HG_LFS_COMMON_TAIL(P)

#define HG_LFS_DATASET(P, C)                                                                    \
    HG_LFS_COMMON_HEAD(P) P("*.lz4") P("*.mds") HG_LFS_COMMON_TAIL(P)                          \
    C("# Audio files - uncompressed") P("*.pcm") P("*.sam") P("*.raw")                        \
    C("# Audio files - compressed") P("*.aac") P("*.flac") P("*.mp3") P("*.ogg") P("*.wav")   \
    C("# Image files - uncompressed") P("*.bmp") P("*.gif") P("*.png") P("*.tiff")            \
    C("# Image files - compressed") P("*.jpg") P("*.jpeg") P("*.webp")                        \
    C("# Video files - compressed") P("*.mp4") P("*.webm")

#define AS_RULE_LINE(p) p " filter=lfs diff=lfs merge=lfs -text\n"
#define AS_COMMENT_LINE(c) c "\n"
#define AS_PATTERN(p) p,
#define AS_NOTHING(c)

static const char model_gitattributes[] = HG_LFS_MODEL(AS_RULE_LINE, AS_COMMENT_LINE);
static const char dataset_gitattributes[] = HG_LFS_DATASET(AS_RULE_LINE, AS_COMMENT_LINE);
static const char *const model_patterns[] = {HG_LFS_MODEL(AS_PATTERN, AS_NOTHING)};
static const char *const dataset_patterns[] = {HG_LFS_DATASET(AS_PATTERN, AS_NOTHING)};

const char *git_default_gitattributes(int repo_type)
{
    return repo_type == GIT_REPO_DATASET ? dataset_gitattributes : model_gitattributes;
}

/*
 * A subset of git's wildmatch, enough for .gitattributes patterns of the forms above:
 * '*' and '?' (which never cross '/' when pathname is set), literal bytes, and "**" as a whole
 * path component ("a/ ** /b" matches zero or more directories, a trailing "/ **" everything
 * below).  Patterns here hold at most a few stars, so backtracking stays cheap.
 */
static int wild(const char *pat, const char *p, const char *s, int pathname)
{
    for (; *p; p++, s++) {
        if (*p == '*') {
            /* "**" counts only as a whole component; elsewhere it is a plain '*'. */
            if (pathname && p[1] == '*' && (p == pat || p[-1] == '/') &&
                (p[2] == '/' || p[2] == '\0')) {
                if (p[2] == '\0')
                    return 1;
                /* A component "**" followed by a slash: zero or more leading directories of s. */
                for (const char *t = s;;) {
                    if (wild(pat, p + 3, t, pathname))
                        return 1;
                    t = strchr(t, '/');
                    if (!t)
                        return 0;
                    t++;
                }
            }
            while (p[1] == '*')
                p++;
            for (const char *t = s;; t++) {
                if (wild(pat, p + 1, t, pathname))
                    return 1;
                if (*t == '\0' || (pathname && *t == '/'))
                    return 0;
            }
        }
        if (*s == '\0')
            return 0;
        if (*p == '?') {
            if (pathname && *s == '/')
                return 0;
            continue;
        }
        if (*p != *s)
            return 0;
    }
    return *s == '\0';
}

/* One .gitattributes rule at the repo root, matched the way git's attr.c does. */
static int attr_pattern_matches(const char *pat, const char *path)
{
    if (!strchr(pat, '/')) {
        const char *base = strrchr(path, '/');
        return wild(pat, pat, base ? base + 1 : path, 0);
    }
    if (*pat == '/')
        pat++;
    return wild(pat, pat, path, 1);
}

int git_path_is_lfs(const char *path, uint64_t size, int repo_type)
{
    if (!path || size == 0)
        return 0;
    if (size > GIT_LFS_SIZE_THRESHOLD)
        return 1;
    const char *const *pats = model_patterns;
    size_t npats = sizeof model_patterns / sizeof model_patterns[0];
    if (repo_type == GIT_REPO_DATASET) {
        pats = dataset_patterns;
        npats = sizeof dataset_patterns / sizeof dataset_patterns[0];
    }
    for (size_t i = 0; i < npats; i++)
        if (attr_pattern_matches(pats[i], path))
            return 1;
    return 0;
}

/* ---- paths ---- */

static int component_valid(const char *c, size_t n)
{
    if (n == 0)
        return 0;
    if (n == 1 && c[0] == '.')
        return 0;
    if (n == 2 && c[0] == '.' && c[1] == '.')
        return 0;
    if (n == 4 && c[0] == '.' && (c[1] | 0x20) == 'g' && (c[2] | 0x20) == 'i' &&
        (c[3] | 0x20) == 't')
        return 0;
    return 1;
}

int git_path_valid(const char *path)
{
    if (!path || !*path)
        return 0;
    const char *c = path;
    for (;;) {
        const char *slash = strchr(c, '/');
        size_t n = slash ? (size_t)(slash - c) : strlen(c);
        if (!component_valid(c, n))
            return 0; /* also catches leading '/', trailing '/' and "//" */
        if (!slash)
            return 1;
        c = slash + 1;
    }
}

/* ---- trees ---- */

typedef struct tree_level {
    uint8_t *buf;      /* entries of this directory so far */
    size_t len, alloc;
    const char *path;  /* a file path below this directory: its prefix [0, end) names it */
    size_t end;        /* length of the directory path ("" for the root: 0) */
    size_t name_start; /* where this directory's own name starts in path */
} tree_level;

typedef struct tree_builder {
    tree_level *lv;
    size_t depth;  /* open levels: lv[0] is the root, lv[depth - 1] the innermost */
    size_t nlv;    /* allocated levels */
    char *scratch; /* NUL-terminated directory path for the callback */
    EVP_MD_CTX *ctx;
    git_tree_cb cb;
    void *arg;
    const git_tree_file **sorted;
    size_t n;
} tree_builder;

static hg_err level_append(tree_level *l, const void *p, size_t n)
{
    if (n > l->alloc - l->len) {
        size_t want = l->alloc ? l->alloc : 256;
        while (want - l->len < n) {
            if (want > SIZE_MAX / 2)
                return HG_ERR_NOMEM;
            want *= 2;
        }
        uint8_t *nb = realloc(l->buf, want);
        if (!nb)
            return HG_ERR_NOMEM;
        l->buf = nb;
        l->alloc = want;
    }
    memcpy(l->buf + l->len, p, n);
    l->len += n;
    return HG_OK;
}

/* Appends "<octal mode> <name>\0<20 raw bytes>", git's tree entry. */
static hg_err add_entry(tree_level *l, uint32_t mode, const char *name, size_t nlen,
                        const git_oid *id)
{
    char m[16];
    int k = snprintf(m, sizeof m, "%o ", (unsigned)mode);
    hg_err rc = level_append(l, m, (size_t)k);
    if (!rc)
        rc = level_append(l, name, nlen);
    if (!rc)
        rc = level_append(l, "", 1);
    if (!rc)
        rc = level_append(l, id->b, sizeof id->b);
    return rc;
}

static int cmp_path_ptr(const void *a, const void *b)
{
    const git_tree_file *x = *(const git_tree_file *const *)a;
    const git_tree_file *y = *(const git_tree_file *const *)b;
    return strcmp(x->path, y->path); /* compares as unsigned char, like git */
}

/* Whether a file whose whole path is p[0..len) exists (binary search in the sorted list). */
static int file_exists(const tree_builder *tb, const char *p, size_t len)
{
    size_t lo = 0, hi = tb->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *s = tb->sorted[mid]->path;
        int c = strncmp(s, p, len);
        if (c == 0 && s[len] != '\0')
            c = 1; /* s is longer, so it sorts after p */
        if (c == 0)
            return 1;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* Hashes the innermost open directory, reports it and adds it to its parent. */
static hg_err close_level(tree_builder *tb, git_oid *out)
{
    tree_level *l = &tb->lv[tb->depth - 1];
    git_oid id;
    hg_err rc = hash_object(tb->ctx, "tree", l->buf, l->len, &id);
    if (rc)
        return rc;
    memcpy(tb->scratch, l->path, l->end);
    tb->scratch[l->end] = '\0';
    if (tb->cb && (rc = tb->cb(tb->arg, tb->scratch, &id)) != HG_OK)
        return rc;
    tb->depth--;
    if (tb->depth == 0) {
        *out = id;
        return HG_OK;
    }
    return add_entry(&tb->lv[tb->depth - 1], GIT_MODE_TREE, l->path + l->name_start,
                     l->end - l->name_start, &id);
}

static hg_err open_level(tree_builder *tb, const char *path, size_t end, size_t name_start)
{
    if (tb->depth == tb->nlv) {
        size_t want = tb->nlv ? tb->nlv * 2 : 16;
        tree_level *nl = realloc(tb->lv, want * sizeof *nl);
        if (!nl)
            return HG_ERR_NOMEM;
        memset(nl + tb->nlv, 0, (want - tb->nlv) * sizeof *nl);
        tb->lv = nl;
        tb->nlv = want;
    }
    tree_level *l = &tb->lv[tb->depth++];
    l->len = 0;
    l->path = path;
    l->end = end;
    l->name_start = name_start;
    return HG_OK;
}

static int valid_mode(uint32_t m)
{
    return m == GIT_MODE_FILE || m == GIT_MODE_EXEC || m == GIT_MODE_LINK;
}

static hg_err build(tree_builder *tb, git_oid *root)
{
    hg_err rc = open_level(tb, "", 0, 0);
    const char *prev = "";
    for (size_t i = 0; i < tb->n && !rc; i++) {
        const git_tree_file *f = tb->sorted[i];
        const char *p = f->path;
        /* Longest common prefix with the previous path decides which open directories still
         * contain this file: a directory ending at `end` does iff end < lcp (the '/' after its
         * name is shared too). */
        size_t lcp = 0;
        while (p[lcp] && p[lcp] == prev[lcp])
            lcp++;
        if (i > 0 && p[lcp] == '\0' && prev[lcp] == '\0')
            return HG_ERR_INVAL; /* the same path twice */
        while (tb->depth > 1 && tb->lv[tb->depth - 1].end >= lcp) {
            git_oid unused;
            if ((rc = close_level(tb, &unused)) != HG_OK)
                return rc;
        }
        /* Open the directories of p below the innermost still-open one. */
        size_t start = tb->depth > 1 ? tb->lv[tb->depth - 1].end + 1 : 0;
        for (const char *s = strchr(p + start, '/'); s; s = strchr(s + 1, '/')) {
            size_t end = (size_t)(s - p);
            if (file_exists(tb, p, end))
                return HG_ERR_INVAL; /* p[0..end) is both a file and a directory */
            if ((rc = open_level(tb, p, end, start)) != HG_OK)
                return rc;
            start = end + 1;
        }
        rc = add_entry(&tb->lv[tb->depth - 1], f->mode, p + start, strlen(p + start), &f->oid);
        prev = p;
    }
    while (!rc && tb->depth > 0)
        rc = close_level(tb, root);
    return rc;
}

hg_err git_build_trees(const git_tree_file *files, size_t n, git_tree_cb cb, void *arg,
                       git_oid *root)
{
    if (n && !files)
        return HG_ERR_INVAL;
    size_t maxlen = 0;
    for (size_t i = 0; i < n; i++) {
        if (!git_path_valid(files[i].path) || !valid_mode(files[i].mode))
            return HG_ERR_INVAL;
        size_t l = strlen(files[i].path);
        if (l > maxlen)
            maxlen = l;
    }
    tree_builder tb = {.cb = cb, .arg = arg, .n = n};
    hg_err rc = HG_ERR_NOMEM;
    tb.sorted = malloc((n ? n : 1) * sizeof *tb.sorted);
    tb.scratch = malloc(maxlen + 1);
    tb.ctx = EVP_MD_CTX_new();
    if (tb.sorted && tb.scratch && tb.ctx) {
        for (size_t i = 0; i < n; i++)
            tb.sorted[i] = &files[i];
        /* Bytewise order of full paths is git's tree order within every directory: comparing
         * "a/x" with "a.b" meets '/' against '.', exactly as git compares the entry "a/"
         * (a directory) with "a.b".  So one sort serves every level. */
        qsort(tb.sorted, n, sizeof *tb.sorted, cmp_path_ptr);
        git_oid id;
        rc = build(&tb, &id);
        if (rc == HG_OK)
            *root = id;
    }
    for (size_t i = 0; i < tb.nlv; i++)
        free(tb.lv[i].buf);
    free(tb.lv);
    EVP_MD_CTX_free(tb.ctx);
    free(tb.scratch);
    free(tb.sorted);
    return rc;
}

/* ---- commits ---- */

/* "Name <email>" with a non-empty name and no '<', '>' or newline inside either part. */
int git_author_valid(const char *a)
{
    if (!a)
        return 0;
    const char *lt = strchr(a, '<');
    size_t n = strlen(a);
    if (!lt || lt == a || lt[-1] != ' ' || lt - 1 == a || n < 2 || a[n - 1] != '>')
        return 0;
    for (const char *s = a; s < a + n - 1; s++)
        if (*s == '\n' || (*s == '<' && s != lt) || *s == '>')
            return 0;
    return 1;
}

hg_err git_commit_object(const git_oid *tree, const git_oid *parents, size_t nparents,
                         const char *author, int64_t unix_time, const char *message, char **out,
                         size_t *len)
{
    if (!tree || (nparents && !parents) || !git_author_valid(author) || unix_time < 0 || !message)
        return HG_ERR_INVAL;
    size_t alen = strlen(author), mlen = strlen(message);
    int add_nl = mlen > 0 && message[mlen - 1] != '\n';
    /* Fixed lines: "tree " hex "\n", per parent "parent " hex "\n", two ident lines with at
     * most 20 digits of time each, the blank line, the message. */
    if (nparents > (SIZE_MAX / 2) / 48 || alen > SIZE_MAX / 8 || mlen > SIZE_MAX / 4)
        return HG_ERR_NOMEM;
    size_t cap = 46 + nparents * 48 + 2 * (alen + 40) + 1 + mlen + 1 + 1;
    char *buf = malloc(cap);
    if (!buf)
        return HG_ERR_NOMEM;
    size_t pos = 0;
    char hex[GIT_OID_HEX_LEN + 1];
    git_oid_to_hex(tree, hex);
    pos += (size_t)snprintf(buf + pos, cap - pos, "tree %s\n", hex);
    for (size_t i = 0; i < nparents; i++) {
        git_oid_to_hex(&parents[i], hex);
        pos += (size_t)snprintf(buf + pos, cap - pos, "parent %s\n", hex);
    }
    pos += (size_t)snprintf(buf + pos, cap - pos, "author %s %" PRId64 " +0000\n", author,
                            unix_time);
    pos += (size_t)snprintf(buf + pos, cap - pos, "committer %s %" PRId64 " +0000\n\n", author,
                            unix_time);
    memcpy(buf + pos, message, mlen);
    pos += mlen;
    if (add_nl)
        buf[pos++] = '\n';
    buf[pos] = '\0';
    *out = buf;
    *len = pos;
    return HG_OK;
}

hg_err git_commit_id(const git_oid *tree, const git_oid *parents, size_t nparents,
                     const char *author, int64_t unix_time, const char *message, git_oid *out)
{
    char *body;
    size_t len;
    hg_err rc = git_commit_object(tree, parents, nparents, author, unix_time, message, &body,
                                  &len);
    if (rc)
        return rc;
    rc = git_object_id("commit", body, len, out);
    free(body);
    return rc;
}
