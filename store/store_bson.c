/*
 * store_bson.c - store records <-> BSON documents, and the filter, update
 * and index documents of the MongoDB backend. Pure functions (no I/O).
 */
#include "store_bson.h"

#include "ids.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const store_bson__collections[] = {
    STORE_BSON_USERS,   STORE_BSON_SIGNED_PREKEYS,
    STORE_BSON_OTPKS,   STORE_BSON_CHATS,
    STORE_BSON_MEMBERS, STORE_BSON_MESSAGES,
    STORE_BSON_MEDIA,   STORE_BSON_INVITES,
    STORE_BSON_LINKS,   NULL,
};

/* ------------------------------------------------------------ writers */

static bool put_str(bson_t *d, const char *key, const char *v)
{
    return v != NULL && bson_append_utf8(d, key, -1, v, -1);
}

/* Optional text: omitted when NULL. */
static bool put_opt_str(bson_t *d, const char *key, const char *v)
{
    return v == NULL || bson_append_utf8(d, key, -1, v, -1);
}

static bool put_u64(bson_t *d, const char *key, uint64_t v)
{
    return v <= (uint64_t)INT64_MAX && bson_append_int64(d, key, -1, (int64_t)v);
}

static bool put_bin(bson_t *d, const char *key, const uint8_t *v, size_t len)
{
    if (len > UINT32_MAX || (v == NULL && len > 0))
        return false;
    static const uint8_t empty[1] = {0};
    return bson_append_binary(d, key, -1, BSON_SUBTYPE_BINARY, v ? v : empty, (uint32_t)len);
}

/* ------------------------------------------------------------ readers */

typedef struct {
    const bson_t *doc;
    char *err;
    size_t errlen;
    int rc;         /* first error, STORE_OK while none */
} reader;

static void rd_fail(reader *r, int rc, const char *key, const char *what)
{
    if (r->rc != STORE_OK)
        return;
    r->rc = rc;
    if (r->err && r->errlen)
        snprintf(r->err, r->errlen, "mongodb document: field \"%s\" %s", key, what);
}

/* Find key; returns false (and records an error when required) if absent. */
static bool rd_find(reader *r, const char *key, bool required, bson_iter_t *it)
{
    if (bson_iter_init_find(it, r->doc, key) && !BSON_ITER_HOLDS_NULL(it))
        return true;
    if (required)
        rd_fail(r, STORE_EIO, key, "is missing");
    return false;
}

/* Text field into a fresh heap string; optional ones stay NULL when absent. */
static char *rd_str(reader *r, const char *key, bool required)
{
    bson_iter_t it;
    if (!rd_find(r, key, required, &it))
        return NULL;
    if (!BSON_ITER_HOLDS_UTF8(&it)) {
        rd_fail(r, STORE_EIO, key, "is not a string");
        return NULL;
    }
    uint32_t len = 0;
    const char *v = bson_iter_utf8(&it, &len);
    char *copy = malloc((size_t)len + 1);
    if (!copy) {
        rd_fail(r, STORE_ENOMEM, key, "out of memory");
        return NULL;
    }
    memcpy(copy, v, len);
    copy[len] = '\0';
    return copy;
}

static int64_t rd_i64(reader *r, const char *key, bool required)
{
    bson_iter_t it;
    if (!rd_find(r, key, required, &it))
        return 0;
    if (!BSON_ITER_HOLDS_INT64(&it) && !BSON_ITER_HOLDS_INT32(&it) &&
        !BSON_ITER_HOLDS_DOUBLE(&it)) {
        rd_fail(r, STORE_EIO, key, "is not a number");
        return 0;
    }
    return bson_iter_as_int64(&it);
}

static uint64_t rd_u64(reader *r, const char *key, bool required)
{
    int64_t v = rd_i64(r, key, required);
    if (v < 0) {
        rd_fail(r, STORE_EIO, key, "is negative");
        return 0;
    }
    return (uint64_t)v;
}

/* Binary field of exactly len bytes into out. */
static void rd_fixed_bin(reader *r, const char *key, uint8_t *out, size_t len)
{
    bson_iter_t it;
    if (!rd_find(r, key, true, &it))
        return;
    if (!BSON_ITER_HOLDS_BINARY(&it)) {
        rd_fail(r, STORE_EIO, key, "is not binary");
        return;
    }
    bson_subtype_t sub;
    uint32_t n = 0;
    const uint8_t *v = NULL;
    bson_iter_binary(&it, &sub, &n, &v);
    if (n != len) {
        rd_fail(r, STORE_EIO, key, "has the wrong length");
        return;
    }
    memcpy(out, v, len);
}

/* Binary field of any length into a fresh heap buffer (never NULL on success). */
static uint8_t *rd_bin(reader *r, const char *key, size_t *len)
{
    bson_iter_t it;
    *len = 0;
    if (!rd_find(r, key, true, &it))
        return NULL;
    if (!BSON_ITER_HOLDS_BINARY(&it)) {
        rd_fail(r, STORE_EIO, key, "is not binary");
        return NULL;
    }
    bson_subtype_t sub;
    uint32_t n = 0;
    const uint8_t *v = NULL;
    bson_iter_binary(&it, &sub, &n, &v);
    uint8_t *copy = malloc(n ? n : 1);
    if (!copy) {
        rd_fail(r, STORE_ENOMEM, key, "out of memory");
        return NULL;
    }
    if (n)
        memcpy(copy, v, n);
    *len = n;
    return copy;
}

