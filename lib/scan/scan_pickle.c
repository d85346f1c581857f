/*
 * scan_pickle.c - a static model of the pickle machine (protocols 0-5).  Nothing is executed:
 * every opcode moves symbolic values (literal, container, imported global, call result, opaque
 * object) between a stack, a mark stack and a memo, exactly as CPython's C unpickler (_pickle)
 * would, so that the module and name of every import are known even when they were built
 * through the memo, decoys, STRING escapes or a PROTO switch (security.md 1.1-1.5).
 *
 * Decisions:
 *  - Imports are judged by an ALLOWLIST (the globals a PyTorch, NumPy, joblib or collections
 *    state dict uses, 2.4 and 2.8), after CPython's Python-2 renaming (1.4) when the current
 *    protocol is < 3.  Everything else blocks: "pickle.global.denied" when the denylist names it,
 *    "pickle.global.unknown" otherwise, "pickle.global.dotted_name" for attribute paths.
 *  - Calls (REDUCE, INST, OBJ, NEWOBJ, NEWOBJ_EX) must target an imported global; BUILD and the
 *    container mutators must not target one (E19).  EXT1/2/4, text PERSID, out-of-band buffers,
 *    a misplaced PROTO and every frame violation block.
 *  - Failure (truncation, unknown opcode, stack underflow, memo miss, limits): if anything that
 *    could run code came before (import, call, persistent id, FRAME), a block finding; otherwise
 *    the bytes are "opaque": no unpickler can run code from them (2.8), and the caller decides.
 *    Where our tokenizer is unsure it is lenient (keeps going), which can only add findings.
 *  - Byte strings that start like a pickle (PROTO 2-5) are analysed as nested pickles (E9), to a
 *    depth of PK_MAX_NEST.  joblib's NumpyArrayWrapper is followed by raw array bytes, which are
 *    skipped using the shape and dtype the pickle itself declared.
 *
 * Memory: values live in a per-pickle arena freed at the end; hard limits on opcodes, stack, memo
 * and arena bytes (E22) make the cost linear in the input.  No globals but constant tables.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scan/scan_int.h"

#define PK_MAX_OPS   10000000u
#define PK_MAX_STACK 100000u
#define PK_MAX_MARKS 100000u
#define PK_MAX_MEMO  4000000u
#define PK_MAX_ARENA (512u << 20)
#define PK_MAX_NEST  3
#define PK_DICT_TRACK 64
#define PK_MAX_SEEN  256
#define PK_SMALLINT  1024

/* ---- symbolic values ---- */

enum {
    V_NONE = 1, V_BOOL, V_INT, V_FLOAT, V_STR, V_BYTES, V_TUPLE, V_LIST, V_DICT, V_SET,
    V_FROZENSET, V_GLOBAL, V_CALL, V_OBJ
};

enum { G_ALLOW, G_DENY, G_UNKNOWN };

typedef struct pk_global {
    char *module;  /* after renaming */
    char *name;
    char *full;    /* module.name */
    int cls;
} pk_global;

typedef struct pv pv;
typedef struct pkv {
    pv *k, *v;
    struct pkv *next;
} pkv;

struct pv {
    uint8_t kind;
    uint8_t ibig;         /* V_INT that did not fit in i */
    uint32_t n;           /* V_STR/V_BYTES length, V_TUPLE items, V_DICT tracked pairs */
    const uint8_t *s;     /* V_STR (UTF-8) / V_BYTES */
    int64_t i;
    uint64_t off;         /* offset of the opcode that made it (within this pickle) */
    pv **items;           /* V_TUPLE */
    pkv *kv;              /* V_DICT */
    pk_global *g;         /* V_GLOBAL; V_CALL: the callee when it was a global */
    pv *args;             /* V_CALL */
};

typedef struct ar_blk {
    struct ar_blk *next;
    size_t used, cap;
    max_align_t data[];
} ar_blk;

typedef struct memo_slot {
    uint64_t key;
    pv *v; /* NULL: empty */
} memo_slot;

typedef struct pk_vm {
    scan_ctx *c;
    const uint8_t *p;
    size_t n;
    uint64_t base;
    unsigned flags;
    size_t pos;
    size_t opstart;
    pk_info *info;

    pv **stack;
    size_t sp, scap;
    size_t *marks;
    size_t nmarks, mcap;
    memo_slot *memo;
    size_t mcount, msize; /* filled slots, table size (power of two) */

    ar_blk *arena;
    size_t arena_total;

    int proto;       /* current protocol (last PROTO), 0 before any */
    int declared;    /* PROTO at offset 0, or -1 */
    int mismatch_reported;
    int in_frame;
    size_t frame_end;
    uint64_t ops;
    int risky;
    int failed;      /* a stop condition was met */
    int short_input; /* ... because the prefix buffer ran out */
    const char *fail_id;
    char fail_msg[160];

    pv *smallint[PK_SMALLINT]; /* cached V_INT 0..PK_SMALLINT-1 */
    const char *seen[PK_MAX_SEEN]; /* globals / findings already reported (arena strings) */
    size_t nseen;
} pk_vm;

static const pv V_UNKNOWN_INT = {.kind = V_INT, .ibig = 1};
/* Shared values for literals whose identity never matters (the machine never mutates them; lists
 * and sets are only targets whose items we do not track).  They keep the arena small on
 * number-heavy pickles. */
static const pv V_FLOAT1 = {.kind = V_FLOAT};
static const pv V_NONE1 = {.kind = V_NONE};
static const pv V_TRUE1 = {.kind = V_BOOL, .i = 1};
static const pv V_FALSE1 = {.kind = V_BOOL, .i = 0};
static const pv V_LIST1 = {.kind = V_LIST};
static const pv V_SET1 = {.kind = V_SET};
#define SHARED(v) ((pv *)(uintptr_t)&(v))


static void *ar_alloc(pk_vm *m, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    ar_blk *b = m->arena;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        if (m->arena_total + cap > PK_MAX_ARENA)
            return NULL;
        b = malloc(sizeof(*b) + cap);
        if (!b)
            return NULL;
        b->next = m->arena;
        b->used = 0;
        b->cap = cap;
        m->arena = b;
        m->arena_total += cap;
    }
    void *r = (uint8_t *)b->data + b->used;
    b->used += n;
    return r;
}

static void fail(pk_vm *m, const char *id, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(pk_vm *m, const char *id, const char *fmt, ...)
{
    if (m->failed)
        return;
    m->failed = 1;
    m->fail_id = id;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->fail_msg, sizeof(m->fail_msg), fmt, ap);
    va_end(ap);
}

static void fail_short(pk_vm *m, const char *what)
{
    if (m->flags & PKF_PREFIX)
        m->short_input = 1;
    fail(m, "pickle.truncated", "%s runs past the end of the data", what);
}

