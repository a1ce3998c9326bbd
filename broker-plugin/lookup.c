/*
 * lookup.c - requests that name a user the identity-key cache does not know
 * yet. The cache (auth.c) is refreshed every key_refresh_ms, so a user who
 * registered a moment ago would be refused as unknown_user (group requests)
 * or unknown_recipient (1:1 sends). Instead, the request waits: its users
 * are looked up in the store on the reader thread (worker.c, a point read
 * per user), and the request runs again on the broker thread when the
 * answer comes back through the completion queue, with lookup__user()
 * answering from that result. It is refused only if the store says the user
 * does not exist (or was deleted: a tombstone counts as no user). A found user also kicks the key-cache refresh.
 *
 * A 1:1 send that waits is consumed (its publish is discarded) and, once
 * the answer is in, stamped and published by the plugin. Later sends to the
 * same recipient wait behind it (lookup__send_pending), so the order of a
 * sender's messages holds; the reader queue is FIFO.
 */
#include "groups.h"
#include "hardening.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    pp_task task;
    bool is_send;
    char me[IDS_USER_MAX + 1];
    char recipient[IDS_USER_MAX + 1]; /* sends */
    char device[DEVICES_ID_MAX + 1];  /* sends: the sender's device */
    size_t n;
    char (*users)[IDS_USER_MAX + 1];
    bool *exists;
    int store_rc;                     /* STORE_OK, or the first store error */
    uint8_t *data;                    /* the packed Request, or the Envelope payload */
    size_t len;
} lookup_task;

/* Bounds on what waits for the reader thread (a flood of sends to unknown
 * users must not hold unbounded payload copies). */
#define LOOKUP_MAX_INFLIGHT 1024
#define LOOKUP_MAX_BYTES (16u * 1024 * 1024)

static const lookup_task *lk_current; /* the answer being handled (broker thread) */
static size_t lk_inflight, lk_bytes;  /* deferred requests and sends, and their bytes */
static strmap *lk_pending_sends;      /* recipient -> size_t* sends waiting */

int lookup__init(void)
{
    lk_pending_sends = strmap_new(free);
    return lk_pending_sends ? 0 : -1;
}

void lookup__cleanup(void)
{
    strmap_free(lk_pending_sends);
    lk_pending_sends = NULL;
}

lookup_answer lookup__user(const char *user_id)
{
    if (auth__user_exists(user_id))
        return LOOKUP_YES;
    if (!lk_current)
        return LOOKUP_ASK;
    for (size_t i = 0; i < lk_current->n; i++)
        if (!strcmp(lk_current->users[i], user_id))
            return lk_current->exists[i] ? LOOKUP_YES : LOOKUP_NO;
    return LOOKUP_NO; /* a re-run never waits again */
}

bool lookup__send_pending(const char *recipient)
{
    return lk_pending_sends && strmap_get(lk_pending_sends, recipient) != NULL;
}

static void lookup_free(lookup_task *t)
{
    free(t->users);
    free(t->exists);
    free(t->data);
    free(t);
}

/* Reader thread: one point read per user. */
static void lookup_work(pp_task *task, store_t *s)
{
    lookup_task *t = (lookup_task *)task;
    t->store_rc = STORE_OK;
    for (size_t i = 0; i < t->n; i++) {
        store_user u;
        memset(&u, 0, sizeof u);
        int rc = store_user_get(s, t->users[i], &u);
        if (rc == STORE_OK) {
            t->exists[i] = u.status != STORE_USER_DELETED; /* a tombstone is no user */
            store_user_free(&u);
        } else if (rc != STORE_ENOTFOUND && t->store_rc == STORE_OK) {
            t->store_rc = rc;
        }
    }
}

static void lookup_pending_add(const char *recipient, int delta)
{
    size_t *n = strmap_get(lk_pending_sends, recipient);
    if (delta > 0) {
        if (!n) {
            n = calloc(1, sizeof *n);
            if (!n || strmap_put(lk_pending_sends, recipient, n) != 0) {
                free(n);
                return;
            }
        }
        (*n)++;
    } else if (n && --*n == 0) {
        strmap_remove(lk_pending_sends, recipient);
    }
}

