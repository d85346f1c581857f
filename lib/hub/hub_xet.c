/*
 * hub_xet.c - the Xet read path served by hubgate itself: read tokens, reconstructions (v2, v1
 * and legacy paths) and xorb byte ranges through signed URLs (hub-protocol.md 2.8-2.10,
 * xet-spec.md 5).
 *
 * Tokens are "<payload>.<HMAC>" scoped to a repo and commit with an expiry; a reconstruction is
 * answered only for a file of that commit.  Xorb URLs carry the exact byte ranges they authorise
 * (X-Xet-Signed-Range), an expiry and an HMAC, so a fetch may ask only for those ranges.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "http/http_range.h"
#include "hub/hub_body.h"
#include "hub/hub_int.h"
#include "hub/hub_scan.h"
#include "util/hg_log.h"

#define MAX_SIGNED_RANGES 256

void hub_route_xet_token(hub_ctx *x)
{
    if (x->route->nrest == 0)
        snprintf(x->rev, sizeof x->rev, "main");
    if (hub_ctx_resolve(x, 1, NULL))
        return;
    hub_xet_token_answer(x->h, x->resp, x->repo.type, x->repo.name, x->commit_hex, x->token_id, 0);
}

void hub_xet_token_answer(hub *h, http_response *resp, store_repo_type type, const char *repo,
                          const char *commit_hex, int64_t token_id, unsigned ttl_s)
{
    int64_t exp = (int64_t)time(NULL) + (ttl_s ? ttl_s : h->token_ttl_s);
    char token[1024];
    if (hub_token_make(h, type, repo, commit_hex, exp, token_id, token, sizeof token)) {
        hub_error(resp, 500, NULL, "Cannot issue a token");
        return;
    }
    /* Both the JSON body (hf_xet, JS) and the headers (Python 0.30-1.18) (sharp edge S9). */
    hg_err rc = http_response_header(resp, "X-Xet-Cas-Url", "%s", h->public_url);
    if (!rc)
        rc = http_response_header(resp, "X-Xet-Access-Token", "%s", token);
    if (!rc)
        rc = http_response_header(resp, "X-Xet-Token-Expiration", "%lld", (long long)exp);
    if (rc) {
        hub_error(resp, 500, NULL, "Cannot build the response");
        return;
    }
    hub_json(resp, json_pack("{s:s,s:I,s:s}", "accessToken", token, "exp", (json_int_t)exp, "casUrl", h->public_url));
}

/* The MAC message of a xorb URL.  The ranges string is "bytes=a-b[,c-d]" with inclusive ends; a
 * token id (URLs of a reconstruction for a private repo) is signed in, so it cannot be dropped. */
