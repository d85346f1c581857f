/*
 * hub.c - dispatch, the error contract, and what every route shares (repo and revision
 * resolution, entry JSON, tokens).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/hmac.h>

#include "hub/hub_files.h"
#include "hub/hub_flight.h"
#include "hub/hub_int.h"
#include "util/hg_log.h"

#define EXPOSE_HEADERS                                                                             \
    "X-Repo-Commit,X-Request-Id,X-Error-Code,X-Error-Message,X-Total-Count,ETag,Link,"             \
    "Accept-Ranges,Content-Range,X-Linked-Size,X-Linked-ETag,X-Xet-Hash,X-Xet-Access-Token,"       \
    "X-Xet-Token-Expiration,X-Xet-Refresh-Route,X-Xet-Cas-Url"

hg_err hub_new(store *st, const hub_config *cfg, hub **out)
{
    hub *h = calloc(1, sizeof *h);
    if (!h)
        return HG_ERR_NOMEM;
    h->st = st;
    h->public_url = strdup(cfg->public_url);
    if (!h->public_url) {
        free(h);
        return HG_ERR_NOMEM;
    }
    size_t n = strlen(h->public_url);
    while (n > 0 && h->public_url[n - 1] == '/')
        h->public_url[--n] = '\0';
    h->token_ttl_s = cfg->token_ttl_s ? cfg->token_ttl_s : 3600;
    h->up = cfg->up;
    h->ref_ttl_s = cfg->ref_ttl_s ? cfg->ref_ttl_s : 60;
    h->neg_ttl_s = cfg->neg_ttl_s ? cfg->neg_ttl_s : 10;
    h->auth_ttl_s = cfg->auth_ttl_s ? cfg->auth_ttl_s : 300;
    h->policy = cfg->policy;
    h->scan_mode = cfg->scan_mode;
    h->audit = cfg->audit;
    hub_cache_init(&h->cache);
    hg_err frc = hub_files_start(st, cfg->file_cache, &h->files);
    if (frc) {
        hub_cache_destroy(&h->cache);
        free(h->public_url);
        free(h);
        return frc;
    }
    if (h->up) {
        hg_err rc = hub_flights_new(st, h->up, h->files, &h->flights);
        if (!rc)
            rc = hub_jobs_start(h, cfg->jobs ? cfg->jobs : 16);
        if (rc) {
            hub_flights_free(&h->flights);
            hub_files_stop(&h->files);
            hub_cache_destroy(&h->cache);
            free(h->public_url);
            free(h);
            return rc;
        }
    }
    *out = h;
    return HG_OK;
}

hg_err hub_set_public_url(hub *h, const char *url)
{
    char *u = strdup(url);
    if (!u)
        return HG_ERR_NOMEM;
    size_t n = strlen(u);
    while (n > 0 && u[n - 1] == '/')
        u[--n] = '\0';
    char *old = h->public_url;
    h->public_url = u;
    free(old);
    return HG_OK;
}

void hub_stop(hub *h)
{
    if (h)
        hub_jobs_stop(h);
}

void hub_free(hub **ph)
{
    hub *h = *ph;
    if (!h)
        return;
    hub_jobs_stop(h);
    hub_flights_free(&h->flights);
    hub_files_stop(&h->files);
    free(h->public_url);
    hub_cache_destroy(&h->cache);
    free(h);
    *ph = NULL;
}

void hub_common_headers(http_response *resp)
{
    static unsigned long counter;
    unsigned long id = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
    hg_err rc = http_response_header(resp, "X-Request-Id", "hg-%lx-%lu", (unsigned long)time(NULL), id);
    if (!rc)
        rc = http_response_header(resp, "Access-Control-Allow-Origin", "*");
    if (!rc)
        rc = http_response_header(resp, "Access-Control-Expose-Headers", EXPOSE_HEADERS);
    (void)rc; /* headers are best effort; the status and body still go out */
}

/* Replaces bytes that are not valid UTF-8 with '?', so that the JSON body can always be
 * encoded (messages quote decoded paths, which may hold any byte). */
