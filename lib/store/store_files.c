/*
 * store_files.c - contiguous copies of often-read contents (see store_files.h).
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

#include <openssl/evp.h>

#include "store/store_files.h"
#include "store/store_int.h"
#include "util/hg_fs.h"
#include "util/hg_log.h"

#define COPY_BUF (1u << 20)
/* Serving refreshes a file's mtime (its LRU age) at most this often. */
#define TOUCH_EVERY_S 600

void store_plain_path(const store *st, const uint8_t sha256[32], char *out, size_t cap)
{
    char hex[65];
    xet_bytes_to_hex(sha256, 32, hex);
    snprintf(out, cap, "%s/files/%.2s/%s", st->dir, hex, hex);
}

static void file_path(const store *st, const store_content *ct, char *out, size_t cap)
{
    store_plain_path(st, ct->sha256, out, cap);
}

/* The verified-file set shares the chunk set's table: negative ids cannot clash with xorb rows. */
static uint64_t fingerprint(const struct stat *sb)
{
    return (uint64_t)sb->st_ino * 0x9E3779B97F4A7C15ull ^ (uint64_t)sb->st_size ^ (uint64_t)sb->st_dev << 48;
}

static int64_t vkey(const store_content *ct)
{
    return -1 - ct->id;
}

static void drop(const char *path, const char *why)
{
    HG_WARN("plain copy %s %s: deleted (the chunks stay the source)", path, why);
    if (unlink(path) && errno != ENOENT)
        HG_WARN("unlink %s: %s", path, strerror(errno));
}

/* Opens the plain copy of ct (path receives its name); one of the wrong size is deleted. */
static hg_err open_copy(store *st, const store_content *ct, char path[4096], int *fd, struct stat *sb)
{
    file_path(st, ct, path, 4096);
    int f = open(path, O_RDONLY | O_CLOEXEC);
    if (f < 0)
        return errno == ENOENT ? HG_ERR_NOTFOUND : HG_ERR_IO;
    if (fstat(f, sb) || (uint64_t)sb->st_size != ct->size) {
        close(f);
        drop(path, "has the wrong size");
        return HG_ERR_NOTFOUND;
    }
    *fd = f;
    return HG_OK;
}

hg_err store_files_open(store *st, const store_content *ct, int *fd)
{
    char path[4096];
    struct stat sb;
    int f;
    hg_err orc = open_copy(st, ct, path, &f, &sb);
    if (orc)
        return orc;
    if (!store_vcache_test(&st->verified, vkey(ct), fingerprint(&sb), 0)) {
        close(f);
        return HG_ERR_AGAIN;
    }
    time_t now = time(NULL);
    if (now - sb.st_mtime > TOUCH_EVERY_S)
        futimens(f, NULL); /* LRU age; a failure only makes it an earlier candidate */
    *fd = f;
    return HG_OK;
}

hg_err store_files_verify(store *st, const store_content *ct)
{
    char path[4096];
    struct stat sb;
    int f;
    hg_err orc = open_copy(st, ct, path, &f, &sb);
    if (orc)
        return orc;
    uint8_t *buf = malloc(COPY_BUF);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    hg_err rc = !buf || !md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ? HG_ERR_NOMEM : HG_OK;
    for (uint64_t off = 0; !rc && off < ct->size;) {
        size_t n = ct->size - off < COPY_BUF ? (size_t)(ct->size - off) : COPY_BUF;
        rc = hg_pread_all(f, buf, n, off);
        if (!rc && EVP_DigestUpdate(md, buf, n) != 1)
            rc = HG_ERR_NOMEM;
        off += n;
    }
    unsigned char d[32];
    unsigned int dl = 0;
    if (!rc && (EVP_DigestFinal_ex(md, d, &dl) != 1 || memcmp(d, ct->sha256, 32)))
        rc = HG_ERR_CORRUPT;
    if (!rc)
        store_vcache_mark(&st->verified, vkey(ct), fingerprint(&sb), 0);
    else if (rc == HG_ERR_CORRUPT)
        drop(path, "does not match its sha256");
    EVP_MD_CTX_free(md);
    free(buf);
    close(f);
    return rc;
}

