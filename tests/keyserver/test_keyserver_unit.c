/*
 * Unit tests of the keyserver's pure modules: the rate limiter (with
 * injected time), the metrics text, and the JSON/base64 field codec.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "codec.h"
#include "metrics.h"
#include "ratelimit.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_ratelimit_burst_and_refill(void **state)
{
    ratelimit *rl = ratelimit_new(60); /* one per second, burst 60 */
    assert_non_null(rl);
    unsigned retry = 0;
    for (int i = 0; i < 60; i++)
        assert_true(ratelimit_take(rl, "ip:1.2.3.4", 1000, &retry));
    assert_false(ratelimit_take(rl, "ip:1.2.3.4", 1000, &retry));
    assert_int_equal(retry, 1);
    /* Another key has its own budget. */
    assert_true(ratelimit_take(rl, "user:alice", 1000, NULL));
    /* Half a second later still nothing; a second later one more. */
    assert_false(ratelimit_take(rl, "ip:1.2.3.4", 1500, &retry));
    assert_int_equal(retry, 1);
    assert_true(ratelimit_take(rl, "ip:1.2.3.4", 2000, NULL));
    assert_false(ratelimit_take(rl, "ip:1.2.3.4", 2000, NULL));
    /* A long pause refills to the burst, not beyond. */
    int ok = 0;
    while (ratelimit_take(rl, "ip:1.2.3.4", 1000000, NULL))
        ok++;
    assert_int_equal(ok, 60);
    ratelimit_free(rl);
}

static void test_ratelimit_retry_after(void **state)
{
    ratelimit *rl = ratelimit_new(2); /* one per 30 s */
    unsigned retry = 0;
    assert_true(ratelimit_take(rl, "k", 0, NULL));
    assert_true(ratelimit_take(rl, "k", 0, NULL));
    assert_false(ratelimit_take(rl, "k", 0, &retry));
    assert_int_equal(retry, 30);
    assert_false(ratelimit_take(rl, "k", 10000, &retry));
    assert_int_equal(retry, 20);
    /* Time going backwards (never with a monotonic clock) refills nothing. */
    assert_false(ratelimit_take(rl, "k", 5000, &retry));
    assert_null(ratelimit_new(0));
    ratelimit_free(rl);
}

static void test_ratelimit_bounded(void **state)
{
    ratelimit *rl = ratelimit_new(10);
    char key[32];
    for (int i = 0; i < 10000; i++) {
        snprintf(key, sizeof key, "ip:%d", i);
        assert_true(ratelimit_take(rl, key, (int64_t)i * 10000, NULL));
    }
    /* Keys whose bucket refilled were swept: far fewer than 10000 remain. */
    assert_true(ratelimit_size(rl) <= 4096 + 1);
    ratelimit_free(rl);
}

static void test_metrics_render(void **state)
{
    metrics *m = metrics_new();
    assert_non_null(m);
    metrics_request(m, METRICS_ROUTE_KEYS_BUNDLE, 200, 700);       /* 0.0007 s */
    metrics_request(m, METRICS_ROUTE_KEYS_BUNDLE, 200, 30000000);  /* 30 s: only +Inf */
    metrics_request(m, METRICS_ROUTE_KEYS_BUNDLE, 404, 100);
    metrics_inc(m, METRICS_BUNDLES_SERVED, 2);
    metrics_auth_failure(m, "expired");
    metrics_auth_failure(m, "no-such-reason");
    char *t = metrics_render(m);
    assert_non_null(t);
    assert_non_null(
        strstr(t, "parley_keyserver_requests_total{route=\"keys_bundle\",code=\"200\"} 2\n"));
    assert_non_null(
        strstr(t, "parley_keyserver_requests_total{route=\"keys_bundle\",code=\"404\"} 1\n"));
    assert_null(strstr(t, "route=\"identity_put\",code="));
    assert_non_null(strstr(
        t,
        "parley_keyserver_request_duration_seconds_bucket{route=\"keys_bundle\",le=\"0.0005\"} 1\n"));
    assert_non_null(strstr(
        t,
        "parley_keyserver_request_duration_seconds_bucket{route=\"keys_bundle\",le=\"0.001\"} 2\n"));
    assert_non_null(strstr(
        t,
        "parley_keyserver_request_duration_seconds_bucket{route=\"keys_bundle\",le=\"2.5\"} 2\n"));
    assert_non_null(strstr(
        t,
        "parley_keyserver_request_duration_seconds_bucket{route=\"keys_bundle\",le=\"+Inf\"} 3\n"));
    assert_non_null(
        strstr(t, "parley_keyserver_request_duration_seconds_count{route=\"keys_bundle\"} 3\n"));
    assert_non_null(strstr(
        t, "parley_keyserver_request_duration_seconds_sum{route=\"keys_bundle\"} 30.000800\n"));
    assert_non_null(strstr(t, "parley_keyserver_bundles_served_total 2\n"));
    assert_non_null(strstr(t, "parley_keyserver_auth_failures_total{reason=\"expired\"} 1\n"));
    assert_non_null(strstr(t, "parley_keyserver_auth_failures_total{reason=\"other\"} 1\n"));
    assert_non_null(strstr(t, "# TYPE parley_keyserver_rate_limited_total counter\n"));
    free(t);
    metrics_free(m);
}

