/*
 * xet.h - the Xet storage formats: content-defined chunking, BLAKE3 hashes and merkle trees,
 * xorb and shard codecs.  Specified in shared/docs/xet-spec.md; section numbers below refer to it.
 *
 * This module is pure: no I/O, no sockets, no hidden global state (the only globals are
 * read-only tables).  Objects (chunker, codec, merkle) belong to one thread at a time; distinct
 * objects may be used concurrently.
 *
 * Conventions:
 *  - A xet_hash holds 32 raw bytes in BLAKE3 output order: the order stored in xorbs and shards.
 *    Text (URLs, JSON) uses "Xet hex" (2.1): each 8-byte group printed as a little-endian u64.
 *  - Chunk index ranges are [start, end).  Everything on the wire is little-endian.
 *  - Parsers never trust their input: any malformed byte string yields HG_ERR_CORRUPT (or
 *    HG_ERR_TOOBIG for a limit), never an out-of-bounds read or an assertion failure.
 */
#ifndef HG_XET_H
#define HG_XET_H

#include <stddef.h>
#include <stdint.h>

#include "util/hg_buf.h"
#include "util/hg_err.h"

/* ---- constants (1.1, 3.3) ---- */
#define XET_TARGET_CHUNK   65536u
#define XET_MIN_CHUNK      8192u
#define XET_MAX_CHUNK      131072u
#define XET_MAX_XORB_BYTES (64u * 1024 * 1024) /* sum of uncompressed chunk lengths */
#define XET_MAX_XORB_CHUNKS 8192u
#define XET_CHUNK_HEADER_LEN 8u

/* ---- hashes (2) ---- */
typedef struct xet_hash {
    uint8_t b[32];
} xet_hash;

#define XET_HEX_LEN 64

extern const uint8_t XET_DATA_KEY[32];
extern const uint8_t XET_INTERNAL_NODE_KEY[32];
extern const uint8_t XET_VERIFICATION_KEY[32];

/* Writes the 64 Xet-hex digits of h and a terminating NUL into out. */
void xet_hash_to_hex(const xet_hash *h, char out[XET_HEX_LEN + 1]);
/* Parses exactly 64 hex digits (either case).  HG_ERR_INVAL otherwise. */
HG_MUST_CHECK hg_err xet_hash_from_hex(const char *s, size_t n, xet_hash *out);
/* Plain lowercase hex of n raw bytes into out (2n+1 bytes with the NUL). */
void xet_bytes_to_hex(const uint8_t *p, size_t n, char *out);
int xet_hash_is_zero(const xet_hash *h);
int xet_hash_eq(const xet_hash *a, const xet_hash *b);

/* BLAKE3 keyed hash of data under a 32-byte key. */
void xet_keyed_hash(const uint8_t key[32], const void *data, size_t len, xet_hash *out);
/* 2.2: chunk hash = keyed(DATA_KEY, bytes). */
void xet_chunk_hash(const void *data, size_t len, xet_hash *out);
/* 2.5: file hash from the merkle root of all chunks; an empty file (nchunks 0) is all zeros. */
void xet_file_hash_from_root(const xet_hash *root, uint64_t nchunks, xet_hash *out);
/* 2.6: verification hash of a term = keyed(VERIFICATION_KEY, raw chunk hashes concatenated). */
void xet_verification_hash(const xet_hash *chunk_hashes, size_t n, xet_hash *out);
/* 2.7: hmac(h, key) = keyed(key, h). */
void xet_hmac(const xet_hash *h, const xet_hash *key, xet_hash *out);

/* ---- merkle aggregation (2.3), incremental ----
 * Feed (hash, size) leaves in order; the result equals the batch definition of the spec.
 * Uses a fixed amount of memory whatever the number of leaves: one pending group per level. */
#define XET_MERKLE_LEVELS 64
typedef struct xet_merkle_node {
    xet_hash hash;
    uint64_t size;
} xet_merkle_node;

typedef struct xet_merkle {
    xet_merkle_node pending[XET_MERKLE_LEVELS][9];
    uint8_t npending[XET_MERKLE_LEVELS];
    uint64_t count[XET_MERKLE_LEVELS]; /* nodes ever added at each level */
    int nlevels;
    int overflow;
} xet_merkle;

void xet_merkle_init(xet_merkle *m);
void xet_merkle_add(xet_merkle *m, const xet_hash *h, uint64_t size);
/* Root hash (all zeros for no leaves) and total size.  HG_ERR_TOOBIG if the tree overflowed. */
HG_MUST_CHECK hg_err xet_merkle_finish(xet_merkle *m, xet_hash *root, uint64_t *size);
/* Batch form over an array of leaves. */
HG_MUST_CHECK hg_err xet_merkle_root(const xet_merkle_node *leaves, size_t n, xet_hash *root);

