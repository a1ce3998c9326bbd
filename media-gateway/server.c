/*
 * server.c - HTTP front of the media gateway (server.h).
 *
 * libmicrohttpd runs one thread per connection, so handlers may block on
 * the blob backend (an S3 part upload) without stalling other clients.
 * Each connection thread lazily opens its own store handle (store_t is
 * single-threaded), closed when the thread ends.
 *
 * Upload: the body is never buffered whole. Each chunk MHD hands to the
 * access handler is hashed (SHA-256) and written to a blob_writer; the
 * object is committed, then its record stored, only after the last byte.
 * An upload that fails or is cut off is aborted in the completion callback,
 * leaving neither blob nor record.
 *
 * Download: a blob_reader feeds MHD_create_response_from_callback, so a
 * download holds one block in memory whatever the size; HTTP Range (one
 * range) gives 206 with Content-Range or 416.
 */
#define _GNU_SOURCE
#include "server.h"
#include "auth.h"
#include "guard.h"
#include "ids.h"
#include "log.h"
#include "metrics.h"
#include "store.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define MEDIA_PREFIX "/v1/media"
#define CONTENT_TYPE_MAX 127
#define DOWNLOAD_BLOCK (64 * 1024)
#define DEFAULT_CONTENT_TYPE "application/octet-stream"
#define DISCARD_MAX (64ull * 1024 * 1024) /* body bytes read and dropped after a failure */

struct server {
    server_config cfg;
    struct MHD_Daemon *daemon;
    http_guard *guard;              /* per-IP connection limit, header deadline */
};

/* State of an upload in progress, in *con_cls (only uploads keep state
 * across calls of the access handler). */
typedef struct {
    server *srv;
    blob_writer *writer;            /* non-NULL until committed or aborted */
    crypto_hash_sha256_state sha;
    uint64_t received;
    bool want_sha_set;
    uint8_t want_sha[STORE_SHA256_LEN];
    char media_id[IDS_SERVER_ID_LEN + 1];
    char owner[IDS_USER_MAX + 1];
    char content_type[CONTENT_TYPE_MAX + 1];
    uint64_t discarded;             /* body bytes dropped after a failure */
    int err_status;                 /* a failure seen while receiving, answered at the end */
    const char *err_code;
    char err_msg[BLOB_ERR_MAX + 64];
} upload_ctx;

typedef struct {
    blob_reader *reader;
    uint64_t left;
} download_ctx;

/* ------------------------------------------------------- per-thread store */

static pthread_key_t store_key;
static pthread_once_t store_key_once = PTHREAD_ONCE_INIT;

static void store_key_free(void *p)
{
    store_close(p);
}

static void store_key_init(void)
{
    pthread_key_create(&store_key, store_key_free);
}

/* This thread's store connection, opened on first use; NULL if unreachable. */
static store_t *thread_store(server *srv)
{
    pthread_once(&store_key_once, store_key_init);
    store_t *s = pthread_getspecific(store_key);
    if (s)
        return s;
    int rc = store_open(srv->cfg.store_uri, NULL, &s);
    if (rc != STORE_OK) {
        log_msg(LOG_ERROR, "media", "cannot open store: %s (%s)", store_strerror(rc),
                store_last_error(NULL));
        return NULL;
    }
    pthread_setspecific(store_key, s);
    return s;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* -------------------------------------------------------------- responses */

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, const char *ctype,
                                 char *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
    if (!r) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* Send a JSON document (stolen). */
static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, json_t *doc)
{
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!text)
        return MHD_NO;
    return send_text(c, status, "application/json", text, strlen(text), MHD_RESPMEM_MUST_FREE);
}

/* {"error": code, "message": msg} with status and an optional extra header
 * (hname may be NULL); counted in the metrics. */
static enum MHD_Result send_error_hdr(struct MHD_Connection *c, unsigned status, const char *code,
                                      const char *msg, const char *hname, const char *hvalue)
{
    metrics_error(code);
    json_t *doc = json_pack("{s:s,s:s}", "error", code, "message", msg);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!text)
        return MHD_NO;
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), text,
                                                             MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (hname)
        MHD_add_response_header(r, hname, hvalue);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *code,
                                  const char *msg)
{
    return send_error_hdr(c, status, code, msg, NULL, NULL);
}

