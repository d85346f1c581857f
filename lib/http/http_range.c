/*
 * http_range.c - Range parsing, Content-Range and multipart/byteranges layout (http_range.h).
 */
#include "http/http_range.h"

#include <string.h>

/* ---- parsing ---- */

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Parses 1*DIGIT at s[*i..len) into *v.  0 when there is no digit or the value overflows. */
static int parse_u64(const char *s, size_t len, size_t *i, uint64_t *v)
{
    size_t j = *i;
    uint64_t x = 0;
    if (j >= len || !is_digit(s[j]))
        return 0;
    for (; j < len && is_digit(s[j]); j++) {
        unsigned d = (unsigned)(s[j] - '0');
        if (x > (UINT64_MAX - d) / 10)
            return 0;
        x = x * 10 + d;
    }
    *i = j;
    *v = x;
    return 1;
}

/* One range-spec occupies s[0..len) exactly (OWS already trimmed, len > 0).  Returns 0 when it
 * is invalid; otherwise sets *sat (whether it is satisfiable for size, with the clamped range in
 * *r) and *empty_suffix (a non-zero suffix-range on an empty representation). */
static int parse_spec(const char *s, size_t len, uint64_t size, http_range *r, int *sat,
                      int *empty_suffix)
{
    size_t i = 0;
    uint64_t a, b;
    *sat = 0;
    *empty_suffix = 0;
    if (s[0] == '-') { /* suffix-range = "-" suffix-length */
        i = 1;
        if (!parse_u64(s, len, &i, &b) || i != len)
            return 0;
        if (b == 0)
            return 1;
        if (size == 0) {
            *empty_suffix = 1;
            return 1;
        }
        r->start = b >= size ? 0 : size - b;
        r->end = size - 1;
        *sat = 1;
        return 1;
    }
    /* int-range = first-pos "-" [ last-pos ] */
    if (!parse_u64(s, len, &i, &a) || i >= len || s[i] != '-')
        return 0;
    i++;
    if (i == len) {
        b = UINT64_MAX;
    } else {
        if (!parse_u64(s, len, &i, &b) || i != len || b < a)
            return 0;
    }
    if (a >= size)
        return 1;
    r->start = a;
    r->end = b >= size ? size - 1 : b;
    *sat = 1;
    return 1;
}

static int unit_is_bytes(const char *s, size_t len)
{
    static const char bytes[] = "bytes";
    if (len != sizeof bytes - 1)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != bytes[i])
            return 0;
    }
    return 1;
}

http_range_result http_range_parse_len(const char *value, size_t len, uint64_t size,
                                       http_range *out, size_t max, size_t *n)
{
    *n = 0;
    if (!value)
        return HTTP_RANGE_NONE;

    size_t i = 0, count = 0, elements = 0;
    int empty_suffix = 0;
    while (i < len && is_ows(value[i]))
        i++;
    size_t unit = i;
    while (i < len && value[i] != '=')
        i++;
    if (i == len || !unit_is_bytes(value + unit, i - unit))
        return HTTP_RANGE_IGNORE;
    i++; /* '=' */

    /* range-set: elements separated by commas, each with OWS around it, empty ones skipped. */
    for (;;) {
        while (i < len && is_ows(value[i]))
            i++;
        size_t b = i;
        while (i < len && value[i] != ',')
            i++;
        size_t e = i;
        while (e > b && is_ows(value[e - 1]))
            e--;
        if (e > b) {
            http_range r = {0, 0};
            int sat, es;
            if (!parse_spec(value + b, e - b, size, &r, &sat, &es))
                return HTTP_RANGE_IGNORE;
            elements++;
            empty_suffix |= es;
            if (sat) {
                if (count < max)
                    out[count] = r;
                if (count < SIZE_MAX)
                    count++;
            }
        }
        if (i == len)
            break;
        i++; /* ',' */
    }

    if (elements == 0 || empty_suffix)
        return HTTP_RANGE_IGNORE;
    if (count > max)
        return HTTP_RANGE_TOO_MANY;
    if (count == 0)
        return HTTP_RANGE_UNSATISFIABLE;
    *n = count;
    return HTTP_RANGE_OK;
}

