/*
 * rpc.c - control requests in flight. A Request goes out on our ctl topic
 * with a fresh req_id and is remembered (kind, chat) until its Response
 * arrives on our rsp topic (dispatch.c looks it up here and hands it to the
 * module that asked), the connection is replaced, or it expires.
 */
#include "parley_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parley.pb-c.h"

client_req *rpc__find(parley_client *c, const char *req_id)
{
    for (int i = 0; i < CLIENT_REQ_MAX; i++)
        if (c->rpc.reqs[i].kind != REQ_NONE && strcmp(c->rpc.reqs[i].req_id, req_id) == 0)
            return &c->rpc.reqs[i];
    return NULL;
}

int rpc__request(parley_client *c, void *vreq, req_kind kind, const char *chat_id, client_req **out)
{
    Parley__V1__Request *req = vreq;
    client_req *slot = NULL;
    char topic[128];
    uint8_t *buf = NULL;
    int ret = -1;

    for (int i = 0; i < CLIENT_REQ_MAX && !slot; i++)
        if (c->rpc.reqs[i].kind == REQ_NONE)
            slot = &c->rpc.reqs[i];
    if (!slot) {
        util__fail(c, PARLEY_ENOMEM, "too many requests in flight");
        return -1;
    }
    memset(slot, 0, sizeof *slot);
    snprintf(slot->req_id, sizeof slot->req_id, "r%llu", (unsigned long long)++c->rpc.counter);
    req->req_id = slot->req_id;
    size_t n = parley__v1__request__get_packed_size(req);
    buf = malloc(n ? n : 1);
    if (!buf)
        goto fail;
    parley__v1__request__pack(req, buf);
    util__topic(c, topic, sizeof topic, c->user, "ctl");
    if (link__publish(c, topic, buf, n) != 0) {
        util__fail(c, PARLEY_ENOTCONN, "not connected");
        goto fail;
    }
    slot->kind = kind;
    snprintf(slot->chat_id, sizeof slot->chat_id, "%s", chat_id ? chat_id : "");
    slot->sent_ms = clock_mono_ms();
    if (out)
        *out = slot;
    ret = 0;

fail:
    req->req_id = NULL;
    free(buf);
    return ret;
}

int rpc__pending(parley_client *c, req_kind kind, const char *chat_id)
{
    int n = 0;
    for (int i = 0; i < CLIENT_REQ_MAX; i++) {
        const client_req *q = &c->rpc.reqs[i];
        if (q->kind == REQ_NONE || q->kind == REQ_CALL)
            continue;
        if (kind != REQ_NONE && (q->kind != kind || (chat_id && strcmp(q->chat_id, chat_id) != 0)))
            continue;
        n++;
    }
    return n;
}

int rpc__expire(parley_client *c, int64_t max_age_ms)
{
    int64_t now = clock_mono_ms();
    int syncs = 0;
    for (int i = 0; i < CLIENT_REQ_MAX; i++) {
        client_req *q = &c->rpc.reqs[i];
        if (q->kind == REQ_NONE || q->kind == REQ_CALL ||
            (max_age_ms >= 0 && now - q->sent_ms < max_age_ms))
            continue;
        /* Unanswered (lost with a broker restart, say): give up on it so
         * that the sync state moves on; the next resync asks again. */
        syncs += q->kind == REQ_SYNC || q->kind == REQ_LIST_CHATS || q->kind == REQ_GROUP_GET;
        q->kind = REQ_NONE;
    }
    return syncs;
}

void rpc__free(parley_client *c)
{
    for (int i = 0; i < CLIENT_REQ_MAX; i++) {
        if (c->rpc.reqs[i].response) { /* a call's answer not collected */
            parley__v1__response__free_unpacked(c->rpc.reqs[i].response, NULL);
            c->rpc.reqs[i].response = NULL;
        }
    }
}
