/*
 * hub_scan.h - the model-file scanner (lib/scan) in the serving path.
 *
 * Every LFS content is judged once (per sha256 and scanner rule version) and the verdict kept in
 * the store.  What a verdict means is the serving mode (--scan):
 *   block  a "block" verdict is refused (403, X-Error-Code BlockedByScanner, the findings named
 *          in X-Error-Message); "warn" is served with X-Hubgate-Scan: warn and logged;
 *   warn   everything is served, "block" and "warn" flagged in X-Hubgate-Scan and the log;
 *   off    no scanning.
 * Local contents are judged on first use (from a contiguous temporary copy of their chunks);
 * upstream downloads are judged by the download itself before the bytes are released
 * (hub_flight.c): whole-body formats (pickles, zip checkpoints...) only after the last byte,
 * safetensors once its header has passed.
 *
 * Threading: any thread; the functions keep no state of their own.
 */
#ifndef HG_HUB_SCAN_H
#define HG_HUB_SCAN_H

#include <stdint.h>

#include "http/http.h"
#include "store/store.h"

typedef enum { HUB_SCAN_OFF = 0, HUB_SCAN_WARN, HUB_SCAN_BLOCK } hub_scan_mode;

/* "block", "warn" or "off" -> the mode; -1 if unknown. */
int hub_scan_mode_parse(const char *s);

typedef struct hub_scan_info {
    int known;          /* a verdict exists (else nothing is said about the file) */
    int verdict;        /* scan_verdict */
    char format[32];
    char summary[600];  /* the worst findings, e.g. "pickle.global.denied os.system in archive/data.pkl" */
} hub_scan_info;

/* The kept verdict on the content with this sha256 (HG_ERR_NOTFOUND: none by today's rules),
 * also when its bytes are not stored (a download that was refused). */
HG_MUST_CHECK hg_err hub_scan_stored(store *st, const uint8_t sha256[32], hub_scan_info *out);
/* The verdict on a stored content: kept, else judged now from its chunks (and kept). */
HG_MUST_CHECK hg_err hub_scan_content(store *st, const store_content *ct, const char *name,
                                      hub_scan_info *out);
/* Judges the size bytes of fd, the content with this sha256, and keeps the verdict (keep = 0:
 * a provisional judgement, not stored; used on a safetensors header before the body arrived). */
HG_MUST_CHECK hg_err hub_scan_fd(store *st, const uint8_t sha256[32], int fd, uint64_t size, const char *name,
                                 int keep, hub_scan_info *out);
/* The policy's name (hub_policy.h "formats") for a format the scanner found, or NULL:
 * pickle, PyTorch zip and legacy files -> "pickle", npy/npz -> "numpy", Keras/HDF5 -> "keras"... */
const char *hub_scan_policy_format(const char *scan_format);
/* Applies the mode to a verdict for a response about path: 1 when the response became a 403,
 * else 0 after adding X-Hubgate-Scan (and X-Hubgate-Scan-Findings) where there is something to
 * say. */
int hub_scan_apply(hub_scan_mode mode, const hub_scan_info *info, const char *path, http_response *resp);

#endif
