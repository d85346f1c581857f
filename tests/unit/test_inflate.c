/*
 * The scanner's DEFLATE decoder (lib/scan/scan_inflate.c): streams from zlib (as byte vectors),
 * streams written here bit by bit to reach each error path, and the promise that it never writes
 * more than the capacity it is given.  The Xet test vectors are not used.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scan/scan_int.h"
#include "testutil.h"

/* A DEFLATE bit writer: header fields go least significant bit first, Huffman codes most
 * significant bit first (RFC 1951 3.1.1). */
typedef struct bitout {
    uint8_t b[256];
    size_t bits;
} bitout;

static void put_bits(bitout *w, unsigned v, unsigned n)
{
    for (unsigned i = 0; i < n; i++, w->bits++)
        if (v >> i & 1)
            w->b[w->bits / 8] |= (uint8_t)(1u << (w->bits % 8));
}

static void put_code(bitout *w, unsigned code, unsigned len)
{
    for (unsigned i = len; i-- > 0; w->bits++)
        if (code >> i & 1)
            w->b[w->bits / 8] |= (uint8_t)(1u << (w->bits % 8));
}

/* A symbol of the fixed literal/length code. */
static void put_fixed(bitout *w, unsigned sym)
{
    if (sym < 144)
        put_code(w, 0x30 + sym, 8);
    else if (sym < 256)
        put_code(w, 0x190 + sym - 144, 9);
    else if (sym < 280)
        put_code(w, sym - 256, 7);
    else
        put_code(w, 0xc0 + sym - 280, 8);
}

/* A final dynamic block's header with HCLEN + 4 code-length code lengths (in RFC order). */
static void dynamic_header(bitout *w, unsigned hlit, unsigned hdist, unsigned hclen, const unsigned *cl)
{
    put_bits(w, 1, 1);
    put_bits(w, 2, 2);
    put_bits(w, hlit, 5);
    put_bits(w, hdist, 5);
    put_bits(w, hclen, 4);
    for (unsigned i = 0; i < hclen + 4; i++)
        put_bits(w, cl[i], 3);
}

static size_t bytes_of(const bitout *w)
{
    return (w->bits + 7) / 8;
}

/* Inflates and checks the outcome: want == NULL means failure with a reason containing why. */
static void expect(const uint8_t *in, size_t n, size_t cap, const char *want, size_t want_len, const char *why)
{
    uint8_t *out = malloc(cap + 16);
    assert_non_null(out);
    memset(out, 0xee, cap + 16);
    size_t got = 99999;
    const char *reason = "unset";
    int rc = scan_inflate(in, n, out, cap, &got, &reason);
    for (size_t i = cap; i < cap + 16; i++)
        assert_int_equal(out[i], 0xee); /* nothing past the capacity */
    assert_true(got <= cap);
    if (want) {
        if (rc != 0)
            fail_msg("inflate failed: %s", reason);
        assert_null(reason);
        assert_int_equal(got, want_len);
        assert_memory_equal(out, want, want_len);
    } else {
        assert_int_equal(rc, -1);
        assert_non_null(reason);
        if (!strstr(reason, why))
            fail_msg("reason \"%s\", want \"%s\"", reason, why);
    }
    free(out);
}

static void test_zlib_streams(void **state)
{
    (void)state;
    static const uint8_t fixed_abc[] = {0x4b, 0x4c, 0x4a, 0x06, 0x00};                           /* level 6 */
    static const uint8_t stored_hello[] = {0x01, 0x05, 0x00, 0xfa, 0xff, 'h', 'e', 'l', 'l', 'o'}; /* level 0 */
    expect(fixed_abc, sizeof fixed_abc, 3, "abc", 3, NULL);
    expect(stored_hello, sizeof stored_hello, 5, "hello", 5, NULL);
    expect(stored_hello, sizeof stored_hello, 64, "hello", 5, NULL); /* a larger buffer is fine */
    /* The empty stream: one final fixed block with only its end code. */
    static const uint8_t empty[] = {0x03, 0x00};
    expect(empty, sizeof empty, 0, "", 0, NULL);
}