/* ---- content-defined chunking (1) ----
 * Streaming: feed pieces of any size; every completed chunk is passed to the callback, whose
 * pointer is valid only during the call (it points into the caller's input when the chunk lies
 * wholly inside one piece, else into the chunker's own buffer).  xet_chunker_finish emits the
 * last open chunk.  The chunks are identical to one-shot chunking of the concatenation. */
typedef enum xet_variant {
    XET_VARIANT_M = 0, /* xet-core since 2025-09: matches giving chunks < 8192 bytes ignored */
    XET_VARIANT_L = 1, /* huggingface.js: every match after the 8127-byte skip accepted */
} xet_variant;

/* Returns non-zero to stop; that value is returned by feed/finish as HG_ERR_* unchanged. */
typedef int (*xet_chunk_cb)(void *arg, const uint8_t *chunk, size_t len);

typedef struct xet_chunker {
    xet_variant variant;
    uint64_t h;     /* gear state of the open chunk */
    size_t buflen;  /* bytes of the open chunk held in buf */
    uint8_t *buf;   /* XET_MAX_CHUNK bytes */
} xet_chunker;

HG_MUST_CHECK hg_err xet_chunker_init(xet_chunker *c, xet_variant v);
void xet_chunker_free(xet_chunker *c);
HG_MUST_CHECK int xet_chunker_feed(xet_chunker *c, const void *data, size_t len, xet_chunk_cb cb,
                                   void *arg);
HG_MUST_CHECK int xet_chunker_finish(xet_chunker *c, xet_chunk_cb cb, void *arg);
/* One-shot: the length of the first chunk of data[0..len) (0 only when len is 0). */
size_t xet_next_chunk_len(const uint8_t *data, size_t len, xet_variant v);
/* Parses "L"/"M" (case-insensitive). */
HG_MUST_CHECK hg_err xet_variant_parse(const char *s, xet_variant *out);

/* ---- chunk records and compression (3.1, 3.2) ---- */
typedef enum xet_scheme {
    XET_SCHEME_NONE = 0,
    XET_SCHEME_LZ4 = 1,
    XET_SCHEME_BG4_LZ4 = 2,
    XET_SCHEME_AUTO = 99, /* encoder only: try LZ4 and BG4, keep the smallest */
} xet_scheme;

typedef struct xet_chunk_header {
    uint8_t version;
    uint32_t stored_len; /* payload bytes after the header */
    uint8_t scheme;
    uint32_t raw_len; /* uncompressed length */
} xet_chunk_header;

/* Validates per 3.1 (version 0, lengths, known scheme, not a footer).  Needs 8 bytes. */
HG_MUST_CHECK hg_err xet_chunk_header_parse(const uint8_t *p, size_t n, xet_chunk_header *out);
void xet_chunk_header_write(const xet_chunk_header *h, uint8_t out[XET_CHUNK_HEADER_LEN]);

/* Compression state and scratch space, reused across chunks (one thread at a time). */
typedef struct xet_codec xet_codec;
HG_MUST_CHECK hg_err xet_codec_new(xet_codec **out);
void xet_codec_free(xet_codec **cx);

/* Upper bound of a record (header + payload) for a chunk of raw_len bytes. */
size_t xet_record_bound(size_t raw_len);
/* Encodes one chunk as a record (header + payload) into out.  scheme AUTO picks the smallest of
 * LZ4 and BG4-LZ4, and NONE whenever compression does not make it strictly smaller. */
HG_MUST_CHECK hg_err xet_record_encode(xet_codec *cx, const uint8_t *raw, size_t len,
                                       xet_scheme scheme, uint8_t *out, size_t cap,
                                       size_t *written);
/* Decodes the record at rec[0..avail): writes raw bytes into out (capacity out_cap, at least the
 * header's raw_len), and reports the record's total length (header + payload). */
HG_MUST_CHECK hg_err xet_record_decode(xet_codec *cx, const uint8_t *rec, size_t avail,
                                       uint8_t *out, size_t out_cap, size_t *raw_len,
                                       size_t *rec_len);
/* BG4 transform and its inverse (3.2); dst and src must not overlap. */
void xet_bg4_split(const uint8_t *src, size_t n, uint8_t *dst);
void xet_bg4_join(const uint8_t *src, size_t n, uint8_t *dst);

/* ---- xorbs (3) ---- */
typedef struct xet_xorb_chunk {
    xet_hash hash;
    uint32_t raw_len;
    uint32_t raw_off; /* cumulative uncompressed offset inside the xorb */
    uint32_t rec_off; /* offset of the record (header) inside the serialized xorb */
    uint32_t rec_len; /* header + payload */
} xet_xorb_chunk;

/* A xorb under construction: records are appended to `data`. */
typedef struct xet_xorb_writer {
    hg_buf data;
    xet_xorb_chunk *chunks;
    size_t nchunks;
    size_t raw_bytes;
    xet_codec *codec; /* borrowed */
} xet_xorb_writer;

