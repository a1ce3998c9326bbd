/*
 * media_api.c - libparley's public media calls (parley/media.h): glue
 * between media_file.c (encrypt + upload, download + verify + decrypt) and
 * the client's send path and local store (MediaRef inside Content).
 */
#include "parley_int.h"
#include "lstore.h"
#include "media_file.h"
#include "parley/media.h"
#include "token.h"
#include "transport.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "e2e.pb-c.h"

/* Map a media_rc to a parley_rc, recording the reason on c. */
static int media_fail(parley_client *c, int rc, const char *what, const char *err)
{
    int prc;
    switch (rc) {
    case MEDIA_ENET: prc = PARLEY_ENET; break;
    case MEDIA_ETLS: prc = PARLEY_ETLS; break;
    case MEDIA_EHTTP: prc = PARLEY_EREFUSED; break;
    case MEDIA_EHASH:
    case MEDIA_EAUTH: prc = PARLEY_ECRYPTO; break;
    case MEDIA_ENOMEM: prc = PARLEY_ENOMEM; break;
    default: prc = PARLEY_EINVAL; break;
    }
    return util__fail(c, prc, "%s: %s (%s)", what, media_strerror(rc), err);
}

/* A media token (audience "media"); PARLEY_OK or an error recorded on c. */
static int media_token(parley_client *c, char *tok, size_t len)
{
    if (!c->media_url[0])
        return util__fail(c, PARLEY_EINVAL, "no media gateway URL (--media or PARLEY_MEDIA_URL)");
    if (transport_http_kind(c->media_url) == TRANSPORT_BAD)
        return util__fail(c, PARLEY_EINVAL,
                          "bad media gateway URL %s: use http:// or https:// "
                          "followed by HOST:PORT",
                          c->media_url);
    return parley_token(c, "media", NULL, 0, tok, len);
}

void parley_set_media_progress(parley_client *c, parley_progress_fn fn, void *ud)
{
    c->media_progress = fn;
    c->media_progress_ud = ud;
}

/* The ciphertext size of a plaintext of n bytes (media_crypto.h: a header,
 * then one record of MEDIA_CHUNK + ABYTES per chunk, at least one). */
static uint64_t encrypted_size(uint64_t n)
{
    uint64_t records = n ? (n + MEDIA_CHUNK - 1) / MEDIA_CHUNK : 1;
    return crypto_secretstream_xchacha20poly1305_HEADERBYTES + n +
           records * crypto_secretstream_xchacha20poly1305_ABYTES;
}

/* Refuse a file the gateway would refuse, before encrypting or uploading it.
 * A gateway without GET /v1/limits (older) is not asked again: it refuses
 * an oversized upload from its headers. */
static int check_size(parley_client *c, const char *path)
{
    struct stat st;
    char err[MEDIA_ERR_MAX];
    uint64_t max = 0;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return util__fail(c, PARLEY_EINVAL, "send-file: %s: %s", path,
                          errno ? strerror(errno) : "not a regular file");
    int rc = media_limits(c->media_url, c->ca_file, &max, err);
    if (rc == MEDIA_ENET || rc == MEDIA_ETLS)
        return media_fail(c, rc, "send-file", err);
    uint64_t need = encrypted_size((uint64_t)st.st_size);
    if (rc == MEDIA_OK && need > max)
        return util__fail(c, PARLEY_EREFUSED,
                          "send-file: %s is too large: %llu bytes (%llu encrypted), the media "
                          "gateway accepts at most %llu; nothing was uploaded",
                          path, (unsigned long long)st.st_size, (unsigned long long)need,
                          (unsigned long long)max);
    return PARLEY_OK;
}

int parley_send_file(parley_client *c, const char *to, const char *path, const char *content_type,
                     char *client_msg_id)
{
    char tok[TOKEN_MAX_LEN], err[MEDIA_ERR_MAX];
    media_ref ref;
    int ret;

    if (!path || !to)
        return util__fail(c, PARLEY_EINVAL, "send-file: recipient and file are required");
    if ((ret = media_token(c, tok, sizeof tok)) != PARLEY_OK)
        return ret;
    errno = 0;
    if ((ret = check_size(c, path)) != PARLEY_OK) {
        sodium_memzero(tok, sizeof tok);
        return ret;
    }
    media_progress prog = {c->media_progress, c->media_progress_ud};
    ret = media_send_file(c->media_url, c->ca_file, tok, path, content_type, prog.fn ? &prog : NULL,
                          &ref, err);
    if (ret != MEDIA_OK) {
        sodium_memzero(tok, sizeof tok);
        return media_fail(c, ret, "send-file", err);
    }

    Parley__E2e__V1__MediaRef mr = PARLEY__E2E__V1__MEDIA_REF__INIT;
    mr.media_id = ref.media_id;
    mr.key.data = ref.key;
    mr.key.len = sizeof ref.key;
    mr.sha256.data = ref.sha256;
    mr.sha256.len = sizeof ref.sha256;
    mr.size = ref.size;
    mr.content_type = ref.content_type;
    mr.file_name = ref.file_name;
    Parley__E2e__V1__Content ct = PARLEY__E2E__V1__CONTENT__INIT;
    ct.text = (char *)"";
    ct.media = &mr;
    char plain[MEDIA_FILE_NAME_MAX + 64];
    snprintf(plain, sizeof plain, "[file %s]", ref.file_name);
    ret = send__content(c, to, &ct, plain, client_msg_id);
    if (ret != PARLEY_OK) {
        /* Nobody can ever reference it: do not leave the object behind (if
         * even this fails, the gateway's retention removes it in time). */
        char derr[MEDIA_ERR_MAX];
        if (media_delete(c->media_url, c->ca_file, tok, ref.media_id, derr) != MEDIA_OK)
            derr[0] = '\0'; /* the send error below is what the caller needs */
    }
    media_ref_wipe(&ref);
    sodium_memzero(tok, sizeof tok);
    return ret;
}

