/*
 * store_import.c - importing a local folder as a commit (private and air-gapped repos).
 *
 * The folder's regular files become the complete snapshot of the new commit: contents are
 * ingested (deduplicated against everything stored), LFS files are decided by the Hub's rules,
 * trees and the commit are hashed as git does, and one transaction adds the rows and moves the
 * branch.  A folder without .gitattributes gets the Hub's default one, as a new Hub repo does.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/store_int.h"
#include "util/hg_fs.h"
#include "util/hg_log.h"

#define READ_BLOCK (1u << 20)

typedef struct imp_file {
    char *path;     /* relative */
    uint64_t size;
    uint32_t mode;
    int is_lfs;
    size_t ingest_idx;
    git_oid oid;    /* tree entry oid */
} imp_file;

typedef struct imp_dir {
    char *path;
    git_oid oid;
} imp_dir;

typedef struct importer {
    store *st;
    const store_import_options *opt;
    const char *src;
    imp_file *files;
    size_t nfiles, cap;
    imp_dir *dirs;
    size_t ndirs, dcap;
    store_ingest *in;
    git_oid root, parent, commit;
    int has_parent;
    int64_t time;
    const char *author, *message;
    char *default_message;
} importer;

static hg_err add_file(importer *im, const char *rel, uint64_t size, uint32_t mode)
{
    if (im->nfiles == im->cap) {
        size_t cap = im->cap ? 2 * im->cap : 64;
        imp_file *p = realloc(im->files, cap * sizeof *p);
        if (!p)
            return HG_ERR_NOMEM;
        im->files = p;
        im->cap = cap;
    }
    char *path = strdup(rel);
    if (!path)
        return HG_ERR_NOMEM;
    im->files[im->nfiles++] = (imp_file){.path = path, .size = size, .mode = mode};
    return HG_OK;
}

/* Collects regular files below src/rel (symlinks to regular files are followed; .git skipped). */
static hg_err walk(importer *im, const char *rel)
{
    char dir[8192];
    snprintf(dir, sizeof dir, "%s%s%s", im->src, *rel ? "/" : "", rel);
    DIR *d = opendir(dir);
    if (!d) {
        HG_ERROR("%s: %s", dir, strerror(errno));
        return HG_ERR_IO;
    }
    hg_err rc = HG_OK;
    struct dirent *e;
    while (!rc && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strcmp(e->d_name, ".git"))
            continue;
        char child[4096], full[8192];
        if (snprintf(child, sizeof child, "%s%s%s", rel, *rel ? "/" : "", e->d_name) >= (int)sizeof child ||
            snprintf(full, sizeof full, "%s/%s", im->src, child) >= (int)sizeof full) {
            rc = HG_ERR_TOOBIG;
            break;
        }
        struct stat st;
        if (stat(full, &st) != 0) {
            HG_WARN("import: skipping %s: %s", full, strerror(errno));
            continue;
        }
        if (S_ISDIR(st.st_mode))
            rc = walk(im, child);
        else if (S_ISREG(st.st_mode)) {
            if (!git_path_valid(child)) {
                HG_ERROR("import: %s is not a valid path in a repository", child);
                rc = HG_ERR_INVAL;
            } else {
                rc = add_file(im, child, (uint64_t)st.st_size,
                              (st.st_mode & S_IXUSR) ? GIT_MODE_EXEC : GIT_MODE_FILE);
            }
        } else {
            HG_WARN("import: skipping %s: not a regular file", full);
        }
    }
    closedir(d);
    return rc;
}

static int cmp_file(const void *a, const void *b)
{
    return strcmp(((const imp_file *)a)->path, ((const imp_file *)b)->path);
}

static hg_err ingest_fd(store_ingest *in, int fd, uint64_t size, uint8_t *buf, const char *what)
{
    hg_err rc = store_ingest_file_begin(in, size);
    uint64_t off = 0;
    while (!rc && off < size) {
        size_t want = size - off < READ_BLOCK ? (size_t)(size - off) : READ_BLOCK;
        ssize_t got = pread(fd, buf, want, (off_t)off);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            HG_ERROR("import: %s: %s", what, got < 0 ? strerror(errno) : "file shrank while reading");
            return HG_ERR_IO;
        }
        rc = store_ingest_file_write(in, buf, (size_t)got);
        off += (uint64_t)got;
    }
    if (rc)
        return rc;
    return store_ingest_file_end(in, NULL, NULL);
}