void xet_xorb_writer_init(xet_xorb_writer *w, xet_codec *codec);
void xet_xorb_writer_free(xet_xorb_writer *w);
/* 1 if a chunk of len bytes still fits within the limits of 3.3, else 0. */
int xet_xorb_writer_fits(const xet_xorb_writer *w, size_t len);
HG_MUST_CHECK hg_err xet_xorb_writer_add(xet_xorb_writer *w, const uint8_t *chunk, size_t len,
                                         xet_scheme scheme);
/* The xorb hash (merkle root of the chunks, 2.4). */
HG_MUST_CHECK hg_err xet_xorb_writer_hash(const xet_xorb_writer *w, xet_hash *out);

/* A parsed xorb: every record validated and decoded, chunk hashes recomputed. */
typedef struct xet_xorb_info {
    xet_xorb_chunk *chunks;
    size_t nchunks;
    size_t raw_bytes;
    size_t records_len; /* bytes of records; a server-side footer (3.5) may follow */
    xet_hash hash;
} xet_xorb_info;

/* Parses a serialized xorb (records, optionally followed by an XETBLOB footer which is not
 * interpreted).  If raw_out is non-NULL the decoded bytes are appended to it. */
HG_MUST_CHECK hg_err xet_xorb_parse(xet_codec *cx, const uint8_t *p, size_t n,
                                    xet_xorb_info *info, hg_buf *raw_out);
void xet_xorb_info_free(xet_xorb_info *info);

/* ---- shards (4) ---- */
#define XET_SHARD_HEADER_LEN 48u
#define XET_SHARD_FOOTER_LEN 200u
#define XET_SHARD_RECORD_LEN 48u
#define XET_SHARD_MAX_LEN    (64u * 1024 * 1024)
#define XET_FILE_FLAG_VERIFICATION 0x80000000u
#define XET_FILE_FLAG_METADATA_EXT 0x40000000u

extern const uint8_t XET_SHARD_TAG[32];

typedef struct xet_shard_term {
    xet_hash xorb_hash;
    uint32_t xorb_flags;
    uint32_t unpacked_bytes;
    uint32_t chunk_start;
    uint32_t chunk_end; /* exclusive */
    xet_hash verification; /* meaningful when the file has XET_FILE_FLAG_VERIFICATION */
} xet_shard_term;

typedef struct xet_shard_file {
    xet_hash file_hash;
    uint32_t flags; /* XET_FILE_FLAG_* */
    uint32_t nterms;
    xet_shard_term *terms;
    uint8_t sha256[32]; /* standard digest order (converted from the 2.8 storage order) */
} xet_shard_file;

typedef struct xet_shard_chunk {
    xet_hash hash;
    uint32_t raw_off; /* cumulative uncompressed offset in the xorb */
    uint32_t raw_len;
    uint32_t flags;
} xet_shard_chunk;

typedef struct xet_shard_xorb {
    xet_hash xorb_hash;
    uint32_t flags;
    uint32_t nchunks;
    uint32_t raw_bytes;     /* num_bytes_in_xorb */
    uint32_t bytes_on_disk; /* serialized length */
    xet_shard_chunk *chunks;
} xet_shard_xorb;

typedef struct xet_shard_footer {
    uint64_t version;
    uint64_t file_info_offset, xorb_info_offset;
    uint64_t file_lookup_offset, file_lookup_num;
    uint64_t xorb_lookup_offset, xorb_lookup_num;
    uint64_t chunk_lookup_offset, chunk_lookup_num;
    xet_hash hmac_key;
    uint64_t creation_timestamp, key_expiry;
    uint64_t stored_bytes_on_disk, materialized_bytes, stored_bytes;
    uint64_t footer_offset;
} xet_shard_footer;

typedef struct xet_shard {
    uint64_t version;     /* header version, 2 */
    uint64_t footer_size; /* 0 or 200 */
    int has_footer;
    xet_shard_footer footer;
    xet_shard_file *files;
    size_t nfiles;
    xet_shard_xorb *xorbs;
    size_t nxorbs;
} xet_shard;

/* Parses a shard with or without footer.  Lookup tables, if present, are skipped (not needed to
 * describe reconstructions).  On success *out is owned by the caller (xet_shard_free). */
HG_MUST_CHECK hg_err xet_shard_parse(const uint8_t *p, size_t n, xet_shard **out);
void xet_shard_free(xet_shard **s);
/* Serializes header, file info, bookend, xorb info, bookend; with_footer adds the 200-byte
 * footer (no lookup tables), as huggingface.js sends it; timestamp goes into the footer.
 * out is initialised by the call (cap XET_SHARD_MAX_LEN; previous contents are not freed) and is
 * empty on error.  HG_ERR_INVAL if s could not be read back (NULL arrays with non-zero counts, an
 * all-0xFF file or xorb hash, chunk_end < chunk_start, or an empty range with bytes). */
HG_MUST_CHECK hg_err xet_shard_serialize(const xet_shard *s, int with_footer, uint64_t timestamp,
                                         hg_buf *out);

#endif
