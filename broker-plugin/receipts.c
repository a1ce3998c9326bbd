/*
 * receipts.c - Receipt messages on parley/u/{user}/receipts (QoS 1):
 * STORED after the commit, REJECTED with an error code, DELIVERED/READ when
 * the other member's cursor moves (1:1 and group). The one home for
 * receipts: every file that answers a send or moves a cursor calls here.
 */
#include "plugin_int.h"

#include <stdio.h>

static const char *const reject_codes[PP_REJ_COUNT] = {
    [PP_REJ_MALFORMED] = "malformed",
    [PP_REJ_TOO_LARGE] = "too_large",
    [PP_REJ_BAD_CLIENT_MSG_ID] = "bad_client_msg_id",
    [PP_REJ_UNKNOWN_RECIPIENT] = "unknown_recipient",
    [PP_REJ_SELF_SEND] = "self_send",
    [PP_REJ_RATE_LIMITED] = "rate_limited",
    [PP_REJ_OVERLOADED] = "overloaded",
    [PP_REJ_STORE_FAILED] = "store_failed",
    [PP_REJ_STALE_DEVICES] = "stale_devices",
};

const char *receipts__reject_code(pp_reject why)
{
    return why < PP_REJ_COUNT ? reject_codes[why] : "internal";
}

static void receipts_send(const char *to, Parley__V1__Receipt *r)
{
    r->ts = clock_now_ms();
    /* The user may be connected to another node (route.c). */
    route__user(to, "receipts", &r->base, NULL);
}

void receipts__stored(const char *sender, const char *chat_id, uint64_t seq,
                      const char *server_id, const char *client_msg_id)
{
    Parley__V1__Receipt r = PARLEY__V1__RECEIPT__INIT;
    r.status = PARLEY__V1__RECEIPT_STATUS__STORED;
    r.chat_id = (char *)chat_id;
    r.seq = seq;
    r.server_id = (char *)server_id;
    r.client_msg_id = (char *)client_msg_id;
    receipts_send(sender, &r);
}

void receipts__resync(const char *user)
{
    char topic[PP_TOPIC_MAX];
    Parley__V1__Receipt r = PARLEY__V1__RECEIPT__INIT;
    r.status = PARLEY__V1__RECEIPT_STATUS__RESYNC;
    r.ts = clock_now_ms();
    /* This node's connections of the user only: the others did not miss
     * anything this node missed. */
    snprintf(topic, sizeof topic, "parley/u/%s/receipts", user);
    publish__msg(topic, &r.base, false);
}

void receipts__rejected(const char *sender, const char *client_msg_id, const char *chat_id,
                        pp_reject why, const char *message)
{
    receipts__rejected_code(sender, client_msg_id, chat_id, receipts__reject_code(why), message);
}

void receipts__cursor(const char *to, const char *chat_id, uint64_t seq, const char *by, bool read)
{
    Parley__V1__Receipt r = PARLEY__V1__RECEIPT__INIT;
    r.status = read ? PARLEY__V1__RECEIPT_STATUS__READ : PARLEY__V1__RECEIPT_STATUS__DELIVERED;
    r.chat_id = (char *)chat_id;
    r.seq = seq;
    r.by = (char *)by;
    receipts_send(to, &r);
}

void receipts__rejected_code(const char *sender, const char *client_msg_id, const char *chat_id,
                             const char *code, const char *message)
{
    Parley__V1__Receipt r = PARLEY__V1__RECEIPT__INIT;
    r.status = PARLEY__V1__RECEIPT_STATUS__REJECTED;
    r.chat_id = (char *)(chat_id ? chat_id : "");
    r.client_msg_id = (char *)(client_msg_id ? client_msg_id : "");
    r.error = (char *)code;
    r.error_message = (char *)message;
    receipts_send(sender, &r);
}

void receipts__group_cursor(const char *to, const char *chat_id, uint64_t seq, const char *by,
                            bool read, bool all)
{
    Parley__V1__Receipt r = PARLEY__V1__RECEIPT__INIT;
    r.status = read ? PARLEY__V1__RECEIPT_STATUS__READ : PARLEY__V1__RECEIPT_STATUS__DELIVERED;
    r.chat_id = (char *)chat_id;
    r.seq = seq;
    r.by = (char *)(by ? by : "");
    r.all = all;
    receipts_send(to, &r);
}
