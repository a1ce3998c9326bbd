/*
 * store_bson.h - internal: the pure mapping between store records and the
 * BSON documents of the MongoDB backend (store_mongo.c), plus the filter,
 * update and index documents that backend sends. No I/O: every function
 * here only builds or reads bson_t values, so tests/mongo/ checks them
 * without a server.
 *
 * Document shapes (docs/operations.md "MongoDB layout"):
 *   users            {_id: user_id, user_id, id_fold, identity_key: bin, created_at,
 *                     updated_at, status, devices_version?, devices_list?: bin,
 *                     devices_sig?: bin}   (id_fold: ids_user_fold(user_id), unique;
 *                     status 0 active, 1 disabled, 2 deleted; absent = 0; the device
 *                     list fields absent = the implicit list, version 0)
 *   invites          {_id: invite_id, invite_id, created_at, expires_at, used_at,
 *                     used_by?, note?}
 *   signed_prekeys   {_id: spk_doc_id(user_id, device_id), user_id, device_id,
 *                     current: PK, previous: PK}
 *                    PK = {key_id, public_key: bin, signature: bin, created_at}
 *   one_time_prekeys {user_id, device_id, key_id, public_key: bin, created_at}
 *                    (device_id "" = the implicit device; documents written before
 *                     schema 3 get device_id "" at open)
 *   link_codes       {_id: code, code, user_id, device_id, device_key: bin, name?,
 *                     created_at, expires_at}
 *   chats            {_id: chat_id, chat_id, type, name?, description?, created_by?,
 *                     settings?, created_at, last_message_at, last_seq}
 *   members          {chat_id, user_id, role, joined_at, joined_seq, delivered_seq, read_seq}
 *   messages         {_id: server_id, chat_id, seq, server_id, sender, client_msg_id,
 *                     server_ts, body: bin, media_id?, expires_at, kind, sender_device?,
 *                     deleted_by?, deleted_at?}  (kind 3 = a tombstone: body empty, no
 *                     media_id; deleted_by/deleted_at absent before issue 17 = never
 *                     deleted)
 *   media            {_id: media_id, media_id, owner, size, sha256: bin, content_type?,
 *                     backend_key?, created_at, expires_at}
 * Binary values are BSON binary subtype 0 (generic); every time, seq,
 * size and key id is an int64 (BSON has no unsigned type: values above
 * INT64_MAX are refused with false/STORE_EINVAL). Optional text fields are
 * omitted when NULL. Readers accept int32/int64/double for numbers.
 *
 * Conventions: *_to_doc appends to an initialised bson_t and returns false
 * when a value cannot be represented (NULL required id, number too large)
 * or BSON refused it (document over 16 MiB). *_from_doc fills a zeroed
 * record and returns STORE_OK, STORE_EIO (missing or mistyped field; a
 * message in err) or STORE_ENOMEM; on error the record is freed and zeroed.
 */
#ifndef PARLEY_STORE_BSON_H
#define PARLEY_STORE_BSON_H

#include <bson/bson.h>

#include "store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Collection names. */
#define STORE_BSON_USERS "users"
#define STORE_BSON_SIGNED_PREKEYS "signed_prekeys"
#define STORE_BSON_OTPKS "one_time_prekeys"
#define STORE_BSON_CHATS "chats"
#define STORE_BSON_MEMBERS "members"
#define STORE_BSON_MESSAGES "messages"
#define STORE_BSON_MEDIA "media"
#define STORE_BSON_INVITES "invites"
#define STORE_BSON_LINKS "link_codes"

/* Indexes of earlier schemas that open drops ({collection, name} pairs,
 * NULL-terminated): one_time_prekeys.user_id_key_id (unique per user; schema
 * 3 makes key ids unique per device). */
#define STORE_BSON_OBSOLETE_INDEXES {STORE_BSON_OTPKS, "user_id_key_id", NULL}

/* The collections, NULL-terminated, in creation order. */
extern const char *const store_bson__collections[];

/* ----------------------------------------------------------- records */

bool store_bson__user_to_doc(const store_user *u, bson_t *doc);
int store_bson__user_from_doc(const bson_t *doc, store_user *out, char *err, size_t errlen);

/* user_set_devices, a compare-and-set: filter {_id: u, status: {$ne: 2},
 * devices_version: expect} (expect 0 also matches documents without the
 * field), update {$set: {devices_version, devices_list: bin, devices_sig:
 * bin, updated_at}}. false if version <= expect or a value is missing. */
bool store_bson__user_devices_query(const char *user_id, uint64_t expect_version, uint64_t version,
                                    const uint8_t *list, size_t list_len,
                                    const uint8_t sig[STORE_SIG_LEN], int64_t updated_at,
                                    bson_t *filter, bson_t *update);

/* {id_fold: ids_user_fold(user_id)}: the case rule's lookup (unique index
 * "id_fold"). false if user_id is too long. */
