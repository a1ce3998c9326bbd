/*
 * store.h - the Parley message store: one interface, several backends.
 *
 * Backends: "sqlite:PATH" (embedded default, store_sqlite.c) and
 * "mongodb://..." (production, store_mongo.c). store_open() picks one from
 * the URI. Every backend passes the same conformance suite (tests/store/).
 *
 * Threading: a store_t is a connection. It may be used by one thread at a
 * time; open one handle per thread (SQLite WAL lets readers and one writer
 * proceed together; MongoDB handles share the driver's connection pool).
 * Asynchronous group-committed writes go through store_writer.h.
 *
 * Ownership: records filled in by a getter own their heap members; release
 * them with the matching *_free() (which leaves the struct zeroed). Records
 * passed to a setter are only read.
 *
 * Times are milliseconds since the Unix epoch (int64_t). Text ids are
 * NUL-terminated UTF-8.
 */
#ifndef PARLEY_STORE_H
#define PARLEY_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Return codes of every store_* function. */
typedef enum {
    STORE_OK = 0,
    STORE_ENOTFOUND = -1,   /* no such record */
    STORE_EEXIST = -2,      /* unique key already present (users, chats, members, media) */
    STORE_EDUP = -3,        /* message_put: (sender, client_msg_id) already stored; the
                               existing server_id and seq are copied into the record */
    STORE_EINVAL = -4,      /* bad argument (NULL, empty id, seq not above the chat's last) */
    STORE_EIO = -5,         /* backend failure (disk, network); see store_last_error() */
    STORE_ENOMEM = -6,
    STORE_EUNAVAIL = -7,    /* backend unreachable (MongoDB down); retryable */
    STORE_ECLOSED = -8,     /* writer stopped */
} store_rc;

/* A short, static, human-readable name for a store_rc ("not found", ...). */
const char *store_strerror(int rc);

#define STORE_KEY_LEN 32    /* Ed25519 / X25519 public keys */
#define STORE_SIG_LEN 64    /* Ed25519 signatures */
#define STORE_SHA256_LEN 32

typedef struct store store_t;

typedef struct {
    int busy_timeout_ms;    /* SQLite: wait this long on a locked database (default 5000) */
    const char *mongo_write_concern; /* MongoDB: "majority" (default), "1", ... */
    int read_only;          /* 1: only read. SQLite: the file must exist and hold this build's
                               schema (opened SQLITE_OPEN_READONLY, nothing created or
                               migrated); MongoDB: no index is created */
    int background_checkpoints; /* 1: SQLite: this connection's commits never run a WAL
                               checkpoint; a thread with a connection of its own does
                               (PASSIVE) once the WAL reaches 8000 pages. The async writer
                               (store_writer.h) opens its connection so. MongoDB: ignored */
} store_options;

/*
 * Open a connection. uri: "sqlite:PATH" (created with its schema if missing)
 * or "mongodb://..." / "mongodb+srv://...". opts may be NULL for defaults.
 * Returns STORE_OK and *out, or an error (STORE_EINVAL for an unknown scheme,
 * STORE_EIO/STORE_EUNAVAIL when the backend cannot be reached) and *out NULL.
 */
int store_open(const char *uri, const store_options *opts, store_t **out);
/* Close a connection. NULL is fine. */
void store_close(store_t *s);
/* The last error message on this connection (never NULL). */
const char *store_last_error(store_t *s);

/* WAL checkpoints run in the background for this connection
 * (store_options.background_checkpoints, SQLite). Any thread. */
typedef struct {
    uint64_t runs;      /* checkpoints run */
    uint64_t inline_runs; /* of them, run by the writer between two transactions because the
                           WAL had not started over at twice the limit (sustained writes) */
    uint64_t frames;    /* WAL frames copied into the database */
    uint64_t us_total;  /* time in them */
    uint64_t us_max;
} store_checkpoint_stats;
/* All 0 for a connection without background checkpoints (and MongoDB). */
void store_checkpoint_stats_get(store_t *s, store_checkpoint_stats *out);

