/* libFuzzer target: the streaming chunker must give exactly the one-shot chunks whatever the
 * feed sizes.  The first bytes of the input choose the variant and the feed sizes. */
#include <stdlib.h>
#include <string.h>

#include "xet/xet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct expect {
    const uint8_t *base;
    const size_t *lens;
    size_t n, next, pos;
} expect;

static int check(void *arg, const uint8_t *chunk, size_t len)
{
    expect *e = arg;
    if (e->next >= e->n || e->lens[e->next] != len || memcmp(chunk, e->base + e->pos, len))
        abort();
    e->next++;
    e->pos += len;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    xet_variant v = data[0] & 1 ? XET_VARIANT_L : XET_VARIANT_M;
    size_t feeds[3] = {1u + data[1] * 37u, 1u + data[2] * 1021u, 1u + data[3]};
    data += 4;
    size -= 4;
    /* Small inputs never cut; repeating the input makes longer streams with real boundaries. */
    size_t reps = size ? 1 + (300000 / (size + 1)) % 64 : 1;
    size_t n = size * reps;
    uint8_t *buf = malloc(n ? n : 1);
    size_t *lens = malloc((n / 8128 + 2) * sizeof *lens);
    if (!buf || !lens)
        abort();
    for (size_t r = 0; r < reps; r++)
        memcpy(buf + r * size, data, size);
    size_t nchunks = 0;
    for (size_t pos = 0; pos < n;) {
        size_t len = xet_next_chunk_len(buf + pos, n - pos, v);
        if (len == 0 || len > XET_MAX_CHUNK || (pos + len < n && len < 8128))
            abort();
        lens[nchunks++] = len;
        pos += len;
    }
    expect e = {buf, lens, nchunks, 0, 0};
    xet_chunker c;
    if (xet_chunker_init(&c, v))
        abort();
    for (size_t pos = 0, k = 0; pos < n; k++) {
        size_t piece = feeds[k % 3];
        if (piece > n - pos)
            piece = n - pos;
        if (xet_chunker_feed(&c, buf + pos, piece, check, &e))
            abort();
        pos += piece;
    }
    if (xet_chunker_finish(&c, check, &e) || e.next != nchunks)
        abort();
    xet_chunker_free(&c);
    free(lens);
    free(buf);
    return 0;
}
