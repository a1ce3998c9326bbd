/*
 * conn.c - the MQTT connection over Paho MQTTAsync (contract in conn.h):
 * Paho's callbacks, on its threads, become events on a mutex-protected
 * queue that the client drains on the application's thread (conn_next).
 */
#include "conn.h"

#include "transport.h"

#include <MQTTAsync.h>
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CONN_KEEPALIVE_S 20
#define CONN_CONNECT_TIMEOUT_S 10
#define CONN_DISCONNECT_TIMEOUT_MS 2000

struct conn {
    MQTTAsync mq;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    conn_ev *head, *tail;
    char username[128];
    char password[600];
    int persistent;
    int tls;             /* ssl://, mqtts://, wss:// */
    char ca_file[1024];  /* "" = the system trust store */
};

static void push(conn *c, conn_ev *e)
{
    pthread_mutex_lock(&c->mu);
    if (c->tail)
        c->tail->next = e;
    else
        c->head = e;
    c->tail = e;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static void push_simple(conn *c, conn_ev_type type, int code, const char *detail)
{
    conn_ev *e = calloc(1, sizeof *e);
    if (!e)
        return; /* out of memory: the event is lost; reconnect logic recovers on the next timer */
    e->type = type;
    e->code = code;
    snprintf(e->detail, sizeof e->detail, "%s", detail ? detail : "");
    push(c, e);
}

void conn_ev_free(conn_ev *e)
{
    if (!e)
        return;
    free(e->topic);
    free(e->payload);
    free(e);
}

/* ---- Paho callbacks (Paho's threads) -------------------------------------- */

static void on_lost(void *ctx, char *cause)
{
    push_simple(ctx, CONN_EV_LOST, 0, cause ? cause : "connection lost");
}

static int on_message(void *ctx, char *topic, int topic_len, MQTTAsync_message *m)
{
    conn *c = ctx;
    conn_ev *e = calloc(1, sizeof *e);
    size_t tl = topic_len > 0 ? (size_t)topic_len : strlen(topic);
    if (!e)
        return 0; /* Paho redelivers later */
    e->type = CONN_EV_MESSAGE;
    e->topic = malloc(tl + 1);
    e->payload = malloc((size_t)m->payloadlen + 1);
    if (!e->topic || !e->payload) {
        conn_ev_free(e);
        return 0;
    }
    memcpy(e->topic, topic, tl);
    e->topic[tl] = 0;
    memcpy(e->payload, m->payload, (size_t)m->payloadlen);
    e->len = (size_t)m->payloadlen;
    push(c, e);
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
}

static void on_connect(void *ctx, MQTTAsync_successData *r)
{
    push_simple(ctx, CONN_EV_CONNECTED, r ? r->alt.connect.sessionPresent : 0, "connected");
}

static const char *connack_reason(int code)
{
    switch (code) {
    case 1: return "unacceptable protocol version";
    case 2: return "client id rejected";
    case 3: return "server unavailable";
    case 4: return "bad user name or password";
    case 5: return "not authorized";
    default: return NULL;
    }
}

static void on_connect_failure(void *ctx, MQTTAsync_failureData *r)
{
    char detail[200];
    int code = r ? r->code : -1;
    const char *why = connack_reason(code);
    if (!why)
        why = r && r->message ? r->message : MQTTAsync_strerror(code);
    snprintf(detail, sizeof detail, "connect refused: %s", why ? why : "unknown error");
    push_simple(ctx, CONN_EV_CONNECT_FAILED, code, detail);
}

/* The context of one subscribe: several may be in flight at once (own
 * topics, group topics, presence), each with its own topic count. */
typedef struct {
    conn *c;
    int n;
} sub_req;

static void on_subscribe(void *ctx, MQTTAsync_successData *r)
{
    /* MQTT 3.1.1: a refused topic comes back as granted QoS 0x80. */
    sub_req *s = ctx;
    conn *c = s->c;
    int n = s->n;
    free(s);
    if (r && n == 1 && r->alt.qos == 0x80) {
        push_simple(c, CONN_EV_SUB_FAILED, 0x80, "subscription refused");
        return;
    }
    if (r && n > 1 && r->alt.qosList) {
        for (int i = 0; i < n; i++) {
            if (r->alt.qosList[i] == 0x80) {
                push_simple(c, CONN_EV_SUB_FAILED, 0x80, "subscription refused");
                return;
            }
        }
    }
    push_simple(c, CONN_EV_SUBSCRIBED, 0, "subscribed");
}

static void on_subscribe_failure(void *ctx, MQTTAsync_failureData *r)
{
    sub_req *s = ctx;
    conn *c = s->c;
    free(s);
    push_simple(c, CONN_EV_SUB_FAILED, r ? r->code : -1, "subscription refused");
}

/* ---- API (application thread) -------------------------------------------- */

conn *conn_new(const char *url, const char *client_id, int persistent, const char *ca_file,
               char *errbuf, size_t errlen)
{
    transport_kind kind = transport_mqtt_kind(url);
    if (kind == TRANSPORT_BAD) {
        snprintf(errbuf, errlen,
                 "bad MQTT URL %s: use tcp://, mqtt://, ws:// or (TLS) ssl://, mqtts://, wss:// "
                 "followed by HOST:PORT",
                 url);
        return NULL;
    }
    if (ca_file && strlen(ca_file) >= sizeof((conn *)0)->ca_file) {
        snprintf(errbuf, errlen, "CA file name too long");
        return NULL;
    }
    conn *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    c->persistent = persistent;
    c->tls = kind == TRANSPORT_TLS;
    snprintf(c->ca_file, sizeof c->ca_file, "%s", ca_file ? ca_file : "");
    pthread_mutex_init(&c->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &ca);
    pthread_condattr_destroy(&ca);
    int rc = MQTTAsync_create(&c->mq, url, client_id, MQTTCLIENT_PERSISTENCE_NONE, NULL);
    if (rc != MQTTASYNC_SUCCESS) {
        snprintf(errbuf, errlen, "bad MQTT URL %s: %s", url, MQTTAsync_strerror(rc));
        goto fail;
    }
    rc = MQTTAsync_setCallbacks(c->mq, c, on_lost, on_message, NULL);
    if (rc != MQTTASYNC_SUCCESS) {
        snprintf(errbuf, errlen, "MQTT: %s", MQTTAsync_strerror(rc));
        goto fail;
    }
    return c;

fail:
    conn_free(c);
    return NULL;
}

void conn_free(conn *c)
{
    if (!c)
        return;
    if (c->mq) {
        conn_disconnect(c);
        MQTTAsync_destroy(&c->mq);
    }
    conn_ev *e = c->head;
    while (e) {
        conn_ev *n = e->next;
        conn_ev_free(e);
        e = n;
    }
    sodium_memzero(c->password, sizeof c->password);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

int conn_start(conn *c, const char *username, const char *password, char *errbuf, size_t errlen)
{
    MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer;
    /* TLS: verify the chain (against ca_file, else the system store) and
     * the host name; Paho copies these options at connect. */
    MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
    ssl.trustStore = c->ca_file[0] ? c->ca_file : NULL;
    ssl.enableServerCertAuth = 1;
    ssl.verify = 1;
    ssl.sslVersion = MQTT_SSL_VERSION_DEFAULT; /* negotiated; OpenSSL's floor (TLS 1.2 on Debian) */
    if (c->tls)
        o.ssl = &ssl;
    snprintf(c->username, sizeof c->username, "%s", username);
    snprintf(c->password, sizeof c->password, "%s", password);
    o.keepAliveInterval = CONN_KEEPALIVE_S;
    o.cleansession = c->persistent ? 0 : 1;
    o.connectTimeout = CONN_CONNECT_TIMEOUT_S;
    o.MQTTVersion = MQTTVERSION_3_1_1;
    o.username = c->username;
    o.password = c->password;
    o.automaticReconnect = 0;
    o.onSuccess = on_connect;
    o.onFailure = on_connect_failure;
    o.context = c;
    int rc = MQTTAsync_connect(c->mq, &o);
    if (rc != MQTTASYNC_SUCCESS) {
        snprintf(errbuf, errlen, "MQTT connect: %s", MQTTAsync_strerror(rc));
        return -1;
    }
    return 0;
}

int conn_subscribe(conn *c, char *const *topics, int n)
{
    int qos[16];
    MQTTAsync_responseOptions o = MQTTAsync_responseOptions_initializer;
    if (n <= 0 || n > 16)
        return -1;
    sub_req *s = malloc(sizeof *s);
    if (!s)
        return -1;
    s->c = c;
    s->n = n;
    for (int i = 0; i < n; i++)
        qos[i] = 1;
    o.onSuccess = on_subscribe;
    o.onFailure = on_subscribe_failure;
    o.context = s;
    if (MQTTAsync_subscribeMany(c->mq, n, topics, qos, &o) != MQTTASYNC_SUCCESS) {
        free(s);
        return -1;
    }
    return 0;
}

static int publish(conn *c, const char *topic, const void *payload, size_t len, int qos)
{
    MQTTAsync_message m = MQTTAsync_message_initializer;
    MQTTAsync_responseOptions o = MQTTAsync_responseOptions_initializer;
    m.payload = (void *)payload;
    m.payloadlen = (int)len;
    m.qos = qos;
    m.retained = 0;
    return MQTTAsync_sendMessage(c->mq, topic, &m, &o) == MQTTASYNC_SUCCESS ? 0 : -1;
}

int conn_publish(conn *c, const char *topic, const void *payload, size_t len)
{
    return publish(c, topic, payload, len, 1);
}

int conn_publish_qos0(conn *c, const char *topic, const void *payload, size_t len)
{
    return publish(c, topic, payload, len, 0);
}

void conn_disconnect(conn *c)
{
    if (!c->mq || !MQTTAsync_isConnected(c->mq))
        return;
    MQTTAsync_disconnectOptions o = MQTTAsync_disconnectOptions_initializer;
    o.timeout = CONN_DISCONNECT_TIMEOUT_MS;
    if (MQTTAsync_disconnect(c->mq, &o) != MQTTASYNC_SUCCESS)
        return;
    /* Wait (bounded) for the DISCONNECT to go out. */
    for (int i = 0; i < CONN_DISCONNECT_TIMEOUT_MS / 10 && MQTTAsync_isConnected(c->mq); i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

conn_ev *conn_next(conn *c, int timeout_ms)
{
    conn_ev *e = NULL;
    pthread_mutex_lock(&c->mu);
    if (!c->head && timeout_ms > 0) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += timeout_ms / 1000;
        ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        while (!c->head) {
            if (pthread_cond_timedwait(&c->cv, &c->mu, &ts) == ETIMEDOUT)
                break;
        }
    }
    if (c->head) {
        e = c->head;
        c->head = e->next;
        if (!c->head)
            c->tail = NULL;
        e->next = NULL;
    }
    pthread_mutex_unlock(&c->mu);
    return e;
}
