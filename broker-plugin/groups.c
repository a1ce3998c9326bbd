/*
 * groups.c - the in-memory group model (loaded from the store at init),
 * the members-only ACL of parley/g/{id}/..., membership changes written
 * through the store writer, and SYSTEM announcements in a group's sequence.
 * Control requests are in group_ops.c, messages and acks in group_msg.c.
 *
 * mosquitto 2.0 asks MOSQ_ACL_READ for every subscriber of every message it
 * routes (subs__send), so removing a user from the model stops deliveries
 * to a subscription that is still open, at once.
 */
#include "group_int.h"
#include "groups.h"
#include "gsync.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static strmap *groups_map; /* chat_id -> group* */
static strmap *groups_per_user; /* user_id -> user_groups*: groups the user is a member of */

typedef struct {
    size_t n, cap;
    char (*ids)[IDS_CHAT_MAX + 1];
} user_groups;

static void user_groups_free(void *p)
{
    user_groups *u = p;
    if (u)
        free(u->ids);
    free(u);
}

/* Keep the user's list of groups, and (cluster) the watch of the group's
 * bus subject while a member is connected here (gsync.c). */
static void groups_count(const char *user_id, const char *chat_id, int delta)
{
    user_groups *u = groups_per_user ? strmap_get(groups_per_user, user_id) : NULL;
    if (delta > 0) {
        if (!u) {
            u = calloc(1, sizeof *u);
            if (!u || strmap_put(groups_per_user, user_id, u) != 0) {
                free(u);
                return; /* out of memory: the count undercounts, nothing worse */
            }
        }
        if (u->n == u->cap) {
            size_t cap = u->cap ? u->cap * 2 : 4;
            void *ids = realloc(u->ids, cap * sizeof *u->ids);
            if (!ids)
                return;
            u->ids = ids;
            u->cap = cap;
        }
        snprintf(u->ids[u->n++], IDS_CHAT_MAX + 1, "%s", chat_id);
        if (presence__local_online(user_id))
            gsync__watch(chat_id, +1);
        return;
    }
    if (!u)
        return;
    for (size_t i = 0; i < u->n; i++) {
        if (strcmp(u->ids[i], chat_id))
            continue;
        memcpy(u->ids[i], u->ids[u->n - 1], sizeof u->ids[i]);
        if (--u->n == 0)
            strmap_remove(groups_per_user, user_id);
        if (presence__local_online(user_id))
            gsync__watch(chat_id, -1);
        return;
    }
}

size_t group__groups_of(const char *user_id)
{
    const user_groups *u = groups_per_user ? strmap_get(groups_per_user, user_id) : NULL;
    return u ? u->n : 0;
}

void groups__user_online(const char *user_id, bool online)
{
    const user_groups *u = groups_per_user ? strmap_get(groups_per_user, user_id) : NULL;
    for (size_t i = 0; u && i < u->n; i++)
        gsync__watch(u->ids[i], online ? +1 : -1);
}

static void group_uncount_member(const char *key, void *value, void *ctx)
{
    const group *g = ctx;
    groups_count(key, g->chat_id, -1);
}

/* ------------------------------------------------------------------ model */

static void group_free(void *p)
{
    group *g = p;
    if (!g)
        return;
    free(g->name);
    free(g->description);
    free(g->created_by);
    free(g->ring);
    strmap_free(g->members);
    free(g);
}

group *group__find(const char *chat_id)
{
    return groups_map && chat_id ? strmap_get(groups_map, chat_id) : NULL;
}

group_member *group__member(const group *g, const char *user_id)
{
    return g ? strmap_get(g->members, user_id) : NULL;
}

group *group__new(const char *chat_id)
{
    group *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    snprintf(g->chat_id, sizeof g->chat_id, "%s", chat_id);
    g->members = strmap_new(free);
    g->perm_send = PARLEY__V1__PERMISSION__EVERYONE;
    g->perm_edit_info = PARLEY__V1__PERMISSION__ADMINS;
    g->perm_add_members = PARLEY__V1__PERMISSION__ADMINS;
    if (!g->members || strmap_put(groups_map, chat_id, g) != 0) {
        group_free(g);
        return NULL;
    }
    return g;
}

