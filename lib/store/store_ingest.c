/*
 * store_ingest.c - turning bytes into stored contents: chunk, hash, deduplicate, pack new chunks
 * into xorbs, and commit everything to the index in one transaction.
 *
 * A session streams any number of files.  Each chunk is looked up, first among the chunks this
 * session has packed, then in the index; only unseen chunks go into the session's current xorb.
 * A file's reconstruction is a list of terms, each a run of consecutive chunks of one xorb.
 * Xorbs of the session are "pending" (numbered from 0) until they are written; a term refers to
 * a pending xorb as -1 - k.  Xorbs are written (tmp, fsync, rename, fsync dir) when full and at
 * commit, always before the transaction that makes any row refer to them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "store/store_int.h"
#include "util/hg_fs.h"
#include "util/hg_log.h"

typedef struct ing_term {
    int64_t xorb; /* index xorb id (> 0), or -1 - k for pending xorb k */
    uint32_t start, end;
    uint32_t unpacked;
} ing_term;

typedef struct ing_file {
    store_content content;
    ing_term *terms;
    size_t nterms;
} ing_file;

typedef struct ing_xorb {
    xet_hash hash;
    xet_xorb_chunk *chunks;
    size_t nchunks;
    size_t raw_bytes, size;
} ing_xorb;

/* Open-addressing map: chunk hash -> (pending xorb, chunk index). */
typedef struct ing_slot {
    xet_hash hash;
    uint32_t xorb; /* pending index + 1; 0 = empty slot */
    uint32_t idx;
} ing_slot;

struct store_ingest {
    store *st;
    store_conn *c;
    xet_codec *codec;
    xet_chunker chunker;
    xet_xorb_writer cur; /* pending xorb number npx while open */
    ing_xorb *px;
    size_t npx;
    ing_slot *map;
    size_t map_cap, map_used;
    ing_file *files;
    size_t nfiles;
    /* the file being written */
    int in_file;
    hg_err file_err;
    xet_merkle *merkle;
    uint64_t nchunks_file;
    EVP_MD_CTX *sha;
    git_blob_hasher blob;
    uint64_t file_bytes;
    ing_term *terms;
    size_t nterms, terms_cap;
    store_ingest_stats stats;
    int lock_fd; /* the shared ingest lock (store_gc.c), held for the whole session */
};

static hg_err map_grow(store_ingest *in);

static size_t map_slot(const ing_slot *map, size_t cap, const xet_hash *h)
{
    uint64_t k;
    memcpy(&k, h->b, 8);
    size_t i = (size_t)(k & (cap - 1));
    while (map[i].xorb && memcmp(map[i].hash.b, h->b, 32) != 0)
        i = (i + 1) & (cap - 1);
    return i;
}

static hg_err map_put(store_ingest *in, const xet_hash *h, uint32_t xorb, uint32_t idx)
{
    if ((in->map_used + 1) * 2 > in->map_cap) {
        hg_err rc = map_grow(in);
        if (rc)
            return rc;
    }
    size_t i = map_slot(in->map, in->map_cap, h);
    if (!in->map[i].xorb)
        in->map_used++;
    in->map[i] = (ing_slot){*h, xorb + 1, idx};
    return HG_OK;
}

static hg_err map_grow(store_ingest *in)
{
    size_t cap = in->map_cap ? in->map_cap * 2 : 4096;
    ing_slot *m = calloc(cap, sizeof *m);
    if (!m)
        return HG_ERR_NOMEM;
    for (size_t i = 0; i < in->map_cap; i++)
        if (in->map[i].xorb)
            m[map_slot(m, cap, &in->map[i].hash)] = in->map[i];
    free(in->map);
    in->map = m;
    in->map_cap = cap;
    return HG_OK;
}

static const ing_slot *map_get(const store_ingest *in, const xet_hash *h)
{
    if (!in->map_cap)
        return NULL;
    size_t i = map_slot(in->map, in->map_cap, h);
    return in->map[i].xorb ? &in->map[i] : NULL;
}

