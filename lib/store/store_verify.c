/*
 * store_verify.c - re-hash everything the index claims and report every disagreement.
 *
 * Checks, in order: every xorb file parses, decodes and hashes to its name and matches its chunk
 * rows; every content's bytes (read back through its terms) hash to its SHA-256, git blob id
 * and Xet file hash; every commit id re-computes from its fields; xorb files that no row
 * mentions are counted as orphans (left by an interrupted write; harmless).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "store/store_int.h"
#include "util/hg_fs.h"
#include "util/hg_log.h"

static hg_err verify_xorb(store *st, store_conn *c, xet_codec *cx, int64_t id, const xet_hash *h,
                          store_verify_report *rep)
{
    char path[4096], hex[XET_HEX_LEN + 1];
    store_xorb_path(st, h, path, sizeof path);
    xet_hash_to_hex(h, hex);
    char *data = NULL;
    size_t len = 0;
    hg_err rc = hg_read_file(path, XET_MAX_XORB_BYTES + XET_MAX_XORB_CHUNKS * 64u, &data, &len);
    if (rc == HG_ERR_NOTFOUND) {
        HG_ERROR("verify: xorb %s: file missing", hex);
        rep->xorbs_missing++;
        return HG_OK;
    }
    if (rc) {
        HG_ERROR("verify: xorb %s: cannot read: %s", hex, hg_strerror(rc));
        rep->xorbs_bad++;
        return HG_OK;
    }
    xet_xorb_info info;
    rc = xet_xorb_parse(cx, (const uint8_t *)data, len, &info, NULL);
    free(data);
    if (rc || !xet_hash_eq(&info.hash, h)) {
        HG_ERROR("verify: xorb %s: %s", hex, rc ? hg_strerror(rc) : "content hashes to another xorb");
        rep->xorbs_bad++;
        if (!rc)
            xet_xorb_info_free(&info);
        return HG_OK;
    }
    sqlite3_stmt *s = store_stmt(c, STMT_XORB_CHUNKS);
    if (!s) {
        xet_xorb_info_free(&info);
        return HG_ERR_IO;
    }
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int64(s, 2, 0);
    sqlite3_bind_int64(s, 3, INT64_MAX);
    size_t i = 0;
    int bad = 0, r;
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        const xet_xorb_chunk *ch = i < info.nchunks ? &info.chunks[i] : NULL;
        if (!ch || (uint64_t)sqlite3_column_int64(s, 0) != i ||
            (uint64_t)sqlite3_column_int64(s, 1) != ch->raw_off ||
            (uint64_t)sqlite3_column_int64(s, 2) != ch->raw_len ||
            (uint64_t)sqlite3_column_int64(s, 3) != ch->rec_off ||
            (uint64_t)sqlite3_column_int64(s, 4) != ch->rec_len)
            bad = 1;
        i++;
    }
    if (r != SQLITE_DONE || i != info.nchunks || bad) {
        HG_ERROR("verify: xorb %s: chunk rows do not match the file", hex);
        rep->xorbs_bad++;
    }
    xet_xorb_info_free(&info);
    return HG_OK;
}

typedef struct merkle_ctx {
    xet_merkle m;
    uint64_t n;
} merkle_ctx;

static int merkle_cb(void *arg, const uint8_t *p, size_t n)
{
    merkle_ctx *ctx = arg;
    xet_hash h;
    xet_chunk_hash(p, n, &h);
    xet_merkle_add(&ctx->m, &h, n);
    ctx->n++;
    return 0;
}

/* Hashes the bytes read back through r: SHA-256, git blob id and Xet file hash. */
static hg_err hash_content(store *st, store_reader *r, uint64_t size, uint8_t sha256[32],
                           git_oid *blob_oid, xet_hash *xet)
{
    EVP_MD_CTX *sha = EVP_MD_CTX_new();
    merkle_ctx *mc = malloc(sizeof *mc);
    uint8_t *buf = malloc(1u << 20);
    git_blob_hasher blob = {0};
    xet_chunker ck = {0};
    hg_err rc = sha && mc && buf && EVP_DigestInit_ex(sha, EVP_sha256(), NULL) == 1 ? HG_OK : HG_ERR_NOMEM;
    if (!rc)
        rc = git_blob_hasher_init(&blob, size);
    if (!rc)
        rc = xet_chunker_init(&ck, st->opt.variant);
    if (!rc) {
        xet_merkle_init(&mc->m);
        mc->n = 0;
    }
    for (uint64_t off = 0; !rc && off < size;) {
        size_t got;
        rc = store_reader_read(r, off, buf, 1u << 20, &got);
        if (!rc && got == 0)
            rc = HG_ERR_CORRUPT;
        if (!rc && EVP_DigestUpdate(sha, buf, got) != 1)
            rc = HG_ERR_NOMEM;
        if (!rc)
            rc = git_blob_hasher_update(&blob, buf, got);
        if (!rc && xet_chunker_feed(&ck, buf, got, merkle_cb, mc))
            rc = HG_ERR_NOMEM;
        off += got;
    }
    unsigned int mdlen;
    xet_hash root;
    if (!rc && xet_chunker_finish(&ck, merkle_cb, mc))
        rc = HG_ERR_NOMEM;
    if (!rc && EVP_DigestFinal_ex(sha, sha256, &mdlen) != 1)
        rc = HG_ERR_NOMEM;
    if (!rc)
        rc = git_blob_hasher_final(&blob, blob_oid);
    if (!rc && !(rc = xet_merkle_finish(&mc->m, &root, NULL)))
        xet_file_hash_from_root(&root, mc->n, xet);
    git_blob_hasher_abort(&blob);
    xet_chunker_free(&ck);
    EVP_MD_CTX_free(sha);
    free(mc);
    free(buf);
    return rc;
}

