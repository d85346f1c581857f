/*
 * git object hashing (lib/git): every expected id below was produced by real git 2.39 and is
 * hard-coded, so this test never runs git.  The commands, run in a fresh `git init` repo:
 *
 *   git hash-object --stdin </dev/null                        -> e69de29b... (empty blob)
 *   printf 'hello\n' | git hash-object --stdin                -> ce013625...
 *   printf 'version https://git-lfs.github.com/spec/v1\noid sha256:5891b5b5...be03\nsize 1234\n'
 *     > ptr1 && git hash-object ptr1                          -> 9870f1a5... (129 bytes)
 *   (same with "size 440000000")                              -> 33c19cb9... (134 bytes)
 *     where 5891b5b5...be03 = sha256sum of "hello\n"
 *
 * Tree of the "sort rule" snapshot (E = empty blob, H = hello blob, P = ptr1 blob):
 *   git update-index --add --cacheinfo 100644,$H,a.b      (and likewise for each file:)
 *     100644 E a/x, 100755 H a/y/z, 100644 H a0, 100644 E a-b, 100644 H A,
 *     100644 P models/model.safetensors, 100755 H run.sh, 100644 H ab/c, 100644 E $'\xc3\xa9.txt'
 *   git write-tree && git ls-tree -r -t <root>
 *
 * Commits (on that root, then on the empty tree 4b825dc6... with the first as parent):
 *   export GIT_AUTHOR_NAME=Alice GIT_AUTHOR_EMAIL=alice@example.com \
 *          GIT_COMMITTER_NAME=Alice GIT_COMMITTER_EMAIL=alice@example.com
 *   GIT_AUTHOR_DATE='@1700000000 +0000' GIT_COMMITTER_DATE='@1700000000 +0000' \
 *     git commit-tree -m "initial commit" <root>                          -> 4cf308a5...
 *   GIT_AUTHOR_DATE='@1700003600 +0000' GIT_COMMITTER_DATE='@1700003600 +0000' \
 *     git commit-tree -p 4cf308a5... -m $'Upload model\n\nSecond line.' 4b825dc6...  -> f930998...
 *
 * The 100k-file tree: the lines of big_file() below fed to
 *   git update-index --index-info && git write-tree --missing-ok       -> c7b270a3...
 *   git rev-parse <root>:d5/s17                                        -> f1bb0f9d...
 *   git ls-tree -r -d <root> | wc -l                                   -> 1998 (plus the root)
 *
 * LFS rules: the text of git_default_gitattributes() was written to .gitattributes and
 * `git check-attr filter -- <path>...` gave the pattern verdicts in test_lfs_paths.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "git/git.h"
#include "testutil.h"

static git_oid oid_hex(const char *hex)
{
    git_oid id;
    assert_int_equal(git_oid_from_hex(hex, strlen(hex), &id), HG_OK);
    return id;
}

static void assert_oid(const git_oid *id, const char *hex)
{
    char got[GIT_OID_HEX_LEN + 1];
    git_oid_to_hex(id, got);
    assert_string_equal(got, hex);
}

#define EMPTY_BLOB "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
#define HELLO_BLOB "ce013625030ba8dba906f756967f9e9ca394464a"
#define EMPTY_TREE "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
#define HELLO_SHA256 "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
#define PTR1_BLOB "9870f1a564d33910dfc6faaaa492485dc7ad6029"
#define PTR2_BLOB "33c19cb9a78e4a0ea63ba85e56d95f002584ac2d"

static void hello_sha256(uint8_t out[32])
{
    size_t n;
    uint8_t *raw = tu_unhex(HELLO_SHA256, &n);
    assert_int_equal(n, 32);
    memcpy(out, raw, 32);
    free(raw);
}

/* ---- hex ---- */

static void test_oid_hex(void **state)
{
    (void)state;
    git_oid id;
    assert_int_equal(git_oid_from_hex(HELLO_BLOB, 40, &id), HG_OK);
    assert_oid(&id, HELLO_BLOB);
    assert_int_equal(git_oid_from_hex("CE013625030BA8DBA906F756967F9E9CA394464A", 40, &id), HG_OK);
    assert_oid(&id, HELLO_BLOB);
    assert_int_equal(git_oid_from_hex(HELLO_BLOB, 39, &id), HG_ERR_INVAL);
    assert_int_equal(git_oid_from_hex(HELLO_BLOB "0", 41, &id), HG_ERR_INVAL);
    assert_int_equal(git_oid_from_hex("", 0, &id), HG_ERR_INVAL);
    assert_int_equal(git_oid_from_hex(NULL, 40, &id), HG_ERR_INVAL);
    char bad[41];
    memcpy(bad, HELLO_BLOB, 41);
    bad[17] = 'g';
    assert_int_equal(git_oid_from_hex(bad, 40, &id), HG_ERR_INVAL);
    bad[17] = ' ';
    assert_int_equal(git_oid_from_hex(bad, 40, &id), HG_ERR_INVAL);
    assert_oid(&id, HELLO_BLOB); /* untouched by the failed parses */
    assert_oid(&GIT_OID_EMPTY_BLOB, EMPTY_BLOB);
    assert_oid(&GIT_OID_EMPTY_TREE, EMPTY_TREE);
    git_oid a = oid_hex(EMPTY_BLOB);
    assert_true(git_oid_eq(&a, &GIT_OID_EMPTY_BLOB));
    assert_false(git_oid_eq(&a, &id));
}

