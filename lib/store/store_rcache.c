/*
 * store_rcache.c - repo and revision answers kept while the index is unchanged (see
 * store_rcache.h).
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store_int.h"
#include "store/store_rcache.h"

void store_rcache_init(store_rcache *rc)
{
    memset(rc, 0, sizeof *rc);
    pthread_mutex_init(&rc->mu, NULL);
    rc->fd = -1;
}

void store_rcache_attach(store_rcache *rc, const char *db_path)
{
    char shm[4096];
    snprintf(shm, sizeof shm, "%s-shm", db_path);
    rc->fd = open(shm, O_RDONLY | O_CLOEXEC); /* -1: no WAL index, no cache */
    /* SQLite itself maps this file and writes the header through the mapping: reading it the
     * same way costs no system call (two per request otherwise); pread stays the fallback. */
    if (rc->fd >= 0) {
        void *m = mmap(NULL, STORE_WAL_HDR, PROT_READ, MAP_SHARED, rc->fd, 0);
        rc->map = m == MAP_FAILED ? NULL : (const uint8_t *)m;
    }
}

static void clear(store_rcache *rc)
{
    for (size_t i = 0; i < STORE_RCACHE_SLOTS; i++) {
        rc->repos[i].used = 0;
        if (rc->revs[i].used)
            store_commit_clear(&rc->revs[i].cm);
        rc->revs[i].used = 0;
    }
}

void store_rcache_destroy(store_rcache *rc)
{
    clear(rc);
    if (rc->map)
        munmap((void *)rc->map, STORE_WAL_HDR);
    rc->map = NULL;
    if (rc->fd >= 0)
        close(rc->fd);
    rc->fd = -1;
    pthread_mutex_destroy(&rc->mu);
}

/* The WAL-index header now; 0 when it cannot be read (then nothing is cached).  A copy taken
 * while a commit rewrites it differs from both the old and the new header, so it only costs a
 * miss; one that equals the old header was taken before the commit, whose answers it keeps. */
static int generation(store_rcache *rc, uint8_t out[STORE_WAL_HDR])
{
    if (rc->map) {
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        memcpy(out, rc->map, STORE_WAL_HDR);
        return 1;
    }
    return rc->fd >= 0 && pread(rc->fd, out, STORE_WAL_HDR, 0) == STORE_WAL_HDR;
}

/* Under rc->mu: forgets everything learnt under an older header. */
static void sync_generation(store_rcache *rc, const uint8_t gen[STORE_WAL_HDR])
{
    if (memcmp(rc->gen, gen, STORE_WAL_HDR)) {
        clear(rc);
        memcpy(rc->gen, gen, STORE_WAL_HDR);
    }
}

/* A lookup on a miss must not answer from a snapshot older than the header just read: the
 * request's read transaction may have started before it. */
static int leave_snapshot(store *st)
{
    store_conn *c = store_conn_get(st);
    int was = c && c->reading;
    if (was)
        store_read_end(st);
    return was;
}

hg_err store_repo_find_cached(store *st, store_repo_type type, const char *name, store_repo *out)
{
    store_rcache *rc = &st->rcache;
    uint8_t gen[STORE_WAL_HDR];
    int ok = generation(rc, gen);
    if (ok) {
        pthread_mutex_lock(&rc->mu);
        sync_generation(rc, gen);
        for (size_t i = 0; i < STORE_RCACHE_SLOTS; i++)
            if (rc->repos[i].used && rc->repos[i].repo.type == type && !strcmp(rc->repos[i].repo.name, name)) {
                *out = rc->repos[i].repo;
                rc->hits++;
                pthread_mutex_unlock(&rc->mu);
                return HG_OK;
            }
        rc->misses++;
        pthread_mutex_unlock(&rc->mu);
    }
    int was = ok && leave_snapshot(st);
    hg_err r = store_repo_find(st, type, name, out);
    if (was)
        store_read_begin(st);
    if (!r && ok) {
        pthread_mutex_lock(&rc->mu);
        if (!memcmp(rc->gen, gen, STORE_WAL_HDR)) {
            store_rc_repo *e = &rc->repos[rc->next_repo++ % STORE_RCACHE_SLOTS];
            e->used = 1;
            e->repo = *out;
        }
        pthread_mutex_unlock(&rc->mu);
    }
    return r;
}

static hg_err commit_copy(store_commit *dst, const store_commit *src)
{
    *dst = *src;
    dst->message = src->message ? strdup(src->message) : NULL;
    return !src->message || dst->message ? HG_OK : HG_ERR_NOMEM;
}

hg_err store_rev_commit_cached(store *st, int64_t repo_id, const char *rev, git_oid *commit, store_commit *cm)
{
    store_rcache *rc = &st->rcache;
    uint8_t gen[STORE_WAL_HDR];
    int ok = generation(rc, gen) && strlen(rev) < sizeof rc->revs[0].rev;
    if (ok) {
        pthread_mutex_lock(&rc->mu);
        sync_generation(rc, gen);
        for (size_t i = 0; i < STORE_RCACHE_SLOTS; i++) {
            store_rc_rev *e = &rc->revs[i];
            if (e->used && e->repo_id == repo_id && !strcmp(e->rev, rev)) {
                *commit = e->commit;
                hg_err r = commit_copy(cm, &e->cm);
                rc->hits++;
                pthread_mutex_unlock(&rc->mu);
                return r;
            }
        }
        rc->misses++;
        pthread_mutex_unlock(&rc->mu);
    }
    int was = ok && leave_snapshot(st);
    hg_err r = store_resolve_rev(st, repo_id, rev, commit);
    if (!r)
        r = store_commit_get(st, repo_id, commit, cm);
    if (was)
        store_read_begin(st);
    if (!r && ok) {
        pthread_mutex_lock(&rc->mu);
        if (!memcmp(rc->gen, gen, STORE_WAL_HDR)) {
            store_rc_rev *e = &rc->revs[rc->next_rev++ % STORE_RCACHE_SLOTS];
            if (e->used)
                store_commit_clear(&e->cm);
            e->used = commit_copy(&e->cm, cm) == HG_OK;
            e->repo_id = repo_id;
            snprintf(e->rev, sizeof e->rev, "%s", rev);
            e->commit = *commit;
        }
        pthread_mutex_unlock(&rc->mu);
    }
    return r;
}

void store_rcache_stats(store *st, unsigned long *hits, unsigned long *misses)
{
    pthread_mutex_lock(&st->rcache.mu);
    *hits = st->rcache.hits;
    *misses = st->rcache.misses;
    pthread_mutex_unlock(&st->rcache.mu);
}
