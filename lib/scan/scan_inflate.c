/*
 * scan_inflate.c - a DEFLATE (RFC 1951) decoder for the zip members the scanner must read.
 *
 * Loaders inflate deflated members (miniz in PyTorch, zlib in Python's zipfile and NumPy), so a
 * scanner that cannot is blind exactly where an attacker wants it (security.md 1.6).  The
 * decoder writes into a buffer of the size the central directory declares and fails rather than
 * write past it, so a member can never take more memory than its caller allowed (no bomb); the
 * caller then requires the output to be exactly that size and its CRC-32 to match.
 *
 * Strict where loaders differ: over-subscribed codes, incomplete codes (except a lone one-bit
 * code, which zlib accepts), code-length repeats without a previous length, symbols 286/287 and
 * distances 30/31, distances before the start of the output and a missing end-of-block code are
 * all errors.  Huffman codes are decoded one bit at a time (canonical codes by counts): simple
 * and enough for members of at most tens of MiB; not a general-purpose inflater.
 * No state outside the call; thread-safe.
 */
#include <string.h>

#include "scan/scan_int.h"

#define MAX_BITS  15
#define MAX_LCODE 286 /* literal/length symbols that may appear */
#define MAX_DCODE 30

typedef struct bitin {
    const uint8_t *in;
    size_t len, pos; /* next input byte */
    uint32_t buf;    /* bits not used yet, least significant first */
    unsigned cnt;    /* how many */
    uint8_t *out;
    size_t cap, n;
    const char *why; /* set on failure */
} bitin;

/* Canonical Huffman code: how many codes of each length, and the symbols ordered by code. */
typedef struct huff {
    uint16_t count[MAX_BITS + 1];
    uint16_t sym[288];
} huff;

static int fail(bitin *s, const char *why)
{
    s->why = why;
    return -1;
}

/* n (<= 16) bits into *v. */
static int getbits(bitin *s, unsigned n, unsigned *v)
{
    while (s->cnt < n) {
        if (s->pos == s->len)
            return fail(s, "the stream ends early");
        s->buf |= (uint32_t)s->in[s->pos++] << s->cnt;
        s->cnt += 8;
    }
    *v = s->buf & ((1u << n) - 1);
    s->buf >>= n;
    s->cnt -= n;
    return 0;
}

/* Builds h from code lengths; 0 for a complete code, 1 for an acceptable incomplete one (a
 * single code of one bit, or none at all when allow_empty), -1 otherwise. */
static int huff_build(huff *h, const uint8_t *lens, unsigned n, int allow_empty)
{
    uint16_t offs[MAX_BITS + 2];
    memset(h->count, 0, sizeof h->count);
    for (unsigned i = 0; i < n; i++)
        h->count[lens[i]]++;
    h->count[0] = 0;
    int left = 1;
    for (unsigned len = 1; len <= MAX_BITS; len++) {
        left = (left << 1) - h->count[len];
        if (left < 0)
            return -1; /* over-subscribed */
    }
    offs[1] = 0;
    for (unsigned len = 1; len <= MAX_BITS; len++)
        offs[len + 1] = (uint16_t)(offs[len] + h->count[len]);
    for (unsigned i = 0; i < n; i++)
        if (lens[i])
            h->sym[offs[lens[i]]++] = (uint16_t)i;
    if (left == 0)
        return 0;
    unsigned used = offs[MAX_BITS + 1];
    if ((used == 1 && h->count[1] == 1) || (used == 0 && allow_empty))
        return 1;
    return -1;
}

/* The next symbol of code h, or -1. */
static int huff_decode(bitin *s, const huff *h)
{
    int code = 0, first = 0, index = 0;
    for (unsigned len = 1; len <= MAX_BITS; len++) {
        unsigned b;
        if (getbits(s, 1, &b))
            return -1;
        code |= (int)b;
        int count = h->count[len];
        if (code - first < count)
            return h->sym[index + (code - first)];
        index += count;
        first = (first + count) << 1;
        code <<= 1;
    }
    fail(s, "an invalid Huffman code");
    return -1;
}