void group__drop(const char *chat_id)
{
    group *g = group__find(chat_id);
    if (g)
        strmap_foreach(g->members, group_uncount_member, g);
    strmap_remove(groups_map, chat_id);
}

group_member *group__add_member(group *g, const char *user_id, store_role role, int64_t now)
{
    group_member *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    snprintf(m->user_id, sizeof m->user_id, "%s", user_id);
    m->role = role;
    m->joined_at = now;
    /* Appends still in the writer's queue get the seqs after last_seq: a
     * member added now starts after them (the store assigns seqs in
     * submission order; one of them failing would move this up by one). */
    m->joined_seq = g->last_seq + g->pending;
    m->delivered_seq = m->read_seq = m->joined_seq;
    if (strmap_put(g->members, user_id, m) != 0) {
        free(m);
        return NULL;
    }
    if (role == STORE_ROLE_OWNER)
        g->owners++;
    groups_count(user_id, g->chat_id, +1);
    return m;
}

void group__remove_member(group *g, const char *user_id)
{
    group_member *m = strmap_get(g->members, user_id);
    if (m && m->role == STORE_ROLE_OWNER)
        g->owners--;
    if (m)
        groups_count(user_id, g->chat_id, -1);
    strmap_remove(g->members, user_id);
}

void group__set_role(group *g, group_member *m, store_role role)
{
    if (m->role == STORE_ROLE_OWNER)
        g->owners--;
    if (role == STORE_ROLE_OWNER)
        g->owners++;
    m->role = role;
}

bool group__allowed(const group_member *m, Parley__V1__Permission perm)
{
    if (!m)
        return false;
    if (perm == PARLEY__V1__PERMISSION__EVERYONE)
        return true;
    return m->role >= STORE_ROLE_ADMIN;
}

char *group__settings_text(const group *g)
{
    char buf[96];
    snprintf(buf, sizeof buf, "send=%d,edit_info=%d,add_members=%d", (int)g->perm_send,
             (int)g->perm_edit_info, (int)g->perm_add_members);
    return strdup(buf);
}

static Parley__V1__Permission group_perm(int v, Parley__V1__Permission dflt)
{
    return v == PARLEY__V1__PERMISSION__EVERYONE || v == PARLEY__V1__PERMISSION__ADMINS
               ? (Parley__V1__Permission)v
               : dflt;
}

static void group_parse_settings(group *g, const char *text)
{
    int send = 0, edit = 0, add = 0;
    if (text && sscanf(text, "send=%d,edit_info=%d,add_members=%d", &send, &edit, &add) == 3) {
        g->perm_send = group_perm(send, PARLEY__V1__PERMISSION__EVERYONE);
        g->perm_edit_info = group_perm(edit, PARLEY__V1__PERMISSION__ADMINS);
        g->perm_add_members = group_perm(add, PARLEY__V1__PERMISSION__ADMINS);
    }
}

typedef struct {
    group_member **a;
    size_t n;
} member_walk;

static void member_collect(const char *key, void *value, void *ctx)
{
    member_walk *w = ctx;
    w->a[w->n++] = value;
}

static int member_cmp(const void *a, const void *b)
{
    const group_member *x = *(group_member *const *)a, *y = *(group_member *const *)b;
    return strcmp(x->user_id, y->user_id);
}

group_member **group__sorted_members(const group *g, size_t *n)
{
    size_t count = strmap_count(g->members);
    member_walk w = {calloc(count ? count : 1, sizeof *w.a), 0};
    *n = 0;
    if (!w.a)
        return NULL;
    strmap_foreach(g->members, member_collect, &w);
    qsort(w.a, w.n, sizeof *w.a, member_cmp);
    *n = w.n;
    return w.a;
}

