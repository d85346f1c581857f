/*
 * hub_api.c - the JSON API: repo info, tree listings, paths-info, refs, commits
 * (hub-protocol.md 2.5-2.7, R11, R14).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hub/hub_int.h"

#define TREE_LIMIT_DEFAULT 1000
#define TREE_LIMIT_EXPAND  100
#define TREE_LIMIT_MAX     10000
#define PATHS_INFO_MAX     2000

/* true/True/1, false/False/0 (2.1); anything else is def. */
static int bool_param(const http_request *req, const char *key, int def)
{
    const char *v = http_query(req, key);
    if (!v)
        return def;
    if (!strcasecmp(v, "true") || !strcmp(v, "1"))
        return 1;
    if (!strcasecmp(v, "false") || !strcmp(v, "0"))
        return 0;
    return def;
}

typedef struct siblings_ctx {
    json_t *arr;
    int blobs;
    int failed;
} siblings_ctx;

static int sibling_cb(void *arg, const store_entry *e)
{
    siblings_ctx *s = arg;
    if (e->is_dir)
        return 0;
    json_t *o = json_pack("{s:s}", "rfilename", e->path);
    if (o && s->blobs) {
        char oid[GIT_OID_HEX_LEN + 1];
        git_oid_to_hex(&e->oid, oid);
        json_object_set_new(o, "size", json_integer((json_int_t)e->content.size));
        json_object_set_new(o, "blobId", json_string(oid));
        if (e->is_lfs) {
            char sha[65];
            xet_bytes_to_hex(e->content.sha256, 32, sha);
            json_object_set_new(o, "lfs", json_pack("{s:I,s:s,s:I}", "size", (json_int_t)e->content.size,
                                                      "sha256", sha, "pointerSize", (json_int_t)e->pointer_size));
        }
    }
    if (!o || json_array_append_new(s->arr, o)) {
        s->failed = 1;
        return 1;
    }
    return 0;
}

void hub_route_info(hub_ctx *x)
{
    if (hub_ctx_resolve(x, x->route->kind == ROUTE_REVISION, NULL))
        return;
    if (x->route->kind == ROUTE_REVISION && x->route->nrest == 0) {
        hub_error(x->resp, 400, NULL, "Missing revision");
        return;
    }
    char key[512];
    snprintf(key, sizeof key, "info|%d|%s|%s|%d", (int)x->repo.type, x->repo.name, x->commit_hex,
             bool_param(x->req, "blobs", 0));
    if (hub_cache_serve(x, key))
        return;
    siblings_ctx s = {json_array(), bool_param(x->req, "blobs", 0), 0};
    int more;
    hg_err rc = s.arr ? store_tree_list(x->h->st, &x->cm.tree, "", 1, 0, 0, sibling_cb, &s, &more) : HG_ERR_NOMEM;
    if (rc || s.failed) {
        json_decref(s.arr);
        hub_store_error(x->resp, rc ? rc : HG_ERR_NOMEM, "the file list");
        return;
    }
    char created[32], modified[32], id[64];
    hub_iso_time(x->repo.created_at, created);
    hub_iso_time(x->cm.time, modified);
    snprintf(id, sizeof id, "hg%016llx", (unsigned long long)x->repo.id);
    const char *slash = strchr(x->repo.name, '/');
    char author[256];
    snprintf(author, sizeof author, "%.*s", slash ? (int)(slash - x->repo.name) : 0, x->repo.name);
    json_t *o = json_pack("{s:s,s:s,s:s,s:b,s:b,s:b,s:s,s:s,s:s,s:o,s:i,s:i,s:[],s:b}", "_id", id, "id",
                          x->repo.name, "author", author, "private", x->repo.private_, "gated", 0,
                          "disabled", 0, "sha", x->commit_hex, "lastModified", modified, "createdAt",
                          created, "siblings", s.arr, "downloads", 0, "likes", 0, "tags", "xetEnabled", 1);
    if (o && x->repo.type == STORE_MODEL)
        json_object_set_new(o, "modelId", json_string(x->repo.name));
    if (o && x->repo.type == STORE_SPACE)
        json_object_set_new(o, "sdk", json_string("static"));
    hub_json_cached(x, key, o);
}

