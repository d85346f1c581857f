/* Chunking vectors (xet-spec.md 1): both variants, one-shot and streaming, the triggering table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

typedef struct chunk_list {
    size_t n, cap;
    size_t *off, *len;
    xet_hash *hash;
    size_t pos;
} chunk_list;

static void list_push(chunk_list *l, const uint8_t *p, size_t len)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->off = realloc(l->off, l->cap * sizeof *l->off);
        l->len = realloc(l->len, l->cap * sizeof *l->len);
        l->hash = realloc(l->hash, l->cap * sizeof *l->hash);
        assert_non_null(l->off);
        assert_non_null(l->len);
        assert_non_null(l->hash);
    }
    l->off[l->n] = l->pos;
    l->len[l->n] = len;
    xet_chunk_hash(p, len, &l->hash[l->n]);
    l->n++;
    l->pos += len;
}

static int collect(void *arg, const uint8_t *p, size_t len)
{
    assert_true(len > 0 && len <= XET_MAX_CHUNK);
    list_push(arg, p, len);
    return 0;
}

static void list_free(chunk_list *l)
{
    free(l->off);
    free(l->len);
    free(l->hash);
    memset(l, 0, sizeof *l);
}

static void chunk_oneshot(const uint8_t *d, size_t n, xet_variant v, chunk_list *out)
{
    memset(out, 0, sizeof *out);
    size_t pos = 0;
    while (pos < n) {
        size_t len = xet_next_chunk_len(d + pos, n - pos, v);
        assert_true(len > 0);
        list_push(out, d + pos, len);
        pos += len;
    }
}

/* Streams d through the chunker with feed sizes cycling through sizes[]. */
static void chunk_stream(const uint8_t *d, size_t n, xet_variant v, const size_t *sizes, size_t nsizes,
                         chunk_list *out)
{
    memset(out, 0, sizeof *out);
    xet_chunker c;
    assert_int_equal(xet_chunker_init(&c, v), HG_OK);
    size_t pos = 0, k = 0;
    while (pos < n) {
        size_t piece = sizes[k++ % nsizes];
        if (piece > n - pos)
            piece = n - pos;
        assert_int_equal(xet_chunker_feed(&c, d + pos, piece, collect, out), 0);
        pos += piece;
    }
    assert_int_equal(xet_chunker_finish(&c, collect, out), 0);
    xet_chunker_free(&c);
}

static void assert_lists_equal(const chunk_list *a, const chunk_list *b)
{
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        assert_int_equal(a->off[i], b->off[i]);
        assert_int_equal(a->len[i], b->len[i]);
        assert_memory_equal(a->hash[i].b, b->hash[i].b, 32);
    }
}

static void assert_list_matches_json(const chunk_list *l, json_t *chunks, const char *name)
{
    if (l->n != json_array_size(chunks))
        fail_msg("%s: %zu chunks, expected %zu", name, l->n, json_array_size(chunks));
    for (size_t i = 0; i < l->n; i++) {
        json_t *c = json_array_get(chunks, i);
        assert_int_equal(l->off[i], json_integer_value(json_object_get(c, "offset")));
        assert_int_equal(l->len[i], json_integer_value(json_object_get(c, "length")));
        tu_assert_hash(&l->hash[i], json_string_value(json_object_get(c, "hash")));
    }
}

static void list_hashes(const chunk_list *l, xet_hash *root, xet_hash *file, xet_hash *verif)
{
    xet_merkle m;
    xet_merkle_init(&m);
    for (size_t i = 0; i < l->n; i++)
        xet_merkle_add(&m, &l->hash[i], l->len[i]);
    assert_int_equal(xet_merkle_finish(&m, root, NULL), HG_OK);
    xet_file_hash_from_root(root, l->n, file);
    if (l->n)
        xet_verification_hash(l->hash, l->n, verif);
}

static void check_vector(json_t *v, xet_variant variant)
{
    const char *name = json_string_value(json_object_get(v, "name"));
    size_t n;
    uint8_t *d = tu_vector_input(name, &n);
    if (!d)
        fail_msg("no generator for vector %s", name);
    assert_int_equal(n, json_integer_value(json_object_get(v, "size")));
    char sha[65];
    tu_sha256_hex(d, n, sha);
    assert_string_equal(sha, json_string_value(json_object_get(v, "sha256")));

    json_t *expect = v;
    if (variant == XET_VARIANT_M && !json_is_true(json_object_get(v, "xetcore_min_size_rule_agrees")))
        expect = json_object_get(v, "xetcore_min_size_rule_variant");
    assert_non_null(expect);

    chunk_list one, streamed;
    chunk_oneshot(d, n, variant, &one);
    assert_list_matches_json(&one, json_object_get(expect, "chunks"), name);

    xet_hash root, file, verif;
    list_hashes(&one, &root, &file, &verif);
    json_t *j;
    if ((j = json_object_get(expect, "xorb_hash_all_chunks")) && json_is_string(j))
        tu_assert_hash(&root, json_string_value(j));
    if ((j = json_object_get(expect, "file_hash")) && json_is_string(j))
        tu_assert_hash(&file, json_string_value(j));
    if ((j = json_object_get(expect, "verification_hash_all_chunks")) && json_is_string(j))
        tu_assert_hash(&verif, json_string_value(j));

    /* The feed sizes the vectors were checked with, then odd and large ones. */
    static const size_t mixed[] = {1, 37, 255, 65536, 100000, 4093};
    static const size_t odd[] = {8127, 8128, 8191, 8192, 131071, 131072, 131073, 3};
    static const size_t big[] = {1u << 22};
    chunk_stream(d, n, variant, mixed, 6, &streamed);
    assert_lists_equal(&one, &streamed);
    list_free(&streamed);
    chunk_stream(d, n, variant, odd, 8, &streamed);
    assert_lists_equal(&one, &streamed);
    list_free(&streamed);
    chunk_stream(d, n, variant, big, 1, &streamed);
    assert_lists_equal(&one, &streamed);
    list_free(&streamed);
    if (n <= 1100000) {
        static const size_t bytewise[] = {1};
        chunk_stream(d, n, variant, bytewise, 1, &streamed);
        assert_lists_equal(&one, &streamed);
        list_free(&streamed);
    }
    list_free(&one);
    free(d);
}

