/*
 * auth.c - CONNECT authentication: username = user id, client id =
 * "{user}.{tag}" (common/ids.h), password = a token (common/token.h) of
 * audience "mqtt" minted for that client id and verified against the user's
 * identity key. A keyserver or media token, or another user's client id, is
 * refused.
 *
 * The broker thread cannot wait for the store, so identity keys live in an
 * in-memory cache: loaded completely at init, then refreshed by the reader
 * thread with store_users_changed_since every key_refresh_ms. A CONNECT that
 * names a user the cache does not know (registered a moment ago) is looked up
 * at once in the store when the store is SQLite: one indexed read of a local
 * WAL database, with a 2 ms busy bound and at most AUTH_LOOKUPS_PER_S per
 * second, so a fresh registration can connect at once; otherwise (MongoDB,
 * or over the budget) the reader thread refreshes and the client retries.
 * When a refresh finds a user's key changed, the user's open connections are
 * closed: they were authenticated by the old key. The cache holds each
 * user's status too (store.h store_user_status): a disabled or deleted user
 * is refused at CONNECT, and when a refresh finds a user newly disabled or
 * deleted its open connections are closed, so parley-admin's change takes
 * effect within key_refresh_ms on every node (each refreshes on its own).
 *
 * Linked devices (docs/protocol.md "Devices"): the cache holds each user's
 * device list, verified against the account key (an implicit list when the
 * user stored none). A token is verified with the key of the device its
 * client id's tag names (common/devices.h devices_token_verify); while the
 * list is implicit, the account key for any tag (as before devices). A
 * device not in the list is refused (unknown_device). When a refresh finds
 * a device gone from a list (or its key changed), the connections that
 * device's key authenticated are closed.
 */
#include "plugin_int.h"
#include "token.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    uint8_t key[STORE_KEY_LEN];
    store_user_status status;
    devices_list devs;          /* verified; implicit when the user stored none; n = 0 when
                                   the stored list does not verify (every device refused) */
} auth_key;

static void auth_key_free(void *p)
{
    auth_key *k = p;
    if (k)
        devices_list_free(&k->devs);
    free(k);
}

/* A new cache entry for u (NULL on out-of-memory). */
static auth_key *auth_key_new(const store_user *u)
{
    auth_key *k = calloc(1, sizeof *k);
    if (!k)
        return NULL;
    memcpy(k->key, u->identity_key, STORE_KEY_LEN);
    k->status = u->status;
    int rc = u->devices_list
                 ? devices_verify(u->devices_list, u->devices_list_len, u->devices_sig,
                                  u->identity_key, u->user_id, DEVICES_MAX_LIMIT, &k->devs)
                 : devices_implicit(u->user_id, u->identity_key, &k->devs);
    if (rc == DEVICES_ENOMEM) {
        free(k);
        return NULL;
    }
    if (rc != DEVICES_OK && u->status != STORE_USER_DELETED) {
        /* Not what a keyserver stores: refuse every device of the user
         * rather than trust an unverified list. */
        mosquitto_log_printf(MOSQ_LOG_WARNING,
                             "parley: the stored device list of %s does not "
                             "verify (%s): its devices are refused",
                             u->user_id, devices_strerror(rc));
        memset(&k->devs, 0, sizeof k->devs);
        k->devs.version = u->devices_version;
    }
    return k;
}

/* Do two entries hold the same device list? */
static bool same_devices(const auth_key *a, const auth_key *b)
{
    if (a->devs.version != b->devs.version || a->devs.n != b->devs.n)
        return false;
    for (size_t i = 0; i < a->devs.n; i++)
        if (strcmp(a->devs.dev[i].device_id, b->devs.dev[i].device_id) ||
            memcmp(a->devs.dev[i].key, b->devs.dev[i].key, DEVICES_KEY_LEN))
            return false;
    return true;
}

/* presence__kick_devices: may the connection client_id, authenticated by
 * device key, stay under the new list ctx (an auth_key)? */
