/*
 * test_transport.c - transport.c: which URL schemes the client accepts and
 * which are TLS, the URL the TLS probe connects to, and the probe refusing
 * a plain URL. (The probe against real certificates: tests/tls/.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "transport.h"

static void test_mqtt_schemes(void **state)
{
    (void)state;
    assert_int_equal(transport_mqtt_kind("tcp://127.0.0.1:1883"), TRANSPORT_PLAIN);
    assert_int_equal(transport_mqtt_kind("mqtt://broker:1883"), TRANSPORT_PLAIN);
    assert_int_equal(transport_mqtt_kind("ws://broker:8083/mqtt"), TRANSPORT_PLAIN);
    assert_int_equal(transport_mqtt_kind("ssl://broker:8883"), TRANSPORT_TLS);
    assert_int_equal(transport_mqtt_kind("mqtts://broker:8883"), TRANSPORT_TLS);
    assert_int_equal(transport_mqtt_kind("wss://[::1]:8084"), TRANSPORT_TLS);
    /* not a broker URL, or no host after the scheme */
    const char *bad[] = {NULL,          "",          "broker:1883", "http://broker:1883",
                         "https://b:1", "ftp://b:1", "ssl://",      "ssl:///path",
                         "tcp://:1883", "SSL://b:1", "wss:/b:1",    "tcp:/b"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(transport_mqtt_kind(bad[i]), TRANSPORT_BAD);
}

static void test_http_schemes(void **state)
{
    (void)state;
    assert_int_equal(transport_http_kind("http://127.0.0.1:8081"), TRANSPORT_PLAIN);
    assert_int_equal(transport_http_kind("https://keys.example.com"), TRANSPORT_TLS);
    assert_int_equal(transport_http_kind("ssl://keys:8081"), TRANSPORT_BAD);
    assert_int_equal(transport_http_kind("file:///etc/passwd"), TRANSPORT_BAD);
    assert_int_equal(transport_http_kind("https://"), TRANSPORT_BAD);
    assert_int_equal(transport_http_kind("127.0.0.1:8081"), TRANSPORT_BAD);
}

static void test_probe_target(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(transport_probe_target("ssl://localhost:8883", out, sizeof out), 0);
    assert_string_equal(out, "https://localhost:8883/");
    assert_int_equal(transport_probe_target("mqtts://broker", out, sizeof out), 0);
    assert_string_equal(out, "https://broker:8883/");
    assert_int_equal(transport_probe_target("wss://broker/mqtt", out, sizeof out), 0);
    assert_string_equal(out, "https://broker:443/");
    assert_int_equal(transport_probe_target("wss://127.0.0.1:8084/mqtt?x=1", out, sizeof out), 0);
    assert_string_equal(out, "https://127.0.0.1:8084/");
    assert_int_equal(transport_probe_target("ssl://[::1]:8883", out, sizeof out), 0);
    assert_string_equal(out, "https://[::1]:8883/");
    assert_int_equal(transport_probe_target("ssl://[::1]", out, sizeof out), 0);
    assert_string_equal(out, "https://[::1]:8883/");
    /* plain URLs are not probed; a target that does not fit is refused */
    assert_int_equal(transport_probe_target("tcp://localhost:1883", out, sizeof out), -1);
    assert_int_equal(transport_probe_target("ws://localhost:8083", out, sizeof out), -1);
    assert_int_equal(
        transport_probe_target("ssl://a-very-long-host-name.example.com:8883", out, 16), -1);
    char why[64] = "";
    assert_int_equal(transport_probe("tcp://localhost:1883", NULL, why, sizeof why), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mqtt_schemes),
        cmocka_unit_test(test_http_schemes),
        cmocka_unit_test(test_probe_target),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
