/*
 * client.c - parley_open/close, the identity, tokens, registration, the
 * local-state queries. The network session lives in session.c.
 */
#include "client.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crypto/safety_number.h"
#include "e2e.pb-c.h"
#include "parley.pb-c.h"
#include "ids.h"
#include "ksclient.h"
#include "token.h"

#define IDENTITY_FILE "identity.key"
#define STORE_FILE "parley.db"

const char *parley_strerror(int rc)
{
    switch (rc) {
    case PARLEY_OK: return "success";
    case PARLEY_EINVAL: return "invalid argument";
    case PARLEY_ENOIDENT: return "no identity in this home (run: parley init USER)";
    case PARLEY_EEXIST: return "an identity already exists in this home";
    case PARLEY_ESTORE: return "local store failure";
    case PARLEY_ENET: return "server unreachable";
    case PARLEY_EREFUSED: return "refused by the server";
    case PARLEY_ETIMEOUT: return "timed out";
    case PARLEY_ENOMEM: return "out of memory";
    case PARLEY_ECRYPTO: return "cryptographic failure";
    case PARLEY_ENOTFOUND: return "not found";
    case PARLEY_ENOTCONN: return "not connected";
    default: return "unknown error";
    }
}

int64_t client__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t client__mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int client__fail(parley_client *c, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
    return rc;
}

void client__topic(parley_client *c, char *out, size_t outlen, const char *user, const char *leaf)
{
    (void)c;
    snprintf(out, outlen, "parley/u/%s/%s", user, leaf);
}

const char *parley_last_error(const parley_client *c)
{
    return c ? c->err : "no client";
}

static void pick(char *dst, size_t n, const char *flag, const char *env, const char *dflt)
{
    const char *e = env ? getenv(env) : NULL;
    snprintf(dst, n, "%s", flag && *flag ? flag : e && *e ? e : dflt);
}

