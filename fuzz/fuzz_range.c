/* libFuzzer target: the first 8 bytes are the representation size (little-endian, zero-padded
 * when short), the rest is a Range header value.  Whatever the input, http_range_parse must hand
 * back only ranges with start <= end < size, at most max of them, and nothing unless it says OK;
 * the length-based parser must agree; Content-Range and multipart lengths must format for every
 * range it returns. */
#include <stdlib.h>
#include <string.h>

#include "http/http_range.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_RANGES 64

static void check(int ok)
{
    if (!ok)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t rsize = 0;
    for (size_t i = 0; i < 8 && i < size; i++)
        rsize |= (uint64_t)data[i] << (8 * i);
    size_t len = size > 8 ? size - 8 : 0;
    char *value = malloc(len + 1);
    if (!value)
        return 0;
    if (len)
        memcpy(value, data + 8, len);
    value[len] = '\0';

    http_range out[MAX_RANGES + 1];
    size_t n = 12345;
    out[MAX_RANGES].start = 0xdeadbeef; /* a canary: max bounds the writes */
    http_range_result rc = http_range_parse(value, rsize, out, MAX_RANGES, &n);
    check(rc == HTTP_RANGE_IGNORE || rc == HTTP_RANGE_OK || rc == HTTP_RANGE_UNSATISFIABLE ||
          rc == HTTP_RANGE_TOO_MANY);
    check(out[MAX_RANGES].start == 0xdeadbeef);
    check(rc == HTTP_RANGE_OK ? n >= 1 && n <= MAX_RANGES : n == 0);
    check(rc != HTTP_RANGE_OK || rsize > 0);
    for (size_t i = 0; i < n; i++)
        check(out[i].start <= out[i].end && out[i].end < rsize);

    /* The length-based parser sees the same bytes (up to an embedded NUL) the same way. */
    http_range again[MAX_RANGES];
    size_t m = 0;
    check(http_range_parse_len(value, strlen(value), rsize, again, MAX_RANGES, &m) == rc);
    check(m == n && (n == 0 || memcmp(again, out, n * sizeof out[0]) == 0));
    if (memchr(data + (size > 8 ? 8 : size), '\0', len) != NULL) {
        http_range_result rc2 = http_range_parse_len(value, len, rsize, again, MAX_RANGES, &m);
        check(rc2 == HTTP_RANGE_IGNORE && m == 0);
    }

    if (rc == HTTP_RANGE_OK) {
        /* max is the only thing between OK and TOO_MANY. */
        check(http_range_parse(value, rsize, again, n, &m) == HTTP_RANGE_OK && m == n);
        check(http_range_parse(value, rsize, again, n - 1, &m) == HTTP_RANGE_TOO_MANY && m == 0);

        char buf[256];
        uint64_t body = 0;
        for (size_t i = 0; i < n; i++) {
            check(http_content_range(buf, HTTP_CONTENT_RANGE_MAX, &out[i], rsize) > 0);
            size_t h = http_multipart_part_header(buf, sizeof buf, "B0UND", "application/x-y",
                                                  &out[i], rsize, i == 0);
            check(h > 0 && h == strlen(buf));
            uint64_t part = http_range_length(&out[i]);
            check(part >= 1 && part <= rsize);
            body = body + h > body ? body + h : UINT64_MAX;
            body = body + part >= body ? body + part : UINT64_MAX;
        }
        size_t t = http_multipart_trailer(buf, sizeof buf, "B0UND");
        check(t > 0);
        body = body + t >= body ? body + t : UINT64_MAX;
        check(http_multipart_length("B0UND", "application/x-y", out, n, rsize) == body);

        uint64_t total = http_ranges_total(out, n);
        check(total >= n);
        int abusive = http_ranges_abusive(out, n, rsize);
        check(n > 1 || !abusive);
        check(total <= rsize || n > 1);
    }
    char buf[HTTP_CONTENT_RANGE_MAX];
    check(http_content_range(buf, sizeof buf, NULL, rsize) > 0);

    free(value);
    return 0;
}
