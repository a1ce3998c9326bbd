/*
 * lstore.h - the client's local state: one SQLite database (WAL) in the home
 * directory, mode 0600. Tables: meta (key/value), contacts (known identity
 * keys, trust on first use), chats (cursors), messages (decrypted history),
 * outbox (ciphertext waiting for its STORED receipt), prekeys and sessions
 * (end-to-end encryption state, private parts never leave this file).
 *
 * Every function returns 0 on success and -1 on a SQLite failure (the
 * message is in lstore_error()), unless documented otherwise.
 */
#ifndef PARLEY_LSTORE_H
#define PARLEY_LSTORE_H

#include <stddef.h>
#include <stdint.h>

typedef struct lstore lstore;

/* Open or create path (mode 0600). NULL on failure (errbuf filled). */
lstore *lstore_open(const char *path, char *errbuf, size_t errlen);
void lstore_close(lstore *s);
const char *lstore_error(lstore *s);

/* One transaction around several writes. */
int lstore_begin(lstore *s);
int lstore_commit(lstore *s);
void lstore_rollback(lstore *s);

/* meta: small values by key. get returns 1 found, 0 missing, -1 error;
 * *out is malloc'd (NUL-terminated past len) and owned by the caller. */
int lstore_meta_get(lstore *s, const char *key, uint8_t **out, size_t *len);
int lstore_meta_set(lstore *s, const char *key, const void *val, size_t len);
int lstore_meta_get_str(lstore *s, const char *key, char *out, size_t outlen); /* 1/0/-1 */
int lstore_meta_get_int(lstore *s, const char *key, int64_t *out);             /* 1/0/-1 */
int lstore_meta_set_int(lstore *s, const char *key, int64_t v);

/* contacts: the identity key seen for a user (32 bytes). get: 1/0/-1. */
int lstore_contact_get(lstore *s, const char *user, uint8_t ik[32]);
int lstore_contact_set(lstore *s, const char *user, const uint8_t ik[32]);

/* chats */
typedef struct {
    char chat_id[141];
    char name[129];
    int type;               /* 1 direct, 2 group */
    uint64_t last_seq;
    uint64_t synced_seq;
    uint64_t delivered_seq; /* local cursors (what the app acked) */
    uint64_t read_seq;
    uint64_t sent_delivered; /* what the broker has acknowledged knowing */
    uint64_t sent_read;
    int64_t last_message_at;
} lstore_chat;

/* get: 1 found, 0 missing, -1 error. */
int lstore_chat_get(lstore *s, const char *chat_id, lstore_chat *out);
/* Insert if missing (type, name), leaving an existing row untouched. */
int lstore_chat_ensure(lstore *s, const char *chat_id, int type, const char *name);
int lstore_chat_set_synced(lstore *s, const char *chat_id, uint64_t synced_seq, int64_t ts);
/* Raise last_seq / delivered_seq / read_seq / sent_* (never lowers). */
int lstore_chat_raise(lstore *s, const char *chat_id, const char *column, uint64_t v);
int lstore_chat_set_name(lstore *s, const char *chat_id, const char *name);
/* Walk chats (most recent first); fn returns non-zero to stop. */
int lstore_chat_each(lstore *s, int (*fn)(void *ud, const lstore_chat *c), void *ud);

/* messages */
typedef enum {
    LSTORE_MSG_RECEIVED = 0,
    LSTORE_MSG_OWN = 1,
    LSTORE_MSG_UNDECRYPTABLE = 2,
    LSTORE_MSG_SYSTEM = 3,
    LSTORE_MSG_HIDDEN = 4, /* protocol traffic (a sender-key distribution): not history */
    LSTORE_MSG_PENDING_KEY = 5, /* group message waiting for its sender key; body = ciphertext */
} lstore_msg_status;

typedef struct {
    const char *chat_id;
    uint64_t seq;
    const char *server_id;
    const char *sender;
    const char *client_msg_id;
    int64_t server_ts;
    int status;
    const uint8_t *body;
    size_t body_len;
    const char *media_id;  /* NULL: none */
    const uint8_t *media;  /* the packed MediaRef (secret key inside) */
    size_t media_len;
    /* Rich messages (rich.c). kind: parley_msg_kind. ref: the message a
     * NORMAL one replies to, or the target of a REACTION, EDIT or DELETE
     * (NULL: none). mentions: the user ids mentioned, one per line. */
    int kind;
    const char *ref_sender;
    const char *ref_cmid;
    const char *emoji;      /* REACTION */
    uint32_t timer_s;       /* TIMER */
    const char *mentions;
    int mentioned;          /* this home's user is among the mentions */
    int64_t expires_at;     /* ms since the epoch, 0: never */
    int64_t edited_at;      /* server_ts of the latest edit applied, 0: none */
    const char *deleted_by; /* kind DELETED: who deleted it */
    int64_t deleted_at;
} lstore_msg;

