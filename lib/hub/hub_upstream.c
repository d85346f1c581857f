/*
 * hub_upstream.c - the pull-through path: repos that are not local are answered from the
 * upstream Hub, through the store.
 *
 * Metadata (info, revision, tree, paths-info, refs, commits) is relayed and kept in the store's
 * upstream cache under the request (method, path, query, body, and the client's token hash):
 * answers addressed by a 40-hex commit never expire, the others (branches, tags, refs) live for
 * ref_ttl seconds, 404s for neg_ttl seconds.  When the upstream cannot be reached, whatever is
 * cached is served, however old.
 *
 * File bodies: a HEAD to the upstream resolve URL names the file (git blob id for regular files,
 * sha256 and size for LFS files).  If the store holds that content it is served at once;
 * otherwise one download per content (single flight: concurrent requests wait for it) streams
 * the body into tmp/, hashing it, and only bytes whose size and hash match become a content of
 * the store.  Clients are then served from the store, with ranges; they never see upstream
 * URLs or tokens.
 *
 * Threading: HTTP workers never wait: a request that needs the upstream is deferred
 * (http_defer) and handed to the job pool; jobs block on the network and on each other's
 * downloads, then complete the deferred response.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "http/http_range.h"
#include "hub/hub_body.h"
#include "hub/hub_flight.h"
#include "hub/hub_scan.h"
#include "scan/scan.h"
#include "hub/hub_int.h"
#include "util/hg_fs.h"
#include "util/hg_log.h"

/* ---- the job pool ---- */

typedef struct hub_job {
    struct hub_job *next;
    hub *h;
    const http_request *req;
    http_deferred *d;
} hub_job;

struct hub_jobs {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    hub_job *head, *tail;
    int stopping;
    pthread_t *threads;
    size_t nthreads;
    upstream *up;      /* for the threads' own connection handles */
};

static void run_job(hub_job *j);

static void *job_thread(void *arg)
{
    hub_jobs *q = arg;
    pthread_mutex_lock(&q->mu);
    while (1) {
        while (!q->head && !q->stopping)
            pthread_cond_wait(&q->cv, &q->mu);
        if (!q->head)
            break;
        hub_job *j = q->head;
        q->head = j->next;
        if (!q->head)
            q->tail = NULL;
        pthread_mutex_unlock(&q->mu);
        run_job(j);
        pthread_mutex_lock(&q->mu);
    }
    pthread_mutex_unlock(&q->mu);
    upstream_thread_exit(q->up);
    return NULL;
}

hg_err hub_jobs_start(hub *h, unsigned nthreads)
{
    hub_jobs *q = calloc(1, sizeof *q);
    if (!q)
        return HG_ERR_NOMEM;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    q->up = h->up;
    q->threads = calloc(nthreads, sizeof *q->threads);
    if (!q->threads) {
        free(q);
        return HG_ERR_NOMEM;
    }
    h->jobs = q;
    for (unsigned i = 0; i < nthreads; i++) {
        if (pthread_create(&q->threads[i], NULL, job_thread, q) != 0) {
            HG_ERROR("cannot start upstream job threads: %s", strerror(errno));
            hub_jobs_stop(h);
            return HG_ERR_IO;
        }
        q->nthreads++;
    }
    return HG_OK;
}

void hub_jobs_stop(hub *h)
{
    hub_jobs *q = h->jobs;
    if (!q)
        return;
    pthread_mutex_lock(&q->mu);
    q->stopping = 1;
    hub_job *pending = q->head;
    q->head = q->tail = NULL;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    /* Transfers end first: jobs waiting for their first bytes then finish too.  Calls stuck on
     * a stalled upstream end now rather than at their timeouts. */
    upstream_abort(h->up);
    hub_flights_stop(h->flights);
    /* Queued requests are answered now; running ones finish (bounded by upstream timeouts). */
    while (pending) {
        hub_job *next = pending->next;
        http_response resp;
        http_response_init(&resp);
        hub_common_headers(&resp);
        hub_error(&resp, 503, NULL, "The gateway is shutting down");
        http_deferred_complete(pending->d, &resp);
        free(pending);
        pending = next;
    }
    for (size_t i = 0; i < q->nthreads; i++)
        pthread_join(q->threads[i], NULL);
    free(q->threads);
    pthread_cond_destroy(&q->cv);
    pthread_mutex_destroy(&q->mu);
    free(q);
    h->jobs = NULL;
}

