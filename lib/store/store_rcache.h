/*
 * store_rcache.h - the answers every request starts with (which repo, which commit a revision
 * names), kept in memory while the index is unchanged (private to lib/store).
 *
 * A model-info request is otherwise three lookups in one SQLite read transaction: a lock, a
 * check of the file and three statements, about as much as all the rest of the request.  The
 * answers change only when a transaction commits, in this process or another (an import), and
 * every commit changes the header of the WAL index (the -shm file: its change counter, the
 * number of frames, the salts after a restart).  So an answer is kept together with the header
 * it was read under, and serves as long as those 48 bytes (read through a shared mapping of the
 * file, as SQLite writes them) stay the same.
 *
 * Invariants: only positive answers are kept (a missing repo or revision is looked up again);
 * anything unusual (no -shm file, a short read) disables the cache rather than guess.
 *
 * Threading: one mutex around the tables; lookups on a miss run outside it.
 */
#ifndef HG_STORE_RCACHE_H
#define HG_STORE_RCACHE_H

#include <pthread.h>
#include <stdint.h>

#include "store/store.h"

#define STORE_RCACHE_SLOTS 256
#define STORE_WAL_HDR 48 /* the first copy of the WAL-index header */

typedef struct store_rc_repo {
    int used;
    store_repo repo;
} store_rc_repo;

typedef struct store_rc_rev {
    int used;
    int64_t repo_id;
    char rev[256];
    git_oid commit;
    store_commit cm;  /* message owned */
} store_rc_rev;

typedef struct store_rcache {
    int fd;           /* the -shm file, read only; -1: disabled */
    const uint8_t *map; /* its header, mapped (NULL: read with pread) */
    pthread_mutex_t mu;
    uint8_t gen[STORE_WAL_HDR];
    store_rc_repo repos[STORE_RCACHE_SLOTS];
    store_rc_rev revs[STORE_RCACHE_SLOTS];
    unsigned next_repo, next_rev;
    unsigned long hits, misses;
} store_rcache;

void store_rcache_init(store_rcache *rc); /* disabled until attached */
/* Starts caching: opens the database's WAL index (db_path + "-shm"). */
void store_rcache_attach(store_rcache *rc, const char *db_path);
void store_rcache_destroy(store_rcache *rc);

#endif
