/* Xorb and chunk-record codec (xet-spec.md 3): the reference xorb, round trips, hostile input. */
#include <stdlib.h>
#include <string.h>

#include <lz4frame.h>

#include "testutil.h"

static xet_codec *cx;

static int setup(void **state)
{
    (void)state;
    return xet_codec_new(&cx) == HG_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    xet_codec_free(&cx);
    return 0;
}

/* The four files of the upload vector, concatenated in upload order. */
static uint8_t *upload_files(size_t *n)
{
    uint8_t *z = tu_constant(100000, 0), *u = tu_u32counter(20000), *r = tu_splitmix64(3000, 7),
            *s = tu_constant(140000, 7);
    *n = 100000 + 20000 + 3000 + 140000;
    uint8_t *all = malloc(*n);
    assert_non_null(all);
    memcpy(all, z, 100000);
    memcpy(all + 100000, u, 20000);
    memcpy(all + 120000, r, 3000);
    memcpy(all + 123000, s, 140000);
    free(z);
    free(u);
    free(r);
    free(s);
    return all;
}

static void test_reference_xorb(void **state)
{
    (void)state;
    json_t *xv = tu_get(tu_vectors, "xorb_shard_upload.xorb");
    size_t n;
    uint8_t *x = tu_unhex(json_string_value(json_object_get(xv, "hex")), &n);
    assert_int_equal(n, json_integer_value(json_object_get(xv, "length")));
    xet_xorb_info info;
    hg_buf raw;
    hg_buf_init(&raw, 1u << 26);
    assert_int_equal(xet_xorb_parse(cx, x, n, &info, &raw), HG_OK);
    tu_assert_hash(&info.hash, json_string_value(json_object_get(xv, "hash")));
    json_t *chunks = json_object_get(xv, "chunks");
    assert_int_equal(info.nchunks, json_array_size(chunks));
    for (size_t i = 0; i < info.nchunks; i++) {
        json_t *c = json_array_get(chunks, i);
        xet_chunk_header h;
        assert_int_equal(xet_chunk_header_parse(x + info.chunks[i].rec_off, 8, &h), HG_OK);
        assert_int_equal(info.chunks[i].rec_off, json_integer_value(json_object_get(c, "offset")));
        assert_int_equal(h.stored_len, json_integer_value(json_object_get(c, "compressed_length")));
        assert_int_equal(h.scheme, json_integer_value(json_object_get(c, "compression_scheme")));
        assert_int_equal(h.raw_len, json_integer_value(json_object_get(c, "uncompressed_length")));
        tu_assert_hash(&info.chunks[i].hash, json_string_value(json_object_get(c, "chunk_hash")));
        uint8_t hdr[8];
        xet_chunk_header_write(&h, hdr);
        assert_memory_equal(hdr, x + info.chunks[i].rec_off, 8);
    }
    size_t flen;
    uint8_t *files = upload_files(&flen);
    assert_int_equal(raw.len, flen);
    assert_memory_equal(raw.data, files, flen);
    free(files);
    hg_buf_free(&raw);
    xet_xorb_info_free(&info);
    free(x);
}

static void test_writer_matches_reference(void **state)
{
    (void)state;
    /* Re-encode the same five chunks: same hash and same scheme choices as the reference. */
    size_t flen;
    uint8_t *files = upload_files(&flen);
    static const size_t lens[] = {100000, 20000, 3000, 131072, 8928};
    static const uint8_t schemes[] = {1, 2, 0, 1, 1};
    xet_xorb_writer w;
    xet_xorb_writer_init(&w, cx);
    size_t off = 0;
    for (int i = 0; i < 5; i++) {
        assert_int_equal(xet_xorb_writer_add(&w, files + off, lens[i], XET_SCHEME_AUTO), HG_OK);
        off += lens[i];
    }
    xet_hash h;
    assert_int_equal(xet_xorb_writer_hash(&w, &h), HG_OK);
    tu_assert_hash(&h, json_string_value(tu_get(tu_vectors, "xorb_shard_upload.xorb.hash")));
    for (int i = 0; i < 5; i++)
        assert_int_equal(w.data.data[w.chunks[i].rec_off + 4], schemes[i]);
    xet_xorb_info info;
    hg_buf raw;
    hg_buf_init(&raw, 1u << 26);
    assert_int_equal(xet_xorb_parse(cx, w.data.data, w.data.len, &info, &raw), HG_OK);
    assert_memory_equal(info.hash.b, h.b, 32);
    assert_int_equal(raw.len, flen);
    assert_memory_equal(raw.data, files, flen);
    hg_buf_free(&raw);
    xet_xorb_info_free(&info);
    xet_xorb_writer_free(&w);
    free(files);
}

