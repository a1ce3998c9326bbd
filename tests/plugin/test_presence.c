/*
 * test_presence.c - the connection registry of presence.c (its pointer-keyed
 * open-addressing table with backward-shift deletion, the per-client-id
 * counts, the per-user counts), with link-time fakes for what it calls:
 * thousands of connections admitted and disconnected in a scrambled order,
 * every one found again exactly once, the counts back to zero, ONLINE and
 * OFFLINE published once per user, and a user's connections picked for a
 * kick exactly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../broker-plugin/presence.c"

pp_state pp;
static int online_published, offline_published, kicked;
static char kicked_ids[64][64];
static int n_fake_ids;
static const char *fake_ids[8192];

void logging__printf(int level, const char *fmt, ...)
{
    (void)level;
    (void)fmt;
}

bool mosquitto_client_clean_session(const struct mosquitto *client)
{
    (void)client;
    return true;
}

const char *mosquitto_client_id(const struct mosquitto *client)
{
    size_t i = (size_t)((const char *)client - (const char *)fake_ids) / sizeof fake_ids[0];
    return i < (size_t)n_fake_ids ? fake_ids[i] : NULL;
}

int mosquitto_kick_client_by_clientid(const char *client_id, bool with_will)
{
    (void)with_will;
    if (kicked < 64)
        snprintf(kicked_ids[kicked], sizeof kicked_ids[0], "%s", client_id);
    kicked++;
    return MOSQ_ERR_SUCCESS;
}

int publish__msg(const char *topic, const ProtobufCMessage *msg, bool retain)
{
    const Parley__V1__Presence *p = (const Parley__V1__Presence *)msg;
    (void)topic;
    (void)retain;
    if (p->state == PARLEY__V1__PRESENCE__STATE__ONLINE)
        online_published++;
    else
        offline_published++;
    return 0;
}

void bus__watch_user(const char *user)
{
    (void)user;
}
void bus__unwatch_user(const char *user)
{
    (void)user;
}
bool cluster__remote_online(const char *user)
{
    (void)user;
    return false;
}
void cluster__local_online(const char *user)
{
    (void)user;
}
void cluster__local_offline(const char *user)
{
    (void)user;
}
void groups__user_online(const char *user_id, bool online)
{
    (void)user_id;
    (void)online;
}
void limits__forget(const char *client_id)
{
    (void)client_id;
}

enum { N = 6000, USERS = 1000 };
static char users[N][16], cids[N][24];

/* Fake client objects: addresses inside fake_ids (mosquitto_client_id maps
 * them back). */
static struct mosquitto *client_of(int i)
{
    return (struct mosquitto *)(void *)&fake_ids[i];
}

static void disconnect(int i)
{
    struct mosquitto_evt_disconnect ed = {.client = client_of(i)};
    assert_int_equal(presence__disconnect_cb(MOSQ_EVT_DISCONNECT, &ed, NULL), MOSQ_ERR_SUCCESS);
}

static void test_many_connections(void **state)
{
    (void)state;
    pp.cfg.max_conns_per_user = 16;
    pp.cfg.max_sessions_per_user = 8;
    pp.cfg.session_expiry_s = 3600;
    assert_int_equal(presence__init(), 0);
    n_fake_ids = N;
    for (int i = 0; i < N; i++) {
        snprintf(users[i], sizeof users[i], "u%d", i % USERS);
        snprintf(cids[i], sizeof cids[i], "u%d.c%d", i % USERS, i / USERS);
        fake_ids[i] = cids[i];
        assert_int_equal(presence__admit(client_of(i), users[i], cids[i], 4000000000LL), 0);
    }
    assert_int_equal(presence__connections(), N);
    assert_int_equal(presence__users_online(), USERS);
    assert_int_equal(online_published, USERS);
    /* Admitting a known client object again changes nothing. */
    assert_int_equal(presence__admit(client_of(7), users[7], cids[7], 4000000000LL), 0);
    assert_int_equal(presence__connections(), N);

    /* u7's connections are exactly i = 7 + k * USERS. */
    kicked = 0;
    presence__kick_user("u7", "test");
    assert_int_equal(kicked, N / USERS);
    for (int k = 0; k < kicked; k++) {
        int found = 0;
        for (int j = 7; j < N; j += USERS)
            found += strcmp(kicked_ids[k], cids[j]) == 0;
        assert_int_equal(found, 1);
    }

    /* Disconnect in a scrambled order (a stride coprime to N): every one is
     * found once; a second disconnect of the same client finds nothing. */
    int stride = 7919;
    for (int k = 0; k < N / 2; k++) {
        int i = (int)(((long)k * stride) % N);
        disconnect(i);
        assert_int_equal(presence__connections(), (size_t)(N - k - 1));
    }
    for (int k = 0; k < N / 2; k++) {
        int i = (int)(((long)k * stride) % N);
        disconnect(i);
        assert_null(conns_get(client_of(i)));
    }
    assert_int_equal(presence__connections(), N / 2);
    for (int k = N / 2; k < N; k++) {
        int i = (int)(((long)k * stride) % N);
        assert_non_null(conns_get(client_of(i)));
        disconnect(i);
    }
    assert_int_equal(presence__connections(), 0);
    assert_int_equal(presence__users_online(), 0);
    assert_int_equal(offline_published, USERS);
    assert_int_equal(strmap_count(pr_cids), 0);
    presence__cleanup();
}

/* Two connections with one client id (a session takeover in flight): the
 * client id stays live until the second ends. */
static void test_client_id_count(void **state)
{
    (void)state;
    assert_int_equal(presence__init(), 0);
    n_fake_ids = 2;
    fake_ids[0] = fake_ids[1] = "ann.phone";
    assert_int_equal(presence__admit(client_of(0), "ann", "ann.phone", 4000000000LL), 0);
    assert_int_equal(presence__admit(client_of(1), "ann", "ann.phone", 4000000000LL), 0);
    assert_int_equal((uintptr_t)strmap_get(pr_cids, "ann.phone"), 2);
    disconnect(0);
    assert_int_equal((uintptr_t)strmap_get(pr_cids, "ann.phone"), 1);
    assert_true(presence__local_online("ann"));
    disconnect(1);
    assert_null(strmap_get(pr_cids, "ann.phone"));
    assert_false(presence__local_online("ann"));
    presence__cleanup();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_connections),
        cmocka_unit_test(test_client_id_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
