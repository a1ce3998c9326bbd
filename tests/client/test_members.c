/*
 * test_members.c - unit tests of members.c (each group's members, kept
 * locally) and of the group send path (send.c) that uses them: a group send
 * asks the broker nothing, runs no receive loop, calls no application
 * callback, and works offline (queued, published on connect). Device lists
 * and pairwise sessions are replaced (--wrap of devices__get: every user has
 * the implicit list; of pairwise__prepare_dev and pairwise__encrypt_dev: no
 * keyserver), publishes captured (--wrap of link__publish).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "parley_int.h"
#include "e2e.pb-c.h"
#include "parley.pb-c.h"
#include "parley/group.h"

#define GROUP "g:BBBBBBBBBBBBBBBBBBBBBB"
#define GROUP_TOPIC "parley/g/BBBBBBBBBBBBBBBBBBBBBB/inbox"

static char g_pub[32][160];
static int g_npub;
static int g_prepared;

int __wrap_link__publish(parley_client *c, const char *topic, const void *payload, size_t len);
int __wrap_link__publish(parley_client *c, const char *topic, const void *payload, size_t len)
{
    (void)payload, (void)len;
    if (c->link.state != LINK_READY)
        return -1;
    assert_true(g_npub < 32);
    snprintf(g_pub[g_npub++], sizeof g_pub[0], "%s", topic);
    return 0;
}

int __wrap_devices__get(parley_client *c, const char *user, int64_t max_age_ms, devlist *out);
int __wrap_devices__get(parley_client *c, const char *user, int64_t max_age_ms, devlist *out)
{
    static const uint8_t key[32];
    (void)max_age_ms;
    devlist_implicit(out, user, strcmp(user, c->user) == 0 ? c->account_pk : key);
    return PARLEY_OK;
}

int __wrap_pairwise__prepare_dev(parley_client *c, const char *peer, const char *dev,
                                 const uint8_t devkey[32]);
int __wrap_pairwise__prepare_dev(parley_client *c, const char *peer, const char *dev,
                                 const uint8_t devkey[32])
{
    (void)c, (void)dev, (void)devkey;
    assert_string_not_equal(peer, c->user); /* our own implicit device is never a target */
    g_prepared++;
    return PARLEY_OK;
}

int __wrap_pairwise__encrypt_dev(parley_client *c, const char *peer, const char *dev,
                                 const uint8_t *content, size_t len, uint8_t **body,
                                 size_t *body_len);
int __wrap_pairwise__encrypt_dev(parley_client *c, const char *peer, const char *dev,
                                 const uint8_t *content, size_t len, uint8_t **body,
                                 size_t *body_len)
{
    (void)c, (void)peer, (void)dev;
    *body = malloc(len ? len : 1);
    assert_non_null(*body);
    memcpy(*body, content, len);
    *body_len = len;
    return PARLEY_OK;
}

typedef struct {
    char dir[128];
    parley_client *c;
    int callbacks;
} fixture;

static void any_message(void *ud, const parley_message *m)
{
    (void)m;
    ((fixture *)ud)->callbacks++;
}

static void any_receipt(void *ud, const parley_receipt *r)
{
    (void)r;
    ((fixture *)ud)->callbacks++;
}

