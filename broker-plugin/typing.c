/*
 * typing.c - typing indicators on parley/u/{peer}/typing: the plugin
 * rewrites user, chat_id and ts, then lets mosquitto relay it. Never stored.
 * Group typing (group_msg.c) is relayed the same way.
 */
#include "plugin_int.h"
#include "bus.h"

#include <string.h>

void typing__relay(struct mosquitto_evt_message *ed, const char *me, const char *chat_id,
                   const Parley__V1__Typing *in)
{
    Parley__V1__Typing out = PARLEY__V1__TYPING__INIT;
    char peer[IDS_USER_MAX + 1];
    out.user = (char *)me;
    out.chat_id = (char *)chat_id;
    out.typing = in->typing;
    out.ts = clock_now_ms();
    if (publish__set_payload(ed, &out.base) != MOSQ_ERR_SUCCESS) {
        publish__discard(ed);
        return;
    }
    pp.m.typing++;
    /* mosquitto routes it here; the other nodes get a copy (route.c). */
    if (ids_is_group_chat(chat_id))
        route__remote(BUS_GROUP, chat_id, NULL, ed->topic, ed->payload, ed->payloadlen);
    else if (ids_direct_peer(chat_id, me, peer, sizeof peer))
        route__remote(BUS_USER, peer, NULL, ed->topic, ed->payload, ed->payloadlen);
}

void typing__handle(struct mosquitto_evt_message *ed, const char *me, const char *peer)
{
    char chat_id[IDS_CHAT_MAX + 1];
    Parley__V1__Typing *in = parley__v1__typing__unpack(NULL, ed->payloadlen, ed->payload);
    if (!in || !strcmp(me, peer) || !auth__user_exists(peer) ||
        !ids_direct_chat(me, peer, chat_id, sizeof chat_id)) {
        publish__discard(ed);
        goto out;
    }
    typing__relay(ed, me, chat_id, in);
out:
    if (in)
        parley__v1__typing__free_unpacked(in, NULL);
}