/* Optional binary field of any length: NULL and *len 0 when absent. */
static uint8_t *rd_opt_bin(reader *r, const char *key, size_t *len)
{
    bson_iter_t it;
    *len = 0;
    if (!rd_find(r, key, false, &it))
        return NULL;
    return rd_bin(r, key, len);
}

/* ------------------------------------------------------------- users */

/* ids_user_fold into a buffer as large as any store id. */
#define STORE_BSON_ID_MAX 255 /* STORE_ID_MAX (store_backend.h) */
static bool fold(const char *user_id, char out[STORE_BSON_ID_MAX + 1])
{
    return ids_user_fold(user_id, out, STORE_BSON_ID_MAX + 1);
}

bool store_bson__user_to_doc(const store_user *u, bson_t *doc)
{
    char f[STORE_BSON_ID_MAX + 1];
    return u->status >= STORE_USER_ACTIVE && u->status <= STORE_USER_DELETED &&
           fold(u->user_id, f) && put_str(doc, "_id", u->user_id) &&
           put_str(doc, "user_id", u->user_id) && put_str(doc, "id_fold", f) &&
           put_bin(doc, "identity_key", u->identity_key, STORE_KEY_LEN) &&
           BSON_APPEND_INT64(doc, "created_at", u->created_at) &&
           BSON_APPEND_INT64(doc, "updated_at", u->updated_at) &&
           BSON_APPEND_INT32(doc, "status", (int32_t)u->status);
}

int store_bson__user_from_doc(const bson_t *doc, store_user *out, char *err, size_t errlen)
{
    reader r = {doc, err, errlen, STORE_OK};
    memset(out, 0, sizeof *out);
    out->user_id = rd_str(&r, "_id", true);
    rd_fixed_bin(&r, "identity_key", out->identity_key, STORE_KEY_LEN);
    out->created_at = rd_i64(&r, "created_at", true);
    out->updated_at = rd_i64(&r, "updated_at", true);
    int64_t status = rd_i64(&r, "status", false); /* absent: written before statuses */
    if (status < STORE_USER_ACTIVE || status > STORE_USER_DELETED)
        rd_fail(&r, STORE_EIO, "status", "is out of range");
    out->status = (store_user_status)status;
    /* the device list (schema 3; absent: the implicit list, version 0) */
    out->devices_version = rd_u64(&r, "devices_version", false);
    out->devices_list = rd_opt_bin(&r, "devices_list", &out->devices_list_len);
    if (out->devices_list) {
        bson_iter_t it;
        if (rd_find(&r, "devices_sig", false, &it))
            rd_fixed_bin(&r, "devices_sig", out->devices_sig, STORE_SIG_LEN);
        else
            rd_fail(&r, STORE_EIO, "devices_sig", "is missing next to devices_list");
    }
    if (r.rc != STORE_OK)
        store_user_free(out);
    return r.rc;
}

bool store_bson__user_devices_query(const char *user_id, uint64_t expect_version, uint64_t version,
                                    const uint8_t *list, size_t list_len,
                                    const uint8_t sig[STORE_SIG_LEN], int64_t updated_at,
                                    bson_t *filter, bson_t *update)
{
    bson_t ne, in, arr, set;
    bool ok = version > expect_version && list && list_len > 0 && sig &&
              put_str(filter, "_id", user_id) &&
              BSON_APPEND_DOCUMENT_BEGIN(filter, "status", &ne) &&
              BSON_APPEND_INT32(&ne, "$ne", STORE_USER_DELETED) &&
              bson_append_document_end(filter, &ne);
    if (ok && expect_version == 0) /* documents written before schema 3 have no field */
        ok = BSON_APPEND_DOCUMENT_BEGIN(filter, "devices_version", &in) &&
             BSON_APPEND_ARRAY_BEGIN(&in, "$in", &arr) && BSON_APPEND_INT64(&arr, "0", 0) &&
             BSON_APPEND_NULL(&arr, "1") && bson_append_array_end(&in, &arr) &&
             bson_append_document_end(filter, &in);
    else if (ok)
        ok = put_u64(filter, "devices_version", expect_version);
    return ok && BSON_APPEND_DOCUMENT_BEGIN(update, "$set", &set) &&
           put_u64(&set, "devices_version", version) &&
           put_bin(&set, "devices_list", list, list_len) &&
           put_bin(&set, "devices_sig", sig, STORE_SIG_LEN) &&
           BSON_APPEND_INT64(&set, "updated_at", updated_at) &&
           bson_append_document_end(update, &set);
}

/* {devices_version: 0} in a $set and {devices_list: "", devices_sig: ""} as $unset. */
static bool drop_devices(bson_t *set, bson_t *update)
{
    bson_t unset;
    return BSON_APPEND_INT64(set, "devices_version", 0) && bson_append_document_end(update, set) &&
           BSON_APPEND_DOCUMENT_BEGIN(update, "$unset", &unset) &&
           BSON_APPEND_UTF8(&unset, "devices_list", "") &&
           BSON_APPEND_UTF8(&unset, "devices_sig", "") && bson_append_document_end(update, &unset);
}

bool store_bson__user_fold_filter(const char *user_id, bson_t *filter)
{
    char f[STORE_BSON_ID_MAX + 1];
    return fold(user_id, f) && put_str(filter, "id_fold", f);
}

bool store_bson__user_status_query(const char *user_id, store_user_status status,
                                   int64_t updated_at, bson_t *filter, bson_t *update)
{
    bson_t ne, set;
    return put_str(filter, "_id", user_id) && BSON_APPEND_DOCUMENT_BEGIN(filter, "status", &ne) &&
           BSON_APPEND_INT32(&ne, "$ne", STORE_USER_DELETED) &&
           bson_append_document_end(filter, &ne) &&
           BSON_APPEND_DOCUMENT_BEGIN(update, "$set", &set) &&
           BSON_APPEND_INT32(&set, "status", (int32_t)status) &&
           BSON_APPEND_INT64(&set, "updated_at", updated_at) &&
           bson_append_document_end(update, &set);
}

