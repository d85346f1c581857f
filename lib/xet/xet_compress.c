/*
 * xet_compress.c - chunk records: the 8-byte header and the three payload schemes
 * (xet-spec.md 3.1, 3.2).
 *
 * LZ4 payloads are complete LZ4 *frames*.  We write one independent block per chunk (chunks are
 * at most 128 KiB, so a 256 KiB block size always holds one) and no checksums: no hash covers
 * compressed bytes, so any valid frame is acceptable to every reader.  The reader accepts any
 * valid frame (liblz4's frame decoder) but insists that the payload is exactly one frame and
 * that it decodes to exactly the header's uncompressed length.
 *
 * A codec owns liblz4 contexts and scratch space; it is reused across chunks by one thread.
 */
#include <stdlib.h>
#include <string.h>

#include <lz4.h>
#include <lz4frame.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "xet/xet_int.h"

struct xet_codec {
    LZ4F_cctx *cctx;
    LZ4F_dctx *dctx;
    LZ4F_preferences_t prefs;
    size_t frame_bound;   /* LZ4 frame bound for XET_MAX_CHUNK bytes */
    uint8_t *grouped;     /* XET_MAX_CHUNK: BG4-transformed input or output */
    uint8_t *alt;         /* frame_bound: the second candidate payload */
};

hg_err xet_codec_new(xet_codec **out)
{
    xet_codec *cx = calloc(1, sizeof *cx);
    if (!cx)
        return HG_ERR_NOMEM;
    cx->prefs.frameInfo.blockSizeID = LZ4F_max256KB;
    cx->prefs.frameInfo.blockMode = LZ4F_blockIndependent;
    cx->prefs.autoFlush = 1;
    cx->frame_bound = LZ4F_HEADER_SIZE_MAX + LZ4F_compressBound(XET_MAX_CHUNK, &cx->prefs);
    cx->grouped = malloc(XET_MAX_CHUNK);
    cx->alt = malloc(cx->frame_bound);
    if (!cx->grouped || !cx->alt || LZ4F_isError(LZ4F_createCompressionContext(&cx->cctx, LZ4F_VERSION)) ||
        LZ4F_isError(LZ4F_createDecompressionContext(&cx->dctx, LZ4F_VERSION))) {
        xet_codec_free(&cx);
        return HG_ERR_NOMEM;
    }
    *out = cx;
    return HG_OK;
}

void xet_codec_free(xet_codec **pcx)
{
    xet_codec *cx = *pcx;
    if (!cx)
        return;
    if (cx->cctx)
        LZ4F_freeCompressionContext(cx->cctx);
    if (cx->dctx)
        LZ4F_freeDecompressionContext(cx->dctx);
    free(cx->grouped);
    free(cx->alt);
    free(cx);
    *pcx = NULL;
}

hg_err xet_chunk_header_parse(const uint8_t *p, size_t n, xet_chunk_header *out)
{
    if (n < XET_CHUNK_HEADER_LEN)
        return HG_ERR_CORRUPT;
    if (!memcmp(p, "XETBLOB", 7))
        return HG_ERR_CORRUPT; /* a server-side footer, not a record */
    xet_chunk_header h = {
        .version = p[0],
        .stored_len = xet_le24(p + 1),
        .scheme = p[4],
        .raw_len = xet_le24(p + 5),
    };
    if (h.version != 0 || h.raw_len > XET_MAX_CHUNK || h.stored_len > 2 * XET_MAX_CHUNK)
        return HG_ERR_CORRUPT;
    if (h.scheme != XET_SCHEME_NONE && h.scheme != XET_SCHEME_LZ4 && h.scheme != XET_SCHEME_BG4_LZ4)
        return HG_ERR_CORRUPT;
    if (h.scheme == XET_SCHEME_NONE && h.stored_len != h.raw_len)
        return HG_ERR_CORRUPT;
    *out = h;
    return HG_OK;
}

void xet_chunk_header_write(const xet_chunk_header *h, uint8_t out[XET_CHUNK_HEADER_LEN])
{
    out[0] = h->version;
    xet_put24(out + 1, h->stored_len);
    out[4] = h->scheme;
    xet_put24(out + 5, h->raw_len);
}