/* Transactions. Writes outside begin/commit are each their own transaction.
 * The async writer (store_writer.h) wraps each batch in begin/commit. */
int store_begin(store_t *s);
int store_commit(store_t *s);
int store_rollback(store_t *s);

/* ------------------------------------------------------------------ users */

/* An account's state (docs/store.md "Users"). A disabled user is refused
 * everywhere and can be enabled again; a deleted user is a tombstone: its
 * identity key is all zeros, it has no prekeys and no group memberships,
 * and its id can never be registered again. */
typedef enum {
    STORE_USER_ACTIVE = 0,
    STORE_USER_DISABLED = 1,
    STORE_USER_DELETED = 2,
} store_user_status;

/* "active", "disabled", "deleted" (or "unknown"). */
const char *store_user_status_name(int status);

typedef struct {
    char *user_id;
    uint8_t identity_key[STORE_KEY_LEN];   /* Ed25519 public key (zeros when deleted) */
    int64_t created_at;
    int64_t updated_at;                    /* last change of key, status or device list */
    store_user_status status;
    /* The device list (docs/protocol.md "Devices"), signed by identity_key.
     * devices_version 0 and devices_list NULL: the implicit list (one device,
     * the account key). Otherwise devices_list is the canonical list text
     * (common/devices.h) of devices_list_len bytes and devices_sig its
     * Ed25519 signature. store_user_put ignores these (a new user's list is
     * implicit; store_user_set_devices sets them). */
    uint64_t devices_version;
    uint8_t *devices_list;
    size_t devices_list_len;
    uint8_t devices_sig[STORE_SIG_LEN];
} store_user;
void store_user_free(store_user *u);

/* Bind user_id to its identity key (with u->status). STORE_EEXIST if the
 * user exists, or if a user whose id differs from user_id only by ASCII case
 * exists (ids.h "case rule": no two users differ only by case; the check is
 * atomic with the insert). */
int store_user_put(store_t *s, const store_user *u);
/* Replace the identity key (and updated_at). The device list, signed by the
 * old key, is dropped with it: the user's list becomes implicit again
 * (devices_version 0). STORE_ENOTFOUND if no such user. */
int store_user_set_key(store_t *s, const char *user_id, const uint8_t key[STORE_KEY_LEN],
                       int64_t updated_at);
int store_user_get(store_t *s, const char *user_id, store_user *out);
/* The user whose id equals user_id ignoring ASCII case (the id as
 * registered is in out->user_id). STORE_ENOTFOUND if none. */
int store_user_get_fold(store_t *s, const char *user_id, store_user *out);
/* Users whose updated_at >= since, ascending by updated_at; *out is an array
 * of *n records, free with store_user_array_free. For the broker's key cache. */
int store_users_changed_since(store_t *s, int64_t since, store_user **out, size_t *n);
void store_user_array_free(store_user *a, size_t n);
/* Set a user's status to STORE_USER_ACTIVE or STORE_USER_DISABLED and
 * updated_at (so every key cache refreshing by updated_at sees it).
 * STORE_ENOTFOUND if no such user; STORE_EINVAL for a deleted user (final)
 * or another status (deleting is store_user_delete). */
int store_user_set_status(store_t *s, const char *user_id, store_user_status status,
                          int64_t updated_at);
/* Delete a user, in one transaction: the record becomes a tombstone
 * (status deleted, identity key zeroed, updated_at = now), its signed and
 * one-time prekeys are removed and it is removed from every group chat
 * (members of "g:" chats). Its messages, direct chats and media stay.
 * STORE_ENOTFOUND if no such user; deleting a tombstone again is STORE_OK. */
int store_user_delete(store_t *s, const char *user_id, int64_t now);
/* Users with user_id > after (NULL or "" = from the first), ascending by
 * user_id, at most limit (capped at STORE_PAGE_MAX), tombstones included. */
int store_users_list(store_t *s, const char *after, size_t limit, store_user **out, size_t *n);

