/*
 * route.c - where a publish to a client's topic goes: to this node's
 * subscribers (mosquitto_broker_publish) and, in a cluster, to the other
 * nodes over the bus as a DELIVER frame on the user's or group's subject
 * (docs/cluster.md, "Deliveries across nodes"). The receiving node checks
 * the frame and publishes it to its own subscribers; mosquitto's READ ACL
 * (acl.c, groups.c) decides there, with that node's model, who gets it.
 *
 * Every publish to a client-visible topic the plugin makes goes through
 * here: inbox deliveries (message.c), receipts (receipts.c), typing relays
 * (typing.c). Responses (rsp) stay local: the requester is connected here.
 *
 * DELIVER body (all integers big-endian):
 *   flags (1)  ROUTE_F_SYSTEM: a SYSTEM envelope (group events);
 *              ROUTE_F_AFTER_GROUP: deliver only once this node has
 *              reloaded the group named in chat (a new member's copy of
 *              a group event: its SUBSCRIBE must find it a member)
 *   seq (8)    the envelope's seq, 0 for receipts and typing
 *   chat_len (1), chat      the chat of seq ("" when seq is 0)
 *   sender_len (1), sender  the envelope's sender ("" when seq is 0)
 *   topic_len (2), topic
 *   payload    the rest
 * Broker thread only.
 */
#include "plugin_int.h"
#include "bus.h"
#include "gsync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROUTE_HEAD_MAX (1 + 8 + 1 + IDS_CHAT_MAX + 1 + IDS_USER_MAX + 2 + PP_TOPIC_MAX)

static uint64_t route_in, route_bad;

/* ---- sending ---------------------------------------------------------------------- */

void route__remote(int kind, const char *id, const route_meta *meta, const char *topic,
                   const void *payload, size_t len)
{
    if (!bus__enabled() || (meta && (meta->flags & ROUTE_F_NO_BUS)))
        return;
    const char *chat = meta && meta->chat_id ? meta->chat_id : "";
    const char *sender = meta && meta->sender ? meta->sender : "";
    size_t cl = strlen(chat), sl = strlen(sender), tl = strlen(topic);
    if (cl > IDS_CHAT_MAX || sl > IDS_USER_MAX || tl >= PP_TOPIC_MAX)
        return;
    uint8_t b[ROUTE_HEAD_MAX], *p = b;
    uint64_t seq = meta ? meta->seq : 0;
    *p++ = meta ? (uint8_t)(meta->flags & ~ROUTE_F_LOCAL) : 0;
    for (int i = 7; i >= 0; i--)
        *p++ = (uint8_t)(seq >> (8 * i));
    *p++ = (uint8_t)cl;
    memcpy(p, chat, cl);
    p += cl;
    *p++ = (uint8_t)sl;
    memcpy(p, sender, sl);
    p += sl;
    *p++ = (uint8_t)(tl >> 8);
    *p++ = (uint8_t)tl;
    memcpy(p, topic, tl);
    p += tl;
    /* At most once: a node that misses it repairs (gsync.c) or its
     * clients sync. The head and the payload go straight into the bus's
     * queue entry (one allocation, one copy). */
    bus_part parts[2] = {{b, (size_t)(p - b)}, {payload, len}};
    bus__publishv((bus_kind)kind, id, BUS_T_DELIVER, parts, 2);
}

/* Encode msg straight into a buffer mosquitto can own (mosquitto_malloc):
 * the bus copies it into its frame first, then the buffer itself is handed
 * to mosquitto_broker_publish (publish__own), no second copy. */
static uint8_t *route_pack(const ProtobufCMessage *msg, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = mosquitto_malloc(*len ? *len : 1);
    if (buf)
        protobuf_c_message_pack(msg, buf);
    return buf;
}

int route__user(const char *user, const char *leaf, const ProtobufCMessage *msg,
                const route_meta *meta)
{
    char topic[PP_TOPIC_MAX];
    size_t len;
    snprintf(topic, sizeof topic, "parley/u/%s/%s", user, leaf);
    uint8_t *buf = route_pack(msg, &len);
    if (!buf)
        return MOSQ_ERR_NOMEM;
    route__remote(BUS_USER, user, meta, topic, buf, len);
    return publish__own(topic, buf, len);
}

