/*
 * stamp.c - the one place an Envelope is stamped from the store's record:
 * the server's fields (server_id, chat_id, seq, sender, server_ts, kind,
 * sender_device, deleted_by, deleted_at),
 * the client's (client_msg_id, body, media_id) and ttl_s. Used by the
 * message path (message.c) and by the group gate's repairs (gsync.c).
 */
#include "plugin_int.h"

void stamp__envelope(Parley__V1__Envelope *out, const store_message *m, uint32_t ttl_s)
{
    *out = (Parley__V1__Envelope)PARLEY__V1__ENVELOPE__INIT;
    out->server_id = m->server_id;
    out->chat_id = m->chat_id;
    out->seq = m->seq;
    out->sender = m->sender;
    out->server_ts = m->server_ts;
    out->client_msg_id = m->client_msg_id;
    out->body.data = m->body;
    out->body.len = m->body_len;
    out->media_id = m->media_id ? m->media_id : "";
    out->ttl_s = ttl_s;
    out->kind = (Parley__V1__EnvelopeKind)m->kind;
    out->sender_device = m->sender_device ? m->sender_device : "";
    /* TOMBSTONE: who deleted it and when (the client's values never reach
     * here: the record is built by the plugin) */
    out->deleted_by = m->deleted_by ? m->deleted_by : "";
    out->deleted_at = m->deleted_at;
    /* sender_client_id stays empty: a user's MQTT client ids are nobody
     * else's business (docs/security.md, "Holes found from outside"). */
}
