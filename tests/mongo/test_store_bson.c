/*
 * test_store_bson.c - the MongoDB backend's BSON mapping (store/store_bson.c)
 * without a server: every record round-trips record -> BSON -> record, the
 * field types are the documented ones (binary subtype 0, int64 times), and
 * the filter/update/index documents are exactly the intended ones.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_bson.h"

/* Compare doc with the canonical extended JSON text want (whitespace-free
 * comparison after a round through libbson, so the types must match:
 * {"$numberLong": "1"} is an int64, {"$numberInt": "1"} an int32). */
static void assert_doc(const bson_t *doc, const char *want)
{
    bson_error_t err;
    bson_t *expect = bson_new_from_json((const uint8_t *)want, -1, &err);
    if (!expect)
        fail_msg("bad expected JSON (%s): %s", err.message, want);
    char *got_s = bson_as_canonical_extended_json(doc, NULL);
    char *want_s = bson_as_canonical_extended_json(expect, NULL);
    if (strcmp(got_s, want_s) != 0)
        fail_msg("document mismatch\n got: %s\nwant: %s", got_s, want_s);
    bson_free(got_s);
    bson_free(want_s);
    bson_destroy(expect);
}

/* Type of field key in doc (0 if absent). */
static bson_type_t type_of(const bson_t *doc, const char *key)
{
    bson_iter_t it;
    return bson_iter_init_find(&it, doc, key) ? bson_iter_type(&it) : (bson_type_t)0;
}

/* The string value of key (NULL if absent or not a string). */
static const char *str_of(const bson_t *doc, const char *key)
{
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, key) || !BSON_ITER_HOLDS_UTF8(&it))
        return NULL;
    return bson_iter_utf8(&it, NULL);
}

static bson_subtype_t subtype_of(const bson_t *doc, const char *key)
{
    bson_iter_t it;
    bson_subtype_t sub = (bson_subtype_t)0xff;
    uint32_t len;
    const uint8_t *data;
    assert_true(bson_iter_init_find(&it, doc, key));
    assert_int_equal(bson_iter_type(&it), BSON_TYPE_BINARY);
    bson_iter_binary(&it, &sub, &len, &data);
    return sub;
}

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(seed + i * 7);
}

/* ------------------------------------------------------------ records */

static void test_user_roundtrip(void **state)
{
    (void)state;
    store_user u = {.user_id = "alice", .created_at = 1700000000123, .updated_at = 1700000009999};
    fill(u.identity_key, sizeof u.identity_key, 3);
    bson_t doc = BSON_INITIALIZER;
    assert_true(store_bson__user_to_doc(&u, &doc));
    assert_int_equal(type_of(&doc, "created_at"), BSON_TYPE_INT64);
    assert_int_equal(type_of(&doc, "updated_at"), BSON_TYPE_INT64);
    assert_int_equal(subtype_of(&doc, "identity_key"), BSON_SUBTYPE_BINARY);

    store_user back;
    char err[128] = "";
    assert_int_equal(store_bson__user_from_doc(&doc, &back, err, sizeof err), STORE_OK);
    assert_string_equal(back.user_id, "alice");
    assert_memory_equal(back.identity_key, u.identity_key, STORE_KEY_LEN);
    assert_int_equal(back.created_at, u.created_at);
    assert_int_equal(back.updated_at, u.updated_at);
    store_user_free(&back);
    bson_destroy(&doc);
}

/* status and id_fold: written as int32 and the ASCII lower-case id; a
 * document without status (written before statuses) reads as active. */
static void test_user_status_documents(void **state)
{
    (void)state;
    store_user u = {.user_id = "Bob.X",
                    .created_at = 1,
                    .updated_at = 2,
                    .status = STORE_USER_DISABLED};
    bson_t doc = BSON_INITIALIZER;
    store_user back;
    char err[128] = "";
    assert_true(store_bson__user_to_doc(&u, &doc));
    assert_int_equal(type_of(&doc, "status"), BSON_TYPE_INT32);
    bson_iter_t it;
    assert_true(bson_iter_init_find(&it, &doc, "id_fold"));
    assert_string_equal(bson_iter_utf8(&it, NULL), "bob.x");
    assert_int_equal(store_bson__user_from_doc(&doc, &back, err, sizeof err), STORE_OK);
    assert_string_equal(back.user_id, "Bob.X");
    assert_int_equal(back.status, STORE_USER_DISABLED);
    store_user_free(&back);
    bson_destroy(&doc);

    u.status = (store_user_status)3;
    bson_init(&doc);
    assert_false(store_bson__user_to_doc(&u, &doc));
    bson_destroy(&doc);

    bson_error_t e;
    bson_t *legacy = bson_new_from_json(
        (const uint8_t
             *)"{\"_id\": \"old\", \"user_id\": \"old\", \"identity_key\": "
               "{\"$binary\": {\"base64\": \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\","
               " \"subType\": \"00\"}}, \"created_at\": 1, \"updated_at\": 1}",
        -1, &e);
    assert_non_null(legacy);
    assert_int_equal(store_bson__user_from_doc(legacy, &back, err, sizeof err), STORE_OK);
    assert_int_equal(back.status, STORE_USER_ACTIVE);
    store_user_free(&back);
    BSON_APPEND_INT32(legacy, "status", 9);
    assert_int_equal(store_bson__user_from_doc(legacy, &back, err, sizeof err), STORE_EIO);
    assert_non_null(strstr(err, "status"));
    assert_null(back.user_id);
    bson_destroy(legacy);

    bson_t f = BSON_INITIALIZER, up = BSON_INITIALIZER;
    assert_true(store_bson__user_fold_filter("AliCe", &f));
    assert_doc(&f, "{\"id_fold\": \"alice\"}");
    bson_reinit(&f);
    assert_true(store_bson__user_status_query("alice", STORE_USER_DISABLED, 77, &f, &up));
    assert_doc(&f, "{\"_id\": \"alice\", \"status\": {\"$ne\": {\"$numberInt\": \"2\"}}}");
    assert_doc(&up, "{\"$set\": {\"status\": {\"$numberInt\": \"1\"},"
                    " \"updated_at\": {\"$numberLong\": \"77\"}}}");
    bson_reinit(&up);
    assert_true(store_bson__user_tombstone_update(88, &up));
    assert_doc(&up, "{\"$set\": {\"status\": {\"$numberInt\": \"2\"}, \"identity_key\": "
                    "{\"$binary\": {\"base64\": \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\","
                    " \"subType\": \"00\"}}, \"updated_at\": {\"$numberLong\": \"88\"},"
                    " \"devices_version\": {\"$numberLong\": \"0\"}},"
                    " \"$unset\": {\"devices_list\": \"\", \"devices_sig\": \"\"}}");
    bson_reinit(&f);
    assert_true(store_bson__user_groups_filter("alice", &f));
    assert_doc(&f, "{\"user_id\": \"alice\", \"chat_id\": {\"$regularExpression\":"
                   " {\"pattern\": \"^g:\", \"options\": \"\"}}}");
    bson_destroy(&f);
    bson_destroy(&up);
}

