#include "hub/hub_cache.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static size_t slot_of(const char *key)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return (size_t)(h % HUB_CACHE_SLOTS);
}

void hub_cache_init(hub_cache *c)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->lock, NULL);
}

void hub_cache_destroy(hub_cache *c)
{
    for (size_t i = 0; i < HUB_CACHE_SLOTS; i++) {
        free(c->slots[i].key);
        free(c->slots[i].value);
    }
    pthread_mutex_destroy(&c->lock);
}

int hub_cache_get(hub_cache *c, const char *key, hg_buf *out)
{
    hub_cache_slot *s = &c->slots[slot_of(key)];
    int hit = 0;
    pthread_mutex_lock(&c->lock);
    if (s->key && !strcmp(s->key, key)) {
        hg_buf_reset(out);
        hit = hg_buf_append(out, s->value, s->len) == HG_OK;
    }
    if (hit)
        c->hits++;
    else
        c->misses++;
    pthread_mutex_unlock(&c->lock);
    return hit;
}

void hub_cache_put(hub_cache *c, const char *key, const char *value, size_t len)
{
    if (len > HUB_CACHE_MAX_VALUE)
        return;
    char *k = strdup(key), *v = malloc(len ? len : 1);
    if (!k || !v) {
        free(k);
        free(v);
        return;
    }
    memcpy(v, value, len);
    hub_cache_slot *s = &c->slots[slot_of(key)];
    pthread_mutex_lock(&c->lock);
    char *ok = s->key, *ov = s->value;
    s->key = k;
    s->value = v;
    s->len = len;
    pthread_mutex_unlock(&c->lock);
    free(ok);
    free(ov);
}
