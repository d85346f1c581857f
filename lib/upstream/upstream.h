/*
 * upstream.h - talking to the upstream Hub (huggingface.co, another hubgate, a fake in tests)
 * and to the CDN hosts its redirects point at.
 *
 * One call = one logical request with the retry policy applied: connection failures, resets,
 * 429 and 5xx are retried with exponential backoff and full jitter (Retry-After honoured, capped
 * by the deadline); a body that breaks off is resumed with a Range request from the last byte
 * received.  4xx answers other than 429 are final and returned to the caller as they are.
 *
 * Redirects are never followed blindly: a caller that wants a file body asks for it with
 * upstream_fetch_body, which follows the Hub's 302 to its CDN *without* forwarding the client's
 * Authorization to another host.  When the Hub advertises Xet for the file (X-Xet-Hash and a
 * Link rel="xet-auth"), the body comes from the Xet CAS instead, verified against the Xet file
 * hash (upstream_xet.c), with the plain download as the fallback.  Tokens never reach the logs:
 * URLs are logged without their query string.
 *
 * Threading: an upstream handle is shared; every call is blocking and runs on the caller's
 * thread with that thread's curl easy handle, kept between calls so that its connections are
 * reused (the gateway calls it from its job and download threads, never from the HTTP workers,
 * which defer the request instead); DNS answers and TLS sessions are shared by all threads.
 */
#ifndef HG_UPSTREAM_H
#define HG_UPSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include "util/hg_buf.h"
#include "util/hg_err.h"

typedef struct upstream upstream;

typedef struct upstream_config {
    const char *base_url;    /* e.g. https://huggingface.co (no trailing slash needed) */
    const char *token;       /* the gateway's own identity (HF_TOKEN), or NULL */
    unsigned connect_timeout_s; /* default 10 */
    unsigned deadline_s;     /* whole metadata call including retries, default 30 */
    unsigned stall_s;        /* abort a body that moves < 1 byte/s for this long, default 30 */
    unsigned retries;        /* extra attempts after the first, default 4 */
    unsigned backoff_ms;     /* first backoff, default 200; doubles, full jitter */
} upstream_config;

HG_MUST_CHECK hg_err upstream_new(const upstream_config *cfg, upstream **out);
/* Every thread must have called upstream_thread_exit by now (the caller's own handle is closed
 * here). */
void upstream_free(upstream **u);
/* Makes every call in progress, and every later one, fail at once (HG_ERR_UPSTREAM): for a
 * shutdown that must not wait for a stalled upstream's timeouts. */
void upstream_abort(upstream *u);
/* Closes the calling thread's connection handle.  Each thread keeps one (its connections stay
 * open between calls, so metadata calls and Xet range fetches reuse them); a thread that used
 * the upstream calls this before it ends or signals that it is done. */
void upstream_thread_exit(upstream *u);
const char *upstream_base_url(const upstream *u);

#define UPSTREAM_MAX_HEADERS 32

typedef struct upstream_header {
    char *name;  /* lower case */
    char *value;
} upstream_header;

typedef struct upstream_response {
    long status;               /* 0 if no HTTP answer was obtained */
    upstream_header headers[UPSTREAM_MAX_HEADERS];
    size_t nheaders;
    hg_buf body;               /* metadata calls only */
    char error[256];           /* why the call failed, for X-Error-Message */
    int via_xet;               /* upstream_fetch_body: the body came through the Xet CAS */
} upstream_response;

void upstream_response_init(upstream_response *r);
void upstream_response_clear(upstream_response *r);
/* A response header (case-insensitive name), or NULL. */
const char *upstream_header_get(const upstream_response *r, const char *name);

typedef struct upstream_request {
    const char *method;        /* GET, HEAD or POST */
    const char *path;          /* path and query on the upstream Hub, starting with '/' */
    const char *authorization; /* the client's Authorization header, or NULL for the gateway's */
    const char *content_type;  /* POST */
    const void *body;
    size_t body_len;
    size_t max_body;           /* cap on the answer (default 64 MiB) */
} upstream_request;

/* A metadata call: no redirect is followed (3xx come back as they are).  HG_OK whenever an HTTP
 * answer arrived (any status: check resp->status); HG_ERR_UPSTREAM when none did after the
 * retries (resp->error says why). */
HG_MUST_CHECK hg_err upstream_call(upstream *u, const upstream_request *req, upstream_response *resp);

/* Sink of a file body: called with consecutive bytes from offset 0 (a resumed transfer continues
 * where the last call stopped).  Returning non-zero aborts the transfer. */
typedef int (*upstream_sink_fn)(void *arg, const void *data, size_t len);

/* Downloads the body of url_or_path (a Hub path such as /{repo}/resolve/{commit}/{file}, or an
 * absolute URL), following redirects; expect_size (or UINT64_MAX if unknown) bounds it.  The
 * client's Authorization goes to the Hub host only.  resp gets the final status and headers.
 *
 * If the Hub's answer to HEAD advertises Xet, the body is reconstructed from the Xet CAS
 * instead (resp->via_xet set, resp->status 200, the headers those of the HEAD answer): the Xet
 * file hash of the chunks must equal X-Xet-Hash and the length expect_size, else HG_ERR_CORRUPT
 * (final).  A Xet failure before the sink saw any byte (token refused, CAS unreachable, a
 * malformed reconstruction...) falls back to the plain download and is logged.  Either way the
 * sink sees every byte once, in order; verifying the content's own digest stays the caller's.
 *
 * head, when not NULL, is the Hub's answer to a HEAD of the same URL that the caller has just
 * obtained (status and headers): it stands for the HEAD this call would make, saving a round
 * trip before the first byte.  A redirect target that has expired meanwhile is located again. */
HG_MUST_CHECK hg_err upstream_fetch_body(upstream *u, const char *url_or_path, const char *authorization,
                                         uint64_t expect_size, upstream_sink_fn sink, void *arg,
                                         const upstream_response *head, upstream_response *resp);
/* Bytes [first, first + len) of the body of url_or_path, by the plain path only (the Hub's CDN
 * redirect with a Range, never the Xet CAS: a part of a file is fetched to be served early, the
 * caller verifies it against the whole file later).  Retries and resumes as above; a server that
 * ignores the Range fails the call at once (HG_ERR_UPSTREAM), before any byte.  head: as
 * for upstream_fetch_body (an expired redirect target is located again). */
HG_MUST_CHECK hg_err upstream_fetch_range(upstream *u, const char *url_or_path, const char *authorization,
                                          uint64_t first, uint64_t len, upstream_sink_fn sink, void *arg,
                                          const upstream_response *head, upstream_response *resp);
/* Copies src's status and headers into dst (cleared first; the body is not copied). */
HG_MUST_CHECK hg_err upstream_response_copy_head(upstream_response *dst, const upstream_response *src);

/* Counters, for /metrics and tests. */
typedef struct upstream_stats {
    unsigned long calls, retries, failures;
    unsigned long long body_bytes; /* body bytes received (for Xet: the xorb ranges as sent) */
    unsigned long xet_bodies;      /* bodies completed through the Xet CAS */
    unsigned long xet_terms;       /* reconstruction terms delivered */
    unsigned long xet_fetches;     /* xorb range requests (attempts included) */
    unsigned long xet_fallbacks;   /* Xet failures before any byte: downloaded plainly instead */
} upstream_stats;
void upstream_get_stats(upstream *u, upstream_stats *out);

#endif
