/*
 * test_history.c - unit tests of parley_history_find (history.c over
 * lstore_msg_query) on a real local store: paging by seq with a limit, a
 * time bound, text search where %, _ and \ are plain characters, case
 * folding, rows that must never match (hidden, pending, undecryptable),
 * search across chats, empty results and bad arguments.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "parley_int.h"

#define BOB "d:alice:bob"
#define CAROL "d:alice:carol"

typedef struct {
    char dir[64];
    parley_client *c;
} fixture;

typedef struct {
    int n;
    uint64_t seq[32];
    char chat[32][64];
    char text[32][64];
    int system[32];
} seen;

static int collect(void *ud, const parley_message *m)
{
    seen *s = ud;
    assert_true(s->n < 32);
    s->seq[s->n] = m->seq;
    snprintf(s->chat[s->n], sizeof s->chat[0], "%s", m->chat_id);
    snprintf(s->text[s->n], sizeof s->text[0], "%.*s", (int)m->text_len, m->text);
    s->system[s->n] = m->system;
    s->n++;
    return 0;
}

static void put(fixture *f, const char *chat, uint64_t seq, const char *sender, int status,
                const char *body, int64_t ts)
{
    char sid[64], cmid[64];
    snprintf(sid, sizeof sid, "sid-%s-%llu", chat, (unsigned long long)seq);
    snprintf(cmid, sizeof cmid, "cmid-%s-%llu", chat, (unsigned long long)seq);
    lstore_msg m = {
        .chat_id = chat,
        .seq = seq,
        .server_id = sid,
        .sender = sender,
        .client_msg_id = cmid,
        .server_ts = ts,
        .status = status,
        .body = (const uint8_t *)body,
        .body_len = strlen(body),
    };
    assert_int_equal(lstore_msg_insert(f->c->store, &m), 1);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    char home[128];
    if (!f)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/parley-history.XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(home, sizeof home, "%s/alice", f->dir);
    parley_config cfg = {.home = home, .keyserver_url = "http://127.0.0.1:9"};
    if (parley_open(&cfg, &f->c) != PARLEY_OK || parley_identity_create(f->c, "alice") != PARLEY_OK)
        return -1;
    /* bob's chat: seq 1..10, texts "m1".."m10", a second apart. */
    for (uint64_t i = 1; i <= 10; i++) {
        char body[16];
        snprintf(body, sizeof body, "m%llu", (unsigned long long)i);
        put(f, BOB, i, i % 2 ? "bob" : "alice", i % 2 ? LSTORE_MSG_RECEIVED : LSTORE_MSG_OWN, body,
            1000000 + (int64_t)i * 1000);
    }
    /* carol's chat: the search corpus, interleaved in time with bob's. */
    put(f, CAROL, 1, "carol", LSTORE_MSG_RECEIVED, "100% sure", 1000500);
    put(f, CAROL, 2, "carol", LSTORE_MSG_RECEIVED, "100 percent", 1001500);
    put(f, CAROL, 3, "alice", LSTORE_MSG_OWN, "snake_case", 1002500);
    put(f, CAROL, 4, "carol", LSTORE_MSG_RECEIVED, "snakeXcase", 1003500);
    put(f, CAROL, 5, "carol", LSTORE_MSG_RECEIVED, "back\\slash", 1004500);
    put(f, CAROL, 6, "carol", LSTORE_MSG_RECEIVED, "UPPER lower", 1005500);
    put(f, CAROL, 7, "carol", LSTORE_MSG_SYSTEM, "carol set the name: sure", 1006500);
    /* Rows whose bytes hold the word but that are not readable history. */
    put(f, CAROL, 8, "carol", LSTORE_MSG_HIDDEN, "sure hidden", 1007500);
    put(f, CAROL, 9, "carol", LSTORE_MSG_PENDING_KEY, "sure ciphertext", 1008500);
    put(f, CAROL, 10, "carol", LSTORE_MSG_UNDECRYPTABLE, "sure garbage", 1009500);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[128];
    parley_close(f->c);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

static seen find(fixture *f, const char *chat, parley_history_query q)
{
    seen s = {0};
    assert_int_equal(parley_history_find(f->c, chat, &q, collect, &s), PARLEY_OK);
    return s;
}

static void assert_seqs(const seen *s, int n, const uint64_t *want)
{
    assert_int_equal(s->n, n);
    for (int i = 0; i < n; i++)
        assert_int_equal(s->seq[i], want[i]);
}

static void test_paging(void **state)
{
    fixture *f = *state;
    /* The newest 3, oldest first; then the page before it, and so on. */
    seen s = find(f, BOB, (parley_history_query){.limit = 3});
    assert_seqs(&s, 3, (uint64_t[]){8, 9, 10});
    assert_string_equal(s.text[0], "m8");
    s = find(f, BOB, (parley_history_query){.limit = 3, .before_seq = s.seq[0]});
    assert_seqs(&s, 3, (uint64_t[]){5, 6, 7});
    s = find(f, BOB, (parley_history_query){.limit = 3, .before_seq = 3});
    assert_seqs(&s, 2, (uint64_t[]){1, 2});
    s = find(f, BOB, (parley_history_query){.limit = 3, .before_seq = 1});
    assert_int_equal(s.n, 0);
    /* Forwards: after a seq. */
    s = find(f, BOB, (parley_history_query){.since_seq = 7});
    assert_seqs(&s, 3, (uint64_t[]){8, 9, 10});
    s = find(f, BOB, (parley_history_query){.since_seq = 10});
    assert_int_equal(s.n, 0);
    /* Both bounds, and a limit larger than the window. */
    s = find(f, BOB, (parley_history_query){.since_seq = 3, .before_seq = 6, .limit = 50});
    assert_seqs(&s, 2, (uint64_t[]){4, 5});
    s = find(f, BOB, (parley_history_query){.since_seq = 5, .before_seq = 6});
    assert_int_equal(s.n, 0);
    /* No bound: everything of the chat only. */
    s = find(f, BOB, (parley_history_query){0});
    assert_int_equal(s.n, 10);
    /* A time bound (ms, inclusive). */
    s = find(f, BOB, (parley_history_query){.since_ts = 1000000 + 9000});
    assert_seqs(&s, 2, (uint64_t[]){9, 10});
}

