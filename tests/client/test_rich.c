/*
 * test_rich.c - unit tests of rich messages in libparley (rich.c,
 * rich_api.c, delreq.c, and their use by deliver.c, outbox.c, history.c,
 * lstore.c) on a real local store, without a network: alice's home
 * receives envelopes as a sync page would hand them over (deliver__envelope,
 * trusted), decryption replaced by a toy rule (--wrap of pairwise__decrypt,
 * skeys__has_key, skeys__decrypt: a body "OK" + packed Content), and sends
 * through the real send path with sessions and device lists played by the
 * test (--wrap of devices__get, pairwise__prepare_dev, pairwise__encrypt_dev:
 * the "ciphertext" is the Content itself), publishes captured (--wrap of
 * link__publish).
 *
 * Covered: each kind's validation and effect (reply, mentions, reaction
 * replaced and removed, edit, delete for everyone, timer), refusals (not
 * own, not admin, too late, unknown target, malformed) that change nothing
 * and raise PARLEY_EVENT_REFUSED, the SDK's own checks, a TOMBSTONE from
 * sync, expiry (purge, history, a message expired on arrival), an
 * unsupported Content (only a field this library does not know), the send
 * side (expire_s and ttl_s from the chat's timer, the sender's own action
 * applied at once and again under its seq), delete_message requests
 * (queued, sent once the seq is known, 403 final, 5xx retried), and the
 * migration of a local store from before rich messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "parley_int.h"
#include "e2e.pb-c.h"
#include "parley.pb-c.h"

#define BOB "d:alice:bob"
#define GROUP "g:CCCCCCCCCCCCCCCCCCCCCC"
#define T0 1700000000000LL

/* ---- the network, played by the test --------------------------------------- */

typedef struct {
    char topic[160];
    uint8_t *payload;
    size_t len;
} published;

static published g_pub[64];
static int g_npub;

static void pub_reset(void)
{
    for (int i = 0; i < g_npub; i++)
        free(g_pub[i].payload);
    g_npub = 0;
}

int __wrap_link__publish(parley_client *c, const char *topic, const void *payload, size_t len);
int __wrap_link__publish(parley_client *c, const char *topic, const void *payload, size_t len)
{
    if (c->link.state != LINK_READY)
        return -1;
    assert_true(g_npub < 64);
    published *p = &g_pub[g_npub++];
    snprintf(p->topic, sizeof p->topic, "%s", topic);
    p->payload = malloc(len ? len : 1);
    assert_non_null(p->payload);
    memcpy(p->payload, payload, len);
    p->len = len;
    return 0;
}

int __wrap_link__subscribe(parley_client *c, char *const *topics, int n);
int __wrap_link__subscribe(parley_client *c, char *const *topics, int n)
{
    (void)c, (void)topics, (void)n;
    return 0;
}

static int toy_open(parley_client *c, const uint8_t *body, size_t len, uint8_t **pt, size_t *ptlen)
{
    if (len < 2 || memcmp(body, "OK", 2) != 0)
        return util__fail(c, PARLEY_ECRYPTO, "message authentication failed");
    *ptlen = len - 2;
    *pt = malloc(len - 1);
    assert_non_null(*pt);
    memcpy(*pt, body + 2, len - 2);
    return PARLEY_OK;
}

int __wrap_pairwise__decrypt(parley_client *c, const char *sender, const char *sender_device,
                             const uint8_t *body, size_t len, uint8_t **content,
                             size_t *content_len);
int __wrap_pairwise__decrypt(parley_client *c, const char *sender, const char *sender_device,
                             const uint8_t *body, size_t len, uint8_t **content,
                             size_t *content_len)
{
    (void)sender, (void)sender_device;
    return toy_open(c, body, len, content, content_len);
}

int __wrap_skeys__has_key(parley_client *c, const char *chat_id, const char *sender,
                          const uint8_t *body, size_t len);
int __wrap_skeys__has_key(parley_client *c, const char *chat_id, const char *sender,
                          const uint8_t *body, size_t len)
{
    (void)c, (void)chat_id, (void)sender, (void)body, (void)len;
    return 1;
}

int __wrap_skeys__decrypt(parley_client *c, const char *chat_id, const char *sender,
                          const uint8_t *body, size_t len, uint8_t **pt, size_t *ptlen);
int __wrap_skeys__decrypt(parley_client *c, const char *chat_id, const char *sender,
                          const uint8_t *body, size_t len, uint8_t **pt, size_t *ptlen)
{
    (void)chat_id, (void)sender;
    return toy_open(c, body, len, pt, ptlen);
}

int __wrap_devices__get(parley_client *c, const char *user, int64_t max_age_ms, devlist *out);
int __wrap_devices__get(parley_client *c, const char *user, int64_t max_age_ms, devlist *out)
{
    static const uint8_t key[32];
    (void)max_age_ms;
    devlist_implicit(out, user, strcmp(user, c->user) == 0 ? c->account_pk : key);
    return PARLEY_OK;
}

int __wrap_pairwise__prepare_dev(parley_client *c, const char *peer, const char *dev,
                                 const uint8_t devkey[32]);
int __wrap_pairwise__prepare_dev(parley_client *c, const char *peer, const char *dev,
                                 const uint8_t devkey[32])
{
    (void)c, (void)peer, (void)dev, (void)devkey;
    return PARLEY_OK;
}

int __wrap_pairwise__encrypt_dev(parley_client *c, const char *peer, const char *dev,
                                 const uint8_t *content, size_t len, uint8_t **body,
                                 size_t *body_len);
int __wrap_pairwise__encrypt_dev(parley_client *c, const char *peer, const char *dev,
                                 const uint8_t *content, size_t len, uint8_t **body,
                                 size_t *body_len)
{
    (void)c, (void)peer, (void)dev;
    *body = malloc(len ? len : 1);
    assert_non_null(*body);
    memcpy(*body, content, len);
    *body_len = len;
    return PARLEY_OK;
}

int __wrap_trust__check(parley_client *c, const char *peer, uint8_t ik[32]);
int __wrap_trust__check(parley_client *c, const char *peer, uint8_t ik[32])
{
    (void)c, (void)peer, (void)ik;
    return 1;
}

void __wrap_devices__prefetch(parley_client *c, const char *user, const char *device);
void __wrap_devices__prefetch(parley_client *c, const char *user, const char *device)
{
    (void)c, (void)user, (void)device;
}

void __wrap_devices__ensure(parley_client *c, const char *user);
void __wrap_devices__ensure(parley_client *c, const char *user)
{
    (void)c, (void)user;
}

/* ---- the application ------------------------------------------------------- */

typedef struct {
    uint64_t seq;
    int kind;
    char text[128];
    char reply_sender[65], reply_cmid[80];
    char target_cmid[80];
    char emoji[64];
    uint32_t timer_s;
    int64_t expires_at;
    int mentioned;
    size_t n_mentions;
    char mention0[65];
} shown_msg;

typedef struct {
    char dir[128];
    parley_client *c;
    shown_msg shown[32];
    int nshown;
    char refused[8][256];
    int nrefused;
} fixture;

static void on_message(void *ud, const parley_message *m)
{
    fixture *f = ud;
    assert_true(f->nshown < 32);
    shown_msg *s = &f->shown[f->nshown++];
    memset(s, 0, sizeof *s);
    s->seq = m->seq;
    s->kind = (int)m->kind;
    snprintf(s->text, sizeof s->text, "%.*s", (int)m->text_len, m->text ? m->text : "");
    if (m->reply_to.sender) {
        snprintf(s->reply_sender, sizeof s->reply_sender, "%s", m->reply_to.sender);
        snprintf(s->reply_cmid, sizeof s->reply_cmid, "%s", m->reply_to.client_msg_id);
    }
    if (m->target.client_msg_id)
        snprintf(s->target_cmid, sizeof s->target_cmid, "%s", m->target.client_msg_id);
    if (m->emoji)
        snprintf(s->emoji, sizeof s->emoji, "%s", m->emoji);
    s->timer_s = m->timer_s;
    s->expires_at = m->expires_at;
    s->mentioned = m->mentioned;
    s->n_mentions = m->n_mentions;
    if (m->n_mentions)
        snprintf(s->mention0, sizeof s->mention0, "%s", m->mentions[0]);
}

