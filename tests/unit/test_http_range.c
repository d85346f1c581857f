/*
 * HTTP byte ranges (lib/http/http_range): Range parsing against RFC 9110 section 14 and the
 * decisions documented in http_range.h, Content-Range strings, and multipart/byteranges bodies
 * whose announced length must match the bytes actually built.  The test vectors are not used.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_range.h"
#include "testutil.h"

#define U64MAX_DEC "18446744073709551615" /* UINT64_MAX */
#define U64OVF_DEC "18446744073709551616" /* UINT64_MAX + 1 */

/* Short names for the case tables. */
#define RG_NONE HTTP_RANGE_NONE
#define RG_IGN  HTTP_RANGE_IGNORE
#define RG_OK   HTTP_RANGE_OK
#define RG_416  HTTP_RANGE_UNSATISFIABLE
#define RG_MANY HTTP_RANGE_TOO_MANY

typedef struct range_case {
    const char *value;
    uint64_t size;
    http_range_result rc;
    size_t n;
    http_range r[4];
} range_case;

static void check_cases(const range_case *cases, size_t ncases, size_t max)
{
    for (size_t c = 0; c < ncases; c++) {
        const range_case *k = &cases[c];
        http_range out[8];
        size_t n = 12345;
        memset(out, 0xa5, sizeof out);
        http_range_result rc = http_range_parse(k->value, k->size, out, max, &n);
        if (rc != k->rc)
            fail_msg("\"%s\" (size %llu): got %s, want %s", k->value ? k->value : "(null)",
                     (unsigned long long)k->size, http_range_result_str(rc),
                     http_range_result_str(k->rc));
        if (n != k->n)
            fail_msg("\"%s\": got %zu ranges, want %zu", k->value, n, k->n);
        for (size_t i = 0; i < n; i++) {
            if (out[i].start != k->r[i].start || out[i].end != k->r[i].end)
                fail_msg("\"%s\" range %zu: got %llu-%llu, want %llu-%llu", k->value, i,
                         (unsigned long long)out[i].start, (unsigned long long)out[i].end,
                         (unsigned long long)k->r[i].start, (unsigned long long)k->r[i].end);
            assert_true(out[i].start <= out[i].end && out[i].end < k->size);
        }
    }
}

#define NCASES(a) (sizeof(a) / sizeof((a)[0]))

static void test_parse_basic(void **state)
{
    (void)state;
    static const range_case cases[] = {
        {NULL, 100, RG_NONE, 0, {{0, 0}}},
        {"bytes=0-0", 100, RG_OK, 1, {{0, 0}}},
        {"bytes=0-99", 100, RG_OK, 1, {{0, 99}}},
        {"bytes=10-19", 100, RG_OK, 1, {{10, 19}}},
        {"bytes=99-99", 100, RG_OK, 1, {{99, 99}}},
        /* open ranges (huggingface_hub resumes with bytes=N-) */
        {"bytes=0-", 100, RG_OK, 1, {{0, 99}}},
        {"bytes=42-", 100, RG_OK, 1, {{42, 99}}},
        {"bytes=99-", 100, RG_OK, 1, {{99, 99}}},
        /* suffix ranges */
        {"bytes=-1", 100, RG_OK, 1, {{99, 99}}},
        {"bytes=-10", 100, RG_OK, 1, {{90, 99}}},
        {"bytes=-100", 100, RG_OK, 1, {{0, 99}}},
        {"bytes=-1000", 100, RG_OK, 1, {{0, 99}}},
        {"bytes=-0", 100, RG_416, 0, {{0, 0}}},
        {"bytes=-0,5-6", 100, RG_OK, 1, {{5, 6}}},
        /* overrun ends are clamped: clients send bytes=0-100000 for small files */
        {"bytes=0-100000", 1000, RG_OK, 1, {{0, 999}}},
        {"bytes=500-" U64MAX_DEC, 1000, RG_OK, 1, {{500, 999}}},
        {"bytes=999-1000", 1000, RG_OK, 1, {{999, 999}}},
        /* start beyond the end */
        {"bytes=1000-", 1000, RG_416, 0, {{0, 0}}},
        {"bytes=1000-1000", 1000, RG_416, 0, {{0, 0}}},
        {"bytes=5000-6000", 1000, RG_416, 0, {{0, 0}}},
        {"bytes=1000-2000,0-9", 1000, RG_OK, 1, {{0, 9}}},
        {"bytes=0-9,1000-,-0,990-", 1000, RG_OK, 2, {{0, 9}, {990, 999}}},
        /* leading zeros are still 1*DIGIT */
        {"bytes=007-009", 100, RG_OK, 1, {{7, 9}}},
        {"bytes=00000000000000000000000000000001-2", 100, RG_OK, 1, {{1, 2}}},
        {"bytes=-00", 100, RG_416, 0, {{0, 0}}},
        /* case-insensitive unit */
        {"BYTES=1-2", 100, RG_OK, 1, {{1, 2}}},
        {"Bytes=1-2", 100, RG_OK, 1, {{1, 2}}},
        {"bYtEs=-3", 100, RG_OK, 1, {{97, 99}}},
    };
    check_cases(cases, NCASES(cases), 8);
}

