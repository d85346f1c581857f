/*
 * upstream_xet.c - file bodies through the upstream's Xet CAS (hub-protocol.md 2.8-2.10 and 3.7,
 * xet-spec.md 2, 3 and 5), for upstream_fetch_body.
 *
 * Job.  When the Hub's answer to HEAD advertises Xet (X-Xet-Hash and an absolute Link
 * rel="xet-auth"), the body is rebuilt from the CAS instead of being downloaded from the
 * resolve URL or its CDN redirect:
 *   1. GET the xet-auth (token) URL with the caller's Authorization: {accessToken, exp, casUrl}
 *      from the JSON body, or from the X-Xet-* headers where the body lacks them;
 *   2. GET {casUrl}/v2/reconstructions/{hash} with "Bearer <accessToken>" (v1 after a 404 or
 *      501), validated into a plan: the terms in file order, each pointing at the fetch range
 *      (signed URL + chunk and byte range) that holds its chunks;
 *   3. for each term, GET its range (one Range per request, no Authorization), split it into
 *      chunk records, decode them with lib/xet, hash each chunk and hand the bytes to the sink
 *      as they arrive;
 *   4. at the end the Xet file hash of all chunks must equal X-Xet-Hash and the byte count the
 *      announced size (HG_ERR_CORRUPT otherwise).
 * Faults: ranges are retried with the module's backoff (Retry-After honoured) and resumed from
 * the last byte received; a 403 from a signed URL fetches the reconstruction again (fresh
 * URLs) and goes on from the current byte; the token is fetched again within 30 s of its exp
 * and after a 401 from the CAS.
 *
 * Invariants.
 *  - The sink gets every byte of the file exactly once, in order.  `pos` counts what it got; a
 *    chunk is handed over only if it starts exactly at pos, and chunks that end at or before
 *    pos (a term seen again after a fresh reconstruction) are skipped.
 *  - Bytes stream: a chunk goes to the sink as soon as its record has arrived whole, has been
 *    located in its range (header valid, record inside the range) and decodes to its declared
 *    length; the term's unpacked_length is checked as its chunks add up, and a complete range
 *    must hold exactly its ce - cs records.  A broken transfer resumes from the last byte received, so a range is
 *    never fetched twice by a retry and a byte never delivered twice.  A record or term that
 *    fails these checks is corruption: the download ends (HG_ERR_CORRUPT), never retried.  No
 *    hash is known per chunk or term, so the check of the bytes themselves is the file hash at
 *    the end (and the caller's own digest): a failure there discards everything.
 *  - The reconstruction is for the whole file: offset_into_first_range must be 0 and the terms'
 *    unpacked lengths must add up to the announced size.  Anything malformed in it is an error
 *    (HG_ERR_UPSTREAM), never a crash.
 *  - Memory: the plan, one range buffer (at most a xorb's records, UP_XET_MAX_RANGE) kept while
 *    consecutive terms use it (terms often share a xorb range), the record index of that range
 *    and one chunk of scratch.
 *  - Credentials: the caller's Authorization goes to the token URL only, and only when it is on
 *    the Hub's origin; the access token goes to casUrl only; signed xorb URLs get none.  Tokens
 *    and URL queries never reach the logs or resp->error.
 *
 * Threading: like upstream.c, every call blocks on the caller's thread with its own curl easy
 * handles; the download state is private to the call; only the upstream's counters are shared
 * (atomics).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "upstream/upstream_int.h"
#include "util/hg_log.h"

/* Records of a range: a xorb's chunks (<= 64 MiB uncompressed) plus their headers; a writer
 * stores a chunk uncompressed unless compression makes it smaller (xet-spec.md 3.2, 3.3). */
#define UP_XET_MAX_RANGE ((uint64_t)XET_MAX_XORB_BYTES + (uint64_t)XET_MAX_XORB_CHUNKS * XET_CHUNK_HEADER_LEN)
#define UP_XET_MAX_RECON (32u << 20) /* reconstruction JSON */
#define UP_XET_MAX_TOKEN (256u << 10) /* token JSON (tokens may have 64000 characters) */
#define UP_XET_TOKEN_MARGIN_S 30     /* refresh the token this close to its exp */
#define UP_XET_MAX_STALE 3           /* fresh reconstructions in a row without progress */
#define UP_XET_MAX_HOPS 5            /* redirects followed for one xorb range */
#define UP_XET_CAS_MAX 2048          /* length of casUrl */
/* A range used by one term only streams through a window: a partial record (at most
 * 8 + 2 x 128 KiB) plus the bytes of one curl callback. */
#define UP_XET_WINDOW (1u << 20)

/* ---- the plan: a validated reconstruction ---- */

typedef struct xr_range {
    xet_hash xorb;
    uint32_t cs, ce; /* chunks [cs, ce) */
    uint64_t bs, be; /* their records: bytes [bs, be], inclusive as in the Range header */
    size_t url;      /* index into xr_plan.urls */
} xr_range;

typedef struct xr_xorb {
    xet_hash hash;   /* first: the bsearch key */
    size_t first, n; /* its ranges: xr_plan.ranges[first .. first + n) */
} xr_xorb;

typedef struct xr_term {
    uint32_t cs, ce; /* chunks [cs, ce) of the range's xorb */
    uint32_t unpacked;
    size_t range;    /* the xr_plan range that holds them */
} xr_term;

typedef struct xr_plan {
    char **urls; /* one per fetch entry */
    size_t nurls;
    xr_range *ranges;
    size_t nranges;
    xr_xorb *xorbs; /* sorted by hash */
    size_t nxorbs;
    xr_term *terms;
    size_t nterms;
} xr_plan;

/* ---- one download ---- */

