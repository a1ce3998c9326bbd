/*
 * group_api.c - the group management API (parley/group.h): create, add,
 * remove, roles, leave, info, list. Each is one control request that waits
 * for the broker's answer (loop__call); every answer that carries a
 * GroupInfo refreshes the group's local member list (members.c), which is
 * what a group send uses. Nothing here is called by the library itself.
 */
#include "parley_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "parley.pb-c.h"
#include "parley/group.h"

static int check_group(parley_client *c, const char *chat_id)
{
    if (!chat_id || !ids_is_group_chat(chat_id) || !ids_valid_chat(chat_id))
        return util__fail(c, PARLEY_EINVAL, "invalid group id '%s'", chat_id ? chat_id : "");
    return PARLEY_OK;
}

/* loop__call, with the refusals a user can act on spelled out. */
static int group_call(parley_client *c, Parley__V1__Request *req, int timeout_ms,
                      Parley__V1__Response **rsp)
{
    int rc = loop__call(c, req, timeout_ms, (void **)rsp);
    if (rc == PARLEY_EREFUSED && strstr(c->err, "409 too_many_groups")) {
        char detail[CLIENT_ERR_MAX];
        snprintf(detail, sizeof detail, "%s", c->err);
        util__fail(c, PARLEY_EREFUSED,
                   "too many groups: you, or a user to add, already "
                   "belong to as many groups as the server allows (%.300s)",
                   detail);
    }
    return rc;
}

static void to_public(const Parley__V1__GroupInfo *gi, parley_group *g, parley_group_member *m)
{
    for (size_t i = 0; i < gi->n_members; i++) {
        const Parley__V1__GroupMember *gm = gi->members[i];
        m[i] = (parley_group_member){gm->user_id ? gm->user_id : "", (parley_role)gm->role,
                                     gm->joined_at, gm->delivered_seq, gm->read_seq};
    }
    *g = (parley_group){gi->chat_id ? gi->chat_id : "",
                        gi->name ? gi->name : "",
                        gi->description ? gi->description : "",
                        gi->created_by ? gi->created_by : "",
                        gi->created_at,
                        gi->last_seq,
                        gi->n_members,
                        m};
}

static int emit_group(parley_client *c, const Parley__V1__GroupInfo *gi,
                      void (*fn)(void *ud, const parley_group *g), void *ud)
{
    parley_group g;
    parley_group_member *m = calloc(gi->n_members ? gi->n_members : 1, sizeof *m);
    if (!m)
        return util__fail(c, PARLEY_ENOMEM, "out of memory");
    to_public(gi, &g, m);
    if (fn)
        fn(ud, &g);
    free(m);
    return PARLEY_OK;
}

/* One group request, answered: a GroupInfo in the answer refreshes that
 * group's member list (members__set, whose code is returned). need_group:
 * an answer without one is an error. rsp (may be NULL): the answer when it
 * carries a GroupInfo, for the caller to free (also when members__set
 * failed), else NULL. */
static int group_request(parley_client *c, Parley__V1__Request *req, int timeout_ms, int need_group,
                         Parley__V1__Response **rsp)
{
    Parley__V1__Response *r = NULL;
    if (rsp)
        *rsp = NULL;
    int rc = group_call(c, req, timeout_ms, &r);
    if (rc != PARLEY_OK)
        return rc;
    int has_group = r->result_case == PARLEY__V1__RESPONSE__RESULT_GROUP;
    if (has_group)
        rc = members__set(c, r->group);
    else if (need_group)
        rc = util__fail(c, PARLEY_EREFUSED, "the broker answered without the group");
    if (has_group && rsp)
        *rsp = r;
    else
        parley__v1__response__free_unpacked(r, NULL);
    return rc;
}

int parley_group_create(parley_client *c, const char *name, const char *const *members, size_t n,
                        char *chat_id, size_t chat_id_len, int timeout_ms)
{
    Parley__V1__Request req = PARLEY__V1__REQUEST__INIT;
    Parley__V1__GroupCreate gc = PARLEY__V1__GROUP_CREATE__INIT;
    Parley__V1__Response *rsp = NULL;

    if (!name || !*name)
        return util__fail(c, PARLEY_EINVAL, "a group needs a name");
    for (size_t i = 0; i < n; i++)
        if (!ids_valid_user(members[i]))
            return util__fail(c, PARLEY_EINVAL, "invalid user id '%s'", members[i]);
    gc.name = (char *)name;
    gc.members = (char **)members;
    gc.n_members = n;
    req.op_case = PARLEY__V1__REQUEST__OP_GROUP_CREATE;
    req.group_create = &gc;
    /* The members as created: a send can follow at once, even offline. */
    int rc = group_request(c, &req, timeout_ms, 1, &rsp);
    if (!rsp)
        return rc;
    if (!rsp->group->chat_id)
        rc = util__fail(c, PARLEY_EREFUSED, "the broker answered without the group");
    else
        snprintf(chat_id, chat_id_len, "%s", rsp->group->chat_id);
    parley__v1__response__free_unpacked(rsp, NULL);
    return rc;
}