static bool auth_still_ok(const char *client_id, const uint8_t key[DEVICES_KEY_LEN], void *ctx)
{
    const auth_key *k = ctx;
    const devices_entry *cand[DEVICES_MAX_LIMIT];
    const char *dot = strrchr(client_id, '.');
    size_t n = dot ? devices_match_tag(&k->devs, k->devs.version ? dot + 1 : "", cand,
                                       DEVICES_MAX_LIMIT)
                   : 0;
    for (size_t i = 0; i < n; i++)
        if (sodium_memcmp(cand[i]->key, key, DEVICES_KEY_LEN) == 0)
            return true;
    return false;
}

/* Re-read this much before the newest updated_at seen, so a key written
 * with a slightly older timestamp by another process is not missed. */
#define AUTH_REFRESH_OVERLAP_MS 2000

#define AUTH_LOOKUPS_PER_S 200 /* synchronous lookups of unknown users */
#define AUTH_LOOKUP_BUSY_MS 2

static strmap *auth_keys;       /* broker thread */
static tokcache *auth_tokens;   /* broker thread: verified tokens (tokcache.h) */
static int64_t auth_since;      /* reader thread after init */
static store_t *auth_store;     /* broker thread: SQLite only, unknown users at CONNECT */
static int64_t auth_lookup_window_ms;
static unsigned auth_lookups_in_window;

typedef struct {
    pp_task task;
    store_user *users;
    size_t n;
} auth_refresh_task;

/* Update the cache from users; live: the broker is serving (at init there
 * are no connections to close, and presence is not set up yet). */
static void auth_apply(store_user *users, size_t n, bool live)
{
    for (size_t i = 0; i < n; i++) {
        const store_user *u = &users[i];
        auth_key *old = strmap_get(auth_keys, u->user_id);
        auth_key *k = auth_key_new(u);
        if (!k)
            continue;
        if (old && memcmp(old->key, u->identity_key, STORE_KEY_LEN) == 0 &&
            old->status == u->status && same_devices(old, k)) {
            auth_key_free(k);
            continue;
        }
        bool key_changed = old && memcmp(old->key, u->identity_key, STORE_KEY_LEN) != 0;
        bool cut_off = u->status != STORE_USER_ACTIVE && (!old || old->status != u->status);
        bool devs_changed = old && !same_devices(old, k);
        if (strmap_put(auth_keys, u->user_id, k) != 0) { /* frees old on success */
            auth_key_free(k);
            continue;
        }
        if (!live)
            continue;
        if (cut_off) /* parley-admin users disable / delete: their connections end */
            presence__kick_user(u->user_id,
                                u->status == STORE_USER_DELETED ? "user deleted" : "user disabled");
        else if (key_changed) /* what the old key authenticated ends */
            presence__kick_user(u->user_id, "identity key changed");
        else if (devs_changed) /* what a removed device's key authenticated ends */
            presence__kick_devices(u->user_id, auth_still_ok, k, "device removed");
    }
}

/* Look an unknown user up in the store on the broker thread (SQLite only,
 * bounded); true if the user now is in the cache. */
static bool auth_lookup_now(const char *user_id)
{
    if (!auth_store)
        return false;
    int64_t now = clock_now_ms();
    if (now - auth_lookup_window_ms >= 1000) {
        auth_lookup_window_ms = now;
        auth_lookups_in_window = 0;
    }
    if (auth_lookups_in_window >= AUTH_LOOKUPS_PER_S)
        return false;
    auth_lookups_in_window++;
    store_user u = {0};
    if (store_user_get(auth_store, user_id, &u) != STORE_OK)
        return false;
    auth_key *k = auth_key_new(&u);
    if (k && strmap_put(auth_keys, user_id, k) != 0) {
        auth_key_free(k);
        k = NULL;
    }
    store_user_free(&u);
    return k != NULL;
}

static int64_t auth_newest(const store_user *users, size_t n, int64_t since)
{
    for (size_t i = 0; i < n; i++)
        if (users[i].updated_at > since)
            since = users[i].updated_at;
    return since;
}