/* mkdir -p with mode 0700 for every directory created. */
static int make_dirs(const char *path)
{
    char tmp[CLIENT_PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

/* Load the identity (user id, client id, key) if the home has one. */
static int load_identity(parley_client *c)
{
    char path[CLIENT_PATH_MAX + 32];
    int fd = -1, ret = PARLEY_ESTORE;

    int r1 = lstore_meta_get_str(c->store, "user_id", c->user, sizeof c->user);
    int r2 = lstore_meta_get_str(c->store, "client_id", c->client_id, sizeof c->client_id);
    if (r1 < 0 || r2 < 0)
        return client__fail(c, PARLEY_ESTORE, "%s", lstore_error(c->store));
    if (r1 == 0)
        return PARLEY_OK; /* no identity yet */
    snprintf(path, sizeof path, "%s/%s", c->home, IDENTITY_FILE);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        client__fail(c, PARLEY_ESTORE, "cannot read %s: %s", path, strerror(errno));
        goto fail;
    }
    if (read(fd, c->id_sk, sizeof c->id_sk) != (ssize_t)sizeof c->id_sk) {
        client__fail(c, PARLEY_ESTORE, "%s is truncated", path);
        goto fail;
    }
    crypto_sign_ed25519_sk_to_pk(c->id_pk, c->id_sk);
    c->has_identity = 1;
    ret = PARLEY_OK;

fail:
    if (fd >= 0)
        close(fd);
    if (ret != PARLEY_OK)
        sodium_memzero(c->id_sk, sizeof c->id_sk);
    return ret;
}

int parley_open(const parley_config *cfg, parley_client **out)
{
    parley_config dflt = {0};
    parley_client *c = NULL;
    char dbpath[CLIENT_PATH_MAX + 32], err[256];
    int rc;

    *out = NULL;
    if (!cfg)
        cfg = &dflt;
    if (sodium_init() < 0)
        return PARLEY_ECRYPTO;
    c = calloc(1, sizeof *c);
    if (!c)
        return PARLEY_ENOMEM;
    if (cfg->home && *cfg->home) {
        snprintf(c->home, sizeof c->home, "%s", cfg->home);
    } else if (getenv("PARLEY_HOME") && *getenv("PARLEY_HOME")) {
        snprintf(c->home, sizeof c->home, "%s", getenv("PARLEY_HOME"));
    } else if (getenv("HOME")) {
        snprintf(c->home, sizeof c->home, "%s/.parley", getenv("HOME"));
    } else {
        rc = PARLEY_EINVAL;
        goto fail;
    }
    pick(c->mqtt_url, sizeof c->mqtt_url, cfg->mqtt_url, "PARLEY_MQTT_URL", "tcp://127.0.0.1:1883");
    pick(c->keyserver_url, sizeof c->keyserver_url, cfg->keyserver_url, "PARLEY_KEYSERVER_URL",
         "http://127.0.0.1:8081");
    pick(c->media_url, sizeof c->media_url, cfg->media_url, "PARLEY_MEDIA_URL",
         "http://127.0.0.1:8082");
    c->transient = cfg->transient;
    if (make_dirs(c->home) != 0) {
        rc = PARLEY_ESTORE;
        goto fail;
    }
    snprintf(dbpath, sizeof dbpath, "%s/%s", c->home, STORE_FILE);
    c->store = lstore_open(dbpath, err, sizeof err);
    if (!c->store) {
        rc = PARLEY_ESTORE;
        goto fail;
    }
    rc = load_identity(c);
    if (rc != PARLEY_OK)
        goto fail;
    *out = c;
    return PARLEY_OK;

fail:
    parley_close(c);
    return rc;
}

void parley_close(parley_client *c)
{
    if (!c)
        return;
    if (c->mq) {
        conn_free(c->mq);
        c->mq = NULL;
    }
    for (int i = 0; i < CLIENT_REQ_MAX; i++) {
        if (c->reqs[i].response) /* a call's answer not collected (cannot happen today) */
            parley__v1__response__free_unpacked(c->reqs[i].response, NULL);
    }
    for (int i = 0; i < c->nheld; i++)
        free(c->held[i].payload);
    lstore_close(c->store);
    sodium_memzero(c->id_sk, sizeof c->id_sk);
    free(c);
}

void parley_set_callbacks(parley_client *c, const parley_callbacks *cb)
{
    if (cb)
        c->cb = *cb;
    else
        memset(&c->cb, 0, sizeof c->cb);
}

const char *parley_home(const parley_client *c)
{
    return c->home;
}

const char *parley_user_id(const parley_client *c)
{
    return c->has_identity ? c->user : NULL;
}

const char *parley_client_id(const parley_client *c)
{
    return c->has_identity ? c->client_id : NULL;
}

int parley_identity_create(parley_client *c, const char *user_id)
{
    char path[CLIENT_PATH_MAX + 32], rnd[IDS_SERVER_ID_LEN + 1];
    int fd = -1, ret = PARLEY_ESTORE;

    if (c->has_identity)
        return client__fail(c, PARLEY_EEXIST, "this home already holds the identity of %s", c->user);
    if (!ids_valid_user(user_id))
        return client__fail(c, PARLEY_EINVAL,
                            "invalid user id '%s' (1-64 characters of A-Z a-z 0-9 . _ -)",
                            user_id ? user_id : "");
    crypto_sign_keypair(c->id_pk, c->id_sk);
    snprintf(path, sizeof path, "%s/%s", c->home, IDENTITY_FILE);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        client__fail(c, PARLEY_EEXIST, "cannot create %s: %s", path, strerror(errno));
        ret = errno == EEXIST ? PARLEY_EEXIST : PARLEY_ESTORE;
        goto fail;
    }
    if (write(fd, c->id_sk, sizeof c->id_sk) != (ssize_t)sizeof c->id_sk || fsync(fd) != 0) {
        client__fail(c, PARLEY_ESTORE, "cannot write %s: %s", path, strerror(errno));
        unlink(path);
        goto fail;
    }
    /* A stable MQTT client id per home: the user id plus a random suffix. */
    ids_random(rnd);
    snprintf(c->client_id, sizeof c->client_id, "%s.%.12s", user_id, rnd);
    snprintf(c->user, sizeof c->user, "%s", user_id);
    if (lstore_begin(c->store) != 0 ||
        lstore_meta_set(c->store, "client_id", c->client_id, strlen(c->client_id)) != 0 ||
        lstore_meta_set(c->store, "user_id", c->user, strlen(c->user)) != 0 ||
        lstore_commit(c->store) != 0) {
        lstore_rollback(c->store);
        client__fail(c, PARLEY_ESTORE, "local store: %s", lstore_error(c->store));
        unlink(path);
        goto fail;
    }
    c->has_identity = 1;
    ret = PARLEY_OK;

fail:
    if (fd >= 0)
        close(fd);
    if (ret != PARLEY_OK) {
        sodium_memzero(c->id_sk, sizeof c->id_sk);
        c->user[0] = c->client_id[0] = 0;
    }
    return ret;
}

