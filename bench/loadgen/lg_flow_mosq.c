/*
 * lg_flow_mosq.c - the flow run on libmosquitto's threaded client (one
 * network thread per connection, one publishing thread per pair): the
 * cross-check for the raw client (--client libmosquitto). Same pairs,
 * topics, payloads, windows and schedule as lg_flow_raw.c.
 */
#include "lg_flow.h"

#include "lg_clock.h"
#include "lg_ident.h"
#include "lg_payload.h"
#include "lg_rx.h"
#include "lg_stats.h"

#include "parley.pb-c.h"

#include <mosquitto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SETUP_TIMEOUT_NS (15 * 1000000000LL)
#define STALL_NS (2000 * 1000000LL)   /* nothing delivered this long: write the window off */
#define RATE_BACKLOG_MAX 20000           /* rate mode: never more outstanding per pair */
#define TOPIC_MAX 160

enum { PENDING = 0, OK = 1, FAILED = -1 };

typedef struct pair pair;

/* One MQTT connection and its setup state. */
typedef struct {
    pair *p;
    struct mosquitto *m;
    char user[IDS_USER_MAX + 1];
    char client_id[IDS_USER_MAX + 8];
    _Atomic int conn;       /* PENDING / OK / FAILED */
    _Atomic int sub;
    int conn_rc;
    int sub_mid;
    bool receiver;
} conn;

struct pair {
    int idx;
    const lg_flow_opts *o;
    conn snd, rcv;
    char inbox[TOPIC_MAX];
    char receipts[TOPIC_MAX];
    pthread_t thread;

    /* flow control between the receiver's loop thread and the sender thread */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    _Atomic uint64_t sent;
    _Atomic uint64_t delivered;
    _Atomic int waiting;

    /* sender thread only */
    uint64_t sent_in_window;    /* stamped inside the measurement window */
    uint64_t written_off;       /* window slots given up after a stall */
    uint64_t pub_errors;
    int last_pub_rc;

    /* receiver loop thread only */
    lg_rx rx;

    /* sender loop thread only (receipts) */
    lg_receipts rc;
    _Atomic uint64_t receipts_stored;
};

/* Shared run clock, fixed before the senders start. */
static int64_t g_start, g_warm, g_end;

static void on_connect(struct mosquitto *m, void *ud, int rc)
{
    conn *c = ud;
    c->conn_rc = rc;
    atomic_store(&c->conn, rc == 0 ? OK : FAILED);
}

static void on_subscribe(struct mosquitto *m, void *ud, int mid, int n, const int *granted)
{
    conn *c = ud;
    int ok = OK;
    for (int i = 0; i < n; i++)
        if (granted[i] > 2)
            ok = FAILED;
    atomic_store(&c->sub, ok);
}

static void on_receipt(pair *p, const struct mosquitto_message *msg)
{
    uint64_t stored = lg_receipts_add(&p->rc, msg->payload, (size_t)msg->payloadlen, lg_now_ns(),
                                      g_warm, g_end);
    atomic_fetch_add(&p->receipts_stored, stored);
}

