/*
 * client.h - the parley_client structure and the internal cross-file
 * functions of libparley (prefix client__). Modules:
 *   client.c   open/close, identity, tokens, registration, safety numbers
 *   session.c  connection state machine: connect, subscribe, reconnect, poll
 *   inbound.c  envelopes, receipts, responses; per-chat ordering and sync
 *   outbox.c   sending: the persistent outbox and its retries; acks
 *   presence.c presence watches and typing indicators (never stored)
 *   cipher.c   end-to-end encryption of message bodies (crypto/ core)
 *   lstore.c   the local SQLite store;  ksclient.c  the keyserver API
 *   conn.c     Paho MQTTAsync, events queued to the application thread
 */
#ifndef PARLEY_CLIENT_H
#define PARLEY_CLIENT_H

#include <stdint.h>

#include "conn.h"
#include "lstore.h"
#include "parley/parley.h"

#define CLIENT_ERR_MAX 512
#define CLIENT_URL_MAX 256
#define CLIENT_PATH_MAX 1024
#define CLIENT_ID_MAX 100
#define CLIENT_REQ_MAX 64           /* pending control requests */
#define CLIENT_HELD_MAX 1024        /* out-of-order live messages held per client */
#define CLIENT_SYNC_PAGE 200
#define CLIENT_DEFERRED_MAX 64
#define IDS_RETRY_MAX (141 + 1 + 65)

typedef enum {
    SESSION_IDLE = 0,       /* parley_connect() not called */
    SESSION_WAIT,           /* waiting for the next connect attempt (backoff) */
    SESSION_CONNECTING,
    SESSION_SUBSCRIBING,
    SESSION_READY,
} session_state;

typedef enum {
    REQ_NONE = 0,
    REQ_ACK,
    REQ_LIST_CHATS,
    REQ_SYNC,
    REQ_CALL, /* a blocking call waiting for its response (client__call) */
} req_kind;

typedef struct {
    char req_id[24];
    req_kind kind;
    char chat_id[141];
    int64_t sent_ms;
    int done;           /* REQ_CALL: response arrived */
    void *response;     /* REQ_CALL: Parley__V1__Response*, owned until collected */
} client_req;

/* A live envelope that arrived ahead of a gap in its chat's sequence. */
typedef struct {
    char chat_id[141];
    uint64_t seq;
    uint8_t *payload; /* the packed Envelope */
    size_t len;
} client_held;

/* inbound.c: a chat whose live deliveries the server has not confirmed yet.
 * A live envelope never moves the stored cursor (chats.synced_seq) past the
 * last_seq the server reported; the messages shown from live deliveries
 * beyond it are tracked here (memory only) until a sync page confirms them. */
#define CLIENT_CONFIRM_MAX 64
typedef struct {
    char chat_id[141];
    uint64_t live_seq;  /* processed in order from live deliveries, beyond synced_seq */
    uint64_t want;      /* highest live seq (processed, deferred or held) not yet confirmed */
    uint64_t last_seen; /* last_seq of the previous confirming answer (progress check) */
    int attempts;       /* confirming answers in a row without progress */
    int64_t next_ms;    /* monotonic time of the next confirming sync; 0: none scheduled */
} client_confirm;

/* cipher.c: what the keyserver said about one sender's identity key,
 * looked up before a delivery's transaction opens (client__identity_prefetch)
 * and used by client__decrypt for a PreKey message. */
typedef struct {
    int valid;
    char user[65];
    int rc;                  /* ksclient_get_identity's parley_rc */
    uint8_t ik[32];          /* rc == PARLEY_OK: the key the keyserver serves */
    char err[CLIENT_ERR_MAX];
} client_vouch;

/* cipher.c: when this client last checked a contact's identity key with the
 * keyserver before a send (client__prepare_session). */
#define CLIENT_IDCHECK_MAX 16
#define CLIENT_IDCHECK_MS 60000
typedef struct {
    char user[65];
    int64_t at_ms;
} client_idcheck;

struct parley_client {
    char home[CLIENT_PATH_MAX];
    char mqtt_url[CLIENT_URL_MAX];
    char keyserver_url[CLIENT_URL_MAX];
    char media_url[CLIENT_URL_MAX];
    char err[CLIENT_ERR_MAX];
    int transient;           /* throwaway client id, clean session, no inbox */
    char conn_client_id[CLIENT_ID_MAX + 32];

    lstore *store;
    int has_identity;
    char user[65];
    char client_id[CLIENT_ID_MAX + 1];
    uint8_t id_pk[32];
    uint8_t id_sk[64]; /* Ed25519 identity secret; wiped in parley_close */

    parley_callbacks cb;

