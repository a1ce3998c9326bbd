/*
 * ack.c - delivered and read cursors: parley_ack_delivered/read move the
 * local cursors (never backwards) and send an Ack request when connected;
 * acks made offline are resent on the next connect, when the chat list
 * shows what the server lacks (order.c).
 */
#include "parley_int.h"

#include "ids.h"
#include "parley.pb-c.h"

int ack__send(parley_client *c, const char *chat_id, uint64_t seq, int read)
{
    Parley__V1__Request req = PARLEY__V1__REQUEST__INIT;
    Parley__V1__Ack ack = PARLEY__V1__ACK__INIT;
    ack.chat_id = (char *)chat_id;
    ack.seq = seq;
    ack.type = read ? PARLEY__V1__ACK_TYPE__ACK_READ : PARLEY__V1__ACK_TYPE__ACK_DELIVERED;
    req.op_case = PARLEY__V1__REQUEST__OP_ACK;
    req.ack = &ack;
    return rpc__request(c, &req, REQ_ACK, chat_id, NULL);
}

static int ack(parley_client *c, const char *chat_id, uint64_t seq, int read)
{
    lstore_chat ch;
    if (!chat_id || !ids_valid_chat(chat_id) || seq == 0)
        return util__fail(c, PARLEY_EINVAL, "invalid chat id or seq");
    int rc = lstore_chat_get(c->store, chat_id, &ch);
    if (rc < 0)
        return util__fail(c, PARLEY_ESTORE, "local store: %s", lstore_error(c->store));
    if (rc == 0)
        return util__fail(c, PARLEY_ENOTFOUND, "no chat %s", chat_id);
    /* Reading implies delivery. */
    if (lstore_chat_raise(c->store, chat_id, "delivered_seq", seq) != 0 ||
        (read && lstore_chat_raise(c->store, chat_id, "read_seq", seq) != 0))
        return util__fail(c, PARLEY_ESTORE, "local store: %s", lstore_error(c->store));
    /* Offline: sent on the next connect (the chat list shows what the
     * server lacks). */
    if (link__ready(c)) {
        if (read && seq > ch.delivered_seq)
            ack__send(c, chat_id, seq, 0);
        ack__send(c, chat_id, seq, read);
    }
    return PARLEY_OK;
}

int parley_ack_delivered(parley_client *c, const char *chat_id, uint64_t seq)
{
    return ack(c, chat_id, seq, 0);
}

int parley_ack_read(parley_client *c, const char *chat_id, uint64_t seq)
{
    return ack(c, chat_id, seq, 1);
}
