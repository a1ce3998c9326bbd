/*
 * delreq.c - delete_message requests (docs/protocol.md, "Rich messages"):
 * after a delete for everyone this device asks the broker to remove the
 * stored copies of the target and of its edits. Each request is queued
 * persistently (blob "delreq", key "chat_id\nsender\nclient_msg_id") so that
 * it survives being offline or a restart, sent when connected once the
 * message's seq is known (its row is stored; an own message still in the
 * outbox waits for its STORED), and forgotten when the broker answers 0
 * (removed, or a tombstone already), 403 or 404 (final: counted in meta
 * "delete_refused", the last reason in "delete_refused_last"). Any other
 * answer (5xx, 429) or none is retried after DELREQ_RETRY_MS.
 */
#include "parley_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "parley.pb-c.h"

#define DELREQ_NS "delreq"
#define DELREQ_RETRY_MS 10000
#define DELREQ_BATCH 16

int delreq__queue(parley_client *c, const char *chat_id, const char *sender, const char *cmid)
{
    char key[sizeof((client_req *)0)->ref];
    if (!ids_valid_chat(chat_id) || !ids_valid_user(sender) || !ids_valid_client_msg(cmid))
        return util__fail(c, PARLEY_EINVAL, "invalid message reference");
    snprintf(key, sizeof key, "%s\n%s\n%s", chat_id, sender, cmid);
    return lstore_blob_set(c->store, DELREQ_NS, key, "1", 1) == 0 ? PARLEY_OK : util__store_fail(c);
}

typedef struct {
    char keys[DELREQ_BATCH][sizeof((client_req *)0)->ref];
    int n;
} key_batch;

static int collect(void *ud, const char *key, const uint8_t *v, size_t len)
{
    key_batch *b = ud;
    (void)v, (void)len;
    snprintf(b->keys[b->n++], sizeof b->keys[0], "%s", key);
    return b->n == DELREQ_BATCH;
}

static int in_flight(parley_client *c, const char *key)
{
    for (int i = 0; i < CLIENT_REQ_MAX; i++)
        if (c->rpc.reqs[i].kind == REQ_DELETE && strcmp(c->rpc.reqs[i].ref, key) == 0)
            return 1;
    return 0;
}

static void take_seq(void *ud, const lstore_msg *m)
{
    *(uint64_t *)ud = m->seq;
}

int delreq__flush(parley_client *c)
{
    key_batch b = {.n = 0};
    if (!link__ready(c) || clock_mono_ms() < c->delreq.next_ms)
        return 0;
    if (lstore_blob_each(c->store, DELREQ_NS, collect, &b) != 0)
        return util__store_fail(c);
    int sent = 0;
    for (int i = 0; i < b.n; i++) {
        char parts[sizeof b.keys[0]], *save = NULL;
        if (in_flight(c, b.keys[i]))
            continue;
        snprintf(parts, sizeof parts, "%s", b.keys[i]);
        char *chat = strtok_r(parts, "\n", &save);
        char *sender = strtok_r(NULL, "\n", &save);
        char *cmid = strtok_r(NULL, "\n", &save);
        uint64_t seq = 0;
        int found = chat && sender && cmid
                        ? lstore_msg_find(c->store, chat, sender, cmid, take_seq, &seq)
                        : 0;
        if (found < 0)
            return util__store_fail(c);
        if (!found || seq == 0) {
            /* Our own message not stored yet waits; anything else is gone. */
            int queued = cmid ? lstore_outbox_has(c->store, cmid) : 0;
            if (queued < 0)
                return util__store_fail(c);
            if (!queued && lstore_blob_del(c->store, DELREQ_NS, b.keys[i]) != 0)
                return util__store_fail(c);
            continue;
        }
        Parley__V1__Request req = PARLEY__V1__REQUEST__INIT;
        Parley__V1__DeleteMessage dm = PARLEY__V1__DELETE_MESSAGE__INIT;
        dm.chat_id = chat;
        dm.seq = seq;
        req.op_case = PARLEY__V1__REQUEST__OP_DELETE_MESSAGE;
        req.delete_message = &dm;
        client_req *q = NULL;
        if (rpc__request(c, &req, REQ_DELETE, chat, &q) != 0)
            break; /* not connected, or the table is full: the next scan */
        snprintf(q->ref, sizeof q->ref, "%s", b.keys[i]);
        sent++;
    }
    return sent;
}

int delreq__on_response(parley_client *c, client_req *q, const void *vrsp)
{
    const Parley__V1__Response *r = vrsp;
    int ret = PARLEY_OK;
    if (r->status == 0 || r->status == 403 || r->status == 404) {
        if (lstore_blob_del(c->store, DELREQ_NS, q->ref) != 0)
            ret = util__store_fail(c);
        if (r->status != 0 && ret == PARLEY_OK) {
            char why[CLIENT_ERR_MAX];
            int64_t n = 0;
            snprintf(why, sizeof why, "%s: %u %s %s", q->ref, r->status, r->error ? r->error : "",
                     r->error_message ? r->error_message : "");
            for (char *p = why; *p; p++)
                if (*p == '\n')
                    *p = '/';
            if (lstore_meta_get_int(c->store, "delete_refused", &n) < 0 ||
                lstore_meta_set_int(c->store, "delete_refused", n + 1) != 0 ||
                lstore_meta_set(c->store, "delete_refused_last", why, strlen(why)) != 0)
                ret = util__store_fail(c);
        }
    } else {
        c->delreq.next_ms = clock_mono_ms() + DELREQ_RETRY_MS; /* 5xx, 429: later */
    }
    q->kind = REQ_NONE;
    return ret;
}