static hg_err ingest_all(importer *im)
{
    uint8_t *buf = malloc(READ_BLOCK);
    if (!buf)
        return HG_ERR_NOMEM;
    hg_err rc = HG_OK;
    for (size_t i = 0; i < im->nfiles && !rc; i++) {
        imp_file *f = &im->files[i];
        im->files[i].ingest_idx = i;
        if (!strcmp(f->path, ".gitattributes") && f->size == UINT64_MAX) {
            /* the default we added: bytes from memory */
            const char *ga = git_default_gitattributes((int)im->opt->type);
            f->size = strlen(ga);
            rc = store_ingest_file_begin(im->in, f->size);
            if (!rc)
                rc = store_ingest_file_write(im->in, ga, f->size);
            if (!rc)
                rc = store_ingest_file_end(im->in, NULL, NULL);
            continue;
        }
        char full[8192];
        snprintf(full, sizeof full, "%s/%s", im->src, f->path);
        int fd = open(full, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            HG_ERROR("import: %s: %s", full, strerror(errno));
            rc = HG_ERR_IO;
            break;
        }
        struct stat st;
        if (fstat(fd, &st) == 0 && (uint64_t)st.st_size != f->size) {
            HG_ERROR("import: %s changed size while importing", full);
            rc = HG_ERR_IO;
        }
        if (!rc)
            rc = ingest_fd(im->in, fd, f->size, buf, full);
        close(fd);
    }
    free(buf);
    return rc;
}

static hg_err dir_cb(void *arg, const char *dir_path, const git_oid *oid)
{
    importer *im = arg;
    if (im->ndirs == im->dcap) {
        size_t cap = im->dcap ? 2 * im->dcap : 16;
        imp_dir *p = realloc(im->dirs, cap * sizeof *p);
        if (!p)
            return HG_ERR_NOMEM;
        im->dirs = p;
        im->dcap = cap;
    }
    char *path = strdup(dir_path);
    if (!path)
        return HG_ERR_NOMEM;
    im->dirs[im->ndirs++] = (imp_dir){path, *oid};
    return HG_OK;
}

static hg_err build_trees(importer *im)
{
    git_tree_file *tf = calloc(im->nfiles + 1, sizeof *tf);
    if (!tf)
        return HG_ERR_NOMEM;
    hg_err rc = HG_OK;
    for (size_t i = 0; i < im->nfiles && !rc; i++) {
        imp_file *f = &im->files[i];
        store_content ct;
        rc = store_ingest_file_content(im->in, f->ingest_idx, &ct);
        if (rc)
            break;
        f->is_lfs = git_path_is_lfs(f->path, ct.size, (int)im->opt->type);
        if (f->is_lfs)
            rc = git_lfs_pointer_blob_id(ct.sha256, ct.size, &f->oid);
        else
            f->oid = ct.blob;
        tf[i] = (git_tree_file){f->path, f->mode, f->oid};
    }
    if (!rc)
        rc = git_build_trees(tf, im->nfiles, dir_cb, im, &im->root);
    free(tf);
    return rc;
}

static const git_oid *dir_oid(const importer *im, const char *path, size_t len)
{
    for (size_t i = 0; i < im->ndirs; i++)
        if (strlen(im->dirs[i].path) == len && !strncmp(im->dirs[i].path, path, len))
            return &im->dirs[i].oid;
    return NULL;
}

static hg_err insert_entry(store_conn *c, const git_oid *tree, const char *name, uint32_t mode,
                           const git_oid *oid, int64_t content_id, int lfs)
{
    char key[4096];
    store_sort_key(name, mode == GIT_MODE_TREE, key, sizeof key);
    sqlite3_stmt *s = store_stmt(c, STMT_TREE_INSERT);
    if (!s)
        return HG_ERR_IO;
    sqlite3_bind_blob(s, 1, tree->b, 20, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, key, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 4, (int)mode);
    sqlite3_bind_blob(s, 5, oid->b, 20, SQLITE_STATIC);
    if (mode == GIT_MODE_TREE)
        sqlite3_bind_null(s, 6);
    else
        sqlite3_bind_int64(s, 6, content_id);
    sqlite3_bind_int(s, 7, lfs);
    int r = sqlite3_step(s);
    return r == SQLITE_DONE ? HG_OK : store_sql_err(c, r, "tree entry insert");
}

