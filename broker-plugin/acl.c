/*
 * acl.c - topic access per the table in docs/protocol.md ("Topics").
 *
 * mosquitto asks for SUBSCRIBE (the filter, may hold wildcards), READ (each
 * concrete topic at delivery time, and for retained messages), WRITE (each
 * publish) and UNSUBSCRIBE. A wildcard filter is allowed only when every
 * topic it can match is readable, except that parley/u/{me}/+ and
 * parley/u/{me}/# are allowed although they cover ctl: nothing is ever
 * routed to ctl (requests are consumed) and READ on it is refused anyway.
 */
#include "plugin_int.h"
#include "groups.h"

#include <string.h>

bool acl__is_admin(const char *user_id)
{
    const char *p = pp.cfg.admins;
    size_t n = strlen(user_id);
    while (p && *p) {
        while (*p == ',' || *p == ' ')
            p++;
        size_t len = strcspn(p, ", ");
        if (len == n && len > 0 && !strncmp(p, user_id, n))
            return true;
        p += len;
    }
    return false;
}

static bool acl_has_wildcard(const char *s)
{
    return strchr(s, '+') || strchr(s, '#');
}

/* A concrete topic (or filter, for subscribe) under parley/u/{owner}/{leaf}. */
static int acl_user_topic(const char *me, const char *owner, const char *leaf, int access)
{
    bool own = !strcmp(me, owner);
    switch (access) {
    case MOSQ_ACL_WRITE:
        if (!strcmp(leaf, "inbox") || !strcmp(leaf, "typing"))
            return MOSQ_ERR_SUCCESS;
        if (!strcmp(leaf, "ctl") && own)
            return MOSQ_ERR_SUCCESS;
        return MOSQ_ERR_ACL_DENIED;
    case MOSQ_ACL_READ:
    case MOSQ_ACL_SUBSCRIBE:
        if (!own)
            return MOSQ_ERR_ACL_DENIED;
        if (!strcmp(leaf, "inbox") || !strcmp(leaf, "receipts") || !strcmp(leaf, "rsp") ||
            !strcmp(leaf, "typing"))
            return MOSQ_ERR_SUCCESS;
        if (access == MOSQ_ACL_SUBSCRIBE && (!strcmp(leaf, "+") || !strcmp(leaf, "#")))
            return MOSQ_ERR_SUCCESS;
        return MOSQ_ERR_ACL_DENIED;
    default: return MOSQ_ERR_ACL_DENIED;
    }
}

static int acl_decide(const char *me, const char *topic, int access)
{
    if (access == MOSQ_ACL_UNSUBSCRIBE)
        return MOSQ_ERR_SUCCESS;
    if (!strncmp(topic, "$SYS/", 5) || !strcmp(topic, "$SYS")) {
        if (access == MOSQ_ACL_WRITE)
            return MOSQ_ERR_ACL_DENIED;
        return acl__is_admin(me) ? MOSQ_ERR_SUCCESS : MOSQ_ERR_ACL_DENIED;
    }
    if (!strncmp(topic, "parley/u/", 9)) {
        const char *owner = topic + 9;
        const char *slash = strchr(owner, '/');
        size_t olen = slash ? (size_t)(slash - owner) : 0;
        char user[IDS_USER_MAX + 1];
        if (!slash || olen == 0 || olen > IDS_USER_MAX)
            return MOSQ_ERR_ACL_DENIED;
        memcpy(user, owner, olen);
        user[olen] = '\0';
        const char *leaf = slash + 1;
        if (!ids_valid_user(user) || strchr(leaf, '/') || !*leaf)
            return MOSQ_ERR_ACL_DENIED;
        if (access != MOSQ_ACL_SUBSCRIBE && acl_has_wildcard(leaf))
            return MOSQ_ERR_ACL_DENIED;
        return acl_user_topic(me, user, leaf, access);
    }
    if (!strncmp(topic, "parley/presence/", 16)) {
        const char *who = topic + 16;
        if (access == MOSQ_ACL_WRITE)
            return MOSQ_ERR_ACL_DENIED;
        if (access == MOSQ_ACL_SUBSCRIBE && (!strcmp(who, "+") || !strcmp(who, "#")))
            return MOSQ_ERR_SUCCESS;
        return ids_valid_user(who) ? MOSQ_ERR_SUCCESS : MOSQ_ERR_ACL_DENIED;
    }
    if (!strncmp(topic, "parley/g/", 9))
        return groups__acl_check(me, topic + 9, access);
    return MOSQ_ERR_ACL_DENIED;
}

int acl__check_cb(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_acl_check *ed = event_data;
    const char *me = mosquitto_client_username(ed->client);
    if (!me || !ed->topic)
        goto deny;
    if (acl_decide(me, ed->topic, ed->access) == MOSQ_ERR_SUCCESS)
        return MOSQ_ERR_SUCCESS;
deny:
    pp.m.acl_denied++;
    if (ed->access != MOSQ_ACL_READ)
        mosquitto_log_printf(MOSQ_LOG_INFO, "parley: ACL denied %s access %d to %s", me ? me : "?",
                             ed->access, ed->topic ? ed->topic : "?");
    return MOSQ_ERR_ACL_DENIED;
}