bool store_bson__user_fold_filter(const char *user_id, bson_t *filter);
/* user_set_status: filter {_id: u, status: {$ne: 2}}, update
 * {$set: {status: s, updated_at: t}} (a tombstone never comes back). */
bool store_bson__user_status_query(const char *user_id, store_user_status status,
                                   int64_t updated_at, bson_t *filter, bson_t *update);
/* user_delete: {$set: {status: 2, identity_key: 32 zero bytes, updated_at: now,
 * devices_version: 0}, $unset: {devices_list, devices_sig}} */
bool store_bson__user_tombstone_update(int64_t now, bson_t *update);
/* user_delete: the user's group memberships {user_id: u, chat_id: {$regex: "^g:"}} */
bool store_bson__user_groups_filter(const char *user_id, bson_t *filter);

bool store_bson__invite_to_doc(const store_invite *i, bson_t *doc);
int store_bson__invite_from_doc(const bson_t *doc, store_invite *out, char *err, size_t errlen);
/* invite_use: filter {_id: id, used_at: 0, expires_at: {$gt: now}}, update
 * {$set: {used_at: now, used_by: u}} */
bool store_bson__invite_use_query(const char *invite_id, const char *user_id, int64_t now,
                                  bson_t *filter, bson_t *update);

/* A prekey as a sub-document (signed: with signature) or as a one-time
 * prekey document (with user_id, without signature). */
bool store_bson__signed_prekey_to_doc(const store_prekey *p, bson_t *doc);
/* Reads a PK sub-document; user_id and device_id are copied into out. */
int store_bson__signed_prekey_from_doc(const bson_t *doc, const char *user_id,
                                       const char *device_id, store_prekey *out, char *err,
                                       size_t errlen);
/* The _id of a device's signed_prekeys document: user_id for the implicit
 * device "" (the documents of schema 2 keep their ids), else
 * user_id "/" device_id ('/' is in no user id). false if it does not fit. */
bool store_bson__spk_doc_id(const char *user_id, const char *device_id, char *out, size_t outlen);
/* {user_id: u, device_id: d} (NULL d = "") */
bool store_bson__otpk_device_filter(const char *user_id, const char *device_id, bson_t *filter);
bool store_bson__otpk_to_doc(const store_prekey *p, bson_t *doc);
int store_bson__otpk_from_doc(const bson_t *doc, store_prekey *out, char *err, size_t errlen);

bool store_bson__link_to_doc(const store_link *l, bson_t *doc);
int store_bson__link_from_doc(const bson_t *doc, store_link *out, char *err, size_t errlen);
/* link_count: {user_id: u, expires_at: {$gt: now}} */
bool store_bson__link_count_filter(const char *user_id, int64_t now, bson_t *filter);
/* links_expire: {expires_at: {$lte: now}} */
bool store_bson__links_expired_filter(int64_t now, bson_t *filter);

bool store_bson__chat_to_doc(const store_chat *c, bson_t *doc);
int store_bson__chat_from_doc(const bson_t *doc, store_chat *out, char *err, size_t errlen);

bool store_bson__member_to_doc(const store_member *m, bson_t *doc);
int store_bson__member_from_doc(const bson_t *doc, store_member *out, char *err, size_t errlen);

/* The message must carry its seq (> 0) and server_id. */
bool store_bson__message_to_doc(const store_message *m, bson_t *doc);
int store_bson__message_from_doc(const bson_t *doc, store_message *out, char *err, size_t errlen);

bool store_bson__media_to_doc(const store_media *m, bson_t *doc);
int store_bson__media_from_doc(const bson_t *doc, store_media *out, char *err, size_t errlen);

/* ------------------------------------------- filters, updates, options */

/* {_id: id} */
bool store_bson__id_filter(const char *id, bson_t *filter);
/* {chat_id: c, user_id: u} */
bool store_bson__member_filter(const char *chat_id, const char *user_id, bson_t *filter);
/* {chat_id: c, seq: seq} */
bool store_bson__message_filter(const char *chat_id, uint64_t seq, bson_t *filter);
/* message_tombstone: the filter {chat_id: c, seq: seq, kind: 1} (only a
 * CHAT message changes) and the update {$set: {kind: 3, body: bin "",
 * deleted_by, deleted_at}, $unset: {media_id: ""}}. */
bool store_bson__tombstone_filter(const char *chat_id, uint64_t seq, bson_t *filter);
bool store_bson__tombstone_update(const char *deleted_by, int64_t deleted_at, bson_t *update);
/* {sender: s, client_msg_id: id} */
bool store_bson__client_id_filter(const char *sender, const char *client_msg_id, bson_t *filter);

/* users_changed_since: filter {updated_at: {$gte: since}}, opts {sort: {updated_at: 1, _id: 1}} */
bool store_bson__users_since_query(int64_t since, bson_t *filter, bson_t *opts);

/* user_set_key: {$set: {identity_key: bin, updated_at: t, devices_version: 0},
 * $unset: {devices_list, devices_sig}} (a new account key drops the list) */
