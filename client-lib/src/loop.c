/*
 * loop.c - the MQTT connection's state machine and the receive loop, driven
 * from parley_poll() and the blocking helpers (parley_wait_synced,
 * parley_sync, parley_flush, and loop__call for the group management API):
 *
 *   IDLE -parley_connect-> WAIT -timer-> CONNECTING -CONNACK-> SUBSCRIBING
 *        -SUBACK-> READY (outbox flushed, chats synced, acks resent)
 *   any refusal or loss -> WAIT with exponential backoff (200 ms .. 5 s) and a
 *   freshly minted token on the next attempt (tokens expire; the broker closes
 *   a connection whose token expired, and the reconnect carries a new one).
 *   A broker whose TLS certificate fails verification ends the attempts
 *   (LINK_IDLE, parley_poll returns PARLEY_ETLS once; parley_connect starts
 *   over). A CONNECT refused as "not authorized" within FRESH_REGISTRATION_MS of this
 *   home's registration (the broker may not have seen the new identity key
 *   yet) is retried every FRESH_RETRY_MS, silently: the application hears of
 *   it (PARLEY_EVENT_DISCONNECTED) only if it persists past that window.
 */
#include "parley_int.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "ids.h"
#include "parley.pb-c.h"
#include "token.h"
#include "transport.h"

#define BACKOFF_MIN_MS 200
#define BACKOFF_MAX_MS 5000
#define OUTBOX_RETRY_MS 10000   /* republish an unacknowledged message after this long */
#define OUTBOX_SCAN_MS 1000
#define PURGE_MS 500 /* expired messages are removed this often (and at parley_open) */
#define KEY_CHECK_MS (3600 * 1000)
#define REQUEST_EXPIRY_MS 60000 /* a control request unanswered this long is given up */
#define FRESH_REGISTRATION_MS 10000 /* a refusal this soon after registering is expected */
#define FRESH_RETRY_MS 100
#define TOKEN_EXPIRY_SLACK_MS 5000 /* a loss this close to the token's expiry is the expiry */

/* 1 if this home registered its identity less than FRESH_REGISTRATION_MS
 * ago (meta registered_at, wall clock: set by parley_register, possibly in
 * another process such as `parley init`). */
static int fresh_registration(parley_client *c)
{
    int64_t at = 0;
    if (lstore_meta_get_int(c->store, "registered_at", &at) != 1)
        return 0;
    int64_t age = clock_now_ms() - at;
    return age >= 0 && age < FRESH_REGISTRATION_MS;
}

static void schedule_retry(parley_client *c)
{
    int64_t delay = BACKOFF_MIN_MS;
    for (int i = 0; i < c->loop.attempts && delay < BACKOFF_MAX_MS; i++)
        delay *= 2;
    if (delay > BACKOFF_MAX_MS)
        delay = BACKOFF_MAX_MS;
    c->loop.attempts++;
    c->link.state = LINK_WAIT;
    c->order.synced = 0;
    c->loop.next_attempt_ms = clock_mono_ms() + delay;
}

int parley_connect(parley_client *c)
{
    char err[256];
    if (!c->has_identity)
        return util__fail(c, PARLEY_ENOIDENT, "%s", parley_strerror(PARLEY_ENOIDENT));
    if (c->link.state != LINK_IDLE)
        return PARLEY_OK;
    if (!c->link.mq) {
        if (c->transient) {
            char rnd[IDS_SERVER_ID_LEN + 1];
            ids_random(rnd);
            snprintf(c->link.client_id, sizeof c->link.client_id, "%s-%.10s", c->client_id, rnd);
        } else {
            snprintf(c->link.client_id, sizeof c->link.client_id, "%s", c->client_id);
        }
        c->link.mq = conn_new(c->mqtt_url, c->link.client_id, !c->transient, c->ca_file, err,
                              sizeof err);
        if (!c->link.mq)
            return util__fail(c, PARLEY_EINVAL, "%s", err);
    }
    c->loop.attempts = 0;
    c->link.state = LINK_WAIT;
    c->loop.next_attempt_ms = 0;
    return PARLEY_OK;
}

void parley_disconnect(parley_client *c)
{
    if (c->link.mq)
        conn_disconnect(c->link.mq);
    c->link.state = LINK_IDLE;
    c->order.synced = 0;
}

int parley_is_connected(const parley_client *c)
{
    return c->link.state == LINK_READY;
}

int parley_is_synced(const parley_client *c)
{
    return c->link.state == LINK_READY && c->order.synced;
}