hg_err store_files_tmpfile(store *st, int *fd)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s/tmp", st->dir);
    int f = open(tmp, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (f >= 0) {
        *fd = f;
        return HG_OK;
    }
    store_tmp_name(st, "anon", tmp, sizeof tmp);
    f = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (f < 0) {
        HG_ERROR("create %s: %s", tmp, strerror(errno));
        return HG_ERR_IO;
    }
    unlink(tmp);
    *fd = f;
    return HG_OK;
}

/* Puts the complete, fsynced temporary file tmp in place as the plain file of ct. */
static hg_err install(store *st, const store_content *ct, const char *tmp)
{
    char path[4096], dir[4096];
    file_path(st, ct, path, sizeof path);
    snprintf(dir, sizeof dir, "%.*s", (int)(strrchr(path, '/') - path), path);
    hg_err rc = hg_mkdirs(dir);
    if (!rc && rename(tmp, path)) {
        HG_ERROR("rename %s -> %s: %s", tmp, path, strerror(errno));
        rc = HG_ERR_IO;
    }
    if (!rc)
        rc = hg_fsync_dir(dir);
    if (rc)
        unlink(tmp);
    return rc;
}

/* The plain copy just put in place by this process counts as verified (its bytes were). */
static void mark_verified(store *st, const store_content *ct)
{
    char path[4096];
    struct stat sb;
    file_path(st, ct, path, sizeof path);
    if (stat(path, &sb) == 0)
        store_vcache_mark(&st->verified, vkey(ct), fingerprint(&sb), 0);
}

static int exists(store *st, const store_content *ct)
{
    char path[4096];
    struct stat sb;
    file_path(st, ct, path, sizeof path);
    return stat(path, &sb) == 0 && (uint64_t)sb.st_size == ct->size;
}

/* Copies size bytes of src (from offset 0) into a new file tmp, fsynced. */
static hg_err copy_fd(int src, uint64_t size, const char *tmp)
{
    int dst = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (dst < 0) {
        HG_ERROR("create %s: %s", tmp, strerror(errno));
        return HG_ERR_IO;
    }
    hg_err rc = HG_OK;
    loff_t in = 0, out = 0;
    while (!rc && (uint64_t)in < size) {
        ssize_t n = copy_file_range(src, &in, dst, &out, (size_t)(size - (uint64_t)in), 0);
        if (n <= 0) {
            HG_ERROR("copy into %s: %s", tmp, n ? strerror(errno) : "unexpected end of file");
            rc = HG_ERR_IO;
        }
    }
    if (!rc && fsync(dst)) {
        HG_ERROR("fsync %s: %s", tmp, strerror(errno));
        rc = HG_ERR_IO;
    }
    close(dst);
    if (rc)
        unlink(tmp);
    return rc;
}

hg_err store_files_adopt(store *st, const store_content *ct, int fd)
{
    struct stat sb;
    if (fstat(fd, &sb) || (uint64_t)sb.st_size != ct->size)
        return HG_ERR_INVAL;
    if (exists(st, ct))
        return HG_OK;
    char tmp[4096], proc[64];
    store_tmp_name(st, "file", tmp, sizeof tmp);
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    /* An O_TMPFILE file can be given a name; anything else is copied (in the kernel). */
    hg_err rc = HG_OK;
    if (fsync(fd) || linkat(AT_FDCWD, proc, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) != 0)
        rc = copy_fd(fd, ct->size, tmp);
    else
        fchmod(fd, 0644);
    if (!rc)
        rc = install(st, ct, tmp);
    if (!rc)
        mark_verified(st, ct);
    return rc;
}

/* Writes ct's bytes, assembled from its chunks (each hashed on its way), into dst. */
static hg_err fill_from_chunks(store *st, const store_content *ct, int dst)
{
    store_reader *r = NULL;
    uint8_t *buf = malloc(COPY_BUF);
    hg_err rc = buf ? store_reader_open(st, ct, &r) : HG_ERR_NOMEM;
    for (uint64_t off = 0; !rc && off < ct->size;) {
        size_t n = ct->size - off < COPY_BUF ? (size_t)(ct->size - off) : COPY_BUF, got = 0;
        rc = store_reader_read(r, off, buf, n, &got);
        if (!rc && got != n)
            rc = HG_ERR_CORRUPT;
        if (!rc)
            rc = hg_pwrite_all(dst, buf, n, off);
        off += n;
    }
    store_reader_close(&r);
    free(buf);
    return rc;
}

