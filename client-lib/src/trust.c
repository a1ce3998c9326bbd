/*
 * trust.c - contact identity keys. A contact's key is pinned on first
 * contact, and only if the keyserver (GET /v1/identity) serves the key a
 * PreKey message carries; a change is accepted only when the keyserver
 * serves the new key, and surfaced (PARLEY_EVENT_IDENTITY_CHANGED). Before
 * a send, the pinned key is checked again (at most once a minute per contact).
 */
#include "parley_int.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "ksclient.h"

int trust__note(parley_client *c, const char *user, const uint8_t ik[32])
{
    uint8_t known[32];
    int rc = lstore_contact_get(c->store, user, known);
    if (rc < 0)
        return -1;
    if (rc == 1 && sodium_memcmp(known, ik, 32) == 0)
        return 0;
    if (lstore_contact_set(c->store, user, ik) != 0)
        return -1;
    if (rc == 0)
        return 0; /* first contact: trusted on first use */
    util__emit_event(c, PARLEY_EVENT_IDENTITY_CHANGED, NULL, 0, user,
                     "the identity key of this contact changed: verify the safety number");
    return 1;
}

void trust__forget(parley_client *c)
{
    c->trust.vouch.valid = 0;
}

void trust__prefetch(parley_client *c, const char *sender, const uint8_t *body, size_t len)
{
    e2e_message_info info;
    uint8_t known[32];

    c->trust.vouch.valid = 0;
    if (!body || len == 0 || e2e_message_inspect(body, len, &info) != E2E_OK ||
        info.kind != E2E_KIND_PREKEY)
        return;
    int rc = lstore_contact_get(c->store, sender, known);
    if (rc == 1 && sodium_memcmp(known, info.identity_key, 32) == 0)
        return; /* the pinned key: nothing to ask */
    memset(&c->trust.vouch, 0, sizeof c->trust.vouch);
    snprintf(c->trust.vouch.user, sizeof c->trust.vouch.user, "%s", sender);
    c->trust.vouch.rc = ksclient_get_identity(c->keyserver_url, c->ca_file, sender,
                                              c->trust.vouch.ik, c->trust.vouch.err,
                                              sizeof c->trust.vouch.err);
    c->trust.vouch.valid = 1;
}

/* May a PreKey message from sender carrying identity key ik start a session?
 * PARLEY_OK: ik is the pinned key, or the keyserver serves ik (first contact
 * or a change, recorded by the caller after decryption). PARLEY_ECRYPTO:
 * refused (the keyserver serves another key, or none). PARLEY_ENET: not
 * checked (keyserver unreachable or failing): keep the message for a retry. */
int trust__vouched(parley_client *c, const char *sender, const uint8_t ik[32])
{
    uint8_t known[32];
    int rc = lstore_contact_get(c->store, sender, known);
    if (rc < 0)
        return util__store_fail(c);
    if (rc == 1 && sodium_memcmp(known, ik, 32) == 0)
        return PARLEY_OK;
    const char *what = rc == 1 ? "changed identity key" : "identity key";
    if (!c->trust.vouch.valid || strcmp(c->trust.vouch.user, sender) != 0)
        return util__fail(c, PARLEY_ENET,
                          "the %s of %s was not checked with the keyserver: "
                          "kept for a retry",
                          what, sender);
    if (c->trust.vouch.rc == PARLEY_ENOTFOUND)
        return util__fail(c, PARLEY_ECRYPTO,
                          "refused: the keyserver has no identity key for "
                          "%s",
                          sender);
    if (c->trust.vouch.rc != PARLEY_OK)
        return util__fail(c, PARLEY_ENET,
                          "cannot check the %s of %s with the keyserver "
                          "(%s): kept for a retry",
                          what, sender, c->trust.vouch.err);
    if (sodium_memcmp(c->trust.vouch.ik, ik, 32) != 0)
        return util__fail(c, PARLEY_ECRYPTO,
                          "refused: the %s of %s in this message does not "
                          "match the keyserver's",
                          what, sender);
    return PARLEY_OK;
}

/* 1 if peer's identity was checked with the keyserver in the last minute. */
static int idcheck_recent(parley_client *c, const char *peer)
{
    int64_t now = clock_mono_ms();
    for (int i = 0; i < CLIENT_IDCHECK_MAX; i++)
        if (c->trust.idcheck[i].user[0] && strcmp(c->trust.idcheck[i].user, peer) == 0)
            return now - c->trust.idcheck[i].at_ms < CLIENT_IDCHECK_MS;
    return 0;
}

static void idcheck_note(parley_client *c, const char *peer)
{
    client_idcheck *e = NULL;
    for (int i = 0; i < CLIENT_IDCHECK_MAX && !e; i++)
        if (strcmp(c->trust.idcheck[i].user, peer) == 0)
            e = &c->trust.idcheck[i];
    if (!e) {
        e = &c->trust.idcheck[c->trust.idcheck_next];
        c->trust.idcheck_next = (c->trust.idcheck_next + 1) % CLIENT_IDCHECK_MAX;
    }
    snprintf(e->user, sizeof e->user, "%s", peer);
    e->at_ms = clock_mono_ms();
}

int trust__check(parley_client *c, const char *peer, uint8_t ik[32])
{
    uint8_t known[32];
    char err[CLIENT_ERR_MAX];

    if (idcheck_recent(c, peer))
        return 1;
    if (ksclient_get_identity(c->keyserver_url, c->ca_file, peer, ik, err, sizeof err) != PARLEY_OK)
        return 1; /* cannot tell: keep using the session (documented) */
    int rc = lstore_contact_get(c->store, peer, known);
    if (rc < 0) {
        util__store_fail(c);
        return -1;
    }
    if (rc == 1 && sodium_memcmp(known, ik, 32) == 0) {
        idcheck_note(c, peer);
        return 1;
    }
    return 0;
}

void trust__checked(parley_client *c, const char *peer)
{
    idcheck_note(c, peer);
}
