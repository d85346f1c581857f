/*
 * store_int.h - private to lib/store: the store handle, per-thread SQLite connections and the
 * prepared-statement table.
 */
#ifndef HG_STORE_INT_H
#define HG_STORE_INT_H

#include <pthread.h>
#include <sqlite3.h>

#include "store/store.h"
#include "store/store_rcache.h"
#include "store/store_vcache.h"

#define STORE_MAGIC 0x53544f52u /* "STOR" */
#define STORE_USED_SLOTS 4096   /* store_content_used's memory of recent writes */
#define STORE_BUSY_MS 10000     /* how long a statement waits for another writer */

/* Every statement the store runs, prepared once per connection.  name, SQL. */
#define STORE_STMTS(X)                                                                             \
    X(REPO_FIND, "SELECT id, private, created_at FROM repos WHERE type=?1 AND name=?2")           \
    X(REPO_INSERT, "INSERT INTO repos(type, name, private, created_at) VALUES(?1,?2,?3,?4)")       \
    X(REPO_SET_PRIVATE, "UPDATE repos SET private=?2 WHERE id=?1")                                 \
    X(REF_GET, "SELECT commit_oid FROM refs WHERE repo_id=?1 AND name=?2")                         \
    X(REF_SET, "INSERT INTO refs(repo_id, name, kind, commit_oid) VALUES(?1,?2,?3,?4) "           \
               "ON CONFLICT(repo_id, name) DO UPDATE SET commit_oid=excluded.commit_oid")          \
    X(REF_LIST, "SELECT name, kind, commit_oid FROM refs WHERE repo_id=?1 ORDER BY kind, name")    \
    X(COMMIT_GET, "SELECT tree_oid, parent_oid, time, author, message FROM commits "               \
                  "WHERE repo_id=?1 AND oid=?2")                                                   \
    X(COMMIT_PREFIX, "SELECT oid FROM commits WHERE repo_id=?1 AND oid>=?2 AND oid<?3 LIMIT 2")    \
    X(COMMIT_INSERT, "INSERT OR IGNORE INTO commits(repo_id, oid, tree_oid, parent_oid, time, "    \
                     "author, message) VALUES(?1,?2,?3,?4,?5,?6,?7)")                              \
    X(TREE_ENTRIES, "SELECT name, mode, oid, content_id, lfs FROM tree_entries WHERE tree_oid=?1 " \
                    "ORDER BY sort_key")                                                           \
    X(TREE_ENTRY, "SELECT mode, oid, content_id, lfs FROM tree_entries WHERE tree_oid=?1 AND "     \
                  "name=?2")                                                                       \
    X(TREE_EXISTS, "SELECT 1 FROM tree_entries WHERE tree_oid=?1 LIMIT 1")                         \
    X(TREE_INSERT, "INSERT OR IGNORE INTO tree_entries(tree_oid, name, sort_key, mode, oid, "      \
                   "content_id, lfs) VALUES(?1,?2,?3,?4,?5,?6,?7)")                                \
    X(CONTENT_GET, "SELECT size, sha256, blob_oid, xet_hash FROM contents WHERE id=?1")            \
    X(CONTENT_BY_XET, "SELECT id, size, sha256, blob_oid FROM contents WHERE xet_hash=?1")         \
    X(CONTENT_INSERT, "INSERT INTO contents(size, sha256, blob_oid, xet_hash) VALUES(?1,?2,?3,?4)") \
    X(TERMS_GET, "SELECT x.hash, t.xorb_id, t.chunk_start, t.chunk_end, t.unpacked, "              \
                 "(SELECT rec_off FROM xorb_chunks c WHERE c.xorb_id=t.xorb_id AND "               \
                 "c.idx=t.chunk_start), (SELECT rec_off+rec_len FROM xorb_chunks c WHERE "         \
                 "c.xorb_id=t.xorb_id AND c.idx=t.chunk_end-1) FROM terms t JOIN xorbs x ON "      \
                 "x.id=t.xorb_id WHERE t.content_id=?1 ORDER BY t.idx")                            \
    X(TERM_INSERT, "INSERT INTO terms(content_id, idx, xorb_id, chunk_start, chunk_end, unpacked) " \
                   "VALUES(?1,?2,?3,?4,?5,?6)")                                                    \
    X(XORB_FIND, "SELECT id, size FROM xorbs WHERE hash=?1")                                       \
    X(XORB_INSERT, "INSERT INTO xorbs(hash, nchunks, raw_bytes, size) VALUES(?1,?2,?3,?4)")        \
    X(XORB_CHUNKS, "SELECT idx, raw_off, raw_len, rec_off, rec_len FROM xorb_chunks WHERE "        \
                   "xorb_id=?1 AND idx>=?2 AND idx<?3 ORDER BY idx")                               \
    X(CHUNK_INSERT, "INSERT INTO xorb_chunks(xorb_id, idx, hash, raw_off, raw_len, rec_off, "      \
                    "rec_len) VALUES(?1,?2,?3,?4,?5,?6,?7)")                                       \
    X(CHUNK_FIND, "SELECT xorb_id, idx FROM xorb_chunks WHERE hash=?1 LIMIT 1")                   \
    X(CHUNK_HASH, "SELECT hash FROM xorb_chunks WHERE xorb_id=?1 AND idx=?2")                    \
    X(CONTENT_BY_SHA, "SELECT id, size, blob_oid, xet_hash FROM contents WHERE sha256=?1 LIMIT 1") \
    X(CONTENT_BY_BLOB, "SELECT id, size, sha256, xet_hash FROM contents WHERE blob_oid=?1 LIMIT 1") \
    X(UCACHE_GET, "SELECT status, headers, body, fetched, expires FROM upstream_cache WHERE key=?1") \
    X(UCACHE_PUT, "INSERT OR REPLACE INTO upstream_cache(key, status, headers, body, fetched, "   \
                  "expires) VALUES(?1,?2,?3,?4,?5,?6)")                                            \
    X(ULINK_PUT, "INSERT OR IGNORE INTO upstream_links(type, repo, commit_hex, content_id) "       \
                 "VALUES(?1,?2,?3,?4)")                                                            \
    X(ULINK_GET, "SELECT 1 FROM upstream_links WHERE type=?1 AND repo=?2 AND commit_hex=?3 AND "   \
                 "content_id=?4")                                                                  \
    X(TOKEN_INSERT, "INSERT INTO tokens(name, hash, grants, created_at, expires_at) "             \
                    "VALUES(?1,?2,?3,?4,?5)")                                                      \
    X(TOKEN_BY_HASH, "SELECT id, hash, grants, expires_at, revoked_at FROM tokens WHERE hash=?1")  \
    X(TOKEN_LIST, "SELECT id, name, hash, grants, created_at, expires_at, revoked_at FROM tokens " \
                  "ORDER BY id")                                                                   \
    X(TOKEN_FIND, "SELECT id, name, hash, grants, created_at, expires_at, revoked_at FROM tokens " \
                  "WHERE id=?1 OR (?1 IS NULL AND name=?2)")                                       \
    X(TOKEN_ALIVE, "SELECT expires_at, revoked_at FROM tokens WHERE id=?1")                     \
    X(TOKEN_REVOKE, "UPDATE tokens SET revoked_at=?2 WHERE id=?1 AND revoked_at=0")              \
    X(SCAN_GET, "SELECT verdict, rules, format, report FROM scans WHERE sha256=?1")                \
    X(SCAN_PUT, "INSERT OR REPLACE INTO scans(sha256, verdict, rules, format, report, scanned_at) " \
                "VALUES(?1,?2,?3,?4,?5,?6)")                                                       \
    X(CONTENT_USED, "INSERT INTO content_used(content_id, at) VALUES(?1,?2) ON CONFLICT(content_id) " \
                    "DO UPDATE SET at=excluded.at")                                                \
    X(READ_BEGIN, "BEGIN")                                                                         \
    X(READ_END, "COMMIT")

