/*
 * store_db.c - opening the store: directories, secret, schema, per-thread SQLite connections.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store_int.h"
#include "util/hg_fs.h"
#include "util/hg_log.h"

#define SCHEMA_VERSION "1"

static const char *const schema =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS repos(id INTEGER PRIMARY KEY, type INTEGER NOT NULL,"
    "  name TEXT NOT NULL, private INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL,"
    "  UNIQUE(type, name));"
    "CREATE TABLE IF NOT EXISTS refs(repo_id INTEGER NOT NULL, name TEXT NOT NULL,"
    "  kind INTEGER NOT NULL, commit_oid BLOB NOT NULL, PRIMARY KEY(repo_id, name)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS commits(repo_id INTEGER NOT NULL, oid BLOB NOT NULL,"
    "  tree_oid BLOB NOT NULL, parent_oid BLOB, time INTEGER NOT NULL, author TEXT NOT NULL,"
    "  message TEXT NOT NULL, PRIMARY KEY(repo_id, oid)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS tree_entries(tree_oid BLOB NOT NULL, name TEXT NOT NULL,"
    "  sort_key TEXT NOT NULL, mode INTEGER NOT NULL, oid BLOB NOT NULL, content_id INTEGER,"
    "  lfs INTEGER NOT NULL DEFAULT 0, PRIMARY KEY(tree_oid, name)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS tree_entries_sort ON tree_entries(tree_oid, sort_key);"
    "CREATE TABLE IF NOT EXISTS contents(id INTEGER PRIMARY KEY, size INTEGER NOT NULL,"
    "  sha256 BLOB NOT NULL, blob_oid BLOB NOT NULL, xet_hash BLOB NOT NULL UNIQUE);"
    "CREATE TABLE IF NOT EXISTS terms(content_id INTEGER NOT NULL, idx INTEGER NOT NULL,"
    "  xorb_id INTEGER NOT NULL, chunk_start INTEGER NOT NULL, chunk_end INTEGER NOT NULL,"
    "  unpacked INTEGER NOT NULL, PRIMARY KEY(content_id, idx)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS xorbs(id INTEGER PRIMARY KEY, hash BLOB NOT NULL UNIQUE,"
    "  nchunks INTEGER NOT NULL, raw_bytes INTEGER NOT NULL, size INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS xorb_chunks(xorb_id INTEGER NOT NULL, idx INTEGER NOT NULL,"
    "  hash BLOB NOT NULL, raw_off INTEGER NOT NULL, raw_len INTEGER NOT NULL,"
    "  rec_off INTEGER NOT NULL, rec_len INTEGER NOT NULL, PRIMARY KEY(xorb_id, idx))"
    "  WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS xorb_chunks_hash ON xorb_chunks(hash);"
    "CREATE INDEX IF NOT EXISTS contents_sha256 ON contents(sha256);"
    "CREATE INDEX IF NOT EXISTS contents_blob ON contents(blob_oid);"
    /* Which contents use a xorb: eviction frees a xorb with the last of them. */
    "CREATE INDEX IF NOT EXISTS terms_xorb ON terms(xorb_id);"
    /* Upstream answers (metadata), keyed by request; expires 0 = immutable (commit-addressed). */
    "CREATE TABLE IF NOT EXISTS upstream_cache(key TEXT PRIMARY KEY, status INTEGER NOT NULL,"
    "  headers TEXT NOT NULL, body BLOB NOT NULL, fetched INTEGER NOT NULL,"
    "  expires INTEGER NOT NULL) WITHOUT ROWID;"
    /* Which cached contents upstream showed in which commit of which repo: authorises the Xet
     * read path (a token names a repo and commit) for repos that are not local. */
    "CREATE TABLE IF NOT EXISTS upstream_links(type INTEGER NOT NULL, repo TEXT NOT NULL,"
    "  commit_hex TEXT NOT NULL, content_id INTEGER NOT NULL,"
    "  PRIMARY KEY(type, repo, commit_hex, content_id)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS upstream_links_content ON upstream_links(content_id);"
    /* When a content was last served or stored (store_content_used): eviction's order.  Written
     * at most every few minutes per content; added without a schema bump. */
    "CREATE TABLE IF NOT EXISTS content_used(content_id INTEGER PRIMARY KEY, at INTEGER NOT NULL);"
    /* Access tokens hubgate issues (store_token.c): only the SHA-256 of a token is kept; grants
     * are space-separated normalised patterns; times are Unix seconds, 0 = never / not revoked.
     * Added without a schema bump: older indexes gain the table on open. */
    "CREATE TABLE IF NOT EXISTS tokens(id INTEGER PRIMARY KEY, name TEXT UNIQUE,"
    "  hash BLOB NOT NULL UNIQUE, grants TEXT NOT NULL, created_at INTEGER NOT NULL,"
    "  expires_at INTEGER NOT NULL DEFAULT 0, revoked_at INTEGER NOT NULL DEFAULT 0);"
    /* Verdicts of the model-file scanner, once per content (keyed by sha256, so a download
     * can be judged before it is ingested); rules = the scanner's rule version that judged it.
     * Added without a schema bump, like tokens. */
    "CREATE TABLE IF NOT EXISTS scans(sha256 BLOB PRIMARY KEY, verdict INTEGER NOT NULL,"
    "  rules INTEGER NOT NULL, format TEXT NOT NULL, report TEXT NOT NULL,"
    "  scanned_at INTEGER NOT NULL) WITHOUT ROWID;"
    "INSERT OR IGNORE INTO meta(key, value) VALUES('schema', '" SCHEMA_VERSION "');";

