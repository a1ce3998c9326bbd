/*
 * group_ops.c - group control requests (docs/protocol.md, "Groups"):
 * create, get, list, add, remove, set role, leave, update. Each request is
 * checked against the in-memory model, applied to it synchronously,
 * written through the store writer and announced as a SYSTEM envelope in
 * the group's sequence; the answer (the group's GroupInfo) follows the
 * announcement's commit. Refusals change nothing.
 */
#include "group_int.h"
#include "groups.h"
#include "hardening.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef Parley__V1__SystemEvent sysev;

__attribute__((format(printf, 5, 6))) static void ops_refuse(const char *me, const char *req_id,
                                                             uint32_t status, const char *code,
                                                             const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    control__respond(me, req_id, status, code, msg);
}

static bool ops_valid_text(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 && s[i] != '\n' && s[i] != '\t')
            return false;
    return true;
}

static bool ops_valid_perm(Parley__V1__Permission p)
{
    return p == PARLEY__V1__PERMISSION__PERMISSION_UNSPECIFIED ||
           p == PARLEY__V1__PERMISSION__EVERYONE || p == PARLEY__V1__PERMISSION__ADMINS;
}

/* The group and the caller's membership; answers the refusal itself. */
static group *ops_group(const char *me, const char *req_id, const char *chat_id,
                        group_member **mine)
{
    if (!chat_id || !ids_is_group_chat(chat_id) || !ids_valid_chat(chat_id)) {
        ops_refuse(me, req_id, 400, "bad_request", "a group chat_id (g:...) is required");
        return NULL;
    }
    group *g = group__find(chat_id);
    if (!g) {
        ops_refuse(me, req_id, 404, "unknown_chat", "no such group: %s", chat_id);
        return NULL;
    }
    *mine = group__member(g, me);
    if (!*mine) {
        ops_refuse(me, req_id, 403, "not_member", "you are not a member of %s", chat_id);
        return NULL;
    }
    return g;
}

/* Check a list of users to add: valid, registered, not yet members, no
 * repeats, room in the group and in each user's max_groups_per_user.
 * Returns true, or false after answering the refusal, or false with no
 * answer yet when some users are unknown to the key cache: the request
 * then runs again once the store said whether they exist (lookup.c). */
static bool ops_check_new_members(const char *me, const Parley__V1__Request *rq, const group *g,
                                  char *const *users, size_t n, size_t current)
{
    const char *req_id = rq->req_id;
    char **ask = NULL;
    size_t n_ask = 0;
    bool ok = false;
    if (n == 0) {
        ops_refuse(me, req_id, 400, "bad_request", "no user ids given");
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!ids_valid_user(users[i])) {
            ops_refuse(me, req_id, 400, "bad_request", "invalid user id '%.64s'", users[i]);
            goto out;
        }
        lookup_answer known = lookup__user(users[i]);
        if (known == LOOKUP_NO) {
            ops_refuse(me, req_id, 404, "unknown_user", "no such user: %s", users[i]);
            goto out;
        }
        if (known == LOOKUP_ASK) {
            if (!ask && !(ask = calloc(n, sizeof *ask))) {
                control__respond(me, req_id, 500, "internal", "out of memory");
                goto out;
            }
            ask[n_ask++] = users[i];
        }
        if ((g && group__member(g, users[i])) || !strcmp(users[i], me)) {
            ops_refuse(me, req_id, 409, "already_member", "%s is already a member", users[i]);
            goto out;
        }
        for (size_t j = 0; j < i; j++)
            if (!strcmp(users[i], users[j])) {
                ops_refuse(me, req_id, 400, "bad_request", "%s is listed twice", users[i]);
                goto out;
            }
    }
    if (current + n > pp.cfg.max_group_size) {
        char msg[128];
        snprintf(msg, sizeof msg, "a group has at most %zu members", pp.cfg.max_group_size);
        control__respond(me, req_id, 413, "group_full", msg);
        goto out;
    }
    if (!g && group__groups_of(me) >= pp.cfg.max_groups_per_user) {
        ops_refuse(me, req_id, 409, "too_many_groups",
                   "you are a member of %zu groups, the most a user may be in",
                   pp.cfg.max_groups_per_user);
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        if (group__groups_of(users[i]) >= pp.cfg.max_groups_per_user) {
            ops_refuse(me, req_id, 409, "too_many_groups",
                       "%s is a member of %zu groups, the most a user may be in", users[i],
                       pp.cfg.max_groups_per_user);
            goto out;
        }
    if (n_ask) {
        if (lookup__defer_request(me, rq, ask, n_ask) != 0)
            control__respond(me, req_id, 503, "overloaded", "the server is busy; retry later");
        goto out;
    }
    ok = true;
out:
    free(ask);
    return ok;
}

