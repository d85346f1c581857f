/*
 * hub_resolve.c - file downloads: resolve and raw, HEAD and GET, ranges, conditional requests,
 * and the Xet advertisement (hub-protocol.md 2.2, 2.3, 2.8).
 *
 * Every file is served directly (mode A: 200/206 from this server, no redirect).  LFS files also
 * advertise Xet (X-Xet-Hash, Link rels, X-Xet-Refresh-Route) pointing at this server's own token
 * and reconstruction endpoints, and answer the JS probe's Accept: vnd.xet-fileinfo+json with
 * mode D.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "hub/hub_body.h"
#include "hub/hub_files.h"
#include "hub/hub_flight.h"
#include "hub/hub_scan.h"
#include "hub/hub_int.h"

static const char *content_type_for(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (dot && !strcmp(dot, ".json"))
        return "application/json";
    if (dot && (!strcmp(dot, ".txt") || !strcmp(dot, ".md")))
        return "text/plain; charset=utf-8";
    return "application/octet-stream";
}

/* Is the ETag listed in If-None-Match ("*", or a comma-separated list, W/ tolerated)? */
static int etag_matches(const char *inm, const char *etag_quoted)
{
    if (!inm)
        return 0;
    if (!strcmp(inm, "*"))
        return 1;
    size_t el = strlen(etag_quoted);
    for (const char *p = inm; (p = strstr(p, etag_quoted)); p += el) {
        char after = p[el];
        if (after == '\0' || after == ',' || after == ' ')
            return 1;
    }
    return 0;
}

static int xet_headers(hub *h, http_response *resp, const xet_hash *xh, const char *token_url)
{
    char hash[XET_HEX_LEN + 1];
    xet_hash_to_hex(xh, hash);
    hg_err rc = http_response_header(resp, "X-Xet-Hash", "%s", hash);
    if (!rc)
        rc = http_response_header(resp, "Link", "<%s>; rel=\"xet-auth\", <%s/v1/reconstructions/%s>; rel=\"xet-reconstruction-info\"",
                                  token_url, h->public_url, hash);
    if (!rc)
        rc = http_response_header(resp, "X-Xet-Refresh-Route", "%s", token_url);
    return rc ? -1 : 0;
}

void hub_route_resolve(hub_ctx *x, int raw)
{
    size_t used;
    if (x->route->nrest == 0) {
        hub_error(x->resp, 400, NULL, "Missing revision");
        return;
    }
    if (hub_ctx_resolve(x, 1, &used) || hub_ctx_path(x, used))
        return;
    store_entry e;
    char pathbuf[4096];
    hg_err rc = *x->path ? store_path_lookup(x->h->st, &x->cm.tree, x->path, &e, pathbuf, sizeof pathbuf)
                         : HG_ERR_NOTFOUND;
    if (rc == HG_OK && e.is_dir)
        rc = HG_ERR_NOTFOUND;
    if (rc == HG_ERR_NOTFOUND) {
        hub_error(x->resp, 404, "EntryNotFound", "Entry not found");
        hg_err hr = http_response_header(x->resp, "X-Repo-Commit", "%s", x->commit_hex);
        (void)hr;
        return;
    }
    if (rc) {
        hub_store_error(x->resp, rc, "the file");
        return;
    }
    char token_url[2048] = "";
    if (e.is_lfs && !raw)
        snprintf(token_url, sizeof token_url, "%s/api/%s/%s/xet-read-token/%s", x->h->public_url,
                 hub_types_segment(x->repo.type), x->repo.name, x->commit_hex);
    hub_file f = {.ct = &e.content, .is_lfs = e.is_lfs, .raw = raw, .oid = &e.oid, .commit_hex = x->commit_hex,
                  .immutable = !strcmp(x->rev, x->commit_hex), .path = x->path,
                  .xet_token_url = *token_url ? token_url : NULL, .route = x->route};
    hub_serve_file(x->h, x->req, x->resp, &f);
}

/* The scanner's say on an LFS file (hub_scan.h): 1 when the response became a refusal. */
static int scan_refuses(hub *h, http_response *resp, const hub_file *f)
{
    int mode = hub_scan_mode_now(h);
    if (mode == HUB_SCAN_OFF || !f->is_lfs || f->raw)
        return 0;
    hub_scan_info info = {0};
    hg_err rc = HG_OK;
    if (f->flight)
        hub_flight_scan(f->flight, &info);
    else if (f->ct->id)
        rc = hub_scan_content(h->st, f->ct, f->path, &info);
    if (rc && mode == HUB_SCAN_BLOCK) {
        /* Unjudged is not allowed: the bytes wait until the scanner can read them. */
        hub_error(resp, 503, NULL, "%.200s cannot be scanned right now (%s); try again later", f->path, hg_strerror(rc));
        return 1;
    }
    if (info.known && hub_policy_content(h, resp, f->route, hub_scan_policy_format(info.format)))
        return 1;
    return hub_scan_apply((hub_scan_mode)mode, &info, f->path, resp);
}

