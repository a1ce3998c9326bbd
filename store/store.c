/*
 * store.c - the public store_* entry points: argument checks, then dispatch
 * to the connection's backend (store_backend.h). Also the record *_free()
 * helpers, store_strerror() and the writer's op allocation.
 */
#include "store_backend.h"
#include "store_writer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The message of the last failed store_open() on this thread, returned by
 * store_last_error(NULL). */
static _Thread_local char open_err[256];

const char *store_strerror(int rc)
{
    switch (rc) {
    case STORE_OK: return "ok";
    case STORE_ENOTFOUND: return "not found";
    case STORE_EEXIST: return "already exists";
    case STORE_EDUP: return "duplicate client message id";
    case STORE_EINVAL: return "invalid argument";
    case STORE_EIO: return "storage backend error";
    case STORE_ENOMEM: return "out of memory";
    case STORE_EUNAVAIL: return "storage backend unavailable";
    case STORE_ECLOSED: return "writer stopped";
    default: return "unknown store error";
    }
}

void store__set_error(store_t *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->err, sizeof s->err, fmt, ap);
    va_end(ap);
}

char *store__strdup(const char *src)
{
    return src ? strdup(src) : NULL;
}

/* ------------------------------------------------------------ arg checks */

/* Fail with STORE_EINVAL unless id is a non-empty string of at most
 * STORE_ID_MAX bytes. */
static int check_id(store_t *s, const char *id, const char *what)
{
    if (!id || !id[0]) {
        store__set_error(s, "%s is missing", what);
        return STORE_EINVAL;
    }
    if (strnlen(id, STORE_ID_MAX + 1) > STORE_ID_MAX) {
        store__set_error(s, "%s is longer than %d bytes", what, STORE_ID_MAX);
        return STORE_EINVAL;
    }
    return STORE_OK;
}

/* Optional id: NULL is fine, "" is not. */
static int check_opt_id(store_t *s, const char *id, const char *what)
{
    return id ? check_id(s, id, what) : STORE_OK;
}

static int check_opt_text(store_t *s, const char *text, size_t max, const char *what)
{
    if (text && strnlen(text, max + 1) > max) {
        store__set_error(s, "%s is longer than %zu bytes", what, max);
        return STORE_EINVAL;
    }
    return STORE_OK;
}

static int check_ptr(store_t *s, const void *p, const char *what)
{
    if (!p) {
        store__set_error(s, "%s is NULL", what);
        return STORE_EINVAL;
    }
    return STORE_OK;
}

static int check_role(store_t *s, int role)
{
    if (role < STORE_ROLE_MEMBER || role > STORE_ROLE_OWNER) {
        store__set_error(s, "invalid member role %d", role);
        return STORE_EINVAL;
    }
    return STORE_OK;
}

static int check_chat(store_t *s, const store_chat *c, bool need_type)
{
    int rc;
    if ((rc = check_ptr(s, c, "chat")) || (rc = check_id(s, c->chat_id, "chat_id")))
        return rc;
    if (need_type && c->type != STORE_CHAT_DIRECT && c->type != STORE_CHAT_GROUP) {
        store__set_error(s, "invalid chat type %d", (int)c->type);
        return STORE_EINVAL;
    }
    if ((rc = check_opt_text(s, c->name, STORE_TEXT_MAX, "chat name")) ||
        (rc = check_opt_text(s, c->description, STORE_TEXT_MAX, "chat description")) ||
        (rc = check_opt_id(s, c->created_by, "created_by")) ||
        (rc = check_opt_text(s, c->settings, STORE_SETTINGS_MAX, "chat settings")))
        return rc;
    return STORE_OK;
}

/* A device id: NULL or "" (the implicit device) or at most STORE_ID_MAX bytes. */
static int check_device(store_t *s, const char *id)
{
    return check_opt_text(s, id, STORE_ID_MAX, "device_id");
}

static const char *dev(const char *id)
{
    return id ? id : "";
}

static int check_prekey(store_t *s, const store_prekey *p)
{
    int rc;
    if ((rc = check_ptr(s, p, "prekey")))
        return rc;
    if ((rc = check_device(s, p->device_id)))
        return rc;
    return check_id(s, p->user_id, "user_id");
}

/* Common prologue: s must be an open connection; clears its error. */
#define ENTER(s) \
    do { \
        if (!(s)) \
            return STORE_EINVAL; \
        (s)->err[0] = '\0'; \
    } while (0)

#define CHECK(expr) \
    do { \
        int check_rc_ = (expr); \
        if (check_rc_ != STORE_OK) \
            return check_rc_; \
    } while (0)

static int unsupported(store_t *s, const char *what);

