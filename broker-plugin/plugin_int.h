/*
 * plugin_int.h - state and internal interfaces shared by the files of the
 * Parley mosquitto plugin (docs/broker-plugin.md explains the design).
 *
 * Threads: every function here runs on the broker thread unless its comment
 * says otherwise. The writer thread (store_writer) and the reader thread
 * (worker.c) never touch the state below; they hand results back as
 * pp_task objects through the completion queue (tasks.c), drained in
 * MOSQ_EVT_TICK, which wake.c brings forward whenever a task is queued.
 *
 * The message path, bottom to top: state.c (pp, clocks) - tasks.c and
 * wake.c (completion queue, waking the loop) - writer.c (the one door to
 * the store writer) - message.c (stamping, store-then-forward, delivery) -
 * receipts.c (every Receipt) - envelope.c / group_msg.c / groups.c (what a
 * 1:1 send, a group send and a group event add).
 */
#ifndef PARLEY_PLUGIN_INT_H
#define PARLEY_PLUGIN_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#include "clock.h"
/* logging.c: the plugin's lines go through common/log.h (PARLEY_LOG_LEVEL,
 * PARLEY_LOG_FORMAT), as the HTTP services' do. logging__init reads the
 * environment (-1: an unknown value, logged). Every mosquitto_log_printf
 * call in the plugin's files lands in logging__printf. */
