/*
 * parley.h - the Parley client SDK (libparley).
 *
 * A parley_client owns one local state directory (the "home": identity key,
 * a SQLite database of contacts, chats, messages and the outbox) and at most
 * one MQTT connection. The library is driven by the application:
 * parley_poll() runs every callback, on the caller's thread; nothing happens
 * behind the application's back except network I/O. A client is not
 * thread-safe: use it from one thread at a time.
 *
 * Every function returning int returns PARLEY_OK (0) or a negative
 * parley_rc; parley_strerror() describes it and parley_last_error() gives the
 * detail of the last failure on this client (a server's error message, a
 * path, ...). When a function that takes a callback fails, the callback is
 * never called for that operation.
 */
#ifndef PARLEY_PARLEY_H
#define PARLEY_PARLEY_H

#include <stddef.h>
#include <stdint.h>

#include "parley/export.h"
#include "parley/version.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    PARLEY_OK = 0,
    PARLEY_EINVAL = -1,     /* bad argument (user id, chat id, text too long, ...) */
    PARLEY_ENOIDENT = -2,   /* the home has no identity yet (run parley_identity_create) */
    PARLEY_EEXIST = -3,     /* the home already has an identity */
    PARLEY_ESTORE = -4,     /* local state could not be read or written */
    PARLEY_ENET = -5,       /* a server could not be reached */
    PARLEY_EREFUSED = -6,   /* a server refused the request (see parley_last_error) */
    PARLEY_ETIMEOUT = -7,   /* a bounded wait ran out */
    PARLEY_ENOMEM = -8,
    PARLEY_ECRYPTO = -9,    /* a key or signature did not verify; a message did not decrypt */
    PARLEY_ENOTFOUND = -10, /* no such user, chat or message */
    PARLEY_ENOTCONN = -11,  /* the operation needs a connection and there is none */
    PARLEY_ETLS = -12,      /* a server's TLS certificate failed verification (untrusted
                               issuer, wrong host name, expired) or the CA file is unusable */
} parley_rc;

/* The version of the library actually loaded ("MAJOR.MINOR.PATCH"), which may
 * differ from the headers' PARLEY_VERSION (parley/version.h) after an
 * upgrade of the shared library. Static; never NULL. */
PARLEY_API const char *parley_version(void);

/* A static description of rc. Never NULL. */
PARLEY_API const char *parley_strerror(int rc);

typedef struct parley_client parley_client;

/* Where the servers are. NULL fields fall back to the environment
 * (PARLEY_MQTT_URL, PARLEY_KEYSERVER_URL, PARLEY_MEDIA_URL, PARLEY_CA_FILE),
 * then to tcp://127.0.0.1:1883, http://127.0.0.1:8081, http://127.0.0.1:8082
 * and the system trust store.
 *
 * TLS (docs/client.md, "TLS and WebSockets"): ssl://, mqtts:// and wss://
 * brokers and https:// services are verified - the certificate chain against
 * ca_file (else the system trust store), and the host name (or IP address)
 * of the URL against the certificate. There is no way to turn verification
 * off. A broker whose certificate fails verification stops the connection
 * attempts (parley_poll returns PARLEY_ETLS once); an HTTP call returns
 * PARLEY_ETLS. */
typedef struct {
    const char *home;          /* state directory; NULL: $PARLEY_HOME, else ~/.parley */
    const char *mqtt_url;      /* tcp:// or mqtt:// (MQTT over TCP), ws:// (over WebSocket),
                                  ssl:// or mqtts:// (over TLS), wss:// (WebSocket over
                                  TLS), then host:port and, for ws:// and wss://, an
                                  optional path (default /mqtt) */
    const char *keyserver_url; /* http://host:port or https://host:port */
    const char *media_url;     /* http://host:port or https://host:port */
    int transient;             /* 1: connect with a throwaway client id and a clean
                                  session, without the inbox subscription (live
                                  messages stay queued for the home's persistent
                                  session); chats still sync from the store. For
                                  one-shot commands running beside a listener. */
    const char *ca_file;       /* PEM file of the CA certificates to trust for TLS, instead
                                  of the system trust store; NULL: $PARLEY_CA_FILE, else
                                  the system store. Must be readable at parley_open. */
} parley_config;

