/*
 * presence.c - presence watches and typing indicators (docs/protocol.md,
 * "Presence and typing"). Nothing here touches the local store or the
 * outbox: presence is the broker's retained value on parley/presence/{user},
 * typing is one QoS 0 publish relayed by the plugin.
 */
#include "parley_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "parley.pb-c.h"

#define PRESENCE_PREFIX "parley/presence/"

static int subscribe_presence(parley_client *c, const char *const *users, int n)
{
    char t[PARLEY_WATCH_MAX][IDS_USER_MAX + sizeof PRESENCE_PREFIX];
    char *topics[PARLEY_WATCH_MAX];
    if (n <= 0)
        return 0;
    for (int i = 0; i < n; i++) {
        snprintf(t[i], sizeof t[i], PRESENCE_PREFIX "%s", users[i]);
        topics[i] = t[i];
    }
    return link__subscribe(c, topics, n);
}

int parley_watch_presence(parley_client *c, const char *user)
{
    if (!user || !ids_valid_user(user))
        return util__fail(c, PARLEY_EINVAL, "invalid user id");
    for (int i = 0; i < c->presence.nwatch; i++)
        if (strcmp(c->presence.watch[i], user) == 0)
            return PARLEY_OK;
    if (c->presence.nwatch >= PARLEY_WATCH_MAX)
        return util__fail(c, PARLEY_ENOMEM, "at most %d users can be watched", PARLEY_WATCH_MAX);
    if (link__ready(c) && subscribe_presence(c, &user, 1) != 0)
        return util__fail(c, PARLEY_ENET, "cannot subscribe to the presence of %s", user);
    snprintf(c->presence.watch[c->presence.nwatch++], sizeof c->presence.watch[0], "%s", user);
    return PARLEY_OK;
}

void presence__subscribe(parley_client *c)
{
    const char *users[PARLEY_WATCH_MAX];
    for (int i = 0; i < c->presence.nwatch; i++)
        users[i] = c->presence.watch[i];
    if (subscribe_presence(c, users, c->presence.nwatch) != 0)
        util__fail(c, PARLEY_ENET, "cannot subscribe to presence"); /* again on reconnect */
}

int parley_send_typing(parley_client *c, const char *to, int typing)
{
    Parley__V1__Typing msg = PARLEY__V1__TYPING__INIT;
    char topic[160];
    uint8_t buf[16];
    if (!c->has_identity)
        return util__fail(c, PARLEY_ENOIDENT, "%s", parley_strerror(PARLEY_ENOIDENT));
    if (!to)
        return util__fail(c, PARLEY_EINVAL, "invalid recipient");
    if (ids_is_group_chat(to) && ids_valid_chat(to))
        snprintf(topic, sizeof topic, "parley/g/%s/typing", to + 2);
    else if (ids_valid_user(to) && strcmp(to, c->user) != 0)
        util__topic(c, topic, sizeof topic, to, "typing");
    else
        return util__fail(c, PARLEY_EINVAL, "invalid recipient: %s", to);
    if (!link__ready(c))
        return util__fail(c, PARLEY_ENOTCONN, "not connected");
    msg.typing = typing ? 1 : 0;
    size_t n = parley__v1__typing__get_packed_size(&msg);
    if (n > sizeof buf)
        return util__fail(c, PARLEY_ENOMEM, "typing message too large");
    parley__v1__typing__pack(&msg, buf);
    if (link__publish_qos0(c, topic, buf, n) != 0)
        return util__fail(c, PARLEY_ENOTCONN, "not connected");
    return PARLEY_OK;
}

static void on_presence(parley_client *c, const char *topic, const uint8_t *payload, size_t len)
{
    const char *who = topic + strlen(PRESENCE_PREFIX);
    Parley__V1__Presence *p;
    if (!c->cb.on_presence || len == 0) /* an empty retained payload: no value */
        return;
    p = parley__v1__presence__unpack(NULL, len, payload);
    if (!p)
        return;
    if (p->state == PARLEY__V1__PRESENCE__STATE__ONLINE ||
        p->state == PARLEY__V1__PRESENCE__STATE__OFFLINE) {
        parley_presence pub = {p->user && *p->user ? p->user : who,
                               p->state == PARLEY__V1__PRESENCE__STATE__ONLINE, p->last_seen};
        c->cb.on_presence(c->cb.ud, &pub);
    }
    parley__v1__presence__free_unpacked(p, NULL);
}

static void on_typing(parley_client *c, const uint8_t *payload, size_t len)
{
    Parley__V1__Typing *t;
    if (!c->cb.on_typing)
        return;
    t = parley__v1__typing__unpack(NULL, len, payload);
    if (!t)
        return;
    /* The plugin fills user and chat_id; a group relays our own events back. */
    if (t->user && ids_valid_user(t->user) && strcmp(t->user, c->user) != 0 && t->chat_id &&
        ids_valid_chat(t->chat_id)) {
        parley_typing pub = {t->user, t->chat_id, t->typing ? 1 : 0, t->ts};
        c->cb.on_typing(c->cb.ud, &pub);
    }
    parley__v1__typing__free_unpacked(t, NULL);
}

int presence__on_message(parley_client *c, const char *topic, const uint8_t *payload, size_t len)
{
    if (strncmp(topic, PRESENCE_PREFIX, strlen(PRESENCE_PREFIX)) == 0)
        on_presence(c, topic, payload, len);
    else
        on_typing(c, payload, len);
    return 0;
}
