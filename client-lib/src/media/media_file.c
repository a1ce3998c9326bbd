/*
 * media_file.c - one-call media send and fetch (media_file.h).
 */
#include "media_file.h"

#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void media_ref_wipe(media_ref *r)
{
    if (r)
        sodium_memzero(r, sizeof *r);
}

int media_send_file(const char *base_url, const char *ca_file, const char *token, const char *path,
                    const char *content_type, const media_progress *progress, media_ref *ref,
                    char *err)
{
    char tmp[PATH_MAX];
    const char *dir = getenv("TMPDIR");
    media_info info;
    uint64_t csize = 0;
    int rc;

    media_ref_wipe(ref);
    if (!base_url || !*base_url || !token || !path) {
        snprintf(err, MEDIA_ERR_MAX, "media gateway URL, token and file are required");
        return MEDIA_EINVAL;
    }
    int n = snprintf(tmp, sizeof tmp, "%s/parley-media-XXXXXX", dir && *dir ? dir : "/tmp");
    if (n < 0 || (size_t)n >= sizeof tmp) {
        snprintf(err, MEDIA_ERR_MAX, "TMPDIR too long");
        return MEDIA_EINVAL;
    }
    int fd = mkstemp(tmp);
    if (fd < 0) {
        snprintf(err, MEDIA_ERR_MAX, "cannot create a temporary file in %s", dir ? dir : "/tmp");
        return MEDIA_EIO;
    }
    close(fd);
    rc = media_encrypt_file(path, tmp, ref->key, ref->sha256, &ref->size, &csize, err);
    if (rc == MEDIA_OK)
        rc = media_upload(base_url, ca_file, token, tmp, content_type, ref->sha256, progress, &info,
                          err);
    unlink(tmp);
    if (rc == MEDIA_OK &&
        (info.size != csize || sodium_memcmp(info.sha256, ref->sha256, MEDIA_SHA256_LEN) != 0)) {
        snprintf(err, MEDIA_ERR_MAX, "the gateway stored something else than was sent");
        rc = MEDIA_EHTTP;
    }
    if (rc != MEDIA_OK) {
        media_ref_wipe(ref);
        return rc;
    }
    snprintf(ref->media_id, sizeof ref->media_id, "%s", info.media_id);
    snprintf(ref->content_type, sizeof ref->content_type, "%s",
             content_type && *content_type ? content_type : "application/octet-stream");
    const char *base = strrchr(path, '/');
    snprintf(ref->file_name, sizeof ref->file_name, "%s", base ? base + 1 : path);
    return MEDIA_OK;
}

int media_fetch_file(const char *base_url, const char *ca_file, const char *token,
                     const media_ref *ref, const char *out_path, char *err)
{
    char cipher[PATH_MAX];
    uint64_t plain = 0;
    if (!base_url || !*base_url || !token || !ref || !out_path) {
        snprintf(err, MEDIA_ERR_MAX, "media gateway URL, token, reference and output are required");
        return MEDIA_EINVAL;
    }
    int n = snprintf(cipher, sizeof cipher, "%s.download", out_path);
    if (n < 0 || (size_t)n >= sizeof cipher) {
        snprintf(err, MEDIA_ERR_MAX, "output path too long");
        return MEDIA_EINVAL;
    }
    int rc = media_download(base_url, ca_file, token, ref->media_id, cipher, ref->sha256, 3, NULL,
                            err);
    if (rc != MEDIA_OK)
        return rc; /* a partial download stays for the next call; a bad one is gone */
    rc = media_decrypt_file(cipher, out_path, ref->key, ref->sha256, &plain, err);
    if (rc == MEDIA_OK && plain != ref->size) {
        snprintf(err, MEDIA_ERR_MAX, "decrypted %llu bytes, the message announced %llu",
                 (unsigned long long)plain, (unsigned long long)ref->size);
        unlink(out_path);
        rc = MEDIA_EAUTH;
    }
    unlink(cipher);
    return rc;
}
