/*
 * store_evict.c - giving back the space of file contents fetched from upstream, least recently
 * used first, and the record of their use that orders it.
 *
 * A pull-through cache only grows.  A content that no local repo's tree names (it came from an
 * upstream download) can go: upstream still has it, and the next request fetches it again.  A
 * content of a local repo (import) never goes: it is the only copy.  Evicting a content deletes
 * its rows (content, terms, upstream links); a xorb goes with the last content whose terms use
 * it (dedup shares xorbs between contents, local ones included); the files go after the
 * transaction commits, so that a crash leaves orphan files (hubgate gc) and never a row naming
 * a missing file.  Its plain copy under files/ goes too.
 *
 * The order is least recently used first: serving and storing a content record the time
 * (store_content_used, at most every USED_EVERY_S per content and process, so the order is
 * that coarse); contents never recorded (stored by an older build) go first, in the order
 * they were stored.  Eviction runs offline: a serving process caches what it read from the
 * index (verified chunks by xorb id, for one) and streams from xorb files it opens as it goes,
 * so store_serve_lock (held by hubgate serve for its lifetime) and eviction exclude each other.
 * Imports are held off with the exclusive ingest lock.
 *
 * Threading: store_content_used from any thread; eviction on one.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "store/store_int.h"
#include "util/hg_log.h"

#define EVICT_BATCH 64
#define USED_EVERY_S 600

void store_content_used(store *st, int64_t id)
{
    if (id <= 0)
        return;
    int64_t now = (int64_t)time(NULL);
    struct store_used *u = &st->used[((uint64_t)id * 0x9E3779B97F4A7C15u) >> 52 & (STORE_USED_SLOTS - 1)];
    pthread_mutex_lock(&st->used_mu);
    int recent = u->id == id && now - u->at < USED_EVERY_S;
    if (!recent) {
        u->id = id;
        u->at = now;
    }
    pthread_mutex_unlock(&st->used_mu);
    if (recent)
        return;
    /* Never inside a caller's transaction: requests for local repos run in one (store_read_begin),
     * and their contents are never evicted, so they need no record. */
    store_conn *c = store_conn_get(st);
    if (c && (c->reading || !sqlite3_get_autocommit(c->db)))
        return;
    sqlite3_stmt *s = c ? store_stmt(c, STMT_CONTENT_USED) : NULL;
    int r = SQLITE_MISUSE;
    if (s) {
        /* never waiting: a request must not stall behind an import's commit for this */
        sqlite3_bind_int64(s, 1, id);
        sqlite3_bind_int64(s, 2, now);
        sqlite3_busy_timeout(c->db, 0);
        r = sqlite3_step(s);
        sqlite3_busy_timeout(c->db, STORE_BUSY_MS);
        sqlite3_reset(s);
    }
    if (r != SQLITE_DONE) {
        HG_DEBUG("content %lld: use not recorded (%s); the next use retries", (long long)id, sqlite3_errstr(r));
        pthread_mutex_lock(&st->used_mu);
        if (u->id == id)
            u->at = 0;
        pthread_mutex_unlock(&st->used_mu);
    }
}

hg_err store_serve_lock(store *st, int *fd)
{
    hg_err rc = store_lock_file(st, "serve.lock", fd);
    if (!rc && (rc = store_lock_wait(*fd, LOCK_SH, 0)))
        store_unlock(fd);
    return rc;
}

typedef struct evictee {
    int64_t id;
    uint64_t size;
    uint8_t sha256[32];
} evictee;

typedef struct freed_xorb {
    xet_hash hash;
    uint64_t size;
} freed_xorb;

/* The array a of *cap elements of size each, with room for element n (doubled when full); NULL
 * when out of memory (a is then unchanged, and still the caller's). */
static void *grow(void *a, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return a;
    size_t nc = *cap ? 2 * *cap : 64;
    void *p = realloc(a, nc * size);
    if (p)
        *cap = nc;
    return p;
}

static hg_err run(store_conn *c, const char *sql, int64_t id)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(c->db, sql, -1, &s, NULL) != SQLITE_OK)
        return store_sql_err(c, sqlite3_errcode(c->db), sql);
    sqlite3_bind_int64(s, 1, id);
    int r = sqlite3_step(s);
    sqlite3_finalize(s);
    return r == SQLITE_DONE ? HG_OK : store_sql_err(c, r, sql);
}