bool store_bson__user_tombstone_update(int64_t now, bson_t *update)
{
    static const uint8_t zero[STORE_KEY_LEN];
    bson_t set;
    return BSON_APPEND_DOCUMENT_BEGIN(update, "$set", &set) &&
           BSON_APPEND_INT32(&set, "status", STORE_USER_DELETED) &&
           put_bin(&set, "identity_key", zero, STORE_KEY_LEN) &&
           BSON_APPEND_INT64(&set, "updated_at", now) && drop_devices(&set, update);
}

bool store_bson__user_groups_filter(const char *user_id, bson_t *filter)
{
    return put_str(filter, "user_id", user_id) && BSON_APPEND_REGEX(filter, "chat_id", "^g:", "");
}

/* ----------------------------------------------------------- invites */

bool store_bson__invite_to_doc(const store_invite *i, bson_t *doc)
{
    return put_str(doc, "_id", i->invite_id) && put_str(doc, "invite_id", i->invite_id) &&
           BSON_APPEND_INT64(doc, "created_at", i->created_at) &&
           BSON_APPEND_INT64(doc, "expires_at", i->expires_at) &&
           BSON_APPEND_INT64(doc, "used_at", i->used_at) &&
           put_opt_str(doc, "used_by", i->used_by) && put_opt_str(doc, "note", i->note);
}

int store_bson__invite_from_doc(const bson_t *doc, store_invite *out, char *err, size_t errlen)
{
    reader r = {doc, err, errlen, STORE_OK};
    memset(out, 0, sizeof *out);
    out->invite_id = rd_str(&r, "_id", true);
    out->created_at = rd_i64(&r, "created_at", true);
    out->expires_at = rd_i64(&r, "expires_at", true);
    out->used_at = rd_i64(&r, "used_at", true);
    out->used_by = rd_str(&r, "used_by", false);
    out->note = rd_str(&r, "note", false);
    if (r.rc != STORE_OK)
        store_invite_free(out);
    return r.rc;
}

bool store_bson__invite_use_query(const char *invite_id, const char *user_id, int64_t now,
                                  bson_t *filter, bson_t *update)
{
    bson_t gt, set;
    return put_str(filter, "_id", invite_id) && BSON_APPEND_INT64(filter, "used_at", 0) &&
           BSON_APPEND_DOCUMENT_BEGIN(filter, "expires_at", &gt) &&
           BSON_APPEND_INT64(&gt, "$gt", now) && bson_append_document_end(filter, &gt) &&
           BSON_APPEND_DOCUMENT_BEGIN(update, "$set", &set) &&
           BSON_APPEND_INT64(&set, "used_at", now) && put_str(&set, "used_by", user_id) &&
           bson_append_document_end(update, &set);
}

/* ----------------------------------------------------------- prekeys */

bool store_bson__signed_prekey_to_doc(const store_prekey *p, bson_t *doc)
{
    return BSON_APPEND_INT64(doc, "key_id", (int64_t)p->key_id) &&
           put_bin(doc, "public_key", p->public_key, STORE_KEY_LEN) &&
           put_bin(doc, "signature", p->signature, STORE_SIG_LEN) &&
           BSON_APPEND_INT64(doc, "created_at", p->created_at);
}

static uint32_t rd_key_id(reader *r)
{
    int64_t v = rd_i64(r, "key_id", true);
    if (v < 0 || v > (int64_t)UINT32_MAX) {
        rd_fail(r, STORE_EIO, "key_id", "is out of range");
        return 0;
    }
    return (uint32_t)v;
}

int store_bson__signed_prekey_from_doc(const bson_t *doc, const char *user_id,
                                       const char *device_id, store_prekey *out, char *err,
                                       size_t errlen)
{
    reader r = {doc, err, errlen, STORE_OK};
    memset(out, 0, sizeof *out);
    out->user_id = strdup(user_id ? user_id : "");
    out->device_id = strdup(device_id ? device_id : "");
    if (!out->user_id || !out->device_id)
        rd_fail(&r, STORE_ENOMEM, "user_id", "out of memory");
    out->key_id = rd_key_id(&r);
    rd_fixed_bin(&r, "public_key", out->public_key, STORE_KEY_LEN);
    rd_fixed_bin(&r, "signature", out->signature, STORE_SIG_LEN);
    out->created_at = rd_i64(&r, "created_at", true);
    if (r.rc != STORE_OK)
        store_prekey_free(out);
    return r.rc;
}

bool store_bson__spk_doc_id(const char *user_id, const char *device_id, char *out, size_t outlen)
{
    int n;
    if (!user_id || !user_id[0])
        return false;
    if (!device_id || !device_id[0])
        n = snprintf(out, outlen, "%s", user_id);
    else
        n = snprintf(out, outlen, "%s/%s", user_id, device_id);
    return n > 0 && (size_t)n < outlen;
}

bool store_bson__otpk_device_filter(const char *user_id, const char *device_id, bson_t *filter)
{
    return put_str(filter, "user_id", user_id) &&
           put_str(filter, "device_id", device_id ? device_id : "");
}

