/*
 * hub_flight.h - single-flight upstream downloads that clients read while they grow.
 *
 * One transfer per content, keyed by its upstream identity (the sha256 of an LFS file, the git
 * blob id of a regular file), whatever the number of clients asking for it.  The transfer runs
 * on a thread of its own and streams the upstream body into an unlinked file under tmp/,
 * hashing as it goes; clients read that file with pread as it grows and are parked
 * (http_park) when they catch up, resumed when more bytes arrive.  Nothing waits on a thread.
 *
 * Invariants:
 *  - The last byte of every response is withheld until the whole body has the size and hash
 *    upstream announced (a Range response too: a sha256 or git blob id says nothing about a
 *    part).  On failure every reader is aborted, so a client never completes a download of bad
 *    bytes: it sees a short body (and Python, say, resumes with a Range into a new flight).
 *  - With the scanner on, an LFS body is held back until the scanner may judge it: formats it
 *    judges from the header (safetensors) from the header on, formats that need the whole body
 *    (pickles, zip checkpoints, npy, gguf...: whatever the scanner cannot call opaque data from
 *    the first 64 KiB) after the last byte (hub_scan.h); opaque data streams at once and is
 *    judged when complete.
 *  - Verified bytes are ingested into the store (chunked into xorbs, deduplicated) before the
 *    flight leaves the registry, so a later request finds either the flight or the content.
 *  - A Range read far ahead of the transfer gets its region fetched first (a Range request of
 *    its own, into a file of its own), so that its bytes come as soon as upstream sends them;
 *    the region is compared with the verified file before that response may complete.
 *  - A client that disconnects only drops its reference: the transfer goes on for the others
 *    and for the cache.  Memory stays bounded: bodies live in the file, never in memory.
 *
 * Threading: the registry has one mutex (the table, reference counts); each flight has its own
 * (bytes written, state, regions, parked readers).  Readers run on HTTP worker threads, the
 * transfer and each region on a detached thread of their own; hub_flights_stop aborts transfers
 * and waits for all of these threads.
 */
#ifndef HG_HUB_FLIGHT_H
#define HG_HUB_FLIGHT_H

#include <stdint.h>
#include <sys/types.h>

#include "http/http.h"
#include "store/store.h"
#include "upstream/upstream.h"

typedef struct hub_flights hub_flights;
struct hub_files;
typedef struct hub_flight hub_flight;

/* files (may be NULL) receives every verified download as a plain copy (hub_files.h). */
HG_MUST_CHECK hg_err hub_flights_new(store *st, upstream *up, struct hub_files *files, hub_flights **out);
/* Aborts every transfer, wakes every parked reader (they fail) and waits for the threads. */
void hub_flights_stop(hub_flights *fs);
void hub_flights_free(hub_flights **fs);
/* Transfers started since the start, for /metrics. */
unsigned long hub_flights_started(hub_flights *fs);
/* Regions fetched first for reads ahead of their transfer, since the start (hub_flight_read). */
unsigned long hub_flights_regions(hub_flights *fs);

/* What to fetch and how to verify it.  Strings are copied. */
typedef struct hub_flight_spec {
    const char *id;            /* identity in hex: the registry key */
    const char *path;          /* upstream resolve path of the file */
    const char *authorization; /* the client's Authorization, or NULL for the gateway's own */
    uint64_t size;
    int is_lfs;                /* verify sha256 (LFS) or the git blob id (regular files) */
    uint8_t sha256[32];
    git_oid blob;
    /* upstream's answer to a HEAD of path just now, or NULL: a new transfer starts from it
     * instead of asking again (one round trip less before the first byte) */
    const upstream_response *head;
    int scan_mode;             /* hub_scan_mode for this transfer (the policy may change it) */
    /* Asked under the registry's lock when no transfer of id is running, before one starts:
     * 1 if the content is stored by now (a transfer ended between the caller's own lookup and
     * this join).  NULL: not asked. */
    int (*stored)(void *arg);
    void *stored_arg;
} hub_flight_spec;

/* Joins the transfer of spec->id, starting it if there is none; *out holds a reference.
 * HG_ERR_AGAIN (no reference) when spec->stored says the content was stored meanwhile: the
 * caller looks it up again rather than download it twice. */
HG_MUST_CHECK hg_err hub_flight_join(hub_flights *fs, const hub_flight_spec *spec, hub_flight **out);
/* Waits until the first bytes arrived or the transfer ended, so that a transfer that cannot
 * even start becomes an error status rather than a truncated 200.  HG_OK, or the transfer's
 * error (HG_ERR_CORRUPT: bad bytes; HG_ERR_UPSTREAM: unreachable) with msg set. */
HG_MUST_CHECK hg_err hub_flight_wait_start(hub_flight *f, char *msg, size_t cap);
/* Copies bytes at off that are available: >0 bytes, -1 if the transfer failed, 0 if none are
 * there yet (then the reader is parked when park is non-NULL, and resumed when there are).
 * The byte at hold (the last one of a response: UINT64_MAX for none) and the file's last byte
 * are released only once the whole file verified, so that no response (a Range one included)
 * completes with bytes that may still fail verification.
 *
 * A read far ahead of the transfer (a Range into a region not fetched yet) has that region
 * fetched first, with a Range request of its own, and is served from it as it arrives; *used
 * (0 at the start of a response, kept by the caller between calls) records the regions it was
 * given bytes from, and its held byte then also waits until those bytes were found equal to the
 * verified file's (-1 if they were not: the response is cut off). */
ssize_t hub_flight_read(hub_flight *f, uint64_t off, char *buf, size_t len, uint64_t hold, unsigned *used,
                        http_park *park);
/* A response will read bytes [off, last] of f: fetches them first now if the transfer is far
 * behind (as hub_flight_read would on the first read), so that they come in parallel with the
 * transfer's first bytes. */
void hub_flight_prefetch(hub_flight *f, uint64_t off, uint64_t last);
/* The scanner's verdict on the transfer's bytes, as far as hub_flight_wait_start let them
 * through (info->known 0: none, scanning is off or the format needs none before release). */
struct hub_scan_info;
void hub_flight_scan(hub_flight *f, struct hub_scan_info *info);
/* Another reference to f (for a response body). */
hub_flight *hub_flight_ref(hub_flight *f);
void hub_flight_release(hub_flight **f);

#endif