/* Defers the request and queues it for a job thread. */
static void submit(hub *h, const http_request *req, http_response *resp)
{
    hub_jobs *q = h->jobs;
    hub_job *j = calloc(1, sizeof *j);
    http_deferred *d = j ? http_defer(req) : NULL;
    if (!d) {
        free(j);
        hub_error(resp, 503, NULL, "Out of memory");
        return;
    }
    *j = (hub_job){.h = h, .req = req, .d = d};
    pthread_mutex_lock(&q->mu);
    if (q->stopping) {
        pthread_mutex_unlock(&q->mu);
        http_response r;
        http_response_init(&r);
        hub_common_headers(&r);
        hub_error(&r, 503, NULL, "The gateway is shutting down");
        http_deferred_complete(d, &r);
        free(j);
        return;
    }
    if (q->tail)
        q->tail->next = j;
    else
        q->head = j;
    q->tail = j;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

/* ---- helpers ---- */

static int is_commit_hex(const char *s)
{
    size_t n = strlen(s);
    if (n != GIT_OID_HEX_LEN)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

/* The request's upstream path: the same path and query (clients already speak the Hub's URL
 * grammar), re-encoded. */
static hg_err upstream_path(const http_request *req, char *out, size_t cap)
{
    size_t o = (size_t)snprintf(out, cap, "%s", req->path);
    for (size_t i = 0; i < req->nquery && o < cap; i++) {
        char k[1024], v[4096];
        if (http_pct_encode(req->query[i].key, 0, k, sizeof k) || http_pct_encode(req->query[i].value, 0, v, sizeof v))
            return HG_ERR_TOOBIG;
        o += (size_t)snprintf(out + o, cap - o, "%c%s=%s", i ? '&' : '?', k, v);
    }
    return o < cap ? HG_OK : HG_ERR_TOOBIG;
}

/* The client's Authorization as far as upstream is concerned: NULL when it has none, or when
 * it is a token this gateway issued (hub_ctx_resolve), which is a secret of this site that must
 * never travel to huggingface.co; such a client is anonymous upstream. */
static const char *upstream_auth_header(const http_request *req)
{
    const char *a = http_header(req, "Authorization");
    if (!a || !*a)
        return NULL;
    const char *t = a;
    if (!strncasecmp(t, "Bearer ", 7))
        for (t += 7; *t == ' '; t++)
            ;
    return strncmp(t, STORE_TOKEN_PREFIX, strlen(STORE_TOKEN_PREFIX)) ? a : NULL;
}

/* sha256 of the client's token, as a cache-key component: answers fetched with a token are
 * only reused for the same token. */
static void auth_tag(const http_request *req, char out[17])
{
    const char *a = upstream_auth_header(req);
    if (!a || !*a) {
        snprintf(out, 17, "anon");
        return;
    }
    unsigned char md[32];
    unsigned int len = 0;
    EVP_Digest(a, strlen(a), md, &len, EVP_sha256(), NULL);
    xet_bytes_to_hex(md, 8, out);
}

/* The revision segment of a route (decoded), or NULL if the route has none. */
static const char *route_rev(const hub_route *r)
{
    switch (r->kind) {
    case ROUTE_RESOLVE:
    case ROUTE_RAW:
    case ROUTE_REVISION:
    case ROUTE_TREE:
    case ROUTE_PATHS_INFO:
    case ROUTE_COMMITS:
        return r->nrest ? r->rest[0] : NULL;
    default:
        return NULL;
    }
}

static const char *const relayed_headers[] = {"content-type", "x-total-count", "link", "x-repo-commit",
                                             "x-error-code", "x-error-message", "etag"};

/* The headers worth keeping, as a JSON object; Link URLs are rewritten to the public URL. */
static char *headers_json(hub *h, const upstream_response *ur)
{
    json_t *o = json_object();
    const char *base = upstream_base_url(h->up);
    size_t bl = strlen(base);
    for (size_t i = 0; o && i < sizeof relayed_headers / sizeof relayed_headers[0]; i++) {
        const char *v = upstream_header_get(ur, relayed_headers[i]);
        if (!v)
            continue;
        if (!strcmp(relayed_headers[i], "link")) {
            hg_buf b;
            hg_buf_init(&b, 1u << 16);
            hg_err rc = HG_OK;
            for (const char *p = v; *p && !rc;) {
                const char *hit = strstr(p, base);
                size_t n = hit ? (size_t)(hit - p) : strlen(p);
                rc = hg_buf_append(&b, p, n);
                if (!rc && hit)
                    rc = hg_buf_append(&b, h->public_url, strlen(h->public_url));
                p += n + (hit ? bl : 0);
            }
            if (!rc)
                rc = hg_buf_append(&b, "", 1);
            if (!rc)
                json_object_set_new(o, relayed_headers[i], json_string((const char *)b.data));
            hg_buf_free(&b);
        } else {
            json_object_set_new(o, relayed_headers[i], json_string(v));
        }
    }
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

/* How cached_call got its answer; said in X-Hubgate-Cache (the audit log reads it). */
enum { FROM_UPSTREAM = 0, FROM_STALE_CACHE = 1, FROM_CACHE = 2 };

/* Sends a cached (or just fetched) upstream answer. */
static void send_cached(http_response *resp, const store_cached *c, int stale)
{
    resp->status = c->status;
    hg_err rc = http_response_body(resp, c->body, c->body_len);
    json_t *hs = json_loads(c->headers, 0, NULL);
    const char *k;
    json_t *v;
    json_object_foreach(hs, k, v)
    {
        if (!rc && json_is_string(v))
            rc = http_response_header(resp, k, "%s", json_string_value(v));
    }
    json_decref(hs);
    if (!rc && stale == FROM_STALE_CACHE)
        rc = http_response_header(resp, "Warning", "110 hubgate \"Response is stale: the upstream is unreachable\"");
    if (!rc)
        rc = http_response_header(resp, "X-Hubgate-Cache", "%s", stale == FROM_UPSTREAM ? "miss" : "hit");
    if (rc)
        hub_error(resp, 500, NULL, "Cannot build the response");
}

static void upstream_failed(http_response *resp, const upstream_response *ur, hg_err rc)
{
    int timeout = strstr(ur->error, "imeout") || strstr(ur->error, "timed out");
    hub_error(resp, timeout ? 504 : 502, NULL, "Upstream unavailable: %s", ur->error[0] ? ur->error : hg_strerror(rc));
}

/* ---- the answer cache ----
 *
 * Answers are kept per client token (its hash) and path.  A 200 fetched without any token
 * says the resource is public: every client may reuse it, which spares a token check upstream
 * for public repos and keeps them served to every client when the upstream is down.  An answer
 * fetched with a token is reused for that token only, and for at most auth_ttl seconds (even a
 * commit-addressed one): access can be revoked upstream.  Anonymous requests go upstream with
 * no token at all, never with the gateway's own, so that they only ever see what is public. */

typedef struct ukeys {
    char own[16384]; /* the client's token (or anonymous) */
    char pub[16384]; /* anonymous; only used when the client has a token */
    int token;
} ukeys;

static void make_keys(const http_request *req, const char *kind, const char *path, ukeys *k)
{
    char tag[17];
    auth_tag(req, tag);
    k->token = strcmp(tag, "anon") != 0;
    int blen = (int)(req->body_len < 2048 ? req->body_len : 2048);
    const char *body = req->body ? (const char *)req->body : "";
    snprintf(k->own, sizeof k->own, "%s %s %s %.*s", kind, tag, path, blen, body);
    snprintf(k->pub, sizeof k->pub, "%s anon %s %.*s", kind, path, blen, body);
}

static int fresh(const store_cached *c, int64_t now)
{
    return c->expires == 0 || c->expires > now;
}

/* A cached answer that is still fresh: the public one first, then the client's own. */
static int cache_fresh(hub *h, const ukeys *k, store_cached *out)
{
    int64_t now = (int64_t)time(NULL);
    if (k->token && !store_cache_get(h->st, k->pub, out)) {
        if (out->status == 200 && fresh(out, now))
            return 1;
        store_cached_clear(out);
    }
    if (!store_cache_get(h->st, k->own, out)) {
        if (fresh(out, now))
            return 1;
        store_cached_clear(out);
    }
    return 0;
}

/* Any cached answer, however old, for when the upstream cannot be reached. */
static int cache_stale(hub *h, const ukeys *k, store_cached *out)
{
    if (!store_cache_get(h->st, k->own, out))
        return 1;
    if (k->token && !store_cache_get(h->st, k->pub, out)) {
        if (out->status == 200)
            return 1;
        store_cached_clear(out);
    }
    return 0;
}

static int64_t cache_expiry(hub *h, const ukeys *k, int immutable, long status)
{
    int ok = status == 200 || (status >= 300 && status < 400);
    int64_t ttl = !ok ? h->neg_ttl_s : immutable ? 0 : h->ref_ttl_s;
    if (k->token && (ttl == 0 || ttl > h->auth_ttl_s))
        ttl = h->auth_ttl_s;
    return ttl ? (int64_t)time(NULL) + ttl : 0;
}

/* The client's Authorization for an upstream call, or "" (not NULL, which would mean the
 * gateway's own token): see above. */
static const char *client_auth(const http_request *req)
{
    const char *a = upstream_auth_header(req);
    return a ? a : "";
}

static int unreachable(hg_err rc, long status)
{
    return rc || status == 0 || status >= 500 || status == 429;
}

/* Removes xetHash from listing entries: upstream's Xet hashes would send Xet clients to
 * xet-read-token for repos whose bytes this gateway serves over plain resolve only
 * (hub-protocol.md S1). */
static void strip_xet_hashes(upstream_response *ur)
{
    json_t *v = json_loadb((const char *)ur->body.data, ur->body.len, 0, NULL);
    json_t *list = json_is_array(v) ? v : json_object_get(v, "siblings");
    size_t i;
    json_t *e;
    int changed = 0;
    json_array_foreach(list, i, e)
    {
        changed |= json_object_del(e, "xetHash") == 0;
    }
    char *text = changed ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    if (!text)
        return;
    hg_buf_reset(&ur->body);
    if (hg_buf_append(&ur->body, text, strlen(text)))
        HG_WARN("cannot rewrite an upstream listing");
    free(text);
}

/* ---- metadata ---- */

/* An upstream answer for a metadata request, from the cache or the upstream: HG_OK with *out
 * set (*stale when the upstream was unreachable and an old answer stood in), or an error with
 * resp already answered.  The client's token and the request body are part of the key. */
static hg_err cached_call(hub *h, const http_request *req, const hub_route *r, const char *method,
                          const char *path, http_response *resp, store_cached *out, int *stale)
{
    *stale = 0;
    ukeys *k = malloc(sizeof *k);
    if (!k) {
        hub_error(resp, 503, NULL, "Out of memory");
        return HG_ERR_NOMEM;
    }
    make_keys(req, method, path, k);
    if (cache_fresh(h, k, out)) {
        free(k);
        *stale = FROM_CACHE;
        return HG_OK;
    }
    int post = !strcmp(method, "POST");
    upstream_request rq = {.method = method, .path = path, .authorization = client_auth(req),
                           .content_type = post ? http_header(req, "Content-Type") : NULL,
                           .body = post ? req->body : NULL, .body_len = post ? req->body_len : 0};
    upstream_response ur;
    upstream_response_init(&ur);
    hg_err rc = upstream_call(h->up, &rq, &ur);
    if (unreachable(rc, ur.status)) {
        if (cache_stale(h, k, out)) {
            HG_WARN("upstream unavailable for %.200s: serving the cached answer", path);
            *stale = FROM_STALE_CACHE;
            rc = HG_OK;
        } else if (!rc && ur.status) {
            hub_error(resp, 502, NULL, "Upstream answered %ld", ur.status);
            rc = HG_ERR_UPSTREAM;
        } else {
            upstream_failed(resp, &ur, rc);
            rc = rc ? rc : HG_ERR_UPSTREAM;
        }
        upstream_response_clear(&ur);
        free(k);
        return rc;
    }
    if (ur.status == 200 && (r->kind == ROUTE_TREE || r->kind == ROUTE_PATHS_INFO || r->kind == ROUTE_INFO ||
                             r->kind == ROUTE_REVISION))
        strip_xet_hashes(&ur);
    const char *rev = route_rev(r);
    memset(out, 0, sizeof *out);
    out->status = (int)ur.status;
    out->headers = headers_json(h, &ur);
    out->body_len = ur.body.len;
    out->body = hg_buf_take(&ur.body, &out->body_len);
    out->fetched = (int64_t)time(NULL);
    out->expires = cache_expiry(h, k, rev && is_commit_hex(rev), ur.status);
    upstream_response_clear(&ur);
    rc = out->headers ? HG_OK : HG_ERR_NOMEM;
    if (!rc && (out->status == 200 || out->status == 404) && store_cache_put(h->st, k->own, out))
        HG_WARN("cannot cache the upstream answer for %.200s", path);
    if (rc) {
        store_cached_clear(out);
        hub_error(resp, 503, NULL, "Out of memory");
    }
    free(k);
    return rc;
}

static void metadata_job(hub *h, const http_request *req, const hub_route *r, http_response *resp)
{
    char path[12288];
    if (upstream_path(req, path, sizeof path)) {
        hub_error(resp, 414, NULL, "Request too long to forward");
        return;
    }
    store_cached c;
    int stale;
    if (cached_call(h, req, r, req->method, path, resp, &c, &stale))
        return;
    send_cached(resp, &c, stale);
    store_cached_clear(&c);
}

/* A Xet read token for an upstream repo: the client must be allowed to see the revision
 * upstream (the same cached answer as its repo info), and the token then names the commit.
 * Reconstructions under it serve only contents upstream showed in that commit. */
static void xet_token_job(hub *h, const http_request *req, const hub_route *r, http_response *resp)
{
    char rev[1024] = "main", enc[3072], path[4096];
    if (r->nrest) {
        size_t o = 0;
        for (size_t i = 0; i < r->nrest && o < sizeof rev - 1; i++)
            o += (size_t)snprintf(rev + o, sizeof rev - o, "%s%s", i ? "/" : "", r->rest[i]);
    }
    if (http_pct_encode(rev, 0, enc, sizeof enc)) {
        hub_error(resp, 414, NULL, "Revision too long");
        return;
    }
    snprintf(path, sizeof path, "/api/%s/%s/revision/%s", hub_types_segment(r->type), r->repo, enc);
    hub_route info = {.kind = ROUTE_REVISION, .type = r->type};
    char *revp = rev;
    info.rest[0] = revp;
    info.nrest = 1;
    store_cached c;
    int stale;
    if (cached_call(h, req, &info, "GET", path, resp, &c, &stale))
        return;
    json_t *v = c.status == 200 ? json_loadb((const char *)c.body, c.body_len, 0, NULL) : NULL;
    const char *sha = json_string_value(json_object_get(v, "sha"));
    if (c.status != 200) {
        send_cached(resp, &c, stale); /* upstream's 401/404 with its error code */
    } else if (!sha || !is_commit_hex(sha)) {
        hub_error(resp, 502, NULL, "Upstream repo info without a commit id");
    } else {
        /* Upstream checked this user's access, and that check is reused for --auth-ttl.  The
         * CAS never sees the client's token, so a reconstruction cannot ask upstream again:
         * the Xet token lives no longer than a check, and the client (hf_xet, huggingface.js)
         * comes back for a new one with its token, which is then checked afresh. */
        unsigned ttl = 0;
        if (upstream_auth_header(req) && h->auth_ttl_s < h->token_ttl_s)
            ttl = h->auth_ttl_s;
        hub_xet_token_answer(h, resp, r->type, r->repo, sha, 0, ttl);
    }
    json_decref(v);
    store_cached_clear(&c);
}

/* ---- files ---- */

typedef struct upstream_file {
    long status;        /* upstream's answer to HEAD (200, 302, 404...) */
    int is_lfs;
    uint64_t size;
    uint8_t sha256[32]; /* LFS */
    git_oid blob;       /* regular files */
    char commit[GIT_OID_HEX_LEN + 1];
    char error_code[64], error_msg[512];
    int fresh;          /* the HEAD answer in the caller's upstream_response was made just now */
} upstream_file;

static int parse_etag_hex(const char *v, uint8_t *out, size_t nbytes)
{
    if (!v)
        return -1;
    if (!strncmp(v, "W/", 2))
        v += 2;
    if (*v == '"')
        v++;
    for (size_t i = 0; i < nbytes; i++) {
        unsigned x;
        if (sscanf(v + 2 * i, "%2x", &x) != 1)
            return -1;
        out[i] = (uint8_t)x;
    }
    char end = v[2 * nbytes];
    return end == '"' || end == '\0' ? 0 : -1;
}

/* Asks upstream about a file with HEAD, following relative redirects as Python's HEAD does
 * (mode C: /api/resolve-cache/...), and keeps the headers that name it. */
static hg_err file_head(hub *h, const http_request *req, const char *path, upstream_response *ur, json_t **out,
                        int *hops)
{
    char next[8192];
    snprintf(next, sizeof next, "%s", path);
    hg_err rc;
    *hops = 0;
    for (int hop = 0;; hop++, (*hops)++) {
        upstream_request rq = {.method = "HEAD", .path = next, .authorization = client_auth(req)};
        rc = upstream_call(h->up, &rq, ur);
        const char *loc = upstream_header_get(ur, "location");
        if (rc || ur->status < 300 || ur->status >= 400 || !loc || loc[0] != '/' || loc[1] == '/' || hop == 5)
            break;
        snprintf(next, sizeof next, "%.*s", (int)strcspn(loc, "?"), loc);
    }
    if (unreachable(rc, ur->status))
        return rc ? rc : HG_ERR_UPSTREAM;
    json_t *hs = json_object();
    static const char *const keep[] = {"etag", "x-linked-etag", "x-linked-size", "content-length",
                                       "x-repo-commit", "x-error-code", "x-error-message"};
    for (size_t i = 0; hs && i < sizeof keep / sizeof keep[0]; i++) {
        const char *v = upstream_header_get(ur, keep[i]);
        if (v)
            json_object_set_new(hs, keep[i], json_string(v));
    }
    *out = hs;
    return hs ? HG_OK : HG_ERR_NOMEM;
}

/* Names the file from upstream's answer to HEAD (cached like metadata). */
static hg_err file_meta(hub *h, const http_request *req, const hub_route *r, upstream_file *f,
                        upstream_response *ur)
{
    memset(f, 0, sizeof *f);
    ukeys *k = malloc(sizeof *k);
    if (!k)
        return HG_ERR_NOMEM;
    make_keys(req, "FILE", req->path, k);
    store_cached c = {0};
    json_t *hs = NULL;
    if (cache_fresh(h, k, &c)) {
        f->status = c.status;
        hs = json_loads(c.headers, 0, NULL);
    } else {
        int hops;
        hg_err rc = file_head(h, req, req->path, ur, &hs, &hops);
        if (rc && rc != HG_ERR_NOMEM && cache_stale(h, k, &c)) {
            f->status = c.status; /* stale but known: serve it */
            hs = json_loads(c.headers, 0, NULL);
        } else if (rc) {
            free(k);
            return rc;
        } else {
            f->status = ur->status;
            f->fresh = hops == 0; /* an answer for req->path itself */
            char *text = json_dumps(hs, JSON_COMPACT);
            const char *rev = route_rev(r);
            int ok = f->status == 200 || (f->status >= 300 && f->status < 400);
            store_cached nc = {.status = (int)f->status, .headers = text, .fetched = (int64_t)time(NULL),
                               .expires = cache_expiry(h, k, rev && is_commit_hex(rev), f->status)};
            if (text && (ok || f->status == 404) && store_cache_put(h->st, k->own, &nc))
                HG_WARN("cannot cache file metadata for %.200s", req->path);
            free(text);
        }
    }
    free(k);
    store_cached_clear(&c);
    if (!hs)
        return HG_ERR_NOMEM;
    const char *commit = json_string_value(json_object_get(hs, "x-repo-commit"));
    if (commit && is_commit_hex(commit))
        memcpy(f->commit, commit, GIT_OID_HEX_LEN + 1);
    const char *ec = json_string_value(json_object_get(hs, "x-error-code"));
    const char *em = json_string_value(json_object_get(hs, "x-error-message"));
    snprintf(f->error_code, sizeof f->error_code, "%s", ec ? ec : "");
    snprintf(f->error_msg, sizeof f->error_msg, "%s", em ? em : "");
    hg_err rc = HG_OK;
    if (f->status == 200 || (f->status >= 300 && f->status < 400)) {
        const char *linked = json_string_value(json_object_get(hs, "x-linked-etag"));
        const char *lsize = json_string_value(json_object_get(hs, "x-linked-size"));
        const char *etag = json_string_value(json_object_get(hs, "etag"));
        const char *clen = json_string_value(json_object_get(hs, "content-length"));
        if (linked && lsize) {
            f->is_lfs = 1;
            f->size = strtoull(lsize, NULL, 10);
            if (parse_etag_hex(linked, f->sha256, 32))
                rc = HG_ERR_CORRUPT;
        } else if (etag && clen) {
            f->size = strtoull(clen, NULL, 10);
            if (parse_etag_hex(etag, f->blob.b, 20))
                rc = HG_ERR_CORRUPT;
        } else {
            rc = HG_ERR_CORRUPT;
        }
        if (rc)
            snprintf(ur->error, sizeof ur->error, "upstream file metadata without a usable ETag/X-Linked-ETag");
    }
    json_decref(hs);
    return rc;
}

/* A content the scanner judged before (its bytes were refused, so not stored): refused again
 * without downloading it (1), by the verdict or by the policy's formats. */
static int refused_before(hub *h, const http_request *req, const hub_route *r, const upstream_file *f,
                          http_response *resp)
{
    int mode = hub_scan_mode_now(h);
    hub_scan_info si;
    if (mode == HUB_SCAN_OFF || hub_scan_stored(h->st, f->sha256, &si))
        return 0;
    if (hub_policy_content(h, resp, r, hub_scan_policy_format(si.format)))
        return 1;
    return si.verdict == SCAN_BLOCK && mode == HUB_SCAN_BLOCK && hub_scan_apply((hub_scan_mode)mode, &si, req->path, resp);
}

/* The stored content of f (HG_ERR_NOTFOUND if none yet). */
static hg_err file_content(hub *h, const upstream_file *f, store_content *ct)
{
    return f->is_lfs ? store_content_by_sha256(h->st, f->sha256, ct) : store_content_by_blob(h->st, &f->blob, ct);
}

typedef struct stored_probe {
    hub *h;
    const upstream_file *f;
} stored_probe;

static int content_stored(void *arg)
{
    const stored_probe *p = arg;
    store_content ct;
    return file_content(p->h, p->f, &ct) == HG_OK;
}

static void file_job(hub *h, const http_request *req, const hub_route *r, http_response *resp)
{
    upstream_file f;
    upstream_response ur;
    upstream_response_init(&ur);
    hg_err rc = file_meta(h, req, r, &f, &ur);
    if (rc == HG_ERR_CORRUPT) {
        hub_error(resp, 502, NULL, "%s", ur.error);
        goto out;
    }
    if (rc) {
        upstream_failed(resp, &ur, rc);
        goto out;
    }
    if (f.status != 200 && !(f.status >= 300 && f.status < 400)) {
        /* Relay upstream's error with its code (404 EntryNotFound, 401 RepoNotFound...). */
        hub_error(resp, (int)f.status, *f.error_code ? f.error_code : NULL, "%s",
                  *f.error_msg ? f.error_msg : "Upstream refused the request");
        if (*f.commit) {
            hg_err hr = http_response_header(resp, "X-Repo-Commit", "%s", f.commit);
            (void)hr;
        }
        goto out;
    }
    store_content ct;
    char id[80];
    if (f.is_lfs)
        xet_bytes_to_hex(f.sha256, 32, id);
    else
        git_oid_to_hex(&f.blob, id);
    rc = file_content(h, &f, &ct);
    int is_head = !strcmp(req->method, "HEAD");
    if (rc == HG_ERR_NOTFOUND && f.is_lfs && refused_before(h, req, r, &f, resp))
        goto out;
    if (rc == HG_ERR_NOTFOUND && is_head) {
        /* HEAD needs the metadata only: no download for it. */
        memset(&ct, 0, sizeof ct);
        ct.size = f.size;
        rc = HG_OK;
    }
    hub_flight *fl = NULL;
    if (rc == HG_ERR_NOTFOUND) {
        /* Not stored: join (or start) the one transfer of this content and stream it as it
         * arrives.  The flight re-checks nothing: it is the only writer of this content. */
        stored_probe probe = {h, &f};
        hub_flight_spec spec = {.id = id, .path = req->path, .authorization = upstream_auth_header(req),
                                .size = f.size, .is_lfs = f.is_lfs, .blob = f.blob,
                                .head = f.fresh ? &ur : NULL, .scan_mode = hub_scan_mode_now(h),
                                .stored = content_stored, .stored_arg = &probe};
        memcpy(spec.sha256, f.sha256, 32);
        char msg[256];
        rc = hub_flight_join(h->flights, &spec, &fl);
        if (rc == HG_ERR_AGAIN) {
            rc = file_content(h, &f, &ct); /* the transfer ended just now: the content is stored */
        } else if (!rc) {
            const char *range = http_header(req, "Range");
            http_range one;
            size_t n = 0;
            if (range && http_range_parse(range, f.size, &one, 1, &n) == HTTP_RANGE_OK && n == 1)
                hub_flight_prefetch(fl, one.start, one.end);
            if ((rc = hub_flight_wait_start(fl, msg, sizeof msg))) {
                hub_flight_release(&fl);
                if (rc == HG_ERR_CORRUPT)
                    hub_error(resp, 502, NULL, "%s", msg);
                else if (rc == HG_ERR_DENIED)
                    hub_error(resp, 403, "BlockedByScanner", "%.200s was %s", req->path, msg);
                else
                    hub_error(resp, strstr(msg, "imeout") || strstr(msg, "timed out") ? 504 : 502, NULL,
                              "Upstream unavailable: %s", msg);
                goto out;
            }
            memset(&ct, 0, sizeof ct);
            ct.size = f.size;
        }
    }
    if (rc) {
        hub_store_error(resp, rc, "the file");
        goto out;
    }
    git_oid oid = f.blob;
    if (f.is_lfs && git_lfs_pointer_blob_id(f.sha256, f.size, &oid))
        memset(&oid, 0, sizeof oid);
    if (!ct.id)
        memcpy(ct.sha256, f.sha256, 32); /* not stored yet: the ETag comes from upstream */
    /* A stored LFS file is offered through this gateway's own Xet CAS, whether or not upstream
     * has Xet: the token names the commit, the link authorises the content under it. */
    char token_url[2048] = "";
    if (ct.id && f.is_lfs && r->kind != ROUTE_RAW && *f.commit) {
        if (store_upstream_link(h->st, r->type, r->repo, f.commit, ct.id))
            HG_WARN("cannot record %.200s for the Xet path: served over plain HTTP", req->path);
        else
            snprintf(token_url, sizeof token_url, "%s/api/%s/%s/xet-read-token/%s", h->public_url,
                     hub_types_segment(r->type), r->repo, f.commit);
    }
    const char *rev = route_rev(r);
    hub_file hf = {.ct = &ct, .is_lfs = f.is_lfs, .raw = r->kind == ROUTE_RAW, .oid = &oid,
                   .commit_hex = f.commit, .immutable = rev && is_commit_hex(rev), .path = req->path,
                   .flight = fl, .xet_token_url = *token_url ? token_url : NULL, .route = r};
    hub_serve_file(h, req, resp, &hf);
    if (resp->status < 400) {
        /* Said for the audit log (and operators): was the body already here? */
        hg_err hr = http_response_header(resp, "X-Hubgate-Cache", "%s", ct.id ? "hit" : "miss");
        (void)hr;
    }
    hub_flight_release(&fl);
out:
    upstream_response_clear(&ur);
}

static void run_job(hub_job *j)
{
    hub *h = j->h;
    http_response resp;
    http_response_init(&resp);
    hub_common_headers(&resp);
    hub_route r;
    if (hub_route_parse(j->req->path, &r)) {
        hub_error(&resp, 404, NULL, "Not found");
    } else {
        if (r.kind == ROUTE_RESOLVE || r.kind == ROUTE_RAW)
            file_job(h, j->req, &r, &resp);
        else if (r.kind == ROUTE_XET_TOKEN)
            xet_token_job(h, j->req, &r, &resp);
        else
            metadata_job(h, j->req, &r, &resp);
        hub_route_clear(&r);
    }
    if (resp.status >= 400)
        __atomic_add_fetch(&h->errors, 1, __ATOMIC_RELAXED);
    http_deferred_complete(j->d, &resp);
    http_response_clear(&resp);
    free(j);
    store_release(h->st);
}

int hub_upstream_wants(hub *h, const hub_route *r)
{
    if (!h->up || !h->jobs)
        return 0;
    switch (r->kind) {
    case ROUTE_RESOLVE:
    case ROUTE_RAW:
    case ROUTE_INFO:
    case ROUTE_REVISION:
    case ROUTE_TREE:
    case ROUTE_PATHS_INFO:
    case ROUTE_REFS:
    case ROUTE_COMMITS:
    case ROUTE_XET_TOKEN:
        break;
    default:
        return 0;
    }
    store_repo repo;
    return store_repo_find(h->st, r->type, r->repo, &repo) == HG_ERR_NOTFOUND;
}

void hub_upstream_route(hub *h, const http_request *req, http_response *resp)
{
    submit(h, req, resp);
}