#define STORE_DEVICES_LIST_MAX 8192  /* bytes of a signed device list text */

/* Replace a user's device list, a compare-and-set: only if the stored
 * devices_version equals expect_version (the one the caller verified the
 * new list against), else STORE_EEXIST (another writer got there first: a
 * stale version). version must be > expect_version and list 1..
 * STORE_DEVICES_LIST_MAX bytes (STORE_EINVAL). Sets updated_at, so every key
 * cache refreshing by updated_at sees the new list. STORE_ENOTFOUND if no
 * such user; STORE_EINVAL for a deleted user. The store does not parse the
 * list: the keyserver verifies it (common/devices.h) before. */
int store_user_set_devices(store_t *s, const char *user_id, uint64_t expect_version,
                           uint64_t version, const uint8_t *list, size_t list_len,
                           const uint8_t sig[STORE_SIG_LEN], int64_t updated_at);

/* ------------------------------------------------------------- link codes */

/* A pending device link (docs/protocol.md "Linking a device"): a new device
 * asked to join user_id's list; the primary approves it with the code. */
typedef struct {
    char *code;             /* "XXXX-XXXX", Crockford base32 */
    char *user_id;
    char *device_id;
    uint8_t device_key[STORE_KEY_LEN];
    char *name;             /* 0..32 printable ASCII; may be NULL (= "") */
    int64_t created_at;
    int64_t expires_at;     /* > 0; the code is refused at and after this time */
} store_link;
void store_link_free(store_link *l);

int store_link_put(store_t *s, const store_link *l); /* STORE_EEXIST if the code is taken */
/* The link of a code, expired or not (the caller compares expires_at). */
int store_link_get(store_t *s, const char *code, store_link *out);
int store_link_delete(store_t *s, const char *code); /* STORE_ENOTFOUND if none */
/* Delete every code of user_id for device_id (the device was approved: its
 * codes are consumed). STORE_OK also when there was none. */
int store_links_delete_device(store_t *s, const char *user_id, const char *device_id);
/* How many codes of user_id are not expired at now (rate limit). */
int store_link_count(store_t *s, const char *user_id, int64_t now, size_t *count);
/* Delete the codes with expires_at <= now; *deleted (may be NULL) counts them. */
int store_links_expire(store_t *s, int64_t now, size_t *deleted);

/* ---------------------------------------------------------------- invites */

/* A registration invite (keyserver policy "invite"). The store keeps only
 * the SHA-256 of the token, as invite_id (base64url, no padding, 43
 * characters); the token itself is shown once, by parley-admin invite. */
typedef struct {
    char *invite_id;
    int64_t created_at;
    int64_t expires_at; /* > 0: refused at and after this time */
    int64_t used_at; /* 0 = unused */
    char *used_by; /* the user it registered; NULL while unused */
    char *note; /* operator's note; may be NULL */
} store_invite;
void store_invite_free(store_invite *i);
void store_invite_array_free(store_invite *a, size_t n);

int store_invite_put(store_t *s, const store_invite *i); /* STORE_EEXIST if present */
int store_invite_get(store_t *s, const char *invite_id, store_invite *out);
/* Mark an invite used by user_id at now, only if it is unused and
 * now < expires_at (one atomic conditional write: two registrations never
 * use one invite). STORE_ENOTFOUND if there is no such usable invite
 * (store_invite_get tells unknown, used and expired apart). */
int store_invite_use(store_t *s, const char *invite_id, const char *user_id, int64_t now);
/* Invites with invite_id > after, ascending, at most limit. */
int store_invites_list(store_t *s, const char *after, size_t limit, store_invite **out, size_t *n);
/* Remove an invite (revoke). STORE_ENOTFOUND if none. */
int store_invite_delete(store_t *s, const char *invite_id);

/* ---------------------------------------------------------------- prekeys */

/* Prekeys belong to a device of a user: device_id is the device's id in the
 * user's device list, or "" (NULL on input means "") for the implicit single
 * device of a user without a list. Every getter below takes the device_id
 * (NULL = ""). */
