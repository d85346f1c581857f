/*
 * hub_audit.c - the audit log: JSON lines, appended atomically, reopened for rotation (see
 * hub_audit.h for the format and the rules).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hub/hub_audit.h"
#include "util/hg_log.h"

#define LINE_MAX_BYTES 4000 /* below PIPE_BUF-sized writes: one write(2) per line */

struct hub_audit {
    char *path;
    pthread_mutex_t mu; /* guards fd, next_check_ms, last_error_ms */
    int fd;
    int64_t next_check_ms;
    int64_t last_error_ms;
};

static int64_t clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int open_log(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

hg_err hub_audit_open(const char *path, hub_audit **out)
{
    hub_audit *a = calloc(1, sizeof *a);
    if (!a || !(a->path = strdup(path))) {
        free(a);
        return HG_ERR_NOMEM;
    }
    a->fd = open_log(path);
    if (a->fd < 0) {
        HG_ERROR("audit log %s: %s", path, strerror(errno));
        free(a->path);
        free(a);
        return HG_ERR_IO;
    }
    pthread_mutex_init(&a->mu, NULL);
    a->next_check_ms = clock_ms(CLOCK_MONOTONIC) + 1000;
    *out = a;
    return HG_OK;
}

void hub_audit_close(hub_audit **pa)
{
    hub_audit *a = *pa;
    if (!a)
        return;
    if (a->fd >= 0)
        close(a->fd);
    pthread_mutex_destroy(&a->mu);
    free(a->path);
    free(a);
    *pa = NULL;
}

/* Caller holds a->mu. */
static void reopen_locked(hub_audit *a)
{
    int fd = open_log(a->path);
    if (fd < 0) {
        HG_ERROR("audit log %s: cannot reopen: %s; still writing to the old file", a->path, strerror(errno));
        return;
    }
    if (a->fd >= 0)
        close(a->fd);
    a->fd = fd;
}

void hub_audit_reopen(hub_audit *a)
{
    pthread_mutex_lock(&a->mu);
    reopen_locked(a);
    pthread_mutex_unlock(&a->mu);
}

void hub_audit_rec_start(hub_audit_rec *r)
{
    r->start_ms = clock_ms(CLOCK_REALTIME);
    r->start_mono_ms = clock_ms(CLOCK_MONOTONIC);
    r->bytes = -1;
}

/* Appends s as a JSON string (or null when NULL/empty and null_empty), writing at most max
 * bytes of it: escapes are never split, and bytes that are not valid UTF-8 become '?'. */
static void put_str(char *buf, size_t *o, const char *s, size_t max, int null_empty)
{
    size_t cap = LINE_MAX_BYTES - 64, start = *o;
    if (!s || (null_empty && !*s)) {
        if (*o + 4 < cap) {
            memcpy(buf + *o, "null", 4);
            *o += 4;
        }
        return;
    }
    buf[(*o)++] = '"';
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        char tmp[8];
        size_t n;
        int len = *p < 0x80 ? 0 : (*p & 0xE0) == 0xC0 ? 1 : (*p & 0xF0) == 0xE0 ? 2 : (*p & 0xF8) == 0xF0 ? 3 : -1;
        int ok = len >= 0 && !(len == 1 && *p < 0xC2);
        for (int i = 1; ok && i <= len; i++)
            ok = (p[i] & 0xC0) == 0x80;
        if (!ok) {
            tmp[0] = '?';
            n = 1;
            len = 0;
        } else if (len > 0) {
            memcpy(tmp, p, (size_t)len + 1);
            n = (size_t)len + 1;
        } else if (*p == '"' || *p == '\\') {
            tmp[0] = '\\';
            tmp[1] = (char)*p;
            n = 2;
        } else if (*p < 0x20 || *p == 0x7f) {
            n = (size_t)snprintf(tmp, sizeof tmp, "\\u%04x", *p);
        } else {
            tmp[0] = (char)*p;
            n = 1;
        }
        if (*o - start + n > max || *o + n + 2 > cap)
            break;
        memcpy(buf + *o, tmp, n);
        *o += n;
        p += len + 1;
    }
    buf[(*o)++] = '"';
}

