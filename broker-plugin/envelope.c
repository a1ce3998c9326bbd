/*
 * envelope.c - 1:1 sends: a publish to parley/u/{recipient}/inbox is
 * checked, stamped with the server fields (server_id, chat_id, seq, sender,
 * server_ts, kind, recipient; sender_client_id stays empty), re-encoded in
 * place of the client's payload, queued for the writer, and then routed by
 * mosquitto. A recipient the key cache does not know is looked up in the
 * store first (lookup.c); such a send is finished and published by the
 * plugin when the answer comes back.
 *
 * Per-chat sequence numbers are assigned here, synchronously, from an
 * in-memory counter loaded at init (store_chat_last_seqs), so the order of a
 * chat is total. A bounded map (sender, client_msg_id) -> (server_id, seq,
 * stored?) (dedup.c) makes retries idempotent while the broker runs; after a
 * restart the store's EDUP keeps "stored once" (docs/protocol.md, "Sending a
 * message"). The checks, the stamping and the retry answer are shared with
 * group sends (group_msg.c).
 */
#include "hardening.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MEDIA_ID_MAX 128

static strmap *env_seqs;       /* chat_id -> uint64_t* last assigned seq */
static pp_dedup *env_dedup;    /* retries of 1:1 sends (dedup.c) */

int envelope__init(store_t *s)
{
    char **ids = NULL;
    uint64_t *seqs = NULL;
    size_t n = 0;
    int ret = -1;
    env_seqs = strmap_new(free);
    env_dedup = dedup__new();
    if (!env_seqs || !env_dedup)
        goto out;
    int rc = store_chat_last_seqs(s, &ids, &seqs, &n);
    if (rc != STORE_OK) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "parley: cannot load chat sequence numbers: %s (%s)",
                             store_strerror(rc), store_last_error(s));
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t *v = malloc(sizeof *v);
        if (!v || strmap_put(env_seqs, ids[i], v) != 0) {
            free(v);
            goto out;
        }
        *v = seqs[i];
    }
    mosquitto_log_printf(MOSQ_LOG_NOTICE, "parley: %zu chat(s) loaded", n);
    ret = 0;
out:
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
    free(seqs);
    return ret;
}

void envelope__cleanup(void)
{
    strmap_free(env_seqs);
    env_seqs = NULL;
    dedup__free(env_dedup);
    env_dedup = NULL;
}

uint64_t envelope__last_seq(const char *chat_id)
{
    const uint64_t *v = strmap_get(env_seqs, chat_id);
    return v ? *v : 0;
}

/* The chat's counter, creating the chat (in memory and through the writer)
 * on its first message. NULL if the writer refused. */
static uint64_t *envelope_chat(const char *chat_id, const char *a, const char *b, int64_t now)
{
    uint64_t *v = strmap_get(env_seqs, chat_id);
    if (v)
        return v;
    v = calloc(1, sizeof *v);
    if (!v)
        return NULL;
    if (persist__create_direct_chat(chat_id, a, b, now) != 0 || strmap_put(env_seqs, chat_id, v) != 0) {
        free(v);
        return NULL;
    }
    return v;
}

/* Bounded protobuf scan helpers for envelope__peek_cmid. */
static bool env_varint(const uint8_t *p, size_t len, size_t *pos, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64 && *pos < len; shift += 7) {
        uint8_t b = p[(*pos)++];
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return true;
    }
    return false;
}

void envelope__peek_cmid(const void *payload, size_t len, char out[IDS_CLIENT_MSG_MAX + 1])
{
    const uint8_t *p = payload;
    const uint8_t *found = NULL;
    size_t found_len = 0, pos = 0;
    out[0] = '\0';
    while (p && pos < len) {
        uint64_t key, v;
        if (!env_varint(p, len, &pos, &key))
            break;
        switch (key & 7) {
        case 0:
            if (!env_varint(p, len, &pos, &v))
                goto done;
            break;
        case 1:
            if (len - pos < 8)
                goto done;
            pos += 8;
            break;
        case 5:
            if (len - pos < 4)
                goto done;
            pos += 4;
            break;
        case 2:
            if (!env_varint(p, len, &pos, &v) || v > len - pos)
                goto done;
            if ((key >> 3) == 6) { /* client_msg_id; the last occurrence wins */
                found = p + pos;
                found_len = (size_t)v;
            }
            pos += (size_t)v;
            break;
        default: /* groups or garbage: stop here */
            goto done;
        }
    }
done:
    if (found)
        envelope__safe_cmid((const char *)found, found_len, out);
}

