/*
 * scan_int.h - what the scanner's files share: byte sources, the per-scan context that collects
 * findings, and the entry points of each format module.  Not for use outside lib/scan.
 *
 * A scan_src is a window [off, off + size) of either a file descriptor (read with pread) or a
 * memory buffer; zip members are windows of their archive.  Sources are borrowed views: they
 * own nothing and are passed by value.
 */
#ifndef HG_SCAN_INT_H
#define HG_SCAN_INT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "scan/scan.h"

typedef struct scan_src {
    int fd;               /* -1 when mem is used */
    const uint8_t *mem;   /* borrowed */
    uint64_t off;         /* start of the window in the fd or mem */
    uint64_t size;        /* window length */
} scan_src;

/* Exactly n bytes at window offset off; HG_ERR_CORRUPT if the window is shorter, HG_ERR_IO on a
 * failed read. */
HG_MUST_CHECK hg_err scan_src_read(const scan_src *s, uint64_t off, void *buf, size_t n);
/* A sub-window (off, len must lie inside s; callers check). */
scan_src scan_src_sub(const scan_src *s, uint64_t off, uint64_t len);
/* Reads min(s->size, max) bytes from the start into a malloc'd buffer (*len set). */
HG_MUST_CHECK hg_err scan_src_load(const scan_src *s, size_t max, uint8_t **out, size_t *len);

/* Per-file state; lives on the stack of scan_fd/scan_mem. */
typedef struct scan_ctx {
    scan_result *res;
    hg_err err;           /* sticky: first allocation/I/O error */
    const char *member;   /* current container member (borrowed) or NULL */
    int zip_depth;        /* archives we are inside */
    int pickle_depth;     /* nested pickles we are inside */
} scan_ctx;

/* Records a finding (message printf-style); global may be NULL; offset -1 when unknown.  On
 * allocation failure sets c->err and drops the finding. */
void scan_add(scan_ctx *c, scan_verdict sev, const char *id, int64_t offset, const char *global,
              const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Drops the findings recorded after the first `mark` (a retried or discarded analysis). */
void scan_truncate_findings(scan_ctx *c, size_t mark);

/* Scans a source found at top level or inside a container and returns the format name found.
 * name is the member or file name (may be NULL). */
const char *scan_dispatch(scan_ctx *c, const scan_src *src, const char *name);

/* ---- pickle (scan_pickle.c) ---- */

typedef enum {
    PK_STOP = 0,    /* a STOP was reached; info.end is the offset after it */
    PK_OPAQUE = 1,  /* not a pickle: failed before any opcode that could run code; no findings */
    PK_BAD = 2,     /* failed after something risky: block findings were added */
    PK_SHORT = 3,   /* ran off the end of a buffer flagged PKF_PREFIX: retry with more bytes */
} pk_status;

#define PKF_PREFIX   1u  /* the buffer is a prefix of a longer stream */
#define PKF_NESTED   2u  /* a nested pickle (inside a byte string) */

typedef struct pk_storage {
    char *key;            /* owned */
    uint64_t numel;
    unsigned elsize;      /* bytes per element from the storage class, 0 if unknown */
} pk_storage;

typedef struct pk_info {
    uint64_t end;         /* offset after STOP (PK_STOP) or where parsing stopped */
    int risky;            /* saw an import, call, persistent id or frame */
    int had_proto;        /* started with a PROTO opcode */
    int literal_only;     /* no import, call or persistent id at all */
    int is_int;           /* the result is an integer literal ... */
    uint8_t intbytes[16]; /* ... whose LONG1/BININT little-endian bytes are these */
    size_t nintbytes;
    int joblib;           /* contained a joblib NumpyArrayWrapper with inline data */
    pk_storage *storages; /* persistent ids ('storage', class, key, location, numel) seen */
    size_t nstorages;
} pk_info;

/* Analyses one pickle at p[0..n); base is the offset of p in the file (for messages). */
pk_status scan_pickle(scan_ctx *c, const uint8_t *p, size_t n, uint64_t base, unsigned flags,
                      pk_info *info);
void pk_info_free(pk_info *info);

/* Scans a source as a raw pickle stream (or legacy torch / joblib) and returns the format. */
const char *scan_pickle_stream(scan_ctx *c, const scan_src *src, const char *name, int strong);

/* ---- names (scan_names.c) ---- */
/* Exact match of "module.name" (len bytes, may hold NULs) against the allowlist. */
int scan_name_allowed(const char *full, size_t len);
/* 1 if the denylist names module/name; *why says which rule. */
int scan_name_denied(const char *module, const char *name, const char *full, const char **why);
/* fix_imports renaming (protocol < 3): may point mod and name at constant strings. */
void scan_name_py2(const char **mod, const char **name);

/* ---- containers and formats ---- */
const char *scan_zip(scan_ctx *c, const scan_src *src, const char *name);
/* Where the HDF5 superblock is (0 or a power of two from 512), or UINT64_MAX. */
uint64_t scan_hdf5_find(const scan_src *src);
/* A Keras .h5 model: its root model_config attribute judged as a Keras config (scan_hdf5.c). */
void scan_hdf5(scan_ctx *c, const scan_src *src, uint64_t at);
/* Inflates the raw DEFLATE stream in[0, in_len) into out, never writing more than cap bytes:
 * 0 when the final block ended (*out_len bytes written), -1 with *why (static text) when the
 * stream is invalid, ends early or would exceed cap. */
int scan_inflate(const uint8_t *in, size_t in_len, uint8_t *out, size_t cap, size_t *out_len, const char **why);
void scan_safetensors(scan_ctx *c, const scan_src *src);
void scan_npy(scan_ctx *c, const scan_src *src);
void scan_gguf(scan_ctx *c, const scan_src *src);
/* Returns 1 if src looks like an ONNX ModelProto (then it was scanned), else 0. */
int scan_onnx(scan_ctx *c, const scan_src *src, int hinted);
void scan_keras_config(scan_ctx *c, const uint8_t *p, size_t n, const char *what);
/* The same for a config already parsed. */
void scan_keras_json(scan_ctx *c, json_t *j);
/* Flags Jinja templates that reach for Python internals (GGUF and tokenizer_config.json). */
void scan_chat_template(scan_ctx *c, const char *where, const char *t, size_t n, int64_t off);

/* Case-insensitive "does name end with ext". */
int scan_has_ext(const char *name, const char *ext);
uint32_t scan_crc32(uint32_t crc, const uint8_t *p, size_t n);

static inline uint16_t scan_le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t scan_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t scan_le64(const uint8_t *p)
{
    return (uint64_t)scan_le32(p) | (uint64_t)scan_le32(p + 4) << 32;
}

#endif