/* ---- blobs ---- */

static void test_blob_ids(void **state)
{
    (void)state;
    git_oid id;
    assert_int_equal(git_blob_id(NULL, 0, &id), HG_OK);
    assert_oid(&id, EMPTY_BLOB);
    assert_int_equal(git_blob_id("hello\n", 6, &id), HG_OK);
    assert_oid(&id, HELLO_BLOB);

    /* Streaming in uneven pieces gives the same id. */
    git_blob_hasher h;
    assert_int_equal(git_blob_hasher_init(&h, 6), HG_OK);
    assert_int_equal(git_blob_hasher_update(&h, "he", 2), HG_OK);
    assert_int_equal(git_blob_hasher_update(&h, "", 0), HG_OK);
    assert_int_equal(git_blob_hasher_update(&h, "llo\n", 4), HG_OK);
    assert_int_equal(git_blob_hasher_final(&h, &id), HG_OK);
    assert_oid(&id, HELLO_BLOB);

    assert_int_equal(git_blob_hasher_init(&h, 0), HG_OK);
    assert_int_equal(git_blob_hasher_final(&h, &id), HG_OK);
    assert_oid(&id, EMPTY_BLOB);

    /* Fewer bytes than declared: final fails and leaves out alone. */
    assert_int_equal(git_blob_hasher_init(&h, 7), HG_OK);
    assert_int_equal(git_blob_hasher_update(&h, "hello\n", 6), HG_OK);
    assert_int_equal(git_blob_hasher_final(&h, &id), HG_ERR_CORRUPT);
    assert_oid(&id, EMPTY_BLOB);
    assert_null(h.ctx);

    /* More bytes than declared: update fails at once, final fails too. */
    assert_int_equal(git_blob_hasher_init(&h, 5), HG_OK);
    assert_int_equal(git_blob_hasher_update(&h, "hello\n", 6), HG_ERR_CORRUPT);
    assert_int_equal(git_blob_hasher_final(&h, &id), HG_ERR_CORRUPT);
    assert_int_equal(git_blob_hasher_init(&h, 5), HG_OK);
    assert_int_equal(git_blob_hasher_update(&h, "hell", 4), HG_OK);
    assert_int_equal(git_blob_hasher_update(&h, "o\n", 2), HG_ERR_CORRUPT);
    assert_int_equal(git_blob_hasher_update(&h, "", 0), HG_OK);
    assert_int_equal(git_blob_hasher_final(&h, &id), HG_ERR_CORRUPT);

    /* Released hashers are inert. */
    assert_int_equal(git_blob_hasher_final(&h, &id), HG_ERR_INVAL);
    assert_int_equal(git_blob_hasher_update(&h, "x", 1), HG_ERR_INVAL);
    git_blob_hasher_abort(&h);
    assert_int_equal(git_blob_hasher_init(&h, 100), HG_OK);
    git_blob_hasher_abort(&h);
    git_blob_hasher_abort(&h);

    /* git_object_id generalises the blob id. */
    assert_int_equal(git_object_id("blob", "hello\n", 6, &id), HG_OK);
    assert_oid(&id, HELLO_BLOB);
    assert_int_equal(git_object_id("tree", NULL, 0, &id), HG_OK);
    assert_oid(&id, EMPTY_TREE);
    assert_int_equal(git_object_id("bogus", "", 0, &id), HG_ERR_INVAL);
}

/* ---- LFS pointers ---- */

static const char PTR1_TEXT[] = "version https://git-lfs.github.com/spec/v1\n"
                                "oid sha256:" HELLO_SHA256 "\n"
                                "size 1234\n";

