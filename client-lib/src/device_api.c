/*
 * device_api.c - linked devices, the SDK side (parley.h): listing an
 * account's devices, linking a new home to an account (parley_link, then
 * parley_link_wait until the primary approved it), and, on the primary
 * device, approving a link code and removing a device (the next version of
 * the list, signed with the account key: devices.c). Blocking HTTP calls to
 * the keyserver; no MQTT connection is needed.
 */
#include "parley_int.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ids.h"
#include "ksclient.h"
#include "token.h"

static void to_public(parley_client *c, const devlist *l, int i, char fpr[DEVLIST_FPR_LEN + 1],
                      parley_device *out)
{
    uint8_t ak[32];
    devlist_fingerprint(l->d[i].key, fpr);
    int primary = 0;
    if (strcmp(l->user, c->user) == 0)
        primary = sodium_memcmp(l->d[i].key, c->account_pk, 32) == 0;
    else if (lstore_contact_get(c->store, l->user, ak) == 1)
        primary = sodium_memcmp(l->d[i].key, ak, 32) == 0;
    *out = (parley_device){
        .device_id = l->d[i].id,
        .name = l->d[i].name,
        .added_at = l->d[i].added_at,
        .fingerprint = fpr,
        .primary = primary,
        .self = strcmp(l->user, c->user) == 0 && sodium_memcmp(l->d[i].key, c->id_pk, 32) == 0,
    };
}

int parley_devices(parley_client *c, const char *user, void (*fn)(void *ud, const parley_device *d),
                   void *ud, uint64_t *version)
{
    devlist l;
    if (!c->has_identity)
        return util__fail(c, PARLEY_ENOIDENT, "%s", parley_strerror(PARLEY_ENOIDENT));
    if (!user)
        user = c->user;
    if (!ids_valid_user(user))
        return util__fail(c, PARLEY_EINVAL, "invalid user id '%s'", user);
    int rc = devices__refresh(c, user, &l);
    if (rc != PARLEY_OK)
        return rc;
    if (version)
        *version = l.version;
    for (int i = 0; fn && i < l.n; i++) {
        char fpr[DEVLIST_FPR_LEN + 1];
        parley_device d;
        to_public(c, &l, i, fpr, &d);
        fn(ud, &d);
    }
    return PARLEY_OK;
}

int parley_link(parley_client *c, const char *user_id, const char *name, char *code, size_t codelen,
                char *fingerprint, size_t fprlen)
{
    uint8_t ak[32];
    ksclient_link l;
    int rc;

    if (!name)
        name = "";
    if (!ids_valid_user(user_id))
        return util__fail(c, PARLEY_EINVAL, "invalid user id '%s'", user_id ? user_id : "");
    if (!devlist_valid_name(name))
        return util__fail(c, PARLEY_EINVAL, "a device name is 0-%d printable ASCII characters",
                          DEVLIST_NAME_MAX);
    if (!code || codelen < sizeof l.code || !fingerprint || fprlen < DEVLIST_FPR_LEN + 1)
        return util__fail(c, PARLEY_EINVAL, "output buffers too small");
    if (c->has_identity && !c->link_pending)
        return util__fail(c, PARLEY_EEXIST, "this home already is device %s of %s", c->device_id,
                          c->user);
    if (c->has_identity && strcmp(c->user, user_id) != 0)
        return util__fail(c, PARLEY_EINVAL, "this home is waiting to be linked to %s, not %s",
                          c->user, user_id);
    if (!c->has_identity) {
        /* The account key the list must be signed with: what the keyserver
         * serves now (compare the safety number with a contact later). */
        rc = ksclient_get_identity(c->keyserver_url, c->ca_file, user_id, ak, c->err,
                                   sizeof c->err);
        if (rc == PARLEY_ENOTFOUND)
            return util__fail(c, PARLEY_ENOTFOUND, "no user %s on the keyserver", user_id);
        if (rc != PARLEY_OK)
            return rc;
        rc = identity__create(c, user_id, ak);
        if (rc != PARLEY_OK)
            return rc;
    }
    memset(&l, 0, sizeof l);
    snprintf(l.user, sizeof l.user, "%s", c->user);
    snprintf(l.device_id, sizeof l.device_id, "%s", c->device_id);
    memcpy(l.device_key, c->id_pk, 32);
    snprintf(l.name, sizeof l.name, "%s", name);
    rc = ksclient_post_link(c->keyserver_url, c->ca_file, &l, c->id_sk, c->err, sizeof c->err);
    if (rc != PARLEY_OK)
        return rc;
    snprintf(code, codelen, "%s", l.code);
    devlist_fingerprint(c->id_pk, fingerprint);
    return PARLEY_OK;
}

int parley_link_wait(parley_client *c, int timeout_ms)
{
    devlist l;
    if (!c->has_identity)
        return util__fail(c, PARLEY_ENOIDENT, "%s", parley_strerror(PARLEY_ENOIDENT));
    int64_t deadline = clock_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        /* Until approved the keyserver refuses this device's tokens. */
        int rc = devices__refresh(c, c->user, &l);
        int i = rc == PARLEY_OK ? devlist_find_key(&l, c->id_pk) : -1;
        if (i >= 0 && strcmp(l.d[i].id, c->device_id) == 0)
            break;
        if (rc == PARLEY_ESTORE)
            return rc;
        if (clock_mono_ms() >= deadline)
            return util__fail(c, PARLEY_ETIMEOUT,
                              "device %s is not in the device list of %s "
                              "yet: approve it on the primary device (parley devices approve "
                              "CODE)",
                              c->device_id, c->user);
        struct timespec ts = {1, 0};
        nanosleep(&ts, NULL);
    }
    if (c->link_pending) {
        if (lstore_meta_set_int(c->store, "link_pending", 0) != 0)
            return util__store_fail(c);
        c->link_pending = 0;
    }
    if (lstore_meta_set_int(c->store, "registered_at", clock_now_ms()) != 0)
        return util__store_fail(c);
    return prekeys__maintain(c, 1);
}