static enum MHD_Result send_405(struct MHD_Connection *c, const char *allow)
{
    return send_error_hdr(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed",
                          "method not allowed", MHD_HTTP_HEADER_ALLOW, allow);
}

static void hex(const uint8_t *in, size_t n, char *out)
{
    sodium_bin2hex(out, 2 * n + 1, in, n);
}

static json_t *media_json(const store_media *m)
{
    char sha[2 * STORE_SHA256_LEN + 1];
    hex(m->sha256, sizeof m->sha256, sha);
    return json_pack("{s:s,s:I,s:s,s:s,s:I,s:I}", "media_id", m->media_id, "size",
                     (json_int_t)m->size, "sha256", sha, "content_type",
                     m->content_type ? m->content_type : DEFAULT_CONTENT_TYPE, "created_at",
                     (json_int_t)m->created_at, "expires_at", (json_int_t)m->expires_at);
}

/* ------------------------------------------------------------- validation */

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

static bool valid_content_type(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > CONTENT_TYPE_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
            return false;
    return true;
}

/* Parse a decimal uint64; false on anything else. */
static bool parse_u64(const char *s, size_t n, uint64_t *out)
{
    if (n == 0 || n > 19)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
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

/* Authenticate; on failure an error response is queued and false returned
 * with *ret set. */
static bool authenticate(struct MHD_Connection *c, store_t *s, char *user, enum MHD_Result *ret)
{
    const char *hdr = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    const char *reason;
    int rc = auth_bearer(s, hdr, (int64_t)time(NULL), user, &reason);
    if (rc == AUTH_OK)
        return true;
    if (rc == AUTH_ESTORE)
        *ret = send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "store_unavailable", "store unavailable");
    else
        *ret = send_error_hdr(c, MHD_HTTP_UNAUTHORIZED, "unauthorized", reason,
                              MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"parley\"");
    return false;
}

/* --------------------------------------------------------------- handlers */

static enum MHD_Result handle_health(server *srv, struct MHD_Connection *c)
{
    store_t *s = thread_store(srv);
    store_media m = {0};
    int rc = s ? store_media_get(s, "healthz-probe", &m) : STORE_EUNAVAIL;
    store_media_free(&m);
    bool ok = rc == STORE_OK || rc == STORE_ENOTFOUND;
    return send_json(c, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
                     json_pack("{s:s,s:s,s:s}", "status", ok ? "ok" : "unavailable", "backend",
                               srv->cfg.blob->name, "store", ok ? "ok" : store_strerror(rc)));
}

static enum MHD_Result handle_metrics(server *srv, struct MHD_Connection *c)
{
    char *text = NULL;
    size_t len = 0;
    char labels[64];
    snprintf(labels, sizeof labels, "{backend=\"%s\"}", srv->cfg.blob->name);
    if (metrics_render(&text, &len) != 0 ||
        !(text = http_guard_metrics_append(srv->guard, text, "parley_media", labels)))
        return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
    return send_text(c, MHD_HTTP_OK, "text/plain; version=0.0.4", text, strlen(text),
                     MHD_RESPMEM_MUST_FREE);
}

