/*
 * store_repo.c - read side of the index: repositories, refs, commits, trees, contents, terms.
 *
 * Trees are stored as git stores them: one row per (tree oid, entry name), shared by every
 * commit and repo with the same subtree.  Paths are resolved one component at a time.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"
#include "util/hg_log.h"

#define GET_CONN(st, c)                                                                            \
    store_conn *c = store_conn_get(st);                                                            \
    if (!c)                                                                                        \
        return HG_ERR_IO;

static hg_err row_or_notfound(store_conn *c, int r, const char *what)
{
    if (r == SQLITE_ROW)
        return HG_OK;
    return r == SQLITE_DONE ? HG_ERR_NOTFOUND : store_sql_err(c, r, what);
}

static void copy_blob(void *dst, sqlite3_stmt *s, int col, size_t n)
{
    const void *p = sqlite3_column_blob(s, col);
    if (p && (size_t)sqlite3_column_bytes(s, col) == n)
        memcpy(dst, p, n);
    else
        memset(dst, 0, n);
}

hg_err store_repo_find(store *st, store_repo_type type, const char *name, store_repo *out)
{
    GET_CONN(st, c);
    if (strlen(name) >= sizeof out->name)
        return HG_ERR_NOTFOUND;
    sqlite3_stmt *s = store_stmt(c, STMT_REPO_FIND);
    if (!s)
        return HG_ERR_IO;
    sqlite3_bind_int(s, 1, (int)type);
    sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
    hg_err rc = row_or_notfound(c, sqlite3_step(s), "repo lookup");
    if (rc)
        return rc;
    out->id = sqlite3_column_int64(s, 0);
    out->type = type;
    snprintf(out->name, sizeof out->name, "%s", name);
    out->private_ = sqlite3_column_int(s, 1);
    out->created_at = sqlite3_column_int64(s, 2);
    sqlite3_reset(s);
    return HG_OK;
}

void store_commit_clear(store_commit *cm)
{
    free(cm->message);
    cm->message = NULL;
}

hg_err store_commit_get(store *st, int64_t repo_id, const git_oid *oid, store_commit *out)
{
    GET_CONN(st, c);
    sqlite3_stmt *s = store_stmt(c, STMT_COMMIT_GET);
    if (!s)
        return HG_ERR_IO;
    sqlite3_bind_int64(s, 1, repo_id);
    sqlite3_bind_blob(s, 2, oid->b, 20, SQLITE_STATIC);
    hg_err rc = row_or_notfound(c, sqlite3_step(s), "commit lookup");
    if (rc)
        return rc;
    memset(out, 0, sizeof *out);
    out->oid = *oid;
    copy_blob(out->tree.b, s, 0, 20);
    out->has_parent = sqlite3_column_type(s, 1) == SQLITE_BLOB;
    if (out->has_parent)
        copy_blob(out->parent.b, s, 1, 20);
    out->time = sqlite3_column_int64(s, 2);
    snprintf(out->author, sizeof out->author, "%s", (const char *)sqlite3_column_text(s, 3));
    out->message = strdup((const char *)sqlite3_column_text(s, 4));
    sqlite3_reset(s);
    return out->message ? HG_OK : HG_ERR_NOMEM;
}

static hg_err ref_get(store_conn *c, int64_t repo_id, const char *name, git_oid *out)
{
    sqlite3_stmt *s = store_stmt(c, STMT_REF_GET);
    if (!s)
        return HG_ERR_IO;
    sqlite3_bind_int64(s, 1, repo_id);
    sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
    hg_err rc = row_or_notfound(c, sqlite3_step(s), "ref lookup");
    if (!rc)
        copy_blob(out->b, s, 0, 20);
    sqlite3_reset(s);
    return rc;
}

static int is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]))
            return 0;
    return n > 0;
}

hg_err store_resolve_rev(store *st, int64_t repo_id, const char *rev, git_oid *out)
{
    GET_CONN(st, c);
    if (!strcmp(rev, "HEAD"))
        rev = "main";
    hg_err rc = ref_get(c, repo_id, rev, out);
    if (rc != HG_ERR_NOTFOUND)
        return rc;
    size_t n = strlen(rev);
    if (n < 7 || n > 40 || !is_hex(rev, n))
        return HG_ERR_NOTFOUND;
    /* A full id or a prefix: the commits whose id lies in [prefix, prefix+1). */
    uint8_t lo[20] = {0}, hi[20];
    for (size_t i = 0; i < n; i++) {
        int v = isdigit((unsigned char)rev[i]) ? rev[i] - '0' : tolower((unsigned char)rev[i]) - 'a' + 10;
        lo[i / 2] |= (uint8_t)(i % 2 ? v : v << 4);
    }
    memcpy(hi, lo, 20);
    /* hi = lo + one unit in the last given digit (carrying); all-f prefixes have no upper bound */
    int carry = 1;
    for (size_t i = n; i-- > 0 && carry;) {
        uint8_t *b = &hi[i / 2];
        int shift = i % 2 ? 0 : 4;
        int v = ((*b >> shift) & 0xF) + 1;
        carry = v > 0xF;
        *b = (uint8_t)((*b & ~(0xF << shift)) | ((v & 0xF) << shift));
    }
    sqlite3_stmt *s = store_stmt(c, STMT_COMMIT_PREFIX);
    if (!s)
        return HG_ERR_IO;
    sqlite3_bind_int64(s, 1, repo_id);
    sqlite3_bind_blob(s, 2, lo, 20, SQLITE_STATIC);
    if (carry)
        sqlite3_bind_blob(s, 3, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 21, SQLITE_STATIC);
    else
        sqlite3_bind_blob(s, 3, hi, 20, SQLITE_STATIC);
    if ((rc = row_or_notfound(c, sqlite3_step(s), "commit prefix")))
        return rc;
    copy_blob(out->b, s, 0, 20);
    int more = sqlite3_step(s) == SQLITE_ROW;
    sqlite3_reset(s);
    return more ? HG_ERR_NOTFOUND /* ambiguous prefix */ : HG_OK;
}