static void test_lfs_pointer(void **state)
{
    (void)state;
    uint8_t sha[32];
    hello_sha256(sha);
    char buf[GIT_LFS_POINTER_MAX + 1];
    size_t len = 0;
    assert_int_equal(git_lfs_pointer(sha, 1234, buf, sizeof buf, &len), HG_OK);
    assert_int_equal(len, 129);
    assert_int_equal(len, strlen(PTR1_TEXT));
    assert_memory_equal(buf, PTR1_TEXT, len);
    assert_int_equal(buf[len], '\0');
    git_oid id;
    assert_int_equal(git_blob_id(buf, len, &id), HG_OK);
    assert_oid(&id, PTR1_BLOB);
    assert_int_equal(git_lfs_pointer_blob_id(sha, 1234, &id), HG_OK);
    assert_oid(&id, PTR1_BLOB);

    /* A ~440 MB file: the Hub shows "Pointer size: 134 Bytes" for such files. */
    assert_int_equal(git_lfs_pointer(sha, 440000000, buf, sizeof buf, &len), HG_OK);
    assert_int_equal(len, 134);
    assert_int_equal(git_lfs_pointer_blob_id(sha, 440000000, &id), HG_OK);
    assert_oid(&id, PTR2_BLOB);

    /* Exact fit (no room for the NUL) is fine; one byte less is not. */
    char exact[129];
    assert_int_equal(git_lfs_pointer(sha, 1234, exact, sizeof exact, &len), HG_OK);
    assert_memory_equal(exact, PTR1_TEXT, 129);
    assert_int_equal(git_lfs_pointer(sha, 1234, exact, 128, &len), HG_ERR_TOOBIG);

    /* The longest pointer fits GIT_LFS_POINTER_MAX. */
    assert_int_equal(git_lfs_pointer(sha, UINT64_MAX, buf, sizeof buf, &len), HG_OK);
    assert_int_equal(len, GIT_LFS_POINTER_MAX);
}

static void test_lfs_pointer_parse(void **state)
{
    (void)state;
    uint8_t want[32], sha[32];
    hello_sha256(want);
    uint64_t size = 0;
    assert_int_equal(git_lfs_pointer_parse(PTR1_TEXT, strlen(PTR1_TEXT), sha, &size), HG_OK);
    assert_memory_equal(sha, want, 32);
    assert_int_equal(size, 1234);

    /* Round trips at the edges of the size range. */
    const uint64_t sizes[] = {0, 1, 9, 10, 10485760, UINT64_MAX};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char buf[GIT_LFS_POINTER_MAX + 1];
        size_t len;
        assert_int_equal(git_lfs_pointer(want, sizes[i], buf, sizeof buf, &len), HG_OK);
        assert_int_equal(git_lfs_pointer_parse(buf, len, sha, &size), HG_OK);
        assert_int_equal(size, sizes[i]);
        assert_memory_equal(sha, want, 32);
    }

    /* Everything but the canonical form is rejected. */
    const char *bad[] = {
        "",
        "version https://git-lfs.github.com/spec/v1\n",
        /* upper-case hex */
        "version https://git-lfs.github.com/spec/v1\noid sha256:"
        "5891B5B522D5DF086D0FF0B110FBD9D21BB4FC7163AF34D08286A2E846F6BE03\nsize 1234\n",
        /* missing final newline */
        "version https://git-lfs.github.com/spec/v1\noid sha256:" HELLO_SHA256 "\nsize 1234",
        /* CRLF */
        "version https://git-lfs.github.com/spec/v1\r\noid sha256:" HELLO_SHA256
        "\r\nsize 1234\r\n",
        /* leading zero, sign, empty size, space */
        "version https://git-lfs.github.com/spec/v1\noid sha256:" HELLO_SHA256 "\nsize 01234\n",
        "version https://git-lfs.github.com/spec/v1\noid sha256:" HELLO_SHA256 "\nsize +1234\n",
        "version https://git-lfs.github.com/spec/v1\noid sha256:" HELLO_SHA256 "\nsize \n",
        "version https://git-lfs.github.com/spec/v1\noid sha256:" HELLO_SHA256 "\nsize  1234\n",
        /* 2^64 overflows */
        "version https://git-lfs.github.com/spec/v1\noid sha256:" HELLO_SHA256
        "\nsize 18446744073709551616\n",
        /* trailing data, extension line, other version, short oid, other hash */
        "version https://git-lfs.github.com/spec/v1\noid sha256:" HELLO_SHA256 "\nsize 1234\n\n",
        "version https://git-lfs.github.com/spec/v1\next-0-foo sha256:" HELLO_SHA256
        "\noid sha256:" HELLO_SHA256 "\nsize 1234\n",
        "version https://hawser.github.com/spec/v1\noid sha256:" HELLO_SHA256 "\nsize 1234\n",
        "version https://git-lfs.github.com/spec/v1\noid sha256:5891b5b5\nsize 1234\n",
        "version https://git-lfs.github.com/spec/v1\noid sha512:" HELLO_SHA256 "\nsize 1234\n",
        /* keys out of order */
        "version https://git-lfs.github.com/spec/v1\nsize 1234\noid sha256:" HELLO_SHA256 "\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(git_lfs_pointer_parse(bad[i], strlen(bad[i]), sha, &size),
                         HG_ERR_CORRUPT);
    /* A NUL inside the text and a truncated buffer are rejected, never over-read. */
    char withnul[sizeof PTR1_TEXT];
    memcpy(withnul, PTR1_TEXT, sizeof PTR1_TEXT);
    withnul[125] = '\0';
    assert_int_equal(git_lfs_pointer_parse(withnul, 129, sha, &size), HG_ERR_CORRUPT);
    for (size_t n = 0; n < 129; n++)
        assert_int_equal(git_lfs_pointer_parse(PTR1_TEXT, n, sha, &size), HG_ERR_CORRUPT);
    assert_int_equal(git_lfs_pointer_parse(NULL, 0, sha, &size), HG_ERR_CORRUPT);
}