static pv *newv(pk_vm *m, int kind)
{
    pv *v = ar_alloc(m, sizeof(pv));
    if (!v) {
        fail(m, "pickle.limit", "more than %u MiB of symbolic state", PK_MAX_ARENA >> 20);
        return NULL;
    }
    memset(v, 0, sizeof(*v));
    v->kind = (uint8_t)kind;
    v->off = m->opstart;
    return v;
}

static char *ar_strdup(pk_vm *m, const void *s, size_t n)
{
    char *r = ar_alloc(m, n + 1);
    if (!r) {
        fail(m, "pickle.limit", "more than %u MiB of symbolic state", PK_MAX_ARENA >> 20);
        return NULL;
    }
    memcpy(r, s, n);
    r[n] = '\0';
    return r;
}

/* Reports each (id, key) once per pickle. */
static int seen_once(pk_vm *m, const char *key)
{
    for (size_t i = 0; i < m->nseen; i++)
        if (!strcmp(m->seen[i], key))
            return 0;
    if (m->nseen < PK_MAX_SEEN)
        m->seen[m->nseen++] = key;
    return 1;
}

static int64_t abs_off(const pk_vm *m, size_t off)
{
    return (int64_t)(m->base + off);
}

/* ---- stack, marks, memo ---- */

static void push(pk_vm *m, pv *v)
{
    if (!v || m->failed)
        return;
    if (m->sp == m->scap) {
        if (m->scap >= PK_MAX_STACK) {
            fail(m, "pickle.limit", "stack deeper than %u", PK_MAX_STACK);
            return;
        }
        size_t nc = m->scap ? m->scap * 2 : 256;
        pv **ns = realloc(m->stack, nc * sizeof(*ns));
        if (!ns) {
            m->c->err = HG_ERR_NOMEM;
            fail(m, "pickle.limit", "out of memory");
            return;
        }
        m->stack = ns;
        m->scap = nc;
    }
    m->stack[m->sp++] = v;
}

static size_t fence(const pk_vm *m)
{
    return m->nmarks ? m->marks[m->nmarks - 1] : 0;
}

static pv *pop(pk_vm *m)
{
    if (m->failed)
        return NULL;
    if (m->sp <= fence(m)) {
        fail(m, "pickle.stack_underflow", "stack underflow");
        return NULL;
    }
    return m->stack[--m->sp];
}

static pv *top(pk_vm *m)
{
    if (m->failed)
        return NULL;
    if (m->sp <= fence(m)) {
        fail(m, "pickle.stack_underflow", "stack underflow");
        return NULL;
    }
    return m->stack[m->sp - 1];
}

static void mark(pk_vm *m)
{
    if (m->nmarks == m->mcap) {
        if (m->mcap >= PK_MAX_MARKS) {
            fail(m, "pickle.limit", "more than %u marks", PK_MAX_MARKS);
            return;
        }
        size_t nc = m->mcap ? m->mcap * 2 : 64;
        size_t *nm = realloc(m->marks, nc * sizeof(*nm));
        if (!nm) {
            m->c->err = HG_ERR_NOMEM;
            fail(m, "pickle.limit", "out of memory");
            return;
        }
        m->marks = nm;
        m->mcap = nc;
    }
    m->marks[m->nmarks++] = m->sp;
}

/* Pops everything above the last mark and the mark; *items points into the stack storage
 * (valid until the next push). */
static int pop_mark(pk_vm *m, pv ***items, size_t *count)
{
    if (m->failed)
        return -1;
    if (!m->nmarks) {
        fail(m, "pickle.stack_underflow", "no MARK on the stack");
        return -1;
    }
    size_t k = m->marks[--m->nmarks];
    *items = m->stack ? m->stack + k : NULL;
    *count = m->sp - k;
    m->sp = k;
    return 0;
}

static pv **memo_find(pk_vm *m, uint64_t key, int create)
{
    if (!m->msize) {
        if (!create)
            return NULL;
        m->memo = calloc(1024, sizeof(memo_slot));
        if (!m->memo) {
            m->c->err = HG_ERR_NOMEM;
            fail(m, "pickle.limit", "out of memory");
            return NULL;
        }
        m->msize = 1024;
    }
    size_t mask = m->msize - 1;
    size_t h = (size_t)((key * 0x9E3779B97F4A7C15ull) >> 17) & mask;
    while (m->memo[h].v && m->memo[h].key != key)
        h = (h + 1) & mask;
    if (m->memo[h].v || !create)
        return m->memo[h].v ? &m->memo[h].v : NULL;
    if (m->mcount >= PK_MAX_MEMO) {
        fail(m, "pickle.limit", "memo larger than %u entries", PK_MAX_MEMO);
        return NULL;
    }
    if ((m->mcount + 1) * 2 > m->msize) {
        size_t nsize = m->msize * 2;
        memo_slot *nt = calloc(nsize, sizeof(memo_slot));
        if (!nt) {
            m->c->err = HG_ERR_NOMEM;
            fail(m, "pickle.limit", "out of memory");
            return NULL;
        }
        for (size_t i = 0; i < m->msize; i++) {
            if (!m->memo[i].v)
                continue;
            size_t j = (size_t)((m->memo[i].key * 0x9E3779B97F4A7C15ull) >> 17) & (nsize - 1);
            while (nt[j].v)
                j = (j + 1) & (nsize - 1);
            nt[j] = m->memo[i];
        }
        free(m->memo);
        m->memo = nt;
        m->msize = nsize;
        return memo_find(m, key, create);
    }
    m->memo[h].key = key;
    m->mcount++;
    return &m->memo[h].v;
}

static void memo_put(pk_vm *m, uint64_t key)
{
    pv *v = top(m);
    if (!v)
        return;
    pv **slot = memo_find(m, key, 1);
    if (slot)
        *slot = v;
}

static void memo_get(pk_vm *m, uint64_t key)
{
    pv **slot = memo_find(m, key, 0);
    if (!slot) {
        if (!m->failed)
            fail(m, "pickle.memo_missing", "memo entry %llu read before it was written",
                 (unsigned long long)key);
        return;
    }
    push(m, *slot);
}

/* ---- argument readers (each checks bounds) ---- */

static int need(pk_vm *m, size_t k, const char *what)
{
    if (m->n - m->pos < k) {
        fail_short(m, what);
        return 0;
    }
    return 1;
}

/* A text argument up to '\n' (excluded); *len excludes the newline. */
static const uint8_t *readline(pk_vm *m, size_t *len, const char *what)
{
    const uint8_t *s = m->p + m->pos;
    const uint8_t *nl = memchr(s, '\n', m->n - m->pos);
    if (!nl) {
        fail_short(m, what);
        return NULL;
    }
    *len = (size_t)(nl - s);
    m->pos += *len + 1;
    return s;
}

