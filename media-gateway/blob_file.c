/*
 * blob_file.c - the local-filesystem blob backend ("file:DIR").
 *
 * Layout: committed objects are DIR/<key>; a write in progress is a
 * mkstemp() file in DIR/.tmp/ that is fsync'ed and rename()d onto
 * DIR/<key> at commit (atomic on one filesystem), or unlinked on abort.
 * Leftover temporary files of a crashed process are removed at open.
 */
#include "blob.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    blob_backend base;
    char dir[PATH_MAX];
    char tmpdir[PATH_MAX];
} file_backend;

typedef struct {
    blob_writer base;
    int fd;
    char tmp[PATH_MAX];
    char final[PATH_MAX];
} file_writer;

typedef struct {
    blob_reader base;
    int fd;
    uint64_t left;
} file_reader;

static int set_err(char *err, int rc, const char *what, const char *path)
{
    snprintf(err, BLOB_ERR_MAX, "%s %.160s: %s", what, path, strerror(errno));
    return rc;
}

static int object_path(file_backend *fb, const char *key, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/%s", fb->dir, key);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static int file_writer_begin(blob_backend *b, const char *key, const char *content_type,
                             blob_writer **out, char *err)
{
    file_backend *fb = (file_backend *)b;
    file_writer *w = calloc(1, sizeof *w);
    if (!w)
        return BLOB_ENOMEM;
    w->base.backend = b;
    w->fd = -1;
    int n = snprintf(w->tmp, sizeof w->tmp, "%s/%s.XXXXXX", fb->tmpdir, key);
    if (n < 0 || (size_t)n >= sizeof w->tmp || object_path(fb, key, w->final, sizeof w->final)) {
        snprintf(err, BLOB_ERR_MAX, "path too long");
        free(w);
        return BLOB_EINVAL;
    }
    w->fd = mkstemp(w->tmp);
    if (w->fd < 0) {
        int rc = set_err(err, BLOB_EIO, "create", w->tmp);
        free(w);
        return rc;
    }
    *out = &w->base;
    return BLOB_OK;
}

static int file_writer_write(blob_writer *bw, const void *buf, size_t n, char *err)
{
    file_writer *w = (file_writer *)bw;
    const uint8_t *p = buf;
    while (n > 0) {
        ssize_t k = write(w->fd, p, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return set_err(err, BLOB_EIO, "write", w->tmp);
        }
        p += k;
        n -= (size_t)k;
    }
    return BLOB_OK;
}

static void file_writer_abort(blob_writer *bw)
{
    file_writer *w = (file_writer *)bw;
    if (w->fd >= 0)
        close(w->fd);
    unlink(w->tmp);
    free(w);
}

static int file_writer_commit(blob_writer *bw, char *err)
{
    file_writer *w = (file_writer *)bw;
    file_backend *fb = (file_backend *)bw->backend;
    int rc = BLOB_OK;
    if (fsync(w->fd) != 0) {
        rc = set_err(err, BLOB_EIO, "fsync", w->tmp);
        goto fail;
    }
    if (close(w->fd) != 0) {
        w->fd = -1;
        rc = set_err(err, BLOB_EIO, "close", w->tmp);
        goto fail;
    }
    w->fd = -1;
    if (rename(w->tmp, w->final) != 0) {
        rc = set_err(err, BLOB_EIO, "rename to", w->final);
        goto fail;
    }
    if (fsync_dir(fb->dir) != 0) {
        rc = set_err(err, BLOB_EIO, "fsync", fb->dir);
        unlink(w->final);
        goto fail;
    }
    free(w);
    return BLOB_OK;
fail:
    file_writer_abort(bw);
    return rc;
}

