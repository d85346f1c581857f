/*
 * hub.h - the Hub and Xet CAS HTTP API, served from the store.
 *
 * Implements, for models, datasets and spaces, what a read-only Hub serves
 * (shared/docs/hub-protocol.md): resolve and raw (HEAD/GET, ranges), repo info, tree listings
 * with pagination, paths-info, refs, commits, the error contract, the Xet read-token, the
 * reconstruction API (v2, v1 and the legacy paths) and xorb range downloads through URLs signed
 * by this server.  Clients never see another host: casUrl and every URL point at public_url.
 *
 * Threading: hub_handle is called concurrently from the HTTP worker threads; the hub itself is
 * immutable after hub_new (configuration, secret), and per-request state lives on the stack or in
 * the response.
 */
#ifndef HG_HUB_H
#define HG_HUB_H

#include "http/http.h"
#include "store/store.h"
#include "upstream/upstream.h"

typedef struct hub_config {
    const char *public_url;   /* base URL clients use, without trailing '/' */
    unsigned token_ttl_s;     /* lifetime of Xet read tokens and signed xorb URLs (default 3600) */
    upstream *up;             /* pull-through upstream (borrowed), or NULL for local repos only */
    unsigned jobs;            /* threads for upstream work (default 16) */
    unsigned ref_ttl_s;       /* how long answers for branches/tags are reused (default 60) */
    unsigned neg_ttl_s;       /* how long upstream 404s are reused (default 10) */
    unsigned auth_ttl_s;      /* how long upstream's "yes" to a client token is reused (default 300) */
    uint64_t file_cache;      /* bytes of plain copies kept for sendfile (hub_files.h); 0: none */
    int scan_mode;            /* hub_scan_mode (hub_scan.h): what scanner verdicts mean */
    struct hub_policy_file *policy; /* serving policy (borrowed; hub_policy.h), or NULL */
    struct hub_audit *audit;        /* audit log (borrowed; hub_audit.h), or NULL */
} hub_config;

typedef struct hub hub;

HG_MUST_CHECK hg_err hub_new(store *st, const hub_config *cfg, hub **out);
/* Answers every request still waiting for the upstream and stops the job threads: call before
 * stopping the HTTP server. */
void hub_stop(hub *h);
void hub_free(hub **h);
/* Sets the public URL (startup only, before requests flow: the default depends on the bound
 * port). */
HG_MUST_CHECK hg_err hub_set_public_url(hub *h, const char *url);
/* An http_handler: arg is the hub. */
void hub_handle(void *arg, const http_request *req, http_response *resp);

#endif