static void ops_settings_event(const group *g, Parley__V1__GroupSettings *s)
{
    parley__v1__group_settings__init(s);
    s->send = g->perm_send;
    s->edit_info = g->perm_edit_info;
    s->add_members = g->perm_add_members;
}

static group_reply *ops_reply(const char *me, const char *req_id, const char *chat_id)
{
    group_reply *r = group__reply_new(me, req_id, chat_id);
    if (!r)
        control__respond(me, req_id, 500, "internal", "out of memory");
    return r;
}

/* ------------------------------------------------------------------ create */

static void ops_create(const char *me, const Parley__V1__Request *rq)
{
    const Parley__V1__GroupCreate *c = rq->group_create;
    const Parley__V1__GroupSettings *st = c->settings;
    char chat_id[IDS_CHAT_MAX + 1];
    char rid[IDS_GROUP_ID_LEN + 1];

    if (!c->name[0] || !ops_valid_text(c->name, GROUP_NAME_MAX) ||
        !ops_valid_text(c->description, GROUP_DESC_MAX)) {
        ops_refuse(me, rq->req_id, 400, "bad_request",
                   "a group needs a name of 1-128 bytes and a description of at most 1024");
        return;
    }
    if (st && (!ops_valid_perm(st->send) || !ops_valid_perm(st->edit_info) ||
               !ops_valid_perm(st->add_members))) {
        ops_refuse(me, rq->req_id, 400, "bad_request", "invalid permission in settings");
        return;
    }
    if (c->n_members && !ops_check_new_members(me, rq, NULL, c->members, c->n_members, 1))
        return;
    if (!c->n_members && group__groups_of(me) >= pp.cfg.max_groups_per_user) {
        ops_refuse(me, rq->req_id, 409, "too_many_groups",
                   "you are a member of %zu groups, the most a user may be in",
                   pp.cfg.max_groups_per_user);
        return;
    }
    do {
        ids_random(rid);
        snprintf(chat_id, sizeof chat_id, "g:%s", rid);
    } while (group__find(chat_id));
    group_reply *reply = ops_reply(me, rq->req_id, chat_id);
    if (!reply)
        return;
    group *g = group__new(chat_id);
    int64_t now = clock_now_ms();
    if (!g || !(g->name = strdup(c->name)) || !(g->description = strdup(c->description)) ||
        !(g->created_by = strdup(me)))
        goto oom;
    g->created_at = now;
    if (st) {
        if (st->send)
            g->perm_send = st->send;
        if (st->edit_info)
            g->perm_edit_info = st->edit_info;
        if (st->add_members)
            g->perm_add_members = st->add_members;
    }
    group_member *owner = group__add_member(g, me, STORE_ROLE_OWNER, now);
    if (!owner)
        goto oom;
    for (size_t i = 0; i < c->n_members; i++)
        if (!group__add_member(g, c->members[i], STORE_ROLE_MEMBER, now))
            goto oom;
    /* Writer order = commit order: chat, members, then the event. */
    bool ok = group__persist_chat(g, true) == 0 && group__persist_member(g, owner) == 0;
    for (size_t i = 0; ok && i < c->n_members; i++)
        ok = group__persist_member(g, group__member(g, c->members[i])) == 0;
    if (!ok)
        goto overloaded;
    sysev ev = PARLEY__V1__SYSTEM_EVENT__INIT;
    Parley__V1__GroupSettings evs;
    ops_settings_event(g, &evs);
    ev.type = PARLEY__V1__SYSTEM_EVENT__TYPE__GROUP_CREATED;
    ev.actor = (char *)me;
    ev.n_users = c->n_members;
    ev.users = c->members;
    ev.name = g->name;
    ev.description = g->description;
    ev.settings = &evs;
    /* The initial members learn of the group in their own inbox too. */
    group__announce(g, me, &ev, reply, c->members, c->n_members);
    return;
oom:
    free(reply);
    group__drop(chat_id);
    control__respond(me, rq->req_id, 500, "internal", "out of memory");
    return;
overloaded:
    /* Nothing announced: forget it (a chat row already written stays empty). */
    free(reply);
    group__drop(chat_id);
    control__respond(me, rq->req_id, 503, "overloaded",
                     "the server's store queue is full; retry later");
}

