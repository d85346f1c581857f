/*
 * http_range.h - HTTP byte ranges as a file server needs them (RFC 9110 section 14): parsing a
 * Range header against a representation of known size, formatting Content-Range, and laying out
 * multipart/byteranges bodies with an exact Content-Length.
 *
 * Job: turn `Range: bytes=...` into a list of byte ranges hubgate can serve, or tell the caller
 * which response to send instead.  Clients are huggingface_hub (Python) and @huggingface/hub (JS),
 * which send single ranges (`bytes=N-` to resume, `bytes=a-b` to slice), and Xet clients, which
 * fetch several xorb ranges at once (`bytes=0-131071,262144-393215`).
 *
 * Conventions:
 *  - Pure: no I/O, no allocation, no global state; every function is reentrant.
 *  - Ranges are inclusive: {start, end} covers end - start + 1 bytes, and every range this module
 *    returns satisfies start <= end < size.
 *  - Ranges stay in request order and are never merged, split or sorted (Xet clients expect the
 *    parts in the order they asked for them).  Abusive requests are the caller's to refuse, with
 *    http_ranges_abusive().
 *  - Formatting functions return the length written (without the NUL, which is always written on
 *    success) or 0 when the buffer is too small or an argument is invalid; on failure buf holds
 *    "" when cap > 0.
 *
 * What the caller does with each http_range_parse() result (only for GET, and only when the full
 * response would be a 200; If-Range is the caller's to evaluate before parsing):
 *  - HTTP_RANGE_NONE           no Range header: 200 with the whole representation.
 *  - HTTP_RANGE_IGNORE         ignore the header: 200 with the whole representation.
 *  - HTTP_RANGE_OK             *n == 1: 206 with `Content-Range: bytes a-b/size`
 *                              (http_content_range) and Content-Length b - a + 1.
 *                              *n > 1: if http_ranges_abusive(), 200 as for IGNORE; otherwise
 *                              206 with `Content-Type: multipart/byteranges; boundary=B`
 *                              (http_multipart_content_type), the parts laid out with the
 *                              http_multipart_* helpers and Content-Length from
 *                              http_multipart_length().
 *  - HTTP_RANGE_UNSATISFIABLE  416 with the unsatisfied Content-Range, a star in place of a-b
 *                              (http_content_range with r == NULL).
 *  - HTTP_RANGE_TOO_MANY       more than max satisfiable ranges.  Recommended: 200 with the whole
 *                              representation, as nginx (max_ranges) and Apache (MaxRanges) do;
 *                              it costs no more than a plain GET and every client handles it.
 *                              416 is also allowed (RFC 9110 section 14.2), but then a client that
 *                              does not retry with fewer ranges fails.
 *
 * Parsing decisions (RFC 9110 sections 5.6.1, 14.1, 14.2):
 *  - The unit is matched case-insensitively and must be followed directly by '='; any other unit
 *    gives HTTP_RANGE_IGNORE.  OWS (spaces, tabs) is allowed around the whole value, after '=' and
 *    around each list element, but not inside an element ("bytes=0 - 1" is invalid).
 *  - Empty list elements are skipped ("bytes=0-1,,2-3", "bytes=0-1,"); at least one non-empty
 *    element is required ("bytes=" and "bytes=," are invalid).
 *  - Numbers are 1*DIGIT (leading zeros allowed); signs, other characters and values above
 *    UINT64_MAX make the whole header invalid.
 *  - Any invalid element invalidates the whole header, including a-b with b < a, even when other
 *    elements are fine; the whole value is always scanned, so IGNORE takes precedence over
 *    TOO_MANY, which takes precedence over OK and UNSATISFIABLE.
 *  - a-b: satisfiable when a < size; b is clamped to size - 1 (clients ask for bytes=0-100000
 *    on small files and must get a 206).  a-: [a, size - 1] when a < size.  -n: the last n bytes
 *    (the whole representation when n >= size); -0 is unsatisfiable.  Unsatisfiable elements are
 *    dropped; the rest are returned.
 *  - Empty representation (size 0): no byte range exists, so nothing can be returned.  Following
 *    RFC 9110 section 14.1.1, int-ranges (including bytes=0-) are unsatisfiable and give
 *    HTTP_RANGE_UNSATISFIABLE (416, as nginx does), while a suffix-range with a
 *    non-zero length counts as satisfiable but cannot be expressed in a 206, so its presence gives
 *    HTTP_RANGE_IGNORE (200 with the empty body).  A caller who prefers 200 for every range
 *    request on an empty file may treat UNSATISFIABLE with size 0 as IGNORE: a server may
 *    always ignore Range.
 *  - Absurd input: parsing is a single O(length) pass with no allocation and no limit on the
 *    length (the HTTP layer bounds header sizes).  Only satisfiable ranges count against max;
 *    unsatisfiable elements cost a few comparisons each and are dropped.
 *  - *n is 0 for every result except HTTP_RANGE_OK; out[] may be written even then.
 */
#ifndef HG_HTTP_RANGE_H
#define HG_HTTP_RANGE_H

#include <stddef.h>
#include <stdint.h>

typedef struct http_range {
    uint64_t start, end; /* inclusive end */
} http_range;