static int xorb_msg(char *msg, size_t cap, const char *xorb_hex, const char *ranges, const char *exp,
                    const char *token_id)
{
    int n = token_id ? snprintf(msg, cap, "xorb:%s:%s:%s:%s", xorb_hex, ranges, exp, token_id)
                     : snprintf(msg, cap, "xorb:%s:%s:%s", xorb_hex, ranges, exp);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static int sign_url(hub *h, const char *xorb_hex, const char *ranges, int64_t exp, int64_t token_id, char *out,
                    size_t cap)
{
    char msg[8192], mac[65], enc[8192], exps[24], tids[24] = "";
    snprintf(exps, sizeof exps, "%lld", (long long)exp);
    if (token_id)
        snprintf(tids, sizeof tids, "%lld", (long long)token_id);
    if (xorb_msg(msg, sizeof msg, xorb_hex, ranges, exps, token_id ? tids : NULL))
        return -1;
    hub_mac_hex(h, msg, mac);
    if (http_pct_encode(ranges, 0, enc, sizeof enc))
        return -1;
    int n = snprintf(out, cap, "%s/xorbs/default/%s?X-Xet-Signed-Range=%s&Expires=%s%s%s&Signature=%s",
                     h->public_url, xorb_hex, enc, exps, token_id ? "&Token-Id=" : "", tids, mac);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* One term of the answer, possibly trimmed to the requested byte range. */
typedef struct recon_term {
    const store_term *t;
    uint32_t start, end;   /* chunk range actually used */
    uint32_t unpacked;
    uint64_t rec_start, rec_end; /* [start, end) bytes in the xorb file */
} recon_term;

/* Fills rt for term t restricted to file bytes [lo, hi] (inclusive) given the term's first
 * byte at tbase; returns bytes skipped before lo inside the first kept chunk via *skip. */
static hg_err trim_term(store *st, const store_term *t, uint64_t tbase, uint64_t lo, uint64_t hi,
                        recon_term *rt, uint64_t *skip)
{
    uint32_t n = t->chunk_end - t->chunk_start;
    store_chunk_info *ci = malloc(n * sizeof *ci);
    if (!ci)
        return HG_ERR_NOMEM;
    hg_err rc = store_xorb_chunk_info(st, t->xorb_id, t->chunk_start, t->chunk_end, ci);
    if (rc) {
        free(ci);
        return rc;
    }
    uint64_t off = tbase;
    int started = 0;
    rt->t = t;
    rt->unpacked = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t cend = off + ci[i].raw_len; /* exclusive */
        if (cend > lo && off <= hi) {
            if (!started) {
                started = 1;
                rt->start = t->chunk_start + i;
                rt->rec_start = ci[i].rec_off;
                if (skip)
                    *skip = lo > off ? lo - off : 0;
            }
            rt->end = t->chunk_start + i + 1;
            rt->rec_end = ci[i].rec_off + ci[i].rec_len;
            rt->unpacked += ci[i].raw_len;
        }
        off = cend;
    }
    free(ci);
    return started ? HG_OK : HG_ERR_NOTFOUND;
}

static int auth_token(hub *h, const http_request *req, http_response *resp, hub_token *tok)
{
    const char *a = http_header(req, "Authorization");
    hg_err rc = a && !strncasecmp(a, "Bearer ", 7) ? hub_token_check(h, a + 7, tok) : HG_ERR_DENIED;
    if (rc == HG_ERR_DENIED)
        hub_error(resp, 401, NULL, "Missing, invalid or expired Xet access token");
    else if (rc)
        hub_store_error(resp, rc, "the access tokens");
    return rc ? -1 : 0;
}

/* Merges sorted chunk ranges of one xorb into fetch ranges (chunks and record bytes). */
typedef struct fetch_range {
    uint32_t cs, ce;
    uint64_t bs, be; /* inclusive */
} fetch_range;

static int cmp_fetch(const void *a, const void *b)
{
    const fetch_range *x = a, *y = b;
    return x->cs < y->cs ? -1 : x->cs > y->cs;
}

static json_t *xorb_entries(hub *h, const char *xorb_hex, fetch_range *fr, size_t n, int64_t exp,
                            int64_t token_id, int v2)
{
    qsort(fr, n, sizeof *fr, cmp_fetch);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (m && fr[i].cs <= fr[m - 1].ce) { /* overlapping or adjacent: one range */
            if (fr[i].ce > fr[m - 1].ce) {
                fr[m - 1].ce = fr[i].ce;
                fr[m - 1].be = fr[i].be;
            }
        } else {
            fr[m++] = fr[i];
        }
    }
    json_t *arr = json_array();
    char url[16384], ranges[8192];
    if (!arr)
        return NULL;
    if (v2) {
        /* One entry per xorb (JS deduplicates entries by URL), at most MAX_SIGNED_RANGES each. */
        for (size_t i = 0; i < m; i += MAX_SIGNED_RANGES) {
            size_t end = i + MAX_SIGNED_RANGES < m ? i + MAX_SIGNED_RANGES : m, o = 0;
            json_t *rs = json_array();
            o += (size_t)snprintf(ranges, sizeof ranges, "bytes=");
            for (size_t k = i; k < end; k++) {
                o += (size_t)snprintf(ranges + o, sizeof ranges - o, "%s%llu-%llu", k > i ? "," : "",
                                      (unsigned long long)fr[k].bs, (unsigned long long)fr[k].be);
                json_array_append_new(rs, json_pack("{s:{s:I,s:I},s:{s:I,s:I}}", "chunks", "start",
                                                    (json_int_t)fr[k].cs, "end", (json_int_t)fr[k].ce, "bytes",
                                                    "start", (json_int_t)fr[k].bs, "end", (json_int_t)fr[k].be));
            }
            if (o >= sizeof ranges || sign_url(h, xorb_hex, ranges, exp, token_id, url, sizeof url)) {
                json_decref(rs);
                json_decref(arr);
                return NULL;
            }
            json_array_append_new(arr, json_pack("{s:s,s:o}", "url", url, "ranges", rs));
        }
    } else {
        for (size_t k = 0; k < m; k++) {
            snprintf(ranges, sizeof ranges, "bytes=%llu-%llu", (unsigned long long)fr[k].bs,
                     (unsigned long long)fr[k].be);
            if (sign_url(h, xorb_hex, ranges, exp, token_id, url, sizeof url)) {
                json_decref(arr);
                return NULL;
            }
            json_array_append_new(arr, json_pack("{s:{s:I,s:I},s:s,s:{s:I,s:I}}", "range", "start",
                                                 (json_int_t)fr[k].cs, "end", (json_int_t)fr[k].ce, "url", url,
                                                 "url_range", "start", (json_int_t)fr[k].bs, "end", (json_int_t)fr[k].be));
        }
    }
    return arr;
}