hg_err store_ingest_begin(store *st, store_ingest **out)
{
    store_ingest *in = calloc(1, sizeof *in);
    if (!in)
        return HG_ERR_NOMEM;
    in->st = st;
    in->lock_fd = -1;
    in->c = store_conn_get(st);
    hg_err rc = in->c ? HG_OK : HG_ERR_IO;
    if (!rc)
        rc = store_ingest_lock(st, &in->lock_fd);
    if (!rc)
        rc = xet_codec_new(&in->codec);
    if (!rc)
        rc = xet_chunker_init(&in->chunker, st->opt.variant);
    in->merkle = malloc(sizeof *in->merkle);
    in->sha = EVP_MD_CTX_new();
    if (!rc && (!in->merkle || !in->sha))
        rc = HG_ERR_NOMEM;
    if (rc) {
        store_ingest_abort(&in);
        return rc;
    }
    xet_xorb_writer_init(&in->cur, in->codec);
    *out = in;
    return HG_OK;
}

void store_ingest_abort(store_ingest **pin)
{
    store_ingest *in = *pin;
    if (!in)
        return;
    xet_xorb_writer_free(&in->cur);
    for (size_t i = 0; i < in->npx; i++)
        free(in->px[i].chunks);
    free(in->px);
    for (size_t i = 0; i < in->nfiles; i++)
        free(in->files[i].terms);
    free(in->files);
    free(in->map);
    free(in->terms);
    free(in->merkle);
    EVP_MD_CTX_free(in->sha);
    git_blob_hasher_abort(&in->blob);
    xet_chunker_free(&in->chunker);
    xet_codec_free(&in->codec);
    store_unlock(&in->lock_fd);
    free(in);
    *pin = NULL;
}

/* Writes the current xorb to its final path, durably, and makes it pending xorb npx. */
static hg_err flush_xorb(store_ingest *in)
{
    if (in->cur.nchunks == 0)
        return HG_OK;
    ing_xorb x = {0};
    hg_err rc = xet_xorb_writer_hash(&in->cur, &x.hash);
    if (rc)
        return rc;
    char path[4096], dir[4096], tmp[4096];
    store_xorb_path(in->st, &x.hash, path, sizeof path);
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = '\0';
    store_tmp_name(in->st, "xorb", tmp, sizeof tmp);
    if ((rc = hg_mkdirs(dir)))
        return rc;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        HG_ERROR("create %s: %s", tmp, strerror(errno));
        return HG_ERR_IO;
    }
    rc = hg_pwrite_all(fd, in->cur.data.data, in->cur.data.len, 0);
    if (!rc && fsync(fd) != 0) {
        HG_ERROR("fsync %s: %s", tmp, strerror(errno));
        rc = HG_ERR_IO;
    }
    close(fd);
    if (!rc && rename(tmp, path) != 0) {
        HG_ERROR("rename %s -> %s: %s", tmp, path, strerror(errno));
        rc = HG_ERR_IO;
    }
    if (!rc)
        rc = hg_fsync_dir(dir);
    if (rc) {
        unlink(tmp);
        return rc;
    }
    ing_xorb *px = realloc(in->px, (in->npx + 1) * sizeof *px);
    if (!px)
        return HG_ERR_NOMEM;
    in->px = px;
    x.chunks = in->cur.chunks;
    x.nchunks = in->cur.nchunks;
    x.raw_bytes = in->cur.raw_bytes;
    x.size = in->cur.data.len;
    in->cur.chunks = NULL; /* moved into the pending list */
    in->px[in->npx++] = x;
    in->stats.xorbs++;
    in->stats.stored_bytes += x.size;
    xet_xorb_writer_free(&in->cur);
    xet_xorb_writer_init(&in->cur, in->codec);
    return HG_OK;
}