/* Every content no tree entry names, least recently used first. */
static hg_err list_upstream(store_conn *c, evictee **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(c->db,
                           "SELECT c.id, c.size, c.sha256 FROM contents c LEFT JOIN content_used u ON "
                           "u.content_id=c.id WHERE c.id NOT IN (SELECT content_id FROM tree_entries WHERE "
                           "content_id IS NOT NULL) ORDER BY coalesce(u.at, 0), c.id",
                           -1, &s, NULL) != SQLITE_OK)
        return store_sql_err(c, sqlite3_errcode(c->db), "eviction candidates");
    hg_err rc = HG_OK;
    size_t cap = 0;
    int r;
    while (!rc && (r = sqlite3_step(s)) == SQLITE_ROW) {
        evictee *g = grow(*out, &cap, *n, sizeof *g);
        if (!g) {
            rc = HG_ERR_NOMEM;
            break;
        }
        *out = g;
        evictee *e = &(*out)[(*n)++];
        e->id = sqlite3_column_int64(s, 0);
        e->size = (uint64_t)sqlite3_column_int64(s, 1);
        if (sqlite3_column_bytes(s, 2) != 32)
            rc = HG_ERR_CORRUPT;
        else
            memcpy(e->sha256, sqlite3_column_blob(s, 2), 32);
    }
    if (!rc && r != SQLITE_DONE)
        rc = store_sql_err(c, r, "eviction candidates");
    sqlite3_finalize(s);
    return rc;
}

/* The xorbs the content's terms use that no other content's terms use any more (its own
 * terms are already deleted): their rows are deleted, their hashes and sizes appended. */
static hg_err free_xorbs(store_conn *c, const int64_t *ids, size_t nids, freed_xorb **fx, size_t *nfx,
                         size_t *cap)
{
    for (size_t i = 0; i < nids; i++) {
        sqlite3_stmt *s;
        if (sqlite3_prepare_v2(c->db, "SELECT hash, size, EXISTS(SELECT 1 FROM terms WHERE xorb_id=?1) FROM "
                                      "xorbs WHERE id=?1",
                               -1, &s, NULL) != SQLITE_OK)
            return store_sql_err(c, sqlite3_errcode(c->db), "xorb use");
        sqlite3_bind_int64(s, 1, ids[i]);
        int r = sqlite3_step(s);
        int unused = r == SQLITE_ROW && !sqlite3_column_int(s, 2) && sqlite3_column_bytes(s, 0) == 32;
        freed_xorb x = {0};
        if (unused) {
            memcpy(x.hash.b, sqlite3_column_blob(s, 0), 32);
            x.size = (uint64_t)sqlite3_column_int64(s, 1);
        }
        sqlite3_finalize(s);
        if (r != SQLITE_ROW && r != SQLITE_DONE)
            return store_sql_err(c, r, "xorb use");
        if (!unused)
            continue;
        hg_err rc = run(c, "DELETE FROM xorb_chunks WHERE xorb_id=?1", ids[i]);
        if (!rc)
            rc = run(c, "DELETE FROM xorbs WHERE id=?1", ids[i]);
        if (rc)
            return rc;
        freed_xorb *g = grow(*fx, cap, *nfx, sizeof *g);
        if (!g)
            return HG_ERR_NOMEM;
        *fx = g;
        (*fx)[(*nfx)++] = x;
    }
    return HG_OK;
}

/* The distinct xorbs of a content's terms, appended to *ids. */
static hg_err content_xorbs(store_conn *c, int64_t content, int64_t **ids, size_t *n, size_t *cap)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(c->db, "SELECT DISTINCT xorb_id FROM terms WHERE content_id=?1", -1, &s, NULL) !=
        SQLITE_OK)
        return store_sql_err(c, sqlite3_errcode(c->db), "content xorbs");
    sqlite3_bind_int64(s, 1, content);
    hg_err rc = HG_OK;
    int r;
    while (!rc && (r = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t *g = grow(*ids, cap, *n, sizeof *g);
        if (!g) {
            rc = HG_ERR_NOMEM;
            break;
        }
        *ids = g;
        (*ids)[(*n)++] = sqlite3_column_int64(s, 0);
    }
    if (!rc && r != SQLITE_DONE)
        rc = store_sql_err(c, r, "content xorbs");
    sqlite3_finalize(s);
    return rc;
}

