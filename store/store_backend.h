/*
 * store_backend.h - internal: the contract between store.c (public entry
 * points) and a store backend (store_sqlite.c, store_mongo.c).
 *
 * A backend defines its own connection struct whose FIRST member is a
 * `struct store`, fills `vt` with its function table, and returns the
 * embedded `struct store *` from its open function. store.c checks every
 * argument (NULL, empty ids, enum values, sizes; see docs/store.md
 * "Limits") before it dispatches, so a backend function receives:
 *   - s non-NULL, every required id non-NULL and non-empty (<= STORE_ID_MAX),
 *   - valid enum values, out-pointers non-NULL and zeroed by store.c,
 *   - s->err already cleared.
 * Device ids (prekeys, store.h) arrive as "" for the implicit device, never
 * NULL.
 * A backend writes a human-readable message with store__set_error() before
 * it returns STORE_EIO / STORE_EUNAVAIL / STORE_EINVAL (and may for others).
 * Semantics of each function are those of the same-named function in
 * store.h; the conformance suite (tests/store/) is the arbiter.
 * A write that fails changes nothing, also inside store_begin/commit (the
 * surrounding transaction stays usable): the async writer relies on it to
 * keep one bad op from poisoning its batch.
 */
#ifndef PARLEY_STORE_BACKEND_H
#define PARLEY_STORE_BACKEND_H

#include "store.h"

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Limits enforced by store.c for every backend (docs/store.md "Limits"). */
#define STORE_ID_MAX 255                 /* bytes of any text id */
#define STORE_TEXT_MAX (64 * 1024)       /* name, description, content_type, ... */
#define STORE_SETTINGS_MAX (1024 * 1024) /* chat settings text */
#define STORE_BODY_MAX (8 * 1024 * 1024) /* message body bytes */
#define STORE_OTPK_BATCH_MAX 10000       /* one-time prekeys per store_otpk_add */
#define STORE_PAGE_MAX 10000             /* limit of messages_after / media_expired */

struct store_vtable {
    const char *name;   /* "sqlite", "mongodb" */

    void (*close)(store_t *s);   /* frees the connection (never NULL s) */
    /* Any thread, while the connection is open. */
    void (*checkpoint_stats)(store_t *s, store_checkpoint_stats *out);
    int (*begin)(store_t *s);
    int (*commit)(store_t *s);
    int (*rollback)(store_t *s);

    int (*user_put)(store_t *s, const store_user *u);
    int (*user_set_key)(store_t *s, const char *user_id, const uint8_t key[STORE_KEY_LEN],
                        int64_t updated_at);
    int (*user_get)(store_t *s, const char *user_id, store_user *out);
    int (*users_changed_since)(store_t *s, int64_t since, store_user **out, size_t *n);
    int (*user_get_fold)(store_t *s, const char *user_id, store_user *out);
    int (*user_set_status)(store_t *s, const char *user_id, store_user_status status,
                           int64_t updated_at);
    int (*user_delete)(store_t *s, const char *user_id, int64_t now);
    int (*users_list)(store_t *s, const char *after, size_t limit, store_user **out, size_t *n);

    int (*invite_put)(store_t *s, const store_invite *i);
    int (*invite_get)(store_t *s, const char *invite_id, store_invite *out);
    int (*invite_use)(store_t *s, const char *invite_id, const char *user_id, int64_t now);
    int (*invites_list)(store_t *s, const char *after, size_t limit, store_invite **out, size_t *n);
    int (*invite_delete)(store_t *s, const char *invite_id);

    /* signed_prekey_put / otpk_add: the records' device_id is never NULL
     * (store.c passes copies with "" for NULL). */
    int (*signed_prekey_put)(store_t *s, const store_prekey *p);
    int (*signed_prekey_get)(store_t *s, const char *user_id, const char *device_id,
                             store_prekey *out);
    int (*otpk_add)(store_t *s, const store_prekey *keys, size_t n);
    int (*otpk_pop)(store_t *s, const char *user_id, const char *device_id, store_prekey *out);
    int (*otpk_count)(store_t *s, const char *user_id, const char *device_id, size_t *count);
    int (*otpk_clear)(store_t *s, const char *user_id);
    int (*prekeys_delete_device)(store_t *s, const char *user_id, const char *device_id);
    int (*prekeys_move_device)(store_t *s, const char *user_id, const char *from, const char *to);