static void test_parse_multi_order(void **state)
{
    (void)state;
    static const range_case cases[] = {
        /* a Xet client fetching two xorb ranges */
        {"bytes=0-131071,262144-393215", 1u << 20, RG_OK, 2, {{0, 131071}, {262144, 393215}}},
        /* request order is kept: no sorting, no merging of overlapping or adjacent ranges */
        {"bytes=262144-393215,0-131071", 1u << 20, RG_OK, 2, {{262144, 393215}, {0, 131071}}},
        {"bytes=0-9,5-14,15-19", 100, RG_OK, 3, {{0, 9}, {5, 14}, {15, 19}}},
        {"bytes=0-9,0-9", 100, RG_OK, 2, {{0, 9}, {0, 9}}},
        {"bytes=-10,0-", 100, RG_OK, 2, {{90, 99}, {0, 99}}},
        {"bytes=50-,10-20,-5,0-0", 100, RG_OK, 4, {{50, 99}, {10, 20}, {95, 99}, {0, 0}}},
    };
    check_cases(cases, NCASES(cases), 8);
}

static void test_parse_whitespace_and_empty(void **state)
{
    (void)state;
    static const range_case cases[] = {
        {" bytes=1-2", 100, RG_OK, 1, {{1, 2}}},
        {"bytes=1-2 \t", 100, RG_OK, 1, {{1, 2}}},
        {"bytes= 1-2", 100, RG_OK, 1, {{1, 2}}},
        {"bytes=1-2 , 3-4", 100, RG_OK, 2, {{1, 2}, {3, 4}}},
        {"bytes=1-2,\t3-4\t,  -5 ", 100, RG_OK, 3, {{1, 2}, {3, 4}, {95, 99}}},
        /* no whitespace inside an element, nor before '=' */
        {"bytes=1 -2", 100, RG_IGN, 0, {{0, 0}}},
        {"bytes=1- 2", 100, RG_IGN, 0, {{0, 0}}},
        {"bytes=- 2", 100, RG_IGN, 0, {{0, 0}}},
        {"bytes=1 2-3", 100, RG_IGN, 0, {{0, 0}}},
        {"bytes =1-2", 100, RG_IGN, 0, {{0, 0}}},
        {"bytes=1-2\r\n", 100, RG_IGN, 0, {{0, 0}}},
        /* empty list elements are tolerated, but one element is required */
        {"bytes=0-1,,2-3", 100, RG_OK, 2, {{0, 1}, {2, 3}}},
        {"bytes=,0-1", 100, RG_OK, 1, {{0, 1}}},
        {"bytes=0-1,", 100, RG_OK, 1, {{0, 1}}},
        {"bytes= , 0-1 , , ", 100, RG_OK, 1, {{0, 1}}},
        {"bytes=", 100, RG_IGN, 0, {{0, 0}}},
        {"bytes=,", 100, RG_IGN, 0, {{0, 0}}},
        {"bytes= , ,\t", 100, RG_IGN, 0, {{0, 0}}},
    };
    check_cases(cases, NCASES(cases), 8);
}