typedef struct {
    char *user_id;
    uint32_t key_id;
    uint8_t public_key[STORE_KEY_LEN]; /* X25519 */
    uint8_t signature[STORE_SIG_LEN]; /* signed prekeys only: Ed25519 by the device key */
    int64_t created_at;
    char *device_id; /* NULL or "" = the implicit device */
} store_prekey;
void store_prekey_free(store_prekey *p);

/* Signed prekey: replaces the current one; the previous one is kept until
 * replaced again (clients accept messages to it while in flight). */
int store_signed_prekey_put(store_t *s, const store_prekey *p);
/* The current signed prekey of a device. */
int store_signed_prekey_get(store_t *s, const char *user_id, const char *device_id,
                            store_prekey *out);

/* Add one-time prekeys (same user_id and device_id); duplicates of an
 * existing (device, key_id) are STORE_EEXIST and nothing is added. */
int store_otpk_add(store_t *s, const store_prekey *keys, size_t n);
/* Remove and return one one-time prekey of a device (lowest key_id)
 * atomically: two concurrent pops never return the same key.
 * STORE_ENOTFOUND when none left. */
int store_otpk_pop(store_t *s, const char *user_id, const char *device_id, store_prekey *out);
int store_otpk_count(store_t *s, const char *user_id, const char *device_id, size_t *count);
/* Remove every one-time prekey of a user, of every device (identity key change). */
int store_otpk_clear(store_t *s, const char *user_id);
/* Remove a device's signed (current and previous) and one-time prekeys
 * (the device left the list). STORE_OK also when it had none. */
int store_prekeys_delete_device(store_t *s, const char *user_id, const char *device_id);
/* Give the prekeys of device `from` to device `to` (the implicit device ""
 * becomes the primary's id when the first explicit list is stored). Where
 * `from` has a signed prekey (one-time prekeys), those of `to` are replaced;
 * otherwise `to` keeps its own. STORE_OK also when `from` had none. */
int store_prekeys_move_device(store_t *s, const char *user_id, const char *from, const char *to);

/* ------------------------------------------------------------------ chats */

typedef enum { STORE_CHAT_DIRECT = 1, STORE_CHAT_GROUP = 2 } store_chat_type;

typedef struct {
    char *chat_id; /* "d:{a}:{b}" or "g:{id}" */
    store_chat_type type;
    char *name; /* may be NULL */
    char *description; /* may be NULL */
    char *created_by; /* may be NULL */
    char *settings; /* backend-opaque text (group settings, JSON); may be NULL */
    int64_t created_at;
    int64_t last_message_at;
    uint64_t last_seq; /* highest stored seq (read-only: maintained by message_put) */
} store_chat;
void store_chat_free(store_chat *c);

int store_chat_put(store_t *s, const store_chat *c); /* STORE_EEXIST if present */
int store_chat_update(store_t *s, const store_chat *c); /* name, description, settings */
int store_chat_get(store_t *s, const char *chat_id, store_chat *out);
int store_chat_delete(store_t *s, const char *chat_id); /* with its members and messages */

/* ---------------------------------------------------------------- members */

typedef enum { STORE_ROLE_MEMBER = 1, STORE_ROLE_ADMIN = 2, STORE_ROLE_OWNER = 3 } store_role;

typedef struct {
    char *chat_id;
    char *user_id;
    store_role role;
    int64_t joined_at;
    uint64_t joined_seq; /* the chat's last seq when the member joined */
    uint64_t delivered_seq; /* cursor: every message <= this was delivered */
    uint64_t read_seq; /* cursor: every message <= this was read */
} store_member;
void store_member_free(store_member *m);
void store_member_array_free(store_member *a, size_t n);

