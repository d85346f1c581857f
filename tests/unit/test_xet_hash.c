/* Hash vectors (xet-spec.md 2): Xet hex, keyed hashes, verification, merkle aggregation. */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static void test_hex_quirk(void **state)
{
    (void)state;
    size_t n;
    uint8_t *raw = tu_unhex(json_string_value(tu_get(tu_vectors, "hash_vectors.hex_quirk.raw_bytes_hex")), &n);
    assert_int_equal(n, 32);
    xet_hash h;
    memcpy(h.b, raw, 32);
    const char *want = json_string_value(tu_get(tu_vectors, "hash_vectors.hex_quirk.xet_hex"));
    tu_assert_hash(&h, want);
    xet_hash back;
    assert_int_equal(xet_hash_from_hex(want, strlen(want), &back), HG_OK);
    assert_memory_equal(back.b, raw, 32);
    free(raw);
}

static void test_hex_parse_rejects(void **state)
{
    (void)state;
    xet_hash h;
    const char *good = "07060504030201000f0e0d0c0b0a090817161514131211101f1e1d1c1b1a1918";
    assert_int_equal(xet_hash_from_hex(good, 63, &h), HG_ERR_INVAL);
    assert_int_equal(xet_hash_from_hex("", 0, &h), HG_ERR_INVAL);
    char bad[65];
    memcpy(bad, good, 65);
    bad[40] = 'g';
    assert_int_equal(xet_hash_from_hex(bad, 64, &h), HG_ERR_INVAL);
    bad[40] = ' ';
    assert_int_equal(xet_hash_from_hex(bad, 64, &h), HG_ERR_INVAL);
    /* Upper case is accepted on input; output is always lower case. */
    char upper[65];
    for (int i = 0; i < 65; i++)
        upper[i] = (char)(good[i] >= 'a' && good[i] <= 'f' ? good[i] - 32 : good[i]);
    assert_int_equal(xet_hash_from_hex(upper, 64, &h), HG_OK);
    tu_assert_hash(&h, good);
}

static void test_hmac(void **state)
{
    (void)state;
    xet_hash msg = tu_xet_hash(json_string_value(tu_get(tu_vectors, "hash_vectors.hmac.message_xet_hex")));
    xet_hash key = tu_xet_hash(json_string_value(tu_get(tu_vectors, "hash_vectors.hmac.key_xet_hex")));
    size_t n;
    uint8_t *kraw = tu_unhex(json_string_value(tu_get(tu_vectors, "hash_vectors.hmac.key_raw_bytes_hex")), &n);
    assert_memory_equal(key.b, kraw, 32);
    free(kraw);
    xet_hash out;
    xet_hmac(&msg, &key, &out);
    tu_assert_hash(&out, json_string_value(tu_get(tu_vectors, "hash_vectors.hmac.result_xet_hex")));
}

static void test_verification(void **state)
{
    (void)state;
    xet_hash hs[2] = {
        tu_xet_hash(json_string_value(tu_get(tu_vectors, "hash_vectors.verification.chunk_hashes_xet_hex.0"))),
        tu_xet_hash(json_string_value(tu_get(tu_vectors, "hash_vectors.verification.chunk_hashes_xet_hex.1"))),
    };
    xet_hash out;
    xet_verification_hash(hs, 2, &out);
    tu_assert_hash(&out, json_string_value(tu_get(tu_vectors, "hash_vectors.verification.result_xet_hex")));
}

static void test_chunk_and_file_hash(void **state)
{
    (void)state;
    xet_hash h, root, file;
    xet_chunk_hash("", 0, &h);
    tu_assert_hash(&h, json_string_value(tu_get(tu_vectors, "hash_vectors.chunk_hash_of_empty_input")));
    xet_chunk_hash("abc", 3, &h);
    tu_assert_hash(&h, json_string_value(tu_get(tu_vectors, "hash_vectors.file_hash_single_chunk_abc.chunk_hash")));
    xet_merkle_node leaf = {h, 3};
    assert_int_equal(xet_merkle_root(&leaf, 1, &root), HG_OK);
    tu_assert_hash(&root, json_string_value(tu_get(tu_vectors, "hash_vectors.file_hash_single_chunk_abc.xorb_hash")));
    xet_file_hash_from_root(&root, 1, &file);
    tu_assert_hash(&file, json_string_value(tu_get(tu_vectors, "hash_vectors.file_hash_single_chunk_abc.file_hash")));
    /* Empty: no leaves, zero root, zero file hash. */
    assert_int_equal(xet_merkle_root(NULL, 0, &root), HG_OK);
    assert_true(xet_hash_is_zero(&root));
    xet_file_hash_from_root(&root, 0, &file);
    assert_true(xet_hash_is_zero(&file));
}

/* The batch definition of xet-spec.md 2.3, written as literally as possible, to check the
 * incremental implementation against. */
