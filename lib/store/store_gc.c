/*
 * store_gc.c - removing xorb files that no index row refers to, and the lock that makes it safe.
 *
 * Orphan xorb files come from ingest sessions that never committed: an import killed half way,
 * a download that failed after its first xorbs were written, a crash.  They are harmless but
 * can be large (a killed import of a 100 GB model leaves up to 100 GB).
 *
 * A live session has xorbs in place that its transaction has not named yet: indistinguishable
 * from orphans by looking.  So every ingest session holds a shared flock(2) on DIR/ingest.lock
 * from begin to its end, and the collector deletes only under the exclusive lock, after looking
 * each candidate up again.  With no session live, a xorb file the index does not know can only
 * be an orphan.  The walk itself runs without the lock, so that sessions wait only for the
 * deletions.
 *
 * Threading: store_gc runs on one thread; the ingest lock calls are safe from any thread (each
 * session has its own open file description, which is what flock locks).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/store_int.h"
#include "util/hg_log.h"

hg_err store_lock_file(const store *st, const char *name, int *fd)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", st->dir, name);
    *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (*fd < 0) {
        HG_ERROR("open %s: %s", path, strerror(errno));
        return HG_ERR_IO;
    }
    return HG_OK;
}

hg_err store_lock_wait(int fd, int op, unsigned wait_ms)
{
    struct timespec nap = {0, 10 * 1000 * 1000};
    for (unsigned waited = 0; flock(fd, op | LOCK_NB) != 0;) {
        if (errno == EINTR)
            continue;
        if (errno != EWOULDBLOCK) {
            HG_ERROR("flock: %s", strerror(errno));
            return HG_ERR_IO;
        }
        if (waited >= wait_ms)
            return HG_ERR_AGAIN;
        nanosleep(&nap, NULL);
        waited += 10;
    }
    return HG_OK;
}

/* A collector holds the exclusive lock for as long as its deletions take (milliseconds); one that
 * was stopped or hangs must not hang every download, so a session gives up after this long. */
#define INGEST_LOCK_WAIT_MS 120000

hg_err store_ingest_lock(const store *st, int *fd)
{
    hg_err rc = store_lock_file(st, "ingest.lock", fd);
    if (!rc && (rc = store_lock_wait(*fd, LOCK_SH, INGEST_LOCK_WAIT_MS))) {
        if (rc == HG_ERR_AGAIN)
            HG_ERROR("%s/ingest.lock: held by hubgate gc for more than %u s", st->dir, INGEST_LOCK_WAIT_MS / 1000);
        store_unlock(fd);
        rc = HG_ERR_IO;
    }
    return rc;
}

void store_unlock(int *fd)
{
    if (*fd >= 0)
        close(*fd); /* releases the lock */
    *fd = -1;
}

/* The exclusive ingest lock, waiting up to wait_s seconds: HG_ERR_AGAIN if sessions keep it. */
static hg_err lock_exclusive(const store *st, unsigned wait_s, int *fd)
{
    hg_err rc = store_lock_file(st, "ingest.lock", fd);
    if (!rc && (rc = store_lock_wait(*fd, LOCK_EX, wait_s * 1000u)))
        store_unlock(fd);
    return rc;
}

static int xorb_known(store_conn *c, const char *name, int *known)
{
    xet_hash h;
    if (xet_hash_from_hex(name, strlen(name), &h))
        return -1; /* not a xorb name */
    sqlite3_stmt *s = store_stmt(c, STMT_XORB_FIND);
    if (!s)
        return -2;
    sqlite3_bind_blob(s, 1, h.b, 32, SQLITE_STATIC);
    int r = sqlite3_step(s);
    if (r != SQLITE_ROW && r != SQLITE_DONE) {
        (void)store_sql_err(c, r, "xorb lookup");
        return -2;
    }
    *known = r == SQLITE_ROW;
    return 0;
}

/* xorbs/ab/cd/<hash>: directories at levels 0 and 1, files at level 2. */
static hg_err walk_xorbs(store_conn *c, const char *dir, int level, store_orphan_cb cb, void *arg)
{
    DIR *d = opendir(dir);
    if (!d)
        return level == 0 && errno != ENOENT ? HG_ERR_IO : HG_OK;
    hg_err rc = HG_OK;
    struct dirent *e;
    while (!rc && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path)
            continue;
        if (level < 2) {
            rc = walk_xorbs(c, path, level + 1, cb, arg);
            continue;
        }
        int known = 0;
        int r = xorb_known(c, e->d_name, &known);
        if (r == -2)
            rc = HG_ERR_IO;
        else if (r == -1 || !known)
            rc = cb(arg, path, r == 0);
    }
    closedir(d);
    return rc;
}

hg_err store_orphans_each(store *st, store_orphan_cb cb, void *arg)
{
    store_conn *c = store_conn_get(st);
    if (!c)
        return HG_ERR_IO;
    char top[4096];
    snprintf(top, sizeof top, "%s/xorbs", st->dir);
    return walk_xorbs(c, top, 0, cb, arg);
}

typedef struct gc_list {
    char **paths;
    size_t n, cap;
    store_gc_report *rep;
} gc_list;

static hg_err collect(void *arg, const char *path, int xorb_name)
{
    gc_list *l = arg;
    if (!xorb_name) {
        HG_WARN("gc: %s is not a xorb name; left alone", path);
        l->rep->foreign++;
        return HG_OK;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        char **p = realloc(l->paths, cap * sizeof *p);
        if (!p)
            return HG_ERR_NOMEM;
        l->paths = p;
        l->cap = cap;
    }
    if (!(l->paths[l->n] = strdup(path)))
        return HG_ERR_NOMEM;
    l->n++;
    return HG_OK;
}

/* Under the exclusive lock: each candidate is looked up again (a session may have committed it
 * between the walk and the lock) and deleted if still unknown. */
static hg_err sweep(store *st, const gc_list *l, int dry_run, store_gc_report *rep)
{
    store_conn *c = store_conn_get(st);
    if (!c)
        return HG_ERR_IO;
    for (size_t i = 0; i < l->n; i++) {
        const char *path = l->paths[i], *name = strrchr(path, '/') + 1;
        int known = 0;
        if (xorb_known(c, name, &known))
            return HG_ERR_IO;
        struct stat sb;
        if (known || lstat(path, &sb) != 0)
            continue; /* committed meanwhile, or gone */
        if (!S_ISREG(sb.st_mode)) {
            HG_WARN("gc: %s is not a regular file; left alone", path);
            rep->foreign++;
            continue;
        }
        if (!dry_run && unlink(path) != 0) {
            HG_ERROR("gc: unlink %s: %s", path, strerror(errno));
            return HG_ERR_IO;
        }
        HG_INFO("gc: %s orphan xorb %s (%lld bytes)", dry_run ? "would remove" : "removed", path,
                (long long)sb.st_size);
        rep->orphans++;
        rep->orphan_bytes += (uint64_t)sb.st_size;
    }
    return HG_OK;
}

hg_err store_gc(store *st, int dry_run, unsigned wait_s, store_gc_report *rep)
{
    memset(rep, 0, sizeof *rep);
    gc_list l = {.rep = rep};
    hg_err rc = store_orphans_each(st, collect, &l);
    int fd = -1;
    if (!rc && l.n)
        rc = lock_exclusive(st, wait_s, &fd);
    if (!rc)
        rc = sweep(st, &l, dry_run, rep);
    store_unlock(&fd);
    for (size_t i = 0; i < l.n; i++)
        free(l.paths[i]);
    free(l.paths);
    return rc;
}