static const uint16_t len_base[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                      31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
static const uint8_t len_extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                      2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const uint16_t dist_base[30] = {1,   2,   3,   4,   5,   7,    9,    13,   17,   25,   33,   49,    65,    97,    129,
                                       193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
static const uint8_t dist_extra[30] = {0, 0, 0, 0, 1, 1, 2, 2,  3,  3,  4,  4,  5,  5,  6,
                                       6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

static int put(bitin *s, uint8_t b)
{
    if (s->n == s->cap)
        return fail(s, "more bytes than the directory declares");
    s->out[s->n++] = b;
    return 0;
}

/* The symbols of one compressed block up to its end-of-block code. */
static int codes(bitin *s, const huff *lit, const huff *dist)
{
    for (;;) {
        int sym = huff_decode(s, lit);
        if (sym < 0)
            return -1;
        if (sym < 256) {
            if (put(s, (uint8_t)sym))
                return -1;
            continue;
        }
        if (sym == 256)
            return 0;
        sym -= 257;
        if (sym >= 29)
            return fail(s, "an invalid length symbol");
        unsigned extra, len, d;
        if (getbits(s, len_extra[sym], &extra))
            return -1;
        len = len_base[sym] + extra;
        int ds = huff_decode(s, dist);
        if (ds < 0)
            return -1;
        if (ds >= MAX_DCODE)
            return fail(s, "an invalid distance symbol");
        if (getbits(s, dist_extra[ds], &extra))
            return -1;
        d = dist_base[ds] + extra;
        if (d > s->n)
            return fail(s, "a distance before the start of the output");
        if (len > s->cap - s->n)
            return fail(s, "more bytes than the directory declares");
        /* Byte by byte: the source may overlap what is being written (runs). */
        for (unsigned i = 0; i < len; i++, s->n++)
            s->out[s->n] = s->out[s->n - d];
    }
}

static int stored(bitin *s)
{
    s->buf >>= s->cnt % 8; /* to a byte boundary */
    s->cnt -= s->cnt % 8;
    unsigned len, nlen;
    if (getbits(s, 16, &len) || getbits(s, 16, &nlen))
        return -1;
    if (len != (~nlen & 0xffffu))
        return fail(s, "a stored block whose length check fails");
    for (; len && s->cnt; len--) { /* bytes already in the bit buffer first */
        unsigned b;
        if (getbits(s, 8, &b) || put(s, (uint8_t)b))
            return -1;
    }
    if (len > s->len - s->pos)
        return fail(s, "the stream ends early");
    if (len > s->cap - s->n)
        return fail(s, "more bytes than the directory declares");
    memcpy(s->out + s->n, s->in + s->pos, len);
    s->n += len;
    s->pos += len;
    return 0;
}

static int fixed(bitin *s)
{
    uint8_t lens[288];
    huff lit, dist;
    memset(lens, 8, 144);
    memset(lens + 144, 9, 112);
    memset(lens + 256, 7, 24);
    memset(lens + 280, 8, 8);
    if (huff_build(&lit, lens, 288, 0) < 0)
        return fail(s, "internal: fixed code");
    memset(lens, 5, 32); /* 30 and 31 are codes that must not occur (codes() rejects them) */
    if (huff_build(&dist, lens, 32, 0) < 0)
        return fail(s, "internal: fixed code");
    return codes(s, &lit, &dist);
}

static int dynamic(bitin *s)
{
    static const uint8_t order[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
    unsigned hlit, hdist, hclen;
    if (getbits(s, 5, &hlit) || getbits(s, 5, &hdist) || getbits(s, 4, &hclen))
        return -1;
    hlit += 257;
    hdist += 1;
    hclen += 4;
    if (hlit > MAX_LCODE || hdist > MAX_DCODE)
        return fail(s, "too many length or distance codes");
    uint8_t lens[MAX_LCODE + MAX_DCODE] = {0};
    for (unsigned i = 0; i < hclen; i++) {
        unsigned v;
        if (getbits(s, 3, &v))
            return -1;
        lens[order[i]] = (uint8_t)v;
    }
    huff lencode, lit, dist;
    if (huff_build(&lencode, lens, 19, 0) != 0)
        return fail(s, "an invalid code-length code");
    memset(lens, 0, sizeof lens);
    for (unsigned i = 0; i < hlit + hdist;) {
        int sym = huff_decode(s, &lencode);
        if (sym < 0)
            return -1;
        if (sym < 16) {
            lens[i++] = (uint8_t)sym;
            continue;
        }
        unsigned rep, v;
        uint8_t val = 0;
        if (sym == 16) {
            if (i == 0)
                return fail(s, "a repeated length with no length before it");
            val = lens[i - 1];
            if (getbits(s, 2, &v))
                return -1;
            rep = 3 + v;
        } else if (sym == 17) {
            if (getbits(s, 3, &v))
                return -1;
            rep = 3 + v;
        } else {
            if (getbits(s, 7, &v))
                return -1;
            rep = 11 + v;
        }
        if (rep > hlit + hdist - i)
            return fail(s, "code lengths beyond the declared count");
        while (rep--)
            lens[i++] = val;
    }
    if (lens[256] == 0)
        return fail(s, "a block without an end-of-block code");
    if (huff_build(&lit, lens, hlit, 0) < 0)
        return fail(s, "an invalid literal/length code");
    /* No distance code at all is legal for a block of literals only. */
    if (huff_build(&dist, lens + hlit, hdist, 1) < 0)
        return fail(s, "an invalid distance code");
    return codes(s, &lit, &dist);
}

int scan_inflate(const uint8_t *in, size_t in_len, uint8_t *out, size_t cap, size_t *out_len, const char **why)
{
    bitin s = {.in = in, .len = in_len, .out = out, .cap = cap};
    unsigned last = 0, type;
    int rc = 0;
    while (!rc && !last) {
        if (getbits(&s, 1, &last) || getbits(&s, 2, &type)) {
            rc = -1;
            break;
        }
        if (type == 0)
            rc = stored(&s);
        else if (type == 1)
            rc = fixed(&s);
        else if (type == 2)
            rc = dynamic(&s);
        else
            rc = fail(&s, "a block of the reserved type 3");
    }
    *out_len = s.n;
    if (why)
        *why = rc ? s.why : NULL;
    return rc;
}
