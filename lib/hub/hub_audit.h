/*
 * hub_audit.h - the audit log (`serve --audit-log FILE`): one JSON line per request that touches
 * a repo or content (resolve/raw, the api routes, Xet tokens, reconstructions, xorbs).
 *
 * Line format (keys always present, in this order; null when unknown or not applicable):
 *   {"time": "2026-12-05T12:00:00.123Z",   request start, UTC, milliseconds
 *    "client": "127.0.0.1",                client address
 *    "token": "1a2b3c4d",                  first 8 hex digits of sha256(bearer token) or null;
 *                                          the token itself is never written
 *    "method": "GET", "route": "resolve",
 *    "type": "model", "repo": "org/name",  for CAS routes, the repo of the Xet token
 *    "revision": "main",                   as requested
 *    "commit": "<40 hex>",                 what it resolved to, where known
 *    "path": "dir/file.bin",               file or folder path (truncated to 512 bytes)
 *    "hash": "<64 hex>",                   Xet file hash (reconstructions) or xorb hash (xorbs)
 *    "status": 200, "bytes": 1234,         body bytes sent (0 for HEAD, 304...); null if the
 *                                          connection ended early and the count is unknown
 *    "complete": true,                     false if the connection ended before the response did
 *    "ms": 3,                              duration until the response was done
 *    "cache": "hit",                       upstream repos: "hit" when the answer or body was
 *                                          already here, "miss" when it came from upstream;
 *                                          null for local repos
 *    "verdict": "deny", "rule": 3,         policy verdict ("allow"/"deny") and rule (0 = default)
 *    "scan": "block"}                      the model-file scanner's verdict on the file, where
 *                                          one was given (hub_scan.h)
 *
 * Writes: one write(2) per line on an O_APPEND descriptor, lines kept under 4 KiB (long fields
 * are truncated), under a mutex in the process; O_APPEND keeps lines whole across processes.
 * Rotation: hub_audit_reopen (SIGHUP) reopens the file; so does a write that finds the path now
 * names another file or none (renamed or removed by logrotate), looked at no more than once per
 * second.
 *
 * Threading: hub_audit_write and hub_audit_reopen may be called from any thread.
 */
#ifndef HG_HUB_AUDIT_H
#define HG_HUB_AUDIT_H

#include <stdint.h>

#include "store/store.h"
#include "util/hg_err.h"

typedef struct hub_audit hub_audit;

typedef struct hub_audit_rec {
    int64_t start_ms;    /* CLOCK_REALTIME milliseconds */
    int64_t start_mono_ms;
    char client[64];
    char token[9];       /* fingerprint, "" = no token */
    char method[16];
    const char *route;   /* static name */
    int has_repo;
    store_repo_type type;
    char repo[256];
    char revision[256];
    char commit[41];
    char path[520];
    char hash[65];
    int status;
    int64_t bytes;       /* -1: unknown */
    int complete;
    const char *cache;   /* static "hit"/"miss" or NULL */
    const char *verdict; /* static "allow"/"deny" or NULL */
    unsigned rule;
    const char *scan;    /* static "allow"/"warn"/"block": the scanner's verdict, or NULL */
} hub_audit_rec;

HG_MUST_CHECK hg_err hub_audit_open(const char *path, hub_audit **out);
void hub_audit_close(hub_audit **a);
/* Reopens the file (after logrotate renamed it); errors are logged and the old descriptor kept. */
void hub_audit_reopen(hub_audit *a);
/* Fills the start fields of a record (time, client). */
void hub_audit_rec_start(hub_audit_rec *r);
/* Appends one line; failures are logged (at most once per minute) and otherwise ignored. */
void hub_audit_write(hub_audit *a, const hub_audit_rec *r);

#endif
