/*
 * hub_cache.h - a small in-memory cache of rendered JSON for commit-addressed requests.
 *
 * Everything addressed by a commit is immutable (hub-protocol.md 5.1), so its JSON can be kept
 * and served again without touching the index.  Keys include the commit id; branch names are
 * resolved to a commit before the lookup, so a moved branch never returns stale data.
 * Direct-mapped, bounded (HUB_CACHE_SLOTS entries of at most HUB_CACHE_MAX_VALUE bytes), one
 * mutex; values are copied out under the lock.  Thread-safe.
 */
#ifndef HG_HUB_CACHE_H
#define HG_HUB_CACHE_H

#include <pthread.h>
#include <stddef.h>

#include "util/hg_buf.h"

#define HUB_CACHE_SLOTS     1024
#define HUB_CACHE_MAX_VALUE (256u * 1024)

typedef struct hub_cache_slot {
    char *key;
    char *value;
    size_t len;
} hub_cache_slot;

typedef struct hub_cache {
    pthread_mutex_t lock;
    hub_cache_slot slots[HUB_CACHE_SLOTS];
    unsigned long hits, misses;
} hub_cache;

void hub_cache_init(hub_cache *c);
void hub_cache_destroy(hub_cache *c);
/* Copies the value for key into out (reset first); 1 on a hit, 0 on a miss. */
int hub_cache_get(hub_cache *c, const char *key, hg_buf *out);
/* Stores a copy (silently skipped when too large or out of memory). */
void hub_cache_put(hub_cache *c, const char *key, const char *value, size_t len);

#endif