hg_err store_refs_list(store *st, int64_t repo_id, store_ref_cb cb, void *arg)
{
    GET_CONN(st, c);
    sqlite3_stmt *s = store_stmt(c, STMT_REF_LIST);
    if (!s)
        return HG_ERR_IO;
    sqlite3_bind_int64(s, 1, repo_id);
    int r;
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        git_oid oid;
        copy_blob(oid.b, s, 2, 20);
        if (cb(arg, (const char *)sqlite3_column_text(s, 0), (store_ref_kind)sqlite3_column_int(s, 1), &oid))
            break;
    }
    return r == SQLITE_ROW || r == SQLITE_DONE ? HG_OK : store_sql_err(c, r, "refs");
}

typedef struct prefix_ctx {
    const char *path;
    size_t best;
} prefix_ctx;

static int prefix_cb(void *arg, const char *name, store_ref_kind kind, const git_oid *commit)
{
    (void)kind;
    (void)commit;
    prefix_ctx *p = arg;
    size_t n = strlen(name);
    if (n > p->best && !strncmp(p->path, name, n) && (p->path[n] == '/' || p->path[n] == '\0'))
        p->best = n;
    return 0;
}

hg_err store_ref_longest_prefix(store *st, int64_t repo_id, const char *path, size_t *len)
{
    prefix_ctx p = {path, 0};
    hg_err rc = store_refs_list(st, repo_id, prefix_cb, &p);
    *len = p.best;
    return rc;
}

/* Fills an entry from a TREE_ENTRY/TREE_ENTRIES row (mode, oid, content_id, lfs at col..). */
static hg_err fill_entry(store_conn *c, sqlite3_stmt *s, int col, store_entry *e)
{
    e->mode = (uint32_t)sqlite3_column_int(s, col);
    e->is_dir = e->mode == GIT_MODE_TREE;
    copy_blob(e->oid.b, s, col + 1, 20);
    e->is_lfs = sqlite3_column_int(s, col + 3);
    memset(&e->content, 0, sizeof e->content);
    e->pointer_size = 0;
    if (e->is_dir)
        return HG_OK;
    e->content.id = sqlite3_column_int64(s, col + 2);
    sqlite3_stmt *q = store_stmt(c, STMT_CONTENT_GET);
    if (!q)
        return HG_ERR_IO;
    sqlite3_bind_int64(q, 1, e->content.id);
    hg_err rc = row_or_notfound(c, sqlite3_step(q), "content");
    if (rc)
        return rc == HG_ERR_NOTFOUND ? HG_ERR_CORRUPT : rc;
    e->content.size = (uint64_t)sqlite3_column_int64(q, 0);
    copy_blob(e->content.sha256, q, 1, 32);
    copy_blob(e->content.blob.b, q, 2, 20);
    copy_blob(e->content.xet.b, q, 3, 32);
    sqlite3_reset(q);
    if (e->is_lfs) {
        char ptr[GIT_LFS_POINTER_MAX + 1];
        size_t plen;
        if ((rc = git_lfs_pointer(e->content.sha256, e->content.size, ptr, sizeof ptr, &plen)))
            return rc;
        e->pointer_size = (uint32_t)plen;
    }
    return HG_OK;
}