static const char *const stmt_sql[STMT_COUNT] = {
#define X(name, sql) [STMT_##name] = sql,
    STORE_STMTS(X)
#undef X
};

const char *store_repo_type_name(store_repo_type t)
{
    switch (t) {
    case STORE_MODEL: return "model";
    case STORE_DATASET: return "dataset";
    case STORE_SPACE: return "space";
    }
    return "model";
}

hg_err store_repo_type_parse(const char *s, store_repo_type *out)
{
    static const struct {
        const char *name;
        store_repo_type t;
    } names[] = {{"model", STORE_MODEL},     {"models", STORE_MODEL}, {"dataset", STORE_DATASET},
                 {"datasets", STORE_DATASET}, {"space", STORE_SPACE}, {"spaces", STORE_SPACE}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(s, names[i].name)) {
            *out = names[i].t;
            return HG_OK;
        }
    return HG_ERR_INVAL;
}

static void conn_close(void *p)
{
    store_conn *c = p;
    if (!c)
        return;
    for (int i = 0; i < STMT_COUNT; i++)
        sqlite3_finalize(c->stmt[i]);
    sqlite3_close(c->db);
    free(c);
}

hg_err store_sql_err(store_conn *c, int rc, const char *what)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
        return HG_OK;
    case SQLITE_NOMEM:
        return HG_ERR_NOMEM;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        HG_ERROR("index: %s: %s", what, sqlite3_errmsg(c->db));
        return HG_ERR_CORRUPT;
    case SQLITE_CONSTRAINT:
        HG_ERROR("index: %s: %s", what, sqlite3_errmsg(c->db));
        return HG_ERR_CORRUPT;
    default:
        HG_ERROR("index: %s: %s", what, sqlite3_errmsg(c->db));
        return HG_ERR_IO;
    }
}

hg_err store_exec(store_conn *c, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        HG_ERROR("index: %s: %s", sql, msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return rc == SQLITE_NOMEM ? HG_ERR_NOMEM : HG_ERR_IO;
    }
    return HG_OK;
}