/* Parent directory tree oid and base name of path. */
static hg_err split_parent(const importer *im, const char *path, const git_oid **parent,
                           const char **base)
{
    const char *slash = strrchr(path, '/');
    *base = slash ? slash + 1 : path;
    *parent = dir_oid(im, path, slash ? (size_t)(slash - path) : 0);
    return *parent ? HG_OK : HG_ERR_CORRUPT;
}

static hg_err set_ref(store_conn *c, int64_t repo_id, const char *name, store_ref_kind kind,
                      const git_oid *oid)
{
    sqlite3_stmt *s = store_stmt(c, STMT_REF_SET);
    if (!s)
        return HG_ERR_IO;
    sqlite3_bind_int64(s, 1, repo_id);
    sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 3, (int)kind);
    sqlite3_bind_blob(s, 4, oid->b, 20, SQLITE_STATIC);
    int r = sqlite3_step(s);
    return r == SQLITE_DONE ? HG_OK : store_sql_err(c, r, "ref update");
}

static hg_err repo_get_or_create(store_conn *c, const store_import_options *opt, int64_t now,
                                 int64_t *id)
{
    sqlite3_stmt *s = store_stmt(c, STMT_REPO_FIND);
    if (!s)
        return HG_ERR_IO;
    sqlite3_bind_int(s, 1, (int)opt->type);
    sqlite3_bind_text(s, 2, opt->repo, -1, SQLITE_STATIC);
    int r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        *id = sqlite3_column_int64(s, 0);
        if (opt->private_ && !sqlite3_column_int(s, 1)) {
            if (!(s = store_stmt(c, STMT_REPO_SET_PRIVATE)))
                return HG_ERR_IO;
            sqlite3_bind_int64(s, 1, *id);
            sqlite3_bind_int(s, 2, 1);
            r = sqlite3_step(s);
            return r == SQLITE_DONE ? HG_OK : store_sql_err(c, r, "repo update");
        }
        return HG_OK;
    }
    if (r != SQLITE_DONE)
        return store_sql_err(c, r, "repo lookup");
    if (!(s = store_stmt(c, STMT_REPO_INSERT)))
        return HG_ERR_IO;
    sqlite3_bind_int(s, 1, (int)opt->type);
    sqlite3_bind_text(s, 2, opt->repo, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 3, opt->private_);
    sqlite3_bind_int64(s, 4, now);
    r = sqlite3_step(s);
    if (r != SQLITE_DONE)
        return store_sql_err(c, r, "repo insert");
    *id = sqlite3_last_insert_rowid(c->db);
    return HG_OK;
}

