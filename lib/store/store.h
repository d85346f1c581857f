/*
 * store.h - the content store: xorb files plus an SQLite index of repositories, refs, commits,
 * trees and file contents, with deduplication at chunk level across files, revisions and repos.
 *
 * On disk (DIR = --data):
 *   DIR/index.sqlite   the index (WAL mode)
 *   DIR/xorbs/ab/cd/<xorb hash in Xet hex>   immutable once renamed into place
 *   DIR/tmp/           partial xorb writes (xorb.PID.N); those of dead processes are removed
 *                      when the store opens
 *   DIR/secret         32 random bytes for signing tokens (created on first open, mode 0600)
 *   DIR/ingest.lock    flock(2)ed shared by every ingest session, exclusively by store_gc
 *   DIR/serve.lock     flock(2)ed shared by hubgate serve, exclusively by store_evict_upstream
 *
 * Invariants:
 *  - A xorb file is written to tmp/, fsynced, renamed into place and its directory fsynced before
 *    any index row refers to it.  A content (a file's bytes) becomes visible only in the same
 *    transaction that adds the tree entries and commit naming it, after its xorbs are durable.
 *    A crash at any moment leaves orphan xorb files at worst, never an index row pointing at
 *    missing or partial bytes.
 *  - Stored bytes are verified: ingest computes every hash from the bytes it writes; readers
 *    re-hash each chunk the first time the process reads it (store_vcache.h); store_verify
 *    re-hashes everything.
 *  - Rows are never updated in place except refs (which move) and repo flags.
 *
 * Threading: a store handle is shared by all threads.  Each thread gets its own SQLite
 * connection (and prepared statements) on first use; SQLite WAL serialises writers.  An ingest
 * session belongs to one thread.
 */
#ifndef HG_STORE_H
#define HG_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "git/git.h"
#include "util/hg_err.h"
#include "xet/xet.h"

typedef struct store store;

typedef enum store_repo_type {
    STORE_MODEL = 0,
    STORE_DATASET = 1,
    STORE_SPACE = 2,
} store_repo_type;

/* "model", "dataset", "space" and their plural API forms. */
const char *store_repo_type_name(store_repo_type t);
HG_MUST_CHECK hg_err store_repo_type_parse(const char *s, store_repo_type *out);

typedef struct store_options {
    xet_variant variant;      /* chunker rule for new content */
    int compress;             /* 1: store chunks LZ4/BG4 when smaller; 0: always raw */
} store_options;

HG_MUST_CHECK hg_err store_open(const char *dir, const store_options *opt, store **out);
void store_close(store **st);
const char *store_dir(const store *st);
/* Closes the calling thread's index connection now.  A thread that may outlive its last use of
 * the store calls it before it signals that it is done (the connection would otherwise be
 * closed at thread exit, possibly after store_close). */
void store_thread_exit(store *st);
/* Ends every statement the calling thread's connection left open.  A statement left on a row
 * keeps its WAL read snapshot: the connection would go on seeing the index as it was (missing
 * rows other threads committed since) and could not start a write.  Lookups reset what they
 * step; callers that serve requests call this at the end of each one, as a backstop. */
void store_release(store *st);
/* The calling thread's lookups until store_read_end (or store_release) share one read
 * transaction: one snapshot, one lock and one check of the index file instead of one per
 * lookup (the difference in small-request rate).  Read only: nothing may be written between the
 * two.  A begin inside a begin is a no-op. */
void store_read_begin(store *st);
void store_read_end(store *st);


/* The model-file scanner's verdict on a content (lib/scan), kept once per sha256. */
typedef struct store_scan {
    int verdict;     /* scan_verdict: 0 allow, 1 warn, 2 block */
    int rules;       /* the scanner's rule version that judged it (a newer one judges again) */
    char format[32];
    char *report;    /* scan_result_json text (owned) */
} store_scan;
HG_MUST_CHECK hg_err store_scan_get(store *st, const uint8_t sha256[32], store_scan *out);
HG_MUST_CHECK hg_err store_scan_put(store *st, const uint8_t sha256[32], const store_scan *in);
void store_scan_clear(store_scan *s);
/* The 32-byte secret used to sign tokens and URLs (borrowed). */
const uint8_t *store_secret(const store *st);