bool store_bson__otpk_to_doc(const store_prekey *p, bson_t *doc)
{
    return put_str(doc, "user_id", p->user_id) &&
           put_str(doc, "device_id", p->device_id ? p->device_id : "") &&
           BSON_APPEND_INT64(doc, "key_id", (int64_t)p->key_id) &&
           put_bin(doc, "public_key", p->public_key, STORE_KEY_LEN) &&
           BSON_APPEND_INT64(doc, "created_at", p->created_at);
}

int store_bson__otpk_from_doc(const bson_t *doc, store_prekey *out, char *err, size_t errlen)
{
    reader r = {doc, err, errlen, STORE_OK};
    memset(out, 0, sizeof *out);
    out->user_id = rd_str(&r, "user_id", true);
    out->key_id = rd_key_id(&r);
    rd_fixed_bin(&r, "public_key", out->public_key, STORE_KEY_LEN);
    out->created_at = rd_i64(&r, "created_at", true);
    out->device_id = rd_str(&r, "device_id", false); /* absent: written before schema 3 */
    if (r.rc == STORE_OK && !out->device_id && !(out->device_id = strdup("")))
        rd_fail(&r, STORE_ENOMEM, "device_id", "out of memory");
    if (r.rc != STORE_OK)
        store_prekey_free(out);
    return r.rc;
}

/* -------------------------------------------------------- link codes */

bool store_bson__link_to_doc(const store_link *l, bson_t *doc)
{
    return put_str(doc, "_id", l->code) && put_str(doc, "code", l->code) &&
           put_str(doc, "user_id", l->user_id) && put_str(doc, "device_id", l->device_id) &&
           put_bin(doc, "device_key", l->device_key, STORE_KEY_LEN) &&
           put_opt_str(doc, "name", l->name) &&
           BSON_APPEND_INT64(doc, "created_at", l->created_at) &&
           BSON_APPEND_INT64(doc, "expires_at", l->expires_at);
}

int store_bson__link_from_doc(const bson_t *doc, store_link *out, char *err, size_t errlen)
{
    reader r = {doc, err, errlen, STORE_OK};
    memset(out, 0, sizeof *out);
    out->code = rd_str(&r, "_id", true);
    out->user_id = rd_str(&r, "user_id", true);
    out->device_id = rd_str(&r, "device_id", true);
    rd_fixed_bin(&r, "device_key", out->device_key, STORE_KEY_LEN);
    out->name = rd_str(&r, "name", false);
    out->created_at = rd_i64(&r, "created_at", true);
    out->expires_at = rd_i64(&r, "expires_at", true);
    if (r.rc != STORE_OK)
        store_link_free(out);
    return r.rc;
}

bool store_bson__link_count_filter(const char *user_id, int64_t now, bson_t *filter)
{
    bson_t gt;
    return put_str(filter, "user_id", user_id) &&
           BSON_APPEND_DOCUMENT_BEGIN(filter, "expires_at", &gt) &&
           BSON_APPEND_INT64(&gt, "$gt", now) && bson_append_document_end(filter, &gt);
}

bool store_bson__links_expired_filter(int64_t now, bson_t *filter)
{
    bson_t lte;
    return BSON_APPEND_DOCUMENT_BEGIN(filter, "expires_at", &lte) &&
           BSON_APPEND_INT64(&lte, "$lte", now) && bson_append_document_end(filter, &lte);
}

/* ------------------------------------------------------------- chats */

bool store_bson__chat_to_doc(const store_chat *c, bson_t *doc)
{
    return put_str(doc, "_id", c->chat_id) && put_str(doc, "chat_id", c->chat_id) &&
           BSON_APPEND_INT32(doc, "type", (int32_t)c->type) && put_opt_str(doc, "name", c->name) &&
           put_opt_str(doc, "description", c->description) &&
           put_opt_str(doc, "created_by", c->created_by) &&
           put_opt_str(doc, "settings", c->settings) &&
           BSON_APPEND_INT64(doc, "created_at", c->created_at) &&
           BSON_APPEND_INT64(doc, "last_message_at", c->last_message_at) &&
           put_u64(doc, "last_seq", c->last_seq);
}

int store_bson__chat_from_doc(const bson_t *doc, store_chat *out, char *err, size_t errlen)
{
    reader r = {doc, err, errlen, STORE_OK};
    memset(out, 0, sizeof *out);
    out->chat_id = rd_str(&r, "_id", true);
    int64_t type = rd_i64(&r, "type", true);
    if (r.rc == STORE_OK && type != STORE_CHAT_DIRECT && type != STORE_CHAT_GROUP)
        rd_fail(&r, STORE_EIO, "type", "is not a chat type");
    out->type = (store_chat_type)type;
    out->name = rd_str(&r, "name", false);
    out->description = rd_str(&r, "description", false);
    out->created_by = rd_str(&r, "created_by", false);
    out->settings = rd_str(&r, "settings", false);
    out->created_at = rd_i64(&r, "created_at", true);
    out->last_message_at = rd_i64(&r, "last_message_at", false);
    out->last_seq = rd_u64(&r, "last_seq", false);
    if (r.rc != STORE_OK)
        store_chat_free(out);
    return r.rc;
}

/* ----------------------------------------------------------- members */

bool store_bson__member_to_doc(const store_member *m, bson_t *doc)
{
    return put_str(doc, "chat_id", m->chat_id) && put_str(doc, "user_id", m->user_id) &&
           BSON_APPEND_INT32(doc, "role", (int32_t)m->role) &&
           BSON_APPEND_INT64(doc, "joined_at", m->joined_at) &&
           put_u64(doc, "joined_seq", m->joined_seq) &&
           put_u64(doc, "delivered_seq", m->delivered_seq) && put_u64(doc, "read_seq", m->read_seq);
}