static void batch_root(xet_merkle_node *nodes, size_t n, xet_hash *out)
{
    if (n == 0) {
        memset(out, 0, sizeof *out);
        return;
    }
    while (n > 1) {
        size_t w = 0, i = 0;
        while (i < n) {
            size_t remaining = n - i, g;
            if (remaining <= 2) {
                g = remaining;
            } else {
                g = remaining < 9 ? remaining : 9;
                size_t last = remaining - 1 < 8 ? remaining - 1 : 8;
                for (size_t k = 2; k <= last; k++)
                    if ((nodes[i + k].hash.b[24] & 3) == 0) {
                        g = k + 1;
                        break;
                    }
            }
            char *text = malloc(g * 100);
            assert_non_null(text);
            size_t tl = 0;
            uint64_t total = 0;
            for (size_t k = 0; k < g; k++) {
                char hex[65];
                xet_hash_to_hex(&nodes[i + k].hash, hex);
                tl += (size_t)sprintf(text + tl, "%s : %llu\n", hex,
                                      (unsigned long long)nodes[i + k].size);
                total += nodes[i + k].size;
            }
            xet_merkle_node parent;
            xet_keyed_hash(XET_INTERNAL_NODE_KEY, text, tl, &parent.hash);
            parent.size = total;
            free(text);
            nodes[w++] = parent;
            i += g;
        }
        n = w;
    }
    *out = nodes[0].hash;
}

static void test_merkle_incremental_equals_batch(void **state)
{
    (void)state;
    /* Leaf counts around group and level edges, with pseudo-random hashes. */
    static const size_t counts[] = {1, 2, 3, 4, 8, 9, 10, 11, 17, 18, 19, 81, 82, 100, 729, 730, 5000};
    uint8_t *bytes = tu_splitmix64(5000 * 32, 99);
    xet_merkle_node *a = malloc(5000 * sizeof *a), *b = malloc(5000 * sizeof *b);
    assert_non_null(a);
    assert_non_null(b);
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        size_t n = counts[c];
        for (size_t i = 0; i < n; i++) {
            memcpy(a[i].hash.b, bytes + 32 * i, 32);
            a[i].size = 1000 + i;
        }
        memcpy(b, a, n * sizeof *a);
        xet_hash inc, bat;
        assert_int_equal(xet_merkle_root(a, n, &inc), HG_OK);
        batch_root(b, n, &bat);
        assert_memory_equal(inc.b, bat.b, 32);
    }
    /* Forcing natural cuts everywhere and nowhere exercises the 3- and 9-member groups. */
    for (int mode = 0; mode < 2; mode++) {
        for (size_t i = 0; i < 300; i++) {
            memcpy(a[i].hash.b, bytes + 32 * i, 32);
            a[i].hash.b[24] = (uint8_t)(mode ? 4 : 1);
            a[i].size = i;
        }
        memcpy(b, a, 300 * sizeof *a);
        xet_hash inc, bat;
        assert_int_equal(xet_merkle_root(a, 300, &inc), HG_OK);
        batch_root(b, 300, &bat);
        assert_memory_equal(inc.b, bat.b, 32);
    }
    free(a);
    free(b);
    free(bytes);
}

static void test_merkle_trace_first_level(void **state)
{
    (void)state;
    /* The 4 MiB vector records the groups of the first level; check the first group's hash. */
    json_t *v = NULL;
    json_t *all = tu_get(tu_vectors, "chunking_and_hashing");
    for (size_t i = 0; i < json_array_size(all); i++)
        if (!strcmp(json_string_value(json_object_get(json_array_get(all, i), "name")), "splitmix64_seed0_4MiB"))
            v = json_array_get(all, i);
    assert_non_null(v);
    json_t *chunks = json_object_get(v, "chunks");
    json_t *groups = tu_get(v, "merkle_trace.levels.0.groups");
    for (size_t g = 0; g < json_array_size(groups); g++) {
        json_t *grp = json_array_get(groups, g);
        size_t from = (size_t)json_integer_value(json_object_get(grp, "from"));
        size_t to = (size_t)json_integer_value(json_object_get(grp, "to_exclusive"));
        xet_merkle_node nodes[9];
        assert_true(to - from >= 1 && to - from <= 9);
        for (size_t k = from; k < to; k++) {
            json_t *c = json_array_get(chunks, k);
            nodes[k - from].hash = tu_xet_hash(json_string_value(json_object_get(c, "hash")));
            nodes[k - from].size = (uint64_t)json_integer_value(json_object_get(c, "length"));
        }
        /* A group's parent equals the batch root of just that group when it has >= 2 members
         * and no natural cut in positions 2..n-2 (true by construction of the trace). */
        xet_hash h;
        batch_root(nodes, to - from, &h);
        if (to - from > 1)
            tu_assert_hash(&h, json_string_value(json_object_get(grp, "hash")));
    }
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hex_quirk),
        cmocka_unit_test(test_hex_parse_rejects),
        cmocka_unit_test(test_hmac),
        cmocka_unit_test(test_verification),
        cmocka_unit_test(test_chunk_and_file_hash),
        cmocka_unit_test(test_merkle_incremental_equals_batch),
        cmocka_unit_test(test_merkle_trace_first_level),
    };
    return tu_main(argc, argv, "xet_hash", tests, sizeof tests / sizeof tests[0]);
}