/* ---- repositories, refs, commits ---- */
typedef struct store_repo {
    int64_t id;
    store_repo_type type;
    char name[256]; /* "namespace/name" or a legacy single segment */
    int private_;
    int64_t created_at; /* unix seconds */
} store_repo;

HG_MUST_CHECK hg_err store_repo_find(store *st, store_repo_type type, const char *name,
                                     store_repo *out);

typedef struct store_commit {
    git_oid oid;
    git_oid tree;
    git_oid parent;
    int has_parent;
    int64_t time;
    char author[256];
    char *message; /* owned; store_commit_clear */
} store_commit;

void store_commit_clear(store_commit *c);
HG_MUST_CHECK hg_err store_commit_get(store *st, int64_t repo_id, const git_oid *oid,
                                      store_commit *out);

/* store_repo_find, and store_resolve_rev + store_commit_get, answered from memory as long as
 * the index has not changed since (any commit, in any process, invalidates): a request that
 * starts with them then costs no SQLite at all.  Same results and errors as the originals. */
HG_MUST_CHECK hg_err store_repo_find_cached(store *st, store_repo_type type, const char *name, store_repo *out);
HG_MUST_CHECK hg_err store_rev_commit_cached(store *st, int64_t repo_id, const char *rev, git_oid *commit,
                                             store_commit *cm);
void store_rcache_stats(store *st, unsigned long *hits, unsigned long *misses);

/* Resolves a revision: branch, tag, "refs/pr/N", "HEAD" (the default branch "main"), a 40-hex
 * commit, or an unambiguous hex prefix of at least 7 digits.  HG_ERR_NOTFOUND otherwise. */
HG_MUST_CHECK hg_err store_resolve_rev(store *st, int64_t repo_id, const char *rev, git_oid *out);

typedef enum store_ref_kind { STORE_REF_BRANCH = 0, STORE_REF_TAG = 1, STORE_REF_PR = 2 } store_ref_kind;
typedef int (*store_ref_cb)(void *arg, const char *name, store_ref_kind kind, const git_oid *commit);
HG_MUST_CHECK hg_err store_refs_list(store *st, int64_t repo_id, store_ref_cb cb, void *arg);
/* Longest ref name that is a prefix of path at a '/' boundary (for unencoded branch names with
 * '/'); sets *len to its length or 0. */
HG_MUST_CHECK hg_err store_ref_longest_prefix(store *st, int64_t repo_id, const char *path,
                                              size_t *len);

/* ---- trees and files ---- */
typedef struct store_content {
    int64_t id;
    uint64_t size;
    uint8_t sha256[32];
    git_oid blob; /* git blob id of the content */
    xet_hash xet; /* Xet file hash */
} store_content;

typedef struct store_entry {
    char *path;    /* full path from the repo root (owned by the callback's caller) */
    int is_dir;
    git_oid oid;   /* tree oid, or blob oid (of the LFS pointer for LFS files) */
    int is_lfs;
    uint32_t mode; /* 0100644, 0100755, 040000 */
    store_content content; /* files only */
    uint32_t pointer_size; /* LFS files only */
} store_entry;

/* Looks up one path ("" is the root directory) in the tree of a commit. */
HG_MUST_CHECK hg_err store_path_lookup(store *st, const git_oid *root_tree, const char *path,
                                       store_entry *out, char *pathbuf, size_t pathcap);

/* Lists the directory at path (recursively when asked), depth-first in git order, starting after
 * `skip` entries and calling cb at most `limit` times (0 = no limit).  The entry's path is valid
 * during the call.  *more is set when entries remain.  HG_ERR_NOTFOUND if path is not a
 * directory. */
typedef int (*store_entry_cb)(void *arg, const store_entry *e);
HG_MUST_CHECK hg_err store_tree_list(store *st, const git_oid *root_tree, const char *path,
                                     int recursive, uint64_t skip, uint64_t limit,
                                     store_entry_cb cb, void *arg, int *more);

/* The last commit at or before `commit` that changed `path` (git log -1 semantics on a linear
 * history). */
HG_MUST_CHECK hg_err store_last_commit(store *st, int64_t repo_id, const git_oid *commit,
                                       const char *path, store_commit *out);

/* ---- contents and the Xet read path ---- */
HG_MUST_CHECK hg_err store_content_by_xet(store *st, const xet_hash *h, store_content *out);

