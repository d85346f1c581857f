/*
 * cmd_xet.c - 'hubgate xet ...': the Xet core library from the command line.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "cli.h"
#include "xet/xet.h"

#define READ_BLOCK (4u << 20)

typedef struct xet_opts {
    xet_variant variant;
    const char *path;
} xet_opts;

/* Parses [--variant L|M] PATH.  Returns 0, or 2 after printing a usage error. */
static int parse_opts(int argc, char **argv, const char *cmd, xet_opts *o)
{
    o->variant = XET_VARIANT_M;
    o->path = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = NULL;
        if (!strcmp(a, "--variant")) {
            if (++i >= argc) {
                fprintf(stderr, "hubgate xet %s: --variant needs L or M\n", cmd);
                return 2;
            }
            v = argv[i];
        } else if (!strncmp(a, "--variant=", 10)) {
            v = a + 10;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "hubgate xet %s: unknown option '%s'\n", cmd, a);
            return 2;
        } else if (o->path) {
            fprintf(stderr, "hubgate xet %s: one input only ('%s' and '%s')\n", cmd, o->path, a);
            return 2;
        } else {
            o->path = a;
        }
        if (v && xet_variant_parse(v, &o->variant)) {
            fprintf(stderr, "hubgate xet %s: --variant must be L or M, not '%s'\n", cmd, v);
            return 2;
        }
    }
    if (!o->path) {
        fprintf(stderr, "usage: hubgate xet %s [--variant L|M] FILE|-\n", cmd);
        return 2;
    }
    return 0;
}

static FILE *open_input(const char *path)
{
    if (!strcmp(path, "-"))
        return stdin;
    FILE *f = fopen(path, "rb");
    if (!f)
        fprintf(stderr, "hubgate: %s: %s\n", path, strerror(errno));
    return f;
}

static void close_input(FILE *f)
{
    if (f && f != stdin)
        fclose(f);
}

/* Feeds the whole input through a chunker, calling cb per chunk and hashing SHA-256 alongside
 * when sha is non-NULL.  Returns 0 or prints an error and returns 1. */
static int chunk_stream(const char *path, xet_variant v, xet_chunk_cb cb, void *arg, EVP_MD_CTX *sha,
                        uint64_t *total)
{
    FILE *f = open_input(path);
    if (!f)
        return 1;
    xet_chunker ck;
    uint8_t *block = malloc(READ_BLOCK);
    if (!block || xet_chunker_init(&ck, v)) {
        free(block);
        close_input(f);
        fprintf(stderr, "hubgate: out of memory\n");
        return 1;
    }
    int rc = 0;
    uint64_t n = 0;
    for (;;) {
        size_t got = fread(block, 1, READ_BLOCK, f);
        if (got == 0)
            break;
        n += got;
        if (sha && EVP_DigestUpdate(sha, block, got) != 1) {
            rc = 1;
            break;
        }
        if (xet_chunker_feed(&ck, block, got, cb, arg)) {
            rc = 1;
            break;
        }
    }
    if (!rc && ferror(f)) {
        fprintf(stderr, "hubgate: %s: read error: %s\n", path, strerror(errno));
        rc = 1;
    }
    if (!rc && xet_chunker_finish(&ck, cb, arg))
        rc = 1;
    xet_chunker_free(&ck);
    free(block);
    close_input(f);
    *total = n;
    return rc;
}

typedef struct chunk_print {
    uint64_t offset;
} chunk_print;

static int print_chunk(void *arg, const uint8_t *chunk, size_t len)
{
    chunk_print *cp = arg;
    xet_hash h;
    char hex[XET_HEX_LEN + 1];
    xet_chunk_hash(chunk, len, &h);
    xet_hash_to_hex(&h, hex);
    if (printf("%" PRIu64 " %zu %s\n", cp->offset, len, hex) < 0)
        return 1;
    cp->offset += len;
    return 0;
}

static int xet_chunk_cmd(int argc, char **argv)
{
    xet_opts o;
    int rc = parse_opts(argc, argv, "chunk", &o);
    if (rc)
        return rc;
    chunk_print cp = {0};
    uint64_t total;
    rc = chunk_stream(o.path, o.variant, print_chunk, &cp, NULL, &total);
    if (fflush(stdout) != 0)
        rc = 1;
    return rc;
}

static int merkle_chunk(void *arg, const uint8_t *chunk, size_t len)
{
    xet_hash h;
    xet_chunk_hash(chunk, len, &h);
    xet_merkle_add(arg, &h, len);
    return 0;
}