static void test_each_scheme_roundtrip(void **state)
{
    (void)state;
    uint8_t *rnd = tu_splitmix64(XET_MAX_CHUNK, 5), *lin = tu_linear(XET_MAX_CHUNK, 3, 1);
    uint8_t *rec = malloc(xet_record_bound(XET_MAX_CHUNK)), *out = malloc(XET_MAX_CHUNK);
    assert_non_null(rec);
    assert_non_null(out);
    static const size_t sizes[] = {1, 2, 3, 4, 5, 7, 8, 9, 100, 4097, 65536, XET_MAX_CHUNK};
    for (int which = 0; which < 2; which++) {
        const uint8_t *src = which ? lin : rnd;
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
            for (int s = 0; s < 4; s++) {
                xet_scheme sc = s == 3 ? XET_SCHEME_AUTO : (xet_scheme)s;
                size_t n = sizes[k], w, raw_len, rec_len;
                assert_int_equal(xet_record_encode(cx, src, n, sc, rec, xet_record_bound(n), &w), HG_OK);
                if (sc != XET_SCHEME_AUTO)
                    assert_int_equal(rec[4], sc);
                else
                    assert_true(w <= n + 8); /* AUTO never expands beyond the header */
                assert_int_equal(xet_record_decode(cx, rec, w, out, XET_MAX_CHUNK, &raw_len, &rec_len), HG_OK);
                assert_int_equal(raw_len, n);
                assert_int_equal(rec_len, w);
                assert_memory_equal(out, src, n);
                /* Truncated records never decode. */
                for (size_t cut = 0; cut < w; cut += 1 + w / 50)
                    assert_int_not_equal(xet_record_decode(cx, rec, cut, out, XET_MAX_CHUNK, &raw_len, &rec_len), HG_OK);
            }
    }
    free(rnd);
    free(lin);
    free(rec);
    free(out);
}

static void test_bg4(void **state)
{
    (void)state;
    uint8_t src[11] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, g[11], back[11];
    xet_bg4_split(src, 11, g);
    /* groups: {0,4,8} {1,5,9} {2,6,10} {3,7} */
    static const uint8_t want[11] = {0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7};
    assert_memory_equal(g, want, 11);
    for (size_t n = 0; n <= 11; n++) {
        xet_bg4_split(src, n, g);
        xet_bg4_join(g, n, back);
        assert_memory_equal(back, src, n);
    }
}

static void test_hostile_headers(void **state)
{
    (void)state;
    uint8_t rec[64] = {0};
    uint8_t out[XET_MAX_CHUNK];
    size_t raw_len, rec_len;
    xet_chunk_header h;
    assert_int_equal(xet_chunk_header_parse(rec, 7, &h), HG_ERR_CORRUPT);
    /* version 1 */
    uint8_t v1[8] = {1, 4, 0, 0, 0, 4, 0, 0};
    assert_int_equal(xet_chunk_header_parse(v1, 8, &h), HG_ERR_CORRUPT);
    /* unknown scheme 3 */
    uint8_t s3[8] = {0, 4, 0, 0, 3, 4, 0, 0};
    assert_int_equal(xet_chunk_header_parse(s3, 8, &h), HG_ERR_CORRUPT);
    /* uncompressed length 131073 */
    uint8_t big[8] = {0, 4, 0, 0, 1, 0x01, 0x00, 0x02};
    assert_int_equal(xet_chunk_header_parse(big, 8, &h), HG_ERR_CORRUPT);
    /* compressed length over 2 * 131072 */
    uint8_t cbig[8] = {0, 0x01, 0x00, 0x04, 1, 4, 0, 0};
    assert_int_equal(xet_chunk_header_parse(cbig, 8, &h), HG_ERR_CORRUPT);
    /* footer marker */
    assert_int_equal(xet_chunk_header_parse((const uint8_t *)"XETBLOB\x01", 8, &h), HG_ERR_CORRUPT);
    /* NONE whose stored length differs from its raw length */
    uint8_t none[8] = {0, 4, 0, 0, 0, 5, 0, 0};
    assert_int_equal(xet_chunk_header_parse(none, 8, &h), HG_ERR_CORRUPT);
    /* payload shorter than declared */
    uint8_t shortp[12] = {0, 8, 0, 0, 0, 8, 0, 0, 1, 2, 3, 4};
    assert_int_equal(xet_record_decode(cx, shortp, 12, out, sizeof out, &raw_len, &rec_len), HG_ERR_CORRUPT);
    /* LZ4 payload that is not a frame */
    uint8_t junk[16] = {0, 8, 0, 0, 1, 8, 0, 0, 'n', 'o', 't', 'a', 'f', 'r', 'a', 'm'};
    assert_int_equal(xet_record_decode(cx, junk, 16, out, sizeof out, &raw_len, &rec_len), HG_ERR_CORRUPT);
}