int group__info(const group *g, Parley__V1__GroupInfo *info, Parley__V1__GroupSettings *settings)
{
    size_t n = 0;
    group_member **ms = group__sorted_members(g, &n);
    parley__v1__group_info__init(info);
    parley__v1__group_settings__init(settings);
    if (!ms)
        return -1;
    Parley__V1__GroupMember *recs = calloc(n ? n : 1, sizeof *recs);
    Parley__V1__GroupMember **ptrs = calloc(n ? n : 1, sizeof *ptrs);
    if (!recs || !ptrs) {
        free(recs);
        free(ptrs);
        free(ms);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        parley__v1__group_member__init(&recs[i]);
        recs[i].user_id = ms[i]->user_id;
        recs[i].role = (Parley__V1__Role)ms[i]->role;
        recs[i].joined_at = ms[i]->joined_at;
        recs[i].delivered_seq = ms[i]->delivered_seq;
        recs[i].read_seq = ms[i]->read_seq;
        ptrs[i] = &recs[i];
    }
    free(ms);
    settings->send = g->perm_send;
    settings->edit_info = g->perm_edit_info;
    settings->add_members = g->perm_add_members;
    info->chat_id = (char *)g->chat_id;
    info->name = g->name ? g->name : "";
    info->description = g->description ? g->description : "";
    info->created_at = g->created_at;
    info->created_by = g->created_by ? g->created_by : "";
    info->settings = settings;
    info->members = ptrs;
    info->n_members = n;
    info->last_seq = g->last_seq;
    return 0;
}

void group__info_clear(Parley__V1__GroupInfo *info)
{
    if (info->n_members)
        free(info->members[0]); /* the records array */
    free(info->members);
    info->members = NULL;
    info->n_members = 0;
}

typedef struct {
    void (*fn)(group *g, void *ctx);
    void *ctx;
} group_walk;

static void group_visit(const char *key, void *value, void *ctx)
{
    group_walk *w = ctx;
    w->fn(value, w->ctx);
}

void group__foreach(void (*fn)(group *g, void *ctx), void *ctx)
{
    group_walk w = {fn, ctx};
    if (groups_map)
        strmap_foreach(groups_map, group_visit, &w);
}

/* ------------------------------------------------------------------ load */

static int groups_load_one(store_t *s, const store_chat *c)
{
    store_member *ms = NULL;
    size_t n = 0;
    group *g = group__new(c->chat_id);
    if (!g)
        return -1;
    g->name = c->name ? strdup(c->name) : NULL;
    g->description = c->description ? strdup(c->description) : NULL;
    g->created_by = c->created_by ? strdup(c->created_by) : NULL;
    g->created_at = c->created_at;
    g->last_seq = c->last_seq;
    group_parse_settings(g, c->settings);
    int rc = store_members_of_chat(s, c->chat_id, &ms, &n);
    if (rc == STORE_ENOTFOUND)
        n = 0;
    else if (rc != STORE_OK)
        return -1;
    uint64_t min_d = UINT64_MAX, min_r = UINT64_MAX;
    for (size_t i = 0; i < n; i++) {
        group_member *m = group__add_member(g, ms[i].user_id, ms[i].role, ms[i].joined_at);
        if (!m) {
            store_member_array_free(ms, n);
            return -1;
        }
        m->joined_seq = ms[i].joined_seq;
        m->delivered_seq = ms[i].delivered_seq;
        m->read_seq = ms[i].read_seq;
        if (m->delivered_seq < min_d)
            min_d = m->delivered_seq;
        if (m->read_seq < min_r)
            min_r = m->read_seq;
    }
    g->all_delivered = n ? min_d : g->last_seq;
    g->all_read = n ? min_r : g->last_seq;
    store_member_array_free(ms, n);
    return 0;
}

