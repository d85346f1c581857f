/*
 * hub_int.h - private to lib/hub: the hub handle, parsed routes and response helpers.
 */
#ifndef HG_HUB_INT_H
#define HG_HUB_INT_H

#include <jansson.h>

#include "hub/hub.h"
#include "hub/hub_audit.h"
#include "hub/hub_cache.h"
#include "hub/hub_policy.h"
#include "upstream/upstream.h"

#define HUB_MAX_SEGS 64

typedef enum hub_route_kind {
    ROUTE_NONE = 0,
    ROUTE_RESOLVE,     /* /{T}{repo}/resolve/{rev}/{path} */
    ROUTE_RAW,         /* /{T}{repo}/raw/{rev}/{path} */
    ROUTE_INFO,        /* /api/{types}/{repo} */
    ROUTE_REVISION,    /* /api/{types}/{repo}/revision/{rev} */
    ROUTE_TREE,        /* /api/{types}/{repo}/tree/{rev}[/{path}] */
    ROUTE_PATHS_INFO,  /* POST /api/{types}/{repo}/paths-info/{rev} */
    ROUTE_REFS,        /* /api/{types}/{repo}/refs */
    ROUTE_COMMITS,     /* /api/{types}/{repo}/commits/{rev} */
    ROUTE_XET_TOKEN,   /* /api/{types}/{repo}/xet-read-token/{rev} */
    ROUTE_RECON_V2,    /* /v2/reconstructions/{hash} */
    ROUTE_RECON_V1,    /* /v1/reconstructions/{hash}, /reconstructions/{hash}, /reconstruction/{hash} */
    ROUTE_XORB,        /* /xorbs/default/{hash} (signed) */
    ROUTE_CHUNK_DEDUP, /* /v1/chunks/{prefix}/{hash}: we never offer global dedup */
    ROUTE_HEALTH,      /* /health */
    ROUTE_METRICS,     /* /metrics: counters, the test oracle */
    ROUTE_COUNT
} hub_route_kind;

typedef struct hub_route {
    hub_route_kind kind;
    store_repo_type type;
    char repo[256];
    /* decoded segments after the route's marker (revision, then path) */
    char *rest[HUB_MAX_SEGS];
    size_t nrest;
    char *raw_rest[HUB_MAX_SEGS]; /* the same, still percent-encoded */
    char hash[XET_HEX_LEN + 1];
    hub_audit_rec *audit;  /* this request's audit record (set by hub_handle), or NULL */
} hub_route;

/* Parses a raw request path.  HG_ERR_NOTFOUND: no such route; HG_ERR_INVAL: bad encoding. */
HG_MUST_CHECK hg_err hub_route_parse(const char *path, hub_route *r);
void hub_route_clear(hub_route *r);

typedef struct hub_jobs hub_jobs;

struct hub {
    store *st;
    char *public_url;
    unsigned token_ttl_s;
    unsigned long requests[ROUTE_COUNT]; /* per route, updated atomically */
    unsigned long errors;                /* responses >= 400 */
    hub_cache cache;                     /* rendered JSON of commit-addressed requests */
    upstream *up;                        /* NULL: local repos only */
    hub_jobs *jobs;
    unsigned ref_ttl_s, neg_ttl_s, auth_ttl_s;
    struct hub_flights *flights;         /* upstream downloads in progress */
    struct hub_files *files;             /* plain copies for sendfile, or NULL */
    int scan_mode;                       /* hub_scan_mode of --scan (hub_scan_mode_now) */
    hub_policy_file *policy;             /* NULL: everything allowed */
    hub_audit *audit;                    /* NULL: no audit log */
};

/* Applies the policy to a request: returns 1 after answering 403 PolicyDenied, else 0; notes
 * the verdict in rec (may be NULL).  Without a policy, 0. */
int hub_policy_apply(hub *h, http_response *resp, const hub_policy_req *rq, hub_audit_rec *rec);
/* The policy once more for a file request, now that the scanner told the format of its bytes
 * (the first check only had the name): 1 when the response became a 403 PolicyDenied. */
int hub_policy_content(hub *h, http_response *resp, const hub_route *r, const char *content_format);
/* The same with an already acquired policy (to evaluate several paths under one version). */
int hub_policy_apply_with(const hub_policy *p, http_response *resp, const hub_policy_req *rq, hub_audit_rec *rec);



/* A request with its repo resolved to a commit. */
typedef struct hub_ctx {
    hub *h;
    const http_request *req;
    http_response *resp;
    hub_route *route;
    store_repo repo;
    char rev[1024];   /* as given (decoded) */
    git_oid commit;
    char commit_hex[GIT_OID_HEX_LEN + 1];
    store_commit cm;  /* the commit's row */
    char path[4096];  /* decoded path after the revision */
    int64_t token_id; /* the hubgate token that opened a private repo; 0: none was needed */
} hub_ctx;

/* Serves key from the cache as a JSON 200 if present (returns 1). */
int hub_cache_serve(hub_ctx *x, const char *key);
/* Renders v (stolen) as the response and stores the text under key. */
void hub_json_cached(hub_ctx *x, const char *key, json_t *v);

