/*
 * hub_flight.c - single-flight upstream downloads read while they grow (see hub_flight.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "hub/hub_files.h"
#include "hub/hub_flight.h"
#include "hub/hub_scan.h"
#include "scan/scan.h"
#include "store/store_files.h"
#include "util/hg_fs.h"
#include "util/hg_log.h"

/* Parked readers are woken when this many new bytes arrived, or WAKE_MS after the last wake:
 * one resume per 16 KiB curl write would cost more than the copy it enables. */
#define WAKE_BYTES (256u * 1024)
#define WAKE_MS 20

enum { FLIGHT_RUNNING = 0, FLIGHT_VERIFIED, FLIGHT_FAILED };

/* A read this far ahead of the transfer (and further than it gets in REGION_AHEAD_MS at its
 * rate so far) has its bytes fetched first, by a Range request of their own: at most
 * REGION_MAX_BYTES each, REGION_MAX per transfer, which bounds the bytes fetched twice. */
#define REGION_MAX 8
#define REGION_MAX_BYTES ((uint64_t)32 << 20)
#define REGION_MIN_AHEAD ((uint64_t)1 << 20)
#define REGION_AHEAD_MS 500

/* FETCHING, then FETCHED (its bytes are in, or it failed part way), then, once the transfer
 * verified, SAME (its bytes equal the verified file's) or BAD. */
enum { REGION_FETCHING = 0, REGION_FETCHED, REGION_SAME, REGION_BAD };

typedef struct flight_region {
    uint64_t start, end; /* the file's bytes [start, end) */
    uint64_t got;        /* of them in fd, from its offset 0 */
    uint64_t woke_at;    /* got at the last wake (region thread only) */
    int fd;              /* -1 until its thread is set up */
    int state;
} flight_region;

/* When clients may see the bytes of a transfer the scanner has to judge. */
enum { GATE_OPEN = 0, GATE_UNDECIDED, GATE_HEADER, GATE_WHOLE };

struct hub_flight {
    hub_flights *reg;
    unsigned refs;        /* under reg->mu */
    char *id, *path, *auth;
    uint64_t size;
    int is_lfs;
    uint8_t sha256[32];
    git_oid blob;
    upstream_response *head; /* a fresh HEAD answer to start from, or NULL (read-only) */
    int fd;               /* the body so far (unlinked file) */
    EVP_MD_CTX *md;       /* transfer thread only */

    pthread_mutex_t mu;   /* guards what follows */
    pthread_cond_t cv;    /* first bytes or end */
    uint64_t written;
    int state;
    hg_err err;
    char msg[256];
    http_park **parked;
    size_t nparked, capparked;
    uint64_t woke_at;     /* `written` at the last wake */
    uint64_t woke_ms;
    int scan_mode;        /* hub_scan_mode of this transfer */
    int gate;             /* GATE_*: nothing is visible before it is OPEN */
    uint64_t gate_need;   /* GATE_HEADER: bytes the header takes */
    hub_scan_info scan;   /* the verdict the gate opened with (known 0: none) */
    uint64_t started_ms;  /* for the transfer's rate */
    flight_region regions[REGION_MAX]; /* bytes fetched first (see REGION_MAX) */
    unsigned nregions;
    int region_failed;    /* upstream refused or broke a region: no more for this transfer */
};

struct hub_flights {
    store *st;
    upstream *up;
    struct hub_files *files; /* plain copies (borrowed), or NULL */
    pthread_mutex_t mu;
    pthread_cond_t idle;  /* running reached 0 */
    hub_flight **v;       /* transfers in progress (until ingested) */
    size_t n, cap;
    unsigned running;
    int stopping;         /* read by transfer threads without the lock: a hint to abort */
    unsigned long started;
    unsigned long regions; /* regions fetched first, since the start */
};

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

hg_err hub_flights_new(store *st, upstream *up, struct hub_files *files, hub_flights **out)
{
    hub_flights *fs = calloc(1, sizeof *fs);
    if (!fs)
        return HG_ERR_NOMEM;
    fs->st = st;
    fs->up = up;
    fs->files = files;
    pthread_mutex_init(&fs->mu, NULL);
    pthread_cond_init(&fs->idle, NULL);
    *out = fs;
    return HG_OK;
}