void hub_serve_file(hub *h, const http_request *req, http_response *resp, const hub_file *f)
{
    if (scan_refuses(h, resp, f))
        return;
    char etag[80], sha[65], oid[GIT_OID_HEX_LEN + 1], ptr[GIT_LFS_POINTER_MAX + 1];
    size_t plen = 0;
    int serve_pointer = f->raw && f->is_lfs;
    hg_err rc = HG_OK;
    xet_bytes_to_hex(f->ct->sha256, 32, sha);
    git_oid_to_hex(f->oid, oid);
    if (serve_pointer)
        rc = git_lfs_pointer(f->ct->sha256, f->ct->size, ptr, sizeof ptr, &plen);
    /* ETag: sha256 of LFS files on resolve, else the git blob id (5.3). */
    snprintf(etag, sizeof etag, "\"%s\"", f->is_lfs && !f->raw ? sha : oid);
    if (!rc && f->commit_hex && *f->commit_hex)
        rc = http_response_header(resp, "X-Repo-Commit", "%s", f->commit_hex);
    if (!rc)
        rc = http_response_header(resp, "ETag", "%s", etag);
    if (!rc)
        rc = http_response_header(resp, "Accept-Ranges", "bytes");
    if (!rc)
        rc = http_response_header(resp, "Cache-Control", "%s",
                                  f->immutable ? "public, max-age=31536000, immutable" : "no-cache");
    if (!rc && f->is_lfs && !f->raw) {
        rc = http_response_header(resp, "X-Linked-Etag", "%s", etag);
        if (!rc)
            rc = http_response_header(resp, "X-Linked-Size", "%llu", (unsigned long long)f->ct->size);
    }
    if (!rc && f->xet_token_url && xet_headers(h, resp, &f->ct->xet, f->xet_token_url))
        rc = HG_ERR_NOMEM;
    if (rc) {
        hub_store_error(resp, rc, "the file");
        return;
    }
    if (etag_matches(http_header(req, "If-None-Match"), etag)) {
        resp->status = 304;
        return;
    }
    const char *accept = http_header(req, "Accept");
    if (f->xet_token_url && accept && strstr(accept, "application/vnd.xet-fileinfo+json")) {
        /* Mode D: JS reads the headers; the body mirrors them. */
        char hash[XET_HEX_LEN + 1], recon[2048];
        xet_hash_to_hex(&f->ct->xet, hash);
        snprintf(recon, sizeof recon, "%s/v1/reconstructions/%s", h->public_url, hash);
        hub_json(resp, json_pack("{s:s,s:s,s:s,s:s,s:I}", "hash", hash, "refreshUrl", f->xet_token_url,
                                 "reconstructionUrl", recon, "etag", sha, "size", (json_int_t)f->ct->size));
        for (size_t i = 0; i < resp->nheaders; i++)
            if (!strcmp(resp->headers[i].key, "Content-Type")) {
                free(resp->headers[i].value);
                resp->headers[i].value = strdup("application/vnd.xet-fileinfo+json");
            }
        return;
    }
    /* A content served often has a plain copy that goes out with sendfile (hub_files.h). */
    int plain = -1;
    if (!serve_pointer && !f->flight && f->ct->id && strcmp(req->method, "HEAD") != 0 &&
        hub_files_open(h->files, f->ct, &plain))
        plain = -1;
    if (!serve_pointer && !f->flight)
        store_content_used(h->st, f->ct->id);
    hub_body *b;
    rc = serve_pointer  ? hub_body_new_mem(ptr, plen, &b)
         : f->flight    ? hub_body_new_flight(f->flight, &b)
         : plain >= 0   ? hub_body_new(h->st, NULL, plain, &b)
                        : hub_body_new(h->st, f->ct, -1, &b);
    if (rc && plain >= 0)
        close(plain);
    if (rc) {
        hub_store_error(resp, rc, "the file");
        return;
    }
    uint64_t size = serve_pointer ? plen : f->ct->size;
    if (!serve_pointer && !f->flight && plain < 0 && size > 0 && strcmp(req->method, "HEAD") != 0 &&
        (rc = hub_body_prepare(b))) {
        /* Missing or truncated xorbs: say so now rather than start a 200 that cannot finish. */
        hub_body_free(b);
        if (rc == HG_ERR_CORRUPT)
            hub_error(resp, 500, NULL, "The stored bytes of %s are damaged or missing (the operator should "
                      "run 'hubgate verify')", f->path);
        else
            hub_store_error(resp, rc, "the file");
        return;
    }
    if (hub_body_serve(&b, resp, http_header(req, "Range"), 0, size,
                       serve_pointer ? "text/plain; charset=utf-8" : content_type_for(f->path), 16)) {
        hub_store_error(resp, HG_ERR_NOMEM, "the file");
        return;
    }
    /* Read (and verify) the first byte now: libmicrohttpd does not close a connection whose body
     * fails before its first byte, so a damaged first chunk must become an error status here. */
    char first;
    if (!f->flight && resp->body_kind == HTTP_BODY_READER && resp->size > 0 && strcmp(req->method, "HEAD") != 0 &&
        resp->reader(resp->reader_arg, 0, &first, 1, NULL) != 1) {
        http_response_clear(resp);
        hub_common_headers(resp);
        hub_error(resp, 500, NULL, "The stored bytes of %s are damaged (the operator should run 'hubgate verify')",
                  f->path);
    }
}