/* Error responses with X-Error-Code / X-Error-Message and a JSON body. */
void hub_error(http_response *resp, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Maps a store error for a request (500 for I/O, 404 NOTFOUND...). */
void hub_store_error(http_response *resp, hg_err rc, const char *what);
/* Sends a JSON value (stolen) with status 200. */
void hub_json(http_response *resp, json_t *v);
void hub_common_headers(http_response *resp);

/* The token of "Authorization: Bearer <token>", or NULL. */
const char *hub_bearer(const http_request *req);
/* Finds the repo and resolves the revision in route->rest; on failure the response is set and
 * a non-zero value returned.  rev_segs is the number of segments the revision consumed. */
int hub_ctx_resolve(hub_ctx *x, int needs_rev, size_t *rev_segs);
/* Joins rest[from..] with '/' into x->path; rejects '.', '..' and empty components (400). */
int hub_ctx_path(hub_ctx *x, size_t from);

/* The plural API form of a repo type: "models", "datasets", "spaces". */
const char *hub_types_segment(store_repo_type t);

/* ISO-8601 UTC with milliseconds and Z. */
void hub_iso_time(int64_t t, char out[32]);
/* The JSON entry of a file or directory (tree, paths-info); expand adds lastCommit. */
json_t *hub_entry_json(hub_ctx *x, const store_entry *e, int expand);

void hub_route_resolve(hub_ctx *x, int raw);

/* A file to send (resolve/raw), local or fetched from upstream. */
typedef struct hub_file {
    const store_content *ct;  /* ct->id 0: metadata only (HEAD of a file not downloaded yet) */
    int is_lfs, raw;
    const git_oid *oid;       /* git blob id (of the pointer for LFS files) */
    const char *commit_hex;   /* X-Repo-Commit, or NULL */
    int immutable;            /* addressed by commit: cacheable forever */
    const char *path;         /* for Content-Type and messages */
    const char *xet_token_url; /* advertise Xet with this refresh route, or NULL */
    struct hub_flight *flight; /* bytes still downloading (borrowed; the body takes a reference) */
    const hub_route *route;   /* the request's route (policy by content format), or NULL */
} hub_file;
void hub_serve_file(hub *h, const http_request *req, http_response *resp, const hub_file *f);

/* The pull-through path (hub_upstream.c). */
HG_MUST_CHECK hg_err hub_jobs_start(hub *h, unsigned nthreads);
void hub_jobs_stop(hub *h);
/* 1 if the route is for a repo this store does not hold and an upstream is configured. */
int hub_upstream_wants(hub *h, const hub_route *r);
/* Defers the request to a job that answers it through the upstream and the store. */
void hub_upstream_route(hub *h, const http_request *req, http_response *resp);
void hub_route_info(hub_ctx *x);
void hub_route_tree(hub_ctx *x);
void hub_route_paths_info(hub_ctx *x);
void hub_route_refs(hub_ctx *x);
void hub_route_commits(hub_ctx *x);
void hub_route_xet_token(hub_ctx *x);
/* Answers a xet-read-token request for the commit: JSON and X-Xet-* headers.  token_id (0 for
 * none) is the hubgate token the request was allowed by, bound into the Xet token; ttl_s is the
 * token's lifetime, 0 for the configured one. */
void hub_xet_token_answer(hub *h, http_response *resp, store_repo_type type, const char *repo,
                          const char *commit_hex, int64_t token_id, unsigned ttl_s);
void hub_route_reconstruction(hub *h, const http_request *req, http_response *resp,
                              const hub_route *r, int v2);
void hub_route_xorb(hub *h, const http_request *req, http_response *resp, const hub_route *r);

/* Xet read tokens: "<payload>.<mac>" with payload "v2:<type>:<repo>:<commit>:<exp>:<token id>".
 * A token id other than 0 names the hubgate token (of a private repo) it was issued for: the Xet
 * token, and the xorb URLs of its reconstructions, end when that token is revoked or expires.
 * "v1:<type>:<repo>:<commit>:<exp>" tokens of earlier versions still check (token id 0). */
HG_MUST_CHECK hg_err hub_token_make(hub *h, store_repo_type type, const char *repo, const char *commit_hex,
                                    int64_t exp, int64_t token_id, char *out, size_t cap);
typedef struct hub_token {
    store_repo_type type;
    char repo[256];
    char commit_hex[GIT_OID_HEX_LEN + 1];
    int64_t exp;
    int64_t token_id;
} hub_token;
/* HG_OK, HG_ERR_DENIED (forged, malformed, expired, or its hubgate token is no longer valid),
 * or an index error. */
HG_MUST_CHECK hg_err hub_token_check(hub *h, const char *token, hub_token *out);

/* What scanner verdicts mean for a request starting now: the policy file's "scan" if it has
 * one, else serve --scan. */
int hub_scan_mode_now(hub *h);

/* HMAC-SHA256 of msg under the store secret, as lowercase hex (65 bytes). */
void hub_mac_hex(hub *h, const char *msg, char out[65]);

#endif