int logging__init(void);
void logging__printf(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define mosquitto_log_printf logging__printf
/* mosquitto 2.0.11's mosquitto_broker_publish_copy() copies the payload with
 * plain calloc() and the broker releases it with mosquitto__free(): the
 * memory count drifts down by every payload until it wraps and memory_limit
 * refuses every allocation. Use publish__copy() (publish.c). */
#pragma GCC poison mosquitto_broker_publish_copy

#include "devices.h"
#include "ids.h"
#include "parley.pb-c.h"
#include "store.h"
#include "store_writer.h"
#include "strmap.h"
#include "tokcache.h"

/* Topic a refused, duplicate or consumed publish is redirected to so that
 * mosquitto still acknowledges it but routes it nowhere: '$' topics match no
 * wildcard and the ACL lets nobody subscribe to it. */
#define PP_DISCARD_TOPIC "$parley/discard"
#define PP_TOPIC_MAX 256
/* Bytes an Envelope may carry besides its body (ids, timestamps, tags). */
#define PP_ENVELOPE_OVERHEAD 1024
#define PP_SYNC_DEFAULT 100
#define PP_SYNC_MAX 500
#define PP_SYNC_MAX_BYTES (1024 * 1024) /* a sync page stops growing past this */
/* The reserved user name of the plugin's own wake connection (wake.c);
 * not a valid user id (common/ids.h), so no client can take it. */
#define WAKE_USER "$parley-wake"

/* ------------------------------------------------------------ options */

typedef struct {
    char *store_uri;          /* plugin_opt_store (required) */
    char *admins;             /* plugin_opt_admins: comma-separated user ids */
    size_t max_payload;       /* plugin_opt_max_payload: body bytes (65536) */
    double rate_messages;     /* plugin_opt_rate_messages: per client per s (50) */
    double rate_bytes;        /* plugin_opt_rate_bytes: per client per s (1 MiB) */
    size_t batch_max;         /* plugin_opt_batch_max (256) */
    int batch_delay_ms;       /* plugin_opt_batch_delay_ms (2) */
    int key_refresh_ms;       /* plugin_opt_key_refresh_ms (250) */
    size_t token_cache;       /* plugin_opt_token_cache: verified tokens kept (65536; 0 = off) */
    int metrics_interval_s;   /* plugin_opt_metrics_interval (10) */
    size_t max_group_size;    /* plugin_opt_max_group_size: members per group (1024) */
    double rate_user_messages; /* plugin_opt_rate_user_messages: per user per s (100) */
    double rate_user_bytes;    /* plugin_opt_rate_user_bytes: per user per s (2 MiB) */
    size_t max_groups_per_user; /* plugin_opt_max_groups_per_user (512) */
    size_t max_conns_per_user;    /* plugin_opt_max_connections_per_user (16) */
    size_t max_sessions_per_user; /* plugin_opt_max_sessions_per_user: persistent (8) */
    int64_t session_expiry_s; /* plugin_opt_session_expiry: as persistent_client_expiration (7 d) */
    char *options_file; /* plugin_opt_options_file: more options, re-read on reload */
    char *wake_socket; /* plugin_opt_wake_socket: a "listener 0 PATH" unix socket */
    char *cluster_nats; /* plugin_opt_cluster_nats: NATS URLs, comma-separated; NULL = one node */
    char *node_id; /* plugin_opt_node_id: this node's id (default: random per start) */
    bool cluster_debug; /* plugin_opt_cluster_debug: log the bus's test payloads */
    int cluster_heartbeat_ms; /* plugin_opt_cluster_heartbeat_ms: presence heartbeat (2000) */
    char *metrics_listen; /* plugin_opt_metrics_listen: Prometheus HOST:PORT; NULL = none */
    int expire_interval_s; /* plugin_opt_expire_interval_s: message expiry runs (60) */
} pp_config;

/* config.c: parse plugin_opt_* (and the options file) into pp.cfg. */
int config__init(struct mosquitto_opt *opts, int n);
void config__reload(struct mosquitto_opt *opts, int n);
void config__cleanup(void);

/* ------------------------------------------------------------ metrics */

/* Each reason with its name, one list: the enum below and the name tables
 * (receipts__reject_code: the REJECTED receipt's code; metrics__auth_name:
 * the auth/failed/<name> figure) are made from it, so they cannot drift. */
#define PP_REJECTS(X) \
    X(PP_REJ_MALFORMED, "malformed") \
    X(PP_REJ_TOO_LARGE, "too_large") \
    X(PP_REJ_BAD_CLIENT_MSG_ID, "bad_client_msg_id") \
    X(PP_REJ_UNKNOWN_RECIPIENT, "unknown_recipient") \
    X(PP_REJ_SELF_SEND, "self_send") \
    X(PP_REJ_RATE_LIMITED, "rate_limited") \
    X(PP_REJ_OVERLOADED, "overloaded") \
    X(PP_REJ_STORE_FAILED, "store_failed") \
    /* direct chat encrypted to an old device list (devices) */ \
    X(PP_REJ_STALE_DEVICES, "stale_devices")

#define PP_AUTH_FAILS(X) \
    X(PP_AUTH_NO_PASSWORD, "no_password") \
    X(PP_AUTH_BAD_USER_ID, "bad_user_id") \
    X(PP_AUTH_UNKNOWN_USER, "unknown_user") \
    X(PP_AUTH_MALFORMED, "malformed_token") \
    X(PP_AUTH_WRONG_USER, "wrong_user") \
    X(PP_AUTH_WRONG_CLIENT, "wrong_client_id") \
    X(PP_AUTH_EXPIRED, "expired") \
    X(PP_AUTH_LIFETIME, "lifetime_too_long") \
    X(PP_AUTH_BAD_SIGNATURE, "bad_signature") \
    X(PP_AUTH_AUDIENCE, "wrong_audience") /* a keyserver or media token */ \
    X(PP_AUTH_BAD_CLIENT_ID, "bad_client_id") /* client id is not "{user}.{tag}" */ \
    X(PP_AUTH_TOO_MANY_CONNS, "too_many_connections") /* max_connections_per_user reached */ \
    X(PP_AUTH_TOO_MANY_SESSIONS, "too_many_sessions") /* max_sessions_per_user persistent */ \
    X(PP_AUTH_USER_DISABLED, "user_disabled") /* parley-admin users disable */ \
    X(PP_AUTH_USER_DELETED, "user_deleted") /* parley-admin users delete */ \
    X(PP_AUTH_UNKNOWN_DEVICE, "unknown_device") /* client id names no listed device */

#define PP_ENUM_CONSTANT(name, text) name,
#define PP_ENUM_NAME(name, text) [name] = text,

typedef enum { PP_REJECTS(PP_ENUM_CONSTANT) PP_REJ_COUNT } pp_reject;

typedef enum { PP_AUTH_FAILS(PP_ENUM_CONSTANT) PP_AUTH_COUNT } pp_auth_fail;

typedef struct {
    uint64_t messages_in; /* envelopes accepted and routed */
    uint64_t messages_stored; /* messages stored (each answered by a STORED receipt) */
    uint64_t stored_receipts_coalesced; /* coalesced STORED receipts sent (receipts.c) */
    uint64_t duplicates; /* retries the store recognised (STORE_EDUP) */
    uint64_t acks; /* ack requests recorded */
    uint64_t requests; /* control requests received */
    uint64_t typing; /* typing events relayed */
    uint64_t messages_deleted; /* delete_message requests that made a tombstone */
    uint64_t messages_expired; /* messages the periodic expiry deleted (expire.c) */
    uint64_t rejected[PP_REJ_COUNT];
    uint64_t auth_ok;
    uint64_t auth_failed[PP_AUTH_COUNT];
    uint64_t acl_denied;
    uint64_t rate_limited; /* refused publishes */
    uint64_t store_errors; /* failed writer operations */
    uint64_t ticks;
    uint64_t tick_gap_us_total; /* time between ticks, for the docs' figure */
    uint64_t tick_gap_us_max;
} pp_metrics;

/* ------------------------------------------------------------ tasks */

/* A unit of work travelling between threads. work() runs on the reader
 * thread (worker.c) with its store handle; done() runs on the broker thread
 * from MOSQ_EVT_TICK and must free the task. Writer completions (writer.c)
 * set rc, call take() if set, and queue the task without a work step. */
typedef struct pp_task pp_task;
struct pp_task {
    pp_task *next;
    void (*work)(pp_task *t, store_t *s);
    /* Writer thread: copy (or take over) what done() needs from the
     * completed op before the writer frees it. */
    void (*take)(pp_task *t, store_op *op);
    void (*done)(pp_task *t, bool stopping); /* stopping: free only, publish nothing */
    int rc;
    /* Stage timestamps (clock_mono_us; stages.c): set by the submitter
     * (t_submit_us != 0 turns the others on), the writer's completion and
     * tasks__push. */
    uint64_t t_submit_us, t_pushed_us;
    store_writer_times t_batch; /* the writer's times of its batch */
};

/* Queue a finished task for the broker thread and wake it (wake.c). Any
 * thread. */
void tasks__push(pp_task *t);
/* Run done() of every queued task (broker thread). */
void tasks__drain(bool stopping);
/* Tasks waiting for the broker thread (any thread). */
size_t tasks__pending(void);

/* ------------------------------------------------------------ wake.c */

/* Start the thread that keeps the wake connection to the unix socket
 * listener at path (NULL: none; completions then wait for the idle tick). */
int wake__start(const char *path);
void wake__stop(void);
/* Wake the broker thread (any thread; one wake outstanding at a time). */
void wake__kick(void);
/* The tick is running: the next kick must wake again (broker thread). */
void wake__ticked(void);
bool wake__is_user(const char *username);
bool wake__password_ok(const char *password);
bool wake__connected(void);
uint64_t wake__sent(void);

/* ------------------------------------------------------------ state (state.c) */

typedef struct {
    mosquitto_plugin_id_t *id;
    pp_config cfg;
    store_writer *writer;
    pp_metrics m;
    int64_t next_metrics_ms;
    int64_t last_tick_us;
} pp_state;

extern pp_state pp;

/* ------------------------------------------------------------ publish helpers (publish.c) */

/* Encode msg and publish it to topic (QoS 1). Returns MOSQ_ERR_*. */
int publish__msg(const char *topic, const ProtobufCMessage *msg, bool retain);
/* Publish a copy of payload to topic on this node; the copy is made with
 * mosquitto_malloc (never mosquitto_broker_publish_copy: its plain calloc
 * corrupts mosquitto 2.0.11's memory count, see publish.c). MOSQ_ERR_*. */
int publish__copy(const char *topic, const void *payload, size_t len, int qos, bool retain);
/* publish__copy at QoS 1, not retained; a failure is logged. */
int publish__raw(const char *topic, const void *payload, size_t len);
/* Publish buf (from mosquitto_malloc) at QoS 1, not retained, without a
 * copy: mosquitto owns buf afterwards, and on failure it is freed here
 * (logged). */
int publish__own(const char *topic, void *buf, size_t len);
/* Replace the event's topic with PP_DISCARD_TOPIC and clear retain, so the
 * publish is acknowledged and routed nowhere. */
void publish__discard(struct mosquitto_evt_message *ed);
/* Replace the event's payload with a mosquitto-allocated copy of buf. */
int publish__set_payload(struct mosquitto_evt_message *ed, const ProtobufCMessage *msg);
/* Split "parley/u/{user}/{leaf}" into user and leaf; false if not that shape. */
bool publish__parse_user_topic(const char *topic, char user[IDS_USER_MAX + 1], const char **leaf);

/* ------------------------------------------------------------ route.c */

/* What a delivery carries besides its topic and payload, for the other
 * nodes (route.c's frame): the seq of an inbox delivery and its chat and
 * sender (all empty / 0 for receipts and typing). */
#define ROUTE_F_SYSTEM 0x01 /* a SYSTEM envelope (a group event) */
#define ROUTE_F_AFTER_GROUP 0x02 /* deliver after reloading the group chat_id */
#define ROUTE_F_NO_BUS 0x20 /* this node's subscribers only (route__remote does nothing) */
#define ROUTE_F_LOCAL 0x80 /* this node's own commit (never sent on the bus) */
typedef struct {
    uint8_t flags;
    uint64_t seq;
    const char *chat_id;
    const char *sender;
} route_meta;

/* Encode msg and publish it on parley/u/{user}/{leaf} here and, in a
 * cluster, on the user's bus subject. Returns MOSQ_ERR_* of the local
 * publish. */
int route__user(const char *user, const char *leaf, const ProtobufCMessage *msg,
                const route_meta *meta);
/* The same for a group's parley/g/{id}/inbox; with the bus on, this
 * node's own copy goes through the group's gate (gsync.c). */
int route__group(const char *chat_id, const ProtobufCMessage *msg, const route_meta *meta);
/* Only the other nodes (a typing relay mosquitto routes here itself). kind
 * is a bus_kind (BUS_USER or BUS_GROUP); no-op without the bus. */
void route__remote(int kind, const char *id, const route_meta *meta, const char *topic,
                   const void *payload, size_t len);
void route__init(void);
uint64_t route__frames_in(void); /* deliveries received from other nodes */
uint64_t route__frames_bad(void); /* ... refused as malformed */

/* ------------------------------------------------------------ auth.c */

int auth__init(store_t *s); /* load every identity key (blocking, at init) */
void auth__cleanup(void);
int auth__basic_auth_cb(int event, void *event_data, void *userdata);
/* A registered user that is not deleted (a disabled user exists: messages
 * to it are stored and wait until it is enabled). */
bool auth__user_exists(const char *user_id);
/* Worker thread: fetch keys changed since the last refresh; queue the result. */
void auth__refresh_work(store_t *s);
/* The user's device list as the cache holds it (common/devices.h): its
 * version (0 = implicit or unknown user) and its device count (1 for an
 * implicit list, 0 for an unknown user). */
uint64_t auth__devices_version(const char *user_id);
size_t auth__device_count(const char *user_id);
/* The device id client_id (of user_id) names, into out: the device whose id
 * is its tag, else the first whose id is the tag's text before a '-' (as
 * at CONNECT); "" for an implicit list or no match. */
void auth__sender_device(const char *user_id, const char *client_id, char out[DEVICES_ID_MAX + 1]);
/* The verified-token cache's figures (tokcache.h), for metrics.c. */
void auth__token_cache_stats(tokcache_stats *out);

/* ------------------------------------------------------------ acl.c */

int acl__check_cb(int event, void *event_data, void *userdata);
bool acl__is_admin(const char *user_id);

/* ------------------------------------------------------------ writer.c */

/* The one door to the store writer. op goes to the writer; once its batch
 * has committed (or failed), t->rc is set, t->take() (if set) runs on the
 * writer thread, and t is queued for the broker thread (t->done). t may be
 * NULL: then a failure other than STORE_EEXIST is only logged. Returns 0,
 * or -1 if the writer refused (queue full, stopped): op is freed, t still
 * belongs to the caller. */
int writer__submit(store_op *op, pp_task *t);
/* Queue the creation of a direct chat and its two members (log-only). */
int writer__direct_chat(const char *chat_id, const char *a, const char *b, int64_t now);

/* ------------------------------------------------------------ message.c */

/* A message to append to a chat: a client's CHAT send or a SYSTEM event.
 * Every string is copied by message__submit. */
typedef struct {
    const char *chat_id;
    const char *sender;
    const char *client_msg_id;
    const char *recipient; /* 1:1: the other member; NULL for a group */
    const char *sender_device; /* the publisher's device id; NULL or "" for none */
    ProtobufCBinaryData body;
    const char *media_id; /* NULL or "" for none */
    uint32_t ttl_s;
    Parley__V1__EnvelopeKind kind;
    char *const *extra; /* group: users whose own inbox gets it too */
    size_t n_extra;
    bool coalesce_receipts; /* the sender's Envelope.coalesce_receipts */
} pp_send;

/* What message__submit's hook learns, on the broker thread. */
typedef struct {
    const char *chat_id;
    const char *sender;
    uint64_t seq; /* the stored seq (the original one on a retry) */
    int rc; /* STORE_OK, STORE_EDUP (a retry), or an error */
    bool stopping; /* the plugin is stopping: free only */
} pp_committed;
typedef void (*pp_committed_fn)(const pp_committed *c, void *ctx);

/* Store, then forward: append s with seq 0 (the store assigns the chat's
 * next seq and recognises a retry by (sender, client_msg_id)); after the
 * commit, on the broker thread: hook(ctx) runs, then a fresh message is
 * stamped and delivered (the recipient's inbox or the group's topic, plus
 * the extra users' inboxes), and a CHAT send gets its STORED receipt. A
 * retry (STORE_EDUP) is answered with STORED and the original seq and is
 * not delivered again; a failure gets REJECTED store_failed. Returns 0, or
 * -1 when the writer refused (nothing queued; the hook is never called). */
int message__submit(const pp_send *s, pp_committed_fn hook, void *ctx);
/* stamp.c - the one place an Envelope is stamped: every server field from
 * the store's record (server_id, chat_id, seq, sender, server_ts, kind), the
 * client's fields (client_msg_id, body, media_id) and ttl_s. out borrows m's
 * strings. recipient and sender_client_id are left empty (a client id is
 * never disclosed to other users). */
void stamp__envelope(Parley__V1__Envelope *out, const store_message *m, uint32_t ttl_s);

/* ------------------------------------------------------------ envelope.c */

/* Scratch memory for unpacking one client envelope (on the caller's stack):
 * protobuf-c allocates the message and each of its strings and bytes
 * through it, from buf while it lasts, then from the heap; freeing it is a
 * no-op for what came from buf. Set up by envelope__unpack_checked. */
typedef struct {
    ProtobufCAllocator a;
    size_t used;
    _Alignas(16) uint8_t buf[4096];
} pp_arena;

int envelope__init(store_t *s); /* load the chats and their last seqs (blocking, at init) */
void envelope__cleanup(void);
/* A publish to parley/u/{recipient}/inbox (consumed: stored, then delivered). */
void envelope__handle(struct mosquitto_evt_message *ed, const char *me, const char *recipient);
/* The direct chat's last committed seq, or 0 if the chat is unknown. */
uint64_t envelope__last_seq(const char *chat_id);
/* Another node committed seq in the direct chat (cluster): raise it. */
void envelope__note_seq(const char *chat_id, uint64_t seq);
/* The checks every client Envelope passes (1:1 and group sends): payload
 * and body within max_payload, a valid client_msg_id (copied to cmid, which
 * the caller initialises to ""), a media_id of at most 128 characters.
 * Returns the unpacked Envelope (the caller frees it), or NULL with *why and
 * *reason set (the caller rejects; cmid holds the id if it was valid). */
Parley__V1__Envelope *envelope__unpack_checked(const struct mosquitto_evt_message *ed,
                                               pp_arena *arena, char cmid[IDS_CLIENT_MSG_MAX + 1],
                                               pp_reject *why, const char **reason);
/* Free an envelope unpacked into arena. */
void envelope__free(Parley__V1__Envelope *in, pp_arena *arena);

/* ------------------------------------------------------------ receipts.c */

void receipts__stored(const char *sender, const char *chat_id, uint64_t seq, const char *server_id,
                      const char *client_msg_id);
void receipts__rejected(const char *sender, const char *client_msg_id, const char *chat_id,
                        pp_reject why, const char *message);
void receipts__cursor(const char *to, const char *chat_id, uint64_t seq, const char *by, bool read);
/* REJECTED with a code outside pp_reject (group sends: not_member, forbidden). */
void receipts__rejected_code(const char *sender, const char *client_msg_id, const char *chat_id,
                             const char *code, const char *message);
/* A group cursor receipt (DELIVERED/READ by one member, or by all). */
void receipts__group_cursor(const char *to, const char *chat_id, uint64_t seq, const char *by,
                            bool read, bool all);
const char *receipts__reject_code(pp_reject why);
/* RESYNC to this node's connections of user (after a bus reconnect). */
void receipts__resync(const char *user);
/* STORED for a message sent with Envelope.coalesce_receipts: held until
 * receipts__flush, which sends each sender one receipt covering all of its
 * held messages (Receipt.more). Copies the strings. */
void receipts__stored_later(const char *sender, const char *chat_id, uint64_t seq,
                            const char *server_id, const char *client_msg_id);
/* Send the held STOREDs (end of a turn over the completion queue), or drop
 * them (discard: the plugin is stopping). */
void receipts__flush(bool discard);
void receipts__cleanup(void);

/* ------------------------------------------------------------ control.c */

/* A publish to parley/u/{me}/ctl. */
void control__handle(struct mosquitto_evt_message *ed, const char *me);
/* Send a Response (status 0 with result, or an error). */
void control__respond(const char *me, const char *req_id, uint32_t status, const char *error,
                      const char *message);

/* ------------------------------------------------------------ sync.c */

void sync__request(const char *me, const char *req_id, const Parley__V1__SyncRequest *rq);
void sync__list_chats(const char *me, const char *req_id);

/* ------------------------------------------------------------ delete.c */

/* A delete_message request (delete for everyone): checked on the broker
 * thread (fields, membership), then on the reader thread (the message),
 * then the tombstone through the writer; answered when it is durable. */
void delete__request(const char *me, const char *req_id, const Parley__V1__DeleteMessage *dm);

/* ------------------------------------------------------------ expire.c */

/* From the tick: every expire_interval_s, queue one message expiry on the
 * writer (at most one in flight). */
void expire__tick(int64_t now_ms);
/* Forget the schedule (plugin start). */
void expire__reset(void);

/* ------------------------------------------------------------ worker.c */

int worker__start(store_t *s); /* takes the store handle */
void worker__stop(void);
/* Queue a task whose work() runs on the reader thread. Returns 0 or -1
 * (stopped / queue full: the task still belongs to the caller). */
int worker__submit(pp_task *t);
/* Refresh the key cache now instead of at the next interval. */
void worker__kick_refresh(void);
void worker__set_refresh_ms(int ms);
size_t worker__pending(void);

/* ------------------------------------------------------------ presence.c */

int presence__init(void);
void presence__cleanup(void);
/* Admit an authenticated connection of user with client_id whose token
 * expires at token_expires_at (Unix s): 0, or the pp_auth_fail reason
 * (PP_AUTH_TOO_MANY_CONNS, PP_AUTH_TOO_MANY_SESSIONS) to refuse it. A session
 * takeover (a client id already connected) always passes. */
int presence__admit(struct mosquitto *client, const char *user, const char *client_id,
                    int64_t token_expires_at);
/* The key of the device that authenticated client_id (auth.c, at CONNECT). */
void presence__set_device_key(struct mosquitto *client, const uint8_t key[DEVICES_KEY_LEN]);
/* Close the connections of user for which still_ok(client_id, device key,
 * ctx) is false (a device left the user's list). why is logged. */
void presence__kick_devices(const char *user,
                            bool (*still_ok)(const char *client_id,
                                             const uint8_t key[DEVICES_KEY_LEN], void *ctx),
                            void *ctx, const char *why);
/* Close every connection of user (no will). why is logged. */
void presence__kick_user(const char *user, const char *why);
/* From the tick, at most once a second: close connections whose token has
 * expired, forget persistent sessions unused for session_expiry. */
void presence__sweep(int64_t now_ms);
int presence__disconnect_cb(int event, void *event_data, void *userdata);
size_t presence__users_online(void);
size_t presence__connections(void);
/* True if user has a connection on this node. */
bool presence__local_online(const char *user);
/* Call fn on every user connected to this node. */
void presence__foreach_online(void (*fn)(const char *user, void *ctx), void *ctx);
/* Publish the retained Presence of user (ONLINE since when / OFFLINE last
 * seen when) on this node's broker. */
void presence__publish(const char *user, bool online, int64_t when);
/* A publish to parley/u/{peer}/typing. */
void typing__handle(struct mosquitto_evt_message *ed, const char *me, const char *peer);
/* Relay a Typing publish as (me, chat_id, in->typing, now): the payload is
 * replaced and mosquitto routes it (never stored); discarded if the payload
 * cannot be replaced. Used for 1:1 and group typing. */
void typing__relay(struct mosquitto_evt_message *ed, const char *me, const char *chat_id,
                   const Parley__V1__Typing *in);

/* ------------------------------------------------------------ cluster.c */

/* Presence across nodes over the bus (docs/cluster.md). Everything is a
 * no-op without plugin_opt_cluster_nats. */
int cluster__init(void); /* before bus__start: registers the handlers */
void cluster__cleanup(void);
void cluster__leave(void); /* before bus__stop: tell the others */
void cluster__tick(void); /* heartbeat and expiry, from the tick */
void cluster__local_online(const char *user); /* first connection of user here */
void cluster__local_offline(const char *user); /* last connection of user here ended */
bool cluster__remote_online(const char *user); /* connected on another node */
size_t cluster__remote_users(void);
uint64_t cluster__expired(void); /* entries dropped because their node went quiet */

/* ------------------------------------------------------------ limits.c */

int limits__init(void);
void limits__cleanup(void);
/* Charge one message of len bytes to client_id and to user (the user's
 * bucket holds all its client ids together); false if either is over. */
bool limits__allow(const char *user, const char *client_id, size_t len);
void limits__forget(const char *client_id);
size_t limits__limited_clients(void);

/* ------------------------------------------------------------ metrics.c */

void metrics__tick(int64_t now_ms);
const char *metrics__auth_name(pp_auth_fail why);
void metrics__publish(void);

#endif