static void test_parse_invalid(void **state)
{
    (void)state;
    /* clang-format off */
    static const char *bad[] = {
        /* unknown or malformed units */
        "", " ", "items=0-1", "bytesx=0-1", "byte=0-1", "=0-1", "bytes", "bytes:0-1",
        "bytes 0-1", "none", "0-1", "bytes==0-1", "xbytes=0-1",
        /* last-pos before first-pos invalidates the whole header, even next to good ranges */
        "bytes=5-4", "bytes=0-1,5-4", "bytes=5-4,0-1", "bytes=200-100", "bytes=1-0",
        /* signs and other characters */
        "bytes=+1-2", "bytes=1-+2", "bytes=--1", "bytes=-+1", "bytes=-1-2", "bytes=1--2",
        "bytes=-", "bytes=1", "bytes=1-2-3", "bytes=a-b", "bytes=0x10-20", "bytes=1.5-2",
        "bytes=1e3-", "bytes=-1e3", "bytes=1-2;3-4", "bytes=\"1-2\"", "bytes=1-2,x",
        "bytes=\xc2\xb9-2", "bytes=0-1,bytes=2-3",
        /* numbers above UINT64_MAX */
        "bytes=" U64OVF_DEC "-", "bytes=0-" U64OVF_DEC, "bytes=-" U64OVF_DEC,
        "bytes=99999999999999999999999999-", "bytes=0-1,0-" U64OVF_DEC,
    };
    /* clang-format on */
    for (size_t i = 0; i < NCASES(bad); i++) {
        http_range out[8];
        size_t n = 7;
        http_range_result rc = http_range_parse(bad[i], 100, out, 8, &n);
        if (rc != HTTP_RANGE_IGNORE || n != 0)
            fail_msg("\"%s\": got %s, n %zu; want ignore", bad[i], http_range_result_str(rc), n);
    }

    /* UINT64_MAX itself is a number; with the largest size it is just past the end. */
    static const range_case edge[] = {
        {"bytes=" U64MAX_DEC "-", UINT64_MAX, RG_416, 0, {{0, 0}}},
        {"bytes=0-" U64MAX_DEC, UINT64_MAX, RG_OK, 1, {{0, UINT64_MAX - 1}}},
        {"bytes=-" U64MAX_DEC, UINT64_MAX, RG_OK, 1, {{0, UINT64_MAX - 1}}},
        {"bytes=-" U64MAX_DEC, 10, RG_OK, 1, {{0, 9}}},
        {"bytes=18446744073709551614-", UINT64_MAX, RG_OK, 1, {{UINT64_MAX - 1, UINT64_MAX - 1}}},
        {"bytes=" U64MAX_DEC "-" U64MAX_DEC, 10, RG_416, 0, {{0, 0}}},
    };
    check_cases(edge, NCASES(edge), 8);
}

static void test_parse_empty_file(void **state)
{
    (void)state;
    /* RFC 9110 14.1.1: on an empty representation only a non-zero suffix-range is satisfiable,
     * and it cannot be expressed as a 206, so it means 200; everything else is a 416. */
    static const range_case cases[] = {
        {"bytes=0-", 0, RG_416, 0, {{0, 0}}},       {"bytes=0-0", 0, RG_416, 0, {{0, 0}}},
        {"bytes=0-100000", 0, RG_416, 0, {{0, 0}}}, {"bytes=5-", 0, RG_416, 0, {{0, 0}}},
        {"bytes=-0", 0, RG_416, 0, {{0, 0}}},       {"bytes=0-,1-2,-0", 0, RG_416, 0, {{0, 0}}},
        {"bytes=-5", 0, RG_IGN, 0, {{0, 0}}},       {"bytes=0-,-1", 0, RG_IGN, 0, {{0, 0}}},
        {"bytes=5-4", 0, RG_IGN, 0, {{0, 0}}},      {NULL, 0, RG_NONE, 0, {{0, 0}}},
    };
    check_cases(cases, NCASES(cases), 8);
}