typedef struct tree_ctx {
    hub_ctx *x;
    json_t *arr;
    int expand;
    int failed;
} tree_ctx;

static int tree_cb(void *arg, const store_entry *e)
{
    tree_ctx *t = arg;
    json_t *o = hub_entry_json(t->x, e, t->expand);
    if (!o || json_array_append_new(t->arr, o)) {
        t->failed = 1;
        return 1;
    }
    return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s)
        return -1;
    uint64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (!isdigit((unsigned char)*p) || v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    *out = v;
    return 0;
}

void hub_route_tree(hub_ctx *x)
{
    size_t used;
    if (x->route->nrest == 0) {
        hub_error(x->resp, 400, NULL, "Missing revision");
        return;
    }
    if (hub_ctx_resolve(x, 1, &used) || hub_ctx_path(x, used))
        return;
    int recursive = bool_param(x->req, "recursive", 0), expand = bool_param(x->req, "expand", 0);
    uint64_t limit = expand ? TREE_LIMIT_EXPAND : TREE_LIMIT_DEFAULT, skip = 0;
    const char *ls = http_query(x->req, "limit"), *cs = http_query(x->req, "cursor");
    if (ls && (parse_u64(ls, &limit) || limit == 0 || limit > TREE_LIMIT_MAX)) {
        hub_error(x->resp, 400, NULL, "Invalid limit: expected 1..%d", TREE_LIMIT_MAX);
        return;
    }
    if (cs && parse_u64(cs, &skip)) {
        hub_error(x->resp, 400, NULL, "Invalid cursor");
        return;
    }
    tree_ctx t = {x, json_array(), expand, 0};
    int more = 0;
    hg_err rc = t.arr ? store_tree_list(x->h->st, &x->cm.tree, x->path, recursive, skip, limit, tree_cb, &t, &more)
                      : HG_ERR_NOMEM;
    if (rc == HG_ERR_NOTFOUND) {
        json_decref(t.arr);
        hub_error(x->resp, 404, "EntryNotFound", "%s does not exist on \"%s\"", x->path, x->rev);
        return;
    }
    if (rc || t.failed) {
        json_decref(t.arr);
        hub_store_error(x->resp, rc ? rc : HG_ERR_NOMEM, "the tree");
        return;
    }
    if (more) {
        /* Absolute, with every parameter, "; rel=" with a space (sharp edge S7). */
        char rev[3 * 1024], path[3 * 4096];
        if (!http_pct_encode(x->rev, 0, rev, sizeof rev) && !http_pct_encode(x->path, 0, path, sizeof path)) {
            hg_err hr = http_response_header(
                x->resp, "Link", "<%s/api/%s/%s/tree/%s%s%s?recursive=%s&expand=%s&limit=%llu&cursor=%llu>; rel=\"next\"",
                x->h->public_url, hub_types_segment(x->repo.type), x->repo.name, rev, *path ? "/" : "", path,
                recursive ? "true" : "false", expand ? "true" : "false", (unsigned long long)limit,
                (unsigned long long)(skip + limit));
            (void)hr;
        }
    }
    hub_json(x->resp, t.arr);
}

/* Adds one requested path to the result if it exists (missing paths are omitted, 2.7). */
static int paths_info_one(hub_ctx *x, json_t *out, const char *path, int expand)
{
    store_entry e;
    char buf[4096];
    size_t n = strlen(path);
    while (n > 0 && path[n - 1] == '/')
        n--;
    if (n >= sizeof buf)
        return 0;
    char clean[4096];
    memcpy(clean, path, n);
    clean[n] = '\0';
    hg_err rc = store_path_lookup(x->h->st, &x->cm.tree, clean, &e, buf, sizeof buf);
    if (rc == HG_ERR_NOTFOUND || !*clean)
        return 0;
    if (rc) {
        hub_store_error(x->resp, rc, "paths");
        return -1;
    }
    json_t *o = hub_entry_json(x, &e, expand);
    if (!o || json_array_append_new(out, o)) {
        hub_store_error(x->resp, HG_ERR_NOMEM, "paths");
        return -1;
    }
    return 0;
}