static hg_err add_term(store_ingest *in, int64_t xorb, uint32_t idx, uint32_t len)
{
    if (in->nterms > 0) {
        ing_term *t = &in->terms[in->nterms - 1];
        if (t->xorb == xorb && t->end == idx) {
            t->end++;
            t->unpacked += len;
            return HG_OK;
        }
    }
    if (in->nterms == in->terms_cap) {
        size_t cap = in->terms_cap ? 2 * in->terms_cap : 64;
        ing_term *p = realloc(in->terms, cap * sizeof *p);
        if (!p)
            return HG_ERR_NOMEM;
        in->terms = p;
        in->terms_cap = cap;
    }
    in->terms[in->nterms++] = (ing_term){xorb, idx, idx + 1, len};
    return HG_OK;
}

static hg_err find_in_index(store_ingest *in, const xet_hash *h, int64_t *xorb, uint32_t *idx)
{
    sqlite3_stmt *s = store_stmt(in->c, STMT_CHUNK_FIND);
    if (!s)
        return HG_ERR_IO;
    sqlite3_bind_blob(s, 1, h->b, 32, SQLITE_STATIC);
    int r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        *xorb = sqlite3_column_int64(s, 0);
        *idx = (uint32_t)sqlite3_column_int64(s, 1);
        sqlite3_reset(s);
        return HG_OK;
    }
    return r == SQLITE_DONE ? HG_ERR_NOTFOUND : store_sql_err(in->c, r, "chunk lookup");
}

static hg_err take_chunk(store_ingest *in, const uint8_t *p, size_t len)
{
    xet_hash h;
    xet_chunk_hash(p, len, &h);
    xet_merkle_add(in->merkle, &h, len);
    in->nchunks_file++;
    in->stats.chunks++;

    const ing_slot *slot = map_get(in, &h);
    if (slot)
        return add_term(in, -(int64_t)slot->xorb, slot->idx, (uint32_t)len);
    int64_t xorb = 0;
    uint32_t idx = 0;
    hg_err rc = find_in_index(in, &h, &xorb, &idx);
    if (rc == HG_OK)
        return add_term(in, xorb, idx, (uint32_t)len);
    if (rc != HG_ERR_NOTFOUND)
        return rc;
    if (!xet_xorb_writer_fits(&in->cur, len) && (rc = flush_xorb(in)))
        return rc;
    xet_scheme scheme = in->st->opt.compress ? XET_SCHEME_AUTO : XET_SCHEME_NONE;
    if ((rc = xet_xorb_writer_add(&in->cur, p, len, scheme)))
        return rc;
    idx = (uint32_t)(in->cur.nchunks - 1);
    if ((rc = map_put(in, &h, (uint32_t)in->npx, idx)))
        return rc;
    in->stats.new_chunks++;
    in->stats.new_chunk_bytes += len;
    return add_term(in, -1 - (int64_t)in->npx, idx, (uint32_t)len);
}

static int chunk_cb(void *arg, const uint8_t *p, size_t len)
{
    store_ingest *in = arg;
    in->file_err = take_chunk(in, p, len);
    return in->file_err != HG_OK;
}

hg_err store_ingest_file_begin(store_ingest *in, uint64_t size)
{
    if (in->in_file)
        return HG_ERR_INVAL;
    xet_merkle_init(in->merkle);
    in->nchunks_file = 0;
    in->file_bytes = 0;
    in->nterms = 0;
    in->file_err = HG_OK;
    if (EVP_DigestInit_ex(in->sha, EVP_sha256(), NULL) != 1)
        return HG_ERR_NOMEM;
    hg_err rc = git_blob_hasher_init(&in->blob, size);
    if (rc)
        return rc;
    in->in_file = 1;
    return HG_OK;
}

