/*
 * conn.h - the MQTT connection (Paho MQTTAsync, MQTT 3.1.1, clean session
 * off, QoS 1). Paho runs its callbacks on its own threads; conn turns every
 * one of them into an event on a mutex-protected queue, which the client
 * drains on the application's thread (conn_next). No other state is shared
 * between threads. TCP, WebSocket, and both over TLS (Paho's SSL library).
 */
#ifndef PARLEY_CONN_H
#define PARLEY_CONN_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    CONN_EV_CONNECTED = 1,  /* CONNACK accepted; code = session present */
    CONN_EV_CONNECT_FAILED, /* code = Paho / CONNACK code, detail = reason */
    CONN_EV_LOST,           /* the connection dropped; detail = reason */
    CONN_EV_SUBSCRIBED,     /* every subscription of one conn_subscribe() was granted */
    CONN_EV_SUB_FAILED,
    CONN_EV_MESSAGE,        /* topic + payload */
} conn_ev_type;

typedef struct conn_ev {
    conn_ev_type type;
    int code;
    char *topic;
    uint8_t *payload;
    size_t len;
    char detail[200];
    struct conn_ev *next;
} conn_ev;

typedef struct conn conn;

/* A connection object for url and client_id. url: tcp://, mqtt://, ws://,
 * or over TLS ssl://, mqtts://, wss:// (transport.h), then HOST:PORT (a
 * path after a WebSocket URL's port is the HTTP path). TLS verifies the
 * broker's certificate chain against ca_file (NULL or "": the system trust
 * store) and its host name. NULL on failure with errbuf filled. persistent:
 * clean session off. Does not connect. */
conn *conn_new(const char *url, const char *client_id, int persistent, const char *ca_file,
               char *errbuf, size_t errlen);
/* Wipe the password and free everything (disconnects first). */
void conn_free(conn *c);

/* Start connecting; the outcome arrives as CONN_EV_CONNECTED or
 * CONN_EV_CONNECT_FAILED. 0 started, -1 not started (errbuf). */
int conn_start(conn *c, const char *username, const char *password, char *errbuf, size_t errlen);
/* Subscribe to n topics at QoS 1; outcome: CONN_EV_SUBSCRIBED / _SUB_FAILED. */
int conn_subscribe(conn *c, char *const *topics, int n);
/* Publish at QoS 1 (Paho retries until PUBACK while the connection lives).
 * 0 queued, -1 not connected or refused. */
int conn_publish(conn *c, const char *topic, const void *payload, size_t len);
/* Publish at QoS 0 (fire and forget: typing indicators). 0 queued, -1 not. */
int conn_publish_qos0(conn *c, const char *topic, const void *payload, size_t len);
/* Disconnect cleanly (bounded wait); no event follows. */
void conn_disconnect(conn *c);

/* The next event, waiting at most timeout_ms; NULL if none. Free with
 * conn_ev_free. */
conn_ev *conn_next(conn *c, int timeout_ms);
void conn_ev_free(conn_ev *e);

#endif