/* Looks up one name in a tree. */
static hg_err tree_child(store_conn *c, const git_oid *tree, const char *name, size_t n,
                         store_entry *e)
{
    sqlite3_stmt *s = store_stmt(c, STMT_TREE_ENTRY);
    if (!s)
        return HG_ERR_IO;
    sqlite3_bind_blob(s, 1, tree->b, 20, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, name, (int)n, SQLITE_STATIC);
    hg_err rc = row_or_notfound(c, sqlite3_step(s), "tree entry");
    if (!rc)
        rc = fill_entry(c, s, 0, e);
    sqlite3_reset(s);
    return rc;
}

hg_err store_path_lookup(store *st, const git_oid *root_tree, const char *path, store_entry *out,
                         char *pathbuf, size_t pathcap)
{
    GET_CONN(st, c);
    store_entry e = {.is_dir = 1, .mode = GIT_MODE_TREE, .oid = *root_tree};
    const char *p = path;
    while (*p) {
        if (!e.is_dir)
            return HG_ERR_NOTFOUND;
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 0)
            return HG_ERR_NOTFOUND;
        git_oid parent = e.oid;
        hg_err rc = tree_child(c, &parent, p, n, &e);
        if (rc)
            return rc;
        p += n;
        if (*p == '/')
            p++;
    }
    snprintf(pathbuf, pathcap, "%s", path);
    e.path = pathbuf;
    *out = e;
    return HG_OK;
}

/* Depth-first listing state. */
typedef struct list_ctx {
    store_conn *c;
    uint64_t skip, limit, seen, emitted;
    int recursive;
    int more, stopped;
    store_entry_cb cb;
    void *arg;
    char path[4096];
} list_ctx;

/* Children of one tree, loaded into memory (the statement is reused by the recursion). */
typedef struct child {
    char *name;
    store_entry e;
} child;

static hg_err load_children(store_conn *c, const git_oid *tree, child **out, size_t *n)
{
    sqlite3_stmt *s = store_stmt(c, STMT_TREE_ENTRIES);
    if (!s)
        return HG_ERR_IO;
    sqlite3_bind_blob(s, 1, tree->b, 20, SQLITE_TRANSIENT);
    child *v = NULL;
    size_t cnt = 0, cap = 0;
    int r;
    hg_err rc = HG_OK;
    /* Collect rows first: fill_entry runs other statements. */
    typedef struct raw {
        char *name;
        uint32_t mode;
        git_oid oid;
        int64_t content;
        int lfs;
    } raw;
    raw *rows = NULL;
    size_t nrows = 0, rcap = 0;
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        if (nrows == rcap) {
            rcap = rcap ? 2 * rcap : 16;
            raw *p = realloc(rows, rcap * sizeof *p);
            if (!p) {
                rc = HG_ERR_NOMEM;
                break;
            }
            rows = p;
        }
        raw *w = &rows[nrows];
        w->name = strdup((const char *)sqlite3_column_text(s, 0));
        if (!w->name) {
            rc = HG_ERR_NOMEM;
            break;
        }
        w->mode = (uint32_t)sqlite3_column_int(s, 1);
        copy_blob(w->oid.b, s, 2, 20);
        w->content = sqlite3_column_int64(s, 3);
        w->lfs = sqlite3_column_int(s, 4);
        nrows++;
    }
    if (!rc && r != SQLITE_DONE)
        rc = store_sql_err(c, r, "tree listing");
    for (size_t i = 0; i < nrows && !rc; i++) {
        if (cnt == cap) {
            cap = cap ? 2 * cap : 16;
            child *p = realloc(v, cap * sizeof *p);
            if (!p) {
                rc = HG_ERR_NOMEM;
                break;
            }
            v = p;
        }
        child *ch = &v[cnt];
        memset(ch, 0, sizeof *ch);
        ch->name = rows[i].name;
        rows[i].name = NULL;
        ch->e.mode = rows[i].mode;
        ch->e.is_dir = rows[i].mode == GIT_MODE_TREE;
        ch->e.oid = rows[i].oid;
        ch->e.is_lfs = rows[i].lfs;
        cnt++;
        if (!ch->e.is_dir) {
            sqlite3_stmt *q = store_stmt(c, STMT_CONTENT_GET);
            if (!q) {
                rc = HG_ERR_IO;
                break;
            }
            ch->e.content.id = rows[i].content;
            sqlite3_bind_int64(q, 1, rows[i].content);
            if ((rc = row_or_notfound(c, sqlite3_step(q), "content")))
                break;
            ch->e.content.size = (uint64_t)sqlite3_column_int64(q, 0);
            copy_blob(ch->e.content.sha256, q, 1, 32);
            copy_blob(ch->e.content.blob.b, q, 2, 20);
            copy_blob(ch->e.content.xet.b, q, 3, 32);
            sqlite3_reset(q);
            if (ch->e.is_lfs) {
                char ptr[GIT_LFS_POINTER_MAX + 1];
                size_t plen;
                if ((rc = git_lfs_pointer(ch->e.content.sha256, ch->e.content.size, ptr, sizeof ptr, &plen)))
                    break;
                ch->e.pointer_size = (uint32_t)plen;
            }
        }
    }
    for (size_t i = 0; i < nrows; i++)
        free(rows[i].name);
    free(rows);
    if (rc) {
        for (size_t i = 0; i < cnt; i++)
            free(v[i].name);
        free(v);
        return rc == HG_ERR_NOTFOUND ? HG_ERR_CORRUPT : rc;
    }
    *out = v;
    *n = cnt;
    return HG_OK;
}

