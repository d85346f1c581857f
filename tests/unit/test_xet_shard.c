/* Shard codec (xet-spec.md 4): the reference upload shard field by field, byte-exact
 * re-serialization in both forms, and hostile input (truncation, bad tag, huge counts). */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define REF_TIMESTAMP 1700000000u

/* The reference shard bytes (with footer); *n gets the length. */
static uint8_t *ref_shard(size_t *n)
{
    json_t *sv = tu_get(tu_vectors, "xorb_shard_upload.shard");
    uint8_t *p = tu_unhex(json_string_value(json_object_get(sv, "hex")), n);
    assert_int_equal(*n, json_integer_value(json_object_get(sv, "length")));
    return p;
}

/* The documented footer-less upload form: the first 1200 bytes with footer_size zeroed. */
static uint8_t *ref_shard_nofooter(size_t *n)
{
    size_t full;
    uint8_t *p = ref_shard(&full);
    assert_true(full > XET_SHARD_FOOTER_LEN);
    *n = full - XET_SHARD_FOOTER_LEN;
    memset(p + 40, 0, 8);
    return p;
}

static uint64_t jint(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    assert_true(json_is_integer(v));
    return (uint64_t)json_integer_value(v);
}

static const char *jstr(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    assert_true(json_is_string(v));
    return json_string_value(v);
}

/* Parses exactly the n bytes of a fresh heap copy, so ASan sees any read past the end. */
static hg_err parse_copy(const uint8_t *p, size_t n, xet_shard **out)
{
    uint8_t *c = malloc(n ? n : 1);
    assert_non_null(c);
    if (n)
        memcpy(c, p, n);
    hg_err rc = xet_shard_parse(c, n, out);
    free(c);
    return rc;
}

static void assert_bytes_hex(const uint8_t *p, size_t n, const char *hex)
{
    char buf[2 * 64 + 1];
    assert_true(n <= 64);
    xet_bytes_to_hex(p, n, buf);
    assert_string_equal(buf, hex);
}

/* Same files, terms, xorbs and chunks (the footer is not compared: it depends on the form). */
static void assert_shard_equal(const xet_shard *a, const xet_shard *b)
{
    assert_int_equal(a->version, b->version);
    assert_int_equal(a->nfiles, b->nfiles);
    assert_int_equal(a->nxorbs, b->nxorbs);
    for (size_t i = 0; i < a->nfiles; i++) {
        const xet_shard_file *fa = &a->files[i], *fb = &b->files[i];
        assert_memory_equal(fa->file_hash.b, fb->file_hash.b, 32);
        assert_int_equal(fa->flags, fb->flags);
        assert_int_equal(fa->nterms, fb->nterms);
        assert_memory_equal(fa->sha256, fb->sha256, 32);
        for (uint32_t t = 0; t < fa->nterms; t++)
            assert_memory_equal(&fa->terms[t], &fb->terms[t], sizeof fa->terms[t]);
    }
    for (size_t i = 0; i < a->nxorbs; i++) {
        const xet_shard_xorb *xa = &a->xorbs[i], *xb = &b->xorbs[i];
        assert_memory_equal(xa->xorb_hash.b, xb->xorb_hash.b, 32);
        assert_int_equal(xa->flags, xb->flags);
        assert_int_equal(xa->nchunks, xb->nchunks);
        assert_int_equal(xa->raw_bytes, xb->raw_bytes);
        assert_int_equal(xa->bytes_on_disk, xb->bytes_on_disk);
        for (uint32_t c = 0; c < xa->nchunks; c++)
            assert_memory_equal(&xa->chunks[c], &xb->chunks[c], sizeof xa->chunks[c]);
    }
}