typedef enum store_stmt_id {
#define X(name, sql) STMT_##name,
    STORE_STMTS(X)
#undef X
    STMT_COUNT
} store_stmt_id;

typedef struct store_conn {
    sqlite3 *db;
    sqlite3_stmt *stmt[STMT_COUNT];
    int reading; /* inside store_read_begin */
} store_conn;

struct store {
    unsigned magic;
    char *dir;
    char *db_path;
    store_options opt;
    uint8_t secret[32];
    pthread_key_t conn_key;
    store_vcache verified; /* chunks re-hashed by this process's readers */
    store_rcache rcache;   /* repo and revision answers while the index is unchanged */
    pthread_mutex_t used_mu;
    struct store_used {
        int64_t id, at;
    } used[STORE_USED_SLOTS]; /* when this process last recorded a content as used */
};

/* The calling thread's connection (opened on first use); NULL on failure (logged). */
store_conn *store_conn_get(store *st);
/* The prepared statement, reset and with bindings cleared. */
sqlite3_stmt *store_stmt(store_conn *c, store_stmt_id id);
/* The same on the calling thread's connection (*conn gets it, for store_sql_err); NULL on
 * failure (logged). */
sqlite3_stmt *store_thread_stmt(store *st, store_stmt_id id, store_conn **conn);
/* Maps an SQLite result code to hg_err, logging unexpected ones with the statement's SQL. */
hg_err store_sql_err(store_conn *c, int rc, const char *what);
HG_MUST_CHECK hg_err store_exec(store_conn *c, const char *sql);