/* ------------------------------------------------------------------ get, list */

static void ops_respond_info(const char *me, const char *req_id, const group *g)
{
    char topic[PP_TOPIC_MAX];
    Parley__V1__Response rsp = PARLEY__V1__RESPONSE__INIT;
    Parley__V1__GroupInfo info;
    Parley__V1__GroupSettings settings;
    if (group__info(g, &info, &settings) != 0) {
        control__respond(me, req_id, 500, "internal", "out of memory");
        return;
    }
    rsp.req_id = (char *)req_id;
    rsp.result_case = PARLEY__V1__RESPONSE__RESULT_GROUP;
    rsp.group = &info;
    snprintf(topic, sizeof topic, "parley/u/%s/rsp", me);
    publish__msg(topic, &rsp.base, false);
    group__info_clear(&info);
}

static void ops_get(const char *me, const Parley__V1__Request *rq)
{
    group_member *mine;
    group *g = ops_group(me, rq->req_id, rq->group_get->chat_id, &mine);
    if (g)
        ops_respond_info(me, rq->req_id, g);
}

typedef struct {
    const char *me;
    group **a;
    size_t n, cap;
    bool oom;
} list_walk;

static void ops_list_visit(group *g, void *ctx)
{
    list_walk *w = ctx;
    if (!group__member(g, w->me) || w->oom)
        return;
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 16;
        group **a = realloc(w->a, cap * sizeof *a);
        if (!a) {
            w->oom = true;
            return;
        }
        w->a = a;
        w->cap = cap;
    }
    w->a[w->n++] = g;
}

static int ops_group_cmp(const void *a, const void *b)
{
    return strcmp((*(group *const *)a)->chat_id, (*(group *const *)b)->chat_id);
}

static void ops_list(const char *me, const Parley__V1__Request *rq)
{
    list_walk w = {.me = me};
    Parley__V1__GroupInfo *infos = NULL, **ptrs = NULL;
    Parley__V1__GroupSettings *sets = NULL;
    size_t filled = 0;
    group__foreach(ops_list_visit, &w);
    if (w.oom)
        goto oom;
    if (w.n > 1) /* w.a is NULL for no group: qsort's base must not be */
        qsort(w.a, w.n, sizeof *w.a, ops_group_cmp);
    infos = calloc(w.n ? w.n : 1, sizeof *infos);
    sets = calloc(w.n ? w.n : 1, sizeof *sets);
    ptrs = calloc(w.n ? w.n : 1, sizeof *ptrs);
    if (!infos || !sets || !ptrs)
        goto oom;
    for (; filled < w.n; filled++) {
        if (group__info(w.a[filled], &infos[filled], &sets[filled]) != 0)
            goto oom;
        ptrs[filled] = &infos[filled];
    }
    char topic[PP_TOPIC_MAX];
    Parley__V1__GroupListResult res = PARLEY__V1__GROUP_LIST_RESULT__INIT;
    res.groups = ptrs;
    res.n_groups = w.n;
    Parley__V1__Response rsp = PARLEY__V1__RESPONSE__INIT;
    rsp.req_id = rq->req_id;
    rsp.result_case = PARLEY__V1__RESPONSE__RESULT_GROUPS;
    rsp.groups = &res;
    snprintf(topic, sizeof topic, "parley/u/%s/rsp", me);
    publish__msg(topic, &rsp.base, false);
    goto out;
oom:
    control__respond(me, rq->req_id, 500, "internal", "out of memory");
out:
    for (size_t i = 0; i < filled; i++)
        group__info_clear(&infos[i]);
    free(infos);
    free(sets);
    free(ptrs);
    free(w.a);
}