static void utf8_sanitize(char *s)
{
    unsigned char *p = (unsigned char *)s;
    while (*p) {
        int n = *p < 0x80 ? 0 : (*p & 0xE0) == 0xC0 ? 1 : (*p & 0xF0) == 0xE0 ? 2 : (*p & 0xF8) == 0xF0 ? 3 : -1;
        int ok = n >= 0 && !(n == 1 && *p < 0xC2);
        for (int i = 1; ok && i <= n; i++)
            ok = (p[i] & 0xC0) == 0x80;
        if (!ok) {
            *p++ = '?';
            continue;
        }
        p += n + 1;
    }
}

void hub_error(http_response *resp, int status, const char *code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* Header values must stay on one line. */
    for (char *p = msg; *p; p++)
        if (*p == '\r' || *p == '\n')
            *p = ' ';
    utf8_sanitize(msg);
    resp->status = status;
    json_t *body = json_pack("{s:s}", "error", msg);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    hg_err rc = http_response_body(resp, text ? text : "{}", text ? strlen(text) : 2);
    free(text);
    if (!rc)
        rc = http_response_header(resp, "Content-Type", "application/json; charset=utf-8");
    if (!rc && code)
        rc = http_response_header(resp, "X-Error-Code", "%s", code);
    if (!rc)
        rc = http_response_header(resp, "X-Error-Message", "%s", msg);
    (void)rc;
}

void hub_store_error(http_response *resp, hg_err rc, const char *what)
{
    if (rc == HG_ERR_NOMEM)
        hub_error(resp, 503, NULL, "Out of memory while reading %s", what);
    else
        hub_error(resp, 500, NULL, "Internal error while reading %s: %s", what, hg_strerror(rc));
}

void hub_json(http_response *resp, json_t *v)
{
    char *text = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    if (!text) {
        hub_error(resp, 500, NULL, "Could not encode the response");
        return;
    }
    resp->status = 200;
    hg_err rc = http_response_body(resp, text, strlen(text));
    free(text);
    if (!rc)
        rc = http_response_header(resp, "Content-Type", "application/json; charset=utf-8");
    if (rc)
        hub_error(resp, 500, NULL, "Could not build the response");
}

int hub_cache_serve(hub_ctx *x, const char *key)
{
    if (!hub_cache_get(&x->h->cache, key, &x->resp->mem))
        return 0;
    x->resp->status = 200;
    x->resp->body_kind = HTTP_BODY_MEM;
    hg_err rc = http_response_header(x->resp, "Content-Type", "application/json; charset=utf-8");
    (void)rc;
    return 1;
}

void hub_json_cached(hub_ctx *x, const char *key, json_t *v)
{
    hub_json(x->resp, v);
    if (x->resp->status == 200 && x->resp->body_kind == HTTP_BODY_MEM)
        hub_cache_put(&x->h->cache, key, (const char *)x->resp->mem.data, x->resp->mem.len);
}

const char *hub_types_segment(store_repo_type t)
{
    return t == STORE_DATASET ? "datasets" : t == STORE_SPACE ? "spaces" : "models";
}

void hub_iso_time(int64_t t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
}

int hub_ctx_path(hub_ctx *x, size_t from)
{
    size_t o = 0;
    x->path[0] = '\0';
    for (size_t i = from; i < x->route->nrest; i++) {
        const char *seg = x->route->rest[i];
        /* A decoded segment may hold '/' (%2F); check each component of it. */
        const char *p = seg;
        do {
            const char *slash = strchr(p, '/');
            size_t n = slash ? (size_t)(slash - p) : strlen(p);
            if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) {
                if (n == 0 && i == x->route->nrest - 1 && !slash && i > from)
                    break; /* a trailing '/' */
                hub_error(x->resp, 400, NULL, "Invalid path: empty, '.' or '..' components are not allowed");
                return -1;
            }
            p = slash ? slash + 1 : NULL;
        } while (p);
        size_t n = strlen(seg);
        if (o + n + 2 >= sizeof x->path) {
            hub_error(x->resp, 414, NULL, "Path too long");
            return -1;
        }
        if (n == 0)
            continue;
        if (o)
            x->path[o++] = '/';
        memcpy(x->path + o, seg, n + 1);
        o += n;
    }
    return 0;
}

