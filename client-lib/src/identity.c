/*
 * identity.c - this home's identity: the Ed25519 device key (identity.key),
 * the user id, the stable MQTT client id whose tag is the device id, the
 * account key (meta account_pk on a linked device; the device key itself on
 * the primary), and the tokens minted with the device key for the broker,
 * the keyserver and the media gateway.
 */
#include "parley_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ids.h"
#include "token.h"

/* The device id (the client id's tag), the account key and whether this
 * device is the primary, from the store's meta. parley_rc. */
static int identity_device(parley_client *c)
{
    uint8_t *ak = NULL;
    size_t n = 0;
    int64_t pending = 0;
    size_t ulen = strlen(c->user);
    if (strncmp(c->client_id, c->user, ulen) != 0 || c->client_id[ulen] != '.' ||
        strlen(c->client_id + ulen + 1) > IDS_DEVICE_MAX)
        return util__fail(c, PARLEY_ESTORE, "the local store's client id %s is not %s.DEVICE",
                          c->client_id, c->user);
    snprintf(c->device_id, sizeof c->device_id, "%s", c->client_id + ulen + 1);
    int rc = lstore_meta_get(c->store, "account_pk", &ak, &n);
    if (rc < 0 || lstore_meta_get_int(c->store, "link_pending", &pending) < 0) {
        free(ak);
        return util__fail(c, PARLEY_ESTORE, "%s", lstore_error(c->store));
    }
    if (rc == 1 && n == 32)
        memcpy(c->account_pk, ak, 32);
    else
        memcpy(c->account_pk, c->id_pk, 32);
    free(ak);
    c->primary = sodium_memcmp(c->account_pk, c->id_pk, 32) == 0;
    c->link_pending = pending != 0;
    return PARLEY_OK;
}

/* Load the identity (user id, client id, key) if the home has one. */
int identity__load(parley_client *c)
{
    char path[CLIENT_PATH_MAX + 32];
    int fd = -1, ret = PARLEY_ESTORE;

    int r1 = lstore_meta_get_str(c->store, "user_id", c->user, sizeof c->user);
    int r2 = lstore_meta_get_str(c->store, "client_id", c->client_id, sizeof c->client_id);
    if (r1 < 0 || r2 < 0)
        return util__fail(c, PARLEY_ESTORE, "%s", lstore_error(c->store));
    if (r1 == 0)
        return PARLEY_OK; /* no identity yet */
    snprintf(path, sizeof path, "%s/%s", c->home, CLIENT_IDENTITY_FILE);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        util__fail(c, PARLEY_ESTORE, "cannot read %s: %s", path, strerror(errno));
        goto fail;
    }
    if (read(fd, c->id_sk, sizeof c->id_sk) != (ssize_t)sizeof c->id_sk) {
        util__fail(c, PARLEY_ESTORE, "%s is truncated", path);
        goto fail;
    }
    crypto_sign_ed25519_sk_to_pk(c->id_pk, c->id_sk);
    if (identity_device(c) != PARLEY_OK)
        goto fail;
    c->has_identity = 1;
    ret = PARLEY_OK;

fail:
    if (fd >= 0)
        close(fd);
    if (ret != PARLEY_OK)
        sodium_memzero(c->id_sk, sizeof c->id_sk);
    return ret;
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
    return identity__create(c, user_id, NULL);
}

int identity__create(parley_client *c, const char *user_id, const uint8_t account_pk[32])
{
    char path[CLIENT_PATH_MAX + 32], rnd[IDS_SERVER_ID_LEN + 1];
    int fd = -1, ret = PARLEY_ESTORE;

    if (c->has_identity)
        return util__fail(c, PARLEY_EEXIST, "this home already holds the identity of %s", c->user);
    if (!ids_valid_user(user_id))
        return util__fail(c, PARLEY_EINVAL,
                          "invalid user id '%s' (1-64 characters of A-Z a-z 0-9 . _ -)",
                          user_id ? user_id : "");
    crypto_sign_keypair(c->id_pk, c->id_sk);
    snprintf(path, sizeof path, "%s/%s", c->home, CLIENT_IDENTITY_FILE);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        util__fail(c, PARLEY_EEXIST, "cannot create %s: %s", path, strerror(errno));
        ret = errno == EEXIST ? PARLEY_EEXIST : PARLEY_ESTORE;
        goto fail;
    }
    if (write(fd, c->id_sk, sizeof c->id_sk) != (ssize_t)sizeof c->id_sk || fsync(fd) != 0) {
        util__fail(c, PARLEY_ESTORE, "cannot write %s: %s", path, strerror(errno));
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
        (account_pk && (lstore_meta_set(c->store, "account_pk", account_pk, 32) != 0 ||
                        lstore_meta_set_int(c->store, "link_pending", 1) != 0)) ||
        lstore_commit(c->store) != 0) {
        lstore_rollback(c->store);
        util__fail(c, PARLEY_ESTORE, "local store: %s", lstore_error(c->store));
        unlink(path);
        goto fail;
    }
    if (identity_device(c) != PARLEY_OK) {
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
        return util__fail(c, PARLEY_ENOIDENT, "%s", parley_strerror(PARLEY_ENOIDENT));
    int aud = token_audience_parse(audience ? audience : "mqtt");
    if (aud < 0)
        return util__fail(c, PARLEY_EINVAL, "unknown token audience '%s'", audience);
    if (lifetime_s <= 0)
        lifetime_s = TOKEN_DEFAULT_LIFETIME_S;
    if (lifetime_s > TOKEN_MAX_LIFETIME_S)
        return util__fail(c, PARLEY_EINVAL, "token lifetime above %d s", TOKEN_MAX_LIFETIME_S);
    int64_t exp = (int64_t)time(NULL) + lifetime_s;
    if (token_mint((token_audience)aud, c->user, client_id ? client_id : c->client_id, exp,
                   c->id_sk, out, outlen) != TOKEN_OK)
        return util__fail(c, PARLEY_EINVAL, "cannot mint a token for client id '%s'",
                          client_id ? client_id : c->client_id);
    return PARLEY_OK;
}

int identity__keyserver_token(parley_client *c, char *out, size_t n)
{
    return parley_token(c, "keyserver", NULL, 300, out, n);
}

const char *parley_device_id(const parley_client *c)
{
    return c->has_identity ? c->device_id : NULL;
}

int parley_is_primary(const parley_client *c)
{
    return c->has_identity && c->primary;
}

keys_identity identity__keys(parley_client *c)
{
    keys_identity id;
    memcpy(id.pk, c->id_pk, 32);
    memcpy(id.sk, c->id_sk, 64);
    return id;
}