/* ------------------------------------------------------------------ add, remove */

static void ops_add(const char *me, const Parley__V1__Request *rq)
{
    const Parley__V1__GroupMembers *a = rq->group_add;
    group_member *mine;
    group *g = ops_group(me, rq->req_id, a->chat_id, &mine);
    if (!g)
        return;
    if (!group__allowed(mine, g->perm_add_members)) {
        ops_refuse(me, rq->req_id, 403, "forbidden", "only admins may add members to %s",
                   g->chat_id);
        return;
    }
    if (!ops_check_new_members(me, rq, g, a->user_ids, a->n_user_ids, strmap_count(g->members)))
        return;
    group_reply *reply = ops_reply(me, rq->req_id, g->chat_id);
    if (!reply)
        return;
    int64_t now = clock_now_ms();
    /* New members start after the current last seq: the announcement is
     * the first message they can sync. */
    for (size_t i = 0; i < a->n_user_ids; i++) {
        group_member *m = group__add_member(g, a->user_ids[i], STORE_ROLE_MEMBER, now);
        if (!m || group__persist_member(g, m) != 0)
            mosquitto_log_printf(MOSQ_LOG_ERR, "parley: adding %s to %s failed", a->user_ids[i],
                                 g->chat_id);
    }
    sysev ev = PARLEY__V1__SYSTEM_EVENT__INIT;
    ev.type = PARLEY__V1__SYSTEM_EVENT__TYPE__MEMBERS_ADDED;
    ev.actor = (char *)me;
    ev.users = a->user_ids;
    ev.n_users = a->n_user_ids;
    /* Also to each added user's own inbox: they are not subscribed to the
     * group's topic yet and would otherwise learn of it only by polling. */
    group__announce(g, me, &ev, reply, a->user_ids, a->n_user_ids);
}

static void ops_remove(const char *me, const Parley__V1__Request *rq)
{
    const Parley__V1__GroupMembers *a = rq->group_remove;
    group_member *mine;
    group *g = ops_group(me, rq->req_id, a->chat_id, &mine);
    if (!g)
        return;
    if (mine->role < STORE_ROLE_ADMIN) {
        ops_refuse(me, rq->req_id, 403, "forbidden", "only admins may remove members from %s",
                   g->chat_id);
        return;
    }
    if (a->n_user_ids == 0) {
        ops_refuse(me, rq->req_id, 400, "bad_request", "no user ids given");
        return;
    }
    for (size_t i = 0; i < a->n_user_ids; i++) {
        const char *u = a->user_ids[i];
        group_member *t = group__member(g, u);
        if (!strcmp(u, me)) {
            ops_refuse(me, rq->req_id, 400, "bad_request", "use group_leave to leave");
            return;
        }
        if (!t) {
            ops_refuse(me, rq->req_id, 404, "not_member", "%s is not a member", u);
            return;
        }
        if (t->role >= STORE_ROLE_ADMIN && mine->role < STORE_ROLE_OWNER) {
            ops_refuse(me, rq->req_id, 403, "forbidden", "only owners may remove the admin %s", u);
            return;
        }
        for (size_t j = 0; j < i; j++)
            if (!strcmp(u, a->user_ids[j])) {
                ops_refuse(me, rq->req_id, 400, "bad_request", "%s is listed twice", u);
                return;
            }
    }
    group_reply *reply = ops_reply(me, rq->req_id, g->chat_id);
    if (!reply)
        return;
    /* Out of the model first: from here on the ACL refuses them. */
    for (size_t i = 0; i < a->n_user_ids; i++) {
        group__remove_member(g, a->user_ids[i]);
        group__persist_member_remove(g, a->user_ids[i]);
    }
    sysev ev = PARLEY__V1__SYSTEM_EVENT__INIT;
    ev.type = PARLEY__V1__SYSTEM_EVENT__TYPE__MEMBERS_REMOVED;
    ev.actor = (char *)me;
    ev.users = a->user_ids;
    ev.n_users = a->n_user_ids;
    group__announce(g, me, &ev, reply, a->user_ids, a->n_user_ids);
    group_msg__check_all(g);
}

