/*
 * http_server.c - libmicrohttpd glue (see http.h).
 *
 * Traps handled here (shared/docs/http-stack.md): a response queued in the first access-handler
 * call makes libmicrohttpd 0.9.75 close keep-alive connections, so the first call only sets up
 * the request context; MHD's URL unescaping is disabled so %2F survives into the handler.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "http/http.h"
#include "util/hg_log.h"

/* Unsent bytes a client socket may hold before it stops being writable.  libmicrohttpd sends a
 * file in 128 KiB sendfile slices; with at most one slice queued ahead, one stream on loopback
 * went from 0.85-0.91 to 0.93-1.08 of nginx (alternating A/B, median of 25; 8 and 32 streams and
 * small requests unchanged within noise).  It bounds the bytes not yet sent, not those in flight,
 * so a long fat link still fills. */
#define HTTP_NOTSENT_LOWAT (128 * 1024)

#if MHD_VERSION < 0x00097002
typedef int MHD_RESULT;
#else
typedef enum MHD_Result MHD_RESULT;
#endif

struct http_server {
    struct MHD_Daemon *d;
    int fd;
    unsigned port;
    http_handler handler;
    void *arg;
};

/* Per-request state, from the first access-handler call to MHD's completion notice. */
typedef struct req_ctx {
    hg_buf body;
    int too_big;
    char *path;
    http_request req;
    /* deferred answers (http_defer): the mutex orders suspend before resume */
    pthread_mutex_t mu;
    int deferred;  /* the handler deferred; waiting for completion */
    int ready;     /* completed: `answer` holds the response */
    int suspended; /* MHD_suspend_connection was called */
    int handled;   /* the handler ran */
    http_response answer;
    /* completion hooks (http_on_complete) and what they are told */
    http_respond_fn on_respond;
    http_done_fn on_done;
    void *hook_arg;
    int status;        /* queued status */
    int body_kind;
    uint64_t body_len; /* announced body bytes */
    uint64_t produced; /* bytes a reader body returned (atomic) */
} req_ctx;

struct http_deferred {
    req_ctx *ctx;
    struct MHD_Connection *conn;
};

const char *http_header(const http_request *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *http_query(const http_request *r, const char *key)
{
    for (size_t i = 0; i < r->nquery; i++)
        if (!strcmp(r->query[i].key, key))
            return r->query[i].value;
    return NULL;
}

void http_response_init(http_response *r)
{
    memset(r, 0, sizeof *r);
    r->status = 200;
    r->fd = -1;
    hg_buf_init(&r->mem, (size_t)1 << 30);
}

void http_response_clear(http_response *r)
{
    for (size_t i = 0; i < r->nheaders; i++) {
        free(r->headers[i].key);
        free(r->headers[i].value);
    }
    r->nheaders = 0;
    hg_buf_free(&r->mem);
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
    if (r->reader_free && r->reader_arg)
        r->reader_free(r->reader_arg);
    r->reader_arg = NULL;
    r->reader = NULL;
    r->body_kind = HTTP_BODY_NONE;
}

hg_err http_response_header(http_response *r, const char *name, const char *fmt, ...)
{
    if (r->nheaders == HTTP_MAX_HEADERS)
        return HG_ERR_TOOBIG;
    va_list ap;
    va_start(ap, fmt);
    char *v = NULL;
    int n = vasprintf(&v, fmt, ap);
    va_end(ap);
    char *k = strdup(name);
    if (n < 0 || !k) {
        free(k);
        if (n >= 0)
            free(v);
        return HG_ERR_NOMEM;
    }
    r->headers[r->nheaders++] = (http_kv){k, v};
    return HG_OK;
}

hg_err http_response_body(http_response *r, const void *data, size_t len)
{
    hg_buf_reset(&r->mem);
    r->body_kind = HTTP_BODY_MEM;
    return hg_buf_append(&r->mem, data, len);
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

hg_err http_pct_decode(const char *s, size_t n, char *out, size_t cap, size_t *len)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (o + 1 >= cap)
            return HG_ERR_TOOBIG;
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= n)
                return HG_ERR_INVAL;
            int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return HG_ERR_INVAL;
            c = (char)(hi << 4 | lo);
            i += 2;
        }
        out[o++] = c;
    }
    out[o] = '\0';
    if (len)
        *len = o;
    return HG_OK;
}

hg_err http_pct_encode(const char *s, int keep_slash, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                    *p == '-' || *p == '_' || *p == '.' || *p == '~' || (keep_slash && *p == '/');
        if (o + (plain ? 1 : 3) >= cap)
            return HG_ERR_TOOBIG;
        if (plain) {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    out[o] = '\0';
    return HG_OK;
}

/* MHD must not decode: we split the path on '/' before decoding.  Query values are decoded by
 * collect_query instead. */
static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    return strlen(s);
}