void hub_flights_stop(hub_flights *fs)
{
    if (!fs)
        return;
    pthread_mutex_lock(&fs->mu);
    __atomic_store_n(&fs->stopping, 1, __ATOMIC_RELAXED);
    while (fs->running)
        pthread_cond_wait(&fs->idle, &fs->mu);
    pthread_mutex_unlock(&fs->mu);
}

void hub_flights_free(hub_flights **pfs)
{
    hub_flights *fs = *pfs;
    if (!fs)
        return;
    hub_flights_stop(fs);
    /* Flights still referenced by bodies keep a pointer to the registry: by now the HTTP server
     * is gone, so every body was freed. */
    free(fs->v);
    pthread_cond_destroy(&fs->idle);
    pthread_mutex_destroy(&fs->mu);
    free(fs);
    *pfs = NULL;
}

unsigned long hub_flights_started(hub_flights *fs)
{
    return fs ? __atomic_load_n(&fs->started, __ATOMIC_RELAXED) : 0;
}

unsigned long hub_flights_regions(hub_flights *fs)
{
    return fs ? __atomic_load_n(&fs->regions, __ATOMIC_RELAXED) : 0;
}

static void flight_free(hub_flight *f)
{
    if (f->fd >= 0)
        close(f->fd);
    for (unsigned i = 0; i < f->nregions; i++)
        if (f->regions[i].fd >= 0)
            close(f->regions[i].fd);
    if (f->auth) {
        memset(f->auth, 0, strlen(f->auth));
        free(f->auth);
    }
    if (f->head) {
        upstream_response_clear(f->head);
        free(f->head);
    }
    free(f->id);
    free(f->path);
    free(f->parked);
    EVP_MD_CTX_free(f->md);
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

hub_flight *hub_flight_ref(hub_flight *f)
{
    pthread_mutex_lock(&f->reg->mu);
    f->refs++;
    pthread_mutex_unlock(&f->reg->mu);
    return f;
}

void hub_flight_release(hub_flight **pf)
{
    hub_flight *f = *pf;
    if (!f)
        return;
    hub_flights *fs = f->reg;
    pthread_mutex_lock(&fs->mu);
    int last = --f->refs == 0;
    pthread_mutex_unlock(&fs->mu);
    if (last)
        flight_free(f);
    *pf = NULL;
}

/* Takes the parked readers (under f->mu); the caller resumes them after unlocking. */
static size_t take_parked(hub_flight *f, http_park ***out)
{
    size_t n = f->nparked;
    *out = f->parked;
    f->parked = NULL;
    f->nparked = f->capparked = 0;
    f->woke_at = f->written;
    f->woke_ms = mono_ms();
    return n;
}

static void resume_all(http_park **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        http_park_resume(v[i]);
    free(v);
}

/* ---- the scanner's gate ---- */

/* Bytes of a body the gate looks at before it decides. */
#define GATE_PREFIX (64u * 1024)

/* How long a body of size bytes (file path) whose first bytes are b[0..n) must wait for the
 * scanner.  A safetensors header is judged alone; anything else is judged by the scanner on the
 * prefix: what it cannot tell from opaque data (zip, pickle, npy, gguf... or a prefix that is
 * the start of something it would have to read further) waits for the whole body. */
static int gate_for(const uint8_t *b, size_t n, uint64_t size, const char *path, uint64_t *need)
{
    if (n >= 9) {
        uint64_t hl = 0;
        for (int i = 7; i >= 0; i--)
            hl = hl << 8 | b[i];
        size_t i = 8;
        while (i < n && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t'))
            i++;
        if (hl >= 2 && hl <= (100u << 20) && hl <= size - 8 && i < n && b[i] == '{') {
            *need = 8 + hl;
            return GATE_HEADER;
        }
    }
    if (n >= 4 && !memcmp(b, "PAR1", 4))
        return GATE_OPEN; /* parquet by its head (the tail tells for sure: the last byte waits) */
    scan_result r;
    if (scan_mem(b, n, path, &r))
        return GATE_WHOLE;
    int opaque = r.verdict == SCAN_ALLOW && r.format && (!strcmp(r.format, "unknown") || !strcmp(r.format, "empty"));
    scan_result_free(&r);
    return opaque ? GATE_OPEN : GATE_WHOLE;
}

/* On the transfer thread, after each write: moves the gate along; 1 when it just opened. */
static int gate_step(hub_flight *f, uint64_t written)
{
    uint64_t want = f->size < GATE_PREFIX ? f->size : GATE_PREFIX;
    if (f->gate == GATE_UNDECIDED && written >= want) {
        uint8_t *head = malloc(want ? want : 1);
        int g = !head || hg_pread_all(f->fd, head, (size_t)want, 0) ? GATE_WHOLE
                                                                    : gate_for(head, (size_t)want, f->size, f->path, &f->gate_need);
        free(head);
        if (g == GATE_OPEN) {
            pthread_mutex_lock(&f->mu);
            f->gate = GATE_OPEN;
            pthread_mutex_unlock(&f->mu);
            return 1;
        }
        f->gate = g; /* only this thread reads it while not OPEN */
    }
    if (f->gate == GATE_HEADER && written >= f->gate_need) {
        /* A provisional judgement of the header alone: a safetensors file is decided by it. */
        hub_scan_info info;
        hg_err rc = hub_scan_fd(f->reg->st, f->sha256, f->fd, f->size, f->path, 0, &info);
        if (rc || strcmp(info.format, "safetensors") || info.verdict == SCAN_BLOCK) {
            f->gate = GATE_WHOLE; /* the whole body decides, after the last byte */
            return 0;
        }
        pthread_mutex_lock(&f->mu);
        f->scan = info;
        f->gate = GATE_OPEN;
        pthread_mutex_unlock(&f->mu);
        return 1;
    }
    return 0;
}

void hub_flight_scan(hub_flight *f, hub_scan_info *info)
{
    pthread_mutex_lock(&f->mu);
    *info = f->scan;
    pthread_mutex_unlock(&f->mu);
}

/* ---- the transfer ---- */

static int flight_sink(void *arg, const void *data, size_t len)
{
    hub_flight *f = arg;
    if (__atomic_load_n(&f->reg->stopping, __ATOMIC_RELAXED))
        return -1;
    uint64_t off = __atomic_load_n(&f->written, __ATOMIC_RELAXED); /* only this thread writes it */
    if (off + len > f->size || hg_pwrite_all(f->fd, data, len, off) ||
        EVP_DigestUpdate(f->md, data, len) != 1)
        return -1;
    http_park **wake = NULL;
    size_t nwake = 0;
    int opened = f->gate != GATE_OPEN && gate_step(f, off + len);
    pthread_mutex_lock(&f->mu);
    int first = f->written == 0;
    f->written += len;
    if (f->nparked && (opened || f->written - f->woke_at >= WAKE_BYTES || mono_ms() - f->woke_ms >= WAKE_MS))
        nwake = take_parked(f, &wake);
    if (first || opened)
        pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    resume_all(wake, nwake);
    return 0;
}

/* Fetches the body into f->fd and checks its size and hash. */
static hg_err fetch_verified(hub_flight *f, char *msg, size_t cap)
{
    f->md = EVP_MD_CTX_new();
    if (!f->md || EVP_DigestInit_ex(f->md, f->is_lfs ? EVP_sha256() : EVP_sha1(), NULL) != 1)
        return HG_ERR_NOMEM;
    if (!f->is_lfs) {
        /* git blob id: sha1 of "blob <size>\0" + bytes */
        char hdr[64];
        int n = snprintf(hdr, sizeof hdr, "blob %llu", (unsigned long long)f->size);
        if (EVP_DigestUpdate(f->md, hdr, (size_t)n + 1) != 1)
            return HG_ERR_NOMEM;
    }
    upstream_response ur;
    upstream_response_init(&ur);
    /* The request's own URL: if a branch moved meanwhile, verification catches the change. */
    hg_err rc = upstream_fetch_body(f->reg->up, f->path, f->auth, f->size, flight_sink, f, f->head, &ur);
    if (!rc && ur.status != 200 && ur.status != 206)
        rc = HG_ERR_UPSTREAM;
    if (rc)
        snprintf(msg, cap, "%s", ur.error[0] ? ur.error : ur.status ? "upstream refused the file body" : hg_strerror(rc));
    upstream_response_clear(&ur);
    if (rc)
        return rc == HG_ERR_CORRUPT ? rc : HG_ERR_UPSTREAM;
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_DigestFinal_ex(f->md, md, &mdlen);
    uint64_t got = __atomic_load_n(&f->written, __ATOMIC_RELAXED);
    if (got != f->size || memcmp(md, f->is_lfs ? f->sha256 : f->blob.b, f->is_lfs ? 32 : 20)) {
        HG_ERROR("upstream bytes of %.200s failed verification (%llu of %llu bytes, %s mismatch): discarded",
                 f->path, (unsigned long long)got, (unsigned long long)f->size, f->is_lfs ? "sha256" : "git blob id");
        snprintf(msg, cap, "the upstream sent bytes that failed verification; nothing was kept");
        return HG_ERR_CORRUPT;
    }
    return HG_OK;
}

static void thread_done(hub_flight *f);

/* The transfer is over: a later request starts a new one or finds the stored content. */
static void unregister(hub_flight *f)
{
    hub_flights *fs = f->reg;
    pthread_mutex_lock(&fs->mu);
    for (size_t i = 0; i < fs->n; i++)
        if (fs->v[i] == f) {
            fs->v[i] = fs->v[--fs->n];
            break;
        }
    pthread_mutex_unlock(&fs->mu);
    thread_done(f);
}

static void *flight_main(void *arg)
{
    hub_flight *f = arg;
    char msg[256] = "";
    uint64_t t0 = mono_ms();
    hg_err rc = fetch_verified(f, msg, sizeof msg);
    hub_scan_info scan = {0};
    if (!rc && f->is_lfs && f->scan_mode != HUB_SCAN_OFF) {
        /* The verdict on the whole body, kept for every later request; a held body is released
         * with it (and refused by the request if it blocks). */
        hg_err src = hub_scan_fd(f->reg->st, f->sha256, f->fd, f->size, f->path, 1, &scan);
        if (src && f->gate != GATE_OPEN && f->scan_mode == HUB_SCAN_BLOCK) {
            snprintf(msg, sizeof msg, "the downloaded file could not be scanned (%s)", hg_strerror(src));
            rc = HG_ERR_IO;
        }
    }
    http_park **wake;
    pthread_mutex_lock(&f->mu);
    /* Bytes already streaming (opaque by their prefix, or a safetensors header that passed)
     * whose whole body blocks: their readers lose the last byte, as with bad bytes. */
    int late_block = !rc && f->gate == GATE_OPEN && scan.known && scan.verdict == SCAN_BLOCK &&
                     f->scan_mode == HUB_SCAN_BLOCK;
    if (scan.known || f->gate != GATE_OPEN)
        f->scan = scan; /* the whole body's verdict, for requests that join from now on */
    f->gate = GATE_OPEN;
    f->state = rc || late_block ? FLIGHT_FAILED : FLIGHT_VERIFIED;
    f->err = rc ? rc : late_block ? HG_ERR_DENIED : HG_OK;
    snprintf(f->msg, sizeof f->msg, "%s", late_block ? "blocked by the model-file scanner" : msg);
    size_t nwake = take_parked(f, &wake);
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    resume_all(wake, nwake);
    if (!rc) {
        store_content ct;
        hg_err src = fsync(f->fd) == 0 ? store_add_content_fd(f->reg->st, f->fd, f->size, &ct) : HG_ERR_IO;
        if (src) {
            HG_ERROR("cannot store %.200s after downloading it: %s", f->path, hg_strerror(src));
        } else {
            HG_INFO("cached %.200s: %llu bytes in %llu ms", f->path, (unsigned long long)f->size,
                    (unsigned long long)(mono_ms() - t0));
            /* The verified body is already one plain file: keep it for sendfile. */
            hub_files_adopt(f->reg->files, &ct, f->fd);
        }
    } else {
        HG_WARN("download of %.200s failed: %s", f->path, msg);
    }
    store_thread_exit(f->reg->st);
    upstream_thread_exit(f->reg->up);
    unregister(f);
    return NULL;
}

/* ---- bytes fetched first ---- */

typedef struct region_job {
    hub_flight *f;
    unsigned i;
} region_job;

static int region_sink(void *arg, const void *data, size_t len)
{
    region_job *j = arg;
    hub_flight *f = j->f;
    flight_region *r = &f->regions[j->i];
    if (__atomic_load_n(&f->reg->stopping, __ATOMIC_RELAXED))
        return -1;
    uint64_t got = __atomic_load_n(&r->got, __ATOMIC_RELAXED); /* only this thread writes it */
    if (got + len > r->end - r->start || hg_pwrite_all(r->fd, data, len, got))
        return -1;
    http_park **wake = NULL;
    size_t nwake = 0;
    pthread_mutex_lock(&f->mu);
    r->got += len;
    if (f->nparked && (r->woke_at == 0 || r->got - r->woke_at >= WAKE_BYTES || r->got == r->end - r->start)) {
        r->woke_at = r->got;
        nwake = take_parked(f, &wake);
    }
    pthread_mutex_unlock(&f->mu);
    resume_all(wake, nwake);
    return 0;
}

/* Compares bytes [0, n) of fd a with bytes [boff, boff + n) of fd b: HG_OK when equal,
 * HG_ERR_CORRUPT when they differ, another error when they could not be read. */
static hg_err same_bytes(int a, int b, uint64_t boff, uint64_t n)
{
    enum { BLK = 256 * 1024 };
    char *x = malloc(2 * BLK);
    hg_err rc = x ? HG_OK : HG_ERR_NOMEM;
    for (uint64_t o = 0; !rc && o < n; o += BLK) {
        size_t k = n - o < BLK ? (size_t)(n - o) : BLK;
        if (hg_pread_all(a, x, k, o) || hg_pread_all(b, x + BLK, k, boff + o))
            rc = HG_ERR_IO;
        else if (memcmp(x, x + BLK, k))
            rc = HG_ERR_CORRUPT;
    }
    free(x);
    return rc;
}

/* Drops a thread's hold on f (a transfer or region thread that is done). */
static void thread_done(hub_flight *f)
{
    hub_flights *fs = f->reg;
    pthread_mutex_lock(&fs->mu);
    int last = --f->refs == 0;
    if (--fs->running == 0)
        pthread_cond_broadcast(&fs->idle);
    pthread_mutex_unlock(&fs->mu);
    if (last)
        flight_free(f);
}

static void *region_main(void *arg)
{
    region_job *j = arg;
    hub_flight *f = j->f;
    flight_region *r = &f->regions[j->i];
    upstream_response ur;
    upstream_response_init(&ur);
    hg_err rc = upstream_fetch_range(f->reg->up, f->path, f->auth, r->start, r->end - r->start, region_sink, j,
                                     f->head, &ur);
    if (rc && !__atomic_load_n(&f->reg->stopping, __ATOMIC_RELAXED))
        HG_WARN("fetching bytes %llu-%llu of %.200s first failed (%s): their readers wait for the download",
                (unsigned long long)r->start, (unsigned long long)(r->end - 1), f->path,
                ur.error[0] ? ur.error : hg_strerror(rc));
    upstream_response_clear(&ur);
    upstream_thread_exit(f->reg->up);
    /* Readers got these bytes before anything vouched for them, and their last byte waits for
     * this check: the bytes must be the verified file's. */
    pthread_mutex_lock(&f->mu);
    r->state = REGION_FETCHED;
    f->region_failed |= rc != HG_OK;
    while (f->state == FLIGHT_RUNNING)
        pthread_cond_wait(&f->cv, &f->mu);
    int verified = f->state == FLIGHT_VERIFIED;
    uint64_t got = r->got;
    pthread_mutex_unlock(&f->mu);
    hg_err cmp = verified ? same_bytes(r->fd, f->fd, r->start, got) : HG_ERR_UPSTREAM;
    if (verified && cmp)
        HG_ERROR("bytes %llu-%llu of %.200s fetched first %s: their readers are cut off",
                 (unsigned long long)r->start, (unsigned long long)(r->start + got - 1), f->path,
                 cmp == HG_ERR_CORRUPT ? "differ from the verified file" : "could not be compared with it");
    int same = cmp == HG_OK;
    http_park **wake;
    pthread_mutex_lock(&f->mu);
    r->state = same ? REGION_SAME : REGION_BAD;
    size_t nwake = take_parked(f, &wake);
    pthread_mutex_unlock(&f->mu);
    resume_all(wake, nwake);
    free(j);
    thread_done(f);
    return NULL;
}

/* Starts the thread of region i (reserved by hub_flight_read); if it cannot, the region stays
 * empty and its readers wait for the transfer. */
static void region_start(hub_flight *f, unsigned i)
{
    hub_flights *fs = f->reg;
    flight_region *r = &f->regions[i];
    region_job *j = malloc(sizeof *j);
    int fd = -1;
    hg_err rc = j ? store_files_tmpfile(fs->st, &fd) : HG_ERR_NOMEM;
    if (!rc) {
        pthread_mutex_lock(&fs->mu);
        rc = fs->stopping ? HG_ERR_UPSTREAM : HG_OK;
        if (!rc) {
            fs->running++;
            f->refs++;
        }
        pthread_mutex_unlock(&fs->mu);
    }
    pthread_mutex_lock(&f->mu);
    r->fd = fd;
    if (rc)
        r->state = REGION_BAD; /* nothing read from it: it only stops covering its bytes */
    pthread_mutex_unlock(&f->mu);
    if (rc) {
        free(j);
        return;
    }
    j->f = f;
    j->i = i;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t t;
    if (pthread_create(&t, &attr, region_main, j) != 0) {
        HG_ERROR("cannot start a download thread: %s", strerror(errno));
        pthread_mutex_lock(&f->mu);
        r->state = REGION_BAD;
        pthread_mutex_unlock(&f->mu);
        free(j);
        thread_done(f);
    } else {
        __atomic_add_fetch(&fs->regions, 1, __ATOMIC_RELAXED);
        HG_INFO("a read at byte %llu of %.200s is ahead of its download: fetching bytes %llu-%llu first",
                (unsigned long long)r->start, f->path, (unsigned long long)r->start, (unsigned long long)(r->end - 1));
    }
    pthread_attr_destroy(&attr);
}

/* Under f->mu: the region holding byte off (or fetching it), or NULL. */
static flight_region *region_at(hub_flight *f, uint64_t off)
{
    flight_region *fetching = NULL;
    for (unsigned i = 0; i < f->nregions; i++) {
        flight_region *r = &f->regions[i];
        if (off < r->start || off >= r->end)
            continue;
        if (off < r->start + r->got)
            return r;
        if (r->state == REGION_FETCHING)
            fetching = r;
    }
    return fetching;
}

/* Under f->mu, for a read at off that the transfer has not reached: reserves a region from off
 * (to the response's end, hold + 1) if the transfer is far enough behind; its index or -1. */
static int region_want(hub_flight *f, uint64_t off, uint64_t hold)
{
    /* A body held until judged whole would not be served from a region before the end anyway. */
    if (f->nregions == REGION_MAX || f->region_failed || f->state != FLIGHT_RUNNING || f->gate == GATE_WHOLE ||
        off <= f->written || off >= f->size)
        return -1;
    /* The rate over at least REGION_AHEAD_MS: the first bytes come in a burst (socket buffers). */
    uint64_t ahead = off - f->written, ms = mono_ms() - f->started_ms;
    uint64_t soon = f->written / (ms > REGION_AHEAD_MS ? ms : REGION_AHEAD_MS) * REGION_AHEAD_MS;
    if (ahead < REGION_MIN_AHEAD || ahead < soon)
        return -1;
    uint64_t end = hold < f->size ? hold + 1 : f->size;
    if (end - off > REGION_MAX_BYTES)
        end = off + REGION_MAX_BYTES;
    unsigned i = f->nregions++;
    f->regions[i] = (flight_region){.start = off, .end = end, .fd = -1, .state = REGION_FETCHING};
    return (int)i;
}

void hub_flight_prefetch(hub_flight *f, uint64_t off, uint64_t last)
{
    pthread_mutex_lock(&f->mu);
    int i = region_at(f, off) ? -1 : region_want(f, off, last);
    pthread_mutex_unlock(&f->mu);
    if (i >= 0)
        region_start(f, (unsigned)i);
}

/* A new flight for spec, with its file open (and already unlinked: nothing to clean up). */
static hg_err flight_new(hub_flights *fs, const hub_flight_spec *spec, hub_flight **out)
{
    hub_flight *f = calloc(1, sizeof *f);
    if (!f)
        return HG_ERR_NOMEM;
    f->reg = fs;
    f->fd = -1;
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    f->id = strdup(spec->id);
    f->path = strdup(spec->path);
    f->auth = spec->authorization ? strdup(spec->authorization) : NULL;
    f->size = spec->size;
    f->is_lfs = spec->is_lfs;
    memcpy(f->sha256, spec->sha256, 32);
    f->blob = spec->blob;
    f->woke_ms = f->started_ms = mono_ms();
    f->scan_mode = spec->scan_mode;
    f->gate = spec->is_lfs && f->scan_mode == HUB_SCAN_BLOCK ? GATE_UNDECIDED : GATE_OPEN;
    if (spec->head && (f->head = malloc(sizeof *f->head)) != NULL) {
        upstream_response_init(f->head);
        if (upstream_response_copy_head(f->head, spec->head)) {
            upstream_response_clear(f->head);
            free(f->head);
            f->head = NULL; /* the transfer asks upstream itself */
        }
    }
    if (!f->id || !f->path || (spec->authorization && !f->auth)) {
        flight_free(f);
        return HG_ERR_NOMEM;
    }
    hg_err rc = store_files_tmpfile(fs->st, &f->fd);
    if (rc) {
        f->fd = -1;
        flight_free(f);
        return rc;
    }
    *out = f;
    return HG_OK;
}

hg_err hub_flight_join(hub_flights *fs, const hub_flight_spec *spec, hub_flight **out)
{
    pthread_mutex_lock(&fs->mu);
    for (size_t i = 0; i < fs->n; i++) {
        hub_flight *g = fs->v[i];
        if (strcmp(g->id, spec->id))
            continue;
        /* A failed transfer stays listed until its thread is done: it is no one to join (its
         * readers were told); a new request starts afresh.  Lock order: registry, flight. */
        pthread_mutex_lock(&g->mu);
        int failed = g->state == FLIGHT_FAILED;
        pthread_mutex_unlock(&g->mu);
        if (failed)
            continue;
        g->refs++;
        *out = g;
        pthread_mutex_unlock(&fs->mu);
        return HG_OK;
    }
    /* A transfer unregisters only after its content is committed, so under this lock "no
     * transfer" and "not stored" cannot both be stale. */
    hg_err rc = fs->stopping ? HG_ERR_UPSTREAM : spec->stored && spec->stored(spec->stored_arg) ? HG_ERR_AGAIN : HG_OK;
    if (!rc && fs->n == fs->cap) {
        size_t cap = fs->cap ? 2 * fs->cap : 16;
        hub_flight **v = realloc(fs->v, cap * sizeof *v);
        if (v) {
            fs->v = v;
            fs->cap = cap;
        } else {
            rc = HG_ERR_NOMEM;
        }
    }
    hub_flight *f = NULL;
    if (!rc)
        rc = flight_new(fs, spec, &f);
    if (rc) {
        pthread_mutex_unlock(&fs->mu);
        return rc;
    }
    f->refs = 2; /* the caller and the transfer thread */
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t t;
    if (pthread_create(&t, &attr, flight_main, f) != 0) {
        pthread_attr_destroy(&attr);
        pthread_mutex_unlock(&fs->mu);
        HG_ERROR("cannot start a download thread: %s", strerror(errno));
        flight_free(f);
        return HG_ERR_IO;
    }
    pthread_attr_destroy(&attr);
    fs->v[fs->n++] = f;
    fs->running++;
    fs->started++;
    *out = f;
    pthread_mutex_unlock(&fs->mu);
    return HG_OK;
}

hg_err hub_flight_wait_start(hub_flight *f, char *msg, size_t cap)
{
    pthread_mutex_lock(&f->mu);
    while (f->state == FLIGHT_RUNNING && (f->written == 0 || f->size == 0 || f->gate != GATE_OPEN))
        pthread_cond_wait(&f->cv, &f->mu);
    hg_err rc = f->state == FLIGHT_FAILED ? (f->err ? f->err : HG_ERR_UPSTREAM) : HG_OK;
    if (rc)
        snprintf(msg, cap, "%s", f->msg[0] ? f->msg : hg_strerror(rc));
    pthread_mutex_unlock(&f->mu);
    return rc;
}

ssize_t hub_flight_read(hub_flight *f, uint64_t off, char *buf, size_t len, uint64_t hold, unsigned *used,
                        http_park *park)
{
    pthread_mutex_lock(&f->mu);
    if (f->state == FLIGHT_FAILED) {
        pthread_mutex_unlock(&f->mu);
        return -1;
    }
    /* The response's last byte and the file's wait for the verdict, and for the check of any
     * bytes fetched first that this response was given. */
    uint64_t visible = f->size;
    int waiting = 0;
    if (f->state == FLIGHT_VERIFIED) {
        for (unsigned i = 0; i < f->nregions; i++) {
            if (!(*used & 1u << i) || f->regions[i].state == REGION_SAME)
                continue;
            if (f->regions[i].state == REGION_BAD) {
                pthread_mutex_unlock(&f->mu);
                return -1;
            }
            waiting = 1;
        }
        if (waiting && hold < visible)
            visible = hold;
    } else {
        visible = f->gate != GATE_OPEN ? 0 : f->written < f->size ? f->written : f->size - 1;
        if (hold < visible)
            visible = hold;
    }
    int fd = f->fd;
    uint64_t at = off;
    int reserved = -1;
    if (off >= visible && f->state == FLIGHT_RUNNING && f->gate == GATE_OPEN) {
        flight_region *r = region_at(f, off);
        unsigned bit = r ? 1u << (unsigned)(r - f->regions) : 0;
        if (!r) {
            reserved = region_want(f, off, hold);
        } else if (off >= f->written + REGION_MIN_AHEAD / 4 || (*used & bit)) {
            /* A reader at the transfer's front waits for it (its bytes come next anyway): only
             * readers well ahead, or already reading the region, take its unverified bytes. */
            uint64_t end = r->start + r->got, cap = hold < f->size - 1 ? hold : f->size - 1;
            if (end > cap)
                end = cap;
            if (off < end) {
                *used |= bit;
                fd = r->fd;
                at = off - r->start;
                visible = end;
            }
        }
    }
    if (off < visible) {
        pthread_mutex_unlock(&f->mu);
        size_t n = visible - off < len ? (size_t)(visible - off) : len;
        return hg_pread_all(fd, buf, n, at) ? -1 : (ssize_t)n;
    }
    if (!park || (f->state == FLIGHT_VERIFIED && !waiting)) { /* VERIFIED: off is past the end */
        pthread_mutex_unlock(&f->mu);
        if (reserved >= 0)
            region_start(f, (unsigned)reserved);
        return park ? -1 : 0;
    }
    if (f->nparked == f->capparked) {
        size_t c = f->capparked ? 2 * f->capparked : 8;
        http_park **v = realloc(f->parked, c * sizeof *v);
        if (!v) {
            pthread_mutex_unlock(&f->mu);
            if (reserved >= 0)
                region_start(f, (unsigned)reserved);
            return -1;
        }
        f->parked = v;
        f->capparked = c;
    }
    http_park_suspend(park);
    f->parked[f->nparked++] = park;
    pthread_mutex_unlock(&f->mu);
    /* Parked first: the region's first bytes wake this reader. */
    if (reserved >= 0)
        region_start(f, (unsigned)reserved);
    return 0;
}