static void test_lz4_frame_strictness(void **state)
{
    (void)state;
    uint8_t *src = tu_linear(5000, 1, 0);
    uint8_t rec[6000], bad[6000], out[XET_MAX_CHUNK];
    size_t w, raw_len, rec_len;
    assert_int_equal(xet_record_encode(cx, src, 5000, XET_SCHEME_LZ4, rec, sizeof rec, &w), HG_OK);
    /* A frame followed by extra bytes inside the declared payload is corrupt. */
    memcpy(bad, rec, w);
    bad[w] = 0;
    xet_chunk_header h;
    assert_int_equal(xet_chunk_header_parse(rec, w, &h), HG_OK);
    h.stored_len += 1;
    xet_chunk_header_write(&h, bad);
    assert_int_equal(xet_record_decode(cx, bad, w + 1, out, sizeof out, &raw_len, &rec_len), HG_ERR_CORRUPT);
    /* A frame that decodes to more or fewer bytes than declared is corrupt. */
    for (int d = -1; d <= 1; d += 2) {
        memcpy(bad, rec, w);
        assert_int_equal(xet_chunk_header_parse(rec, w, &h), HG_OK);
        h.raw_len = (uint32_t)((int)h.raw_len + d);
        xet_chunk_header_write(&h, bad);
        assert_int_equal(xet_record_decode(cx, bad, w, out, sizeof out, &raw_len, &rec_len), HG_ERR_CORRUPT);
    }
    /* The decoder recovers after errors. */
    assert_int_equal(xet_record_decode(cx, rec, w, out, sizeof out, &raw_len, &rec_len), HG_OK);
    assert_memory_equal(out, src, 5000);
    free(src);
}

/* Frames with checksums (liblz4's decoder) and with a bad header checksum (our fast path). */
static void test_lz4_frame_variants(void **state)
{
    (void)state;
    uint8_t *src = tu_linear(70000, 3, 1);
    uint8_t rec[80000], out[XET_MAX_CHUNK];
    size_t raw_len, rec_len;
    LZ4F_preferences_t prefs = {0};
    prefs.frameInfo.blockSizeID = LZ4F_max64KB;
    prefs.frameInfo.blockMode = LZ4F_blockLinked;
    prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
    prefs.frameInfo.blockChecksumFlag = LZ4F_blockChecksumEnabled;
    prefs.frameInfo.contentSize = 70000;
    size_t fl = LZ4F_compressFrame(rec + 8, sizeof rec - 8, src, 70000, &prefs);
    assert_false(LZ4F_isError(fl));
    xet_chunk_header h = {0, (uint32_t)fl, XET_SCHEME_LZ4, 70000};
    xet_chunk_header_write(&h, rec);
    assert_int_equal(xet_record_decode(cx, rec, 8 + fl, out, sizeof out, &raw_len, &rec_len), HG_OK);
    assert_memory_equal(out, src, 70000);
    /* A flipped content checksum is caught by liblz4. */
    rec[8 + fl - 1] ^= 1;
    assert_int_equal(xet_record_decode(cx, rec, 8 + fl, out, sizeof out, &raw_len, &rec_len), HG_ERR_CORRUPT);
    /* Linked blocks without checksums and with a content size: the fast path. */
    prefs.frameInfo.contentChecksumFlag = LZ4F_noContentChecksum;
    prefs.frameInfo.blockChecksumFlag = LZ4F_noBlockChecksum;
    fl = LZ4F_compressFrame(rec + 8, sizeof rec - 8, src, 70000, &prefs);
    assert_false(LZ4F_isError(fl));
    h.stored_len = (uint32_t)fl;
    xet_chunk_header_write(&h, rec);
    assert_int_equal(xet_record_decode(cx, rec, 8 + fl, out, sizeof out, &raw_len, &rec_len), HG_OK);
    assert_memory_equal(out, src, 70000);
    /* A wrong header checksum (byte after FLG, BD and the 8-byte content size) is corrupt. */
    rec[8 + 4 + 10] ^= 0x55;
    assert_int_equal(xet_record_decode(cx, rec, 8 + fl, out, sizeof out, &raw_len, &rec_len), HG_ERR_CORRUPT);
    free(src);
}