/* Builds the reconstruction JSON for bytes [lo, hi] of a content. */
static json_t *build_recon(hub *h, const store_content *ct, uint64_t lo, uint64_t hi, int64_t token_id, int v2,
                           hg_err *err)
{
    store_term *terms = NULL;
    size_t nt = 0;
    *err = store_content_terms(h->st, ct->id, &terms, &nt);
    if (*err)
        return NULL;
    store_content_used(h->st, ct->id);
    recon_term *rt = calloc(nt ? nt : 1, sizeof *rt);
    fetch_range *fr = calloc(nt ? nt : 1, sizeof *fr);
    json_t *jterms = json_array(), *xorbs = json_object(), *out = NULL;
    uint64_t base = 0, skip = 0;
    size_t nr = 0;
    if (!rt || !fr || !jterms || !xorbs)
        *err = HG_ERR_NOMEM;
    for (size_t i = 0; i < nt && !*err; i++) {
        uint64_t tend = base + terms[i].unpacked; /* exclusive */
        if (tend > lo && base <= hi) {
            *err = trim_term(h->st, &terms[i], base, lo, hi, &rt[nr], nr == 0 ? &skip : NULL);
            if (!*err) {
                char xh[XET_HEX_LEN + 1];
                xet_hash_to_hex(&terms[i].xorb, xh);
                json_array_append_new(jterms, json_pack("{s:s,s:I,s:{s:I,s:I}}", "hash", xh, "unpacked_length",
                                                        (json_int_t)rt[nr].unpacked, "range", "start",
                                                        (json_int_t)rt[nr].start, "end", (json_int_t)rt[nr].end));
                nr++;
            }
        }
        base = tend;
    }
    /* Group the fetch ranges by xorb. */
    int64_t exp = (int64_t)time(NULL) + h->token_ttl_s;
    int *done = calloc(nr ? nr : 1, sizeof *done);
    if (!done && !*err)
        *err = HG_ERR_NOMEM;
    for (size_t i = 0; i < nr && !*err; i++) {
        if (done[i])
            continue;
        size_t nf = 0;
        for (size_t k = i; k < nr; k++)
            if (!done[k] && xet_hash_eq(&rt[k].t->xorb, &rt[i].t->xorb)) {
                fr[nf++] = (fetch_range){rt[k].start, rt[k].end, rt[k].rec_start, rt[k].rec_end - 1};
                done[k] = 1;
            }
        char xh[XET_HEX_LEN + 1];
        xet_hash_to_hex(&rt[i].t->xorb, xh);
        json_t *entries = xorb_entries(h, xh, fr, nf, exp, token_id, v2);
        if (!entries)
            *err = HG_ERR_NOMEM;
        else
            json_object_set_new(xorbs, xh, entries);
    }
    if (!*err)
        out = json_pack("{s:I,s:O,s:O}", "offset_into_first_range", (json_int_t)skip, "terms", jterms,
                        v2 ? "xorbs" : "fetch_info", xorbs);
    if (!out && !*err)
        *err = HG_ERR_NOMEM;
    json_decref(jterms);
    json_decref(xorbs);
    free(done);
    free(rt);
    free(fr);
    free(terms);
    return out;
}

