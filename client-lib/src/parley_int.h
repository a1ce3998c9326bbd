/*
 * parley_int.h - libparley's internal header: the parley_client structure
 * (its fields grouped by the module that owns them) and the internal
 * cross-file functions, one section per module, each named after its file
 * (order.c holds order__*, members.c members__*).
 *
 * Modules, one job per file; calls only go down this list (a module calls
 * the ones below it, never one above: tests/client/check_layers.sh checks
 * the object files' symbols and fails on any cycle):
 *
 *   API and drivers
 *     group_api.c  parley_group_*: blocking group management requests
 *     client.c     parley_open/close/set_callbacks
 *     device_api.c linked devices: parley_link, parley_devices*, approve, remove
 *     rich_api.c   rich messages: replies, reactions, edits, delete for
 *                  everyone, disappearing timers (the SDK's checks)
 *     account.c    registration, identity rotation, safety numbers
 *     loop.c       the MQTT connection state machine, parley_poll, the
 *                  blocking helpers (loop__call, parley_flush/sync)
 *   inbound
 *     dispatch.c   routes what the broker sends: receipts, responses, envelopes
 *     order.c      per-chat ordering and sync: cursors, held envelopes, confirmations
 *     deliver.c    opening and delivering one envelope; messages kept for a key
 *   outbound
 *     send.c       the send path: parley_send_text, pairwise and group sends
 *     ack.c        delivered/read cursors
 *     outbox.c     the persistent outbox: queue, publish, retries, settle
 *     rich.c       rich messages: each kind's rules and local effect, timers, expiry
 *   groups
 *     members.c    each group's members, kept locally (GroupInfo, SYSTEM events)
 *     skeys.c      Sender Keys glue: own chains, distributions, group decrypt
 *   end-to-end keys
 *     pairwise.c   pairwise sessions per (user, device): X3DH, Double Ratchet, Fanout entries
 *     devices.c    device lists: fetch, verify (pinned account key), cache, events
 *     prekeys.c    signed and one-time prekeys: generation, upload, rotation
 *     trust.c      contact identity keys: pinning, keyserver checks
 *     identity.c   this home's identity, client id and tokens
 *   plumbing
 *     delreq.c     delete_message requests: queued persistently, sent when connected
 *     rpc.c        control requests in flight (req_id -> kind, chat)
 *     presence.c   presence watches and typing indicators (never stored)
 *     history.c    local-state queries: chats, history, sent status
 *     link.c       the MQTT link as modules see it: state, publish, subscribe
 *     util.c       clocks, errors, topics, events to the application
 *   leaves: devlist.c (the signed list as a value, over common/devices.c),
 *     conn.c (Paho MQTTAsync), lstore.c (SQLite), ksclient.c
 *     (keyserver HTTP), transport.c (URL schemes, TLS trust, the TLS
 *     probe), crypto/ (the end-to-end core)
 */
#ifndef PARLEY_INT_H
#define PARLEY_INT_H

#include <stdint.h>

#include "clock.h"
#include "conn.h"
#include "crypto/keys.h"
#include "devlist.h"
#include "ids.h"
#include "lstore.h"
#include "parley/parley.h"

#define CLIENT_IDENTITY_FILE "identity.key" /* in the home directory */
#define CLIENT_ERR_MAX 512
#define CLIENT_URL_MAX 256
#define CLIENT_PATH_MAX 1024
#define CLIENT_ID_MAX 100
#define CLIENT_REQ_MAX 64           /* pending control requests */
#define CLIENT_HELD_MAX 1024        /* out-of-order live messages held per client */
#define CLIENT_SYNC_PAGE 200
#define CLIENT_DEFERRED_MAX 64
#define IDS_RETRY_MAX (141 + 1 + 65 + 1 + 33)
#define CLIENT_TEXT_MAX (64 * 1024) /* a message's text, bytes */
#define IDS_DEVICE_MAX 32 /* a device id: 1..32 of [A-Za-z0-9_-] (devlist.h) */

/* link.c: the connection's state (driven by loop.c). */
typedef enum {
    LINK_IDLE = 0,       /* parley_connect() not called */
    LINK_WAIT,           /* waiting for the next connect attempt (backoff) */
    LINK_CONNECTING,
    LINK_SUBSCRIBING,
    LINK_READY,
} link_state;

/* rpc.c */
typedef enum {
    REQ_NONE = 0,
    REQ_ACK,
    REQ_LIST_CHATS,
    REQ_SYNC,
    REQ_GROUP_GET, /* a background refresh of a group's members (members.c) */
    REQ_CALL,      /* a blocking call waiting for its response (loop__call) */
    REQ_DELETE,    /* a delete_message request (delreq.c) */
} req_kind;