static int has_auth(const http_request *req)
{
    const char *a = http_header(req, "Authorization");
    return a && *a;
}

const char *hub_bearer(const http_request *req)
{
    const char *a = http_header(req, "Authorization");
    if (!a || strncasecmp(a, "Bearer ", 7))
        return NULL;
    a += 7;
    while (*a == ' ')
        a++;
    return *a ? a : NULL;
}

int hub_ctx_resolve(hub_ctx *x, int needs_rev, size_t *rev_segs)
{
    hub_route *r = x->route;
    hg_err rc = store_repo_find_cached(x->h->st, r->type, r->repo, &x->repo);
    /* A private repo is visible only to a hubgate token that grants it; to everyone else it is
     * exactly a missing repo (an unknown, revoked or expired token included), so that hiding
     * never tells a prober that the repo exists. */
    if (!rc && x->repo.private_) {
        const char *tok = hub_bearer(x->req);
        hg_err ar = tok ? store_token_allows(x->h->st, tok, x->repo.type, x->repo.name, &x->token_id)
                        : HG_ERR_DENIED;
        if (ar && ar != HG_ERR_DENIED) {
            hub_store_error(x->resp, ar, "the access tokens");
            return -1;
        }
        if (ar)
            rc = HG_ERR_NOTFOUND;
    }
    if (rc == HG_ERR_NOTFOUND) {
        /* Without a token the Hub cannot tell "missing" from "private": 401 (4.2). */
        if (has_auth(x->req))
            hub_error(x->resp, 404, "RepoNotFound", "Repository not found");
        else
            hub_error(x->resp, 401, "RepoNotFound", "Invalid username or password.");
        return -1;
    }
    if (rc) {
        hub_store_error(x->resp, rc, "the repository");
        return -1;
    }
    size_t used = 0;
    if (!needs_rev || r->nrest == 0) {
        snprintf(x->rev, sizeof x->rev, "main");
    } else if (!strcmp(r->raw_rest[0], "refs") && r->nrest >= 3 &&
               (!strcmp(r->rest[1], "pr") || !strcmp(r->rest[1], "convert"))) {
        /* refs/pr/N and refs/convert/NAME sent unencoded (2.1). */
        snprintf(x->rev, sizeof x->rev, "refs/%s/%s", r->rest[1], r->rest[2]);
        used = 3;
    } else {
        snprintf(x->rev, sizeof x->rev, "%s", r->rest[0]);
        used = 1;
        /* An unencoded branch name with '/' (JS tree listings): the longest known ref. */
        if (r->nrest > 1 && !strchr(r->rest[0], '/')) {
            char joined[2048];
            size_t o = 0;
            for (size_t i = 0; i < r->nrest && o < sizeof joined - 1; i++)
                o += (size_t)snprintf(joined + o, sizeof joined - o, "%s%s", i ? "/" : "", r->rest[i]);
            size_t best = 0;
            if (!store_ref_longest_prefix(x->h->st, x->repo.id, joined, &best) && best > strlen(r->rest[0])) {
                size_t segs = 1;
                for (size_t i = 0; i < best; i++)
                    segs += joined[i] == '/';
                snprintf(x->rev, sizeof x->rev, "%.*s", (int)best, joined);
                used = segs;
            }
        }
    }
    rc = store_rev_commit_cached(x->h->st, x->repo.id, x->rev, &x->commit, &x->cm);
    if (rc == HG_ERR_NOTFOUND) {
        hub_error(x->resp, 404, "RevisionNotFound", "Invalid rev id: %s", x->rev);
        return -1;
    }
    if (rc) {
        hub_store_error(x->resp, rc, "the revision");
        return -1;
    }
    git_oid_to_hex(&x->commit, x->commit_hex);
    if (rev_segs)
        *rev_segs = used;
    if (r->audit) {
        memcpy(r->audit->commit, x->commit_hex, sizeof x->commit_hex);
        snprintf(r->audit->revision, sizeof r->audit->revision, "%.255s", x->rev);
    }
    return 0;
}

