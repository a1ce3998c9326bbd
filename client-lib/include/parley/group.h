/*
 * group.h - group chats in the Parley SDK: control requests (create, add,
 * remove, roles, leave, info, list) answered by the broker, and group
 * messages encrypted with Sender Keys (docs/protocol.md). Messages to a group
 * are sent with parley_send_text(c, "g:...", text, ...) and arrive through
 * the same on_message callback as direct messages.
 *
 * Every function here needs a connection (parley_connect, then
 * parley_wait_synced) and waits for the broker's answer at most timeout_ms,
 * running the receive loop meanwhile (callbacks may fire inside; never call
 * these from a callback). Returns PARLEY_OK, PARLEY_EINVAL, PARLEY_ENOTCONN,
 * PARLEY_ETIMEOUT, PARLEY_ENOTFOUND (no such group, or not a member) or
 * PARLEY_EREFUSED (the broker refused: detail in parley_last_error, e.g.
 * "403 forbidden: ..."; a 409 too_many_groups from create or add reads
 * "too many groups: you, or a user to add, already belong to as many groups
 * as the server allows").
 *
 * The library keeps each group's member list locally, from every answer
 * that carries the group (create, add, remove, set_role, info, list) and
 * from the group's SYSTEM events, and refreshes it on connect for groups it
 * does not know yet (also those it is told about on its own inbox). A send
 * to a group uses that list: it never waits for the broker, and works
 * offline like a direct send. parley_group_info refreshes it explicitly.
 */
#ifndef PARLEY_GROUP_H
#define PARLEY_GROUP_H

#include <stddef.h>
#include <stdint.h>

#include "parley/parley.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    PARLEY_ROLE_MEMBER = 1,
    PARLEY_ROLE_ADMIN = 2,
    PARLEY_ROLE_OWNER = 3,
} parley_role;

typedef struct {
    const char *user_id;
    parley_role role;
    int64_t joined_at;
    uint64_t delivered_seq;
    uint64_t read_seq;
} parley_group_member;

typedef struct {
    const char *chat_id; /* "g:..." */
    const char *name;
    const char *description;
    const char *created_by;
    int64_t created_at;
    uint64_t last_seq;
    size_t n_members;
    const parley_group_member *members;
} parley_group;

/* Create a group named name with the given members besides the caller (who
 * becomes its owner). chat_id (>= 141 bytes) receives the new "g:..." id. */
PARLEY_API int parley_group_create(parley_client *c, const char *name, const char *const *members,
                                   size_t n, char *chat_id, size_t chat_id_len, int timeout_ms);

/* Add or remove members (admins only, as the group's settings say). After a
 * removal every remaining member's next message starts a new sender key, so
 * the removed member cannot read what follows. */
PARLEY_API int parley_group_add(parley_client *c, const char *chat_id, const char *const *users,
                                size_t n, int timeout_ms);
PARLEY_API int parley_group_remove(parley_client *c, const char *chat_id, const char *const *users,
                                   size_t n, int timeout_ms);

/* Give user the role (PARLEY_ROLE_ADMIN: promote, PARLEY_ROLE_MEMBER: demote). */
PARLEY_API int parley_group_set_role(parley_client *c, const char *chat_id, const char *user,
                                     parley_role role, int timeout_ms);

/* Leave the group; this client drops its sender keys for it. */
PARLEY_API int parley_group_leave(parley_client *c, const char *chat_id, int timeout_ms);

/* The group's current state, passed to fn (valid during the call only). */
PARLEY_API int parley_group_info(parley_client *c, const char *chat_id,
                                 void (*fn)(void *ud, const parley_group *g), void *ud,
                                 int timeout_ms);

/* Every group of this user, each passed to fn. */
PARLEY_API int parley_groups(parley_client *c, void (*fn)(void *ud, const parley_group *g),
                             void *ud, int timeout_ms);

#ifdef __cplusplus
}
#endif

#endif
