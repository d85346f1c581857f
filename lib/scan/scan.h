/*
 * scan.h - the model-file scanner: decides whether a stored file may be served (allow), served
 * with a note (warn) or refused (block), without ever executing anything it reads.
 *
 * What it understands (shared/docs/security.md is the threat model; section numbers refer to it):
 *  - pickles, protocols 0-5 (scan_pickle.c): a symbolic model of the pickle machine (stack, marks,
 *    memo, frames) that records every import and call and judges them by an ALLOWLIST of the
 *    globals PyTorch, NumPy, joblib and collections state use (2.4, 2.8); the denylist only names
 *    what was found.  Anything the model cannot follow is a finding, never a pass.
 *  - zip containers with a strict reader of our own (scan_zip.c): PyTorch checkpoints, .npz,
 *    .keras and generic archives; every member is scanned by content.
 *  - safetensors headers (scan_safetensors.c), NumPy .npy, Keras config, GGUF metadata and ONNX
 *    external-data paths (scan_formats.c), legacy PyTorch and joblib streams (scan.c).
 * The format is decided by content (magic bytes); the name only breaks ties (1.6, 0.1).
 *
 * Memory is bounded whatever the file size: headers and pickles are read (pickles up to
 * SCAN_MAX_PICKLE), tensor data is never read.  A multi-GB safetensors file costs one header read.
 *
 * Threading: no global state besides constant tables; a scan_result belongs to its caller, and
 * any number of scans may run concurrently on distinct results.
 *
 * Errors: the functions return HG_OK once the file was judged (malformed content is a finding,
 * not an error); HG_ERR_IO when the file cannot be read, HG_ERR_NOMEM on allocation failure.
 */
#ifndef HG_SCAN_H
#define HG_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "util/hg_err.h"

/* Ordered: a file's verdict is the worst severity among its findings. */
typedef enum {
    SCAN_ALLOW = 0, /* for a finding: an informational note */
    SCAN_WARN = 1,
    SCAN_BLOCK = 2,
} scan_verdict;

/* Bumped whenever a change of the rules could change a verdict: stored verdicts of an older
 * version are judged again (hub_scan.c). */
#define SCAN_RULES_VERSION 1

#define SCAN_MAX_PICKLE   (256u << 20)  /* bytes of one pickle we analyse; more is a finding */
#define SCAN_MAX_FINDINGS 256           /* per file; the rest is summarised by one finding */

typedef struct scan_finding {
    const char *id;       /* stable machine id, e.g. "pickle.global.denied" (static) */
    scan_verdict severity;
    char *message;        /* owned, human readable */
    char *global;         /* owned "module.name" when the finding is about a global, else NULL */
    char *member;         /* owned container member path ("archive/data.pkl"), else NULL */
    int64_t offset;       /* byte offset (in the member when member is set), -1 if none */
} scan_finding;

typedef struct scan_result {
    const char *format;   /* static: "pickle", "pytorch-zip", "safetensors", ... "unknown" */
    scan_verdict verdict;
    scan_finding *findings; /* owned array */
    size_t nfindings;
    size_t afindings;
    size_t dropped;       /* findings beyond SCAN_MAX_FINDINGS */
} scan_result;

/* Scans the size bytes of fd (read with pread only; the file offset is not used or changed).
 * name_hint is the file name or path in its repository (may be NULL); only its extension is
 * used, as a tie-breaker.  On HG_OK *out holds the verdict and findings (free with
 * scan_result_free); on error *out is left empty. */
HG_MUST_CHECK hg_err scan_fd(int fd, uint64_t size, const char *name_hint, scan_result *out);
/* Same for bytes in memory (borrowed for the duration of the call). */
HG_MUST_CHECK hg_err scan_mem(const void *data, size_t size, const char *name_hint, scan_result *out);
/* Opens and scans a path (HG_ERR_IO if it cannot be opened or is not a regular file). */
HG_MUST_CHECK hg_err scan_path(const char *path, scan_result *out);

void scan_result_free(scan_result *r);

/* {"file": file, "format": ..., "verdict": "allow|warn|block", "findings": [{"id", "severity",
 *  "message", "global"?, "member"?, "offset"?}]}.  Returns a new reference or NULL (no memory). */
json_t *scan_result_json(const scan_result *r, const char *file);

/* "allow", "warn", "block" (finding severities print SCAN_ALLOW as "info"). */
const char *scan_verdict_name(scan_verdict v);
const char *scan_severity_name(scan_verdict v);

#endif