static int file_reader_open(blob_backend *b, const char *key, uint64_t offset, uint64_t len,
                            blob_reader **out, char *err)
{
    file_backend *fb = (file_backend *)b;
    char path[PATH_MAX];
    if (object_path(fb, key, path, sizeof path)) {
        snprintf(err, BLOB_ERR_MAX, "path too long");
        return BLOB_EINVAL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return set_err(err, errno == ENOENT ? BLOB_ENOTFOUND : BLOB_EIO, "open", path);
    if (offset > 0 && lseek(fd, (off_t)offset, SEEK_SET) < 0) {
        int rc = set_err(err, BLOB_EIO, "seek", path);
        close(fd);
        return rc;
    }
    file_reader *r = calloc(1, sizeof *r);
    if (!r) {
        close(fd);
        return BLOB_ENOMEM;
    }
    r->base.backend = b;
    r->fd = fd;
    r->left = len;
    *out = &r->base;
    return BLOB_OK;
}

static ssize_t file_reader_read(blob_reader *br, void *buf, size_t n, char *err)
{
    file_reader *r = (file_reader *)br;
    if (r->left == 0)
        return 0;
    if (n > r->left)
        n = (size_t)r->left;
    for (;;) {
        ssize_t k = read(r->fd, buf, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            snprintf(err, BLOB_ERR_MAX, "read: %s", strerror(errno));
            return -1;
        }
        if (k == 0) {
            snprintf(err, BLOB_ERR_MAX, "object shorter than its recorded size");
            return -1;
        }
        r->left -= (uint64_t)k;
        return k;
    }
}

static void file_reader_close(blob_reader *br)
{
    file_reader *r = (file_reader *)br;
    close(r->fd);
    free(r);
}

static int file_remove(blob_backend *b, const char *key, char *err)
{
    char path[PATH_MAX];
    if (object_path((file_backend *)b, key, path, sizeof path)) {
        snprintf(err, BLOB_ERR_MAX, "path too long");
        return BLOB_EINVAL;
    }
    if (unlink(path) != 0 && errno != ENOENT)
        return set_err(err, BLOB_EIO, "unlink", path);
    return BLOB_OK;
}

static int file_exists(blob_backend *b, const char *key, char *err)
{
    char path[PATH_MAX];
    struct stat st;
    if (object_path((file_backend *)b, key, path, sizeof path)) {
        snprintf(err, BLOB_ERR_MAX, "path too long");
        return BLOB_EINVAL;
    }
    if (stat(path, &st) == 0)
        return BLOB_OK;
    return set_err(err, errno == ENOENT ? BLOB_ENOTFOUND : BLOB_EIO, "stat", path);
}

static void file_destroy(blob_backend *b)
{
    free(b);
}

static const blob__ops file_ops = BLOB__OPS(file);

/* Remove temporary files left by a process that died mid-upload. */
static void sweep_tmp(const char *tmpdir)
{
    DIR *d = opendir(tmpdir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[PATH_MAX];
        int n = snprintf(path, sizeof path, "%s/%s", tmpdir, e->d_name);
        if (n > 0 && (size_t)n < sizeof path)
            unlink(path);
    }
    closedir(d);
}

int blob__file_open(const char *dir, blob_backend **out, char *err)
{
    *out = NULL;
    if (!dir || !*dir) {
        snprintf(err, BLOB_ERR_MAX, "file backend: empty directory");
        return BLOB_EINVAL;
    }
    file_backend *fb = calloc(1, sizeof *fb);
    if (!fb)
        return BLOB_ENOMEM;
    fb->base.ops = &file_ops;
    fb->base.name = "file";
    int n1 = snprintf(fb->dir, sizeof fb->dir, "%s", dir);
    int n2 = snprintf(fb->tmpdir, sizeof fb->tmpdir, "%s/.tmp", dir);
    if (n1 < 0 || n2 < 0 || (size_t)n2 >= sizeof fb->tmpdir) {
        snprintf(err, BLOB_ERR_MAX, "file backend: directory path too long");
        free(fb);
        return BLOB_EINVAL;
    }
    if ((mkdir(fb->dir, 0700) != 0 && errno != EEXIST) ||
        (mkdir(fb->tmpdir, 0700) != 0 && errno != EEXIST)) {
        int rc = set_err(err, BLOB_EIO, "file backend: mkdir", fb->tmpdir);
        free(fb);
        return rc;
    }
    if (access(fb->tmpdir, W_OK) != 0) {
        int rc = set_err(err, BLOB_EIO, "file backend: not writable:", fb->tmpdir);
        free(fb);
        return rc;
    }
    sweep_tmp(fb->tmpdir);
    *out = &fb->base;
    return BLOB_OK;
}
