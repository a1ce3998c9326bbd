/*
 * devices.c - the device lists of accounts (this user's and its contacts'):
 * fetched from the keyserver (GET /v2/devices/{user}), verified against the
 * pinned account key (devlist.c) and cached in the local store (blob
 * "devices"/user: be64 version, be64 fetched_at ms, 64-byte signature, the
 * signed text; version 0 and no text for an implicit list). A list not
 * signed by the pinned account key is ignored (the cache is kept) and
 * reported (PARLEY_EVENT_DEVICES_FORGED); an older version than the cached
 * one is ignored (a replay); a change is reported
 * (PARLEY_EVENT_DEVICES_CHANGED) and, when a device was removed, our own
 * sender keys of the groups that user shares with us are dropped so the
 * removed device cannot read later group messages. On the primary device
 * this module also signs and uploads our own list (PUT /v2/devices).
 *
 * Network calls happen outside any local-store transaction.
 */
#include "parley_int.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "ksclient.h"
#include "token.h"

#define HDR_LEN (8 + 8 + 64)

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* The account key of user: ours, or the pinned one (pinned now from the
 * keyserver on first contact, as a PreKey message would). parley_rc. */
static int account_key(parley_client *c, const char *user, uint8_t ak[32])
{
    if (strcmp(user, c->user) == 0) {
        memcpy(ak, c->account_pk, 32);
        return PARLEY_OK;
    }
    int rc = lstore_contact_get(c->store, user, ak);
    if (rc < 0)
        return util__store_fail(c);
    if (rc == 1)
        return PARLEY_OK;
    rc = ksclient_get_identity(c->keyserver_url, c->ca_file, user, ak, c->err, sizeof c->err);
    if (rc != PARLEY_OK)
        return rc;
    if (trust__note(c, user, ak) < 0)
        return util__store_fail(c);
    return PARLEY_OK;
}

int devices__cached(parley_client *c, const char *user, devlist *out, int64_t *fetched_at)
{
    uint8_t *b = NULL, ak[32];
    size_t n = 0;
    char err[CLIENT_ERR_MAX];
    int rc = lstore_blob_get(c->store, "devices", user, &b, &n);
    if (rc != 1)
        return rc;
    int ret = -1;
    if (n < HDR_LEN)
        goto done;
    uint64_t version = get64(b);
    if (fetched_at)
        *fetched_at = (int64_t)get64(b + 8);
    if (strcmp(user, c->user) == 0)
        memcpy(ak, c->account_pk, 32);
    else if (lstore_contact_get(c->store, user, ak) != 1)
        goto done;
    if (version == 0) {
        devlist_implicit(out, user, ak);
        ret = 1;
    } else {
        /* Verified again: the cache is only as good as the pinned key. */
        ret = devlist_verify((const char *)b + HDR_LEN, n - HDR_LEN, b + 16, ak, user, out, err,
                             sizeof err) == 0 &&
                      out->version == version
                  ? 1
                  : 0;
    }
done:
    free(b);
    return ret;
}

static int cache_save(parley_client *c, const char *user, uint64_t version, const uint8_t *sig,
                      const char *text, size_t len)
{
    uint8_t *b = malloc(HDR_LEN + len);
    if (!b)
        return -1;
    put64(b, version);
    put64(b + 8, (uint64_t)clock_now_ms());
    memset(b + 16, 0, 64);
    if (sig)
        memcpy(b + 16, sig, 64);
    if (len)
        memcpy(b + HDR_LEN, text, len);
    int rc = lstore_blob_set(c->store, "devices", user, b, HDR_LEN + len);
    free(b);
    return rc;
}

/* Drop our own sending chain of every group in which user is a member: our
 * next message there starts a new chain, handed to the devices listed now. */
typedef struct {
    parley_client *c;
    const char *user;
    char groups[64][IDS_CHAT_MAX + 1];
    int n;
} rotate_ctx;

static int collect_groups(void *ud, const lstore_chat *ch)
{
    rotate_ctx *r = ud;
    if (ch->type == 2)
        snprintf(r->groups[r->n++], sizeof r->groups[0], "%s", ch->chat_id);
    return r->n == 64;
}

static int rotate_shared_groups(parley_client *c, const char *user)
{
    rotate_ctx r = {.c = c, .user = user};
    if (lstore_chat_each(c->store, collect_groups, &r) != 0)
        return -1;
    for (int i = 0; i < r.n; i++) {
        char **members = NULL;
        size_t n = 0;
        int shared = strcmp(user, c->user) == 0;
        if (!shared && members__others(c, r.groups[i], &members, &n) == PARLEY_OK) {
            for (size_t j = 0; j < n && !shared; j++)
                shared = strcmp(members[j], user) == 0;
            members__free(members, n);
        }
        if (shared && skeys__drop_own(c, r.groups[i]) != PARLEY_OK)
            return -1;
    }
    return 0;
}

/* Tell the application what changed between two lists of user (by key:
 * the implicit device becoming the primary's explicit entry is no news). */
