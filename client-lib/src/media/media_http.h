/*
 * media_http.h - the client side of the media gateway API (libcurl):
 * upload a ciphertext file, download one with resume (HTTP Range), read
 * metadata, delete. Independent of the MQTT code. Normative API:
 * docs/protocol.md, "Media gateway API".
 *
 * Every function takes the gateway base URL ("http://host:port" or
 * "https://host:port"), the CA file to trust for https:// (NULL: the
 * system trust store; transport.h) and a bearer token minted for client id
 * "media". curl_global_init() must have been called. Errors: MEDIA_EHTTP
 * with the gateway's {"error","message"} in err, MEDIA_ENET when the
 * gateway is unreachable or a transfer breaks, MEDIA_ETLS when its
 * certificate fails verification, MEDIA_EIO for local files.
 */
#ifndef PARLEY_MEDIA_HTTP_H
#define PARLEY_MEDIA_HTTP_H

#include "media_crypto.h"

#include <stdint.h>

#define MEDIA_ID_MAX 64
#define MEDIA_CTYPE_MAX 128

typedef struct {
    char media_id[MEDIA_ID_MAX + 1];
    uint64_t size;                      /* ciphertext bytes */
    uint8_t sha256[MEDIA_SHA256_LEN];   /* of the ciphertext */
    char content_type[MEDIA_CTYPE_MAX + 1];
    int64_t created_at;                 /* ms since the epoch */
    int64_t expires_at;                 /* 0 = never */
    long http_status;                   /* of the last response */
} media_info;

/* Transfer progress: fn(ud, bytes sent so far, total) as the body goes out. */
typedef struct {
    void (*fn)(void *ud, uint64_t done, uint64_t total);
    void *ud;
} media_progress;

/*
 * Upload the file at path (streamed, never read whole) with its SHA-256
 * (sent as X-Parley-SHA256 so the gateway refuses a corrupted transfer).
 * content_type may be NULL; progress may be NULL. On MEDIA_OK, *info
 * describes the stored object.
 */
int media_upload(const char *base_url, const char *ca_file, const char *token, const char *path,
                 const char *content_type, const uint8_t sha256[MEDIA_SHA256_LEN],
                 const media_progress *progress, media_info *info, char *err)
    __attribute__((warn_unused_result));

/* GET /v1/limits (no token): the largest upload the gateway accepts, in
 * ciphertext bytes. MEDIA_EHTTP from a gateway without the route; MEDIA_ENET
 * or MEDIA_ETLS (ca_file as for the other calls) when it cannot be reached. */
int media_limits(const char *base_url, const char *ca_file, uint64_t *max_size, char *err)
    __attribute__((warn_unused_result));

/* GET /v1/media/{id}: the object's metadata. */
int media_stat(const char *base_url, const char *ca_file, const char *token, const char *media_id,
               media_info *info, char *err) __attribute__((warn_unused_result));

/*
 * Download media_id into out_path. If out_path already holds a prefix of the
 * object (an interrupted earlier download), only the rest is requested
 * (Range: bytes=N-) and appended; a broken transfer is resumed the same way
 * up to max_attempts times. When sha256 is given, the complete file must hash
 * to it (MEDIA_EHASH otherwise, and the file is removed so the next attempt
 * starts over). *resumed_from (may be NULL) gets the offset of the first
 * request.
 */
int media_download(const char *base_url, const char *ca_file, const char *token,
                   const char *media_id, const char *out_path, const uint8_t *sha256,
                   int max_attempts, uint64_t *resumed_from, char *err)
    __attribute__((warn_unused_result));

/* DELETE /v1/media/{id} (owner only). */
int media_delete(const char *base_url, const char *ca_file, const char *token, const char *media_id,
                 char *err) __attribute__((warn_unused_result));

#endif