typedef struct path_check {
    const hub_policy *p;
    http_response *resp;
    hub_policy_req rq;
    hub_audit_rec *rec;
    int denied, seen;
} path_check;

static int check_path(void *arg, const char *path)
{
    path_check *pc = arg;
    pc->seen = 1;
    pc->rq.path = path;
    pc->denied = hub_policy_apply_with(pc->p, pc->resp, &pc->rq, pc->rec);
    return pc->denied; /* stop at the first denial */
}

/* The policy for a reconstruction: the token's repo and commit (its revision pin included) and,
 * for local repos, every path of the commit holding that content (one denied path denies the
 * bytes).  Upstream repos are checked without a path: their trees are not in the store. */
static int recon_denied(hub *h, http_response *resp, const hub_token *tok, const git_oid *tree, int64_t content_id,
                        hub_audit_rec *rec)
{
    if (!h->policy)
        return 0;
    path_check pc = {.resp = resp, .rq = {.type = tok->type, .repo = tok->repo, .revision = tok->commit_hex},
                     .rec = rec};
    pc.p = hub_policy_acquire(h->policy);
    hg_err rc = tree ? store_content_paths(h->st, tree, content_id, check_path, &pc) : HG_OK;
    if (rc) {
        hub_store_error(resp, rc, "the file's paths");
        pc.denied = 1;
    } else if (!pc.seen) {
        pc.rq.path = NULL;
        pc.denied = hub_policy_apply_with(pc.p, resp, &pc.rq, rec);
    }
    hub_policy_release((hub_policy **)&pc.p);
    return pc.denied;
}