void envelope__safe_cmid(const char *in, size_t len, char out[IDS_CLIENT_MSG_MAX + 1])
{
    static const char hex[] = "0123456789ABCDEF";
    bool valid = len >= 1 && len <= IDS_CLIENT_MSG_MAX;
    for (size_t i = 0; valid && i < len; i++)
        if (in[i] < 0x21 || in[i] > 0x7e || in[i] == '/')
            valid = false;
    if (valid) {
        memcpy(out, in, len);
        out[len] = '\0';
        return;
    }
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        bool plain = c >= 0x21 && c <= 0x7e && c != '/' && c != '%';
        size_t need = plain ? 1 : 3;
        if (o + need > IDS_CLIENT_MSG_MAX)
            break;
        if (plain) {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
}

/* The checks of envelope__unpack_checked on a payload buffer. */
static Parley__V1__Envelope *envelope_unpack_buf(const void *payload, size_t len,
                                                 char cmid[IDS_CLIENT_MSG_MAX + 1],
                                                 pp_reject *why, const char **reason)
{
    Parley__V1__Envelope *in = NULL;
    if (len > pp.cfg.max_payload + PP_ENVELOPE_OVERHEAD) {
        *why = PP_REJ_TOO_LARGE;
        *reason = "envelope larger than the server's payload limit";
        envelope__peek_cmid(payload, len, cmid);
        return NULL;
    }
    in = parley__v1__envelope__unpack(NULL, len, payload);
    if (!in) {
        *why = PP_REJ_MALFORMED;
        *reason = "payload is not a parley.v1.Envelope";
        envelope__peek_cmid(payload, len, cmid);
        return NULL;
    }
    if (!ids_valid_client_msg(in->client_msg_id)) {
        *why = PP_REJ_BAD_CLIENT_MSG_ID;
        *reason = "client_msg_id must be 1-64 printable ASCII characters without '/'";
        /* Echoed made safe (escaped, cut): for display, not for matching. */
        envelope__peek_cmid(payload, len, cmid);
        goto fail;
    }
    snprintf(cmid, IDS_CLIENT_MSG_MAX + 1, "%s", in->client_msg_id);
    if (in->body.len > pp.cfg.max_payload) {
        *why = PP_REJ_TOO_LARGE;
        *reason = "body larger than the server's payload limit";
        goto fail;
    }
    if (strlen(in->media_id) > MEDIA_ID_MAX) {
        *why = PP_REJ_MALFORMED;
        *reason = "media_id too long";
        goto fail;
    }
    return in;
fail:
    parley__v1__envelope__free_unpacked(in, NULL);
    return NULL;
}

Parley__V1__Envelope *envelope__unpack_checked(const struct mosquitto_evt_message *ed,
                                               char cmid[IDS_CLIENT_MSG_MAX + 1], pp_reject *why,
                                               const char **reason)
{
    return envelope_unpack_buf(ed->payload, ed->payloadlen, cmid, why, reason);
}

bool envelope__answer_retry(const pp_dedup *d, struct mosquitto_evt_message *ed, const char *me,
                            const char *cmid)
{
    const pp_dedup_entry *dup = dedup__find(d, me, cmid);
    if (!dup)
        return false;
    pp.m.duplicates++;
    if (dup->stored)
        receipts__stored(me, dup->chat_id, dup->seq, dup->server_id, cmid);
    publish__discard(ed);
    return true;
}

void envelope__stamp(Parley__V1__Envelope *out, const Parley__V1__Envelope *in, const char *me,
                     const char *cmid, const char *chat_id, uint64_t seq, int64_t now,
                     char server_id[IDS_SERVER_ID_LEN + 1])
{
    ids_random(server_id);
    *out = (Parley__V1__Envelope)PARLEY__V1__ENVELOPE__INIT;
    out->server_id = server_id;
    out->chat_id = (char *)chat_id;
    out->seq = seq;
    out->sender = (char *)me;
    out->server_ts = now;
    out->client_msg_id = (char *)cmid;
    out->body = in->body;
    out->media_id = in->media_id;
    out->ttl_s = in->ttl_s;
    out->kind = PARLEY__V1__ENVELOPE_KIND__CHAT;
    /* sender_client_id stays empty: a user's MQTT client ids are nobody
     * else's business (docs/security.md, "Holes found from outside"). */
}

/* A 1:1 send of payload from me to recipient. ed is the publish being
 * handled (stamped in place, or discarded), or NULL for a send resumed after
 * a store lookup (lookup.c), which the plugin publishes itself. */
static void envelope_send(struct mosquitto_evt_message *ed, const char *me, const char *recipient,
                          const void *payload, size_t len)
{
    Parley__V1__Envelope *in = NULL;
    char cmid[IDS_CLIENT_MSG_MAX + 1] = "";
    char chat_id[IDS_CHAT_MAX + 1] = "";
    pp_reject why;
    const char *reason;

    if (strcmp(me, recipient) && !ids_direct_chat(me, recipient, chat_id, sizeof chat_id))
        chat_id[0] = '\0';
    in = envelope_unpack_buf(payload, len, cmid, &why, &reason);
    if (!in)
        goto reject;
    if (!strcmp(me, recipient)) {
        why = PP_REJ_SELF_SEND;
        reason = "a user cannot send a direct message to itself";
        goto reject;
    }
    lookup_answer known = lookup__user(recipient);
    if (ed && chat_id[0] && (known == LOOKUP_ASK || lookup__send_pending(recipient))) {
        /* Maybe registered a moment ago (or an earlier send to them is
         * still waiting): ask the store, finish the send afterwards. */
        if (lookup__defer_send(me, recipient, payload, len) != 0) {
            why = PP_REJ_OVERLOADED;
            reason = "the server is busy; retry later";
            goto reject;
        }
        publish__discard(ed);
        goto out;
    }
    if (known != LOOKUP_YES || !chat_id[0]) {
        chat_id[0] = '\0'; /* no such chat either */
        why = PP_REJ_UNKNOWN_RECIPIENT;
        reason = "no such user";
        goto reject;
    }
    /* A retry: same server id and seq, routed and stored only once. */
    if (ed) {
        if (envelope__answer_retry(env_dedup, ed, me, cmid))
            goto out;
    } else {
        const pp_dedup_entry *dup = dedup__find(env_dedup, me, cmid);
        if (dup) {
            pp.m.duplicates++;
            if (dup->stored)
                receipts__stored(me, dup->chat_id, dup->seq, dup->server_id, cmid);
            goto out;
        }
    }

    int64_t now = pp_now_ms();
    uint64_t *counter = envelope_chat(chat_id, me, recipient, now);
    if (!counter) {
        why = PP_REJ_OVERLOADED;
        reason = "the server's store queue is full; retry later";
        goto reject;
    }
    char server_id[IDS_SERVER_ID_LEN + 1];
    Parley__V1__Envelope out;
    envelope__stamp(&out, in, me, cmid, chat_id, *counter + 1, now, server_id);
    out.recipient = (char *)recipient;
    if (persist__message(&out, env_dedup) != 0) {
        why = PP_REJ_OVERLOADED;
        reason = "the server's store queue is full; retry later";
        goto reject;
    }
    *counter = out.seq;
    dedup__insert(env_dedup, me, cmid, server_id, chat_id, out.seq);
    if (ed) {
        if (publish__set_payload(ed, &out.base) != MOSQ_ERR_SUCCESS)
            publish__discard(ed); /* stored; the recipient gets it by sync */
    } else {
        char topic[PP_TOPIC_MAX];
        snprintf(topic, sizeof topic, "parley/u/%s/inbox", recipient);
        publish__msg(topic, &out.base, false); /* on failure: stored, synced */
    }
    pp.m.messages_in++;
    goto out;

reject:
    pp.m.rejected[why]++;
    receipts__rejected(me, cmid, chat_id, why, reason);
    if (ed)
        publish__discard(ed);
out:
    if (in)
        parley__v1__envelope__free_unpacked(in, NULL);
}

void envelope__handle(struct mosquitto_evt_message *ed, const char *me, const char *recipient)
{
    envelope_send(ed, me, recipient, ed->payload, ed->payloadlen);
}

void envelope__resume_send(const char *me, const char *recipient, const void *payload, size_t len)
{
    envelope_send(NULL, me, recipient, payload, len);
}