typedef struct xet_dl {
    upstream *u;
    const up_xet_advert *adv;
    const char *hub_auth; /* Authorization for the token URL, or NULL */
    uint64_t expect;      /* UINT64_MAX: unknown */
    /* CAS access */
    char *auth;           /* "Bearer <accessToken>" (wiped when freed) */
    char *cas;            /* casUrl, no trailing '/' */
    int64_t exp;          /* Unix seconds */
    int token_fresh;      /* fetched since the last reconstruction request */
    int v1;               /* v2 answered 404/501: v1 from now on */
    xr_plan plan;
    /* the range being fetched or kept, its records located as they arrive */
    int cached, complete;
    int windowed;         /* only a window of it is kept (one term uses it) */
    xr_range cache;       /* which range it is (url unused) */
    hg_buf buf;           /* its bytes [win_base, got) */
    uint64_t win_base;    /* range offset of buf.data[0]: 0 unless windowed */
    uint32_t *rec_off, *raw_len; /* per record: offset in the range, raw length */
    size_t nidx;          /* records located */
    uint64_t idx_pos;     /* range offset of the next record */
    attempt *cur;         /* the exchange filling buf */
    uint64_t want_start;  /* the byte its answer must start at */
    int checked;          /* its start was checked */
    hg_err stream_rc;     /* why range_sink stopped it */
    /* the term being delivered */
    size_t ti;            /* index in plan.terms */
    uint64_t t0;          /* file offset of its first byte */
    uint32_t tk;          /* its next chunk (index in the xorb) */
    uint64_t toff;        /* file offset of that chunk */
    uint64_t tsum;        /* bytes of its chunks so far */
    /* output */
    upstream_sink_fn sink;
    void *arg;
    int touched;          /* the sink was called */
    uint64_t pos;         /* bytes handed to the sink = file offset of the next one */
    xet_merkle merkle;    /* over every delivered chunk (the file hash) */
    uint64_t nchunks;
    xet_codec *codec;
    uint8_t *scratch;     /* one decoded chunk */
    char *err;            /* resp->error */
    size_t errcap;
} xet_dl;

static hg_err fail(xet_dl *d, hg_err rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static hg_err fail(xet_dl *d, hg_err rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->err, d->errcap, fmt, ap);
    va_end(ap);
    return rc;
}

/* ---- the advertisement ---- */

/* An absolute http(s) URL of printable characters with a host, shorter than max. */
static int url_ok(const char *s, size_t max)
{
    size_t skip = !strncmp(s, "http://", 7) ? 7 : !strncmp(s, "https://", 8) ? 8 : 0;
    if (!skip || s[skip] == '/' || s[skip] == '\0')
        return 0;
    size_t n = 0;
    for (; s[n]; n++)
        if ((unsigned char)s[n] <= 0x20 || (unsigned char)s[n] >= 0x7f)
            return 0;
    return n < max;
}

/* Does the space-separated list v contain name (case-insensitive)? */
static int rel_has(const char *v, const char *name)
{
    size_t nl = strlen(name);
    while (*v) {
        while (*v == ' ' || *v == '\t')
            v++;
        size_t n = strcspn(v, " \t");
        if (n == nl && !strncasecmp(v, name, n))
            return 1;
        v += n;
    }
    return 0;
}

/* Parses one link-param value at *pp (a token or a quoted string) into val. */
static int link_value(const char **pp, char *val, size_t cap)
{
    const char *p = *pp;
    size_t vl = 0;
    if (*p == '"') {
        for (p++; *p && *p != '"'; p++) {
            if (*p == '\\' && p[1])
                p++;
            if (vl + 1 < cap)
                val[vl++] = *p;
        }
        if (*p != '"')
            return -1;
        p++;
    } else {
        for (; *p && !strchr(";, \t", *p); p++)
            if (vl + 1 < cap)
                val[vl++] = *p;
    }
    val[vl] = '\0';
    *pp = p;
    return 0;
}

/* Parses the params after a link's <url> up to the next ',' (or the end); *match is set when
 * one of them is rel with `rel` among its values. */
static int link_params(const char **pp, const char *rel, int *match)
{
    const char *p = *pp;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p != ';')
            break;
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
        const char *name = p;
        while (*p && !strchr("=;, \t", *p))
            p++;
        size_t nl = (size_t)(p - name);
        while (*p == ' ' || *p == '\t')
            p++;
        char val[256] = "";
        if (*p == '=') {
            p++;
            while (*p == ' ' || *p == '\t')
                p++;
            if (link_value(&p, val, sizeof val))
                return -1;
        }
        if (nl == 3 && !strncasecmp(name, "rel", 3) && rel_has(val, rel))
            *match = 1;
    }
    *pp = p;
    return *p == '\0' || *p == ',' ? 0 : -1;
}

/* Finds the URL of the first link with relation rel in a Link value (RFC 8288:
 * `<url>; rel="a b"; x=y, <url2>; rel=c`).  0 and the URL in out, or -1. */
static int link_find(const char *s, const char *rel, char *out, size_t cap)
{
    const char *p = s;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p != '<')
            return -1; /* the end, or not a link */
        const char *url = p + 1, *end = strchr(url, '>');
        if (!end)
            return -1;
        p = end + 1;
        int match = 0;
        if (link_params(&p, rel, &match))
            return -1;
        size_t n = (size_t)(end - url);
        if (match && n < cap) {
            memcpy(out, url, n);
            out[n] = '\0';
            return 0;
        }
    }
}