int parley_token(parley_client *c, const char *audience, const char *client_id, int lifetime_s,
                 char *out, size_t outlen)
{
    if (!c->has_identity)
        return client__fail(c, PARLEY_ENOIDENT, "%s", parley_strerror(PARLEY_ENOIDENT));
    int aud = token_audience_parse(audience ? audience : "mqtt");
    if (aud < 0)
        return client__fail(c, PARLEY_EINVAL, "unknown token audience '%s'", audience);
    if (lifetime_s <= 0)
        lifetime_s = TOKEN_DEFAULT_LIFETIME_S;
    if (lifetime_s > TOKEN_MAX_LIFETIME_S)
        return client__fail(c, PARLEY_EINVAL, "token lifetime above %d s", TOKEN_MAX_LIFETIME_S);
    int64_t exp = (int64_t)time(NULL) + lifetime_s;
    if (token_mint((token_audience)aud, c->user, client_id ? client_id : c->client_id, exp,
                   c->id_sk, out, outlen) != TOKEN_OK)
        return client__fail(c, PARLEY_EINVAL, "cannot mint a token for client id '%s'",
                            client_id ? client_id : c->client_id);
    return PARLEY_OK;
}

int parley_register(parley_client *c)
{
    if (!c->has_identity)
        return client__fail(c, PARLEY_ENOIDENT, "%s", parley_strerror(PARLEY_ENOIDENT));
    int rc = ksclient_put_identity(c->keyserver_url, c->user, c->id_pk, c->id_sk, NULL, c->err,
                                   sizeof c->err);
    if (rc != PARLEY_OK)
        return rc;
    /* When: the broker may refuse this identity for a moment (session.c). */
    if (lstore_meta_set_int(c->store, "registered_at", client__now_ms()) != 0)
        return client__fail(c, PARLEY_ESTORE, "local store: %s", lstore_error(c->store));
    return client__prekeys_maintain(c, 1);
}

#define KEY_CHANGE_DOMAIN "parley-key-change-v1\n"

/* Write sk to path (mode 0600, fsync'd). 0 or -1. */
static int write_key(const char *path, const uint8_t sk[64])
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    int ok = write(fd, sk, 64) == 64 && fsync(fd) == 0;
    close(fd);
    return ok ? 0 : -1;
}