static void put_raw(char *buf, size_t *o, const char *fmt, long long v, int is_null)
{
    int n = is_null ? snprintf(buf + *o, LINE_MAX_BYTES - *o, "%s", fmt) : snprintf(buf + *o, LINE_MAX_BYTES - *o, fmt, v);
    if (n > 0 && *o + (size_t)n < LINE_MAX_BYTES)
        *o += (size_t)n;
}

static void put_key(char *buf, size_t *o, const char *key)
{
    int n = snprintf(buf + *o, LINE_MAX_BYTES - *o, "%s\"%s\":", buf[*o - 1] == '{' ? "" : ",", key);
    if (n > 0 && *o + (size_t)n < LINE_MAX_BYTES)
        *o += (size_t)n;
}

static size_t format_line(const hub_audit_rec *r, char *buf)
{
    size_t o = 0;
    buf[o++] = '{';
    char when[40];
    time_t t = (time_t)(r->start_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t w = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + w, sizeof when - w, ".%03dZ", (int)(r->start_ms % 1000));
    put_key(buf, &o, "time");
    put_str(buf, &o, when, 40, 0);
    put_key(buf, &o, "client");
    put_str(buf, &o, r->client, 64, 1);
    put_key(buf, &o, "token");
    put_str(buf, &o, r->token, 16, 1);
    put_key(buf, &o, "method");
    put_str(buf, &o, r->method, 16, 1);
    put_key(buf, &o, "route");
    put_str(buf, &o, r->route, 32, 1);
    put_key(buf, &o, "type");
    put_str(buf, &o, r->has_repo ? store_repo_type_name(r->type) : NULL, 16, 1);
    put_key(buf, &o, "repo");
    put_str(buf, &o, r->has_repo ? r->repo : NULL, 400, 1);
    put_key(buf, &o, "revision");
    put_str(buf, &o, r->revision, 300, 1);
    put_key(buf, &o, "commit");
    put_str(buf, &o, r->commit, 48, 1);
    put_key(buf, &o, "path");
    put_str(buf, &o, r->path, 1200, 1);
    put_key(buf, &o, "hash");
    put_str(buf, &o, r->hash, 72, 1);
    put_key(buf, &o, "status");
    put_raw(buf, &o, r->status ? "%lld" : "null", r->status, !r->status);
    put_key(buf, &o, "bytes");
    put_raw(buf, &o, r->bytes >= 0 ? "%lld" : "null", r->bytes, r->bytes < 0);
    put_key(buf, &o, "complete");
    put_raw(buf, &o, r->complete ? "true" : "false", 0, 1);
    put_key(buf, &o, "ms");
    int64_t ms = clock_ms(CLOCK_MONOTONIC) - r->start_mono_ms;
    put_raw(buf, &o, "%lld", ms > 0 ? ms : 0, 0);
    put_key(buf, &o, "cache");
    put_str(buf, &o, r->cache, 8, 1);
    put_key(buf, &o, "verdict");
    put_str(buf, &o, r->verdict, 8, 1);
    put_key(buf, &o, "rule");
    put_raw(buf, &o, r->verdict ? "%lld" : "null", (long long)r->rule, !r->verdict);
    put_key(buf, &o, "scan");
    put_str(buf, &o, r->scan, 8, 1);
    buf[o++] = '}';
    buf[o++] = '\n';
    return o;
}

void hub_audit_write(hub_audit *a, const hub_audit_rec *r)
{
    char buf[LINE_MAX_BYTES + 8];
    size_t n = format_line(r, buf);
    int64_t now = clock_ms(CLOCK_MONOTONIC);
    pthread_mutex_lock(&a->mu);
    if (now >= a->next_check_ms) {
        /* logrotate renamed or removed the file: start a new one at the path. */
        a->next_check_ms = now + 1000;
        struct stat cur, named;
        if (fstat(a->fd, &cur) == 0 &&
            (stat(a->path, &named) != 0 || named.st_ino != cur.st_ino || named.st_dev != cur.st_dev ||
             cur.st_nlink == 0))
            reopen_locked(a);
    }
    ssize_t w = write(a->fd, buf, n);
    int err = errno;
    if (w != (ssize_t)n && now - a->last_error_ms >= 60000) {
        a->last_error_ms = now;
        HG_ERROR("audit log %s: write failed: %s", a->path, w < 0 ? strerror(err) : "short write");
    }
    pthread_mutex_unlock(&a->mu);
}
