/*
 * upstream.c - blocking upstream calls with retries, backoff and resume (see upstream.h).  File
 * bodies of Xet-backed files go through upstream_xet.c when the Hub advertises Xet.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "upstream/upstream_int.h"
#include "util/hg_log.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void share_lock(CURL *c, curl_lock_data data, curl_lock_access access, void *arg)
{
    (void)c;
    (void)access;
    upstream *u = arg;
    if ((unsigned)data < CURL_LOCK_DATA_LAST)
        pthread_mutex_lock(&u->share_mu[data]);
}

static void share_unlock(CURL *c, curl_lock_data data, void *arg)
{
    (void)c;
    upstream *u = arg;
    if ((unsigned)data < CURL_LOCK_DATA_LAST)
        pthread_mutex_unlock(&u->share_mu[data]);
}

static void handle_destroy(void *h)
{
    curl_easy_cleanup(h);
}

/* DNS answers and TLS sessions shared by every thread's handle (a new connection to
 * huggingface.co then resumes a TLS session instead of a full handshake). */
static hg_err share_init(upstream *u)
{
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&u->share_mu[i], NULL);
    if (pthread_key_create(&u->handle_key, handle_destroy) != 0)
        return HG_ERR_NOMEM;
    u->have_key = 1;
    u->share = curl_share_init();
    if (!u->share || curl_share_setopt(u->share, CURLSHOPT_LOCKFUNC, share_lock) ||
        curl_share_setopt(u->share, CURLSHOPT_UNLOCKFUNC, share_unlock) ||
        curl_share_setopt(u->share, CURLSHOPT_USERDATA, u) ||
        curl_share_setopt(u->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) ||
        curl_share_setopt(u->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION))
        return HG_ERR_NOMEM;
    return HG_OK;
}

void upstream_abort(upstream *u)
{
    if (u)
        __atomic_store_n(&u->aborting, 1, __ATOMIC_RELAXED);
}

static int aborting(const upstream *u)
{
    return __atomic_load_n(&u->aborting, __ATOMIC_RELAXED);
}

/* Called by libcurl at least once a second, also while nothing moves. */
static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return aborting(arg);
}

void upstream_thread_exit(upstream *u)
{
    if (!u || !u->have_key)
        return;
    CURL *c = pthread_getspecific(u->handle_key);
    if (c) {
        pthread_setspecific(u->handle_key, NULL);
        curl_easy_cleanup(c);
    }
}

/* The calling thread's handle, reset to default options (connections, caches kept). */
static CURL *thread_handle(upstream *u)
{
    CURL *c = pthread_getspecific(u->handle_key);
    if (c) {
        curl_easy_reset(c);
    } else {
        c = curl_easy_init();
        if (c && pthread_setspecific(u->handle_key, c) != 0) {
            curl_easy_cleanup(c);
            return NULL;
        }
    }
    if (c)
        curl_easy_setopt(c, CURLOPT_SHARE, u->share);
    return c;
}

hg_err upstream_new(const upstream_config *cfg, upstream **out)
{
    pthread_once(&curl_once, curl_init_once);
    upstream *u = calloc(1, sizeof *u);
    if (!u)
        return HG_ERR_NOMEM;
    if (share_init(u)) {
        upstream_free(&u);
        return HG_ERR_NOMEM;
    }
    u->cfg = *cfg;
    u->base = strdup(cfg->base_url);
    u->token = cfg->token && *cfg->token ? strdup(cfg->token) : NULL;
    if (!u->base || (cfg->token && *cfg->token && !u->token)) {
        upstream_free(&u);
        return HG_ERR_NOMEM;
    }
    size_t n = strlen(u->base);
    while (n && u->base[n - 1] == '/')
        u->base[--n] = '\0';
    if (!u->cfg.connect_timeout_s)
        u->cfg.connect_timeout_s = 10;
    if (!u->cfg.deadline_s)
        u->cfg.deadline_s = 30;
    if (!u->cfg.stall_s)
        u->cfg.stall_s = 30;
    if (!u->cfg.backoff_ms)
        u->cfg.backoff_ms = 200;
    u->cfg.base_url = u->base;
    u->cfg.token = u->token;
    *out = u;
    return HG_OK;
}