int parley_identity_rotate(parley_client *c)
{
    uint8_t pk[32], sk[64], sig[64];
    uint8_t msg[sizeof KEY_CHANGE_DOMAIN + 65 + 32];
    char path[CLIENT_PATH_MAX + 32], tmp[CLIENT_PATH_MAX + 40];
    int ret;

    if (!c->has_identity)
        return client__fail(c, PARLEY_ENOIDENT, "%s", parley_strerror(PARLEY_ENOIDENT));
    snprintf(path, sizeof path, "%s/%s", c->home, IDENTITY_FILE);
    snprintf(tmp, sizeof tmp, "%s.new", path);
    crypto_sign_keypair(pk, sk);
    size_t n = (size_t)snprintf((char *)msg, sizeof msg, "%s%s\n", KEY_CHANGE_DOMAIN, c->user);
    memcpy(msg + n, pk, 32);
    crypto_sign_detached(sig, NULL, msg, n + 32, c->id_sk);
    /* The new key is on disk before the keyserver knows it: a crash leaves
     * identity.key.new behind, never an identity we cannot prove. */
    if (write_key(tmp, sk) != 0) {
        ret = client__fail(c, PARLEY_ESTORE, "cannot write %s: %s", tmp, strerror(errno));
        goto done;
    }
    ret = ksclient_put_identity(c->keyserver_url, c->user, pk, sk, sig, c->err, sizeof c->err);
    if (ret != PARLEY_OK) {
        unlink(tmp);
        goto done;
    }
    if (rename(tmp, path) != 0) {
        ret = client__fail(c, PARLEY_ESTORE, "the keyserver has the new key but %s could not "
                           "replace %s: %s", tmp, path, strerror(errno));
        goto done;
    }
    memcpy(c->id_pk, pk, 32);
    memcpy(c->id_sk, sk, 64);
    /* Sessions and prekeys belong to the old identity. */
    if (lstore_begin(c->store) != 0 || lstore_blob_clear(c->store, "session") != 0 ||
        lstore_blob_clear(c->store, "spk") != 0 || lstore_blob_clear(c->store, "otk") != 0 ||
        lstore_meta_set_int(c->store, "spk_current", 0) != 0 ||
        lstore_meta_set_int(c->store, "spk_previous", 0) != 0 ||
        lstore_meta_set_int(c->store, "keys_uploaded", 0) != 0 || lstore_commit(c->store) != 0) {
        lstore_rollback(c->store);
        ret = client__fail(c, PARLEY_ESTORE, "local store: %s", lstore_error(c->store));
        goto done;
    }
    ret = client__prekeys_maintain(c, 1);

done:
    sodium_memzero(sk, sizeof sk);
    return ret;
}

int parley_safety_number(parley_client *c, const char *peer, char *out, size_t outlen)
{
    uint8_t ik[32];
    char digits[SAFETY_NUMBER_DIGITS + 1], fmt[SAFETY_NUMBER_FORMATTED_LEN + 1];

    if (!c->has_identity)
        return client__fail(c, PARLEY_ENOIDENT, "%s", parley_strerror(PARLEY_ENOIDENT));
    if (!ids_valid_user(peer) || outlen < sizeof fmt)
        return client__fail(c, PARLEY_EINVAL, "invalid user id '%s'", peer ? peer : "");
    int known = lstore_contact_get(c->store, peer, ik);
    if (known < 0)
        return client__fail(c, PARLEY_ESTORE, "local store: %s", lstore_error(c->store));
    if (known == 0) {
        int rc = ksclient_get_identity(c->keyserver_url, peer, ik, c->err, sizeof c->err);
        if (rc != PARLEY_OK)
            return rc;
        client__note_identity(c, peer, ik);
    }
    if (safety_number_compute(c->user, c->id_pk, peer, ik, digits) != E2E_OK ||
        safety_number_format(digits, fmt) != E2E_OK)
        return client__fail(c, PARLEY_ECRYPTO, "cannot compute the safety number");
    snprintf(out, outlen, "%s", fmt);
    return PARLEY_OK;
}

int parley_direct_chat_id(parley_client *c, const char *peer, char *out, size_t outlen)
{
    if (!c->has_identity)
        return client__fail(c, PARLEY_ENOIDENT, "%s", parley_strerror(PARLEY_ENOIDENT));
    if (!ids_direct_chat(c->user, peer, out, outlen))
        return client__fail(c, PARLEY_EINVAL, "invalid peer '%s'", peer ? peer : "");
    return PARLEY_OK;
}

typedef struct {
    int (*fn)(void *ud, const parley_chat *chat);
    void *ud;
} chats_walk;

