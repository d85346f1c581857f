/*
 * store_vcache.h - which stored chunks this process has already re-hashed (private to lib/store).
 *
 * Readers verify every chunk the first time the process reads it (keyed BLAKE3 of the decoded
 * bytes against the index) and then read it at disk speed.  The set is kept per xorb as a bitmap
 * together with a fingerprint of the xorb file (inode, size, mtime): a file that is replaced or
 * rewritten after it was verified gets a new fingerprint and is verified again.
 *
 * Threading: all functions are safe to call from any thread (one mutex; a lookup is a few
 * dozen instructions per 64 KiB chunk).
 */
#ifndef HG_STORE_VCACHE_H
#define HG_STORE_VCACHE_H

#include <pthread.h>
#include <stdint.h>

#include "util/hg_err.h"

typedef struct store_vxorb {
    int64_t id;      /* 0: empty slot */
    uint64_t fp;
    uint32_t nbits;
    uint64_t *bits;
} store_vxorb;

typedef struct store_vcache {
    pthread_mutex_t mu;
    store_vxorb *slots;
    size_t cap, used; /* cap is 0 or a power of two */
} store_vcache;

void store_vcache_init(store_vcache *v);
void store_vcache_destroy(store_vcache *v);
/* 1 if chunk idx of xorb id was verified while the xorb file had fingerprint fp. */
int store_vcache_test(store_vcache *v, int64_t id, uint64_t fp, uint32_t idx);
/* Records a verified chunk (a failure to allocate only means it is verified again later). */
void store_vcache_mark(store_vcache *v, int64_t id, uint64_t fp, uint32_t idx);

#endif