    int (*user_set_devices)(store_t *s, const char *user_id, uint64_t expect_version,
                            uint64_t version, const uint8_t *list, size_t list_len,
                            const uint8_t sig[STORE_SIG_LEN], int64_t updated_at);
    int (*link_put)(store_t *s, const store_link *l);
    int (*link_get)(store_t *s, const char *code, store_link *out);
    int (*link_delete)(store_t *s, const char *code);
    int (*links_delete_device)(store_t *s, const char *user_id, const char *device_id);
    int (*link_count)(store_t *s, const char *user_id, int64_t now, size_t *count);
    int (*links_expire)(store_t *s, int64_t now, size_t *deleted);

    int (*chat_put)(store_t *s, const store_chat *c);
    int (*chat_update)(store_t *s, const store_chat *c);
    int (*chat_get)(store_t *s, const char *chat_id, store_chat *out);
    int (*chat_delete)(store_t *s, const char *chat_id);

    int (*member_put)(store_t *s, const store_member *m);
    int (*member_get)(store_t *s, const char *chat_id, const char *user_id, store_member *out);
    int (*member_set_role)(store_t *s, const char *chat_id, const char *user_id, store_role role);
    int (*member_remove)(store_t *s, const char *chat_id, const char *user_id);
    int (*member_advance)(store_t *s, const char *chat_id, const char *user_id,
                          uint64_t delivered_seq, uint64_t read_seq);
    int (*members_of_chat)(store_t *s, const char *chat_id, store_member **out, size_t *n);
    int (*chats_of_user)(store_t *s, const char *user_id, store_member **out, size_t *n);

    int (*message_put)(store_t *s, store_message *m);
    /* Optional: put msgs[0..n) in order, as n message_put calls would, each
     * result in rcs[i]. Entries whose rcs[i] is not STORE_OK on entry failed
     * store.c's checks: skip them. Called inside store_begin/commit (the
     * writer's batch). A backend failure may be reported for every message
     * of the run (SQLite writes each chat's last seq once, at the end of the
     * run); the caller then rolls the batch back. NULL:
     * store.c loops over message_put. */
    void (*message_put_many)(store_t *s, store_message *const *msgs, int *rcs, size_t n);
    int (*message_get)(store_t *s, const char *chat_id, uint64_t seq, store_message *out);
    int (*message_get_by_client_id)(store_t *s, const char *sender, const char *client_msg_id,
                                    store_message *out);
    int (*messages_after)(store_t *s, const char *chat_id, uint64_t after_seq, size_t limit,
                          store_message **out, size_t *n);
    int (*chat_last_seqs)(store_t *s, char ***chat_ids, uint64_t **seqs, size_t *n);
    int (*messages_expire)(store_t *s, int64_t now, size_t *deleted);
    int (*message_tombstone)(store_t *s, const char *chat_id, uint64_t seq, const char *deleted_by,
                             int64_t deleted_at);

    int (*media_put)(store_t *s, const store_media *m);
    int (*media_get)(store_t *s, const char *media_id, store_media *out);
    int (*media_delete)(store_t *s, const char *media_id);
    int (*media_expired)(store_t *s, int64_t now, size_t limit, store_media **out, size_t *n);

    /* Enumeration for parley-admin (store.h "enumeration"); NULL when a
     * backend lacks them (store.c then returns STORE_EINVAL). */
    int (*chats_list)(store_t *s, const char *after, size_t limit, store_chat **out, size_t *n);
    int (*otpk_list)(store_t *s, const char *user_id, store_prekey **out, size_t *n);
    int (*signed_prekey_get_previous)(store_t *s, const char *user_id, const char *device_id,
                                      store_prekey *out);
    int (*media_list)(store_t *s, const char *after, size_t limit, store_media **out, size_t *n);
    int (*chat_raise_seq)(store_t *s, const char *chat_id, uint64_t last_seq,
                          int64_t last_message_at);
};

/* The common head of every backend connection. */
struct store {
    const struct store_vtable *vt;
    char err[256];      /* last error message, "" if none */
};

/* The vtable of a backend that implements every operation, each as a function
 * named PREFIX_OP (sq_user_put, mg_user_put, ...): one list of the operations
 * for all backends. */