static hg_err list_dir(list_ctx *L, const git_oid *tree, size_t plen)
{
    child *kids;
    size_t n;
    hg_err rc = load_children(L->c, tree, &kids, &n);
    if (rc)
        return rc;
    for (size_t i = 0; i < n && !rc && !L->stopped; i++) {
        size_t nl = strlen(kids[i].name);
        if (plen + nl + 2 >= sizeof L->path) {
            rc = HG_ERR_TOOBIG;
            break;
        }
        size_t at = plen;
        if (plen)
            L->path[at++] = '/';
        memcpy(L->path + at, kids[i].name, nl + 1);
        if (L->seen++ >= L->skip) {
            if (L->limit && L->emitted == L->limit) {
                L->more = 1;
                L->stopped = 1;
                break;
            }
            kids[i].e.path = L->path;
            L->emitted++;
            if (L->cb(L->arg, &kids[i].e)) {
                L->stopped = 1;
                break;
            }
        }
        if (L->recursive && kids[i].e.is_dir)
            rc = list_dir(L, &kids[i].e.oid, at + nl);
        L->path[plen] = '\0';
    }
    for (size_t i = 0; i < n; i++)
        free(kids[i].name);
    free(kids);
    return rc;
}

hg_err store_tree_list(store *st, const git_oid *root_tree, const char *path, int recursive,
                       uint64_t skip, uint64_t limit, store_entry_cb cb, void *arg, int *more)
{
    GET_CONN(st, c);
    list_ctx *L = calloc(1, sizeof *L);
    if (!L)
        return HG_ERR_NOMEM;
    *L = (list_ctx){.c = c, .skip = skip, .limit = limit, .recursive = recursive, .cb = cb, .arg = arg};
    store_entry dir;
    hg_err rc = HG_OK;
    git_oid tree = *root_tree;
    if (*path) {
        rc = store_path_lookup(st, root_tree, path, &dir, L->path, sizeof L->path);
        if (!rc && !dir.is_dir)
            rc = HG_ERR_NOTFOUND;
        if (!rc)
            tree = dir.oid;
    }
    if (!rc)
        rc = list_dir(L, &tree, strlen(L->path));
    if (more)
        *more = L->more;
    free(L);
    return rc;
}

/* The oid at path in the tree of commit (HG_ERR_NOTFOUND if absent). */
static hg_err oid_at(store *st, int64_t repo_id, const git_oid *commit, const char *path,
                     git_oid *oid, store_commit *cm)
{
    hg_err rc = store_commit_get(st, repo_id, commit, cm);
    if (rc)
        return rc;
    store_entry e;
    if (!*path) {
        *oid = cm->tree;
        return HG_OK;
    }
    char *pb = malloc(strlen(path) + 1);
    if (!pb)
        return HG_ERR_NOMEM;
    rc = store_path_lookup(st, &cm->tree, path, &e, pb, strlen(path) + 1);
    free(pb);
    if (!rc)
        *oid = e.oid;
    return rc;
}