void xet_bg4_split(const uint8_t *src, size_t n, uint8_t *dst)
{
    size_t q = n / 4, r = n % 4;
    uint8_t *g0 = dst, *g1 = g0 + q + (r > 0), *g2 = g1 + q + (r > 1), *g3 = g2 + q + (r > 2);
    size_t i = 0;
#if defined(__SSE2__)
    /* The inverse transpose: de-interleave 64 bytes into 16 bytes of each group. */
    for (; i + 16 <= q; i += 16) {
        __m128i x0 = _mm_loadu_si128((const __m128i *)(src + 4 * i));
        __m128i x1 = _mm_loadu_si128((const __m128i *)(src + 4 * i + 16));
        __m128i x2 = _mm_loadu_si128((const __m128i *)(src + 4 * i + 32));
        __m128i x3 = _mm_loadu_si128((const __m128i *)(src + 4 * i + 48));
        /* An unpack of a register pair is a perfect shuffle of its 32 bytes (the index rotates
         * left one bit); three rounds bring i mod 4 to the top: 8 bytes of each group. */
        for (int round = 0; round < 3; round++) {
            __m128i y0 = _mm_unpacklo_epi8(x0, x1), y1 = _mm_unpackhi_epi8(x0, x1);
            __m128i y2 = _mm_unpacklo_epi8(x2, x3), y3 = _mm_unpackhi_epi8(x2, x3);
            x0 = y0;
            x1 = y1;
            x2 = y2;
            x3 = y3;
        }
        /* x0/x1 hold groups of the first 32 bytes, x2/x3 of the last 32 (8 bytes per group
         * per half): combine the halves. */
        _mm_storeu_si128((__m128i *)(g0 + i), _mm_unpacklo_epi64(x0, x2));
        _mm_storeu_si128((__m128i *)(g1 + i), _mm_unpackhi_epi64(x0, x2));
        _mm_storeu_si128((__m128i *)(g2 + i), _mm_unpacklo_epi64(x1, x3));
        _mm_storeu_si128((__m128i *)(g3 + i), _mm_unpackhi_epi64(x1, x3));
    }
#endif
    for (; i < q; i++) {
        g0[i] = src[4 * i];
        g1[i] = src[4 * i + 1];
        g2[i] = src[4 * i + 2];
        g3[i] = src[4 * i + 3];
    }
    if (r > 0)
        g0[q] = src[4 * q];
    if (r > 1)
        g1[q] = src[4 * q + 1];
    if (r > 2)
        g2[q] = src[4 * q + 2];
}

void xet_bg4_join(const uint8_t *src, size_t n, uint8_t *dst)
{
    size_t q = n / 4, r = n % 4;
    const uint8_t *g0 = src, *g1 = g0 + q + (r > 0), *g2 = g1 + q + (r > 1),
                  *g3 = g2 + q + (r > 2);
    size_t i = 0;
#if defined(__SSE2__)
    /* Interleave 16 bytes of each group per step: a 4x16 byte transpose with unpacks. */
    for (; i + 16 <= q; i += 16) {
        __m128i a = _mm_loadu_si128((const __m128i *)(g0 + i));
        __m128i b = _mm_loadu_si128((const __m128i *)(g1 + i));
        __m128i c = _mm_loadu_si128((const __m128i *)(g2 + i));
        __m128i d = _mm_loadu_si128((const __m128i *)(g3 + i));
        __m128i ab_lo = _mm_unpacklo_epi8(a, b), ab_hi = _mm_unpackhi_epi8(a, b);
        __m128i cd_lo = _mm_unpacklo_epi8(c, d), cd_hi = _mm_unpackhi_epi8(c, d);
        _mm_storeu_si128((__m128i *)(dst + 4 * i), _mm_unpacklo_epi16(ab_lo, cd_lo));
        _mm_storeu_si128((__m128i *)(dst + 4 * i + 16), _mm_unpackhi_epi16(ab_lo, cd_lo));
        _mm_storeu_si128((__m128i *)(dst + 4 * i + 32), _mm_unpacklo_epi16(ab_hi, cd_hi));
        _mm_storeu_si128((__m128i *)(dst + 4 * i + 48), _mm_unpackhi_epi16(ab_hi, cd_hi));
    }
#endif
    for (; i < q; i++) {
        dst[4 * i] = g0[i];
        dst[4 * i + 1] = g1[i];
        dst[4 * i + 2] = g2[i];
        dst[4 * i + 3] = g3[i];
    }
    if (r > 0)
        dst[4 * q] = g0[q];
    if (r > 1)
        dst[4 * q + 1] = g1[q];
    if (r > 2)
        dst[4 * q + 2] = g2[q];
}

size_t xet_record_bound(size_t raw_len)
{
    LZ4F_preferences_t prefs = {0};
    prefs.frameInfo.blockSizeID = LZ4F_max256KB;
    prefs.frameInfo.blockMode = LZ4F_blockIndependent;
    prefs.autoFlush = 1;
    size_t fb = LZ4F_HEADER_SIZE_MAX + LZ4F_compressBound(raw_len, &prefs);
    return XET_CHUNK_HEADER_LEN + (fb > raw_len ? fb : raw_len);
}