/* Decodes a query key or value ('+' is a space); undecodable text is kept as sent and left to
 * the handler's validation. */
static char *query_decode(const char *s)
{
    size_t n = strlen(s);
    char *plus = malloc(n + 1), *out = malloc(n + 1);
    if (!plus || !out) {
        free(plus);
        free(out);
        return NULL;
    }
    for (size_t i = 0; i <= n; i++)
        plus[i] = s[i] == '+' ? ' ' : s[i];
    if (http_pct_decode(plus, n, out, n + 1, NULL))
        memcpy(out, s, n + 1);
    free(plus);
    return out;
}

static MHD_RESULT collect_query(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    http_request *r = cls;
    if (r->nquery == HTTP_MAX_QUERY)
        return MHD_NO;
    char *k = query_decode(key), *v = query_decode(value ? value : "");
    if (!k || !v) {
        free(k);
        free(v);
        return MHD_NO;
    }
    r->query[r->nquery++] = (http_kv){k, v};
    return MHD_YES;
}

static void free_ctx(req_ctx *ctx)
{
    if (!ctx)
        return;
    for (size_t i = 0; i < ctx->req.nquery; i++) {
        free(ctx->req.query[i].key);
        free(ctx->req.query[i].value);
    }
    hg_buf_free(&ctx->body);
    free(ctx->path);
    if (ctx->ready)
        http_response_clear(&ctx->answer);
    pthread_mutex_destroy(&ctx->mu);
    free(ctx);
}

void http_on_complete(const http_request *req, http_respond_fn respond, http_done_fn done, void *arg)
{
    req_ctx *ctx = (req_ctx *)((char *)req - offsetof(req_ctx, req));
    ctx->on_respond = respond;
    ctx->on_done = done;
    ctx->hook_arg = arg;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    req_ctx *ctx = *con_cls;
    if (ctx && ctx->on_done) {
        http_completion hc = {.status = ctx->status, .body_len = ctx->body_len, .known = 1};
        uint64_t produced = __atomic_load_n(&ctx->produced, __ATOMIC_RELAXED);
        if (ctx->status && toe == MHD_REQUEST_TERMINATED_COMPLETED_OK) {
            hc.completed = 1;
            hc.bytes_sent = hc.body_len;
        } else if (ctx->body_kind == HTTP_BODY_READER) {
            hc.bytes_sent = produced < hc.body_len ? produced : hc.body_len;
        } else {
            hc.known = hc.body_len == 0;
        }
        ctx->on_done(ctx->hook_arg, &hc);
        ctx->on_done = NULL;
    }
    free_ctx(*con_cls);
    *con_cls = NULL;
}

struct http_park {
    struct MHD_Connection *conn;
};

void http_park_suspend(http_park *park)
{
    MHD_suspend_connection(park->conn); /* documented as safe from a content reader */
}

void http_park_resume(http_park *park)
{
    MHD_resume_connection(park->conn);
}

typedef struct reader_box {
    http_reader_fn fn;
    http_free_fn free_fn;
    void *arg;
    http_park park;
    uint64_t *produced; /* the request's count (completion hooks) */
} reader_box;

static ssize_t reader_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
    reader_box *b = cls;
    ssize_t n = b->fn(b->arg, pos, buf, max, &b->park);
    if (n > 0)
        __atomic_add_fetch(b->produced, (uint64_t)n, __ATOMIC_RELAXED);
    if (n >= 0)
        return n; /* 0 only after the reader parked: MHD calls again once it is resumed */
    /* With MHD_USE_TURBO, 0.9.75 marks the connection closed without shutting the socket down,
     * and when the failing call came from the idle handler (the first call of a body, or the
     * first call after a resume) nothing looks at the connection again until the socket has an
     * event: the client would wait for its own timeout.  Shutting the socket down makes the
     * peer see the end at once and raises the epoll event that lets MHD clean up. */
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(b->park.conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci)
        shutdown(ci->connect_fd, SHUT_RDWR);
    return MHD_CONTENT_READER_END_WITH_ERROR;
}

static void reader_free(void *cls)
{
    reader_box *b = cls;
    if (b->free_fn)
        b->free_fn(b->arg);
    free(b);
}