static void start_attempt(parley_client *c)
{
    char token[TOKEN_MAX_LEN], err[256];
    if (parley_token(c, "mqtt", c->link.client_id, 0, token, sizeof token) != PARLEY_OK) {
        schedule_retry(c);
        return;
    }
    c->loop.token_expires_ms = clock_mono_ms() + (int64_t)TOKEN_DEFAULT_LIFETIME_S * 1000;
    if (conn_start(c->link.mq, c->user, token, err, sizeof err) != 0) {
        util__fail(c, PARLEY_ENET, "%s", err);
        schedule_retry(c);
    } else {
        c->link.state = LINK_CONNECTING;
    }
    sodium_memzero(token, sizeof token);
}

static void subscribe_own(parley_client *c)
{
    char t[4][128];
    char *topics[4];
    const char *leaf[4] = {"receipts", "rsp", "inbox", "typing"};
    int n = c->transient ? 2 : 4;
    for (int i = 0; i < n; i++) {
        util__topic(c, t[i], sizeof t[i], c->user, leaf[i]);
        topics[i] = t[i];
    }
    if (conn_subscribe(c->link.mq, topics, n) != 0) {
        util__fail(c, PARLEY_ENET, "cannot subscribe");
        conn_disconnect(c->link.mq);
        schedule_retry(c);
        return;
    }
    c->link.state = LINK_SUBSCRIBING;
}

/* Called once subscriptions are in place: outbox, kept messages, list
 * chats and sync, prekeys. */
static int on_ready(parley_client *c)
{
    order__reset(c);
    if (outbox__flush(c, 0) < 0)
        return PARLEY_ESTORE;
    c->delreq.next_ms = 0;
    if (delreq__flush(c) == PARLEY_ESTORE)
        return PARLEY_ESTORE;
    if (c->transient) {
        c->order.synced = 1; /* syncs only on request (parley_sync) */
    } else {
        if (deliver__retry_kept(c) == PARLEY_ESTORE)
            return PARLEY_ESTORE;
        order__sync_start(c, 0);
        prekeys__maintain(c, 0); /* replenish one-time prekeys; best effort */
        devices__ensure_own(c);  /* a home from before device lists uploads one; best effort */
        c->loop.last_key_check_ms = clock_mono_ms();
    }
    return 0;
}

/* A connection to a TLS broker failed before the CONNACK: was it the
 * certificate? Paho says only "TCP/TLS connect failure", so a handshake of
 * our own with the same trust settings tells (transport_probe). If so, stop
 * connecting (a certificate does not fix itself, and retrying would hide
 * it): the link goes idle and parley_poll returns PARLEY_ETLS (rather than
 * PARLEY_EVENT_DISCONNECTED, which promises a reconnect). Returns
 * PARLEY_ETLS or 0. */
static int tls_refused(parley_client *c, const conn_ev *e)
{
    char why[300];
    if (e->type != CONN_EV_CONNECT_FAILED || (e->code >= 1 && e->code <= 5) ||
        transport_mqtt_kind(c->mqtt_url) != TRANSPORT_TLS ||
        transport_probe(c->mqtt_url, c->ca_file, why, sizeof why) != 1)
        return 0;
    util__fail(c, PARLEY_ETLS, "%s: TLS: %s%s%s", c->mqtt_url, why,
               c->ca_file[0] ? " (trusted CAs: " : " (trusted CAs: the system store",
               c->ca_file[0] ? c->ca_file : "");
    size_t n = strlen(c->err);
    snprintf(c->err + n, sizeof c->err - n, ")");
    c->link.state = LINK_IDLE;
    c->order.synced = 0;
    return PARLEY_ETLS; /* no PARLEY_EVENT_DISCONNECTED: no reconnect follows */
}

