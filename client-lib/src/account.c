/*
 * account.c - the account with the keyserver: registration (the primary
 * device also uploads its device list), account key rotation (single-device
 * accounts), safety numbers (over the account keys only: a device added to
 * a list signed by the pinned account key changes nothing).
 */
#include "parley_int.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "crypto/safety_number.h"
#include "ids.h"
#include "ksclient.h"

/* Printable ASCII only: an invite token travels in a JSON string. */
static bool json_ok_text(const char *s)
{
    for (; *s; s++)
        if (*s < 0x21 || *s > 0x7e)
            return false;
    return true;
}

int parley_register(parley_client *c)
{
    return parley_register_invite(c, NULL);
}

int parley_register_invite(parley_client *c, const char *invite)
{
    if (!c->has_identity)
        return util__fail(c, PARLEY_ENOIDENT, "%s", parley_strerror(PARLEY_ENOIDENT));
    if (c->link_pending || !c->primary)
        return util__fail(c, PARLEY_EINVAL,
                          "this home is a linked device of %s: it is added by "
                          "the primary device (parley devices approve), not registered",
                          c->user);
    if (invite && (!invite[0] || strlen(invite) > 128 || !json_ok_text(invite)))
        return util__fail(c, PARLEY_EINVAL, "an invite token is 1-128 printable characters");
    int rc = ksclient_put_identity(c->keyserver_url, c->ca_file, c->user, c->id_pk, c->id_sk, NULL,
                                   invite, c->err, sizeof c->err);
    if (rc != PARLEY_OK)
        return rc;
    /* When: the broker may refuse this identity for a moment (loop.c). */
    if (lstore_meta_set_int(c->store, "registered_at", clock_now_ms()) != 0)
        return util__fail(c, PARLEY_ESTORE, "local store: %s", lstore_error(c->store));
    rc = prekeys__maintain(c, 1);
    if (rc != PARLEY_OK)
        return rc;
    /* The primary's list, version 1, this device alone (a keyserver without
     * device lists: stays implicit). */
    return devices__ensure_own(c);
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
        return util__fail(c, PARLEY_ENOIDENT, "%s", parley_strerror(PARLEY_ENOIDENT));
    devlist own;
    int had = devices__cached(c, c->user, &own, NULL);
    if (!c->primary || (had == 1 && own.n > 1))
        return util__fail(c, PARLEY_EINVAL,
                          "the account key of an account with linked devices "
                          "cannot be rotated (remove the other devices first, on the primary)");
    snprintf(path, sizeof path, "%s/%s", c->home, CLIENT_IDENTITY_FILE);
    snprintf(tmp, sizeof tmp, "%s.new", path);
    crypto_sign_keypair(pk, sk);
    size_t n = (size_t)snprintf((char *)msg, sizeof msg, "%s%s\n", KEY_CHANGE_DOMAIN, c->user);
    memcpy(msg + n, pk, 32);
    crypto_sign_detached(sig, NULL, msg, n + 32, c->id_sk);
    /* The new key is on disk before the keyserver knows it: a crash leaves
     * identity.key.new behind, never an identity we cannot prove. */
    if (write_key(tmp, sk) != 0) {
        ret = util__fail(c, PARLEY_ESTORE, "cannot write %s: %s", tmp, strerror(errno));
        goto done;
    }
    ret = ksclient_put_identity(c->keyserver_url, c->ca_file, c->user, pk, sk, sig, NULL, c->err,
                                sizeof c->err);
    if (ret != PARLEY_OK) {
        unlink(tmp);
        goto done;
    }
    if (rename(tmp, path) != 0) {
        ret = util__fail(c, PARLEY_ESTORE,
                         "the keyserver has the new key but %s could not "
                         "replace %s: %s",
                         tmp, path, strerror(errno));
        goto done;
    }
    memcpy(c->id_pk, pk, 32);
    memcpy(c->id_sk, sk, 64);
    memcpy(c->account_pk, pk, 32);
    /* Sessions and prekeys belong to the old identity. */
    if (lstore_begin(c->store) != 0 || lstore_blob_clear(c->store, "session") != 0 ||
        lstore_blob_clear(c->store, "spk") != 0 || lstore_blob_clear(c->store, "otk") != 0 ||
        lstore_meta_set_int(c->store, "spk_current", 0) != 0 ||
        lstore_meta_set_int(c->store, "spk_previous", 0) != 0 ||
        lstore_meta_set_int(c->store, "keys_uploaded", 0) != 0 || lstore_commit(c->store) != 0) {
        lstore_rollback(c->store);
        ret = util__fail(c, PARLEY_ESTORE, "local store: %s", lstore_error(c->store));
        goto done;
    }
    ret = prekeys__maintain(c, 1);
    if (ret == PARLEY_OK && had == 1 && own.version > 0) {
        /* The list was signed by the old key: the next one by the new. */
        own.version++;
        memcpy(own.d[0].key, pk, 32);
        ret = devices__publish(c, &own);
    }

done:
    sodium_memzero(sk, sizeof sk);
    return ret;
}

int parley_safety_number(parley_client *c, const char *peer, char *out, size_t outlen)
{
    uint8_t ik[32];
    char digits[SAFETY_NUMBER_DIGITS + 1], fmt[SAFETY_NUMBER_FORMATTED_LEN + 1];

    if (!c->has_identity)
        return util__fail(c, PARLEY_ENOIDENT, "%s", parley_strerror(PARLEY_ENOIDENT));
    if (!ids_valid_user(peer) || outlen < sizeof fmt)
        return util__fail(c, PARLEY_EINVAL, "invalid user id '%s'", peer ? peer : "");
    int known = lstore_contact_get(c->store, peer, ik);
    if (known < 0)
        return util__fail(c, PARLEY_ESTORE, "local store: %s", lstore_error(c->store));
    if (known == 0) {
        int rc = ksclient_get_identity(c->keyserver_url, c->ca_file, peer, ik, c->err,
                                       sizeof c->err);
        if (rc != PARLEY_OK)
            return rc;
        trust__note(c, peer, ik);
    }
    if (safety_number_compute(c->user, c->account_pk, peer, ik, digits) != E2E_OK ||
        safety_number_format(digits, fmt) != E2E_OK)
        return util__fail(c, PARLEY_ECRYPTO, "cannot compute the safety number");
    snprintf(out, outlen, "%s", fmt);
    return PARLEY_OK;
}