/* Broker thread: finish the request with the store's answer. */
static void lookup_done(pp_task *task, bool stopping)
{
    lookup_task *t = (lookup_task *)task;
    if (t->is_send && lk_pending_sends)
        lookup_pending_add(t->recipient, -1);
    lk_inflight--;
    lk_bytes -= t->len;
    if (stopping)
        goto out;
    bool found = false;
    for (size_t i = 0; i < t->n; i++)
        found = found || t->exists[i];
    if (found)
        worker__kick_refresh(); /* the cache learns them within ~20 ms */
    if (t->is_send) {
        if (t->store_rc != STORE_OK) {
            char cmid[IDS_CLIENT_MSG_MAX + 1];
            char chat_id[IDS_CHAT_MAX + 1] = "";
            envelope__peek_cmid(t->data, t->len, cmid);
            if (!ids_direct_chat(t->me, t->recipient, chat_id, sizeof chat_id))
                chat_id[0] = '\0';
            pp.m.store_errors++;
            pp.m.rejected[PP_REJ_STORE_FAILED]++;
            receipts__rejected(t->me, cmid, chat_id, PP_REJ_STORE_FAILED,
                               "the store could not be read; retry");
            goto out;
        }
        lk_current = t;
        envelope__resume_send(t->me, t->device, t->recipient, t->data, t->len);
        lk_current = NULL;
        goto out;
    }
    Parley__V1__Request *rq = parley__v1__request__unpack(NULL, t->len, t->data);
    if (!rq) {
        control__respond(t->me, "", 500, "internal", "cannot resume the request");
        goto out;
    }
    if (t->store_rc != STORE_OK) {
        pp.m.store_errors++;
        control__respond(t->me, rq->req_id, 500, "store_failed", store_strerror(t->store_rc));
    } else {
        lk_current = t;
        groups__handle_request(t->me, rq);
        lk_current = NULL;
    }
    parley__v1__request__free_unpacked(rq, NULL);
out:
    lookup_free(t);
}

static lookup_task *lookup_new(const char *me, char *const *users, size_t n, size_t len)
{
    if (lk_inflight >= LOOKUP_MAX_INFLIGHT || len > LOOKUP_MAX_BYTES - lk_bytes)
        return NULL;
    lookup_task *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->users = calloc(n ? n : 1, sizeof *t->users);
    t->exists = calloc(n ? n : 1, sizeof *t->exists);
    if (!t->users || !t->exists) {
        lookup_free(t);
        return NULL;
    }
    t->task.work = lookup_work;
    t->task.done = lookup_done;
    snprintf(t->me, sizeof t->me, "%s", me);
    for (size_t i = 0; i < n; i++)
        snprintf(t->users[i], sizeof t->users[i], "%s", users[i]);
    t->n = n;
    return t;
}

int lookup__defer_request(const char *me, const Parley__V1__Request *rq, char *const *users,
                          size_t n)
{
    size_t len = protobuf_c_message_get_packed_size(&rq->base);
    lookup_task *t = lookup_new(me, users, n, len);
    if (!t)
        return -1;
    t->len = len;
    t->data = malloc(t->len ? t->len : 1);
    if (!t->data) {
        lookup_free(t);
        return -1;
    }
    protobuf_c_message_pack(&rq->base, t->data);
    if (worker__submit(&t->task) != 0) {
        lookup_free(t);
        return -1;
    }
    lk_inflight++;
    lk_bytes += t->len;
    return 0;
}

int lookup__defer_send(const char *me, const char *device, const char *recipient,
                       const void *payload, size_t len)
{
    char *users[1] = {(char *)recipient};
    lookup_task *t = lookup_new(me, users, 1, len);
    if (!t)
        return -1;
    t->is_send = true;
    snprintf(t->recipient, sizeof t->recipient, "%s", recipient);
    snprintf(t->device, sizeof t->device, "%s", device ? device : "");
    t->len = len;
    t->data = malloc(len ? len : 1);
    if (!t->data) {
        lookup_free(t);
        return -1;
    }
    memcpy(t->data, payload, len);
    if (worker__submit(&t->task) != 0) {
        lookup_free(t);
        return -1;
    }
    lookup_pending_add(recipient, +1);
    lk_inflight++;
    lk_bytes += t->len;
    return 0;
}