/* First call of POST /v1/media: checks, then open the blob writer. */
static enum MHD_Result upload_begin(server *srv, struct MHD_Connection *c, void **con_cls)
{
    enum MHD_Result ret;
    char user[IDS_USER_MAX + 1];
    store_t *s = thread_store(srv);
    if (!s)
        return send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "store_unavailable", "store unavailable");
    if (!authenticate(c, s, user, &ret))
        return ret;

    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    uint64_t declared = 0;
    if (cl && !parse_u64(cl, strlen(cl), &declared))
        return send_error(c, MHD_HTTP_BAD_REQUEST, "bad_request", "bad Content-Length");
    if (cl && declared > srv->cfg.max_size) {
        char msg[96];
        snprintf(msg, sizeof msg, "upload larger than %" PRIu64 " bytes", srv->cfg.max_size);
        return send_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "too_large", msg);
    }
    const char *te = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_TRANSFER_ENCODING);
    if (!cl && !te)
        return send_error(c, MHD_HTTP_LENGTH_REQUIRED, "bad_request",
                          "Content-Length or chunked body required");
    if (cl && declared == 0)
        return send_error(c, MHD_HTTP_BAD_REQUEST, "bad_request", "empty upload");

    upload_ctx *u = calloc(1, sizeof *u);
    if (!u)
        return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
    u->srv = srv;
    snprintf(u->owner, sizeof u->owner, "%s", user);
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (ct && !valid_content_type(ct)) {
        free(u);
        return send_error(c, MHD_HTTP_BAD_REQUEST, "bad_request", "bad Content-Type");
    }
    snprintf(u->content_type, sizeof u->content_type, "%s", ct ? ct : DEFAULT_CONTENT_TYPE);
    const char *want = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Parley-SHA256");
    if (want) {
        size_t bin_len = 0;
        if (strlen(want) != 2 * STORE_SHA256_LEN ||
            sodium_hex2bin(u->want_sha, sizeof u->want_sha, want, strlen(want), NULL, &bin_len,
                           NULL) != 0 ||
            bin_len != STORE_SHA256_LEN) {
            free(u);
            return send_error(c, MHD_HTTP_BAD_REQUEST, "bad_request",
                              "X-Parley-SHA256 must be 64 hex digits");
        }
        u->want_sha_set = true;
    }
    ids_random(u->media_id);
    crypto_hash_sha256_init(&u->sha);
    char err[BLOB_ERR_MAX];
    if (blob_writer_begin(srv->cfg.blob, u->media_id, u->content_type, &u->writer, err) != BLOB_OK) {
        log_msg(LOG_ERROR, "media", "upload %s: %s", u->media_id, err);
        free(u);
        return send_error(c, MHD_HTTP_BAD_GATEWAY, "backend_error", "storage backend failed");
    }
    metrics_gauge_add(METRIC_ACTIVE_UPLOADS, 1);
    *con_cls = u;
    return MHD_YES;
}

/* Record a failure while receiving: drop the blob, answer at the end. */
static void upload_fail(upload_ctx *u, int status, const char *code, const char *msg)
{
    blob_writer_abort(u->writer);
    u->writer = NULL;
    if (!u->err_status) {
        u->err_status = status;
        u->err_code = code;
        snprintf(u->err_msg, sizeof u->err_msg, "%s", msg);
    }
}

static enum MHD_Result upload_data(upload_ctx *u, struct MHD_Connection *c, const char *data,
                                   size_t *size)
{
    size_t n = *size;
    *size = 0;
    if (u->err_status) {
        /* Already failed: libmicrohttpd 0.9.75 cannot answer before the body
         * ends, so read and drop the rest, up to a bound; a client that keeps
         * sending past it is disconnected without an answer. */
        u->discarded += n;
        return u->discarded > DISCARD_MAX ? MHD_NO : MHD_YES;
    }
    if (n > u->srv->cfg.max_size - u->received) {
        char msg[96];
        snprintf(msg, sizeof msg, "upload larger than %" PRIu64 " bytes", u->srv->cfg.max_size);
        upload_fail(u, MHD_HTTP_CONTENT_TOO_LARGE, "too_large", msg);
        u->discarded = n;
        return MHD_YES;
    }
    crypto_hash_sha256_update(&u->sha, (const unsigned char *)data, n);
    char err[BLOB_ERR_MAX];
    if (blob_writer_write(u->writer, data, n, err) != BLOB_OK) {
        log_msg(LOG_ERROR, "media", "upload %s: %s", u->media_id, err);
        upload_fail(u, MHD_HTTP_BAD_GATEWAY, "backend_error", "storage backend failed");
        return MHD_YES;
    }
    u->received += n;
    return MHD_YES;
}

