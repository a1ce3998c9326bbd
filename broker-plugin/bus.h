/*
 * bus.h - the node's connection to the other broker nodes: a NATS cluster,
 * through libnats (docs/cluster.md).
 *
 * Threads. Every bus__* function below runs on the broker thread, except
 * the pure subject functions (any thread) and bus__token_* (any thread).
 * No call here waits for the network: libnats is driven by one bus thread
 * (bus.c), to which the broker thread hands commands (subscribe,
 * unsubscribe, publish) through a bounded queue. Messages that arrive are
 * copied by libnats' delivery thread into pp_tasks and pushed onto the
 * completion queue (tasks__push); their handlers run on the broker thread.
 *
 * Without plugin_opt_cluster_nats the bus is off: bus__start does nothing
 * and every other call is a no-op, so a single node needs no NATS.
 */
#ifndef PARLEY_BUS_H
#define PARLEY_BUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- subjects (bus_subject.c: pure, unit-tested) ---------------------------
 *
 *   parley.u.<token>      one per user        (BUS_USER)
 *   parley.g.<token>      one per group       (BUS_GROUP)
 *   parley.node.<token>   one per node        (BUS_NODE)
 *   parley.all            every node          (BUS_ALL, no id)
 *
 * <token> is the id with every byte outside [A-Za-z0-9_-] written as '%'
 * and two upper-case hex digits ("a.b" -> "a%2Eb", "%" -> "%25"): a valid
 * single NATS token (no '.', '*', '>', whitespace or control bytes), still
 * readable for the ids Parley allows, and injective (decoding gives the id
 * back, so two different ids never share a subject). */
typedef enum { BUS_USER = 0, BUS_GROUP, BUS_NODE, BUS_ALL, BUS_KIND_COUNT } bus_kind;

#define BUS_ID_MAX 255                      /* bytes of an id the bus carries */
#define BUS_TOKEN_MAX (3 * BUS_ID_MAX)      /* its token, at worst */
#define BUS_SUBJECT_MAX (16 + BUS_TOKEN_MAX) /* "parley.node." + token + NUL */
#define BUS_NODE_ID_MAX 64                  /* node ids: 1..64 of [A-Za-z0-9_-] */

/* Encode id (1..BUS_ID_MAX bytes) into out as one subject token. Returns
 * its length, or -1 if id is empty or too long or out is too small. */
int bus__token_encode(const char *id, char *out, size_t outlen);
/* Decode a token; -1 unless it is exactly what bus__token_encode makes. */
int bus__token_decode(const char *token, char *out, size_t outlen);
/* The subject of (kind, id); id is ignored for BUS_ALL. Length or -1. */
int bus__subject(bus_kind kind, const char *id, char *out, size_t outlen);
/* Split a subject into kind and id (decoded, "" for BUS_ALL); false if it
 * is not one of ours. */
bool bus__parse_subject(const char *subject, bus_kind *kind, char *id, size_t idlen);
/* True if s is a valid node id. */
bool bus__valid_node_id(const char *s);

/* ---- messages -------------------------------------------------------------
 *
 * Every bus message is a frame: 'P', version 1, type (bus_type), the origin
 * node id's length (1 byte) and bytes, then the body. Handlers are chosen
 * by type; they also see the subject's kind and id and the origin node. */
typedef enum {
    BUS_T_TEST = 1,          /* debug payload (plugin_opt_cluster_debug) */
    BUS_T_PRESENCE_ON = 2,   /* body: a user id now connected on the origin */
    BUS_T_PRESENCE_OFF = 3,  /* body: a user id no longer connected there */
    BUS_T_HEARTBEAT = 4,     /* body: interval ms, then one online user per line */
    BUS_T_NODE_LEFT = 5,     /* the origin stops (clean shutdown) */
    BUS_T_DELIVER = 6,       /* a publish for the subject's user or group (route.c) */
    BUS_T_GROUP_CHANGED = 7, /* body: a group's chat id; reload it (gsync.c) */
    BUS_T_COUNT
} bus_type;

typedef struct {
    bus_kind kind;     /* subject it arrived on */
    const char *id;    /* its decoded id ("" for BUS_ALL) */
    bus_type type;
    const char *node;  /* origin node id */
    const uint8_t *body;
    size_t len;
} bus_msg;

typedef void (*bus_handler)(const bus_msg *m);
typedef void (*bus_resync_fn)(void);

/* Frame (type, node, body) into out; the frame's length or -1 (pure). */
int bus__frame(uint8_t type, const char *node, const void *body, size_t len, uint8_t *out,
               size_t outlen);
/* Parse a frame; false if malformed. node points into a copy the caller
 * gives (nodebuf). body points into data. */
bool bus__unframe(const void *data, size_t len, uint8_t *type, char nodebuf[BUS_NODE_ID_MAX + 1],
                  const uint8_t **body, size_t *bodylen);

/* ---- the connection (bus.c, broker thread) ----------------------------------- */

typedef struct {
    uint64_t msgs_in;        /* frames handed to the broker thread */
    uint64_t msgs_out;       /* frames handed to libnats */
    uint64_t bytes_in, bytes_out;
    uint64_t dropped_out;    /* publishes refused: queue full, not connected long, error */
    uint64_t dropped_in;     /* arrivals dropped: malformed, too many queued, slow consumer */
    uint64_t disconnects;
    uint64_t reconnects;
    uint64_t subscriptions;  /* subjects subscribed now */
    bool connected;
} bus_stats;

/* Start the bus if plugin_opt_cluster_nats is set (0 also when it is not);
 * -1 on an invalid option or no memory. The connection is made by the bus
 * thread: a start while every server is down succeeds and keeps trying. */
int bus__start(void);
/* Flush what is queued (bounded), close, join the bus thread. Tasks it
 * pushed are still on the completion queue: drain it after this. */
void bus__stop(void);
bool bus__enabled(void);
const char *bus__node_id(void); /* "" when the bus is off */

/* Reference-counted interest: the first watch subscribes the subject, the
 * last unwatch unsubscribes it. */
void bus__watch_user(const char *user);
void bus__unwatch_user(const char *user);
void bus__watch_group(const char *group_id);
void bus__unwatch_group(const char *group_id);
/* Number of watches of (kind, id) on this node. */
size_t bus__watching(bus_kind kind, const char *id);

/* Queue a frame of type with body for the subject of (kind, id). Never
 * waits: 0, or -1 when the bus is off, the id invalid or the queue full
 * (counted in dropped_out). Core NATS is at-most-once: 0 is not a promise
 * of delivery. */
int bus__publish(bus_kind kind, const char *id, bus_type type, const void *bytes, size_t len);

/* The same with a body gathered from n parts: the frame is built once,
 * straight into the queue entry (one allocation, each part copied once). */
typedef struct {
    const void *data;
    size_t len;
} bus_part;
int bus__publishv(bus_kind kind, const char *id, bus_type type, const bus_part *parts, size_t n);

/* Handler of a type (NULL: such messages are dropped). */
void bus__set_handler(bus_type type, bus_handler fn);
/* Called on the broker thread after every connection to NATS after the
 * first (a reconnect): what was published meanwhile may be lost, so the
 * node tells its clients to resync. Up to 4 functions. */
void bus__on_resync(bus_resync_fn fn);
/* Called on the broker thread after every connection, the first included. */
void bus__on_connect(bus_resync_fn fn);

void bus__get_stats(bus_stats *out);

#endif