/* Open (creating if needed, mode 0700) the home directory and its local
 * store. The home need not hold an identity yet. On success *out owns the
 * client; free it with parley_close(). Returns PARLEY_OK, PARLEY_EINVAL (no
 * home, an unreadable ca_file; an unknown URL scheme), PARLEY_ESTORE or
 * PARLEY_ENOMEM (then *out is NULL). */
PARLEY_API int parley_open(const parley_config *cfg, parley_client **out);

/* Disconnect (if connected), wipe every key held in memory and free the
 * client. NULL is a no-op. Unsent messages stay in the persistent outbox. */
PARLEY_API void parley_close(parley_client *c);

/* Detail of the last failure on this client ("" if none). Owned by c, valid
 * until the next call on c. */
PARLEY_API const char *parley_last_error(const parley_client *c);

/* ---- identity ---------------------------------------------------------- */

/* Create the identity of user_id in this home: an Ed25519 identity key
 * (secret part in HOME/identity.key, mode 0600) and a stable MQTT client id.
 * Does not talk to any server. Returns PARLEY_OK, PARLEY_EINVAL (bad user
 * id), PARLEY_EEXIST (already created), PARLEY_ESTORE. */
PARLEY_API int parley_identity_create(parley_client *c, const char *user_id);

/* Register the identity with the keyserver and upload this home's signed
 * prekey and one-time prekeys (generating them if needed). Idempotent.
 * Returns PARLEY_OK, PARLEY_ENOIDENT, PARLEY_ENET, PARLEY_EREFUSED (the user
 * id is bound to another key: detail in parley_last_error), PARLEY_ESTORE. */
PARLEY_API int parley_register(parley_client *c);
/* parley_register with an invite token (from the server's operator,
 * parley-admin invite), which a keyserver with registration policy "invite"
 * needs to register a new user id; used up by the registration. NULL = none.
 * Also PARLEY_EINVAL (a token that is not 1-128 printable characters).
 * The keyserver's refusal (invite_required, invite_used, invite_expired,
 * registration_closed, user_id_taken, ...) is PARLEY_EREFUSED with its
 * message in parley_last_error. */
PARLEY_API int parley_register_invite(parley_client *c, const char *invite);

/* Replace this home's identity key with a new one (a lost or compromised
 * key): the keyserver accepts the change because the current key signs it.
 * Every session and prekey of the old key is dropped and fresh prekeys are
 * uploaded; contacts are warned of the change when they next hear from this
 * user. Returns PARLEY_OK, PARLEY_ENOIDENT, PARLEY_ENET, PARLEY_EREFUSED,
 * PARLEY_ESTORE (the old identity stays in place on any failure before the
 * keyserver accepted the change). */
PARLEY_API int parley_identity_rotate(parley_client *c);

/* The home directory this client uses. Owned by c. */
PARLEY_API const char *parley_home(const parley_client *c);

/* The user id of this home, or NULL without an identity. Owned by c. */
PARLEY_API const char *parley_user_id(const parley_client *c);

/* This home's stable MQTT client id, or NULL without an identity. */
PARLEY_API const char *parley_client_id(const parley_client *c);

/* Mint an access token (docs/protocol.md, "Tokens") for one service:
 * audience "mqtt" (NULL means "mqtt"), "keyserver" or "media"; a token is
 * refused by every other service. client_id NULL: this home's MQTT client id
 * (the broker accepts only "{user}.{tag}" client ids of this user). Valid for
 * lifetime_s seconds (0: one hour). out receives a NUL-terminated token;
 * outlen >= 512 is always enough.
 * Returns PARLEY_OK, PARLEY_ENOIDENT, PARLEY_EINVAL (unknown audience, bad
 * client id or lifetime). */
PARLEY_API int parley_token(parley_client *c, const char *audience, const char *client_id,
                            int lifetime_s, char *out, size_t outlen);

/* ---- linked devices (docs/client.md, "Linked devices") ----------------- */