/* The body is complete: verify, commit the blob, then store the record. */
static enum MHD_Result upload_finish(upload_ctx *u, struct MHD_Connection *c)
{
    if (u->err_status)
        return send_error(c, (unsigned)u->err_status, u->err_code, u->err_msg);
    if (u->received == 0) {
        upload_fail(u, MHD_HTTP_BAD_REQUEST, "bad_request", "empty upload");
        return send_error(c, MHD_HTTP_BAD_REQUEST, "bad_request", "empty upload");
    }
    store_media m = {0};
    crypto_hash_sha256_final(&u->sha, m.sha256);
    if (u->want_sha_set && sodium_memcmp(m.sha256, u->want_sha, STORE_SHA256_LEN) != 0) {
        upload_fail(u, 422, "hash_mismatch", "body does not match X-Parley-SHA256");
        return send_error(c, 422, "hash_mismatch", "body does not match X-Parley-SHA256");
    }
    char err[BLOB_ERR_MAX];
    int rc = blob_writer_commit(u->writer, err);
    u->writer = NULL;
    if (rc != BLOB_OK) {
        log_msg(LOG_ERROR, "media", "upload %s: commit: %s", u->media_id, err);
        return send_error(c, MHD_HTTP_BAD_GATEWAY, "backend_error", "storage backend failed");
    }
    m.media_id = u->media_id;
    m.owner = u->owner;
    m.size = u->received;
    m.content_type = u->content_type;
    m.backend_key = u->media_id;
    m.created_at = now_ms();
    m.expires_at = u->srv->cfg.retention_s > 0 ? m.created_at + u->srv->cfg.retention_s * 1000 : 0;
    store_t *s = thread_store(u->srv);
    rc = s ? store_media_put(s, &m) : STORE_EUNAVAIL;
    if (rc != STORE_OK) {
        log_msg(LOG_ERROR, "media", "upload %s: storing the record: %s", u->media_id,
                s ? store_last_error(s) : "no store");
        if (blob_remove(u->srv->cfg.blob, u->media_id, err) != BLOB_OK)
            log_msg(LOG_ERROR, "media", "upload %s: removing the blob: %s", u->media_id, err);
        return send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "store_unavailable", "store unavailable");
    }
    metrics_add(METRIC_UPLOADS, 1);
    metrics_add(METRIC_UPLOAD_BYTES, u->received);
    log_msg(LOG_INFO, "media", "stored %s (%" PRIu64 " bytes) for %s", u->media_id, u->received,
            u->owner);
    return send_json(c, MHD_HTTP_CREATED, media_json(&m));
}

static ssize_t download_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    download_ctx *d = cls;
    if (d->left == 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    char err[BLOB_ERR_MAX];
    ssize_t n = blob_reader_read(d->reader, buf, max, err);
    if (n <= 0) {
        log_msg(LOG_ERROR, "media", "download: %s", n < 0 ? err : "object ended early");
        metrics_error("backend_error");
        return MHD_CONTENT_READER_END_WITH_ERROR;
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

static enum MHD_Result handle_download(server *srv, struct MHD_Connection *c, const store_media *m)
{
    uint64_t off = 0, len = m->size;
    const char *range = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_RANGE);
    range_rc rr = parse_range(range, m->size, &off, &len);
    char cr[96];
    if (rr == RANGE_UNSATISFIABLE) {
        metrics_error("range_not_satisfiable");
        json_t *doc = json_pack("{s:s,s:s}", "error", "range_not_satisfiable", "message",
                                "range outside the object");
        char *text = json_dumps(doc, JSON_COMPACT);
        json_decref(doc);
        if (!text)
            return MHD_NO;
        struct MHD_Response *r =
            MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
        if (!r) {
            free(text);
            return MHD_NO;
        }
        snprintf(cr, sizeof cr, "bytes */%" PRIu64, m->size);
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_RANGE_NOT_SATISFIABLE, r);
        MHD_destroy_response(r);
        return ret;
    }
    download_ctx *d = calloc(1, sizeof *d);
    if (!d)
        return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
    char err[BLOB_ERR_MAX];
    int rc = blob_reader_open(srv->cfg.blob, m->backend_key, off, len, &d->reader, err);
    if (rc != BLOB_OK) {
        free(d);
        log_msg(LOG_ERROR, "media", "download %s: %s", m->media_id, err);
        return send_error(c, MHD_HTTP_BAD_GATEWAY, "backend_error", "storage backend failed");
    }
    d->left = len;
    metrics_gauge_add(METRIC_ACTIVE_DOWNLOADS, 1);
    struct MHD_Response *r =
        MHD_create_response_from_callback(len, DOWNLOAD_BLOCK, download_read, d, download_free);
    if (!r) {
        download_free(d);
        return MHD_NO;
    }
    char etag[2 * STORE_SHA256_LEN + 3];
    etag[0] = '"';
    hex(m->sha256, sizeof m->sha256, etag + 1);
    strcat(etag, "\"");
    MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, etag);
    MHD_add_response_header(r, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            m->content_type ? m->content_type : DEFAULT_CONTENT_TYPE);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "private, no-store");
    unsigned status = MHD_HTTP_OK;
    if (rr == RANGE_OK) {
        snprintf(cr, sizeof cr, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, off, off + len - 1,
                 m->size);
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
        status = MHD_HTTP_PARTIAL_CONTENT;
    }
    metrics_add(METRIC_DOWNLOADS, 1);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result handle_delete(server *srv, struct MHD_Connection *c, store_t *s,
                                     const store_media *m, const char *user)
{
    if (strcmp(m->owner, user) != 0)
        return send_error(c, MHD_HTTP_FORBIDDEN, "forbidden", "only the owner may delete media");
    char err[BLOB_ERR_MAX];
    if (blob_remove(srv->cfg.blob, m->backend_key, err) != BLOB_OK) {
        log_msg(LOG_ERROR, "media", "delete %s: %s", m->media_id, err);
        return send_error(c, MHD_HTTP_BAD_GATEWAY, "backend_error", "storage backend failed");
    }
    int rc = store_media_delete(s, m->media_id);
    if (rc != STORE_OK && rc != STORE_ENOTFOUND) {
        log_msg(LOG_ERROR, "media", "delete %s: %s", m->media_id, store_last_error(s));
        return send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "store_unavailable", "store unavailable");
    }
    metrics_add(METRIC_DELETES, 1);
    log_msg(LOG_INFO, "media", "deleted %s by %s", m->media_id, user);
    return send_text(c, MHD_HTTP_NO_CONTENT, "application/json", (char *)"", 0,
                     MHD_RESPMEM_PERSISTENT);
}