static hg_err verify_content(store *st, const store_content *ct, store_verify_report *rep)
{
    char hex[XET_HEX_LEN + 1];
    xet_hash_to_hex(&ct->xet, hex);
    store_reader *r;
    uint8_t sha[32];
    git_oid oid;
    xet_hash xet;
    hg_err rc = store_reader_open(st, ct, &r);
    if (!rc) {
        rc = hash_content(st, r, ct->size, sha, &oid, &xet);
        store_reader_close(&r);
    }
    if (rc == HG_ERR_NOMEM)
        return rc;
    const char *why = rc ? hg_strerror(rc)
                      : memcmp(sha, ct->sha256, 32)   ? "SHA-256 differs"
                      : !git_oid_eq(&oid, &ct->blob)  ? "git blob id differs"
                      : !xet_hash_eq(&xet, &ct->xet)  ? "Xet file hash differs"
                                                      : NULL;
    if (why) {
        HG_ERROR("verify: content %s (%" PRIu64 " bytes): %s", hex, ct->size, why);
        rep->contents_bad++;
    }
    return HG_OK;
}

static hg_err verify_commit(store_conn *c, sqlite3_stmt *s, store_verify_report *rep)
{
    (void)c;
    git_oid oid, tree, parent, got;
    memcpy(oid.b, sqlite3_column_blob(s, 0), 20);
    memcpy(tree.b, sqlite3_column_blob(s, 1), 20);
    int has_parent = sqlite3_column_type(s, 2) == SQLITE_BLOB;
    if (has_parent)
        memcpy(parent.b, sqlite3_column_blob(s, 2), 20);
    hg_err rc = git_commit_id(&tree, has_parent ? &parent : NULL, has_parent ? 1 : 0,
                              (const char *)sqlite3_column_text(s, 4), sqlite3_column_int64(s, 3),
                              (const char *)sqlite3_column_text(s, 5), &got);
    if (rc == HG_ERR_NOMEM)
        return rc;
    if (rc || !git_oid_eq(&got, &oid)) {
        char hex[GIT_OID_HEX_LEN + 1];
        git_oid_to_hex(&oid, hex);
        HG_ERROR("verify: commit %s does not hash to its id", hex);
        rep->commits_bad++;
    }
    return HG_OK;
}