static void test_hidden_and_undecryptable_in_history(void **state)
{
    fixture *f = *state;
    /* History shows the undecryptable row (system -1, no text) and the
     * pending one as undecryptable; never the hidden one. */
    seen s = find(f, CAROL, (parley_history_query){.since_seq = 6});
    assert_seqs(&s, 3, (uint64_t[]){7, 9, 10});
    assert_int_equal(s.system[0], 1);
    assert_int_equal(s.system[1], -1);
    assert_string_equal(s.text[1], "");
    assert_int_equal(s.system[2], -1);
}

static void test_search_wildcards_are_literal(void **state)
{
    fixture *f = *state;
    seen s = find(f, CAROL, (parley_history_query){.text = "%"});
    assert_seqs(&s, 1, (uint64_t[]){1});
    assert_string_equal(s.text[0], "100% sure");
    s = find(f, CAROL, (parley_history_query){.text = "_"});
    assert_seqs(&s, 1, (uint64_t[]){3});
    s = find(f, CAROL, (parley_history_query){.text = "e_c"});
    assert_seqs(&s, 1, (uint64_t[]){3});
    s = find(f, CAROL, (parley_history_query){.text = "0%"});
    assert_seqs(&s, 1, (uint64_t[]){1});
    s = find(f, CAROL, (parley_history_query){.text = "\\"});
    assert_seqs(&s, 1, (uint64_t[]){5});
    assert_string_equal(s.text[0], "back\\slash");
    s = find(f, CAROL, (parley_history_query){.text = "100"});
    assert_seqs(&s, 2, (uint64_t[]){1, 2});
}

static void test_search_case_and_unreadable_rows(void **state)
{
    fixture *f = *state;
    seen s = find(f, CAROL, (parley_history_query){.text = "upper LOWER"});
    assert_seqs(&s, 1, (uint64_t[]){6});
    /* "sure": the two readable rows (message, system); not the hidden,
     * pending (ciphertext) or undecryptable rows that hold the bytes. */
    s = find(f, CAROL, (parley_history_query){.text = "SURE"});
    assert_seqs(&s, 2, (uint64_t[]){1, 7});
    /* With a limit: the newest match. */
    s = find(f, CAROL, (parley_history_query){.text = "sure", .limit = 1});
    assert_seqs(&s, 1, (uint64_t[]){7});
}

static void test_search_across_chats(void **state)
{
    fixture *f = *state;
    /* "m1" is in bob's m1 and m10 only; "e" in both chats, by time. */
    seen s = find(f, NULL, (parley_history_query){.text = "m1"});
    assert_int_equal(s.n, 2);
    assert_string_equal(s.text[0], "m1");
    assert_string_equal(s.text[1], "m10");
    s = find(f, NULL, (parley_history_query){.text = "e", .limit = 3});
    /* The newest three containing "e", oldest first, across chats by time:
     * carol 4 (snakeXcase), 6 (UPPER lower), 7 (system). */
    assert_int_equal(s.n, 3);
    assert_string_equal(s.chat[0], CAROL);
    assert_string_equal(s.text[0], "snakeXcase");
    assert_string_equal(s.text[1], "UPPER lower");
    assert_int_equal(s.seq[2], 7);
    /* "m": bob's ten and carol's system line, interleaved by time. */
    s = find(f, NULL, (parley_history_query){.text = "m", .limit = 20});
    assert_int_equal(s.n, 11);
    assert_string_equal(s.text[5], "m6");
    assert_string_equal(s.chat[6], CAROL);
    assert_string_equal(s.text[6], "carol set the name: sure");
    assert_string_equal(s.text[7], "m7");
}

static void test_empty_and_invalid(void **state)
{
    fixture *f = *state;
    seen s = find(f, NULL, (parley_history_query){.text = "no such words"});
    assert_int_equal(s.n, 0);
    s = find(f, "d:alice:dave", (parley_history_query){0}); /* a chat never seen */
    assert_int_equal(s.n, 0);
    s = find(f, BOB, (parley_history_query){.text = "100%"}); /* in the other chat only */
    assert_int_equal(s.n, 0);
    assert_int_equal(
        parley_history_find(f->c, "not a chat", &(parley_history_query){0}, collect, &s),
        PARLEY_EINVAL);
    assert_int_equal(parley_history_find(f->c, BOB, NULL, collect, &s), PARLEY_EINVAL);
    assert_int_equal(parley_history_find(f->c, BOB, &(parley_history_query){0}, NULL, NULL),
                     PARLEY_EINVAL);
    assert_int_equal(s.n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_paging, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hidden_and_undecryptable_in_history, setup, teardown),
        cmocka_unit_test_setup_teardown(test_search_wildcards_are_literal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_search_case_and_unreadable_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_search_across_chats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_and_invalid, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