static void test_parse_too_many(void **state)
{
    (void)state;
    static const range_case cases[] = {
        {"bytes=0-0,1-1", 100, RG_OK, 2, {{0, 0}, {1, 1}}},
        {"bytes=0-0,1-1,2-2", 100, RG_MANY, 0, {{0, 0}}},
        /* only satisfiable ranges count */
        {"bytes=0-0,1-1,200-300,-0", 100, RG_OK, 2, {{0, 0}, {1, 1}}},
        {"bytes=200-,300-,400-", 100, RG_416, 0, {{0, 0}}},
        /* the whole header is scanned: a later syntax error wins over too many */
        {"bytes=0-0,1-1,2-2,3-3,x", 100, RG_IGN, 0, {{0, 0}}},
    };
    check_cases(cases, NCASES(cases), 2);

    /* max 0: out may be NULL */
    size_t n = 9;
    assert_int_equal(http_range_parse("bytes=0-0", 100, NULL, 0, &n), HTTP_RANGE_TOO_MANY);
    assert_int_equal(n, 0);
    assert_int_equal(http_range_parse("bytes=100-", 100, NULL, 0, &n), HTTP_RANGE_UNSATISFIABLE);
    assert_int_equal(http_range_parse("bytes=1-0", 100, NULL, 0, &n), HTTP_RANGE_IGNORE);

    /* an absurd header: 100000 one-byte ranges against max 64 */
    size_t count = 100000, cap = count * 8 + 16;
    char *v = malloc(cap);
    assert_non_null(v);
    size_t len = (size_t)snprintf(v, cap, "bytes=");
    for (size_t i = 0; i < count; i++)
        len += (size_t)snprintf(v + len, cap - len, "%zu-%zu,", i % 1000, i % 1000);
    http_range out[64];
    assert_int_equal(http_range_parse(v, 1000, out, 64, &n), HTTP_RANGE_TOO_MANY);
    assert_int_equal(n, 0);
    /* the same with everything unsatisfiable but the last */
    len = (size_t)snprintf(v, cap, "bytes=");
    for (size_t i = 0; i < count; i++)
        len += (size_t)snprintf(v + len, cap - len, "%zu-,", 1000 + i);
    snprintf(v + len, cap - len, "-1");
    assert_int_equal(http_range_parse(v, 1000, out, 64, &n), HTTP_RANGE_OK);
    assert_int_equal(n, 1);
    assert_true(out[0].start == 999 && out[0].end == 999);
    free(v);
}

static void test_parse_len(void **state)
{
    (void)state;
    http_range out[4];
    size_t n;
    /* not NUL-terminated: only len bytes count */
    const char buf[] = "bytes=0-9,20-29XYZ";
    assert_int_equal(http_range_parse_len(buf, 15, 100, out, 4, &n), HTTP_RANGE_OK);
    assert_int_equal(n, 2);
    assert_true(out[1].start == 20 && out[1].end == 29);
    assert_int_equal(http_range_parse_len(buf, 18, 100, out, 4, &n), HTTP_RANGE_IGNORE);
    assert_int_equal(http_range_parse_len(buf, 8, 100, out, 4, &n), HTTP_RANGE_OK);
    assert_true(n == 1 && out[0].start == 0 && out[0].end == 99);
    assert_int_equal(http_range_parse_len(buf, 0, 100, out, 4, &n), HTTP_RANGE_IGNORE);
    assert_int_equal(http_range_parse_len(NULL, 5, 100, out, 4, &n), HTTP_RANGE_NONE);
    /* an embedded NUL is just an invalid character */
    const char nul[] = "bytes=0-1\0,2-3";
    assert_int_equal(http_range_parse_len(nul, sizeof nul - 1, 100, out, 4, &n), HTTP_RANGE_IGNORE);
    assert_int_equal(n, 0);

    assert_string_equal(http_range_result_str(HTTP_RANGE_NONE), "none");
    assert_string_equal(http_range_result_str(HTTP_RANGE_IGNORE), "ignore");
    assert_string_equal(http_range_result_str(HTTP_RANGE_OK), "ok");
    assert_string_equal(http_range_result_str(HTTP_RANGE_UNSATISFIABLE), "unsatisfiable");
    assert_string_equal(http_range_result_str(HTTP_RANGE_TOO_MANY), "too-many");
}