static int xet_hash_cmd(int argc, char **argv)
{
    xet_opts o;
    int rc = parse_opts(argc, argv, "hash", &o);
    if (rc)
        return rc;
    xet_merkle *m = malloc(sizeof *m);
    EVP_MD_CTX *sha = EVP_MD_CTX_new();
    if (!m || !sha || EVP_DigestInit_ex(sha, EVP_sha256(), NULL) != 1) {
        fprintf(stderr, "hubgate: out of memory\n");
        free(m);
        EVP_MD_CTX_free(sha);
        return 1;
    }
    xet_merkle_init(m);
    uint64_t total = 0;
    rc = chunk_stream(o.path, o.variant, merkle_chunk, m, sha, &total);
    if (!rc) {
        xet_hash root, file;
        uint64_t nbytes;
        unsigned char md[32];
        unsigned int mdlen;
        char hex[XET_HEX_LEN + 1], shahex[65];
        if (xet_merkle_finish(m, &root, &nbytes) || EVP_DigestFinal_ex(sha, md, &mdlen) != 1) {
            fprintf(stderr, "hubgate: hashing failed\n");
            rc = 1;
        } else {
            xet_file_hash_from_root(&root, m->count[0], &file);
            xet_hash_to_hex(&file, hex);
            xet_bytes_to_hex(md, 32, shahex);
            printf("%s %s %" PRIu64 "\n", hex, shahex, total);
        }
    }
    free(m);
    EVP_MD_CTX_free(sha);
    return rc;
}

/* Reads a whole file of at most max bytes. */
static int read_all(const char *path, size_t max, hg_buf *out)
{
    FILE *f = open_input(path);
    if (!f)
        return 1;
    hg_buf_init(out, max);
    int rc = 0;
    for (;;) {
        uint8_t *dst;
        if (hg_buf_reserve(out, 65536, &dst)) {
            fprintf(stderr, "hubgate: %s: larger than %zu bytes\n", path, max);
            rc = 1;
            break;
        }
        size_t got = fread(dst, 1, 65536, f);
        hg_buf_commit(out, got);
        if (got < 65536) {
            if (ferror(f)) {
                fprintf(stderr, "hubgate: %s: read error\n", path);
                rc = 1;
            }
            break;
        }
    }
    close_input(f);
    if (rc)
        hg_buf_free(out);
    return rc;
}

typedef struct xorb_pack {
    xet_xorb_writer w;
    hg_err err;
} xorb_pack;

static int pack_chunk(void *arg, const uint8_t *chunk, size_t len)
{
    xorb_pack *xp = arg;
    xp->err = xet_xorb_writer_add(&xp->w, chunk, len, XET_SCHEME_AUTO);
    return xp->err != HG_OK;
}

static int xet_xorb_cmd(int argc, char **argv)
{
    xet_opts o;
    int rc = parse_opts(argc, argv, "xorb", &o);
    if (rc)
        return rc;
    xet_codec *cx;
    if (xet_codec_new(&cx)) {
        fprintf(stderr, "hubgate: out of memory\n");
        return 1;
    }
    xorb_pack xp = {.err = HG_OK};
    xet_xorb_writer_init(&xp.w, cx);
    uint64_t total;
    rc = chunk_stream(o.path, o.variant, pack_chunk, &xp, NULL, &total);
    if (rc && xp.err)
        fprintf(stderr, "hubgate xet xorb: %s (a xorb holds at most %u chunks and %u bytes)\n",
                hg_strerror(xp.err), XET_MAX_XORB_CHUNKS, XET_MAX_XORB_BYTES);
    xet_hash h;
    if (!rc && xp.w.nchunks == 0) {
        fprintf(stderr, "hubgate xet xorb: empty input makes no xorb\n");
        rc = 1;
    }
    if (!rc && !xet_xorb_writer_hash(&xp.w, &h)) {
        char hex[XET_HEX_LEN + 1];
        xet_hash_to_hex(&h, hex);
        if (fwrite(xp.w.data.data, 1, xp.w.data.len, stdout) != xp.w.data.len || fflush(stdout)) {
            fprintf(stderr, "hubgate xet xorb: write error\n");
            rc = 1;
        } else {
            fprintf(stderr, "%s %zu chunks %zu bytes\n", hex, xp.w.nchunks, xp.w.data.len);
        }
    }
    xet_xorb_writer_free(&xp.w);
    xet_codec_free(&cx);
    return rc;
}

static const char *scheme_name(uint8_t s)
{
    return s == XET_SCHEME_NONE ? "none" : s == XET_SCHEME_LZ4 ? "lz4" : "bg4-lz4";
}

