/*
 * hub_route.c - URL grammar (hub-protocol.md 2.1): split the raw path on '/', then decode each
 * segment, so that a %2F stays inside its revision or path segment.  The repo id has one or two
 * segments; the literal marker segment after it ("resolve", "tree", ...) tells which.
 */
#include <stdlib.h>
#include <string.h>

#include "hub/hub_int.h"

typedef struct marker {
    const char *name;
    hub_route_kind kind;
} marker;

static const marker api_markers[] = {
    {"revision", ROUTE_REVISION}, {"tree", ROUTE_TREE},     {"paths-info", ROUTE_PATHS_INFO},
    {"refs", ROUTE_REFS},         {"commits", ROUTE_COMMITS}, {"xet-read-token", ROUTE_XET_TOKEN},
};

void hub_route_clear(hub_route *r)
{
    for (size_t i = 0; i < r->nrest; i++) {
        free(r->rest[i]);
        free(r->raw_rest[i]);
    }
    r->nrest = 0;
}

/* Raw segments of the path (pointers into buf, which is modified). */
static hg_err split(char *buf, char **segs, size_t *n)
{
    size_t k = 0;
    char *p = buf;
    if (*p == '/')
        p++;
    while (1) {
        if (k == HUB_MAX_SEGS)
            return HG_ERR_INVAL;
        segs[k++] = p;
        char *slash = strchr(p, '/');
        if (!slash)
            break;
        *slash = '\0';
        p = slash + 1;
    }
    *n = k;
    return HG_OK;
}

static hg_err decode_seg(const char *raw, char **out)
{
    size_t n = strlen(raw);
    char *d = malloc(n + 1);
    if (!d)
        return HG_ERR_NOMEM;
    hg_err rc = http_pct_decode(raw, n, d, n + 1, NULL);
    if (rc) {
        free(d);
        return HG_ERR_INVAL;
    }
    *out = d;
    return HG_OK;
}

static hg_err set_rest(hub_route *r, char **segs, size_t from, size_t n)
{
    for (size_t i = from; i < n; i++) {
        char *raw = strdup(segs[i]), *dec = NULL;
        hg_err rc = raw ? decode_seg(segs[i], &dec) : HG_ERR_NOMEM;
        if (rc) {
            free(raw);
            hub_route_clear(r);
            return rc;
        }
        r->raw_rest[r->nrest] = raw;
        r->rest[r->nrest++] = dec;
    }
    return HG_OK;
}

/* Decodes repo segments [from, from+count) joined with '/' into r->repo. */
static hg_err set_repo(hub_route *r, char **segs, size_t from, size_t count)
{
    size_t o = 0;
    for (size_t i = from; i < from + count; i++) {
        char *d;
        hg_err rc = decode_seg(segs[i], &d);
        if (rc)
            return rc;
        size_t n = strlen(d);
        if (n == 0 || strchr(d, '/') || o + n + 2 >= sizeof r->repo) {
            free(d);
            return HG_ERR_NOTFOUND;
        }
        if (o)
            r->repo[o++] = '/';
        memcpy(r->repo + o, d, n + 1);
        o += n;
        free(d);
    }
    return HG_OK;
}

static int parse_hash(const char *s, char out[XET_HEX_LEN + 1])
{
    xet_hash h;
    if (xet_hash_from_hex(s, strlen(s), &h))
        return -1;
    xet_hash_to_hex(&h, out); /* normalised lower case */
    return 0;
}