typedef struct {
    char req_id[24];
    req_kind kind;
    char chat_id[141];
    int64_t sent_ms;
    int done;           /* REQ_CALL: response arrived */
    void *response;     /* REQ_CALL: Parley__V1__Response*, owned until collected */
    char ref[IDS_CHAT_MAX + IDS_USER_MAX + IDS_CLIENT_MSG_MAX + 3]; /* REQ_DELETE: its queue key */
} client_req;

/* order.c: a live envelope that arrived ahead of a gap in its chat's sequence. */
typedef struct {
    char chat_id[141];
    uint64_t seq;
    uint8_t *payload; /* the packed Envelope */
    size_t len;
} client_held;

/* order.c: a chat whose live deliveries the server has not confirmed yet.
 * A live envelope never moves the stored cursor (chats.synced_seq) past the
 * last_seq the server reported; the messages shown from live deliveries
 * beyond it are tracked here (memory only) until a sync page confirms them. */
#define CLIENT_CONFIRM_MAX 64
typedef struct {
    char chat_id[141];
    uint64_t live_seq; /* processed in order from live deliveries, beyond synced_seq */
    uint64_t want; /* highest live seq (processed, deferred or held) not yet confirmed */
    uint64_t last_seen; /* last_seq of the previous confirming answer (progress check) */
    int attempts; /* confirming answers in a row without progress */
    int64_t next_ms; /* monotonic time of the next confirming sync; 0: none scheduled */
} client_confirm;

/* trust.c: what the keyserver said about one sender's identity key,
 * looked up before a delivery's transaction opens (trust__prefetch)
 * and used by pairwise__decrypt for a PreKey message. */
typedef struct {
    int valid;
    char user[65];
    int rc; /* ksclient_get_identity's parley_rc */
    uint8_t ik[32]; /* rc == PARLEY_OK: the key the keyserver serves */
    char err[CLIENT_ERR_MAX];
} client_vouch;

/* trust.c: when this client last checked a contact's identity key with the
 * keyserver before a send (trust__check). */
#define CLIENT_IDCHECK_MAX 16
#define CLIENT_IDCHECK_MS 60000
typedef struct {
    char user[65];
    int64_t at_ms;
} client_idcheck;

/* The background sync (list_chats + sync of every chat behind): every
 * LOOP_RESYNC_MS, and at once after the broker's RESYNC receipt. */
#define LOOP_RESYNC_MS 15000

struct parley_client {
    /* client.c: configuration and the application's callbacks */
    char home[CLIENT_PATH_MAX];
    char mqtt_url[CLIENT_URL_MAX];
    char keyserver_url[CLIENT_URL_MAX];
    char media_url[CLIENT_URL_MAX];
    char ca_file[CLIENT_PATH_MAX]; /* TLS trust anchors; "" = the system store */
    int transient; /* throwaway client id, clean session, no inbox */
    parley_callbacks cb;
    parley_progress_fn media_progress; /* media_api.c: parley_set_media_progress */
    void *media_progress_ud;
    lstore *store;

    /* util.c: the last error's detail (parley_last_error) */
    char err[CLIENT_ERR_MAX];

    /* identity.c */
    int has_identity;
    char user[65];
    char client_id[CLIENT_ID_MAX + 1];
    uint8_t id_pk[32];
    uint8_t id_sk[64]; /* Ed25519 DEVICE secret (tokens, X3DH, signed prekeys);
                          wiped in parley_close */
    char device_id[IDS_DEVICE_MAX + 1]; /* this home's device: the client id's tag */
    uint8_t account_pk[32]; /* the account key (= id_pk on the primary device) */
    int primary; /* this device's key is the account key */
    int link_pending; /* parley_link: not in the account's device list yet */

    /* link.c (state driven by loop.c) */
    struct {
        conn *mq;
        link_state state;
        char client_id[CLIENT_ID_MAX + 32]; /* the MQTT client id of this connection */
    } link;

    /* loop.c */
    struct {
        int64_t next_attempt_ms;
        int attempts; /* consecutive failed connects (backoff) */
        int64_t token_expires_ms; /* monotonic: when the current attempt's token expires */
        int64_t last_outbox_scan_ms;
        int64_t last_purge_ms; /* rich__purge of expired messages */
        int64_t last_key_check_ms;
        int64_t last_resync_ms; /* LOOP_RESYNC_MS after it, the background sync runs */
        unsigned failures; /* connection failures reported (DISCONNECTED events) */
        int failure_rc; /* the last one's code: PARLEY_ENET or PARLEY_EREFUSED */
    } loop;

    /* rpc.c */
    struct {
        client_req reqs[CLIENT_REQ_MAX];
        uint64_t counter;
    } rpc;