int store_member_put(store_t *s, const store_member *m); /* STORE_EEXIST if present */
int store_member_get(store_t *s, const char *chat_id, const char *user_id, store_member *out);
int store_member_set_role(store_t *s, const char *chat_id, const char *user_id, store_role role);
int store_member_remove(store_t *s, const char *chat_id, const char *user_id);
/* Move cursors forward: each is set to max(current, given); 0 leaves it.
 * Cursors never move backwards. STORE_ENOTFOUND if not a member. */
int store_member_advance(store_t *s, const char *chat_id, const char *user_id,
                         uint64_t delivered_seq, uint64_t read_seq);
/* Members of a chat, ordered by user_id. */
int store_members_of_chat(store_t *s, const char *chat_id, store_member **out, size_t *n);
/* Memberships of a user (one record per chat), ordered by chat_id. */
int store_chats_of_user(store_t *s, const char *user_id, store_member **out, size_t *n);

/* --------------------------------------------------------------- messages */

typedef struct {
    char *chat_id;
    uint64_t seq; /* per-chat, strictly increasing; 0 on put = assign next */
    char *server_id;
    char *sender;
    char *client_msg_id; /* unique per sender */
    int64_t server_ts;
    uint8_t *body; /* opaque ciphertext (or an encoded SystemEvent) */
    size_t body_len;
    char *media_id; /* may be NULL */
    int64_t expires_at; /* 0 = never */
    int kind; /* EnvelopeKind: STORE_KIND_CHAT, _SYSTEM or _TOMBSTONE */
    char *sender_device; /* the sender's device id (schema 3); NULL or "" = none */
    char *deleted_by; /* TOMBSTONE (schema 4): who deleted it; NULL otherwise */
    int64_t deleted_at; /* TOMBSTONE: when, ms since the epoch; 0 otherwise */
} store_message;

/* store_message.kind (the wire's EnvelopeKind). */
#define STORE_KIND_CHAT 1
#define STORE_KIND_SYSTEM 2
#define STORE_KIND_TOMBSTONE 3 /* a CHAT message deleted for everyone */
void store_message_free(store_message *m);
void store_message_array_free(store_message *a, size_t n);

/*
 * Store a message. The chat must exist (STORE_ENOTFOUND otherwise).
 * seq == 0: the store assigns the chat's next seq and writes it into m->seq.
 * seq  > 0: must be above every stored seq of the chat, else STORE_EINVAL.
 * A second put with the same (sender, client_msg_id) stores nothing and
 * returns STORE_EDUP, with m->seq and m->server_id (reallocated) set to the
 * stored message's. Updates the chat's last_seq and last_message_at.
 */
int store_message_put(store_t *s, store_message *m);

/*
 * Append a message: the store is the sequencer. m->seq must be 0 (else
 * STORE_EINVAL); the rest is store_message_put with seq == 0, whose contract,
 * the same on every backend and across any number of connections,
 * processes and (MongoDB) nodes on one store, is:
 *  - STORE_OK: the message is stored once with the chat's next seq
 *    (last_seq + 1), written into m->seq; per-chat seqs have no gaps (a
 *    failed or rolled-back append consumes no seq) and a seq becomes
 *    visible to readers only together with or after every lower seq of the
 *    chat (commit order = seq order).
 *  - STORE_EDUP: (sender, client_msg_id) is already stored (a retry, from
 *    any connection, process or node, before or after a restart): nothing
 *    is stored; m->seq and m->server_id (reallocated) are the original's.
 *  - STORE_ENOTFOUND: no such chat (unless the retry rule above applies).
 *  - any other error: nothing stored, m->seq is left 0.
 * Inside store_begin/commit the seq is the one the commit makes visible.
 * Through the writer, use STORE_OP_MESSAGE_PUT with seq 0 (store_writer.h).
 */
int store_message_append(store_t *s, store_message *m);
int store_message_get(store_t *s, const char *chat_id, uint64_t seq, store_message *out);
int store_message_get_by_client_id(store_t *s, const char *sender, const char *client_msg_id,
                                   store_message *out);
/* Messages of chat_id with seq > after_seq, ascending, at most limit. */
int store_messages_after(store_t *s, const char *chat_id, uint64_t after_seq, size_t limit,
                         store_message **out, size_t *n);