/* This home's device id (the MQTT client id's tag), NULL without identity. */
PARLEY_API const char *parley_device_id(const parley_client *c);
/* 1 if this home is the account's primary device (made by parley_identity_create
 * + parley_register; its device key is the account key), else 0. */
PARLEY_API int parley_is_primary(const parley_client *c);

typedef struct {
    const char *device_id;
    const char *name;
    int64_t added_at;          /* ms since the epoch */
    const char *fingerprint;   /* of the device key: "1a2b 3c4d 5e6f 7a8b 9c0d" */
    int primary;               /* its key is the account key */
    int self;                  /* this home */
} parley_device;

/* The device list of user (NULL: this user), fetched from the keyserver and
 * verified against the pinned account key, one fn call per device.
 * *version (may be NULL): the list's version (0: implicit, one device).
 * Returns PARLEY_OK, PARLEY_ENOIDENT, PARLEY_EINVAL, PARLEY_ENET,
 * PARLEY_ENOTFOUND, PARLEY_ECRYPTO (a list not signed by the pinned account
 * key: ignored; also raised as PARLEY_EVENT_DEVICES_FORGED), PARLEY_ESTORE. */
PARLEY_API int parley_devices(parley_client *c, const char *user,
                              void (*fn)(void *ud, const parley_device *d), void *ud,
                              uint64_t *version);

/* On a NEW home (no identity yet): become a device of user_id. Makes a
 * device key and client id (the account key is fetched from the keyserver
 * and recorded), then asks the keyserver for a link code (POST /v2/link).
 * On a home already waiting for approval, asks for a fresh code for the same
 * key. name: 0..32 printable ASCII (NULL: ""). code: >= 16 bytes ("XXXX-XXXX",
 * to type on the primary device), fingerprint: >= 25 bytes (the device key's,
 * to compare with what the primary shows). Returns PARLEY_OK, PARLEY_EINVAL,
 * PARLEY_EEXIST (the home already is a device of an account), PARLEY_ENOTFOUND
 * (no such user), PARLEY_ENET, PARLEY_EREFUSED, PARLEY_ESTORE. */
PARLEY_API int parley_link(parley_client *c, const char *user_id, const char *name, char *code,
                           size_t codelen, char *fingerprint, size_t fprlen);
/* Wait (at most timeout_ms) until the account's verified device list holds
 * this device's key, then upload its prekeys: the home is ready to connect.
 * Returns PARLEY_OK, PARLEY_ETIMEOUT (not approved yet: call again, or run
 * parley_link for a new code), PARLEY_ENOIDENT, PARLEY_ENET, PARLEY_ESTORE. */
PARLEY_API int parley_link_wait(parley_client *c, int timeout_ms);

/* Primary device only: approve the device that showed code (parley_link on
 * it): the next version of the list, with that device, is signed with the
 * account key and uploaded. out (may be NULL) is filled with the device
 * approved (its strings valid until the next call on c). Returns PARLEY_OK,
 * PARLEY_EINVAL (not the primary, a malformed code, the list is full),
 * PARLEY_ENOTFOUND (no such pending code), PARLEY_ENET, PARLEY_EREFUSED
 * (e.g. 409 too_many_devices), PARLEY_ESTORE. */
PARLEY_API int parley_devices_approve(parley_client *c, const char *code, parley_device *out);
/* Primary device only: remove device_id from the list (its tokens are
 * refused at once, contacts stop encrypting to it). The primary cannot be
 * removed. Returns PARLEY_OK, PARLEY_EINVAL, PARLEY_ENOTFOUND (no such
 * device), PARLEY_ENET, PARLEY_EREFUSED, PARLEY_ESTORE. */
PARLEY_API int parley_devices_remove(parley_client *c, const char *device_id);
/* How many messages arrived without a ciphertext for this device (sent
 * before it was linked) and were skipped. */
PARLEY_API uint64_t parley_skipped_count(parley_client *c);

/* The safety number of this user and peer: 60 decimal digits in 12 groups of
 * five separated by spaces, identical on both sides. Fetches the peer's
 * identity key from the keyserver if it is not known yet. out: >= 80 bytes.
 * Returns PARLEY_OK, PARLEY_ENOIDENT, PARLEY_ENOTFOUND, PARLEY_ENET. */
