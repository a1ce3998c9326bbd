/*
 * media_crypto.h - client-side media encryption (DESIGN: "Media").
 *
 * A file is encrypted under a fresh random key with libsodium's
 * crypto_secretstream_xchacha20poly1305, streaming: the 24-byte stream
 * header, then one encrypted record per MEDIA_CHUNK bytes of plaintext
 * (MEDIA_CHUNK + 17 bytes each; the last one, possibly shorter or empty,
 * carries TAG_FINAL). The SHA-256 of the ciphertext is computed on the fly;
 * key and hash travel inside the end-to-end message (MediaRef), the gateway
 * only ever sees ciphertext.
 *
 * These functions never print or log keys. Callers wipe keys they hold with
 * sodium_memzero() once done. sodium_init() must have been called.
 */
#ifndef PARLEY_MEDIA_CRYPTO_H
#define PARLEY_MEDIA_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define MEDIA_KEY_LEN 32
#define MEDIA_SHA256_LEN 32
#define MEDIA_CHUNK (64 * 1024)
#define MEDIA_ERR_MAX 256

typedef enum {
    MEDIA_OK = 0,
    MEDIA_EIO = -1,         /* file system error */
    MEDIA_EHASH = -2,       /* ciphertext hash differs from the expected one */
    MEDIA_EAUTH = -3,       /* ciphertext tampered with, truncated or extended */
    MEDIA_EHTTP = -4,       /* gateway refused or failed (message holds the reason) */
    MEDIA_ENET = -5,        /* gateway unreachable / transfer failed */
    MEDIA_EINVAL = -6,      /* bad argument */
    MEDIA_ENOMEM = -7,
    MEDIA_ETLS = -8,        /* the gateway's TLS certificate failed verification */
} media_rc;

/* Short static description of a media_rc. */
const char *media_strerror(int rc);

/*
 * Encrypt the file in_path into out_path (created or truncated) under a new
 * random key. On MEDIA_OK: key (MEDIA_KEY_LEN bytes, secret), sha256 of the
 * ciphertext, *plain_size and *cipher_size are set. On error out_path is
 * removed, key is zeroed, and err holds a reason (MEDIA_ERR_MAX bytes).
 */
int media_encrypt_file(const char *in_path, const char *out_path, uint8_t key[MEDIA_KEY_LEN],
                       uint8_t sha256[MEDIA_SHA256_LEN], uint64_t *plain_size,
                       uint64_t *cipher_size, char *err) __attribute__((warn_unused_result));

/* SHA-256 of a file's content (streaming). */
int media_sha256_file(const char *path, uint8_t sha256[MEDIA_SHA256_LEN], uint64_t *size, char *err)
    __attribute__((warn_unused_result));

/*
 * Verify and decrypt: the ciphertext in in_path must hash to sha256
 * (MEDIA_EHASH otherwise; pass NULL to skip), and decrypt and authenticate
 * completely under key (MEDIA_EAUTH otherwise: tampered, truncated, or data
 * after the final record). The plaintext is written to a temporary file
 * next to out_path and renamed onto out_path only on success, so a failed
 * decryption never leaves partial plaintext behind. *plain_size may be NULL.
 */
int media_decrypt_file(const char *in_path, const char *out_path, const uint8_t key[MEDIA_KEY_LEN],
                       const uint8_t *sha256, uint64_t *plain_size, char *err)
    __attribute__((warn_unused_result));

#endif