static void test_totals_and_abuse(void **state)
{
    (void)state;
    const http_range one = {10, 19};
    assert_int_equal(http_range_length(&one), 10);
    const http_range all = {0, UINT64_MAX}, back = {5, 4};
    assert_true(http_range_length(&all) == UINT64_MAX);
    assert_int_equal(http_range_length(&back), 0);

    const http_range two[] = {{0, 9}, {5, 14}};
    assert_int_equal(http_ranges_total(two, 2), 20);
    assert_int_equal(http_ranges_total(two, 0), 0);
    const http_range huge[] = {{0, UINT64_MAX - 1}, {0, UINT64_MAX - 1}, {0, 0}};
    assert_true(http_ranges_total(huge, 3) == UINT64_MAX);
    assert_true(http_ranges_total(huge, 1) == UINT64_MAX);

    /* a single range is never abusive */
    assert_false(http_ranges_abusive(&one, 1, 20));
    assert_false(http_ranges_abusive(two, 0, 20));
    /* disjoint, in any order */
    const http_range xet[] = {{262144, 393215}, {0, 131071}, {600000, 700000}};
    assert_false(http_ranges_abusive(xet, 3, 1u << 20));
    /* two overlapping ranges, even the whole file twice (total == 2 * size) */
    const http_range twice[] = {{0, 99}, {0, 99}};
    assert_false(http_ranges_abusive(twice, 2, 100));
    /* a chain where each byte is covered at most twice */
    const http_range chain[] = {{0, 10}, {5, 15}, {12, 20}, {16, 30}};
    assert_false(http_ranges_abusive(chain, 4, 100));
    /* three ranges sharing a byte */
    const http_range three[] = {{0, 10}, {5, 15}, {8, 9}};
    assert_true(http_ranges_abusive(three, 3, 1000));
    const http_range same[] = {{7, 7}, {50, 60}, {7, 7}, {7, 7}};
    assert_true(http_ranges_abusive(same, 4, 1u << 30));
    /* more than twice the size (implies a triple overlap, but is caught by the total first) */
    const http_range thrice[] = {{0, 99}, {0, 99}, {0, 0}};
    assert_true(http_ranges_abusive(thrice, 3, 100));
    /* the whole largest file twice: the total saturates, 2 * size must not wrap */
    assert_false(http_ranges_abusive(huge, 2, UINT64_MAX));
    assert_true(http_ranges_abusive(huge, 3, UINT64_MAX));

    /* what a parse hands back can be fed in directly */
    http_range out[64];
    size_t n;
    assert_int_equal(http_range_parse("bytes=0-,0-,0-", 100, out, 64, &n), HTTP_RANGE_OK);
    assert_true(http_ranges_abusive(out, n, 100));
}