/* ---- LFS path rules ---- */

typedef struct lfs_case {
    const char *path;
    int model;   /* verdict for models and spaces */
    int dataset; /* verdict for datasets */
} lfs_case;

/* Pattern verdicts at size 1; confirmed with `git check-attr filter` (see the top comment). */
static const lfs_case lfs_cases[] = {
    {"model.safetensors", 1, 1},
    {"sub/dir/model.safetensors", 1, 1},
    {"pytorch_model.bin", 1, 1},
    {"model-00001-of-00002.safetensors", 1, 1},
    {"model.safetensors.index.json", 0, 0},
    {"config.json", 0, 0},
    {"README.md", 0, 0},
    {".gitattributes", 0, 0},
    {"tokenizer.model", 1, 1},
    {"MODEL.SAFETENSORS", 0, 0}, /* case-sensitive, like git on Linux */
    {"data/train-00000-of-00001.parquet", 1, 1},
    {"archive.tar", 1, 1},
    {"archive.tar.gz", 1, 1},
    {"a/b/archive.tar.zst", 1, 1},
    {"tar.gz", 1, 1}, /* by *.gz */
    {"x.tarball", 0, 0},
    {"runs/events.out.tfevents.1700000000.host", 1, 1},
    {"tfevents", 1, 1},
    {"saved_model/saved_model.pb", 1, 1},
    {"saved_model/variables/variables.index", 1, 1},
    {"saved_model/variables/variables.data-00000-of-00001", 1, 1},
    {"tf/saved_model/keras_metadata.txt", 0, 0}, /* anchored at the root */
    {"saved_model", 0, 0},
    {"weights.zip/readme.txt", 0, 0}, /* attributes do not apply below a matching dir */
    {"foo.lfs.bar", 1, 1},
    {".lfs.x", 1, 1},
    {"x.lfs", 0, 0},
    {"audio/sample.mp3", 0, 1},
    {"audio/sample.wav", 0, 1},
    {"audio/sample.flac", 0, 1},
    {"images/cat.png", 0, 1},
    {"images/cat.jpg", 0, 1},
    {"images/cat.jpeg", 0, 1},
    {"images/cat.webp", 0, 1},
    {"video/clip.mp4", 0, 1},
    {"video/clip.webm", 0, 1},
    {"shards/part.mds", 0, 1},
    {"data.lz4", 0, 1},
    {"data.jsonl", 0, 0},
    {"data.csv", 0, 0},
};

static void test_lfs_paths(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof lfs_cases / sizeof lfs_cases[0]; i++) {
        const lfs_case *c = &lfs_cases[i];
        if (git_path_is_lfs(c->path, 1, GIT_REPO_MODEL) != c->model ||
            git_path_is_lfs(c->path, 1, GIT_REPO_SPACE) != c->model ||
            git_path_is_lfs(c->path, 1, GIT_REPO_DATASET) != c->dataset)
            fail_msg("wrong LFS verdict for %s", c->path);
    }
    /* Size: empty files never, then strictly more than 10 MiB regardless of name. */
    assert_false(git_path_is_lfs("model.safetensors", 0, GIT_REPO_MODEL));
    assert_false(git_path_is_lfs("big.txt", 10485760, GIT_REPO_MODEL));
    assert_true(git_path_is_lfs("big.txt", 10485761, GIT_REPO_MODEL));
    assert_true(git_path_is_lfs("big.txt", 10485761, GIT_REPO_DATASET));
    assert_false(git_path_is_lfs("big.txt", 10000001, GIT_REPO_SPACE));
    assert_true(git_path_is_lfs("big.txt", UINT64_MAX, GIT_REPO_SPACE));
    assert_false(git_path_is_lfs(NULL, 100, GIT_REPO_MODEL));
    /* Unknown repo types fall back to the model rules. */
    assert_true(git_path_is_lfs("m.safetensors", 1, 7));
    assert_false(git_path_is_lfs("a.png", 1, -1));
}