/* /v1/media/{id}[/download]: GET metadata, GET download, DELETE. */
static enum MHD_Result handle_media(server *srv, struct MHD_Connection *c, const char *method,
                                    const char *rest)
{
    const char *slash = strchr(rest, '/');
    size_t idlen = slash ? (size_t)(slash - rest) : strlen(rest);
    bool download = slash && strcmp(slash, "/download") == 0;
    if (slash && !download)
        return send_error(c, MHD_HTTP_NOT_FOUND, "not_found", "no such endpoint");
    bool is_get = strcmp(method, MHD_HTTP_METHOD_GET) == 0;
    bool is_del = strcmp(method, MHD_HTTP_METHOD_DELETE) == 0;
    if (!is_get && !(is_del && !download))
        return send_405(c, download ? "GET" : "GET, DELETE");
    store_t *s = thread_store(srv);
    if (!s)
        return send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "store_unavailable", "store unavailable");
    enum MHD_Result ret;
    char user[IDS_USER_MAX + 1];
    if (!authenticate(c, s, user, &ret))
        return ret;
    if (!valid_media_id(rest, idlen))
        return send_error(c, MHD_HTTP_NOT_FOUND, "not_found", "no such media");
    char id[IDS_SERVER_ID_LEN + 1];
    memcpy(id, rest, idlen);
    id[idlen] = '\0';
    store_media m = {0};
    int rc = store_media_get(s, id, &m);
    if (rc == STORE_ENOTFOUND)
        return send_error(c, MHD_HTTP_NOT_FOUND, "not_found", "no such media");
    if (rc != STORE_OK)
        return send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "store_unavailable", "store unavailable");
    if (is_del)
        ret = handle_delete(srv, c, s, &m, user);
    else if (download)
        ret = handle_download(srv, c, &m);
    else
        ret = send_json(c, MHD_HTTP_OK, media_json(&m));
    store_media_free(&m);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *data_size, void **con_cls)
{
    server *srv = cls;
    if (*con_cls) { /* an upload in progress */
        upload_ctx *u = *con_cls;
        if (*data_size > 0)
            return upload_data(u, c, data, data_size);
        return upload_finish(u, c);
    }
    http_guard_headers_done(c);
    if (!http_path_ok(url))
        return send_error(c, MHD_HTTP_BAD_REQUEST, "invalid_path",
                          "the path holds a control character (raw or percent-encoded)");
    if (strcmp(url, "/healthz") == 0)
        return strcmp(method, MHD_HTTP_METHOD_GET) == 0
                   ? handle_health(srv, c)
                   : send_405(c, "GET");
    if (strcmp(url, "/metrics") == 0)
        return strcmp(method, MHD_HTTP_METHOD_GET) == 0
                   ? handle_metrics(srv, c)
                   : send_405(c, "GET");
    if (strcmp(url, MEDIA_PREFIX) == 0)
        return strcmp(method, MHD_HTTP_METHOD_POST) == 0
                   ? upload_begin(srv, c, con_cls)
                   : send_405(c, "POST");
    if (strncmp(url, MEDIA_PREFIX "/", sizeof MEDIA_PREFIX) == 0)
        return handle_media(srv, c, method, url + sizeof MEDIA_PREFIX);
    return send_error(c, MHD_HTTP_NOT_FOUND, "not_found", "no such endpoint");
}

