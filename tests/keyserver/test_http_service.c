/*
 * test_http_service.c - unit tests of the HTTP skeleton both services use
 * (http/): --listen parsing (IPv4, IPv6, names, the port range), numeric
 * command-line values, route
 * patterns and the Allow list (service.c, #included), reply helpers and
 * the Prometheus text builder.
 */
#include "../../http/service.c"

#include "options.h"
#include "prom.h"

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

static int listen_ok(const char *spec, struct sockaddr_storage *ss)
{
    socklen_t len = 0;
    char err[256];
    return http_listen_parse(spec, ss, &len, err, sizeof err);
}

static void test_listen_parse(void **state)
{
    struct sockaddr_storage ss;
    char a[INET6_ADDRSTRLEN];
    assert_int_equal(listen_ok("127.0.0.1:8081", &ss), 0);
    assert_int_equal(ss.ss_family, AF_INET);
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    assert_int_equal(ntohs(v4->sin_port), 8081);
    assert_string_equal(inet_ntop(AF_INET, &v4->sin_addr, a, sizeof a), "127.0.0.1");

    assert_int_equal(listen_ok("[::1]:65535", &ss), 0);
    assert_int_equal(ss.ss_family, AF_INET6);
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    assert_int_equal(ntohs(v6->sin6_port), 65535);
    assert_string_equal(inet_ntop(AF_INET6, &v6->sin6_addr, a, sizeof a), "::1");
    assert_int_equal(listen_ok("[::]:1", &ss), 0);
    assert_int_equal(ss.ss_family, AF_INET6);
    assert_int_equal(listen_ok("0.0.0.0:1", &ss), 0);
    assert_int_equal(listen_ok("localhost:8082", &ss), 0);

    /* ports out of range, and not ports */
    const char *bad[] = {"127.0.0.1:0",
                         "127.0.0.1:65536",
                         "127.0.0.1:99999",
                         "[::1]:70000",
                         "127.0.0.1:184467440737095516170",
                         "127.0.0.1:",
                         "127.0.0.1:-1",
                         "127.0.0.1:+80",
                         "127.0.0.1:80x",
                         "127.0.0.1: 80",
                         ":8081",
                         "8081",
                         "[::1:8081",
                         "[]:8081",
                         "nonsense",
                         ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        socklen_t len = 0;
        char err[256] = "";
        assert_int_equal(http_listen_parse(bad[i], &ss, &len, err, sizeof err), -1);
        assert_true(strstr(err, "--listen") != NULL); /* a reason, naming the flag */
    }
    socklen_t len = 0;
    char err[256];
    assert_int_equal(http_listen_parse("127.0.0.1:65536", &ss, &len, err, sizeof err), -1);
    assert_non_null(strstr(err, "from 1 to 65535"));
    assert_int_equal(http_listen_parse(NULL, &ss, &len, err, sizeof err), -1);
}