int store_bson__member_from_doc(const bson_t *doc, store_member *out, char *err, size_t errlen)
{
    reader r = {doc, err, errlen, STORE_OK};
    memset(out, 0, sizeof *out);
    out->chat_id = rd_str(&r, "chat_id", true);
    out->user_id = rd_str(&r, "user_id", true);
    int64_t role = rd_i64(&r, "role", true);
    if (r.rc == STORE_OK && (role < STORE_ROLE_MEMBER || role > STORE_ROLE_OWNER))
        rd_fail(&r, STORE_EIO, "role", "is not a role");
    out->role = (store_role)role;
    out->joined_at = rd_i64(&r, "joined_at", true);
    out->joined_seq = rd_u64(&r, "joined_seq", false);
    out->delivered_seq = rd_u64(&r, "delivered_seq", false);
    out->read_seq = rd_u64(&r, "read_seq", false);
    if (r.rc != STORE_OK)
        store_member_free(out);
    return r.rc;
}

/* ---------------------------------------------------------- messages */

bool store_bson__message_to_doc(const store_message *m, bson_t *doc)
{
    return m->seq > 0 && put_str(doc, "_id", m->server_id) && put_str(doc, "chat_id", m->chat_id) &&
           put_u64(doc, "seq", m->seq) && put_str(doc, "server_id", m->server_id) &&
           put_str(doc, "sender", m->sender) && put_str(doc, "client_msg_id", m->client_msg_id) &&
           BSON_APPEND_INT64(doc, "server_ts", m->server_ts) &&
           put_bin(doc, "body", m->body, m->body_len) &&
           put_opt_str(doc, "media_id", m->media_id) &&
           BSON_APPEND_INT64(doc, "expires_at", m->expires_at) &&
           BSON_APPEND_INT32(doc, "kind", (int32_t)m->kind) &&
           put_opt_str(doc, "sender_device",
                       m->sender_device && m->sender_device[0] ? m->sender_device : NULL) &&
           put_opt_str(doc, "deleted_by",
                       m->deleted_by && m->deleted_by[0] ? m->deleted_by : NULL) &&
           (m->deleted_at == 0 || BSON_APPEND_INT64(doc, "deleted_at", m->deleted_at));
}

int store_bson__message_from_doc(const bson_t *doc, store_message *out, char *err, size_t errlen)
{
    reader r = {doc, err, errlen, STORE_OK};
    memset(out, 0, sizeof *out);
    out->chat_id = rd_str(&r, "chat_id", true);
    out->seq = rd_u64(&r, "seq", true);
    out->server_id = rd_str(&r, "server_id", true);
    out->sender = rd_str(&r, "sender", true);
    out->client_msg_id = rd_str(&r, "client_msg_id", true);
    out->server_ts = rd_i64(&r, "server_ts", true);
    out->body = rd_bin(&r, "body", &out->body_len);
    out->media_id = rd_str(&r, "media_id", false);
    out->expires_at = rd_i64(&r, "expires_at", false);
    out->kind = (int)rd_i64(&r, "kind", true);
    out->sender_device = rd_str(&r, "sender_device", false);
    out->deleted_by = rd_str(&r, "deleted_by", false);
    out->deleted_at = rd_i64(&r, "deleted_at", false);
    if (r.rc != STORE_OK)
        store_message_free(out);
    return r.rc;
}

/* ------------------------------------------------------------- media */

bool store_bson__media_to_doc(const store_media *m, bson_t *doc)
{
    return put_str(doc, "_id", m->media_id) && put_str(doc, "media_id", m->media_id) &&
           put_str(doc, "owner", m->owner) && put_u64(doc, "size", m->size) &&
           put_bin(doc, "sha256", m->sha256, STORE_SHA256_LEN) &&
           put_opt_str(doc, "content_type", m->content_type) &&
           put_opt_str(doc, "backend_key", m->backend_key) &&
           BSON_APPEND_INT64(doc, "created_at", m->created_at) &&
           BSON_APPEND_INT64(doc, "expires_at", m->expires_at);
}

int store_bson__media_from_doc(const bson_t *doc, store_media *out, char *err, size_t errlen)
{
    reader r = {doc, err, errlen, STORE_OK};
    memset(out, 0, sizeof *out);
    out->media_id = rd_str(&r, "_id", true);
    out->owner = rd_str(&r, "owner", true);
    out->size = rd_u64(&r, "size", true);
    rd_fixed_bin(&r, "sha256", out->sha256, STORE_SHA256_LEN);
    out->content_type = rd_str(&r, "content_type", false);
    out->backend_key = rd_str(&r, "backend_key", false);
    out->created_at = rd_i64(&r, "created_at", true);
    out->expires_at = rd_i64(&r, "expires_at", false);
    if (r.rc != STORE_OK)
        store_media_free(out);
    return r.rc;
}

/* ----------------------------------------------- filters and updates */

bool store_bson__id_filter(const char *id, bson_t *filter)
{
    return put_str(filter, "_id", id);
}

bool store_bson__member_filter(const char *chat_id, const char *user_id, bson_t *filter)
{
    return put_str(filter, "chat_id", chat_id) && put_str(filter, "user_id", user_id);
}

bool store_bson__message_filter(const char *chat_id, uint64_t seq, bson_t *filter)
{
    return put_str(filter, "chat_id", chat_id) && put_u64(filter, "seq", seq);
}

bool store_bson__tombstone_filter(const char *chat_id, uint64_t seq, bson_t *filter)
{
    return store_bson__message_filter(chat_id, seq, filter) &&
           BSON_APPEND_INT32(filter, "kind", STORE_KIND_CHAT);
}