/* Turns a pattern into a path it must match: '*' -> "x", "**" -> "x". */
static void example_path(const char *pat, char *out, size_t cap)
{
    size_t o = 0;
    for (const char *p = pat; *p && o + 2 < cap; p++) {
        if (*p == '*') {
            out[o++] = 'x';
            while (p[1] == '*')
                p++;
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
}

static void check_attributes_text(int type, const char *must, const char *must_not)
{
    const char *text = git_default_gitattributes(type);
    assert_non_null(text);
    assert_non_null(strstr(text, must));
    if (must_not)
        assert_null(strstr(text, must_not));
    size_t tl = strlen(text);
    assert_true(tl > 0 && text[tl - 1] == '\n');
    static const char suffix[] = " filter=lfs diff=lfs merge=lfs -text";
    size_t rules = 0;
    for (const char *line = text; *line;) {
        const char *nl = strchr(line, '\n');
        assert_non_null(nl);
        size_t n = (size_t)(nl - line);
        if (line[0] != '#') {
            /* Every rule line is "<pattern> filter=lfs diff=lfs merge=lfs -text" and every
             * pattern in the text is honoured by git_path_is_lfs. */
            assert_true(n > sizeof suffix - 1);
            assert_memory_equal(nl - (sizeof suffix - 1), suffix, sizeof suffix - 1);
            char pat[64], path[80];
            size_t pl = n - (sizeof suffix - 1);
            assert_true(pl < sizeof pat);
            memcpy(pat, line, pl);
            pat[pl] = '\0';
            example_path(pat, path, sizeof path);
            if (!git_path_is_lfs(path, 1, type))
                fail_msg("pattern %s (path %s) not honoured", pat, path);
            rules++;
        }
        line = nl + 1;
    }
    assert_true(rules >= 35);
}

static void test_default_gitattributes(void **state)
{
    (void)state;
    check_attributes_text(GIT_REPO_MODEL, "\n*.safetensors filter=lfs diff=lfs merge=lfs -text\n",
                          "*.mp3");
    check_attributes_text(GIT_REPO_DATASET, "\n*.mp3 filter=lfs diff=lfs merge=lfs -text\n", NULL);
    check_attributes_text(GIT_REPO_SPACE,
                          "\nsaved_model/**/* filter=lfs diff=lfs merge=lfs -text\n", "*.mds");
    assert_string_equal(git_default_gitattributes(GIT_REPO_SPACE),
                        git_default_gitattributes(GIT_REPO_MODEL));
    const char *m = git_default_gitattributes(GIT_REPO_MODEL);
    assert_memory_equal(m, "*.7z filter=lfs diff=lfs merge=lfs -text\n", 41);
    assert_non_null(strstr(m, "\n*tfevents* filter=lfs diff=lfs merge=lfs -text\n"));
    const char *d = git_default_gitattributes(GIT_REPO_DATASET);
    assert_non_null(strstr(d, "\n# Audio files - uncompressed\n*.pcm filter=lfs"));
    assert_non_null(strstr(d, "\n*.webm filter=lfs diff=lfs merge=lfs -text\n"));
}

/* ---- trees ---- */

#define ROOT_SORT "3ba094b26755935a3a0b8e55a69ce65a86651f55"

typedef struct seen_dir {
    char path[64];
    git_oid id;
} seen_dir;

typedef struct seen {
    seen_dir d[16];
    size_t n;
    size_t calls;
    hg_err fail_at_root; /* returned for "" when non-zero */
} seen;

static hg_err record_dir(void *arg, const char *dir, const git_oid *id)
{
    seen *s = arg;
    s->calls++;
    if (!*dir && s->fail_at_root)
        return s->fail_at_root;
    if (s->n < 16) {
        snprintf(s->d[s->n].path, sizeof s->d[s->n].path, "%s", dir);
        s->d[s->n].id = *id;
        s->n++;
    }
    return HG_OK;
}

static const git_oid *find_dir(const seen *s, const char *path)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->d[i].path, path))
            return &s->d[i].id;
    return NULL;
}

static void sort_snapshot(git_tree_file *f)
{
    git_oid e = oid_hex(EMPTY_BLOB), h = oid_hex(HELLO_BLOB), p = oid_hex(PTR1_BLOB);
    const git_tree_file files[] = {
        {"a.b", GIT_MODE_FILE, h},     {"a/x", GIT_MODE_FILE, e},
        {"a/y/z", GIT_MODE_EXEC, h},   {"a0", GIT_MODE_FILE, h},
        {"a-b", GIT_MODE_FILE, e},     {"A", GIT_MODE_FILE, h},
        {"models/model.safetensors", GIT_MODE_FILE, p},
        {"run.sh", GIT_MODE_EXEC, h},  {"ab/c", GIT_MODE_FILE, h},
        {"\xc3\xa9.txt", GIT_MODE_FILE, e},
    };
    memcpy(f, files, sizeof files);
}

