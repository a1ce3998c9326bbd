/*
 * upload.c - POST /v1/media, streamed (upload.h).
 */
#include "upload.h"

#include "blob.h"
#include "ids.h"
#include "log.h"
#include "metrics.h"
#include "objects.h"
#include "server.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONTENT_TYPE_MAX 127
#define DISCARD_MAX (64ull * 1024 * 1024) /* body bytes read and dropped after a failure */

/* State of an upload in progress (the request's state slot). */
typedef struct {
    blob_writer *writer;            /* non-NULL until committed or aborted */
    crypto_hash_sha256_state sha;
    uint64_t received;
    bool want_sha_set;
    uint8_t want_sha[STORE_SHA256_LEN];
    char media_id[IDS_SERVER_ID_LEN + 1];
    char owner[IDS_USER_MAX + 1];
    char content_type[CONTENT_TYPE_MAX + 1];
    uint64_t discarded;             /* body bytes dropped after a failure */
    unsigned err_status;            /* a failure seen while receiving, answered at the end */
    const char *err_code;
    char err_msg[BLOB_ERR_MAX + 64];
} upload_ctx;

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

void upload_begin(void *app, http_request *rq, http_reply *r)
{
    const server_config *cfg = app;
    const char *cl = http_request_header(rq, "Content-Length");
    uint64_t declared = 0;
    if (cl && !parse_u64(cl, strlen(cl), &declared)) {
        http_reply_error(r, 400, "bad_request", "bad Content-Length");
        return;
    }
    if (cl && declared > cfg->max_size) {
        http_reply_error(r, 413, "too_large", "upload larger than %" PRIu64 " bytes",
                         cfg->max_size);
        return;
    }
    if (!cl && !http_request_header(rq, "Transfer-Encoding")) {
        http_reply_error(r, 411, "bad_request", "Content-Length or chunked body required");
        return;
    }
    if (cl && declared == 0) {
        http_reply_error(r, 400, "bad_request", "empty upload");
        return;
    }
    const char *ct = http_request_header(rq, "Content-Type");
    if (ct && !valid_content_type(ct)) {
        http_reply_error(r, 400, "bad_request", "bad Content-Type");
        return;
    }
    upload_ctx *u = calloc(1, sizeof *u);
    if (!u) {
        http_reply_error(r, 500, "internal", "out of memory");
        return;
    }
    snprintf(u->owner, sizeof u->owner, "%s", http_request_user(rq));
    snprintf(u->content_type, sizeof u->content_type, "%s", ct ? ct : OBJECTS_DEFAULT_TYPE);
    const char *want = http_request_header(rq, "X-Parley-SHA256");
    if (want) {
        size_t bin_len = 0;
        if (strlen(want) != 2 * STORE_SHA256_LEN ||
            sodium_hex2bin(u->want_sha, sizeof u->want_sha, want, strlen(want), NULL, &bin_len,
                           NULL) != 0 ||
            bin_len != STORE_SHA256_LEN) {
            free(u);
            http_reply_error(r, 400, "bad_request", "X-Parley-SHA256 must be 64 hex digits");
            return;
        }
        u->want_sha_set = true;
    }
    ids_random(u->media_id);
    crypto_hash_sha256_init(&u->sha);
    char err[BLOB_ERR_MAX];
    if (blob_writer_begin(cfg->blob, u->media_id, u->content_type, &u->writer, err) != BLOB_OK) {
        log_msg(PARLEY_LOG_ERROR, "media", "upload %s: %s", u->media_id, err);
        free(u);
        http_reply_error(r, 502, "backend_error", "storage backend failed");
        return;
    }
    metrics_gauge_add(METRIC_ACTIVE_UPLOADS, 1);
    *http_request_state(rq) = u;
}

/* Record a failure while receiving: drop the blob, answer at the end. */
static void upload_fail(upload_ctx *u, unsigned status, const char *code, const char *msg)
{
    blob_writer_abort(u->writer);
    u->writer = NULL;
    if (!u->err_status) {
        u->err_status = status;
        u->err_code = code;
        snprintf(u->err_msg, sizeof u->err_msg, "%s", msg);
    }
}