typedef struct store_term {
    xet_hash xorb;
    int64_t xorb_id;
    uint32_t chunk_start, chunk_end; /* [start, end) */
    uint32_t unpacked;               /* bytes of the term */
    uint64_t rec_start, rec_end;     /* byte range of those records in the xorb file, [start, end) */
} store_term;

/* All terms of a content, in file order; *terms is owned by the caller (free). */
HG_MUST_CHECK hg_err store_content_terms(store *st, int64_t content_id, store_term **terms,
                                         size_t *n);

/* The path of a xorb file and its size; HG_ERR_NOTFOUND if the index does not know the hash. */
HG_MUST_CHECK hg_err store_xorb_locate(store *st, const xet_hash *h, char *path, size_t cap,
                                       uint64_t *size);

typedef struct store_chunk_info {
    uint32_t raw_len;
    uint32_t rec_len;
    uint64_t rec_off;
} store_chunk_info;
/* Chunks [start, end) of a xorb: out has end - start entries. */
HG_MUST_CHECK hg_err store_xorb_chunk_info(store *st, int64_t xorb_id, uint32_t start,
                                           uint32_t end, store_chunk_info *out);
/* HG_OK if a file of the commit's tree (root_tree) has this content, else HG_ERR_NOTFOUND. */
HG_MUST_CHECK hg_err store_commit_has_content(store *st, const git_oid *root_tree,
                                              int64_t content_id);

/* Opens a xorb file for reading (O_CLOEXEC; the caller closes it) and gives its size. */
HG_MUST_CHECK hg_err store_xorb_open(store *st, const xet_hash *h, int *fd, uint64_t *size);

/* Sequential/random reads of a content's bytes. */
typedef struct store_reader store_reader;
HG_MUST_CHECK hg_err store_reader_open(store *st, const store_content *c, store_reader **out);
/* Reads up to len bytes at offset; returns the count in *got (0 at end).  On an error, *got
 * still counts the good bytes read before it. */
HG_MUST_CHECK hg_err store_reader_read(store_reader *r, uint64_t offset, uint8_t *buf, size_t len,
                                       size_t *got);
/* Opens every xorb file the content needs and checks its size: HG_ERR_CORRUPT if one is missing
 * or truncated.  A server calls it before it commits to a 200. */
HG_MUST_CHECK hg_err store_reader_check(store_reader *r);
void store_reader_close(store_reader **r);

/* ---- the pull-through cache (store_upstream.c) ---- */
/* A stored content by its sha256 (LFS oid) or its git blob id; HG_ERR_NOTFOUND if absent. */
HG_MUST_CHECK hg_err store_content_by_sha256(store *st, const uint8_t sha256[32], store_content *out);
HG_MUST_CHECK hg_err store_content_by_blob(store *st, const git_oid *blob, store_content *out);
/* Ingests size bytes read from fd (from offset 0) as one content, durably, and describes it.
 * Chunks already stored are reused. */
HG_MUST_CHECK hg_err store_add_content_fd(store *st, int fd, uint64_t size, store_content *out);

/* Records that upstream showed content_id in commit_hex of the (non-local) repo; _linked answers
 * HG_OK if it did, HG_ERR_NOTFOUND otherwise. */
HG_MUST_CHECK hg_err store_upstream_link(store *st, store_repo_type type, const char *repo,
                                         const char *commit_hex, int64_t content_id);
HG_MUST_CHECK hg_err store_upstream_linked(store *st, store_repo_type type, const char *repo,
                                           const char *commit_hex, int64_t content_id);

/* An upstream answer kept under a key. */
typedef struct store_cached {
    int status;
    char *headers;     /* JSON object of the headers that matter (owned) */
    uint8_t *body;     /* owned */
    size_t body_len;
    int64_t fetched;   /* unix seconds */
    int64_t expires;   /* unix seconds; 0 = never (commit-addressed) */
} store_cached;
void store_cached_clear(store_cached *c);
HG_MUST_CHECK hg_err store_cache_get(store *st, const char *key, store_cached *out);
HG_MUST_CHECK hg_err store_cache_put(store *st, const char *key, const store_cached *c);

/* ---- writing: ingest sessions and imports ---- */
typedef struct store_ingest store_ingest;

HG_MUST_CHECK hg_err store_ingest_begin(store *st, store_ingest **out);
/* Streams one file's bytes; store_ingest_file_end returns its content description (id 0 until the
 * session commits). */
