/*
 * bench_xet.c - throughput of the Xet core on one core, beside its anchors on the same bytes:
 * memcpy and raw BLAKE3 (the practical limit of chunk+hash).  Prints MB/s and ratios; each
 * figure is the best of several runs, since the machines are shared and noisy.
 *
 * usage: bench_xet [MiB]   (default 256)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <blake3.h>

#include "xet/xet.h"

#define RUNS 5

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void fill_random(uint8_t *p, size_t n, uint64_t seed)
{
    uint64_t s = seed;
    for (size_t i = 0; i < n; i += 8) {
        s += 0x9E3779B97F4A7C15ull;
        uint64_t z = s;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        memcpy(p + i, &z, n - i < 8 ? n - i : 8);
    }
}

/* bf16 weights ~ N(0, 0.02): what model files mostly hold; compressible in the exponent bytes. */
static void fill_bf16(uint8_t *p, size_t n, uint64_t seed)
{
    srand((unsigned)seed);
    for (size_t i = 0; i + 1 < n; i += 2) {
        double u1 = (rand() + 1.0) / (RAND_MAX + 2.0), u2 = (rand() + 1.0) / (RAND_MAX + 2.0);
        float f = (float)(0.02 * sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2));
        uint32_t bits;
        memcpy(&bits, &f, 4);
        p[i] = (uint8_t)(bits >> 16);
        p[i + 1] = (uint8_t)(bits >> 24);
    }
}

static volatile uint64_t sink;

typedef double (*bench_fn)(const uint8_t *p, size_t n, void *arg);

static double best_mbs(bench_fn fn, const uint8_t *p, size_t n, void *arg)
{
    double best = 0;
    for (int r = 0; r < RUNS; r++) {
        double t0 = now();
        double bytes = fn(p, n, arg);
        double mbs = bytes / (now() - t0) / 1e6;
        if (mbs > best)
            best = mbs;
    }
    return best;
}

static double run_memcpy(const uint8_t *p, size_t n, void *arg)
{
    uint8_t *dst = arg;
    memcpy(dst, p, n);
    sink += dst[n / 2];
    return (double)n;
}

static double run_blake3(const uint8_t *p, size_t n, void *arg)
{
    (void)arg;
    xet_hash h;
    xet_keyed_hash(XET_DATA_KEY, p, n, &h);
    sink += h.b[0];
    return (double)n;
}

static double run_chunk(const uint8_t *p, size_t n, void *arg)
{
    xet_variant v = *(xet_variant *)arg;
    size_t count = 0;
    for (size_t pos = 0; pos < n; count++)
        pos += xet_next_chunk_len(p + pos, n - pos, v);
    sink += count;
    return (double)n;
}

static double run_blake3_chunks(const uint8_t *p, size_t n, void *arg)
{
    /* BLAKE3 over the same chunk boundaries, without finding them: the hash share of chunk+hash. */
    const size_t *lens = arg;
    size_t pos = 0;
    for (size_t i = 0; pos < n; i++) {
        xet_hash h;
        xet_chunk_hash(p + pos, lens[i], &h);
        sink += h.b[0];
        pos += lens[i];
    }
    return (double)n;
}

static double run_chunk_hash(const uint8_t *p, size_t n, void *arg)
{
    xet_variant v = *(xet_variant *)arg;
    xet_merkle *m = malloc(sizeof *m);
    if (!m)
        abort();
    xet_merkle_init(m);
    for (size_t pos = 0; pos < n;) {
        size_t len = xet_next_chunk_len(p + pos, n - pos, v);
        xet_hash h;
        xet_chunk_hash(p + pos, len, &h);
        xet_merkle_add(m, &h, len);
        pos += len;
    }
    xet_hash root;
    if (xet_merkle_finish(m, &root, NULL))
        abort();
    sink += root.b[0];
    free(m);
    return (double)n;
}

typedef struct codec_arg {
    xet_codec *cx;
    xet_scheme scheme;
    uint8_t *records; /* encoded records of the whole buffer, for decode runs */
    size_t records_len;
    uint8_t *out;
} codec_arg;

static double run_encode(const uint8_t *p, size_t n, void *arg)
{
    codec_arg *a = arg;
    size_t w, total = 0;
    for (size_t pos = 0; pos < n; pos += 65536) {
        size_t len = n - pos < 65536 ? n - pos : 65536;
        if (xet_record_encode(a->cx, p + pos, len, a->scheme, a->records + total,
                              xet_record_bound(len), &w))
            abort();
        total += w;
    }
    a->records_len = total;
    return (double)n;
}