/* One transaction: the contents e[0, n) and the xorbs only they used. */
static hg_err evict_batch(store_conn *c, const evictee *e, size_t n, freed_xorb **fx, size_t *nfx, size_t *fcap)
{
    int64_t *ids = NULL;
    size_t nids = 0, icap = 0;
    hg_err rc = store_exec(c, "BEGIN IMMEDIATE");
    if (rc)
        return rc;
    for (size_t i = 0; i < n && !rc; i++) {
        rc = content_xorbs(c, e[i].id, &ids, &nids, &icap);
        if (!rc)
            rc = run(c, "DELETE FROM terms WHERE content_id=?1", e[i].id);
        if (!rc)
            rc = run(c, "DELETE FROM upstream_links WHERE content_id=?1", e[i].id);
        if (!rc)
            rc = run(c, "DELETE FROM content_used WHERE content_id=?1", e[i].id);
        if (!rc)
            rc = run(c, "DELETE FROM contents WHERE id=?1", e[i].id);
    }
    if (!rc)
        rc = free_xorbs(c, ids, nids, fx, nfx, fcap);
    free(ids);
    if (!rc)
        rc = store_exec(c, "COMMIT");
    if (rc) {
        hg_err rb = store_exec(c, "ROLLBACK");
        (void)rb; /* already failing; logged */
    }
    return rc;
}

static void unlink_logged(const char *path)
{
    if (unlink(path) != 0 && errno != ENOENT)
        HG_WARN("evict: unlink %s: %s (an orphan now; hubgate gc removes it)", path, strerror(errno));
}

hg_err store_evict_upstream(store *st, uint64_t target, unsigned wait_s, store_evict_report *rep)
{
    memset(rep, 0, sizeof *rep);
    store_conn *c = store_conn_get(st);
    if (!c)
        return HG_ERR_IO;
    int serve_fd = -1, ingest_fd = -1;
    hg_err rc = store_lock_file(st, "serve.lock", &serve_fd);
    if (!rc && (rc = store_lock_wait(serve_fd, LOCK_EX, 0)) == HG_ERR_AGAIN)
        rep->busy = "hubgate serve";
    if (!rc && !(rc = store_lock_file(st, "ingest.lock", &ingest_fd)) &&
        (rc = store_lock_wait(ingest_fd, LOCK_EX, wait_s * 1000u)) == HG_ERR_AGAIN)
        rep->busy = "an import";
    evictee *e = NULL;
    size_t ne = 0;
    uint64_t logical, stored = 0, unique;
    if (!rc)
        rc = store_usage(st, &logical, &stored, &unique);
    rep->stored_before = stored;
    if (!rc && stored > target)
        rc = list_upstream(c, &e, &ne);
    freed_xorb *fx = NULL;
    size_t nfx = 0, fcap = 0;
    for (size_t i = 0; !rc && i < ne && stored > target;) {
        size_t n = ne - i < EVICT_BATCH ? ne - i : EVICT_BATCH;
        /* one content at a time near the target, so that no more than needed goes */
        if (stored - target < (uint64_t)64 << 20)
            n = 1;
        nfx = 0;
        rc = evict_batch(c, e + i, n, &fx, &nfx, &fcap);
        if (rc)
            break;
        char path[4096];
        for (size_t k = 0; k < nfx; k++) {
            store_xorb_path(st, &fx[k].hash, path, sizeof path);
            unlink_logged(path);
            stored -= fx[k].size < stored ? fx[k].size : stored;
            rep->xorbs++;
            rep->xorb_bytes += fx[k].size;
        }
        for (size_t k = i; k < i + n; k++) {
            store_plain_path(st, e[k].sha256, path, sizeof path);
            unlink_logged(path);
            rep->contents++;
            rep->content_bytes += e[k].size;
        }
        i += n;
    }
    rep->stored_after = stored;
    if (rep->contents)
        HG_INFO("evict: %llu contents (%llu bytes) and %llu xorbs (%llu bytes) removed; stored bytes %llu -> %llu",
                (unsigned long long)rep->contents, (unsigned long long)rep->content_bytes,
                (unsigned long long)rep->xorbs, (unsigned long long)rep->xorb_bytes,
                (unsigned long long)rep->stored_before, (unsigned long long)stored);
    free(fx);
    free(e);
    store_unlock(&ingest_fd);
    store_unlock(&serve_fd);
    return rc;
}