static void test_invite_documents(void **state)
{
    (void)state;
    store_invite i = {.invite_id = "h4sh", .created_at = 10, .expires_at = 20, .note = "n"};
    store_invite back;
    char err[128] = "";
    bson_t doc = BSON_INITIALIZER, f = BSON_INITIALIZER, up = BSON_INITIALIZER;
    assert_true(store_bson__invite_to_doc(&i, &doc));
    assert_doc(&doc, "{\"_id\": \"h4sh\", \"invite_id\": \"h4sh\","
                     " \"created_at\": {\"$numberLong\": \"10\"},"
                     " \"expires_at\": {\"$numberLong\": \"20\"},"
                     " \"used_at\": {\"$numberLong\": \"0\"}, \"note\": \"n\"}");
    assert_int_equal(store_bson__invite_from_doc(&doc, &back, err, sizeof err), STORE_OK);
    assert_string_equal(back.invite_id, "h4sh");
    assert_int_equal(back.expires_at, 20);
    assert_null(back.used_by);
    assert_string_equal(back.note, "n");
    store_invite_free(&back);
    bson_reinit(&doc);
    BSON_APPEND_UTF8(&doc, "_id", "x");
    assert_int_equal(store_bson__invite_from_doc(&doc, &back, err, sizeof err), STORE_EIO);

    assert_true(store_bson__invite_use_query("h4sh", "bob", 15, &f, &up));
    assert_doc(&f, "{\"_id\": \"h4sh\", \"used_at\": {\"$numberLong\": \"0\"},"
                   " \"expires_at\": {\"$gt\": {\"$numberLong\": \"15\"}}}");
    assert_doc(&up, "{\"$set\": {\"used_at\": {\"$numberLong\": \"15\"},"
                    " \"used_by\": \"bob\"}}");
    bson_destroy(&doc);
    bson_destroy(&f);
    bson_destroy(&up);
}

static void test_prekey_roundtrip(void **state)
{
    (void)state;
    store_prekey p = {.user_id = "bob", .key_id = 4000000000u, .created_at = 42};
    fill(p.public_key, sizeof p.public_key, 9);
    fill(p.signature, sizeof p.signature, 11);
    char err[128] = "";

    bson_t spk = BSON_INITIALIZER;
    assert_true(store_bson__signed_prekey_to_doc(&p, &spk));
    assert_int_equal(type_of(&spk, "key_id"), BSON_TYPE_INT64);
    assert_int_equal(subtype_of(&spk, "signature"), BSON_SUBTYPE_BINARY);
    assert_int_equal(type_of(&spk, "user_id"), 0);   /* lives at the top level */
    store_prekey back;
    assert_int_equal(
        store_bson__signed_prekey_from_doc(&spk, "bob", "ph0ne", &back, err, sizeof err), STORE_OK);
    assert_string_equal(back.user_id, "bob");
    assert_string_equal(back.device_id, "ph0ne");
    assert_int_equal(back.key_id, 4000000000u);
    assert_memory_equal(back.public_key, p.public_key, STORE_KEY_LEN);
    assert_memory_equal(back.signature, p.signature, STORE_SIG_LEN);
    assert_int_equal(back.created_at, 42);
    store_prekey_free(&back);
    bson_destroy(&spk);

    bson_t otpk = BSON_INITIALIZER;
    assert_true(store_bson__otpk_to_doc(&p, &otpk));
    assert_int_equal(type_of(&otpk, "signature"), 0);
    assert_string_equal(str_of(&otpk, "device_id"), ""); /* NULL device_id: the implicit "" */
    assert_int_equal(store_bson__otpk_from_doc(&otpk, &back, err, sizeof err), STORE_OK);
    assert_string_equal(back.user_id, "bob");
    assert_string_equal(back.device_id, "");
    assert_int_equal(back.key_id, 4000000000u);
    assert_memory_equal(back.public_key, p.public_key, STORE_KEY_LEN);
    uint8_t zero[STORE_SIG_LEN] = {0};
    assert_memory_equal(back.signature, zero, STORE_SIG_LEN);
    store_prekey_free(&back);
    bson_destroy(&otpk);
}

static void test_chat_roundtrip_full(void **state)
{
    (void)state;
    store_chat c = {.chat_id = "g:AAAAAAAAAAAAAAAAAAAAAA",
                    .type = STORE_CHAT_GROUP,
                    .name = "team",
                    .description = "the team",
                    .created_by = "alice",
                    .settings = "{\"only_admins\":true}",
                    .created_at = 5,
                    .last_message_at = 6,
                    .last_seq = 77};
    bson_t doc = BSON_INITIALIZER;
    assert_true(store_bson__chat_to_doc(&c, &doc));
    assert_doc(&doc,
               "{\"_id\": \"g:AAAAAAAAAAAAAAAAAAAAAA\", \"chat_id\": \"g:AAAAAAAAAAAAAAAAAAAAAA\","
               " \"type\": {\"$numberInt\": \"2\"}, \"name\": \"team\","
               " \"description\": \"the team\", \"created_by\": \"alice\","
               " \"settings\": \"{\\\"only_admins\\\":true}\","
               " \"created_at\": {\"$numberLong\": \"5\"},"
               " \"last_message_at\": {\"$numberLong\": \"6\"},"
               " \"last_seq\": {\"$numberLong\": \"77\"}}");
    store_chat back;
    char err[128] = "";
    assert_int_equal(store_bson__chat_from_doc(&doc, &back, err, sizeof err), STORE_OK);
    assert_string_equal(back.chat_id, c.chat_id);
    assert_int_equal(back.type, STORE_CHAT_GROUP);
    assert_string_equal(back.name, "team");
    assert_string_equal(back.description, "the team");
    assert_string_equal(back.created_by, "alice");
    assert_string_equal(back.settings, c.settings);
    assert_int_equal(back.created_at, 5);
    assert_int_equal(back.last_message_at, 6);
    assert_int_equal(back.last_seq, 77);
    store_chat_free(&back);
    bson_destroy(&doc);
}