void groups__reload(const store_chat *c, const store_member *ms, size_t n)
{
    group *g = group__find(c->chat_id);
    if (!g && !(g = group__new(c->chat_id)))
        return;
    free(g->name);
    free(g->description);
    free(g->created_by);
    g->name = c->name ? strdup(c->name) : NULL;
    g->description = c->description ? strdup(c->description) : NULL;
    g->created_by = c->created_by ? strdup(c->created_by) : NULL;
    g->created_at = c->created_at;
    if (c->last_seq > g->last_seq)
        g->last_seq = c->last_seq;
    group_parse_settings(g, c->settings);
    /* Members the store no longer has: collected first (the walk must not
     * change the map). */
    size_t count = strmap_count(g->members), k = 0;
    group_member **gone = calloc(count ? count : 1, sizeof *gone);
    member_walk w = {gone, 0};
    if (gone)
        strmap_foreach(g->members, member_collect, &w);
    for (size_t i = 0; i < w.n; i++) {
        bool keep = false;
        for (size_t j = 0; j < n && !keep; j++)
            keep = !strcmp(ms[j].user_id, gone[i]->user_id);
        if (!keep)
            gone[k++] = gone[i];
    }
    for (size_t i = 0; i < k; i++)
        group__remove_member(g, gone[i]->user_id);
    free(gone);
    for (size_t i = 0; i < n; i++) {
        group_member *m = group__member(g, ms[i].user_id);
        if (!m && !(m = group__add_member(g, ms[i].user_id, ms[i].role, ms[i].joined_at)))
            continue; /* out of memory: this member is reloaded next time */
        if (m->role != ms[i].role)
            group__set_role(g, m, ms[i].role);
        m->joined_at = ms[i].joined_at;
        m->joined_seq = ms[i].joined_seq;
        if (ms[i].delivered_seq > m->delivered_seq)
            m->delivered_seq = ms[i].delivered_seq;
        if (ms[i].read_seq > m->read_seq)
            m->read_seq = ms[i].read_seq;
    }
    group_msg__check_all_quiet(g);
}

void groups__forget(const char *chat_id)
{
    group__drop(chat_id);
}

int groups__init(store_t *s)
{
    char after[IDS_CHAT_MAX + 1] = "";
    size_t total = 0;
    groups_map = strmap_new(group_free);
    groups_per_user = strmap_new(user_groups_free);
    if (!groups_map || !groups_per_user)
        return -1;
    for (;;) {
        store_chat *chats = NULL;
        size_t n = 0;
        int rc = store_chats_list(s, after, 500, &chats, &n);
        if (rc == STORE_ENOTFOUND)
            break;
        if (rc != STORE_OK) {
            mosquitto_log_printf(MOSQ_LOG_ERR, "parley: cannot load groups: %s (%s)",
                                 store_strerror(rc), store_last_error(s));
            return -1;
        }
        for (size_t i = 0; i < n; i++) {
            if (chats[i].type != STORE_CHAT_GROUP)
                continue;
            if (groups_load_one(s, &chats[i]) != 0) {
                mosquitto_log_printf(MOSQ_LOG_ERR, "parley: cannot load group %s: %s",
                                     chats[i].chat_id, store_last_error(s));
                store_chat_array_free(chats, n);
                return -1;
            }
            total++;
        }
        if (n)
            snprintf(after, sizeof after, "%s", chats[n - 1].chat_id);
        store_chat_array_free(chats, n);
        if (n < 500)
            break;
    }
    mosquitto_log_printf(MOSQ_LOG_NOTICE, "parley: %zu group(s) loaded (max_group_size %zu)", total,
                         pp.cfg.max_group_size);
    return 0;
}

void groups__cleanup(void)
{
    strmap_free(groups_map);
    groups_map = NULL;
    strmap_free(groups_per_user);
    groups_per_user = NULL;
}

/* ------------------------------------------------------------------ ACL */

/* "ID/leaf" -> chat_id "g:ID" and leaf; false if not that shape. */
static bool groups_parse_rest(const char *rest, char chat_id[IDS_CHAT_MAX + 1], const char **leaf)
{
    const char *slash = strchr(rest, '/');
    if (!slash || slash - rest != IDS_GROUP_ID_LEN)
        return false;
    snprintf(chat_id, IDS_CHAT_MAX + 1, "g:%.*s", IDS_GROUP_ID_LEN, rest);
    *leaf = slash + 1;
    return ids_valid_chat(chat_id) && !strchr(*leaf, '/') && **leaf;
}