PARLEY_API int parley_safety_number(parley_client *c, const char *peer, char *out, size_t outlen);

/* ---- events ------------------------------------------------------------ */

/* An earlier message of a chat: its sender and client message id, the same
 * on every device before and after the broker stored it. */
typedef struct {
    const char *sender;
    const char *client_msg_id;
} parley_msgref;

/* One user's reaction to a message. */
typedef struct {
    const char *user;
    const char *emoji;
} parley_reaction;

typedef enum {
    PARLEY_MSG_NORMAL = 0, /* text and/or media, maybe a reply */
    PARLEY_MSG_REACTION = 1, /* live only: target, emoji ("" = removed) */
    PARLEY_MSG_EDIT = 2, /* live only: target, text = the new text */
    PARLEY_MSG_DELETE = 3, /* live only: target was deleted for everyone */
    PARLEY_MSG_TIMER = 4, /* timer_s: the chat's disappearing-messages timer from now on */
    PARLEY_MSG_UNSUPPORTED = 5, /* a kind of message this library does not know (newer client) */
    PARLEY_MSG_DELETED = 6, /* history: a message deleted for everyone (tombstone) */
} parley_msg_kind;

typedef struct {
    const char *chat_id;       /* "d:a:b" or "g:..." */
    uint64_t seq;              /* per-chat sequence number */
    const char *server_id;
    const char *sender;        /* authenticated sender */
    const char *client_msg_id;
    int64_t server_ts;         /* ms since the epoch */
    const char *text;          /* decrypted UTF-8 text, NUL-terminated */
    size_t text_len;
    int system;                /* 1: a server event (text is a description), 0: a user message */
    /* A media object referenced by the message (its key stays in the local
     * store, for fetching): NULL media_id when there is none. */
    const char *media_id;
    const char *media_name;
    const char *media_type;
    uint64_t media_size;       /* plaintext bytes */
    /* Linked devices (added at the end: positional initializers of the
     * members above keep compiling). */
    int own;                   /* 1: sent by this user from another of its devices */
    const char *sender_device; /* the sending device's id ("" if the broker did not say) */
    /* Rich messages (docs/protocol.md, "Rich messages"). */
    parley_msg_kind kind;
    parley_msgref reply_to; /* NORMAL: the message this one replies to ({NULL, NULL}: none) */
    parley_msgref target; /* REACTION, EDIT, DELETE: the message acted on */
    const char *emoji; /* REACTION: the emoji ("" = the reaction was removed) */
    uint32_t timer_s; /* TIMER: the chat's disappearing-messages timer from now on (0 off) */
    int64_t expires_at; /* ms since the epoch when this message disappears; 0 never */
    int mentioned; /* 1: this user is among the mentions */
    const char *const *mentions; /* the user ids mentioned, n_mentions of them */
    size_t n_mentions;
    int64_t edited_at; /* history: server_ts of the latest edit; 0 never edited */
    const char *deleted_by; /* DELETED: who deleted it for everyone */
    const parley_reaction *reactions; /* history: the current reactions */
    size_t n_reactions;
} parley_message;

typedef enum {
    PARLEY_RECEIPT_STORED = 1,
    PARLEY_RECEIPT_DELIVERED = 2,
    PARLEY_RECEIPT_READ = 3,
    PARLEY_RECEIPT_REJECTED = 4,
} parley_receipt_status;

typedef struct {
    parley_receipt_status status;
    const char *chat_id;
    uint64_t seq; /* STORED: the message's seq; DELIVERED/READ: cursor covering <= seq */
    const char *server_id; /* STORED */
    const char *client_msg_id; /* STORED/REJECTED */
    const char *by; /* DELIVERED/READ: who moved the cursor */
    int64_t ts;
    const char *error; /* REJECTED: error code and message */
    const char *error_message;
    int all; /* groups: every member reached the cursor */
    int will_retry; /* REJECTED for a transient reason (rate_limited, overloaded,
                                  store_failed): the message stays in the outbox and is
                                  republished later; otherwise it was dropped from the outbox */
} parley_receipt;