json_t *hub_entry_json(hub_ctx *x, const store_entry *e, int expand)
{
    char oid[GIT_OID_HEX_LEN + 1];
    git_oid_to_hex(&e->oid, oid);
    json_t *o = json_object();
    if (!o)
        return NULL;
    int bad = json_object_set_new(o, "type", json_string(e->is_dir ? "directory" : "file"));
    bad |= json_object_set_new(o, "oid", json_string(oid));
    bad |= json_object_set_new(o, "size", json_integer(e->is_dir ? 0 : (json_int_t)e->content.size));
    bad |= json_object_set_new(o, "path", json_string(e->path));
    if (!e->is_dir && e->is_lfs) {
        char sha[65], xh[XET_HEX_LEN + 1];
        xet_bytes_to_hex(e->content.sha256, 32, sha);
        xet_hash_to_hex(&e->content.xet, xh);
        bad |= json_object_set_new(o, "lfs", json_pack("{s:s,s:I,s:I}", "oid", sha, "size",
                                                         (json_int_t)e->content.size, "pointerSize",
                                                         (json_int_t)e->pointer_size));
        bad |= json_object_set_new(o, "xetHash", json_string(xh));
    }
    if (expand) {
        store_commit lc = {0};
        hg_err rc = store_last_commit(x->h->st, x->repo.id, &x->commit, e->path, &lc);
        if (!rc) {
            char id[GIT_OID_HEX_LEN + 1], date[32], title[256];
            git_oid_to_hex(&lc.oid, id);
            hub_iso_time(lc.time, date);
            const char *nl = lc.message ? strchr(lc.message, '\n') : NULL;
            snprintf(title, sizeof title, "%.*s", nl ? (int)(nl - lc.message) : 255, lc.message ? lc.message : "");
            bad |= json_object_set_new(o, "lastCommit", json_pack("{s:s,s:s,s:s}", "id", id, "title", title, "date", date));
        }
        store_commit_clear(&lc);
    }
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

void hub_mac_hex(hub *h, const char *msg, char out[65])
{
    unsigned char md[32];
    unsigned int len = 0;
    HMAC(EVP_sha256(), store_secret(h->st), 32, (const unsigned char *)msg, strlen(msg), md, &len);
    xet_bytes_to_hex(md, 32, out);
}

hg_err hub_token_make(hub *h, store_repo_type type, const char *repo, const char *commit_hex,
                      int64_t exp, int64_t token_id, char *out, size_t cap)
{
    char payload[512], mac[65];
    int n = snprintf(payload, sizeof payload, "v2:%d:%s:%s:%lld:%lld", (int)type, repo, commit_hex, (long long)exp,
                     (long long)token_id);
    if (n < 0 || (size_t)n >= sizeof payload)
        return HG_ERR_TOOBIG;
    hub_mac_hex(h, payload, mac);
    /* The payload has no '.', so the last '.' separates the MAC. */
    n = snprintf(out, cap, "%s.%s", payload, mac);
    return n < 0 || (size_t)n >= cap ? HG_ERR_TOOBIG : HG_OK;
}

hg_err hub_token_check(hub *h, const char *token, hub_token *out)
{
    const char *dot = strrchr(token, '.');
    if (!dot || (size_t)(dot - token) >= 512 || strlen(dot + 1) != 64)
        return HG_ERR_DENIED;
    char payload[512], mac[65];
    memcpy(payload, token, (size_t)(dot - token));
    payload[dot - token] = '\0';
    hub_mac_hex(h, payload, mac);
    if (CRYPTO_memcmp(mac, dot + 1, 64) != 0)
        return HG_ERR_DENIED;
    int type, end = 0;
    long long exp, tid = 0;
    char repo[256], commit[64];
    if (sscanf(payload, "v2:%d:%255[^:]:%63[^:]:%lld:%lld%n", &type, repo, commit, &exp, &tid, &end) != 5 &&
        sscanf(payload, "v1:%d:%255[^:]:%63[^:]:%lld%n", &type, repo, commit, &exp, &end) != 4)
        return HG_ERR_DENIED;
    if (payload[end] || type < 0 || type > 2 || strlen(commit) != GIT_OID_HEX_LEN || tid < 0)
        return HG_ERR_DENIED;
    if (exp < (long long)time(NULL))
        return HG_ERR_DENIED;
    if (tid) {
        hg_err rc = store_token_alive(h->st, tid);
        if (rc)
            return rc;
    }
    out->type = (store_repo_type)type;
    snprintf(out->repo, sizeof out->repo, "%s", repo);
    memcpy(out->commit_hex, commit, GIT_OID_HEX_LEN + 1);
    out->exp = exp;
    out->token_id = tid;
    return HG_OK;
}

static void handle_repo_route(hub *h, const http_request *req, http_response *resp, hub_route *r)
{
    hub_ctx *x = calloc(1, sizeof *x);
    if (!x) {
        hub_error(resp, 503, NULL, "Out of memory");
        return;
    }
    x->h = h;
    x->req = req;
    x->resp = resp;
    x->route = r;
    switch (r->kind) {
    case ROUTE_RESOLVE:
    case ROUTE_RAW:
        hub_route_resolve(x, r->kind == ROUTE_RAW);
        break;
    case ROUTE_INFO:
    case ROUTE_REVISION:
        hub_route_info(x);
        break;
    case ROUTE_TREE:
        hub_route_tree(x);
        break;
    case ROUTE_PATHS_INFO:
        hub_route_paths_info(x);
        break;
    case ROUTE_REFS:
        hub_route_refs(x);
        break;
    case ROUTE_COMMITS:
        hub_route_commits(x);
        break;
    case ROUTE_XET_TOKEN:
        hub_route_xet_token(x);
        break;
    default:
        hub_error(resp, 404, NULL, "Not found");
        break;
    }
    store_commit_clear(&x->cm);
    free(x);
}

/* ---- policy and audit ---- */

int hub_policy_apply_with(const hub_policy *p, http_response *resp, const hub_policy_req *rq, hub_audit_rec *rec)
{
    hub_policy_verdict v;
    hub_policy_eval(p, rq, &v);
    if (v.kind != HUB_VERDICT_NONE && rec) {
        rec->verdict = v.kind == HUB_VERDICT_ALLOW ? "allow" : "deny";
        rec->rule = v.rule;
    }
    if (v.kind != HUB_VERDICT_DENY)
        return 0;
    HG_INFO("policy: %s %s %.200s%s%.300s: %s", store_repo_type_name(rq->type), rq->repo,
            rq->revision ? rq->revision : "-", rq->path ? " " : "", rq->path ? rq->path : "", v.message);
    hub_error(resp, 403, "PolicyDenied", "%s", v.message);
    return 1;
}

int hub_policy_apply(hub *h, http_response *resp, const hub_policy_req *rq, hub_audit_rec *rec)
{
    if (!h->policy)
        return 0;
    hub_policy *p = hub_policy_acquire(h->policy);
    int denied = hub_policy_apply_with(p, resp, rq, rec);
    hub_policy_release(&p);
    return denied;
}

int hub_scan_mode_now(hub *h)
{
    int mode = -1;
    if (h->policy) {
        hub_policy *p = hub_policy_acquire(h->policy);
        mode = hub_policy_scan_mode(p);
        hub_policy_release(&p);
    }
    return mode >= 0 ? mode : h->scan_mode;
}

static int repo_route(hub_route_kind k)
{
    return k >= ROUTE_RESOLVE && k <= ROUTE_XET_TOKEN;
}

/* The revision a repo route asks for ("main" when it names none but reads the default branch;
 * NULL for refs) and, for resolve/raw, the file path (decoded, joined with '/').  An unencoded
 * branch name with '/' is taken as its first segment here (the store is not consulted). */
static void route_target(const hub_route *r, char *rev, size_t revcap, const char **prev, char *path,
                         size_t pathcap, const char **ppath)
{
    size_t used = 0;
    *prev = NULL;
    *ppath = NULL;
    if (r->kind == ROUTE_REFS)
        return;
    if (r->kind == ROUTE_INFO || r->nrest == 0) {
        snprintf(rev, revcap, "main");
    } else if (!strcmp(r->raw_rest[0], "refs") && r->nrest >= 3 &&
               (!strcmp(r->rest[1], "pr") || !strcmp(r->rest[1], "convert"))) {
        snprintf(rev, revcap, "refs/%s/%s", r->rest[1], r->rest[2]);
        used = 3;
    } else {
        snprintf(rev, revcap, "%s", r->rest[0]);
        used = 1;
    }
    *prev = rev;
    if (r->kind != ROUTE_RESOLVE && r->kind != ROUTE_RAW && r->kind != ROUTE_TREE)
        return;
    size_t o = 0;
    path[0] = '\0';
    for (size_t i = used; i < r->nrest; i++) {
        int n = snprintf(path + o, pathcap - o, "%s%s", o ? "/" : "", r->rest[i]);
        if (n < 0 || (size_t)n >= pathcap - o)
            break;
        o += (size_t)n;
    }
    if (r->kind != ROUTE_TREE)
        *ppath = path; /* tree paths are folders: recorded by the audit, not file requests */
}

int hub_policy_content(hub *h, http_response *resp, const hub_route *r, const char *content_format)
{
    if (!h->policy || !r || !content_format)
        return 0;
    char rev[1024], path[4096];
    hub_policy_req rq = {.type = r->type, .repo = r->repo, .content_format = content_format};
    route_target(r, rev, sizeof rev, &rq.revision, path, sizeof path, &rq.path);
    if (!rq.path)
        return 0;
    return hub_policy_apply(h, resp, &rq, r->audit);
}

static int policy_denies(hub *h, http_response *resp, const hub_route *r)
{
    if (!h->policy)
        return 0;
    char rev[1024], path[4096];
    hub_policy_req rq = {.type = r->type, .repo = r->repo};
    route_target(r, rev, sizeof rev, &rq.revision, path, sizeof path, &rq.path);
    if (r->kind == ROUTE_TREE)
        rq.path = NULL;
    return hub_policy_apply(h, resp, &rq, r->audit);
}

typedef struct audit_box {
    hub_audit *audit;
    hub_audit_rec rec;
} audit_box;

static void audit_respond(void *arg, const http_response *resp)
{
    hub_audit_rec *rec = &((audit_box *)arg)->rec;
    rec->status = resp->status;
    for (size_t i = 0; i < resp->nheaders; i++) {
        const char *k = resp->headers[i].key, *v = resp->headers[i].value;
        if (!strcasecmp(k, "X-Repo-Commit") && !rec->commit[0])
            snprintf(rec->commit, sizeof rec->commit, "%s", v);
        else if (!strcasecmp(k, "X-Hubgate-Cache"))
            rec->cache = !strcmp(v, "hit") ? "hit" : "miss";
        else if (!strcasecmp(k, "X-Hubgate-Scan"))
            rec->scan = !strcmp(v, "block") ? "block" : !strcmp(v, "warn") ? "warn" : "allow";
        else if (!strcasecmp(k, "X-Error-Code") && !strcmp(v, "BlockedByScanner"))
            rec->scan = "block";
    }
}

static void audit_done(void *arg, const http_completion *c)
{
    audit_box *b = arg;
    if (c->status)
        b->rec.status = c->status;
    b->rec.bytes = c->known ? (int64_t)c->bytes_sent : -1;
    b->rec.complete = c->completed;
    hub_audit_write(b->audit, &b->rec);
    free(b);
}

/* Starts the audit record of a request that touches a repo or content. */
static hub_audit_rec *audit_begin(hub *h, const http_request *req, const hub_route *r, const char *route)
{
    if (!h->audit || !(repo_route(r->kind) || r->kind == ROUTE_RECON_V1 || r->kind == ROUTE_RECON_V2 ||
                       r->kind == ROUTE_XORB))
        return NULL;
    audit_box *b = calloc(1, sizeof *b);
    if (!b)
        return NULL; /* the request is still served; the log misses it */
    b->audit = h->audit;
    hub_audit_rec *rec = &b->rec;
    hub_audit_rec_start(rec);
    snprintf(rec->client, sizeof rec->client, "%s", req->client);
    snprintf(rec->method, sizeof rec->method, "%s", req->method);
    rec->route = route;
    const char *tok = hub_bearer(req);
    if (tok)
        store_token_fingerprint(tok, rec->token);
    if (repo_route(r->kind)) {
        rec->has_repo = 1;
        rec->type = r->type;
        snprintf(rec->repo, sizeof rec->repo, "%s", r->repo);
        char rev[1024], path[4096];
        const char *prev, *ppath;
        route_target(r, rev, sizeof rev, &prev, path, sizeof path, &ppath);
        if (prev)
            snprintf(rec->revision, sizeof rec->revision, "%s", prev);
        if (r->kind == ROUTE_RESOLVE || r->kind == ROUTE_RAW || r->kind == ROUTE_TREE)
            snprintf(rec->path, sizeof rec->path, "%.512s", path);
    } else {
        snprintf(rec->hash, sizeof rec->hash, "%s", r->hash);
    }
    http_on_complete(req, audit_respond, audit_done, b);
    return rec;
}

static const char *const route_names[ROUTE_COUNT] = {
    [ROUTE_NONE] = "none",         [ROUTE_RESOLVE] = "resolve",     [ROUTE_RAW] = "raw",
    [ROUTE_INFO] = "info",         [ROUTE_REVISION] = "revision",   [ROUTE_TREE] = "tree",
    [ROUTE_PATHS_INFO] = "paths_info", [ROUTE_REFS] = "refs",       [ROUTE_COMMITS] = "commits",
    [ROUTE_XET_TOKEN] = "xet_token", [ROUTE_RECON_V2] = "reconstruction_v2",
    [ROUTE_RECON_V1] = "reconstruction_v1", [ROUTE_XORB] = "xorb", [ROUTE_CHUNK_DEDUP] = "chunk_dedup",
    [ROUTE_HEALTH] = "health",     [ROUTE_METRICS] = "metrics",
};

static void metrics(hub *h, http_response *resp)
{
    hg_buf b;
    hg_buf_init(&b, 1u << 20);
    hg_err rc = HG_OK;
    char line[1024];
    for (int k = 1; k < ROUTE_COUNT && !rc; k++) {
        int n = snprintf(line, sizeof line, "hubgate_requests_total{route=\"%s\"} %lu\n", route_names[k],
                         __atomic_load_n(&h->requests[k], __ATOMIC_RELAXED));
        rc = hg_buf_append(&b, line, (size_t)n);
    }
    int n = snprintf(line, sizeof line, "hubgate_errors_total %lu\nhubgate_json_cache_hits_total %lu\n"
                     "hubgate_upstream_downloads_total %lu\nhubgate_upstream_regions_first_total %lu\n",
                     __atomic_load_n(&h->errors, __ATOMIC_RELAXED), __atomic_load_n(&h->cache.hits, __ATOMIC_RELAXED),
                     hub_flights_started(h->flights), hub_flights_regions(h->flights));
    if (!rc && h->up) {
        upstream_stats us;
        upstream_get_stats(h->up, &us);
        rc = hg_buf_append(&b, line, (size_t)n);
        n = snprintf(line, sizeof line,
                     "hubgate_upstream_calls_total %lu\nhubgate_upstream_retries_total %lu\n"
                     "hubgate_upstream_failures_total %lu\nhubgate_upstream_body_bytes_total %llu\n"
                     "hubgate_upstream_xet_bodies_total %lu\nhubgate_upstream_xet_terms_total %lu\n"
                     "hubgate_upstream_xet_fetches_total %lu\nhubgate_upstream_xet_fallbacks_total %lu\n",
                     us.calls, us.retries, us.failures, us.body_bytes, us.xet_bodies, us.xet_terms,
                     us.xet_fetches, us.xet_fallbacks);
    }
    if (!rc)
        rc = hg_buf_append(&b, line, (size_t)n);
    uint64_t fbytes;
    unsigned long fmade, fserved;
    hub_files_stats(h->files, &fbytes, &fmade, &fserved);
    unsigned long rhits, rmisses;
    store_rcache_stats(h->st, &rhits, &rmisses);
    n = snprintf(line, sizeof line, "hubgate_plain_files_bytes %llu\nhubgate_plain_files_made_total %lu\n"
                 "hubgate_plain_files_served_total %lu\nhubgate_index_cache_hits_total %lu\n"
                 "hubgate_index_cache_misses_total %lu\n", (unsigned long long)fbytes, fmade, fserved, rhits, rmisses);
    if (!rc)
        rc = hg_buf_append(&b, line, (size_t)n);
    if (!rc)
        rc = http_response_body(resp, b.data, b.len);
    if (!rc)
        rc = http_response_header(resp, "Content-Type", "text/plain; version=0.0.4");
    hg_buf_free(&b);
    if (rc)
        hub_error(resp, 500, NULL, "Cannot build metrics");
}

static int method_allowed(const hub_route *r, const char *m)
{
    int get = !strcmp(m, "GET") || !strcmp(m, "HEAD");
    if (r->kind == ROUTE_PATHS_INFO)
        return !strcmp(m, "POST");
    return get;
}

void hub_handle(void *arg, const http_request *req, http_response *resp)
{
    hub *h = arg;
    hub_common_headers(resp);
    if (!strcmp(req->method, "OPTIONS")) {
        resp->status = 204;
        hg_err rc = http_response_header(resp, "Access-Control-Allow-Headers", "Authorization, Range, Accept, Content-Type");
        if (!rc)
            rc = http_response_header(resp, "Access-Control-Allow-Methods", "GET, HEAD, POST, OPTIONS");
        (void)rc;
        return;
    }
    if (req->error_status) {
        /* Refused by the HTTP layer (URL, query or body limits): same error contract. */
        hub_error(resp, req->error_status, NULL, "%s", req->error_msg);
        __atomic_add_fetch(&h->errors, 1, __ATOMIC_RELAXED);
        return;
    }
    hub_route r;
    hg_err rc = hub_route_parse(req->path, &r);
    if (!rc && r.kind > ROUTE_NONE && r.kind < ROUTE_COUNT)
        r.audit = audit_begin(h, req, &r, route_names[r.kind]);
    if (rc == HG_ERR_INVAL) {
        hub_error(resp, 400, NULL, "Malformed URL: bad percent-encoding or too many segments");
    } else if (rc || r.kind == ROUTE_NONE) {
        hub_error(resp, 404, NULL, "Not found: %s %.200s", req->method, req->path);
    } else if (!method_allowed(&r, req->method)) {
        hub_error(resp, 405, NULL, "Method %s not allowed here", req->method);
        rc = http_response_header(resp, "Allow", "%s", r.kind == ROUTE_PATHS_INFO ? "POST, OPTIONS" : "GET, HEAD, OPTIONS");
        (void)rc;
    } else if (r.kind == ROUTE_HEALTH) {
        hub_json(resp, json_pack("{s:s}", "status", "ok"));
    } else if (r.kind == ROUTE_METRICS) {
        metrics(h, resp);
    } else if (r.kind == ROUTE_RECON_V2 || r.kind == ROUTE_RECON_V1) {
        hub_route_reconstruction(h, req, resp, &r, r.kind == ROUTE_RECON_V2);
    } else if (r.kind == ROUTE_XORB) {
        hub_route_xorb(h, req, resp, &r);
    } else if (r.kind == ROUTE_CHUNK_DEDUP) {
        hub_error(resp, 404, NULL, "Chunk not found");
    } else if (policy_denies(h, resp, &r)) {
        /* 403 PolicyDenied, for local and upstream repos alike */
    } else {
        store_read_begin(h->st); /* ended by store_release below */
        if (hub_upstream_wants(h, &r)) {
            store_read_end(h->st);
            hub_upstream_route(h, req, resp);
        } else {
            handle_repo_route(h, req, resp, &r);
        }
    }
    if (r.kind > ROUTE_NONE && r.kind < ROUTE_COUNT)
        __atomic_add_fetch(&h->requests[r.kind], 1, __ATOMIC_RELAXED);
    if (resp->status >= 400)
        __atomic_add_fetch(&h->errors, 1, __ATOMIC_RELAXED);
    HG_DEBUG("%s %s %.200s -> %d", req->client, req->method, req->path, resp->status);
    hub_route_clear(&r);
    store_release(h->st);
}