hg_err store_ingest_file_write(store_ingest *in, const void *data, size_t len)
{
    if (!in->in_file)
        return HG_ERR_INVAL;
    if (EVP_DigestUpdate(in->sha, data, len) != 1)
        return HG_ERR_NOMEM;
    hg_err rc = git_blob_hasher_update(&in->blob, data, len);
    if (rc)
        return rc;
    in->file_bytes += len;
    in->stats.logical_bytes += len;
    if (xet_chunker_feed(&in->chunker, data, len, chunk_cb, in))
        return in->file_err ? in->file_err : HG_ERR_IO;
    return HG_OK;
}

hg_err store_ingest_file_end(store_ingest *in, store_content *out, size_t *file_index)
{
    if (!in->in_file)
        return HG_ERR_INVAL;
    in->in_file = 0;
    if (xet_chunker_finish(&in->chunker, chunk_cb, in))
        return in->file_err ? in->file_err : HG_ERR_IO;
    store_content ct = {.size = in->file_bytes};
    xet_hash root;
    unsigned int mdlen;
    hg_err rc = xet_merkle_finish(in->merkle, &root, NULL);
    if (rc)
        return rc;
    xet_file_hash_from_root(&root, in->nchunks_file, &ct.xet);
    if (EVP_DigestFinal_ex(in->sha, ct.sha256, &mdlen) != 1)
        return HG_ERR_NOMEM;
    if ((rc = git_blob_hasher_final(&in->blob, &ct.blob)))
        return rc;
    ing_file *files = realloc(in->files, (in->nfiles + 1) * sizeof *files);
    if (!files)
        return HG_ERR_NOMEM;
    in->files = files;
    ing_file f = {.content = ct, .nterms = in->nterms};
    if (in->nterms) {
        f.terms = malloc(in->nterms * sizeof *f.terms);
        if (!f.terms)
            return HG_ERR_NOMEM;
        memcpy(f.terms, in->terms, in->nterms * sizeof *f.terms);
    }
    in->files[in->nfiles] = f;
    if (file_index)
        *file_index = in->nfiles;
    in->nfiles++;
    if (out)
        *out = ct;
    return HG_OK;
}

void store_ingest_get_stats(const store_ingest *in, store_ingest_stats *out)
{
    *out = in->stats;
}

hg_err store_ingest_file_content(const store_ingest *in, size_t idx, store_content *out)
{
    if (idx >= in->nfiles)
        return HG_ERR_INVAL;
    *out = in->files[idx].content;
    return HG_OK;
}

static hg_err step_done(store_conn *c, sqlite3_stmt *s, const char *what)
{
    int r = sqlite3_step(s);
    return r == SQLITE_DONE ? HG_OK : store_sql_err(c, r, what);
}

/* Inserts pending xorb k (or finds it) and returns its index id. */
static hg_err insert_xorb(store_ingest *in, ing_xorb *x, int64_t *id)
{
    sqlite3_stmt *s = store_stmt(in->c, STMT_XORB_FIND);
    if (!s)
        return HG_ERR_IO;
    sqlite3_bind_blob(s, 1, x->hash.b, 32, SQLITE_STATIC);
    int r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        *id = sqlite3_column_int64(s, 0);
        return HG_OK;
    }
    if (r != SQLITE_DONE)
        return store_sql_err(in->c, r, "xorb lookup");
    if (!(s = store_stmt(in->c, STMT_XORB_INSERT)))
        return HG_ERR_IO;
    sqlite3_bind_blob(s, 1, x->hash.b, 32, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)x->nchunks);
    sqlite3_bind_int64(s, 3, (sqlite3_int64)x->raw_bytes);
    sqlite3_bind_int64(s, 4, (sqlite3_int64)x->size);
    hg_err rc = step_done(in->c, s, "xorb insert");
    if (rc)
        return rc;
    *id = sqlite3_last_insert_rowid(in->c->db);
    for (size_t i = 0; i < x->nchunks; i++) {
        const xet_xorb_chunk *ch = &x->chunks[i];
        if (!(s = store_stmt(in->c, STMT_CHUNK_INSERT)))
            return HG_ERR_IO;
        sqlite3_bind_int64(s, 1, *id);
        sqlite3_bind_int64(s, 2, (sqlite3_int64)i);
        sqlite3_bind_blob(s, 3, ch->hash.b, 32, SQLITE_STATIC);
        sqlite3_bind_int64(s, 4, ch->raw_off);
        sqlite3_bind_int64(s, 5, ch->raw_len);
        sqlite3_bind_int64(s, 6, ch->rec_off);
        sqlite3_bind_int64(s, 7, ch->rec_len);
        if ((rc = step_done(in->c, s, "chunk insert")))
            return rc;
    }
    return HG_OK;
}

