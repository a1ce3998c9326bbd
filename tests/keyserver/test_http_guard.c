/*
 * Unit tests of http/guard.c's pure parts (client keys with IPv6 by /64,
 * path checks, the control-character-safe unescaper) and of the
 * keyserver's period token buckets (ratelimit_new_period), which the
 * one-time prekey hand-out limits use.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "guard.h"
#include "ratelimit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

static void key6(const char *addr, char *out)
{
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6};
    assert_int_equal(inet_pton(AF_INET6, addr, &sa.sin6_addr), 1);
    http_client_key((struct sockaddr *)&sa, out, HTTP_CLIENT_KEY_MAX);
}

static void test_client_keys(void **state)
{
    char a[HTTP_CLIENT_KEY_MAX], b[HTTP_CLIENT_KEY_MAX];
    struct sockaddr_in sa = {.sin_family = AF_INET};
    inet_pton(AF_INET, "192.0.2.7", &sa.sin_addr);
    http_client_key((struct sockaddr *)&sa, a, sizeof a);
    assert_string_equal(a, "192.0.2.7");
    /* one /64: one key, whatever the interface identifier */
    key6("2001:db8:1:2::1", a);
    key6("2001:db8:1:2:ffff:ffff:ffff:fffe", b);
    assert_string_equal(a, "2001:db8:1:2::/64");
    assert_string_equal(a, b);
    /* the next /64 is another client */
    key6("2001:db8:1:3::1", b);
    assert_string_not_equal(a, b);
    /* IPv4-mapped IPv6 is the IPv4 address */
    key6("::ffff:192.0.2.7", a);
    assert_string_equal(a, "192.0.2.7");
    http_client_key(NULL, a, sizeof a);
    assert_string_equal(a, "unknown");
}

static void test_unescape_and_path(void **state)
{
    char s[64];
    strcpy(s, "/v1/identity/alice%00evil");
    http_guard_unescape(NULL, NULL, s);
    assert_string_equal(s, "/v1/identity/alice%00evil"); /* not decoded, not truncated */
    assert_false(http_path_ok(s));
    strcpy(s, "/v1/identity/%61lice%2E%2d");
    assert_int_equal(http_guard_unescape(NULL, NULL, s), strlen("/v1/identity/alice.-"));
    assert_string_equal(s, "/v1/identity/alice.-");
    assert_true(http_path_ok(s));
    const char *bad[] = {"/a%01", "/a%1f", "/a%1F", "/a%7f", "/a%0A", "/a\x01", "/a\x7f", "/a\t"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(http_path_ok(bad[i]));
    const char *good[] = {"/v2/keys/bob", "/a%20b", "/a%", "/a%4", "/a%zz", "/%FF%FE"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_true(http_path_ok(good[i]));
    strcpy(s, "/a%");
    http_guard_unescape(NULL, NULL, s); /* a dangling % stays */
    assert_string_equal(s, "/a%");
}

static void test_ratelimit_period(void **state)
{
    ratelimit *rl = ratelimit_new_period(3, 3600); /* burst 3, 3 per hour */
    assert_non_null(rl);
    int64_t t = 1000000;
    for (int i = 0; i < 3; i++)
        assert_true(ratelimit_take(rl, "a>b", t, NULL));
    unsigned retry = 0;
    assert_false(ratelimit_take(rl, "a>b", t, &retry));
    assert_int_equal(retry, 1200); /* one per 20 minutes */
    assert_true(ratelimit_take(rl, "c>b", t, NULL)); /* other pairs are separate */
    assert_false(ratelimit_take(rl, "a>b", t + 1199 * 1000, NULL));
    assert_true(ratelimit_take(rl, "a>b", t + 1200 * 1000, NULL));
    ratelimit_free(rl);
    assert_null(ratelimit_new_period(0, 60));
    assert_null(ratelimit_new_period(5, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_keys),
        cmocka_unit_test(test_unescape_and_path),
        cmocka_unit_test(test_ratelimit_period),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