static void test_content_range(void **state)
{
    (void)state;
    char buf[HTTP_CONTENT_RANGE_MAX];
    const http_range r0 = {0, 0}, r1 = {0, 99}, r2 = {42, 4241};
    assert_int_equal(http_content_range(buf, sizeof buf, &r0, 1), 11);
    assert_string_equal(buf, "bytes 0-0/1");
    assert_int_equal(http_content_range(buf, sizeof buf, &r1, 100), 14);
    assert_string_equal(buf, "bytes 0-99/100");
    assert_int_equal(http_content_range(buf, sizeof buf, &r2, 1000000), 21);
    assert_string_equal(buf, "bytes 42-4241/1000000");
    assert_int_equal(http_content_range(buf, sizeof buf, NULL, 0), 9);
    assert_string_equal(buf, "bytes */0");
    assert_int_equal(http_content_range(buf, sizeof buf, NULL, 12345), 13);
    assert_string_equal(buf, "bytes */12345");

    /* the longest value fits HTTP_CONTENT_RANGE_MAX exactly */
    const http_range big = {UINT64_MAX - 2, UINT64_MAX - 1};
    assert_int_equal(http_content_range(buf, sizeof buf, &big, UINT64_MAX),
                     HTTP_CONTENT_RANGE_MAX - 1);
    assert_string_equal(buf, "bytes 18446744073709551613-18446744073709551614/" U64MAX_DEC);

    /* capacity: length + 1 fits, length does not (and leaves "") */
    char small[15];
    assert_int_equal(http_content_range(small, 15, &r1, 100), 14);
    assert_int_equal(http_content_range(small, 14, &r1, 100), 0);
    assert_string_equal(small, "");
    assert_int_equal(http_content_range(small, 0, &r1, 100), 0);
    assert_int_equal(http_content_range(NULL, 0, NULL, 100), 0);

    /* ranges outside the representation are refused */
    const http_range past = {0, 100}, inverted = {5, 4};
    assert_int_equal(http_content_range(buf, sizeof buf, &past, 100), 0);
    assert_string_equal(buf, "");
    assert_int_equal(http_content_range(buf, sizeof buf, &inverted, 100), 0);
    assert_int_equal(http_content_range(buf, sizeof buf, &r0, 0), 0);
}

static int is_lower_hex(const char *s)
{
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return 0;
    return 1;
}

static void test_boundary(void **state)
{
    (void)state;
    char a[HTTP_BOUNDARY_LEN + 1], b[HTTP_BOUNDARY_LEN + 1], c[HTTP_BOUNDARY_LEN + 1];
    memset(a, 'x', sizeof a);
    http_multipart_boundary(a, 1);
    http_multipart_boundary(b, 1);
    http_multipart_boundary(c, 2);
    assert_int_equal(strlen(a), HTTP_BOUNDARY_LEN);
    assert_true(is_lower_hex(a) && is_lower_hex(c));
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    http_multipart_boundary(c, 0);
    assert_int_equal(strlen(c), HTTP_BOUNDARY_LEN);

    char ct[128];
    assert_int_equal(http_multipart_content_type(ct, sizeof ct, "B0undary"), 39);
    assert_string_equal(ct, "multipart/byteranges; boundary=B0undary");
    assert_true(http_multipart_content_type(ct, sizeof ct, a) > 0);
    assert_int_equal(http_multipart_content_type(ct, 39, "B0undary"), 0);
    assert_int_equal(http_multipart_content_type(ct, sizeof ct, ""), 0);
    assert_int_equal(http_multipart_content_type(ct, sizeof ct, NULL), 0);
}

