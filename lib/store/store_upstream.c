/*
 * store_upstream.c - what the pull-through cache keeps in the store: contents found by their
 * upstream identity (sha256, git blob id), contents ingested from a downloaded file, upstream
 * metadata answers under a request key, and the scanner's verdict per content.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/store_int.h"
#include "util/hg_fs.h"

static hg_err content_lookup(store *st, store_stmt_id id, const void *key, int keylen, store_content *out)
{
    store_conn *c;
    sqlite3_stmt *s = store_thread_stmt(st, id, &c);
    if (!s)
        return HG_ERR_IO;
    sqlite3_bind_blob(s, 1, key, keylen, SQLITE_STATIC);
    int r = sqlite3_step(s);
    if (r == SQLITE_DONE)
        return HG_ERR_NOTFOUND;
    if (r != SQLITE_ROW)
        return store_sql_err(c, r, "content lookup");
    memset(out, 0, sizeof *out);
    out->id = sqlite3_column_int64(s, 0);
    out->size = (uint64_t)sqlite3_column_int64(s, 1);
    uint8_t *other = id == STMT_CONTENT_BY_SHA ? out->blob.b : out->sha256;
    int other_len = id == STMT_CONTENT_BY_SHA ? 20 : 32;
    if (sqlite3_column_bytes(s, 2) != other_len || sqlite3_column_bytes(s, 3) != 32)
        return HG_ERR_CORRUPT;
    memcpy(other, sqlite3_column_blob(s, 2), (size_t)other_len);
    memcpy(out->xet.b, sqlite3_column_blob(s, 3), 32);
    if (id == STMT_CONTENT_BY_SHA)
        memcpy(out->sha256, key, 32);
    else
        memcpy(out->blob.b, key, 20);
    sqlite3_reset(s);
    return HG_OK;
}

hg_err store_content_by_sha256(store *st, const uint8_t sha256[32], store_content *out)
{
    return content_lookup(st, STMT_CONTENT_BY_SHA, sha256, 32, out);
}

hg_err store_content_by_blob(store *st, const git_oid *blob, store_content *out)
{
    return content_lookup(st, STMT_CONTENT_BY_BLOB, blob->b, 20, out);
}

hg_err store_add_content_fd(store *st, int fd, uint64_t size, store_content *out)
{
    store_ingest *in = NULL;
    size_t idx = 0;
    hg_err rc = store_ingest_begin(st, &in);
    if (!rc)
        rc = store_ingest_file_begin(in, size);
    uint8_t *buf = rc ? NULL : malloc(1u << 20);
    if (!rc && !buf)
        rc = HG_ERR_NOMEM;
    for (uint64_t off = 0; !rc && off < size;) {
        size_t n = size - off < (1u << 20) ? (size_t)(size - off) : (1u << 20);
        rc = hg_pread_all(fd, buf, n, off);
        if (!rc)
            rc = store_ingest_file_write(in, buf, n);
        off += n;
    }
    free(buf);
    if (!rc)
        rc = store_ingest_file_end(in, out, &idx);
    if (!rc)
        rc = store_ingest_commit(in, NULL, NULL);
    if (!rc)
        rc = store_ingest_file_content(in, idx, out);
    store_ingest_abort(&in);
    if (!rc)
        store_content_used(st, out->id); /* a download is a use: it must not be evicted first */
    return rc;
}

void store_cached_clear(store_cached *c)
{
    free(c->headers);
    free(c->body);
    memset(c, 0, sizeof *c);
}

hg_err store_cache_get(store *st, const char *key, store_cached *out)
{
    memset(out, 0, sizeof *out);
    store_conn *c;
    sqlite3_stmt *s = store_thread_stmt(st, STMT_UCACHE_GET, &c);
    if (!s)
        return HG_ERR_IO;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    int r = sqlite3_step(s);
    if (r == SQLITE_DONE)
        return HG_ERR_NOTFOUND;
    if (r != SQLITE_ROW)
        return store_sql_err(c, r, "cache lookup");
    out->status = sqlite3_column_int(s, 0);
    const char *h = (const char *)sqlite3_column_text(s, 1);
    int blen = sqlite3_column_bytes(s, 2);
    out->headers = strdup(h ? h : "{}");
    out->body = malloc(blen > 0 ? (size_t)blen : 1);
    if (!out->headers || !out->body) {
        store_cached_clear(out);
        sqlite3_reset(s);
        return HG_ERR_NOMEM;
    }
    if (blen > 0)
        memcpy(out->body, sqlite3_column_blob(s, 2), (size_t)blen);
    out->body_len = (size_t)(blen > 0 ? blen : 0);
    out->fetched = sqlite3_column_int64(s, 3);
    out->expires = sqlite3_column_int64(s, 4);
    sqlite3_reset(s);
    return HG_OK;
}