static void on_event(void *ud, const parley_event *e)
{
    fixture *f = ud;
    if (e->type == PARLEY_EVENT_REFUSED) {
        assert_true(f->nrefused < 8);
        snprintf(f->refused[f->nrefused++], sizeof f->refused[0], "%s", e->detail);
    }
}

/* ---- envelopes ------------------------------------------------------------- */

typedef struct {
    uint8_t body[2048];
    Parley__V1__Envelope env;
    char chat[141], sender[65], sid[64], cmid[80];
} envelope;

/* A stamped message from sender in chat whose body "decrypts" to ct (its
 * client_msg_id and group_id filled here), at server time ts. extra: bytes
 * appended to the packed Content (a field this library does not know). */
static void make_env_x(envelope *e, const char *chat, uint64_t seq, const char *sender,
                       const char *tag, int64_t ts, Parley__E2e__V1__Content *ct,
                       const uint8_t *extra, size_t extra_len)
{
    memset(e, 0, sizeof *e);
    snprintf(e->chat, sizeof e->chat, "%s", chat);
    snprintf(e->sender, sizeof e->sender, "%s", sender);
    snprintf(e->sid, sizeof e->sid, "sid-%s-%llu", tag, (unsigned long long)seq);
    snprintf(e->cmid, sizeof e->cmid, "%s", tag);
    ct->client_msg_id = e->cmid;
    if (ids_is_group_chat(chat))
        ct->group_id = e->chat;
    size_t n = parley__e2e__v1__content__get_packed_size(ct);
    assert_true(n + 2 + extra_len <= sizeof e->body);
    memcpy(e->body, "OK", 2);
    parley__e2e__v1__content__pack(ct, e->body + 2);
    if (extra_len)
        memcpy(e->body + 2 + n, extra, extra_len);
    ct->client_msg_id = NULL;
    ct->group_id = NULL;
    e->env = (Parley__V1__Envelope)PARLEY__V1__ENVELOPE__INIT;
    e->env.server_id = e->sid;
    e->env.chat_id = e->chat;
    e->env.seq = seq;
    e->env.sender = e->sender;
    e->env.client_msg_id = e->cmid;
    e->env.server_ts = ts;
    e->env.kind = PARLEY__V1__ENVELOPE_KIND__CHAT;
    e->env.sender_device = "phone"; /* alice's: another device of hers */
    e->env.body.data = e->body;
    e->env.body.len = n + 2 + extra_len;
}

static void make_env(envelope *e, const char *chat, uint64_t seq, const char *sender,
                     const char *tag, int64_t ts, Parley__E2e__V1__Content *ct)
{
    make_env_x(e, chat, seq, sender, tag, ts, ct, NULL, 0);
}

static void deliver(fixture *f, envelope *e)
{
    assert_int_equal(deliver__envelope(f->c, &e->env, 1), 0);
}

/* A text message from sender: tag is its client message id. */
static void text_from(fixture *f, const char *chat, uint64_t seq, const char *sender,
                      const char *tag, int64_t ts, const char *text)
{
    Parley__E2e__V1__Content ct = PARLEY__E2E__V1__CONTENT__INIT;
    envelope e;
    ct.text = (char *)text;
    make_env(&e, chat, seq, sender, tag, ts, &ct);
    deliver(f, &e);
}

static void action_from(fixture *f, const char *chat, uint64_t seq, const char *sender,
                        const char *tag, int64_t ts, Parley__E2e__V1__Content *ct)
{
    envelope e;
    make_env(&e, chat, seq, sender, tag, ts, ct);
    deliver(f, &e);
}

static void react(fixture *f, const char *chat, uint64_t seq, const char *sender, const char *tag,
                  int64_t ts, const char *tsender, const char *tcmid, const char *emoji)
{
    Parley__E2e__V1__Content ct = PARLEY__E2E__V1__CONTENT__INIT;
    Parley__E2e__V1__Reaction r = PARLEY__E2E__V1__REACTION__INIT;
    Parley__E2e__V1__MessageRef t = PARLEY__E2E__V1__MESSAGE_REF__INIT;
    t.sender = (char *)tsender;
    t.client_msg_id = (char *)tcmid;
    r.target = &t;
    r.emoji = (char *)emoji;
    ct.reaction = &r;
    action_from(f, chat, seq, sender, tag, ts, &ct);
}

static void edit(fixture *f, const char *chat, uint64_t seq, const char *sender, const char *tag,
                 int64_t ts, const char *tsender, const char *tcmid, const char *text)
{
    Parley__E2e__V1__Content ct = PARLEY__E2E__V1__CONTENT__INIT;
    Parley__E2e__V1__Edit ed = PARLEY__E2E__V1__EDIT__INIT;
    Parley__E2e__V1__MessageRef t = PARLEY__E2E__V1__MESSAGE_REF__INIT;
    t.sender = (char *)tsender;
    t.client_msg_id = (char *)tcmid;
    ed.target = &t;
    ed.text = (char *)text;
    ct.edit = &ed;
    action_from(f, chat, seq, sender, tag, ts, &ct);
}

static void del(fixture *f, const char *chat, uint64_t seq, const char *sender, const char *tag,
                int64_t ts, const char *tsender, const char *tcmid)
{
    Parley__E2e__V1__Content ct = PARLEY__E2E__V1__CONTENT__INIT;
    Parley__E2e__V1__Delete d = PARLEY__E2E__V1__DELETE__INIT;
    Parley__E2e__V1__MessageRef t = PARLEY__E2E__V1__MESSAGE_REF__INIT;
    t.sender = (char *)tsender;
    t.client_msg_id = (char *)tcmid;
    d.target = &t;
    ct.delete_ = &d;
    action_from(f, chat, seq, sender, tag, ts, &ct);
}

static void timer_from(fixture *f, const char *chat, uint64_t seq, const char *sender,
                       const char *tag, int64_t ts, uint32_t ttl)
{
    Parley__E2e__V1__Content ct = PARLEY__E2E__V1__CONTENT__INIT;
    Parley__E2e__V1__Timer tm = PARLEY__E2E__V1__TIMER__INIT;
    tm.ttl_s = ttl;
    ct.timer = &tm;
    action_from(f, chat, seq, sender, tag, ts, &ct);
}

/* ---- the history, as the application reads it ----------------------------- */

typedef struct {
    int n;
    uint64_t seq[32];
    int kind[32];
    char text[32][128];
    int64_t edited_at[32];
    char deleted_by[32][65];
    char reactions[32][256]; /* "user=emoji," ... */
    char reply[32][160];
    int mentioned[32];
    int64_t expires_at[32];
    uint32_t timer_s[32];
} hist;