int groups__acl_check(const char *user, const char *rest, int access)
{
    char chat_id[IDS_CHAT_MAX + 1];
    const char *leaf;
    if (!groups_parse_rest(rest, chat_id, &leaf))
        return MOSQ_ERR_ACL_DENIED;
    if (!group__member(group__find(chat_id), user))
        return MOSQ_ERR_ACL_DENIED;
    if (!strcmp(leaf, "inbox") || !strcmp(leaf, "typing"))
        return MOSQ_ERR_SUCCESS;
    if (access == MOSQ_ACL_SUBSCRIBE && (!strcmp(leaf, "+") || !strcmp(leaf, "#")))
        return MOSQ_ERR_SUCCESS;
    return MOSQ_ERR_ACL_DENIED;
}

uint32_t groups__sync_check(const char *me, const char *chat_id, uint64_t *floor,
                            const char **error)
{
    group *g = group__find(chat_id);
    group_member *m = group__member(g, me);
    if (!g) {
        *error = "unknown_chat";
        return 404;
    }
    if (!m) {
        *error = "not_member";
        return 403;
    }
    *floor = m->joined_seq;
    return 0;
}

uint32_t groups__member_role(const char *me, const char *chat_id, uint64_t *floor, store_role *role,
                             const char **error)
{
    uint32_t st = groups__sync_check(me, chat_id, floor, error);
    *role = st ? 0 : group__member(group__find(chat_id), me)->role;
    return st;
}

/* ------------------------------------------------------------------ persistence */

