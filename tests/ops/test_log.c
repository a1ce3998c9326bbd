/* test_log.c - common/log.c: settings from the environment (unknown values
 * refused, settings kept), level filter, both formats, escaping of hostile
 * text (no forged lines, JSON always valid, long messages cut cleanly). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static char captured[65536];

/* Run log_msg with stderr redirected to a file; the output in captured. */
static void capture_begin(FILE **tmp, int *saved)
{
    fflush(stderr);
    *tmp = tmpfile();
    assert_non_null(*tmp);
    *saved = dup(2);
    dup2(fileno(*tmp), 2);
}

static void capture_end(FILE *tmp, int saved)
{
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(tmp);
    size_t n = fread(captured, 1, sizeof captured - 1, tmp);
    captured[n] = '\0';
    fclose(tmp);
}

#define CAPTURE(stmt) \
    do { \
        FILE *tmp_; \
        int saved_; \
        capture_begin(&tmp_, &saved_); \
        stmt; \
        capture_end(tmp_, saved_); \
    } while (0)

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void test_env(void **state)
{
    (void)state;
    char err[160];
    unsetenv("PARLEY_LOG_LEVEL");
    unsetenv("PARLEY_LOG_FORMAT");
    assert_int_equal(log_init_env(err, sizeof err), 0);
    assert_int_equal(log_get_level(), PARLEY_LOG_INFO);
    setenv("PARLEY_LOG_LEVEL", "WARN", 1);
    setenv("PARLEY_LOG_FORMAT", "Json", 1);
    assert_int_equal(log_init_env(err, sizeof err), 0);
    assert_int_equal(log_get_level(), PARLEY_LOG_WARN);
    /* Unknown values: refused with a message, settings unchanged. */
    setenv("PARLEY_LOG_LEVEL", "verbose", 1);
    assert_int_equal(log_init_env(err, sizeof err), -1);
    assert_non_null(strstr(err, "PARLEY_LOG_LEVEL: unknown level 'verbose'"));
    assert_non_null(strstr(err, "debug, info, warn, error"));
    assert_int_equal(log_get_level(), PARLEY_LOG_WARN);
    setenv("PARLEY_LOG_LEVEL", "debug", 1);
    setenv("PARLEY_LOG_FORMAT", "yaml", 1);
    assert_int_equal(log_init_env(err, sizeof err), -1);
    assert_non_null(strstr(err, "PARLEY_LOG_FORMAT: unknown format 'yaml'"));
    assert_int_equal(log_get_level(), PARLEY_LOG_WARN);
    /* Empty means the default. */
    setenv("PARLEY_LOG_LEVEL", "", 1);
    setenv("PARLEY_LOG_FORMAT", "", 1);
    assert_int_equal(log_init_env(err, sizeof err), 0);
    assert_int_equal(log_get_level(), PARLEY_LOG_INFO);
}

static void test_level_filter(void **state)
{
    (void)state;
    log_set_format(PARLEY_LOG_FORMAT_TEXT);
    log_set_level(PARLEY_LOG_WARN);
    CAPTURE(log_msg(PARLEY_LOG_INFO, "t", "hidden"); log_msg(PARLEY_LOG_WARN, "t", "shown"));
    assert_null(strstr(captured, "hidden"));
    assert_non_null(strstr(captured, " WARN t: shown\n"));
    assert_int_equal(count_lines(captured), 1);
}

static void test_text_escapes(void **state)
{
    (void)state;
    log_set_format(PARLEY_LOG_FORMAT_TEXT);
    log_set_level(PARLEY_LOG_DEBUG);
    const char *evil = "eve\n2026-01-01T00:00:00.000Z ERROR forged: x\x1b[31m";
    CAPTURE(log_msg(PARLEY_LOG_INFO, "t", "user %s", evil));
    assert_int_equal(count_lines(captured), 1);
    assert_non_null(
        strstr(captured, "user eve\\n2026-01-01T00:00:00.000Z ERROR forged: x\\u001b[31m\n"));
}

static json_t *parse_one(void)
{
    assert_int_equal(count_lines(captured), 1);
    json_error_t e;
    json_t *j = json_loads(captured, JSON_REJECT_DUPLICATES, &e);
    if (!j)
        fail_msg("not JSON (%s): %s", e.text, captured);
    return j;
}

static void test_json(void **state)
{
    (void)state;
    log_set_format(PARLEY_LOG_FORMAT_JSON);
    log_set_level(PARLEY_LOG_DEBUG);
    const char *msg = "a \"quoted\" \\ path\nnext\t\x01 \xff\xfe caf\xc3\xa9";
    CAPTURE(log_msg(PARLEY_LOG_ERROR, "keyserver", "%s", msg));
    json_t *j = parse_one();
    assert_string_equal(json_string_value(json_object_get(j, "level")), "error");
    assert_string_equal(json_string_value(json_object_get(j, "component")), "keyserver");
    assert_string_equal(json_string_value(json_object_get(j, "msg")),
                        "a \"quoted\" \\ path\nnext\t\x01 \xef\xbf\xbd\xef\xbf\xbd caf\xc3\xa9");
    const char *ts = json_string_value(json_object_get(j, "ts"));
    assert_non_null(ts);
    assert_int_equal(strlen(ts), strlen("2026-01-31T12:00:00.123Z"));
    assert_int_equal(ts[strlen(ts) - 1], 'Z');
    json_decref(j);
}

static void test_json_long(void **state)
{
    (void)state;
    /* Longer than a line holds, made only of characters that need escaping:
     * the message is cut, the line is still one valid JSON object. */
    char big[2000];
    memset(big, '\x02', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    log_set_format(PARLEY_LOG_FORMAT_JSON);
    CAPTURE(log_msg(PARLEY_LOG_INFO, "t", "%s", big));
    json_t *j = parse_one();
    const char *msg = json_string_value(json_object_get(j, "msg"));
    assert_non_null(msg);
    assert_true(strlen(msg) > 100);
    assert_true(strspn(msg, "\x02") == strlen(msg));
    json_decref(j);
    log_set_format(PARLEY_LOG_FORMAT_TEXT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_env),          cmocka_unit_test(test_level_filter),
        cmocka_unit_test(test_text_escapes), cmocka_unit_test(test_json),
        cmocka_unit_test(test_json_long),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