static void test_overlapping_match(void **state)
{
    (void)state;
    bitout w = {0};
    put_bits(&w, 1, 1); /* final */
    put_bits(&w, 1, 2); /* fixed */
    put_fixed(&w, 'a');
    put_fixed(&w, 257 + 6); /* length 9 */
    put_code(&w, 0, 5);     /* distance 1: the run copies what it writes */
    put_fixed(&w, 256);
    expect(w.b, bytes_of(&w), 10, "aaaaaaaaaa", 10, NULL);
    expect(w.b, bytes_of(&w), 9, NULL, 0, "more bytes than the directory declares");
    expect(w.b, bytes_of(&w), 1, NULL, 0, "more bytes than the directory declares");
}

static void test_errors(void **state)
{
    (void)state;
    static const uint8_t fixed_abc[] = {0x4b, 0x4c, 0x4a, 0x06, 0x00};
    expect(fixed_abc, sizeof fixed_abc - 2, 3, NULL, 0, "ends early");
    expect(fixed_abc, 0, 3, NULL, 0, "ends early");
    expect(fixed_abc, sizeof fixed_abc, 2, NULL, 0, "more bytes than the directory declares");

    static const uint8_t reserved[] = {0x07};
    expect(reserved, sizeof reserved, 8, NULL, 0, "reserved type 3");

    static const uint8_t bad_nlen[] = {0x01, 0x05, 0x00, 0x00, 0x00, 'h', 'e', 'l', 'l', 'o'};
    expect(bad_nlen, sizeof bad_nlen, 8, NULL, 0, "length check");
    static const uint8_t short_stored[] = {0x01, 0x05, 0x00, 0xfa, 0xff, 'h', 'e'};
    expect(short_stored, sizeof short_stored, 8, NULL, 0, "ends early");

    bitout far = {0};
    put_bits(&far, 1, 1);
    put_bits(&far, 1, 2);
    put_fixed(&far, 257); /* length 3 with nothing written yet */
    put_code(&far, 0, 5);
    put_fixed(&far, 256);
    expect(far.b, bytes_of(&far), 8, NULL, 0, "distance before the start");

    bitout d30 = {0};
    put_bits(&d30, 1, 1);
    put_bits(&d30, 1, 2);
    put_fixed(&d30, 'a');
    put_fixed(&d30, 257);
    put_code(&d30, 30, 5); /* distance symbols 30 and 31 do not exist */
    expect(d30.b, bytes_of(&d30), 8, NULL, 0, "invalid distance symbol");

    bitout l286 = {0};
    put_bits(&l286, 1, 1);
    put_bits(&l286, 1, 2);
    put_fixed(&l286, 286);
    expect(l286.b, bytes_of(&l286), 8, NULL, 0, "invalid length symbol");

    bitout noend = {0}; /* a block without its end code: the stream ends early */
    put_bits(&noend, 1, 1);
    put_bits(&noend, 1, 2);
    put_fixed(&noend, 'a');
    expect(noend.b, bytes_of(&noend), 8, NULL, 0, "ends early");
}

static void test_dynamic_header_errors(void **state)
{
    (void)state;
    /* Four code-length codes all of one bit: over-subscribed. */
    bitout over = {0};
    dynamic_header(&over, 0, 0, 0, (const unsigned[]){1, 1, 1, 1});
    expect(over.b, bytes_of(&over), 8, NULL, 0, "code-length code");

    /* A repeat (16) as the very first code length.  Code lengths 16 and 0 get one bit each. */
    bitout rep = {0};
    dynamic_header(&rep, 0, 0, 0, (const unsigned[]){1, 0, 0, 1}); /* order: 16, 17, 18, 0 */
    put_code(&rep, 1, 1); /* canonical: symbol 0 gets code 0, symbol 16 code 1 */
    put_bits(&rep, 0, 2);
    expect(rep.b, bytes_of(&rep), 8, NULL, 0, "no length before it");

    /* Too many literal/length codes: HLIT 257 + 30 = 287 > 286. */
    bitout many = {0};
    dynamic_header(&many, 30, 0, 0, (const unsigned[]){0, 0, 0, 0});
    expect(many.b, bytes_of(&many), 8, NULL, 0, "too many");
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zlib_streams),
        cmocka_unit_test(test_overlapping_match),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_dynamic_header_errors),
    };
    return tu_main(argc, argv, "inflate", tests, sizeof tests / sizeof tests[0]);
}