static store_conn *conn_open(store *st)
{
    store_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    int rc = sqlite3_open_v2(st->db_path, &c->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        HG_ERROR("index: open %s: %s", st->db_path, c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        conn_close(c);
        return NULL;
    }
    sqlite3_busy_timeout(c->db, STORE_BUSY_MS);
    /* WAL: readers never block the writer; NORMAL sync keeps the index consistent on a crash
     * (a committed transaction can only be lost with the machine, and then its xorbs are
     * orphans, never dangling references). */
    if (store_exec(c, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=OFF;")) {
        conn_close(c);
        return NULL;
    }
    return c;
}

store_conn *store_conn_get(store *st)
{
    store_conn *c = pthread_getspecific(st->conn_key);
    if (c)
        return c;
    c = conn_open(st);
    if (c && pthread_setspecific(st->conn_key, c) != 0) {
        conn_close(c);
        return NULL;
    }
    return c;
}

void store_release(store *st)
{
    store_conn *c = pthread_getspecific(st->conn_key);
    if (!c)
        return;
    for (sqlite3_stmt *s = sqlite3_next_stmt(c->db, NULL); s; s = sqlite3_next_stmt(c->db, s))
        if (sqlite3_stmt_busy(s) && s != c->stmt[STMT_READ_END])
            sqlite3_reset(s);
    store_read_end(st);
}

void store_read_begin(store *st)
{
    store_conn *c = store_conn_get(st);
    sqlite3_stmt *s = c && !c->reading && sqlite3_get_autocommit(c->db) ? store_stmt(c, STMT_READ_BEGIN) : NULL;
    /* A failure only costs speed: every lookup then runs in a transaction of its own. */
    if (s && sqlite3_step(s) == SQLITE_DONE)
        c->reading = 1;
    if (s)
        sqlite3_reset(s);
}

void store_read_end(store *st)
{
    store_conn *c = pthread_getspecific(st->conn_key);
    if (!c || !c->reading)
        return;
    c->reading = 0;
    sqlite3_stmt *s = store_stmt(c, STMT_READ_END);
    if (s && sqlite3_step(s) != SQLITE_DONE)
        HG_WARN("index: ending a read transaction: %s", sqlite3_errmsg(c->db));
    if (s)
        sqlite3_reset(s);
}

void store_thread_exit(store *st)
{
    store_conn *c = pthread_getspecific(st->conn_key);
    if (c) {
        pthread_setspecific(st->conn_key, NULL);
        conn_close(c);
    }
}

sqlite3_stmt *store_stmt(store_conn *c, store_stmt_id id)
{
    sqlite3_stmt *s = c->stmt[id];
    if (!s) {
        int rc = sqlite3_prepare_v3(c->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &s, NULL);
        if (rc != SQLITE_OK) {
            HG_ERROR("index: prepare %s: %s", stmt_sql[id], sqlite3_errmsg(c->db));
            return NULL;
        }
        c->stmt[id] = s;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return s;
}

sqlite3_stmt *store_thread_stmt(store *st, store_stmt_id id, store_conn **conn)
{
    *conn = store_conn_get(st);
    return *conn ? store_stmt(*conn, id) : NULL;
}

void store_tmp_name(const store *st, const char *kind, char *out, size_t cap)
{
    static unsigned long seq;
    snprintf(out, cap, "%s/tmp/%s.%ld.%lu", st->dir, kind, (long)getpid(),
             __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED));
}

void store_xorb_path(const store *st, const xet_hash *h, char *out, size_t cap)
{
    char hex[XET_HEX_LEN + 1];
    xet_hash_to_hex(h, hex);
    snprintf(out, cap, "%s/xorbs/%.2s/%.2s/%s", st->dir, hex, hex + 2, hex);
}

void store_sort_key(const char *name, int is_dir, char *out, size_t cap)
{
    snprintf(out, cap, "%s%s", name, is_dir ? "/" : "");
}

/* Removes partial xorb writes and downloads ("xorb.PID.N", "download.PID.N") left by processes that no longer run.  Another
 * process (an import) may be writing into tmp/ right now: its files must survive. */
static hg_err clear_stale_tmp(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? HG_OK : HG_ERR_IO;
    struct dirent *e;
    while ((e = readdir(d))) {
        long pid = 0;
        if (e->d_name[0] == '.' ||
            (sscanf(e->d_name, "xorb.%ld.", &pid) != 1 && sscanf(e->d_name, "download.%ld.", &pid) != 1) || pid <= 0)
            continue;
        if (pid != (long)getpid() && kill((pid_t)pid, 0) == 0)
            continue; /* alive (or a reused pid: the file is removed by a later open) */
        if (pid != (long)getpid() && errno == EPERM)
            continue;
        if (unlinkat(dirfd(d), e->d_name, 0) != 0 && errno != ENOENT)
            HG_WARN("cannot remove %s/%s: %s", dir, e->d_name, strerror(errno));
        else
            HG_INFO("removed %s/%s, a partial write of an earlier run", dir, e->d_name);
    }
    closedir(d);
    return HG_OK;
}

static hg_err load_secret(store *st)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/secret", st->dir);
    char *buf = NULL;
    size_t len = 0;
    hg_err rc = hg_read_file(path, 64, &buf, &len);
    if (rc == HG_OK && len == 0) {
        /* An empty secret is what a crash during the very first open of an older build left:
         * nothing was ever signed with it, so a new one is safe. */
        free(buf);
        HG_WARN("%s is empty; creating a new secret", path);
        rc = HG_ERR_NOTFOUND;
    } else if (rc == HG_OK) {
        if (len != 32) {
            free(buf);
            HG_ERROR("%s: expected 32 bytes, found %zu", path, len);
            return HG_ERR_CORRUPT;
        }
        memcpy(st->secret, buf, 32);
        free(buf);
        return HG_OK;
    }
    if (rc != HG_ERR_NOTFOUND)
        return rc;
    if (getrandom(st->secret, 32, 0) != 32) {
        HG_ERROR("getrandom: %s", strerror(errno));
        return HG_ERR_IO;
    }
    /* tmp + fsync + rename: a crash leaves no secret or the whole one, never a short file. */
    return hg_write_file_atomic(path, st->secret, 32, 0600);
}

hg_err store_open(const char *dir, const store_options *opt, store **out)
{
    store *st = calloc(1, sizeof *st);
    if (!st)
        return HG_ERR_NOMEM;
    st->magic = STORE_MAGIC;
    if (opt)
        st->opt = *opt;
    else
        st->opt = (store_options){.variant = XET_VARIANT_M, .compress = 1};
    st->dir = strdup(dir);
    size_t n = strlen(dir) + 32;
    st->db_path = malloc(n);
    if (!st->dir || !st->db_path || pthread_key_create(&st->conn_key, conn_close) != 0) {
        free(st->dir);
        free(st->db_path);
        free(st);
        return HG_ERR_NOMEM;
    }
    snprintf(st->db_path, n, "%s/index.sqlite", dir);
    store_vcache_init(&st->verified);
    pthread_mutex_init(&st->used_mu, NULL);
    store_rcache_init(&st->rcache);
    char sub[4096];
    hg_err rc = hg_mkdirs(dir);
    snprintf(sub, sizeof sub, "%s/xorbs", dir);
    if (!rc)
        rc = hg_mkdirs(sub);
    snprintf(sub, sizeof sub, "%s/tmp", dir);
    if (!rc)
        rc = hg_mkdirs(sub);
    if (!rc)
        rc = clear_stale_tmp(sub);
    if (!rc)
        rc = load_secret(st);
    store_conn *c = rc ? NULL : store_conn_get(st);
    if (!rc && !c)
        rc = HG_ERR_IO;
    if (!rc)
        rc = store_exec(c, schema);
    if (!rc) {
        sqlite3_stmt *s;
        int r = sqlite3_prepare_v2(c->db, "SELECT value FROM meta WHERE key='schema'", -1, &s, NULL);
        if (r == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW &&
            strcmp((const char *)sqlite3_column_text(s, 0), SCHEMA_VERSION) != 0) {
            HG_ERROR("%s: index schema %s, this build reads %s", st->db_path,
                     sqlite3_column_text(s, 0), SCHEMA_VERSION);
            rc = HG_ERR_UNSUPPORTED;
        }
        sqlite3_finalize(s);
    }
    if (rc) {
        store_close(&st);
        return rc;
    }
    store_rcache_attach(&st->rcache, st->db_path); /* the WAL index exists by now */
    *out = st;
    return HG_OK;
}

void store_close(store **pst)
{
    store *st = *pst;
    if (!st)
        return;
    conn_close(pthread_getspecific(st->conn_key));
    pthread_setspecific(st->conn_key, NULL);
    pthread_key_delete(st->conn_key);
    store_vcache_destroy(&st->verified);
    store_rcache_destroy(&st->rcache);
    pthread_mutex_destroy(&st->used_mu);
    free(st->dir);
    free(st->db_path);
    st->magic = 0;
    free(st);
    *pst = NULL;
}

const char *store_dir(const store *st)
{
    return st->dir;
}

const uint8_t *store_secret(const store *st)
{
    return st->secret;
}