static int handle(parley_client *c, conn_ev *e)
{
    switch (e->type) {
    case CONN_EV_CONNECTED:
        if (c->link.state == LINK_CONNECTING)
            subscribe_own(c);
        return 0;
    case CONN_EV_CONNECT_FAILED:
    case CONN_EV_LOST:
        if (c->link.state == LINK_IDLE)
            return 0;
        if (tls_refused(c, e))
            return PARLEY_ETLS;
        /* A CONNACK refusal has a positive code (1-5); anything else (TCP
         * refused, unknown host, TLS handshake) never reached the broker. */
        int why = e->type == CONN_EV_LOST || e->code <= 0 ? PARLEY_ENET : PARLEY_EREFUSED;
        util__fail(c, why, "%s: %s", c->mqtt_url, e->detail);
        if (e->type == CONN_EV_CONNECT_FAILED && (e->code == 4 || e->code == 5) &&
            fresh_registration(c)) {
            /* Expected for a moment after registering: retry soon, quietly. */
            c->link.state = LINK_WAIT;
            c->order.synced = 0;
            c->loop.next_attempt_ms = clock_mono_ms() + FRESH_RETRY_MS;
            return 0;
        }
        if (e->type == CONN_EV_LOST && c->loop.token_expires_ms > 0 &&
            clock_mono_ms() >= c->loop.token_expires_ms - TOKEN_EXPIRY_SLACK_MS) {
            /* The broker closed the connection because its token expired:
             * reconnect at once with a new one; nothing to tell. */
            c->link.state = LINK_WAIT;
            c->order.synced = 0;
            c->loop.attempts = 0;
            c->loop.next_attempt_ms = clock_mono_ms();
            return 0;
        }
        if (e->type == CONN_EV_LOST)
            c->loop.attempts = 0;
        schedule_retry(c);
        c->loop.failures++;
        c->loop.failure_rc = why;
        util__emit_event(c, PARLEY_EVENT_DISCONNECTED, NULL, 0, NULL, c->err);
        return 0;
    case CONN_EV_SUBSCRIBED:
        if (c->link.state != LINK_SUBSCRIBING)
            return 0; /* a later subscription (group topics) */
        c->link.state = LINK_READY;
        c->loop.attempts = 0;
        c->err[0] = 0;
        c->loop.last_resync_ms = clock_mono_ms();
        util__emit_event(c, PARLEY_EVENT_CONNECTED, NULL, 0, NULL, c->mqtt_url);
        presence__subscribe(c);
        return on_ready(c);
    case CONN_EV_SUB_FAILED:
        util__fail(c, PARLEY_EREFUSED, "%s: %s", c->mqtt_url, e->detail);
        if (c->link.state == LINK_SUBSCRIBING) {
            conn_disconnect(c->link.mq);
            schedule_retry(c);
            util__emit_event(c, PARLEY_EVENT_DISCONNECTED, NULL, 0, NULL, c->err);
        }
        return 0;
    case CONN_EV_MESSAGE: return dispatch__message(c, e->topic, e->payload, e->len);
    }
    return 0;
}

int loop__step(parley_client *c, int timeout_ms)
{
    int64_t now = clock_mono_ms();
    if (c->link.state == LINK_WAIT && now >= c->loop.next_attempt_ms)
        start_attempt(c);
    if (c->link.state == LINK_READY && now - c->loop.last_outbox_scan_ms >= OUTBOX_SCAN_MS) {
        c->loop.last_outbox_scan_ms = now;
        if (outbox__flush(c, OUTBOX_RETRY_MS) < 0)
            return PARLEY_ESTORE;
        order__expire(c, REQUEST_EXPIRY_MS);
        if (delreq__flush(c) == PARLEY_ESTORE)
            return PARLEY_ESTORE;
    }
    /* Disappearing messages: what expired goes, at least once a second. */
    if (now - c->loop.last_purge_ms >= PURGE_MS) {
        c->loop.last_purge_ms = now;
        if (rich__purge(c, clock_now_ms()) == PARLEY_ESTORE)
            return PARLEY_ESTORE;
    }
    if (c->link.state == LINK_READY && c->order.nconfirm > 0)
        order__confirm_tick(c, now); /* syncs that confirm seqs seen live */
    /* A sender key named a group new to us: sync it soon (what was
     * published before our subscription is in the store). */
    if (c->link.state == LINK_READY && !c->transient &&
        (now - c->loop.last_resync_ms >= LOOP_RESYNC_MS || c->deliver.new_group)) {
        c->loop.last_resync_ms = now;
        c->deliver.new_group = 0;
        order__resync(c);
        deliver__retry_kept(c); /* best effort; again at the next resync */
    }
    if (c->link.state == LINK_READY && now - c->loop.last_key_check_ms >= KEY_CHECK_MS) {
        c->loop.last_key_check_ms = now;
        prekeys__maintain(c, 0); /* best effort; retried next hour or connect */
    }
    if (c->link.state == LINK_WAIT) {
        int64_t until = c->loop.next_attempt_ms - now;
        if (until < (int64_t)timeout_ms)
            timeout_ms = until > 0 ? (int)until : 0;
    }
    if (!c->link.mq)
        return 0;
    if (timeout_ms > PURGE_MS)
        timeout_ms = PURGE_MS; /* parley_poll comes back for the next purge */
    conn_ev *e = conn_next(c->link.mq, timeout_ms);
    if (!e)
        return 0;
    int rc = handle(c, e);
    conn_ev_free(e);
    return rc < 0 ? rc : 1;
}

int parley_poll(parley_client *c, int timeout_ms)
{
    int64_t deadline = clock_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    int n = 0;
    for (;;) {
        int64_t left = deadline - clock_mono_ms();
        int rc = loop__step(c, n > 0 || left <= 0 ? 0 : (int)left);
        if (rc < 0)
            return rc;
        if (rc > 0) {
            n++;
            continue; /* drain everything already queued */
        }
        if (n > 0 || clock_mono_ms() >= deadline)
            return n;
    }
}

/* Poll until reached(c, arg) says 1 (PARLEY_OK) or a code < 0 (returned),
 * or until timeout_ms have passed (PARLEY_ETIMEOUT, with the last error). */