#define STORE_BACKEND_VTABLE(prefix, backend_name) \
    { \
        .name = backend_name, \
        .close = prefix##_close, \
        .checkpoint_stats = prefix##_checkpoint_stats, \
        .begin = prefix##_begin, \
        .commit = prefix##_commit, \
        .rollback = prefix##_rollback, \
        .user_put = prefix##_user_put, \
        .user_set_key = prefix##_user_set_key, \
        .user_get = prefix##_user_get, \
        .users_changed_since = prefix##_users_changed_since, \
        .user_get_fold = prefix##_user_get_fold, \
        .user_set_status = prefix##_user_set_status, \
        .user_delete = prefix##_user_delete, \
        .users_list = prefix##_users_list, \
        .invite_put = prefix##_invite_put, \
        .invite_get = prefix##_invite_get, \
        .invite_use = prefix##_invite_use, \
        .invites_list = prefix##_invites_list, \
        .invite_delete = prefix##_invite_delete, \
        .signed_prekey_put = prefix##_signed_prekey_put, \
        .signed_prekey_get = prefix##_signed_prekey_get, \
        .otpk_add = prefix##_otpk_add, \
        .otpk_pop = prefix##_otpk_pop, \
        .otpk_count = prefix##_otpk_count, \
        .otpk_clear = prefix##_otpk_clear, \
        .prekeys_delete_device = prefix##_prekeys_delete_device, \
        .prekeys_move_device = prefix##_prekeys_move_device, \
        .user_set_devices = prefix##_user_set_devices, \
        .link_put = prefix##_link_put, \
        .link_get = prefix##_link_get, \
        .link_delete = prefix##_link_delete, \
        .links_delete_device = prefix##_links_delete_device, \
        .link_count = prefix##_link_count, \
        .links_expire = prefix##_links_expire, \
        .chat_put = prefix##_chat_put, \
        .chat_update = prefix##_chat_update, \
        .chat_get = prefix##_chat_get, \
        .chat_delete = prefix##_chat_delete, \
        .member_put = prefix##_member_put, \
        .member_get = prefix##_member_get, \
        .member_set_role = prefix##_member_set_role, \
        .member_remove = prefix##_member_remove, \
        .member_advance = prefix##_member_advance, \
        .members_of_chat = prefix##_members_of_chat, \
        .chats_of_user = prefix##_chats_of_user, \
        .message_put = prefix##_message_put, \
        .message_put_many = prefix##_message_put_many, \
        .message_get = prefix##_message_get, \
        .message_get_by_client_id = prefix##_message_get_by_client_id, \
        .messages_after = prefix##_messages_after, \
        .chat_last_seqs = prefix##_chat_last_seqs, \
        .messages_expire = prefix##_messages_expire, \
        .message_tombstone = prefix##_message_tombstone, \
        .media_put = prefix##_media_put, \
        .media_get = prefix##_media_get, \
        .media_delete = prefix##_media_delete, \
        .media_expired = prefix##_media_expired, \
        .chats_list = prefix##_chats_list, \
        .otpk_list = prefix##_otpk_list, \
        .signed_prekey_get_previous = prefix##_signed_prekey_get_previous, \
        .media_list = prefix##_media_list, \
        .chat_raise_seq = prefix##_chat_raise_seq, \
    }

/* Backends. Each opens a connection from the full URI and the (defaulted,
 * never NULL) options; on failure it returns the error, sets *out NULL and,
 * when errbuf is non-NULL, writes a message into errbuf (errlen bytes). */
int store_sqlite__open(const char *uri, const store_options *opts, store_t **out, char *errbuf,
                       size_t errlen);
int store_mongo__open(const char *uri, const store_options *opts, store_t **out, char *errbuf,
                      size_t errlen);

/* For the writer: put a run of messages in order inside the open
 * transaction (checks of store_message_put per message, then the backend's
 * message_put_many or a loop). rcs[i] gets each message's result. */
void store__message_put_many(store_t *s, store_message *const *msgs, int *rcs, size_t n);

/* printf into s->err (truncated to fit). */
void store__set_error(store_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* strdup that maps NULL to NULL; returns NULL on out-of-memory too (check
 * src != NULL to tell them apart). */
char *store__strdup(const char *src);

#ifdef __cplusplus
}
#endif
#endif