static int take_hist(void *ud, const parley_message *m)
{
    hist *h = ud;
    assert_true(h->n < 32);
    int i = h->n++;
    h->seq[i] = m->seq;
    h->kind[i] = (int)m->kind;
    snprintf(h->text[i], sizeof h->text[i], "%.*s", (int)m->text_len, m->text);
    h->edited_at[i] = m->edited_at;
    snprintf(h->deleted_by[i], sizeof h->deleted_by[i], "%s", m->deleted_by ? m->deleted_by : "");
    h->reactions[i][0] = 0;
    for (size_t k = 0; k < m->n_reactions; k++) {
        size_t u = strlen(h->reactions[i]);
        snprintf(h->reactions[i] + u, sizeof h->reactions[i] - u, "%s=%s,", m->reactions[k].user,
                 m->reactions[k].emoji);
    }
    if (m->reply_to.sender)
        snprintf(h->reply[i], sizeof h->reply[i], "%s/%s", m->reply_to.sender,
                 m->reply_to.client_msg_id);
    else
        h->reply[i][0] = 0;
    h->mentioned[i] = m->mentioned;
    h->expires_at[i] = m->expires_at;
    h->timer_s[i] = m->timer_s;
    return 0;
}

static hist history(fixture *f, const char *chat)
{
    hist h;
    memset(&h, 0, sizeof h);
    assert_int_equal(parley_history(f->c, chat, take_hist, &h), PARLEY_OK);
    return h;
}

/* The index of seq in h, or fail. */
static int at(const hist *h, uint64_t seq)
{
    for (int i = 0; i < h->n; i++)
        if (h->seq[i] == seq)
            return i;
    fail_msg("seq %llu not in the history", (unsigned long long)seq);
    return -1;
}

static int listed(const hist *h, uint64_t seq)
{
    for (int i = 0; i < h->n; i++)
        if (h->seq[i] == seq)
            return 1;
    return 0;
}

/* ---- fixture: alice, her chat with bob, a group of alice, bob (admin), carol */