int auth__init(store_t *s)
{
    store_user *users = NULL;
    size_t n = 0;
    auth_keys = strmap_new(auth_key_free);
    auth_tokens = tokcache__new(pp.cfg.token_cache); /* NULL: every CONNECT verifies */
    if (!auth_keys)
        return -1;
    int rc = store_users_changed_since(s, 0, &users, &n);
    if (rc != STORE_OK) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "parley: cannot load identity keys: %s (%s)",
                             store_strerror(rc), store_last_error(s));
        return -1;
    }
    auth_apply(users, n, false);
    auth_since = auth_newest(users, n, 0);
    store_user_array_free(users, n);
    mosquitto_log_printf(MOSQ_LOG_NOTICE, "parley: %zu identity key(s) loaded", n);
    if (strncmp(pp.cfg.store_uri, "sqlite:", 7) == 0) {
        store_options o = {.busy_timeout_ms = AUTH_LOOKUP_BUSY_MS};
        if (store_open(pp.cfg.store_uri, &o, &auth_store) != STORE_OK)
            auth_store = NULL; /* the reader thread's refresh still works */
    }
    return 0;
}

void auth__cleanup(void)
{
    store_close(auth_store);
    auth_store = NULL;
    strmap_free(auth_keys);
    auth_keys = NULL;
    tokcache__free(auth_tokens);
    auth_tokens = NULL;
}

void auth__token_cache_stats(tokcache_stats *out)
{
    tokcache__get_stats(auth_tokens, out);
}

bool auth__user_exists(const char *user_id)
{
    const auth_key *k = strmap_get(auth_keys, user_id);
    return k && k->status != STORE_USER_DELETED;
}

uint64_t auth__devices_version(const char *user_id)
{
    const auth_key *k = strmap_get(auth_keys, user_id);
    return k ? k->devs.version : 0;
}

size_t auth__device_count(const char *user_id)
{
    const auth_key *k = strmap_get(auth_keys, user_id);
    return k ? k->devs.n : 0;
}

void auth__sender_device(const char *user_id, const char *client_id, char out[DEVICES_ID_MAX + 1])
{
    const auth_key *k = strmap_get(auth_keys, user_id);
    const devices_entry *d = NULL;
    const char *tag = devices_client_tag(user_id, client_id);
    out[0] = '\0';
    if (k && k->devs.version > 0 && tag && devices_match_tag(&k->devs, tag, &d, 1) == 1)
        snprintf(out, DEVICES_ID_MAX + 1, "%s", d->device_id);
}

static void auth_refresh_done(pp_task *t, bool stopping)
{
    auth_refresh_task *r = (auth_refresh_task *)t;
    if (!stopping)
        auth_apply(r->users, r->n, true);
    store_user_array_free(r->users, r->n);
    free(r);
}

void auth__refresh_work(store_t *s)
{
    store_user *users = NULL;
    size_t n = 0;
    int64_t since = auth_since > AUTH_REFRESH_OVERLAP_MS ? auth_since - AUTH_REFRESH_OVERLAP_MS : 0;
    int rc = store_users_changed_since(s, since, &users, &n);
    if (rc != STORE_OK || n == 0) {
        if (rc != STORE_OK)
            store_user_array_free(users, n);
        return;
    }
    auth_refresh_task *r = calloc(1, sizeof *r);
    if (!r) {
        store_user_array_free(users, n);
        return;
    }
    auth_since = auth_newest(users, n, auth_since);
    r->task.done = auth_refresh_done;
    r->users = users;
    r->n = n;
    tasks__push(&r->task);
}

/* devices_token_verify through the verified-token cache: each device the
 * client id can name is tried with its current key, so a cached token stops
 * counting as soon as its device is removed or its key changes (tokcache.h).
 * With no candidate, devices_token_verify gives the exact refusal (malformed,
 * audience, user, client id before unknown device) without a signature check. */
