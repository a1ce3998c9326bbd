/*
 * envelope.c - 1:1 sends: a publish to parley/u/{recipient}/inbox is
 * checked, stamped with the server fields (server_id, chat_id, seq, sender,
 * server_ts, kind, recipient, sender_client_id), re-encoded in place of the
 * client's payload, queued for the writer, and then routed by mosquitto.
 *
 * Per-chat sequence numbers are assigned here, synchronously, from an
 * in-memory counter loaded at init (store_chat_last_seqs), so the order of a
 * chat is total. A bounded map (sender, client_msg_id) -> (server_id, seq,
 * stored?) (dedup.c) makes retries idempotent while the broker runs; after a
 * restart the store's EDUP keeps "stored once" (docs/protocol.md, "Sending a
 * message"). The checks, the stamping and the retry answer are shared with
 * group sends (group_msg.c).
 */
#include "plugin_int.h"

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

Parley__V1__Envelope *envelope__unpack_checked(const struct mosquitto_evt_message *ed,
                                               char cmid[IDS_CLIENT_MSG_MAX + 1], pp_reject *why,
                                               const char **reason)
{
    Parley__V1__Envelope *in = NULL;
    if (ed->payloadlen > pp.cfg.max_payload + PP_ENVELOPE_OVERHEAD) {
        *why = PP_REJ_TOO_LARGE;
        *reason = "envelope larger than the server's payload limit";
        return NULL;
    }
    in = parley__v1__envelope__unpack(NULL, ed->payloadlen, ed->payload);
    if (!in) {
        *why = PP_REJ_MALFORMED;
        *reason = "payload is not a parley.v1.Envelope";
        return NULL;
    }
    if (!ids_valid_client_msg(in->client_msg_id)) {
        *why = PP_REJ_BAD_CLIENT_MSG_ID;
        *reason = "client_msg_id must be 1-64 printable ASCII characters without '/'";
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

void envelope__stamp(Parley__V1__Envelope *out, const Parley__V1__Envelope *in,
                     const struct mosquitto_evt_message *ed, const char *me, const char *cmid,
                     const char *chat_id, uint64_t seq, int64_t now,
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
    out->sender_client_id = (char *)mosquitto_client_id(ed->client);
}

void envelope__handle(struct mosquitto_evt_message *ed, const char *me, const char *recipient)
{
    Parley__V1__Envelope *in = NULL;
    char cmid[IDS_CLIENT_MSG_MAX + 1] = "";
    char chat_id[IDS_CHAT_MAX + 1] = "";
    pp_reject why;
    const char *reason;

    in = envelope__unpack_checked(ed, cmid, &why, &reason);
    if (!in)
        goto reject;
    if (!strcmp(me, recipient)) {
        why = PP_REJ_SELF_SEND;
        reason = "a user cannot send a direct message to itself";
        goto reject;
    }
    if (!auth__user_exists(recipient) || !ids_direct_chat(me, recipient, chat_id, sizeof chat_id)) {
        why = PP_REJ_UNKNOWN_RECIPIENT;
        reason = "no such user";
        goto reject;
    }
    /* A retry: same server id and seq, routed and stored only once. */
    if (envelope__answer_retry(env_dedup, ed, me, cmid))
        goto out;

    int64_t now = pp_now_ms();
    uint64_t *counter = envelope_chat(chat_id, me, recipient, now);
    if (!counter) {
        why = PP_REJ_OVERLOADED;
        reason = "the server's store queue is full; retry later";
        goto reject;
    }
    char server_id[IDS_SERVER_ID_LEN + 1];
    Parley__V1__Envelope out;
    envelope__stamp(&out, in, ed, me, cmid, chat_id, *counter + 1, now, server_id);
    out.recipient = (char *)recipient;
    if (persist__message(&out, env_dedup) != 0) {
        why = PP_REJ_OVERLOADED;
        reason = "the server's store queue is full; retry later";
        goto reject;
    }
    *counter = out.seq;
    dedup__insert(env_dedup, me, cmid, server_id, chat_id, out.seq);
    if (publish__set_payload(ed, &out.base) != MOSQ_ERR_SUCCESS)
        publish__discard(ed); /* stored; the recipient gets it by sync */
    pp.m.messages_in++;
    goto out;

reject:
    pp.m.rejected[why]++;
    receipts__rejected(me, cmid, chat_id, why, reason);
    publish__discard(ed);
out:
    if (in)
        parley__v1__envelope__free_unpacked(in, NULL);
}
