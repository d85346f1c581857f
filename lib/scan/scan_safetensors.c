/*
 * scan_safetensors.c - strict validation of a safetensors header (security.md 3.2, 3.3).
 *
 * Layout: u64 LE header length N, N bytes of UTF-8 JSON (an object: tensor name ->
 * {dtype, shape, data_offsets}, plus an optional "__metadata__" string->string map), then the
 * data area.  Only the header is read: a multi-GB file costs one pread of N bytes.
 *
 * Checks, each a block finding unless noted: N <= 100,000,000 and 8 + N <= file size; JSON
 * parsed by jansson with JSON_REJECT_DUPLICATES (the reference reader silently keeps the last
 * duplicate: a parser differential); top level an object; dtype from the closed set; shape and
 * offsets non-negative integers (no floats, signs, exponents); element count x bits with
 * overflow checks, whole bytes, end - begin equal to that size; offsets sorted cover the data area
 * from 0 to the end of file without gap, overlap or trailing bytes.  Cosmetic issues warn
 * (__metadata__ not string->string, unknown fields in a tensor entry) or are notes (header
 * length not a multiple of 8, leading whitespace).
 */
#include <stdlib.h>
#include <string.h>

#include "scan/scan_int.h"

#define ST_MAX_HEADER 100000000u

typedef struct st_tensor {
    uint64_t begin, end;
    const char *name; /* borrowed from the JSON document */
} st_tensor;

static const struct {
    const char *name;
    unsigned bits;
} DTYPES[] = {
    {"BOOL", 8}, {"F4", 4}, {"F6_E2M3", 6}, {"F6_E3M2", 6}, {"U8", 8}, {"I8", 8},
    {"F8_E5M2", 8}, {"F8_E4M3", 8}, {"F8_E8M0", 8}, {"F8_E4M3FNUZ", 8}, {"F8_E5M2FNUZ", 8},
    {"I16", 16}, {"U16", 16}, {"F16", 16}, {"BF16", 16}, {"I32", 32}, {"U32", 32}, {"F32", 32},
    {"C64", 64}, {"F64", 64}, {"I64", 64}, {"U64", 64},
};

static int tensor_cmp(const void *a, const void *b)
{
    const st_tensor *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return 0;
}