void upstream_free(upstream **pu)
{
    upstream *u = *pu;
    if (!u)
        return;
    upstream_thread_exit(u);
    if (u->share && curl_share_cleanup(u->share) != CURLSHE_OK)
        HG_WARN("upstream: a thread still holds a connection handle; the shared caches are left");
    else
        for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
            pthread_mutex_destroy(&u->share_mu[i]);
    if (u->have_key)
        pthread_key_delete(u->handle_key);
    free(u->base);
    if (u->token) {
        memset(u->token, 0, strlen(u->token));
        free(u->token);
    }
    free(u);
    *pu = NULL;
}

const char *upstream_base_url(const upstream *u)
{
    return u->base;
}

void upstream_get_stats(upstream *u, upstream_stats *out)
{
    out->calls = __atomic_load_n(&u->calls, __ATOMIC_RELAXED);
    out->retries = __atomic_load_n(&u->retries, __ATOMIC_RELAXED);
    out->failures = __atomic_load_n(&u->failures, __ATOMIC_RELAXED);
    out->body_bytes = __atomic_load_n(&u->body_bytes, __ATOMIC_RELAXED);
    out->xet_bodies = __atomic_load_n(&u->xet_bodies, __ATOMIC_RELAXED);
    out->xet_terms = __atomic_load_n(&u->xet_terms, __ATOMIC_RELAXED);
    out->xet_fetches = __atomic_load_n(&u->xet_fetches, __ATOMIC_RELAXED);
    out->xet_fallbacks = __atomic_load_n(&u->xet_fallbacks, __ATOMIC_RELAXED);
}

void upstream_response_init(upstream_response *r)
{
    memset(r, 0, sizeof *r);
    hg_buf_init(&r->body, 64u << 20);
}