bool store_bson__tombstone_update(const char *deleted_by, int64_t deleted_at, bson_t *update)
{
    bson_t set, unset;
    return BSON_APPEND_DOCUMENT_BEGIN(update, "$set", &set) &&
           BSON_APPEND_INT32(&set, "kind", STORE_KIND_TOMBSTONE) &&
           put_bin(&set, "body", NULL, 0) && put_str(&set, "deleted_by", deleted_by) &&
           BSON_APPEND_INT64(&set, "deleted_at", deleted_at) &&
           bson_append_document_end(update, &set) &&
           BSON_APPEND_DOCUMENT_BEGIN(update, "$unset", &unset) &&
           BSON_APPEND_UTF8(&unset, "media_id", "") && bson_append_document_end(update, &unset);
}

bool store_bson__client_id_filter(const char *sender, const char *client_msg_id, bson_t *filter)
{
    return put_str(filter, "sender", sender) && put_str(filter, "client_msg_id", client_msg_id);
}

bool store_bson__users_since_query(int64_t since, bson_t *filter, bson_t *opts)
{
    bson_t ge, sort;
    bool ok = BSON_APPEND_DOCUMENT_BEGIN(filter, "updated_at", &ge) &&
              BSON_APPEND_INT64(&ge, "$gte", since) && bson_append_document_end(filter, &ge);
    ok = ok && BSON_APPEND_DOCUMENT_BEGIN(opts, "sort", &sort) &&
         BSON_APPEND_INT32(&sort, "updated_at", 1) && BSON_APPEND_INT32(&sort, "_id", 1) &&
         bson_append_document_end(opts, &sort);
    return ok;
}

bool store_bson__user_set_key_update(const uint8_t key[STORE_KEY_LEN], int64_t updated_at,
                                     bson_t *update)
{
    bson_t set;
    return BSON_APPEND_DOCUMENT_BEGIN(update, "$set", &set) &&
           put_bin(&set, "identity_key", key, STORE_KEY_LEN) &&
           BSON_APPEND_INT64(&set, "updated_at", updated_at) && drop_devices(&set, update);
}

bool store_bson__signed_prekey_update(const store_prekey *p, bson_t *pipeline)
{
    bson_t stage, set, lit, pk;
    return p->user_id != NULL && BSON_APPEND_DOCUMENT_BEGIN(pipeline, "0", &stage) &&
           BSON_APPEND_DOCUMENT_BEGIN(&stage, "$set", &set) &&
           put_str(&set, "user_id", p->user_id) &&
           put_str(&set, "device_id", p->device_id ? p->device_id : "") &&
           BSON_APPEND_UTF8(&set, "previous", "$current") &&
           BSON_APPEND_DOCUMENT_BEGIN(&set, "current", &lit) &&
           BSON_APPEND_DOCUMENT_BEGIN(&lit, "$literal", &pk) &&
           store_bson__signed_prekey_to_doc(p, &pk) && bson_append_document_end(&lit, &pk) &&
           bson_append_document_end(&set, &lit) && bson_append_document_end(&stage, &set) &&
           bson_append_document_end(pipeline, &stage);
}

bool store_bson__otpk_pop_sort(bson_t *sort)
{
    return BSON_APPEND_INT32(sort, "key_id", 1);
}

bool store_bson__chat_update(const store_chat *c, bson_t *update)
{
    const char *keys[] = {"name", "description", "settings"};
    const char *vals[] = {c->name, c->description, c->settings};
    bson_t set, unset;
    bool ok = BSON_APPEND_DOCUMENT_BEGIN(update, "$set", &set);
    for (size_t i = 0; ok && i < 3; i++)
        if (vals[i])
            ok = BSON_APPEND_UTF8(&set, keys[i], vals[i]);
    ok = ok && bson_append_document_end(update, &set);
    if (ok && (!c->name || !c->description || !c->settings)) {
        ok = BSON_APPEND_DOCUMENT_BEGIN(update, "$unset", &unset);
        for (size_t i = 0; ok && i < 3; i++)
            if (!vals[i])
                ok = BSON_APPEND_UTF8(&unset, keys[i], "");
        ok = ok && bson_append_document_end(update, &unset);
    }
    return ok;
}

bool store_bson__seq_alloc_update(int64_t server_ts, bson_t *update)
{
    bson_t inc, max;
    return BSON_APPEND_DOCUMENT_BEGIN(update, "$inc", &inc) &&
           BSON_APPEND_INT64(&inc, "last_seq", 1) && bson_append_document_end(update, &inc) &&
           BSON_APPEND_DOCUMENT_BEGIN(update, "$max", &max) &&
           BSON_APPEND_INT64(&max, "last_message_at", server_ts) &&
           bson_append_document_end(update, &max);
}

bool store_bson__otpk_keys_filter(const store_prekey *keys, size_t n, bson_t *filter)
{
    bson_t in, arr;
    char key[16];
    const char *k;
    bool ok = n > 0 && put_str(filter, "user_id", keys[0].user_id) &&
              put_str(filter, "device_id", keys[0].device_id ? keys[0].device_id : "") &&
              BSON_APPEND_DOCUMENT_BEGIN(filter, "key_id", &in) &&
              BSON_APPEND_ARRAY_BEGIN(&in, "$in", &arr);
    for (size_t i = 0; ok && i < n; i++) {
        bson_uint32_to_string((uint32_t)i, &k, key, sizeof key);
        ok = bson_append_int64(&arr, k, -1, (int64_t)keys[i].key_id);
    }
    return ok && bson_append_array_end(&in, &arr) && bson_append_document_end(filter, &in);
}

