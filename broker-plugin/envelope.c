/*
 * envelope.c - 1:1 sends: a publish to parley/u/{recipient}/inbox is
 * checked and consumed (redirected to PP_DISCARD_TOPIC); the message goes
 * to the store (message.c), which assigns the chat's seq, and only after
 * the commit is the stamped envelope delivered to the recipient's inbox and
 * STORED sent. A recipient the key cache does not know is looked up in the
 * store first (lookup.c); such a send resumes here when the answer comes
 * back.
 *
 * What stays in memory is the set of direct chats with their last
 * committed seq (loaded at init, raised by each commit): it tells whether a
 * chat must be created before its first message and bounds an ack's seq.
 * It is not a sequencer: the store is. Retries need no map either: the
 * store recognises (sender, client_msg_id) and answers with the original
 * seq (docs/protocol.md, "Sending a message"). The checks are shared with
 * group sends (group_msg.c).
 */
#include "hardening.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MEDIA_ID_MAX 128

static strmap *env_chats;       /* chat_id -> uint64_t* last committed seq */

int envelope__init(store_t *s)
{
    char **ids = NULL;
    uint64_t *seqs = NULL;
    size_t n = 0;
    int ret = -1;
    env_chats = strmap_new(free);
    if (!env_chats)
        goto out;
    int rc = store_chat_last_seqs(s, &ids, &seqs, &n);
    if (rc != STORE_OK) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "parley: cannot load chat sequence numbers: %s (%s)",
                             store_strerror(rc), store_last_error(s));
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t *v = malloc(sizeof *v);
        if (!v || strmap_put(env_chats, ids[i], v) != 0) {
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
    strmap_free(env_chats);
    env_chats = NULL;
}

uint64_t envelope__last_seq(const char *chat_id)
{
    const uint64_t *v = strmap_get(env_chats, chat_id);
    return v ? *v : 0;
}

void envelope__note_seq(const char *chat_id, uint64_t seq)
{
    uint64_t *v = strmap_get(env_chats, chat_id);
    if (!v) {
        if (!(v = calloc(1, sizeof *v)))
            return;
        if (strmap_put(env_chats, chat_id, v) != 0) {
            free(v);
            return;
        }
    }
    if (seq > *v)
        *v = seq;
}

/* The chat's entry, creating the chat (in memory and through the writer)
 * on its first message. NULL if the writer refused. */
static uint64_t *envelope_chat(const char *chat_id, const char *a, const char *b, int64_t now)
{
    uint64_t *v = strmap_get(env_chats, chat_id);
    if (v)
        return v;
    v = calloc(1, sizeof *v);
    if (!v)
        return NULL;
    if (writer__direct_chat(chat_id, a, b, now) != 0 || strmap_put(env_chats, chat_id, v) != 0) {
        free(v);
        return NULL;
    }
    return v;
}

/* Broker thread, after the commit: raise the chat's committed seq. A chat
 * that never had a message stored is forgotten when a write fails, so that
 * the next send queues its creation again (the failed batch may have held
 * it; STORE_EEXIST is harmless). */