    /* order.c */
    struct {
        int synced; /* every chat synced since the last connect */
        int syncs_pending; /* list_chats + sync pages + member refreshes in flight */
        client_held held[CLIENT_HELD_MAX];
        int nheld;
        client_confirm confirm[CLIENT_CONFIRM_MAX];
        int nconfirm;
        /* Group chats to sync once the direct chats are (their sender keys
         * travel in direct chats). */
        char deferred[CLIENT_DEFERRED_MAX][141];
        uint64_t deferred_after[CLIENT_DEFERRED_MAX];
        int ndeferred;
    } order;

    /* deliver.c */
    struct {
        /* (group, sender) pairs whose sender key just arrived: their pending
         * messages are decrypted after the current delivery. */
        char retry[16][IDS_RETRY_MAX];
        int nretry;
        int new_group; /* a sender key named a group new to us: resync soon */
    } deliver;

    /* delreq.c: no delete_message request before this (monotonic ms) */
    struct {
        int64_t next_ms;
    } delreq;

    /* presence.c: users whose presence is watched */
    struct {
        char watch[PARLEY_WATCH_MAX][65];
        int nwatch;
    } presence;

    /* device_api.c: what parley_devices_approve hands back */
    struct {
        char id[DEVLIST_ID_MAX + 1];
        char name[DEVLIST_NAME_MAX + 1];
        char fpr[DEVLIST_FPR_LEN + 1];
    } approved;

    /* trust.c */
    struct {
        client_vouch vouch;
        client_idcheck idcheck[CLIENT_IDCHECK_MAX];
        int idcheck_next;
    } trust;
};

/* ---- util.c: errors, topics, events --------------------------------------- */
/* Clocks: common/clock.h (clock_now_ms for timestamps that are stored or
 * sent, clock_mono_ms for every wait, deadline and timer). */