static void test_chat_roundtrip_optional_missing(void **state)
{
    (void)state;
    store_chat c = {.chat_id = "d:alice:bob", .type = STORE_CHAT_DIRECT, .created_at = 1};
    bson_t doc = BSON_INITIALIZER;
    assert_true(store_bson__chat_to_doc(&c, &doc));
    assert_int_equal(type_of(&doc, "name"), 0);
    assert_int_equal(type_of(&doc, "description"), 0);
    assert_int_equal(type_of(&doc, "created_by"), 0);
    assert_int_equal(type_of(&doc, "settings"), 0);
    store_chat back;
    char err[128] = "";
    assert_int_equal(store_bson__chat_from_doc(&doc, &back, err, sizeof err), STORE_OK);
    assert_null(back.name);
    assert_null(back.description);
    assert_null(back.created_by);
    assert_null(back.settings);
    assert_int_equal(back.last_seq, 0);
    store_chat_free(&back);
    bson_destroy(&doc);
}

static void test_member_roundtrip(void **state)
{
    (void)state;
    store_member m = {.chat_id = "d:alice:bob",
                      .user_id = "bob",
                      .role = STORE_ROLE_ADMIN,
                      .joined_at = 123,
                      .joined_seq = 4,
                      .delivered_seq = 9,
                      .read_seq = 8};
    bson_t doc = BSON_INITIALIZER;
    assert_true(store_bson__member_to_doc(&m, &doc));
    assert_int_equal(type_of(&doc, "delivered_seq"), BSON_TYPE_INT64);
    store_member back;
    char err[128] = "";
    assert_int_equal(store_bson__member_from_doc(&doc, &back, err, sizeof err), STORE_OK);
    assert_string_equal(back.chat_id, "d:alice:bob");
    assert_string_equal(back.user_id, "bob");
    assert_int_equal(back.role, STORE_ROLE_ADMIN);
    assert_int_equal(back.joined_at, 123);
    assert_int_equal(back.joined_seq, 4);
    assert_int_equal(back.delivered_seq, 9);
    assert_int_equal(back.read_seq, 8);
    store_member_free(&back);
    bson_destroy(&doc);
}

static void test_message_roundtrip(void **state)
{
    (void)state;
    uint8_t body[300];
    fill(body, sizeof body, 1);
    store_message m = {.chat_id = "d:alice:bob",
                       .seq = 12,
                       .server_id = "SSSSSSSSSSSSSSSSSSSSSS",
                       .sender = "alice",
                       .client_msg_id = "c-1",
                       .server_ts = 1700000000001,
                       .body = body,
                       .body_len = sizeof body,
                       .media_id = "m1",
                       .expires_at = 1800000000000,
                       .kind = 1};
    bson_t doc = BSON_INITIALIZER;
    assert_true(store_bson__message_to_doc(&m, &doc));
    assert_int_equal(subtype_of(&doc, "body"), BSON_SUBTYPE_BINARY);
    assert_int_equal(type_of(&doc, "server_ts"), BSON_TYPE_INT64);
    assert_int_equal(type_of(&doc, "expires_at"), BSON_TYPE_INT64);
    assert_int_equal(type_of(&doc, "seq"), BSON_TYPE_INT64);
    assert_int_equal(type_of(&doc, "_id"), BSON_TYPE_UTF8);
    store_message back;
    char err[128] = "";
    assert_int_equal(store_bson__message_from_doc(&doc, &back, err, sizeof err), STORE_OK);
    assert_string_equal(back.chat_id, m.chat_id);
    assert_int_equal(back.seq, 12);
    assert_string_equal(back.server_id, m.server_id);
    assert_string_equal(back.sender, "alice");
    assert_string_equal(back.client_msg_id, "c-1");
    assert_int_equal(back.server_ts, m.server_ts);
    assert_int_equal(back.body_len, sizeof body);
    assert_memory_equal(back.body, body, sizeof body);
    assert_string_equal(back.media_id, "m1");
    assert_int_equal(back.expires_at, m.expires_at);
    assert_int_equal(back.kind, 1);
    store_message_free(&back);
    bson_destroy(&doc);

    /* Empty body, no media, no expiry. */
    store_message e = {.chat_id = "g:x",
                       .seq = 1,
                       .server_id = "id2",
                       .sender = "bob",
                       .client_msg_id = "c-2",
                       .server_ts = 3,
                       .kind = 2};
    bson_init(&doc);
    assert_true(store_bson__message_to_doc(&e, &doc));
    assert_int_equal(type_of(&doc, "media_id"), 0);
    assert_int_equal(store_bson__message_from_doc(&doc, &back, err, sizeof err), STORE_OK);
    assert_int_equal(back.body_len, 0);
    assert_non_null(back.body);
    assert_null(back.media_id);
    assert_int_equal(back.expires_at, 0);
    assert_int_equal(back.kind, 2);
    store_message_free(&back);
    bson_destroy(&doc);
}

static void test_media_roundtrip(void **state)
{
    (void)state;
    store_media m = {.media_id = "M1",
                     .owner = "alice",
                     .size = 5000000000ull,
                     .content_type = "image/jpeg",
                     .backend_key = "ab/M1",
                     .created_at = 10,
                     .expires_at = 20};
    fill(m.sha256, sizeof m.sha256, 5);
    bson_t doc = BSON_INITIALIZER;
    assert_true(store_bson__media_to_doc(&m, &doc));
    assert_int_equal(subtype_of(&doc, "sha256"), BSON_SUBTYPE_BINARY);
    assert_int_equal(type_of(&doc, "size"), BSON_TYPE_INT64);
    store_media back;
    char err[128] = "";
    assert_int_equal(store_bson__media_from_doc(&doc, &back, err, sizeof err), STORE_OK);
    assert_string_equal(back.media_id, "M1");
    assert_string_equal(back.owner, "alice");
    assert_true(back.size == 5000000000ull);
    assert_memory_equal(back.sha256, m.sha256, STORE_SHA256_LEN);
    assert_string_equal(back.content_type, "image/jpeg");
    assert_string_equal(back.backend_key, "ab/M1");
    assert_int_equal(back.created_at, 10);
    assert_int_equal(back.expires_at, 20);
    store_media_free(&back);
    bson_destroy(&doc);

    store_media bare = {.media_id = "M2", .owner = "bob", .size = 0, .created_at = 1};
    bson_init(&doc);
    assert_true(store_bson__media_to_doc(&bare, &doc));
    assert_int_equal(store_bson__media_from_doc(&doc, &back, err, sizeof err), STORE_OK);
    assert_null(back.content_type);
    assert_null(back.backend_key);
    assert_int_equal(back.expires_at, 0);
    store_media_free(&back);
    bson_destroy(&doc);
}

/* ------------------------------------------------ malformed documents */