static void envelope_committed(const pp_committed *c, void *ctx)
{
    (void)ctx;
    uint64_t *v = strmap_get(env_chats, c->chat_id);
    if (c->stopping || !v)
        return;
    if (c->rc != STORE_OK && c->rc != STORE_EDUP) {
        if (*v == 0)
            strmap_remove(env_chats, c->chat_id);
        return;
    }
    if (c->seq > *v)
        *v = c->seq;
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
        default: /* groups or garbage: stop here */ goto done;
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

/* The unpack arena (pp_arena): most envelopes fit in its buffer, so
 * unpacking one costs no heap allocation. */
static void *arena_alloc(void *data, size_t size)
{
    pp_arena *a = data;
    size_t at = (a->used + 15) & ~(size_t)15;
    if (size <= sizeof a->buf && at <= sizeof a->buf - size) {
        a->used = at + size;
        return a->buf + at;
    }
    return malloc(size ? size : 1);
}

static void arena_free(void *data, void *p)
{
    pp_arena *a = data;
    if ((uint8_t *)p < a->buf || (uint8_t *)p >= a->buf + sizeof a->buf)
        free(p);
}

static void arena_init(pp_arena *a)
{
    a->a.alloc = arena_alloc;
    a->a.free = arena_free;
    a->a.allocator_data = a;
    a->used = 0;
}

void envelope__free(Parley__V1__Envelope *in, pp_arena *arena)
{
    if (in)
        parley__v1__envelope__free_unpacked(in, &arena->a);
}

/* The checks of envelope__unpack_checked on a payload buffer. */
static Parley__V1__Envelope *envelope_unpack_buf(const void *payload, size_t len, pp_arena *arena,
                                                 char cmid[IDS_CLIENT_MSG_MAX + 1], pp_reject *why,
                                                 const char **reason)
{
    Parley__V1__Envelope *in = NULL;
    arena_init(arena);
    if (len > pp.cfg.max_payload + PP_ENVELOPE_OVERHEAD) {
        *why = PP_REJ_TOO_LARGE;
        *reason = "envelope larger than the server's payload limit";
        envelope__peek_cmid(payload, len, cmid);
        return NULL;
    }
    in = parley__v1__envelope__unpack(&arena->a, len, payload);
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
    envelope__free(in, arena);
    return NULL;
}

Parley__V1__Envelope *envelope__unpack_checked(const struct mosquitto_evt_message *ed,
                                               pp_arena *arena, char cmid[IDS_CLIENT_MSG_MAX + 1],
                                               pp_reject *why, const char **reason)
{
    return envelope_unpack_buf(ed->payload, ed->payloadlen, arena, cmid, why, reason);
}

/* A 1:1 send of payload from me to recipient. ed is the publish being
 * handled (consumed), or NULL for a send resumed after a store lookup
 * (lookup.c). */
static void envelope_send(struct mosquitto_evt_message *ed, const char *me, const char *dev,
                          const char *recipient, const void *payload, size_t len)
{
    Parley__V1__Envelope *in = NULL;
    pp_arena arena;
    char cmid[IDS_CLIENT_MSG_MAX + 1] = "";
    char chat_id[IDS_CHAT_MAX + 1] = "";
    char device[DEVICES_ID_MAX + 1] = "";
    char stale[IDS_USER_MAX + 200];
    pp_reject why;
    const char *reason;

    if (strcmp(me, recipient) && !ids_direct_chat(me, recipient, chat_id, sizeof chat_id))
        chat_id[0] = '\0';
    /* the publisher's device, from its client id (a resumed send carries it) */
    if (ed)
        auth__sender_device(me, mosquitto_client_id(ed->client), device);
    else
        snprintf(device, sizeof device, "%s", dev ? dev : "");
    in = envelope_unpack_buf(payload, len, &arena, cmid, &why, &reason);
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
        if (lookup__defer_send(me, device, recipient, payload, len) != 0) {
            why = PP_REJ_OVERLOADED;
            reason = "the server is busy; retry later";
            goto reject;
        }
        goto out;
    }
    if (known != LOOKUP_YES || !chat_id[0]) {
        chat_id[0] = '\0'; /* no such chat either */
        why = PP_REJ_UNKNOWN_RECIPIENT;
        reason = "no such user";
        goto reject;
    }
    /* Linked devices: a message encrypted to an older device list of the
     * recipient or of the sender is refused, so the client re-encrypts to
     * the devices as they are now (docs/protocol.md "Devices"). */
    uint64_t rv = auth__devices_version(recipient), sv = auth__devices_version(me);
    if (in->devices_version < rv || in->own_devices_version < sv) {
        bool theirs = in->devices_version < rv;
        snprintf(stale, sizeof stale,
                 "the device list of %s is at version %llu (the message was encrypted to "
                 "version %llu): fetch it, re-encrypt and retry with the same client_msg_id",
                 theirs ? recipient : me, (unsigned long long)(theirs ? rv : sv),
                 (unsigned long long)(theirs ? in->devices_version : in->own_devices_version));
        why = PP_REJ_STALE_DEVICES;
        reason = stale;
        goto reject;
    }
    if (!envelope_chat(chat_id, me, recipient, clock_now_ms())) {
        why = PP_REJ_OVERLOADED;
        reason = "the server's store queue is full; retry later";
        goto reject;
    }
    /* Store, then forward (message.c); a retry is recognised by the store. */
    pp_send s = {.chat_id = chat_id,
                 .sender = me,
                 .client_msg_id = cmid,
                 .recipient = recipient,
                 .sender_device = device,
                 .body = in->body,
                 .media_id = in->media_id,
                 .ttl_s = in->ttl_s,
                 .kind = PARLEY__V1__ENVELOPE_KIND__CHAT,
                 .coalesce_receipts = in->coalesce_receipts};
    if (message__submit(&s, envelope_committed, NULL) != 0) {
        why = PP_REJ_OVERLOADED;
        reason = "the server's store queue is full; retry later";
        goto reject;
    }
    pp.m.messages_in++;
    goto out;

reject:
    pp.m.rejected[why]++;
    receipts__rejected(me, cmid, chat_id, why, reason);
out:
    if (ed)
        publish__discard(ed); /* consumed: delivered after the commit, if at all */
    envelope__free(in, &arena);
}

void envelope__handle(struct mosquitto_evt_message *ed, const char *me, const char *recipient)
{
    envelope_send(ed, me, NULL, recipient, ed->payload, ed->payloadlen);
}

void envelope__resume_send(const char *me, const char *device, const char *recipient,
                           const void *payload, size_t len)
{
    envelope_send(NULL, me, device, recipient, payload, len);
}
