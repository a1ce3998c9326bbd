/*
 * skeys.c - Sender Keys glue between the crypto/ core and the local store.
 *
 * Each member owns one sending chain per group (blob "sk_own"/group). Before
 * its first message on a chain it hands the chain to every other member in a
 * pairwise message (send.c); "sk_dist"/"group\nmember" remembers which chain
 * a member has. Received chains are kept per (group, sender, chain id) in
 * "sk_peer". When a member leaves or is removed, our chain is dropped and the
 * next message starts a new one, given to the remaining members only.
 */
#include "parley_int.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/sender_keys.h"
#include "e2e.pb-c.h"
#include "ids.h"
#include "parley.pb-c.h"

#define GROUP_KEY_MAX 256

static int own_load(parley_client *c, const char *chat_id, sender_keys_state **out)
{
    uint8_t *b = NULL;
    size_t n = 0;
    *out = NULL;
    int rc = lstore_blob_get(c->store, "sk_own", chat_id, &b, &n);
    if (rc != 1)
        return rc;
    e2e_status st = sender_keys_deserialize(out, b, n);
    sodium_memzero(b, n);
    free(b);
    return st == E2E_OK ? 1 : 0; /* an unreadable state is replaced */
}

static int state_save(parley_client *c, const char *ns, const char *key, const sender_keys_state *s)
{
    uint8_t *b = NULL;
    size_t n = 0;
    if (sender_keys_serialize(s, &b, &n) != E2E_OK)
        return -1;
    int rc = lstore_blob_set(c->store, ns, key, b, n);
    sodium_memzero(b, n);
    free(b);
    return rc;
}

static void peer_key(char *out, size_t n, const char *chat_id, const char *sender,
                     uint32_t chain_id)
{
    snprintf(out, n, "%s\n%s\n%u", chat_id, sender, chain_id);
}

/* 1 if member already holds chain_id of our chain for the group. */
int skeys__has_chain(parley_client *c, const char *chat_id, const char *member, uint32_t chain_id)
{
    char key[GROUP_KEY_MAX];
    uint8_t *b = NULL;
    size_t n = 0;
    snprintf(key, sizeof key, "%s\n%s", chat_id, member);
    int rc = lstore_blob_get(c->store, "sk_dist", key, &b, &n);
    int has = rc == 1 && n == 4 &&
              ((uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3]) ==
                  chain_id;
    free(b);
    return rc < 0 ? -1 : has;
}

int skeys__set_chain(parley_client *c, const char *chat_id, const char *member, uint32_t chain_id)
{
    char key[GROUP_KEY_MAX];
    uint8_t b[4] = {(uint8_t)(chain_id >> 24), (uint8_t)(chain_id >> 16), (uint8_t)(chain_id >> 8),
                    (uint8_t)chain_id};
    snprintf(key, sizeof key, "%s\n%s", chat_id, member);
    return lstore_blob_set(c->store, "sk_dist", key, b, sizeof b);
}

int skeys__on_skd(parley_client *c, const char *sender, const void *vskd)
{
    const Parley__E2e__V1__SenderKeyDistribution *skd = vskd;
    sender_keys_distribution d;
    sender_keys_state *s = NULL;
    char key[GROUP_KEY_MAX];
    int ret = PARLEY_ECRYPTO;

    memset(&d, 0, sizeof d);
    if (!skd->group_id || !ids_is_group_chat(skd->group_id) || !ids_valid_chat(skd->group_id) ||
        strlen(skd->group_id) > SENDER_KEYS_GROUP_MAX || skd->chain_key.len != 32 ||
        skd->signature_key.len != 32) {
        util__fail(c, PARLEY_ECRYPTO, "malformed sender key from %s", sender);
        goto done;
    }
    snprintf(d.group_id, sizeof d.group_id, "%s", skd->group_id);
    d.chain_id = skd->chain_id;
    d.iteration = skd->iteration;
    memcpy(d.chain_key, skd->chain_key.data, 32);
    memcpy(d.signature_key, skd->signature_key.data, 32);
    if (sender_keys_from_distribution(&s, &d) != E2E_OK) {
        util__fail(c, PARLEY_ECRYPTO, "unusable sender key from %s", sender);
        goto done;
    }
    peer_key(key, sizeof key, skd->group_id, sender, skd->chain_id);
    if (state_save(c, "sk_peer", key, s) != 0 ||
        lstore_chat_ensure(c->store, skd->group_id, 2, "") != 0) {
        ret = util__store_fail(c);
        goto done;
    }
    ret = PARLEY_OK;

done:
    sender_keys_free(s);
    keys_wipe(&d, sizeof d);
    return ret;
}