/* One LZ4 frame of src into dst; returns its length, or 0 if it failed or does not fit. */
static size_t lz4_frame(xet_codec *cx, const uint8_t *src, size_t n, uint8_t *dst, size_t cap)
{
    size_t pos = LZ4F_compressBegin(cx->cctx, dst, cap, &cx->prefs);
    if (LZ4F_isError(pos))
        return 0;
    size_t r = LZ4F_compressUpdate(cx->cctx, dst + pos, cap - pos, src, n, NULL);
    if (LZ4F_isError(r))
        return 0;
    pos += r;
    r = LZ4F_compressEnd(cx->cctx, dst + pos, cap - pos, NULL);
    if (LZ4F_isError(r))
        return 0;
    return pos + r;
}

hg_err xet_record_encode(xet_codec *cx, const uint8_t *raw, size_t len, xet_scheme scheme,
                         uint8_t *out, size_t cap, size_t *written)
{
    if (len > XET_MAX_CHUNK)
        return HG_ERR_TOOBIG;
    if (cap < xet_record_bound(len))
        return HG_ERR_INVAL;
    uint8_t *payload = out + XET_CHUNK_HEADER_LEN;
    size_t pcap = cap - XET_CHUNK_HEADER_LEN;
    size_t stored = 0;
    uint8_t used = XET_SCHEME_NONE;

    if (scheme == XET_SCHEME_LZ4 || scheme == XET_SCHEME_AUTO) {
        stored = lz4_frame(cx, raw, len, payload, pcap);
        used = XET_SCHEME_LZ4;
    }
    if (scheme == XET_SCHEME_BG4_LZ4 || scheme == XET_SCHEME_AUTO) {
        xet_bg4_split(raw, len, cx->grouped);
        size_t alt = lz4_frame(cx, cx->grouped, len, cx->alt, cx->frame_bound);
        /* Keep BG4 only when strictly smaller, as the references do. */
        if (alt && (!stored || alt < stored)) {
            memcpy(payload, cx->alt, alt);
            stored = alt;
            used = XET_SCHEME_BG4_LZ4;
        }
    }
    /* Store raw unless compression made the payload strictly shorter than the chunk. */
    if (scheme != XET_SCHEME_NONE && stored == 0)
        return HG_ERR_NOMEM; /* liblz4 failed with enough room: treat as resource failure */
    if (scheme == XET_SCHEME_NONE || (scheme == XET_SCHEME_AUTO && stored >= len)) {
        if (len)
            memcpy(payload, raw, len);
        stored = len;
        used = XET_SCHEME_NONE;
    }
    xet_chunk_header h = {.version = 0, .stored_len = (uint32_t)stored, .scheme = used,
                          .raw_len = (uint32_t)len};
    xet_chunk_header_write(&h, out);
    *written = XET_CHUNK_HEADER_LEN + stored;
    return HG_OK;
}

/* XXH32 of a frame descriptor (at most 14 bytes, so only the short-input path of the
 * algorithm applies): the LZ4 frame header checksum is (XXH32(descriptor, 0) >> 8) & 0xFF. */
static uint32_t xxh32_short(const uint8_t *p, size_t len)
{
    const uint32_t P1 = 0x9E3779B1u, P2 = 0x85EBCA77u, P3 = 0xC2B2AE3Du, P4 = 0x27D4EB2Fu,
                   P5 = 0x165667B1u;
    uint32_t h = P5 + (uint32_t)len;
    size_t i = 0;
    for (; i + 4 <= len; i += 4) {
        h += xet_le32(p + i) * P3;
        h = ((h << 17) | (h >> 15)) * P4;
    }
    for (; i < len; i++) {
        h += p[i] * P5;
        h = ((h << 11) | (h >> 21)) * P1;
    }
    h ^= h >> 15;
    h *= P2;
    h ^= h >> 13;
    h *= P3;
    h ^= h >> 16;
    return h;
}

/* The general decoder: liblz4's frame API (checksums, dictionary ids, anything valid). */
static hg_err lz4_unframe_lib(xet_codec *cx, const uint8_t *src, size_t srclen, uint8_t *dst,
                              size_t n)
{
    LZ4F_resetDecompressionContext(cx->dctx);
    size_t in = 0, produced = 0, hint = 1;
    while (in < srclen) {
        size_t dlen = n - produced, slen = srclen - in;
        hint = LZ4F_decompress(cx->dctx, dst + produced, &dlen, src + in, &slen, NULL);
        if (LZ4F_isError(hint))
            return HG_ERR_CORRUPT;
        in += slen;
        produced += dlen;
        if (hint == 0)
            break; /* frame complete */
        if (slen == 0 && dlen == 0)
            return HG_ERR_CORRUPT; /* output full but the frame wants to go on */
    }
    if (hint != 0 || in != srclen || produced != n)
        return HG_ERR_CORRUPT;
    return HG_OK;
}

