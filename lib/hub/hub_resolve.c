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

#include "hub/hub_body.h"
#include "hub/hub_int.h"

static const char *types_segment(store_repo_type t)
{
    return t == STORE_DATASET ? "datasets" : t == STORE_SPACE ? "spaces" : "models";
}

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

static int xet_headers(hub_ctx *x, const store_entry *e, char *token_url, size_t cap)
{
    char hash[XET_HEX_LEN + 1];
    xet_hash_to_hex(&e->content.xet, hash);
    snprintf(token_url, cap, "%s/api/%s/%s/xet-read-token/%s", x->h->public_url, types_segment(x->repo.type),
             x->repo.name, x->commit_hex);
    hg_err rc = http_response_header(x->resp, "X-Xet-Hash", "%s", hash);
    if (!rc)
        rc = http_response_header(x->resp, "Link", "<%s>; rel=\"xet-auth\", <%s/v1/reconstructions/%s>; rel=\"xet-reconstruction-info\"",
                                  token_url, x->h->public_url, hash);
    if (!rc)
        rc = http_response_header(x->resp, "X-Xet-Refresh-Route", "%s", token_url);
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
    http_response *resp = x->resp;
    char etag[80], sha[65], oid[GIT_OID_HEX_LEN + 1], ptr[GIT_LFS_POINTER_MAX + 1];
    size_t plen = 0;
    int serve_pointer = raw && e.is_lfs;
    xet_bytes_to_hex(e.content.sha256, 32, sha);
    git_oid_to_hex(&e.oid, oid);
    if (serve_pointer)
        rc = git_lfs_pointer(e.content.sha256, e.content.size, ptr, sizeof ptr, &plen);
    /* ETag: sha256 of LFS files on resolve, else the git blob id (5.3). */
    snprintf(etag, sizeof etag, "\"%s\"", e.is_lfs && !raw ? sha : oid);
    if (!rc)
        rc = http_response_header(resp, "X-Repo-Commit", "%s", x->commit_hex);
    if (!rc)
        rc = http_response_header(resp, "ETag", "%s", etag);
    if (!rc)
        rc = http_response_header(resp, "Accept-Ranges", "bytes");
    if (!rc)
        rc = http_response_header(resp, "Cache-Control", "%s",
                                  strcmp(x->rev, x->commit_hex) ? "no-cache" : "public, max-age=31536000, immutable");
    if (!rc && e.is_lfs && !raw) {
        rc = http_response_header(resp, "X-Linked-Etag", "%s", etag);
        if (!rc)
            rc = http_response_header(resp, "X-Linked-Size", "%llu", (unsigned long long)e.content.size);
    }
    char token_url[2048];
    if (!rc && e.is_lfs && !raw && xet_headers(x, &e, token_url, sizeof token_url))
        rc = HG_ERR_NOMEM;
    if (rc) {
        hub_store_error(resp, rc, "the file");
        return;
    }
    if (etag_matches(http_header(x->req, "If-None-Match"), etag)) {
        resp->status = 304;
        return;
    }
    const char *accept = http_header(x->req, "Accept");
    if (e.is_lfs && !raw && accept && strstr(accept, "application/vnd.xet-fileinfo+json")) {
        /* Mode D: JS reads the headers; the body mirrors them. */
        char hash[XET_HEX_LEN + 1], recon[2048];
        xet_hash_to_hex(&e.content.xet, hash);
        snprintf(recon, sizeof recon, "%s/v1/reconstructions/%s", x->h->public_url, hash);
        hub_json(resp, json_pack("{s:s,s:s,s:s,s:s,s:I}", "hash", hash, "refreshUrl", token_url, "reconstructionUrl",
                                 recon, "etag", sha, "size", (json_int_t)e.content.size));
        for (size_t i = 0; i < resp->nheaders; i++)
            if (!strcmp(resp->headers[i].key, "Content-Type")) {
                free(resp->headers[i].value);
                resp->headers[i].value = strdup("application/vnd.xet-fileinfo+json");
            }
        return;
    }
    hub_body *b;
    rc = serve_pointer ? hub_body_new_mem(ptr, plen, &b) : hub_body_new(x->h->st, &e.content, -1, &b);
    if (rc) {
        hub_store_error(resp, rc, "the file");
        return;
    }
    uint64_t size = serve_pointer ? plen : e.content.size;
    if (!serve_pointer && size > 0 && strcmp(x->req->method, "HEAD") != 0 && (rc = hub_body_prepare(b))) {
        /* Missing or truncated xorbs: say so now rather than start a 200 that cannot finish. */
        hub_body_free(b);
        if (rc == HG_ERR_CORRUPT)
            hub_error(resp, 500, NULL, "The stored bytes of %s are damaged or missing (the operator should "
                      "run 'hubgate verify')", x->path);
        else
            hub_store_error(resp, rc, "the file");
        return;
    }
    if (hub_body_serve(&b, resp, http_header(x->req, "Range"), 0, size,
                       serve_pointer ? "text/plain; charset=utf-8" : content_type_for(x->path), 16))
        hub_store_error(resp, HG_ERR_NOMEM, "the file");
}
