/*
 * media_crypto.c - streaming media encryption/decryption with
 * crypto_secretstream_xchacha20poly1305 (media_crypto.h).
 */
#include "media_crypto.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REC_LEN (MEDIA_CHUNK + crypto_secretstream_xchacha20poly1305_ABYTES)

const char *media_strerror(int rc)
{
    switch (rc) {
    case MEDIA_OK: return "ok";
    case MEDIA_EIO: return "file error";
    case MEDIA_EHASH: return "ciphertext hash mismatch";
    case MEDIA_EAUTH: return "ciphertext failed authentication";
    case MEDIA_EHTTP: return "media gateway refused the request";
    case MEDIA_ENET: return "media gateway unreachable or transfer failed";
    case MEDIA_EINVAL: return "invalid argument";
    case MEDIA_ENOMEM: return "out of memory";
    case MEDIA_ETLS: return "media gateway certificate failed verification";
    default: return "unknown media error";
    }
}

static int io_err(char *err, const char *what, const char *path)
{
    snprintf(err, MEDIA_ERR_MAX, "%s %.160s: %s", what, path, strerror(errno));
    return MEDIA_EIO;
}

/* Read up to n bytes (fewer only at end of file). */
static size_t read_full(FILE *f, uint8_t *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        size_t k = fread(buf + got, 1, n - got, f);
        if (k == 0)
            break;
        got += k;
    }
    return got;
}

int media_encrypt_file(const char *in_path, const char *out_path, uint8_t key[MEDIA_KEY_LEN],
                       uint8_t sha256[MEDIA_SHA256_LEN], uint64_t *plain_size,
                       uint64_t *cipher_size, char *err)
{
    int rc = MEDIA_EIO;
    FILE *in = NULL, *out = NULL;
    uint8_t *plain = NULL, *cipher = NULL;
    crypto_secretstream_xchacha20poly1305_state st;
    crypto_hash_sha256_state hs;
    uint8_t header[crypto_secretstream_xchacha20poly1305_HEADERBYTES];
    uint64_t psize = 0, csize = 0;

    plain = malloc(MEDIA_CHUNK);
    cipher = malloc(REC_LEN);
    if (!plain || !cipher) {
        rc = MEDIA_ENOMEM;
        goto fail;
    }
    if (!(in = fopen(in_path, "rb"))) {
        rc = io_err(err, "open", in_path);
        goto fail;
    }
    if (!(out = fopen(out_path, "wb"))) {
        rc = io_err(err, "create", out_path);
        goto fail;
    }
    crypto_secretstream_xchacha20poly1305_keygen(key);
    crypto_secretstream_xchacha20poly1305_init_push(&st, header, key);
    crypto_hash_sha256_init(&hs);
    crypto_hash_sha256_update(&hs, header, sizeof header);
    if (fwrite(header, 1, sizeof header, out) != sizeof header) {
        rc = io_err(err, "write", out_path);
        goto fail;
    }
    csize = sizeof header;
    for (;;) {
        size_t n = read_full(in, plain, MEDIA_CHUNK);
        if (ferror(in)) {
            rc = io_err(err, "read", in_path);
            goto fail;
        }
        /* A full chunk is final only if nothing follows it. */
        int c = n == MEDIA_CHUNK ? getc(in) : EOF;
        if (c != EOF)
            ungetc(c, in);
        unsigned char tag = c == EOF ? crypto_secretstream_xchacha20poly1305_TAG_FINAL : 0;
        unsigned long long clen = 0;
        crypto_secretstream_xchacha20poly1305_push(&st, cipher, &clen, plain, n, NULL, 0, tag);
        crypto_hash_sha256_update(&hs, cipher, (unsigned long long)clen);
        if (fwrite(cipher, 1, (size_t)clen, out) != (size_t)clen) {
            rc = io_err(err, "write", out_path);
            goto fail;
        }
        psize += n;
        csize += clen;
        if (tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL)
            break;
    }
    if (fflush(out) != 0 || fsync(fileno(out)) != 0) {
        rc = io_err(err, "write", out_path);
        goto fail;
    }
    if (fclose(out) != 0) {
        out = NULL;
        rc = io_err(err, "close", out_path);
        goto fail;
    }
    out = NULL;
    crypto_hash_sha256_final(&hs, sha256);
    *plain_size = psize;
    *cipher_size = csize;
    rc = MEDIA_OK;
    goto done;
fail:
    sodium_memzero(key, MEDIA_KEY_LEN);
    if (out)
        fclose(out);
    out = NULL;
    unlink(out_path);
done:
    if (in)
        fclose(in);
    sodium_memzero(&st, sizeof st);
    if (plain) {
        sodium_memzero(plain, MEDIA_CHUNK);
        free(plain);
    }
    free(cipher);
    return rc;
}

int media_sha256_file(const char *path, uint8_t sha256[MEDIA_SHA256_LEN], uint64_t *size, char *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return io_err(err, "open", path);
    uint8_t *buf = malloc(MEDIA_CHUNK);
    if (!buf) {
        fclose(f);
        return MEDIA_ENOMEM;
    }
    crypto_hash_sha256_state hs;
    crypto_hash_sha256_init(&hs);
    uint64_t total = 0;
    size_t n;
    while ((n = fread(buf, 1, MEDIA_CHUNK, f)) > 0) {
        crypto_hash_sha256_update(&hs, buf, n);
        total += n;
    }
    int rc = ferror(f) ? io_err(err, "read", path) : MEDIA_OK;
    fclose(f);
    free(buf);
    if (rc == MEDIA_OK) {
        crypto_hash_sha256_final(&hs, sha256);
        if (size)
            *size = total;
    }
    return rc;
}