http_range_result http_range_parse(const char *value, uint64_t size, http_range *out, size_t max,
                                   size_t *n)
{
    return http_range_parse_len(value, value ? strlen(value) : 0, size, out, max, n);
}

const char *http_range_result_str(http_range_result rc)
{
    switch (rc) {
    case HTTP_RANGE_NONE:
        return "none";
    case HTTP_RANGE_IGNORE:
        return "ignore";
    case HTTP_RANGE_OK:
        return "ok";
    case HTTP_RANGE_UNSATISFIABLE:
        return "unsatisfiable";
    case HTTP_RANGE_TOO_MANY:
        return "too-many";
    }
    return "unknown";
}

/* ---- sizes and abuse ---- */

static uint64_t add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

uint64_t http_range_length(const http_range *r)
{
    if (r->end < r->start)
        return 0;
    return add_sat(r->end - r->start, 1);
}

uint64_t http_ranges_total(const http_range *r, size_t n)
{
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total = add_sat(total, http_range_length(&r[i]));
    return total;
}

int http_ranges_abusive(const http_range *r, size_t n, uint64_t size)
{
    if (n <= 1)
        return 0;
    uint64_t total = http_ranges_total(r, n);
    if (total > size && total - size > size)
        return 1;
    /* The deepest overlap is reached at the start of some range: count, for each start, the
     * ranges covering it. */
    for (size_t i = 0; i < n; i++) {
        unsigned depth = 0;
        for (size_t j = 0; j < n; j++) {
            if (r[j].start <= r[i].start && r[i].start <= r[j].end && ++depth >= 3)
                return 1;
        }
    }
    return 0;
}

/* ---- formatting ---- */

/* A bounded writer: once something does not fit, ok drops to 0 and nothing more is written. */
typedef struct writer {
    char *buf;
    size_t cap, len;
    int ok;
} writer;

static void w_init(writer *w, char *buf, size_t cap)
{
    w->buf = buf;
    w->cap = cap;
    w->len = 0;
    w->ok = buf != NULL && cap > 0;
    if (w->ok)
        buf[0] = '\0';
}

static void w_put(writer *w, const char *s, size_t n)
{
    if (!w->ok)
        return;
    if (n >= w->cap - w->len) { /* keep room for the NUL */
        w->ok = 0;
        return;
    }
    memcpy(w->buf + w->len, s, n);
    w->len += n;
}

static void w_str(writer *w, const char *s)
{
    if (w->ok)
        w_put(w, s, strlen(s));
}

static size_t u64_dec(char out[20], uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

static void w_u64(writer *w, uint64_t v)
{
    char d[20];
    w_put(w, d, u64_dec(d, v));
}

/* Finishes: NUL-terminates and returns the length, or clears the buffer and returns 0. */
static size_t w_end(writer *w)
{
    if (!w->ok) {
        if (w->buf && w->cap > 0)
            w->buf[0] = '\0';
        return 0;
    }
    w->buf[w->len] = '\0';
    return w->len;
}

static int range_valid(const http_range *r, uint64_t size)
{
    return r->start <= r->end && r->end < size;
}

/* "bytes a-b/size" or "bytes *" "/size" */
static void w_content_range(writer *w, const http_range *r, uint64_t size)
{
    w_str(w, "bytes ");
    if (r) {
        w_u64(w, r->start);
        w_put(w, "-", 1);
        w_u64(w, r->end);
    } else {
        w_put(w, "*", 1);
    }
    w_put(w, "/", 1);
    w_u64(w, size);
}

size_t http_content_range(char *buf, size_t cap, const http_range *r, uint64_t size)
{
    writer w;
    w_init(&w, buf, cap);
    if (r && !range_valid(r, size))
        w.ok = 0;
    w_content_range(&w, r, size);
    return w_end(&w);
}

/* ---- multipart/byteranges ---- */

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

void http_multipart_boundary(char out[HTTP_BOUNDARY_LEN + 1], uint64_t seed)
{
    static const char hex[] = "0123456789abcdef";
    uint64_t state = seed;
    for (size_t i = 0; i < HTTP_BOUNDARY_LEN; i += 16) {
        uint64_t v = splitmix64(&state);
        for (size_t j = 0; j < 16; j++)
            out[i + j] = hex[(v >> (60 - 4 * j)) & 0xf];
    }
    out[HTTP_BOUNDARY_LEN] = '\0';
}

/* RFC 2046 section 5.1.1: 1..70 bchars, the last not a space. */
static int boundary_valid(const char *b)
{
    if (!b)
        return 0;
    size_t n = strlen(b);
    if (n == 0 || n > 70 || b[n - 1] == ' ')
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)b[i];
        if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
            continue;
        if (!strchr("'()+_,-./:=? ", c))
            return 0;
    }
    return 1;
}