void up_clear_headers(upstream_response *r)
{
    for (size_t i = 0; i < r->nheaders; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    r->nheaders = 0;
}

void upstream_response_clear(upstream_response *r)
{
    up_clear_headers(r);
    hg_buf_free(&r->body);
    r->status = 0;
    r->via_xet = 0;
}

hg_err upstream_response_copy_head(upstream_response *dst, const upstream_response *src)
{
    up_clear_headers(dst);
    dst->status = src->status;
    for (size_t i = 0; i < src->nheaders; i++) {
        char *n = strdup(src->headers[i].name), *v = strdup(src->headers[i].value);
        if (!n || !v) {
            free(n);
            free(v);
            return HG_ERR_NOMEM;
        }
        dst->headers[dst->nheaders++] = (upstream_header){n, v};
    }
    return HG_OK;
}

const char *upstream_header_get(const upstream_response *r, const char *name)
{
    for (size_t i = 0; i < r->nheaders; i++)
        if (!strcasecmp(r->headers[i].name, name))
            return r->headers[i].value;
    return NULL;
}

/* ---- one attempt ---- */

static size_t on_header(char *buf, size_t size, size_t n, void *arg)
{
    attempt *a = arg;
    size_t len = size * n;
    upstream_response *r = a->resp;
    if (len >= 5 && !strncmp(buf, "HTTP/", 5)) {
        up_clear_headers(r); /* a new response (after 100-continue, say) */
        const char *sp = memchr(buf, ' ', len);
        a->status = sp ? atol(sp + 1) : 0;
        /* A 200 to a Range request starts from byte 0: drop what we already have. */
        a->skip = a->status == 200 ? a->resume_from : 0;
        return len;
    }
    const char *colon = memchr(buf, ':', len);
    if (!colon || r->nheaders == UPSTREAM_MAX_HEADERS)
        return len;
    size_t nl = (size_t)(colon - buf);
    const char *v = colon + 1;
    size_t vl = len - nl - 1;
    while (vl && (*v == ' ' || *v == '\t'))
        v++, vl--;
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
        vl--;
    char *name = strndup(buf, nl), *value = strndup(v, vl);
    if (!name || !value) {
        free(name);
        free(value);
        return 0;
    }
    for (char *p = name; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    r->headers[r->nheaders++] = (upstream_header){name, value};
    return len;
}

static size_t on_body(char *buf, size_t size, size_t n, void *arg)
{
    attempt *a = arg;
    size_t len = size * n, off = 0;
    if (a->sink && (a->status < 200 || a->status > 299))
        return len; /* an error page is not the file: never hand it to a sink */
    if (a->partial_only && a->status == 200) {
        a->whole = 1; /* the Range was ignored: skipping to the part could mean gigabytes */
        return 0;
    }
    if (a->skip) {
        off = a->skip < len ? (size_t)a->skip : len;
        a->skip -= off;
        if (off == len)
            return len;
    }
    if (a->got + (len - off) > a->limit) {
        a->too_big = 1;
        return 0;
    }
    if (a->sink) {
        if (a->sink(a->sink_arg, buf + off, len - off)) {
            a->sink_failed = 1;
            return 0;
        }
    } else if (hg_buf_append(&a->resp->body, buf + off, len - off)) {
        a->too_big = 1;
        return 0;
    }
    a->got += len - off;
    return len;
}

/* The URL without its query, for logs (signed URLs carry credentials there). */
void up_log_url(const char *url, char *out, size_t cap)
{
    size_t n = strcspn(url, "?");
    snprintf(out, cap, "%.*s", (int)(n < 300 ? n : 300), url);
}

int up_same_origin(const char *a, const char *b)
{
    /* scheme://host[:port] prefix comparison */
    const char *sa = strstr(a, "://"), *sb = strstr(b, "://");
    if (!sa || !sb)
        return 0;
    size_t la = (size_t)(strchr(sa + 3, '/') ? strchr(sa + 3, '/') - a : (long)strlen(a));
    size_t lb = (size_t)(strchr(sb + 3, '/') ? strchr(sb + 3, '/') - b : (long)strlen(b));
    return la == lb && !strncasecmp(a, b, la);
}

/* Appends "name: value" (any length: access tokens may be long) to *h; -1 on allocation failure. */
static int add_header(struct curl_slist **h, const char *name, const char *value)
{
    size_t n = strlen(name) + strlen(value) + 3;
    char *line = malloc(n);
    if (!line)
        return -1;
    snprintf(line, n, "%s: %s", name, value);
    struct curl_slist *t = curl_slist_append(*h, line);
    free(line);
    if (!t)
        return -1;
    *h = t;
    return 0;
}

CURLcode up_run_attempt(upstream *u, const attempt_opts *o, attempt *a)
{
    if (aborting(u)) {
        snprintf(a->resp->error, sizeof a->resp->error, "the gateway is stopping");
        return CURLE_ABORTED_BY_CALLBACK;
    }
    CURL *c = thread_handle(u);
    if (!c)
        return CURLE_OUT_OF_MEMORY;
    struct curl_slist *hdrs = NULL;
    int bad = 0;
    if (o->authorization && *o->authorization)
        bad |= add_header(&hdrs, "Authorization", o->authorization);
    if (o->content_type)
        bad |= add_header(&hdrs, "Content-Type", o->content_type);
    bad |= add_header(&hdrs, "Accept-Encoding", "identity");
    bad |= add_header(&hdrs, "User-Agent", "hubgate/" HG_VERSION);
    if (bad) {
        curl_slist_free_all(hdrs);
        return CURLE_OUT_OF_MEMORY;
    }
    curl_easy_setopt(c, CURLOPT_URL, o->url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)u->cfg.connect_timeout_s);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)u->cfg.stall_s);
    if (o->timeout_ms > 0)
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, o->timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, u);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, a);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
    if (o->range)
        curl_easy_setopt(c, CURLOPT_RANGE, o->range);
    if (!strcmp(o->method, "HEAD")) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (!strcmp(o->method, "POST")) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, o->body ? o->body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->body_len);
    }
    CURLcode cr = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    a->resp->status = status;
    if (cr != CURLE_OK)
        snprintf(a->resp->error, sizeof a->resp->error, "%s", curl_easy_strerror(cr));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL); /* the list goes now; the handle stays */
    curl_slist_free_all(hdrs);
    return cr;
}

int up_retryable_status(long s)
{
    return s == 429 || s == 500 || s == 502 || s == 503 || s == 504;
}

uint64_t up_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Sleeps before attempt k (1-based retry): full jitter over an exponential ceiling, or the
 * server's Retry-After; never past the deadline.  Returns -1 if the deadline leaves no time. */