/* A non-negative JSON integer. */
static int get_uint(const json_t *v, uint64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static void check_tensor(scan_ctx *c, const char *name, json_t *t, st_tensor *out, int *ok)
{
    *ok = 0;
    if (!json_is_object(t)) {
        scan_add(c, SCAN_BLOCK, "safetensors.invalid_entry", -1, NULL,
                 "tensor '%.200s' is not an object", name);
        return;
    }
    json_t *dt = json_object_get(t, "dtype"), *sh = json_object_get(t, "shape");
    json_t *of = json_object_get(t, "data_offsets");
    if (json_object_size(t) != 3 || !dt || !sh || !of) {
        if (!dt || !sh || !of) {
            scan_add(c, SCAN_BLOCK, "safetensors.invalid_entry", -1, NULL,
                     "tensor '%.200s' lacks dtype, shape or data_offsets", name);
            return;
        }
        scan_add(c, SCAN_WARN, "safetensors.extra_field", -1, NULL,
                 "tensor '%.200s' has fields besides dtype, shape and data_offsets", name);
    }
    unsigned bits = 0;
    if (json_is_string(dt))
        for (size_t i = 0; i < sizeof(DTYPES) / sizeof(DTYPES[0]); i++)
            if (!strcmp(json_string_value(dt), DTYPES[i].name))
                bits = DTYPES[i].bits;
    if (!bits) {
        scan_add(c, SCAN_BLOCK, "safetensors.dtype", -1, NULL,
                 "tensor '%.200s' has an unknown dtype", name);
        return;
    }
    if (!json_is_array(sh)) {
        scan_add(c, SCAN_BLOCK, "safetensors.shape", -1, NULL,
                 "tensor '%.200s': shape is not an array", name);
        return;
    }
    uint64_t count = 1;
    int overflow = 0;
    size_t i;
    json_t *d;
    json_array_foreach(sh, i, d) {
        uint64_t dim;
        if (get_uint(d, &dim)) {
            scan_add(c, SCAN_BLOCK, "safetensors.shape", -1, NULL,
                     "tensor '%.200s': shape holds something other than a non-negative integer",
                     name);
            return;
        }
        if (dim && count > UINT64_MAX / dim)
            overflow = 1;
        else
            count *= dim;
    }
    if (overflow || count > UINT64_MAX / bits) {
        scan_add(c, SCAN_BLOCK, "safetensors.overflow", -1, NULL,
                 "tensor '%.200s': element count x dtype size overflows 64 bits", name);
        return;
    }
    uint64_t nbits = count * bits;
    if (nbits % 8) {
        scan_add(c, SCAN_BLOCK, "safetensors.misaligned", -1, NULL,
                 "tensor '%.200s' is not a whole number of bytes", name);
        return;
    }
    uint64_t b, e;
    if (!json_is_array(of) || json_array_size(of) != 2 || get_uint(json_array_get(of, 0), &b) ||
        get_uint(json_array_get(of, 1), &e) || e < b) {
        scan_add(c, SCAN_BLOCK, "safetensors.offsets", -1, NULL,
                 "tensor '%.200s': data_offsets must be two integers begin <= end", name);
        return;
    }
    if (e - b != nbits / 8) {
        scan_add(c, SCAN_BLOCK, "safetensors.size_mismatch", (int64_t)b, NULL,
                 "tensor '%.200s' spans %llu bytes but dtype x shape needs %llu", name,
                 (unsigned long long)(e - b), (unsigned long long)(nbits / 8));
        return;
    }
    out->begin = b;
    out->end = e;
    out->name = name;
    *ok = 1;
}

void scan_safetensors(scan_ctx *c, const scan_src *src)
{
    uint8_t lenb[8];
    if (src->size < 8) {
        scan_add(c, SCAN_BLOCK, "safetensors.truncated", 0, NULL, "shorter than the 8-byte header length");
        return;
    }
    hg_err rc = scan_src_read(src, 0, lenb, 8);
    if (rc) {
        c->err = rc;
        return;
    }
    uint64_t n = scan_le64(lenb);
    if (n > ST_MAX_HEADER) {
        scan_add(c, SCAN_BLOCK, "safetensors.header_too_large", 0, NULL,
                 "header length %llu exceeds 100,000,000", (unsigned long long)n);
        return;
    }
    if (n > src->size - 8) {
        scan_add(c, SCAN_BLOCK, "safetensors.header_out_of_bounds", 0, NULL,
                 "header length %llu runs past the end of the file", (unsigned long long)n);
        return;
    }
    uint8_t *h = malloc(n ? (size_t)n : 1);
    if (!h) {
        c->err = HG_ERR_NOMEM;
        return;
    }
    if ((rc = scan_src_read(src, 8, h, (size_t)n))) {
        free(h);
        c->err = rc;
        return;
    }
    size_t lead = 0;
    while (lead < n && (h[lead] == ' ' || h[lead] == '\t' || h[lead] == '\n' || h[lead] == '\r'))
        lead++;
    json_error_t je;
    json_t *root = json_loadb((const char *)h, (size_t)n, JSON_REJECT_DUPLICATES, &je);
    free(h);
    if (!root) {
        int dup = json_error_code(&je) == json_error_duplicate_key;
        scan_add(c, SCAN_BLOCK, dup ? "safetensors.duplicate_key" : "safetensors.invalid_json",
                 8 + (int64_t)je.position, NULL, "%s: %s",
                 dup ? "duplicate key in the header (readers disagree on which one wins)"
                     : "header is not valid JSON",
                 je.text);
        return;
    }
    if (!json_is_object(root)) {
        scan_add(c, SCAN_BLOCK, "safetensors.invalid_json", 8, NULL, "header is not a JSON object");
        json_decref(root);
        return;
    }
    if (lead)
        scan_add(c, SCAN_ALLOW, "safetensors.leading_whitespace", 8, NULL,
                 "header starts with %zu whitespace bytes", lead);
    if (n % 8)
        scan_add(c, SCAN_ALLOW, "safetensors.unaligned_header", 0, NULL,
                 "header length %llu is not a multiple of 8 (data not 8-byte aligned)",
                 (unsigned long long)n);

    size_t nt = json_object_size(root);
    st_tensor *ts = calloc(nt ? nt : 1, sizeof(*ts));
    if (!ts) {
        json_decref(root);
        c->err = HG_ERR_NOMEM;
        return;
    }
    size_t k = 0;
    int bad = 0;
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (!strcmp(key, "__metadata__")) {
            int ok = json_is_object(val);
            const char *mk;
            json_t *mv;
            if (ok)
                json_object_foreach(val, mk, mv) if (!json_is_string(mv)) ok = 0;
            if (!ok)
                scan_add(c, SCAN_WARN, "safetensors.metadata", -1, NULL,
                         "__metadata__ is not a string-to-string map (reference readers refuse it)");
            continue;
        }
        int ok;
        check_tensor(c, key, val, &ts[k], &ok);
        if (ok)
            k++;
        else
            bad = 1;
    }
    if (!bad) {
        qsort(ts, k, sizeof(*ts), tensor_cmp);
        uint64_t prev = 0;
        const char *prev_name = NULL;
        for (size_t i = 0; i < k && !bad; i++) {
            if (ts[i].begin < prev) {
                scan_add(c, SCAN_BLOCK, "safetensors.overlap", (int64_t)ts[i].begin, NULL,
                         "tensor '%.200s' overlaps '%.200s'", ts[i].name, prev_name);
                bad = 1;
            } else if (ts[i].begin > prev) {
                scan_add(c, SCAN_BLOCK, "safetensors.gap", (int64_t)prev, NULL,
                         "%llu bytes before tensor '%.200s' belong to no tensor",
                         (unsigned long long)(ts[i].begin - prev), ts[i].name);
                bad = 1;
            }
            prev = ts[i].end;
            prev_name = ts[i].name;
        }
        uint64_t data = src->size - 8 - n;
        if (!bad && prev < data)
            scan_add(c, SCAN_BLOCK, "safetensors.trailing_data", (int64_t)(8 + n + prev), NULL,
                     "%llu bytes after the last tensor (polyglot or corrupt file)",
                     (unsigned long long)(data - prev));
        else if (!bad && prev > data)
            scan_add(c, SCAN_BLOCK, "safetensors.truncated", (int64_t)(8 + n), NULL,
                     "tensors need %llu data bytes, the file has %llu", (unsigned long long)prev,
                     (unsigned long long)data);
    }
    free(ts);
    json_decref(root);
}