HG_MUST_CHECK hg_err store_ingest_file_begin(store_ingest *in, uint64_t size);
HG_MUST_CHECK hg_err store_ingest_file_write(store_ingest *in, const void *data, size_t len);
HG_MUST_CHECK hg_err store_ingest_file_end(store_ingest *in, store_content *out, size_t *file_index);
void store_ingest_abort(store_ingest **in);

/* Statistics of a session, for logs and tests. */
typedef struct store_ingest_stats {
    uint64_t logical_bytes;  /* bytes given to the session */
    uint64_t new_chunk_bytes; /* uncompressed bytes of chunks not stored before */
    uint64_t stored_bytes;   /* bytes of xorb files written */
    uint64_t chunks, new_chunks;
    uint64_t xorbs;
} store_ingest_stats;
void store_ingest_get_stats(const store_ingest *in, store_ingest_stats *out);

typedef struct store_import_options {
    store_repo_type type;
    const char *repo;     /* "ns/name" */
    const char *branch;   /* default "main" */
    const char *tag;      /* optional */
    const char *message;  /* default "Import from <dir>" */
    const char *author;   /* default "hubgate <hubgate@localhost>" */
    int private_;
    int64_t time;         /* commit time; 0 = now */
} store_import_options;

typedef struct store_import_result {
    git_oid commit;
    int unchanged; /* the snapshot equals the branch head: no new commit */
    store_ingest_stats stats;
    uint64_t files;
} store_import_result;

/* Checks the options alone (repo id, branch, tag, author), before anything is opened or written;
 * errors are logged. */
HG_MUST_CHECK hg_err store_import_validate(const store_import_options *opt);
/* Imports the regular files under src_dir as a new commit on the branch (creating the repo). */
HG_MUST_CHECK hg_err store_import_dir(store *st, const char *src_dir,
                                      const store_import_options *opt,
                                      store_import_result *res);

/* ---- access tokens hubgate issues (store_token.c) ----
 * A token is STORE_TOKEN_PREFIX + 40 lowercase hex digits (160 random bits from getrandom); the
 * "hf_" start keeps it usable by @huggingface/hub, which refuses other tokens.  Only its SHA-256
 * is stored.  A grant gives read access to private local repos (STAR below stands for '*'):
 *   "STAR"                   everything
 *   "ORG" or "ORG/STAR"      every repo of the organisation (a legacy one-segment repo is its
 *                            own organisation)
 *   "ORG/NAME"               that repo id, whatever its type
 *   "TYPES/..."              the same limited to one type: TYPES is models, datasets or spaces
 *                            ("datasets/ORG/NAME", "datasets/ORG", "datasets/STAR")
 * Grants are stored normalised ("ORG" becomes "ORG/STAR", "TYPES" becomes "TYPES/STAR"). */
#define STORE_TOKEN_PREFIX "hf_hg_"
#define STORE_TOKEN_LEN    (sizeof STORE_TOKEN_PREFIX - 1 + 40)
#define STORE_TOKEN_GRANTS_MAX 1024 /* bytes of the space-separated grant list */

typedef struct store_token_info {
    int64_t id;
    char name[128];      /* "" when unnamed */
    char fingerprint[9]; /* first 8 hex digits of sha256(token): safe to print and log */
    char grants[STORE_TOKEN_GRANTS_MAX];
    int64_t created, expires, revoked; /* Unix seconds; expires 0 = never, revoked 0 = not */
} store_token_info;

/* Normalises one grant into out (see above); HG_ERR_INVAL if it is not one. */
HG_MUST_CHECK hg_err store_token_grant_norm(const char *grant, char *out, size_t cap);
/* 1 if the normalised grant list (space-separated) covers the repo. */
int store_token_grants_cover(const char *grants, store_repo_type type, const char *repo);
/* The fingerprint of any bearer token (hubgate's or not). */
void store_token_fingerprint(const char *token, char out[9]);
/* Creates a token (name may be NULL; expires 0 = never) and writes its secret text to token
 * (cap > STORE_TOKEN_LEN).  HG_ERR_INVAL: bad grant or name; HG_ERR_CORRUPT: the name is taken. */
