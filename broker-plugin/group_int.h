/*
 * group_int.h - the in-memory model of group chats shared by groups.c
 * (model, load, ACL, announcements, persistence helpers), group_ops.c
 * (control requests) and group_msg.c (messages, typing, acks, receipts).
 *
 * Broker thread only. The model is authoritative for membership: it is
 * loaded from the store at init, changed synchronously when a request is
 * accepted, and every change is then written through the store writer.
 */
#ifndef PARLEY_PLUGIN_GROUP_INT_H
#define PARLEY_PLUGIN_GROUP_INT_H

#include "plugin_int.h"

#define GROUP_NAME_MAX 128
#define GROUP_DESC_MAX 1024
/* seq -> sender slots remembered per group, to address cursor receipts
 * (allocated with the group's first message). */
#define GROUP_SENDER_RING 128

typedef struct {
    uint64_t seq;
    char sender[IDS_USER_MAX + 1];
} group_sent;

typedef struct {
    char user_id[IDS_USER_MAX + 1];
    store_role role;
    int64_t joined_at;
    uint64_t joined_seq;
    uint64_t delivered_seq;
    uint64_t read_seq;
} group_member;

typedef struct {
    char chat_id[IDS_CHAT_MAX + 1];     /* "g:" + 22 characters */
    char *name;
    char *description;
    char *created_by;
    int64_t created_at;
    Parley__V1__Permission perm_send;
    Parley__V1__Permission perm_edit_info;
    Parley__V1__Permission perm_add_members;
    uint64_t last_seq;                  /* last committed seq (messages and events) */
    uint64_t pending;                   /* appends submitted, not yet completed */
    strmap *members;                    /* user_id -> group_member* */
    size_t owners;
    uint64_t all_delivered;             /* last "delivered to all" cursor announced */
    uint64_t all_read;
    group_sent *ring;                   /* GROUP_SENDER_RING slots, or NULL */
} group;

/* groups.c */
group *group__find(const char *chat_id);
group_member *group__member(const group *g, const char *user_id);
/* A new group (not yet persisted) registered in the model; NULL on OOM. */
group *group__new(const char *chat_id);
/* Forget a group that was never announced (create failed). */
void group__drop(const char *chat_id);
/* Add a member to the model (role, joined_seq); NULL on OOM. */
group_member *group__add_member(group *g, const char *user_id, store_role role, int64_t now);
void group__remove_member(group *g, const char *user_id);
/* Groups user_id is a member of (kept by add/remove/drop and the load). */
size_t group__groups_of(const char *user_id);
void group__set_role(group *g, group_member *m, store_role role);
/* "send=1,edit_info=2,add_members=2" <-> the three permissions. */
char *group__settings_text(const group *g);
/* Members sorted by user id (array of *n pointers; free the array only). */
group_member **group__sorted_members(const group *g, size_t *n);
/* Fill info from the model; free with group__info_clear. */
int group__info(const group *g, Parley__V1__GroupInfo *info, Parley__V1__GroupSettings *settings);
void group__info_clear(Parley__V1__GroupInfo *info);
/* Call fn for every group. */
void group__foreach(void (*fn)(group *g, void *ctx), void *ctx);
/* Members of g with role >= ADMIN may do what needs perm ADMINS. */
bool group__allowed(const group_member *m, Parley__V1__Permission perm);

/* Persist through the writer (log-only completion); -1 if the queue refused. */
int group__persist_chat(const group *g, bool create);
int group__persist_member(const group *g, const group_member *m);
int group__persist_member_remove(const group *g, const char *user_id);
int group__persist_role(const group *g, const group_member *m);
int group__persist_advance(const group *g, const char *user_id, uint64_t delivered, uint64_t read);

/* A reply waiting for an announcement's commit: answered with the group's
 * info (when the caller is still a member) or a bare status 0. */
typedef struct group_reply group_reply;
group_reply *group__reply_new(const char *me, const char *req_id, const char *chat_id);
/*
 * Announce ev in g's sequence: append a SYSTEM envelope (sender = actor)
 * through message.c; after the commit it is published on
 * parley/g/{id}/inbox and to the inbox of each of the extra users (removed
 * members, new members). reply (may be NULL; owned from here
 * on) is answered once the envelope is durable. Returns 0, or -1 when the
 * writer refused (reply then already answered 503).
 */
int group__announce(group *g, const char *actor, Parley__V1__SystemEvent *ev, group_reply *reply,
                    char *const *extra, size_t n_extra);

/* group_msg.c */
/* Remember that seq was sent by sender (for cursor receipts). */
void group_msg__note_sender(group *g, uint64_t seq, const char *sender);
/* Emit "delivered/read by all" receipts if every member has moved past the
 * last announced cursor (after acks and after members leave). */
void group_msg__check_all(group *g);
/* The same cursors moved without receipts (a reload: the node where the
 * acks arrived sent them). */
void group_msg__check_all_quiet(group *g);

#endif