/* "XXXX-XXXX" of Crockford base32 (no I L O U), upper-cased into out. */
static int valid_code(const char *code, char out[16])
{
    static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    if (!code || strlen(code) != 9 || code[4] != '-')
        return 0;
    for (int i = 0; i < 9; i++) {
        char ch = code[i];
        if (i == 4) {
            out[i] = ch;
            continue;
        }
        if (ch >= 'a' && ch <= 'z')
            ch = (char)(ch - 'a' + 'A');
        if (!strchr(alphabet, ch) || ch == 0)
            return 0;
        out[i] = ch;
    }
    out[9] = 0;
    return 1;
}

/* Our own current list (explicit: uploaded first if still implicit). */
static int own_list(parley_client *c, devlist *l)
{
    if (!c->has_identity)
        return util__fail(c, PARLEY_ENOIDENT, "%s", parley_strerror(PARLEY_ENOIDENT));
    if (!c->primary)
        return util__fail(c, PARLEY_EINVAL,
                          "only the primary device (the one made by parley "
                          "init) changes the device list");
    int rc = devices__ensure_own(c);
    if (rc == PARLEY_OK)
        rc = devices__refresh(c, c->user, l);
    if (rc == PARLEY_OK && l->version == 0)
        rc = util__fail(c, PARLEY_ENOTFOUND, "the keyserver does not keep device lists");
    return rc;
}

int parley_devices_approve(parley_client *c, const char *code, parley_device *out)
{
    char norm[16], token[TOKEN_MAX_LEN];
    ksclient_link l;
    devlist cur, next;

    int rc = own_list(c, &cur);
    if (rc != PARLEY_OK)
        return rc;
    if (!valid_code(code, norm))
        return util__fail(c, PARLEY_EINVAL, "a link code is XXXX-XXXX (letters and digits)");
    rc = identity__keyserver_token(c, token, sizeof token);
    if (rc != PARLEY_OK)
        return rc;
    rc = ksclient_get_link(c->keyserver_url, c->ca_file, token, norm, &l, c->err, sizeof c->err);
    sodium_memzero(token, sizeof token);
    if (rc == PARLEY_ENOTFOUND)
        return util__fail(c, PARLEY_ENOTFOUND,
                          "no pending device with code %s (expired, used, "
                          "or of another user)",
                          norm);
    if (rc != PARLEY_OK)
        return rc;
    if (strcmp(l.user, c->user) != 0 || !devlist_valid_id(l.device_id) ||
        !devlist_valid_name(l.name))
        return util__fail(c, PARLEY_ECRYPTO,
                          "the keyserver's answer for code %s is not a "
                          "device of %s",
                          norm, c->user);
    if (devlist_find(&cur, l.device_id) >= 0 || devlist_find_key(&cur, l.device_key) >= 0)
        return util__fail(c, PARLEY_EEXIST, "device %s is already in the list", l.device_id);
    if (cur.n >= DEVLIST_MAX)
        return util__fail(c, PARLEY_EINVAL, "the device list is full");
    next = cur;
    next.version = cur.version + 1;
    devlist_device *d = &next.d[next.n++];
    memset(d, 0, sizeof *d);
    snprintf(d->id, sizeof d->id, "%s", l.device_id);
    memcpy(d->key, l.device_key, 32);
    d->added_at = clock_now_ms();
    snprintf(d->name, sizeof d->name, "%s", l.name);
    rc = devices__publish(c, &next);
    if (rc != PARLEY_OK)
        return rc;
    if (out) {
        snprintf(c->approved.id, sizeof c->approved.id, "%s", d->id);
        snprintf(c->approved.name, sizeof c->approved.name, "%s", d->name);
        devlist_fingerprint(d->key, c->approved.fpr);
        *out = (parley_device){.device_id = c->approved.id,
                               .name = c->approved.name,
                               .added_at = d->added_at,
                               .fingerprint = c->approved.fpr};
    }
    return PARLEY_OK;
}

int parley_devices_remove(parley_client *c, const char *device_id)
{
    devlist cur, next;
    int rc = own_list(c, &cur);
    if (rc != PARLEY_OK)
        return rc;
    int i = device_id ? devlist_find(&cur, device_id) : -1;
    if (i < 0)
        return util__fail(c, PARLEY_ENOTFOUND, "no device %s in the list",
                          device_id ? device_id : "");
    if (sodium_memcmp(cur.d[i].key, c->account_pk, 32) == 0)
        return util__fail(c, PARLEY_EINVAL, "the primary device cannot be removed");
    next = cur;
    next.version = cur.version + 1;
    memmove(&next.d[i], &next.d[i + 1], (size_t)(next.n - i - 1) * sizeof next.d[0]);
    next.n--;
    /* devices__publish also drops our own sender keys: the removed device
     * held them. */
    return devices__publish(c, &next);
}

uint64_t parley_skipped_count(parley_client *c)
{
    int64_t n = 0;
    if (lstore_meta_get_int(c->store, "skipped_no_device", &n) != 1 || n < 0)
        return 0;
    return (uint64_t)n;
}