static uint64_t rd_uint(const uint8_t *p, int k)
{
    uint64_t v = 0;
    for (int i = k - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* Decimal as accepted by int(): optional sign, digits with single underscores, surrounding
 * whitespace.  Returns 0 and sets *v (saturating) on success. */
static int parse_dec(const uint8_t *s, size_t n, int64_t *v, int *big)
{
    size_t i = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r'))
        i++;
    int neg = 0;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    uint64_t acc = 0;
    int digits = 0, prev_us = 0;
    *big = 0;
    for (; i < n; i++) {
        if (s[i] >= '0' && s[i] <= '9') {
            if (acc > (UINT64_MAX - 9) / 10)
                *big = 1;
            else
                acc = acc * 10 + (uint64_t)(s[i] - '0');
            digits++;
            prev_us = 0;
        } else if (s[i] == '_' && digits && !prev_us) {
            prev_us = 1;
        } else {
            break;
        }
    }
    if (prev_us)
        return -1;
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == 'L'))
        i++;
    if (!digits || i != n)
        return -1;
    if (acc > INT64_MAX)
        *big = 1;
    *v = neg ? -(int64_t)(acc & INT64_MAX) : (int64_t)(acc & INT64_MAX);
    return 0;
}

static int hexval(uint8_t ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

static size_t put_utf8(uint8_t *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (uint8_t)(0xC0 | cp >> 6);
        o[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xE0 | cp >> 12);
        o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (uint8_t)(0xF0 | (cp >> 18 & 7));
    o[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

/* STRING: quoted, Python bytes escapes (codecs.escape_decode).  Lenient on bad escapes. */
static pv *str_escape(pk_vm *m, const uint8_t *s, size_t n)
{
    if (n < 2 || s[0] != s[n - 1] || (s[0] != '\'' && s[0] != '"')) {
        fail(m, "pickle.malformed", "STRING argument is not quoted");
        return NULL;
    }
    s++;
    n -= 2;
    uint8_t *o = ar_alloc(m, n + 1);
    pv *v = newv(m, V_STR);
    if (!o || !v)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\' || i + 1 >= n) {
            o[k++] = s[i];
            continue;
        }
        uint8_t e = s[++i];
        switch (e) {
        case 'n': o[k++] = '\n'; break;
        case 't': o[k++] = '\t'; break;
        case 'r': o[k++] = '\r'; break;
        case 'a': o[k++] = 7; break;
        case 'b': o[k++] = 8; break;
        case 'f': o[k++] = 12; break;
        case 'v': o[k++] = 11; break;
        case '\\': case '\'': case '"': o[k++] = e; break;
        case 'x':
            if (i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
                o[k++] = (uint8_t)(hexval(s[i + 1]) << 4 | hexval(s[i + 2]));
                i += 2;
            } else {
                o[k++] = '\\';
                o[k++] = e;
            }
            break;
        default:
            if (e >= '0' && e <= '7') {
                unsigned val = (unsigned)(e - '0');
                for (int d = 0; d < 2 && i + 1 < n && s[i + 1] >= '0' && s[i + 1] <= '7'; d++)
                    val = val * 8 + (unsigned)(s[++i] - '0');
                o[k++] = (uint8_t)val;
            } else {
                o[k++] = '\\';
                o[k++] = e;
            }
        }
    }
    o[k] = 0;
    v->s = o;
    v->n = (uint32_t)k;
    return v;
}

/* UNICODE: raw-unicode-escape (backslash-u and 4 hex digits, backslash-U and 8; other bytes are
 * Latin-1 code points). */
static pv *str_rawunicode(pk_vm *m, const uint8_t *s, size_t n)
{
    uint8_t *o = ar_alloc(m, n * 4 + 1);
    pv *v = newv(m, V_STR);
    if (!o || !v)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 1 < n && (s[i + 1] == 'u' || s[i + 1] == 'U')) {
            int len = s[i + 1] == 'u' ? 4 : 8;
            uint32_t cp = 0;
            int ok = i + 2 + (size_t)len <= n;
            for (int d = 0; ok && d < len; d++) {
                int h = hexval(s[i + 2 + (size_t)d]);
                if (h < 0)
                    ok = 0;
                else
                    cp = cp << 4 | (uint32_t)h;
            }
            if (ok && cp <= 0x10FFFF) {
                k += put_utf8(o + k, cp);
                i += 1 + (size_t)len;
                continue;
            }
        }
        k += put_utf8(o + k, s[i]);
    }
    o[k] = 0;
    v->s = o;
    v->n = (uint32_t)k;
    return v;
}

/* A module name CPython could import: dotted ASCII identifiers, or anything non-ASCII (which we
 * cannot rule out).  Pure-ASCII junk ("a b", "os\r") fails in __import__ before any code runs. */
static int importable(const char *s, size_t n)
{
    int start = 1;
    for (size_t i = 0; i < n; i++) {
        uint8_t ch = (uint8_t)s[i];
        if (ch >= 0x80)
            return 1;
        if (ch == '.') {
            if (start)
                return 0;
            start = 1;
        } else if (ch == '_' || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                   (!start && ch >= '0' && ch <= '9')) {
            start = 0;
        } else {
            return 0;
        }
    }
    return n > 0 && !start;
}

static int has_nonascii(const char *s)
{
    for (; *s; s++)
        if ((uint8_t)*s >= 0x80)
            return 1;
    return 0;
}

/* An import of module/name (raw bytes) by opcode opname.  Returns the global, or NULL when the
 * module cannot be imported (then the load stops, harmlessly) or on failure. */