/*
 * Decodes exactly one LZ4 frame filling exactly n bytes of dst.  Frames without checksums or a
 * dictionary id (what huggingface.js, xet-core and hubgate write) are decoded block by block
 * straight into dst; linked blocks use the output already written as their dictionary.  Other
 * frames go through liblz4's frame decoder, which verifies their checksums.
 */
static hg_err lz4_unframe(xet_codec *cx, const uint8_t *src, size_t srclen, uint8_t *dst, size_t n)
{
    if (srclen < 7 || xet_le32(src) != 0x184D2204u)
        return lz4_unframe_lib(cx, src, srclen, dst, n);
    uint8_t flg = src[4], bd = src[5];
    int indep = flg & 0x20, bsum = flg & 0x10, csize = flg & 0x08, csum = flg & 0x04, dict = flg & 0x01;
    if ((flg >> 6) != 1 || (flg & 0x02) || (bd & 0x8F) || ((bd >> 4) & 7) < 4)
        return HG_ERR_CORRUPT;
    if (bsum || csum || dict)
        return lz4_unframe_lib(cx, src, srclen, dst, n);
    size_t desc = 2 + (csize ? 8 : 0);
    if (srclen < 4 + desc + 1)
        return HG_ERR_CORRUPT;
    if (((xxh32_short(src + 4, desc) >> 8) & 0xFF) != src[4 + desc])
        return HG_ERR_CORRUPT;
    if (csize && xet_le64(src + 6) != n)
        return HG_ERR_CORRUPT;
    size_t block_max = (size_t)1 << (8 + 2 * ((bd >> 4) & 7)); /* 64 KiB .. 4 MiB */
    size_t pos = 4 + desc + 1, out = 0;
    for (;;) {
        if (srclen - pos < 4)
            return HG_ERR_CORRUPT;
        uint32_t word = xet_le32(src + pos);
        pos += 4;
        if (word == 0)
            break; /* EndMark */
        size_t bsize = word & 0x7FFFFFFFu;
        if (bsize > block_max || bsize > srclen - pos)
            return HG_ERR_CORRUPT;
        if (word & 0x80000000u) { /* stored block */
            if (bsize > n - out)
                return HG_ERR_CORRUPT;
            memcpy(dst + out, src + pos, bsize);
            out += bsize;
        } else {
            size_t room = n - out < block_max ? n - out : block_max;
            int got = indep || out == 0
                          ? LZ4_decompress_safe((const char *)src + pos, (char *)dst + out, (int)bsize, (int)room)
                          : LZ4_decompress_safe_usingDict((const char *)src + pos, (char *)dst + out, (int)bsize,
                                                          (int)room, (const char *)dst, (int)out);
            if (got < 0)
                return HG_ERR_CORRUPT;
            out += (size_t)got;
        }
        pos += bsize;
    }
    return pos == srclen && out == n ? HG_OK : HG_ERR_CORRUPT;
}

hg_err xet_record_decode(xet_codec *cx, const uint8_t *rec, size_t avail, uint8_t *out,
                         size_t out_cap, size_t *raw_len, size_t *rec_len)
{
    xet_chunk_header h;
    hg_err rc = xet_chunk_header_parse(rec, avail, &h);
    if (rc)
        return rc;
    if (h.stored_len > avail - XET_CHUNK_HEADER_LEN)
        return HG_ERR_CORRUPT;
    if (h.raw_len > out_cap)
        return HG_ERR_INVAL;
    const uint8_t *payload = rec + XET_CHUNK_HEADER_LEN;
    switch (h.scheme) {
    case XET_SCHEME_NONE:
        if (h.raw_len)
            memcpy(out, payload, h.raw_len);
        break;
    case XET_SCHEME_LZ4:
        rc = lz4_unframe(cx, payload, h.stored_len, out, h.raw_len);
        break;
    default: /* XET_SCHEME_BG4_LZ4; the header parser admits nothing else */
        rc = lz4_unframe(cx, payload, h.stored_len, cx->grouped, h.raw_len);
        if (!rc)
            xet_bg4_join(cx->grouped, h.raw_len, out);
        break;
    }
    if (rc)
        return rc;
    *raw_len = h.raw_len;
    *rec_len = XET_CHUNK_HEADER_LEN + h.stored_len;
    return HG_OK;
}
