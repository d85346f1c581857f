/*
 * http.h - the HTTP layer: libmicrohttpd glue, independent of what is served.
 *
 * The server parses requests (raw path, decoded query, headers, bounded body) and hands each to
 * one handler, which fills an http_response: status, headers and a body that is either bytes in
 * memory, a range of an open file (sent with sendfile), or a reader callback (for bytes that are
 * produced on the fly, such as decoded chunks).  The layer knows nothing of repos or stores.
 *
 * Limits: request line + headers <= 64 KiB (libmicrohttpd's per-connection memory), path <=
 * HTTP_MAX_PATH, body <= HTTP_MAX_BODY (413 beyond).  Paths are handed over *undecoded*: the
 * Hub protocol splits on '/' before percent-decoding (a %2F belongs to its segment).
 *
 * Threading: handlers run on the server's worker threads (an epoll thread pool), concurrently.
 * A reader callback runs on the thread serving its connection, one call at a time.
 */
#ifndef HG_HTTP_H
#define HG_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/hg_buf.h"
#include "util/hg_err.h"

#define HTTP_MAX_PATH    8192
#define HTTP_MAX_BODY    (1u << 20)
#define HTTP_MAX_HEADERS 40
#define HTTP_MAX_QUERY   64

typedef struct http_kv {
    char *key;
    char *value;
} http_kv;

typedef struct http_request {
    const char *method;
    const char *path;   /* raw (percent-encoded) path, no query string */
    http_kv query[HTTP_MAX_QUERY]; /* decoded */
    size_t nquery;
    const uint8_t *body;
    size_t body_len;
    char client[64];    /* client address, for logs */
    int error_status;   /* non-zero: the layer refused the request (limits); answer with it */
    const char *error_msg;
    void *conn;         /* private: header lookup */
} http_request;

/* The value of a request header (case-insensitive name), or NULL. */
const char *http_header(const http_request *r, const char *name);
/* The decoded value of a query parameter, or NULL. */
const char *http_query(const http_request *r, const char *key);

/* Parking a reader body whose bytes do not exist yet (a file still downloading): the reader
 * calls http_park_suspend(park), publishes park where the producer will find it, and returns 0;
 * libmicrohttpd then stops calling it (no thread waits, nothing polls) until the producer calls
 * http_park_resume(park) once.  Suspend before publishing, under the lock that the producer takes
 * to collect parks, so that no wake-up is lost.  A parked connection is never torn down until
 * resumed, so a published park stays valid until the producer resumes it. */
typedef struct http_park http_park;
void http_park_suspend(http_park *park);
void http_park_resume(http_park *park);

/* Reader body: fill buf with up to max bytes at pos; return the count, -1 to abort the
 * connection (the client then sees a truncated body, never wrong bytes), or 0 after parking
 * (park is NULL when the caller cannot park: such a reader must not return 0). */
typedef ssize_t (*http_reader_fn)(void *arg, uint64_t pos, char *buf, size_t max, http_park *park);
typedef void (*http_free_fn)(void *arg);

enum { HTTP_BODY_NONE = 0, HTTP_BODY_MEM, HTTP_BODY_FD, HTTP_BODY_READER };

typedef struct http_response {
    int status;
    http_kv headers[HTTP_MAX_HEADERS];
    size_t nheaders;
    int body_kind;
    hg_buf mem;          /* HTTP_BODY_MEM */
    int fd;              /* HTTP_BODY_FD: owned, closed by the layer */
    uint64_t fd_off, fd_len;
    uint64_t size;       /* HTTP_BODY_READER: exact length */
    http_reader_fn reader;
    http_free_fn reader_free;
    void *reader_arg;
} http_response;

void http_response_init(http_response *r);
/* Releases everything the response owns (also the reader argument). */
void http_response_clear(http_response *r);
HG_MUST_CHECK hg_err http_response_header(http_response *r, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Sets a body of bytes (copied). */
HG_MUST_CHECK hg_err http_response_body(http_response *r, const void *data, size_t len);

typedef void (*http_handler)(void *arg, const http_request *req, http_response *resp);

/* Completion hooks (access and audit logs).  A handler registers them for its request; respond
 * is called once just before the response is queued (deferred ones included), on the thread
 * serving the connection, and may read its status and headers; done is called exactly once
 * when the request ends, however it ends (never before respond, possibly without it if no
 * response was ever queued), and may free arg. */
typedef struct http_completion {
    int status;          /* the status queued; 0 if none was */
    uint64_t body_len;   /* body bytes the response announced (0 for HEAD, 204 and 304) */
    uint64_t bytes_sent; /* body_len when libmicrohttpd reported a normal end; after an early
                          * end, what a reader body produced (an upper bound), else 0 */
    int completed;       /* 1: the response was sent in full */
    int known;           /* 0: ended early with a memory or file body (bytes_sent unknown) */
} http_completion;
typedef void (*http_respond_fn)(void *arg, const http_response *resp);
typedef void (*http_done_fn)(void *arg, const http_completion *c);
void http_on_complete(const http_request *req, http_respond_fn respond, http_done_fn done, void *arg);

/* Deferred answers: a handler that must wait (for an upstream call, a download another request
 * started) calls http_defer and returns; the connection is parked (libmicrohttpd suspends it,
 * no thread waits) until http_deferred_complete hands over the response, from any thread.  The
 * request (path, query, headers, body) stays valid until then.  Complete exactly once. */
typedef struct http_deferred http_deferred;
http_deferred *http_defer(const http_request *req);
/* Takes resp's contents (resp is left empty) and resumes the connection. */
void http_deferred_complete(http_deferred *d, http_response *resp);

typedef struct http_server http_server;

typedef struct http_server_options {
    const char *listen; /* "HOST:PORT", "[v6]:PORT" or ":PORT"; port 0 picks one */
    unsigned threads;   /* worker threads, default 2 */
    unsigned connection_limit;
    unsigned timeout_s; /* idle connection timeout */
} http_server_options;

HG_MUST_CHECK hg_err http_server_start(const http_server_options *opt, http_handler h, void *arg,
                                       http_server **out);
void http_server_stop(http_server **s);
/* The bound port (useful with port 0). */
unsigned http_server_port(const http_server *s);

/* Percent-decodes s[0..n) into out (cap >= n + 1); rejects bad escapes and %00. */
HG_MUST_CHECK hg_err http_pct_decode(const char *s, size_t n, char *out, size_t cap, size_t *len);
/* Percent-encodes everything but unreserved characters (and '/' when keep_slash). */
HG_MUST_CHECK hg_err http_pct_encode(const char *s, int keep_slash, char *out, size_t cap);

#endif
