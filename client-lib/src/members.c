/*
 * members.c - each group's members, kept locally so that a group send never
 * asks the broker (and never waits): the list comes from a GroupInfo (an
 * answer to group_create, group_get, group_list, or a background refresh)
 * and is kept current by the group's SYSTEM events, applied in the group's
 * sequence. Blob "members"/chat_id = "{seq}\n{user}\t{role}\n..." where seq
 * is the group seq the list reflects: an event at or below it is already in
 * the list (a GroupInfo's last_seq covers every announcement before it), and
 * role the member's Role (1 member, 2 admin, 3 owner; a line without one,
 * written before roles were kept, is a member). The roles decide who may
 * delete others' messages and set the disappearing timer (rich.c).
 */
#include "parley_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "parley.pb-c.h"

#define MEMBERS_NS "members"

typedef struct {
    uint64_t seq;
    char **users;
    int *roles; /* Parley__V1__Role of users[i] */
    size_t n, cap;
    int roles_known; /* written with roles (not by a library from before them) */
} member_list;

static void list_free(member_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->users[i]);
    free(l->users);
    free(l->roles);
    memset(l, 0, sizeof *l);
}

/* The index of user in l, or -1. */
static long list_find(const member_list *l, const char *user)
{
    for (size_t i = 0; user && i < l->n; i++)
        if (strcmp(l->users[i], user) == 0)
            return (long)i;
    return -1;
}

static int list_has(const member_list *l, const char *user)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->users[i], user) == 0)
            return 1;
    return 0;
}

/* A role as kept: MEMBER, ADMIN or OWNER (anything else: MEMBER). */
static int role_of(int role)
{
    return role == PARLEY__V1__ROLE__ADMIN || role == PARLEY__V1__ROLE__OWNER
               ? role
               : PARLEY__V1__ROLE__MEMBER;
}

/* 0, or -1 out of memory. A user already listed (or invalid) is skipped. */
static int list_add_role(member_list *l, const char *user, int role)
{
    if (!user || !ids_valid_user(user) || list_has(l, user))
        return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        char **u = realloc(l->users, cap * sizeof *u);
        if (!u)
            return -1;
        l->users = u;
        int *r = realloc(l->roles, cap * sizeof *r);
        if (!r)
            return -1;
        l->roles = r;
        l->cap = cap;
    }
    if (!(l->users[l->n] = strdup(user)))
        return -1;
    l->roles[l->n] = role_of(role);
    l->n++;
    return 0;
}

static int list_add(member_list *l, const char *user)
{
    return list_add_role(l, user, PARLEY__V1__ROLE__MEMBER);
}

static void list_remove(member_list *l, const char *user)
{
    for (size_t i = 0; user && i < l->n; i++) {
        if (strcmp(l->users[i], user) == 0) {
            free(l->users[i]);
            memmove(&l->users[i], &l->users[i + 1], (l->n - 1 - i) * sizeof *l->users);
            memmove(&l->roles[i], &l->roles[i + 1], (l->n - 1 - i) * sizeof *l->roles);
            l->n--;
            return;
        }
    }
}

/* 1 loaded, 0 not known, -1 store error or out of memory. */
static int list_load(parley_client *c, const char *chat_id, member_list *l)
{
    uint8_t *b = NULL;
    size_t n = 0;
    memset(l, 0, sizeof *l);
    int rc = lstore_blob_get(c->store, MEMBERS_NS, chat_id, &b, &n);
    if (rc != 1)
        return rc;
    char *text = malloc(n + 1);
    if (!text) {
        free(b);
        return -1;
    }
    memcpy(text, b, n);
    text[n] = 0;
    free(b);
    char *save = NULL, *line = strtok_r(text, "\n", &save);
    l->seq = line ? strtoull(line, NULL, 10) : 0;
    while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
        char *tab = strchr(line, '\t');
        int role = PARLEY__V1__ROLE__MEMBER;
        if (tab) {
            *tab = 0;
            role = atoi(tab + 1);
            l->roles_known = 1;
        }
        if (list_add_role(l, line, role) != 0) {
            free(text);
            list_free(l);
            return -1;
        }
    }
    free(text);
    return 1;
}

static int list_save(parley_client *c, const char *chat_id, const member_list *l)
{
    size_t cap = 24 + l->n * (IDS_USER_MAX + 4), used = 0;
    char *b = malloc(cap);
    if (!b)
        return -1;
    used = (size_t)snprintf(b, cap, "%llu\n", (unsigned long long)l->seq);
    for (size_t i = 0; i < l->n; i++)
        used += (size_t)snprintf(b + used, cap - used, "%s\t%d\n", l->users[i], l->roles[i]);
    int rc = lstore_blob_set(c->store, MEMBERS_NS, chat_id, b, used);
    free(b);
    return rc;
}

void members__subscribe(parley_client *c, const char *chat_id)
{
    char t[2][160];
    char *topics[2] = {t[0], t[1]};
    if (c->transient || !link__ready(c) || !ids_is_group_chat(chat_id))
        return;
    snprintf(t[0], sizeof t[0], "parley/g/%s/inbox", chat_id + 2);
    snprintf(t[1], sizeof t[1], "parley/g/%s/typing", chat_id + 2);
    link__subscribe(c, topics, 2);
}