#define SORT_N 10

static void test_tree_sort_rule(void **state)
{
    (void)state;
    git_tree_file f[SORT_N];
    sort_snapshot(f);
    /* The LFS pointer blob of the snapshot is the one computed from (sha256, size). */
    uint8_t sha[32];
    hello_sha256(sha);
    git_oid pid;
    assert_int_equal(git_lfs_pointer_blob_id(sha, 1234, &pid), HG_OK);
    assert_true(git_oid_eq(&pid, &f[6].oid));

    for (int round = 0; round < 12; round++) {
        /* Input order must not matter: try rotations and reversals. */
        git_tree_file in[SORT_N];
        for (size_t i = 0; i < SORT_N; i++) {
            size_t j = (i + (size_t)round) % SORT_N;
            in[round % 2 ? SORT_N - 1 - i : i] = f[j];
        }
        seen s = {0};
        git_oid root;
        assert_int_equal(git_build_trees(in, SORT_N, record_dir, &s, &root), HG_OK);
        assert_oid(&root, ROOT_SORT);
        assert_int_equal(s.calls, 5);
        assert_int_equal(s.n, 5);
        assert_string_equal(s.d[4].path, ""); /* root last */
        assert_oid(&s.d[4].id, ROOT_SORT);
        assert_oid(find_dir(&s, "a"), "7c9393c70d408944e5a9bbc9f7372cd9488d8e54");
        assert_oid(find_dir(&s, "a/y"), "39952da4e9c0c74bc147d3f717f50626a673543c");
        assert_oid(find_dir(&s, "ab"), "435927d2fe872add393f6b83553075ffeb232cba");
        assert_oid(find_dir(&s, "models"), "f023ee5198c6a68a95e59d6a20078c34388bdccd");
        /* Children are reported before their parents. */
        size_t ia = 0, iay = 0;
        for (size_t i = 0; i < s.n; i++) {
            if (!strcmp(s.d[i].path, "a"))
                ia = i;
            if (!strcmp(s.d[i].path, "a/y"))
                iay = i;
        }
        assert_true(iay < ia);
    }

    /* A NULL callback is allowed. */
    git_oid root;
    assert_int_equal(git_build_trees(f, SORT_N, NULL, NULL, &root), HG_OK);
    assert_oid(&root, ROOT_SORT);

    /* One subtree on its own: tree "a/y" holds just the executable z. */
    git_tree_file one = {"z", GIT_MODE_EXEC, oid_hex(HELLO_BLOB)};
    assert_int_equal(git_build_trees(&one, 1, NULL, NULL, &root), HG_OK);
    assert_oid(&root, "39952da4e9c0c74bc147d3f717f50626a673543c");
    /* The mode is part of the id. */
    one.mode = GIT_MODE_FILE;
    assert_int_equal(git_build_trees(&one, 1, NULL, NULL, &root), HG_OK);
    git_oid exec_tree = oid_hex("39952da4e9c0c74bc147d3f717f50626a673543c");
    assert_false(git_oid_eq(&root, &exec_tree));
}

static void test_tree_empty_and_cb_error(void **state)
{
    (void)state;
    seen s = {0};
    git_oid root;
    assert_int_equal(git_build_trees(NULL, 0, record_dir, &s, &root), HG_OK);
    assert_oid(&root, EMPTY_TREE);
    assert_int_equal(s.calls, 1);
    assert_string_equal(s.d[0].path, "");

    git_tree_file f[SORT_N];
    sort_snapshot(f);
    seen fail = {.fail_at_root = HG_ERR_IO};
    git_oid before = oid_hex(HELLO_BLOB);
    root = before;
    assert_int_equal(git_build_trees(f, SORT_N, record_dir, &fail, &root), HG_ERR_IO);
    assert_true(git_oid_eq(&root, &before)); /* untouched on failure */
}