bool store_bson__seq_alloc_n_update(uint64_t n, int64_t max_ts, bson_t *update)
{
    bson_t inc, max;
    return n > 0 && BSON_APPEND_DOCUMENT_BEGIN(update, "$inc", &inc) &&
           put_u64(&inc, "last_seq", n) && bson_append_document_end(update, &inc) &&
           BSON_APPEND_DOCUMENT_BEGIN(update, "$max", &max) &&
           BSON_APPEND_INT64(&max, "last_message_at", max_ts) &&
           bson_append_document_end(update, &max);
}

bool store_bson__client_ids_query(const char *const *senders, const char *const *client_msg_ids,
                                  size_t n, bson_t *filter, bson_t *opts)
{
    bson_t arr, one, proj;
    char key[16];
    const char *k;
    bool ok = n > 0 && BSON_APPEND_ARRAY_BEGIN(filter, "$or", &arr);
    for (size_t i = 0; ok && i < n; i++) {
        bson_uint32_to_string((uint32_t)i, &k, key, sizeof key);
        ok = bson_append_document_begin(&arr, k, -1, &one) && put_str(&one, "sender", senders[i]) &&
             put_str(&one, "client_msg_id", client_msg_ids[i]) &&
             bson_append_document_end(&arr, &one);
    }
    ok = ok && bson_append_array_end(filter, &arr);
    return ok && BSON_APPEND_DOCUMENT_BEGIN(opts, "projection", &proj) &&
           BSON_APPEND_INT32(&proj, "_id", 0) && BSON_APPEND_INT32(&proj, "sender", 1) &&
           BSON_APPEND_INT32(&proj, "client_msg_id", 1) && BSON_APPEND_INT32(&proj, "seq", 1) &&
           BSON_APPEND_INT32(&proj, "server_id", 1) && bson_append_document_end(opts, &proj);
}

int store_bson__dup_from_doc(const bson_t *doc, const char **sender, const char **client_msg_id,
                             uint64_t *seq, const char **server_id, char *err, size_t errlen)
{
    bson_iter_t it;
    const char *names[3] = {"sender", "client_msg_id", "server_id"};
    const char **outs[3] = {sender, client_msg_id, server_id};
    for (int i = 0; i < 3; i++) {
        if (!bson_iter_init_find(&it, doc, names[i]) || !BSON_ITER_HOLDS_UTF8(&it)) {
            snprintf(err, errlen, "mongodb message: %s missing or not a string", names[i]);
            return STORE_EIO;
        }
        *outs[i] = bson_iter_utf8(&it, NULL);
    }
    if (!bson_iter_init_find(&it, doc, "seq") || !BSON_ITER_HOLDS_NUMBER(&it) ||
        bson_iter_as_int64(&it) <= 0) {
        snprintf(err, errlen, "mongodb message: seq missing or not positive");
        return STORE_EIO;
    }
    *seq = (uint64_t)bson_iter_as_int64(&it);
    return STORE_OK;
}

bool store_bson__seq_explicit(const char *chat_id, uint64_t seq, int64_t server_ts, bson_t *filter,
                              bson_t *update)
{
    bson_t lt, set, max;
    return seq > 0 && put_str(filter, "_id", chat_id) &&
           BSON_APPEND_DOCUMENT_BEGIN(filter, "last_seq", &lt) && put_u64(&lt, "$lt", seq) &&
           bson_append_document_end(filter, &lt) &&
           BSON_APPEND_DOCUMENT_BEGIN(update, "$set", &set) && put_u64(&set, "last_seq", seq) &&
           bson_append_document_end(update, &set) &&
           BSON_APPEND_DOCUMENT_BEGIN(update, "$max", &max) &&
           BSON_APPEND_INT64(&max, "last_message_at", server_ts) &&
           bson_append_document_end(update, &max);
}

bool store_bson__raise_seq_update(uint64_t last_seq, int64_t last_message_at, bson_t *update)
{
    bson_t max;
    return BSON_APPEND_DOCUMENT_BEGIN(update, "$max", &max) &&
           put_u64(&max, "last_seq", last_seq) &&
           BSON_APPEND_INT64(&max, "last_message_at", last_message_at) &&
           bson_append_document_end(update, &max);
}

bool store_bson__page_query(const char *after, size_t limit, bson_t *filter, bson_t *opts)
{
    bson_t gt, sort;
    return after != NULL && limit <= (size_t)INT64_MAX &&
           BSON_APPEND_DOCUMENT_BEGIN(filter, "_id", &gt) && BSON_APPEND_UTF8(&gt, "$gt", after) &&
           bson_append_document_end(filter, &gt) &&
           BSON_APPEND_DOCUMENT_BEGIN(opts, "sort", &sort) && BSON_APPEND_INT32(&sort, "_id", 1) &&
           bson_append_document_end(opts, &sort) &&
           BSON_APPEND_INT64(opts, "limit", (int64_t)limit);
}

bool store_bson__member_advance_update(uint64_t delivered_seq, uint64_t read_seq, bson_t *update)
{
    bson_t max;
    if (delivered_seq == 0 && read_seq == 0)
        return false;
    return BSON_APPEND_DOCUMENT_BEGIN(update, "$max", &max) &&
           (delivered_seq == 0 || put_u64(&max, "delivered_seq", delivered_seq)) &&
           (read_seq == 0 || put_u64(&max, "read_seq", read_seq)) &&
           bson_append_document_end(update, &max);
}