static void report_change(parley_client *c, const char *user, const devlist *was,
                          const devlist *now)
{
    char detail[CLIENT_ERR_MAX], fpr[DEVLIST_FPR_LEN + 1];
    int news = 0;
    size_t used = (size_t)snprintf(detail, sizeof detail,
                                   "the devices of %s changed (list "
                                   "version %llu):",
                                   user, (unsigned long long)now->version);
    for (int i = 0; i < now->n; i++) {
        if (devlist_find_key(was, now->d[i].key) >= 0)
            continue;
        news++;
        devlist_fingerprint(now->d[i].key, fpr);
        if (used < sizeof detail)
            used += (size_t)snprintf(detail + used, sizeof detail - used,
                                     " added %s \"%s\" (fingerprint %s);", now->d[i].id,
                                     now->d[i].name, fpr);
    }
    for (int i = 0; i < was->n; i++) {
        if (devlist_find_key(now, was->d[i].key) >= 0)
            continue;
        news++;
        if (used < sizeof detail)
            used += (size_t)snprintf(detail + used, sizeof detail - used, " removed %s;",
                                     was->d[i].id);
    }
    if (news)
        util__emit_event(c, PARLEY_EVENT_DEVICES_CHANGED, NULL, 0, user, detail);
}

/* A contact's account key changed: the new key is pinned (and the change
 * surfaced), every session with its devices dropped (they start again
 * from fresh bundles). Caller's transaction. 0 or -1. */
static int drop_sessions(parley_client *c, const char *user, const devlist *was)
{
    char key[IDS_USER_MAX + IDS_DEVICE_MAX + 2];
    if (lstore_blob_del(c->store, "session", user) != 0)
        return -1;
    for (int i = 0; was && i < was->n; i++) {
        snprintf(key, sizeof key, "%s/%s", user, was->d[i].id);
        if (lstore_blob_del(c->store, "session", key) != 0)
            return -1;
    }
    return 0;
}

int devices__refresh(parley_client *c, const char *user, devlist *out)
{
    char token[TOKEN_MAX_LEN], *text = NULL;
    uint8_t sig[64], ak[32];
    size_t len = 0;
    uint64_t version = 0;
    devlist was, now;
    int ret, had;

    ret = account_key(c, user, ak);
    if (ret != PARLEY_OK)
        return ret;
    ret = identity__keyserver_token(c, token, sizeof token);
    if (ret != PARLEY_OK)
        return ret;
    ret = ksclient_get_devices(c->keyserver_url, c->ca_file, token, user, &text, &len, sig,
                               &version, c->err, sizeof c->err);
    sodium_memzero(token, sizeof token);
    if (ret == PARLEY_ENOTFOUND && !text) {
        /* A keyserver without linked devices (or an unknown user: the
         * identity lookup above would have failed): the implicit list. */
        version = 0;
        ret = PARLEY_OK;
    }
    if (ret != PARLEY_OK)
        goto done;
    had = devices__cached(c, user, &was, NULL);
    if (had < 0) {
        ret = util__store_fail(c);
        goto done;
    }
    int account_changed = 0;
    int verified = version == 0 ||
                   devlist_verify(text, len, sig, ak, user, &now, c->err, sizeof c->err) == 0;
    if (!verified && strcmp(user, c->user) != 0) {
        /* Not signed by the key we pinned: the contact's new account key
         * (a rotation), if the keyserver serves the key that signed it -
         * accepted like a changed identity key, and surfaced. */
        uint8_t cur[32];
        char err[CLIENT_ERR_MAX];
        if (ksclient_get_identity(c->keyserver_url, c->ca_file, user, cur, err, sizeof err) ==
                PARLEY_OK &&
            sodium_memcmp(cur, ak, 32) != 0 &&
            devlist_verify(text, len, sig, cur, user, &now, err, sizeof err) == 0) {
            memcpy(ak, cur, 32);
            account_changed = verified = 1;
        }
    }
    if (version == 0) {
        devlist_implicit(&now, user, ak);
    } else if (!verified || now.version != version) {
        char detail[CLIENT_ERR_MAX + 64];
        snprintf(detail, sizeof detail, "%s: ignored, the list in use is unchanged", c->err);
        util__emit_event(c, PARLEY_EVENT_DEVICES_FORGED, NULL, 0, user, detail);
        ret = util__fail(c, PARLEY_ECRYPTO, "%s", detail);
        goto done;
    }
    if (had == 1 && now.version < was.version && !account_changed) {
        /* An older list than the one we hold (a replay): keep ours. */
        *out = was;
        ret = PARLEY_OK;
        goto done;
    }
    if (lstore_begin(c->store) != 0 || (account_changed && trust__note(c, user, ak) < 0) ||
        cache_save(c, user, now.version, version ? sig : NULL, text, len) != 0) {
        lstore_rollback(c->store);
        ret = util__store_fail(c);
        goto done;
    }
    if (account_changed && drop_sessions(c, user, had == 1 ? &was : NULL) != 0) {
        lstore_rollback(c->store);
        ret = util__store_fail(c);
        goto done;
    }
    int removed = 0;
    if (had == 1)
        for (int i = 0; i < was.n; i++)
            removed |= devlist_find_key(&now, was.d[i].key) < 0;
    if (removed && rotate_shared_groups(c, user) != 0) {
        lstore_rollback(c->store);
        ret = util__store_fail(c);
        goto done;
    }
    if (lstore_commit(c->store) != 0) {
        lstore_rollback(c->store);
        ret = util__store_fail(c);
        goto done;
    }
    if (had == 1 && now.version != was.version)
        report_change(c, user, &was, &now);
    *out = now;
    ret = PARLEY_OK;

done:
    free(text);
    return ret;
}

