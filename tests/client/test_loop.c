/*
 * test_loop.c - the connection state machine (loop.c) without a
 * network: the MQTT connection (conn.c) is replaced through the linker's
 * --wrap, so the test decides what the "broker" answers and sees every token
 * the client presents.
 *
 * Issue 11, "normal start-up must not print a refusal": a CONNECT refused
 * within the first seconds after this home's registration is retried within
 * FRESH_RETRY_MS and not reported (no PARLEY_EVENT_DISCONNECTED) unless it
 * persists past that window; every attempt, including the reconnect after
 * the server closed the connection, presents a freshly minted token.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "parley_int.h"
#include "conn.h"

/* ---- the connection, played by the test ------------------------------------ */

static conn_ev *g_queue; /* events conn_next hands out, in order */
static char g_tokens[8][1024];
static int g_ntokens;
static int g_subscribes;

static void push(conn_ev_type type, int code, const char *detail)
{
    conn_ev *e = calloc(1, sizeof *e), **p = &g_queue;
    assert_non_null(e);
    e->type = type;
    e->code = code;
    snprintf(e->detail, sizeof e->detail, "%s", detail);
    while (*p)
        p = &(*p)->next;
    *p = e;
}

conn *__wrap_conn_new(const char *url, const char *client_id, int persistent, const char *ca_file,
                      char *errbuf, size_t errlen);
conn *__wrap_conn_new(const char *url, const char *client_id, int persistent, const char *ca_file,
                      char *errbuf, size_t errlen)
{
    (void)url, (void)client_id, (void)persistent, (void)ca_file, (void)errbuf, (void)errlen;
    static char dummy;
    return (conn *)&dummy;
}

void __wrap_conn_free(conn *c);
void __wrap_conn_free(conn *c)
{
    (void)c;
}

int __wrap_conn_start(conn *c, const char *username, const char *password, char *errbuf,
                      size_t errlen);
int __wrap_conn_start(conn *c, const char *username, const char *password, char *errbuf,
                      size_t errlen)
{
    (void)c, (void)errbuf, (void)errlen;
    assert_string_equal(username, "alice");
    assert_true(g_ntokens < 8);
    snprintf(g_tokens[g_ntokens++], sizeof g_tokens[0], "%s", password);
    return 0;
}

int __wrap_conn_subscribe(conn *c, char *const *topics, int n);
int __wrap_conn_subscribe(conn *c, char *const *topics, int n)
{
    (void)c, (void)topics, (void)n;
    g_subscribes++;
    push(CONN_EV_SUBSCRIBED, 0, "");
    return 0;
}

int __wrap_conn_publish(conn *c, const char *topic, const void *payload, size_t len);
int __wrap_conn_publish(conn *c, const char *topic, const void *payload, size_t len)
{
    (void)c, (void)topic, (void)payload, (void)len;
    return 0;
}

void __wrap_conn_disconnect(conn *c);
void __wrap_conn_disconnect(conn *c)
{
    (void)c;
}

conn_ev *__wrap_conn_next(conn *c, int timeout_ms);
conn_ev *__wrap_conn_next(conn *c, int timeout_ms)
{
    (void)c, (void)timeout_ms; /* never blocks: the test drives time */
    conn_ev *e = g_queue;
    if (e)
        g_queue = e->next;
    return e;
}

void __wrap_conn_ev_free(conn_ev *e);
void __wrap_conn_ev_free(conn_ev *e)
{
    if (e) {
        free(e->topic);
        free(e->payload);
        free(e);
    }
}

/* No keyserver in this test. */
int __wrap_prekeys__maintain(parley_client *c, int force_upload);
int __wrap_prekeys__maintain(parley_client *c, int force_upload)
{
    (void)c, (void)force_upload;
    return PARLEY_OK;
}

/* ---- the application ------------------------------------------------------- */

typedef struct {
    char dir[128];
    parley_client *c;
    int connected, disconnected;
} fixture;