static MHD_RESULT send_simple(struct MHD_Connection *c, unsigned status, const char *msg)
{
    char body[256];
    int n = snprintf(body, sizeof body, "{\"error\":\"%s\"}", msg);
    struct MHD_Response *r = MHD_create_response_from_buffer((size_t)n, body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json; charset=utf-8");
    MHD_add_response_header(r, "X-Error-Message", msg);
    MHD_RESULT ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* Tells the completion hooks what is about to be queued. */
static void note_response(req_ctx *ctx, const http_response *resp)
{
    if (ctx->on_respond)
        ctx->on_respond(ctx->hook_arg, resp);
    ctx->status = resp->status;
    ctx->body_kind = resp->body_kind;
    uint64_t len = resp->body_kind == HTTP_BODY_MEM ? resp->mem.len
                   : resp->body_kind == HTTP_BODY_FD ? resp->fd_len
                   : resp->body_kind == HTTP_BODY_READER ? resp->size : 0;
    if (!strcmp(ctx->req.method ? ctx->req.method : "", "HEAD") || resp->status == 204 || resp->status == 304 ||
        resp->status < 200)
        len = 0;
    ctx->body_len = len;
}

static MHD_RESULT queue(req_ctx *ctx, struct MHD_Connection *c, http_response *resp)
{
    struct MHD_Response *r = NULL;
    note_response(ctx, resp);
    switch (resp->body_kind) {
    case HTTP_BODY_MEM: {
        size_t len;
        uint8_t *data = hg_buf_take(&resp->mem, &len);
        r = MHD_create_response_from_buffer(len, len ? data : (void *)"", len ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
        if (!r)
            free(data);
        break;
    }
    case HTTP_BODY_FD:
        r = MHD_create_response_from_fd_at_offset64(resp->fd_len, resp->fd, resp->fd_off);
        if (r)
            resp->fd = -1; /* MHD closes it */
        break;
    case HTTP_BODY_READER: {
        reader_box *b = malloc(sizeof *b);
        if (!b)
            break;
        *b = (reader_box){resp->reader, resp->reader_free, resp->reader_arg, {c}, &ctx->produced};
        r = MHD_create_response_from_callback(resp->size, 256 * 1024, reader_cb, b, reader_free);
        if (r)
            resp->reader_arg = NULL; /* owned by MHD now */
        else
            free(b);
        break;
    }
    default:
        r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        break;
    }
    if (!r) {
        http_response_clear(resp);
        ctx->status = 500;
        ctx->body_kind = HTTP_BODY_MEM;
        ctx->body_len = 0;
        return send_simple(c, 500, "out of memory");
    }
    for (size_t i = 0; i < resp->nheaders; i++)
        MHD_add_response_header(r, resp->headers[i].key, resp->headers[i].value);
    MHD_RESULT ret = MHD_queue_response(c, (unsigned)resp->status, r);
    MHD_destroy_response(r);
    http_response_clear(resp);
    return ret;
}

static MHD_RESULT access_handler(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **con_cls)
{
    (void)version;
    http_server *s = cls;
    req_ctx *ctx = *con_cls;
    if (!ctx) {
        ctx = calloc(1, sizeof *ctx);
        if (!ctx)
            return MHD_NO;
        hg_buf_init(&ctx->body, HTTP_MAX_BODY);
        pthread_mutex_init(&ctx->mu, NULL);
        *con_cls = ctx;
        return MHD_YES; /* respond on a later call: keeps keep-alive working */
    }
    if (ctx->handled) {
        /* Called again after http_deferred_complete resumed the connection. */
        pthread_mutex_lock(&ctx->mu);
        int ready = ctx->ready;
        ctx->suspended = 0;
        pthread_mutex_unlock(&ctx->mu);
        if (!ready)
            return MHD_YES; /* spurious call: still waiting (cannot happen while suspended) */
        ctx->ready = 0;
        return queue(ctx, c, &ctx->answer);
    }
    if (*upload_size > 0) {
        if (!ctx->too_big && hg_buf_append(&ctx->body, upload, *upload_size))
            ctx->too_big = 1;
        *upload_size = 0;
        return MHD_YES;
    }
    http_request *req = &ctx->req;
    if (ctx->too_big) {
        req->error_status = 413;
        req->error_msg = "Request body too large";
    } else if (strlen(url) > HTTP_MAX_PATH) {
        req->error_status = 414;
        req->error_msg = "URL too long";
        url = "/";
    }
    ctx->path = strdup(url);
    if (!ctx->path)
        return MHD_NO;
    req->method = method;
    req->path = ctx->path;
    req->conn = c;
    req->body = ctx->body.data;
    req->body_len = ctx->body.len;
    int nq = MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_query, req);
    if (nq > HTTP_MAX_QUERY && !req->error_status) {
        req->error_status = 400;
        req->error_msg = "Too many query parameters";
    }
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, req->client, sizeof req->client);
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, req->client, sizeof req->client);
    }
    http_response resp;
    http_response_init(&resp);
    ctx->handled = 1;
    s->handler(s->arg, req, &resp);
    pthread_mutex_lock(&ctx->mu);
    if (ctx->deferred && !ctx->ready) {
        MHD_suspend_connection(c);
        ctx->suspended = 1;
        pthread_mutex_unlock(&ctx->mu);
        http_response_clear(&resp);
        return MHD_YES;
    }
    int ready = ctx->deferred && ctx->ready;
    pthread_mutex_unlock(&ctx->mu);
    if (ready) { /* completed before the handler even returned */
        http_response_clear(&resp);
        ctx->ready = 0;
        return queue(ctx, c, &ctx->answer);
    }
    return queue(ctx, c, &resp);
}