hg_err store_files_temp_copy(store *st, const store_content *ct, int *fd)
{
    hg_err rc = store_files_tmpfile(st, fd);
    if (!rc && (rc = fill_from_chunks(st, ct, *fd))) {
        close(*fd);
        *fd = -1;
    }
    return rc;
}

hg_err store_files_materialize(store *st, const store_content *ct)
{
    if (exists(st, ct))
        return HG_OK;
    char tmp[4096];
    store_tmp_name(st, "file", tmp, sizeof tmp);
    hg_err rc;
    int dst = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (dst < 0) {
        HG_ERROR("create %s: %s", tmp, strerror(errno));
        return HG_ERR_IO;
    }
    rc = fill_from_chunks(st, ct, dst);
    if (!rc && fsync(dst)) {
        HG_ERROR("fsync %s: %s", tmp, strerror(errno));
        rc = HG_ERR_IO;
    }
    close(dst);
    if (rc) {
        unlink(tmp);
        return rc;
    }
    rc = install(st, ct, tmp);
    if (!rc)
        mark_verified(st, ct);
    return rc;
}

typedef struct pfile {
    char name[80]; /* "ab/<hex>" */
    uint64_t size;
    int64_t mtime;
} pfile;

static int older_first(const void *a, const void *b)
{
    const pfile *x = a, *y = b;
    return (x->mtime > y->mtime) - (x->mtime < y->mtime);
}

/* Lists DATA/files/xx/ entries into *out (grown with realloc). */
static hg_err list_files(const char *root, pfile **out, size_t *n, size_t *cap)
{
    DIR *top = opendir(root);
    if (!top)
        return errno == ENOENT ? HG_OK : HG_ERR_IO;
    hg_err rc = HG_OK;
    struct dirent *d;
    while (!rc && (d = readdir(top))) {
        if (strlen(d->d_name) != 2)
            continue;
        char sub[4096];
        snprintf(sub, sizeof sub, "%.4000s/%.64s", root, d->d_name);
        DIR *dd = opendir(sub);
        if (!dd)
            continue;
        struct dirent *e;
        while (!rc && (e = readdir(dd))) {
            struct stat sb;
            if (strlen(e->d_name) != 64 || fstatat(dirfd(dd), e->d_name, &sb, 0) || !S_ISREG(sb.st_mode))
                continue;
            if (*n == *cap) {
                size_t c = *cap ? 2 * *cap : 64;
                pfile *v = realloc(*out, c * sizeof *v);
                if (!v) {
                    rc = HG_ERR_NOMEM;
                    break;
                }
                *out = v;
                *cap = c;
            }
            pfile *p = &(*out)[(*n)++];
            snprintf(p->name, sizeof p->name, "%.2s/%.64s", d->d_name, e->d_name);
            p->size = (uint64_t)sb.st_size;
            p->mtime = (int64_t)sb.st_mtime;
        }
        closedir(dd);
    }
    closedir(top);
    return rc;
}

hg_err store_files_trim(store *st, uint64_t budget, uint64_t *used)
{
    char root[4096];
    snprintf(root, sizeof root, "%s/files", st->dir);
    pfile *v = NULL;
    size_t n = 0, cap = 0;
    hg_err rc = list_files(root, &v, &n, &cap);
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += v[i].size;
    if (!rc && total > budget) {
        qsort(v, n, sizeof *v, older_first);
        for (size_t i = 0; i < n && total > budget; i++) {
            char path[4096];
            snprintf(path, sizeof path, "%.4000s/%.79s", root, v[i].name);
            if (unlink(path) == 0 || errno == ENOENT) {
                total -= v[i].size;
                HG_DEBUG("plain copy %s evicted (%llu bytes)", v[i].name, (unsigned long long)v[i].size);
            }
        }
    }
    free(v);
    if (used)
        *used = total;
    return rc;
}
