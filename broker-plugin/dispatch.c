/*
 * dispatch.c - topic routing for client publishes, and the tick.
 */
#include "plugin_int.h"
#include "dispatch.h"
#include "groups.h"
#include "gsync.h"
#include "hardening.h"

#include <string.h>

int dispatch__message_cb(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_message *ed = event_data;
    const char *me = mosquitto_client_username(ed->client);
    const char *client_id = mosquitto_client_id(ed->client);
    char user[IDS_USER_MAX + 1];
    const char *leaf = NULL;

    willguard__message_seen();
    /* MQTT 5 properties of the sender (user properties, response topic,
     * correlation data, content type, ...) never reach a recipient: nothing
     * the plugin routes carries them. mosquitto 2.0.11 takes the event's
     * properties pointer as the message's but does not free a replaced
     * list, so the plugin frees it. */
    if (ed->properties)
        mosquitto_property_free_all(&ed->properties);
    ed->properties = NULL;
    if (!me || !client_id || wake__is_user(me)) {
        publish__discard(ed);
        return MOSQ_ERR_SUCCESS;
    }
    if (publish__parse_user_topic(ed->topic, user, &leaf)) {
        bool ctl = strcmp(leaf, "ctl") == 0;
        if (!limits__allow(me, client_id, ed->payloadlen)) {
            pp.m.rate_limited++;
            if (!strcmp(leaf, "inbox")) {
                char cmid[IDS_CLIENT_MSG_MAX + 1];
                char chat_id[IDS_CHAT_MAX + 1] = "";
                envelope__peek_cmid(ed->payload, ed->payloadlen, cmid);
                if (strcmp(me, user) && !ids_direct_chat(me, user, chat_id, sizeof chat_id))
                    chat_id[0] = '\0';
                pp.m.rejected[PP_REJ_RATE_LIMITED]++;
                receipts__rejected(me, cmid, chat_id, PP_REJ_RATE_LIMITED,
                                   "too many messages or bytes per second; retry later");
            } else if (ctl) {
                control__respond(me, "", 429, "rate_limited", "too many requests per second");
            }
            publish__discard(ed);
            return MOSQ_ERR_SUCCESS;
        }
        if (!strcmp(leaf, "inbox")) {
            envelope__handle(ed, me, user);
            return MOSQ_ERR_SUCCESS;
        }
        if (ctl && !strcmp(user, me)) {
            control__handle(ed, me);
            return MOSQ_ERR_SUCCESS;
        }
        if (!strcmp(leaf, "typing")) {
            typing__handle(ed, me, user);
            return MOSQ_ERR_SUCCESS;
        }
    } else if (!strncmp(ed->topic, "parley/g/", 9)) {
        groups__handle_publish(ed, me);
        return MOSQ_ERR_SUCCESS;
    }
    /* Anything else passed the ACL only by mistake: route it nowhere. */
    publish__discard(ed);
    return MOSQ_ERR_SUCCESS;
}

int dispatch__tick_cb(int event, void *event_data, void *userdata)
{
    int64_t now_us = clock_mono_us();
    if (pp.last_tick_us) {
        uint64_t gap = (uint64_t)(now_us - pp.last_tick_us);
        pp.m.tick_gap_us_total += gap;
        if (gap > pp.m.tick_gap_us_max)
            pp.m.tick_gap_us_max = gap;
        pp.m.ticks++;
    }
    pp.last_tick_us = now_us;
    wake__ticked(); /* before the drain: a task queued from here on wakes again */
    willguard__tick();
    tasks__drain(false);
    int64_t now_ms = clock_now_ms();
    presence__sweep(now_ms);
    cluster__tick();
    gsync__tick();
    expire__tick(now_ms);
    metrics__tick(now_ms);
    return MOSQ_ERR_SUCCESS;
}