static int wait_until(parley_client *c, int timeout_ms,
                      int (*reached)(parley_client *c, const void *arg), const void *arg)
{
    int64_t deadline = clock_mono_ms() + timeout_ms;
    for (;;) {
        int r = reached(c, arg);
        if (r != 0)
            return r > 0 ? PARLEY_OK : r;
        int64_t left = deadline - clock_mono_ms();
        if (left <= 0) {
            char last[CLIENT_ERR_MAX];
            snprintf(last, sizeof last, "%s", c->err);
            return util__fail(c, PARLEY_ETIMEOUT, "not connected after %d ms%s%.400s", timeout_ms,
                              last[0] ? ": " : "", last);
        }
        int rc = parley_poll(c, left > 200 ? 200 : (int)left);
        if (rc < 0)
            return rc;
    }
}

/* Ready, or a connection attempt failed since *failures was taken. */
static int connected(parley_client *c, const void *failures)
{
    if (c->link.state == LINK_READY)
        return 1;
    if (c->loop.failures != *(const unsigned *)failures)
        return c->loop.failure_rc; /* c->err says why; the retry stays scheduled */
    return 0;
}

int parley_wait_connected(parley_client *c, int timeout_ms)
{
    if (c->link.state == LINK_IDLE) {
        int rc = parley_connect(c);
        if (rc != PARLEY_OK)
            return rc;
    }
    unsigned failures = c->loop.failures;
    return wait_until(c, timeout_ms, connected, &failures);
}

static int synced(parley_client *c, const void *unused)
{
    (void)unused;
    return parley_is_synced(c) ? 1 : 0;
}

int parley_wait_synced(parley_client *c, int timeout_ms)
{
    return wait_until(c, timeout_ms, synced, NULL);
}

int loop__call(parley_client *c, void *req, int timeout_ms, void **rsp)
{
    client_req *slot = NULL;
    int64_t deadline = clock_mono_ms() + timeout_ms;

    *rsp = NULL;
    if (c->link.state != LINK_READY)
        return util__fail(c, PARLEY_ENOTCONN, "not connected to %s", c->mqtt_url);
    if (rpc__request(c, req, REQ_CALL, NULL, &slot) != 0)
        return PARLEY_ENOTCONN;
    char req_id[sizeof slot->req_id];
    snprintf(req_id, sizeof req_id, "%s", slot->req_id);
    while (!slot->done) {
        int64_t left = deadline - clock_mono_ms();
        if (left <= 0) {
            slot->kind = REQ_NONE;
            return util__fail(c, PARLEY_ETIMEOUT, "no response from the broker after %d ms",
                              timeout_ms);
        }
        int rc = loop__step(c, left > 200 ? 200 : (int)left);
        if (rc < 0) {
            slot->kind = REQ_NONE;
            return rc;
        }
        if (slot->kind != REQ_CALL || strcmp(slot->req_id, req_id) != 0)
            return util__fail(c, PARLEY_ENET, "connection lost during the request");
    }
    Parley__V1__Response *r = slot->response;
    slot->response = NULL;
    slot->kind = REQ_NONE;
    if (r->status != 0) {
        util__fail(c, PARLEY_EREFUSED, "%u %s: %s", r->status, r->error ? r->error : "",
                   r->error_message ? r->error_message : "");
        int rc = r->status == 404 ? PARLEY_ENOTFOUND : PARLEY_EREFUSED;
        parley__v1__response__free_unpacked(r, NULL);
        return rc;
    }
    *rsp = r;
    return PARLEY_OK;
}

int parley_flush(parley_client *c, int timeout_ms)
{
    int64_t deadline = clock_mono_ms() + timeout_ms;
    for (;;) {
        if (rpc__pending(c, REQ_NONE, NULL) == 0)
            return PARLEY_OK;
        if (c->link.state != LINK_READY)
            return util__fail(c, PARLEY_ENOTCONN, "connection lost before the broker answered");
        int64_t left = deadline - clock_mono_ms();
        if (left <= 0)
            return util__fail(c, PARLEY_ETIMEOUT, "the broker did not answer within %d ms",
                              timeout_ms);
        int rc = loop__step(c, left > 200 ? 200 : (int)left);
        if (rc < 0)
            return rc;
    }
}

int parley_sync(parley_client *c, int timeout_ms)
{
    int64_t deadline = clock_mono_ms() + timeout_ms;
    int rc = parley_wait_synced(c, timeout_ms);
    if (rc != PARLEY_OK)
        return rc;
    if (order__sync_start(c, 0) != 0)
        return PARLEY_ENOTCONN;
    int64_t left = deadline - clock_mono_ms();
    return parley_wait_synced(c, left > 0 ? (int)left : 0);
}
