#include "util/hg_fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/hg_log.h"

hg_err hg_mkdirs(const char *path)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf)
        return HG_ERR_INVAL;
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
            HG_ERROR("mkdir %s: %s", buf, strerror(errno));
            return HG_ERR_IO;
        }
        buf[i] = c;
    }
    return HG_OK;
}

hg_err hg_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        HG_ERROR("open %s: %s", dir, strerror(errno));
        return HG_ERR_IO;
    }
    int rc = fsync(fd);
    int err = errno;
    close(fd);
    if (rc != 0) {
        HG_ERROR("fsync %s: %s", dir, strerror(err));
        return HG_ERR_IO;
    }
    return HG_OK;
}

hg_err hg_pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t w = pwrite(fd, p, len, (off_t)off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            HG_ERROR("write: %s", strerror(errno));
            return HG_ERR_IO;
        }
        p += w;
        len -= (size_t)w;
        off += (uint64_t)w;
    }
    return HG_OK;
}

hg_err hg_pread_all(int fd, void *buf, size_t len, uint64_t off)
{
    char *p = buf;
    while (len > 0) {
        ssize_t r = pread(fd, p, len, (off_t)off);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            HG_ERROR("read: %s", strerror(errno));
            return HG_ERR_IO;
        }
        if (r == 0)
            return HG_ERR_CORRUPT; /* shorter than the index says */
        p += r;
        len -= (size_t)r;
        off += (uint64_t)r;
    }
    return HG_OK;
}

hg_err hg_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode)
{
    char tmp[4096], dir[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return HG_ERR_INVAL;
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode_t)mode);
    if (fd < 0) {
        HG_ERROR("create %s: %s", tmp, strerror(errno));
        return HG_ERR_IO;
    }
    hg_err rc = hg_pwrite_all(fd, data, len, 0);
    if (!rc && fsync(fd) != 0) {
        HG_ERROR("fsync %s: %s", tmp, strerror(errno));
        rc = HG_ERR_IO;
    }
    close(fd);
    if (!rc && rename(tmp, path) != 0) {
        HG_ERROR("rename %s: %s", tmp, strerror(errno));
        rc = HG_ERR_IO;
    }
    if (rc) {
        unlink(tmp);
        return rc;
    }
    return hg_fsync_dir(dir);
}

hg_err hg_read_file(const char *path, size_t max, char **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? HG_ERR_NOTFOUND : HG_ERR_IO;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return HG_ERR_IO;
    }
    if ((uint64_t)st.st_size > max) {
        close(fd);
        return HG_ERR_TOOBIG;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        close(fd);
        return HG_ERR_NOMEM;
    }
    hg_err rc = hg_pread_all(fd, buf, (size_t)st.st_size, 0);
    close(fd);
    if (rc) {
        free(buf);
        return rc;
    }
    buf[st.st_size] = '\0';
    *out = buf;
    if (len)
        *len = (size_t)st.st_size;
    return HG_OK;
}