static void group_info(parley_client *c, uint64_t last_seq)
{
    Parley__V1__GroupInfo gi = PARLEY__V1__GROUP_INFO__INIT;
    Parley__V1__GroupMember m[3], *mp[3];
    const char *users[3] = {"alice", "bob", "carol"};
    int roles[3] = {PARLEY__V1__ROLE__MEMBER, PARLEY__V1__ROLE__OWNER, PARLEY__V1__ROLE__MEMBER};
    for (int i = 0; i < 3; i++) {
        m[i] = (Parley__V1__GroupMember)PARLEY__V1__GROUP_MEMBER__INIT;
        m[i].user_id = (char *)users[i];
        m[i].role = roles[i];
        mp[i] = &m[i];
    }
    gi.chat_id = GROUP;
    gi.name = "friends";
    gi.members = mp;
    gi.n_members = 3;
    gi.last_seq = last_seq;
    assert_int_equal(lstore_begin(c->store), 0);
    assert_int_equal(members__set(c, &gi), PARLEY_OK);
    assert_int_equal(lstore_commit(c->store), 0);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    char home[200];
    if (!f)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/parley-rich.XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(home, sizeof home, "%s/alice", f->dir);
    parley_config cfg = {.home = home, .keyserver_url = "http://127.0.0.1:9"};
    if (parley_open(&cfg, &f->c) != PARLEY_OK || parley_identity_create(f->c, "alice") != PARLEY_OK)
        return -1;
    parley_callbacks cb = {.on_message = on_message, .on_event = on_event, .ud = f};
    parley_set_callbacks(f->c, &cb);
    if (lstore_chat_ensure(f->c->store, BOB, 1, "bob") != 0)
        return -1;
    group_info(f->c, 0);
    pub_reset();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[200];
    pub_reset();
    parley_close(f->c);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    int rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

/* ---- receiving ------------------------------------------------------------- */

/* A reply carries the reference (no quoted text); mentions are checked
 * (invalid ids and duplicates dropped) and surface as `mentioned`. */
static void reply_and_mentions(void **state)
{
    fixture *f = *state;
    text_from(f, GROUP, 1, "bob", "b1", T0, "hello all");

    Parley__E2e__V1__Content ct = PARLEY__E2E__V1__CONTENT__INIT;
    Parley__E2e__V1__MessageRef r = PARLEY__E2E__V1__MESSAGE_REF__INIT;
    char *mentions[] = {"alice", "not a user!", "alice", "carol"};
    r.sender = "bob";
    r.client_msg_id = "b1";
    ct.text = "@alice @carol yes";
    ct.reply_to = &r;
    ct.mentions = mentions;
    ct.n_mentions = 4;
    action_from(f, GROUP, 2, "carol", "c1", T0 + 10, &ct);
    assert_int_equal(f->nshown, 2);
    shown_msg *s = &f->shown[1];
    assert_int_equal(s->kind, PARLEY_MSG_NORMAL);
    assert_string_equal(s->reply_sender, "bob");
    assert_string_equal(s->reply_cmid, "b1");
    assert_int_equal(s->mentioned, 1);
    assert_int_equal(s->n_mentions, 2);
    assert_string_equal(s->mention0, "alice");

    /* a reply to a message we do not hold keeps its reference */
    r.client_msg_id = "gone";
    ct.mentions = NULL;
    ct.n_mentions = 0;
    action_from(f, GROUP, 3, "bob", "b2", T0 + 20, &ct);
    hist h = history(f, GROUP);
    assert_int_equal(h.n, 3);
    assert_string_equal(h.reply[at(&h, 2)], "bob/b1");
    assert_int_equal(h.mentioned[at(&h, 2)], 1);
    assert_string_equal(h.reply[at(&h, 3)], "bob/gone");
    assert_int_equal(h.mentioned[at(&h, 3)], 0);
    assert_int_equal(f->nrefused, 0);
}

/* One reaction per user and target, the highest seq wins, "" removes it;
 * reactions are not history rows of their own. */
static void reactions_replace_and_remove(void **state)
{
    fixture *f = *state;
    text_from(f, GROUP, 1, "bob", "b1", T0, "lunch?");
    react(f, GROUP, 2, "carol", "c1", T0 + 1, "bob", "b1", "👍");
    react(f, GROUP, 3, "bob", "b2", T0 + 2, "bob", "b1", "🎉");
    assert_int_equal(f->nshown, 3);
    assert_int_equal(f->shown[1].kind, PARLEY_MSG_REACTION);
    assert_string_equal(f->shown[1].target_cmid, "b1");
    assert_string_equal(f->shown[1].emoji, "👍");
    hist h = history(f, GROUP);
    assert_int_equal(h.n, 1);
    assert_string_equal(h.reactions[0], "carol=👍,bob=🎉,");

    react(f, GROUP, 4, "carol", "c2", T0 + 3, "bob", "b1", "❤️"); /* replaces */
    h = history(f, GROUP);
    assert_string_equal(h.reactions[0], "bob=🎉,carol=❤️,");
    react(f, GROUP, 5, "bob", "b3", T0 + 4, "bob", "b1", ""); /* removes */
    h = history(f, GROUP);
    assert_string_equal(h.reactions[0], "carol=❤️,");
    /* an older reaction (a lower seq, applied late) does not come back */
    assert_int_equal(lstore_begin(f->c->store), 0);
    assert_int_equal(lstore_reaction_set(f->c->store, GROUP, "bob", "b1", "carol", "😡", 2), 0);
    assert_int_equal(lstore_commit(f->c->store), 0);
    h = history(f, GROUP);
    assert_string_equal(h.reactions[0], "carol=❤️,");
    assert_int_equal(f->nrefused, 0);
}

/* Malformed reactions and unknown targets change nothing and are refused. */
static void reaction_refusals(void **state)
{
    fixture *f = *state;
    text_from(f, GROUP, 1, "bob", "b1", T0, "lunch?");
    react(f, GROUP, 2, "carol", "c1", T0 + 1, "bob", "b1",
          "0123456789012345678901234567890123"); /* 34 bytes */
    react(f, GROUP, 3, "carol", "c2", T0 + 2, "bob", "b1", "a\x01");
    react(f, GROUP, 4, "carol", "c3", T0 + 3, "bob", "b1", "\xc2\x85"); /* C1: NEL */
    react(f, GROUP, 5, "carol", "c4", T0 + 4, "bob", "nope", "👍");
    react(f, GROUP, 6, "carol", "c5", T0 + 5, "bob bad", "b1", "👍");
    assert_int_equal(f->nrefused, 5);
    assert_non_null(strstr(f->refused[0], "emoji"));
    assert_non_null(strstr(f->refused[3], "unknown target"));
    assert_int_equal(f->nshown, 1); /* only the text */
    hist h = history(f, GROUP);
    assert_int_equal(h.n, 1);
    assert_string_equal(h.reactions[0], "");
    /* the cursor moved over them all */
    lstore_chat ch;
    assert_int_equal(lstore_chat_get(f->c->store, GROUP, &ch), 1);
    assert_int_equal(ch.synced_seq, 6);
}

/* The sender edits within 15 minutes: the latest text, edited_at; others'
 * edits, late edits and edits of deleted messages are refused. */
static void edits(void **state)
{
    fixture *f = *state;
    text_from(f, BOB, 1, "bob", "b1", T0, "helo");
    text_from(f, BOB, 2, "alice", "a1", T0 + 1, "mine"); /* from another device of ours */
    edit(f, BOB, 3, "bob", "b2", T0 + 60000, "bob", "b1", "hello");
    assert_int_equal(f->shown[f->nshown - 1].kind, PARLEY_MSG_EDIT);
    assert_string_equal(f->shown[f->nshown - 1].text, "hello");
    hist h = history(f, BOB);
    assert_int_equal(h.n, 2);
    assert_string_equal(h.text[at(&h, 1)], "hello");
    assert_int_equal(h.edited_at[at(&h, 1)], T0 + 60000);

    edit(f, BOB, 4, "bob", "b3", T0 + 2, "alice", "a1", "not yours"); /* not own */
    edit(f, BOB, 5, "bob", "b4", T0 + 900001, "bob", "b1", "too late"); /* past the window */
    edit(f, BOB, 6, "bob", "b5", T0 + 3, "bob", "b9", "unknown");
    edit(f, BOB, 7, "bob", "b6", T0 + 4, "bob", "b1", ""); /* empty */
    assert_int_equal(f->nrefused, 4);
    assert_non_null(strstr(f->refused[0], "not the sender"));
    assert_non_null(strstr(f->refused[1], "15 minutes"));
    h = history(f, BOB);
    assert_string_equal(h.text[at(&h, 1)], "hello");
    assert_string_equal(h.text[at(&h, 2)], "mine");
    assert_int_equal(h.edited_at[at(&h, 2)], 0);

    /* exactly at the window's end is still in time */
    edit(f, BOB, 8, "bob", "b7", T0 + 900000, "bob", "b1", "hello!");
    h = history(f, BOB);
    assert_string_equal(h.text[at(&h, 1)], "hello!");
    assert_int_equal(f->nrefused, 4);
    /* an edit's text is searchable, the old one not */
    parley_history_query q = {.text = "hello!"};
    hist s;
    memset(&s, 0, sizeof s);
    assert_int_equal(parley_history_find(f->c, BOB, &q, take_hist, &s), PARLEY_OK);
    assert_int_equal(s.n, 1);
    q.text = "helo";
    memset(&s, 0, sizeof s);
    assert_int_equal(parley_history_find(f->c, BOB, &q, take_hist, &s), PARLEY_OK);
    assert_int_equal(s.n, 0);
}

/* Delete for everyone: the sender, or a group admin, within 48 hours. The
 * row becomes a tombstone (who deleted it), reactions and edits' text go. */
static void deletes(void **state)
{
    fixture *f = *state;
    text_from(f, GROUP, 1, "carol", "c1", T0, "secret");
    text_from(f, GROUP, 2, "carol", "c2", T0 + 1, "other");
    react(f, GROUP, 3, "bob", "b1", T0 + 2, "carol", "c1", "👍");
    edit(f, GROUP, 4, "carol", "c3", T0 + 3, "carol", "c1", "secret 2");

    del(f, GROUP, 5, "alice", "a1", T0 + 4, "carol", "c1"); /* alice: a member, not the sender */
    assert_int_equal(f->nrefused, 1);
    assert_non_null(strstr(f->refused[0], "not a group admin"));
    hist h = history(f, GROUP);
    assert_string_equal(h.text[at(&h, 1)], "secret 2");

    del(f, GROUP, 6, "bob", "b2", T0 + 5, "carol", "c1"); /* bob is the owner */
    assert_int_equal(f->shown[f->nshown - 1].kind, PARLEY_MSG_DELETE);
    assert_string_equal(f->shown[f->nshown - 1].target_cmid, "c1");
    h = history(f, GROUP);
    assert_int_equal(h.n, 2);
    int i = at(&h, 1);
    assert_int_equal(h.kind[i], PARLEY_MSG_DELETED);
    assert_string_equal(h.text[i], "");
    assert_string_equal(h.deleted_by[i], "bob");
    assert_string_equal(h.reactions[i], "");
    assert_int_equal(h.edited_at[i], 0);
    /* the edit's row lost its text too (secure_delete overwrites it) */
    sqlite3 *db;
    char path[300];
    snprintf(path, sizeof path, "%s/alice/parley.db", f->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT count(*) FROM messages WHERE CAST(body AS TEXT)"
                                        " LIKE '%secret%'",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 0);
    sqlite3_finalize(st);
    sqlite3_close(db);

    /* deleted: no reaction, no edit; a second delete changes nothing */
    int before = f->nrefused;
    react(f, GROUP, 7, "bob", "b3", T0 + 6, "carol", "c1", "👍");
    edit(f, GROUP, 8, "carol", "c4", T0 + 7, "carol", "c1", "back");
    assert_int_equal(f->nrefused, before + 2);
    del(f, GROUP, 9, "carol", "c5", T0 + 8, "carol", "c1");
    assert_int_equal(f->nrefused, before + 2);

    /* the sender, too late */
    del(f, GROUP, 10, "carol", "c6", T0 + 1 + 172800001, "carol", "c2");
    assert_int_equal(f->nrefused, before + 3);
    assert_non_null(strstr(f->refused[before + 2], "48 hours"));
    h = history(f, GROUP);
    assert_string_equal(h.text[at(&h, 2)], "other");

    /* direct chat: only the sender */
    text_from(f, BOB, 1, "alice", "a9", T0, "from my phone");
    del(f, BOB, 2, "bob", "b9", T0 + 1, "alice", "a9");
    assert_non_null(strstr(f->refused[f->nrefused - 1], "not the sender"));
    h = history(f, BOB);
    assert_string_equal(h.text[at(&h, 1)], "from my phone");
}

/* An admin's role can come from a ROLE_CHANGED event. */
static void role_changed_event(void **state)
{
    fixture *f = *state;
    text_from(f, GROUP, 1, "bob", "b1", T0, "hi");
    del(f, GROUP, 2, "carol", "c1", T0 + 1, "bob", "b1");
    assert_int_equal(f->nrefused, 1);
    assert_int_equal(members__role(f->c, GROUP, "carol"), PARLEY__V1__ROLE__MEMBER);

    Parley__V1__SystemEvent ev = PARLEY__V1__SYSTEM_EVENT__INIT;
    char *users[] = {"carol"};
    ev.type = PARLEY__V1__SYSTEM_EVENT__TYPE__ROLE_CHANGED;
    ev.actor = "bob";
    ev.users = users;
    ev.n_users = 1;
    ev.role = PARLEY__V1__ROLE__ADMIN;
    assert_int_equal(lstore_begin(f->c->store), 0);
    assert_int_equal(members__on_event(f->c, GROUP, 3, &ev), PARLEY_OK);
    assert_int_equal(lstore_commit(f->c->store), 0);
    assert_int_equal(members__role(f->c, GROUP, "carol"), PARLEY__V1__ROLE__ADMIN);

    text_from(f, GROUP, 4, "bob", "b2", T0 + 3, "again");
    del(f, GROUP, 5, "carol", "c2", T0 + 4, "bob", "b2");
    assert_int_equal(f->nrefused, 1);
    hist h = history(f, GROUP);
    assert_int_equal(h.kind[at(&h, 4)], PARLEY_MSG_DELETED);
    assert_string_equal(h.deleted_by[at(&h, 4)], "carol");
}

/* A member list kept by a library from before roles: read as members,
 * and reported unknown so that the connect-time sync asks for it again. */
static void member_list_without_roles(void **state)
{
    fixture *f = *state;
    const char *old = "7\nalice\nbob\ncarol\n";
    assert_int_equal(lstore_blob_set(f->c->store, "members", GROUP, old, strlen(old)), 0);
    assert_int_equal(members__known(f->c, GROUP), 0);
    assert_int_equal(members__role(f->c, GROUP, "bob"), PARLEY__V1__ROLE__MEMBER);
    assert_int_equal(members__role(f->c, GROUP, "mallory"), 0);
    char **others = NULL;
    size_t n = 0;
    assert_int_equal(members__others(f->c, GROUP, &others, &n), PARLEY_OK); /* sends still work */
    assert_int_equal(n, 2);
    members__free(others, n);
    group_info(f->c, 7); /* the refresh (as of the same seq): roles known */
    assert_int_equal(members__known(f->c, GROUP), 1);
    assert_int_equal(members__role(f->c, GROUP, "bob"), PARLEY__V1__ROLE__OWNER);
}

/* Timers: any member of a direct chat, only admins of a group; the timer
 * row is listed; the highest seq wins. */
static void timers(void **state)
{
    fixture *f = *state;
    uint32_t t = 99;
    timer_from(f, BOB, 1, "bob", "b1", T0, 604800);
    assert_int_equal(parley_chat_timer(f->c, BOB, &t), PARLEY_OK);
    assert_int_equal(t, 604800);
    assert_int_equal(f->shown[0].kind, PARLEY_MSG_TIMER);
    assert_int_equal(f->shown[0].timer_s, 604800);
    assert_int_equal(f->shown[0].expires_at, 0); /* the announcement never expires */
    hist h = history(f, BOB);
    assert_int_equal(h.n, 1);
    assert_int_equal(h.kind[0], PARLEY_MSG_TIMER);
    assert_int_equal(h.timer_s[0], 604800);

    timer_from(f, GROUP, 1, "carol", "c1", T0, 60); /* a member */
    timer_from(f, GROUP, 2, "bob", "b2", T0, 7776001); /* too long */
    assert_int_equal(f->nrefused, 2);
    assert_int_equal(parley_chat_timer(f->c, GROUP, &t), PARLEY_OK);
    assert_int_equal(t, 0);
    timer_from(f, GROUP, 3, "bob", "b3", T0, 86400);
    assert_int_equal(parley_chat_timer(f->c, GROUP, &t), PARLEY_OK);
    assert_int_equal(t, 86400);
    h = history(f, GROUP);
    assert_int_equal(h.n, 1); /* refused timer changes are not listed */
    timer_from(f, GROUP, 4, "bob", "b4", T0, 0);
    assert_int_equal(parley_chat_timer(f->c, GROUP, &t), PARLEY_OK);
    assert_int_equal(t, 0);
}

/* A Content with nothing this library knows (a newer client's kind, here
 * field 14, which e2e.proto does not define) is stored and delivered as
 * UNSUPPORTED, never dropped. */
static void unsupported_content(void **state)
{
    fixture *f = *state;
    Parley__E2e__V1__Content ct = PARLEY__E2E__V1__CONTENT__INIT;
    /* field 14, wire type 2 (bytes): tag (14 << 3) | 2 = 0x72, length 4 */
    static const uint8_t unknown[] = {0x72, 0x04, 'p', 'o', 'l', 'l'};
    envelope e;
    make_env_x(&e, BOB, 1, "bob", "b1", T0, &ct, unknown, sizeof unknown);
    /* protobuf-c keeps the unknown field: the receiver sees it, knows nothing else */
    Parley__E2e__V1__Content *back = parley__e2e__v1__content__unpack(NULL, e.env.body.len - 2,
                                                                      e.env.body.data + 2);
    assert_non_null(back);
    assert_int_equal(back->base.n_unknown_fields, 1);
    parley__e2e__v1__content__free_unpacked(back, NULL);

    deliver(f, &e);
    assert_int_equal(f->nshown, 1);
    assert_int_equal(f->shown[0].kind, PARLEY_MSG_UNSUPPORTED);
    hist h = history(f, BOB);
    assert_int_equal(h.n, 1);
    assert_int_equal(h.kind[0], PARLEY_MSG_UNSUPPORTED);
    assert_int_equal(f->nrefused, 0);
}

/* A TOMBSTONE from a sync page: a held row becomes DELETED, an unknown one
 * is recorded as DELETED (never undecryptable); the cursor moves. */
static void tombstone_from_sync(void **state)
{
    fixture *f = *state;
    text_from(f, BOB, 1, "bob", "b1", T0, "oops");
    react(f, BOB, 2, "alice", "a1", T0 + 1, "bob", "b1", "👀");
    Parley__V1__Envelope t1 = PARLEY__V1__ENVELOPE__INIT;
    t1.server_id = "sid-b1-1";
    t1.chat_id = BOB;
    t1.seq = 1;
    t1.sender = "bob";
    t1.client_msg_id = "b1";
    t1.server_ts = T0;
    t1.kind = PARLEY__V1__ENVELOPE_KIND__TOMBSTONE;
    t1.deleted_by = "bob";
    t1.deleted_at = T0 + 5;
    assert_int_equal(deliver__envelope(f->c, &t1, 1), 0);
    Parley__V1__Envelope t3 = t1;
    t3.server_id = "sid-b5-3";
    t3.seq = 3;
    t3.client_msg_id = "b5";
    t3.server_ts = T0 + 2;
    assert_int_equal(deliver__envelope(f->c, &t3, 1), 0);
    int shown = f->nshown;
    assert_int_equal(deliver__envelope(f->c, &t3, 1), 0); /* a second copy: nothing new */
    assert_int_equal(f->nshown, shown);
    hist h = history(f, BOB);
    assert_int_equal(h.n, 2);
    assert_int_equal(h.kind[at(&h, 1)], PARLEY_MSG_DELETED);
    assert_string_equal(h.reactions[at(&h, 1)], "");
    assert_int_equal(h.kind[at(&h, 3)], PARLEY_MSG_DELETED);
    assert_string_equal(h.deleted_by[at(&h, 3)], "bob");
    lstore_chat ch;
    assert_int_equal(lstore_chat_get(f->c->store, BOB, &ch), 1);
    assert_int_equal(ch.synced_seq, 3);

    /* a tombstone of a message waiting for its sender key (group): DELETED,
     * no longer pending */
    lstore_msg pend = {.chat_id = GROUP,
                       .seq = 1,
                       .server_id = "sid-p",
                       .sender = "carol",
                       .client_msg_id = "p1",
                       .server_ts = T0,
                       .status = LSTORE_MSG_PENDING_KEY,
                       .body = (const uint8_t *)"cipher",
                       .body_len = 6};
    assert_int_equal(lstore_msg_insert(f->c->store, &pend), 1);
    Parley__V1__Envelope tg = t1;
    tg.chat_id = GROUP;
    tg.server_id = "sid-p";
    tg.sender = "carol";
    tg.client_msg_id = "p1";
    tg.deleted_by = "bob";
    assert_int_equal(deliver__envelope(f->c, &tg, 1), 0);
    h = history(f, GROUP);
    assert_int_equal(h.n, 1);
    assert_int_equal(h.kind[0], PARLEY_MSG_DELETED);
    assert_string_equal(h.deleted_by[0], "bob");
}

/* Disappearing: expires_at = server_ts + expire_s; expired rows are wiped
 * (purge) and never listed; one that arrives expired is not shown. */
static void expiry(void **state)
{
    fixture *f = *state;
    int64_t now = clock_now_ms();
    Parley__E2e__V1__Content ct = PARLEY__E2E__V1__CONTENT__INIT;
    ct.text = "vanishing";
    ct.expire_s = 60;
    envelope e;
    make_env(&e, BOB, 1, "bob", "b1", now, &ct);
    deliver(f, &e);
    react(f, BOB, 2, "alice", "a1", now, "bob", "b1", "👍");
    text_from(f, BOB, 3, "bob", "b2", now, "stays");
    assert_int_equal(f->shown[0].expires_at, now + 60000);
    hist h = history(f, BOB);
    assert_int_equal(h.n, 2);
    assert_int_equal(h.expires_at[at(&h, 1)], now + 60000);

    assert_int_equal(rich__purge(f->c, now + 59999), 0);
    assert_int_equal(rich__purge(f->c, now + 60000), 1);
    h = history(f, BOB);
    assert_int_equal(h.n, 1);
    assert_int_equal(h.seq[0], 3);
    assert_false(listed(&h, 1));
    /* the row stays (de-duplication) without its text */
    assert_int_equal(lstore_msg_exists(f->c->store, "bob", "b1"), 1);
    sqlite3 *db;
    char path[300];
    snprintf(path, sizeof path, "%s/alice/parley.db", f->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT (SELECT count(*) FROM messages WHERE"
                                        " CAST(body AS TEXT) = 'vanishing'),"
                                        " (SELECT count(*) FROM reactions)",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 0);
    assert_int_equal(sqlite3_column_int(st, 1), 0);
    sqlite3_finalize(st);
    sqlite3_close(db);

    /* the history hides an expired row even before the purge ran */
    ct.expire_s = 1;
    make_env(&e, BOB, 4, "bob", "b3", now - 900, &ct);
    deliver(f, &e);
    assert_int_equal(history(f, BOB).n, 2);
    /* already expired when it arrives: stored hidden, not shown */
    int shown = f->nshown;
    make_env(&e, BOB, 5, "bob", "b4", now - 5000, &ct);
    deliver(f, &e);
    assert_int_equal(f->nshown, shown);
    assert_int_equal(lstore_msg_exists(f->c->store, "bob", "b4"), 1);
}

/* ---- sending --------------------------------------------------------------- */

/* The Content a captured publish on an inbox topic carries (the toy
 * "encryption" is the identity), with its Envelope's ttl_s. */
static Parley__E2e__V1__Content *sent_content(int i, uint32_t *ttl)
{
    Parley__V1__Envelope *env = parley__v1__envelope__unpack(NULL, g_pub[i].len, g_pub[i].payload);
    assert_non_null(env);
    *ttl = env->ttl_s;
    Parley__E2e__V1__Content *ct = parley__e2e__v1__content__unpack(NULL, env->body.len,
                                                                    env->body.data);
    parley__v1__envelope__free_unpacked(env, NULL);
    assert_non_null(ct);
    return ct;
}

static void own_row(fixture *f, const char *chat, uint64_t seq, const char *cmid, int64_t ts,
                    const char *text)
{
    lstore_msg m = {.chat_id = chat,
                    .seq = seq,
                    .server_id = cmid,
                    .sender = "alice",
                    .client_msg_id = cmid,
                    .server_ts = ts,
                    .status = LSTORE_MSG_OWN,
                    .body = (const uint8_t *)text,
                    .body_len = strlen(text)};
    assert_int_equal(lstore_msg_insert(f->c->store, &m), 1);
    assert_int_equal(lstore_chat_set_synced(f->c->store, chat, seq, ts), 0);
}

/* The SDK refuses what receivers would refuse, with the documented codes. */
static void sdk_checks(void **state)
{
    fixture *f = *state;
    int64_t now = clock_now_ms();
    char cmid[65];
    text_from(f, GROUP, 1, "bob", "b1", now, "bob's");
    own_row(f, GROUP, 2, "a-old", now - 900001, "old");
    own_row(f, GROUP, 3, "a-new", now - 1000, "new");
    parley_msgref bobs = {"bob", "b1"}, old = {"alice", "a-old"}, fresh = {"alice", "a-new"},
                  unknown = {"alice", "zzz"}, bad = {"a b", "x"};

    assert_int_equal(parley_send_edit(f->c, GROUP, &bobs, "x", cmid), PARLEY_EINVAL);
    assert_int_equal(parley_send_edit(f->c, GROUP, &old, "x", cmid), PARLEY_EREFUSED);
    assert_int_equal(parley_send_edit(f->c, GROUP, &unknown, "x", cmid), PARLEY_EINVAL);
    assert_int_equal(parley_send_edit(f->c, GROUP, &fresh, "", cmid), PARLEY_EINVAL);
    assert_int_equal(parley_send_reaction(f->c, GROUP, &bobs, "\x01", cmid), PARLEY_EINVAL);
    assert_int_equal(parley_send_reaction(f->c, GROUP, &bad, "👍", cmid), PARLEY_EINVAL);
    assert_int_equal(parley_send_reaction(f->c, GROUP, &unknown, "👍", cmid), PARLEY_EINVAL);
    assert_int_equal(parley_delete_for_everyone(f->c, GROUP, &bobs, cmid), PARLEY_EREFUSED);
    assert_int_equal(parley_delete_for_everyone(f->c, GROUP, &unknown, cmid), PARLEY_EINVAL);
    assert_int_equal(parley_set_timer(f->c, GROUP, 60, cmid), PARLEY_EREFUSED); /* not admin */
    assert_int_equal(parley_set_timer(f->c, BOB, 7776001, cmid), PARLEY_EINVAL);
    parley_send_opts o = {.reply_to = &unknown};
    assert_int_equal(parley_send_text_opts(f->c, GROUP, "re", &o, cmid), PARLEY_EINVAL);
    const char *many[65];
    for (int i = 0; i < 65; i++)
        many[i] = "bob";
    parley_send_opts o2 = {.mentions = many, .n_mentions = 65};
    assert_int_equal(parley_send_text_opts(f->c, GROUP, "hi", &o2, cmid), PARLEY_EINVAL);
    const char *badm[] = {"bob", "no such!"};
    parley_send_opts o3 = {.mentions = badm, .n_mentions = 2};
    assert_int_equal(parley_send_text_opts(f->c, GROUP, "hi", &o3, cmid), PARLEY_EINVAL);
    assert_int_equal(parley_outbox_count(f->c), 0); /* nothing was queued */
    hist h = history(f, GROUP);
    assert_string_equal(h.text[at(&h, 1)], "bob's");
    assert_string_equal(h.text[at(&h, 2)], "old");
}

/* What this device sends: applied at once, then again under the stored
 * seq; every message to a chat with a timer carries expire_s and ttl_s. */
static void send_side(void **state)
{
    fixture *f = *state;
    int64_t now = clock_now_ms();
    char cmid[65], tcmid[65], rcmid[65], ecmid[65];
    f->c->link.state = LINK_READY;
    text_from(f, BOB, 1, "bob", "b1", now, "hi alice");
    own_row(f, BOB, 2, "a1", now, "hi bob");

    /* a reply with mentions */
    parley_msgref b1 = {"bob", "b1"}, a1 = {"alice", "a1"};
    const char *m[] = {"bob", "bob"};
    parley_send_opts o = {.reply_to = &b1, .mentions = m, .n_mentions = 2};
    assert_int_equal(parley_send_text_opts(f->c, "bob", "@bob sure", &o, cmid), PARLEY_OK);
    assert_int_equal(g_npub, 1);
    uint32_t ttl = 99;
    Parley__E2e__V1__Content *ct = sent_content(0, &ttl);
    assert_int_equal(ttl, 0);
    assert_int_equal(ct->expire_s, 0);
    assert_non_null(ct->reply_to);
    assert_string_equal(ct->reply_to->client_msg_id, "b1");
    assert_int_equal(ct->n_mentions, 1); /* deduplicated */
    parley__e2e__v1__content__free_unpacked(ct, NULL);

    /* the timer: applied at once; the announcement has no ttl */
    assert_int_equal(parley_set_timer(f->c, "bob", 3600, tcmid), PARLEY_OK);
    uint32_t t = 0;
    assert_int_equal(parley_chat_timer(f->c, BOB, &t), PARLEY_OK);
    assert_int_equal(t, 3600);
    ct = sent_content(g_npub - 1, &ttl); /* (the queue is published again before it) */
    assert_int_equal(ttl, 0);
    assert_non_null(ct->timer);
    assert_int_equal(ct->timer->ttl_s, 3600);
    parley__e2e__v1__content__free_unpacked(ct, NULL);

    /* from now on every message disappears: a reaction, applied at once */
    assert_int_equal(parley_send_reaction(f->c, "bob", &b1, "👍", rcmid), PARLEY_OK);
    ct = sent_content(g_npub - 1, &ttl);
    assert_int_equal(ttl, 3600);
    assert_int_equal(ct->expire_s, 3600);
    parley__e2e__v1__content__free_unpacked(ct, NULL);
    hist h = history(f, BOB);
    assert_string_equal(h.reactions[at(&h, 1)], "alice=👍,");

    /* an edit of our own message, applied at once */
    assert_int_equal(parley_send_edit(f->c, "bob", &a1, "hi bob!", ecmid), PARLEY_OK);
    h = history(f, BOB);
    assert_string_equal(h.text[at(&h, 2)], "hi bob!");
    assert_true(h.edited_at[at(&h, 2)] > 0);

    /* the broker stores them: rows with their kinds, under their seqs */
    assert_int_equal(lstore_begin(f->c->store), 0);
    assert_int_equal(outbox__done(f->c, cmid, BOB, 3, "s3", now + 3, 1), 0);
    assert_int_equal(outbox__done(f->c, tcmid, BOB, 4, "s4", now + 4, 1), 0);
    assert_int_equal(outbox__done(f->c, rcmid, BOB, 5, "s5", now + 5, 1), 0);
    assert_int_equal(outbox__done(f->c, ecmid, BOB, 6, "s6", now + 6, 1), 0);
    assert_int_equal(lstore_commit(f->c->store), 0);
    assert_int_equal(parley_outbox_count(f->c), 0);
    h = history(f, BOB);
    assert_int_equal(h.n, 4); /* b1, a1, the reply, the timer */
    assert_string_equal(h.reply[at(&h, 3)], "bob/b1");
    assert_int_equal(h.kind[at(&h, 4)], PARLEY_MSG_TIMER);
    assert_int_equal(h.timer_s[at(&h, 4)], 3600);
    assert_string_equal(h.reactions[at(&h, 1)], "alice=👍,");
    assert_int_equal(h.edited_at[at(&h, 2)], now + 6); /* the server's time now */
    /* a reaction of ours from another device with a lower seq does not win */
    assert_int_equal(lstore_begin(f->c->store), 0);
    assert_int_equal(lstore_reaction_set(f->c->store, BOB, "bob", "b1", "alice", "😡", 4), 0);
    assert_int_equal(lstore_commit(f->c->store), 0);
    h = history(f, BOB);
    assert_string_equal(h.reactions[at(&h, 1)], "alice=👍,");
    /* the reaction sent under the timer disappears with it */
    assert_int_equal(lstore_msg_exists(f->c->store, "alice", rcmid), 1);
    assert_true(rich__purge(f->c, now + 3600 * 1000 + 10) >= 1);
}

/* delete_message requests: queued (the target and its edits), sent once
 * connected, 403 final and counted, 5xx retried. */
static int count_deletes(uint64_t *seqs, int max)
{
    int n = 0;
    for (int i = 0; i < g_npub; i++) {
        size_t tl = strlen(g_pub[i].topic);
        if (tl < 4 || strcmp(g_pub[i].topic + tl - 4, "/ctl") != 0)
            continue;
        Parley__V1__Request *r = parley__v1__request__unpack(NULL, g_pub[i].len, g_pub[i].payload);
        assert_non_null(r);
        if (r->op_case == PARLEY__V1__REQUEST__OP_DELETE_MESSAGE) {
            assert_string_equal(r->delete_message->chat_id, BOB);
            if (n < max)
                seqs[n] = r->delete_message->seq;
            n++;
        }
        parley__v1__request__free_unpacked(r, NULL);
    }
    return n;
}

static void answer_deletes(fixture *f, unsigned status)
{
    for (int i = 0; i < CLIENT_REQ_MAX; i++) {
        client_req *q = &f->c->rpc.reqs[i];
        if (q->kind != REQ_DELETE)
            continue;
        Parley__V1__Response r = PARLEY__V1__RESPONSE__INIT;
        r.req_id = q->req_id;
        r.status = status;
        r.error = status ? "forbidden" : "";
        size_t n = parley__v1__response__get_packed_size(&r);
        uint8_t buf[256];
        assert_true(n <= sizeof buf);
        parley__v1__response__pack(&r, buf);
        assert_int_equal(dispatch__message(f->c, "parley/u/alice/rsp", buf, n), 0);
    }
}

static void delete_requests(void **state)
{
    fixture *f = *state;
    int64_t now = clock_now_ms();
    char cmid[65];
    own_row(f, BOB, 1, "a1", now - 1000, "typo");
    /* an edit of ours already stored */
    lstore_msg ed = {.chat_id = BOB,
                     .seq = 2,
                     .server_id = "s2",
                     .sender = "alice",
                     .client_msg_id = "a2",
                     .server_ts = now - 500,
                     .status = LSTORE_MSG_OWN,
                     .body = (const uint8_t *)"typo fixed",
                     .body_len = 10,
                     .kind = PARLEY_MSG_EDIT,
                     .ref_sender = "alice",
                     .ref_cmid = "a1"};
    assert_int_equal(lstore_msg_insert(f->c->store, &ed), 1);
    parley_msgref a1 = {"alice", "a1"};

    /* a second edit, still in the outbox */
    char qe[65];
    assert_int_equal(parley_send_edit(f->c, "bob", &a1, "typo fixed twice", qe), PARLEY_OK);

    /* offline: queued (the message, both edits), the delete applied here at once */
    assert_int_equal(parley_delete_for_everyone(f->c, "bob", &a1, cmid), PARLEY_OK);
    assert_int_equal(lstore_blob_count(f->c->store, "delreq"), 3);
    hist h = history(f, BOB);
    assert_int_equal(h.kind[at(&h, 1)], PARLEY_MSG_DELETED);
    assert_string_equal(h.deleted_by[at(&h, 1)], "alice");
    assert_int_equal(parley_delete_for_everyone(f->c, "bob", &a1, cmid), PARLEY_EINVAL);

    /* connected: both stored ones go out, once; the queued edit waits */
    f->c->link.state = LINK_READY;
    pub_reset();
    assert_int_equal(delreq__flush(f->c), 2);
    assert_int_equal(delreq__flush(f->c), 0); /* in flight */
    uint64_t seqs[4];
    assert_int_equal(count_deletes(seqs, 4), 2);
    assert_true((seqs[0] == 1 && seqs[1] == 2) || (seqs[0] == 2 && seqs[1] == 1));

    /* 503: kept, retried later */
    answer_deletes(f, 503);
    assert_int_equal(lstore_blob_count(f->c->store, "delreq"), 3);
    assert_int_equal(delreq__flush(f->c), 0); /* not before the retry period */
    f->c->delreq.next_ms = 0;
    pub_reset();
    assert_int_equal(delreq__flush(f->c), 2);
    /* 0 and 403: final */
    answer_deletes(f, 403);
    assert_int_equal(lstore_blob_count(f->c->store, "delreq"), 1);
    int64_t refused = 0;
    assert_int_equal(lstore_meta_get_int(f->c->store, "delete_refused", &refused), 1);
    assert_int_equal(refused, 2);
    /* the queued edit is stored (it changes nothing here: the target is
     * deleted), then its copy is asked for */
    assert_int_equal(lstore_begin(f->c->store), 0);
    assert_int_equal(outbox__done(f->c, qe, BOB, 3, "s3", now, 1), 0);
    assert_int_equal(outbox__done(f->c, cmid, BOB, 4, "s4", now, 1), 0);
    assert_int_equal(lstore_commit(f->c->store), 0);
    h = history(f, BOB);
    assert_int_equal(h.kind[at(&h, 1)], PARLEY_MSG_DELETED);
    assert_string_equal(h.text[at(&h, 1)], "");
    pub_reset();
    assert_int_equal(delreq__flush(f->c), 1);
    assert_int_equal(count_deletes(seqs, 4), 1);
    assert_int_equal(seqs[0], 3);
    answer_deletes(f, 0);
    assert_int_equal(lstore_blob_count(f->c->store, "delreq"), 0);

    /* a target still in the outbox waits for its seq */
    char queued[65];
    f->c->link.state = LINK_IDLE;
    assert_int_equal(parley_send_text(f->c, "bob", "soon gone", queued), PARLEY_OK);
    assert_int_equal(lstore_begin(f->c->store), 0);
    assert_int_equal(delreq__queue(f->c, BOB, "alice", queued), PARLEY_OK);
    assert_int_equal(lstore_commit(f->c->store), 0);
    f->c->link.state = LINK_READY;
    pub_reset();
    assert_int_equal(delreq__flush(f->c), 0);
    assert_int_equal(lstore_blob_count(f->c->store, "delreq"), 1);
    assert_int_equal(lstore_begin(f->c->store), 0);
    assert_int_equal(outbox__done(f->c, queued, BOB, 7, "s7", now, 1), 0);
    assert_int_equal(lstore_commit(f->c->store), 0);
    assert_int_equal(delreq__flush(f->c), 1);
    assert_int_equal(count_deletes(seqs, 4), 1);
    assert_int_equal(seqs[0], 7);
    answer_deletes(f, 0);
    assert_int_equal(lstore_blob_count(f->c->store, "delreq"), 0);
    /* an unknown message: forgotten */
    assert_int_equal(delreq__queue(f->c, BOB, "bob", "never"), PARLEY_OK);
    assert_int_equal(delreq__flush(f->c), 0);
    assert_int_equal(lstore_blob_count(f->c->store, "delreq"), 0);
}

/* ---- migration ------------------------------------------------------------- */

typedef struct {
    int n;
    int kind;
    char text[64];
} old_row;

static int take_old(void *ud, const lstore_msg *m)
{
    old_row *r = ud;
    r->n++;
    r->kind = m->kind;
    snprintf(r->text, sizeof r->text, "%.*s", (int)m->body_len, (const char *)m->body);
    return 0;
}

/* A local store written before rich messages (no user_version, no rich
 * columns) opens: migrated once, its rows kept, rich messages work. */
static void old_store_migrates(void **state)
{
    (void)state;
    char dir[] = "/tmp/parley-rich-old.XXXXXX", path[200], err[256];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/parley.db", dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    /* the schema as lstore.c wrote it before this change */
    assert_int_equal(
        sqlite3_exec(db,
                     "CREATE TABLE meta(k TEXT PRIMARY KEY, v BLOB);"
                     "CREATE TABLE chats(chat_id TEXT PRIMARY KEY, type INTEGER NOT NULL,"
                     "  name TEXT NOT NULL DEFAULT '', last_seq INTEGER NOT NULL DEFAULT 0,"
                     "  synced_seq INTEGER NOT NULL DEFAULT 0, delivered_seq INTEGER NOT NULL"
                     "  DEFAULT 0, read_seq INTEGER NOT NULL DEFAULT 0, sent_delivered INTEGER"
                     "  NOT NULL DEFAULT 0, sent_read INTEGER NOT NULL DEFAULT 0,"
                     "  last_message_at INTEGER NOT NULL DEFAULT 0);"
                     "CREATE TABLE messages(chat_id TEXT NOT NULL, seq INTEGER NOT NULL,"
                     "  server_id TEXT NOT NULL, sender TEXT NOT NULL, client_msg_id TEXT NOT"
                     "  NULL, server_ts INTEGER NOT NULL, status INTEGER NOT NULL, body BLOB,"
                     "  media_id TEXT, media BLOB);"
                     "INSERT INTO chats(chat_id, type, name, synced_seq) VALUES"
                     "  ('d:alice:bob', 1, 'bob', 1);"
                     "INSERT INTO messages VALUES('d:alice:bob', 1, 's1', 'bob', 'b1', 1, 0,"
                     "  'from the old days', NULL, NULL);",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);

    lstore *s = lstore_open(path, err, sizeof err);
    assert_non_null(s);
    old_row r = {0};
    assert_int_equal(lstore_msg_each(s, BOB, take_old, &r), 0);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.kind, PARLEY_MSG_NORMAL);
    assert_string_equal(r.text, "from the old days");
    lstore_close(s);
    /* again: nothing left to migrate; the version is recorded */
    s = lstore_open(path, err, sizeof err);
    assert_non_null(s);
    assert_int_equal(lstore_reaction_set(s, BOB, "bob", "b1", "alice", "👍", 2), 1);
    assert_int_equal(lstore_chat_timer_set(s, BOB, 60, 3), 1);
    uint32_t t = 0;
    assert_int_equal(lstore_chat_timer_get(s, BOB, &t), 1);
    assert_int_equal(t, 60);
    assert_int_equal(lstore_msg_tombstone(s, BOB, "bob", "b1", "bob", 5), 1);
    lstore_close(s);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 1);
    sqlite3_finalize(st);
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT kind, deleted_by, body FROM messages", -1, &st, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), PARLEY_MSG_DELETED);
    assert_string_equal((const char *)sqlite3_column_text(st, 1), "bob");
    assert_int_equal(sqlite3_column_type(st, 2), SQLITE_NULL);
    sqlite3_finalize(st);
    /* a store from a newer library is refused, not damaged */
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_null(lstore_open(path, err, sizeof err));
    assert_non_null(strstr(err, "version 99"));
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(reply_and_mentions, setup, teardown),
        cmocka_unit_test_setup_teardown(reactions_replace_and_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(reaction_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(edits, setup, teardown),
        cmocka_unit_test_setup_teardown(deletes, setup, teardown),
        cmocka_unit_test_setup_teardown(role_changed_event, setup, teardown),
        cmocka_unit_test_setup_teardown(member_list_without_roles, setup, teardown),
        cmocka_unit_test_setup_teardown(timers, setup, teardown),
        cmocka_unit_test_setup_teardown(unsupported_content, setup, teardown),
        cmocka_unit_test_setup_teardown(tombstone_from_sync, setup, teardown),
        cmocka_unit_test_setup_teardown(expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(sdk_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(send_side, setup, teardown),
        cmocka_unit_test_setup_teardown(delete_requests, setup, teardown),
        cmocka_unit_test(old_store_migrates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