static int members_op(parley_client *c, const char *chat_id, const char *const *users, size_t n,
                      int add, int timeout_ms)
{
    Parley__V1__Request req = PARLEY__V1__REQUEST__INIT;
    Parley__V1__GroupMembers gm = PARLEY__V1__GROUP_MEMBERS__INIT;
    int rc = check_group(c, chat_id);
    if (rc != PARLEY_OK)
        return rc;
    if (n == 0)
        return util__fail(c, PARLEY_EINVAL, "no users given");
    for (size_t i = 0; i < n; i++)
        if (!ids_valid_user(users[i]))
            return util__fail(c, PARLEY_EINVAL, "invalid user id '%s'", users[i]);
    gm.chat_id = (char *)chat_id;
    gm.user_ids = (char **)users;
    gm.n_user_ids = n;
    req.op_case = add ? PARLEY__V1__REQUEST__OP_GROUP_ADD : PARLEY__V1__REQUEST__OP_GROUP_REMOVE;
    if (add)
        req.group_add = &gm;
    else
        req.group_remove = &gm;
    rc = group_request(c, &req, timeout_ms, 0, NULL);
    if (!add && rc == PARLEY_OK) {
        /* Our next message must not be readable by the removed members. */
        Parley__V1__SystemEvent ev = PARLEY__V1__SYSTEM_EVENT__INIT;
        ev.type = PARLEY__V1__SYSTEM_EVENT__TYPE__MEMBERS_REMOVED;
        ev.users = (char **)users;
        ev.n_users = n;
        rc = skeys__on_system(c, chat_id, &ev);
    }
    return rc;
}

int parley_group_add(parley_client *c, const char *chat_id, const char *const *users, size_t n,
                     int timeout_ms)
{
    return members_op(c, chat_id, users, n, 1, timeout_ms);
}

int parley_group_remove(parley_client *c, const char *chat_id, const char *const *users, size_t n,
                        int timeout_ms)
{
    return members_op(c, chat_id, users, n, 0, timeout_ms);
}

int parley_group_set_role(parley_client *c, const char *chat_id, const char *user, parley_role role,
                          int timeout_ms)
{
    Parley__V1__Request req = PARLEY__V1__REQUEST__INIT;
    Parley__V1__GroupSetRole sr = PARLEY__V1__GROUP_SET_ROLE__INIT;
    int rc = check_group(c, chat_id);
    if (rc != PARLEY_OK)
        return rc;
    if (!ids_valid_user(user) || role < PARLEY_ROLE_MEMBER || role > PARLEY_ROLE_OWNER)
        return util__fail(c, PARLEY_EINVAL, "invalid user or role");
    sr.chat_id = (char *)chat_id;
    sr.user_id = (char *)user;
    sr.role = (Parley__V1__Role)role;
    req.op_case = PARLEY__V1__REQUEST__OP_GROUP_SET_ROLE;
    req.group_set_role = &sr;
    return group_request(c, &req, timeout_ms, 0, NULL);
}

int parley_group_leave(parley_client *c, const char *chat_id, int timeout_ms)
{
    Parley__V1__Request req = PARLEY__V1__REQUEST__INIT;
    Parley__V1__GroupLeave gl = PARLEY__V1__GROUP_LEAVE__INIT;
    Parley__V1__Response *rsp = NULL;
    int rc = check_group(c, chat_id);
    if (rc != PARLEY_OK)
        return rc;
    gl.chat_id = (char *)chat_id;
    req.op_case = PARLEY__V1__REQUEST__OP_GROUP_LEAVE;
    req.group_leave = &gl;
    /* Not group_request: the answer's member list must not subscribe us
     * again to the group we just left. */
    rc = group_call(c, &req, timeout_ms, &rsp);
    if (rc != PARLEY_OK)
        return rc;
    parley__v1__response__free_unpacked(rsp, NULL);
    /* Our chain is useless now. */
    return skeys__drop_own(c, chat_id);
}

int parley_group_info(parley_client *c, const char *chat_id,
                      void (*fn)(void *ud, const parley_group *g), void *ud, int timeout_ms)
{
    Parley__V1__Request req = PARLEY__V1__REQUEST__INIT;
    Parley__V1__GroupGet gg = PARLEY__V1__GROUP_GET__INIT;
    Parley__V1__Response *rsp = NULL;
    int rc = check_group(c, chat_id);
    if (rc != PARLEY_OK)
        return rc;
    gg.chat_id = (char *)chat_id;
    req.op_case = PARLEY__V1__REQUEST__OP_GROUP_GET;
    req.group_get = &gg;
    rc = group_request(c, &req, timeout_ms, 1, &rsp);
    if (!rsp)
        return rc;
    if (rc == PARLEY_OK)
        rc = emit_group(c, rsp->group, fn, ud);
    parley__v1__response__free_unpacked(rsp, NULL);
    return rc;
}

int parley_groups(parley_client *c, void (*fn)(void *ud, const parley_group *g), void *ud,
                  int timeout_ms)
{
    Parley__V1__Request req = PARLEY__V1__REQUEST__INIT;
    Parley__V1__GroupList gl = PARLEY__V1__GROUP_LIST__INIT;
    Parley__V1__Response *rsp = NULL;
    req.op_case = PARLEY__V1__REQUEST__OP_GROUP_LIST;
    req.group_list = &gl;
    int rc = group_call(c, &req, timeout_ms, &rsp);
    if (rc != PARLEY_OK)
        return rc;
    if (rsp->result_case == PARLEY__V1__RESPONSE__RESULT_GROUPS) {
        for (size_t i = 0; i < rsp->groups->n_groups && rc == PARLEY_OK; i++) {
            rc = members__set(c, rsp->groups->groups[i]);
            if (rc == PARLEY_OK)
                rc = emit_group(c, rsp->groups->groups[i], fn, ud);
        }
    }
    parley__v1__response__free_unpacked(rsp, NULL);
    return rc;
}