static void test_from_doc_rejects_malformed(void **state)
{
    (void)state;
    char err[128];
    store_user u;
    bson_error_t jerr;

    /* Missing identity_key. */
    bson_t *d = bson_new_from_json((const uint8_t *)"{\"_id\": \"a\", \"created_at\": 1,"
                                                    " \"updated_at\": 2}",
                                   -1, &jerr);
    assert_non_null(d);
    err[0] = '\0';
    assert_int_equal(store_bson__user_from_doc(d, &u, err, sizeof err), STORE_EIO);
    assert_non_null(strstr(err, "identity_key"));
    assert_null(u.user_id);   /* freed and zeroed on error */
    bson_destroy(d);

    /* Key of the wrong length. */
    d = bson_new_from_json(
        (const uint8_t *)"{\"_id\": \"a\", \"identity_key\":"
                         " {\"$binary\": {\"base64\": \"AAAA\", \"subType\": \"00\"}},"
                         " \"created_at\": 1, \"updated_at\": 2}",
        -1, &jerr);
    assert_non_null(d);
    assert_int_equal(store_bson__user_from_doc(d, &u, err, sizeof err), STORE_EIO);
    assert_non_null(strstr(err, "wrong length"));
    bson_destroy(d);

    /* Text where a number belongs; int32 numbers are accepted. */
    store_member m;
    d = bson_new_from_json((const uint8_t *)"{\"chat_id\": \"c\", \"user_id\": \"u\","
                                            " \"role\": 1, \"joined_at\": \"yesterday\"}",
                           -1, &jerr);
    assert_non_null(d);
    assert_int_equal(store_bson__member_from_doc(d, &m, err, sizeof err), STORE_EIO);
    assert_non_null(strstr(err, "joined_at"));
    assert_null(m.chat_id);
    bson_destroy(d);

    /* Unknown role, negative seq. */
    d = bson_new_from_json((const uint8_t *)"{\"chat_id\": \"c\", \"user_id\": \"u\","
                                            " \"role\": 9, \"joined_at\": 1}",
                           -1, &jerr);
    assert_int_equal(store_bson__member_from_doc(d, &m, err, sizeof err), STORE_EIO);
    bson_destroy(d);
    d = bson_new_from_json((const uint8_t *)"{\"chat_id\": \"c\", \"user_id\": \"u\","
                                            " \"role\": 1, \"joined_at\": 1, \"read_seq\": -4}",
                           -1, &jerr);
    assert_int_equal(store_bson__member_from_doc(d, &m, err, sizeof err), STORE_EIO);
    assert_non_null(strstr(err, "negative"));
    bson_destroy(d);

    /* Chat type out of range. */
    store_chat c;
    d = bson_new_from_json((const uint8_t *)"{\"_id\": \"c\", \"type\": 7, \"created_at\": 1}", -1,
                           &jerr);
    assert_int_equal(store_bson__chat_from_doc(d, &c, err, sizeof err), STORE_EIO);
    bson_destroy(d);

    /* Message body that is a string. */
    store_message msg;
    d = bson_new_from_json(
        (const uint8_t *)"{\"chat_id\": \"c\", \"seq\": 1,"
                         " \"server_id\": \"s\", \"sender\": \"a\", \"client_msg_id\": \"x\","
                         " \"server_ts\": 1, \"body\": \"plain\", \"kind\": 1}",
        -1, &jerr);
    assert_int_equal(store_bson__message_from_doc(d, &msg, err, sizeof err), STORE_EIO);
    assert_non_null(strstr(err, "body"));
    assert_null(msg.chat_id);
    bson_destroy(d);

    /* Prekey id above 32 bits. */
    store_prekey p;
    d = bson_new_from_json(
        (const uint8_t
             *)"{\"user_id\": \"a\", \"key_id\":"
               " {\"$numberLong\": \"4294967296\"}, \"public_key\":"
               " {\"$binary\": {\"base64\": \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\","
               " \"subType\": \"00\"}}, \"created_at\": 1}",
        -1, &jerr);
    assert_non_null(d);
    assert_int_equal(store_bson__otpk_from_doc(d, &p, err, sizeof err), STORE_EIO);
    assert_non_null(strstr(err, "key_id"));
    bson_destroy(d);
}

static void test_to_doc_rejects_unrepresentable(void **state)
{
    (void)state;
    bson_t doc = BSON_INITIALIZER;
    store_message m = {.chat_id = "c",
                       .seq = (uint64_t)INT64_MAX + 1,
                       .server_id = "s",
                       .sender = "a",
                       .client_msg_id = "x",
                       .kind = 1};
    assert_false(store_bson__message_to_doc(&m, &doc));
    bson_reinit(&doc);
    m.seq = 0;   /* must be assigned before it is stored */
    assert_false(store_bson__message_to_doc(&m, &doc));
    bson_reinit(&doc);
    m.seq = 1;
    m.server_id = NULL;
    assert_false(store_bson__message_to_doc(&m, &doc));
    bson_reinit(&doc);
    store_user u = {.user_id = NULL};
    assert_false(store_bson__user_to_doc(&u, &doc));
    bson_destroy(&doc);
}

/* ---------------------------------------------- filters and updates */

/* A run of appends: one $inc by the count per chat, one find for the
 * duplicates of the whole run, and reading its projected documents. */