int route__group(const char *chat_id, const ProtobufCMessage *msg, const route_meta *meta)
{
    char topic[PP_TOPIC_MAX];
    size_t len;
    snprintf(topic, sizeof topic, "parley/g/%s/inbox", chat_id + 2);
    uint8_t *buf = route_pack(msg, &len);
    if (!buf)
        return MOSQ_ERR_NOMEM;
    route__remote(BUS_GROUP, chat_id, meta, topic, buf, len);
    if (bus__enabled() && meta && meta->seq) {
        gsync__frame(chat_id, meta, topic, buf, len); /* this node's copy, in seq order */
        mosquitto_free(buf);
        return MOSQ_ERR_SUCCESS;
    }
    return publish__own(topic, buf, len);
}

/* ---- receiving -------------------------------------------------------------------- */

/* "parley/u/{id}/{leaf}" or "parley/g/{gid}/{leaf}" naming exactly the
 * subject's id, with a leaf the plugin publishes to. */
static bool route_topic_ok(bus_kind kind, const char *id, const char *topic)
{
    const char *prefix = kind == BUS_USER ? "parley/u/" : "parley/g/";
    const char *name = kind == BUS_USER ? id : id + 2;
    size_t pl = strlen(prefix), nl = strlen(name);
    if (kind == BUS_GROUP && (strncmp(id, "g:", 2) || !ids_valid_chat(id)))
        return false;
    if (kind == BUS_USER && !ids_valid_user(id))
        return false;
    if (strncmp(topic, prefix, pl) || strncmp(topic + pl, name, nl) || topic[pl + nl] != '/')
        return false;
    const char *leaf = topic + pl + nl + 1;
    if (!strcmp(leaf, "inbox") || !strcmp(leaf, "typing"))
        return true;
    return kind == BUS_USER && !strcmp(leaf, "receipts");
}

static void route_deliver_frame(const bus_msg *m)
{
    const uint8_t *p = m->body, *end = m->body + m->len;
    char chat[IDS_CHAT_MAX + 1], sender[IDS_USER_MAX + 1], topic[PP_TOPIC_MAX];
    route_meta meta = {.chat_id = chat, .sender = sender};
    if (m->kind != BUS_USER && m->kind != BUS_GROUP)
        goto bad;
    if (end - p < 10)
        goto bad;
    meta.flags = *p++;
    for (int i = 0; i < 8; i++)
        meta.seq = meta.seq << 8 | *p++;
    size_t cl = *p++;
    if (cl > IDS_CHAT_MAX || (size_t)(end - p) < cl + 1)
        goto bad;
    memcpy(chat, p, cl);
    chat[cl] = '\0';
    p += cl;
    size_t sl = *p++;
    if (sl > IDS_USER_MAX || (size_t)(end - p) < sl + 2)
        goto bad;
    memcpy(sender, p, sl);
    sender[sl] = '\0';
    p += sl;
    size_t tl = (size_t)p[0] << 8 | p[1];
    p += 2;
    if (tl == 0 || tl >= PP_TOPIC_MAX || (size_t)(end - p) < tl)
        goto bad;
    memcpy(topic, p, tl);
    topic[tl] = '\0';
    p += tl;
    if (memchr(topic, '\0', tl) || !route_topic_ok(m->kind, m->id, topic))
        goto bad;
    if (meta.seq && (!ids_valid_chat(chat) || !ids_valid_user(sender)))
        goto bad;
    route_in++;
    size_t len = (size_t)(end - p);
    if (m->kind == BUS_GROUP) {
        if (meta.seq && strcmp(chat, m->id))
            goto bad;
        if (meta.seq)
            gsync__frame(m->id, &meta, topic, p, len);
        else
            publish__raw(topic, p, len); /* typing */
        return;
    }
    if (meta.seq && !ids_is_group_chat(chat))
        envelope__note_seq(chat, meta.seq);
    if ((meta.flags & ROUTE_F_AFTER_GROUP) && ids_is_group_chat(chat))
        gsync__after_reload(chat, topic, p, len);
    else
        publish__raw(topic, p, len);
    return;
bad:
    route_bad++;
    mosquitto_log_printf(MOSQ_LOG_WARNING,
                         "parley: cluster: malformed delivery from node %s dropped", m->node);
}

uint64_t route__frames_in(void)
{
    return route_in;
}

uint64_t route__frames_bad(void)
{
    return route_bad;
}

void route__init(void)
{
    route_in = route_bad = 0;
    bus__set_handler(BUS_T_DELIVER, route_deliver_frame);
}