static double run_decode(const uint8_t *p, size_t n, void *arg)
{
    (void)p;
    codec_arg *a = arg;
    size_t raw, rec, pos = 0;
    while (pos < a->records_len) {
        if (xet_record_decode(a->cx, a->records + pos, a->records_len - pos, a->out,
                              XET_MAX_CHUNK, &raw, &rec))
            abort();
        pos += rec;
    }
    return (double)n;
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 256;
    if (mib == 0 || mib > 4096) {
        fprintf(stderr, "usage: bench_xet [MiB 1..4096]\n");
        return 2;
    }
    size_t n = mib << 20;
    uint8_t *data = malloc(n), *dst = malloc(n);
    size_t *lens = malloc((n / 8192 + 2) * sizeof *lens);
    if (!data || !dst || !lens) {
        fprintf(stderr, "bench_xet: out of memory\n");
        return 1;
    }
    fill_random(data, n, 1);
    memset(dst, 1, n);
    size_t nchunks = 0;
    for (size_t pos = 0; pos < n; nchunks++) {
        lens[nchunks] = xet_next_chunk_len(data + pos, n - pos, XET_VARIANT_M);
        pos += lens[nchunks];
    }

    printf("hubgate bench_xet: %zu MiB of random bytes, one core, best of %d runs\n", mib, RUNS);
    printf("%zu chunks (variant M), mean chunk %.0f bytes\n\n", nchunks, (double)n / nchunks);
    xet_variant vm = XET_VARIANT_M, vl = XET_VARIANT_L;
    double mc = best_mbs(run_memcpy, data, n, dst);
    double b3 = best_mbs(run_blake3, data, n, NULL);
    double b3c = best_mbs(run_blake3_chunks, data, n, lens);
    double ckm = best_mbs(run_chunk, data, n, &vm);
    double ckl = best_mbs(run_chunk, data, n, &vl);
    double chm = best_mbs(run_chunk_hash, data, n, &vm);
    printf("%-36s %9s %9s\n", "operation", "MB/s", "ratio");
    printf("%-36s %9.0f %9s\n", "memcpy (anchor)", mc, "");
    printf("%-36s %9.0f %9s\n", "BLAKE3 one stream (anchor)", b3, "1.00");
    printf("%-36s %9.0f %9.2f\n", "BLAKE3 per chunk (chunk hashes)", b3c, b3c / b3);
    printf("%-36s %9.0f %9.2f\n", "chunking only, variant M", ckm, ckm / b3);
    printf("%-36s %9.0f %9.2f\n", "chunking only, variant L", ckl, ckl / b3);
    printf("%-36s %9.0f %9.2f   goal >= 0.60 and >= 1000 MB/s\n", "chunk + hash + merkle, variant M",
           chm, chm / b3);

    /* Compression on model-like bytes (bf16) and on random bytes, 64 KiB chunks. */
    size_t cn = n < (64u << 20) ? n : (64u << 20);
    uint8_t *bf = malloc(cn);
    codec_arg a = {0};
    a.records = malloc(cn + (cn / 65536 + 1) * xet_record_bound(65536));
    a.out = malloc(XET_MAX_CHUNK);
    if (!bf || !a.records || !a.out || xet_codec_new(&a.cx)) {
        fprintf(stderr, "bench_xet: out of memory\n");
        return 1;
    }
    fill_bf16(bf, cn, 2);
    printf("\n%-36s %9s %9s %9s\n", "codec on 64 KiB chunks", "enc MB/s", "dec MB/s", "stored %");
    static const struct {
        const char *name;
        xet_scheme s;
    } schemes[] = {{"LZ4", XET_SCHEME_LZ4}, {"BG4-LZ4", XET_SCHEME_BG4_LZ4}, {"auto (smallest)", XET_SCHEME_AUTO}};
    for (int d = 0; d < 2; d++) {
        const uint8_t *src = d ? data : bf;
        for (int s = 0; s < 3; s++) {
            a.scheme = schemes[s].s;
            double enc = best_mbs(run_encode, src, cn, &a);
            double dec = best_mbs(run_decode, src, cn, &a);
            char label[64];
            snprintf(label, sizeof label, "%s, %s", schemes[s].name, d ? "random" : "bf16 weights");
            printf("%-36s %9.0f %9.0f %9.1f\n", label, enc, dec, 100.0 * a.records_len / cn);
        }
    }
    xet_codec_free(&a.cx);
    free(a.records);
    free(a.out);
    free(bf);
    free(lens);
    free(dst);
    free(data);
    return 0;
}