typedef enum {
    PARLEY_EVENT_CONNECTED = 1, /* connected, subscribed; outbox flushed, sync started */
    PARLEY_EVENT_DISCONNECTED =
        2, /* connection lost or refused; detail says why; reconnect follows */
    PARLEY_EVENT_SYNCED = 3, /* every chat has been synced since the last connect */
    PARLEY_EVENT_UNDECRYPTABLE =
        4, /* a message could not be decrypted (chat_id, seq, user, detail) */
    PARLEY_EVENT_IDENTITY_CHANGED = 5, /* user's identity key differs from the one seen before */
    PARLEY_EVENT_DEVICES_CHANGED = 6, /* user's device list (signed by the pinned account key)
                                          gained or lost a device; detail names them */
    PARLEY_EVENT_DEVICES_FORGED = 7, /* a device list of user NOT signed by the pinned account
                                          key was served: ignored, the list in use is kept */
    PARLEY_EVENT_REFUSED = 8, /* a reaction, edit, delete or timer change broke a rule
                                 (not allowed, too late, unknown target) and changed
                                 nothing: chat_id, seq, user = its sender, detail = why */
} parley_event_type;

typedef struct {
    parley_event_type type;
    const char *chat_id; /* UNDECRYPTABLE */
    uint64_t seq; /* UNDECRYPTABLE */
    const char *user; /* UNDECRYPTABLE: the sender; IDENTITY_CHANGED: the contact */
    const char *detail; /* human-readable reason; never NULL */
} parley_event;

/* A user's presence, as the broker publishes it (retained: the current value
 * arrives as soon as the user is watched, then every change). */
typedef struct {
    const char *user;
    int online; /* 1 online (some connection of user is up), 0 offline */
    int64_t last_seen; /* ms since the epoch; online: when the session started,
                          offline: when the last connection ended */
} parley_presence;

/* A typing indicator from another user (never stored, may be lost). */
typedef struct {
    const char *user; /* the authenticated sender */
    const char *chat_id; /* "d:a:b", or "g:..." for a group */
    int typing; /* 1 started typing, 0 stopped */
    int64_t ts; /* ms since the epoch (the broker's clock) */
} parley_typing;

/* Callbacks run inside parley_poll() (and the blocking helpers) on the
 * caller's thread; the pointers they receive are valid during the call only.
 * A callback may call parley_ack_* and parley_send_*; it must not call
 * parley_close(). Any member may be NULL. */
typedef struct {
    void (*on_message)(void *ud, const parley_message *m);
    void (*on_receipt)(void *ud, const parley_receipt *r);
    void (*on_event)(void *ud, const parley_event *e);
    void *ud;
    /* Added after ud so that positional initializers of the first four
     * members keep working. on_typing needs a persistent (non-transient)
     * client: a transient one does not subscribe to its typing topic. */
    void (*on_presence)(void *ud, const parley_presence *p);
    void (*on_typing)(void *ud, const parley_typing *t);
} parley_callbacks;

PARLEY_API void parley_set_callbacks(parley_client *c, const parley_callbacks *cb);

/* Progress of a transfer: done of total bytes (total > 0). Called on the
 * caller's thread, from inside the call that transfers (parley_send_file). */
typedef void (*parley_progress_fn)(void *ud, uint64_t done, uint64_t total);

/* ---- connection -------------------------------------------------------- */

/* Start connecting to the broker (username = user id, password = a fresh
 * token for the client id, persistent session, QoS 1). Returns at once;
 * progress happens in parley_poll(), which also reconnects with backoff (and
 * a new token) whenever the connection is lost or refused. On connect the
 * client subscribes to its topics, republishes the outbox and syncs every
 * chat from its cursor. Returns PARLEY_OK, PARLEY_ENOIDENT, PARLEY_EINVAL
 * (bad URL), PARLEY_ENOMEM. */
PARLEY_API int parley_connect(parley_client *c);