static int xet_xorb_info_cmd(int argc, char **argv)
{
    if (argc != 1) {
        fprintf(stderr, "usage: hubgate xet xorb-info FILE|-\n");
        return 2;
    }
    hg_buf data;
    if (read_all(argv[0], XET_MAX_XORB_BYTES + XET_MAX_XORB_CHUNKS * 64u + (1u << 20), &data))
        return 1;
    xet_codec *cx;
    xet_xorb_info info;
    int rc = 0;
    hg_err err = xet_codec_new(&cx);
    if (!err)
        err = xet_xorb_parse(cx, data.data, data.len, &info, NULL);
    if (err) {
        fprintf(stderr, "hubgate xet xorb-info: %s: %s\n", argv[0], hg_strerror(err));
        rc = 1;
    } else {
        char hex[XET_HEX_LEN + 1];
        xet_hash_to_hex(&info.hash, hex);
        printf("xorb %s chunks %zu raw_bytes %zu records_bytes %zu\n", hex, info.nchunks,
               info.raw_bytes, info.records_len);
        for (size_t i = 0; i < info.nchunks; i++) {
            const xet_xorb_chunk *c = &info.chunks[i];
            xet_hash_to_hex(&c->hash, hex);
            printf("%zu %s raw %u+%u record %u+%u %s\n", i, hex, c->raw_off, c->raw_len,
                   c->rec_off, c->rec_len, scheme_name(data.data[c->rec_off + 4]));
        }
        xet_xorb_info_free(&info);
    }
    xet_codec_free(&cx);
    hg_buf_free(&data);
    return rc;
}

static int xet_shard_info_cmd(int argc, char **argv)
{
    if (argc != 1) {
        fprintf(stderr, "usage: hubgate xet shard-info FILE|-\n");
        return 2;
    }
    hg_buf data;
    if (read_all(argv[0], XET_SHARD_MAX_LEN, &data))
        return 1;
    xet_shard *s = NULL;
    hg_err err = xet_shard_parse(data.data, data.len, &s);
    hg_buf_free(&data);
    if (err) {
        fprintf(stderr, "hubgate xet shard-info: %s: %s\n", argv[0], hg_strerror(err));
        return 1;
    }
    char hex[XET_HEX_LEN + 1], sha[65];
    printf("shard version %" PRIu64 " footer %s files %zu xorbs %zu\n", s->version,
           s->has_footer ? "yes" : "no", s->nfiles, s->nxorbs);
    for (size_t i = 0; i < s->nfiles; i++) {
        const xet_shard_file *f = &s->files[i];
        xet_hash_to_hex(&f->file_hash, hex);
        printf("file %s terms %u", hex, f->nterms);
        if (f->flags & XET_FILE_FLAG_METADATA_EXT) {
            xet_bytes_to_hex(f->sha256, 32, sha);
            printf(" sha256 %s", sha);
        }
        printf("\n");
        for (uint32_t t = 0; t < f->nterms; t++) {
            xet_hash_to_hex(&f->terms[t].xorb_hash, hex);
            printf("  term %s chunks [%u,%u) bytes %u\n", hex, f->terms[t].chunk_start,
                   f->terms[t].chunk_end, f->terms[t].unpacked_bytes);
        }
    }
    for (size_t i = 0; i < s->nxorbs; i++) {
        const xet_shard_xorb *x = &s->xorbs[i];
        xet_hash_to_hex(&x->xorb_hash, hex);
        printf("xorb %s chunks %u raw_bytes %u bytes_on_disk %u\n", hex, x->nchunks,
               x->raw_bytes, x->bytes_on_disk);
    }
    xet_shard_free(&s);
    return 0;
}

void cmd_xet_usage(void)
{
    fprintf(stderr, "usage: hubgate xet chunk|hash|xorb|xorb-info|shard-info ... "
                    "(see 'hubgate help')\n");
}

int cmd_xet(int argc, char **argv)
{
    if (argc < 1) {
        cmd_xet_usage();
        return 2;
    }
    const char *sub = argv[0];
    if (!strcmp(sub, "chunk"))
        return xet_chunk_cmd(argc - 1, argv + 1);
    if (!strcmp(sub, "hash"))
        return xet_hash_cmd(argc - 1, argv + 1);
    if (!strcmp(sub, "xorb"))
        return xet_xorb_cmd(argc - 1, argv + 1);
    if (!strcmp(sub, "xorb-info"))
        return xet_xorb_info_cmd(argc - 1, argv + 1);
    if (!strcmp(sub, "shard-info"))
        return xet_shard_info_cmd(argc - 1, argv + 1);
    fprintf(stderr, "hubgate xet: unknown subcommand '%s'\n", sub);
    cmd_xet_usage();
    return 2;
}