static pk_global *import(pk_vm *m, const uint8_t *ms, size_t ml, const uint8_t *ns, size_t nl,
                         const char *opname)
{
    if (!importable((const char *)ms, ml)) {
        fail(m, "pickle.malformed", "%s names a module that cannot exist", opname);
        return NULL;
    }
    m->risky = 1;
    char *mod0 = ar_strdup(m, ms, ml), *name0 = ar_strdup(m, ns, nl);
    pk_global *g = ar_alloc(m, sizeof(*g));
    if (!mod0 || !name0 || !g)
        return NULL;
    const char *mod = mod0, *name = name0;
    if (m->proto < 3)
        scan_name_py2(&mod, &name);
    size_t full_len = strlen(mod) + 1 + strlen(name);
    g->full = ar_alloc(m, full_len + 1);
    if (!g->full)
        return NULL;
    snprintf(g->full, full_len + 1, "%s.%s", mod, name);
    g->module = (char *)mod;
    g->name = (char *)name;
    int64_t off = abs_off(m, m->opstart);
    const char *why = NULL;
    int nul = memchr(ms, 0, ml) || memchr(ns, 0, nl);
    char renamed[96] = "";
    if (strcmp(mod, mod0) || strcmp(name, name0))
        snprintf(renamed, sizeof(renamed), " (written as %.40s.%.40s)", mod0, name0);

    if (!nul && scan_name_allowed(g->full, full_len)) {
        g->cls = G_ALLOW;
        if (seen_once(m, g->full))
            scan_add(m->c, SCAN_ALLOW, "pickle.global.allowed", off, g->full,
                     "%s imports %s (allowlisted)%s", opname, g->full, renamed);
        return g;
    }
    g->cls = scan_name_denied(mod, name, g->full, &why) ? G_DENY : G_UNKNOWN;
    if (!seen_once(m, g->full))
        return g;
    if (strchr(name, '.') || !nl)
        scan_add(m->c, SCAN_BLOCK, "pickle.global.dotted_name", off, g->full,
                 "%s imports the attribute path '%s' from module '%s'%s%s", opname, name, mod,
                 g->cls == G_DENY ? ", which reaches " : "", g->cls == G_DENY ? why : "");
    if (g->cls == G_DENY)
        scan_add(m->c, SCAN_BLOCK, "pickle.global.denied", off, g->full,
                 "%s imports %s: %s%s", opname, g->full, why, renamed);
    else
        scan_add(m->c, SCAN_BLOCK, "pickle.global.unknown", off, g->full,
                 "%s imports %s, which is not on the allowlist%s%s", opname, g->full,
                 has_nonascii(g->full) || nul ? " (non-ASCII or NUL characters in the name)" : "",
                 renamed);
    return g;
}

/* ---- calls and targets ---- */

static const uint8_t *latin1_bytes(pk_vm *m, const pv *s, size_t *len)
{
    uint8_t *o = ar_alloc(m, s->n + 1);
    if (!o)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++) {
        uint8_t ch = s->s[i];
        if (ch < 0x80) {
            o[k++] = ch;
        } else if ((ch == 0xC2 || ch == 0xC3) && i + 1 < s->n) {
            o[k++] = (uint8_t)((ch & 0x03) << 6 | (s->s[++i] & 0x3F));
        } else {
            return NULL; /* not Latin-1: the call fails at load time */
        }
    }
    *len = k;
    return o;
}

static void check_nested(pk_vm *m, const uint8_t *b, size_t n, size_t at);

static int str_is(const pv *v, const char *s)
{
    return v && v->kind == V_STR && v->n == strlen(s) && !memcmp(v->s, s, v->n);
}

/* callee(*args) by opname; pushes the result. */
static void call(pk_vm *m, pv *callee, pv *args, const char *opname)
{
    if (m->failed)
        return;
    m->risky = 1;
    pv *r = newv(m, V_CALL);
    if (!r)
        return;
    r->args = args;
    if (!callee || callee->kind != V_GLOBAL) {
        if (seen_once(m, "pickle.call.indirect"))
            scan_add(m->c, SCAN_BLOCK, "pickle.call.indirect", abs_off(m, m->opstart), NULL,
                     "%s calls something that is not an imported global (a %s)", opname,
                     callee && callee->kind == V_CALL ? "call result" : "non-callable value");
        push(m, r);
        return;
    }
    r->g = callee->g;
    if (callee->g->cls == G_ALLOW && !strcmp(callee->g->full, "_codecs.encode")) {
        /* torch and numpy write bytes at protocol 2 as _codecs.encode(str, 'latin1') */
        if (args && args->kind == V_TUPLE && args->n == 2 && args->items[0]->kind == V_STR &&
            (str_is(args->items[1], "latin1") || str_is(args->items[1], "latin-1") ||
             str_is(args->items[1], "latin_1"))) {
            size_t bl = 0;
            const uint8_t *b = latin1_bytes(m, args->items[0], &bl);
            if (b) {
                r->kind = V_BYTES;
                r->s = b;
                r->n = (uint32_t)bl;
                check_nested(m, b, bl, args->items[0]->off);
            }
        } else if (seen_once(m, "pickle.call.codecs")) {
            scan_add(m->c, SCAN_BLOCK, "pickle.call.codecs", abs_off(m, m->opstart),
                     "_codecs.encode",
                     "_codecs.encode is called with arguments other than (str, 'latin1')");
        }
    }
    push(m, r);
}

static void check_target(pk_vm *m, const pv *t, const char *opname)
{
    if (t && t->kind == V_GLOBAL && seen_once(m, opname)) {
        scan_add(m->c, SCAN_BLOCK, !strcmp(opname, "BUILD") ? "pickle.build.global"
                                                            : "pickle.mutate.global",
                 abs_off(m, m->opstart), t->g->full,
                 "%s modifies the imported object %s itself (module or class mutation)", opname,
                 t->g->full);
    }
}

/* ---- nested pickles and joblib arrays ---- */

static void check_nested(pk_vm *m, const uint8_t *b, size_t n, size_t at)
{
    if (n < 3 || b[0] != 0x80 || b[1] < 2 || b[1] > 5 || m->failed)
        return;
    if (m->c->pickle_depth >= PK_MAX_NEST) {
        scan_add(m->c, SCAN_BLOCK, "pickle.nested.too_deep", abs_off(m, at), NULL,
                 "pickles nested more than %d deep", PK_MAX_NEST);
        return;
    }
    pk_info sub;
    m->c->pickle_depth++;
    size_t before = m->c->res->nfindings;
    pk_status st = scan_pickle(m->c, b, n, m->base + at, PKF_NESTED, &sub);
    m->c->pickle_depth--;
    if (st != PK_OPAQUE && sub.risky) {
        int blocks = 0;
        for (size_t i = before; i < m->c->res->nfindings; i++)
            blocks |= m->c->res->findings[i].severity == SCAN_BLOCK;
        scan_add(m->c, blocks ? SCAN_BLOCK : SCAN_WARN, "pickle.nested", abs_off(m, at), NULL,
                 "a byte string holds a nested pickle (%zu bytes) that imports or calls", n);
    }
    pk_info_free(&sub);
}

static pv *dict_get(const pv *d, const char *key)
{
    if (!d || d->kind != V_DICT)
        return NULL;
    for (const pkv *e = d->kv; e; e = e->next)
        if (str_is(e->k, key))
            return e->v;
    return NULL;
}

/* numpy dtype string ('<f8', 'f4', '|b1', 'U5', 'O8') -> item size; 0 unknown, -1 object. */
static int64_t dtype_itemsize(const pv *s)
{
    if (!s || s->kind != V_STR || !s->n || s->n > 16)
        return 0;
    char buf[17];
    memcpy(buf, s->s, s->n);
    buf[s->n] = 0;
    const char *t = buf;
    if (*t == '<' || *t == '>' || *t == '|' || *t == '=')
        t++;
    char kind = *t++;
    int64_t num = 0;
    for (; *t >= '0' && *t <= '9'; t++)
        num = num * 10 + (*t - '0');
    if (*t || num > 1 << 20)
        return 0;
    switch (kind) {
    case 'O': return -1;
    case '?': return 1;
    case 'b': case 'i': case 'u': case 'f': case 'c': case 'S': case 'V': case 'M': case 'm':
        return num ? num : (kind == 'b' ? 1 : 0);
    case 'U': return num * 4;
    default: return 0;
    }
}

