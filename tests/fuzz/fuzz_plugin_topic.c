/*
 * fuzz_plugin_topic.c - the broker plugin's topic parsing and access
 * decisions on arbitrary topics (every PUBLISH and SUBSCRIBE a client
 * sends goes through them): publish__parse_user_topic() (publish.c) and
 * acl_decide() (acl.c), compiled in here with the broker API stubbed.
 *
 * Input: byte 0 picks the access (read, write, subscribe, unsubscribe) and
 * the client (a plain user or an admin); the rest is the topic.
 * Invariants: a parsed user topic is exactly "parley/u/" user "/" leaf with
 * a valid user and a non-empty leaf without '/'; the ACL grants
 *  - write only to parley/u/{valid}/inbox|typing, one's own ctl, and group
 *    topics (delegated to groups__acl_check, stubbed here as "deny");
 *  - read only to one's own parley/u/{me}/inbox|receipts|rsp|typing,
 *    presence of a valid user, and $SYS for admins;
 *  - never a wildcard in a parley/u/ topic outside a subscription, never
 *    someone else's parley/u/ topic for reading.
 */
#include "fuzz.h"

#include <stdarg.h>

#include "../../broker-plugin/acl.c"
#include "../../broker-plugin/publish.c"

pp_state pp;
static int group_acl_calls;

/* ---- the broker and the rest of the plugin, stubbed ------------------------ */

void *mosquitto_malloc(size_t size)
{
    return malloc(size);
}

void mosquitto_free(void *mem)
{
    free(mem);
}

char *mosquitto_strdup(const char *s)
{
    return strdup(s);
}

void mosquitto_log_printf(int level, const char *fmt, ...)
{
    (void)level;
    (void)fmt;
}

const char *mosquitto_strerror(int mosq_errno)
{
    (void)mosq_errno;
    return "stub";
}

int mosquitto_broker_publish(const char *clientid, const char *topic, int payloadlen, void *payload,
                             int qos, bool retain, mosquitto_property *properties)
{
    (void)clientid, (void)topic, (void)payloadlen, (void)qos, (void)retain, (void)properties;
    free(payload);
    return MOSQ_ERR_SUCCESS;
}

const char *mosquitto_client_username(const struct mosquitto *client)
{
    (void)client;
    return NULL;
}

int groups__acl_check(const char *user, const char *rest, int access)
{
    (void)user, (void)rest, (void)access;
    group_acl_calls++;
    return MOSQ_ERR_ACL_DENIED;
}

/* ---- the target -------------------------------------------------------------- */

static const int accesses[] = {MOSQ_ACL_READ, MOSQ_ACL_WRITE, MOSQ_ACL_SUBSCRIBE,
                               MOSQ_ACL_UNSUBSCRIBE};

static void check_parse(const char *topic)
{
    char user[IDS_USER_MAX + 1];
    const char *leaf = NULL;

    if (!publish__parse_user_topic(topic, user, &leaf))
        return;
    size_t ul = strlen(user);
    FUZZ_CHECK(ids_valid_user(user));
    FUZZ_CHECK(strncmp(topic, "parley/u/", 9) == 0 && strncmp(topic + 9, user, ul) == 0 &&
               topic[9 + ul] == '/' && leaf == topic + 9 + ul + 1);
    FUZZ_CHECK(*leaf && !strchr(leaf, '/'));
}

static int own_user_topic(const char *me, const char *topic, const char **leaf)
{
    size_t n = strlen(me);

    if (strncmp(topic, "parley/u/", 9) || strncmp(topic + 9, me, n) || topic[9 + n] != '/')
        return 0;
    *leaf = topic + 9 + n + 1;
    return 1;
}

static void check_acl(const char *me, const char *topic, int access)
{
    int calls = group_acl_calls;
    int rc = acl_decide(me, topic, access);
    const char *leaf = NULL;
    char user[IDS_USER_MAX + 1];

    if (rc != MOSQ_ERR_SUCCESS || access == MOSQ_ACL_UNSUBSCRIBE)
        return;
    FUZZ_CHECK(group_acl_calls == calls);   /* the group stub never grants */
    if (!strncmp(topic, "$SYS", 4)) {   /* (mosquitto itself refuses wildcards in names) */
        FUZZ_CHECK(access != MOSQ_ACL_WRITE && acl__is_admin(me));
        return;
    }
    if (!strncmp(topic, "parley/presence/", 16)) {
        FUZZ_CHECK(access != MOSQ_ACL_WRITE);
        return;
    }
    FUZZ_CHECK(!strncmp(topic, "parley/u/", 9));
    if (access != MOSQ_ACL_SUBSCRIBE)
        FUZZ_CHECK(!strchr(topic, '+') && !strchr(topic, '#'));
    if (access == MOSQ_ACL_WRITE) {
        FUZZ_CHECK(publish__parse_user_topic(topic, user, &leaf));
        FUZZ_CHECK(!strcmp(leaf, "inbox") || !strcmp(leaf, "typing") ||
                   (!strcmp(leaf, "ctl") && !strcmp(user, me)));
        return;
    }
    /* read / subscribe: only one's own topics */
    FUZZ_CHECK(own_user_topic(me, topic, &leaf));
    FUZZ_CHECK(!strcmp(leaf, "inbox") || !strcmp(leaf, "receipts") || !strcmp(leaf, "rsp") ||
               !strcmp(leaf, "typing") ||
               (access == MOSQ_ACL_SUBSCRIBE && (!strcmp(leaf, "+") || !strcmp(leaf, "#"))));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char admins[] = "root, ops";
    const char *me;
    char *topic;

    if (size < 1)
        return 0;
    pp.cfg.admins = admins;
    me = (data[0] & 4) ? "root" : "alice";
    topic = fuzz_strndup(data + 1, size - 1);
    check_parse(topic);
    check_acl(me, topic, accesses[data[0] & 3]);
    free(topic);
    return 0;
}
