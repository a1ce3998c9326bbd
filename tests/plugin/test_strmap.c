/*
 * test_strmap.c - the plugin's string hash map: growth, replace, remove,
 * take, foreach, and that every dropped value is freed exactly once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include "../../broker-plugin/strmap.c"

static int freed;

static void count_free(void *v)
{
    freed++;
    free(v);
}

static void sum(const char *key, void *value, void *ctx)
{
    *(long *)ctx += *(int *)value;
}

static void test_many_keys(void **state)
{
    strmap *m = strmap_new(count_free);
    char key[32];
    freed = 0;
    for (int i = 0; i < 10000; i++) {
        int *v = malloc(sizeof *v);
        *v = i;
        snprintf(key, sizeof key, "k%d", i);
        assert_int_equal(strmap_put(m, key, v), 0);
    }
    assert_int_equal(strmap_count(m), 10000);
    for (int i = 0; i < 10000; i += 7) {
        snprintf(key, sizeof key, "k%d", i);
        int *v = strmap_get(m, key);
        assert_non_null(v);
        assert_int_equal(*v, i);
    }
    assert_null(strmap_get(m, "missing"));
    long total = 0;
    strmap_foreach(m, sum, &total);
    assert_int_equal(total, 10000L * 9999 / 2);
    strmap_free(m);
    assert_int_equal(freed, 10000);
}

static void test_replace_remove_take(void **state)
{
    strmap *m = strmap_new(count_free);
    freed = 0;
    int *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    *a = 1;
    *b = 2;
    assert_int_equal(strmap_put(m, "x", a), 0);
    assert_int_equal(strmap_put(m, "x", b), 0); /* a freed */
    assert_int_equal(freed, 1);
    assert_int_equal(*(int *)strmap_get(m, "x"), 2);
    assert_int_equal(strmap_count(m), 1);
    int *t = strmap_take(m, "x");
    assert_ptr_equal(t, b);
    assert_int_equal(freed, 1);
    assert_int_equal(strmap_count(m), 0);
    assert_null(strmap_take(m, "x"));
    assert_int_equal(strmap_put(m, "y", t), 0);
    assert_int_equal(strmap_remove(m, "y"), 1);
    assert_int_equal(strmap_remove(m, "y"), 0);
    assert_int_equal(freed, 2);
    strmap_free(m);
    strmap_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_keys),
        cmocka_unit_test(test_replace_remove_take),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