/* A record's out parameter: it must be given; it starts zeroed. */
#define GET_OUT(s, out) \
    do { \
        CHECK(check_ptr(s, out, "out")); \
        memset(out, 0, sizeof *(out)); \
    } while (0)

/* The backend's optional FN with these arguments, or "not supported" when the
 * backend has none. */
#define VT_OPTIONAL(s, fn, ...) \
    ((s)->vt->fn ? (s)->vt->fn(s, __VA_ARGS__) : unsupported(s, "store_" #fn))

/* A list's out parameters: both must be given; they start empty. */
#define LIST_OUT(s, out, n) \
    do { \
        CHECK(check_ptr(s, out, "out")); \
        CHECK(check_ptr(s, n, "n")); \
        *(out) = NULL; \
        *(n) = 0; \
    } while (0)

/* A page holds at most STORE_PAGE_MAX records; a limit of 0 asks for none. */
#define PAGE_LIMIT(limit) \
    do { \
        if ((limit) == 0) \
            return STORE_OK; \
        if ((limit) > STORE_PAGE_MAX) \
            (limit) = STORE_PAGE_MAX; \
    } while (0)

/* The whole of a keyset-paged list (users, invites, chats): the page after the
 * key `after` (NULL or "": from the start) through the backend's optional FN. */
#define KEYSET_PAGE(s, fn, after, limit, out, n) \
    do { \
        LIST_OUT(s, out, n); \
        CHECK(check_opt_text(s, after, STORE_ID_MAX, "after")); \
        if (!(s)->vt->fn) \
            return unsupported(s, "store_" #fn); \
        PAGE_LIMIT(limit); \
        return (s)->vt->fn(s, (after) ? (after) : "", limit, out, n); \
    } while (0)

/* --------------------------------------------------------- connections */

int store_open(const char *uri, const store_options *opts, store_t **out)
{
    store_options o = {.busy_timeout_ms = 5000, .mongo_write_concern = "majority"};
    open_err[0] = '\0';
    if (!out) {
        snprintf(open_err, sizeof open_err, "store_open: out is NULL");
        return STORE_EINVAL;
    }
    *out = NULL;
    if (!uri || !uri[0]) {
        snprintf(open_err, sizeof open_err, "store_open: no store URI given");
        return STORE_EINVAL;
    }
    if (opts) {
        if (opts->busy_timeout_ms > 0)
            o.busy_timeout_ms = opts->busy_timeout_ms;
        if (opts->mongo_write_concern && opts->mongo_write_concern[0])
            o.mongo_write_concern = opts->mongo_write_concern;
        o.read_only = opts->read_only;
        o.background_checkpoints = opts->background_checkpoints;
    }
    if (strncmp(uri, "sqlite:", 7) == 0)
        return store_sqlite__open(uri, &o, out, open_err, sizeof open_err);
    if (strncmp(uri, "mongodb://", 10) == 0 || strncmp(uri, "mongodb+srv://", 14) == 0) {
#ifdef PARLEY_HAVE_MONGO_BACKEND
        return store_mongo__open(uri, &o, out, open_err, sizeof open_err);
#else
        snprintf(open_err, sizeof open_err,
                 "store_open: built without the MongoDB backend (PARLEY_MONGO=OFF)");
        return STORE_EINVAL;
#endif
    }
    snprintf(open_err, sizeof open_err,
             "store_open: unknown store URI scheme (want sqlite:PATH or mongodb://...)");
    return STORE_EINVAL;
}

void store_close(store_t *s)
{
    if (s)
        s->vt->close(s);
}

void store_checkpoint_stats_get(store_t *s, store_checkpoint_stats *out)
{
    if (!out)
        return;
    *out = (store_checkpoint_stats){0};
    if (s)
        s->vt->checkpoint_stats(s, out);
}

const char *store_last_error(store_t *s)
{
    if (!s)
        return open_err;
    return s->err;
}

int store_begin(store_t *s)
{
    ENTER(s);
    return s->vt->begin(s);
}

int store_commit(store_t *s)
{
    ENTER(s);
    return s->vt->commit(s);
}

int store_rollback(store_t *s)
{
    ENTER(s);
    return s->vt->rollback(s);
}

/* ---------------------------------------------------------------- users */

int store_user_put(store_t *s, const store_user *u)
{
    ENTER(s);
    CHECK(check_ptr(s, u, "user"));
    CHECK(check_id(s, u->user_id, "user_id"));
    if (u->status < STORE_USER_ACTIVE || u->status > STORE_USER_DELETED) {
        store__set_error(s, "invalid user status %d", (int)u->status);
        return STORE_EINVAL;
    }
    return s->vt->user_put(s, u);
}

int store_user_set_key(store_t *s, const char *user_id, const uint8_t key[STORE_KEY_LEN],
                       int64_t updated_at)
{
    ENTER(s);
    CHECK(check_id(s, user_id, "user_id"));
    CHECK(check_ptr(s, key, "key"));
    return s->vt->user_set_key(s, user_id, key, updated_at);
}

int store_user_get(store_t *s, const char *user_id, store_user *out)
{
    ENTER(s);
    GET_OUT(s, out);
    CHECK(check_id(s, user_id, "user_id"));
    return s->vt->user_get(s, user_id, out);
}

int store_users_changed_since(store_t *s, int64_t since, store_user **out, size_t *n)
{
    ENTER(s);
    LIST_OUT(s, out, n);
    return s->vt->users_changed_since(s, since, out, n);
}

const char *store_user_status_name(int status)
{
    switch (status) {
    case STORE_USER_ACTIVE: return "active";
    case STORE_USER_DISABLED: return "disabled";
    case STORE_USER_DELETED: return "deleted";
    default: return "unknown";
    }
}

int store_user_get_fold(store_t *s, const char *user_id, store_user *out)
{
    ENTER(s);
    GET_OUT(s, out);
    CHECK(check_id(s, user_id, "user_id"));
    return VT_OPTIONAL(s, user_get_fold, user_id, out);
}

int store_user_set_status(store_t *s, const char *user_id, store_user_status status,
                          int64_t updated_at)
{
    ENTER(s);
    CHECK(check_id(s, user_id, "user_id"));
    if (status != STORE_USER_ACTIVE && status != STORE_USER_DISABLED) {
        store__set_error(s,
                         "user status %d cannot be set (active or disabled; deleting is "
                         "store_user_delete)",
                         (int)status);
        return STORE_EINVAL;
    }
    return VT_OPTIONAL(s, user_set_status, user_id, status, updated_at);
}

int store_user_delete(store_t *s, const char *user_id, int64_t now)
{
    ENTER(s);
    CHECK(check_id(s, user_id, "user_id"));
    return VT_OPTIONAL(s, user_delete, user_id, now);
}

int store_users_list(store_t *s, const char *after, size_t limit, store_user **out, size_t *n)
{
    ENTER(s);
    KEYSET_PAGE(s, users_list, after, limit, out, n);
}

/* -------------------------------------------------------------- invites */

int store_invite_put(store_t *s, const store_invite *i)
{
    ENTER(s);
    CHECK(check_ptr(s, i, "invite"));
    CHECK(check_id(s, i->invite_id, "invite_id"));
    CHECK(check_opt_id(s, i->used_by, "used_by"));
    CHECK(check_opt_text(s, i->note, STORE_TEXT_MAX, "note"));
    if (i->expires_at <= 0 || i->used_at < 0) {
        store__set_error(s, "an invite needs expires_at > 0 (and used_at >= 0)");
        return STORE_EINVAL;
    }
    return VT_OPTIONAL(s, invite_put, i);
}

int store_invite_get(store_t *s, const char *invite_id, store_invite *out)
{
    ENTER(s);
    GET_OUT(s, out);
    CHECK(check_id(s, invite_id, "invite_id"));
    return VT_OPTIONAL(s, invite_get, invite_id, out);
}

int store_invite_use(store_t *s, const char *invite_id, const char *user_id, int64_t now)
{
    ENTER(s);
    CHECK(check_id(s, invite_id, "invite_id"));
    CHECK(check_id(s, user_id, "user_id"));
    if (now <= 0) {
        store__set_error(s, "invite_use: now out of range");
        return STORE_EINVAL;
    }
    return VT_OPTIONAL(s, invite_use, invite_id, user_id, now);
}

int store_invites_list(store_t *s, const char *after, size_t limit, store_invite **out, size_t *n)
{
    ENTER(s);
    KEYSET_PAGE(s, invites_list, after, limit, out, n);
}

int store_invite_delete(store_t *s, const char *invite_id)
{
    ENTER(s);
    CHECK(check_id(s, invite_id, "invite_id"));
    return VT_OPTIONAL(s, invite_delete, invite_id);
}

/* -------------------------------------------------------------- prekeys */

int store_signed_prekey_put(store_t *s, const store_prekey *p)
{
    ENTER(s);
    CHECK(check_prekey(s, p));
    store_prekey c = *p;
    c.device_id = (char *)dev(p->device_id);
    return s->vt->signed_prekey_put(s, &c);
}

int store_signed_prekey_get(store_t *s, const char *user_id, const char *device_id,
                            store_prekey *out)
{
    ENTER(s);
    GET_OUT(s, out);
    CHECK(check_id(s, user_id, "user_id"));
    CHECK(check_device(s, device_id));
    return s->vt->signed_prekey_get(s, user_id, dev(device_id), out);
}

int store_otpk_add(store_t *s, const store_prekey *keys, size_t n)
{
    store_prekey *c;
    int rc;
    ENTER(s);
    if (n == 0)
        return STORE_OK;
    CHECK(check_ptr(s, keys, "keys"));
    if (n > STORE_OTPK_BATCH_MAX) {
        store__set_error(s, "too many one-time prekeys in one call (%zu > %d)", n,
                         STORE_OTPK_BATCH_MAX);
        return STORE_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        CHECK(check_prekey(s, &keys[i]));
        if (strcmp(keys[i].user_id, keys[0].user_id) != 0 ||
            strcmp(dev(keys[i].device_id), dev(keys[0].device_id)) != 0) {
            store__set_error(s, "one-time prekeys of one call must share user_id and device_id");
            return STORE_EINVAL;
        }
    }
    bool any_null = false;
    for (size_t i = 0; i < n; i++)
        any_null |= keys[i].device_id == NULL;
    if (!any_null)
        return s->vt->otpk_add(s, keys, n);
    /* backends never see a NULL device_id: a copy of the array with "" */
    c = malloc(n * sizeof *c);
    if (!c) {
        store__set_error(s, "otpk_add: out of memory");
        return STORE_ENOMEM;
    }
    memcpy(c, keys, n * sizeof *c);
    for (size_t i = 0; i < n; i++)
        c[i].device_id = (char *)dev(keys[i].device_id);
    rc = s->vt->otpk_add(s, c, n);
    free(c);
    return rc;
}

int store_otpk_pop(store_t *s, const char *user_id, const char *device_id, store_prekey *out)
{
    ENTER(s);
    GET_OUT(s, out);
    CHECK(check_id(s, user_id, "user_id"));
    CHECK(check_device(s, device_id));
    return s->vt->otpk_pop(s, user_id, dev(device_id), out);
}

int store_otpk_count(store_t *s, const char *user_id, const char *device_id, size_t *count)
{
    ENTER(s);
    CHECK(check_ptr(s, count, "count"));
    *count = 0;
    CHECK(check_id(s, user_id, "user_id"));
    CHECK(check_device(s, device_id));
    return s->vt->otpk_count(s, user_id, dev(device_id), count);
}

int store_otpk_clear(store_t *s, const char *user_id)
{
    ENTER(s);
    CHECK(check_id(s, user_id, "user_id"));
    return s->vt->otpk_clear(s, user_id);
}

int store_prekeys_delete_device(store_t *s, const char *user_id, const char *device_id)
{
    ENTER(s);
    CHECK(check_id(s, user_id, "user_id"));
    CHECK(check_device(s, device_id));
    return VT_OPTIONAL(s, prekeys_delete_device, user_id, dev(device_id));
}

int store_prekeys_move_device(store_t *s, const char *user_id, const char *from, const char *to)
{
    ENTER(s);
    CHECK(check_id(s, user_id, "user_id"));
    CHECK(check_device(s, from));
    CHECK(check_device(s, to));
    if (strcmp(dev(from), dev(to)) == 0)
        return STORE_OK;
    return VT_OPTIONAL(s, prekeys_move_device, user_id, dev(from), dev(to));
}

/* ---------------------------------------------------------- device lists */

int store_user_set_devices(store_t *s, const char *user_id, uint64_t expect_version,
                           uint64_t version, const uint8_t *list, size_t list_len,
                           const uint8_t sig[STORE_SIG_LEN], int64_t updated_at)
{
    ENTER(s);
    CHECK(check_id(s, user_id, "user_id"));
    CHECK(check_ptr(s, list, "list"));
    CHECK(check_ptr(s, sig, "sig"));
    if (list_len == 0 || list_len > STORE_DEVICES_LIST_MAX) {
        store__set_error(s, "device list of %zu bytes (want 1..%d)", list_len,
                         STORE_DEVICES_LIST_MAX);
        return STORE_EINVAL;
    }
    if (version <= expect_version || version > INT64_MAX) {
        store__set_error(s, "device list version %llu is not above %llu",
                         (unsigned long long)version, (unsigned long long)expect_version);
        return STORE_EINVAL;
    }
    return VT_OPTIONAL(s, user_set_devices, user_id, expect_version, version, list, list_len, sig,
                       updated_at);
}

/* ------------------------------------------------------------ link codes */

int store_link_put(store_t *s, const store_link *l)
{
    ENTER(s);
    CHECK(check_ptr(s, l, "link"));
    CHECK(check_id(s, l->code, "code"));
    CHECK(check_id(s, l->user_id, "user_id"));
    CHECK(check_id(s, l->device_id, "device_id"));
    CHECK(check_opt_text(s, l->name, STORE_ID_MAX, "name"));
    if (l->expires_at <= 0) {
        store__set_error(s, "a link code needs expires_at > 0");
        return STORE_EINVAL;
    }
    return VT_OPTIONAL(s, link_put, l);
}

int store_link_get(store_t *s, const char *code, store_link *out)
{
    ENTER(s);
    GET_OUT(s, out);
    CHECK(check_id(s, code, "code"));
    return VT_OPTIONAL(s, link_get, code, out);
}

int store_link_delete(store_t *s, const char *code)
{
    ENTER(s);
    CHECK(check_id(s, code, "code"));
    return VT_OPTIONAL(s, link_delete, code);
}

int store_links_delete_device(store_t *s, const char *user_id, const char *device_id)
{
    ENTER(s);
    CHECK(check_id(s, user_id, "user_id"));
    CHECK(check_id(s, device_id, "device_id"));
    return VT_OPTIONAL(s, links_delete_device, user_id, device_id);
}

int store_link_count(store_t *s, const char *user_id, int64_t now, size_t *count)
{
    ENTER(s);
    CHECK(check_ptr(s, count, "count"));
    *count = 0;
    CHECK(check_id(s, user_id, "user_id"));
    return VT_OPTIONAL(s, link_count, user_id, now, count);
}

int store_links_expire(store_t *s, int64_t now, size_t *deleted)
{
    size_t dummy = 0;
    ENTER(s);
    if (!deleted)
        deleted = &dummy;
    *deleted = 0;
    return VT_OPTIONAL(s, links_expire, now, deleted);
}

/* ---------------------------------------------------------------- chats */

int store_chat_put(store_t *s, const store_chat *c)
{
    ENTER(s);
    CHECK(check_chat(s, c, true));
    return s->vt->chat_put(s, c);
}

int store_chat_update(store_t *s, const store_chat *c)
{
    ENTER(s);
    CHECK(check_chat(s, c, false));
    return s->vt->chat_update(s, c);
}

int store_chat_get(store_t *s, const char *chat_id, store_chat *out)
{
    ENTER(s);
    GET_OUT(s, out);
    CHECK(check_id(s, chat_id, "chat_id"));
    return s->vt->chat_get(s, chat_id, out);
}

int store_chat_delete(store_t *s, const char *chat_id)
{
    ENTER(s);
    CHECK(check_id(s, chat_id, "chat_id"));
    return s->vt->chat_delete(s, chat_id);
}

/* -------------------------------------------------------------- members */

int store_member_put(store_t *s, const store_member *m)
{
    ENTER(s);
    CHECK(check_ptr(s, m, "member"));
    CHECK(check_id(s, m->chat_id, "chat_id"));
    CHECK(check_id(s, m->user_id, "user_id"));
    CHECK(check_role(s, (int)m->role));
    return s->vt->member_put(s, m);
}

int store_member_get(store_t *s, const char *chat_id, const char *user_id, store_member *out)
{
    ENTER(s);
    GET_OUT(s, out);
    CHECK(check_id(s, chat_id, "chat_id"));
    CHECK(check_id(s, user_id, "user_id"));
    return s->vt->member_get(s, chat_id, user_id, out);
}

int store_member_set_role(store_t *s, const char *chat_id, const char *user_id, store_role role)
{
    ENTER(s);
    CHECK(check_id(s, chat_id, "chat_id"));
    CHECK(check_id(s, user_id, "user_id"));
    CHECK(check_role(s, (int)role));
    return s->vt->member_set_role(s, chat_id, user_id, role);
}

int store_member_remove(store_t *s, const char *chat_id, const char *user_id)
{
    ENTER(s);
    CHECK(check_id(s, chat_id, "chat_id"));
    CHECK(check_id(s, user_id, "user_id"));
    return s->vt->member_remove(s, chat_id, user_id);
}

int store_member_advance(store_t *s, const char *chat_id, const char *user_id,
                         uint64_t delivered_seq, uint64_t read_seq)
{
    ENTER(s);
    CHECK(check_id(s, chat_id, "chat_id"));
    CHECK(check_id(s, user_id, "user_id"));
    if (delivered_seq > INT64_MAX || read_seq > INT64_MAX) {
        store__set_error(s, "cursor out of range");
        return STORE_EINVAL;
    }
    return s->vt->member_advance(s, chat_id, user_id, delivered_seq, read_seq);
}

int store_members_of_chat(store_t *s, const char *chat_id, store_member **out, size_t *n)
{
    ENTER(s);
    LIST_OUT(s, out, n);
    CHECK(check_id(s, chat_id, "chat_id"));
    return s->vt->members_of_chat(s, chat_id, out, n);
}

int store_chats_of_user(store_t *s, const char *user_id, store_member **out, size_t *n)
{
    ENTER(s);
    LIST_OUT(s, out, n);
    CHECK(check_id(s, user_id, "user_id"));
    return s->vt->chats_of_user(s, user_id, out, n);
}

/* ------------------------------------------------------------- messages */

/* The argument checks of message_put / message_append / put_many. */
static int check_message(store_t *s, const store_message *m)
{
    CHECK(check_ptr(s, m, "message"));
    CHECK(check_id(s, m->chat_id, "chat_id"));
    CHECK(check_id(s, m->server_id, "server_id"));
    CHECK(check_id(s, m->sender, "sender"));
    CHECK(check_id(s, m->client_msg_id, "client_msg_id"));
    CHECK(check_opt_id(s, m->media_id, "media_id"));
    CHECK(check_device(s, m->sender_device));
    if (m->body_len > 0 && !m->body) {
        store__set_error(s, "message body is NULL with body_len %zu", m->body_len);
        return STORE_EINVAL;
    }
    if (m->body_len > STORE_BODY_MAX) {
        store__set_error(s, "message body too large (%zu > %d bytes)", m->body_len, STORE_BODY_MAX);
        return STORE_EINVAL;
    }
    if (m->kind != STORE_KIND_CHAT && m->kind != STORE_KIND_SYSTEM &&
        m->kind != STORE_KIND_TOMBSTONE) {
        store__set_error(s, "invalid message kind %d (1 chat, 2 system, 3 tombstone)", m->kind);
        return STORE_EINVAL;
    }
    if (m->kind == STORE_KIND_TOMBSTONE) {
        /* a copied tombstone (parley-admin migrate): no content, a deleter */
        CHECK(check_id(s, m->deleted_by, "deleted_by"));
        if (m->body_len || (m->media_id && m->media_id[0]) || m->deleted_at < 0) {
            store__set_error(s, "a tombstone has no body or media_id and deleted_at >= 0");
            return STORE_EINVAL;
        }
    } else if ((m->deleted_by && m->deleted_by[0]) || m->deleted_at) {
        store__set_error(s, "deleted_by/deleted_at belong to tombstones (kind 3) only");
        return STORE_EINVAL;
    }
    if (m->seq > INT64_MAX || m->expires_at < 0) {
        store__set_error(s, "seq or expires_at out of range");
        return STORE_EINVAL;
    }
    return STORE_OK;
}

int store_message_put(store_t *s, store_message *m)
{
    ENTER(s);
    CHECK(check_message(s, m));
    return s->vt->message_put(s, m);
}

int store_message_append(store_t *s, store_message *m)
{
    ENTER(s);
    CHECK(check_ptr(s, m, "message"));
    if (m->seq != 0) {
        store__set_error(s, "message_append: seq must be 0 (the store assigns it)");
        return STORE_EINVAL;
    }
    CHECK(check_message(s, m));
    return s->vt->message_put(s, m);
}

void store__message_put_many(store_t *s, store_message *const *msgs, int *rcs, size_t n)
{
    size_t i, ok = 0;
    if (!s || (n && (!msgs || !rcs)))
        return;
    s->err[0] = '\0';
    /* Checks first: a message that fails them gets its own STORE_EINVAL
     * and is handed to the backend as NULL (skipped). */
    for (i = 0; i < n; i++) {
        rcs[i] = check_message(s, msgs[i]);
        if (rcs[i] == STORE_OK)
            ok++;
    }
    if (ok == 0)
        return;
    if (s->vt->message_put_many) {
        s->vt->message_put_many(s, msgs, rcs, n);
        return;
    }
    for (i = 0; i < n; i++) {
        if (rcs[i] != STORE_OK)
            continue;
        rcs[i] = s->vt->message_put(s, msgs[i]);
        if (rcs[i] == STORE_EIO || rcs[i] == STORE_ENOMEM || rcs[i] == STORE_EUNAVAIL) {
            /* a backend failure ends the run: the caller rolls back */
            for (size_t j = i + 1; j < n; j++)
                if (rcs[j] == STORE_OK)
                    rcs[j] = rcs[i];
            return;
        }
    }
}

int store_message_get(store_t *s, const char *chat_id, uint64_t seq, store_message *out)
{
    ENTER(s);
    GET_OUT(s, out);
    CHECK(check_id(s, chat_id, "chat_id"));
    if (seq == 0 || seq > INT64_MAX) {
        store__set_error(s, "seq out of range");
        return STORE_EINVAL;
    }
    return s->vt->message_get(s, chat_id, seq, out);
}

int store_message_get_by_client_id(store_t *s, const char *sender, const char *client_msg_id,
                                   store_message *out)
{
    ENTER(s);
    GET_OUT(s, out);
    CHECK(check_id(s, sender, "sender"));
    CHECK(check_id(s, client_msg_id, "client_msg_id"));
    return s->vt->message_get_by_client_id(s, sender, client_msg_id, out);
}

int store_messages_after(store_t *s, const char *chat_id, uint64_t after_seq, size_t limit,
                         store_message **out, size_t *n)
{
    ENTER(s);
    LIST_OUT(s, out, n);
    CHECK(check_id(s, chat_id, "chat_id"));
    if (after_seq > INT64_MAX) {
        store__set_error(s, "after_seq out of range");
        return STORE_EINVAL;
    }
    PAGE_LIMIT(limit);
    return s->vt->messages_after(s, chat_id, after_seq, limit, out, n);
}

int store_chat_last_seqs(store_t *s, char ***chat_ids, uint64_t **seqs, size_t *n)
{
    ENTER(s);
    CHECK(check_ptr(s, chat_ids, "chat_ids"));
    CHECK(check_ptr(s, seqs, "seqs"));
    CHECK(check_ptr(s, n, "n"));
    *chat_ids = NULL;
    *seqs = NULL;
    *n = 0;
    return s->vt->chat_last_seqs(s, chat_ids, seqs, n);
}

int store_messages_expire(store_t *s, int64_t now, size_t *deleted)
{
    size_t dummy = 0;
    ENTER(s);
    if (!deleted)
        deleted = &dummy;
    *deleted = 0;
    return s->vt->messages_expire(s, now, deleted);
}

int store_message_tombstone(store_t *s, const char *chat_id, uint64_t seq, const char *deleted_by,
                            int64_t deleted_at)
{
    ENTER(s);
    CHECK(check_id(s, chat_id, "chat_id"));
    CHECK(check_id(s, deleted_by, "deleted_by"));
    if (seq == 0 || seq > INT64_MAX || deleted_at < 0) {
        store__set_error(s, "message_tombstone: seq or deleted_at out of range");
        return STORE_EINVAL;
    }
    return s->vt->message_tombstone(s, chat_id, seq, deleted_by, deleted_at);
}

/* ---------------------------------------------------------------- media */

int store_media_put(store_t *s, const store_media *m)
{
    ENTER(s);
    CHECK(check_ptr(s, m, "media"));
    CHECK(check_id(s, m->media_id, "media_id"));
    CHECK(check_id(s, m->owner, "owner"));
    CHECK(check_opt_text(s, m->content_type, STORE_TEXT_MAX, "content_type"));
    CHECK(check_opt_text(s, m->backend_key, STORE_TEXT_MAX, "backend_key"));
    if (m->size > INT64_MAX || m->expires_at < 0) {
        store__set_error(s, "media size or expires_at out of range");
        return STORE_EINVAL;
    }
    return s->vt->media_put(s, m);
}

int store_media_get(store_t *s, const char *media_id, store_media *out)
{
    ENTER(s);
    GET_OUT(s, out);
    CHECK(check_id(s, media_id, "media_id"));
    return s->vt->media_get(s, media_id, out);
}

int store_media_delete(store_t *s, const char *media_id)
{
    ENTER(s);
    CHECK(check_id(s, media_id, "media_id"));
    return s->vt->media_delete(s, media_id);
}

int store_media_expired(store_t *s, int64_t now, size_t limit, store_media **out, size_t *n)
{
    ENTER(s);
    LIST_OUT(s, out, n);
    PAGE_LIMIT(limit);
    return s->vt->media_expired(s, now, limit, out, n);
}

/* ------------------------------------------------------------ enumeration */

static int unsupported(store_t *s, const char *what)
{
    store__set_error(s, "%s is not supported by the %s backend", what, s->vt->name);
    return STORE_EINVAL;
}

int store_chats_list(store_t *s, const char *after, size_t limit, store_chat **out, size_t *n)
{
    ENTER(s);
    KEYSET_PAGE(s, chats_list, after, limit, out, n);
}

int store_otpk_list(store_t *s, const char *user_id, store_prekey **out, size_t *n)
{
    ENTER(s);
    LIST_OUT(s, out, n);
    CHECK(check_id(s, user_id, "user_id"));
    return VT_OPTIONAL(s, otpk_list, user_id, out, n);
}

int store_signed_prekey_get_previous(store_t *s, const char *user_id, const char *device_id,
                                     store_prekey *out)
{
    ENTER(s);
    GET_OUT(s, out);
    CHECK(check_id(s, user_id, "user_id"));
    CHECK(check_device(s, device_id));
    return VT_OPTIONAL(s, signed_prekey_get_previous, user_id, dev(device_id), out);
}

int store_media_list(store_t *s, const char *after, size_t limit, store_media **out, size_t *n)
{
    ENTER(s);
    KEYSET_PAGE(s, media_list, after, limit, out, n);
}

int store_chat_raise_seq(store_t *s, const char *chat_id, uint64_t last_seq,
                         int64_t last_message_at)
{
    ENTER(s);
    CHECK(check_id(s, chat_id, "chat_id"));
    if (last_seq > INT64_MAX) {
        store__set_error(s, "last_seq out of range");
        return STORE_EINVAL;
    }
    return VT_OPTIONAL(s, chat_raise_seq, chat_id, last_seq, last_message_at);
}

/* ----------------------------------------------------------- free helpers */

/* The body of a record's _free: NULL is fine; frees the listed members (the
 * record's strings and buffers) and leaves the record zeroed. */
#define FREE_RECORD(rec, ...) \
    do { \
        if (!(rec)) \
            return; \
        void *members_[] = {__VA_ARGS__}; \
        for (size_t i_ = 0; i_ < sizeof members_ / sizeof members_[0]; i_++) \
            free(members_[i_]); \
        memset((rec), 0, sizeof *(rec)); \
    } while (0)

/* TYPE_array_free(a, n): TYPE_free on each of the n records, then the array
 * (NULL is fine). */
#define ARRAY_FREE(type) \
    void type##_array_free(type *a, size_t n) \
    { \
        if (!a) \
            return; \
        for (size_t i = 0; i < n; i++) \
            type##_free(&a[i]); \
        free(a); \
    }

void store_user_free(store_user *u)
{
    FREE_RECORD(u, u->user_id, u->devices_list);
}

ARRAY_FREE(store_user)

void store_invite_free(store_invite *i)
{
    FREE_RECORD(i, i->invite_id, i->used_by, i->note);
}

ARRAY_FREE(store_invite)

void store_prekey_free(store_prekey *p)
{
    FREE_RECORD(p, p->user_id, p->device_id);
}

ARRAY_FREE(store_prekey)

void store_link_free(store_link *l)
{
    FREE_RECORD(l, l->code, l->user_id, l->device_id, l->name);
}

ARRAY_FREE(store_chat)

void store_chat_free(store_chat *c)
{
    FREE_RECORD(c, c->chat_id, c->name, c->description, c->created_by, c->settings);
}

void store_member_free(store_member *m)
{
    FREE_RECORD(m, m->chat_id, m->user_id);
}

ARRAY_FREE(store_member)

void store_message_free(store_message *m)
{
    FREE_RECORD(m, m->chat_id, m->server_id, m->sender, m->client_msg_id, m->body, m->media_id,
                m->sender_device, m->deleted_by);
}

ARRAY_FREE(store_message)

void store_media_free(store_media *m)
{
    FREE_RECORD(m, m->media_id, m->owner, m->content_type, m->backend_key);
}

ARRAY_FREE(store_media)

/* ------------------------------------------------------------ writer ops */

store_op *store_op_new(store_op_type type)
{
    store_op *op;
    if (type < STORE_OP_MESSAGE_PUT || type > STORE_OP_MESSAGES_EXPIRE)
        return NULL;
    op = calloc(1, sizeof *op);
    if (op)
        op->type = type;
    return op;
}

void store_op_free(store_op *op)
{
    if (!op)
        return;
    switch (op->type) {
    case STORE_OP_MESSAGE_PUT: store_message_free(&op->u.message); break;
    case STORE_OP_MEMBER_ADVANCE:
        free(op->u.advance.chat_id);
        free(op->u.advance.user_id);
        break;
    case STORE_OP_CHAT_PUT:
    case STORE_OP_CHAT_UPDATE: store_chat_free(&op->u.chat); break;
    case STORE_OP_MEMBER_PUT:
    case STORE_OP_MEMBER_REMOVE:
    case STORE_OP_MEMBER_SET_ROLE: store_member_free(&op->u.member); break;
    case STORE_OP_MESSAGE_TOMBSTONE:
        free(op->u.tombstone.chat_id);
        free(op->u.tombstone.deleted_by);
        break;
    case STORE_OP_BARRIER:
    case STORE_OP_MESSAGES_EXPIRE: break;
    }
    free(op);
}