static hg_err parse_api(hub_route *r, char **segs, size_t n)
{
    /* /api/{types}/{repo}[/{marker}/...] */
    if (n < 3 || store_repo_type_parse(segs[1], &r->type) || strcmp(segs[1] + strlen(segs[1]) - 1, "s"))
        return HG_ERR_NOTFOUND;
    /* Prefer a two-segment repo id; fall back to a legacy one-segment id (models). */
    for (size_t repo_segs = 2; repo_segs >= 1; repo_segs--) {
        size_t m = 2 + repo_segs;
        if (m > n)
            continue;
        if (m == n) {
            r->kind = ROUTE_INFO;
            return set_repo(r, segs, 2, repo_segs);
        }
        for (size_t k = 0; k < sizeof api_markers / sizeof api_markers[0]; k++)
            if (!strcmp(segs[m], api_markers[k].name)) {
                r->kind = api_markers[k].kind;
                hg_err rc = set_repo(r, segs, 2, repo_segs);
                return rc ? rc : set_rest(r, segs, m + 1, n);
            }
    }
    return HG_ERR_NOTFOUND;
}

static hg_err parse_web(hub_route *r, char **segs, size_t n)
{
    /* /{T}{repo}/resolve|raw/{rev}/{path} with T = "", "datasets/", "spaces/" */
    size_t at = 0;
    r->type = STORE_MODEL;
    if (!strcmp(segs[0], "datasets")) {
        r->type = STORE_DATASET;
        at = 1;
    } else if (!strcmp(segs[0], "spaces")) {
        r->type = STORE_SPACE;
        at = 1;
    }
    for (size_t repo_segs = 2; repo_segs >= 1; repo_segs--) {
        size_t m = at + repo_segs;
        if (m >= n)
            continue;
        if (!strcmp(segs[m], "resolve") || !strcmp(segs[m], "raw")) {
            r->kind = segs[m][1] == 'e' ? ROUTE_RESOLVE : ROUTE_RAW;
            hg_err rc = set_repo(r, segs, at, repo_segs);
            return rc ? rc : set_rest(r, segs, m + 1, n);
        }
    }
    return HG_ERR_NOTFOUND;
}

static hg_err parse_cas(hub_route *r, char **segs, size_t n)
{
    const char *hash = NULL;
    if (n == 3 && !strcmp(segs[0], "v2") && !strcmp(segs[1], "reconstructions")) {
        r->kind = ROUTE_RECON_V2;
        hash = segs[2];
    } else if (n == 3 && !strcmp(segs[0], "v1") && !strcmp(segs[1], "reconstructions")) {
        r->kind = ROUTE_RECON_V1;
        hash = segs[2];
    } else if (n == 2 && (!strcmp(segs[0], "reconstructions") || !strcmp(segs[0], "reconstruction"))) {
        r->kind = ROUTE_RECON_V1;
        hash = segs[1];
    } else if (n == 3 && !strcmp(segs[0], "xorbs") && !strcmp(segs[1], "default")) {
        r->kind = ROUTE_XORB;
        hash = segs[2];
    } else if (n == 4 && !strcmp(segs[0], "v1") && !strcmp(segs[1], "chunks")) {
        r->kind = ROUTE_CHUNK_DEDUP;
        hash = segs[3];
    } else {
        return HG_ERR_NOTFOUND;
    }
    if (parse_hash(hash, r->hash))
        return HG_ERR_INVAL;
    return HG_OK;
}

hg_err hub_route_parse(const char *path, hub_route *r)
{
    memset(r, 0, sizeof *r);
    size_t len = strlen(path);
    char *buf = malloc(len + 1);
    if (!buf)
        return HG_ERR_NOMEM;
    memcpy(buf, path, len + 1);
    char *segs[HUB_MAX_SEGS];
    size_t n = 0;
    hg_err rc = split(buf, segs, &n);
    if (!rc) {
        if (n == 1 && !strcmp(segs[0], "health"))
            r->kind = ROUTE_HEALTH;
        else if (n == 1 && !strcmp(segs[0], "metrics"))
            r->kind = ROUTE_METRICS;
        else if (!strcmp(segs[0], "api"))
            rc = parse_api(r, segs, n);
        else if (parse_cas(r, segs, n) == HG_OK)
            rc = HG_OK;
        else {
            hub_route_clear(r);
            memset(r, 0, sizeof *r);
            rc = parse_web(r, segs, n);
        }
    }
    free(buf);
    if (rc)
        hub_route_clear(r);
    return rc;
}