static void test_part_headers(void **state)
{
    (void)state;
    char buf[256];
    const http_range r = {5, 9};
#define PART_TAIL "Content-Type: text/plain\r\nContent-Range: bytes 5-9/10\r\n\r\n"
    assert_int_equal(http_multipart_part_header(buf, sizeof buf, "B", "text/plain", &r, 10, 1),
                     strlen("--B\r\n" PART_TAIL));
    assert_string_equal(buf, "--B\r\n" PART_TAIL);
    assert_true(http_multipart_part_header(buf, sizeof buf, "B", "text/plain", &r, 10, 0) > 0);
    assert_string_equal(buf, "\r\n--B\r\n" PART_TAIL);
#undef PART_TAIL
    assert_true(http_multipart_part_header(buf, sizeof buf, "B", NULL, &r, 10, 0) > 0);
    assert_string_equal(buf, "\r\n--B\r\nContent-Range: bytes 5-9/10\r\n\r\n");
    assert_int_equal(http_multipart_trailer(buf, sizeof buf, "B"), 9);
    assert_string_equal(buf, "\r\n--B--\r\n");

    /* exact capacity */
    size_t need = strlen("--B\r\nContent-Range: bytes 5-9/10\r\n\r\n");
    assert_int_equal(http_multipart_part_header(buf, need + 1, "B", NULL, &r, 10, 1), need);
    assert_int_equal(http_multipart_part_header(buf, need, "B", NULL, &r, 10, 1), 0);
    assert_string_equal(buf, "");
    assert_int_equal(http_multipart_trailer(buf, 9, "B"), 0);

    /* refused: header injection, a content type containing the boundary, bad boundaries,
     * ranges outside the representation */
    const char *bad_ct[] = {"text/plain\r\nX-Evil: 1", "text/plain\n", "a\x7f", "x; b=BOUND"};
    for (size_t i = 0; i < NCASES(bad_ct); i++)
        assert_int_equal(http_multipart_part_header(buf, sizeof buf, "BOUND", bad_ct[i], &r, 10, 1),
                         0);
    assert_true(http_multipart_part_header(buf, sizeof buf, "BOUND", "a;\tb=c", &r, 10, 1) > 0);
    char b71[72];
    memset(b71, 'b', 71);
    b71[71] = '\0';
    const char *bad_b[] = {"", "B ", "B\"", "B\r", "B;", b71, NULL};
    for (size_t i = 0; i < NCASES(bad_b); i++) {
        assert_int_equal(http_multipart_part_header(buf, sizeof buf, bad_b[i], NULL, &r, 10, 1), 0);
        assert_int_equal(http_multipart_trailer(buf, sizeof buf, bad_b[i]), 0);
        assert_int_equal(http_multipart_length(bad_b[i], NULL, &r, 1, 10), 0);
    }
    b71[70] = '\0';
    assert_true(http_multipart_part_header(buf, sizeof buf, b71, NULL, &r, 10, 1) > 0);
    assert_true(http_multipart_part_header(buf, sizeof buf, "a b'()+_,-./:=?z", NULL, &r, 10, 1) >
                0);
    const http_range past = {5, 10};
    assert_int_equal(http_multipart_part_header(buf, sizeof buf, "B", NULL, &past, 10, 1), 0);
    assert_int_equal(http_multipart_part_header(buf, sizeof buf, "B", NULL, NULL, 10, 1), 0);
}

/* Builds the multipart body for ranges r[0..n) of data with the helpers; returns its length. */
static size_t build_body(char *out, size_t cap, const char *boundary, const char *ct,
                         const uint8_t *data, uint64_t size, const http_range *r, size_t n)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        size_t h =
            http_multipart_part_header(out + len, cap - len, boundary, ct, &r[i], size, i == 0);
        assert_true(h > 0);
        len += h;
        size_t body = (size_t)(r[i].end - r[i].start + 1);
        assert_true(body < cap - len);
        memcpy(out + len, data + r[i].start, body);
        len += body;
    }
    size_t t = http_multipart_trailer(out + len, cap - len, boundary);
    assert_true(t > 0);
    return len + t;
}