static void on_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg)
{
    conn *c = ud;
    pair *p = c->p;
    if (!c->receiver) {
        on_receipt(p, msg);
        return;
    }
    if (lg_rx_delivery(&p->rx, (uint32_t)p->idx, msg->payload, (size_t)msg->payloadlen, lg_now_ns(),
                       g_warm, g_end) != 0)
        return;
    atomic_fetch_add(&p->delivered, 1);
    if (atomic_load(&p->waiting)) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_signal(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
}

/* Create, authenticate and connect one client; starts its network thread. */
static int conn_start(conn *c, const lg_flow_opts *o, char *err, size_t errlen)
{
    c->m = mosquitto_new(c->client_id, true, c);
    if (!c->m) {
        snprintf(err, errlen, "mosquitto_new failed");
        return -1;
    }
    mosquitto_int_option(c->m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_int_option(c->m, MOSQ_OPT_TCP_NODELAY, 1);  /* as the raw client: no Nagle delay */
    mosquitto_max_inflight_messages_set(c->m, 0);     /* the broker, not the client, limits */
    mosquitto_connect_callback_set(c->m, on_connect);
    mosquitto_subscribe_callback_set(c->m, on_subscribe);
    mosquitto_message_callback_set(c->m, on_message);
    if (o->parley) {
        char token[TOKEN_MAX_LEN];
        int trc = lg_ident_token(c->user, c->client_id, token);
        if (trc != TOKEN_OK) {
            snprintf(err, errlen, "token for %s: %s", c->user, token_strerror(trc));
            return -1;
        }
        mosquitto_username_pw_set(c->m, c->user, token);
    }
    int rc = mosquitto_connect(c->m, o->host, o->port, 60);
    if (rc == MOSQ_ERR_SUCCESS)
        rc = mosquitto_loop_start(c->m);
    if (rc != MOSQ_ERR_SUCCESS) {
        snprintf(err, errlen, "connect %s:%d: %s", o->host, o->port, mosquitto_strerror(rc));
        return -1;
    }
    return 0;
}

/* Wait until every client's field (conn or sub) left PENDING. */
static int wait_all(pair *ps, int n, size_t field_off, const char *what, char *err, size_t errlen)
{
    int64_t deadline = lg_now_ns() + SETUP_TIMEOUT_NS;
    for (;;) {
        int pending = 0;
        for (int i = 0; i < n; i++) {
            conn *cs[2] = {&ps[i].snd, &ps[i].rcv};
            for (int k = 0; k < 2; k++) {
                if (!cs[k]->m)
                    continue;
                int v = atomic_load((_Atomic int *)((char *)cs[k] + field_off));
                if (v == FAILED) {
                    snprintf(err, errlen, "%s refused for %s%s%s", what, cs[k]->client_id,
                             cs[k]->conn_rc ? ": " : "",
                             cs[k]->conn_rc ? mosquitto_connack_string(cs[k]->conn_rc) : "");
                    return -1;
                }
                pending += v == PENDING;
            }
        }
        if (!pending)
            return 0;
        if (lg_now_ns() > deadline) {
            snprintf(err, errlen, "%s: %d clients still waiting after %llds", what, pending,
                     SETUP_TIMEOUT_NS / 1000000000LL);
            return -1;
        }
        lg_sleep_ms(5);
    }
}

/* Block until the pair's outstanding messages drop below limit (or the run
 * ends). Returns false when the run is over. */
static bool window_wait(pair *p, uint64_t limit)
{
    int64_t last_progress = lg_now_ns();
    uint64_t last_delivered = atomic_load(&p->delivered);
    for (;;) {
        uint64_t out = p->sent - atomic_load(&p->delivered) - p->written_off;
        if (out < limit)
            return true;
        int64_t now = lg_now_ns();
        if (now >= g_end)
            return false;
        uint64_t d = atomic_load(&p->delivered);
        if (d != last_delivered) {
            last_delivered = d;
            last_progress = now;
        } else if (now - last_progress > STALL_NS) {
            p->written_off = p->sent - d;   /* lost (QoS 0) or refused: stop waiting for them */
            continue;
        }
        pthread_mutex_lock(&p->mu);
        atomic_store(&p->waiting, 1);
        if (p->sent - atomic_load(&p->delivered) - p->written_off >= limit) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 10 * 1000000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&p->cv, &p->mu, &ts);
        }
        atomic_store(&p->waiting, 0);
        pthread_mutex_unlock(&p->mu);
    }
}

static void *sender_main(void *arg)
{
    pair *p = arg;
    const lg_flow_opts *o = p->o;
    uint8_t *body = malloc(o->payload), *buf = malloc(o->payload);
    if (!body || !buf) {
        p->pub_errors++;
        goto out;
    }
    int64_t interval = 0, offset = 0;
    if (o->rate > 0) {
        double per_pair = o->rate / o->pairs;
        interval = (int64_t)(1e9 / per_pair);
        offset = interval * p->idx / o->pairs;   /* spread the pairs over one interval */
    }
    for (uint64_t seq = 0;; seq++) {
        int64_t stamp;
        if (interval) {
            stamp = g_start + offset + (int64_t)seq * interval;
            if (stamp >= g_end)
                break;
            lg_sleep_until(stamp);
            if (!window_wait(p, RATE_BACKLOG_MAX))
                break;
        } else {
            if (!window_wait(p, (uint64_t)o->window))
                break;
            stamp = lg_now_ns();
            if (stamp >= g_end)
                break;
        }
        lg_stamp st = {.pair = (uint32_t)p->idx, .seq = seq, .send_ns = stamp};
        size_t len = lg_payload_build(&st, o->payload, body, buf, o->payload);
        int rc = len ? mosquitto_publish(p->snd.m, NULL, p->inbox, (int)len, buf, o->qos, false)
                     : MOSQ_ERR_INVAL;
        if (rc != MOSQ_ERR_SUCCESS) {
            p->pub_errors++;
            p->last_pub_rc = rc;
            if (rc == MOSQ_ERR_NO_CONN || rc == MOSQ_ERR_CONN_LOST || rc == MOSQ_ERR_INVAL)
                break;
            continue;
        }
        atomic_fetch_add(&p->sent, 1);
        if (stamp >= g_warm)
            p->sent_in_window++;
    }
out:
    free(body);
    free(buf);
    return NULL;
}

