/*
 * test_bus_subject.c - the bus's subject encoding and frames
 * (broker-plugin/bus_subject.c, included): ids with '.', '-', '_' and
 * every other byte, the longest id, decoding back, no two ids on one
 * subject, and malformed tokens and frames refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "../../broker-plugin/bus_subject.c"

/* A valid NATS subject token: no '.', '*', '>', whitespace or control
 * bytes, not empty. */
static void assert_one_token(const char *t)
{
    assert_true(*t != '\0');
    for (const char *p = t; *p; p++) {
        unsigned char c = (unsigned char)*p;
        assert_false(c == '.' || c == '*' || c == '>' || c <= ' ' || c >= 0x7f);
    }
}

static void roundtrip(const char *id, const char *want)
{
    char tok[BUS_TOKEN_MAX + 1], back[BUS_ID_MAX + 1];
    int n = bus__token_encode(id, tok, sizeof tok);
    assert_int_equal(n, (int)strlen(want));
    assert_string_equal(tok, want);
    assert_one_token(tok);
    assert_int_equal(bus__token_decode(tok, back, sizeof back), (int)strlen(id));
    assert_string_equal(back, id);
}

static void test_examples(void **state)
{
    (void)state;
    roundtrip("alice", "alice");
    roundtrip("a.b", "a%2Eb");
    roundtrip("first.last-name_2", "first%2Elast-name_2");
    roundtrip("...", "%2E%2E%2E");
    roundtrip("-_-", "-_-");
    roundtrip("a%2Eb", "a%252Eb"); /* the escape character is escaped */
    roundtrip("x*y>z w\t", "x%2Ay%3Ez%20w%09");
    roundtrip("\xc3\xa9", "%C3%A9");
    roundtrip("AbC09", "AbC09");
}

static void test_lengths(void **state)
{
    (void)state;
    char id[BUS_ID_MAX + 2], tok[BUS_TOKEN_MAX + 1];
    memset(id, '.', BUS_ID_MAX);
    id[BUS_ID_MAX] = '\0';
    /* The longest id, every byte escaped: exactly BUS_TOKEN_MAX. */
    assert_int_equal(bus__token_encode(id, tok, sizeof tok), BUS_TOKEN_MAX);
    assert_one_token(tok);
    /* One byte too small a buffer. */
    assert_int_equal(bus__token_encode(id, tok, BUS_TOKEN_MAX), -1);
    /* Too long an id, the empty id, NULL. */
    id[BUS_ID_MAX] = 'x';
    id[BUS_ID_MAX + 1] = '\0';
    assert_int_equal(bus__token_encode(id, tok, sizeof tok), -1);
    assert_int_equal(bus__token_encode("", tok, sizeof tok), -1);
    assert_int_equal(bus__token_encode(NULL, tok, sizeof tok), -1);
    /* A 64-character user id (IDS_USER_MAX) of dots fits a subject. */
    char user[65], subj[BUS_SUBJECT_MAX];
    memset(user, '.', 64);
    user[64] = '\0';
    assert_int_equal(bus__subject(BUS_USER, user, subj, sizeof subj), 9 + 192);
}