hg_err store_last_commit(store *st, int64_t repo_id, const git_oid *commit, const char *path,
                         store_commit *out)
{
    git_oid want;
    store_commit cur;
    hg_err rc = oid_at(st, repo_id, commit, path, &want, &cur);
    if (rc) {
        store_commit_clear(&cur);
        return rc;
    }
    /* Walk back while the parent has the same object at path. */
    for (int depth = 0; depth < 100000 && cur.has_parent; depth++) {
        git_oid pid = cur.parent, got;
        store_commit par;
        rc = oid_at(st, repo_id, &pid, path, &got, &par);
        if (rc == HG_ERR_NOTFOUND || (rc == HG_OK && !git_oid_eq(&got, &want))) {
            store_commit_clear(&par);
            break;
        }
        if (rc) {
            store_commit_clear(&par);
            store_commit_clear(&cur);
            return rc;
        }
        store_commit_clear(&cur);
        cur = par;
    }
    *out = cur;
    return HG_OK;
}

hg_err store_content_by_xet(store *st, const xet_hash *h, store_content *out)
{
    GET_CONN(st, c);
    sqlite3_stmt *s = store_stmt(c, STMT_CONTENT_BY_XET);
    if (!s)
        return HG_ERR_IO;
    sqlite3_bind_blob(s, 1, h->b, 32, SQLITE_STATIC);
    hg_err rc = row_or_notfound(c, sqlite3_step(s), "content by xet hash");
    if (rc)
        return rc;
    out->id = sqlite3_column_int64(s, 0);
    out->size = (uint64_t)sqlite3_column_int64(s, 1);
    copy_blob(out->sha256, s, 2, 32);
    copy_blob(out->blob.b, s, 3, 20);
    out->xet = *h;
    sqlite3_reset(s);
    return HG_OK;
}

hg_err store_content_terms(store *st, int64_t content_id, store_term **terms, size_t *n)
{
    GET_CONN(st, c);
    sqlite3_stmt *s = store_stmt(c, STMT_TERMS_GET);
    if (!s)
        return HG_ERR_IO;
    sqlite3_bind_int64(s, 1, content_id);
    store_term *v = NULL;
    size_t cnt = 0, cap = 0;
    int r;
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        if (cnt == cap) {
            cap = cap ? 2 * cap : 16;
            store_term *p = realloc(v, cap * sizeof *p);
            if (!p) {
                free(v);
                return HG_ERR_NOMEM;
            }
            v = p;
        }
        store_term *t = &v[cnt++];
        copy_blob(t->xorb.b, s, 0, 32);
        t->xorb_id = sqlite3_column_int64(s, 1);
        t->chunk_start = (uint32_t)sqlite3_column_int64(s, 2);
        t->chunk_end = (uint32_t)sqlite3_column_int64(s, 3);
        t->unpacked = (uint32_t)sqlite3_column_int64(s, 4);
        if (sqlite3_column_type(s, 5) == SQLITE_NULL || sqlite3_column_type(s, 6) == SQLITE_NULL) {
            free(v);
            HG_ERROR("index: content %lld refers to chunks missing from its xorb", (long long)content_id);
            return HG_ERR_CORRUPT;
        }
        t->rec_start = (uint64_t)sqlite3_column_int64(s, 5);
        t->rec_end = (uint64_t)sqlite3_column_int64(s, 6);
    }
    if (r != SQLITE_DONE) {
        free(v);
        return store_sql_err(c, r, "terms");
    }
    *terms = v;
    *n = cnt;
    return HG_OK;
}

hg_err store_xorb_locate(store *st, const xet_hash *h, char *path, size_t cap, uint64_t *size)
{
    GET_CONN(st, c);
    sqlite3_stmt *s = store_stmt(c, STMT_XORB_FIND);
    if (!s)
        return HG_ERR_IO;
    sqlite3_bind_blob(s, 1, h->b, 32, SQLITE_STATIC);
    hg_err rc = row_or_notfound(c, sqlite3_step(s), "xorb lookup");
    if (rc)
        return rc;
    if (size)
        *size = (uint64_t)sqlite3_column_int64(s, 1);
    sqlite3_reset(s);
    store_xorb_path(st, h, path, cap);
    return HG_OK;
}