/* Lookup of a message id (server or client) among the local chats. */
typedef struct {
    parley_client *c;
    const char *id;
    char media_id[MEDIA_ID_MAX + 1];
} find_ctx;

static int find_msg(void *ud, const lstore_msg *m)
{
    find_ctx *f = ud;
    if (!m->media_id)
        return 0;
    if ((m->server_id && strcmp(m->server_id, f->id) == 0) ||
        (m->client_msg_id && strcmp(m->client_msg_id, f->id) == 0)) {
        snprintf(f->media_id, sizeof f->media_id, "%s", m->media_id);
        return 1;
    }
    return 0;
}

static int find_chat(void *ud, const parley_chat *chat)
{
    find_ctx *f = ud;
    lstore_msg_each(f->c->store, chat->chat_id, find_msg, f);
    return f->media_id[0] != '\0';
}

/* The MediaRef stored with a message carrying media id (or message id). */
static int load_ref(parley_client *c, const char *id, media_ref *ref)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int found = lstore_msg_media(c->store, id, &buf, &len);
    if (found == 0) { /* perhaps a message id */
        find_ctx f = {.c = c, .id = id};
        parley_chats(c, find_chat, &f);
        if (f.media_id[0])
            found = lstore_msg_media(c->store, f.media_id, &buf, &len);
    }
    if (found < 0)
        return util__fail(c, PARLEY_ESTORE, "local store: %s", lstore_error(c->store));
    if (found == 0)
        return util__fail(c, PARLEY_ENOTFOUND, "no message with media '%s' in the local store", id);
    Parley__E2e__V1__MediaRef *mr = parley__e2e__v1__media_ref__unpack(NULL, len, buf);
    sodium_memzero(buf, len);
    free(buf);
    int ret = PARLEY_OK;
    if (!mr || !mr->media_id || mr->key.len != MEDIA_KEY_LEN ||
        mr->sha256.len != MEDIA_SHA256_LEN) {
        ret = util__fail(c, PARLEY_ECRYPTO, "malformed media reference for '%s'", id);
    } else {
        snprintf(ref->media_id, sizeof ref->media_id, "%s", mr->media_id);
        memcpy(ref->key, mr->key.data, MEDIA_KEY_LEN);
        memcpy(ref->sha256, mr->sha256.data, MEDIA_SHA256_LEN);
        ref->size = mr->size;
        snprintf(ref->content_type, sizeof ref->content_type, "%s",
                 mr->content_type ? mr->content_type : "");
        snprintf(ref->file_name, sizeof ref->file_name, "%s", mr->file_name ? mr->file_name : "");
        sodium_memzero(mr->key.data, mr->key.len);
    }
    if (mr)
        parley__e2e__v1__media_ref__free_unpacked(mr, NULL);
    return ret;
}

int parley_fetch_media(parley_client *c, const char *id, const char *out_path, char *saved,
                       size_t savedlen)
{
    char tok[TOKEN_MAX_LEN], err[MEDIA_ERR_MAX], name[MEDIA_FILE_NAME_MAX + 1];
    media_ref ref = {0};
    int ret;

    if (!id || !*id)
        return util__fail(c, PARLEY_EINVAL, "fetch: a media or message id is required");
    if ((ret = media_token(c, tok, sizeof tok)) != PARLEY_OK)
        return ret;
    if ((ret = load_ref(c, id, &ref)) != PARLEY_OK)
        goto done;
    if (!out_path) {
        /* The sender's file name, reduced to a harmless last path component. */
        const char *base = strrchr(ref.file_name, '/');
        snprintf(name, sizeof name, "%s", base ? base + 1 : ref.file_name);
        if (!name[0] || name[0] == '.')
            snprintf(name, sizeof name, "%s", ref.media_id);
        struct stat st;
        if (stat(name, &st) == 0) {
            ret = util__fail(c, PARLEY_EEXIST, "fetch: %s exists (use --out)", name);
            goto done;
        }
        out_path = name;
    }
    ret = media_fetch_file(c->media_url, c->ca_file, tok, &ref, out_path, err);
    if (ret != MEDIA_OK) {
        ret = media_fail(c, ret, "fetch", err);
        goto done;
    }
    if (saved && savedlen)
        snprintf(saved, savedlen, "%s", out_path);
    ret = PARLEY_OK;
done:
    media_ref_wipe(&ref);
    sodium_memzero(tok, sizeof tok);
    return ret;
}
