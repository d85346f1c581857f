/*
 * xet_hash.c - BLAKE3-keyed hashes of the Xet format and the Xet-hex text form (xet-spec.md 2).
 *
 * Every Xet hash is BLAKE3 in keyed mode with one of four fixed keys; only the key and the
 * message differ.  Xet hex prints each 8-byte group of the raw hash as a little-endian u64, so
 * the bytes of every group appear reversed compared with plain hex.
 */
#include <string.h>

#include <blake3.h>

#include "xet/xet_int.h"

static const char hexdigits[] = "0123456789abcdef";

void xet_hash_to_hex(const xet_hash *h, char out[XET_HEX_LEN + 1])
{
    for (int g = 0; g < 4; g++)
        for (int k = 0; k < 8; k++) {
            uint8_t b = h->b[g * 8 + 7 - k];
            out[g * 16 + 2 * k] = hexdigits[b >> 4];
            out[g * 16 + 2 * k + 1] = hexdigits[b & 15];
        }
    out[XET_HEX_LEN] = '\0';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

hg_err xet_hash_from_hex(const char *s, size_t n, xet_hash *out)
{
    if (n != XET_HEX_LEN)
        return HG_ERR_INVAL;
    xet_hash h;
    for (int g = 0; g < 4; g++)
        for (int k = 0; k < 8; k++) {
            int hi = hexval(s[g * 16 + 2 * k]), lo = hexval(s[g * 16 + 2 * k + 1]);
            if (hi < 0 || lo < 0)
                return HG_ERR_INVAL;
            h.b[g * 8 + 7 - k] = (uint8_t)(hi << 4 | lo);
        }
    *out = h;
    return HG_OK;
}

void xet_bytes_to_hex(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hexdigits[p[i] >> 4];
        out[2 * i + 1] = hexdigits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

int xet_hash_is_zero(const xet_hash *h)
{
    uint8_t acc = 0;
    for (int i = 0; i < 32; i++)
        acc |= h->b[i];
    return acc == 0;
}

int xet_hash_eq(const xet_hash *a, const xet_hash *b)
{
    return memcmp(a->b, b->b, 32) == 0;
}

void xet_keyed_hash(const uint8_t key[32], const void *data, size_t len, xet_hash *out)
{
    blake3_hasher h;
    blake3_hasher_init_keyed(&h, key);
    blake3_hasher_update(&h, data, len);
    blake3_hasher_finalize(&h, out->b, 32);
}

void xet_chunk_hash(const void *data, size_t len, xet_hash *out)
{
    xet_keyed_hash(XET_DATA_KEY, data, len, out);
}

void xet_file_hash_from_root(const xet_hash *root, uint64_t nchunks, xet_hash *out)
{
    static const uint8_t zero_key[32];
    /* The spec's exception: an empty file is all zeros, not keyed(0, zeros). */
    if (nchunks == 0) {
        memset(out->b, 0, 32);
        return;
    }
    xet_keyed_hash(zero_key, root->b, 32, out);
}

void xet_verification_hash(const xet_hash *chunk_hashes, size_t n, xet_hash *out)
{
    xet_keyed_hash(XET_VERIFICATION_KEY, chunk_hashes, n * sizeof *chunk_hashes, out);
}

void xet_hmac(const xet_hash *h, const xet_hash *key, xet_hash *out)
{
    xet_keyed_hash(key->b, h->b, 32, out);
}