static int chats_each(void *ud, const lstore_chat *lc)
{
    chats_walk *w = ud;
    parley_chat pc = {
        .chat_id = lc->chat_id,
        .name = lc->name,
        .last_seq = lc->last_seq,
        .synced_seq = lc->synced_seq,
        .delivered_seq = lc->delivered_seq,
        .read_seq = lc->read_seq,
        .last_message_at = lc->last_message_at,
    };
    return w->fn(w->ud, &pc);
}

int parley_chats(parley_client *c, int (*fn)(void *ud, const parley_chat *chat), void *ud)
{
    chats_walk w = {fn, ud};
    if (lstore_chat_each(c->store, chats_each, &w) != 0)
        return client__fail(c, PARLEY_ESTORE, "local store: %s", lstore_error(c->store));
    return PARLEY_OK;
}

typedef struct {
    int (*fn)(void *ud, const parley_message *m);
    void *ud;
} history_walk;

static int history_each(void *ud, const lstore_msg *lm)
{
    history_walk *w = ud;
    int undecryptable = lm->status == LSTORE_MSG_UNDECRYPTABLE ||
                        lm->status == LSTORE_MSG_PENDING_KEY;
    Parley__E2e__V1__MediaRef *mref =
        lm->media_id && lm->media ? parley__e2e__v1__media_ref__unpack(NULL, lm->media_len, lm->media)
                                  : NULL;
    parley_message m = {
        .chat_id = lm->chat_id,
        .seq = lm->seq,
        .server_id = lm->server_id,
        .sender = lm->sender,
        .client_msg_id = lm->client_msg_id,
        .server_ts = lm->server_ts,
        .text = undecryptable || !lm->body ? "" : (const char *)lm->body,
        .text_len = undecryptable || !lm->body ? 0 : lm->body_len,
        .system = undecryptable ? -1 : lm->status == LSTORE_MSG_SYSTEM,
        .media_id = mref ? mref->media_id : NULL,
        .media_name = mref && mref->file_name ? mref->file_name : "",
        .media_type = mref && mref->content_type ? mref->content_type : "",
        .media_size = mref ? mref->size : 0,
    };
    int stop = w->fn(w->ud, &m);
    if (mref)
        parley__e2e__v1__media_ref__free_unpacked(mref, NULL);
    return stop;
}

int parley_history(parley_client *c, const char *chat_id,
                   int (*fn)(void *ud, const parley_message *m), void *ud)
{
    history_walk w = {fn, ud};
    if (!ids_valid_chat(chat_id))
        return client__fail(c, PARLEY_EINVAL, "invalid chat id '%s'", chat_id ? chat_id : "");
    if (lstore_msg_each(c->store, chat_id, history_each, &w) != 0)
        return client__fail(c, PARLEY_ESTORE, "local store: %s", lstore_error(c->store));
    return PARLEY_OK;
}

int parley_sent_status(parley_client *c, const char *client_msg_id, uint64_t *seq,
                       char *server_id, size_t server_id_len, char *chat_id, size_t chat_id_len)
{
    char sid[64], chat[160];
    uint64_t s = 0;
    if (!c->has_identity || !client_msg_id)
        return PARLEY_SENT_UNKNOWN;
    int own = lstore_msg_own(c->store, c->user, client_msg_id, &s, sid, sizeof sid, chat,
                             sizeof chat);
    if (own < 0)
        return client__fail(c, PARLEY_ESTORE, "local store: %s", lstore_error(c->store));
    if (own == 1) {
        if (seq)
            *seq = s;
        if (server_id)
            snprintf(server_id, server_id_len, "%s", sid);
        if (chat_id)
            snprintf(chat_id, chat_id_len, "%s", chat);
        return PARLEY_SENT_STORED;
    }
    int queued = lstore_outbox_has(c->store, client_msg_id);
    if (queued < 0)
        return client__fail(c, PARLEY_ESTORE, "local store: %s", lstore_error(c->store));
    return queued ? PARLEY_SENT_QUEUED : PARLEY_SENT_UNKNOWN;
}

int parley_outbox_count(parley_client *c)
{
    return lstore_outbox_count(c->store);
}