    /* session.c */
    conn *mq;
    session_state state;
    int64_t next_attempt_ms;
    int attempts;            /* consecutive failed connects (backoff) */
    int64_t token_expires_ms; /* monotonic: when the current attempt's token expires */
    int synced;              /* every chat synced since the last connect */
    int syncs_pending;       /* list_chats + sync pages in flight */
    int64_t last_outbox_scan_ms;
    int64_t last_key_check_ms;
    int64_t last_resync_ms;
    int events;              /* events processed by the current poll */

    /* inbound.c */
    client_req reqs[CLIENT_REQ_MAX];
    client_held held[CLIENT_HELD_MAX];
    int nheld;
    client_confirm confirm[CLIENT_CONFIRM_MAX];
    int nconfirm;
    uint64_t req_counter;
    /* Group chats to sync once the direct chats are (their sender keys
     * travel in direct chats). */
    char deferred[CLIENT_DEFERRED_MAX][141];
    uint64_t deferred_after[CLIENT_DEFERRED_MAX];
    int ndeferred;
    /* (group, sender) pairs whose sender key just arrived: their pending
     * messages are decrypted after the current delivery. */
    char retry[16][IDS_RETRY_MAX];
    int nretry;

    /* presence.c: users whose presence is watched */
    char watch[PARLEY_WATCH_MAX][65];
    int nwatch;

    /* cipher.c */
    client_vouch vouch;
    client_idcheck idcheck[CLIENT_IDCHECK_MAX];
    int idcheck_next;
};