/* Runs inside the ingest transaction, after the session's xorbs and contents are inserted. */
typedef hg_err (*store_txn_cb)(void *arg, store_conn *c);
/* Writes the pending xorbs, then in one transaction inserts xorbs, contents and terms and calls
 * cb for the caller's rows; rolls everything back on any error. */
HG_MUST_CHECK hg_err store_ingest_commit(store_ingest *in, store_txn_cb cb, void *arg);
/* The content of file idx of the session (its id is set once the session has committed). */
HG_MUST_CHECK hg_err store_ingest_file_content(const store_ingest *in, size_t idx,
                                               store_content *out);

/* A new name under tmp/, unique in the process (writers run concurrently: two of them on one
 * temporary file would rename mixed bytes into place) and across processes (the pid). */
void store_tmp_name(const store *st, const char *kind, char *out, size_t cap);

/* DIR/<name> opened for flock(2) (created if missing). */
HG_MUST_CHECK hg_err store_lock_file(const store *st, const char *name, int *fd);
/* flock(fd, op) (LOCK_SH or LOCK_EX), retried every 10 ms for up to wait_ms: HG_ERR_AGAIN if it
 * is still held by others then. */
HG_MUST_CHECK hg_err store_lock_wait(int fd, int op, unsigned wait_ms);
/* The shared ingest lock every session holds from begin to end (store_gc.c): *fd is open and
 * locked on success; store_unlock (store.h) releases it. */
HG_MUST_CHECK hg_err store_ingest_lock(const store *st, int *fd);
/* Calls cb for every file under xorbs/ that the index does not know; xorb_name is 0 for a name
 * that is not a xorb hash at all. */
typedef hg_err (*store_orphan_cb)(void *arg, const char *path, int xorb_name);
HG_MUST_CHECK hg_err store_orphans_each(store *st, store_orphan_cb cb, void *arg);

/* files/ab/<sha256 hex>: the plain copy of a content (store_files.h). */
void store_plain_path(const store *st, const uint8_t sha256[32], char *out, size_t cap);

/* xorbs/ab/cd/<hex> for a hash. */
void store_xorb_path(const store *st, const xet_hash *h, char *out, size_t cap);

/* Git-order sort key of a tree entry name: directories sort as if followed by '/'. */
void store_sort_key(const char *name, int is_dir, char *out, size_t cap);

#endif