static void test_xorb_truncation_and_flips(void **state)
{
    (void)state;
    size_t n;
    uint8_t *x = tu_unhex(json_string_value(tu_get(tu_vectors, "xorb_shard_upload.xorb.hex")), &n);
    static const size_t bounds[] = {426, 882, 3890, 4437, 4505};
    for (size_t cut = 0; cut < n; cut++) {
        xet_xorb_info info;
        hg_err rc = xet_xorb_parse(cx, x, cut, &info, NULL);
        int at_boundary = 0;
        for (int i = 0; i < 5; i++)
            at_boundary |= bounds[i] == cut;
        if (at_boundary) {
            assert_int_equal(rc, HG_OK);
            xet_xorb_info_free(&info);
        } else {
            assert_int_not_equal(rc, HG_OK);
        }
    }
    uint8_t *m = malloc(n);
    assert_non_null(m);
    for (size_t i = 0; i < n; i++)
        for (int bit = 0; bit < 8; bit += 3) {
            memcpy(m, x, n);
            m[i] ^= (uint8_t)(1u << bit);
            xet_xorb_info info;
            if (xet_xorb_parse(cx, m, n, &info, NULL) == HG_OK)
                xet_xorb_info_free(&info);
        }
    /* A server-side footer ends the records. */
    uint8_t *f = malloc(n + 100);
    assert_non_null(f);
    memcpy(f, x, n);
    memcpy(f + n, "XETBLOB\x01", 8);
    memset(f + n + 8, 0, 92);
    xet_xorb_info info;
    assert_int_equal(xet_xorb_parse(cx, f, n + 100, &info, NULL), HG_OK);
    assert_int_equal(info.records_len, n);
    assert_int_equal(info.nchunks, 5);
    xet_xorb_info_free(&info);
    assert_int_equal(xet_xorb_parse(cx, x, 0, &info, NULL), HG_ERR_CORRUPT);
    free(f);
    free(m);
    free(x);
}

static void test_xorb_limits(void **state)
{
    (void)state;
    /* 8193 one-byte records exceed the chunk-count limit. */
    size_t n = 8193 * 9;
    uint8_t *x = malloc(n);
    assert_non_null(x);
    for (size_t i = 0; i < 8193; i++) {
        uint8_t h[9] = {0, 1, 0, 0, 0, 1, 0, 0, (uint8_t)i};
        memcpy(x + 9 * i, h, 9);
    }
    xet_xorb_info info;
    assert_int_equal(xet_xorb_parse(cx, x, n, &info, NULL), HG_ERR_TOOBIG);
    assert_int_equal(xet_xorb_parse(cx, x, n - 9, &info, NULL), HG_OK);
    assert_int_equal(info.nchunks, 8192);
    xet_xorb_info_free(&info);
    free(x);
    /* A zero-length chunk is not a chunk. */
    uint8_t z[8] = {0};
    assert_int_equal(xet_xorb_parse(cx, z, 8, &info, NULL), HG_ERR_CORRUPT);
    /* The writer refuses to pass the limits. */
    xet_xorb_writer w;
    xet_xorb_writer_init(&w, cx);
    uint8_t one = 1;
    for (int i = 0; i < 8192; i++)
        assert_int_equal(xet_xorb_writer_add(&w, &one, 1, XET_SCHEME_NONE), HG_OK);
    assert_false(xet_xorb_writer_fits(&w, 1));
    assert_int_equal(xet_xorb_writer_add(&w, &one, 1, XET_SCHEME_NONE), HG_ERR_TOOBIG);
    assert_int_equal(xet_xorb_writer_add(&w, &one, 0, XET_SCHEME_NONE), HG_ERR_INVAL);
    xet_xorb_writer_free(&w);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reference_xorb, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_matches_reference, setup, teardown),
        cmocka_unit_test_setup_teardown(test_each_scheme_roundtrip, setup, teardown),
        cmocka_unit_test(test_bg4),
        cmocka_unit_test_setup_teardown(test_hostile_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lz4_frame_strictness, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lz4_frame_variants, setup, teardown),
        cmocka_unit_test_setup_teardown(test_xorb_truncation_and_flips, setup, teardown),
        cmocka_unit_test_setup_teardown(test_xorb_limits, setup, teardown),
    };
    return tu_main(argc, argv, "xet_xorb", tests, sizeof tests / sizeof tests[0]);
}
