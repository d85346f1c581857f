#include "util/hg_buf.h"

#include <stdlib.h>
#include <string.h>

void hg_buf_init(hg_buf *b, size_t cap)
{
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    b->cap = cap;
}

void hg_buf_free(hg_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
}

void hg_buf_reset(hg_buf *b)
{
    b->len = 0;
}

hg_err hg_buf_reserve(hg_buf *b, size_t n, uint8_t **out)
{
    if (n > b->cap - b->len) {
        hg_buf_free(b);
        return HG_ERR_TOOBIG;
    }
    size_t need = b->len + n;
    if (need > b->alloc) {
        size_t a = b->alloc ? b->alloc : 256;
        while (a < need)
            a = a > SIZE_MAX / 2 ? need : a * 2;
        if (a > b->cap)
            a = b->cap;
        uint8_t *p = realloc(b->data, a);
        if (!p) {
            hg_buf_free(b);
            return HG_ERR_NOMEM;
        }
        b->data = p;
        b->alloc = a;
    }
    *out = b->data + b->len;
    return HG_OK;
}

void hg_buf_commit(hg_buf *b, size_t n)
{
    b->len += n;
}

hg_err hg_buf_append(hg_buf *b, const void *p, size_t n)
{
    uint8_t *dst;
    hg_err rc = hg_buf_reserve(b, n, &dst);
    if (rc)
        return rc;
    if (n)
        memcpy(dst, p, n);
    b->len += n;
    return HG_OK;
}

uint8_t *hg_buf_take(hg_buf *b, size_t *len)
{
    uint8_t *p = b->data;
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    return p;
}