static int auth_verify(const devices_list *l, const char *token, const char *user_id,
                       const char *client_id, int64_t now, int64_t *expires_at,
                       const devices_entry **which)
{
    const devices_entry *cand[DEVICES_MAX_LIMIT];
    const char *tag = l->version == 0 ? "" : devices_client_tag(user_id, client_id);
    size_t n = tag ? devices_match_tag(l, tag, cand, l->version == 0 ? 1 : DEVICES_MAX_LIMIT) : 0;
    int rc = TOKEN_ESIGNATURE;
    *which = NULL;
    if (n == 0)
        return devices_token_verify(l, token, TOKEN_AUD_MQTT, user_id, client_id, now, expires_at,
                                    which);
    for (size_t i = 0; i < n; i++) {
        rc = tokcache__verify(auth_tokens, token, TOKEN_AUD_MQTT, user_id, client_id, now,
                              cand[i]->key, expires_at);
        if (rc == TOKEN_OK) {
            *which = cand[i];
            return TOKEN_OK;
        }
        if (rc != TOKEN_ESIGNATURE)
            return rc; /* every other check is the same for every candidate */
    }
    return rc;
}

static pp_auth_fail auth_reason(int trc)
{
    switch (trc) {
    case TOKEN_EUSER: return PP_AUTH_WRONG_USER;
    case TOKEN_ECLIENT: return PP_AUTH_WRONG_CLIENT;
    case TOKEN_EEXPIRED: return PP_AUTH_EXPIRED;
    case TOKEN_ELIFETIME: return PP_AUTH_LIFETIME;
    case TOKEN_ESIGNATURE: return PP_AUTH_BAD_SIGNATURE;
    case TOKEN_EAUDIENCE: return PP_AUTH_AUDIENCE;
    case TOKEN_EDEVICE: return PP_AUTH_UNKNOWN_DEVICE;
    default: return PP_AUTH_MALFORMED;
    }
}

int auth__basic_auth_cb(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_basic_auth *ed = event_data;
    const char *client_id = mosquitto_client_id(ed->client);
    pp_auth_fail why;

    /* The plugin's own wake connection (wake.c): the reserved user name with
     * this start's secret, and nobody else under that name. It is neither
     * admitted to presence nor given any topic. */
    if (wake__is_user(ed->username)) {
        if (client_id && wake__is_user(client_id) && wake__password_ok(ed->password))
            return MOSQ_ERR_SUCCESS;
        why = PP_AUTH_BAD_USER_ID;
        goto fail;
    }
    if (!ed->username || !ids_valid_user(ed->username)) {
        why = PP_AUTH_BAD_USER_ID;
        goto fail;
    }
    if (!ed->password || !*ed->password || !client_id) {
        why = PP_AUTH_NO_PASSWORD;
        goto fail;
    }
    if (!ids_valid_client_id(ed->username, client_id)) {
        why = PP_AUTH_BAD_CLIENT_ID; /* no user can take another's client id */
        goto fail;
    }
    const auth_key *k = strmap_get(auth_keys, ed->username);
    if (!k && auth_lookup_now(ed->username))
        k = strmap_get(auth_keys, ed->username);
    if (!k) {
        why = PP_AUTH_UNKNOWN_USER;
        worker__kick_refresh(); /* maybe registered a moment ago */
        goto fail;
    }
    if (k->status != STORE_USER_ACTIVE) {
        why = k->status == STORE_USER_DELETED ? PP_AUTH_USER_DELETED : PP_AUTH_USER_DISABLED;
        goto fail;
    }
    int64_t expires_at = 0;
    const devices_entry *dev = NULL;
    int rc = auth_verify(&k->devs, ed->password, ed->username, client_id, (int64_t)time(NULL),
                         &expires_at, &dev);
    if (rc != TOKEN_OK) {
        why = auth_reason(rc);
        goto fail;
    }
    int admit = presence__admit(ed->client, ed->username, client_id, expires_at);
    if (admit != 0) {
        why = (pp_auth_fail)admit;
        goto fail;
    }
    presence__set_device_key(ed->client, dev->key);
    pp.m.auth_ok++;
    return MOSQ_ERR_SUCCESS;
fail:
    pp.m.auth_failed[why]++;
    mosquitto_log_printf(MOSQ_LOG_INFO, "parley: refused CONNECT of client %s (user %s): %s",
                         client_id ? client_id : "?", ed->username ? ed->username : "?",
                         metrics__auth_name(why));
    return MOSQ_ERR_AUTH;
}