static hg_err count_orphan(void *arg, const char *path, int xorb_name)
{
    (void)xorb_name;
    HG_WARN("verify: orphan file %s (not referenced by the index; hubgate gc removes it)", path);
    ((store_verify_report *)arg)->orphan_files++;
    return HG_OK;
}

hg_err store_verify(store *st, store_verify_report *rep)
{
    memset(rep, 0, sizeof *rep);
    store_conn *c = store_conn_get(st);
    if (!c)
        return HG_ERR_IO;
    xet_codec *cx;
    hg_err rc = xet_codec_new(&cx);
    if (rc)
        return rc;
    /* Separate statements: the loops below run the cached ones. */
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(c->db, "SELECT id, hash FROM xorbs ORDER BY id", -1, &s, NULL) != SQLITE_OK)
        rc = HG_ERR_IO;
    while (!rc && sqlite3_step(s) == SQLITE_ROW) {
        xet_hash h;
        memcpy(h.b, sqlite3_column_blob(s, 1), 32);
        rep->xorbs++;
        rc = verify_xorb(st, c, cx, sqlite3_column_int64(s, 0), &h, rep);
    }
    sqlite3_finalize(s);
    xet_codec_free(&cx);
    s = NULL;
    if (!rc && sqlite3_prepare_v2(c->db, "SELECT id, size, sha256, blob_oid, xet_hash FROM contents ORDER BY id",
                                  -1, &s, NULL) != SQLITE_OK)
        rc = HG_ERR_IO;
    while (!rc && sqlite3_step(s) == SQLITE_ROW) {
        store_content ct = {.id = sqlite3_column_int64(s, 0), .size = (uint64_t)sqlite3_column_int64(s, 1)};
        memcpy(ct.sha256, sqlite3_column_blob(s, 2), 32);
        memcpy(ct.blob.b, sqlite3_column_blob(s, 3), 20);
        memcpy(ct.xet.b, sqlite3_column_blob(s, 4), 32);
        rep->contents++;
        rc = verify_content(st, &ct, rep);
    }
    sqlite3_finalize(s);
    s = NULL;
    if (!rc && sqlite3_prepare_v2(c->db, "SELECT oid, tree_oid, parent_oid, time, author, message FROM commits",
                                  -1, &s, NULL) != SQLITE_OK)
        rc = HG_ERR_IO;
    while (!rc && sqlite3_step(s) == SQLITE_ROW) {
        rep->commits++;
        rc = verify_commit(c, s, rep);
    }
    sqlite3_finalize(s);
    if (!rc)
        rc = store_orphans_each(st, count_orphan, rep);
    return rc;
}

hg_err store_usage(store *st, uint64_t *logical, uint64_t *stored, uint64_t *unique_chunk_bytes)
{
    store_conn *c = store_conn_get(st);
    if (!c)
        return HG_ERR_IO;
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(c->db,
                           "SELECT (SELECT coalesce(sum(size),0) FROM contents),"
                           " (SELECT coalesce(sum(size),0) FROM xorbs),"
                           " (SELECT coalesce(sum(raw_bytes),0) FROM xorbs)",
                           -1, &s, NULL) != SQLITE_OK)
        return HG_ERR_IO;
    hg_err rc = HG_ERR_IO;
    if (sqlite3_step(s) == SQLITE_ROW) {
        *logical = (uint64_t)sqlite3_column_int64(s, 0);
        *stored = (uint64_t)sqlite3_column_int64(s, 1);
        *unique_chunk_bytes = (uint64_t)sqlite3_column_int64(s, 2);
        rc = HG_OK;
    }
    sqlite3_finalize(s);
    return rc;
}