int up_xet_advertised(const upstream_response *head, up_xet_advert *out)
{
    const char *h = upstream_header_get(head, "x-xet-hash");
    if (!h || xet_hash_from_hex(h, strlen(h), &out->hash))
        return 0;
    xet_hash_to_hex(&out->hash, out->hash_hex);
    for (size_t i = 0; i < head->nheaders; i++) {
        if (strcmp(head->headers[i].name, "link"))
            continue;
        if (!link_find(head->headers[i].value, "xet-auth", out->auth_url, sizeof out->auth_url) &&
            url_ok(out->auth_url, sizeof out->auth_url))
            return 1;
    }
    return 0;
}

/* ---- token ---- */

/* A string of the token answer: the JSON member when there is one (NULL unless a string), else
 * the header. */
static const char *token_field(const json_t *j, const char *key, const upstream_response *r, const char *hdr)
{
    const json_t *v = j ? json_object_get(j, key) : NULL;
    return v ? json_string_value(v) : upstream_header_get(r, hdr);
}

static int token_exp(const json_t *j, const upstream_response *r, int64_t *out)
{
    const json_t *v = j ? json_object_get(j, "exp") : NULL;
    if (v) {
        if (!json_is_number(v) || json_number_value(v) < 1 || json_number_value(v) > 1e15)
            return -1;
        *out = (int64_t)json_number_value(v);
        return 0;
    }
    const char *h = upstream_header_get(r, "x-xet-token-expiration");
    if (!h)
        return -1;
    char *end;
    errno = 0;
    long long x = strtoll(h, &end, 10);
    if (end == h || *end || errno || x < 1)
        return -1;
    *out = x;
    return 0;
}

/* A token fit for a header: 1..65536 printable characters without spaces. */
static int token_ok(const char *t)
{
    size_t n = 0;
    for (; t[n]; n++)
        if ((unsigned char)t[n] <= 0x20 || (unsigned char)t[n] >= 0x7f)
            return 0;
    return n > 0 && n <= 65536;
}

static void wipe_free(char **p)
{
    if (*p) {
        memset(*p, 0, strlen(*p));
        free(*p);
        *p = NULL;
    }
}

static hg_err token_parse(xet_dl *d, const upstream_response *r)
{
    json_t *j = r->body.len ? json_loadb((const char *)r->body.data, r->body.len, 0, NULL) : NULL;
    hg_err rc = HG_OK;
    const char *tok = NULL, *cas = NULL;
    int64_t exp = 0;
    if (j && !json_is_object(j))
        rc = fail(d, HG_ERR_UPSTREAM, "the token answer is JSON but not an object");
    if (!rc) {
        tok = token_field(j, "accessToken", r, "x-xet-access-token");
        cas = token_field(j, "casUrl", r, "x-xet-cas-url");
        if (!tok || !token_ok(tok) || !cas || !url_ok(cas, UP_XET_CAS_MAX) || token_exp(j, r, &exp))
            rc = fail(d, HG_ERR_UPSTREAM, "the token answer lacks a valid accessToken, exp or casUrl");
    }
    if (!rc) {
        size_t n = strlen(tok) + 8;
        char *auth = malloc(n), *c = strdup(cas);
        if (!auth || !c) {
            free(auth);
            free(c);
            rc = fail(d, HG_ERR_NOMEM, "out of memory");
        } else {
            snprintf(auth, n, "Bearer %s", tok);
            size_t cl = strlen(c);
            while (cl && c[cl - 1] == '/')
                c[--cl] = '\0';
            wipe_free(&d->auth);
            free(d->cas);
            d->auth = auth;
            d->cas = c;
            d->exp = exp;
        }
    }
    json_decref(j);
    return rc;
}

static hg_err token_fetch(xet_dl *d)
{
    upstream_request rq = {.method = "GET", .path = d->adv->auth_url, .authorization = d->hub_auth,
                           .max_body = UP_XET_MAX_TOKEN};
    upstream_response r;
    upstream_response_init(&r);
    hg_err rc = upstream_call(d->u, &rq, &r);
    if (rc)
        rc = fail(d, rc, "Xet token: %s", r.error);
    else if (r.status != 200)
        rc = fail(d, HG_ERR_UPSTREAM, "the Xet token endpoint answered %ld", r.status);
    else
        rc = token_parse(d, &r);
    upstream_response_clear(&r);
    d->token_fresh = !rc;
    return rc;
}

/* A token good for the next CAS request: the current one unless it is within the margin of its
 * exp (and was not fetched for this very request). */
static hg_err ensure_token(xet_dl *d)
{
    if (d->auth && (d->token_fresh || (int64_t)time(NULL) + UP_XET_TOKEN_MARGIN_S < d->exp))
        return HG_OK;
    return token_fetch(d);
}

/* ---- reconstruction -> plan ---- */

static void plan_free(xr_plan *p)
{
    for (size_t i = 0; i < p->nurls; i++)
        free(p->urls[i]);
    free(p->urls);
    free(p->ranges);
    free(p->xorbs);
    free(p->terms);
    memset(p, 0, sizeof *p);
}

/* A non-negative integer member no larger than max. */
static int json_u64(const json_t *o, const char *key, uint64_t max, uint64_t *out)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > max)
        return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

/* A member {"start": s, "end": e} of non-negative integers no larger than max. */
static int json_span(const json_t *o, const char *key, uint64_t max, uint64_t *s, uint64_t *e)
{
    const json_t *v = json_object_get(o, key);
    return json_is_object(v) && !json_u64(v, "start", max, s) && !json_u64(v, "end", max, e) ? 0 : -1;
}

static int cmp_xorb(const void *a, const void *b)
{
    return memcmp(((const xr_xorb *)a)->hash.b, ((const xr_xorb *)b)->hash.b, sizeof(xet_hash));
}

/* The ranges of one fetch entry: v2 {"url", "ranges": [{"chunks", "bytes"}...]} sorted and
 * disjoint, or v1 {"url", "range", "url_range"} (one range). */