/* Message kinds as stored (the values of parley_msg_kind). */
enum {
    LSTORE_KIND_NORMAL = 0,
    LSTORE_KIND_REACTION = 1,
    LSTORE_KIND_EDIT = 2,
    LSTORE_KIND_DELETE = 3,
    LSTORE_KIND_TIMER = 4,
    LSTORE_KIND_UNSUPPORTED = 5,
    LSTORE_KIND_DELETED = 6,
};

/* Insert a message. Returns 1 inserted, 0 duplicate (server_id or
 * (sender, client_msg_id) already present), -1 error. */
int lstore_msg_insert(lstore *s, const lstore_msg *m);
/* 1 if a message (sender, client_msg_id) is stored, 0 if not, -1 error. */
int lstore_msg_exists(lstore *s, const char *sender, const char *client_msg_id);
/* Walk the PENDING_KEY messages of (chat_id, sender), oldest first; body is
 * the raw ciphertext. fn returns non-zero to stop. */
int lstore_msg_pending_each(lstore *s, const char *chat_id, const char *sender,
                            int (*fn)(void *ud, const lstore_msg *m), void *ud);
/* Replace a message's status and content (a pending message decrypted); with
 * sender and client_msg_id set, its rich columns too (lstore_msg_set_rich). */
int lstore_msg_update(lstore *s, const lstore_msg *m);
/* The packed MediaRef stored with a received or sent message that
 * references media_id: 1 found (*out malloc'd), 0 none, -1 error. */
int lstore_msg_media(lstore *s, const char *media_id, uint8_t **out, size_t *len);
/* An own message by client message id: 1 found (seq, server_id, chat_id
 * filled), 0 not, -1 error. */
int lstore_msg_own(lstore *s, const char *sender, const char *client_msg_id, uint64_t *seq,
                   char *server_id, size_t sid_len, char *chat_id, size_t chat_len);
/* 1 if client_msg_id waits in the outbox, 0 if not, -1 error. */
int lstore_outbox_has(lstore *s, const char *client_msg_id);
/* 1 if a message with this server id is stored, 0 if not, -1 error. */
int lstore_msg_has_server_id(lstore *s, const char *server_id);
/* The history of a chat: no HIDDEN rows, no actions (reactions, edits,
 * deletes: applied to their targets), nothing expired (expires_at at or
 * before the current time). */
int lstore_msg_each(lstore *s, const char *chat_id, int (*fn)(void *ud, const lstore_msg *m),
                    void *ud);
/* The message (sender, client_msg_id) of chat_id, any status: 1 found (fn
 * called with it), 0 not, -1 error. */
int lstore_msg_find(lstore *s, const char *chat_id, const char *sender, const char *client_msg_id,
                    void (*fn)(void *ud, const lstore_msg *m), void *ud);
/* Replace the text of the target (chat_id, sender, client_msg_id) by an
 * edit stamped edited_at whose seq is edit_seq, unless a later edit (a
 * higher seq) is applied already; edit_seq 0 is this device's own edit
 * not stored yet, applied at once. Returns 1 applied, 0 not, -1 error. */
int lstore_msg_edit(lstore *s, const char *chat_id, const char *sender, const char *client_msg_id,
                    const char *text, int64_t edited_at, uint64_t edit_seq);
/* Delete the target for everyone: its row becomes kind DELETED (status
 * readable, never undecryptable or pending) with no text, media,
 * mentions or reference, deleted_by / deleted_at set; its reactions and
 * the text of its edits are removed. An action row (a reaction, edit or
 * delete itself) keeps its kind and loses its content. 1 changed, 0 not
 * found or already deleted, -1 error. */
int lstore_msg_tombstone(lstore *s, const char *chat_id, const char *sender,
                         const char *client_msg_id, const char *deleted_by, int64_t deleted_at);
/* Set the rich columns of a stored row (sender, client_msg_id) from m
 * (kind, ref, emoji, timer_s, mentions, mentioned, expires_at). */
int lstore_msg_set_rich(lstore *s, const lstore_msg *m);
/* Walk the valid EDIT rows of chat_id targeting (sender, client_msg_id):
 * sent by that sender, not refused (HIDDEN). */
int lstore_msg_edits_each(lstore *s, const char *chat_id, const char *sender,
                          const char *client_msg_id, int (*fn)(void *ud, const lstore_msg *m),
                          void *ud);