static void conn_stop(conn *c)
{
    if (!c->m)
        return;
    mosquitto_disconnect(c->m);
    mosquitto_loop_stop(c->m, false);
    mosquitto_destroy(c->m);
    c->m = NULL;
}

/* Every message stamped in the window delivered (and stored-receipted)? */
static bool drained(pair *ps, int n, bool receipts)
{
    for (int i = 0; i < n; i++) {
        pair *p = &ps[i];
        uint64_t sent = atomic_load(&p->sent);
        if (atomic_load(&p->delivered) < sent - p->written_off)
            return false;
        if (receipts && atomic_load(&p->receipts_stored) < sent)
            return false;
    }
    return true;
}

int lg_flow_mosq__run(const lg_flow_opts *o, lg_flow_result *r)
{
    char *err = r->error;
    size_t errsz = sizeof r->error;
    int rc = -1, started = 0;
    pair *ps = calloc((size_t)o->pairs, sizeof *ps);
    if (!ps)
        return -1;

    for (int i = 0; i < o->pairs; i++) {
        pair *p = &ps[i];
        p->idx = i;
        p->o = o;
        p->snd.p = p->rcv.p = p;
        p->rcv.receiver = true;
        pthread_mutex_init(&p->mu, NULL);
        pthread_cond_init(&p->cv, NULL);
        if (lg_ident_pair(o->prefix, o->user_base, i, (char *[2]){p->snd.user, p->rcv.user},
                          (char *[2]){p->snd.client_id, p->rcv.client_id}, sizeof p->snd.client_id,
                          p->inbox, p->receipts, sizeof p->inbox, err, errsz) != 0)
            goto done;
    }
    for (int i = 0; i < o->pairs; i++)
        if (conn_start(&ps[i].snd, o, err, errsz) != 0 ||
            conn_start(&ps[i].rcv, o, err, errsz) != 0)
            goto done;
    if (wait_all(ps, o->pairs, offsetof(conn, conn), "connect", err, errsz) != 0)
        goto done;
    for (int i = 0; i < o->pairs; i++) {
        pair *p = &ps[i];
        if (o->receipts)
            mosquitto_subscribe(p->snd.m, &p->snd.sub_mid, p->receipts, 1);
        else
            atomic_store(&p->snd.sub, OK);
        mosquitto_subscribe(p->rcv.m, &p->rcv.sub_mid, p->inbox, o->qos);
    }
    if (wait_all(ps, o->pairs, offsetof(conn, sub), "subscribe", err, errsz) != 0)
        goto done;

    g_start = lg_now_ns() + 20 * 1000000;
    g_warm = g_start + (int64_t)(o->warmup_s * 1e9);
    g_end = g_warm + (int64_t)(o->duration_s * 1e9);
    for (; started < o->pairs; started++)
        if (pthread_create(&ps[started].thread, NULL, sender_main, &ps[started]) != 0) {
            snprintf(err, errsz, "pthread_create failed");
            break;
        }
    for (int i = 0; i < started; i++)
        pthread_join(ps[i].thread, NULL);
    int64_t drain_end = lg_now_ns() + (int64_t)(o->drain_s * 1e9);
    while (!drained(ps, o->pairs, o->receipts) && lg_now_ns() < drain_end)
        lg_sleep_ms(10);
    if (started == o->pairs)
        rc = 0;

done:
    for (int i = 0; i < o->pairs; i++) {
        conn_stop(&ps[i].snd);
        conn_stop(&ps[i].rcv);
    }
    const char *reject = NULL;
    int last_pub_rc = 0;
    for (int i = 0; i < o->pairs; i++) {
        pair *p = &ps[i];
        r->sent += atomic_load(&p->sent);
        r->sent_in_window += p->sent_in_window;
        r->publish_errors += p->pub_errors;
        if (p->last_pub_rc)
            last_pub_rc = p->last_pub_rc;
        r->receipts_stored += atomic_load(&p->receipts_stored);
        lg_rx_merge(r, &p->rx, &p->rc, &reject);
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->cv);
    }
    if (!err[0] && reject)
        snprintf(err, errsz, "rejected: %s", reject);
    else if (!err[0] && last_pub_rc)
        snprintf(err, errsz, "publish: %s", mosquitto_strerror(last_pub_rc));
    free(ps);
    return rc;
}