int devices__get(parley_client *c, const char *user, int64_t max_age_ms, devlist *out)
{
    int64_t at = 0;
    int had = devices__cached(c, user, out, &at);
    if (had < 0)
        return util__store_fail(c);
    /* 0 is "fetch now", even when the cached list is from this very
     * millisecond (a stale_devices refusal right after a fetch). */
    if (had == 1 && (max_age_ms < 0 || (max_age_ms > 0 && clock_now_ms() - at <= max_age_ms)))
        return PARLEY_OK;
    devlist cached = *out;
    int rc = devices__refresh(c, user, out);
    if (rc == PARLEY_OK)
        return PARLEY_OK;
    if (had == 1 &&
        (rc == PARLEY_ENET || rc == PARLEY_ETLS || rc == PARLEY_ECRYPTO || rc == PARLEY_EREFUSED)) {
        *out = cached; /* cannot refresh: the verified list we hold */
        return PARLEY_OK;
    }
    return rc;
}

int devices__publish(parley_client *c, devlist *next)
{
    char token[TOKEN_MAX_LEN], *text = NULL;
    size_t len = 0;
    uint8_t sig[64];
    int ret;

    if (!c->primary)
        return util__fail(c, PARLEY_EINVAL,
                          "only the primary device (the one made by parley "
                          "init) signs the device list");
    snprintf(next->user, sizeof next->user, "%s", c->user);
    if (devlist_find_key(next, c->account_pk) < 0 || devlist_build(next, &text, &len) != 0)
        return util__fail(c, PARLEY_EINVAL, "invalid device list");
    devlist_sign(text, len, c->id_sk, sig);
    ret = identity__keyserver_token(c, token, sizeof token);
    if (ret == PARLEY_OK)
        ret = ksclient_put_devices(c->keyserver_url, c->ca_file, token, text, len, sig, c->err,
                                   sizeof c->err);
    sodium_memzero(token, sizeof token);
    if (ret != PARLEY_OK)
        goto done;
    devlist was;
    int had = devices__cached(c, c->user, &was, NULL), removed = 0;
    for (int i = 0; had == 1 && i < was.n; i++)
        removed |= devlist_find_key(next, was.d[i].key) < 0;
    /* A removed device held our sender keys: every group starts a new chain. */
    if (had < 0 || lstore_begin(c->store) != 0 ||
        cache_save(c, c->user, next->version, sig, text, len) != 0 ||
        (removed && rotate_shared_groups(c, c->user) != 0) || lstore_commit(c->store) != 0) {
        lstore_rollback(c->store);
        ret = util__store_fail(c);
    }
done:
    free(text);
    return ret;
}

int devices__ensure_own(parley_client *c)
{
    devlist own;
    if (!c->has_identity || !c->primary)
        return PARLEY_OK;
    int had = devices__cached(c, c->user, &own, NULL);
    if (had < 0)
        return util__store_fail(c);
    if (had == 1 && own.version > 0)
        return PARLEY_OK;
    int rc = devices__refresh(c, c->user, &own);
    if (rc != PARLEY_OK || own.version > 0)
        return rc;
    /* Implicit: upload version 1 with this device alone. */
    memset(&own, 0, sizeof own);
    own.version = 1;
    own.n = 1;
    snprintf(own.d[0].id, sizeof own.d[0].id, "%s", c->device_id);
    memcpy(own.d[0].key, c->id_pk, 32);
    own.d[0].added_at = clock_now_ms();
    snprintf(own.d[0].name, sizeof own.d[0].name, "primary");
    rc = devices__publish(c, &own);
    if (rc == PARLEY_ENOTFOUND)
        return PARLEY_OK; /* a keyserver without linked devices: stay implicit */
    return rc;
}

void devices__prefetch(parley_client *c, const char *user, const char *device)
{
    devlist l;
    int64_t at = 0;
    if (!user || !device || !*device)
        return;
    int had = devices__cached(c, user, &l, &at);
    if (had == 1 && l.version > 0 && devlist_find(&l, device) >= 0)
        return;
    /* Implicit as far as we know (an old client's connections are named
     * too): asked again at most once a minute. */
    if (had == 1 && l.version == 0 && clock_now_ms() - at < 60000)
        return;
    devices__refresh(c, user, &l); /* best effort: a failure leaves the cache as it was */
}

void devices__ensure(parley_client *c, const char *user)
{
    devlist l;
    if (devices__cached(c, user, &l, NULL) == 0)
        devices__refresh(c, user, &l); /* best effort */
}