int members__set(parley_client *c, const void *vgi)
{
    const Parley__V1__GroupInfo *gi = vgi;
    member_list old, l;
    memset(&l, 0, sizeof l);
    if (!gi || !gi->chat_id || !ids_is_group_chat(gi->chat_id) || !ids_valid_chat(gi->chat_id))
        return PARLEY_OK;
    if (lstore_chat_ensure(c->store, gi->chat_id, 2, gi->name ? gi->name : "") != 0 ||
        (gi->name && *gi->name && lstore_chat_set_name(c->store, gi->chat_id, gi->name) != 0))
        return util__store_fail(c);
    members__subscribe(c, gi->chat_id);
    int had = list_load(c, gi->chat_id, &old);
    if (had < 0)
        return util__store_fail(c);
    uint64_t newer = had ? old.seq : 0;
    list_free(&old);
    if (had && gi->last_seq < newer)
        return PARLEY_OK; /* our list already reflects a later announcement */
    l.seq = gi->last_seq;
    for (size_t i = 0; i < gi->n_members; i++) {
        if (list_add_role(&l, gi->members[i]->user_id, (int)gi->members[i]->role) != 0) {
            list_free(&l);
            return util__fail(c, PARLEY_ENOMEM, "out of memory");
        }
    }
    int rc = list_save(c, gi->chat_id, &l);
    list_free(&l);
    return rc == 0 ? PARLEY_OK : util__store_fail(c);
}

int members__on_event(parley_client *c, const char *chat_id, uint64_t seq, const void *vev)
{
    const Parley__V1__SystemEvent *ev = vev;
    member_list l;
    int rc = list_load(c, chat_id, &l);
    if (rc < 0)
        return util__store_fail(c);
    if (ev->type == PARLEY__V1__SYSTEM_EVENT__TYPE__GROUP_CREATED) {
        if (rc == 1 && seq <= l.seq) {
            list_free(&l);
            return PARLEY_OK;
        }
        /* The whole list: the creator and the initial members. */
        list_free(&l);
        rc = 1;
        if (list_add_role(&l, ev->actor, PARLEY__V1__ROLE__OWNER) != 0)
            goto oom;
        for (size_t i = 0; i < ev->n_users; i++)
            if (list_add(&l, ev->users[i]) != 0)
                goto oom;
    } else if (rc == 0 || seq <= l.seq) {
        /* Not known (a refresh brings the whole list), or already in it. */
        list_free(&l);
        return PARLEY_OK;
    } else if (ev->type == PARLEY__V1__SYSTEM_EVENT__TYPE__MEMBERS_ADDED) {
        for (size_t i = 0; i < ev->n_users; i++)
            if (list_add(&l, ev->users[i]) != 0)
                goto oom;
    } else if (ev->type == PARLEY__V1__SYSTEM_EVENT__TYPE__MEMBERS_REMOVED) {
        for (size_t i = 0; i < ev->n_users; i++)
            list_remove(&l, ev->users[i]);
    } else if (ev->type == PARLEY__V1__SYSTEM_EVENT__TYPE__MEMBER_LEFT) {
        list_remove(&l, ev->n_users > 0 ? ev->users[0] : ev->actor);
    } else if (ev->type == PARLEY__V1__SYSTEM_EVENT__TYPE__ROLE_CHANGED) {
        for (size_t i = 0; i < ev->n_users; i++) {
            long k = list_find(&l, ev->users[i]);
            if (k >= 0)
                l.roles[k] = role_of((int)ev->role);
        }
    }
    l.seq = seq;
    rc = list_save(c, chat_id, &l);
    list_free(&l);
    return rc == 0 ? PARLEY_OK : util__store_fail(c);

oom:
    list_free(&l);
    return util__fail(c, PARLEY_ENOMEM, "out of memory");
}

int members__known(parley_client *c, const char *chat_id)
{
    member_list l;
    int rc = list_load(c, chat_id, &l);
    /* A list kept before roles were: asked for again once (the next
     * GroupInfo brings the roles that decide who may delete and set the
     * timer). */
    if (rc == 1 && !l.roles_known)
        rc = 0;
    list_free(&l);
    return rc;
}

int members__role(parley_client *c, const char *chat_id, const char *user)
{
    member_list l;
    int rc = list_load(c, chat_id, &l);
    if (rc < 0)
        return util__store_fail(c);
    long k = rc == 1 ? list_find(&l, user) : -1;
    int role = k >= 0 ? l.roles[k] : 0;
    list_free(&l);
    return role;
}

int members__others(parley_client *c, const char *chat_id, char ***out, size_t *n)
{
    member_list l;
    *out = NULL;
    *n = 0;
    int rc = list_load(c, chat_id, &l);
    if (rc < 0)
        return util__store_fail(c);
    if (rc == 0)
        return util__fail(c, PARLEY_ENOTFOUND,
                          "the members of %s are not known yet (they come with the next "
                          "connection, or parley_group_info)",
                          chat_id);
    list_remove(&l, c->user);
    char **users = calloc(l.n + 1, sizeof *users);
    if (!users) {
        list_free(&l);
        return util__fail(c, PARLEY_ENOMEM, "out of memory");
    }
    memcpy(users, l.users, l.n * sizeof *users);
    *out = users;
    *n = l.n;
    free(l.users); /* the strings now belong to *out */
    free(l.roles);
    return PARLEY_OK;
}

void members__free(char **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

int members__refresh(parley_client *c, const char *chat_id)
{
    Parley__V1__Request req = PARLEY__V1__REQUEST__INIT;
    Parley__V1__GroupGet gg = PARLEY__V1__GROUP_GET__INIT;
    gg.chat_id = (char *)chat_id;
    req.op_case = PARLEY__V1__REQUEST__OP_GROUP_GET;
    req.group_get = &gg;
    return rpc__request(c, &req, REQ_GROUP_GET, chat_id, NULL);
}

int members__on_response(parley_client *c, const void *vrsp)
{
    const Parley__V1__Response *r = vrsp;
    if (r->status != 0 || r->result_case != PARLEY__V1__RESPONSE__RESULT_GROUP)
        return PARLEY_OK;
    return members__set(c, r->group);
}