/* Inside the ingest transaction: repo, tree entries, commit, refs. */
static hg_err write_rows(void *arg, store_conn *c)
{
    importer *im = arg;
    int64_t repo_id = 0;
    hg_err rc = repo_get_or_create(c, im->opt, im->time, &repo_id);
    const char *branch = im->opt->branch ? im->opt->branch : "main";
    /* The branch may have moved since we read it: refuse rather than lose a commit. */
    git_oid head;
    sqlite3_stmt *s = rc ? NULL : store_stmt(c, STMT_REF_GET);
    if (!rc && !s)
        rc = HG_ERR_IO;
    if (!rc) {
        sqlite3_bind_int64(s, 1, repo_id);
        sqlite3_bind_text(s, 2, branch, -1, SQLITE_STATIC);
        int r = sqlite3_step(s);
        int has = r == SQLITE_ROW;
        if (has)
            memcpy(head.b, sqlite3_column_blob(s, 0), 20);
        if (has != im->has_parent || (has && !git_oid_eq(&head, &im->parent))) {
            HG_ERROR("import: branch %s moved during the import; retry", branch);
            rc = HG_ERR_AGAIN;
        }
    }
    for (size_t i = 0; i < im->nfiles && !rc; i++) {
        const imp_file *f = &im->files[i];
        const git_oid *parent;
        const char *base;
        store_content ct;
        rc = split_parent(im, f->path, &parent, &base);
        if (!rc)
            rc = store_ingest_file_content(im->in, f->ingest_idx, &ct);
        if (!rc)
            rc = insert_entry(c, parent, base, f->mode, &f->oid, ct.id, f->is_lfs);
    }
    for (size_t i = 0; i < im->ndirs && !rc; i++) {
        if (!*im->dirs[i].path)
            continue; /* the root has no parent */
        const git_oid *parent;
        const char *base;
        rc = split_parent(im, im->dirs[i].path, &parent, &base);
        if (!rc)
            rc = insert_entry(c, parent, base, GIT_MODE_TREE, &im->dirs[i].oid, 0, 0);
    }
    if (!rc && !(s = store_stmt(c, STMT_COMMIT_INSERT)))
        rc = HG_ERR_IO;
    if (!rc) {
        sqlite3_bind_int64(s, 1, repo_id);
        sqlite3_bind_blob(s, 2, im->commit.b, 20, SQLITE_STATIC);
        sqlite3_bind_blob(s, 3, im->root.b, 20, SQLITE_STATIC);
        if (im->has_parent)
            sqlite3_bind_blob(s, 4, im->parent.b, 20, SQLITE_STATIC);
        else
            sqlite3_bind_null(s, 4);
        sqlite3_bind_int64(s, 5, im->time);
        sqlite3_bind_text(s, 6, im->author, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 7, im->message, -1, SQLITE_STATIC);
        int r = sqlite3_step(s);
        rc = r == SQLITE_DONE ? HG_OK : store_sql_err(c, r, "commit insert");
    }
    if (!rc)
        rc = set_ref(c, repo_id, branch, strncmp(branch, "refs/pr/", 8) ? STORE_REF_BRANCH : STORE_REF_PR,
                     &im->commit);
    if (!rc && im->opt->tag)
        rc = set_ref(c, repo_id, im->opt->tag, STORE_REF_TAG, &im->commit);
    return rc;
}

/* Inside a transaction: only the tag (an import that changed nothing). */
static void importer_free(importer *im)
{
    for (size_t i = 0; i < im->nfiles; i++)
        free(im->files[i].path);
    free(im->files);
    for (size_t i = 0; i < im->ndirs; i++)
        free(im->dirs[i].path);
    free(im->dirs);
    free(im->default_message);
    store_ingest_abort(&im->in);
}

/* The current head of the branch, if the repo and branch exist. */
static hg_err read_parent(importer *im, store_commit *head)
{
    store_repo repo;
    hg_err rc = store_repo_find(im->st, im->opt->type, im->opt->repo, &repo);
    if (rc == HG_ERR_NOTFOUND)
        return HG_OK;
    if (rc)
        return rc;
    rc = store_resolve_rev(im->st, repo.id, im->opt->branch ? im->opt->branch : "main", &im->parent);
    if (rc == HG_ERR_NOTFOUND)
        return HG_OK;
    if (rc)
        return rc;
    im->has_parent = 1;
    return store_commit_get(im->st, repo.id, &im->parent, head);
}

static int valid_repo_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 200)
        return 0;
    int slashes = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '/') {
            if (i == 0 || i == n - 1 || s[i - 1] == '/')
                return 0;
            slashes++;
        } else if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                     ch == '-' || ch == '_' || ch == '.')) {
            return 0;
        }
    }
    if (strstr(s, "..") || s[0] == '.' || s[0] == '-')
        return 0;
    return slashes <= 1;
}