static hg_err plan_entry(xet_dl *d, const char *key, const xr_xorb *x, const json_t *e)
{
    xr_plan *p = &d->plan;
    const char *url = json_string_value(json_object_get(e, "url"));
    if (!url || !url_ok(url, UP_XET_URL_MAX))
        return fail(d, HG_ERR_UPSTREAM, "xorb %.16s: a fetch entry has no valid absolute url", key);
    if (!(p->urls[p->nurls] = strdup(url)))
        return fail(d, HG_ERR_NOMEM, "out of memory");
    size_t ui = p->nurls++;
    const json_t *rs = d->v1 ? NULL : json_object_get(e, "ranges");
    size_t n = d->v1 ? 1 : json_array_size(rs);
    for (size_t k = 0; k < n; k++) {
        const json_t *r = d->v1 ? e : json_array_get(rs, k);
        uint64_t cs, ce, bs, be;
        if (!json_is_object(r) || json_span(r, d->v1 ? "range" : "chunks", XET_MAX_XORB_CHUNKS, &cs, &ce) ||
            json_span(r, d->v1 ? "url_range" : "bytes", UINT32_MAX, &bs, &be))
            return fail(d, HG_ERR_UPSTREAM, "xorb %.16s: malformed fetch range", key);
        if (cs >= ce || bs > be || be - bs + 1 > UP_XET_MAX_RANGE || be - bs + 1 < (ce - cs) * XET_CHUNK_HEADER_LEN)
            return fail(d, HG_ERR_UPSTREAM, "xorb %.16s: invalid fetch range: chunks [%llu,%llu), bytes [%llu,%llu]",
                        key, (unsigned long long)cs, (unsigned long long)ce, (unsigned long long)bs,
                        (unsigned long long)be);
        xr_range *out = &p->ranges[p->nranges];
        if (k > 0 && (cs < out[-1].ce || bs <= out[-1].be))
            return fail(d, HG_ERR_UPSTREAM, "xorb %.16s: fetch ranges out of order or overlapping", key);
        *out = (xr_range){x->hash, (uint32_t)cs, (uint32_t)ce, bs, be, ui};
        p->nranges++;
    }
    return HG_OK;
}

/* Counts the entries and ranges of the fetch info, checking its shape. */
static hg_err plan_count(xet_dl *d, const json_t *fi, size_t *ne, size_t *nr)
{
    const char *key;
    json_t *val;
    *ne = *nr = 0;
    json_object_foreach((json_t *)fi, key, val) {
        if (!json_is_array(val) || !json_array_size(val))
            return fail(d, HG_ERR_UPSTREAM, "xorb %.16s: no fetch entries", key);
        size_t i;
        json_t *e;
        json_array_foreach(val, i, e) {
            const json_t *rs = json_object_get(e, "ranges");
            if (!json_is_object(e) || (!d->v1 && (!json_is_array(rs) || !json_array_size(rs))))
                return fail(d, HG_ERR_UPSTREAM, "xorb %.16s: malformed fetch entry", key);
            *ne += 1;
            *nr += d->v1 ? 1 : json_array_size(rs);
        }
    }
    return HG_OK;
}

/* The fetch info ("xorbs" of v2, "fetch_info" of v1): xorb hash -> fetch entries. */
static hg_err plan_entries(xet_dl *d, const json_t *fi)
{
    xr_plan *p = &d->plan;
    size_t ne, nr;
    hg_err rc = plan_count(d, fi, &ne, &nr);
    if (rc)
        return rc;
    size_t nx = json_object_size(fi);
    p->xorbs = calloc(nx ? nx : 1, sizeof *p->xorbs);
    p->urls = calloc(ne ? ne : 1, sizeof *p->urls);
    p->ranges = calloc(nr ? nr : 1, sizeof *p->ranges);
    if (!p->xorbs || !p->urls || !p->ranges)
        return fail(d, HG_ERR_NOMEM, "out of memory");
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)fi, key, val) {
        xr_xorb *x = &p->xorbs[p->nxorbs];
        if (xet_hash_from_hex(key, strlen(key), &x->hash))
            return fail(d, HG_ERR_UPSTREAM, "fetch info: '%.70s' is not a xorb hash", key);
        x->first = p->nranges;
        size_t i;
        json_t *e;
        json_array_foreach(val, i, e) {
            if ((rc = plan_entry(d, key, x, e)))
                return rc;
        }
        x->n = p->nranges - x->first;
        p->nxorbs++;
    }
    qsort(p->xorbs, p->nxorbs, sizeof *p->xorbs, cmp_xorb);
    for (size_t i = 1; i < p->nxorbs; i++)
        if (!cmp_xorb(&p->xorbs[i - 1], &p->xorbs[i]))
            return fail(d, HG_ERR_UPSTREAM, "fetch info: a xorb is listed twice");
    return HG_OK;
}

/* The first range of xorb x that holds chunks [cs, ce), or SIZE_MAX. */
static size_t plan_cover(const xr_plan *p, const xr_xorb *x, uint64_t cs, uint64_t ce)
{
    for (size_t i = x->first; i < x->first + x->n; i++)
        if (p->ranges[i].cs <= cs && ce <= p->ranges[i].ce)
            return i;
    return SIZE_MAX;
}