hg_err store_cache_put(store *st, const char *key, const store_cached *cv)
{
    store_conn *c;
    sqlite3_stmt *s = store_thread_stmt(st, STMT_UCACHE_PUT, &c);
    if (!s)
        return HG_ERR_IO;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 2, cv->status);
    sqlite3_bind_text(s, 3, cv->headers ? cv->headers : "{}", -1, SQLITE_STATIC);
    sqlite3_bind_blob(s, 4, cv->body ? (const void *)cv->body : "", (int)cv->body_len, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, cv->fetched);
    sqlite3_bind_int64(s, 6, cv->expires);
    int r = sqlite3_step(s);
    sqlite3_reset(s);
    return r == SQLITE_DONE ? HG_OK : store_sql_err(c, r, "cache insert");
}

static hg_err link_stmt(store *st, store_stmt_id id, store_repo_type type, const char *repo,
                        const char *commit_hex, int64_t content_id)
{
    store_conn *c;
    sqlite3_stmt *s = store_thread_stmt(st, id, &c);
    if (!s)
        return HG_ERR_IO;
    sqlite3_bind_int(s, 1, (int)type);
    sqlite3_bind_text(s, 2, repo, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, commit_hex, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, content_id);
    int r = sqlite3_step(s);
    sqlite3_reset(s);
    if (r == SQLITE_DONE)
        return id == STMT_ULINK_GET ? HG_ERR_NOTFOUND : HG_OK;
    if (r == SQLITE_ROW)
        return HG_OK;
    return store_sql_err(c, r, "upstream link");
}

hg_err store_scan_get(store *st, const uint8_t sha256[32], store_scan *out)
{
    memset(out, 0, sizeof *out);
    store_conn *c;
    sqlite3_stmt *s = store_thread_stmt(st, STMT_SCAN_GET, &c);
    if (!s)
        return HG_ERR_IO;
    sqlite3_bind_blob(s, 1, sha256, 32, SQLITE_STATIC);
    int r = sqlite3_step(s);
    hg_err rc = HG_OK;
    if (r == SQLITE_ROW) {
        out->verdict = sqlite3_column_int(s, 0);
        out->rules = sqlite3_column_int(s, 1);
        snprintf(out->format, sizeof out->format, "%s", (const char *)sqlite3_column_text(s, 2));
        out->report = strdup((const char *)sqlite3_column_text(s, 3));
        if (!out->report)
            rc = HG_ERR_NOMEM;
    } else {
        rc = r == SQLITE_DONE ? HG_ERR_NOTFOUND : store_sql_err(c, r, "scan verdict");
    }
    sqlite3_reset(s);
    return rc;
}

hg_err store_scan_put(store *st, const uint8_t sha256[32], const store_scan *in)
{
    store_conn *c;
    sqlite3_stmt *s = store_thread_stmt(st, STMT_SCAN_PUT, &c);
    if (!s)
        return HG_ERR_IO;
    sqlite3_bind_blob(s, 1, sha256, 32, SQLITE_STATIC);
    sqlite3_bind_int(s, 2, in->verdict);
    sqlite3_bind_int(s, 3, in->rules);
    sqlite3_bind_text(s, 4, in->format, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, in->report ? in->report : "{}", -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 6, (sqlite3_int64)time(NULL));
    int r = sqlite3_step(s);
    sqlite3_reset(s);
    return r == SQLITE_DONE ? HG_OK : store_sql_err(c, r, "scan verdict");
}

void store_scan_clear(store_scan *s)
{
    free(s->report);
    s->report = NULL;
}

hg_err store_upstream_link(store *st, store_repo_type type, const char *repo, const char *commit_hex,
                           int64_t content_id)
{
    return link_stmt(st, STMT_ULINK_PUT, type, repo, commit_hex, content_id);
}

hg_err store_upstream_linked(store *st, store_repo_type type, const char *repo, const char *commit_hex,
                             int64_t content_id)
{
    return link_stmt(st, STMT_ULINK_GET, type, repo, commit_hex, content_id);
}