/* After BUILD of a joblib NumpyArrayWrapper: skip the inline array (or parse the nested
 * object-array pickle) that joblib wrote straight into the stream. */
static void joblib_array(pk_vm *m, const pv *state)
{
    pv *shape = dict_get(state, "shape"), *dtype = dict_get(state, "dtype");
    pv *align = dict_get(state, "numpy_array_alignment_bytes");
    if (m->in_frame && m->pos != m->frame_end) {
        fail(m, "pickle.frame.violation", "joblib array data inside a frame");
        return;
    }
    m->in_frame = 0;
    int64_t isz = 0;
    if (dtype && dtype->kind == V_CALL && dtype->g && !strcmp(dtype->g->full, "numpy.dtype") &&
        dtype->args && dtype->args->kind == V_TUPLE && dtype->args->n >= 1)
        isz = dtype_itemsize(dtype->args->items[0]);
    if (!isz || !shape || shape->kind != V_TUPLE) {
        fail(m, "pickle.joblib.unparsable", "joblib NumpyArrayWrapper without a usable shape/dtype");
        return;
    }
    m->info->joblib = 1;
    if (isz < 0) { /* object array: a nested protocol-2 pickle follows */
        pk_info sub;
        if (m->c->pickle_depth >= PK_MAX_NEST) {
            fail(m, "pickle.nested.too_deep", "pickles nested too deep");
            return;
        }
        m->c->pickle_depth++;
        pk_status st = scan_pickle(m->c, m->p + m->pos, m->n - m->pos, m->base + m->pos,
                                   m->flags & PKF_PREFIX, &sub);
        m->c->pickle_depth--;
        if (st == PK_STOP)
            m->pos += sub.end;
        else if (st == PK_SHORT)
            fail_short(m, "joblib object array");
        else
            fail(m, "pickle.joblib.unparsable", "joblib object array is not a valid pickle");
        if (sub.risky)
            m->risky = 1;
        pk_info_free(&sub);
        return;
    }
    uint64_t nbytes = (uint64_t)isz;
    for (uint32_t i = 0; i < shape->n; i++) {
        const pv *d = shape->items[i];
        if (d->kind != V_INT || d->ibig || d->i < 0 ||
            (d->i && nbytes > UINT64_MAX / (uint64_t)d->i)) {
            fail(m, "pickle.joblib.unparsable", "joblib array shape is not a tuple of sizes");
            return;
        }
        nbytes *= (uint64_t)d->i;
    }
    if (align && align->kind == V_INT) {
        if (!need(m, 1, "joblib padding"))
            return;
        size_t pad = m->p[m->pos];
        m->pos++;
        if (!need(m, pad, "joblib padding"))
            return;
        m->pos += pad;
    }
    if (nbytes > m->n - m->pos) {
        fail_short(m, "joblib array data");
        return;
    }
    m->pos += (size_t)nbytes;
}

/* ---- the machine ---- */

static const uint8_t OP_PROTO[256] = {
    [0x80] = 2, [0x81] = 2, [0x82] = 2, [0x83] = 2, [0x84] = 2, [0x85] = 2, [0x86] = 2,
    [0x87] = 2, [0x88] = 2, [0x89] = 2, [0x8a] = 2, [0x8b] = 2, ['B'] = 3, ['C'] = 3,
    [0x8c] = 4, [0x8d] = 4, [0x8e] = 4, [0x8f] = 4, [0x90] = 4, [0x91] = 4, [0x92] = 4,
    [0x93] = 4, [0x94] = 4, [0x95] = 4, [0x96] = 5, [0x97] = 5, [0x98] = 5,
};

static pv *lit_int(pk_vm *m, int64_t i)
{
    if (i >= 0 && i < PK_SMALLINT && m->smallint[i])
        return m->smallint[i];
    pv *v = newv(m, V_INT);
    if (v && i >= 0 && i < PK_SMALLINT) {
        v->i = i;
        m->smallint[i] = v;
    }
    if (v)
        v->i = i;
    return v;
}

static pv *lit_bytes(pk_vm *m, int kind, size_t len)
{
    pv *v = newv(m, kind);
    if (!v)
        return NULL;
    v->s = m->p + m->pos;
    v->n = (uint32_t)(len > UINT32_MAX ? UINT32_MAX : len);
    return v;
}

/* Reads a length-prefixed literal of k length bytes (signed when sgn). */
static pv *lenlit(pk_vm *m, int k, int sgn, int kind, const char *what)
{
    if (!need(m, (size_t)k, what))
        return NULL;
    uint64_t len = rd_uint(m->p + m->pos, k);
    m->pos += (size_t)k;
    if (sgn && k == 4 && (len & 0x80000000u)) {
        fail(m, "pickle.malformed", "%s with a negative length", what);
        return NULL;
    }
    if (len > m->n - m->pos) {
        fail_short(m, what);
        return NULL;
    }
    pv *v = lit_bytes(m, kind, (size_t)len);
    size_t at = m->pos;
    m->pos += (size_t)len;
    if (v && kind == V_BYTES)
        check_nested(m, v->s, (size_t)len, at);
    return v;
}

static pv *make_seq(pk_vm *m, int kind, pv **items, size_t count)
{
    pv *v = newv(m, kind);
    if (!v)
        return NULL;
    if (kind == V_TUPLE) {
        v->items = ar_alloc(m, (count ? count : 1) * sizeof(pv *));
        if (!v->items) {
            fail(m, "pickle.limit", "symbolic state too large");
            return NULL;
        }
        if (count)
            memcpy(v->items, items, count * sizeof(pv *));
        v->n = (uint32_t)count;
    }
    return v;
}

static void dict_add(pk_vm *m, pv *d, pv *k, pv *v)
{
    if (!d || d->kind != V_DICT || d->n >= PK_DICT_TRACK)
        return;
    pkv *e = ar_alloc(m, sizeof(*e));
    if (!e)
        return;
    e->k = k;
    e->v = v;
    e->next = d->kv;
    d->kv = e;
    d->n++;
}