static void test_append_run_documents(void **state)
{
    (void)state;
    bson_t u = BSON_INITIALIZER, f = BSON_INITIALIZER, o = BSON_INITIALIZER;
    const char *senders[2] = {"alice", "bob"}, *cmids[2] = {"c-1", "c-2"};
    const char *snd = NULL, *cid = NULL, *sid = NULL;
    uint64_t seq = 0;
    char err[128];

    assert_true(store_bson__seq_alloc_n_update(37, 1700, &u));
    assert_doc(&u, "{\"$inc\": {\"last_seq\": {\"$numberLong\": \"37\"}},"
                   " \"$max\": {\"last_message_at\": {\"$numberLong\": \"1700\"}}}");
    bson_reinit(&u);
    assert_false(store_bson__seq_alloc_n_update(0, 1, &u));
    bson_reinit(&u);
    assert_false(store_bson__seq_alloc_n_update((uint64_t)INT64_MAX + 1, 1, &u));

    assert_true(store_bson__client_ids_query(senders, cmids, 2, &f, &o));
    assert_doc(&f, "{\"$or\": [{\"sender\": \"alice\", \"client_msg_id\": \"c-1\"},"
                   " {\"sender\": \"bob\", \"client_msg_id\": \"c-2\"}]}");
    assert_doc(&o, "{\"projection\": {\"_id\": {\"$numberInt\": \"0\"},"
                   " \"sender\": {\"$numberInt\": \"1\"},"
                   " \"client_msg_id\": {\"$numberInt\": \"1\"},"
                   " \"seq\": {\"$numberInt\": \"1\"},"
                   " \"server_id\": {\"$numberInt\": \"1\"}}}");
    bson_reinit(&f);
    bson_reinit(&o);
    assert_false(store_bson__client_ids_query(senders, cmids, 0, &f, &o));

    /* what the find returns for a stored message (seq as stored: int64) */
    bson_t *d = bson_new_from_json((const uint8_t *)"{\"sender\": \"bob\", \"client_msg_id\":"
                                                    " \"c-2\", \"seq\": {\"$numberLong\": \"12\"},"
                                                    " \"server_id\": \"s-9\"}",
                                   -1, NULL);
    assert_non_null(d);
    assert_int_equal(store_bson__dup_from_doc(d, &snd, &cid, &seq, &sid, err, sizeof err),
                     STORE_OK);
    assert_string_equal(snd, "bob");
    assert_string_equal(cid, "c-2");
    assert_string_equal(sid, "s-9");
    assert_int_equal(seq, 12);
    bson_destroy(d);
    /* a document missing a field, or with seq 0, is a backend error */
    d = bson_new_from_json((const uint8_t *)"{\"sender\": \"bob\", \"client_msg_id\": \"c-2\","
                                            " \"seq\": 3}",
                           -1, NULL);
    assert_int_equal(store_bson__dup_from_doc(d, &snd, &cid, &seq, &sid, err, sizeof err),
                     STORE_EIO);
    assert_non_null(strstr(err, "server_id"));
    bson_destroy(d);
    d = bson_new_from_json((const uint8_t *)"{\"sender\": \"bob\", \"client_msg_id\": \"c-2\","
                                            " \"seq\": 0, \"server_id\": \"s\"}",
                           -1, NULL);
    assert_int_equal(store_bson__dup_from_doc(d, &snd, &cid, &seq, &sid, err, sizeof err),
                     STORE_EIO);
    bson_destroy(d);
    bson_destroy(&u);
    bson_destroy(&f);
    bson_destroy(&o);
}

/* otpk_add in a transaction counts the batch's keys first. */
static void test_otpk_keys_filter(void **state)
{
    (void)state;
    store_prekey k[2] = {{.user_id = "alice", .key_id = 7}, {.user_id = "alice", .key_id = 9}};
    bson_t f = BSON_INITIALIZER;
    assert_true(store_bson__otpk_keys_filter(k, 2, &f));
    assert_doc(&f, "{\"user_id\": \"alice\", \"device_id\": \"\","
                   " \"key_id\": {\"$in\": [{\"$numberLong\": \"7\"},"
                   " {\"$numberLong\": \"9\"}]}}");
    bson_reinit(&f);
    assert_false(store_bson__otpk_keys_filter(k, 0, &f));
    bson_destroy(&f);
}

static void test_seq_documents(void **state)
{
    (void)state;
    bson_t u = BSON_INITIALIZER, f = BSON_INITIALIZER;
    assert_true(store_bson__seq_alloc_update(1700, &u));
    assert_doc(&u, "{\"$inc\": {\"last_seq\": {\"$numberLong\": \"1\"}},"
                   " \"$max\": {\"last_message_at\": {\"$numberLong\": \"1700\"}}}");
    bson_reinit(&u);
    assert_true(store_bson__seq_explicit("d:a:b", 9, 1800, &f, &u));
    assert_doc(&f, "{\"_id\": \"d:a:b\", \"last_seq\": {\"$lt\": {\"$numberLong\": \"9\"}}}");
    assert_doc(&u, "{\"$set\": {\"last_seq\": {\"$numberLong\": \"9\"}},"
                   " \"$max\": {\"last_message_at\": {\"$numberLong\": \"1800\"}}}");
    bson_reinit(&f);
    bson_reinit(&u);
    assert_false(store_bson__seq_explicit("d:a:b", 0, 1, &f, &u));
    bson_reinit(&u);
    assert_true(store_bson__raise_seq_update(40, 99, &u));
    assert_doc(&u, "{\"$max\": {\"last_seq\": {\"$numberLong\": \"40\"},"
                   " \"last_message_at\": {\"$numberLong\": \"99\"}}}");
    bson_destroy(&u);
    bson_destroy(&f);
}

static void test_member_documents(void **state)
{
    (void)state;
    bson_t u = BSON_INITIALIZER;
    assert_true(store_bson__member_advance_update(5, 3, &u));
    assert_doc(&u, "{\"$max\": {\"delivered_seq\": {\"$numberLong\": \"5\"},"
                   " \"read_seq\": {\"$numberLong\": \"3\"}}}");
    bson_reinit(&u);
    assert_true(store_bson__member_advance_update(0, 3, &u));
    assert_doc(&u, "{\"$max\": {\"read_seq\": {\"$numberLong\": \"3\"}}}");
    bson_reinit(&u);
    assert_false(store_bson__member_advance_update(0, 0, &u));
    bson_reinit(&u);
    assert_true(store_bson__member_role_update(STORE_ROLE_OWNER, &u));
    assert_doc(&u, "{\"$set\": {\"role\": {\"$numberInt\": \"3\"}}}");
    bson_reinit(&u);
    assert_true(store_bson__member_filter("g:x", "bob", &u));
    assert_doc(&u, "{\"chat_id\": \"g:x\", \"user_id\": \"bob\"}");
    bson_destroy(&u);
}

static void test_query_documents(void **state)
{
    (void)state;
    bson_t f = BSON_INITIALIZER, o = BSON_INITIALIZER;
    assert_true(store_bson__messages_after_query("d:a:b", 41, 100, &f, &o));
    assert_doc(&f, "{\"chat_id\": \"d:a:b\", \"seq\": {\"$gt\": {\"$numberLong\": \"41\"}}}");
    assert_doc(&o, "{\"sort\": {\"seq\": {\"$numberInt\": \"1\"}},"
                   " \"limit\": {\"$numberLong\": \"100\"}}");
    bson_reinit(&f);
    assert_true(store_bson__expired_filter(99, &f));
    assert_doc(&f, "{\"expires_at\": {\"$gt\": {\"$numberLong\": \"0\"},"
                   " \"$lte\": {\"$numberLong\": \"99\"}}}");
    bson_reinit(&f);
    bson_reinit(&o);
    assert_true(store_bson__users_since_query(7, &f, &o));
    assert_doc(&f, "{\"updated_at\": {\"$gte\": {\"$numberLong\": \"7\"}}}");
    assert_doc(&o, "{\"sort\": {\"updated_at\": {\"$numberInt\": \"1\"},"
                   " \"_id\": {\"$numberInt\": \"1\"}}}");
    bson_reinit(&f);
    assert_true(store_bson__client_id_filter("alice", "c-1", &f));
    assert_doc(&f, "{\"sender\": \"alice\", \"client_msg_id\": \"c-1\"}");
    bson_reinit(&f);
    assert_true(store_bson__message_filter("d:a:b", 3, &f));
    assert_doc(&f, "{\"chat_id\": \"d:a:b\", \"seq\": {\"$numberLong\": \"3\"}}");
    bson_reinit(&o);
    assert_true(store_bson__media_expired_opts(10, &o));
    assert_doc(&o, "{\"sort\": {\"expires_at\": {\"$numberInt\": \"1\"}},"
                   " \"limit\": {\"$numberLong\": \"10\"}}");
    bson_reinit(&f);
    bson_reinit(&o);
    assert_true(store_bson__page_query("g:abc", 500, &f, &o));
    assert_doc(&f, "{\"_id\": {\"$gt\": \"g:abc\"}}");
    assert_doc(&o, "{\"sort\": {\"_id\": {\"$numberInt\": \"1\"}},"
                   " \"limit\": {\"$numberLong\": \"500\"}}");
    bson_reinit(&o);
    assert_true(store_bson__otpk_pop_sort(&o));
    assert_doc(&o, "{\"key_id\": {\"$numberInt\": \"1\"}}");
    bson_destroy(&f);
    bson_destroy(&o);
}