/* Process network events for at most timeout_ms milliseconds (0: only what
 * is pending), running callbacks. Returns the number of events processed
 * (>= 0) or a negative parley_rc: PARLEY_ESTORE (a local failure), or
 * PARLEY_ETLS once when the broker's certificate failed verification (the
 * client then stops connecting; parley_last_error says why; call
 * parley_connect to try again). A failed TLS connection is examined with a
 * handshake of its own, which may block for up to 5 s. The blocking helpers
 * below return PARLEY_ETLS the same way. */
PARLEY_API int parley_poll(parley_client *c, int timeout_ms);

/* 1 when connected and subscribed, else 0. */
PARLEY_API int parley_is_connected(const parley_client *c);

/* 1 when every chat has been synced since the last connect, else 0. */
PARLEY_API int parley_is_synced(const parley_client *c);

/* Connect if not connecting yet (parley_connect), then poll until connected
 * and subscribed, at most timeout_ms - but return at the first failed
 * attempt instead of retrying: for a one-shot program that must not hang on
 * an unreachable broker. The retry stays scheduled (the next parley_poll
 * may connect). Returns PARLEY_OK, PARLEY_ENET (the broker could not be
 * reached: connection refused, unknown host, connection lost, a TLS failure
 * other than the certificate), PARLEY_ETLS (the broker's certificate failed
 * verification, see parley_poll), PARLEY_EREFUSED (the broker refused the
 * CONNECT: bad token, unknown user), PARLEY_ETIMEOUT, PARLEY_EINVAL (bad
 * URL), PARLEY_ENOIDENT, PARLEY_ESTORE;
 * detail in parley_last_error. A refusal right after this home registered
 * is retried quietly (see docs/client.md, "Connection") and is no failure. */
PARLEY_API int parley_wait_connected(parley_client *c, int timeout_ms);

/* Poll until connected and synced, at most timeout_ms. Returns PARLEY_OK,
 * PARLEY_ETIMEOUT (detail: the last connection error), PARLEY_ESTORE. */
PARLEY_API int parley_wait_synced(parley_client *c, int timeout_ms);

/* Sync every chat from its cursor now (connecting first if needed, see
 * parley_connect) and wait until done, at most timeout_ms. Messages found
 * reach on_message like live ones. A persistent client syncs by itself on
 * every connect; a transient one only through this call. Returns PARLEY_OK,
 * PARLEY_ETIMEOUT, PARLEY_ENOTCONN, PARLEY_ESTORE. */
PARLEY_API int parley_sync(parley_client *c, int timeout_ms);

/* Poll until every control request sent so far (acks, sync) has been
 * answered by the broker, at most timeout_ms. Returns PARLEY_OK,
 * PARLEY_ETIMEOUT, PARLEY_ENOTCONN (the connection dropped meanwhile). */
PARLEY_API int parley_flush(parley_client *c, int timeout_ms);

/* Disconnect cleanly (no-op when not connected). */
PARLEY_API void parley_disconnect(parley_client *c);

/* ---- sending ----------------------------------------------------------- */

/* Encrypt text for `to` (a user id, or a "g:..." group chat id) and queue
 * it in the persistent outbox; it is published now if connected, else on the
 * next connect, and republished with the same client message id until the
 * broker's STORED (or REJECTED) receipt arrives. A group message goes to the
 * members the client knows locally (parley/group.h); a send never runs the
 * receive loop, so no callback fires inside it. client_msg_id (optional,
 * >= 65 bytes) receives the message's client id. Returns PARLEY_OK,
 * PARLEY_EINVAL, PARLEY_ENOIDENT, PARLEY_ENET / PARLEY_ENOTFOUND (the
 * recipient's keys could not be fetched on first contact; for a group: its
 * member list is not known yet, it comes with the next connection or
 * parley_group_info), PARLEY_ECRYPTO, PARLEY_ESTORE. */
PARLEY_API int parley_send_text(parley_client *c, const char *to, const char *text,
                                char *client_msg_id);

/* ---- rich messages (docs/protocol.md, "Rich messages") ------------------
 * Each is an end-to-end encrypted message of the chat, queued and retried as
 * parley_send_text, shown on every device of every member. to: a user id or
 * a "g:..." group chat id. client_msg_id: as parley_send_text. */