HG_MUST_CHECK hg_err store_token_create(store *st, const char *name, const char *const *grants,
                                        size_t ngrants, int64_t expires, char *token, size_t cap,
                                        store_token_info *out);
typedef int (*store_token_cb)(void *arg, const store_token_info *t);
HG_MUST_CHECK hg_err store_token_list(store *st, store_token_cb cb, void *arg);
/* Revokes the token with this decimal id or name (out describes it, revoked already or not);
 * HG_ERR_NOTFOUND if there is none. */
HG_MUST_CHECK hg_err store_token_revoke(store *st, const char *id_or_name, store_token_info *out);
/* HG_OK if token is a hubgate token that is neither revoked nor expired and whose grants cover
 * the repo (then *id is its id, when id is not NULL); HG_ERR_DENIED otherwise (unknown tokens
 * included); other errors are index failures.  Reads the index each time, so a revocation
 * counts from the next request on. */
HG_MUST_CHECK hg_err store_token_allows(store *st, const char *token, store_repo_type type,
                                        const char *repo, int64_t *id);
/* HG_OK if the token with this id is neither revoked nor expired, HG_ERR_DENIED if it is (or
 * does not exist).  For credentials derived from a token (Xet tokens, signed xorb URLs), so
 * that revoking the token ends them too. */
HG_MUST_CHECK hg_err store_token_alive(store *st, int64_t id);

/* Calls cb with the path of every file of the commit's tree (root_tree) that has this content
 * (for policies on file names when a request names a content, not a path). */
typedef int (*store_path_cb)(void *arg, const char *path);
HG_MUST_CHECK hg_err store_content_paths(store *st, const git_oid *root_tree, int64_t content_id,
                                         store_path_cb cb, void *arg);

/* ---- verification ---- */
typedef struct store_verify_report {
    uint64_t xorbs, xorbs_bad, xorbs_missing;
    uint64_t contents, contents_bad;
    uint64_t commits, commits_bad;
    uint64_t orphan_files;
} store_verify_report;

/* Re-hashes every xorb and every content; problems are logged one per line. */
HG_MUST_CHECK hg_err store_verify(store *st, store_verify_report *rep);

/* Removes xorb files the index does not know: what ingest sessions that never committed left
 * (store_gc.c).  The files are found without a lock, then looked up again and deleted under an
 * exclusive lock that waits for every live ingest session to end; HG_ERR_AGAIN if they do not
 * within wait_s seconds.  dry_run: count only. */
typedef struct store_gc_report {
    uint64_t orphans, orphan_bytes; /* removed (or, for a dry run, removable) */
    uint64_t foreign;               /* files under xorbs/ whose names are not xorb hashes: kept */
} store_gc_report;
HG_MUST_CHECK hg_err store_gc(store *st, int dry_run, unsigned wait_s, store_gc_report *rep);

/* Offline eviction of contents fetched from upstream (those no local repo's tree names), least
 * recently used first, until the xorbs take at most target bytes (store_evict.c).
 * HG_ERR_AGAIN with rep->busy naming who holds the store: a serving process (never waited
 * for) or an import (waited for up to wait_s seconds). */
typedef struct store_evict_report {
    uint64_t contents, content_bytes; /* contents evicted, their logical size */
    uint64_t xorbs, xorb_bytes;       /* xorb files removed */
    uint64_t stored_before, stored_after;
    const char *busy;
} store_evict_report;
HG_MUST_CHECK hg_err store_evict_upstream(store *st, uint64_t target, unsigned wait_s, store_evict_report *rep);
/* Records that a content was served or stored now, for eviction's order (least recently used
 * first).  Cheap enough for every request: a content is written at most every 10 minutes per
 * process, and never waits for the index (a busy index skips the write; the next use retries). */
void store_content_used(store *st, int64_t content_id);
/* Held (shared) by a serving process for its lifetime, so that eviction cannot run beside it:
 * HG_ERR_AGAIN while an eviction runs.  Release with store_unlock. */
HG_MUST_CHECK hg_err store_serve_lock(store *st, int *fd);
/* Releases a lock of the store (a no-op for -1). */
void store_unlock(int *fd);

/* Aggregate numbers: logical bytes of all contents, stored bytes of all xorbs. */
HG_MUST_CHECK hg_err store_usage(store *st, uint64_t *logical, uint64_t *stored,
                                 uint64_t *unique_chunk_bytes);

#endif