/* Wall-clock time (timestamps that are stored or sent). */
int64_t client__now_ms(void);
/* Monotonic time, for every wait, deadline and timer (immune to clock jumps). */
int64_t client__mono_ms(void);
/* Set c->err (printf-style) and return rc. */
int client__fail(parley_client *c, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Topic names for this user. */
void client__topic(parley_client *c, char *out, size_t outlen, const char *user, const char *leaf);

/* session.c */
/* Publish a payload when ready; 0 published, -1 not connected. */
int client__publish(parley_client *c, const char *topic, const void *payload, size_t len);
/* Run the connection state machine and process one event (bounded wait).
 * Returns 1 if an event was processed, 0 if none, <0 on local failure. */
int client__step(parley_client *c, int timeout_ms);

/* inbound.c */
int client__on_message(parley_client *c, const char *topic, const uint8_t *payload, size_t len);
/* Forget control requests unanswered for max_age_ms (a sync in flight then
 * counts as finished). Returns how many. */
int client__expire_requests(parley_client *c, int64_t max_age_ms);
/* A background list_chats + sync of the chats behind (new groups, messages
 * missed live). No-op while a sync runs. */
int client__resync(parley_client *c);
/* Retry the direct messages kept (LSTORE_MSG_PENDING_KEY) because their
 * sender's identity key could not be checked with the keyserver: decrypted
 * and delivered late, refused (UNDECRYPTABLE), or kept again. parley_rc. */
int client__retry_kept(parley_client *c);
/* Send the confirming syncs that are due at monotonic time now_ms (see
 * client_confirm). Called from client__step. */
void client__confirm_tick(parley_client *c, int64_t now_ms);
/* Called once subscriptions are in place: list chats, sync, resend acks. */
int client__on_ready(parley_client *c);
/* Send a Request (packed by the caller into a Parley__V1__Request* req with
 * req_id filled in by this function) and register it. 0 or -1. */
int client__request(parley_client *c, void *req, req_kind kind, const char *chat_id,
                    client_req **out);
/* Send req and poll until its response arrives (or timeout_ms). On
 * PARLEY_OK *rsp is the Response (free with
 * parley__v1__response__free_unpacked); a non-zero status becomes
 * PARLEY_EREFUSED with the detail in c->err. */
int client__call(parley_client *c, void *req, int timeout_ms, void **rsp);
/* Emit a receipt / event to the application. */
void client__emit_event(parley_client *c, parley_event_type type, const char *chat_id,
                        uint64_t seq, const char *user, const char *detail);

/* outbox.c */
/* Pack an envelope around body and add it to the outbox (in the caller's
 * transaction). parley_rc. */
int client__queue(parley_client *c, const char *cmid, const char *chat_id, const char *topic,
                  const uint8_t *body, size_t body_len, const char *plain, const char *media_id);
/* Send a Content (Parley__E2e__V1__Content*: text and/or media; the library
 * fills client_msg_id, sent_at, group_id) to a user or a "g:..." group: the
 * path of parley_send_text, for other kinds of content (media). plain: what
 * the local history shows for it. cmid_out: optional, 65 bytes. parley_rc. */
int client__send_content(parley_client *c, const char *to, void *content, const char *plain,
                         char *cmid_out);
/* Encrypt a Content (Parley__E2e__V1__Content*, client_msg_id and sent_at
 * filled in here) for peer and queue it (caller's transaction; the session
 * must exist: client__prepare_session). cmid_out: optional, 65 bytes. */
int client__queue_pairwise(parley_client *c, const char *peer, const void *content,
                           const char *plain, char *cmid_out);
/* Publish every outbox entry last attempted before now - min_age_ms. */
int client__outbox_flush(parley_client *c, int64_t min_age_ms);
/* A STORED or REJECTED receipt for one of our messages. */
int client__outbox_done(parley_client *c, const char *client_msg_id, const char *chat_id,
                        uint64_t seq, const char *server_id, int64_t ts, int stored);
/* Publish an Ack request (read = 0 delivered, 1 read). 0 sent, -1 not. */
int client__send_ack(parley_client *c, const char *chat_id, uint64_t seq, int read);

/* For media: the packed MediaRef (Parley__E2e__V1__MediaRef, with its
 * secret key) of a message that referenced media_id, read from the local
 * store: lstore_msg_media(c->store, media_id, &buf, &len). */

/* presence.c */
/* A message on parley/presence/{user} or a .../typing topic: surfaced to
 * on_presence / on_typing; malformed ones are ignored. Returns 0. */
int client__presence_on_message(parley_client *c, const char *topic, const uint8_t *payload,
                                size_t len);
/* Subscribe to the presence of every watched user (once connected). */
void client__presence_subscribe(parley_client *c);

/* group.c */
/* Encrypt text for the group with this user's sender key (distributing it to
 * members who lack it first) and queue it. Needs a connection. parley_rc. */
int client__group_send(parley_client *c, const char *chat_id, void *content, const char *plain,
                       char *cmid_out);
/* A SenderKeyDistribution (Parley__E2e__V1__SenderKeyDistribution*) from
 * sender, in the caller's transaction. parley_rc. */
int client__group_on_skd(parley_client *c, const char *sender, const void *skd);
/* 1 if this client holds the sender key a group message body needs (or the
 * body is not a sender-key message at all), 0 if not (yet), -1 on error. */
int client__group_has_key(parley_client *c, const char *chat_id, const char *sender,
                          const uint8_t *body, size_t len);
/* Decrypt a group message body (caller's transaction). parley_rc. */
int client__group_decrypt(parley_client *c, const char *chat_id, const char *sender,
                          const uint8_t *body, size_t len, uint8_t **pt, size_t *ptlen);
/* A group SYSTEM event (Parley__V1__SystemEvent*): rotate sender keys when
 * someone left. */
int client__group_on_system(parley_client *c, const char *chat_id, const void *ev);
/* Subscribe to a group's topics (when connected with a persistent session). */
void client__group_subscribe(parley_client *c, const char *chat_id);

/* cipher.c */
/* Encrypt a Content for peer (a user id); *body malloc'd. Fetches the
 * peer's bundle on first contact. parley_rc. */
int client__encrypt(parley_client *c, const char *peer, const uint8_t *content, size_t len,
                    uint8_t **body, size_t *body_len);
/* Decrypt body from sender; *content malloc'd. parley_rc: PARLEY_ECRYPTO
 * with detail in c->err if it cannot be decrypted (or a PreKey message's
 * identity key is refused), PARLEY_ENET if a PreKey message's identity key
 * could not be checked with the keyserver (keep the ciphertext, retry). */
int client__decrypt(parley_client *c, const char *sender, const uint8_t *body, size_t len,
                    uint8_t **content, size_t *content_len);
/* Before a delivery's transaction: if body is a PreKey message whose
 * identity key is not the one pinned for sender, ask the keyserver for
 * sender's key (GET /v1/identity) and remember the answer in c->vouch for
 * client__decrypt. Never fails (a failed lookup is remembered as such). */
void client__identity_prefetch(parley_client *c, const char *sender, const uint8_t *body,
                               size_t len);
/* Make sure a usable session with peer exists; call outside any transaction.
 * On first contact: fetch the bundle and run X3DH. With a session: check
 * peer's identity key with the keyserver (at most once a minute per peer);
 * if it changed, surface PARLEY_EVENT_IDENTITY_CHANGED, drop the old session
 * and start a new one from a fresh bundle. An unreachable keyserver keeps
 * the existing session. parley_rc. */
int client__prepare_session(parley_client *c, const char *peer);
/* Generate/upload prekeys as needed (init, replenish, rotation). parley_rc. */
int client__prekeys_maintain(parley_client *c, int force_upload);
/* Record the identity key seen for user; surfaces a change. 0 same/new, 1 changed. */
int client__note_identity(parley_client *c, const char *user, const uint8_t ik[32]);

#endif