static void test_tree_invalid(void **state)
{
    (void)state;
    const char *bad_paths[] = {
        "",      "/a",    "a/",    "a//b",   "./a",   "a/./b", "a/..",     "../a",  ".",
        "..",    "/",     ".git",  "a/.git", ".GIT/x", ".Git",  "x/.gIt/y",
    };
    const char *good_paths[] = {"a", ".gitattributes", "a/.gitignore", "..a", "a..", ".a/b",
                                "...", "a b/c d", "x/.git2", "git"};
    git_oid root, e = oid_hex(EMPTY_BLOB);
    for (size_t i = 0; i < sizeof bad_paths / sizeof bad_paths[0]; i++) {
        assert_false(git_path_valid(bad_paths[i]));
        git_tree_file f[2] = {{"ok", GIT_MODE_FILE, e}, {bad_paths[i], GIT_MODE_FILE, e}};
        assert_int_equal(git_build_trees(f, 2, NULL, NULL, &root), HG_ERR_INVAL);
    }
    for (size_t i = 0; i < sizeof good_paths / sizeof good_paths[0]; i++)
        assert_true(git_path_valid(good_paths[i]));
    assert_false(git_path_valid(NULL));
    git_tree_file nullpath = {NULL, GIT_MODE_FILE, e};
    assert_int_equal(git_build_trees(&nullpath, 1, NULL, NULL, &root), HG_ERR_INVAL);

    /* Bad modes. */
    const uint32_t bad_modes[] = {0, 0644, 0100600, 0100664, GIT_MODE_TREE, 0160000};
    for (size_t i = 0; i < sizeof bad_modes / sizeof bad_modes[0]; i++) {
        git_tree_file f = {"a", bad_modes[i], e};
        assert_int_equal(git_build_trees(&f, 1, NULL, NULL, &root), HG_ERR_INVAL);
    }
    git_tree_file link = {"a", GIT_MODE_LINK, e};
    assert_int_equal(git_build_trees(&link, 1, NULL, NULL, &root), HG_OK);

    /* Duplicates (even with different content) and file-vs-directory clashes, whatever the
     * order and whatever sorts between the two (here "a.b" and "a-b" sit between "a" and
     * "a/x"). */
    const char *sets[][4] = {
        {"a", "a", NULL, NULL},
        {"x/a", "x/b", "x/a", NULL},
        {"a", "a/x", NULL, NULL},
        {"a/x", "a.b", "a", "a-b"},
        {"d/e/f", "d/e", NULL, NULL},
        {"d/e", "d/e/f/g", "d/f", NULL},
        {"q/r", "q", "q.x", NULL},
    };
    for (size_t k = 0; k < sizeof sets / sizeof sets[0]; k++) {
        git_tree_file f[4];
        size_t n = 0;
        for (; n < 4 && sets[k][n]; n++)
            f[n] = (git_tree_file){sets[k][n], GIT_MODE_FILE, e};
        f[n > 1 ? 1 : 0].oid = oid_hex(HELLO_BLOB);
        if (git_build_trees(f, n, NULL, NULL, &root) != HG_ERR_INVAL)
            fail_msg("set %zu accepted", k);
    }
}

/* ---- 100k files ---- */

#define BIG_N 100000

static char *big_file(size_t i, git_tree_file *f)
{
    char *path = malloc(40);
    assert_non_null(path);
    snprintf(path, 40, "d%zu/s%zu/file-%zu.bin", i % 37, (i / 37) % 53, i);
    f->path = path;
    f->mode = i % 7 == 0 ? GIT_MODE_EXEC : GIT_MODE_FILE;
    uint32_t x = (uint32_t)(i * 2654435761u);
    for (unsigned k = 0; k < 20; k++)
        f->oid.b[k] = (uint8_t)(((x >> (8 * (k % 4))) & 0xff) ^ k);
    return path;
}

typedef struct big_seen {
    size_t calls;
    git_oid d5s17;
    int found;
} big_seen;

static hg_err big_cb(void *arg, const char *dir, const git_oid *id)
{
    big_seen *s = arg;
    s->calls++;
    if (!strcmp(dir, "d5/s17")) {
        s->d5s17 = *id;
        s->found++;
    }
    return HG_OK;
}

static void test_tree_100k(void **state)
{
    (void)state;
    git_tree_file *files = calloc(BIG_N, sizeof *files);
    assert_non_null(files);
    /* Generate in a scrambled order (multiplicative permutation; 7919 is coprime to BIG_N). */
    for (size_t i = 0; i < BIG_N; i++)
        big_file((i * 7919) % BIG_N, &files[i]);
    assert_string_equal(files[0].path, "d0/s0/file-0.bin");
    big_seen s = {0};
    git_oid root;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(git_build_trees(files, BIG_N, big_cb, &s, &root), HG_OK);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    print_message("100k-file tree built in %.3f s\n", secs);
    assert_oid(&root, "c7b270a3102427d0728fd949936b73003cb0db6b");
    assert_int_equal(s.calls, 1999);
    assert_int_equal(s.found, 1);
    assert_oid(&s.d5s17, "f1bb0f9d888a3d21740b5c12f4b3b9e971bbd1fa");
    assert_true(secs < 1.0);

    /* One clash among 100k is still found: file "d3/s4" next to directory "d3/s4/". */
    char clash[] = "d3/s4";
    const char *saved = files[500].path;
    files[500].path = clash;
    assert_int_equal(git_build_trees(files, BIG_N, NULL, NULL, &root), HG_ERR_INVAL);
    files[500].path = files[501].path; /* and a duplicate */
    assert_int_equal(git_build_trees(files, BIG_N, NULL, NULL, &root), HG_ERR_INVAL);
    files[500].path = saved;
    for (size_t i = 0; i < BIG_N; i++)
        free((char *)files[i].path);
    free(files);
}

