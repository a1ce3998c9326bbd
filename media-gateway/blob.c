/*
 * blob.c - backend selection from a spec string and dispatch of the
 * blob_* calls to the backend's operations (blob.h).
 */
#include "blob.h"

#include <stdio.h>
#include <string.h>

int blob_open(const char *spec, const blob_s3_options *s3, blob_backend **out, char *err)
{
    *out = NULL;
    if (!spec) {
        snprintf(err, BLOB_ERR_MAX, "no backend given");
        return BLOB_EINVAL;
    }
    if (strncmp(spec, "file:", 5) == 0)
        return blob__file_open(spec + 5, out, err);
    if (strncmp(spec, "s3:", 3) == 0) {
        blob_s3_options none = {0};
        return blob__s3_open(spec + 3, s3 ? s3 : &none, out, err);
    }
    snprintf(err, BLOB_ERR_MAX, "unknown backend '%s' (want file:DIR or s3:ENDPOINT/BUCKET)", spec);
    return BLOB_EINVAL;
}

void blob_close(blob_backend *b)
{
    if (b)
        b->ops->destroy(b);
}

bool blob_valid_key(const char *key)
{
    size_t n = key ? strlen(key) : 0;
    if (n == 0 || n > 128 || key[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = key[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

int blob_writer_begin(blob_backend *b, const char *key, const char *content_type, blob_writer **out,
                      char *err)
{
    *out = NULL;
    if (!blob_valid_key(key)) {
        snprintf(err, BLOB_ERR_MAX, "invalid object key");
        return BLOB_EINVAL;
    }
    return b->ops->writer_begin(b, key, content_type, out, err);
}

int blob_writer_write(blob_writer *w, const void *buf, size_t n, char *err)
{
    if (n == 0)
        return BLOB_OK;
    return w->backend->ops->writer_write(w, buf, n, err);
}

int blob_writer_commit(blob_writer *w, char *err)
{
    return w->backend->ops->writer_commit(w, err);
}

void blob_writer_abort(blob_writer *w)
{
    if (w)
        w->backend->ops->writer_abort(w);
}

int blob_reader_open(blob_backend *b, const char *key, uint64_t offset, uint64_t len,
                     blob_reader **out, char *err)
{
    *out = NULL;
    if (!blob_valid_key(key)) {
        snprintf(err, BLOB_ERR_MAX, "invalid object key");
        return BLOB_EINVAL;
    }
    return b->ops->reader_open(b, key, offset, len, out, err);
}

ssize_t blob_reader_read(blob_reader *r, void *buf, size_t n, char *err)
{
    return r->backend->ops->reader_read(r, buf, n, err);
}

void blob_reader_close(blob_reader *r)
{
    if (r)
        r->backend->ops->reader_close(r);
}

int blob_remove(blob_backend *b, const char *key, char *err)
{
    if (!blob_valid_key(key)) {
        snprintf(err, BLOB_ERR_MAX, "invalid object key");
        return BLOB_EINVAL;
    }
    return b->ops->remove(b, key, err);
}

int blob_exists(blob_backend *b, const char *key, char *err)
{
    if (!blob_valid_key(key)) {
        snprintf(err, BLOB_ERR_MAX, "invalid object key");
        return BLOB_EINVAL;
    }
    return b->ops->exists(b, key, err);
}