static void on_event(void *ud, const parley_event *e)
{
    fixture *f = ud;
    if (e->type == PARLEY_EVENT_CONNECTED)
        f->connected++;
    if (e->type == PARLEY_EVENT_DISCONNECTED)
        f->disconnected++;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    char home[200];
    if (!f)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/parley-session.XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(home, sizeof home, "%s/alice", f->dir);
    parley_config cfg = {.home = home, .keyserver_url = "http://127.0.0.1:9"};
    if (parley_open(&cfg, &f->c) != PARLEY_OK || parley_identity_create(f->c, "alice") != PARLEY_OK)
        return -1;
    parley_callbacks cb = {.on_event = on_event, .ud = f};
    parley_set_callbacks(f->c, &cb);
    g_queue = NULL;
    g_ntokens = g_subscribes = 0;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[200];
    while (g_queue)
        __wrap_conn_ev_free(__wrap_conn_next(NULL, 0));
    parley_close(f->c);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    int rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

/* Step the state machine until the client starts connect attempt number n
 * (waiting out its backoff, bounded). Returns how long that took (ms). */
static int64_t until_attempt(fixture *f, int n)
{
    int64_t t0 = clock_mono_ms();
    while (g_ntokens < n) {
        assert_true(clock_mono_ms() - t0 < 10000);
        assert_true(loop__step(f->c, 10) >= 0);
    }
    return clock_mono_ms() - t0;
}

/* Drain queued events (CONNACK, SUBACK ...). */
static void drain(fixture *f)
{
    for (int i = 0; i < 50 && g_queue; i++)
        assert_true(loop__step(f->c, 0) >= 0);
    assert_null(g_queue);
}

static void set_registered_ago(fixture *f, int64_t ms)
{
    assert_int_equal(lstore_meta_set_int(f->c->store, "registered_at", clock_now_ms() - ms), 0);
}

static void refusal_right_after_registration_is_quiet_and_quick(void **state)
{
    fixture *f = *state;
    set_registered_ago(f, 500); /* `parley init` a moment ago */
    assert_int_equal(parley_connect(f->c), PARLEY_OK);
    until_attempt(f, 1);
    /* The broker has not seen the new identity key yet. */
    push(CONN_EV_CONNECT_FAILED, 5, "connect refused: not authorized");
    drain(f);
    assert_int_equal(f->disconnected, 0);
    assert_int_equal(f->c->link.state, LINK_WAIT);
    int64_t due = f->c->loop.next_attempt_ms - clock_mono_ms();
    assert_true(due <= 100); /* FRESH_RETRY_MS, not the 200 ms .. 5 s backoff */
    until_attempt(f, 2);
    push(CONN_EV_CONNECT_FAILED, 5, "connect refused: not authorized");
    drain(f);
    until_attempt(f, 3);
    push(CONN_EV_CONNECTED, 0, "connected");
    drain(f);
    assert_true(parley_is_connected(f->c));
    assert_int_equal(f->connected, 1);
    assert_int_equal(f->disconnected, 0); /* nothing for the CLI to print */
}

static void persistent_refusal_is_reported(void **state)
{
    fixture *f = *state;
    set_registered_ago(f, 60000); /* long registered: a refusal is news */
    assert_int_equal(parley_connect(f->c), PARLEY_OK);
    until_attempt(f, 1);
    push(CONN_EV_CONNECT_FAILED, 5, "connect refused: not authorized");
    drain(f);
    assert_int_equal(f->disconnected, 1);
    assert_string_equal(parley_last_error(f->c) + strlen(parley_last_error(f->c)) -
                            strlen("not authorized"),
                        "not authorized");
    int64_t due = f->c->loop.next_attempt_ms - clock_mono_ms();
    assert_true(due > 100 && due <= 200); /* the normal backoff */
}

static void reconnect_after_server_close_uses_a_fresh_token(void **state)
{
    fixture *f = *state;
    set_registered_ago(f, 60000);
    assert_int_equal(parley_connect(f->c), PARLEY_OK);
    until_attempt(f, 1);
    push(CONN_EV_CONNECTED, 0, "connected");
    drain(f);
    assert_true(parley_is_connected(f->c));

    /* Tokens carry an expiry in whole seconds: let one go by so that a token
     * minted for the reconnect cannot equal the first. */
    time_t t0 = time(NULL);
    while (time(NULL) < t0 + 2) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    /* The server closes the connection (an expired token, a restart). */
    push(CONN_EV_LOST, 0, "connection lost");
    drain(f);
    assert_false(parley_is_connected(f->c));
    until_attempt(f, 2);
    assert_string_not_equal(g_tokens[0], g_tokens[1]);
    push(CONN_EV_CONNECTED, 0, "connected");
    drain(f);
    assert_true(parley_is_connected(f->c));
    assert_int_equal(g_subscribes, 2); /* subscribed again on the new connection */

    /* A close when the token is due to expire: reconnect at once, quietly,
     * with yet another token. */
    int before = f->disconnected;
    f->c->loop.token_expires_ms = clock_mono_ms() + 1000; /* as if an hour had passed */
    push(CONN_EV_LOST, 0, "connection lost");
    drain(f);
    assert_int_equal(f->disconnected, before);
    assert_true(f->c->loop.next_attempt_ms <= clock_mono_ms());
    until_attempt(f, 3);
    push(CONN_EV_CONNECTED, 0, "connected");
    drain(f);
    assert_true(parley_is_connected(f->c));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(refusal_right_after_registration_is_quiet_and_quick, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(persistent_refusal_is_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(reconnect_after_server_close_uses_a_fresh_token, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
