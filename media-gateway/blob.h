/*
 * blob.h - the media gateway's blob backend interface: where ciphertext
 * objects live. Two backends:
 *
 *   "file:DIR"              blob_file.c - one file per object under DIR
 *   "s3:ENDPOINT/BUCKET"    blob_s3.c   - an S3-compatible object store,
 *                           signed with libcurl's AWS SigV4
 *
 * Writes are transactional: an object written through a blob_writer becomes
 * visible only at blob_writer_commit(); blob_writer_abort() (or a failed
 * commit) leaves nothing behind. Memory use of a writer or reader is bounded
 * and independent of the object size.
 *
 * Threading: a blob_backend is shared by every HTTP worker thread; each
 * writer/reader belongs to the one thread that opened it.
 */
#ifndef PARLEY_MEDIA_BLOB_H
#define PARLEY_MEDIA_BLOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Return codes of every blob_* function. */
typedef enum {
    BLOB_OK = 0,
    BLOB_ENOTFOUND = -1,    /* no such object */
    BLOB_EINVAL = -2,       /* bad spec or key */
    BLOB_EIO = -3,          /* backend failure (disk, S3 error, unreachable); see the message */
    BLOB_ENOMEM = -4,
} blob_rc;

#define BLOB_ERR_MAX 256

/* S3 settings; ignored by the file backend. */
typedef struct {
    const char *access_key;
    const char *secret_key;
    const char *region;         /* default "us-east-1" */
    bool virtual_host;          /* BUCKET.HOST/KEY instead of HOST/BUCKET/KEY */
    size_t part_size;           /* multipart part size, >= 5 MiB (default 8 MiB) */
} blob_s3_options;

typedef struct blob_backend blob_backend;
typedef struct blob_writer blob_writer;
typedef struct blob_reader blob_reader;

/* Operations of a backend (internal: filled in by blob_file.c / blob_s3.c). */
typedef struct {
    int (*writer_begin)(blob_backend *b, const char *key, const char *content_type,
                        blob_writer **out, char *err);
    int (*writer_write)(blob_writer *w, const void *buf, size_t n, char *err);
    int (*writer_commit)(blob_writer *w, char *err);
    void (*writer_abort)(blob_writer *w);
    int (*reader_open)(blob_backend *b, const char *key, uint64_t offset, uint64_t len,
                       blob_reader **out, char *err);
    ssize_t (*reader_read)(blob_reader *r, void *buf, size_t n, char *err);
    void (*reader_close)(blob_reader *r);
    int (*remove)(blob_backend *b, const char *key, char *err);
    int (*exists)(blob_backend *b, const char *key, char *err);
    void (*destroy)(blob_backend *b);
} blob__ops;

/* The ops table of a backend whose functions are named PREFIX_writer_begin,
 * PREFIX_writer_write, ... PREFIX_destroy (every backend follows that rule):
 * static const blob__ops file_ops = BLOB__OPS(file); */
#define BLOB__OPS(prefix) \
    { \
        .writer_begin = prefix##_writer_begin, \
        .writer_write = prefix##_writer_write, \
        .writer_commit = prefix##_writer_commit, \
        .writer_abort = prefix##_writer_abort, \
        .reader_open = prefix##_reader_open, \
        .reader_read = prefix##_reader_read, \
        .reader_close = prefix##_reader_close, \
        .remove = prefix##_remove, \
        .exists = prefix##_exists, \
        .destroy = prefix##_destroy, \
    }

struct blob_backend {
    const blob__ops *ops;
    const char *name;           /* "file" or "s3" (metrics label) */
};
/* Backends embed these as the first member of their writer/reader. */
struct blob_writer {
    blob_backend *backend;
};
struct blob_reader {
    blob_backend *backend;
};

/*
 * Open a backend from its spec ("file:DIR" or "s3:http(s)://HOST[:PORT]/BUCKET").
 * s3 may be NULL for the file backend. Returns BLOB_OK and *out, or
 * BLOB_EINVAL / BLOB_EIO with a reason in err (BLOB_ERR_MAX bytes).
 */
int blob_open(const char *spec, const blob_s3_options *s3, blob_backend **out, char *err);
/* Free a backend. NULL is fine. */
void blob_close(blob_backend *b);
/* true if key is acceptable to every backend: 1..128 of [A-Za-z0-9._-], not starting with '.'. */
bool blob_valid_key(const char *key);

/* Start writing object key. Nothing is visible until commit. */
int blob_writer_begin(blob_backend *b, const char *key, const char *content_type, blob_writer **out,
                      char *err);
/* Append n bytes. On error the writer must still be aborted. */
int blob_writer_write(blob_writer *w, const void *buf, size_t n, char *err);
/* Make the object visible and free the writer (also on error, when nothing
 * is left behind). */
int blob_writer_commit(blob_writer *w, char *err);
/* Drop everything written and free the writer. NULL is fine. */
void blob_writer_abort(blob_writer *w);

/* Open object key for reading len bytes from offset (the caller has checked
 * the range against the object's size). BLOB_ENOTFOUND if missing. */
int blob_reader_open(blob_backend *b, const char *key, uint64_t offset, uint64_t len,
                     blob_reader **out, char *err);
/* Read up to n bytes: > 0 bytes read, 0 at the end, -1 on error (err set). */
ssize_t blob_reader_read(blob_reader *r, void *buf, size_t n, char *err);
/* NULL is fine. */
void blob_reader_close(blob_reader *r);

/* Delete object key; a missing object is BLOB_OK. */
int blob_remove(blob_backend *b, const char *key, char *err);
/* BLOB_OK if key exists, BLOB_ENOTFOUND if not, or an error. */
int blob_exists(blob_backend *b, const char *key, char *err);

/* Backend constructors (internal). */
int blob__file_open(const char *dir, blob_backend **out, char *err);
int blob__s3_open(const char *endpoint_bucket, const blob_s3_options *opts, blob_backend **out,
                  char *err);

#endif
