/*
 * store_vcache.c - the verified-chunk set (see store_vcache.h): open addressing on the xorb id,
 * linear probing, doubling at 50 % load.  Entries are never removed; a store holds at most one
 * per xorb, a few dozen bytes plus one bit per chunk.
 */
#include <stdlib.h>
#include <string.h>

#include "store/store_vcache.h"

void store_vcache_init(store_vcache *v)
{
    memset(v, 0, sizeof *v);
    pthread_mutex_init(&v->mu, NULL);
}

void store_vcache_destroy(store_vcache *v)
{
    for (size_t i = 0; i < v->cap; i++)
        free(v->slots[i].bits);
    free(v->slots);
    pthread_mutex_destroy(&v->mu);
    memset(v, 0, sizeof *v);
}

static size_t slot_of(int64_t id, size_t cap)
{
    return (size_t)(((uint64_t)id * 0x9E3779B97F4A7C15ull) >> 17) & (cap - 1);
}

static store_vxorb *find(store_vcache *v, int64_t id)
{
    if (!v->cap)
        return NULL;
    for (size_t i = slot_of(id, v->cap);; i = (i + 1) & (v->cap - 1)) {
        if (v->slots[i].id == id)
            return &v->slots[i];
        if (v->slots[i].id == 0)
            return NULL;
    }
}

static int grow(store_vcache *v)
{
    size_t cap = v->cap ? 2 * v->cap : 64;
    store_vxorb *s = calloc(cap, sizeof *s);
    if (!s)
        return -1;
    for (size_t i = 0; i < v->cap; i++) {
        if (!v->slots[i].id)
            continue;
        size_t k = slot_of(v->slots[i].id, cap);
        while (s[k].id)
            k = (k + 1) & (cap - 1);
        s[k] = v->slots[i];
    }
    free(v->slots);
    v->slots = s;
    v->cap = cap;
    return 0;
}

int store_vcache_test(store_vcache *v, int64_t id, uint64_t fp, uint32_t idx)
{
    pthread_mutex_lock(&v->mu);
    const store_vxorb *x = find(v, id);
    int ok = x && x->fp == fp && idx < x->nbits && (x->bits[idx / 64] >> (idx % 64) & 1);
    pthread_mutex_unlock(&v->mu);
    return ok;
}

void store_vcache_mark(store_vcache *v, int64_t id, uint64_t fp, uint32_t idx)
{
    if (id == 0)
        return;
    pthread_mutex_lock(&v->mu);
    store_vxorb *x = find(v, id);
    if (!x && (2 * (v->used + 1) <= v->cap || grow(v) == 0)) {
        size_t i = slot_of(id, v->cap);
        while (v->slots[i].id)
            i = (i + 1) & (v->cap - 1);
        x = &v->slots[i];
        *x = (store_vxorb){.id = id, .fp = fp};
        v->used++;
    }
    if (x && x->fp != fp) {
        /* The file changed since: what was verified before says nothing about it now. */
        x->fp = fp;
        if (x->bits)
            memset(x->bits, 0, (x->nbits + 63) / 64 * sizeof *x->bits);
    }
    if (x && idx >= x->nbits) {
        uint32_t nbits = (idx / 64 + 1) * 64 * 2;
        uint64_t *b = realloc(x->bits, nbits / 64 * sizeof *b);
        if (b) {
            memset(b + (x->nbits + 63) / 64, 0, (nbits / 64 - (x->nbits + 63) / 64) * sizeof *b);
            x->bits = b;
            x->nbits = nbits;
        }
    }
    if (x && idx < x->nbits)
        x->bits[idx / 64] |= (uint64_t)1 << (idx % 64);
    pthread_mutex_unlock(&v->mu);
}
