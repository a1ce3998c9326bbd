/*
 * media_file.h - sending and fetching a media file in one call: the glue
 * between the MediaRef of an end-to-end message (proto/e2e.proto) and the
 * media gateway. media_send_file() = encrypt (media_crypto.h) + upload
 * (media_http.h); media_fetch_file() = download with resume + verify +
 * decrypt. The caller maps media_ref to and from the MediaRef protobuf.
 */
#ifndef PARLEY_MEDIA_FILE_H
#define PARLEY_MEDIA_FILE_H

#include "media_crypto.h"
#include "media_http.h"

#define MEDIA_FILE_NAME_MAX 255

/* The fields of a MediaRef. key is secret: wipe with media_ref_wipe(). */
typedef struct {
    char media_id[MEDIA_ID_MAX + 1];
    uint8_t key[MEDIA_KEY_LEN];
    uint8_t sha256[MEDIA_SHA256_LEN];  /* of the ciphertext */
    uint64_t size;                     /* plaintext bytes */
    char content_type[MEDIA_CTYPE_MAX + 1];
    char file_name[MEDIA_FILE_NAME_MAX + 1];
} media_ref;

/* Zero a media_ref (its key above all). NULL is fine. */
void media_ref_wipe(media_ref *r);

/*
 * Encrypt the file at path under a fresh key into a temporary file (in
 * $TMPDIR or /tmp, removed before returning), upload it, and fill *ref
 * (file_name = the base name of path; content_type as given, default
 * application/octet-stream). progress (may be NULL) follows the upload. On
 * error *ref is wiped and err says why.
 */
int media_send_file(const char *base_url, const char *ca_file, const char *token, const char *path,
                    const char *content_type, const media_progress *progress, media_ref *ref,
                    char *err) __attribute__((warn_unused_result));

/*
 * Download ref's ciphertext into "<out_path>.download" (resuming from what
 * an earlier interrupted call left there), verify its SHA-256, decrypt it
 * to out_path (written only if everything verifies, and only if the
 * plaintext has ref->size bytes), then remove the ciphertext. After a
 * network failure the partial ciphertext is kept for the next call.
 */
int media_fetch_file(const char *base_url, const char *ca_file, const char *token,
                     const media_ref *ref, const char *out_path, char *err)
    __attribute__((warn_unused_result));

#endif