int skeys__has_key(parley_client *c, const char *chat_id, const char *sender, const uint8_t *body,
                   size_t len)
{
    e2e_message_info info;
    char key[GROUP_KEY_MAX];
    uint8_t *b = NULL;
    size_t n = 0;
    if (!body || !len || e2e_message_inspect(body, len, &info) != E2E_OK ||
        info.kind != E2E_KIND_SENDER_KEY)
        return 1; /* decryption will say what is wrong */
    peer_key(key, sizeof key, chat_id, sender, info.chain_id);
    int rc = lstore_blob_get(c->store, "sk_peer", key, &b, &n);
    if (b) {
        sodium_memzero(b, n);
        free(b);
    }
    return rc;
}

int skeys__decrypt(parley_client *c, const char *chat_id, const char *sender, const uint8_t *body,
                   size_t len, uint8_t **pt, size_t *ptlen)
{
    e2e_message_info info;
    sender_keys_state *s = NULL;
    uint8_t *b = NULL;
    size_t n = 0;
    char key[GROUP_KEY_MAX];
    int ret;

    *pt = NULL;
    if (!body || !len || e2e_message_inspect(body, len, &info) != E2E_OK ||
        info.kind != E2E_KIND_SENDER_KEY)
        return util__fail(c, PARLEY_ECRYPTO, "not a group message");
    peer_key(key, sizeof key, chat_id, sender, info.chain_id);
    int rc = lstore_blob_get(c->store, "sk_peer", key, &b, &n);
    if (rc < 0)
        return util__store_fail(c);
    if (rc == 0)
        return util__fail(c, PARLEY_ECRYPTO, "no sender key from %s for this group", sender);
    e2e_status st = sender_keys_deserialize(&s, b, n);
    sodium_memzero(b, n);
    free(b);
    if (st != E2E_OK)
        return util__fail(c, PARLEY_ECRYPTO, "unreadable sender key state");
    st = sender_keys_decrypt(s, body, len, pt, ptlen);
    if (st != E2E_OK) {
        ret = util__fail(c, PARLEY_ECRYPTO, "%s", e2e_strerror(st));
    } else if (state_save(c, "sk_peer", key, s) != 0) {
        ret = util__store_fail(c);
        sodium_memzero(*pt, *ptlen);
        free(*pt);
        *pt = NULL;
    } else {
        ret = PARLEY_OK;
    }
    sender_keys_free(s);
    return ret;
}

int skeys__on_system(parley_client *c, const char *chat_id, const void *vev)
{
    const Parley__V1__SystemEvent *ev = vev;
    if (ev->type != PARLEY__V1__SYSTEM_EVENT__TYPE__MEMBERS_REMOVED &&
        ev->type != PARLEY__V1__SYSTEM_EVENT__TYPE__MEMBER_LEFT)
        return PARLEY_OK;
    /* Someone is gone: our next message starts a new chain, handed to the
     * remaining members only. */
    return skeys__drop_own(c, chat_id);
}

int skeys__drop_own(parley_client *c, const char *chat_id)
{
    if (lstore_blob_del(c->store, "sk_own", chat_id) != 0)
        return util__store_fail(c);
    return PARLEY_OK;
}

int skeys__own(parley_client *c, const char *chat_id, void **state, void *vdist)
{
    sender_keys_state *own = NULL;
    int have = own_load(c, chat_id, &own);
    if (have < 0)
        return util__store_fail(c);
    if (!have && sender_keys_create(&own, chat_id) != E2E_OK)
        return util__fail(c, PARLEY_ECRYPTO, "cannot create a sender key");
    if (sender_keys_distribution_get(own, vdist) != E2E_OK) {
        sender_keys_free(own);
        return util__fail(c, PARLEY_ECRYPTO, "cannot read the sender key");
    }
    *state = own;
    return PARLEY_OK;
}

int skeys__own_save(parley_client *c, const char *chat_id, const void *state)
{
    if (state_save(c, "sk_own", chat_id, state) != 0)
        return util__store_fail(c);
    return PARLEY_OK;
}