static void test_malformed_tokens(void **state)
{
    (void)state;
    char out[BUS_ID_MAX + 1];
    const char *bad[] = {"", "a.b", "a*", ">", "a b", "%", "%2", "%2e", "%41", "%00", "%GG", "x%2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(bus__token_decode(bad[i], out, sizeof out), -1);
}

/* Every pair of distinct ids over a small alphabet of troublesome bytes,
 * up to length 3: distinct tokens (and each decodes to its id). */
static void test_injective(void **state)
{
    (void)state;
    const char alpha[] = {'a', '.', '-', '_', '%', '2', 'E', '*', ' '};
    enum { A = sizeof alpha };
    static char toks[A + A * A + A * A * A][16];
    size_t n = 0;
    for (int len = 1; len <= 3; len++) {
        int total = len == 1 ? A : len == 2 ? A * A : A * A * A;
        for (int k = 0; k < total; k++) {
            char id[4] = {0};
            for (int j = 0, v = k; j < len; j++, v /= A)
                id[j] = alpha[v % A];
            char back[8];
            assert_true(bus__token_encode(id, toks[n], sizeof toks[n]) > 0);
            assert_true(bus__token_decode(toks[n], back, sizeof back) > 0);
            assert_string_equal(back, id);
            n++;
        }
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            assert_true(strcmp(toks[i], toks[j]) != 0);
}

static void test_subjects(void **state)
{
    (void)state;
    char s[BUS_SUBJECT_MAX], id[BUS_ID_MAX + 1];
    bus_kind k;
    assert_int_equal(bus__subject(BUS_USER, "bob.smith", s, sizeof s), 20);
    assert_string_equal(s, "parley.u.bob%2Esmith");
    assert_true(bus__parse_subject(s, &k, id, sizeof id));
    assert_int_equal(k, BUS_USER);
    assert_string_equal(id, "bob.smith");
    assert_true(bus__subject(BUS_GROUP, "Ab-_x", s, sizeof s) > 0);
    assert_string_equal(s, "parley.g.Ab-_x");
    assert_true(bus__parse_subject(s, &k, id, sizeof id));
    assert_int_equal(k, BUS_GROUP);
    assert_true(bus__subject(BUS_NODE, "node-1", s, sizeof s) > 0);
    assert_string_equal(s, "parley.node.node-1");
    assert_int_equal(bus__subject(BUS_NODE, "no.de", s, sizeof s), -1); /* not a node id */
    assert_true(bus__subject(BUS_ALL, NULL, s, sizeof s) > 0);
    assert_string_equal(s, "parley.all");
    assert_true(bus__parse_subject("parley.all", &k, id, sizeof id));
    assert_int_equal(k, BUS_ALL);
    assert_string_equal(id, "");
    assert_false(bus__parse_subject("parley.u.a.b", &k, id, sizeof id));
    assert_false(bus__parse_subject("parley.x.a", &k, id, sizeof id));
    assert_false(bus__parse_subject("parley.u.", &k, id, sizeof id));
    assert_int_equal(bus__subject(BUS_USER, "bob", s, 10), -1); /* too small */
}

static void test_frames(void **state)
{
    (void)state;
    uint8_t f[128], type;
    char node[BUS_NODE_ID_MAX + 1];
    const uint8_t *body;
    size_t len;
    int n = bus__frame(BUS_T_TEST, "node1", "hello", 5, f, sizeof f);
    assert_int_equal(n, 4 + 5 + 5);
    assert_true(bus__unframe(f, (size_t)n, &type, node, &body, &len));
    assert_int_equal(type, BUS_T_TEST);
    assert_string_equal(node, "node1");
    assert_int_equal(len, 5);
    assert_memory_equal(body, "hello", 5);
    /* Empty body. */
    n = bus__frame(BUS_T_NODE_LEFT, "n", NULL, 0, f, sizeof f);
    assert_true(bus__unframe(f, (size_t)n, &type, node, &body, &len));
    assert_int_equal(len, 0);
    /* Truncated, wrong magic, wrong version, bad node ids. */
    n = bus__frame(BUS_T_TEST, "node1", "hello", 5, f, sizeof f);
    assert_false(bus__unframe(f, 8, &type, node, &body, &len));
    f[0] = 'X';
    assert_false(bus__unframe(f, (size_t)n, &type, node, &body, &len));
    f[0] = 'P';
    f[1] = 2;
    assert_false(bus__unframe(f, (size_t)n, &type, node, &body, &len));
    f[1] = 1;
    f[5] = '.';
    assert_false(bus__unframe(f, (size_t)n, &type, node, &body, &len));
    assert_int_equal(bus__frame(BUS_T_TEST, "a.b", "x", 1, f, sizeof f), -1);
    assert_int_equal(bus__frame(BUS_T_TEST, "node1", "x", 200, f, sizeof f), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_examples),         cmocka_unit_test(test_lengths),
        cmocka_unit_test(test_malformed_tokens), cmocka_unit_test(test_injective),
        cmocka_unit_test(test_subjects),         cmocka_unit_test(test_frames),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