static void test_parse_reference(void **state)
{
    (void)state;
    size_t n;
    uint8_t *p = ref_shard(&n);
    xet_shard *s = NULL;
    assert_int_equal(xet_shard_parse(p, n, &s), HG_OK);
    assert_non_null(s);
    json_t *pv = tu_get(tu_vectors, "xorb_shard_upload.shard.parsed");

    json_t *hv = tu_get(pv, "header");
    assert_bytes_hex(XET_SHARD_TAG, 32, jstr(hv, "tag_hex"));
    assert_int_equal(s->version, jint(hv, "version"));
    assert_int_equal(s->footer_size, jint(hv, "footer_size"));
    assert_true(s->has_footer);

    json_t *fv = tu_get(pv, "footer");
    const xet_shard_footer *ft = &s->footer;
    assert_int_equal(ft->version, jint(fv, "version"));
    assert_int_equal(ft->file_info_offset, jint(fv, "file_info_offset"));
    assert_int_equal(ft->xorb_info_offset, jint(fv, "xorb_info_offset"));
    assert_int_equal(ft->xorb_info_offset, jint(pv, "xorb_info_offset_observed"));
    assert_int_equal(ft->file_lookup_offset, jint(fv, "file_lookup_offset"));
    assert_int_equal(ft->file_lookup_num, jint(fv, "file_lookup_num_entry"));
    assert_int_equal(ft->xorb_lookup_offset, jint(fv, "xorb_lookup_offset"));
    assert_int_equal(ft->xorb_lookup_num, jint(fv, "xorb_lookup_num_entry"));
    assert_int_equal(ft->chunk_lookup_offset, jint(fv, "chunk_lookup_offset"));
    assert_int_equal(ft->chunk_lookup_num, jint(fv, "chunk_lookup_num_entry"));
    assert_bytes_hex(ft->hmac_key.b, 32, jstr(fv, "chunk_hash_hmac_key_hex"));
    assert_int_equal(ft->creation_timestamp, jint(fv, "shard_creation_timestamp"));
    assert_int_equal(ft->key_expiry, jint(fv, "shard_key_expiry"));
    assert_int_equal(ft->stored_bytes_on_disk, jint(fv, "stored_bytes_on_disk"));
    assert_int_equal(ft->materialized_bytes, jint(fv, "materialized_bytes"));
    assert_int_equal(ft->stored_bytes, jint(fv, "stored_bytes"));
    assert_int_equal(ft->footer_offset, jint(fv, "footer_offset"));
    assert_int_equal(ft->footer_offset, jint(pv, "footer_observed_at"));

    json_t *files = tu_get(pv, "files");
    json_t *inputs = tu_get(tu_vectors, "xorb_shard_upload.input_files_in_upload_order");
    assert_int_equal(s->nfiles, json_array_size(files));
    assert_int_equal(s->nfiles, json_array_size(inputs));
    for (size_t i = 0; i < s->nfiles; i++) {
        const xet_shard_file *f = &s->files[i];
        json_t *jf = json_array_get(files, i), *in = json_array_get(inputs, i);
        tu_assert_hash(&f->file_hash, jstr(jf, "file_hash"));
        tu_assert_hash(&f->file_hash, jstr(in, "xet_file_hash"));
        assert_int_equal(f->flags, strtoul(jstr(jf, "flags_hex"), NULL, 16));
        assert_int_equal(f->flags, XET_FILE_FLAG_VERIFICATION | XET_FILE_FLAG_METADATA_EXT);
        assert_int_equal(f->nterms, jint(jf, "num_entries"));
        json_t *entries = json_object_get(jf, "entries"),
               *ver = json_object_get(jf, "verification");
        assert_int_equal(f->nterms, json_array_size(entries));
        assert_int_equal(f->nterms, json_array_size(ver));
        for (uint32_t t = 0; t < f->nterms; t++) {
            const xet_shard_term *e = &f->terms[t];
            json_t *je = json_array_get(entries, t), *jv = json_array_get(ver, t);
            tu_assert_hash(&e->xorb_hash, jstr(je, "xorb_hash"));
            assert_int_equal(e->xorb_flags, jint(je, "xorb_flags"));
            assert_int_equal(e->unpacked_bytes, jint(je, "unpacked_segment_bytes"));
            assert_int_equal(e->chunk_start, jint(je, "chunk_index_start"));
            assert_int_equal(e->chunk_end, jint(je, "chunk_index_end"));
            tu_assert_hash(&e->verification, jstr(jv, "range_hash"));
        }
        /* sha256 comes out in standard digest order (2.8), while the bytes in the shard are the
         * stored order. */
        json_t *meta = json_object_get(jf, "metadata_ext");
        assert_bytes_hex(f->sha256, 32, jstr(in, "sha256"));
        assert_bytes_hex(f->sha256, 32, jstr(meta, "sha256_as_xet_hex"));
        size_t at = (size_t)jint(jf, "at") + XET_SHARD_RECORD_LEN * (1 + 2 * (size_t)f->nterms);
        assert_true(at + 32 <= n);
        assert_bytes_hex(p + at, 32, jstr(meta, "sha256_stored_raw_hex"));
    }

    json_t *xorbs = tu_get(pv, "xorbs");
    assert_int_equal(s->nxorbs, json_array_size(xorbs));
    for (size_t i = 0; i < s->nxorbs; i++) {
        const xet_shard_xorb *x = &s->xorbs[i];
        json_t *jx = json_array_get(xorbs, i);
        tu_assert_hash(&x->xorb_hash, jstr(jx, "xorb_hash"));
        tu_assert_hash(&x->xorb_hash,
                       json_string_value(tu_get(tu_vectors, "xorb_shard_upload.xorb.hash")));
        assert_int_equal(x->flags, jint(jx, "xorb_flags"));
        assert_int_equal(x->nchunks, jint(jx, "num_entries"));
        assert_int_equal(x->raw_bytes, jint(jx, "num_bytes_in_xorb"));
        assert_int_equal(x->bytes_on_disk, jint(jx, "num_bytes_on_disk"));
        json_t *chunks = json_object_get(jx, "chunks");
        assert_int_equal(x->nchunks, json_array_size(chunks));
        for (uint32_t c = 0; c < x->nchunks; c++) {
            json_t *jc = json_array_get(chunks, c);
            tu_assert_hash(&x->chunks[c].hash, jstr(jc, "chunk_hash"));
            assert_int_equal(x->chunks[c].raw_off, jint(jc, "chunk_byte_range_start"));
            assert_int_equal(x->chunks[c].raw_len, jint(jc, "unpacked_segment_bytes"));
            assert_int_equal(x->chunks[c].flags, jint(jc, "flags"));
        }
    }
    xet_shard_free(&s);
    assert_null(s);
    xet_shard_free(&s); /* a second free is harmless */
    free(p);
}

