/*
 * testutil.h - helpers shared by the unit tests: the shared test-vector file and the byte
 * generators it describes (shared/testvectors/README.md).
 */
#ifndef HG_TESTUTIL_H
#define HG_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>

#include "xet/xet.h"

/* Loaded by tu_main from argv[1]; borrowed by tests. */
extern json_t *tu_vectors;

/* Parses argv[1] as the vectors JSON, then runs the cmocka group. */
int tu_main(int argc, char **argv, const char *name, const struct CMUnitTest *tests, size_t n);

/* Plain hex to bytes; returns malloc'd bytes (caller frees), length in *n. Fails the test on bad hex. */
uint8_t *tu_unhex(const char *hex, size_t *n);
/* Xet hex to hash; fails the test on bad input. */
xet_hash tu_xet_hash(const char *hex);
/* Asserts that h prints as the given Xet hex. */
void tu_assert_hash(const xet_hash *h, const char *xet_hex);

/* Generators; all return malloc'd buffers of n bytes owned by the caller. */
uint8_t *tu_splitmix64(size_t n, uint64_t seed);
uint8_t *tu_constant(size_t n, uint8_t v);
uint8_t *tu_linear(size_t n, unsigned a, unsigned b);
uint8_t *tu_u32counter(size_t n);
uint8_t *tu_triggering(size_t n, size_t padding);
/* Builds the input of a chunking_and_hashing vector by name; NULL for an unknown name. */
uint8_t *tu_vector_input(const char *name, size_t *n);
/* SHA-256 of data as lowercase hex into out[65]. */
void tu_sha256_hex(const uint8_t *data, size_t n, char out[65]);

/* Looks up a JSON value by dotted path ("a.b.c"); fails the test when absent. */
json_t *tu_get(json_t *root, const char *path);

#endif