hg_err store_import_validate(const store_import_options *opt)
{
    if (!opt->repo || !valid_repo_name(opt->repo)) {
        HG_ERROR("import: '%s' is not a valid repo id (namespace/name of letters, digits, - _ .)",
                 opt->repo ? opt->repo : "");
        return HG_ERR_INVAL;
    }
    const char *branch = opt->branch ? opt->branch : "main";
    if (!*branch || strlen(branch) > 200 || strstr(branch, "..") || branch[0] == '/' ||
        branch[strlen(branch) - 1] == '/' || strpbrk(branch, " ~^:?*[\\\n\t") ||
        (!strncmp(branch, "refs/", 5) && strncmp(branch, "refs/pr/", 8) && strncmp(branch, "refs/convert/", 13))) {
        HG_ERROR("import: '%s' is not a valid branch name", branch);
        return HG_ERR_INVAL;
    }
    if (opt->tag && (!*opt->tag || strlen(opt->tag) > 200 || strstr(opt->tag, "..") || opt->tag[0] == '/' ||
                     strpbrk(opt->tag, " ~^:?*[\\\n\t"))) {
        HG_ERROR("import: '%s' is not a valid tag name", opt->tag);
        return HG_ERR_INVAL;
    }
    if (opt->author && !git_author_valid(opt->author)) {
        HG_ERROR("import: author '%s' must look like 'Name <email>'", opt->author);
        return HG_ERR_INVAL;
    }
    return HG_OK;
}

/* In one transaction: what an import of an unchanged snapshot still changes (tag, private). */
static hg_err write_unchanged(void *arg, store_conn *c)
{
    importer *im = arg;
    int64_t repo_id = 0;
    hg_err rc = repo_get_or_create(c, im->opt, im->time, &repo_id);
    if (!rc && im->opt->tag)
        rc = set_ref(c, repo_id, im->opt->tag, STORE_REF_TAG, &im->commit);
    return rc;
}

hg_err store_import_dir(store *st, const char *src_dir, const store_import_options *opt,
                        store_import_result *res)
{
    hg_err vrc = store_import_validate(opt);
    if (vrc)
        return vrc;
    importer im = {.st = st, .opt = opt, .src = src_dir};
    memset(res, 0, sizeof *res);
    im.time = opt->time ? opt->time : (int64_t)time(NULL);
    im.author = opt->author ? opt->author : "hubgate <hubgate@localhost>";
    store_commit head = {0};
    hg_err rc = walk(&im, "");
    if (!rc)
        rc = read_parent(&im, &head);
    if (!rc) {
        int has_ga = 0;
        for (size_t i = 0; i < im.nfiles; i++)
            has_ga |= !strcmp(im.files[i].path, ".gitattributes");
        if (!has_ga)
            rc = add_file(&im, ".gitattributes", UINT64_MAX, GIT_MODE_FILE);
    }
    if (!rc) {
        qsort(im.files, im.nfiles, sizeof *im.files, cmp_file);
        rc = store_ingest_begin(st, &im.in);
    }
    if (!rc)
        rc = ingest_all(&im);
    if (!rc)
        rc = build_trees(&im);
    if (!rc && im.has_parent && git_oid_eq(&im.root, &head.tree)) {
        /* Nothing changed: no commit, but a requested tag still points at the head. */
        im.commit = im.parent;
        if ((opt->tag || opt->private_) && (rc = store_ingest_commit(im.in, write_unchanged, &im))) {
            store_commit_clear(&head);
            importer_free(&im);
            return rc;
        }
        res->unchanged = 1;
        res->commit = im.parent;
        store_ingest_get_stats(im.in, &res->stats);
        res->files = im.nfiles;
        store_commit_clear(&head);
        importer_free(&im);
        return HG_OK;
    }
    if (!rc) {
        if (opt->message) {
            im.message = opt->message;
        } else {
            size_t n = strlen(src_dir) + 32;
            im.default_message = malloc(n);
            if (!im.default_message)
                rc = HG_ERR_NOMEM;
            else
                snprintf(im.default_message, n, "Import from %s", src_dir);
            im.message = im.default_message;
        }
    }
    if (!rc)
        rc = git_commit_id(&im.root, im.has_parent ? &im.parent : NULL, im.has_parent ? 1 : 0,
                           im.author, im.time, im.message, &im.commit);
    if (!rc)
        rc = store_ingest_commit(im.in, write_rows, &im);
    if (!rc) {
        res->commit = im.commit;
        store_ingest_get_stats(im.in, &res->stats);
        res->files = im.nfiles;
    }
    store_commit_clear(&head);
    importer_free(&im);
    return rc;
}