static void test_serialize_with_footer(void **state)
{
    (void)state;
    size_t n;
    uint8_t *p = ref_shard(&n);
    xet_shard *s = NULL;
    assert_int_equal(xet_shard_parse(p, n, &s), HG_OK);
    hg_buf out;
    assert_int_equal(xet_shard_serialize(s, 1, REF_TIMESTAMP, &out), HG_OK);
    assert_int_equal(out.len, n);
    assert_memory_equal(out.data, p, n);
    hg_buf_free(&out);
    xet_shard_free(&s);
    free(p);
}

static void test_serialize_without_footer(void **state)
{
    (void)state;
    size_t n, nn;
    uint8_t *p = ref_shard(&n), *q = ref_shard_nofooter(&nn);
    xet_shard *s = NULL, *t = NULL;
    assert_int_equal(xet_shard_parse(p, n, &s), HG_OK);
    hg_buf out;
    assert_int_equal(xet_shard_serialize(s, 0, REF_TIMESTAMP, &out), HG_OK);
    assert_int_equal(out.len, nn);
    assert_memory_equal(out.data, q, nn);

    assert_int_equal(parse_copy(out.data, out.len, &t), HG_OK);
    assert_false(t->has_footer);
    assert_int_equal(t->footer_size, 0);
    xet_shard_footer zero;
    memset(&zero, 0, sizeof zero);
    assert_memory_equal(&t->footer, &zero, sizeof zero);
    assert_shard_equal(s, t);
    xet_shard_free(&t);

    /* And back to the footer form: the same bytes as the reference. */
    hg_buf out2;
    assert_int_equal(parse_copy(q, nn, &t), HG_OK);
    assert_int_equal(xet_shard_serialize(t, 1, REF_TIMESTAMP, &out2), HG_OK);
    assert_int_equal(out2.len, n);
    assert_memory_equal(out2.data, p, n);
    hg_buf_free(&out2);
    hg_buf_free(&out);
    xet_shard_free(&t);
    xet_shard_free(&s);
    free(p);
    free(q);
}

static void check_truncations(const uint8_t *p, size_t n)
{
    for (size_t len = 0; len < n; len++) {
        xet_shard *s = (xet_shard *)(uintptr_t)1; /* must be reset to NULL on failure */
        hg_err rc = parse_copy(p, len, &s);
        assert_int_equal(rc, HG_ERR_CORRUPT);
        assert_null(s);
    }
}

static void test_truncation(void **state)
{
    (void)state;
    size_t n;
    uint8_t *p = ref_shard(&n);
    check_truncations(p, n);
    free(p);
    p = ref_shard_nofooter(&n);
    check_truncations(p, n);
    free(p);
}