static void run_vectors(xet_variant v)
{
    json_t *all = tu_get(tu_vectors, "chunking_and_hashing");
    assert_true(json_array_size(all) >= 12);
    for (size_t i = 0; i < json_array_size(all); i++)
        check_vector(json_array_get(all, i), v);
}

static void test_vectors_variant_l(void **state)
{
    (void)state;
    run_vectors(XET_VARIANT_L);
}

static void test_vectors_variant_m(void **state)
{
    (void)state;
    run_vectors(XET_VARIANT_M);
}

static void check_triggering(xet_variant v, const char *field)
{
    json_t *table = tu_get(tu_vectors, "triggering_table");
    assert_int_equal(json_array_size(table), 128);
    for (size_t i = 0; i < 128; i++) {
        json_t *row = json_array_get(table, i);
        size_t pad = (size_t)json_integer_value(json_object_get(row, "padding"));
        uint8_t *d = tu_triggering(65536, pad);
        assert_int_equal(d[11111], json_integer_value(json_object_get(row, "byte_at_11111")));
        chunk_list l;
        chunk_oneshot(d, 65536, v, &l);
        json_t *b = json_object_get(row, field);
        if (l.n != json_array_size(b))
            fail_msg("padding %zu (%s): %zu chunks, expected %zu", pad, field, l.n, json_array_size(b));
        for (size_t k = 0; k < l.n; k++)
            assert_int_equal(l.off[k] + l.len[k], json_integer_value(json_array_get(b, k)));
        static const size_t mixed[] = {1, 37, 255, 4093};
        chunk_list s;
        chunk_stream(d, 65536, v, mixed, 4, &s);
        assert_lists_equal(&l, &s);
        list_free(&s);
        list_free(&l);
        free(d);
    }
}

static void test_triggering_table(void **state)
{
    (void)state;
    check_triggering(XET_VARIANT_L, "boundaries_ts");
    check_triggering(XET_VARIANT_M, "boundaries_xetcore_min_size_rule");
}

static void test_random_feeds(void **state)
{
    (void)state;
    /* Random data with random feed sizes, both variants: streaming equals one-shot. */
    size_t n = 3u << 20;
    uint8_t *d = tu_splitmix64(n, 12345);
    uint8_t *sz = tu_splitmix64(4096, 777);
    size_t sizes[1024];
    for (size_t i = 0; i < 1024; i++) {
        uint32_t r = (uint32_t)sz[4 * i] | (uint32_t)sz[4 * i + 1] << 8 | (uint32_t)sz[4 * i + 2] << 16;
        sizes[i] = 1 + r % (i % 3 == 0 ? 300000 : i % 3 == 1 ? 9000 : 64);
    }
    for (int v = 0; v < 2; v++) {
        chunk_list one, s;
        chunk_oneshot(d, n, (xet_variant)v, &one);
        chunk_stream(d, n, (xet_variant)v, sizes, 1024, &s);
        assert_lists_equal(&one, &s);
        for (size_t i = 0; i + 1 < one.n; i++) {
            assert_true(one.len[i] >= (v == XET_VARIANT_M ? 8192u : 8128u));
            assert_true(one.len[i] <= XET_MAX_CHUNK);
        }
        list_free(&one);
        list_free(&s);
    }
    free(sz);
    free(d);
}

static int stop_after_two(void *arg, const uint8_t *p, size_t len)
{
    (void)p;
    (void)len;
    int *count = arg;
    return ++*count == 2 ? 42 : 0;
}

static void test_callback_stops(void **state)
{
    (void)state;
    uint8_t *d = tu_constant(1u << 20, 0);
    xet_chunker c;
    int count = 0;
    assert_int_equal(xet_chunker_init(&c, XET_VARIANT_M), HG_OK);
    assert_int_equal(xet_chunker_feed(&c, d, 1u << 20, stop_after_two, &count), 42);
    assert_int_equal(count, 2);
    xet_chunker_free(&c);
    free(d);
    xet_variant v;
    assert_int_equal(xet_variant_parse("l", &v), HG_OK);
    assert_int_equal(v, XET_VARIANT_L);
    assert_int_equal(xet_variant_parse("X", &v), HG_ERR_INVAL);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors_variant_l),
        cmocka_unit_test(test_vectors_variant_m),
        cmocka_unit_test(test_triggering_table),
        cmocka_unit_test(test_random_feeds),
        cmocka_unit_test(test_callback_stops),
    };
    return tu_main(argc, argv, "xet_chunk", tests, sizeof tests / sizeof tests[0]);
}
