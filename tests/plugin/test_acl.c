/*
 * test_acl.c - the topic table of docs/protocol.md against acl.c, with
 * link-time fakes for the few mosquitto functions it calls.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../broker-plugin/acl.c"

pp_state pp;
static const char *fake_user;

const char *mosquitto_client_username(const struct mosquitto *client)
{
    return fake_user;
}

void mosquitto_log_printf(int level, const char *fmt, ...)
{
}

int groups__acl_check(const char *user, const char *rest, int access)
{
    return MOSQ_ERR_ACL_DENIED;
}

static int check(const char *user, const char *topic, int access)
{
    struct mosquitto_evt_acl_check ed = {0};
    fake_user = user;
    ed.topic = topic;
    ed.access = access;
    return acl__check_cb(MOSQ_EVT_ACL_CHECK, &ed, NULL);
}

#define ALLOW(u, t, a) assert_int_equal(check(u, t, a), MOSQ_ERR_SUCCESS)
#define DENY(u, t, a) assert_int_equal(check(u, t, a), MOSQ_ERR_ACL_DENIED)

static void test_inbox(void **state)
{
    ALLOW("alice", "parley/u/bob/inbox", MOSQ_ACL_WRITE);
    ALLOW("alice", "parley/u/alice/inbox", MOSQ_ACL_SUBSCRIBE);
    ALLOW("alice", "parley/u/alice/inbox", MOSQ_ACL_READ);
    DENY("alice", "parley/u/bob/inbox", MOSQ_ACL_SUBSCRIBE);
    DENY("alice", "parley/u/bob/inbox", MOSQ_ACL_READ);
    DENY("alice", "parley/u/bad user/inbox", MOSQ_ACL_WRITE);
    DENY("alice", "parley/u//inbox", MOSQ_ACL_WRITE);
    DENY("alice", "parley/u/bob/inbox/x", MOSQ_ACL_WRITE);
}

static void test_plugin_only_topics(void **state)
{
    ALLOW("alice", "parley/u/alice/receipts", MOSQ_ACL_SUBSCRIBE);
    ALLOW("alice", "parley/u/alice/rsp", MOSQ_ACL_READ);
    DENY("alice", "parley/u/alice/receipts", MOSQ_ACL_WRITE);
    DENY("alice", "parley/u/bob/receipts", MOSQ_ACL_WRITE);
    DENY("alice", "parley/u/alice/rsp", MOSQ_ACL_WRITE);
    DENY("alice", "parley/u/bob/rsp", MOSQ_ACL_SUBSCRIBE);
    DENY("alice", "parley/presence/alice", MOSQ_ACL_WRITE);
    ALLOW("alice", "parley/presence/bob", MOSQ_ACL_SUBSCRIBE);
    ALLOW("alice", "parley/presence/+", MOSQ_ACL_SUBSCRIBE);
    ALLOW("alice", "parley/presence/bob", MOSQ_ACL_READ);
}

static void test_ctl_and_typing(void **state)
{
    ALLOW("alice", "parley/u/alice/ctl", MOSQ_ACL_WRITE);
    DENY("alice", "parley/u/bob/ctl", MOSQ_ACL_WRITE);
    DENY("alice", "parley/u/alice/ctl", MOSQ_ACL_SUBSCRIBE);
    DENY("alice", "parley/u/alice/ctl", MOSQ_ACL_READ);
    ALLOW("alice", "parley/u/bob/typing", MOSQ_ACL_WRITE);
    ALLOW("alice", "parley/u/alice/typing", MOSQ_ACL_SUBSCRIBE);
    DENY("alice", "parley/u/bob/typing", MOSQ_ACL_SUBSCRIBE);
}

static void test_wildcards(void **state)
{
    ALLOW("alice", "parley/u/alice/#", MOSQ_ACL_SUBSCRIBE);
    ALLOW("alice", "parley/u/alice/+", MOSQ_ACL_SUBSCRIBE);
    DENY("alice", "#", MOSQ_ACL_SUBSCRIBE);
    DENY("alice", "+/#", MOSQ_ACL_SUBSCRIBE);
    DENY("alice", "parley/#", MOSQ_ACL_SUBSCRIBE);
    DENY("alice", "parley/u/#", MOSQ_ACL_SUBSCRIBE);
    DENY("alice", "parley/u/+/inbox", MOSQ_ACL_SUBSCRIBE);
    DENY("alice", "parley/u/+/#", MOSQ_ACL_SUBSCRIBE);
    DENY("alice", "parley/u/bob/#", MOSQ_ACL_SUBSCRIBE);
    DENY("alice", "parley/+/alice/inbox", MOSQ_ACL_SUBSCRIBE);
    DENY("alice", "parley/u/alice/+", MOSQ_ACL_WRITE);
}

static void test_sys_and_others(void **state)
{
    pp.cfg.admins = "ops, admin";
    ALLOW("admin", "$SYS/#", MOSQ_ACL_SUBSCRIBE);
    ALLOW("ops", "$SYS/parley/acks", MOSQ_ACL_READ);
    DENY("admin", "$SYS/parley/acks", MOSQ_ACL_WRITE);
    DENY("adm", "$SYS/#", MOSQ_ACL_SUBSCRIBE);
    DENY("alice", "$SYS/broker/uptime", MOSQ_ACL_READ);
    DENY("alice", PP_DISCARD_TOPIC, MOSQ_ACL_SUBSCRIBE);
    DENY("alice", PP_DISCARD_TOPIC, MOSQ_ACL_READ);
    DENY("alice", "parley/g/abc/inbox", MOSQ_ACL_WRITE);
    DENY("alice", "other/topic", MOSQ_ACL_WRITE);
    DENY(NULL, "parley/u/bob/inbox", MOSQ_ACL_WRITE);
    ALLOW("alice", "anything", MOSQ_ACL_UNSUBSCRIBE);
    pp.cfg.admins = NULL;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inbox),          cmocka_unit_test(test_plugin_only_topics),
        cmocka_unit_test(test_ctl_and_typing), cmocka_unit_test(test_wildcards),
        cmocka_unit_test(test_sys_and_others),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