/* Disappearing messages: every row whose expires_at <= now_ms (> 0)
 * becomes HIDDEN with no text, media, mentions or reference (the row stays
 * for de-duplication; secure_delete overwrites the freed content), and its
 * reactions are deleted. Returns how many rows expired, -1 on error. */
int lstore_msg_expire(lstore *s, int64_t now_ms);
/* 1 if some row has expired by now_ms (lstore_msg_expire would change
 * something), 0 if none, -1 on error: one read of the expires_at index. */
int lstore_msg_expiry_due(lstore *s, int64_t now_ms);

/* reactions: one per (target, user); seq decides (the highest wins; seq 0
 * is this device's own reaction not stored yet, applied at once). emoji ""
 * is a removal (kept, so that an older reaction does not come back).
 * Returns 1 applied, 0 an older one, -1 error. */
int lstore_reaction_set(lstore *s, const char *chat_id, const char *target_sender,
                        const char *target_cmid, const char *user, const char *emoji, uint64_t seq);
/* Walk the current reactions (emoji not "") of a target, oldest first. */
int lstore_reaction_each(lstore *s, const char *chat_id, const char *target_sender,
                         const char *target_cmid,
                         int (*fn)(void *ud, const char *user, const char *emoji), void *ud);

/* A chat's disappearing-messages timer, set by the timer message at seq
 * (the highest seq wins; 0: this device's own, applied at once). set:
 * 1 applied, 0 older, -1 error. get: 1, 0 no such chat, -1. */
int lstore_chat_timer_set(lstore *s, const char *chat_id, uint32_t timer_s, uint64_t seq);
int lstore_chat_timer_get(lstore *s, const char *chat_id, uint32_t *timer_s);
/* A query of the history (as lstore_msg_each: never HIDDEN rows, actions
 * or expired rows). chat_id NULL: every chat.
 * before_seq / since_seq 0: no bound, else seq < before_seq / seq > since_seq.
 * text non-NULL: only readable rows (received, own, system) whose body holds
 * text as a substring, ASCII case-insensitive (LIKE with %, _ and \ escaped).
 * limit 0: all, else the newest `limit` matches. Rows come oldest first: by
 * (seq, rowid) within a chat, by (server_ts, chat_id, seq) across chats. */
typedef struct {
    const char *chat_id;
    uint64_t before_seq;
    uint64_t since_seq;
    int64_t since_ts; /* 0: no bound, else server_ts >= since_ts (ms) */
    const char *text;
    uint64_t limit;
} lstore_msg_filter;
int lstore_msg_query(lstore *s, const lstore_msg_filter *f,
                     int (*fn)(void *ud, const lstore_msg *m), void *ud);

/* outbox */
typedef struct {
    const char *client_msg_id;
    const char *chat_id;
    const char *topic;
    const uint8_t *body;   /* ciphertext, published as is on every retry */
    size_t body_len;
    const uint8_t *plain;  /* what the user wrote, kept for the local history */
    size_t plain_len;
    int64_t created_at;
    int64_t last_attempt;  /* ms; 0 never published */
} lstore_outbox;

int lstore_outbox_add(lstore *s, const lstore_outbox *o);
/* get by client_msg_id: 1 found (fn called), 0 missing, -1 error. */
int lstore_outbox_get(lstore *s, const char *client_msg_id,
                      void (*fn)(void *ud, const lstore_outbox *o), void *ud);
int lstore_outbox_del(lstore *s, const char *client_msg_id);
int lstore_outbox_touch(lstore *s, const char *client_msg_id, int64_t now_ms);
/* Walk entries last attempted before older_than_ms (oldest first). */
int lstore_outbox_each(lstore *s, int64_t older_than_ms,
                       int (*fn)(void *ud, const lstore_outbox *o), void *ud);
int lstore_outbox_count(lstore *s);

/* Opaque key/value blobs for the end-to-end engine, by namespace and key
 * ("session", peer), ("prekey", id) ... get: 1/0/-1, *out malloc'd. */
int lstore_blob_get(lstore *s, const char *ns, const char *key, uint8_t **out, size_t *len);
int lstore_blob_set(lstore *s, const char *ns, const char *key, const void *val, size_t len);
int lstore_blob_del(lstore *s, const char *ns, const char *key);
int lstore_blob_count(lstore *s, const char *ns);
/* Delete every blob of a namespace. */
int lstore_blob_clear(lstore *s, const char *ns);
/* Walk the keys of a namespace (in key order); fn returns non-zero to stop. */
int lstore_blob_each(lstore *s, const char *ns,
                     int (*fn)(void *ud, const char *key, const uint8_t *v, size_t len), void *ud);

#endif