static void test_update_documents(void **state)
{
    (void)state;
    bson_t u = BSON_INITIALIZER;
    store_chat c = {.chat_id = "g:x", .name = "new name", .description = NULL, .settings = "{}"};
    assert_true(store_bson__chat_update(&c, &u));
    assert_doc(&u, "{\"$set\": {\"name\": \"new name\", \"settings\": \"{}\"},"
                   " \"$unset\": {\"description\": \"\"}}");
    bson_reinit(&u);
    c.description = "d";
    assert_true(store_bson__chat_update(&c, &u));
    assert_doc(&u, "{\"$set\": {\"name\": \"new name\", \"description\": \"d\","
                   " \"settings\": \"{}\"}}");
    bson_reinit(&u);

    uint8_t key[STORE_KEY_LEN] = {0};
    key[0] = 0xff;
    assert_true(store_bson__user_set_key_update(key, 55, &u));
    assert_doc(&u, "{\"$set\": {\"identity_key\": {\"$binary\": {\"base64\":"
                   " \"/wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\", \"subType\": \"00\"}},"
                   " \"updated_at\": {\"$numberLong\": \"55\"},"
                   " \"devices_version\": {\"$numberLong\": \"0\"}},"
                   " \"$unset\": {\"devices_list\": \"\", \"devices_sig\": \"\"}}");
    bson_reinit(&u);

    store_prekey p = {.user_id = "bob", .key_id = 7, .created_at = 8};
    assert_true(store_bson__signed_prekey_update(&p, &u));
    /* An update pipeline (array) with one $set stage: the old current becomes
     * previous, the new key is a literal (never read as an expression). */
    assert_doc(
        &u,
        "{\"0\": {\"$set\": {\"user_id\": \"bob\", \"device_id\": \"\","
        " \"previous\": \"$current\","
        " \"current\": {\"$literal\": {\"key_id\": {\"$numberLong\": \"7\"},"
        " \"public_key\": {\"$binary\": {\"base64\":"
        " \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\", \"subType\": \"00\"}},"
        " \"signature\": {\"$binary\": {\"base64\": \""
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\","
        " \"subType\": \"00\"}}, \"created_at\": {\"$numberLong\": \"8\"}}}}}}");
    bson_destroy(&u);
}

static void test_index_documents(void **state)
{
    (void)state;
    bson_t cmd = BSON_INITIALIZER;
    assert_true(store_bson__create_indexes_cmd(STORE_BSON_MESSAGES, &cmd));
    assert_doc(
        &cmd, "{\"createIndexes\": \"messages\", \"indexes\": ["
              " {\"key\": {\"chat_id\": {\"$numberInt\": \"1\"}, \"seq\": {\"$numberInt\": \"1\"}},"
              "  \"name\": \"chat_id_seq\", \"unique\": true},"
              " {\"key\": {\"sender\": {\"$numberInt\": \"1\"},"
              "  \"client_msg_id\": {\"$numberInt\": \"1\"}},"
              "  \"name\": \"sender_client_msg_id\", \"unique\": true},"
              " {\"key\": {\"sender\": {\"$numberInt\": \"1\"}}, \"name\": \"sender\"},"
              " {\"key\": {\"expires_at\": {\"$numberInt\": \"1\"}}, \"name\": \"expires_at\"}]}");
    bson_reinit(&cmd);
    assert_true(store_bson__create_indexes_cmd(STORE_BSON_MEMBERS, &cmd));
    assert_doc(
        &cmd,
        "{\"createIndexes\": \"members\", \"indexes\": ["
        " {\"key\": {\"chat_id\": {\"$numberInt\": \"1\"}, \"user_id\": {\"$numberInt\": \"1\"}},"
        "  \"name\": \"chat_id_user_id\", \"unique\": true},"
        " {\"key\": {\"user_id\": {\"$numberInt\": \"1\"}}, \"name\": \"user_id\"}]}");
    bson_reinit(&cmd);
    assert_true(store_bson__create_indexes_cmd(STORE_BSON_OTPKS, &cmd));
    assert_doc(&cmd,
               "{\"createIndexes\": \"one_time_prekeys\", \"indexes\": ["
               " {\"key\": {\"user_id\": {\"$numberInt\": \"1\"},"
               "  \"device_id\": {\"$numberInt\": \"1\"}, \"key_id\": {\"$numberInt\": \"1\"}},"
               "  \"name\": \"user_device_key\", \"unique\": true}]}");
    bson_reinit(&cmd);
    assert_true(store_bson__create_indexes_cmd(STORE_BSON_USERS, &cmd));
    assert_doc(&cmd,
               "{\"createIndexes\": \"users\", \"indexes\": ["
               " {\"key\": {\"updated_at\": {\"$numberInt\": \"1\"}}, \"name\": \"updated_at\"},"
               " {\"key\": {\"id_fold\": {\"$numberInt\": \"1\"}}, \"name\": \"id_fold\","
               "  \"unique\": true,"
               "  \"partialFilterExpression\": {\"id_fold\": {\"$type\": \"string\"}}}]}");
    bson_reinit(&cmd);
    assert_true(store_bson__create_indexes_cmd(STORE_BSON_MEDIA, &cmd));
    assert_doc(&cmd,
               "{\"createIndexes\": \"media\", \"indexes\": ["
               " {\"key\": {\"expires_at\": {\"$numberInt\": \"1\"}}, \"name\": \"expires_at\"}]}");
    bson_reinit(&cmd);
    assert_true(store_bson__create_indexes_cmd(STORE_BSON_LINKS, &cmd));
    assert_doc(&cmd,
               "{\"createIndexes\": \"link_codes\", \"indexes\": ["
               " {\"key\": {\"user_id\": {\"$numberInt\": \"1\"},"
               "  \"expires_at\": {\"$numberInt\": \"1\"}}, \"name\": \"user_id_expires_at\"},"
               " {\"key\": {\"expires_at\": {\"$numberInt\": \"1\"}}, \"name\": \"expires_at\"}]}");
    bson_reinit(&cmd);
    /* signed_prekeys: a user's documents (one per device) are deleted together */
    assert_true(store_bson__create_indexes_cmd(STORE_BSON_SIGNED_PREKEYS, &cmd));
    assert_doc(&cmd, "{\"createIndexes\": \"signed_prekeys\", \"indexes\": ["
                     " {\"key\": {\"user_id\": {\"$numberInt\": \"1\"}}, \"name\": \"user_id\"}]}");
    bson_reinit(&cmd);
    /* chats are keyed by _id only. */
    assert_false(store_bson__create_indexes_cmd(STORE_BSON_CHATS, &cmd));
    bson_reinit(&cmd);
    assert_false(store_bson__create_indexes_cmd(STORE_BSON_INVITES, &cmd));
    bson_destroy(&cmd);

    size_t n = 0;
    while (store_bson__collections[n])
        n++;
    assert_int_equal(n, 9);
    assert_string_equal(store_bson__collections[7], "invites");
    assert_string_equal(store_bson__collections[8], "link_codes");
    static const char *const obsolete[] = STORE_BSON_OBSOLETE_INDEXES;
    assert_string_equal(obsolete[0], "one_time_prekeys");
    assert_string_equal(obsolete[1], "user_id_key_id");
    assert_null(obsolete[2]);
}