static hg_err plan_term(xet_dl *d, size_t i, const json_t *t, uint64_t *total)
{
    xr_plan *p = &d->plan;
    const char *h = json_string_value(json_object_get(t, "hash"));
    xr_xorb key;
    uint64_t ul, cs, ce;
    if (!json_is_object(t) || !h || xet_hash_from_hex(h, strlen(h), &key.hash) ||
        json_u64(t, "unpacked_length", UINT32_MAX, &ul) || json_span(t, "range", XET_MAX_XORB_CHUNKS, &cs, &ce))
        return fail(d, HG_ERR_UPSTREAM, "reconstruction term %zu is malformed", i);
    if (cs >= ce || ul < ce - cs || ul > (ce - cs) * XET_MAX_CHUNK)
        return fail(d, HG_ERR_UPSTREAM, "term %zu: chunks [%llu,%llu) cannot hold %llu bytes", i,
                    (unsigned long long)cs, (unsigned long long)ce, (unsigned long long)ul);
    const xr_xorb *x = bsearch(&key, p->xorbs, p->nxorbs, sizeof *p->xorbs, cmp_xorb);
    if (!x)
        return fail(d, HG_ERR_UPSTREAM, "term %zu: xorb %.16s is missing from the fetch info", i, h);
    size_t r = plan_cover(p, x, cs, ce);
    if (r == SIZE_MAX)
        return fail(d, HG_ERR_UPSTREAM, "term %zu: no fetch range of xorb %.16s holds chunks [%llu,%llu)", i, h,
                    (unsigned long long)cs, (unsigned long long)ce);
    p->terms[i] = (xr_term){(uint32_t)cs, (uint32_t)ce, (uint32_t)ul, r};
    *total += ul;
    return HG_OK;
}

static hg_err plan_terms(xet_dl *d, const json_t *terms)
{
    xr_plan *p = &d->plan;
    size_t n = json_array_size(terms);
    if (!json_is_array(terms) || n == 0)
        return fail(d, HG_ERR_UPSTREAM, "the reconstruction has no terms");
    if (!(p->terms = calloc(n, sizeof *p->terms)))
        return fail(d, HG_ERR_NOMEM, "out of memory");
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        hg_err rc = plan_term(d, i, json_array_get(terms, i), &total);
        if (rc)
            return rc;
    }
    p->nterms = n;
    if (d->expect != UINT64_MAX && total != d->expect)
        return fail(d, HG_ERR_UPSTREAM, "the reconstruction describes %llu bytes, the Hub announced %llu",
                    (unsigned long long)total, (unsigned long long)d->expect);
    return HG_OK;
}

static hg_err plan_parse(xet_dl *d, const hg_buf *body)
{
    plan_free(&d->plan);
    json_t *j = body->len ? json_loadb((const char *)body->data, body->len, JSON_REJECT_DUPLICATES, NULL) : NULL;
    const json_t *fi = json_object_get(j, d->v1 ? "fetch_info" : "xorbs");
    uint64_t off;
    hg_err rc = HG_OK;
    if (!json_is_object(j))
        rc = fail(d, HG_ERR_UPSTREAM, "the reconstruction is not a JSON object");
    else if (json_u64(j, "offset_into_first_range", UINT64_MAX, &off) || off != 0)
        rc = fail(d, HG_ERR_UPSTREAM, "the reconstruction of the whole file has no offset_into_first_range 0");
    else if (!json_is_object(fi))
        rc = fail(d, HG_ERR_UPSTREAM, "the reconstruction has no %s object", d->v1 ? "fetch_info" : "xorbs");
    if (!rc)
        rc = plan_entries(d, fi);
    if (!rc)
        rc = plan_terms(d, json_object_get(j, "terms"));
    json_decref(j);
    if (rc)
        plan_free(&d->plan);
    return rc;
}

/* GETs the reconstruction (v2, or v1 once v2 said 404/501) into d->plan. */
static hg_err recon_fetch(xet_dl *d)
{
    int retried_401 = 0;
    for (;;) {
        hg_err rc = ensure_token(d);
        if (rc)
            return rc;
        int fresh = d->token_fresh;
        d->token_fresh = 0;
        char url[UP_XET_CAS_MAX + 128];
        snprintf(url, sizeof url, "%s/%s/reconstructions/%s", d->cas, d->v1 ? "v1" : "v2", d->adv->hash_hex);
        upstream_request rq = {.method = "GET", .path = url, .authorization = d->auth, .max_body = UP_XET_MAX_RECON};
        upstream_response r;
        upstream_response_init(&r);
        rc = upstream_call(d->u, &rq, &r);
        long st = r.status;
        if (rc)
            rc = fail(d, rc, "Xet reconstruction: %s", r.error);
        else if (st == 200)
            rc = plan_parse(d, &r.body);
        upstream_response_clear(&r);
        if (rc || st == 200)
            return rc;
        if ((st == 404 || st == 501) && !d->v1) {
            d->v1 = 1;
        } else if (st == 401 && !fresh && !retried_401) {
            retried_401 = 1; /* the token expired early: a fresh one, once */
            d->exp = 0;
        } else {
            return fail(d, HG_ERR_UPSTREAM, "the CAS answered %ld for the %s reconstruction", st, d->v1 ? "v1" : "v2");
        }
    }
}

/* ---- terms ---- */

static int same_range(const xr_range *a, const xr_range *b)
{
    return xet_hash_eq(&a->xorb, &b->xorb) && a->cs == b->cs && a->ce == b->ce && a->bs == b->bs && a->be == b->be;
}

/* Moves to term ti (whose first byte is at t0), skipping terms already delivered. */
static void term_begin(xet_dl *d)
{
    const xr_plan *p = &d->plan;
    while (d->ti < p->nterms && d->t0 + p->terms[d->ti].unpacked <= d->pos) {
        d->t0 += p->terms[d->ti].unpacked;
        d->ti++;
    }
    if (d->ti < p->nterms) {
        d->tk = p->terms[d->ti].cs;
        d->toff = d->t0;
        d->tsum = 0;
    }
}