typedef struct {
    const parley_msgref *reply_to; /* NULL: not a reply */
    const char *const *mentions; /* NULL, or n_mentions user ids (at most 64) */
    size_t n_mentions;
} parley_send_opts;

/* parley_send_text with options (o may be NULL). reply_to must name a
 * message of that chat this home holds (PARLEY_EINVAL otherwise, as for an
 * invalid or 65th mention; duplicate mentions are dropped). The targets of
 * the functions below must be held too: an own message once the broker
 * stored it. */
PARLEY_API int parley_send_text_opts(parley_client *c, const char *to, const char *text,
                                     const parley_send_opts *o, char *client_msg_id);
/* React to target with emoji (1..32 bytes of UTF-8), or remove this user's
 * reaction (emoji ""). PARLEY_EINVAL: bad emoji or target. */
PARLEY_API int parley_send_reaction(parley_client *c, const char *to, const parley_msgref *target,
                                    const char *emoji, char *client_msg_id);
/* Replace the text of target, a text message this user sent, within 15
 * minutes of its server time. PARLEY_EINVAL: not this user's text message,
 * or deleted; PARLEY_EREFUSED: the window has passed. */
PARLEY_API int parley_send_edit(parley_client *c, const char *to, const parley_msgref *target,
                                const char *text, char *client_msg_id);
/* Delete target for everyone (this user's message, or any message of a
 * group this user administers) within 48 hours of its server time: the
 * members' devices remove it and the broker removes its stored copy.
 * PARLEY_EINVAL: unknown target; PARLEY_EREFUSED: not allowed or too late. */
PARLEY_API int parley_delete_for_everyone(parley_client *c, const char *to,
                                          const parley_msgref *target, char *client_msg_id);
/* Set the chat's disappearing-messages timer (0: off; at most 7776000 s,
 * 90 days): messages sent after it disappear `seconds` after the broker
 * stored them, on every device and on the server. PARLEY_EREFUSED: a group
 * this user does not administer. */
PARLEY_API int parley_set_timer(parley_client *c, const char *to, uint32_t seconds,
                                char *client_msg_id);
/* The chat's current disappearing-messages timer in seconds (0: off). */
PARLEY_API int parley_chat_timer(parley_client *c, const char *chat_id, uint32_t *seconds);

typedef enum {
    PARLEY_SENT_QUEUED = 1, /* in the outbox, waiting for the broker */
    PARLEY_SENT_STORED = 2, /* stored by the broker: seq / server_id / chat_id filled */
    PARLEY_SENT_UNKNOWN = 3, /* neither: refused by the broker, or not sent from this home */
} parley_sent_state;

/* Where a message this home sent is, from the local store - also when
 * another process of the same home (a listener) received its receipt.
 * server_id (>= 23 bytes) and chat_id (>= 141 bytes) may be NULL. Returns a
 * parley_sent_state (> 0) or PARLEY_ESTORE. */
PARLEY_API int parley_sent_status(parley_client *c, const char *client_msg_id, uint64_t *seq,
                                  char *server_id, size_t server_id_len, char *chat_id,
                                  size_t chat_id_len);

/* Number of messages still waiting for their STORED receipt. */
PARLEY_API int parley_outbox_count(parley_client *c);

/* Record that every message of chat_id up to seq has been delivered to (or
 * read by) the user; the broker turns it into a receipt for the senders.
 * Cursors never move backwards; when offline the ack is sent on the next
 * connect. Returns PARLEY_OK, PARLEY_EINVAL, PARLEY_ENOTFOUND, PARLEY_ESTORE. */
PARLEY_API int parley_ack_delivered(parley_client *c, const char *chat_id, uint64_t seq);
PARLEY_API int parley_ack_read(parley_client *c, const char *chat_id, uint64_t seq);

/* ---- presence and typing ------------------------------------------------ */

#define PARLEY_WATCH_MAX 16 /* users one client can watch */