/* Set c->err (printf-style) and return rc. */
int util__fail(parley_client *c, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* 1 if s is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
int util__valid_utf8(const char *s);
/* c->err = the local store's last error; returns PARLEY_ESTORE. */
int util__store_fail(parley_client *c);
/* Topic names for this user. */
void util__topic(parley_client *c, char *out, size_t outlen, const char *user, const char *leaf);
/* Emit an event to the application (on_event). */
void util__emit_event(parley_client *c, parley_event_type type, const char *chat_id, uint64_t seq,
                      const char *user, const char *detail);

/* ---- link.c: the MQTT link ------------------------------------------------ */

/* 1 if connected and subscribed (LINK_READY). */
int link__ready(const parley_client *c);
/* Publish a payload when ready; 0 published, -1 not connected. */
int link__publish(parley_client *c, const char *topic, const void *payload, size_t len);
/* The same at QoS 0 (typing indicators). */
int link__publish_qos0(parley_client *c, const char *topic, const void *payload, size_t len);
/* Subscribe to topics when ready; 0 requested, -1 not. */
int link__subscribe(parley_client *c, char *const *topics, int n);

/* ---- identity.c ----------------------------------------------------------- */

/* Load the identity (user id, client id, key) if the home has one. parley_rc. */
int identity__load(parley_client *c);
/* Create this home's device key, client id and store meta for user_id.
 * account_pk NULL: a new account whose primary this device is (parley
 * init); else a device to link to the account with that key (recorded,
 * link_pending set). Talks to no server. parley_rc. */
int identity__create(parley_client *c, const char *user_id, const uint8_t account_pk[32]);
/* A keyserver token (audience keyserver, 5 minutes). parley_rc. */
int identity__keyserver_token(parley_client *c, char *out, size_t n);
/* A copy of the identity key pair (wipe it with keys_wipe). */
keys_identity identity__keys(parley_client *c);

/* ---- trust.c: contact identity keys -------------------------------------- */

/* Record the identity key seen for user; surfaces a change. 0 same/new, 1 changed, -1 store. */
int trust__note(parley_client *c, const char *user, const uint8_t ik[32]);
/* Before a delivery's transaction: if body is a PreKey message whose
 * identity key is not the one pinned for sender, ask the keyserver for
 * sender's key (GET /v1/identity) and remember the answer for
 * trust__vouched. Never fails (a failed lookup is remembered). */
void trust__prefetch(parley_client *c, const char *sender, const uint8_t *body, size_t len);
/* Forget what trust__prefetch remembered. */
void trust__forget(parley_client *c);
/* May a PreKey message from sender carrying identity key ik start a session?
 * PARLEY_OK: pinned, or served by the keyserver. PARLEY_ECRYPTO: refused.
 * PARLEY_ENET: not checked (keep the message for a retry). */
int trust__vouched(parley_client *c, const char *sender, const uint8_t ik[32]);
/* Before a send on an existing session: does the keyserver still serve the
 * key pinned for peer (asked at most once a minute per peer)? 1 yes or
 * unknown (unreachable), 0 it serves another key: *ik is that key (not
 * recorded yet), -1 local failure. */
int trust__check(parley_client *c, const char *peer, uint8_t ik[32]);
/* Remember that peer's key was checked just now. */
void trust__checked(parley_client *c, const char *peer);

/* ---- devices.c: device lists (ours and our contacts') ------------------- */

/* The cached, verified list of user: 1 found (out filled), 0 none (or no
 * longer valid under the pinned account key), -1 store. fetched_at: when it
 * was fetched (ms since the epoch), may be NULL. */
int devices__cached(parley_client *c, const char *user, devlist *out, int64_t *fetched_at);
/* Fetch user's list from the keyserver, verify it against the pinned
 * account key (pinning it on first contact), cache it, report a change
 * (PARLEY_EVENT_DEVICES_CHANGED; a removed device also drops our sender
 * keys of the groups shared with user) or a forgery
 * (PARLEY_EVENT_DEVICES_FORGED: ignored, PARLEY_ECRYPTO). A list older than
 * the cached one is ignored. Outside any transaction. parley_rc. */
int devices__refresh(parley_client *c, const char *user, devlist *out);
/* The cached list if fetched at most max_age_ms ago (< 0: any age; 0: none,
 * always fetch), else refreshed; an unreachable keyserver falls back to the
 * cached list. */
int devices__get(parley_client *c, const char *user, int64_t max_age_ms, devlist *out);
/* Best effort, outside any transaction: fetch user's list if none is
 * cached (a kept message is retried once the keyserver answers). */
void devices__ensure(parley_client *c, const char *user);
/* Primary device only: sign next (our user, next->version > the stored one)
 * with the account key, PUT it, cache it. parley_rc (PARLEY_ENOTFOUND: the
 * keyserver has no device routes). */
int devices__publish(parley_client *c, devlist *next);
/* Before a delivery's transaction: make sure the list of user that names
 * device is cached (refreshed if device is not in the cached list). Best
 * effort, never fails. */
void devices__prefetch(parley_client *c, const char *user, const char *device);
/* On connect (primary): a home whose list is still implicit uploads
 * version 1 with itself alone. parley_rc. */
int devices__ensure_own(parley_client *c);

/* ---- prekeys.c ----------------------------------------------------------- */

/* Generate/upload prekeys as needed (init, replenish, rotation). parley_rc. */
int prekeys__maintain(parley_client *c, int force_upload);
/* Our signed prekey key_id: 1 found, 0 missing, -1 store error. */
int prekeys__spk(parley_client *c, uint32_t key_id, keys_signed_prekey *out);
/* One-time prekey key_id: 1 found, 0 missing (used), -1 store error. */
int prekeys__otk(parley_client *c, uint32_t key_id, keys_x25519 *out);
/* Delete one-time prekey key_id (caller's transaction). 0 or -1. */
int prekeys__otk_used(parley_client *c, uint32_t key_id);

/* ---- pairwise.c: pairwise sessions --------------------------------------- */

/* Make sure a usable session with peer exists; call outside any transaction.
 * On first contact: fetch the bundle and run X3DH. With a session: check
 * peer's identity key with the keyserver (trust__check); if it
 * changed, surface PARLEY_EVENT_IDENTITY_CHANGED, drop the old session and
 * start a new one from a fresh bundle. An unreachable keyserver keeps the
 * existing session. parley_rc. */
int pairwise__prepare(parley_client *c, const char *peer);
/* Encrypt a Content for peer (a user id); *body malloc'd. parley_rc. */
int pairwise__encrypt(parley_client *c, const char *peer, const uint8_t *content, size_t len,
                      uint8_t **body, size_t *body_len);
/* Decrypt a direct message body from device sender_device of sender
 * (Envelope.sender_device; "" or NULL if the broker did not say): a Fanout
 * (the entry for this device: pairwise__decrypt_fanout), or a plain message
 * (the session with that device if sender's verified list names it, else
 * with sender's implicit device). *content malloc'd. parley_rc: PARLEY_ECRYPTO
 * with detail in c->err if it cannot be decrypted (or a PreKey message's
 * identity key is refused), PARLEY_ENET if a PreKey message's identity key
 * could not be checked with the keyserver (keep the ciphertext, retry),
 * PARLEY_ENOTFOUND if a Fanout has no entry for this device. */
int pairwise__decrypt(parley_client *c, const char *sender, const char *sender_device,
                      const uint8_t *body, size_t len, uint8_t **content, size_t *content_len);
/* The same per device of peer: dev "" is the implicit device
 * (pairwise__prepare), any other id is a device of peer's verified list
 * whose key is devkey: its bundle (GET /v2/keys/{peer}/{dev}) must carry
 * that key. Outside any transaction. parley_rc. */
int pairwise__prepare_dev(parley_client *c, const char *peer, const char *dev,
                          const uint8_t devkey[32]);
/* Encrypt for device dev of peer (caller's transaction). parley_rc. */
int pairwise__encrypt_dev(parley_client *c, const char *peer, const char *dev,
                          const uint8_t *content, size_t len, uint8_t **body, size_t *body_len);
/* Decrypt a message from device dev of sender (dev "": the implicit device,
 * pairwise__decrypt); a PreKey message must carry devkey, the key the
 * sender's verified list names for dev (NULL: unknown, refused). */
int pairwise__decrypt_dev(parley_client *c, const char *sender, const char *dev,
                          const uint8_t devkey[32], const uint8_t *body, size_t len,
                          uint8_t **content, size_t *content_len);

/* A Fanout body from device sender_device of sender: decrypt the entry
 * for this device (caller's transaction). PARLEY_ENOTFOUND: the message
 * has no entry for this device (it was sent before this device was
 * linked); PARLEY_ECRYPTO: sender_device is not in sender's verified list,
 * or the entry does not decrypt. parley_rc. */
int pairwise__decrypt_fanout(parley_client *c, const char *sender, const char *sender_device,
                             const uint8_t *body, size_t len, uint8_t **content,
                             size_t *content_len);
/* The pairwise message in body meant for this device (a plain body: a
 * copy; a Fanout: its entry for this device as a plain E2EMessage):
 * 1 (*inner malloc'd), 0 none. For the checks before a delivery. */
int pairwise__inner(parley_client *c, const uint8_t *body, size_t len, uint8_t **inner,
                    size_t *inner_len);
/* 1 if body is a Fanout E2EMessage, 0 if not. */
int pairwise__is_fanout(const uint8_t *body, size_t len);

/* ---- skeys.c: Sender Keys glue ------------------------------------------- */

/* A SenderKeyDistribution (Parley__E2e__V1__SenderKeyDistribution*) from
 * sender, in the caller's transaction: the chain is stored, the group
 * recorded as a chat. parley_rc. */
int skeys__on_skd(parley_client *c, const char *sender, const void *skd);
/* 1 if this client holds the sender key a group message body needs (or the
 * body is not a sender-key message at all), 0 if not (yet), -1 on error. */
int skeys__has_key(parley_client *c, const char *chat_id, const char *sender, const uint8_t *body,
                   size_t len);
/* Decrypt a group message body (caller's transaction). parley_rc. */
int skeys__decrypt(parley_client *c, const char *chat_id, const char *sender, const uint8_t *body,
                   size_t len, uint8_t **pt, size_t *ptlen);
/* A group SYSTEM event (Parley__V1__SystemEvent*): drop our own chain when
 * someone left (the next message starts a new one). parley_rc. */
int skeys__on_system(parley_client *c, const char *chat_id, const void *ev);
/* Drop our own chain of a group (we left). parley_rc. */
int skeys__drop_own(parley_client *c, const char *chat_id);
/* Our own sending chain for a group (loaded or created; caller's
 * transaction): *state is a sender_keys_state*, dist a
 * sender_keys_distribution* filled with its current distribution. parley_rc. */
int skeys__own(parley_client *c, const char *chat_id, void **state, void *dist);
/* Save our own chain after encrypting with it (caller's transaction). parley_rc. */
int skeys__own_save(parley_client *c, const char *chat_id, const void *state);
/* 1 if member holds chain_id of our chain for the group, 0 not, -1 store. */
int skeys__has_chain(parley_client *c, const char *chat_id, const char *member, uint32_t chain_id);
/* Record that member holds chain_id. 0 or -1. */
int skeys__set_chain(parley_client *c, const char *chat_id, const char *member, uint32_t chain_id);

/* ---- delreq.c: delete_message requests ---------------------------------- */

/* Queue a request to remove the stored copy of (sender, cmid) of chat_id
 * (caller's transaction or none). parley_rc. */
int delreq__queue(parley_client *c, const char *chat_id, const char *sender, const char *cmid);
/* Send the queued requests whose message's seq is known (when connected).
 * Requests sent, or <0. */
int delreq__flush(parley_client *c);
/* The broker's answer (Parley__V1__Response*) to request q, finished here. parley_rc. */
int delreq__on_response(parley_client *c, client_req *q, const void *rsp);

/* ---- rpc.c: control requests in flight ----------------------------------- */

/* Send a Request (Parley__V1__Request*, req_id filled in here) on our ctl
 * topic and register it. 0, or -1 with c->err set (not connected, table full). */
int rpc__request(parley_client *c, void *req, req_kind kind, const char *chat_id, client_req **out);
/* The request a response answers, or NULL. */
client_req *rpc__find(parley_client *c, const char *req_id);
/* Requests of kind in flight (kind REQ_NONE: every kind but REQ_CALL). */
int rpc__pending(parley_client *c, req_kind kind, const char *chat_id);
/* Forget requests (not REQ_CALL) unanswered for max_age_ms, or all of them
 * (max_age_ms < 0: a new connection). Returns how many of them were sync
 * requests (REQ_SYNC, REQ_LIST_CHATS, REQ_GROUP_GET). */
int rpc__expire(parley_client *c, int64_t max_age_ms);
/* Free what the table holds (parley_close). */
void rpc__free(parley_client *c);

/* ---- outbox.c: the persistent outbox ------------------------------------- */

/* Pack an envelope around body and add it to the outbox (in the caller's
 * transaction). parley_rc. */
/* PARLEY_OK, or PARLEY_EINVAL (c->err set) if a body of len bytes is over
 * the broker's limit (learnt from list_chats, kept in the local store). */
int outbox__fits(parley_client *c, size_t len);
/* The device list versions a direct message was encrypted to (Envelope
 * fields 14 and 15); NULL: none (groups). */
typedef struct {
    uint64_t devices; /* the recipient's list */
    uint64_t own_devices; /* the sender's own list */
} outbox_versions;
/* ttl_s: Envelope.ttl_s (a disappearing message; 0 none). */
int outbox__queue(parley_client *c, const char *cmid, const char *chat_id, const char *topic,
                  const uint8_t *body, size_t body_len, const char *plain, const char *media_id,
                  const outbox_versions *v, uint32_t ttl_s);
/* Replace the body (and versions) of a queued message, keeping its client
 * message id, topic, text and place in the queue: a re-encryption after
 * REJECTED stale_devices (caller's transaction). parley_rc. */
int outbox__replace(parley_client *c, const char *cmid, const uint8_t *body, size_t body_len,
                    const outbox_versions *v);
/* Publish every outbox entry last attempted before now - min_age_ms. */
int outbox__flush(parley_client *c, int64_t min_age_ms);
/* A STORED or REJECTED receipt (or a sync page's copy) of one of our
 * messages, in the caller's transaction. 0 or -1. */
int outbox__done(parley_client *c, const char *client_msg_id, const char *chat_id, uint64_t seq,
                 const char *server_id, int64_t ts, int stored);
/* A transient refusal: keep the entry, retry after the retry period. 0 or -1. */
int outbox__later(parley_client *c, const char *client_msg_id);

/* ---- rich.c: rich messages ---------------------------------------------- */

#define RICH_EDIT_WINDOW_MS 900000LL /* 15 minutes */
#define RICH_DELETE_WINDOW_MS 172800000LL /* 48 hours */
#define RICH_TIMER_MAX 7776000u /* 90 days, seconds */
#define RICH_EMOJI_MAX 32 /* bytes */
#define RICH_MENTIONS_MAX 64

/* What a decrypted Content is (rich__parse); strings point into the
 * Content, which must outlive it. Free with rich__free. */
typedef struct {
    int kind; /* parley_msg_kind: NORMAL, REACTION, EDIT, DELETE, TIMER, UNSUPPORTED */
    int has_ref; /* ref: reply_to (NORMAL) or the target (REACTION, EDIT, DELETE) */
    char ref_sender[IDS_USER_MAX + 1];
    char ref_cmid[IDS_CLIENT_MSG_MAX + 1];
    const char *text; /* NORMAL: the text; EDIT: the new text */
    const char *emoji; /* REACTION ("" = removal) */
    uint32_t timer_s; /* TIMER */
    uint32_t expire_s; /* the message disappears this long after server_ts (0: never) */
    char *mentions; /* valid distinct mentions joined by "\n" (malloc'd), or NULL */
    const char **mention_list; /* the same as a list (malloc'd), n_mentions long */
    size_t n_mentions;
    int mentioned; /* this user is among them */
    int bad; /* malformed (why says how): refused by rich__check */
    int target_deleted; /* rich__check: the target is deleted for everyone */
    char why[200]; /* a refusal's reason */
} rich_info;
void rich__free(rich_info *ri);

/* rich__check's answers. */
enum {
    RICH_OK = 0,
    RICH_BAD, /* malformed */
    RICH_UNKNOWN, /* the target is not known here (or not a message) */
    RICH_NOT_OWN, /* an edit of someone else's message */
    RICH_NOT_TEXT, /* an edit of a message without text */
    RICH_DELETED, /* the target was deleted for everyone */
    RICH_TOO_LATE, /* past the edit or delete window */
    RICH_NOT_ALLOWED, /* not the sender / not a group admin */
};

/* Classify and check the form of a Content (Parley__E2e__V1__Content*).
 * PARLEY_OK (ri filled; ri->bad for a malformed action) or PARLEY_ENOMEM. */
int rich__parse(parley_client *c, const void *ct, rich_info *ri);
/* May sender's action ri, stamped ts (the server's time; the SDK passes the
 * local clock), change chat_id? RICH_OK, a RICH_* refusal (ri->why says
 * why), or <0 parley_rc (store). Messages other than actions: RICH_OK. */
int rich__check(parley_client *c, const char *chat_id, const char *sender, int64_t ts,
                rich_info *ri);
/* Apply sender's action ri (message seq, stamped ts; seq 0: this device's
 * own, not stored yet) to the local store (caller's transaction). parley_rc. */
int rich__apply(parley_client *c, const char *chat_id, uint64_t seq, int64_t ts, const char *sender,
                const rich_info *ri);
/* Fill a row's rich columns from ri (m->server_ts set: expires_at). */
void rich__to_row(const rich_info *ri, lstore_msg *m);
/* A Content (Parley__E2e__V1__Content*, client_msg_id cmid) this device
 * queued for chat_id: kept until the broker stores it, its action applied
 * at once (caller's transaction). parley_rc. */
int rich__queued(parley_client *c, const char *cmid, const char *chat_id, const void *ct);
/* Insert the row of one of our messages the broker stored (m: seq,
 * server_ts ...), with the rich columns of its kept Content, and apply its
 * action under the real seq. As lstore_msg_insert: 1, 0 duplicate, -1. */
int rich__record_own(parley_client *c, lstore_msg *m);
/* Call fn with the client message id of each edit of (sender, cmid) in
 * chat_id that this device queued and the broker has not stored yet (a
 * delete for everyone asks to remove those too, once stored). parley_rc
 * (fn's, if it fails). */
int rich__queued_edits(parley_client *c, const char *chat_id, const char *sender, const char *cmid,
                       int (*fn)(void *ud, const char *cmid), void *ud);
/* Forget the kept Content of a message that will not be stored (REJECTED). */
int rich__forget_own(parley_client *c, const char *cmid);
/* The chat's disappearing timer, seconds (0: off or unknown chat). parley_rc. */
int rich__chat_timer(parley_client *c, const char *chat_id, uint32_t *timer_s);
/* Remove what expired at now_ms (own transaction). Rows expired, or <0. */
int rich__purge(parley_client *c, int64_t now_ms);

/* ---- ack.c --------------------------------------------------------------- */

/* Publish an Ack request (read = 0 delivered, 1 read). 0 sent, -1 not. */
int ack__send(parley_client *c, const char *chat_id, uint64_t seq, int read);

/* ---- members.c: group members, kept locally ------------------------------ */

/* Record a GroupInfo (Parley__V1__GroupInfo*): the chat, its name and its
 * members as of gi->last_seq; subscribes to its topics. parley_rc. */
int members__set(parley_client *c, const void *gi);
/* A group's SYSTEM event (Parley__V1__SystemEvent*) at seq: apply the
 * membership change it announces, unless the list is newer (caller's
 * transaction). parley_rc. */
int members__on_event(parley_client *c, const char *chat_id, uint64_t seq, const void *ev);
/* The members of a group other than us, from the local list: *out is a
 * NULL-terminated array (free with members__free). PARLEY_ENOTFOUND
 * if the list is not known yet. parley_rc. */
int members__others(parley_client *c, const char *chat_id, char ***out, size_t *n);
void members__free(char **list, size_t n);
/* user's role in the group by the local list: 1 member, 2 admin, 3 owner
 * (Parley__V1__Role), 0 not a member or the list not known, <0 parley_rc. */
int members__role(parley_client *c, const char *chat_id, const char *user);
/* 1 if the member list of a group is known locally (with roles), 0 not
 * (or kept without roles by an older library: refresh it), -1 store. */
int members__known(parley_client *c, const char *chat_id);
/* Ask the broker for the group's GroupInfo (REQ_GROUP_GET, answered through
 * members__on_response). 0 sent, -1 not connected. */
int members__refresh(parley_client *c, const char *chat_id);
/* The answer to a refresh (Parley__V1__Response*). parley_rc. */
int members__on_response(parley_client *c, const void *rsp);
/* Subscribe to a group's topics (when connected with a persistent session). */
void members__subscribe(parley_client *c, const char *chat_id);

/* ---- deliver.c: opening and delivering one envelope ---------------------- */

/* One envelope (Parley__V1__Envelope*) of the chat's sequence that is next
 * (or authoritative: trusted = from a sync page). Transaction: decrypt
 * (ratchet state) + message row + cursor, then the application callback.
 * Returns 0 processed, 1 deferred (a live envelope that could not be
 * authenticated: nothing stored, nothing moved, the sync decides), <0 on a
 * local failure. */
int deliver__envelope(parley_client *c, const void *env, int trusted);
/* Retry the direct messages kept (LSTORE_MSG_PENDING_KEY) because their
 * sender's identity key could not be checked with the keyserver: decrypted
 * and delivered late, refused (UNDECRYPTABLE), or kept again. parley_rc. */
int deliver__retry_kept(parley_client *c);

/* ---- order.c: per-chat ordering and sync --------------------------------- */

/* How an envelope reached order__envelope. */
enum {
    ENV_LIVE = 0, /* live delivery on an inbox topic: unconfirmed */
    ENV_HELD = 1, /* a held live envelope, released by a sync answer (no gap check) */
    ENV_PAGE = 2, /* from a sync page: the server vouches for its seq */
};
/* An envelope (Parley__V1__Envelope*) for its chat's sequence. 0 or <0. */
int order__envelope(parley_client *c, const void *env, int how);
/* A list_chats answer (Parley__V1__ChatList*, NULL: none) to request r,
 * which is finished: chats recorded, syncs and member refreshes started,
 * offline acks resent. 0 or <0. */
int order__on_chat_list(parley_client *c, client_req *r, const void *cl);
/* A sync page (Parley__V1__SyncPage*) answering request r. 0 or <0. */
int order__on_sync_page(parley_client *c, client_req *r, const void *page);
/* A sync-mode request (list_chats, sync, member refresh) answered without a
 * page to process, or refused with status (0: answered). r is finished. */
void order__finished(parley_client *c, client_req *r, unsigned status);
/* Refresh a group's member list as part of the current sync (parley_is_synced
 * waits for it). No-op if one is in flight. */
void order__refresh_members(parley_client *c, const char *chat_id);
/* Our message in chat_id was settled (STORED at seq, or REJECTED): it may
 * close a gap, held envelopes can follow. 0 or <0. */
int order__on_own_sent(parley_client *c, const char *chat_id, uint64_t seq, int stored);
/* list_chats, then a sync of every chat behind. quiet: a background refresh
 * that does not reset the synced state. 0 or -1. */
int order__sync_start(parley_client *c, int quiet);
/* A background list_chats + sync (no-op while a sync runs). */
int order__resync(parley_client *c);
/* A new connection: requests of the previous one are forgotten, unconfirmed
 * chats confirmed again. */
void order__reset(parley_client *c);
/* Give up on requests unanswered for max_age_ms (a sync then counts as finished). */
void order__expire(parley_client *c, int64_t max_age_ms);
/* Send the confirming syncs that are due at monotonic time now_ms. */
void order__confirm_tick(parley_client *c, int64_t now_ms);
/* Free held envelopes (parley_close). */
void order__free(parley_client *c);

/* ---- dispatch.c ---------------------------------------------------------- */

/* A message the broker sent on one of our topics. 0 or <0 (local failure). */
int dispatch__message(parley_client *c, const char *topic, const uint8_t *payload, size_t len);

/* ---- send.c: the send path ----------------------------------------------- */

/* Send a Content (Parley__E2e__V1__Content*: text and/or media; the library
 * fills client_msg_id, sent_at, group_id) to a user or a "g:..." group: the
 * path of parley_send_text, for other kinds of content (media). plain: what
 * the local history shows for it. cmid_out: optional, 65 bytes. Works
 * offline (queued); a group's members come from the local list
 * (PARLEY_ENOTFOUND while it is not known). parley_rc. */
int send__content(parley_client *c, const char *to, void *content, const char *plain,
                  char *cmid_out);

/* A direct message the broker refused as stale_devices (a device list
 * changed): refetch and verify both lists, encrypt the same Content again
 * to the devices listed now, replace the outbox entry (same client message
 * id) and publish it. parley_rc. */
int send__refan(parley_client *c, const char *cmid);

/* ---- presence.c ---------------------------------------------------------- */

/* A message on parley/presence/{user} or a .../typing topic: surfaced to
 * on_presence / on_typing; malformed ones are ignored. Returns 0. */
int presence__on_message(parley_client *c, const char *topic, const uint8_t *payload, size_t len);
/* Subscribe to the presence of every watched user (once connected). */
void presence__subscribe(parley_client *c);

/* ---- loop.c -------------------------------------------------------------- */

/* Run the connection state machine and process one event (bounded wait).
 * Returns 1 if an event was processed, 0 if none, <0 on local failure. */
int loop__step(parley_client *c, int timeout_ms);
/* Send req and poll until its response arrives (or timeout_ms): the blocking
 * group management API only (never inside a send). On PARLEY_OK *rsp is the
 * Response (free with parley__v1__response__free_unpacked); a non-zero status
 * becomes PARLEY_EREFUSED (PARLEY_ENOTFOUND for 404) with the detail in c->err. */
int loop__call(parley_client *c, void *req, int timeout_ms, void **rsp);

#endif
