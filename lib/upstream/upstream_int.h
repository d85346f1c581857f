/*
 * upstream_int.h - private to lib/upstream: the handle, one HTTP exchange (run_attempt) and the
 * retry helpers of upstream.c, shared with the Xet client in upstream_xet.c.
 *
 * Nothing here is for callers outside lib/upstream: they use upstream.h.
 */
#ifndef HG_UPSTREAM_INT_H
#define HG_UPSTREAM_INT_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "upstream/upstream.h"
#include "xet/xet.h"

struct upstream {
    char *base;  /* no trailing '/' */
    char *token; /* owned copy, or NULL */
    upstream_config cfg;
    /* Each thread keeps one curl handle (and with it its kept-alive connections); DNS answers
     * and TLS sessions are shared by all of them.  libcurl cannot share the connections
     * themselves between concurrent threads. */
    int aborting; /* upstream_abort: every call in progress ends now (atomic) */
    pthread_key_t handle_key;
    int have_key;
    CURLSH *share;
    pthread_mutex_t share_mu[CURL_LOCK_DATA_LAST];
    /* Counters, updated atomically (see upstream_stats). */
    unsigned long calls, retries, failures;
    unsigned long long body_bytes;
    unsigned long xet_bodies, xet_terms, xet_fetches, xet_fallbacks;
};

/* ---- one HTTP exchange (upstream.c) ---- */

typedef struct attempt {
    upstream *u;
    upstream_response *resp;
    upstream_sink_fn sink; /* NULL: collect into resp->body */
    void *sink_arg;
    uint64_t skip;         /* bytes to drop (a server that ignored our Range) */
    uint64_t resume_from;  /* the Range start this attempt asked for */
    uint64_t got;          /* body bytes delivered by this attempt */
    uint64_t limit;        /* most bytes the body may have */
    long status;           /* of the response being received */
    int partial_only;      /* a part was asked for: a whole body (200) is refused at once */
    int sink_failed, too_big, whole;
} attempt;

typedef struct attempt_opts {
    const char *method, *url, *authorization, *content_type, *range;
    const void *body;
    size_t body_len;
    long timeout_ms; /* 0: none (bodies rely on the stall timer) */
} attempt_opts;

/* Runs one HTTP exchange, no redirect followed; returns the curl result (CURLE_OK when an answer
 * arrived; a->resp has its status and headers). */
CURLcode up_run_attempt(upstream *u, const attempt_opts *o, attempt *a);
/* Sleeps before retry k (1-based): full jitter over an exponential ceiling, or the answer's
 * Retry-After; counts the retry.  -1 (no sleep) if the deadline leaves no time. */
int up_backoff(upstream *u, unsigned k, const upstream_response *r, uint64_t deadline);
int up_retryable_status(long s);
uint64_t up_now_ms(void);
/* The URL without its query, for logs (signed URLs carry credentials there). */
void up_log_url(const char *url, char *out, size_t cap);
/* Same scheme://host[:port]? */
int up_same_origin(const char *a, const char *b);
void up_clear_headers(upstream_response *r);

/* ---- the Xet path (upstream_xet.c) ---- */

#define UP_XET_URL_MAX 4096

/* What the Hub's answer to HEAD advertises for a Xet-backed file. */
typedef struct up_xet_advert {
    xet_hash hash;                  /* X-Xet-Hash */
    char hash_hex[XET_HEX_LEN + 1]; /* canonical (lower-case) Xet hex */
    char auth_url[UP_XET_URL_MAX];  /* Link rel="xet-auth": the token URL, absolute */
} up_xet_advert;

/* 1 if the answer carries a valid X-Xet-Hash and an absolute Link rel="xet-auth" (filled in). */
int up_xet_advertised(const upstream_response *head, up_xet_advert *out);

/* Downloads the file through the Xet CAS into sink, verified against adv->hash and expect_size
 * (UINT64_MAX: unknown).  authorization goes to the token URL only, and only when it is on the
 * Hub's origin (hub_url).  On failure resp->error says why; *touched tells whether the sink was
 * ever called (if not, the caller may still fetch the body another way).  HG_ERR_CORRUPT: the
 * bytes failed verification (final). */
HG_MUST_CHECK hg_err up_xet_fetch(upstream *u, const up_xet_advert *adv, const char *hub_url,
                                  const char *authorization, uint64_t expect_size, upstream_sink_fn sink,
                                  void *arg, upstream_response *resp, int *touched);

#endif
