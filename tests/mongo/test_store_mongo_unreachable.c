/*
 * test_store_mongo_unreachable.c - the MongoDB backend fails fast and
 * clearly when no server answers: store_open() on a loopback port where
 * nothing listens returns STORE_EUNAVAIL with the driver's message (bounded
 * by serverSelectionTimeoutMS; a watchdog alarm turns a hang into a
 * failure), and a malformed URI is STORE_EINVAL. No MongoDB server needed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "store.h"
#include "store_writer.h"

/* A loopback TCP port with nothing listening (bound, read, released). */
static int free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "store_open hung: no answer within the watchdog time\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    _exit(1);
}

static void test_open_unreachable(void **state)
{
    (void)state;
    char uri[128];
    store_t *s = (store_t *)&s;   /* must be reset to NULL */
    snprintf(uri, sizeof uri, "mongodb://127.0.0.1:%d/x", free_port());
    alarm(120);   /* generous: the driver gives up after 2 s */
    int rc = store_open(uri, NULL, &s);
    alarm(0);
    assert_int_equal(rc, STORE_EUNAVAIL);
    assert_null(s);
    const char *msg = store_last_error(NULL);
    assert_non_null(msg);
    assert_true(strlen(msg) > 0);
    print_message("store_open error: %s\n", msg);
    assert_string_equal(store_strerror(rc), "storage backend unavailable");

    /* The same URI again (the pool is shared per URI) fails the same way. */
    alarm(120);
    rc = store_open(uri, NULL, &s);
    alarm(0);
    assert_int_equal(rc, STORE_EUNAVAIL);
    assert_null(s);
}

static void test_writer_unreachable(void **state)
{
    (void)state;
    char uri[128];
    store_writer *w = (store_writer *)&w;
    snprintf(uri, sizeof uri, "mongodb://127.0.0.1:%d/x?serverSelectionTimeoutMS=500", free_port());
    alarm(120);
    int rc = store_writer_start(uri, NULL, NULL, &w);
    alarm(0);
    assert_int_equal(rc, STORE_EUNAVAIL);
}

static void test_bad_uri(void **state)
{
    (void)state;
    store_t *s = NULL;
    assert_int_equal(store_open("mongodb://", NULL, &s), STORE_EINVAL);
    assert_null(s);
    assert_non_null(strstr(store_last_error(NULL), "URI"));
    assert_int_equal(store_open("mongodb://127.0.0.1:1/x?replicaSet=", NULL, &s), STORE_EINVAL);
    assert_null(s);

    /* Unacknowledged writes are refused before any connection is made. */
    store_options o = {.mongo_write_concern = "0"};
    assert_int_equal(store_open("mongodb://127.0.0.1:1/x", &o, &s), STORE_EINVAL);
    assert_null(s);
    assert_non_null(strstr(store_last_error(NULL), "write concern"));
    assert_int_equal(store_open("mongodb://127.0.0.1:1/x?w=0", NULL, &s), STORE_EINVAL);
    assert_null(s);
    assert_non_null(strstr(store_last_error(NULL), "w=0"));
}

int main(void)
{
    signal(SIGALRM, on_alarm);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_unreachable),
        cmocka_unit_test(test_writer_unreachable),
        cmocka_unit_test(test_bad_uri),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
