/*
 * hub_files.c - the background worker behind the plain-file cache (see hub_files.h).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "hub/hub_files.h"
#include "store/store_files.h"
#include "util/hg_log.h"

#define QUEUE_MAX 64

enum { JOB_MAKE = 0, JOB_VERIFY };

typedef struct job {
    store_content ct;
    int kind;
} job;

struct hub_files {
    store *st;
    uint64_t budget;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job q[QUEUE_MAX];        /* ring */
    size_t head, n;
    int64_t busy;            /* content id of the job in progress (0: none) */
    int stopping;
    uint64_t bytes;          /* after the last trim */
    unsigned long made, served;
    pthread_mutex_t trim_mu; /* one trim at a time (worker and download threads) */
};

static void trim(hub_files *fs)
{
    uint64_t used = 0;
    pthread_mutex_lock(&fs->trim_mu);
    hg_err rc = store_files_trim(fs->st, fs->budget, &used);
    pthread_mutex_unlock(&fs->trim_mu);
    if (rc)
        HG_WARN("plain-file cache: trim failed: %s", hg_strerror(rc));
    __atomic_store_n(&fs->bytes, used, __ATOMIC_RELAXED);
}

static void *worker(void *arg)
{
    hub_files *fs = arg;
    trim(fs);
    pthread_mutex_lock(&fs->mu);
    for (;;) {
        while (!fs->n && !fs->stopping)
            pthread_cond_wait(&fs->cv, &fs->mu);
        if (fs->stopping)
            break;
        job j = fs->q[fs->head];
        fs->head = (fs->head + 1) % QUEUE_MAX;
        fs->n--;
        fs->busy = j.ct.id;
        pthread_mutex_unlock(&fs->mu);
        hg_err rc;
        if (j.kind == JOB_VERIFY) {
            rc = store_files_verify(fs->st, &j.ct);
            if (rc && rc != HG_ERR_NOTFOUND)
                HG_WARN("plain copy of content %lld failed verification: %s", (long long)j.ct.id, hg_strerror(rc));
        } else if (j.ct.size <= fs->budget) {
            rc = store_files_materialize(fs->st, &j.ct);
            if (rc)
                HG_WARN("cannot make a plain copy of content %lld: %s", (long long)j.ct.id, hg_strerror(rc));
            else
                __atomic_add_fetch(&fs->made, 1, __ATOMIC_RELAXED);
            trim(fs);
        }
        store_release(fs->st);
        pthread_mutex_lock(&fs->mu);
        fs->busy = 0;
    }
    pthread_mutex_unlock(&fs->mu);
    store_thread_exit(fs->st);
    return NULL;
}

hg_err hub_files_start(store *st, uint64_t budget, hub_files **out)
{
    *out = NULL;
    if (!budget)
        return HG_OK;
    hub_files *fs = calloc(1, sizeof *fs);
    if (!fs)
        return HG_ERR_NOMEM;
    fs->st = st;
    fs->budget = budget;
    pthread_mutex_init(&fs->mu, NULL);
    pthread_mutex_init(&fs->trim_mu, NULL);
    pthread_cond_init(&fs->cv, NULL);
    if (pthread_create(&fs->thread, NULL, worker, fs) != 0) {
        pthread_cond_destroy(&fs->cv);
        pthread_mutex_destroy(&fs->trim_mu);
        pthread_mutex_destroy(&fs->mu);
        free(fs);
        return HG_ERR_IO;
    }
    *out = fs;
    return HG_OK;
}

void hub_files_stop(hub_files **pfs)
{
    hub_files *fs = *pfs;
    if (!fs)
        return;
    pthread_mutex_lock(&fs->mu);
    fs->stopping = 1;
    pthread_cond_signal(&fs->cv);
    pthread_mutex_unlock(&fs->mu);
    pthread_join(fs->thread, NULL);
    pthread_cond_destroy(&fs->cv);
    pthread_mutex_destroy(&fs->trim_mu);
    pthread_mutex_destroy(&fs->mu);
    free(fs);
    *pfs = NULL;
}

static void want(hub_files *fs, const store_content *ct, int kind)
{
    pthread_mutex_lock(&fs->mu);
    int queued = fs->busy == ct->id;
    for (size_t i = 0; i < fs->n && !queued; i++)
        queued = fs->q[(fs->head + i) % QUEUE_MAX].ct.id == ct->id;
    if (!queued && fs->n < QUEUE_MAX && !fs->stopping) {
        fs->q[(fs->head + fs->n) % QUEUE_MAX] = (job){*ct, kind};
        fs->n++;
        pthread_cond_signal(&fs->cv);
    }
    pthread_mutex_unlock(&fs->mu);
}

hg_err hub_files_open(hub_files *fs, const store_content *ct, int *fd)
{
    if (!fs || ct->size < HUB_FILES_MIN_SIZE || !ct->id)
        return HG_ERR_NOTFOUND;
    hg_err rc = store_files_open(fs->st, ct, fd);
    if (!rc) {
        __atomic_add_fetch(&fs->served, 1, __ATOMIC_RELAXED);
        return HG_OK;
    }
    if (rc == HG_ERR_AGAIN)
        want(fs, ct, JOB_VERIFY);
    else if (rc == HG_ERR_NOTFOUND)
        want(fs, ct, JOB_MAKE);
    return HG_ERR_NOTFOUND;
}

void hub_files_adopt(hub_files *fs, const store_content *ct, int fd)
{
    if (!fs || ct->size < HUB_FILES_MIN_SIZE || ct->size > fs->budget)
        return;
    hg_err rc = store_files_adopt(fs->st, ct, fd);
    if (rc) {
        HG_WARN("cannot keep a plain copy of content %lld: %s", (long long)ct->id, hg_strerror(rc));
        return;
    }
    __atomic_add_fetch(&fs->made, 1, __ATOMIC_RELAXED);
    trim(fs);
}

void hub_files_stats(hub_files *fs, uint64_t *bytes, unsigned long *made, unsigned long *served)
{
    *bytes = fs ? __atomic_load_n(&fs->bytes, __ATOMIC_RELAXED) : 0;
    *made = fs ? __atomic_load_n(&fs->made, __ATOMIC_RELAXED) : 0;
    *served = fs ? __atomic_load_n(&fs->served, __ATOMIC_RELAXED) : 0;
}