/* After every request: an upload that did not commit leaves nothing behind. */
static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    upload_ctx *u = *con_cls;
    http_guard_request_done(c);
    if (!u)
        return;
    if (u->writer) {
        log_msg(LOG_WARN, "media", "upload %s cut off after %" PRIu64 " bytes; discarded",
                u->media_id, u->received);
        blob_writer_abort(u->writer);
    }
    metrics_gauge_add(METRIC_ACTIVE_UPLOADS, -1);
    sodium_memzero(u, sizeof *u);
    free(u);
    *con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    size_t n = strlen(buf);
    while (n > 0 && buf[n - 1] == '\n')
        buf[--n] = '\0';
    log_msg(LOG_WARN, "media", "http: %s", buf);
}

static int parse_listen(const char *listen, struct sockaddr_in *sa, char *err, size_t errlen)
{
    const char *colon = listen ? strrchr(listen, ':') : NULL;
    uint64_t port = 0;
    if (!colon || !parse_u64(colon + 1, strlen(colon + 1), &port) || port == 0 || port > 65535) {
        snprintf(err, errlen, "--listen wants HOST:PORT, got '%s'", listen ? listen : "");
        return -1;
    }
    char host[64];
    size_t hl = (size_t)(colon - listen);
    if (hl == 0 || hl >= sizeof host) {
        snprintf(err, errlen, "--listen: bad host in '%s'", listen);
        return -1;
    }
    memcpy(host, listen, hl);
    host[hl] = '\0';
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    if (strcmp(host, "localhost") == 0)
        strcpy(host, "127.0.0.1");
    if (inet_pton(AF_INET, host, &sa->sin_addr) != 1) {
        snprintf(err, errlen, "--listen: '%s' is not an IPv4 address", host);
        return -1;
    }
    return 0;
}

int server_start(const server_config *cfg, server **out, char *err, size_t errlen)
{
    *out = NULL;
    struct sockaddr_in sa;
    if (parse_listen(cfg->listen, &sa, err, errlen) != 0)
        return -1;
    server *srv = calloc(1, sizeof *srv);
    if (!srv) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    srv->cfg = *cfg;
    http_guard_config gc = {.per_ip_connections = cfg->conns_per_ip,
                            .header_timeout_ms = cfg->header_timeout_s * 1000u,
                            .component = "media"};
    if (!(srv->guard = http_guard_new(&gc))) {
        snprintf(err, errlen, "cannot set up the connection guard");
        free(srv);
        return -1;
    }
    srv->daemon = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG,
        0, http_guard_accept, srv->guard, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER,
        on_mhd_log, srv, MHD_OPTION_NOTIFY_CONNECTION, http_guard_notify, srv->guard,
        MHD_OPTION_UNESCAPE_CALLBACK, http_guard_unescape, srv->guard,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)512, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(256 * 1024), MHD_OPTION_END);
    if (!srv->daemon) {
        snprintf(err, errlen, "cannot listen on %s: %s", cfg->listen, strerror(errno));
        http_guard_free(srv->guard);
        free(srv);
        return -1;
    }
    *out = srv;
    return 0;
}

void server_stop(server *srv)
{
    if (!srv)
        return;
    MHD_stop_daemon(srv->daemon);
    http_guard_free(srv->guard);
    free(srv);
}