hg_err store_xorb_open(store *st, const xet_hash *h, int *fd, uint64_t *size)
{
    char path[4096];
    uint64_t sz;
    hg_err rc = store_xorb_locate(st, h, path, sizeof path, &sz);
    if (rc)
        return rc;
    int f = open(path, O_RDONLY | O_CLOEXEC);
    if (f < 0) {
        HG_ERROR("open %s: %s", path, strerror(errno));
        return errno == ENOENT ? HG_ERR_CORRUPT : HG_ERR_IO;
    }
    *fd = f;
    *size = sz;
    return HG_OK;
}

hg_err store_xorb_chunk_info(store *st, int64_t xorb_id, uint32_t start, uint32_t end,
                             store_chunk_info *out)
{
    GET_CONN(st, c);
    sqlite3_stmt *s = store_stmt(c, STMT_XORB_CHUNKS);
    if (!s)
        return HG_ERR_IO;
    sqlite3_bind_int64(s, 1, xorb_id);
    sqlite3_bind_int64(s, 2, start);
    sqlite3_bind_int64(s, 3, end);
    uint32_t i = start;
    int r;
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        if ((uint32_t)sqlite3_column_int64(s, 0) != i || i >= end)
            return HG_ERR_CORRUPT;
        store_chunk_info *ci = &out[i - start];
        ci->raw_len = (uint32_t)sqlite3_column_int64(s, 2);
        ci->rec_off = (uint64_t)sqlite3_column_int64(s, 3);
        ci->rec_len = (uint32_t)sqlite3_column_int64(s, 4);
        i++;
    }
    if (r != SQLITE_DONE)
        return store_sql_err(c, r, "xorb chunks");
    return i == end ? HG_OK : HG_ERR_CORRUPT;
}

hg_err store_commit_has_content(store *st, const git_oid *root_tree, int64_t content_id)
{
    GET_CONN(st, c);
    sqlite3_stmt *s;
    /* Every tree reachable from the root, then any entry of them naming the content. */
    static const char sql[] =
        "WITH RECURSIVE t(oid) AS (SELECT ?1 UNION SELECT e.oid FROM tree_entries e JOIN t ON "
        "e.tree_oid=t.oid WHERE e.mode=16384) SELECT 1 FROM tree_entries e JOIN t ON e.tree_oid=t.oid "
        "WHERE e.content_id=?2 LIMIT 1";
    if (sqlite3_prepare_v2(c->db, sql, -1, &s, NULL) != SQLITE_OK)
        return store_sql_err(c, sqlite3_errcode(c->db), "content scope");
    sqlite3_bind_blob(s, 1, root_tree->b, 20, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, content_id);
    int r = sqlite3_step(s);
    sqlite3_finalize(s);
    return r == SQLITE_ROW ? HG_OK : r == SQLITE_DONE ? HG_ERR_NOTFOUND : HG_ERR_IO;
}

hg_err store_content_paths(store *st, const git_oid *root_tree, int64_t content_id, store_path_cb cb, void *arg)
{
    GET_CONN(st, c);
    sqlite3_stmt *s;
    /* The trees reachable from the root with their paths, then the entries naming the content. */
    static const char sql[] =
        "WITH RECURSIVE t(oid, dir) AS (SELECT ?1, '' UNION SELECT e.oid, t.dir || e.name || '/' FROM "
        "tree_entries e JOIN t ON e.tree_oid=t.oid WHERE e.mode=16384) SELECT t.dir || e.name FROM "
        "tree_entries e JOIN t ON e.tree_oid=t.oid WHERE e.content_id=?2 LIMIT 1000";
    if (sqlite3_prepare_v2(c->db, sql, -1, &s, NULL) != SQLITE_OK)
        return store_sql_err(c, sqlite3_errcode(c->db), "content paths");
    sqlite3_bind_blob(s, 1, root_tree->b, 20, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, content_id);
    int r;
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        const char *p = (const char *)sqlite3_column_text(s, 0);
        if (p && cb(arg, p)) {
            r = SQLITE_DONE;
            break;
        }
    }
    sqlite3_finalize(s);
    return r == SQLITE_DONE ? HG_OK : HG_ERR_IO;
}