/* A field value that cannot break the part header: no control characters (HTAB allowed), and
 * no occurrence of the boundary. */
static int content_type_valid(const char *ct, const char *boundary)
{
    if (!ct)
        return 1;
    for (const char *p = ct; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return 0;
    }
    return strstr(ct, boundary) == NULL;
}

static void w_part_header(writer *w, const char *boundary, const char *content_type,
                          const http_range *r, uint64_t size, int first)
{
    w_str(w, first ? "--" : "\r\n--");
    w_str(w, boundary);
    w_put(w, "\r\n", 2);
    if (content_type) {
        w_str(w, "Content-Type: ");
        w_str(w, content_type);
        w_put(w, "\r\n", 2);
    }
    w_str(w, "Content-Range: ");
    w_content_range(w, r, size);
    w_put(w, "\r\n\r\n", 4);
}

size_t http_multipart_content_type(char *buf, size_t cap, const char *boundary)
{
    writer w;
    w_init(&w, buf, cap);
    if (!boundary_valid(boundary))
        w.ok = 0;
    w_str(&w, "multipart/byteranges; boundary=");
    w_str(&w, boundary);
    return w_end(&w);
}

size_t http_multipart_part_header(char *buf, size_t cap, const char *boundary,
                                  const char *content_type, const http_range *r, uint64_t size,
                                  int first)
{
    writer w;
    w_init(&w, buf, cap);
    if (!boundary_valid(boundary) || !content_type_valid(content_type, boundary) || !r ||
        !range_valid(r, size)) {
        w.ok = 0;
        return w_end(&w);
    }
    w_part_header(&w, boundary, content_type, r, size, first);
    return w_end(&w);
}

size_t http_multipart_trailer(char *buf, size_t cap, const char *boundary)
{
    writer w;
    w_init(&w, buf, cap);
    if (!boundary_valid(boundary)) {
        w.ok = 0;
        return w_end(&w);
    }
    w_str(&w, "\r\n--");
    w_str(&w, boundary);
    w_str(&w, "--\r\n");
    return w_end(&w);
}

static uint64_t dec_len(uint64_t v)
{
    uint64_t n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

uint64_t http_multipart_length(const char *boundary, const char *content_type, const http_range *r,
                               size_t n, uint64_t size)
{
    if (n == 0 || !r || !boundary_valid(boundary) || !content_type_valid(content_type, boundary))
        return 0;
    uint64_t blen = strlen(boundary);
    /* Per part, besides the numbers: "--" B CRLF, [ "Content-Type: " T CRLF ],
     * "Content-Range: bytes " a "-" b "/" size CRLF CRLF, then the bytes; CRLF before every part
     * but the first. */
    uint64_t fixed =
        2 + blen + 2 + (sizeof "Content-Range: bytes " - 1) + 1 + 1 + dec_len(size) + 4;
    if (content_type)
        fixed += (sizeof "Content-Type: " - 1) + strlen(content_type) + 2;
    uint64_t total = 2 + 2 + blen + 2 + 2; /* trailer: CRLF "--" B "--" CRLF */
    for (size_t i = 0; i < n; i++) {
        if (!range_valid(&r[i], size))
            return 0;
        uint64_t part = fixed + (i > 0 ? 2 : 0) + dec_len(r[i].start) + dec_len(r[i].end);
        total = add_sat(total, part);
        total = add_sat(total, http_range_length(&r[i]));
    }
    return total;
}