/* Schema 3: the device list on the user document, its compare-and-set,
 * documents without it (schema 2) read as the implicit list, prekeys per
 * device, link codes. */
static void test_device_documents(void **state)
{
    (void)state;
    char err[128] = "";
    uint8_t list[5] = {'l', 'i', 's', 't', '\n'}, sig[STORE_SIG_LEN];
    fill(sig, sizeof sig, 3);
    store_user u = {.user_id = "alice", .created_at = 1, .updated_at = 2}, back;
    bson_t doc = BSON_INITIALIZER, f = BSON_INITIALIZER, up = BSON_INITIALIZER;

    /* a schema 2 document: implicit */
    assert_true(store_bson__user_to_doc(&u, &doc));
    assert_int_equal(store_bson__user_from_doc(&doc, &back, err, sizeof err), STORE_OK);
    assert_int_equal(back.devices_version, 0);
    assert_null(back.devices_list);
    store_user_free(&back);
    /* with a list */
    BSON_APPEND_INT64(&doc, "devices_version", 4);
    BSON_APPEND_BINARY(&doc, "devices_list", BSON_SUBTYPE_BINARY, list, sizeof list);
    BSON_APPEND_BINARY(&doc, "devices_sig", BSON_SUBTYPE_BINARY, sig, sizeof sig);
    assert_int_equal(store_bson__user_from_doc(&doc, &back, err, sizeof err), STORE_OK);
    assert_int_equal(back.devices_version, 4);
    assert_int_equal(back.devices_list_len, sizeof list);
    assert_memory_equal(back.devices_list, list, sizeof list);
    assert_memory_equal(back.devices_sig, sig, sizeof sig);
    store_user_free(&back);
    /* a list without its signature is corrupt */
    bson_reinit(&doc);
    assert_true(store_bson__user_to_doc(&u, &doc));
    BSON_APPEND_BINARY(&doc, "devices_list", BSON_SUBTYPE_BINARY, list, sizeof list);
    assert_int_equal(store_bson__user_from_doc(&doc, &back, err, sizeof err), STORE_EIO);
    assert_non_null(strstr(err, "devices_sig"));

    /* compare-and-set from the implicit list: documents without the field match */
    assert_true(store_bson__user_devices_query("alice", 0, 1, list, sizeof list, sig, 9, &f, &up));
    assert_doc(&f, "{\"_id\": \"alice\", \"status\": {\"$ne\": {\"$numberInt\": \"2\"}},"
                   " \"devices_version\": {\"$in\": [{\"$numberLong\": \"0\"}, null]}}");
    bson_reinit(&f);
    bson_reinit(&up);
    assert_true(store_bson__user_devices_query("alice", 3, 4, list, sizeof list, sig, 9, &f, &up));
    assert_doc(&f, "{\"_id\": \"alice\", \"status\": {\"$ne\": {\"$numberInt\": \"2\"}},"
                   " \"devices_version\": {\"$numberLong\": \"3\"}}");
    assert_int_equal(type_of(&up, "$set"), BSON_TYPE_DOCUMENT);
    bson_reinit(&f);
    bson_reinit(&up);
    /* not above the expected version, or no list: nothing to build */
    assert_false(store_bson__user_devices_query("alice", 4, 4, list, sizeof list, sig, 9, &f, &up));
    bson_reinit(&f);
    bson_reinit(&up);
    assert_false(store_bson__user_devices_query("alice", 0, 1, NULL, 0, sig, 9, &f, &up));

    /* signed prekey documents: the implicit device keeps schema 2's _id */
    char id[600];
    assert_true(store_bson__spk_doc_id("bob", "", id, sizeof id));
    assert_string_equal(id, "bob");
    assert_true(store_bson__spk_doc_id("bob", NULL, id, sizeof id));
    assert_string_equal(id, "bob");
    assert_true(store_bson__spk_doc_id("bob", "lap-1", id, sizeof id));
    assert_string_equal(id, "bob/lap-1");
    assert_false(store_bson__spk_doc_id("bob", "lap-1", id, 5));
    assert_false(store_bson__spk_doc_id("", "x", id, sizeof id));
    bson_reinit(&f);
    assert_true(store_bson__otpk_device_filter("bob", "lap-1", &f));
    assert_doc(&f, "{\"user_id\": \"bob\", \"device_id\": \"lap-1\"}");
    /* a one-time prekey of schema 2 (no device_id) is the implicit device's */
    bson_reinit(&doc);
    store_prekey p = {.user_id = "bob", .key_id = 3, .created_at = 4}, pb;
    assert_true(store_bson__otpk_to_doc(&p, &doc));
    bson_t old = BSON_INITIALIZER;
    bson_copy_to_excluding_noinit(&doc, &old, "device_id", NULL);
    assert_int_equal(store_bson__otpk_from_doc(&old, &pb, err, sizeof err), STORE_OK);
    assert_string_equal(pb.device_id, "");
    store_prekey_free(&pb);
    bson_destroy(&old);

    /* link codes */
    store_link l = {.code = "ABCD-EFGH",
                    .user_id = "bob",
                    .device_id = "lap",
                    .name = "my laptop",
                    .created_at = 10,
                    .expires_at = 20},
               lb;
    fill(l.device_key, sizeof l.device_key, 5);
    bson_reinit(&doc);
    assert_true(store_bson__link_to_doc(&l, &doc));
    assert_string_equal(str_of(&doc, "_id"), "ABCD-EFGH");
    assert_int_equal(store_bson__link_from_doc(&doc, &lb, err, sizeof err), STORE_OK);
    assert_string_equal(lb.code, "ABCD-EFGH");
    assert_string_equal(lb.user_id, "bob");
    assert_string_equal(lb.device_id, "lap");
    assert_string_equal(lb.name, "my laptop");
    assert_memory_equal(lb.device_key, l.device_key, STORE_KEY_LEN);
    assert_int_equal(lb.expires_at, 20);
    store_link_free(&lb);
    l.device_id = NULL;
    bson_reinit(&doc);
    assert_false(store_bson__link_to_doc(&l, &doc));
    bson_reinit(&f);
    assert_true(store_bson__link_count_filter("bob", 15, &f));
    assert_doc(&f, "{\"user_id\": \"bob\", \"expires_at\": {\"$gt\": {\"$numberLong\": \"15\"}}}");
    bson_reinit(&f);
    assert_true(store_bson__links_expired_filter(15, &f));
    assert_doc(&f, "{\"expires_at\": {\"$lte\": {\"$numberLong\": \"15\"}}}");
    bson_destroy(&doc);
    bson_destroy(&f);
    bson_destroy(&up);
}