int up_backoff(upstream *u, unsigned k, const upstream_response *r, uint64_t deadline)
{
    uint64_t ceil_ms = (uint64_t)u->cfg.backoff_ms << (k - 1 < 10 ? k - 1 : 10);
    uint32_t rnd = 0;
    if (getrandom(&rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        rnd = (uint32_t)up_now_ms();
    uint64_t wait = ceil_ms ? rnd % (ceil_ms + 1) : 0;
    const char *ra = r ? upstream_header_get(r, "retry-after") : NULL;
    if (ra) {
        char *end;
        unsigned long s = strtoul(ra, &end, 10);
        if (end != ra && s < 3600)
            wait = (uint64_t)s * 1000;
    }
    uint64_t now = up_now_ms();
    if (now + wait >= deadline || aborting(u))
        return -1;
    __atomic_add_fetch(&u->retries, 1, __ATOMIC_RELAXED);
    /* In slices, so that a shutdown does not wait out a long Retry-After. */
    for (uint64_t end = now + wait; !aborting(u) && (now = up_now_ms()) < end;) {
        uint64_t step = end - now < 100 ? end - now : 100;
        struct timespec ts = {0, (long)step * 1000000};
        while (nanosleep(&ts, &ts) != 0)
            ;
    }
    return aborting(u) ? -1 : 0;
}

static void build_url(const upstream *u, const char *path_or_url, char *out, size_t cap)
{
    if (!strncmp(path_or_url, "http://", 7) || !strncmp(path_or_url, "https://", 8))
        snprintf(out, cap, "%s", path_or_url);
    else
        snprintf(out, cap, "%s%s", u->base, path_or_url);
}

hg_err upstream_call(upstream *u, const upstream_request *req, upstream_response *resp)
{
    char url[8192], logu[320];
    build_url(u, req->path, url, sizeof url);
    up_log_url(url, logu, sizeof logu);
    const char *auth_hdr = req->authorization;
    char gw[4096];
    if (!auth_hdr && u->token) {
        snprintf(gw, sizeof gw, "Bearer %s", u->token);
        auth_hdr = gw;
    }
    uint64_t deadline = up_now_ms() + (uint64_t)u->cfg.deadline_s * 1000;
    __atomic_add_fetch(&u->calls, 1, __ATOMIC_RELAXED);
    for (unsigned k = 0;; k++) {
        hg_buf_free(&resp->body);
        hg_buf_init(&resp->body, req->max_body ? req->max_body : 64u << 20);
        up_clear_headers(resp);
        resp->error[0] = '\0';
        attempt a = {.u = u, .resp = resp, .limit = req->max_body ? req->max_body : 64u << 20};
        attempt_opts o = {.method = req->method, .url = url, .authorization = auth_hdr,
                          .content_type = req->content_type, .body = req->body, .body_len = req->body_len};
        uint64_t now = up_now_ms();
        o.timeout_ms = deadline > now ? (long)(deadline - now) : 1;
        CURLcode cr = up_run_attempt(u, &o, &a);
        if (a.too_big) {
            snprintf(resp->error, sizeof resp->error, "upstream answer larger than %zu bytes", (size_t)a.limit);
            __atomic_add_fetch(&u->failures, 1, __ATOMIC_RELAXED);
            return HG_ERR_UPSTREAM;
        }
        int final = cr == CURLE_OK && !up_retryable_status(resp->status);
        if (final) {
            HG_DEBUG("upstream %s %s -> %ld", req->method, logu, resp->status);
            return HG_OK;
        }
        if (cr == CURLE_OK)
            snprintf(resp->error, sizeof resp->error, "upstream answered %ld", resp->status);
        HG_WARN("upstream %s %s: %s (attempt %u)", req->method, logu, resp->error, k + 1);
        if (k >= u->cfg.retries || up_backoff(u, k + 1, resp, deadline)) {
            __atomic_add_fetch(&u->failures, 1, __ATOMIC_RELAXED);
            /* A final 429/5xx is still an HTTP answer the caller may relay. */
            return cr == CURLE_OK ? HG_OK : HG_ERR_UPSTREAM;
        }
    }
}

/* ---- file bodies ---- */

typedef struct body_state {
    upstream *u;
    upstream_sink_fn sink;
    void *arg;
    uint64_t delivered; /* bytes handed to the sink so far */
} body_state;

static int counting_sink(void *arg, const void *data, size_t len)
{
    body_state *b = arg;
    if (b->sink(b->arg, data, len))
        return -1;
    b->delivered += len;
    __atomic_add_fetch(&b->u->body_bytes, len, __ATOMIC_RELAXED);
    return 0;
}

/* Asks the Hub where the body is: *target gets the CDN URL of a redirect, or stays empty when
 * the Hub serves the body itself.  The answer's headers land in resp. */
/* The redirect target of the Hub's answer to HEAD in resp ("" when it is no redirect). */
static hg_err redirect_target(upstream *u, upstream_response *resp, char *target, size_t cap)
{
    target[0] = '\0';
    if (resp->status >= 300 && resp->status < 400) {
        const char *loc = upstream_header_get(resp, "location");
        if (!loc || !*loc) {
            snprintf(resp->error, sizeof resp->error, "upstream redirect without Location");
            return HG_ERR_UPSTREAM;
        }
        if (loc[0] == '/')
            snprintf(target, cap, "%s%s", u->base, loc);
        else
            snprintf(target, cap, "%s", loc);
    }
    return HG_OK;
}

static hg_err locate(upstream *u, const char *hub_url, const char *auth, upstream_response *resp,
                     char *target, size_t cap)
{
    upstream_request rq = {.method = "HEAD", .path = hub_url, .authorization = auth};
    hg_err rc = upstream_call(u, &rq, resp);
    target[0] = '\0';
    return rc ? rc : redirect_target(u, resp, target, cap);
}

/* The Xet path, when the Hub's answer (in resp) advertises it.  Returns 1 when it settled the
 * download (*rc is the result), 0 when the plain path must run: no advertisement, or a failure
 * before any byte reached the sink for a reason other than verification. */
static int try_xet(upstream *u, const char *hub_url, const char *authorization, uint64_t expect_size,
                   upstream_sink_fn sink, void *arg, upstream_response *resp, hg_err *rc)
{
    up_xet_advert adv;
    if (!up_xet_advertised(resp, &adv))
        return 0;
    int touched = 0;
    *rc = up_xet_fetch(u, &adv, hub_url, authorization, expect_size, sink, arg, resp, &touched);
    if (*rc == HG_OK) {
        resp->status = 200;
        resp->via_xet = 1;
        resp->error[0] = '\0';
        return 1;
    }
    if (*rc == HG_ERR_CORRUPT || touched)
        return 1;
    char logu[320];
    up_log_url(hub_url, logu, sizeof logu);
    HG_WARN("upstream %s: Xet download failed before any byte (%s): downloading it directly", logu, resp->error);
    __atomic_add_fetch(&u->xet_fallbacks, 1, __ATOMIC_RELAXED);
    return 0;
}

/* The plain download of the body (part 0: all of it, len bytes or UINT64_MAX if unknown) or of
 * its bytes [first, first + len) (part 1), from target (the CDN URL of a redirect) or, when
 * target is empty, from the Hub itself; breaks resume with a Range from the last byte received. */
static hg_err fetch_plain(upstream *u, const char *hub_url, char *target, size_t tcap, const char *authorization,
                          int part, uint64_t first, uint64_t len, body_state *bs, upstream_response *resp,
                          uint64_t deadline)
{
    char logu[320], range[64];
    for (unsigned k = 0;; k++) {
        const char *url = *target ? target : hub_url;
        int to_hub = up_same_origin(url, hub_url);
        up_log_url(url, logu, sizeof logu);
        attempt a = {.u = u, .resp = resp, .sink = counting_sink, .sink_arg = bs, .partial_only = part,
                     .limit = len == UINT64_MAX ? UINT64_MAX : len - bs->delivered};
        attempt_opts o = {.method = "GET", .url = url, .authorization = to_hub ? authorization : NULL};
        a.resume_from = first + bs->delivered;
        if (part) /* a part of the body: always a closed range */
            snprintf(range, sizeof range, "%llu-%llu", (unsigned long long)a.resume_from,
                     (unsigned long long)(first + len - 1));
        else if (a.resume_from)
            snprintf(range, sizeof range, "%llu-", (unsigned long long)a.resume_from);
        o.range = part || a.resume_from ? range : NULL;
        up_clear_headers(resp);
        resp->error[0] = '\0';
        CURLcode cr = up_run_attempt(u, &o, &a);
        if (a.sink_failed) {
            snprintf(resp->error, sizeof resp->error, "download aborted by the receiver");
            return HG_ERR_UPSTREAM;
        }
        if (a.whole) {
            snprintf(resp->error, sizeof resp->error, "upstream ignored the Range and sent the whole body");
            return HG_ERR_UPSTREAM;
        }
        if (a.too_big) {
            snprintf(resp->error, sizeof resp->error, "upstream body longer than the announced %llu bytes",
                     (unsigned long long)(first + len));
            return HG_ERR_CORRUPT;
        }
        int complete = cr == CURLE_OK && (resp->status == 200 || resp->status == 206) &&
                       (len == UINT64_MAX || bs->delivered == len);
        if (complete) {
            HG_DEBUG("upstream GET %s: %llu bytes from %llu", logu, (unsigned long long)bs->delivered,
                     (unsigned long long)first);
            return HG_OK;
        }
        if (cr == CURLE_OK && !up_retryable_status(resp->status) && resp->status != 200 && resp->status != 206) {
            if (*target && (resp->status == 403 || resp->status == 404 || resp->status == 410)) {
                /* An expired signed CDN URL: ask the Hub for a fresh one. */
                hg_err rc = locate(u, hub_url, authorization, resp, target, tcap);
                if (rc)
                    return rc;
                if (k >= u->cfg.retries)
                    return HG_ERR_UPSTREAM;
                continue;
            }
            snprintf(resp->error, sizeof resp->error, "upstream answered %ld for the file body", resp->status);
            return HG_ERR_UPSTREAM;
        }
        if (cr == CURLE_OK && (resp->status == 200 || resp->status == 206))
            snprintf(resp->error, sizeof resp->error, "body ended after %llu bytes",
                     (unsigned long long)bs->delivered);
        else if (cr == CURLE_OK)
            snprintf(resp->error, sizeof resp->error, "upstream answered %ld", resp->status);
        HG_WARN("upstream GET %s: %s (attempt %u, %llu bytes so far)", logu, resp->error, k + 1,
                (unsigned long long)bs->delivered);
        if (k >= u->cfg.retries + 4 || up_backoff(u, k + 1 > 4 ? 4 : k + 1, resp, deadline)) {
            __atomic_add_fetch(&u->failures, 1, __ATOMIC_RELAXED);
            return HG_ERR_UPSTREAM;
        }
    }
}

/* Where a body is: its Hub URL, the Authorization for the Hub (the client's, else the gateway's
 * own token), and the CDN target of the Hub's redirect ("" when the Hub serves it itself). */
typedef struct body_loc {
    char hub_url[8192], target[8192], gw[4096];
    const char *auth;
} body_loc;

/* Fills loc for url_or_path, asking the Hub with a HEAD unless head is its fresh answer.  1 when
 * the answer (in resp) leads to a body (200 or a redirect), 0 with *rc set otherwise: HG_OK with
 * the Hub's refusal in resp for the caller to relay, or why no answer came. */
static int body_locate(upstream *u, const char *url_or_path, const char *authorization,
                       const upstream_response *head, upstream_response *resp, body_loc *loc, hg_err *rc)
{
    build_url(u, url_or_path, loc->hub_url, sizeof loc->hub_url);
    loc->auth = authorization;
    if (!authorization && u->token) {
        snprintf(loc->gw, sizeof loc->gw, "Bearer %s", u->token);
        loc->auth = loc->gw;
    }
    *rc = head ? upstream_response_copy_head(resp, head) : HG_OK;
    if (!*rc)
        *rc = head ? redirect_target(u, resp, loc->target, sizeof loc->target)
                   : locate(u, loc->hub_url, loc->auth, resp, loc->target, sizeof loc->target);
    resp->via_xet = 0;
    return !*rc && (resp->status == 200 || (resp->status >= 300 && resp->status < 400));
}

/* Bodies get a longer deadline than metadata: retries continue while bytes keep coming. */
static uint64_t body_deadline(const upstream *u)
{
    return up_now_ms() + (uint64_t)u->cfg.deadline_s * 1000 * 4;
}

hg_err upstream_fetch_body(upstream *u, const char *url_or_path, const char *authorization,
                           uint64_t expect_size, upstream_sink_fn sink, void *arg,
                           const upstream_response *head, upstream_response *resp)
{
    body_loc loc;
    hg_err rc;
    if (!body_locate(u, url_or_path, authorization, head, resp, &loc, &rc))
        return rc; /* the caller relays the Hub's answer (404, 401...) */
    if (try_xet(u, loc.hub_url, loc.auth, expect_size, sink, arg, resp, &rc))
        return rc;
    body_state bs = {.u = u, .sink = sink, .arg = arg};
    return fetch_plain(u, loc.hub_url, loc.target, sizeof loc.target, loc.auth, 0, 0, expect_size, &bs, resp,
                       body_deadline(u));
}

hg_err upstream_fetch_range(upstream *u, const char *url_or_path, const char *authorization, uint64_t first,
                            uint64_t len, upstream_sink_fn sink, void *arg, const upstream_response *head,
                            upstream_response *resp)
{
    if (len == 0 || len == UINT64_MAX)
        return HG_ERR_INVAL;
    body_loc loc;
    hg_err rc;
    if (!body_locate(u, url_or_path, authorization, head, resp, &loc, &rc))
        return rc ? rc : HG_ERR_UPSTREAM;
    body_state bs = {.u = u, .sink = sink, .arg = arg};
    return fetch_plain(u, loc.hub_url, loc.target, sizeof loc.target, loc.auth, 1, first, len, &bs, resp,
                       body_deadline(u));
}
