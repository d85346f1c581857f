#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

json_t *tu_vectors;

int tu_main(int argc, char **argv, const char *name, const struct CMUnitTest *tests, size_t n)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s XET_VECTORS_JSON\n", argv[0]);
        return 2;
    }
    json_error_t err;
    tu_vectors = json_load_file(argv[1], 0, &err);
    if (!tu_vectors) {
        fprintf(stderr, "%s: %s:%d: %s\n", argv[1], err.source, err.line, err.text);
        return 2;
    }
    int rc = _cmocka_run_group_tests(name, tests, n, NULL, NULL);
    json_decref(tu_vectors);
    return rc;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

uint8_t *tu_unhex(const char *hex, size_t *n)
{
    size_t len = strlen(hex);
    assert_int_equal(len % 2, 0);
    uint8_t *out = malloc(len / 2 + 1);
    assert_non_null(out);
    for (size_t i = 0; i < len / 2; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        assert_true(hi >= 0 && lo >= 0);
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    *n = len / 2;
    return out;
}

xet_hash tu_xet_hash(const char *hex)
{
    xet_hash h;
    assert_int_equal(xet_hash_from_hex(hex, strlen(hex), &h), HG_OK);
    return h;
}

void tu_assert_hash(const xet_hash *h, const char *xet_hex)
{
    char buf[XET_HEX_LEN + 1];
    xet_hash_to_hex(h, buf);
    assert_string_equal(buf, xet_hex);
}

static uint8_t *alloc_or_fail(size_t n)
{
    uint8_t *p = malloc(n ? n : 1);
    assert_non_null(p);
    return p;
}

uint8_t *tu_splitmix64(size_t n, uint64_t seed)
{
    uint8_t *p = alloc_or_fail(n);
    uint64_t state = seed;
    for (size_t i = 0; i < n; i += 8) {
        state += 0x9E3779B97F4A7C15ull;
        uint64_t z = state;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        for (size_t k = 0; k < 8 && i + k < n; k++)
            p[i + k] = (uint8_t)(z >> (8 * k));
    }
    return p;
}

uint8_t *tu_constant(size_t n, uint8_t v)
{
    uint8_t *p = alloc_or_fail(n);
    memset(p, v, n);
    return p;
}

uint8_t *tu_linear(size_t n, unsigned a, unsigned b)
{
    uint8_t *p = alloc_or_fail(n);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)((i * a + b) & 0xFF);
    return p;
}

uint8_t *tu_u32counter(size_t n)
{
    uint8_t *p = alloc_or_fail(n);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(((uint32_t)(i / 4)) >> (8 * (i % 4)));
    return p;
}

uint8_t *tu_triggering(size_t n, size_t padding)
{
    json_t *pat = tu_get(tu_vectors, "generators.trigger_pattern");
    assert_int_equal(json_array_size(pat), 128);
    uint8_t *p = alloc_or_fail(n);
    size_t period = 128 + padding;
    for (size_t i = 0; i < n; i++) {
        size_t k = i % period;
        p[i] = k < 128 ? (uint8_t)json_integer_value(json_array_get(pat, k)) : 0;
    }
    return p;
}

static uint8_t *edited_concat(size_t *n)
{
    const size_t alen = 3145728;
    uint8_t *a = tu_splitmix64(alen, 2);
    size_t total = 2 * alen + 37;
    uint8_t *p = alloc_or_fail(total);
    memcpy(p, a, alen);
    uint8_t *b = p + alen;
    memcpy(b, a, 2000000);
    b[1000000] ^= 0xFF;
    memset(b + 2000000, 0xAB, 37);
    memcpy(b + 2000037, a + 2000000, alen - 2000000);
    free(a);
    *n = total;
    return p;
}

uint8_t *tu_vector_input(const char *name, size_t *n)
{
    if (!strcmp(name, "empty")) {
        *n = 0;
        return alloc_or_fail(0);
    }
    if (!strcmp(name, "one_byte_00")) {
        *n = 1;
        return tu_constant(1, 0);
    }
    if (!strcmp(name, "abc")) {
        uint8_t *p = alloc_or_fail(3);
        memcpy(p, "abc", 3);
        *n = 3;
        return p;
    }
    if (!strcmp(name, "zeros_1MiB"))
        return *n = 1048576, tu_constant(1048576, 0);
    if (!strcmp(name, "const59_1000000"))
        return *n = 1000000, tu_constant(1000000, 59);
    if (!strcmp(name, "splitmix64_seed0_1000000"))
        return *n = 1000000, tu_splitmix64(1000000, 0);
    if (!strcmp(name, "splitmix64_seed0_4MiB"))
        return *n = 4194304, tu_splitmix64(4194304, 0);
    if (!strcmp(name, "edited_concat"))
        return edited_concat(n);
    if (!strcmp(name, "linear_200000_a7_b13"))
        return *n = 200000, tu_linear(200000, 7, 13);
    if (!strcmp(name, "linear_1000000_a13_b37"))
        return *n = 1000000, tu_linear(1000000, 13, 37);
    if (!strcmp(name, "edge_first_scanned_byte_17")) {
        uint8_t *p = tu_splitmix64(8200, 3);
        p[8127] = 17;
        *n = 8200;
        return p;
    }
    if (!strcmp(name, "triggering_pad1_65536"))
        return *n = 65536, tu_triggering(65536, 1);
    return NULL;
}

void tu_sha256_hex(const uint8_t *data, size_t n, char out[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    assert_int_equal(EVP_Digest(data, n, md, &mdlen, EVP_sha256(), NULL), 1);
    xet_bytes_to_hex(md, 32, out);
}

json_t *tu_get(json_t *root, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    json_t *cur = root;
    for (char *save = NULL, *tok = strtok_r(buf, ".", &save); tok;
         tok = strtok_r(NULL, ".", &save)) {
        cur = json_is_array(cur) ? json_array_get(cur, (size_t)strtoul(tok, NULL, 10))
                                 : json_object_get(cur, tok);
        if (!cur)
            fail_msg("vector field %s missing (at %s)", path, tok);
    }
    return cur;
}