/* ---- commits ---- */

#define AUTHOR "Alice <alice@example.com>"

static void test_commits(void **state)
{
    (void)state;
    git_oid tree = oid_hex(ROOT_SORT), c1, c2;
    assert_int_equal(git_commit_id(&tree, NULL, 0, AUTHOR, 1700000000, "initial commit", &c1),
                     HG_OK);
    assert_oid(&c1, "4cf308a5b95e2291147556c33cdf1412b670f110");
    /* The message already ending in '\n' gives the same commit. */
    git_oid same;
    assert_int_equal(git_commit_id(&tree, NULL, 0, AUTHOR, 1700000000, "initial commit\n",
                                   &same), HG_OK);
    assert_true(git_oid_eq(&same, &c1));

    char *body;
    size_t len;
    assert_int_equal(git_commit_object(&tree, NULL, 0, AUTHOR, 1700000000, "initial commit",
                                       &body, &len), HG_OK);
    const char *want = "tree " ROOT_SORT "\n"
                       "author Alice <alice@example.com> 1700000000 +0000\n"
                       "committer Alice <alice@example.com> 1700000000 +0000\n"
                       "\n"
                       "initial commit\n";
    assert_int_equal(len, strlen(want));
    assert_string_equal(body, want);
    free(body);

    git_oid empty = oid_hex(EMPTY_TREE);
    assert_int_equal(git_commit_id(&empty, &c1, 1, AUTHOR, 1700003600,
                                   "Upload model\n\nSecond line.", &c2), HG_OK);
    assert_oid(&c2, "f930998466cd0227dfead9f17cfd5e133beb6f65");

    /* Two parents: one "parent" line each, in order. */
    git_oid ps[2] = {c1, c2};
    assert_int_equal(git_commit_object(&empty, ps, 2, AUTHOR, 0, "", &body, &len), HG_OK);
    char expect[400];
    char h1[41], h2[41];
    git_oid_to_hex(&c1, h1);
    git_oid_to_hex(&c2, h2);
    snprintf(expect, sizeof expect,
             "tree " EMPTY_TREE "\nparent %s\nparent %s\n"
             "author " AUTHOR " 0 +0000\ncommitter " AUTHOR " 0 +0000\n\n", h1, h2);
    assert_string_equal(body, expect); /* an empty message stays empty */
    free(body);

    /* Bad identities and times. */
    const char *bad_authors[] = {"Alice", "<a@b>", " <a@b>", "Alice<a@b>", "Alice <a@b",
                                 "Alice <a@b> ", "Al\nice <a@b>", "Alice <a<b>", "Alice <a>b>",
                                 "Al>ce <a@b>", ""};
    for (size_t i = 0; i < sizeof bad_authors / sizeof bad_authors[0]; i++)
        if (git_commit_id(&tree, NULL, 0, bad_authors[i], 1, "m", &same) != HG_ERR_INVAL)
            fail_msg("author %s accepted", bad_authors[i]);
    assert_int_equal(git_commit_id(&tree, NULL, 0, NULL, 1, "m", &same), HG_ERR_INVAL);
    assert_int_equal(git_commit_id(&tree, NULL, 0, AUTHOR, -1, "m", &same), HG_ERR_INVAL);
    assert_int_equal(git_commit_id(&tree, NULL, 0, AUTHOR, 1, NULL, &same), HG_ERR_INVAL);
    assert_int_equal(git_commit_id(&tree, NULL, 1, AUTHOR, 1, "m", &same), HG_ERR_INVAL);
    assert_int_equal(git_commit_id(&tree, NULL, 0, "A <>", INT64_MAX, "m", &same), HG_OK);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oid_hex),
        cmocka_unit_test(test_blob_ids),
        cmocka_unit_test(test_lfs_pointer),
        cmocka_unit_test(test_lfs_pointer_parse),
        cmocka_unit_test(test_lfs_paths),
        cmocka_unit_test(test_default_gitattributes),
        cmocka_unit_test(test_tree_sort_rule),
        cmocka_unit_test(test_tree_empty_and_cb_error),
        cmocka_unit_test(test_tree_invalid),
        cmocka_unit_test(test_tree_100k),
        cmocka_unit_test(test_commits),
    };
    return tu_main(argc, argv, "git", tests, sizeof tests / sizeof tests[0]);
}