/* The highest stored seq of every chat (for the broker's in-memory counters):
 * parallel arrays of *n chat ids (free each and the array) and seqs. */
int store_chat_last_seqs(store_t *s, char ***chat_ids, uint64_t **seqs, size_t *n);
/* Delete messages whose expires_at is in (0, now]; *deleted counts them. */
int store_messages_expire(store_t *s, int64_t now, size_t *deleted);
/*
 * Delete for everyone: turn message seq of chat_id into a tombstone in one
 * write: kind STORE_KIND_TOMBSTONE, body and media_id cleared, deleted_by
 * and deleted_at set; chat_id, seq, server_id, sender, sender_device,
 * client_msg_id, server_ts and expires_at are kept (dedup and ordering
 * hold). Who may delete is the caller's business (the broker plugin).
 * STORE_ENOTFOUND: no such message (never stored, or expired);
 * STORE_EINVAL: a SYSTEM message (never deletable), or seq 0 / above
 * INT64_MAX, or deleted_at < 0. A message that already is a tombstone is
 * left as it is: STORE_OK (idempotent; the first deleter stays recorded).
 * SQLite overwrites the freed bytes (secure_delete, docs/store.md).
 */
int store_message_tombstone(store_t *s, const char *chat_id, uint64_t seq, const char *deleted_by,
                            int64_t deleted_at);

/* ------------------------------------------------------------------ media */

typedef struct {
    char *media_id;
    char *owner;
    uint64_t size;
    uint8_t sha256[STORE_SHA256_LEN]; /* of the stored ciphertext */
    char *content_type;
    char *backend_key; /* object key in the blob backend */
    int64_t created_at;
    int64_t expires_at; /* 0 = never */
} store_media;
void store_media_free(store_media *m);
void store_media_array_free(store_media *a, size_t n);

int store_media_put(store_t *s, const store_media *m); /* STORE_EEXIST if present */
int store_media_get(store_t *s, const char *media_id, store_media *out);
int store_media_delete(store_t *s, const char *media_id);
/* Media with expires_at in (0, now], at most limit. */
int store_media_expired(store_t *s, int64_t now, size_t limit, store_media **out, size_t *n);

/* ------------------------------------------------- enumeration (admin) */
/* For parley-admin (tools/): walk every record of a store, page by page.
 * Not for hot paths. A backend without them returns STORE_EINVAL. */

/* Chats with chat_id > after (NULL or "" = from the first), ascending by
 * chat_id, at most limit (capped at STORE_PAGE_MAX); free the array with
 * store_chat_array_free. last_seq/last_message_at are the stored values. */
int store_chats_list(store_t *s, const char *after, size_t limit, store_chat **out, size_t *n);
void store_chat_array_free(store_chat *a, size_t n);
/* Every one-time prekey of a user (every device; each record names its
 * device_id), ascending by device_id then key_id, without removing them;
 * free with store_prekey_array_free. */
int store_otpk_list(store_t *s, const char *user_id, store_prekey **out, size_t *n);
void store_prekey_array_free(store_prekey *a, size_t n);
/* The previous signed prekey of a device (kept until replaced again);
 * STORE_ENOTFOUND if there is none. */
int store_signed_prekey_get_previous(store_t *s, const char *user_id, const char *device_id,
                                     store_prekey *out);
/* Media with media_id > after (NULL or "" = from the first), ascending by
 * media_id, at most limit (capped at STORE_PAGE_MAX). */
int store_media_list(store_t *s, const char *after, size_t limit, store_media **out, size_t *n);
/* Raise a chat's last_seq and last_message_at to at least the given values
 * (never lowers them): a copied chat keeps its counters even when its newest
 * messages expired. STORE_ENOTFOUND if no such chat. */
int store_chat_raise_seq(store_t *s, const char *chat_id, uint64_t last_seq,
                         int64_t last_message_at);

#ifdef __cplusplus
}
#endif
#endif