/* Watch user's presence: its current value reaches on_presence as soon as
 * the subscription is in place (now if connected, else on the next connect;
 * kept across reconnects), then every change. Watching a user twice is a
 * no-op. Returns PARLEY_OK, PARLEY_EINVAL (bad user id), PARLEY_ENOMEM (more
 * than PARLEY_WATCH_MAX users), PARLEY_ENET (the subscription could not be
 * sent; the user is not watched). */
PARLEY_API int parley_watch_presence(parley_client *c, const char *user);

/* Tell `to` (a user id, or a "g:..." group chat id) that this user started
 * (typing = 1) or stopped (0) typing: one MQTT publish at QoS 0, never
 * stored, not queued when offline, not retried (it may be lost). Returns
 * PARLEY_OK, PARLEY_EINVAL (bad recipient, or this user), PARLEY_ENOIDENT,
 * PARLEY_ENOTCONN, PARLEY_ENOMEM. */
PARLEY_API int parley_send_typing(parley_client *c, const char *to, int typing);

/* ---- local state ------------------------------------------------------- */

typedef struct {
    const char *chat_id;
    const char *name; /* the peer for direct chats, the group name for groups */
    uint64_t last_seq; /* the chat's last sequence number as last seen from the server */
    uint64_t synced_seq; /* every message up to this seq has been processed locally */
    uint64_t delivered_seq; /* this user's cursors */
    uint64_t read_seq;
    int64_t last_message_at;
} parley_chat;

/* Call fn for every chat of the local store, most recent first. A non-zero
 * return from fn stops the walk. Returns PARLEY_OK or PARLEY_ESTORE. */
PARLEY_API int parley_chats(parley_client *c, int (*fn)(void *ud, const parley_chat *chat),
                            void *ud);

/* Call fn for every message of chat_id in the local store, oldest first
 * (received messages, own sent messages, system events; undecryptable
 * messages have text "" and system = -1). Rich messages: reactions, edits
 * and deletes are applied to their targets and not listed; a message shows
 * its latest text (edited_at), its reactions, reply_to, mentioned and
 * expires_at; timer changes are listed (kind TIMER), deleted messages as
 * kind DELETED with text "" and deleted_by; expired messages never.
 * Returns PARLEY_OK, PARLEY_EINVAL, PARLEY_ESTORE. */
PARLEY_API int parley_history(parley_client *c, const char *chat_id,
                              int (*fn)(void *ud, const parley_message *m), void *ud);

/* A query of the local history (parley_history_find). Zero fields mean "no
 * bound"; a zeroed struct is the whole history of every chat. */
typedef struct {
    uint64_t before_seq; /* only messages with seq < before_seq (page backwards) */
    uint64_t since_seq; /* only messages with seq > since_seq (page forwards) */
    int64_t since_ts; /* only messages with server_ts >= since_ts (ms) */
    const char *text; /* only readable messages whose text contains this,
                          * ASCII case-insensitive; %, _ and \ match
                          * themselves. Undecryptable and pending messages never
                          * match. NULL: no text condition. */
    uint64_t limit; /* the newest `limit` matches; 0: all */
} parley_history_query;

/* Call fn for the messages of chat_id (NULL: of every chat) that match q,
 * oldest first: by seq within a chat, by server time across chats. With a
 * limit these are the newest `limit` matches, still delivered oldest first,
 * so the next older page is before_seq = the first seq delivered. Messages
 * are as in parley_history (own is 0: compare sender with parley_user_id;
 * sender_device is "" as the local store does not keep it). Reads the local
 * store only, never the network. A non-zero return from fn stops the walk.
 * Returns PARLEY_OK (also when nothing matches), PARLEY_EINVAL (bad chat
 * id, q or fn NULL), PARLEY_ESTORE. */
PARLEY_API int parley_history_find(parley_client *c, const char *chat_id,
                                   const parley_history_query *q,
                                   int (*fn)(void *ud, const parley_message *m), void *ud);

/* The direct chat id of this user and peer into out (>= 141 bytes). */
PARLEY_API int parley_direct_chat_id(parley_client *c, const char *peer, char *out, size_t outlen);

#ifdef __cplusplus
}
#endif

#endif