/* Decodes, hashes and delivers record k of the range in buf. */
static hg_err chunk_deliver(xet_dl *d, size_t k)
{
    size_t raw, rec;
    size_t at = (size_t)(d->rec_off[k] - d->win_base);
    if (xet_record_decode(d->codec, d->buf.data + at, d->buf.len - at, d->scratch, XET_MAX_CHUNK, &raw, &rec)) {
        char hex[XET_HEX_LEN + 1];
        xet_hash_to_hex(&d->cache.xorb, hex);
        return fail(d, HG_ERR_CORRUPT, "xorb %.16s chunk %zu does not decode", hex, d->cache.cs + k);
    }
    xet_hash h;
    xet_chunk_hash(d->scratch, raw, &h);
    xet_merkle_add(&d->merkle, &h, raw);
    d->nchunks++;
    d->touched = 1;
    if (d->sink(d->arg, d->scratch, raw))
        return fail(d, HG_ERR_UPSTREAM, "download aborted by the receiver");
    d->pos += raw;
    return HG_OK;
}

/* Delivers the chunks of the current term, and of the terms after it, that the range in buf
 * holds and that have arrived.  Stops at a term that needs another range or at a record still
 * on the way; called as bytes arrive and once the range is complete. */
static hg_err advance(xet_dl *d)
{
    const xr_plan *p = &d->plan;
    while (d->ti < p->nterms) {
        const xr_term *t = &p->terms[d->ti];
        if (!d->cached || !same_range(&d->cache, &p->ranges[t->range]))
            return HG_OK;
        for (; d->tk < t->ce; d->tk++) {
            size_t k = d->tk - d->cache.cs;
            if (k >= d->nidx)
                return HG_OK;
            uint64_t end = d->toff + d->raw_len[k];
            d->tsum += d->raw_len[k];
            if (d->tsum > t->unpacked)
                return fail(d, HG_ERR_CORRUPT, "term %zu: its chunks hold more than unpacked_length %u", d->ti,
                            t->unpacked);
            if (end > d->pos) {
                if (d->toff != d->pos)
                    return fail(d, HG_ERR_CORRUPT, "term %zu: chunk boundaries differ from the bytes delivered", d->ti);
                hg_err rc = chunk_deliver(d, k);
                if (rc)
                    return rc;
            }
            d->toff = end;
        }
        if (d->tsum != t->unpacked)
            return fail(d, HG_ERR_CORRUPT, "term %zu: its chunks hold %llu bytes, unpacked_length says %u", d->ti,
                        (unsigned long long)d->tsum, t->unpacked);
        __atomic_add_fetch(&d->u->xet_terms, 1, __ATOMIC_RELAXED);
        d->t0 += t->unpacked;
        d->ti++;
        term_begin(d);
    }
    return HG_OK;
}

/* ---- xorb ranges ---- */

static hg_err record_error(xet_dl *d)
{
    char hex[XET_HEX_LEN + 1];
    xet_hash_to_hex(&d->cache.xorb, hex);
    return fail(d, HG_ERR_CORRUPT, "xorb %.16s, range of chunks [%u,%u): malformed record %zu", hex, d->cache.cs,
                d->cache.ce, d->nidx);
}

/* Locates the records that have arrived completely: ce - cs of them exactly fill the range. */
static hg_err index_more(xet_dl *d)
{
    size_t n = d->cache.ce - d->cache.cs;
    uint64_t need = d->cache.be - d->cache.bs + 1, got = d->win_base + d->buf.len;
    while (got - d->idx_pos >= XET_CHUNK_HEADER_LEN) {
        uint64_t at = d->idx_pos;
        const uint8_t *p = d->buf.data + (at - d->win_base);
        xet_chunk_header h;
        if (d->nidx == n || xet_chunk_header_parse(p, (size_t)(got - at), &h) || h.raw_len == 0 ||
            XET_CHUNK_HEADER_LEN + (uint64_t)h.stored_len > need - at)
            return record_error(d);
        if (XET_CHUNK_HEADER_LEN + (uint64_t)h.stored_len > got - at)
            break; /* the rest of it is on the way */
        d->rec_off[d->nidx] = (uint32_t)at;
        d->raw_len[d->nidx++] = h.raw_len;
        d->idx_pos = at + XET_CHUNK_HEADER_LEN + h.stored_len;
    }
    return HG_OK;
}

/* Does the 206's Content-Range start at byte start? */
static int range_starts_at(const upstream_response *r, uint64_t start)
{
    const char *v = upstream_header_get(r, "content-range");
    if (!v || strncasecmp(v, "bytes ", 6))
        return 0;
    char *end;
    errno = 0;
    unsigned long long s = strtoull(v + 6, &end, 10);
    return end != v + 6 && *end == '-' && !errno && s == start;
}

/* A window keeps only the records not yet delivered: the current term's next chunk on (or
 * just the record still arriving). */
static void window_slide(xet_dl *d)
{
    uint64_t keep = d->idx_pos;
    if (d->ti < d->plan.nterms && same_range(&d->cache, &d->plan.ranges[d->plan.terms[d->ti].range]) &&
        d->tk - d->cache.cs < d->nidx)
        keep = d->rec_off[d->tk - d->cache.cs];
    size_t drop = (size_t)(keep - d->win_base);
    if (drop) {
        memmove(d->buf.data, d->buf.data + drop, d->buf.len - drop);
        d->buf.len -= drop;
        d->win_base = keep;
    }
}

/* Takes the range's bytes as they arrive: checks where the answer starts, locates the records
 * and delivers what the current terms need at once. */