static hg_err insert_content(store_ingest *in, ing_file *f, const int64_t *xorb_ids)
{
    sqlite3_stmt *s = store_stmt(in->c, STMT_CONTENT_BY_XET);
    if (!s)
        return HG_ERR_IO;
    sqlite3_bind_blob(s, 1, f->content.xet.b, 32, SQLITE_STATIC);
    int r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        f->content.id = sqlite3_column_int64(s, 0); /* same bytes stored before */
        return HG_OK;
    }
    if (r != SQLITE_DONE)
        return store_sql_err(in->c, r, "content lookup");
    if (!(s = store_stmt(in->c, STMT_CONTENT_INSERT)))
        return HG_ERR_IO;
    sqlite3_bind_int64(s, 1, (sqlite3_int64)f->content.size);
    sqlite3_bind_blob(s, 2, f->content.sha256, 32, SQLITE_STATIC);
    sqlite3_bind_blob(s, 3, f->content.blob.b, 20, SQLITE_STATIC);
    sqlite3_bind_blob(s, 4, f->content.xet.b, 32, SQLITE_STATIC);
    hg_err rc = step_done(in->c, s, "content insert");
    if (rc)
        return rc;
    f->content.id = sqlite3_last_insert_rowid(in->c->db);
    for (size_t i = 0; i < f->nterms; i++) {
        const ing_term *t = &f->terms[i];
        int64_t xid = t->xorb > 0 ? t->xorb : xorb_ids[-1 - t->xorb];
        if (!(s = store_stmt(in->c, STMT_TERM_INSERT)))
            return HG_ERR_IO;
        sqlite3_bind_int64(s, 1, f->content.id);
        sqlite3_bind_int64(s, 2, (sqlite3_int64)i);
        sqlite3_bind_int64(s, 3, xid);
        sqlite3_bind_int64(s, 4, t->start);
        sqlite3_bind_int64(s, 5, t->end);
        sqlite3_bind_int64(s, 6, t->unpacked);
        if ((rc = step_done(in->c, s, "term insert")))
            return rc;
    }
    return HG_OK;
}

hg_err store_ingest_commit(store_ingest *in, store_txn_cb cb, void *arg)
{
    if (in->in_file)
        return HG_ERR_INVAL;
    hg_err rc = flush_xorb(in);
    if (rc)
        return rc;
    int64_t *ids = calloc(in->npx + 1, sizeof *ids);
    if (!ids)
        return HG_ERR_NOMEM;
    if ((rc = store_exec(in->c, "BEGIN IMMEDIATE"))) {
        free(ids);
        return rc;
    }
    for (size_t k = 0; k < in->npx && !rc; k++)
        rc = insert_xorb(in, &in->px[k], &ids[k]);
    for (size_t i = 0; i < in->nfiles && !rc; i++)
        rc = insert_content(in, &in->files[i], ids);
    if (!rc && cb)
        rc = cb(arg, in->c);
    if (!rc)
        rc = store_exec(in->c, "COMMIT");
    if (rc) {
        hg_err rb = store_exec(in->c, "ROLLBACK");
        (void)rb; /* already failing; the rollback's own failure is logged */
    }
    free(ids);
    return rc;
}