void hub_route_reconstruction(hub *h, const http_request *req, http_response *resp, const hub_route *r, int v2)
{
    hub_token tok;
    if (auth_token(h, req, resp, &tok))
        return;
    xet_hash fh;
    store_content ct;
    store_repo repo;
    git_oid commit;
    store_commit cm = {0};
    int local = 0;
    hg_err rc = xet_hash_from_hex(r->hash, strlen(r->hash), &fh);
    if (!rc)
        rc = store_content_by_xet(h->st, &fh, &ct);
    if (!rc)
        rc = store_repo_find(h->st, tok.type, tok.repo, &repo);
    if (rc == HG_ERR_NOTFOUND && h->up) {
        /* A repo of the upstream: the content must be one upstream showed in that commit. */
        rc = store_upstream_linked(h->st, tok.type, tok.repo, tok.commit_hex, ct.id);
    } else {
        if (!rc)
            rc = git_oid_from_hex(tok.commit_hex, strlen(tok.commit_hex), &commit);
        if (!rc)
            rc = store_commit_get(h->st, repo.id, &commit, &cm);
        if (!rc)
            rc = store_commit_has_content(h->st, &cm.tree, ct.id);
        local = 1;
    }
    git_oid tree = cm.tree;
    store_commit_clear(&cm);
    if (r->audit) {
        r->audit->has_repo = 1;
        r->audit->type = tok.type;
        snprintf(r->audit->repo, sizeof r->audit->repo, "%s", tok.repo);
        snprintf(r->audit->revision, sizeof r->audit->revision, "%s", tok.commit_hex);
        snprintf(r->audit->commit, sizeof r->audit->commit, "%s", tok.commit_hex);
    }
    if (rc == HG_ERR_NOTFOUND || rc == HG_ERR_INVAL) {
        hub_error(resp, 404, NULL, "File not found in the repository this token is for");
        return;
    }
    if (rc) {
        hub_store_error(resp, rc, "the reconstruction");
        return;
    }
    if (recon_denied(h, resp, &tok, local ? &tree : NULL, ct.id, r->audit))
        return;
    int mode = hub_scan_mode_now(h);
    if (mode != HUB_SCAN_OFF) {
        /* The Xet path is a download like any other: the scanner's verdict applies. */
        hub_scan_info info;
        char name[80];
        snprintf(name, sizeof name, "content %s", r->hash);
        rc = hub_scan_content(h->st, &ct, name, &info);
        if (rc && mode == HUB_SCAN_BLOCK) {
            hub_error(resp, 503, NULL, "The file cannot be scanned right now (%s); try again later", hg_strerror(rc));
            return;
        }
        /* The policy's "formats" by content too (a pickle named .safetensors is a pickle). */
        hub_policy_req prq = {.type = tok.type, .repo = tok.repo, .revision = tok.commit_hex, .path = "",
                              .content_format = info.known ? hub_scan_policy_format(info.format) : NULL};
        if (prq.content_format && hub_policy_apply(h, resp, &prq, r->audit))
            return;
        if (hub_scan_apply((hub_scan_mode)mode, &info, name, resp))
            return;
    }
    uint64_t lo = 0, hi = ct.size ? ct.size - 1 : 0;
    const char *range = http_header(req, "Range");
    if (range) {
        http_range rs[1];
        size_t n = 0;
        http_range_result rr = http_range_parse(range, ct.size, rs, 1, &n);
        if (rr == HTTP_RANGE_UNSATISFIABLE) {
            char cr[HTTP_CONTENT_RANGE_MAX];
            http_content_range(cr, sizeof cr, NULL, ct.size);
            hub_error(resp, 416, NULL, "Range not satisfiable");
            hg_err hr = http_response_header(resp, "Content-Range", "%s", cr);
            (void)hr;
            return;
        }
        if (rr == HTTP_RANGE_OK) {
            lo = rs[0].start;
            hi = rs[0].end;
        }
    }
    if (ct.size == 0) {
        hub_json(resp, json_pack(v2 ? "{s:i,s:[],s:{}}" : "{s:i,s:[],s:{}}", "offset_into_first_range", 0, "terms",
                                 v2 ? "xorbs" : "fetch_info"));
        return;
    }
    json_t *out = build_recon(h, &ct, lo, hi, tok.token_id, v2, &rc);
    if (!out) {
        hub_store_error(resp, rc ? rc : HG_ERR_NOMEM, "the reconstruction");
        return;
    }
    hub_json(resp, out);
}

/* Parses "bytes=a-b,c-d" (as signed) into ranges; -1 if malformed. */
static int parse_signed(const char *s, http_range *out, size_t max, size_t *n)
{
    if (strncmp(s, "bytes=", 6))
        return -1;
    s += 6;
    *n = 0;
    while (*s) {
        char *end;
        unsigned long long a = strtoull(s, &end, 10);
        if (end == s || *end != '-')
            return -1;
        s = end + 1;
        unsigned long long b = strtoull(s, &end, 10);
        if (end == s || b < a || *n == max)
            return -1;
        out[(*n)++] = (http_range){a, b};
        s = end;
        if (*s == ',')
            s++;
        else if (*s)
            return -1;
    }
    return *n ? 0 : -1;
}

