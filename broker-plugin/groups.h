/*
 * groups.h - group chats (parley/g/{id}/...): membership and roles through
 * control requests, members-only topics, fan-out, per-member cursors and
 * "delivered/read by all" receipts (docs/groups.md). Broker thread only,
 * except groups__init at plugin start.
 */
#ifndef PARLEY_PLUGIN_GROUPS_H
#define PARLEY_PLUGIN_GROUPS_H

#include <stdbool.h>
#include <stdint.h>

#include <mosquitto_broker.h>

#include "parley.pb-c.h"
#include "store.h"

/* Load every group and its members from the store (blocking; at init,
 * before the broker serves). Returns 0 or -1 (logged). */
int groups__init(store_t *s);
void groups__cleanup(void);
/* ACL for a topic under parley/g/: rest is what follows "parley/g/", access
 * one of MOSQ_ACL_*. Members only. Returns MOSQ_ERR_SUCCESS or
 * MOSQ_ERR_ACL_DENIED. */
int groups__acl_check(const char *user, const char *rest, int access);
/* A publish to parley/g/...; consumes, stamps or discards it. */
void groups__handle_publish(struct mosquitto_evt_message *ed, const char *me);
/* A control request whose op is a group op (op_case >= 20): answer it. */
void groups__handle_request(const char *me, const Parley__V1__Request *rq);
/* An ack on a group chat. */
void groups__ack(const char *me, const char *req_id, const Parley__V1__Ack *ack);
/* May me sync group chat_id? 0 and *floor = the member's joined_seq (sync
 * returns only seq > floor), else a Response status (403 not a member, 404
 * no such group) with *error set to its code. */
uint32_t groups__sync_check(const char *me, const char *chat_id, uint64_t *floor,
                            const char **error);
/* groups__sync_check, and *role = me's role in the group (delete_message:
 * admins and owners may delete any member's message). */
uint32_t groups__member_role(const char *me, const char *chat_id, uint64_t *floor, store_role *role,
                             const char **error);

/* Cluster (gsync.c): replace the model of c's group with what the store
 * holds (members added and removed through the usual paths, so watches and
 * the user index follow), or forget a group the store no longer has. */
void groups__reload(const store_chat *c, const store_member *ms, size_t n);
void groups__forget(const char *chat_id);
/* user_id's first connection on this node started (online) or its last one
 * ended: watch or unwatch its groups' bus subjects (gsync.c). */
void groups__user_online(const char *user_id, bool online);

#endif
