/*
 * git.h - git object ids as the Hugging Face Hub computes them: blob ids (the etag of a non-LFS
 * file), Git LFS pointer files, which paths the Hub stores in LFS, tree ids of a snapshot and
 * commit ids.
 *
 * Job: given bytes and metadata, produce the exact object ids that git (and so the Hub) would
 * produce for the same content, so that hubgate's commit ids, tree ids and file etags match
 * upstream byte for byte.  The expected values in tests/unit/test_git.c come from real git.
 *
 * Invariants:
 *  - Pure: no I/O, no global mutable state; the only work besides formatting is SHA-1 over
 *    the bytes given (OpenSSL EVP; git's "sha1" object format, which the Hub uses).  SHA-256
 *    digests of LFS content are computed by the caller and only formatted or parsed here.
 *  - Every object is hashed as "<type> <decimal length>\0<body>", exactly like git.
 *  - Input from outside (paths, pointer files, hex) is validated; malformed input yields
 *    HG_ERR_INVAL or HG_ERR_CORRUPT, never an assertion or an out-of-bounds access.
 *    Allocation failure yields HG_ERR_NOMEM.
 *  - Text output (hex ids, pointer files) is always lower case; hex input accepts either case.
 *
 * Thread-safety: all functions are reentrant.  A git_blob_hasher belongs to one thread at a time;
 * distinct hashers may be used concurrently.
 */
#ifndef HG_GIT_H
#define HG_GIT_H

#include <stddef.h>
#include <stdint.h>

#include "util/hg_err.h"

/* ---- object ids ---- */
typedef struct git_oid {
    uint8_t b[20];
} git_oid;

#define GIT_OID_HEX_LEN 40

/* Writes 40 lowercase hex digits and a NUL into out. */
void git_oid_to_hex(const git_oid *id, char out[GIT_OID_HEX_LEN + 1]);
/* Parses exactly 40 hex digits (either case) from s[0..n).  HG_ERR_INVAL otherwise. */
HG_MUST_CHECK hg_err git_oid_from_hex(const char *s, size_t n, git_oid *out);
int git_oid_eq(const git_oid *a, const git_oid *b);

/* Well-known ids. */
extern const git_oid GIT_OID_EMPTY_BLOB; /* e69de29bb2d1d6434b8b29ae775ad8c2e48c5391 */
extern const git_oid GIT_OID_EMPTY_TREE; /* 4b825dc642cb6eb9a060e54bf8d69288fbee4904 */

/* ---- blobs ---- */

/*
 * Streaming blob hasher: SHA-1 of "blob <size>\0" followed by the content.  The size must be
 * declared up front (it is part of the header), so the fed byte count is checked against it.
 * Usage: init, update*, final.  final (or abort) always releases the hasher; after a failed
 * init nothing needs releasing.
 */
typedef struct git_blob_hasher {
    void *ctx;         /* EVP_MD_CTX *, opaque */
    uint64_t declared; /* size given to init */
    uint64_t fed;      /* bytes given to update so far */
} git_blob_hasher;

HG_MUST_CHECK hg_err git_blob_hasher_init(git_blob_hasher *h, uint64_t size);
/* HG_ERR_CORRUPT as soon as more than the declared size has been fed. */
HG_MUST_CHECK hg_err git_blob_hasher_update(git_blob_hasher *h, const void *data, size_t n);
/* HG_ERR_CORRUPT if the bytes fed differ from the declared size (out is then untouched). */
HG_MUST_CHECK hg_err git_blob_hasher_final(git_blob_hasher *h, git_oid *out);
/* Releases a hasher without producing an id (safe on a released or zeroed hasher). */
void git_blob_hasher_abort(git_blob_hasher *h);

/* One-shot blob id of data[0..n). */
HG_MUST_CHECK hg_err git_blob_id(const void *data, size_t n, git_oid *out);

/* ---- Git LFS pointers (git-lfs spec v1) ---- */

/*
 * The canonical pointer text:
 *   "version https://git-lfs.github.com/spec/v1\n"
 *   "oid sha256:<64 lowercase hex>\n"
 *   "size <decimal>\n"
 * Its length is 125 + the number of decimal digits of size (a 1234-byte file: 129 bytes; the
 * Hub's "Pointer size: 134 Bytes" is a file of 9 digits, 100 MB..1 GB).  The Hub's etag of an
 * LFS file is its sha256; the tree holds the blob of this pointer text.
 */
#define GIT_LFS_POINTER_MAX 145 /* 125 + 20 digits of UINT64_MAX */

/* Writes the pointer text into out[0..cap) and its length into *len; a NUL follows when
 * cap > *len.  HG_ERR_TOOBIG if cap < the pointer length (GIT_LFS_POINTER_MAX always fits). */
HG_MUST_CHECK hg_err git_lfs_pointer(const uint8_t sha256[32], uint64_t size, char *out,
                                     size_t cap, size_t *len);
/*
 * Strict parser: accepts exactly the canonical form above (lowercase hex, size without leading
 * zeros, each line ending in '\n', nothing else).  HG_ERR_CORRUPT otherwise.  Pointer files
 * with extensions ("ext-..." lines) or other versions are not produced by the Hub and are
 * rejected as HG_ERR_CORRUPT too.
 */
HG_MUST_CHECK hg_err git_lfs_pointer_parse(const char *text, size_t n, uint8_t sha256[32],
                                           uint64_t *size);