/* Delete for everyone: a tombstone's document, the conditional update, and
 * documents written before issue 17 (no deleted_by/deleted_at). */
static void test_tombstone_documents(void **state)
{
    (void)state;
    char err[128] = "";
    store_message back;
    store_message t = {.chat_id = "g:x",
                       .seq = 4,
                       .server_id = "sid",
                       .sender = "alice",
                       .client_msg_id = "c-4",
                       .server_ts = 10,
                       .kind = STORE_KIND_TOMBSTONE,
                       .deleted_by = "bob",
                       .deleted_at = 20};
    bson_t doc = BSON_INITIALIZER, f = BSON_INITIALIZER, u = BSON_INITIALIZER;
    assert_true(store_bson__message_to_doc(&t, &doc));
    assert_string_equal(str_of(&doc, "deleted_by"), "bob");
    assert_int_equal(type_of(&doc, "deleted_at"), BSON_TYPE_INT64);
    assert_int_equal(type_of(&doc, "media_id"), 0);
    assert_int_equal(store_bson__message_from_doc(&doc, &back, err, sizeof err), STORE_OK);
    assert_int_equal(back.kind, STORE_KIND_TOMBSTONE);
    assert_string_equal(back.deleted_by, "bob");
    assert_int_equal(back.deleted_at, 20);
    assert_int_equal(back.body_len, 0);
    store_message_free(&back);

    /* a message stored before issue 17: the fields are absent */
    bson_t *old = bson_new_from_json(
        (const uint8_t *)"{\"chat_id\": \"d:a:b\", \"seq\": {\"$numberLong\": \"1\"}, "
                         "\"server_id\": \"s\", \"sender\": \"a\", \"client_msg_id\": \"c\", "
                         "\"server_ts\": {\"$numberLong\": \"5\"}, "
                         "\"body\": {\"$binary\": {\"base64\": \"AQI=\", \"subType\": \"00\"}}, "
                         "\"expires_at\": {\"$numberLong\": \"0\"}, \"kind\": 1}",
        -1, NULL);
    assert_non_null(old);
    assert_int_equal(store_bson__message_from_doc(old, &back, err, sizeof err), STORE_OK);
    assert_null(back.deleted_by);
    assert_int_equal(back.deleted_at, 0);
    assert_int_equal(back.kind, STORE_KIND_CHAT);
    assert_int_equal(back.body_len, 2);
    store_message_free(&back);
    bson_destroy(old);

    /* a message that is not a tombstone writes neither field */
    t.kind = STORE_KIND_CHAT;
    t.deleted_by = NULL;
    t.deleted_at = 0;
    bson_reinit(&doc);
    assert_true(store_bson__message_to_doc(&t, &doc));
    assert_int_equal(type_of(&doc, "deleted_by"), 0);
    assert_int_equal(type_of(&doc, "deleted_at"), 0);

    assert_true(store_bson__tombstone_filter("g:x", 4, &f));
    assert_doc(&f, "{\"chat_id\": \"g:x\", \"seq\": {\"$numberLong\": \"4\"}, "
                   "\"kind\": {\"$numberInt\": \"1\"}}");
    assert_false(store_bson__tombstone_filter("g:x", (uint64_t)INT64_MAX + 1, &f));
    assert_true(store_bson__tombstone_update("bob", 20, &u));
    assert_doc(&u, "{\"$set\": {\"kind\": {\"$numberInt\": \"3\"}, "
                   "\"body\": {\"$binary\": {\"base64\": \"\", \"subType\": \"00\"}}, "
                   "\"deleted_by\": \"bob\", \"deleted_at\": {\"$numberLong\": \"20\"}}, "
                   "\"$unset\": {\"media_id\": \"\"}}");
    bson_destroy(&doc);
    bson_destroy(&f);
    bson_destroy(&u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_user_roundtrip),
        cmocka_unit_test(test_user_status_documents),
        cmocka_unit_test(test_invite_documents),
        cmocka_unit_test(test_prekey_roundtrip),
        cmocka_unit_test(test_chat_roundtrip_full),
        cmocka_unit_test(test_chat_roundtrip_optional_missing),
        cmocka_unit_test(test_member_roundtrip),
        cmocka_unit_test(test_message_roundtrip),
        cmocka_unit_test(test_media_roundtrip),
        cmocka_unit_test(test_from_doc_rejects_malformed),
        cmocka_unit_test(test_to_doc_rejects_unrepresentable),
        cmocka_unit_test(test_seq_documents),
        cmocka_unit_test(test_member_documents),
        cmocka_unit_test(test_query_documents),
        cmocka_unit_test(test_update_documents),
        cmocka_unit_test(test_index_documents),
        cmocka_unit_test(test_append_run_documents),
        cmocka_unit_test(test_otpk_keys_filter),
        cmocka_unit_test(test_device_documents),
        cmocka_unit_test(test_tombstone_documents),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
