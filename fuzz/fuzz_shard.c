/* libFuzzer target: the shard parser must reject or accept any bytes without reading out of
 * bounds or leaking; what it accepts must serialize, in both forms, to bytes that parse back to
 * the same files and xorbs. */
#include <stdlib.h>
#include <string.h>

#include "xet/xet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same_shard(const xet_shard *a, const xet_shard *b)
{
    if (a->version != b->version || a->nfiles != b->nfiles || a->nxorbs != b->nxorbs)
        return 0;
    for (size_t i = 0; i < a->nfiles; i++) {
        const xet_shard_file *fa = &a->files[i], *fb = &b->files[i];
        if (!xet_hash_eq(&fa->file_hash, &fb->file_hash) || fa->flags != fb->flags ||
            fa->nterms != fb->nterms || memcmp(fa->sha256, fb->sha256, 32) != 0)
            return 0;
        for (uint32_t t = 0; t < fa->nterms; t++) {
            const xet_shard_term *ta = &fa->terms[t], *tb = &fb->terms[t];
            if (!xet_hash_eq(&ta->xorb_hash, &tb->xorb_hash) || ta->xorb_flags != tb->xorb_flags ||
                ta->unpacked_bytes != tb->unpacked_bytes || ta->chunk_start != tb->chunk_start ||
                ta->chunk_end != tb->chunk_end ||
                !xet_hash_eq(&ta->verification, &tb->verification))
                return 0;
        }
    }
    for (size_t i = 0; i < a->nxorbs; i++) {
        const xet_shard_xorb *xa = &a->xorbs[i], *xb = &b->xorbs[i];
        if (!xet_hash_eq(&xa->xorb_hash, &xb->xorb_hash) || xa->flags != xb->flags ||
            xa->nchunks != xb->nchunks || xa->raw_bytes != xb->raw_bytes ||
            xa->bytes_on_disk != xb->bytes_on_disk)
            return 0;
        for (uint32_t c = 0; c < xa->nchunks; c++) {
            const xet_shard_chunk *ca = &xa->chunks[c], *cb = &xb->chunks[c];
            if (!xet_hash_eq(&ca->hash, &cb->hash) || ca->raw_off != cb->raw_off ||
                ca->raw_len != cb->raw_len || ca->flags != cb->flags)
                return 0;
        }
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    xet_shard *s = NULL;
    if (xet_shard_parse(data, size, &s) != HG_OK) {
        if (s)
            abort(); /* a failed parse hands nothing back */
        return 0;
    }
    for (int footer = 0; footer <= 1; footer++) {
        hg_buf out;
        hg_err rc = xet_shard_serialize(s, footer, 1700000000u, &out);
        if (rc == HG_ERR_TOOBIG)
            continue; /* the footer and a bookend may push a shard at the limit past it */
        if (rc)
            abort();
        xet_shard *t = NULL;
        if (xet_shard_parse(out.data, out.len, &t) != HG_OK || t->has_footer != footer ||
            !same_shard(s, t))
            abort();
        /* The canonical form is a fixed point: serializing again gives the same bytes. */
        hg_buf again;
        if (xet_shard_serialize(t, footer, 1700000000u, &again) != HG_OK || again.len != out.len ||
            memcmp(again.data, out.data, out.len) != 0)
            abort();
        hg_buf_free(&again);
        hg_buf_free(&out);
        xet_shard_free(&t);
    }
    xet_shard_free(&s);
    return 0;
}