int media_decrypt_file(const char *in_path, const char *out_path, const uint8_t key[MEDIA_KEY_LEN],
                       const uint8_t *sha256, uint64_t *plain_size, char *err)
{
    int rc = MEDIA_EIO;
    FILE *in = NULL, *out = NULL;
    uint8_t *plain = NULL, *cipher = NULL;
    char tmp[PATH_MAX];
    bool have_tmp = false;
    crypto_secretstream_xchacha20poly1305_state st;
    uint8_t header[crypto_secretstream_xchacha20poly1305_HEADERBYTES];
    uint64_t psize = 0;

    if (sha256) {
        uint8_t got[MEDIA_SHA256_LEN];
        if ((rc = media_sha256_file(in_path, got, NULL, err)) != MEDIA_OK)
            return rc;
        if (sodium_memcmp(got, sha256, MEDIA_SHA256_LEN) != 0) {
            snprintf(err, MEDIA_ERR_MAX, "%s: SHA-256 differs from the one in the message",
                     in_path);
            return MEDIA_EHASH;
        }
    }
    int tn = snprintf(tmp, sizeof tmp, "%s.partial-XXXXXX", out_path);
    if (tn < 0 || (size_t)tn >= sizeof tmp) {
        snprintf(err, MEDIA_ERR_MAX, "output path too long");
        return MEDIA_EINVAL;
    }
    plain = malloc(MEDIA_CHUNK);
    cipher = malloc(REC_LEN);
    if (!plain || !cipher) {
        rc = MEDIA_ENOMEM;
        goto fail;
    }
    if (!(in = fopen(in_path, "rb"))) {
        rc = io_err(err, "open", in_path);
        goto fail;
    }
    int fd = mkstemp(tmp);
    if (fd < 0) {
        rc = io_err(err, "create", tmp);
        goto fail;
    }
    have_tmp = true;
    if (!(out = fdopen(fd, "wb"))) {
        close(fd);
        rc = io_err(err, "open", tmp);
        goto fail;
    }
    if (read_full(in, header, sizeof header) != sizeof header ||
        crypto_secretstream_xchacha20poly1305_init_pull(&st, header, key) != 0) {
        snprintf(err, MEDIA_ERR_MAX, "%s: truncated stream header", in_path);
        rc = MEDIA_EAUTH;
        goto fail;
    }
    for (;;) {
        size_t n = read_full(in, cipher, REC_LEN);
        if (ferror(in)) {
            rc = io_err(err, "read", in_path);
            goto fail;
        }
        unsigned long long plen = 0;
        unsigned char tag = 0;
        if (n == 0) {
            snprintf(err, MEDIA_ERR_MAX, "%s: stream ends without its final record", in_path);
            rc = MEDIA_EAUTH;
            goto fail;
        }
        if (n < crypto_secretstream_xchacha20poly1305_ABYTES ||
            crypto_secretstream_xchacha20poly1305_pull(&st, plain, &plen, &tag, cipher, n, NULL,
                                                       0) != 0) {
            snprintf(err, MEDIA_ERR_MAX,
                     "%s: record %llu failed authentication (tampered or "
                     "truncated)",
                     in_path, (unsigned long long)(psize / MEDIA_CHUNK));
            rc = MEDIA_EAUTH;
            goto fail;
        }
        if (fwrite(plain, 1, (size_t)plen, out) != (size_t)plen) {
            rc = io_err(err, "write", tmp);
            goto fail;
        }
        psize += plen;
        if (tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL) {
            if (getc(in) != EOF) {
                snprintf(err, MEDIA_ERR_MAX, "%s: data after the final record", in_path);
                rc = MEDIA_EAUTH;
                goto fail;
            }
            break;
        }
        if (n < REC_LEN) { /* a short record that is not final: cut off */
            snprintf(err, MEDIA_ERR_MAX, "%s: stream ends without its final record", in_path);
            rc = MEDIA_EAUTH;
            goto fail;
        }
    }
    if (fflush(out) != 0 || fsync(fileno(out)) != 0) {
        rc = io_err(err, "write", tmp);
        goto fail;
    }
    int cr = fclose(out);
    out = NULL;
    if (cr != 0) {
        rc = io_err(err, "close", tmp);
        goto fail;
    }
    if (rename(tmp, out_path) != 0) {
        rc = io_err(err, "rename to", out_path);
        goto fail;
    }
    have_tmp = false;
    if (plain_size)
        *plain_size = psize;
    rc = MEDIA_OK;
fail:
    if (out)
        fclose(out);
    if (have_tmp)
        unlink(tmp);
    if (in)
        fclose(in);
    sodium_memzero(&st, sizeof st);
    if (plain) {
        sodium_memzero(plain, MEDIA_CHUNK);
        free(plain);
    }
    free(cipher);
    return rc;
}