/* ------------------------------------------------------------------ roles, leave */

static void ops_set_role(const char *me, const Parley__V1__Request *rq)
{
    const Parley__V1__GroupSetRole *s = rq->group_set_role;
    group_member *mine;
    group *g = ops_group(me, rq->req_id, s->chat_id, &mine);
    if (!g)
        return;
    if (s->role < PARLEY__V1__ROLE__MEMBER || s->role > PARLEY__V1__ROLE__OWNER) {
        ops_refuse(me, rq->req_id, 400, "bad_request", "role must be MEMBER, ADMIN or OWNER");
        return;
    }
    group_member *t = group__member(g, s->user_id);
    if (!t) {
        ops_refuse(me, rq->req_id, 404, "not_member", "%s is not a member", s->user_id);
        return;
    }
    store_role role = (store_role)s->role;
    /* Owners change any role; admins move others between MEMBER and ADMIN. */
    bool allowed = mine->role == STORE_ROLE_OWNER ||
                   (mine->role == STORE_ROLE_ADMIN && t->role != STORE_ROLE_OWNER &&
                    role != STORE_ROLE_OWNER);
    if (!allowed) {
        ops_refuse(me, rq->req_id, 403, "forbidden", "you may not change the role of %s",
                   s->user_id);
        return;
    }
    if (t->role == STORE_ROLE_OWNER && role != STORE_ROLE_OWNER && g->owners == 1) {
        ops_refuse(me, rq->req_id, 409, "last_owner",
                   "%s is the last owner: make someone else owner first", s->user_id);
        return;
    }
    if (t->role == role) {
        ops_respond_info(me, rq->req_id, g);
        return;
    }
    group_reply *reply = ops_reply(me, rq->req_id, g->chat_id);
    if (!reply)
        return;
    group__set_role(g, t, role);
    group__persist_role(g, t);
    sysev ev = PARLEY__V1__SYSTEM_EVENT__INIT;
    char *users[1] = {t->user_id};
    ev.type = PARLEY__V1__SYSTEM_EVENT__TYPE__ROLE_CHANGED;
    ev.actor = (char *)me;
    ev.users = users;
    ev.n_users = 1;
    ev.role = (Parley__V1__Role)role;
    group__announce(g, me, &ev, reply, NULL, 0);
}

static void ops_leave(const char *me, const Parley__V1__Request *rq)
{
    group_member *mine;
    group *g = ops_group(me, rq->req_id, rq->group_leave->chat_id, &mine);
    if (!g)
        return;
    if (mine->role == STORE_ROLE_OWNER && g->owners == 1 && strmap_count(g->members) > 1) {
        ops_refuse(me, rq->req_id, 409, "last_owner",
                   "you are the last owner of %s: make someone else owner first", g->chat_id);
        return;
    }
    group_reply *reply = ops_reply(me, rq->req_id, g->chat_id);
    if (!reply)
        return;
    char user[IDS_USER_MAX + 1];
    snprintf(user, sizeof user, "%s", me);
    char *users[1] = {user};
    group__remove_member(g, me);
    group__persist_member_remove(g, me);
    sysev ev = PARLEY__V1__SYSTEM_EVENT__INIT;
    ev.type = PARLEY__V1__SYSTEM_EVENT__TYPE__MEMBER_LEFT;
    ev.actor = user;
    ev.users = users;
    ev.n_users = 1;
    group__announce(g, me, &ev, reply, users, 1);
    group_msg__check_all(g);
}

/* ------------------------------------------------------------------ update */