static void any_event(void *ud, const parley_event *e)
{
    (void)e;
    ((fixture *)ud)->callbacks++;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    char home[200];
    if (!f)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/parley-members.XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(home, sizeof home, "%s/alice", f->dir);
    parley_config cfg = {.home = home, .keyserver_url = "http://127.0.0.1:9"};
    if (parley_open(&cfg, &f->c) != PARLEY_OK || parley_identity_create(f->c, "alice") != PARLEY_OK)
        return -1;
    parley_callbacks cb = {.on_message = any_message,
                           .on_receipt = any_receipt,
                           .on_event = any_event,
                           .ud = f};
    parley_set_callbacks(f->c, &cb);
    g_npub = g_prepared = 0;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[200];
    parley_close(f->c);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    int rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

/* A GroupInfo as the broker answers it. */
static void set_info(parley_client *c, const char **members, size_t n, uint64_t last)
{
    Parley__V1__GroupInfo gi = PARLEY__V1__GROUP_INFO__INIT;
    Parley__V1__GroupMember gm[8], *gmp[8];
    assert_true(n <= 8);
    for (size_t i = 0; i < n; i++) {
        gm[i] = (Parley__V1__GroupMember)PARLEY__V1__GROUP_MEMBER__INIT;
        gm[i].user_id = (char *)members[i];
        gmp[i] = &gm[i];
    }
    gi.chat_id = GROUP;
    gi.name = "team";
    gi.last_seq = last;
    gi.members = gmp;
    gi.n_members = n;
    assert_int_equal(members__set(c, &gi), PARLEY_OK);
}

static void event(parley_client *c, Parley__V1__SystemEvent__Type type, uint64_t seq,
                  const char *actor, char **users, size_t n)
{
    Parley__V1__SystemEvent ev = PARLEY__V1__SYSTEM_EVENT__INIT;
    ev.type = type;
    ev.actor = (char *)actor;
    ev.users = users;
    ev.n_users = n;
    assert_int_equal(members__on_event(c, GROUP, seq, &ev), PARLEY_OK);
}

/* The members other than us, sorted, joined with ",". */
static const char *others(parley_client *c, char *out, size_t outlen)
{
    char **l = NULL;
    size_t n = 0;
    assert_int_equal(members__others(c, GROUP, &l, &n), PARLEY_OK);
    assert_null(l[n]);
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (strcmp(l[j], l[i]) < 0) {
                char *t = l[i];
                l[i] = l[j];
                l[j] = t;
            }
    out[0] = 0;
    for (size_t i = 0; i < n; i++) {
        strncat(out, i ? "," : "", outlen - strlen(out) - 1);
        strncat(out, l[i], outlen - strlen(out) - 1);
    }
    members__free(l, n);
    return out;
}

static void list_follows_info_and_events_in_seq_order(void **state)
{
    fixture *f = *state;
    char buf[256];
    char **l = NULL;
    size_t n = 0;
    char *dave[] = {"dave"}, *bob[] = {"bob"}, *erin[] = {"erin"};

    assert_int_equal(members__known(f->c, GROUP), 0);
    assert_int_equal(members__others(f->c, GROUP, &l, &n), PARLEY_ENOTFOUND);
    /* A partial event on an unknown list records nothing (a refresh will). */
    event(f->c, PARLEY__V1__SYSTEM_EVENT__TYPE__MEMBERS_ADDED, 3, "bob", dave, 1);
    assert_int_equal(members__known(f->c, GROUP), 0);

    const char *m[] = {"alice", "bob", "carol"};
    set_info(f->c, m, 3, 5);
    assert_string_equal(others(f->c, buf, sizeof buf), "bob,carol");
    event(f->c, PARLEY__V1__SYSTEM_EVENT__TYPE__MEMBERS_ADDED, 4, "bob", dave, 1);
    assert_string_equal(others(f->c, buf, sizeof buf), "bob,carol"); /* older than the list */
    event(f->c, PARLEY__V1__SYSTEM_EVENT__TYPE__MEMBERS_ADDED, 6, "bob", dave, 1);
    assert_string_equal(others(f->c, buf, sizeof buf), "bob,carol,dave");
    event(f->c, PARLEY__V1__SYSTEM_EVENT__TYPE__MEMBER_LEFT, 7, "bob", bob, 1);
    assert_string_equal(others(f->c, buf, sizeof buf), "carol,dave");
    event(f->c, PARLEY__V1__SYSTEM_EVENT__TYPE__MEMBERS_ADDED, 7, "carol", erin, 1);
    assert_string_equal(others(f->c, buf, sizeof buf), "carol,dave"); /* seq 7 applied once */

    /* A GroupInfo older than the list is ignored; a newer one replaces it. */
    set_info(f->c, m, 3, 6);
    assert_string_equal(others(f->c, buf, sizeof buf), "carol,dave");
    const char *m2[] = {"alice", "carol", "erin"};
    set_info(f->c, m2, 3, 9);
    assert_string_equal(others(f->c, buf, sizeof buf), "carol,erin");
    char *gone[] = {"carol", "erin"};
    event(f->c, PARLEY__V1__SYSTEM_EVENT__TYPE__MEMBERS_REMOVED, 10, "alice", gone, 2);
    assert_string_equal(others(f->c, buf, sizeof buf), "");
    assert_int_equal(f->callbacks, 0);
}

static void group_created_event_is_the_whole_list(void **state)
{
    fixture *f = *state;
    char buf[256];
    char *users[] = {"alice", "carol"};
    event(f->c, PARLEY__V1__SYSTEM_EVENT__TYPE__GROUP_CREATED, 1, "bob", users, 2);
    assert_int_equal(members__known(f->c, GROUP), 1);
    assert_string_equal(others(f->c, buf, sizeof buf), "bob,carol");
}

static int queued_topic(void *ud, const lstore_outbox *o)
{
    char(*topics)[160] = ud;
    for (int i = 0; i < 16; i++) {
        if (!topics[i][0]) {
            snprintf(topics[i], 160, "%s", o->topic);
            break;
        }
    }
    return 0;
}

/* Offline: the group send is queued (key distributions first), no broker
 * request, no callback; the connection publishes it in that order. */
static void group_send_works_offline(void **state)
{
    fixture *f = *state;
    char cmid[80] = "", topics[16][160];
    const char *m[] = {"alice", "bob", "carol"};
    set_info(f->c, m, 3, 1);
    assert_false(parley_is_connected(f->c));

    assert_int_equal(parley_send_text(f->c, GROUP, "hello team", cmid), PARLEY_OK);
    assert_true(cmid[0] != 0);
    assert_int_equal(parley_sent_status(f->c, cmid, NULL, NULL, 0, NULL, 0), PARLEY_SENT_QUEUED);
    assert_int_equal(g_prepared, 2); /* bob and carol, not us */
    assert_int_equal(parley_outbox_count(f->c), 3);
    memset(topics, 0, sizeof topics);
    assert_int_equal(lstore_outbox_each(f->c->store, INT64_MAX, queued_topic, topics), 0);
    assert_string_equal(topics[0], "parley/u/bob/inbox"); /* the sender key for bob */
    assert_string_equal(topics[1], "parley/u/carol/inbox");
    assert_string_equal(topics[2], GROUP_TOPIC);
    assert_int_equal(g_npub, 0);
    assert_int_equal(f->callbacks, 0);

    /* The same chain: the next message needs no distribution. */
    assert_int_equal(parley_send_text(f->c, GROUP, "again", NULL), PARLEY_OK);
    assert_int_equal(parley_outbox_count(f->c), 4);

    /* Connected: published in creation order. */
    f->c->link.state = LINK_READY;
    assert_int_equal(outbox__flush(f->c, 0), 4);
    assert_int_equal(g_npub, 4);
    assert_string_equal(g_pub[0], "parley/u/bob/inbox");
    assert_string_equal(g_pub[1], "parley/u/carol/inbox");
    assert_string_equal(g_pub[2], GROUP_TOPIC);
    assert_string_equal(g_pub[3], GROUP_TOPIC);
    f->c->link.state = LINK_IDLE;

    /* carol leaves: a new chain, handed to bob only. */
    char *carol[] = {"carol"};
    Parley__V1__SystemEvent ev = PARLEY__V1__SYSTEM_EVENT__INIT;
    ev.type = PARLEY__V1__SYSTEM_EVENT__TYPE__MEMBER_LEFT;
    ev.actor = "carol";
    ev.users = carol;
    ev.n_users = 1;
    assert_int_equal(members__on_event(f->c, GROUP, 2, &ev), PARLEY_OK);
    assert_int_equal(skeys__on_system(f->c, GROUP, &ev), PARLEY_OK);
    int before = parley_outbox_count(f->c);
    assert_int_equal(parley_send_text(f->c, GROUP, "without carol", NULL), PARLEY_OK);
    assert_int_equal(parley_outbox_count(f->c), before + 2); /* bob's key + the message */
    assert_int_equal(f->callbacks, 0);
}

static void group_send_without_members_is_refused(void **state)
{
    fixture *f = *state;
    assert_int_equal(parley_send_text(f->c, GROUP, "hello", NULL), PARLEY_ENOTFOUND);
    assert_non_null(strstr(parley_last_error(f->c), "not known yet"));
    assert_int_equal(parley_outbox_count(f->c), 0);
    assert_int_equal(g_prepared, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(list_follows_info_and_events_in_seq_order, setup, teardown),
        cmocka_unit_test_setup_teardown(group_created_event_is_the_whole_list, setup, teardown),
        cmocka_unit_test_setup_teardown(group_send_works_offline, setup, teardown),
        cmocka_unit_test_setup_teardown(group_send_without_members_is_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