/* The blob id of the pointer of (sha256, size): the tree entry of an LFS file. */
HG_MUST_CHECK hg_err git_lfs_pointer_blob_id(const uint8_t sha256[32], uint64_t size,
                                             git_oid *out);

/* ---- which files the Hub stores in LFS ---- */

enum { GIT_REPO_MODEL = 0, GIT_REPO_DATASET = 1, GIT_REPO_SPACE = 2 };

/* The Hub rejects regular (non-LFS) files "larger than 10 MiB" (its pre-receive hook says so),
 * so anything above 10,485,760 bytes is LFS whatever its name.  Not modelled here: the Hub
 * also refuses non-LFS *binary* files over 1 MB (huggingface_hub PR #657, 2022); telling
 * binary from text needs the content, which this function does not see. */
#define GIT_LFS_SIZE_THRESHOLD ((uint64_t)10 * 1024 * 1024)

/*
 * 1 when a file at path (repo-relative, '/'-separated) of size bytes is stored in LFS by the
 * Hub for a repo of repo_type without a custom .gitattributes, else 0:
 *  - size 0: never (git-lfs leaves empty files alone; huggingface_hub uploads them regular);
 *  - size > GIT_LFS_SIZE_THRESHOLD: always;
 *  - otherwise when path matches a pattern of git_default_gitattributes(repo_type), matched as
 *    git matches .gitattributes: slash-less patterns against the basename, case-sensitive;
 *    the saved_model pattern (spaces added here: "saved_model/ ** / *") anchored at the root,
 *    so it covers every file below a top-level saved_model/; a pattern never applies to the
 *    files below a directory whose name matches it ("x.zip/a" is not LFS by "*.zip").
 * An unknown repo_type is treated as a model.  NULL path: 0.
 */
int git_path_is_lfs(const char *path, uint64_t size, int repo_type);
/* The .gitattributes the Hub writes into a new repo of that type (static NUL-terminated
 * text); imports of a folder without one add it. */
const char *git_default_gitattributes(int repo_type);

/* ---- trees ---- */

enum {
    GIT_MODE_FILE = 0100644,
    GIT_MODE_EXEC = 0100755,
    GIT_MODE_LINK = 0120000, /* symlink: blob holds the target; rare on the Hub */
    GIT_MODE_TREE = 040000,
};

typedef struct git_tree_file {
    const char *path; /* '/'-separated, relative, NUL-terminated */
    uint32_t mode;    /* GIT_MODE_FILE, GIT_MODE_EXEC or GIT_MODE_LINK */
    git_oid oid;      /* blob id; for an LFS file the id of its pointer blob */
} git_tree_file;

/* Called once per directory, children before parents, the root ("") last; dir_path is valid
 * only during the call.  A non-zero return stops the build and is returned by
 * git_build_trees (then *root is left untouched). */
typedef hg_err (*git_tree_cb)(void *arg, const char *dir_path, const git_oid *tree_oid);

/*
 * Computes every tree object of the snapshot made of files[0..n) (any order) exactly as git
 * would (entries in git's order: names compared bytewise as if directories had a trailing
 * '/'), calls cb (may be NULL) for each directory and stores the root tree id in *root.
 * n == 0 gives the empty tree.  O(total path bytes + n log n).
 * HG_ERR_INVAL for: an invalid path (see git_path_valid), a bad mode, the same path twice, or a
 * path that is both a file and a directory.
 */
HG_MUST_CHECK hg_err git_build_trees(const git_tree_file *files, size_t n, git_tree_cb cb,
                                     void *arg, git_oid *root);

/*
 * 1 when path is acceptable as a file path in a tree: non-empty, no leading or trailing '/',
 * no empty ("//"), "." or ".." component, and no component ".git" in any letter case (git fsck
 * flags such trees and clients refuse to check them out).  Other bytes, control characters and
 * non-UTF-8 included, are allowed as git allows them (NUL cannot occur in a C string).
 */
int git_path_valid(const char *path);

/* ---- commits ---- */

/* 1 if a is a valid commit author: "Name <email>", a non-empty name, no newline, no other
 * '<' or '>'. */
int git_author_valid(const char *a);

/*
 * The commit object body (without the "commit <len>\0" header):
 *   "tree <hex>\n" ("parent <hex>\n")* "author <author> <time> +0000\n"
 *   "committer <author> <time> +0000\n" "\n" <message>
 * where a non-empty message gets a final '\n' if it lacks one (as `git commit-tree -m` does)
 * and an empty one stays empty.  author must be "Name <email>": a non-empty name and an email
 * without '<', '>' or '\n' (HG_ERR_INVAL otherwise); unix_time must be >= 0 (HG_ERR_INVAL).
 * *out is malloc'd and NUL-terminated (the NUL is not counted in *len); the caller frees it.
 */
HG_MUST_CHECK hg_err git_commit_object(const git_oid *tree, const git_oid *parents,
                                       size_t nparents, const char *author, int64_t unix_time,
                                       const char *message, char **out, size_t *len);
HG_MUST_CHECK hg_err git_commit_id(const git_oid *tree, const git_oid *parents, size_t nparents,
                                   const char *author, int64_t unix_time, const char *message,
                                   git_oid *out);

/* SHA-1 of "<type> <len>\0" + body: the id of any loose object.  type is "blob", "tree",
 * "commit" or "tag". */
HG_MUST_CHECK hg_err git_object_id(const char *type, const void *body, size_t len, git_oid *out);

#endif