/* Collects paths and expand from a JSON or form body. */
static int parse_paths_body(hub_ctx *x, json_t **paths, int *expand)
{
    const http_request *req = x->req;
    const char *ct = http_header(req, "Content-Type");
    *paths = json_array();
    *expand = 0;
    if (!*paths)
        return -1;
    if (ct && !strncasecmp(ct, "application/json", 16)) {
        json_error_t err;
        json_t *body = json_loadb((const char *)req->body, req->body_len, 0, &err);
        if (!body || !json_is_object(body)) {
            json_decref(body);
            hub_error(x->resp, 400, NULL, "Invalid JSON body: %s", body ? "expected an object" : err.text);
            return -1;
        }
        json_t *p = json_object_get(body, "paths"), *e = json_object_get(body, "expand");
        if (json_is_string(p))
            json_array_append(*paths, p);
        else if (json_is_array(p))
            json_array_extend(*paths, p);
        *expand = json_is_true(e);
        json_decref(body);
    } else {
        /* application/x-www-form-urlencoded: paths repeated, expand */
        char *copy = malloc(req->body_len + 1);
        if (!copy)
            return -1;
        memcpy(copy, req->body ? (const char *)req->body : "", req->body_len);
        copy[req->body_len] = '\0';
        for (char *save = NULL, *kv = strtok_r(copy, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
            char *eq = strchr(kv, '=');
            if (!eq)
                continue;
            *eq = '\0';
            for (char *p = eq + 1; *p; p++)
                if (*p == '+')
                    *p = ' ';
            size_t vl = strlen(eq + 1);
            char *val = malloc(vl + 1);
            if (!val || http_pct_decode(eq + 1, vl, val, vl + 1, NULL)) {
                free(val);
                free(copy);
                hub_error(x->resp, 400, NULL, "Invalid form body");
                return -1;
            }
            if (!strcmp(kv, "paths"))
                json_array_append_new(*paths, json_string(val));
            else if (!strcmp(kv, "expand"))
                *expand = !strcasecmp(val, "true") || !strcmp(val, "1");
            free(val);
        }
        free(copy);
    }
    if (json_array_size(*paths) > PATHS_INFO_MAX) {
        hub_error(x->resp, 400, NULL, "Too many paths (at most %d)", PATHS_INFO_MAX);
        return -1;
    }
    return 0;
}

void hub_route_paths_info(hub_ctx *x)
{
    if (x->route->nrest == 0) {
        hub_error(x->resp, 400, NULL, "Missing revision");
        return;
    }
    if (hub_ctx_resolve(x, 1, NULL))
        return;
    json_t *paths = NULL, *out = json_array();
    int expand;
    if (!out || parse_paths_body(x, &paths, &expand)) {
        json_decref(paths);
        json_decref(out);
        if (x->resp->status == 200)
            hub_store_error(x->resp, HG_ERR_NOMEM, "paths");
        return;
    }
    size_t i;
    json_t *p;
    json_array_foreach(paths, i, p)
    {
        if (json_is_string(p) && paths_info_one(x, out, json_string_value(p), expand)) {
            json_decref(paths);
            json_decref(out);
            return;
        }
    }
    json_decref(paths);
    hub_json(x->resp, out);
}

typedef struct refs_ctx {
    json_t *branches, *tags, *prs, *converts;
} refs_ctx;

static int refs_cb(void *arg, const char *name, store_ref_kind kind, const git_oid *commit)
{
    refs_ctx *r = arg;
    char hex[GIT_OID_HEX_LEN + 1], ref[600];
    git_oid_to_hex(commit, hex);
    json_t *arr = r->branches;
    if (kind == STORE_REF_TAG) {
        arr = r->tags;
        snprintf(ref, sizeof ref, "refs/tags/%s", name);
    } else if (kind == STORE_REF_PR) {
        arr = r->prs;
        snprintf(ref, sizeof ref, "%s", name);
    } else {
        snprintf(ref, sizeof ref, "refs/heads/%s", name);
    }
    json_array_append_new(arr, json_pack("{s:s,s:s,s:s}", "name", name, "ref", ref, "targetCommit", hex));
    return 0;
}

void hub_route_refs(hub_ctx *x)
{
    if (hub_ctx_resolve(x, 0, NULL))
        return;
    refs_ctx r = {json_array(), json_array(), json_array(), json_array()};
    hg_err rc = store_refs_list(x->h->st, x->repo.id, refs_cb, &r);
    json_t *o = json_pack("{s:o,s:o,s:o}", "branches", r.branches, "tags", r.tags, "converts", r.converts);
    if (o && bool_param(x->req, "include_prs", 0))
        json_object_set(o, "pullRequests", r.prs);
    json_decref(r.prs);
    if (rc) {
        json_decref(o);
        hub_store_error(x->resp, rc, "refs");
        return;
    }
    hub_json(x->resp, o);
}

void hub_route_commits(hub_ctx *x)
{
    if (x->route->nrest == 0) {
        hub_error(x->resp, 400, NULL, "Missing revision");
        return;
    }
    if (hub_ctx_resolve(x, 1, NULL))
        return;
    uint64_t limit = 50, skip = 0;
    const char *ls = http_query(x->req, "limit"), *cs = http_query(x->req, "p");
    if ((ls && (parse_u64(ls, &limit) || limit == 0 || limit > 1000)) || (cs && parse_u64(cs, &skip))) {
        hub_error(x->resp, 400, NULL, "Invalid limit or page");
        return;
    }
    json_t *arr = json_array();
    git_oid cur = x->commit;
    int has = 1;
    uint64_t index = 0;
    hg_err rc = HG_OK;
    /* The walk goes to the root: X-Total-Count needs the history's length (countCommits). */
    while (has && arr) {
        store_commit cm;
        rc = store_commit_get(x->h->st, x->repo.id, &cur, &cm);
        if (rc)
            break;
        if (index >= skip * limit && index < skip * limit + limit) {
            char id[GIT_OID_HEX_LEN + 1], date[32], title[512];
            git_oid_to_hex(&cm.oid, id);
            hub_iso_time(cm.time, date);
            const char *nl = strchr(cm.message, '\n');
            snprintf(title, sizeof title, "%.*s", nl ? (int)(nl - cm.message) : 511, cm.message);
            char user[256];
            snprintf(user, sizeof user, "%s", cm.author);
            char *lt = strchr(user, '<');
            if (lt) {
                *lt = '\0';
                size_t n = strlen(user);
                while (n && user[n - 1] == ' ')
                    user[--n] = '\0';
            }
            json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:[{s:s}],s:s}", "id", id, "title", title, "message",
                                                 cm.message, "authors", "user", user, "date", date));
        }
        has = cm.has_parent;
        cur = cm.parent;
        store_commit_clear(&cm);
        index++;
    }
    if (rc || !arr) {
        json_decref(arr);
        hub_store_error(x->resp, rc ? rc : HG_ERR_NOMEM, "commits");
        return;
    }
    hg_err hr = http_response_header(x->resp, "X-Total-Count", "%llu", (unsigned long long)index);
    (void)hr;
    if (index > skip * limit + limit) {
        char rev[3 * 1024];
        if (!http_pct_encode(x->rev, 0, rev, sizeof rev)) {
            hr = http_response_header(x->resp, "Link", "<%s/api/%s/%s/commits/%s?limit=%llu&p=%llu>; rel=\"next\"",
                                             x->h->public_url, hub_types_segment(x->repo.type), x->repo.name, rev,
                                             (unsigned long long)limit, (unsigned long long)(skip + 1));
            (void)hr;
        }
    }
    hub_json(x->resp, arr);
}