static void test_bad_tag(void **state)
{
    (void)state;
    size_t n;
    uint8_t *p = ref_shard(&n);
    for (size_t i = 0; i < 32; i++) {
        static const uint8_t flips[] = {0x01, 0x80, 0xFF};
        for (size_t k = 0; k < sizeof flips; k++) {
            xet_shard *s = NULL;
            p[i] ^= flips[k];
            assert_int_equal(xet_shard_parse(p, n, &s), HG_ERR_CORRUPT);
            assert_null(s);
            p[i] ^= flips[k];
        }
    }
    xet_shard *s = NULL;
    assert_int_equal(xet_shard_parse(p, n, &s), HG_OK);
    xet_shard_free(&s);
    free(p);
}

/* Writes v little-endian at p. */
static void put_le(uint8_t *p, uint64_t v, size_t width)
{
    for (size_t i = 0; i < width; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Applies one edit to a copy of the reference (with or without footer) and expects rc. */
static void expect_edit(int footer, size_t off, uint64_t v, size_t width, hg_err want)
{
    size_t n;
    uint8_t *p = footer ? ref_shard(&n) : ref_shard_nofooter(&n);
    assert_true(off + width <= n);
    put_le(p + off, v, width);
    xet_shard *s = NULL;
    assert_int_equal(parse_copy(p, n, &s), want);
    if (want == HG_OK)
        assert_non_null(s);
    else
        assert_null(s);
    xet_shard_free(&s);
    free(p);
}

static void test_huge_counts(void **state)
{
    (void)state;
    for (int footer = 0; footer <= 1; footer++) {
        /* num_entries of the first file, and the chunk count of the xorb. */
        expect_edit(footer, 48 + 36, 0xFFFFFFFFu, 4, HG_ERR_CORRUPT);
        expect_edit(footer, 48 + 36, 0x80000000u, 4, HG_ERR_CORRUPT);
        expect_edit(footer, 48 + 36, 100, 4, HG_ERR_CORRUPT);
        expect_edit(footer, 864 + 36, 0xFFFFFFFFu, 4, HG_ERR_CORRUPT);
        expect_edit(footer, 864 + 36, 6, 4, HG_ERR_CORRUPT);
    }
}

static void test_bad_fields(void **state)
{
    (void)state;
    for (int footer = 0; footer <= 1; footer++) {
        expect_edit(footer, 32, 1, 8, HG_ERR_CORRUPT); /* header version */
        expect_edit(footer, 32, 3, 8, HG_ERR_CORRUPT);
        expect_edit(footer, 40, 100, 8, HG_ERR_CORRUPT); /* footer_size neither 0 nor 200 */
        /* First term of the first file: end < start. */
        expect_edit(footer, 96 + 40, 2, 4, HG_ERR_CORRUPT);
        /* Empty range that claims bytes. */
        expect_edit(footer, 96 + 44, 0, 4, HG_ERR_CORRUPT);
    }
    /* A footer-less form that claims a footer, and the reverse. */
    expect_edit(0, 40, 200, 8, HG_ERR_CORRUPT);
    expect_edit(1, 40, 0, 8, HG_ERR_CORRUPT);
    /* Footer fields. */
    expect_edit(1, 1200 + 0, 2, 8, HG_ERR_CORRUPT);    /* footer version */
    expect_edit(1, 1200 + 8, 96, 8, HG_ERR_CORRUPT);   /* file_info_offset */
    expect_edit(1, 1200 + 16, 816, 8, HG_ERR_CORRUPT); /* xorb_info_offset inside files */
    expect_edit(1, 1200 + 16, 1152, 8, HG_ERR_CORRUPT);
    expect_edit(1, 1200 + 16, 1u << 20, 8, HG_ERR_CORRUPT); /* past the end */
    expect_edit(1, 1200 + 192, 1152, 8, HG_ERR_CORRUPT);    /* footer_offset */
    expect_edit(1, 1200 + 192, 1400, 8, HG_ERR_CORRUPT);
    expect_edit(1, 1200 + 32, 1, 8, HG_ERR_CORRUPT);    /* entries but no table */
    expect_edit(1, 1200 + 24, 2000, 8, HG_ERR_CORRUPT); /* table past the footer */
    expect_edit(1, 1200 + 56, 1000, 8, HG_ERR_CORRUPT); /* table inside the sections */
    expect_edit(1, 1200 + 40, 1200, 8, HG_OK);          /* empty table at the footer */
    /* Free-form fields are kept, not judged. */
    expect_edit(1, 1200 + 104, 1, 8, HG_OK);
    expect_edit(1, 1200 + 112, UINT64_MAX, 8, HG_OK);
    expect_edit(0, 48 + 40, 0xDEADBEEF, 4, HG_OK); /* file header reserved */
}

static void test_trailing_garbage(void **state)
{
    (void)state;
    size_t n;
    uint8_t *p = ref_shard_nofooter(&n);
    uint8_t *q = calloc(1, n + 48);
    assert_non_null(q);
    memcpy(q, p, n);
    xet_shard *s = NULL;
    assert_int_equal(parse_copy(q, n + 1, &s), HG_ERR_CORRUPT);
    assert_null(s);
    assert_int_equal(parse_copy(q, n + 48, &s), HG_ERR_CORRUPT);
    assert_null(s);
    /* A second bookend is trailing bytes too. */
    memset(q + n, 0xFF, 32);
    assert_int_equal(parse_copy(q, n + 48, &s), HG_ERR_CORRUPT);
    assert_null(s);
    free(q);
    free(p);
}

/* A full xet-core shard: lookup tables between the xorb bookend and the footer are skipped. */
static void test_lookup_tables(void **state)
{
    (void)state;
    size_t n;
    uint8_t *p = ref_shard(&n);
    const size_t tables = 4 * 12 + 1 * 12 + 5 * 16, sections = 1200;
    uint8_t *q = calloc(1, n + tables);
    assert_non_null(q);
    memcpy(q, p, sections);
    memset(q + sections, 0xAB, tables);
    memcpy(q + sections + tables, p + sections, XET_SHARD_FOOTER_LEN);
    uint8_t *f = q + sections + tables;
    put_le(f + 24, sections, 8);
    put_le(f + 32, 4, 8);
    put_le(f + 40, sections + 48, 8);
    put_le(f + 48, 1, 8);
    put_le(f + 56, sections + 60, 8);
    put_le(f + 64, 5, 8);
    put_le(f + 192, sections + tables, 8);

    xet_shard *s = NULL, *ref = NULL;
    assert_int_equal(parse_copy(q, n + tables, &s), HG_OK);
    assert_int_equal(xet_shard_parse(p, n, &ref), HG_OK);
    assert_shard_equal(s, ref);
    assert_int_equal(s->footer.chunk_lookup_num, 5);
    xet_shard_free(&s);

    /* One entry too many for the space left before the footer. */
    put_le(f + 64, 6, 8);
    assert_int_equal(parse_copy(q, n + tables, &s), HG_ERR_CORRUPT);
    put_le(f + 64, 5, 8);

    /* The xorb section may end at file_lookup_offset without a bookend (shardParser.ts). */
    put_le(f + 24, sections - 48, 8);
    assert_int_equal(parse_copy(q, n + tables, &s), HG_OK);
    assert_shard_equal(s, ref);
    xet_shard_free(&s);
    /* ... but not in the middle of a xorb block. */
    put_le(f + 24, sections - 96, 8);
    assert_int_equal(parse_copy(q, n + tables, &s), HG_ERR_CORRUPT);

    xet_shard_free(&ref);
    free(q);
    free(p);
}

static void roundtrip(const xet_shard *s, size_t want_len)
{
    for (int footer = 0; footer <= 1; footer++) {
        hg_buf out;
        assert_int_equal(xet_shard_serialize(s, footer, 42, &out), HG_OK);
        assert_int_equal(out.len, want_len + (footer ? XET_SHARD_FOOTER_LEN : 0));
        xet_shard *t = NULL;
        assert_int_equal(parse_copy(out.data, out.len, &t), HG_OK);
        assert_int_equal(t->has_footer, footer);
        assert_shard_equal(s, t);
        if (footer) {
            assert_int_equal(t->footer.creation_timestamp, 42);
            assert_int_equal(t->footer.footer_offset, want_len);
        }
        hg_buf out2;
        assert_int_equal(xet_shard_serialize(t, footer, 42, &out2), HG_OK);
        assert_int_equal(out2.len, out.len);
        assert_memory_equal(out2.data, out.data, out.len);
        hg_buf_free(&out2);
        hg_buf_free(&out);
        xet_shard_free(&t);
    }
}

static void test_empty_shard(void **state)
{
    (void)state;
    xet_shard s;
    memset(&s, 0, sizeof s);
    s.version = 2;
    roundtrip(&s, 3 * 48);
    hg_buf out;
    assert_int_equal(xet_shard_serialize(&s, 1, 7, &out), HG_OK);
    xet_shard *t = NULL;
    assert_int_equal(xet_shard_parse(out.data, out.len, &t), HG_OK);
    assert_int_equal(t->footer.xorb_info_offset, 96);
    assert_int_equal(t->footer.stored_bytes, 0);
    xet_shard_free(&t);
    hg_buf_free(&out);
}

/* Files without the optional records, an empty file, and a xorb without chunks. */
static void test_optional_records(void **state)
{
    (void)state;
    xet_shard_term terms[2];
    memset(terms, 0, sizeof terms);
    terms[0].xorb_hash.b[0] = 1;
    terms[0].unpacked_bytes = 10;
    terms[0].chunk_start = 0;
    terms[0].chunk_end = 1;
    terms[1].xorb_hash.b[0] = 2;
    terms[1].unpacked_bytes = 20;
    terms[1].chunk_start = 3;
    terms[1].chunk_end = 5;
    xet_shard_file files[3];
    memset(files, 0, sizeof files);
    files[0].file_hash.b[0] = 0xA;
    files[0].nterms = 2;
    files[0].terms = terms;
    files[1].file_hash.b[0] = 0xB; /* empty file: no terms */
    files[2].file_hash.b[0] = 0xC;
    files[2].flags = XET_FILE_FLAG_METADATA_EXT;
    for (int i = 0; i < 32; i++)
        files[2].sha256[i] = (uint8_t)i;
    xet_shard_chunk chunk = {.raw_off = 0, .raw_len = 10, .flags = 0x80000000u};
    chunk.hash.b[31] = 9;
    xet_shard_xorb xorbs[2];
    memset(xorbs, 0, sizeof xorbs);
    xorbs[0].xorb_hash.b[0] = 1;
    xorbs[0].nchunks = 1;
    xorbs[0].chunks = &chunk;
    xorbs[0].raw_bytes = 10;
    xorbs[1].xorb_hash.b[0] = 3;
    xet_shard s;
    memset(&s, 0, sizeof s);
    s.version = 2;
    s.files = files;
    s.nfiles = 3;
    s.xorbs = xorbs;
    s.nxorbs = 2;
    /* header, 3 file headers + 2 terms + 1 ext, bookend, 2 xorb headers + 1 chunk, bookend */
    roundtrip(&s, 48 * (1 + 6 + 1 + 3 + 1));

    /* The stored sha256 is the digest with each 8-byte group reversed (2.8). */
    hg_buf out;
    assert_int_equal(xet_shard_serialize(&s, 0, 0, &out), HG_OK);
    const uint8_t *ext = out.data + 48 * 6;
    for (int i = 0; i < 32; i++)
        assert_int_equal(ext[i], (i & ~7) + 7 - (i & 7));
    hg_buf_free(&out);

    /* What could not be read back is refused. */
    files[0].terms = NULL;
    assert_int_equal(xet_shard_serialize(&s, 0, 0, &out), HG_ERR_INVAL);
    assert_null(out.data);
    files[0].terms = terms;
    memset(files[1].file_hash.b, 0xFF, 32); /* the bookend hash */
    assert_int_equal(xet_shard_serialize(&s, 1, 0, &out), HG_ERR_INVAL);
    files[1].file_hash.b[0] = 0xB;
    terms[1].chunk_end = 2;
    assert_int_equal(xet_shard_serialize(&s, 1, 0, &out), HG_ERR_INVAL);
}

static void test_too_big(void **state)
{
    (void)state;
    size_t n;
    uint8_t *p = ref_shard(&n);
    uint8_t *big = calloc(1, (size_t)XET_SHARD_MAX_LEN + 1);
    assert_non_null(big);
    memcpy(big, p, n);
    xet_shard *s = NULL;
    assert_int_equal(xet_shard_parse(big, (size_t)XET_SHARD_MAX_LEN + 1, &s), HG_ERR_TOOBIG);
    assert_null(s);
    free(big);
    free(p);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(test_parse_reference),
        cmocka_unit_test(test_serialize_with_footer),
        cmocka_unit_test(test_serialize_without_footer),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_bad_tag),
        cmocka_unit_test(test_huge_counts),
        cmocka_unit_test(test_bad_fields),
        cmocka_unit_test(test_trailing_garbage),
        cmocka_unit_test(test_lookup_tables),
        cmocka_unit_test(test_empty_shard),
        cmocka_unit_test(test_optional_records),
        cmocka_unit_test(test_too_big),
    };
    return tu_main(argc, argv, "xet_shard", t, sizeof t / sizeof t[0]);
}