bool upload_body(void *app, http_request *rq, const char *data, size_t n)
{
    const server_config *cfg = app;
    upload_ctx *u = *http_request_state(rq);
    if (u->err_status) {
        /* Already failed: libmicrohttpd 0.9.75 cannot answer before the body
         * ends, so read and drop the rest, up to a bound; a client that keeps
         * sending past it is disconnected without an answer. */
        u->discarded += n;
        return u->discarded <= DISCARD_MAX;
    }
    if (n > cfg->max_size - u->received) {
        char msg[96];
        snprintf(msg, sizeof msg, "upload larger than %" PRIu64 " bytes", cfg->max_size);
        upload_fail(u, 413, "too_large", msg);
        u->discarded = n;
        return true;
    }
    crypto_hash_sha256_update(&u->sha, (const unsigned char *)data, n);
    char err[BLOB_ERR_MAX];
    if (blob_writer_write(u->writer, data, n, err) != BLOB_OK) {
        log_msg(PARLEY_LOG_ERROR, "media", "upload %s: %s", u->media_id, err);
        upload_fail(u, 502, "backend_error", "storage backend failed");
        return true;
    }
    u->received += n;
    return true;
}

void upload_finish(void *app, http_request *rq, http_reply *r)
{
    const server_config *cfg = app;
    upload_ctx *u = *http_request_state(rq);
    if (u->err_status) {
        http_reply_error(r, u->err_status, u->err_code, "%s", u->err_msg);
        return;
    }
    if (u->received == 0) {
        upload_fail(u, 400, "bad_request", "empty upload");
        http_reply_error(r, 400, "bad_request", "empty upload");
        return;
    }
    store_media m = {0};
    crypto_hash_sha256_final(&u->sha, m.sha256);
    if (u->want_sha_set && sodium_memcmp(m.sha256, u->want_sha, STORE_SHA256_LEN) != 0) {
        upload_fail(u, 422, "hash_mismatch", "body does not match X-Parley-SHA256");
        http_reply_error(r, 422, "hash_mismatch", "body does not match X-Parley-SHA256");
        return;
    }
    char err[BLOB_ERR_MAX];
    int rc = blob_writer_commit(u->writer, err);
    u->writer = NULL;
    if (rc != BLOB_OK) {
        log_msg(PARLEY_LOG_ERROR, "media", "upload %s: commit: %s", u->media_id, err);
        http_reply_error(r, 502, "backend_error", "storage backend failed");
        return;
    }
    m.media_id = u->media_id;
    m.owner = u->owner;
    m.size = u->received;
    m.content_type = u->content_type;
    m.backend_key = u->media_id;
    m.created_at = clock_now_ms();
    m.expires_at = cfg->retention_s > 0 ? m.created_at + cfg->retention_s * 1000 : 0;
    store_t *s = http_request_store(rq);
    rc = s ? store_media_put(s, &m) : STORE_EUNAVAIL;
    if (rc != STORE_OK) {
        log_msg(PARLEY_LOG_ERROR, "media", "upload %s: storing the record: %s", u->media_id,
                s ? store_last_error(s) : "no store");
        if (blob_remove(cfg->blob, u->media_id, err) != BLOB_OK)
            log_msg(PARLEY_LOG_ERROR, "media", "upload %s: removing the blob: %s", u->media_id,
                    err);
        http_reply_store_error(r, rc, "storing the media record");
        return;
    }
    metrics_add(METRIC_UPLOADS, 1);
    metrics_add(METRIC_UPLOAD_BYTES, u->received);
    log_msg(PARLEY_LOG_INFO, "media", "stored %s (%" PRIu64 " bytes) for %s", u->media_id,
            u->received, u->owner);
    http_reply_json(r, 201, objects_json(&m));
}

void upload_done(void *app, http_request *rq)
{
    upload_ctx *u = *http_request_state(rq);
    if (!u)
        return;
    if (u->writer) {
        log_msg(PARLEY_LOG_WARN, "media", "upload %s cut off after %" PRIu64 " bytes; discarded",
                u->media_id, u->received);
        blob_writer_abort(u->writer);
    }
    metrics_gauge_add(METRIC_ACTIVE_UPLOADS, -1);
    sodium_memzero(u, sizeof *u);
    free(u);
    *http_request_state(rq) = NULL;
}
