/*
 * objects.c - metadata, download and delete of stored media (objects.h).
 */
#include "objects.h"

#include "blob.h"
#include "ids.h"
#include "log.h"
#include "metrics.h"
#include "server.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    blob_reader *reader;
    uint64_t left;
} download_ctx;

static void hex(const uint8_t *in, size_t n, char *out)
{
    sodium_bin2hex(out, 2 * n + 1, in, n);
}

json_t *objects_json(const store_media *m)
{
    char sha[2 * STORE_SHA256_LEN + 1];
    hex(m->sha256, sizeof m->sha256, sha);
    return json_pack("{s:s,s:I,s:s,s:s,s:I,s:I}", "media_id", m->media_id, "size",
                     (json_int_t)m->size, "sha256", sha, "content_type",
                     m->content_type ? m->content_type : OBJECTS_DEFAULT_TYPE, "created_at",
                     (json_int_t)m->created_at, "expires_at", (json_int_t)m->expires_at);
}

static bool valid_media_id(const char *s, size_t n)
{
    if (n != IDS_SERVER_ID_LEN)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_'))
            return false;
    }
    return true;
}

/* Parse n decimal digits (any count), saturating at UINT64_MAX: a position
 * beyond any object size behaves the same whatever its exact value (RFC
 * 9110 14.1.1: a last-pos past the end means the end; a first-pos past it
 * is unsatisfiable). false if s is not all digits. */
static bool parse_u64_sat(const char *s, size_t n, uint64_t *out)
{
    if (n == 0)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            v = UINT64_MAX;
        else
            v = v * 10 + d;
    }
    *out = v;
    return true;
}

typedef enum { RANGE_NONE, RANGE_OK, RANGE_UNSATISFIABLE } range_rc;

/*
 * One "bytes=a-b" / "bytes=a-" / "bytes=-n" range against size. Syntax
 * errors and multiple ranges are ignored (RANGE_NONE: send the whole
 * object), as RFC 9110 allows.
 */
static range_rc parse_range(const char *h, uint64_t size, uint64_t *off, uint64_t *len)
{
    if (!h || strncmp(h, "bytes=", 6) != 0 || strchr(h, ','))
        return RANGE_NONE;
    const char *spec = h + 6;
    const char *dash = strchr(spec, '-');
    if (!dash)
        return RANGE_NONE;
    uint64_t a = 0, b = 0;
    bool has_a = dash > spec, has_b = dash[1] != '\0';
    if (has_a && !parse_u64_sat(spec, (size_t)(dash - spec), &a))
        return RANGE_NONE;
    if (has_b && !parse_u64_sat(dash + 1, strlen(dash + 1), &b))
        return RANGE_NONE;
    if (!has_a && !has_b)
        return RANGE_NONE;
    if (!has_a) { /* suffix: the last b bytes */
        if (b == 0 || size == 0)
            return RANGE_UNSATISFIABLE;
        if (b > size)
            b = size;
        *off = size - b;
        *len = b;
        return RANGE_OK;
    }
    if (has_b && b < a)
        return RANGE_NONE;
    if (a >= size)
        return RANGE_UNSATISFIABLE;
    if (!has_b || b >= size)
        b = size - 1;
    *off = a;
    *len = b - a + 1;
    return RANGE_OK;
}

/* The record named by the request's argument into *m: true, or false with
 * r answered (404, 503). */
static bool lookup(http_request *rq, store_t *s, store_media *m, http_reply *r)
{
    const char *id = http_request_arg(rq);
    if (!valid_media_id(id, strlen(id))) {
        http_reply_error(r, 404, "not_found", "no such media");
        return false;
    }
    int rc = s ? store_media_get(s, id, m) : STORE_EUNAVAIL;
    if (rc == STORE_ENOTFOUND)
        http_reply_error(r, 404, "not_found", "no such media");
    else if (rc != STORE_OK)
        http_reply_store_error(r, rc, s ? store_last_error(s) : "no store");
    return rc == STORE_OK;
}

