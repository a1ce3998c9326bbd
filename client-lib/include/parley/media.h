/*
 * parley/media.h - media messages in libparley (part of the public SDK;
 * design: docs/media.md). A file is encrypted on this device under a fresh
 * key, uploaded as ciphertext to the media gateway (PARLEY_MEDIA_URL), and
 * the reference (media id, key, ciphertext SHA-256, size, type, file name)
 * travels inside an end-to-end encrypted message. The gateway never sees
 * the key or the plaintext.
 */
#ifndef PARLEY_MEDIA_API_H
#define PARLEY_MEDIA_API_H

#include "parley/parley.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Follow uploads: fn(ud, done, total) as parley_send_file's ciphertext goes
 * out (total = its size). fn NULL: no progress (the default). */
PARLEY_API void parley_set_media_progress(parley_client *c, parley_progress_fn fn, void *ud);

/*
 * Encrypt and upload the file at path, then send a message carrying its
 * reference to `to` (a user id, or a "g:..." group chat id: like
 * parley_send_text, queued in the outbox and published when connected).
 * content_type may be NULL (application/octet-stream). client_msg_id
 * (optional, >= 65 bytes) receives the message's client id. Returns
 * PARLEY_OK, PARLEY_EINVAL (unreadable file, no media URL), PARLEY_ENET
 * (gateway unreachable), PARLEY_EREFUSED (gateway refused: bad token; or
 * too large: the file's encrypted size is checked against the gateway's
 * limit, GET /v1/limits, before anything is encrypted or uploaded; see
 * parley_last_error), or any error of parley_send_text. On an error after
 * the upload the uploaded object is deleted again.
 */
PARLEY_API int parley_send_file(parley_client *c, const char *to, const char *path,
                                const char *content_type, char *client_msg_id);

/*
 * Fetch the media of a received (or sent) message: id is the media id, or
 * the server id or client message id of a message in the local store that
 * carries media. The ciphertext is downloaded (resuming an interrupted
 * earlier fetch), checked against the SHA-256 in the message, decrypted and
 * checked for its size; only then written to out_path. out_path NULL: the
 * sender's file name (its last path component) in the current directory,
 * refused with PARLEY_EEXIST if that file exists. saved (optional,
 * savedlen bytes) receives the path written. Returns PARLEY_OK,
 * PARLEY_ENOTFOUND (no such media in the local store), PARLEY_ENET,
 * PARLEY_EREFUSED (gateway refused, e.g. deleted or expired), PARLEY_ECRYPTO
 * (hash or authentication failure: tampered or truncated), PARLEY_EEXIST,
 * PARLEY_ESTORE, PARLEY_EINVAL.
 */
PARLEY_API int parley_fetch_media(parley_client *c, const char *id, const char *out_path,
                                  char *saved, size_t savedlen);

#ifdef __cplusplus
}
#endif
#endif