static void test_codec(void **state)
{
    uint8_t key[32], out[32];
    for (int i = 0; i < 32; i++)
        key[i] = (uint8_t)(i * 7 + 1);
    json_t *s = codec_b64_json(key, sizeof key);
    assert_non_null(s);
    json_t *o = json_pack("{s:o, s:s, s:s, s:s, s:i, s:I, s:I, s:s}", "k", s, "short", "AAAA",
                          "nopad", "AQgPFh0kKzI5QEdOVVxjanF4f4aNlJuiqbC3vsXM0w", "bad",
                          "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!=", "num", 5, "big",
                          (json_int_t)4294967296LL, "max", (json_int_t)4294967295LL, "str", "7");
    assert_non_null(o);
    assert_true(codec_get_b64(o, "k", out, sizeof out));
    assert_memory_equal(out, key, sizeof key);
    assert_false(codec_get_b64(o, "short", out, sizeof out));
    assert_false(codec_get_b64(o, "nopad", out, sizeof out));
    assert_false(codec_get_b64(o, "bad", out, sizeof out));
    assert_false(codec_get_b64(o, "missing", out, sizeof out));
    assert_false(codec_get_b64(o, "num", out, sizeof out));
    uint32_t v = 0;
    assert_true(codec_get_u32(o, "num", &v));
    assert_int_equal(v, 5);
    assert_true(codec_get_u32(o, "max", &v));
    assert_int_equal(v, 4294967295u);
    assert_false(codec_get_u32(o, "big", &v));
    assert_false(codec_get_u32(o, "str", &v));
    assert_false(codec_get_u32(o, "missing", &v));

    /* the device routes: unpadded base64url out; base64url or padded base64 in */
    json_t *u = codec_b64url_json(key, sizeof key);
    assert_non_null(u);
    assert_int_equal(json_string_length(u), 43);
    assert_null(strpbrk(json_string_value(u), "+/="));
    assert_int_equal(json_object_set_new(o, "url", u), 0);
    uint8_t any[64];
    assert_int_equal(codec_get_b64_any(o, "url", any, sizeof any), 32);
    assert_memory_equal(any, key, sizeof key);
    assert_int_equal(codec_get_b64_any(o, "k", any, sizeof any), 32); /* padded standard */
    assert_memory_equal(any, key, sizeof key);
    assert_int_equal(codec_get_b64_any(o, "url", any, 16), -1);       /* does not fit */
    assert_int_equal(codec_get_b64_any(o, "bad", any, sizeof any), -1);
    assert_int_equal(codec_get_b64_any(o, "num", any, sizeof any), -1);
    assert_int_equal(codec_get_b64_any(o, "missing", any, sizeof any), -1);
    json_decref(o);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ratelimit_burst_and_refill),
        cmocka_unit_test(test_ratelimit_retry_after),
        cmocka_unit_test(test_ratelimit_bounded),
        cmocka_unit_test(test_metrics_render),
        cmocka_unit_test(test_codec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