static void step(pk_vm *m, uint8_t op)
{
    size_t len;
    const uint8_t *s, *s2;
    pv *v, *w, *x, **items;
    size_t count;
    int64_t iv;
    int big;

    switch (op) {
    case 'I':
        if (!(s = readline(m, &len, "INT")))
            return;
        if (len == 2 && s[0] == '0' && (s[1] == '0' || s[1] == '1')) {
            push(m, s[1] == '1' ? SHARED(V_TRUE1) : SHARED(V_FALSE1));
        } else if (!parse_dec(s, len, &iv, &big)) {
            push(m, big ? SHARED(V_UNKNOWN_INT) : lit_int(m, iv));
        } else {
            push(m, SHARED(V_UNKNOWN_INT));
        }
        return;
    case 'L':
        if (!(s = readline(m, &len, "LONG")))
            return;
        if (!parse_dec(s, len, &iv, &big) && !big) {
            push(m, lit_int(m, iv));
        } else {
            push(m, SHARED(V_UNKNOWN_INT));
        }
        return;
    case 'J': case 'K': case 'M': {
        int k = op == 'J' ? 4 : op == 'K' ? 1 : 2;
        if (!need(m, (size_t)k, "BININT"))
            return;
        uint64_t u = rd_uint(m->p + m->pos, k);
        m->pos += (size_t)k;
        push(m, lit_int(m, op == 'J' ? (int64_t)(int32_t)(uint32_t)u : (int64_t)u));
        return;
    }
    case 0x8a: case 0x8b: {
        int k = op == 0x8a ? 1 : 4;
        if (!need(m, (size_t)k, "LONG1/LONG4"))
            return;
        uint64_t n = rd_uint(m->p + m->pos, k);
        m->pos += (size_t)k;
        if (k == 4 && (n & 0x80000000u)) {
            fail(m, "pickle.malformed", "LONG4 with a negative length");
            return;
        }
        if (n > m->n - m->pos) {
            fail_short(m, "LONG1/LONG4");
            return;
        }
        if (!(v = newv(m, V_INT)))
            return;
        if (n <= 8) {
            uint64_t u = rd_uint(m->p + m->pos, (int)n);
            if (n && n < 8 && (m->p[m->pos + n - 1] & 0x80))
                u |= ~(uint64_t)0 << (8 * n);
            v->i = (int64_t)u;
        } else {
            v->ibig = 1;
        }
        v->s = m->p + m->pos;
        v->n = (uint32_t)(n > UINT32_MAX ? UINT32_MAX : n);
        m->pos += (size_t)n;
        push(m, v);
        return;
    }
    case 'F':
        if (!(s = readline(m, &len, "FLOAT")))
            return;
        push(m, SHARED(V_FLOAT1));
        return;
    case 'G':
        if (!need(m, 8, "BINFLOAT"))
            return;
        m->pos += 8;
        push(m, SHARED(V_FLOAT1));
        return;
    case 'N': push(m, SHARED(V_NONE1)); return;
    case 0x88: case 0x89:
        push(m, op == 0x88 ? SHARED(V_TRUE1) : SHARED(V_FALSE1));
        return;
    case 'S':
        if (!(s = readline(m, &len, "STRING")))
            return;
        push(m, str_escape(m, s, len));
        return;
    case 'V':
        if (!(s = readline(m, &len, "UNICODE")))
            return;
        push(m, str_rawunicode(m, s, len));
        return;
    case 'T': push(m, lenlit(m, 4, 1, V_STR, "BINSTRING")); return;
    case 'U': push(m, lenlit(m, 1, 0, V_STR, "SHORT_BINSTRING")); return;
    case 0x8c: push(m, lenlit(m, 1, 0, V_STR, "SHORT_BINUNICODE")); return;
    case 'X': push(m, lenlit(m, 4, 0, V_STR, "BINUNICODE")); return;
    case 0x8d: push(m, lenlit(m, 8, 0, V_STR, "BINUNICODE8")); return;
    case 'B': push(m, lenlit(m, 4, 0, V_BYTES, "BINBYTES")); return;
    case 'C': push(m, lenlit(m, 1, 0, V_BYTES, "SHORT_BINBYTES")); return;
    case 0x8e: push(m, lenlit(m, 8, 0, V_BYTES, "BINBYTES8")); return;
    case 0x96: push(m, lenlit(m, 8, 0, V_BYTES, "BYTEARRAY8")); return;
    case ']': push(m, SHARED(V_LIST1)); return;
    case ')': push(m, make_seq(m, V_TUPLE, NULL, 0)); return;
    case '}': push(m, newv(m, V_DICT)); return;
    case 0x8f: push(m, SHARED(V_SET1)); return;
    case 'l': case 't': case 'd': case 0x91:
        if (pop_mark(m, &items, &count))
            return;
        if (op == 'd') {
            if (count % 2) {
                fail(m, "pickle.malformed", "odd number of items for DICT");
                return;
            }
            if ((v = newv(m, V_DICT)))
                for (size_t i = 0; i + 1 < count; i += 2)
                    dict_add(m, v, items[i], items[i + 1]);
            push(m, v);
            return;
        }
        push(m, make_seq(m, op == 't' ? V_TUPLE : op == 'l' ? V_LIST : V_FROZENSET, items, count));
        return;
    case 0x85: case 0x86: case 0x87: {
        size_t k = (size_t)(op - 0x84);
        pv *tmp[3];
        for (size_t i = k; i-- > 0;)
            if (!(tmp[i] = pop(m)))
                return;
        push(m, make_seq(m, V_TUPLE, tmp, k));
        return;
    }
    case 'a':
        if (!(v = pop(m)) || !(w = top(m)))
            return;
        check_target(m, w, "APPEND");
        return;
    case 'e': case 0x90:
        if (pop_mark(m, &items, &count) || !(w = top(m)))
            return;
        check_target(m, w, op == 'e' ? "APPENDS" : "ADDITEMS");
        return;
    case 's':
        if (!(v = pop(m)) || !(x = pop(m)) || !(w = top(m)))
            return;
        check_target(m, w, "SETITEM");
        dict_add(m, w, x, v);
        return;
    case 'u':
        if (pop_mark(m, &items, &count) || !(w = top(m)))
            return;
        if (count % 2) {
            fail(m, "pickle.malformed", "odd number of items for SETITEMS");
            return;
        }
        check_target(m, w, "SETITEMS");
        for (size_t i = 0; i + 1 < count; i += 2)
            dict_add(m, w, items[i], items[i + 1]);
        return;
    case '0':
        if (m->nmarks && m->marks[m->nmarks - 1] == m->sp)
            m->nmarks--;
        else
            (void)pop(m);
        return;
    case '2':
        if ((v = top(m)))
            push(m, v);
        return;
    case '(': mark(m); return;
    case '1':
        (void)pop_mark(m, &items, &count);
        return;
    case 'g': case 'p':
        if (!(s = readline(m, &len, op == 'g' ? "GET" : "PUT")))
            return;
        if (parse_dec(s, len, &iv, &big) || iv < 0 || big) {
            m->risky = 1; /* we might disagree with CPython here: fail closed */
            fail(m, "pickle.malformed", "%s argument is not a memo index", op == 'g' ? "GET" : "PUT");
            return;
        }
        if (op == 'g')
            memo_get(m, (uint64_t)iv);
        else
            memo_put(m, (uint64_t)iv);
        return;
    case 'h': case 'q': case 'j': case 'r': {
        int k = (op == 'h' || op == 'q') ? 1 : 4;
        if (!need(m, (size_t)k, "memo index"))
            return;
        uint64_t idx = rd_uint(m->p + m->pos, k);
        m->pos += (size_t)k;
        if (op == 'h' || op == 'j')
            memo_get(m, idx);
        else
            memo_put(m, idx);
        return;
    }
    case 0x94:
        if (top(m))
            memo_put(m, m->mcount);
        return;
    case 'c': case 'i': {
        const char *opname = op == 'c' ? "GLOBAL" : "INST";
        size_t l2;
        if (!(s = readline(m, &len, opname)) || !(s2 = readline(m, &l2, opname))) {
            m->risky = 1; /* CPython may still import the module of a cut GLOBAL */
            return;
        }
        pk_global *g = import(m, s, len, s2, l2, opname);
        if (!g)
            return;
        if (!(v = newv(m, V_GLOBAL)))
            return;
        v->g = g;
        if (op == 'c') {
            push(m, v);
            return;
        }
        if (pop_mark(m, &items, &count))
            return;
        call(m, v, make_seq(m, V_TUPLE, items, count), opname);
        return;
    }
    case 0x93:
        if (!(w = pop(m)) || !(v = pop(m)))
            return;
        if (v->kind != V_STR || w->kind != V_STR) {
            m->risky = 1;
            scan_add(m->c, SCAN_BLOCK, "pickle.stack_global.operand", abs_off(m, m->opstart), NULL,
                     "STACK_GLOBAL operands are not string literals (module: %s, name: %s)",
                     v->kind == V_STR ? "string" : v->kind == V_CALL ? "call result" : "non-string",
                     w->kind == V_STR ? "string" : w->kind == V_CALL ? "call result" : "non-string");
            fail(m, "pickle.stack_global.operand", "STACK_GLOBAL with computed operands");
            return;
        }
        {
            pk_global *g = import(m, v->s, v->n, w->s, w->n, "STACK_GLOBAL");
            if (!g || !(x = newv(m, V_GLOBAL)))
                return;
            x->g = g;
            push(m, x);
        }
        return;
    case 0x82: case 0x83: case 0x84: {
        int k = op == 0x82 ? 1 : op == 0x83 ? 2 : 4;
        if (!need(m, (size_t)k, "EXT"))
            return;
        uint64_t code = rd_uint(m->p + m->pos, k);
        m->pos += (size_t)k;
        m->risky = 1;
        scan_add(m->c, SCAN_BLOCK, "pickle.ext", abs_off(m, m->opstart), NULL,
                 "EXT%d imports extension code %llu through the copyreg registry", k == 4 ? 4 : k,
                 (unsigned long long)code);
        if ((v = newv(m, V_GLOBAL)) && (v->g = ar_alloc(m, sizeof(pk_global)))) {
            v->g->module = v->g->name = v->g->full = "<extension>";
            v->g->cls = G_UNKNOWN;
        }
        push(m, v);
        return;
    }
    case 'R':
        if (!(w = pop(m)) || !(v = pop(m)))
            return;
        call(m, v, w, "REDUCE");
        return;
    case 'o':
        if (pop_mark(m, &items, &count))
            return;
        if (!count) {
            fail(m, "pickle.stack_underflow", "OBJ without a class");
            return;
        }
        v = items[0];
        call(m, v, make_seq(m, V_TUPLE, items + 1, count - 1), "OBJ");
        return;
    case 0x81:
        if (!(w = pop(m)) || !(v = pop(m)))
            return;
        call(m, v, w, "NEWOBJ");
        return;
    case 0x92:
        if (!(x = pop(m)) || !(w = pop(m)) || !(v = pop(m)))
            return;
        call(m, v, w, "NEWOBJ_EX");
        return;
    case 'b':
        if (!(w = pop(m)) || !(v = top(m)))
            return;
        m->risky = 1;
        check_target(m, v, "BUILD");
        if (v->kind == V_CALL && v->g && !strcmp(v->g->full, "joblib.numpy_pickle.NumpyArrayWrapper"))
            joblib_array(m, w);
        return;
    case 'P':
        if (!(s = readline(m, &len, "PERSID")))
            return;
        m->risky = 1;
        scan_add(m->c, SCAN_BLOCK, "pickle.persid.text", abs_off(m, m->opstart), NULL,
                 "text PERSID opcode (never written by PyTorch)");
        push(m, newv(m, V_OBJ));
        return;
    case 'Q':
        if (!(v = pop(m)))
            return;
        m->risky = 1;
        if (v->kind == V_TUPLE && v->n >= 5 && v->n <= 6 && str_is(v->items[0], "storage") &&
            v->items[2]->kind == V_STR) {
            const pv *cls = v->items[1], *numel = v->items[4];
            if (cls->kind != V_GLOBAL || cls->g->cls != G_ALLOW) {
                if (seen_once(m, "pickle.persid.class"))
                    scan_add(m->c, SCAN_BLOCK, "pickle.persid.class", abs_off(m, m->opstart), NULL,
                             "persistent storage id whose class is not an allowlisted storage");
            } else if (m->info->nstorages < 1000000) {
                pk_storage *ns = realloc(m->info->storages,
                                         (m->info->nstorages + 1) * sizeof(*ns));
                if (ns) {
                    m->info->storages = ns;
                    pk_storage *st = &ns[m->info->nstorages];
                    st->key = strndup((const char *)v->items[2]->s, v->items[2]->n);
                    st->numel = numel->kind == V_INT && numel->i >= 0 ? (uint64_t)numel->i : 0;
                    static const struct { const char *n; unsigned sz; } SZ[] = {
                        {"torch.DoubleStorage", 8}, {"torch.FloatStorage", 4}, {"torch.HalfStorage", 2},
                        {"torch.LongStorage", 8}, {"torch.IntStorage", 4}, {"torch.ShortStorage", 2},
                        {"torch.CharStorage", 1}, {"torch.ByteStorage", 1}, {"torch.BoolStorage", 1},
                        {"torch.BFloat16Storage", 2}, {"torch.ComplexDoubleStorage", 16},
                        {"torch.ComplexFloatStorage", 8}, {"torch.QInt8Storage", 1},
                        {"torch.QInt32Storage", 4}, {"torch.QUInt8Storage", 1},
                        {"torch.QUInt4x2Storage", 1}, {"torch.QUInt2x4Storage", 1},
                        {"torch.storage.UntypedStorage", 1}, {"torch.UntypedStorage", 1},
                    };
                    st->elsize = 0;
                    for (size_t i = 0; i < sizeof(SZ) / sizeof(SZ[0]); i++)
                        if (!strcmp(cls->g->full, SZ[i].n))
                            st->elsize = SZ[i].sz;
                    if (st->key)
                        m->info->nstorages++;
                }
            }
        } else if (v->kind != V_INT && seen_once(m, "pickle.persid.unexpected")) {
            scan_add(m->c, SCAN_WARN, "pickle.persid.unexpected", abs_off(m, m->opstart), NULL,
                     "persistent id that is not a PyTorch storage tuple");
        }
        push(m, newv(m, V_OBJ));
        return;
    case 0x97: case 0x98:
        m->risky = 1;
        scan_add(m->c, SCAN_BLOCK, "pickle.oob_buffer", abs_off(m, m->opstart), NULL,
                 "out-of-band buffer opcode (NEXT_BUFFER/READONLY_BUFFER)");
        if (op == 0x97)
            push(m, newv(m, V_OBJ));
        else
            (void)top(m);
        return;
    case 0x80:
        if (!need(m, 1, "PROTO"))
            return;
        iv = m->p[m->pos++];
        if (iv > 5) {
            fail(m, "pickle.malformed", "unsupported protocol %d", (int)iv);
            return;
        }
        if (m->opstart != 0) {
            scan_add(m->c, SCAN_BLOCK, "pickle.proto.misplaced", abs_off(m, m->opstart), NULL,
                     "PROTO %d %s (switches how later imports are resolved)", (int)iv,
                     m->declared >= 0 ? "repeated mid-stream" : "not at the start");
            m->risky = 1;
        } else {
            m->declared = (int)iv;
        }
        m->proto = (int)iv;
        return;
    case 0x95:
        if (!need(m, 8, "FRAME"))
            return;
        {
            uint64_t fl = rd_uint(m->p + m->pos, 8);
            m->pos += 8;
            m->risky = 1;
            if (m->in_frame && m->opstart < m->frame_end) {
                fail(m, "pickle.frame.violation", "FRAME inside a frame");
                return;
            }
            if (fl > m->n - m->pos) {
                if (m->flags & PKF_PREFIX)
                    fail_short(m, "FRAME");
                else
                    fail(m, "pickle.frame.violation", "FRAME of %llu bytes runs past the end",
                         (unsigned long long)fl);
                return;
            }
            m->in_frame = 1;
            m->frame_end = m->pos + (size_t)fl;
        }
        return;
    default:
        fail(m, "pickle.opcode_unknown", "unknown opcode 0x%02x", op);
        return;
    }
}