static int range_sink(void *arg, const void *data, size_t len)
{
    xet_dl *d = arg;
    hg_err rc = HG_OK;
    if (!d->checked) {
        long st = d->cur->status;
        if (st != 200 && (st != 206 || !range_starts_at(d->cur->resp, d->want_start)))
            rc = fail(d, HG_ERR_UPSTREAM, "a xorb URL answered %ld with another range than asked", st);
        d->checked = 1;
    }
    if (!rc && hg_buf_append(&d->buf, data, len)) {
        d->cached = 0; /* the failed append freed the buffer */
        rc = fail(d, HG_ERR_NOMEM, "no memory for a xorb range");
    }
    if (!rc) {
        __atomic_add_fetch(&d->u->body_bytes, len, __ATOMIC_RELAXED);
        rc = index_more(d);
    }
    if (!rc)
        rc = advance(d);
    if (!rc && d->windowed)
        window_slide(d);
    d->stream_rc = rc;
    return rc ? -1 : 0;
}

/* A redirect of a xorb URL: its absolute Location into url.  -1 if there is none. */
static int range_redirect(const upstream_response *r, char *url, size_t cap)
{
    const char *loc = upstream_header_get(r, "location");
    if (!loc || !url_ok(loc, cap))
        return -1;
    snprintf(url, cap, "%s", loc);
    return 0;
}

/* GETs the rest of the range in d->cache (from the URL of plan range r) into d->buf, resuming
 * a transfer that breaks off and retrying with backoff.  A 403 (an expired signed URL) sets
 * *expired and returns HG_OK. */
static hg_err range_fetch(xet_dl *d, const xr_range *r, int *expired)
{
    upstream *u = d->u;
    uint64_t bs = d->cache.bs, be = d->cache.be, need = be - bs + 1;
    char url[UP_XET_URL_MAX], logu[320], range[64];
    snprintf(url, sizeof url, "%s", d->plan.urls[r->url]);
    uint64_t deadline = up_now_ms() + (uint64_t)u->cfg.deadline_s * 1000 * 4;
    unsigned hops = 0;
    upstream_response rr;
    upstream_response_init(&rr);
    hg_err rc = HG_OK;
    for (unsigned k = 0; d->win_base + d->buf.len < need; k++) {
        uint64_t have = d->win_base + d->buf.len;
        snprintf(range, sizeof range, "%llu-%llu", (unsigned long long)(bs + have), (unsigned long long)be);
        up_log_url(url, logu, sizeof logu);
        attempt a = {.u = u, .resp = &rr, .sink = range_sink, .sink_arg = d, .resume_from = bs + have,
                     .limit = need - have};
        attempt_opts o = {.method = "GET", .url = url, .range = range}; /* no Authorization: the URL is signed */
        up_clear_headers(&rr);
        rr.error[0] = '\0';
        d->cur = &a;
        d->want_start = bs + have;
        d->checked = 0;
        __atomic_add_fetch(&u->xet_fetches, 1, __ATOMIC_RELAXED);
        CURLcode cr = up_run_attempt(u, &o, &a);
        d->cur = NULL;
        long st = rr.status;
        int body = st == 200 || st == 206;
        if (a.sink_failed) {
            rc = d->stream_rc;
            break;
        }
        if (body && d->win_base + d->buf.len == need)
            break; /* complete (a 200 of the whole object is cut after the range) */
        if (cr == CURLE_OK && st == 403) {
            *expired = 1;
            break;
        }
        if (cr == CURLE_OK && st >= 300 && st < 400 && hops < UP_XET_MAX_HOPS &&
            !range_redirect(&rr, url, sizeof url)) {
            hops++;
            continue;
        }
        if (cr == CURLE_OK && !body && !up_retryable_status(st)) {
            rc = fail(d, HG_ERR_UPSTREAM, "xorb %s answered %ld", logu, st);
            break;
        }
        if (cr == CURLE_OK)
            snprintf(rr.error, sizeof rr.error, body ? "body ended early" : "answered %ld", st);
        HG_WARN("upstream xorb GET %s: %s (attempt %u, %llu of %llu bytes)", logu, rr.error, k + 1,
                (unsigned long long)(d->win_base + d->buf.len), (unsigned long long)need);
        if (k >= u->cfg.retries + 4 || up_backoff(u, k + 1 > 4 ? 4 : k + 1, &rr, deadline)) {
            __atomic_add_fetch(&u->failures, 1, __ATOMIC_RELAXED);
            rc = fail(d, HG_ERR_UPSTREAM, "xorb %s: %s", logu, rr.error);
            break;
        }
    }
    upstream_response_clear(&rr);
    return rc;
}

/* Makes plan range r the one being fetched, from its start: kept whole, or windowed when the
 * next term does not use it too. */
static hg_err range_start(xet_dl *d, const xr_range *r)
{
    const xr_plan *p = &d->plan;
    int windowed = d->ti + 1 >= p->nterms || !same_range(&p->ranges[p->terms[d->ti + 1].range], r);
    size_t cap = windowed ? UP_XET_WINDOW : (size_t)(r->be - r->bs + 1);
    uint8_t *dst;
    d->cached = d->complete = 0;
    d->nidx = 0;
    d->idx_pos = d->win_base = 0;
    hg_buf_reset(&d->buf);
    if (d->buf.cap != cap) {
        hg_buf_free(&d->buf);
        hg_buf_init(&d->buf, cap);
    }
    if (hg_buf_reserve(&d->buf, cap, &dst))
        return fail(d, HG_ERR_NOMEM, "no memory for a xorb range of %zu bytes", cap);
    d->cache = *r;
    d->windowed = windowed;
    d->cached = 1;
    return HG_OK;
}

/* Brings range r in, delivering terms from it as it arrives.  A range kept whole stays for the
 * terms after (consecutive terms often share one), and one fetched in part is continued (after
 * a fresh reconstruction).  A windowed range is gone once complete. */