bool store_bson__user_set_key_update(const uint8_t key[STORE_KEY_LEN], int64_t updated_at,
                                     bson_t *update);

/* signed_prekey_put, an upsert of {_id: spk_doc_id} with the update pipeline
 * [{$set: {user_id: u, device_id: d, previous: "$current", current: {$literal: PK}}}]:
 * one atomic statement keeps the replaced key as "previous". */
bool store_bson__signed_prekey_update(const store_prekey *p, bson_t *pipeline);

/* otpk_add inside a transaction (where a duplicate key would abort it):
 * {user_id: u, device_id: d, key_id: {$in: [k0, k1, ...]}} over keys[0..n) (all of
 * user u and device d),
 * counted first. */
bool store_bson__otpk_keys_filter(const store_prekey *keys, size_t n, bson_t *filter);
/* otpk_pop: find_and_modify on {user_id: u, device_id: d} with sort {key_id: 1}, remove. */
bool store_bson__otpk_pop_sort(bson_t *sort);

/* chat_update: {$set: {name, description, settings}} for non-NULL ones and
 * {$unset: {...}} for NULL ones. */
bool store_bson__chat_update(const store_chat *c, bson_t *update);

/* Seq assignment (message_put with seq 0): find_and_modify on {_id: chat}
 * with {$inc: {last_seq: 1}, $max: {last_message_at: ts}}, returning the
 * document as it was: the message's seq is its last_seq + 1. */
bool store_bson__seq_alloc_update(int64_t server_ts, bson_t *update);
/* Seq assignment for a run of n appends to one chat (message_put_many):
 * find_and_modify on {_id: chat} with {$inc: {last_seq: n}, $max:
 * {last_message_at: max_ts}}, returning the document as it was: the
 * messages get its last_seq + 1 .. + n. n must be 1..INT64_MAX. */
bool store_bson__seq_alloc_n_update(uint64_t n, int64_t max_ts, bson_t *update);
/* The duplicates of a run of message puts in one find: filter
 * {$or: [{sender: s0, client_msg_id: c0}, ...]} (n >= 1; served by the
 * unique index sender_client_msg_id) and opts {projection: {_id: 0, sender: 1,
 * client_msg_id: 1, seq: 1, server_id: 1}}. */
bool store_bson__client_ids_query(const char *const *senders, const char *const *client_msg_ids,
                                  size_t n, bson_t *filter, bson_t *opts);
/* Read one document of that query; the strings point into doc. STORE_OK or
 * STORE_EIO (message in err) when a field is missing or mistyped. */
int store_bson__dup_from_doc(const bson_t *doc, const char **sender, const char **client_msg_id,
                             uint64_t *seq, const char **server_id, char *err, size_t errlen);
/* Explicit seq (message_put with seq > 0): update_one with the filter
 * {_id: chat, last_seq: {$lt: seq}} and {$set: {last_seq: seq},
 * $max: {last_message_at: ts}}; no match means the chat is missing or
 * seq is not above its last one. */
bool store_bson__seq_explicit(const char *chat_id, uint64_t seq, int64_t server_ts, bson_t *filter,
                              bson_t *update);

/* chat_raise_seq: {$max: {last_seq: s, last_message_at: t}} */
bool store_bson__raise_seq_update(uint64_t last_seq, int64_t last_message_at, bson_t *update);
/* chats_list / media_list: {_id: {$gt: after}}, {sort: {_id: 1}, limit: n} */
bool store_bson__page_query(const char *after, size_t limit, bson_t *filter, bson_t *opts);

/* member_advance: {$max: {delivered_seq: d, read_seq: r}} for the non-zero
 * ones; false (nothing to build) when both are 0. */
bool store_bson__member_advance_update(uint64_t delivered_seq, uint64_t read_seq, bson_t *update);
/* member_set_role: {$set: {role: r}} */
bool store_bson__member_role_update(store_role role, bson_t *update);

/* messages_after: {chat_id: c, seq: {$gt: after}}, {sort: {seq: 1}, limit: n} */
bool store_bson__messages_after_query(const char *chat_id, uint64_t after_seq, size_t limit,
                                      bson_t *filter, bson_t *opts);
/* messages_expire / media_expired: {expires_at: {$gt: 0, $lte: now}} */
bool store_bson__expired_filter(int64_t now, bson_t *filter);
/* media_expired options: {sort: {expires_at: 1}, limit: n} */
bool store_bson__media_expired_opts(size_t limit, bson_t *opts);

/* The createIndexes command for one collection:
 * {createIndexes: name, indexes: [{key: {...}, name: "...", unique: true?}, ...]}.
 * A unique index on "id_fold" is partial ({id_fold: {$type: "string"}}):
 * user documents written before the field existed do not collide.
 * false for a collection without secondary indexes (users has updated_at,
 * so only chats and invites return false). */
bool store_bson__create_indexes_cmd(const char *collection, bson_t *cmd);

#ifdef __cplusplus
}
#endif
#endif