pk_status scan_pickle(scan_ctx *c, const uint8_t *p, size_t n, uint64_t base, unsigned flags,
                      pk_info *info)
{
    memset(info, 0, sizeof(*info));
    pk_vm *m = calloc(1, sizeof(*m));
    if (!m) {
        c->err = HG_ERR_NOMEM;
        return PK_OPAQUE;
    }
    m->c = c;
    m->p = p;
    m->n = n;
    m->base = base;
    m->flags = flags;
    m->info = info;
    m->declared = -1;
    size_t mark0 = c->res->nfindings;
    pv *result = NULL;
    int stopped = 0;

    while (!m->failed) {
        if (m->in_frame && m->pos == m->frame_end)
            m->in_frame = 0;
        if (m->pos >= m->n) {
            fail_short(m, "the pickle (no STOP)");
            break;
        }
        if (++m->ops > PK_MAX_OPS) {
            fail(m, "pickle.limit", "more than %u opcodes", PK_MAX_OPS);
            break;
        }
        m->opstart = m->pos;
        uint8_t op = m->p[m->pos++];
        if (OP_PROTO[op] > (m->declared < 2 ? 1 : m->declared) && !m->mismatch_reported && op != 0x80) {
            m->mismatch_reported = 1;
            scan_add(c, SCAN_WARN, "pickle.proto.mismatch", abs_off(m, m->opstart), NULL,
                     "opcode 0x%02x needs protocol %d but the header declares %d", op, OP_PROTO[op],
                     m->declared < 0 ? 0 : m->declared);
        }
        if (op == '.') {
            result = pop(m);
            if (m->in_frame && m->pos > m->frame_end)
                fail(m, "pickle.frame.violation", "STOP outside its frame");
            stopped = !m->failed;
            break;
        }
        step(m, op);
        if (!m->failed && m->in_frame && m->pos > m->frame_end) {
            m->risky = 1;
            fail(m, "pickle.frame.violation", "opcode at %llu straddles the end of its frame",
                 (unsigned long long)abs_off(m, m->opstart));
        }
    }

    pk_status st;
    info->end = m->pos;
    info->risky = m->risky;
    info->had_proto = m->declared >= 0;
    if (stopped) {
        st = PK_STOP;
        info->literal_only = !m->risky;
        if (result && result->kind == V_INT) {
            info->is_int = 1;
            if (result->s && result->n <= sizeof(info->intbytes)) {
                memcpy(info->intbytes, result->s, result->n);
                info->nintbytes = result->n;
            } else if (!result->ibig) {
                for (int i = 0; i < 8; i++)
                    info->intbytes[i] = (uint8_t)((uint64_t)result->i >> (8 * i));
                info->nintbytes = 8;
            }
        }
    } else if (m->short_input && c->err == HG_OK) {
        st = PK_SHORT;
    } else if (!m->risky && strcmp(m->fail_id, "pickle.limit")) {
        st = PK_OPAQUE; /* a limit is never "opaque": we could not finish, fail closed */
    } else {
        st = PK_BAD;
        scan_add(c, SCAN_BLOCK, !strcmp(m->fail_id, "pickle.truncated") ? "pickle.truncated"
                 : !strncmp(m->fail_id, "pickle.", 7) ? m->fail_id : "pickle.malformed",
                 abs_off(m, m->opstart), NULL, "pickle cannot be followed after code-running "
                 "opcodes: %s", m->fail_msg);
    }
    if (st == PK_OPAQUE || st == PK_SHORT)
        scan_truncate_findings(c, mark0);
    if (st == PK_OPAQUE)
        info->literal_only = 1;

    for (ar_blk *b = m->arena, *nb; b; b = nb) {
        nb = b->next;
        free(b);
    }
    free(m->stack);
    free(m->marks);
    free(m->memo);
    free(m);
    return st;
}

void pk_info_free(pk_info *info)
{
    for (size_t i = 0; i < info->nstorages; i++)
        free(info->storages[i].key);
    free(info->storages);
    info->storages = NULL;
    info->nstorages = 0;
}