static void test_multipart_body(void **state)
{
    (void)state;
    /* the exact bytes of a small body */
    const uint8_t *digits = (const uint8_t *)"0123456789";
    const http_range r[] = {{0, 1}, {5, 9}};
    char body[1 << 16];
    size_t len = build_body(body, sizeof body, "B", "text/plain", digits, 10, r, 2);
    static const char want[] = "--B\r\n"
                               "Content-Type: text/plain\r\n"
                               "Content-Range: bytes 0-1/10\r\n"
                               "\r\n"
                               "01"
                               "\r\n--B\r\n"
                               "Content-Type: text/plain\r\n"
                               "Content-Range: bytes 5-9/10\r\n"
                               "\r\n"
                               "56789"
                               "\r\n--B--\r\n";
    assert_int_equal(len, sizeof want - 1);
    assert_memory_equal(body, want, len);
    assert_int_equal(http_multipart_length("B", "text/plain", r, 2, 10), sizeof want - 1);

    /* lengths match the built bodies for parsed requests of all shapes */
    uint8_t *data = tu_splitmix64(20000, 7);
    char boundary[HTTP_BOUNDARY_LEN + 1];
    http_multipart_boundary(boundary, 0x1234);
    const char *reqs[] = {
        "bytes=0-0,19999-",
        "bytes=0-131,262-393,-7",
        "bytes=9999-10000,5-5,0-99999,-1",
        "bytes=1-1,2-2,3-3,4-4,5-5,6-6,7-7,8-8,9-9,10-10,11-11,99-100",
        "bytes=0-9",
    };
    const char *cts[] = {"application/octet-stream", NULL, "text/plain; charset=utf-8"};
    for (size_t i = 0; i < NCASES(reqs); i++) {
        for (size_t j = 0; j < NCASES(cts); j++) {
            http_range out[16];
            size_t n;
            assert_int_equal(http_range_parse(reqs[i], 20000, out, 16, &n), HTTP_RANGE_OK);
            size_t got = build_body(body, sizeof body, boundary, cts[j], data, 20000, out, n);
            uint64_t want_len = http_multipart_length(boundary, cts[j], out, n, 20000);
            if (want_len != got)
                fail_msg("%s with %s: built %zu bytes, length says %llu", reqs[i],
                         cts[j] ? cts[j] : "(none)", got, (unsigned long long)want_len);
            /* the boundary occurs only in delimiter lines: once per part plus the trailer */
            size_t hits = 0;
            for (size_t k = 0; k + HTTP_BOUNDARY_LEN <= got; k++)
                hits += memcmp(body + k, boundary, HTTP_BOUNDARY_LEN) == 0;
            assert_int_equal(hits, n + 1);
        }
    }
    free(data);

    /* large numbers of digits: the length grows with them */
    const http_range far[] = {{UINT64_MAX - 3, UINT64_MAX - 2}, {0, 0}};
    uint64_t l = http_multipart_length("B", NULL, far, 2, UINT64_MAX);
    uint64_t expect = strlen("--B\r\nContent-Range: bytes 18446744073709551612-"
                             "18446744073709551613/18446744073709551615\r\n\r\n") +
                      2 +
                      strlen("\r\n--B\r\nContent-Range: bytes 0-0/18446744073709551615\r\n\r\n") +
                      1 + strlen("\r\n--B--\r\n");
    assert_true(l == expect);
    /* saturates instead of wrapping */
    const http_range whole[] = {{0, UINT64_MAX - 1}, {0, UINT64_MAX - 1}};
    assert_true(http_multipart_length("B", NULL, whole, 2, UINT64_MAX) == UINT64_MAX);

    /* refused inputs */
    assert_int_equal(http_multipart_length("B", NULL, r, 0, 10), 0);
    assert_int_equal(http_multipart_length("B", NULL, NULL, 1, 10), 0);
    assert_int_equal(http_multipart_length("B", NULL, r, 2, 9), 0);
    assert_int_equal(http_multipart_length("B", "x\r\ny", r, 2, 10), 0);
    assert_int_equal(http_multipart_length("B", "a/B", r, 2, 10), 0);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_basic),
        cmocka_unit_test(test_parse_multi_order),
        cmocka_unit_test(test_parse_whitespace_and_empty),
        cmocka_unit_test(test_parse_invalid),
        cmocka_unit_test(test_parse_empty_file),
        cmocka_unit_test(test_parse_too_many),
        cmocka_unit_test(test_parse_len),
        cmocka_unit_test(test_totals_and_abuse),
        cmocka_unit_test(test_content_range),
        cmocka_unit_test(test_boundary),
        cmocka_unit_test(test_part_headers),
        cmocka_unit_test(test_multipart_body),
    };
    return tu_main(argc, argv, "http_range", tests, sizeof tests / sizeof tests[0]);
}