/* Membership writes only log failures (writer.c). */
static int group_submit(store_op *op)
{
    return writer__submit(op, NULL);
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

int group__persist_chat(const group *g, bool create)
{
    store_op *op = store_op_new(create ? STORE_OP_CHAT_PUT : STORE_OP_CHAT_UPDATE);
    if (!op)
        return -1;
    op->u.chat.chat_id = strdup(g->chat_id);
    op->u.chat.type = STORE_CHAT_GROUP;
    op->u.chat.name = dup_or_null(g->name);
    op->u.chat.description = dup_or_null(g->description);
    op->u.chat.created_by = dup_or_null(g->created_by);
    op->u.chat.settings = group__settings_text(g);
    op->u.chat.created_at = g->created_at;
    if (!op->u.chat.chat_id || !op->u.chat.settings) {
        store_op_free(op);
        return -1;
    }
    return group_submit(op);
}

static store_op *group_member_op(store_op_type type, const char *chat_id, const char *user_id)
{
    store_op *op = store_op_new(type);
    if (!op)
        return NULL;
    op->u.member.chat_id = strdup(chat_id);
    op->u.member.user_id = strdup(user_id);
    if (!op->u.member.chat_id || !op->u.member.user_id) {
        store_op_free(op);
        return NULL;
    }
    return op;
}

int group__persist_member(const group *g, const group_member *m)
{
    store_op *op = group_member_op(STORE_OP_MEMBER_PUT, g->chat_id, m->user_id);
    if (!op)
        return -1;
    op->u.member.role = m->role;
    op->u.member.joined_at = m->joined_at;
    op->u.member.joined_seq = m->joined_seq;
    op->u.member.delivered_seq = m->delivered_seq;
    op->u.member.read_seq = m->read_seq;
    return group_submit(op);
}

int group__persist_member_remove(const group *g, const char *user_id)
{
    store_op *op = group_member_op(STORE_OP_MEMBER_REMOVE, g->chat_id, user_id);
    return op ? group_submit(op) : -1;
}

int group__persist_role(const group *g, const group_member *m)
{
    store_op *op = group_member_op(STORE_OP_MEMBER_SET_ROLE, g->chat_id, m->user_id);
    if (!op)
        return -1;
    op->u.member.role = m->role;
    return group_submit(op);
}

int group__persist_advance(const group *g, const char *user_id, uint64_t delivered, uint64_t read)
{
    store_op *op = store_op_new(STORE_OP_MEMBER_ADVANCE);
    if (!op)
        return -1;
    op->u.advance.chat_id = strdup(g->chat_id);
    op->u.advance.user_id = strdup(user_id);
    op->u.advance.delivered_seq = delivered;
    op->u.advance.read_seq = read;
    if (!op->u.advance.chat_id || !op->u.advance.user_id) {
        store_op_free(op);
        return -1;
    }
    return group_submit(op);
}

/* ------------------------------------------------------------------ announcements */

struct group_reply {
    char me[IDS_USER_MAX + 1];
    char req_id[65];
    char chat_id[IDS_CHAT_MAX + 1];
};

group_reply *group__reply_new(const char *me, const char *req_id, const char *chat_id)
{
    group_reply *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    snprintf(r->me, sizeof r->me, "%s", me);
    snprintf(r->req_id, sizeof r->req_id, "%s", req_id);
    snprintf(r->chat_id, sizeof r->chat_id, "%s", chat_id);
    return r;
}

/* Broker thread: the announcement is durable (or failed); message.c
 * delivers it right after this. */
static void group_announced(const pp_committed *c, void *ctx)
{
    group_reply *r = ctx;
    group *g = group__find(c->chat_id);
    if (g && g->pending)
        g->pending--;
    if (c->stopping)
        goto out;
    if (c->rc != STORE_OK) {
        if (r)
            control__respond(r->me, r->req_id, 500, "store_failed", store_strerror(c->rc));
        goto out;
    }
    if (g && c->seq > g->last_seq)
        g->last_seq = c->seq;
    gsync__announce(c->chat_id); /* the other nodes read the group again */
    if (!r)
        goto out;
    char topic[PP_TOPIC_MAX];
    Parley__V1__Response rsp = PARLEY__V1__RESPONSE__INIT;
    Parley__V1__GroupInfo info;
    Parley__V1__GroupSettings settings;
    rsp.req_id = r->req_id;
    if (g && group__member(g, r->me) && group__info(g, &info, &settings) == 0) {
        rsp.result_case = PARLEY__V1__RESPONSE__RESULT_GROUP;
        rsp.group = &info;
        snprintf(topic, sizeof topic, "parley/u/%s/rsp", r->me);
        publish__msg(topic, &rsp.base, false);
        group__info_clear(&info);
    } else {
        control__respond(r->me, r->req_id, 0, NULL, NULL);
    }
out:
    free(r);
}

int group__announce(group *g, const char *actor, Parley__V1__SystemEvent *ev, group_reply *reply,
                    char *const *extra, size_t n_extra)
{
    char rnd[IDS_SERVER_ID_LEN + 1];
    char cmid[IDS_CLIENT_MSG_MAX + 1];
    size_t len = protobuf_c_message_get_packed_size(&ev->base);
    uint8_t *body = malloc(len ? len : 1);
    if (!body)
        goto fail;
    protobuf_c_message_pack(&ev->base, body);
    ids_random(rnd);
    snprintf(cmid, sizeof cmid, "sys-%s", rnd); /* unique per (sender, client_msg_id) */
    pp_send s = {.chat_id = g->chat_id,
                 .sender = actor,
                 .client_msg_id = cmid,
                 .body = {.data = body, .len = len},
                 .kind = PARLEY__V1__ENVELOPE_KIND__SYSTEM,
                 .extra = extra,
                 .n_extra = n_extra};
    int rc = message__submit(&s, group_announced, reply);
    free(body);
    if (rc != 0)
        goto fail;
    g->pending++;
    return 0;
fail:
    if (reply) {
        control__respond(reply->me, reply->req_id, 503, "overloaded",
                         "the server's store queue is full; retry later");
        free(reply);
    }
    return -1;
}