typedef enum http_range_result {
    HTTP_RANGE_NONE = 0,          /* no header (value NULL): 200 */
    HTTP_RANGE_IGNORE = 1,        /* invalid header or unknown unit: ignore it, 200 */
    HTTP_RANGE_OK = 2,            /* *n >= 1 satisfiable ranges in out: 206 */
    HTTP_RANGE_UNSATISFIABLE = 3, /* valid, but no range satisfiable: 416 */
    HTTP_RANGE_TOO_MANY = 4,      /* more than max satisfiable ranges: 200 (or 416) */
} http_range_result;

/* Parses the NUL-terminated value of a Range header (NULL when the request has none) against a
 * representation of size bytes.  Satisfiable ranges go to out[0..*n), at most max of them (out
 * may be NULL when max is 0).  See the file comment for the rules. */
http_range_result http_range_parse(const char *value, uint64_t size, http_range *out, size_t max,
                                   size_t *n);
/* The same for a value that is not NUL-terminated: len bytes at value (NULL means no header). */
http_range_result http_range_parse_len(const char *value, size_t len, uint64_t size,
                                       http_range *out, size_t max, size_t *n);
/* A static name for logs: "none", "ignore", "ok", "unsatisfiable", "too-many". */
const char *http_range_result_str(http_range_result rc);

/* Bytes in one range: end - start + 1 (0 when end < start; UINT64_MAX for [0, UINT64_MAX]). */
uint64_t http_range_length(const http_range *r);
/* Sum of the lengths of r[0..n), saturating at UINT64_MAX. */
uint64_t http_ranges_total(const http_range *r, size_t n);
/* Whether a multi-range request should be refused (served as a 200 instead, RFC 9110 section 14.2
 * security note).  True when n > 1 and either
 *   - the ranges add up to more than twice the representation (total > 2 * size), or
 *   - some byte is covered by three or more of the ranges (the RFC's "more than two overlapping
 *     ranges").
 * Two overlapping ranges and out-of-order ranges are accepted.  For ranges within size the first
 * rule implies the second (more than 2 * size bytes means some byte is covered three times); it
 * is checked first because it is O(n), the overlap scan is O(n^2), so n should be bounded
 * (http_range_parse's max does that). */
int http_ranges_abusive(const http_range *r, size_t n, uint64_t size);

/* Longest Content-Range value plus NUL: "bytes " + 3 * 20 digits + "-" + "/" + NUL. */
#define HTTP_CONTENT_RANGE_MAX 69

/* Writes the Content-Range value "bytes a-b/size" for r, or "bytes *" "/size" (one string: a
 * star, a slash and the size) when r is NULL (for a 416).  With r, fails (returns 0) unless
 * r->start <= r->end < size. */
size_t http_content_range(char *buf, size_t cap, const http_range *r, uint64_t size);

/* ---- multipart/byteranges (RFC 9110 section 14.6, RFC 2046 section 5.1.1) ----
 *
 * Body layout (CRLF placement is fixed; http_multipart_length depends on it):
 *
 *     --B CRLF Content-Type: T CRLF Content-Range: bytes a-b/size CRLF CRLF <bytes a..b>
 *     CRLF --B CRLF Content-Type: T CRLF Content-Range: ... CRLF CRLF <bytes c..d>
 *     ...
 *     CRLF --B-- CRLF
 *
 * The first part header starts with "--B" (no preamble, no leading CRLF; nginx and Apache send
 * an empty preamble line instead, which parsers such as xet-core's also accept); every later one
 * starts with the CRLF that ends the previous part's bytes; the trailer starts with the CRLF that
 * ends the last part's bytes.  The Content-Type line is omitted when content_type is NULL.
 * The response's own Content-Type is "multipart/byteranges; boundary=B"
 * (http_multipart_content_type).
 */

#define HTTP_BOUNDARY_LEN 32

/* Writes a boundary of HTTP_BOUNDARY_LEN lowercase hex digits and a NUL, derived from seed
 * (splitmix64).  It cannot occur in a part header outside its delimiter line: the Content-Range
 * line has no run of 32 hex digits (its numbers have at most 20), and
 * http_multipart_part_header refuses a content type that contains the boundary.  It can occur
 * in the part bytes by chance, so seed should be unpredictable (from a CSPRNG) whenever clients
 * can choose file contents. */
void http_multipart_boundary(char out[HTTP_BOUNDARY_LEN + 1], uint64_t seed);

/* Writes "multipart/byteranges; boundary=B".  Fails on an invalid boundary. */
size_t http_multipart_content_type(char *buf, size_t cap, const char *boundary);

/* Writes the header of one part: "--B\r\n" when first is non-zero, "\r\n--B\r\n" otherwise,
 * then "Content-Type: T\r\n" (unless content_type is NULL), "Content-Range: bytes a-b/size\r\n"
 * and "\r\n".  Fails when the boundary is invalid (RFC 2046 bchars, 1..70 characters, not ending
 * in a space), when content_type contains a control character or the boundary, or when r is not
 * within size. */
size_t http_multipart_part_header(char *buf, size_t cap, const char *boundary,
                                  const char *content_type, const http_range *r, uint64_t size,
                                  int first);

/* Writes the closing delimiter "\r\n--B--\r\n". */
size_t http_multipart_trailer(char *buf, size_t cap, const char *boundary);

/* Exact length of the whole multipart body for r[0..n) (all part headers, with first set for
 * r[0] only, all part bytes and the trailer): the value of Content-Length.  Returns 0 when n is
 * 0 or an argument is invalid (as for http_multipart_part_header), UINT64_MAX on overflow. */
uint64_t http_multipart_length(const char *boundary, const char *content_type, const http_range *r,
                               size_t n, uint64_t size);

#endif