static void ops_update(const char *me, const Parley__V1__Request *rq)
{
    const Parley__V1__GroupUpdate *u = rq->group_update;
    const Parley__V1__GroupSettings *st = u->settings;
    group_member *mine;
    group *g = ops_group(me, rq->req_id, u->chat_id, &mine);
    if (!g)
        return;
    bool info = (u->name[0] && (!g->name || strcmp(u->name, g->name))) ||
                (u->set_description &&
                 strcmp(u->description, g->description ? g->description : ""));
    bool settings = st && ((st->send && st->send != g->perm_send) ||
                           (st->edit_info && st->edit_info != g->perm_edit_info) ||
                           (st->add_members && st->add_members != g->perm_add_members));
    if (!ops_valid_text(u->name, GROUP_NAME_MAX) ||
        !ops_valid_text(u->description, GROUP_DESC_MAX) ||
        (st && (!ops_valid_perm(st->send) || !ops_valid_perm(st->edit_info) ||
                !ops_valid_perm(st->add_members)))) {
        ops_refuse(me, rq->req_id, 400, "bad_request", "invalid name, description or settings");
        return;
    }
    if (info && !group__allowed(mine, g->perm_edit_info)) {
        ops_refuse(me, rq->req_id, 403, "forbidden", "only admins may edit %s", g->chat_id);
        return;
    }
    if (settings && mine->role < STORE_ROLE_ADMIN) {
        ops_refuse(me, rq->req_id, 403, "forbidden", "only admins may change the settings of %s",
                   g->chat_id);
        return;
    }
    if (!info && !settings) {
        ops_respond_info(me, rq->req_id, g);
        return;
    }
    char *name = u->name[0] ? strdup(u->name) : NULL;
    char *desc = u->set_description ? strdup(u->description) : NULL;
    if ((u->name[0] && !name) || (u->set_description && !desc)) {
        free(name);
        free(desc);
        control__respond(me, rq->req_id, 500, "internal", "out of memory");
        return;
    }
    if (name) {
        free(g->name);
        g->name = name;
    }
    if (desc) {
        free(g->description);
        g->description = desc;
    }
    if (settings) {
        if (st->send)
            g->perm_send = st->send;
        if (st->edit_info)
            g->perm_edit_info = st->edit_info;
        if (st->add_members)
            g->perm_add_members = st->add_members;
    }
    group__persist_chat(g, false);
    if (info) {
        sysev ev = PARLEY__V1__SYSTEM_EVENT__INIT;
        ev.type = PARLEY__V1__SYSTEM_EVENT__TYPE__INFO_UPDATED;
        ev.actor = (char *)me;
        ev.name = g->name ? g->name : "";
        ev.description = g->description ? g->description : "";
        group_reply *reply = settings ? NULL : ops_reply(me, rq->req_id, g->chat_id);
        if (!settings && !reply)
            return;
        group__announce(g, me, &ev, reply, NULL, 0);
    }
    if (settings) {
        sysev ev = PARLEY__V1__SYSTEM_EVENT__INIT;
        Parley__V1__GroupSettings evs;
        ops_settings_event(g, &evs);
        ev.type = PARLEY__V1__SYSTEM_EVENT__TYPE__SETTINGS_UPDATED;
        ev.actor = (char *)me;
        ev.settings = &evs;
        group_reply *reply = ops_reply(me, rq->req_id, g->chat_id);
        if (reply)
            group__announce(g, me, &ev, reply, NULL, 0);
    }
}

/* ------------------------------------------------------------------ dispatch */

void groups__handle_request(const char *me, const Parley__V1__Request *rq)
{
    switch (rq->op_case) {
    case PARLEY__V1__REQUEST__OP_GROUP_CREATE: ops_create(me, rq); break;
    case PARLEY__V1__REQUEST__OP_GROUP_GET: ops_get(me, rq); break;
    case PARLEY__V1__REQUEST__OP_GROUP_LIST: ops_list(me, rq); break;
    case PARLEY__V1__REQUEST__OP_GROUP_ADD: ops_add(me, rq); break;
    case PARLEY__V1__REQUEST__OP_GROUP_REMOVE: ops_remove(me, rq); break;
    case PARLEY__V1__REQUEST__OP_GROUP_SET_ROLE: ops_set_role(me, rq); break;
    case PARLEY__V1__REQUEST__OP_GROUP_LEAVE: ops_leave(me, rq); break;
    case PARLEY__V1__REQUEST__OP_GROUP_UPDATE: ops_update(me, rq); break;
    default: control__respond(me, rq->req_id, 400, "bad_request", "unknown group op"); break;
    }
}