static ssize_t download_read(void *cls, char *buf, size_t max)
{
    download_ctx *d = cls;
    if (d->left == 0)
        return 0;
    char err[BLOB_ERR_MAX];
    ssize_t n = blob_reader_read(d->reader, buf, max, err);
    if (n <= 0) {
        log_msg(PARLEY_LOG_ERROR, "media", "download: %s", n < 0 ? err : "object ended early");
        metrics_error("backend_error");
        return -1;
    }
    d->left -= (uint64_t)n;
    metrics_add(METRIC_DOWNLOAD_BYTES, (uint64_t)n);
    return n;
}

static void download_free(void *cls)
{
    download_ctx *d = cls;
    blob_reader_close(d->reader);
    free(d);
    metrics_gauge_add(METRIC_ACTIVE_DOWNLOADS, -1);
}

static void download(const server_config *cfg, const char *range, const store_media *m,
                     http_reply *r)
{
    uint64_t off = 0, len = m->size;
    range_rc rr = parse_range(range, m->size, &off, &len);
    char cr[96];
    if (rr == RANGE_UNSATISFIABLE) {
        http_reply_error(r, 416, "range_not_satisfiable", "range outside the object");
        snprintf(cr, sizeof cr, "bytes */%" PRIu64, m->size);
        http_reply_header(r, "Content-Range", cr);
        r->cache_control = "";
        return;
    }
    download_ctx *d = calloc(1, sizeof *d);
    if (!d) {
        http_reply_error(r, 500, "internal", "out of memory");
        return;
    }
    char err[BLOB_ERR_MAX];
    if (blob_reader_open(cfg->blob, m->backend_key, off, len, &d->reader, err) != BLOB_OK) {
        free(d);
        log_msg(PARLEY_LOG_ERROR, "media", "download %s: %s", m->media_id, err);
        http_reply_error(r, 502, "backend_error", "storage backend failed");
        return;
    }
    d->left = len;
    metrics_gauge_add(METRIC_ACTIVE_DOWNLOADS, 1);
    http_reply_stream(r, rr == RANGE_OK ? 206 : 200, len, download_read, download_free, d);
    char etag[2 * STORE_SHA256_LEN + 3];
    etag[0] = '"';
    hex(m->sha256, sizeof m->sha256, etag + 1);
    strcat(etag, "\"");
    http_reply_header(r, "ETag", etag);
    http_reply_header(r, "Accept-Ranges", "bytes");
    http_reply_content_type(r, m->content_type ? m->content_type : OBJECTS_DEFAULT_TYPE);
    r->cache_control = "private, no-store";
    if (rr == RANGE_OK) {
        snprintf(cr, sizeof cr, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, off, off + len - 1,
                 m->size);
        http_reply_header(r, "Content-Range", cr);
    }
    metrics_add(METRIC_DOWNLOADS, 1);
}

static void delete_media(const server_config *cfg, store_t *s, const store_media *m,
                         const char *user, http_reply *r)
{
    if (strcmp(m->owner, user) != 0) {
        http_reply_error(r, 403, "forbidden", "only the owner may delete media");
        return;
    }
    char err[BLOB_ERR_MAX];
    if (blob_remove(cfg->blob, m->backend_key, err) != BLOB_OK) {
        log_msg(PARLEY_LOG_ERROR, "media", "delete %s: %s", m->media_id, err);
        http_reply_error(r, 502, "backend_error", "storage backend failed");
        return;
    }
    int rc = store_media_delete(s, m->media_id);
    if (rc != STORE_OK && rc != STORE_ENOTFOUND) {
        http_reply_store_error(r, rc, store_last_error(s));
        return;
    }
    metrics_add(METRIC_DELETES, 1);
    log_msg(PARLEY_LOG_INFO, "media", "deleted %s by %s", m->media_id, user);
    r->status = 204; /* no body */
}

void objects_item(void *app, http_request *rq, http_reply *r)
{
    store_t *s = http_request_store(rq);
    store_media m = {0};
    if (!lookup(rq, s, &m, r))
        return;
    if (strcmp(http_request_method(rq), "DELETE") == 0)
        delete_media(app, s, &m, http_request_user(rq), r);
    else
        http_reply_json(r, 200, objects_json(&m));
    store_media_free(&m);
}

void objects_download(void *app, http_request *rq, http_reply *r)
{
    store_media m = {0};
    if (!lookup(rq, http_request_store(rq), &m, r))
        return;
    download(app, http_request_header(rq, "Range"), &m, r);
    store_media_free(&m);
}