static hg_err range_load(xet_dl *d, const xr_range *r, int *expired)
{
    hg_err rc = HG_OK;
    if (!d->cached || !same_range(&d->cache, r))
        rc = range_start(d, r);
    if (rc || d->complete)
        return rc;
    rc = range_fetch(d, r, expired);
    if (rc || *expired)
        return rc;
    if (d->nidx != (size_t)(r->ce - r->cs) || d->idx_pos != d->win_base + d->buf.len)
        return record_error(d);
    d->complete = 1;
    if (d->windowed) {
        rc = advance(d);
        d->cached = 0;
    }
    return rc;
}

/* Delivers the plan's terms from d->pos on.  *expired: a signed URL was refused (403). */
static hg_err run_terms(xet_dl *d, int *expired)
{
    d->ti = 0;
    d->t0 = 0;
    term_begin(d);
    while (d->ti < d->plan.nterms) {
        hg_err rc = range_load(d, &d->plan.ranges[d->plan.terms[d->ti].range], expired);
        if (!rc && !*expired)
            rc = advance(d); /* the range is complete: the current term at least is done */
        if (rc || *expired)
            return rc;
    }
    return HG_OK;
}

/* ---- the download ---- */

static hg_err dl_run(xet_dl *d)
{
    hg_err rc = recon_fetch(d);
    unsigned stale = 0;
    uint64_t last = d->pos;
    while (!rc) {
        int expired = 0;
        rc = run_terms(d, &expired);
        if (rc || !expired)
            break;
        stale = d->pos == last ? stale + 1 : 1;
        last = d->pos;
        if (stale > UP_XET_MAX_STALE) {
            rc = fail(d, HG_ERR_UPSTREAM, "xorb URLs refused (403) even after %u fresh reconstructions",
                      UP_XET_MAX_STALE);
            break;
        }
        HG_INFO("upstream Xet %.16s: a xorb URL was refused (403) at byte %llu: fetching the reconstruction again",
                d->adv->hash_hex, (unsigned long long)d->pos);
        rc = recon_fetch(d);
        if (d->windowed)
            d->cached = 0; /* the new plan may need the bytes the window let go: start it over */
    }
    return rc;
}

static hg_err dl_verify(xet_dl *d)
{
    xet_hash root, fh;
    if (xet_merkle_finish(&d->merkle, &root, NULL))
        return fail(d, HG_ERR_CORRUPT, "too many chunks for a file hash");
    xet_file_hash_from_root(&root, d->nchunks, &fh);
    if (!xet_hash_eq(&fh, &d->adv->hash)) {
        char got[XET_HEX_LEN + 1];
        xet_hash_to_hex(&fh, got);
        return fail(d, HG_ERR_CORRUPT, "the Xet file hash of the chunks (%.16s...) is not X-Xet-Hash (%.16s...)", got,
                    d->adv->hash_hex);
    }
    if (d->expect != UINT64_MAX && d->pos != d->expect)
        return fail(d, HG_ERR_CORRUPT, "Xet delivered %llu bytes, the Hub announced %llu", (unsigned long long)d->pos,
                    (unsigned long long)d->expect);
    return HG_OK;
}

static void dl_free(xet_dl *d)
{
    plan_free(&d->plan);
    hg_buf_free(&d->buf);
    free(d->rec_off);
    free(d->raw_len);
    free(d->scratch);
    xet_codec_free(&d->codec);
    wipe_free(&d->auth);
    free(d->cas);
    free(d);
}

hg_err up_xet_fetch(upstream *u, const up_xet_advert *adv, const char *hub_url, const char *authorization,
                    uint64_t expect_size, upstream_sink_fn sink, void *arg, upstream_response *resp, int *touched)
{
    *touched = 0;
    resp->error[0] = '\0';
    if (!up_same_origin(adv->auth_url, hub_url)) {
        /* Never send the Hub credentials elsewhere; without them the token would be refused. */
        snprintf(resp->error, sizeof resp->error, "the xet-auth URL is not on the Hub's host");
        return HG_ERR_UNSUPPORTED;
    }
    xet_dl *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(resp->error, sizeof resp->error, "out of memory");
        return HG_ERR_NOMEM;
    }
    *d = (xet_dl){.u = u, .adv = adv, .hub_auth = authorization, .expect = expect_size, .sink = sink, .arg = arg,
                  .err = resp->error, .errcap = sizeof resp->error};
    hg_buf_init(&d->buf, 0);
    xet_merkle_init(&d->merkle);
    d->rec_off = malloc(XET_MAX_XORB_CHUNKS * sizeof *d->rec_off);
    d->raw_len = malloc(XET_MAX_XORB_CHUNKS * sizeof *d->raw_len);
    d->scratch = malloc(XET_MAX_CHUNK);
    hg_err rc = d->rec_off && d->raw_len && d->scratch ? xet_codec_new(&d->codec) : HG_ERR_NOMEM;
    if (rc)
        rc = fail(d, rc, "out of memory");
    if (!rc)
        rc = dl_run(d);
    if (!rc)
        rc = dl_verify(d);
    *touched = d->touched;
    if (!rc) {
        __atomic_add_fetch(&u->xet_bodies, 1, __ATOMIC_RELAXED);
        HG_DEBUG("upstream Xet %.16s: %llu bytes in %zu terms (%s)", adv->hash_hex, (unsigned long long)d->pos,
                 d->plan.nterms, d->v1 ? "v1" : "v2");
    } else if (rc == HG_ERR_CORRUPT) {
        HG_ERROR("upstream Xet %.16s: %s", adv->hash_hex, resp->error);
    }
    dl_free(d);
    return rc;
}