void hub_route_xorb(hub *h, const http_request *req, http_response *resp, const hub_route *r)
{
    const char *signed_range = http_query(req, "X-Xet-Signed-Range"), *exps = http_query(req, "Expires"),
               *sig = http_query(req, "Signature"), *tids = http_query(req, "Token-Id");
    if (!signed_range || !exps || !sig) {
        hub_error(resp, 403, NULL, "Xorb URLs must be signed: fetch a reconstruction first");
        return;
    }
    char msg[8192], mac[65];
    char *end, *tend = NULL;
    long long exp = strtoll(exps, &end, 10), tid = tids ? strtoll(tids, &tend, 10) : 0;
    if (*end || (tids && (*tend || tid <= 0)) || strlen(sig) != 64 ||
        xorb_msg(msg, sizeof msg, r->hash, signed_range, exps, tids)) {
        hub_error(resp, 403, NULL, "Invalid xorb URL signature");
        return;
    }
    hub_mac_hex(h, msg, mac);
    if (CRYPTO_memcmp(mac, sig, 64) != 0) {
        hub_error(resp, 403, NULL, "Invalid xorb URL signature");
        return;
    }
    if (exp < (long long)time(NULL)) {
        hub_error(resp, 403, NULL, "Xorb URL expired: fetch the reconstruction again");
        return;
    }
    hg_err alive = tid ? store_token_alive(h->st, tid) : HG_OK;
    if (alive == HG_ERR_DENIED) {
        hub_error(resp, 403, NULL, "Xorb URL of a revoked or expired access token");
        return;
    }
    if (alive) {
        hub_store_error(resp, alive, "the access tokens");
        return;
    }
    http_range allowed[MAX_SIGNED_RANGES], want[HUB_MAX_RANGES];
    size_t na, nw = 0;
    if (parse_signed(signed_range, allowed, MAX_SIGNED_RANGES, &na)) {
        hub_error(resp, 403, NULL, "Invalid signed range");
        return;
    }
    xet_hash xh;
    int fd = -1;
    uint64_t size;
    hg_err rc = xet_hash_from_hex(r->hash, strlen(r->hash), &xh);
    if (!rc)
        rc = store_xorb_open(h->st, &xh, &fd, &size);
    if (rc == HG_ERR_NOTFOUND) {
        hub_error(resp, 404, NULL, "Xorb not found");
        return;
    }
    if (rc) {
        hub_store_error(resp, rc, "the xorb");
        return;
    }
    const char *range = http_header(req, "Range");
    http_range_result rr = range ? http_range_parse(range, size, want, HUB_MAX_RANGES, &nw) : HTTP_RANGE_NONE;
    if (rr != HTTP_RANGE_OK) {
        close(fd);
        if (rr == HTTP_RANGE_UNSATISFIABLE)
            hub_error(resp, 416, NULL, "Range not satisfiable");
        else
            hub_error(resp, 403, NULL, "A Range within the signed ranges is required");
        return;
    }
    for (size_t i = 0; i < nw; i++) {
        int ok = 0;
        for (size_t k = 0; k < na && !ok; k++)
            ok = want[i].start >= allowed[k].start && want[i].end <= allowed[k].end;
        if (!ok) {
            close(fd);
            hub_error(resp, 403, NULL, "Range %llu-%llu is not authorised by this URL",
                      (unsigned long long)want[i].start, (unsigned long long)want[i].end);
            return;
        }
    }
    if (nw > 1 && http_ranges_abusive(want, nw, size)) {
        /* Overlapping or excessive parts would make the answer a 200 of the whole xorb. */
        close(fd);
        hub_error(resp, 403, NULL, "Overlapping or excessive ranges are not served for xorbs");
        return;
    }
    if (nw == 1) {
        /* The records are stored as served: sendfile straight from the xorb file. */
        char cr[HTTP_CONTENT_RANGE_MAX];
        http_content_range(cr, sizeof cr, &want[0], size);
        resp->status = 206;
        resp->body_kind = HTTP_BODY_FD;
        resp->fd = fd;
        resp->fd_off = want[0].start;
        resp->fd_len = want[0].end - want[0].start + 1;
        rc = http_response_header(resp, "Content-Range", "%s", cr);
        if (!rc)
            rc = http_response_header(resp, "Content-Type", "application/octet-stream");
        if (rc)
            hub_store_error(resp, rc, "the xorb");
        return;
    }
    hub_body *b;
    if ((rc = hub_body_new(h->st, NULL, fd, &b))) {
        close(fd);
        hub_store_error(resp, rc, "the xorb");
        return;
    }
    if (hub_body_serve(&b, resp, range, 0, size, "application/octet-stream", HUB_MAX_RANGES))
        hub_store_error(resp, HG_ERR_NOMEM, "the xorb");
}
