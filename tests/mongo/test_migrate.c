/*
 * test_migrate.c - `parley-admin migrate` end to end on two SQLite stores
 * (the same code path as sqlite -> mongodb: everything goes through
 * store.h). A populated source is copied with a small page size (so every
 * listing pages), the target is compared record by record, a second run
 * copies nothing and skips everything, a conflicting target reports the
 * refused record with a non-zero exit, and bad command lines are refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store.h"

static char tmpdir[256];
static char admin[512];

#define USERS 3
#define CHATS 4
#define MEDIA 3

/* Run parley-admin with args; returns its exit status, output in out. */
static int run_admin(const char *args, char *out, size_t outlen)
{
    char cmd[2048];
    size_t used = 0;
    snprintf(cmd, sizeof cmd, "'%s' %s 2>&1", admin, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    while (used + 1 < outlen) {
        size_t r = fread(out + used, 1, outlen - 1 - used, p);
        if (r == 0)
            break;
        used += r;
    }
    out[used] = '\0';
    int st = pclose(p);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

/* The copied/skipped/failed numbers printed for kind. */
static void counts(const char *out, const char *kind, size_t *copied, size_t *skipped,
                   size_t *failed)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\n%s ", kind);
    const char *line = strstr(out, pat);
    if (!line)
        fail_msg("no \"%s\" line in:\n%s", kind, out);
    assert_int_equal(sscanf(line + strlen(pat), " %zu %zu %zu", copied, skipped, failed), 3);
}

static void expect_counts(const char *out, const char *kind, size_t c, size_t s, size_t f)
{
    size_t gc, gs, gf;
    counts(out, kind, &gc, &gs, &gf);
    if (gc != c || gs != s || gf != f)
        fail_msg("%s: got copied %zu skipped %zu failed %zu, want %zu %zu %zu\n%s", kind, gc, gs,
                 gf, c, s, f, out);
}

static store_t *open_store(const char *uri)
{
    store_t *s = NULL;
    int rc = store_open(uri, NULL, &s);
    if (rc != STORE_OK)
        fail_msg("store_open %s: %s", uri, store_last_error(NULL));
    return s;
}

#define OK(expr) \
    do { \
        int rc_ = (expr); \
        if (rc_ != STORE_OK) \
            fail_msg("%s: %s: %s", #expr, store_strerror(rc_), store_last_error(src)); \
    } while (0)

static void put_msg(store_t *src, const char *chat, const char *sender, const char *cid,
                    uint64_t seq, int64_t expires_at, const char *media_id)
{
    char sid[64];
    uint8_t body[40];
    snprintf(sid, sizeof sid, "srv-%s-%s", sender, cid);
    memset(body, cid[0], sizeof body);
    store_message m = {.chat_id = (char *)chat,
                       .seq = seq,
                       .server_id = strdup(sid),
                       .sender = (char *)sender,
                       .client_msg_id = (char *)cid,
                       .server_ts = 1700000000000 + (int64_t)strlen(cid) * 7 + (int64_t)seq,
                       .body = body,
                       .body_len = sizeof body,
                       .media_id = (char *)media_id,
                       .expires_at = expires_at,
                       .kind = 1};
    OK(store_message_put(src, &m));
    free(m.server_id);
}

/* Fill the source: 3 users (keys rotated), prekeys, 4 chats (one empty,
 * one whose newest message expired), members with cursors, messages with
 * a seq gap, media records. Returns the number of messages left. */
static size_t populate(store_t *src)
{
    const char *users[USERS] = {"alice", "bob", "carol"};
    for (int i = 0; i < USERS; i++) {
        store_user u = {.user_id = (char *)users[i], .created_at = 100 + i, .updated_at = 100 + i};
        memset(u.identity_key, 'A' + i, STORE_KEY_LEN);
        OK(store_user_put(src, &u));
        store_prekey spk = {.user_id = (char *)users[i], .key_id = 1, .created_at = 5};
        memset(spk.public_key, 0x10 + i, STORE_KEY_LEN);
        memset(spk.signature, 0x20 + i, STORE_SIG_LEN);
        OK(store_signed_prekey_put(src, &spk));
        if (i == 0) {   /* alice rotated: current 2, previous 1 */
            spk.key_id = 2;
            memset(spk.public_key, 0x77, STORE_KEY_LEN);
            OK(store_signed_prekey_put(src, &spk));
        }
        store_prekey otpk[5];
        memset(otpk, 0, sizeof otpk);
        for (int k = 0; k < 5; k++) {
            otpk[k].user_id = (char *)users[i];
            otpk[k].key_id = (uint32_t)(100 + k);
            memset(otpk[k].public_key, k + i, STORE_KEY_LEN);
            otpk[k].created_at = 9;
        }
        OK(store_otpk_add(src, otpk, (size_t)(5 - i)));   /* 5, 4, 3 */
    }
    uint8_t key[STORE_KEY_LEN];
    memset(key, 'Z', sizeof key);
    OK(store_user_set_key(src, "bob", key, 500));
    OK(store_user_set_status(src, "carol", STORE_USER_DISABLED, 600)); /* the status travels */
    store_invite inv[2] = {
        {.invite_id = "inv-open", .created_at = 1, .expires_at = 9000000000000, .note = "n"},
        {.invite_id = "inv-used",
         .created_at = 2,
         .expires_at = 3,
         .used_at = 2,
         .used_by = "alice"},
    };
    OK(store_invite_put(src, &inv[0]));
    OK(store_invite_put(src, &inv[1]));

    store_chat chats[CHATS] = {
        {.chat_id = "d:alice:bob", .type = STORE_CHAT_DIRECT, .created_at = 10},
        {.chat_id = "g:empty",
         .type = STORE_CHAT_GROUP,
         .name = "Nobody talks",
         .created_by = "carol",
         .created_at = 11},
        {.chat_id = "g:team",
         .type = STORE_CHAT_GROUP,
         .name = "Team",
         .description = "d",
         .created_by = "alice",
         .settings = "{\"admins_only\":false}",
         .created_at = 12},
        {.chat_id = "g:zz", .type = STORE_CHAT_GROUP, .name = "Last", .created_at = 13},
    };
    for (int i = 0; i < CHATS; i++)
        OK(store_chat_put(src, &chats[i]));
    store_member mem[] = {
        {.chat_id = "d:alice:bob", .user_id = "alice", .role = STORE_ROLE_MEMBER, .joined_at = 1},
        {.chat_id = "d:alice:bob", .user_id = "bob", .role = STORE_ROLE_MEMBER, .joined_at = 1},
        {.chat_id = "g:team", .user_id = "alice", .role = STORE_ROLE_OWNER, .joined_at = 2},
        {.chat_id = "g:team",
         .user_id = "bob",
         .role = STORE_ROLE_ADMIN,
         .joined_at = 3,
         .joined_seq = 1},
        {.chat_id = "g:team",
         .user_id = "carol",
         .role = STORE_ROLE_MEMBER,
         .joined_at = 4,
         .joined_seq = 2},
        {.chat_id = "g:empty", .user_id = "carol", .role = STORE_ROLE_OWNER, .joined_at = 5},
        {.chat_id = "g:zz", .user_id = "alice", .role = STORE_ROLE_OWNER, .joined_at = 6},
    };
    for (size_t i = 0; i < sizeof mem / sizeof mem[0]; i++)
        OK(store_member_put(src, &mem[i]));

    put_msg(src, "d:alice:bob", "alice", "a1", 0, 0, NULL);
    put_msg(src, "d:alice:bob", "bob", "b1", 0, 0, "media-1");
    put_msg(src, "d:alice:bob", "alice", "a2", 0, 4000000000000, NULL);
    put_msg(src, "d:alice:bob", "bob", "b2", 0, 0, NULL);
    put_msg(src, "d:alice:bob", "alice", "a3", 0, 0, NULL);
    put_msg(src, "g:team", "alice", "t1", 0, 0, NULL);
    put_msg(src, "g:team", "bob", "t2", 0, 0, NULL);
    put_msg(src, "g:team", "carol", "t3", 10, 0, NULL);   /* gap: 3..9 never used */
    put_msg(src, "g:team", "alice", "t4", 0, 1000, NULL);  /* seq 11, expires */
    put_msg(src, "g:zz", "alice", "z1", 0, 0, NULL);
    /* b2 deleted for everyone: the tombstone is copied as one */
    OK(store_message_tombstone(src, "d:alice:bob", 4, "bob", 1700000009999));
    size_t expired = 0;
    OK(store_messages_expire(src, 2000, &expired));
    assert_int_equal(expired, 1);   /* g:team keeps last_seq 11, newest stored is 10 */

    OK(store_member_advance(src, "d:alice:bob", "bob", 5, 4));
    OK(store_member_advance(src, "g:team", "carol", 10, 2));

    store_media md[MEDIA] = {
        {.media_id = "media-1",
         .owner = "bob",
         .size = 12345,
         .content_type = "image/png",
         .backend_key = "me/media-1",
         .created_at = 20},
        {.media_id = "media-2",
         .owner = "alice",
         .size = 1,
         .created_at = 21,
         .expires_at = 4000000000000},
        {.media_id = "media-3",
         .owner = "carol",
         .size = 99,
         .backend_key = "k3",
         .created_at = 22},
    };
    for (int i = 0; i < MEDIA; i++) {
        memset(md[i].sha256, 0x30 + i, STORE_SHA256_LEN);
        OK(store_media_put(src, &md[i]));
    }
    return 9;
}

/* -------------------------------------------------------- comparisons */

static void same_prekey(const store_prekey *a, const store_prekey *b, bool signed_key)
{
    assert_string_equal(a->user_id, b->user_id);
    assert_int_equal(a->key_id, b->key_id);
    assert_memory_equal(a->public_key, b->public_key, STORE_KEY_LEN);
    if (signed_key)
        assert_memory_equal(a->signature, b->signature, STORE_SIG_LEN);
    assert_int_equal(a->created_at, b->created_at);
}

static void same_opt_str(const char *a, const char *b)
{
    if (!a || !b)
        assert_ptr_equal(a, b);
    else
        assert_string_equal(a, b);
}

/* Every record of src is in dst, identical. */
static void compare_stores(store_t *src, store_t *dst)
{
    store_user *ua, *ub;
    size_t na, nb;
    OK(store_users_changed_since(src, 0, &ua, &na));
    OK(store_users_changed_since(dst, 0, &ub, &nb));
    assert_int_equal(na, USERS);
    assert_int_equal(nb, na);
    for (size_t i = 0; i < na; i++) {
        assert_string_equal(ua[i].user_id, ub[i].user_id);
        assert_memory_equal(ua[i].identity_key, ub[i].identity_key, STORE_KEY_LEN);
        assert_int_equal(ua[i].created_at, ub[i].created_at);
        assert_int_equal(ua[i].updated_at, ub[i].updated_at);
        assert_int_equal(ua[i].status, ub[i].status);

        const char *u = ua[i].user_id;
        store_prekey pa, pb;
        OK(store_signed_prekey_get(src, u, NULL, &pa));
        OK(store_signed_prekey_get(dst, u, NULL, &pb));
        same_prekey(&pa, &pb, true);
        store_prekey_free(&pa);
        store_prekey_free(&pb);
        int ra = store_signed_prekey_get_previous(src, u, NULL, &pa);
        int rb = store_signed_prekey_get_previous(dst, u, NULL, &pb);
        assert_int_equal(ra, rb);
        if (ra == STORE_OK)
            same_prekey(&pa, &pb, true);
        store_prekey_free(&pa);
        store_prekey_free(&pb);

        store_prekey *ka, *kb;
        size_t nka, nkb;
        OK(store_otpk_list(src, u, &ka, &nka));
        OK(store_otpk_list(dst, u, &kb, &nkb));
        assert_int_equal(nka, nkb);
        for (size_t k = 0; k < nka; k++)
            same_prekey(&ka[k], &kb[k], false);
        store_prekey_array_free(ka, nka);
        store_prekey_array_free(kb, nkb);
    }
    store_user_array_free(ua, na);
    store_user_array_free(ub, nb);

    store_invite *ia, *ib;
    OK(store_invites_list(src, NULL, 100, &ia, &na));
    OK(store_invites_list(dst, NULL, 100, &ib, &nb));
    assert_int_equal(nb, na);
    for (size_t i = 0; i < na; i++) {
        assert_string_equal(ia[i].invite_id, ib[i].invite_id);
        assert_int_equal(ia[i].created_at, ib[i].created_at);
        assert_int_equal(ia[i].expires_at, ib[i].expires_at);
        assert_int_equal(ia[i].used_at, ib[i].used_at);
        same_opt_str(ia[i].used_by, ib[i].used_by);
        same_opt_str(ia[i].note, ib[i].note);
    }
    store_invite_array_free(ia, na);
    store_invite_array_free(ib, nb);

    store_chat *ca, *cb;
    OK(store_chats_list(src, NULL, 100, &ca, &na));
    OK(store_chats_list(dst, NULL, 100, &cb, &nb));
    assert_int_equal(na, CHATS);
    assert_int_equal(nb, na);
    for (size_t i = 0; i < na; i++) {
        assert_string_equal(ca[i].chat_id, cb[i].chat_id);
        assert_int_equal(ca[i].type, cb[i].type);
        same_opt_str(ca[i].name, cb[i].name);
        same_opt_str(ca[i].description, cb[i].description);
        same_opt_str(ca[i].created_by, cb[i].created_by);
        same_opt_str(ca[i].settings, cb[i].settings);
        assert_int_equal(ca[i].created_at, cb[i].created_at);
        assert_int_equal(ca[i].last_message_at, cb[i].last_message_at);
        assert_int_equal(ca[i].last_seq, cb[i].last_seq);

        store_member *ma, *mb;
        size_t nma, nmb;
        OK(store_members_of_chat(src, ca[i].chat_id, &ma, &nma));
        OK(store_members_of_chat(dst, ca[i].chat_id, &mb, &nmb));
        assert_int_equal(nma, nmb);
        for (size_t k = 0; k < nma; k++) {
            assert_string_equal(ma[k].user_id, mb[k].user_id);
            assert_int_equal(ma[k].role, mb[k].role);
            assert_int_equal(ma[k].joined_at, mb[k].joined_at);
            assert_int_equal(ma[k].joined_seq, mb[k].joined_seq);
            assert_int_equal(ma[k].delivered_seq, mb[k].delivered_seq);
            assert_int_equal(ma[k].read_seq, mb[k].read_seq);
        }
        store_member_array_free(ma, nma);
        store_member_array_free(mb, nmb);

        store_message *xa, *xb;
        size_t nxa, nxb;
        OK(store_messages_after(src, ca[i].chat_id, 0, 1000, &xa, &nxa));
        OK(store_messages_after(dst, ca[i].chat_id, 0, 1000, &xb, &nxb));
        assert_int_equal(nxa, nxb);
        for (size_t k = 0; k < nxa; k++) {
            assert_int_equal(xa[k].seq, xb[k].seq);
            assert_string_equal(xa[k].server_id, xb[k].server_id);
            assert_string_equal(xa[k].sender, xb[k].sender);
            assert_string_equal(xa[k].client_msg_id, xb[k].client_msg_id);
            assert_int_equal(xa[k].server_ts, xb[k].server_ts);
            assert_int_equal(xa[k].body_len, xb[k].body_len);
            assert_memory_equal(xa[k].body, xb[k].body, xa[k].body_len);
            same_opt_str(xa[k].media_id, xb[k].media_id);
            assert_int_equal(xa[k].expires_at, xb[k].expires_at);
            assert_int_equal(xa[k].kind, xb[k].kind);
            same_opt_str(xa[k].deleted_by, xb[k].deleted_by);
            assert_int_equal(xa[k].deleted_at, xb[k].deleted_at);
        }
        store_message_array_free(xa, nxa);
        store_message_array_free(xb, nxb);
    }
    store_chat_array_free(ca, na);
    store_chat_array_free(cb, nb);

    store_media *da, *db;
    OK(store_media_list(src, NULL, 100, &da, &na));
    OK(store_media_list(dst, NULL, 100, &db, &nb));
    assert_int_equal(na, MEDIA);
    assert_int_equal(nb, na);
    for (size_t i = 0; i < na; i++) {
        assert_string_equal(da[i].media_id, db[i].media_id);
        assert_string_equal(da[i].owner, db[i].owner);
        assert_int_equal(da[i].size, db[i].size);
        assert_memory_equal(da[i].sha256, db[i].sha256, STORE_SHA256_LEN);
        same_opt_str(da[i].content_type, db[i].content_type);
        same_opt_str(da[i].backend_key, db[i].backend_key);
        assert_int_equal(da[i].created_at, db[i].created_at);
        assert_int_equal(da[i].expires_at, db[i].expires_at);
    }
    store_media_array_free(da, na);
    store_media_array_free(db, nb);
}

/* ------------------------------------------------------------- tests */

static void test_migrate_copies_everything_once(void **state)
{
    (void)state;
    char src_uri[400], dst_uri[400], args[1024], out[8192];
    snprintf(src_uri, sizeof src_uri, "sqlite:%s/src.db", tmpdir);
    snprintf(dst_uri, sizeof dst_uri, "sqlite:%s/dst.db", tmpdir);
    store_t *src = open_store(src_uri);
    size_t messages = populate(src);

    snprintf(args, sizeof args, "migrate --from '%s' --to '%s' --page 2", src_uri, dst_uri);
    int st = run_admin(args, out, sizeof out);
    if (st != 0)
        fail_msg("parley-admin exited %d:\n%s", st, out);
    print_message("%s", out);
    expect_counts(out, "users", USERS, 0, 0);
    expect_counts(out, "signed_prekeys", USERS + 1, 0, 0);   /* alice: previous + current */
    expect_counts(out, "one_time_prekeys", 5 + 4 + 3, 0, 0);
    expect_counts(out, "chats", CHATS, 0, 0);
    expect_counts(out, "members", 7, 0, 0);
    expect_counts(out, "messages", messages, 0, 0);
    expect_counts(out, "media", MEDIA, 0, 0);
    expect_counts(out, "invites", 2, 0, 0);
    assert_non_null(strstr(out, "migration complete"));

    store_t *dst = open_store(dst_uri);
    compare_stores(src, dst);
    /* The counter survived the expired newest message: next seq is 12. */
    store_chat c;
    OK(store_chat_get(dst, "g:team", &c));
    assert_int_equal(c.last_seq, 11);
    store_chat_free(&c);
    store_close(dst);

    /* Idempotent: a second run copies nothing and changes nothing. */
    st = run_admin(args, out, sizeof out);
    if (st != 0)
        fail_msg("second run exited %d:\n%s", st, out);
    expect_counts(out, "users", 0, USERS, 0);
    expect_counts(out, "signed_prekeys", 0, USERS, 0);
    expect_counts(out, "one_time_prekeys", 0, 12, 0);
    expect_counts(out, "chats", 0, CHATS, 0);
    expect_counts(out, "members", 0, 7, 0);
    expect_counts(out, "messages", 0, messages, 0);
    expect_counts(out, "media", 0, MEDIA, 0);
    expect_counts(out, "invites", 0, 2, 0);
    dst = open_store(dst_uri);
    compare_stores(src, dst);
    store_close(dst);
    store_close(src);
}

static void test_migrate_reports_conflicts(void **state)
{
    (void)state;
    char src_uri[400], dst_uri[400], args[1024], out[8192];
    snprintf(src_uri, sizeof src_uri, "sqlite:%s/src2.db", tmpdir);
    snprintf(dst_uri, sizeof dst_uri, "sqlite:%s/dst2.db", tmpdir);
    store_t *src = open_store(src_uri);
    size_t messages = populate(src);
    store_close(src);

    /* The target already has g:team with another message at seq 10. */
    store_t *dst = open_store(dst_uri);
    src = dst;   /* for OK()'s message */
    store_chat c = {.chat_id = "g:team", .type = STORE_CHAT_GROUP, .created_at = 1};
    OK(store_chat_put(dst, &c));
    put_msg(dst, "g:team", "mallory", "m1", 10, 0, NULL);
    store_close(dst);

    snprintf(args, sizeof args, "migrate --from '%s' --to '%s'", src_uri, dst_uri);
    int st = run_admin(args, out, sizeof out);
    assert_int_equal(st, 1);
    /* t1 and t2 (seq 1, 2) are below the target's seq 10: refused, as is t3
     * (seq 10 taken); everything else is copied. */
    expect_counts(out, "chats", CHATS - 1, 1, 0);
    expect_counts(out, "messages", messages - 3, 0, 3);
    assert_non_null(strstr(out, "messages g:team#10 not copied"));
    assert_non_null(strstr(out, "migration incomplete"));
}

static void test_migrate_bad_usage(void **state)
{
    (void)state;
    char out[4096], args[1024];
    assert_int_equal(run_admin("", out, sizeof out), 2);
    assert_non_null(strstr(out, "usage"));
    assert_int_equal(run_admin("frobnicate", out, sizeof out), 2);
    assert_int_equal(run_admin("migrate --from sqlite:/tmp/x.db", out, sizeof out), 2);
    assert_non_null(strstr(out, "--from and --to are required"));
    assert_int_equal(run_admin("migrate --from sqlite:a --to sqlite:a", out, sizeof out), 2);
    assert_int_equal(run_admin("migrate --from sqlite:a --to sqlite:b --page 0", out, sizeof out),
                     2);
    snprintf(args, sizeof args, "migrate --from redis://x --to 'sqlite:%s/never.db'", tmpdir);
    assert_int_equal(run_admin(args, out, sizeof out), 1);
    assert_non_null(strstr(out, "cannot open source"));
    snprintf(args, sizeof args, "migrate --from 'sqlite:%s/nodir/x.db' --to 'sqlite:%s/n.db'",
             tmpdir, tmpdir);
    assert_int_equal(run_admin(args, out, sizeof out), 1);
    assert_int_equal(run_admin("help", out, sizeof out), 0);
}

static int setup(void **state)
{
    (void)state;
    const char *bdir = getenv("PARLEY_BUILD_DIR");
    snprintf(admin, sizeof admin, "%s/tools/parley-admin", bdir ? bdir : ".");
    if (access(admin, X_OK) != 0) {
        fprintf(stderr, "parley-admin not found at %s\n", admin);
        return -1;
    }
    snprintf(tmpdir, sizeof tmpdir, "%s/parley-migrate-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_migrate_copies_everything_once),
        cmocka_unit_test(test_migrate_reports_conflicts),
        cmocka_unit_test(test_migrate_bad_usage),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