http_deferred *http_defer(const http_request *req)
{
    req_ctx *ctx = (req_ctx *)((char *)req - offsetof(req_ctx, req));
    http_deferred *d = malloc(sizeof *d);
    if (!d)
        return NULL;
    d->ctx = ctx;
    d->conn = req->conn;
    pthread_mutex_lock(&ctx->mu);
    ctx->deferred = 1;
    pthread_mutex_unlock(&ctx->mu);
    return d;
}

void http_deferred_complete(http_deferred *d, http_response *resp)
{
    req_ctx *ctx = d->ctx;
    pthread_mutex_lock(&ctx->mu);
    ctx->answer = *resp;
    http_response_init(resp);
    ctx->ready = 1;
    if (ctx->suspended)
        MHD_resume_connection(d->conn);
    pthread_mutex_unlock(&ctx->mu);
    free(d);
}

static int listen_socket(const char *spec, unsigned *port_out)
{
    char host[256] = "", port[16] = "8080";
    const char *colon = strrchr(spec, ':');
    if (spec[0] == '[') {
        const char *end = strchr(spec, ']');
        if (!end || (size_t)(end - spec - 1) >= sizeof host)
            return -1;
        memcpy(host, spec + 1, (size_t)(end - spec - 1));
        host[end - spec - 1] = 0;
        if (end[1] == ':')
            snprintf(port, sizeof port, "%s", end + 2);
    } else if (colon) {
        if ((size_t)(colon - spec) >= sizeof host)
            return -1;
        memcpy(host, spec, (size_t)(colon - spec));
        host[colon - spec] = 0;
        snprintf(port, sizeof port, "%s", colon + 1);
    } else {
        snprintf(host, sizeof host, "%s", spec);
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *res;
    int gai = getaddrinfo(*host ? host : NULL, port, &hints, &res);
    if (gai != 0) {
        HG_ERROR("listen %s: %s", spec, gai_strerror(gai));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        int one = 1, lowat = HTTP_NOTSENT_LOWAT;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        /* Accepted sockets inherit it (see HTTP_NOTSENT_LOWAT); failure only costs speed. */
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof lowat);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 4096) != 0) {
            HG_ERROR("listen %s: %s", spec, strerror(errno));
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd >= 0) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        getsockname(fd, (struct sockaddr *)&ss, &sl);
        *port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                   : ((struct sockaddr_in *)&ss)->sin_port);
    }
    return fd;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    size_t n = strlen(buf);
    while (n && buf[n - 1] == '\n')
        buf[--n] = 0;
    HG_DEBUG("http: %s", buf);
}

hg_err http_server_start(const http_server_options *opt, http_handler h, void *arg, http_server **out)
{
    http_server *s = calloc(1, sizeof *s);
    if (!s)
        return HG_ERR_NOMEM;
    s->handler = h;
    s->arg = arg;
    s->fd = listen_socket(opt->listen, &s->port);
    if (s->fd < 0) {
        free(s);
        return HG_ERR_IO;
    }
    unsigned threads = opt->threads ? opt->threads : 2;
    s->d = MHD_start_daemon(
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_TURBO | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME, 0,
        NULL, NULL, access_handler, s, MHD_OPTION_LISTEN_SOCKET, s->fd, MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_CONNECTION_LIMIT, opt->connection_limit ? opt->connection_limit : 10000,
        MHD_OPTION_CONNECTION_TIMEOUT, opt->timeout_s ? opt->timeout_s : 120,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024, MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, NULL,
        MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_END);
    if (!s->d) {
        HG_ERROR("http: cannot start the server on %s", opt->listen);
        close(s->fd);
        free(s);
        return HG_ERR_IO;
    }
    *out = s;
    return HG_OK;
}

void http_server_stop(http_server **ps)
{
    http_server *s = *ps;
    if (!s)
        return;
    MHD_stop_daemon(s->d);
    close(s->fd);
    free(s);
    *ps = NULL;
}

unsigned http_server_port(const http_server *s)
{
    return s->port;
}