bool store_bson__member_role_update(store_role role, bson_t *update)
{
    bson_t set;
    return BSON_APPEND_DOCUMENT_BEGIN(update, "$set", &set) &&
           BSON_APPEND_INT32(&set, "role", (int32_t)role) && bson_append_document_end(update, &set);
}

bool store_bson__messages_after_query(const char *chat_id, uint64_t after_seq, size_t limit,
                                      bson_t *filter, bson_t *opts)
{
    bson_t gt, sort;
    return limit <= (size_t)INT64_MAX && put_str(filter, "chat_id", chat_id) &&
           BSON_APPEND_DOCUMENT_BEGIN(filter, "seq", &gt) && put_u64(&gt, "$gt", after_seq) &&
           bson_append_document_end(filter, &gt) &&
           BSON_APPEND_DOCUMENT_BEGIN(opts, "sort", &sort) && BSON_APPEND_INT32(&sort, "seq", 1) &&
           bson_append_document_end(opts, &sort) &&
           BSON_APPEND_INT64(opts, "limit", (int64_t)limit);
}

bool store_bson__expired_filter(int64_t now, bson_t *filter)
{
    bson_t range;
    return BSON_APPEND_DOCUMENT_BEGIN(filter, "expires_at", &range) &&
           BSON_APPEND_INT64(&range, "$gt", 0) && BSON_APPEND_INT64(&range, "$lte", now) &&
           bson_append_document_end(filter, &range);
}

bool store_bson__media_expired_opts(size_t limit, bson_t *opts)
{
    bson_t sort;
    return limit <= (size_t)INT64_MAX && BSON_APPEND_DOCUMENT_BEGIN(opts, "sort", &sort) &&
           BSON_APPEND_INT32(&sort, "expires_at", 1) && bson_append_document_end(opts, &sort) &&
           BSON_APPEND_INT64(opts, "limit", (int64_t)limit);
}

/* ----------------------------------------------------------- indexes */

/* One index: name, unique flag, and up to three ascending key fields. */
typedef struct {
    const char *collection;
    const char *name;
    bool unique;
    const char *keys[3];
    bool partial_string;    /* only documents whose first key is a string */
} index_spec;

static const index_spec INDEXES[] = {
    {STORE_BSON_USERS, "updated_at", false, {"updated_at"}, false},
    {STORE_BSON_USERS, "id_fold", true, {"id_fold"}, true},
    /* schema 3: a key id is unique per device ("user_id_key_id", per user, is
     * dropped at open: STORE_BSON_OBSOLETE_INDEXES) */
    {STORE_BSON_OTPKS, "user_device_key", true, {"user_id", "device_id", "key_id"}, false},
    {STORE_BSON_SIGNED_PREKEYS, "user_id", false, {"user_id"}, false},
    {STORE_BSON_LINKS, "user_id_expires_at", false, {"user_id", "expires_at"}, false},
    {STORE_BSON_LINKS, "expires_at", false, {"expires_at"}, false},
    {STORE_BSON_MEMBERS, "chat_id_user_id", true, {"chat_id", "user_id"}, false},
    {STORE_BSON_MEMBERS, "user_id", false, {"user_id"}, false},
    {STORE_BSON_MESSAGES, "chat_id_seq", true, {"chat_id", "seq"}, false},
    {STORE_BSON_MESSAGES, "sender_client_msg_id", true, {"sender", "client_msg_id"}, false},
    {STORE_BSON_MESSAGES, "sender", false, {"sender"}, false},
    {STORE_BSON_MESSAGES, "expires_at", false, {"expires_at"}, false},
    {STORE_BSON_MEDIA, "expires_at", false, {"expires_at"}, false},
};

bool store_bson__create_indexes_cmd(const char *collection, bson_t *cmd)
{
    bson_t arr, idx, key;
    size_t found = 0;
    char numkey[16];
    const char *numstr;
    bool ok = BSON_APPEND_UTF8(cmd, "createIndexes", collection) &&
              BSON_APPEND_ARRAY_BEGIN(cmd, "indexes", &arr);
    for (size_t i = 0; ok && i < sizeof INDEXES / sizeof INDEXES[0]; i++) {
        const index_spec *spec = &INDEXES[i];
        if (strcmp(spec->collection, collection) != 0)
            continue;
        bson_uint32_to_string((uint32_t)found++, &numstr, numkey, sizeof numkey);
        ok = BSON_APPEND_DOCUMENT_BEGIN(&arr, numstr, &idx) &&
             BSON_APPEND_DOCUMENT_BEGIN(&idx, "key", &key);
        for (size_t k = 0; ok && k < 3 && spec->keys[k]; k++)
            ok = BSON_APPEND_INT32(&key, spec->keys[k], 1);
        ok = ok && bson_append_document_end(&idx, &key) &&
             BSON_APPEND_UTF8(&idx, "name", spec->name) &&
             (!spec->unique || BSON_APPEND_BOOL(&idx, "unique", true));
        if (ok && spec->partial_string) {
            bson_t pf, ty;
            ok = BSON_APPEND_DOCUMENT_BEGIN(&idx, "partialFilterExpression", &pf) &&
                 BSON_APPEND_DOCUMENT_BEGIN(&pf, spec->keys[0], &ty) &&
                 BSON_APPEND_UTF8(&ty, "$type", "string") && bson_append_document_end(&pf, &ty) &&
                 bson_append_document_end(&idx, &pf);
        }
        ok = ok && bson_append_document_end(&arr, &idx);
    }
    ok = ok && bson_append_array_end(cmd, &arr);
    return ok && found > 0;
}