static void test_parse_uint(void **state)
{
    unsigned long long v = 7;
    assert_true(http_parse_uint("0", 0, 10, &v));
    assert_int_equal(v, 0);
    assert_true(http_parse_uint("65536", 1, 64ull << 20, &v));
    assert_int_equal(v, 65536);
    assert_true(http_parse_uint("18446744073709551615", 1, ULLONG_MAX, &v));
    assert_true(v == ULLONG_MAX);
    v = 7;
    const char *bad[] = {"", "-5", "+5", " 5", "5 ", "5x", "0x10", "18446744073709551616", "11"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(http_parse_uint(bad[i], 0, 10, &v)); /* "11": over the maximum */
    assert_false(http_parse_uint(NULL, 0, 10, &v));
    assert_false(http_parse_uint("0", 1, 10, &v)); /* under the minimum */
    assert_int_equal(v, 7);                        /* untouched on failure */
}

static void test_route_match(void **state)
{
    const http_route exact = {.pattern = "/v2/keys"};
    const http_route rest = {.pattern = "/v1/identity/*"};
    const http_route seg = {.pattern = "/v1/media/*/download", .flags = HTTP_ROUTE_SEGMENT};
    const char *arg;
    size_t n;
    assert_true(route_match(&exact, "/v2/keys", &arg, &n));
    assert_int_equal(n, 0);
    assert_false(route_match(&exact, "/v2/keys/", &arg, &n));
    assert_false(route_match(&exact, "/v2/key", &arg, &n));
    assert_true(route_match(&rest, "/v1/identity/alice", &arg, &n));
    assert_int_equal(n, 5);
    assert_memory_equal(arg, "alice", 5);
    assert_true(route_match(&rest, "/v1/identity/a/b", &arg, &n)); /* the rest, slashes too */
    assert_int_equal(n, 3);
    assert_true(route_match(&rest, "/v1/identity/", &arg, &n));
    assert_int_equal(n, 0);
    assert_true(route_match(&seg, "/v1/media/abc/download", &arg, &n));
    assert_int_equal(n, 3);
    assert_memory_equal(arg, "abc", 3);
    assert_false(route_match(&seg, "/v1/media/a/b/download", &arg, &n)); /* one segment */
    assert_false(route_match(&seg, "/v1/media/abc/downloads", &arg, &n));
    assert_false(route_match(&seg, "/v1/media/download", &arg, &n));
}

static void test_method_allowed(void **state)
{
    assert_true(method_allowed("GET, PUT", "GET"));
    assert_true(method_allowed("GET, PUT", "PUT"));
    assert_false(method_allowed("GET, PUT", "POST"));
    assert_false(method_allowed("GET, PUT", "GE"));
    assert_false(method_allowed("GET, PUT", "HEAD"));
    assert_false(method_allowed("GET", ""));
    assert_true(method_allowed("GET, DELETE", "DELETE"));
}

static void test_replies(void **state)
{
    http_reply r = {0};
    http_reply_error(&r, 404, "not_found", "no route %s", "/x");
    assert_int_equal(r.status, 404);
    assert_string_equal(r.error, "not_found");
    assert_string_equal(json_string_value(json_object_get(r.json, "error")), "not_found");
    assert_string_equal(json_string_value(json_object_get(r.json, "message")), "no route /x");
    http_reply_error(&r, 400, "invalid_json", "%s", "\xff\xfe"); /* not UTF-8 */
    assert_string_equal(json_string_value(json_object_get(r.json, "message")),
                        "(not representable)");
    http_reply_json(&r, 200, NULL); /* out of memory */
    assert_int_equal(r.status, 500);
    http_reply_text(&r, 200, NULL, "text/plain");
    assert_int_equal(r.status, 500);
    assert_string_equal(r.error, "internal");
    http_reply_header(&r, "ETag", "\"x\"");
    for (int i = 0; i < 8; i++)
        http_reply_header(&r, "X-More", "y"); /* bounded */
    assert_int_equal(r.n_headers, HTTP_REPLY_HEADERS_MAX);
    http_reply_clear(&r);
    assert_int_equal(r.status, 0);
    assert_null(r.json);
}

static int freed;
static ssize_t no_read(void *cls, char *buf, size_t max)
{
    return 0;
}
static void count_free(void *cls)
{
    freed++;
}

static void test_stream_freed_once(void **state)
{
    http_reply r = {0};
    http_reply_stream(&r, 200, 10, no_read, count_free, NULL);
    http_reply_error(&r, 502, "backend_error", "replaced"); /* drops the stream */
    assert_int_equal(freed, 1);
    http_reply_stream(&r, 200, 10, no_read, count_free, NULL);
    http_reply_clear(&r);
    assert_int_equal(freed, 2);
    http_reply_clear(&r);
    assert_int_equal(freed, 2);
}

static void test_prom(void **state)
{
    http_prom t = {0};
    http_prom_counter(&t, "x_total", "Things.", "{backend=\"file\"}", 18446744073709551615ull);
    http_prom_gauge(&t, "x_open", "Open now.", "", -3);
    for (int i = 0; i < 2000; i++) /* grows past any first buffer */
        http_prom_printf(&t, "y{i=\"%d\"} %d\n", i, i);
    char *text = http_prom_finish(&t);
    assert_non_null(text);
    assert_non_null(strstr(text, "# HELP x_total Things.\n# TYPE x_total counter\n"
                                 "x_total{backend=\"file\"} 18446744073709551615\n"));
    assert_non_null(strstr(text, "# HELP x_open Open now.\n# TYPE x_open gauge\nx_open -3\n"));
    assert_non_null(strstr(text, "y{i=\"1999\"} 1999\n"));
    free(text);
    text = http_prom_finish(&t); /* empty */
    assert_non_null(text);
    assert_string_equal(text, "");
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listen_parse), cmocka_unit_test(test_parse_uint),
        cmocka_unit_test(test_route_match),  cmocka_unit_test(test_method_allowed),
        cmocka_unit_test(test_replies),      cmocka_unit_test(test_stream_freed_once),
        cmocka_unit_test(test_prom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
