/*
 * test_devices.c - unit tests of linked devices on the client: devlist.c
 * (the canonical signed text: one spelling accepted, signatures against the
 * account key) and, through real homes in one process, devices.c, the
 * Fanout send path (send.c) and its receive side (pairwise.c, deliver.c).
 *
 * The keyserver is played by the test: --wrap of the ksclient functions the
 * modules call (identity, prekey upload and bundles, device lists), backed
 * by tables here. Envelopes are taken from the sender's outbox, stamped as
 * the broker would (chat, seq, sender, sender_device) and handed to
 * deliver__envelope of each receiving home. Everything else is real:
 * X3DH, the Double Ratchet, the local stores.
 *
 * Also measures the bytes of a direct message for 1, 2 and 5 recipient
 * devices (printed; docs/protocol.md "Linked devices" quotes them).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "b64.h"
#include "e2e.pb-c.h"
#include "ids.h"
#include "ksclient.h"
#include "parley.pb-c.h"
#include "parley_int.h"

/* ---- devlist.c ---------------------------------------------------------- */

static void make_list(devlist *l, const uint8_t *keys, int n)
{
    memset(l, 0, sizeof *l);
    snprintf(l->user, sizeof l->user, "bob");
    l->version = 7;
    l->n = n;
    for (int i = 0; i < n; i++) {
        snprintf(l->d[i].id, sizeof l->d[i].id, "dev-%d_x", i);
        memcpy(l->d[i].key, keys + 32 * i, 32);
        l->d[i].added_at = 1700000000000LL + i;
        snprintf(l->d[i].name, sizeof l->d[i].name, i ? "laptop %d" : "", i);
    }
}

static int parses(const char *text)
{
    devlist l;
    return devlist_parse(text, strlen(text), &l) == 0;
}

static void devlist_roundtrip_and_canonical(void **state)
{
    (void)state;
    uint8_t pk[32], sk[64], keys[3 * 32], sig[64], other_pk[32], other_sk[64];
    devlist l, back;
    char *text = NULL, err[256];
    size_t len = 0;

    crypto_sign_keypair(pk, sk);
    crypto_sign_keypair(other_pk, other_sk);
    memcpy(keys, pk, 32);
    randombytes_buf(keys + 32, 64);
    make_list(&l, keys, 3);
    assert_int_equal(devlist_build(&l, &text, &len), 0);
    assert_int_equal(devlist_parse(text, len, &back), 0);
    assert_int_equal(back.n, 3);
    assert_int_equal(back.version, 7);
    assert_string_equal(back.d[2].name, "laptop 2");
    assert_string_equal(back.d[0].name, "");
    assert_memory_equal(back.d[1].key, keys + 32, 32);
    devlist_sign(text, len, sk, sig);
    assert_int_equal(devlist_verify(text, len, sig, pk, "bob", NULL, err, sizeof err), 0);
    /* Another account key, another user, a flipped byte: refused. */
    assert_int_equal(devlist_verify(text, len, sig, other_pk, "bob", NULL, err, sizeof err), -1);
    assert_int_equal(devlist_verify(text, len, sig, pk, "bobby", NULL, err, sizeof err), -1);
    text[len - 2] ^= 1;
    assert_int_equal(devlist_verify(text, len, sig, pk, "bob", NULL, err, sizeof err), -1);
    free(text);
    /* Signed by the account key but without the primary: refused. */
    memcpy(keys, other_pk, 32);
    make_list(&l, keys, 2);
    assert_int_equal(devlist_build(&l, &text, &len), 0);
    devlist_sign(text, len, sk, sig);
    assert_int_equal(devlist_verify(text, len, sig, pk, "bob", NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "no primary"));
    free(text);

    /* One spelling only. */
    char key[64];
    sodium_bin2base64(key, sizeof key, pk, 32, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char buf[512];
    snprintf(buf, sizeof buf, "parley-devices-v1\nbob\n1\nA1 %s 5 my phone\n", key);
    assert_true(parses(buf));
    snprintf(buf, sizeof buf, "parley-devices-v1\nbob\n01\nA1 %s 5 x\n", key);
    assert_false(parses(buf)); /* leading zero */
    snprintf(buf, sizeof buf, "parley-devices-v1\nbob\n0\nA1 %s 5 x\n", key);
    assert_false(parses(buf)); /* version 0 is the implicit list, never signed */
    snprintf(buf, sizeof buf, "parley-devices-v1\nbob\n1\nA1 %s 5 x", key);
    assert_false(parses(buf)); /* no final newline */
    snprintf(buf, sizeof buf, "parley-devices-v1\nbob\n1\nA1 %s 5\n", key);
    assert_false(parses(buf)); /* the space before the (empty) name is part of the form */
    snprintf(buf, sizeof buf, "parley-devices-v1\nbob\n1\nA1 %s +5 x\n", key);
    assert_false(parses(buf));
    snprintf(buf, sizeof buf, "parley-devices-v1\nbob\n1\nA.1 %s 5 x\n", key);
    assert_false(parses(buf)); /* device id alphabet */
    snprintf(buf, sizeof buf, "parley-devices-v1\nbob\n1\nA1 %s 5 x\nA1 %s 6 y\n", key, key);
    assert_false(parses(buf)); /* duplicate id and key */
    snprintf(buf, sizeof buf, "parley-devices-v1\nbob\n1\nA1 %s 5 %s\n", key,
             "a name of more than thirty-two chars");
    assert_false(parses(buf));
    snprintf(buf, sizeof buf, "parley-devices-v1\nbob\n1\nA1 %s 5 tab\there\n", key);
    assert_false(parses(buf));
    snprintf(buf, sizeof buf, "parley-devices-v2\nbob\n1\nA1 %s 5 x\n", key);
    assert_false(parses(buf));
    snprintf(buf, sizeof buf, "parley-devices-v1\nbob\n1\n");
    assert_false(parses(buf)); /* no device */
    /* A key spelled with stray low bits in its last character. */
    char bad[64];
    snprintf(bad, sizeof bad, "%s", key);
    bad[42] = bad[42] == 'A' ? 'B' : (char)(bad[42] ^ 1);
    uint8_t tmp[32];
    if (b64_decode(tmp, 32, bad, 43, sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 32) {
        snprintf(buf, sizeof buf, "parley-devices-v1\nbob\n1\nA1 %s 5 x\n", bad);
        char again[64];
        sodium_bin2base64(again, sizeof again, tmp, 32, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        assert_int_equal(parses(buf), strcmp(again, bad) == 0);
    }
    char fpr[DEVLIST_FPR_LEN + 1];
    devlist_fingerprint(pk, fpr);
    assert_int_equal(strlen(fpr), DEVLIST_FPR_LEN);
    assert_int_equal(fpr[4], ' ');
}

/* ---- the keyserver, played by the test ---------------------------------- */

typedef struct {
    char user[65];
    char dev[IDS_DEVICE_MAX + 1];
    uint8_t ik[32];
    ksclient_prekey spk;
    ksclient_prekey otk[KSCLIENT_MAX_OTK];
    int notk;
} ks_device;

typedef struct {
    char user[65];
    uint8_t ak[32];
    char *text; /* NULL: implicit */
    size_t len;
    uint8_t sig[64];
} ks_account;

static ks_device g_devs[32];
static int g_ndevs;
static ks_account g_accts[8];
static int g_naccts;
static parley_client *g_uploader; /* whose prekeys ksclient_put_keys receives */

static ks_account *acct(const char *user)
{
    for (int i = 0; i < g_naccts; i++)
        if (strcmp(g_accts[i].user, user) == 0)
            return &g_accts[i];
    return NULL;
}

int __wrap_ksclient_get_identity(const char *base, const char *ca, const char *user, uint8_t pk[32],
                                 char *errbuf, size_t errlen);
int __wrap_ksclient_get_identity(const char *base, const char *ca, const char *user, uint8_t pk[32],
                                 char *errbuf, size_t errlen)
{
    (void)base, (void)ca;
    ks_account *a = acct(user);
    if (!a) {
        snprintf(errbuf, errlen, "404");
        return PARLEY_ENOTFOUND;
    }
    memcpy(pk, a->ak, 32);
    return PARLEY_OK;
}

int __wrap_ksclient_put_keys(const char *base, const char *ca, const char *token,
                             const ksclient_prekey *spk, const ksclient_prekey *otks, size_t n,
                             char *errbuf, size_t errlen);
int __wrap_ksclient_put_keys(const char *base, const char *ca, const char *token,
                             const ksclient_prekey *spk, const ksclient_prekey *otks, size_t n,
                             char *errbuf, size_t errlen)
{
    (void)base, (void)ca, (void)token, (void)errbuf, (void)errlen;
    parley_client *c = g_uploader;
    ks_device *d = NULL;
    for (int i = 0; i < g_ndevs && !d; i++)
        if (sodium_memcmp(g_devs[i].ik, c->id_pk, 32) == 0)
            d = &g_devs[i];
    if (!d) {
        d = &g_devs[g_ndevs++];
        memset(d, 0, sizeof *d);
    }
    snprintf(d->user, sizeof d->user, "%s", c->user);
    snprintf(d->dev, sizeof d->dev, "%s", c->device_id);
    memcpy(d->ik, c->id_pk, 32);
    if (spk)
        d->spk = *spk;
    for (size_t i = 0; i < n; i++)
        d->otk[d->notk++] = otks[i];
    return PARLEY_OK;
}

int __wrap_ksclient_get_bundle(const char *base, const char *ca, const char *token,
                               const char *user, const char *device, ksclient_bundle *out,
                               char *errbuf, size_t errlen);
int __wrap_ksclient_get_bundle(const char *base, const char *ca, const char *token,
                               const char *user, const char *device, ksclient_bundle *out,
                               char *errbuf, size_t errlen)
{
    (void)base, (void)ca, (void)token;
    ks_account *a = acct(user);
    for (int i = 0; a && i < g_ndevs; i++) {
        ks_device *d = &g_devs[i];
        int match = strcmp(d->user, user) == 0 &&
                    (device && *device ? strcmp(d->dev, device) == 0
                                       : sodium_memcmp(d->ik, a->ak, 32) == 0);
        if (!match)
            continue;
        memset(out, 0, sizeof *out);
        memcpy(out->identity_key, d->ik, 32);
        out->signed_prekey = d->spk;
        if (d->notk > 0) {
            out->has_one_time = 1;
            out->one_time = d->otk[--d->notk];
        }
        return PARLEY_OK;
    }
    snprintf(errbuf, errlen, "404");
    return PARLEY_ENOTFOUND;
}

int __wrap_ksclient_get_devices(const char *base, const char *ca, const char *token,
                                const char *user, char **text, size_t *len, uint8_t sig[64],
                                uint64_t *version, char *errbuf, size_t errlen);
int __wrap_ksclient_get_devices(const char *base, const char *ca, const char *token,
                                const char *user, char **text, size_t *len, uint8_t sig[64],
                                uint64_t *version, char *errbuf, size_t errlen)
{
    (void)base, (void)ca, (void)token;
    ks_account *a = acct(user);
    *text = NULL;
    *len = 0;
    *version = 0;
    if (!a) {
        snprintf(errbuf, errlen, "404");
        return PARLEY_ENOTFOUND;
    }
    if (!a->text)
        return PARLEY_OK;
    devlist l;
    assert_int_equal(devlist_parse(a->text, a->len, &l), 0);
    *version = l.version;
    *text = malloc(a->len + 1);
    memcpy(*text, a->text, a->len);
    (*text)[a->len] = 0;
    *len = a->len;
    memcpy(sig, a->sig, 64);
    return PARLEY_OK;
}

/* ---- homes -------------------------------------------------------------- */

#define HOMES_MAX 12

typedef struct {
    parley_client *c;
    int messages, own, undecryptable, changed, forged, refused;
    char last_text[256];
    int last_kind; /* parley_msg_kind of the last message */
} home;

typedef struct {
    char dir[128];
    home h[HOMES_MAX];
    int n;
} fixture;

static void on_message(void *ud, const parley_message *m)
{
    home *h = ud;
    h->messages++;
    h->own += m->own;
    h->last_kind = (int)m->kind;
    snprintf(h->last_text, sizeof h->last_text, "%.*s", (int)m->text_len, m->text);
}

static void on_event(void *ud, const parley_event *e)
{
    home *h = ud;
    h->undecryptable += e->type == PARLEY_EVENT_UNDECRYPTABLE;
    h->changed += e->type == PARLEY_EVENT_DEVICES_CHANGED;
    h->forged += e->type == PARLEY_EVENT_DEVICES_FORGED;
    h->refused += e->type == PARLEY_EVENT_REFUSED;
}

/* A new home: the primary of a new account (primary == NULL) or a device
 * linked to primary's account. Its prekeys are on the keyserver. */
static home *new_home(fixture *f, const char *user, home *primary)
{
    char path[256];
    assert_true(f->n < HOMES_MAX);
    home *h = &f->h[f->n];
    snprintf(path, sizeof path, "%s/h%d", f->dir, f->n++);
    parley_config cfg = {.home = path, .keyserver_url = "http://127.0.0.1:9"};
    assert_int_equal(parley_open(&cfg, &h->c), PARLEY_OK);
    if (!primary) {
        assert_int_equal(parley_identity_create(h->c, user), PARLEY_OK);
        ks_account *a = &g_accts[g_naccts++];
        memset(a, 0, sizeof *a);
        snprintf(a->user, sizeof a->user, "%s", user);
        memcpy(a->ak, h->c->id_pk, 32);
    } else {
        assert_int_equal(identity__create(h->c, user, primary->c->account_pk), PARLEY_OK);
        assert_false(h->c->primary);
    }
    g_uploader = h->c;
    assert_int_equal(prekeys__maintain(h->c, 1), PARLEY_OK);
    parley_callbacks cb = {.on_message = on_message, .on_event = on_event, .ud = h};
    parley_set_callbacks(h->c, &cb);
    return h;
}

/* The account's list on the keyserver: these homes, signed by the primary
 * (or, forged, by another key). */
static void publish(home **hs, int n, uint64_t version, const uint8_t *forger_sk)
{
    devlist l;
    memset(&l, 0, sizeof l);
    snprintf(l.user, sizeof l.user, "%s", hs[0]->c->user);
    l.version = version;
    for (int i = 0; i < n; i++) {
        snprintf(l.d[i].id, sizeof l.d[i].id, "%s", hs[i]->c->device_id);
        memcpy(l.d[i].key, hs[i]->c->id_pk, 32);
        l.d[i].added_at = 1000 + i;
    }
    l.n = n;
    ks_account *a = acct(l.user);
    free(a->text);
    assert_int_equal(devlist_build(&l, &a->text, &a->len), 0);
    devlist_sign(a->text, a->len, forger_sk ? forger_sk : hs[0]->c->id_sk, a->sig);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/parley-devices.XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    g_ndevs = g_naccts = 0;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[200];
    for (int i = 0; i < f->n; i++)
        parley_close(f->h[i].c);
    for (int i = 0; i < g_naccts; i++)
        free(g_accts[i].text);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    int rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

typedef struct {
    uint8_t *env;
    size_t len;
    int group; /* queued for a group topic */
} packed;

static void grab(void *ud, const lstore_outbox *o)
{
    packed *p = ud;
    p->group = strncmp(o->topic, "parley/g/", 9) == 0;
    p->env = malloc(o->body_len);
    memcpy(p->env, o->body, o->body_len);
    p->len = o->body_len;
}

/* from sends text to user `to`: the envelope as the broker stamps it. */
static Parley__V1__Envelope *send_one(home *from, const char *to, const char *text, uint64_t seq,
                                      size_t *body_len)
{
    char cmid[IDS_CLIENT_MSG_MAX + 1], chat[IDS_CHAT_MAX + 1];
    static char sid[IDS_SERVER_ID_LEN + 1];
    packed p = {0};
    assert_int_equal(parley_send_text(from->c, to, text, cmid), PARLEY_OK);
    assert_int_equal(lstore_outbox_get(from->c->store, cmid, grab, &p), 1);
    Parley__V1__Envelope *e = parley__v1__envelope__unpack(NULL, p.len, p.env);
    free(p.env);
    assert_non_null(e);
    if (body_len)
        *body_len = p.len;
    assert_true(ids_direct_chat(from->c->user, to, chat, sizeof chat));
    ids_random(sid);
    e->chat_id = strdup(chat);
    e->seq = seq;
    e->sender = strdup(from->c->user);
    e->sender_device = strdup(from->c->device_id);
    e->server_id = strdup(sid);
    e->server_ts = clock_now_ms();
    e->kind = PARLEY__V1__ENVELOPE_KIND__CHAT;
    return e;
}

/* Deliver e to h as a sync page would (the server vouches for the seq). */
static void deliver_to(home *h, const Parley__V1__Envelope *e)
{
    assert_int_equal(lstore_chat_ensure(h->c->store, e->chat_id, 1, ""), 0);
    assert_int_equal(deliver__envelope(h->c, e, 1), 0);
}

static int fanout_entries(const Parley__V1__Envelope *e)
{
    Parley__E2e__V1__E2EMessage *m = parley__e2e__v1__e2_emessage__unpack(NULL, e->body.len,
                                                                          e->body.data);
    assert_non_null(m);
    int n = m->body_case == PARLEY__E2E__V1__E2_EMESSAGE__BODY_FANOUT ? (int)m->fanout->n_to : 0;
    parley__e2e__v1__e2_emessage__free_unpacked(m, NULL);
    return n;
}

/* ---- fan-out ------------------------------------------------------------ */

/* A message to a user with 1, 2 and 5 devices is decrypted on every one of
 * them; the sizes are the figures of docs/protocol.md. */
static void fanout_to_every_device_and_bytes(void **state)
{
    fixture *f = *state;
    static const char text[] = "hello, this is a 40-byte test message...";
    size_t plain_pk = 0, plain_rt = 0, pk_bytes[6] = {0}, rt_bytes[6] = {0};
    static const int counts[] = {1, 2, 5};

    home *alice = new_home(f, "alice", NULL);
    home *carol = new_home(f, "carol", NULL);
    /* Baseline: both lists implicit, one device each: a plain message. */
    Parley__V1__Envelope *e = send_one(alice, "carol", text, 1, &plain_pk);
    assert_int_equal(fanout_entries(e), 0);
    deliver_to(carol, e);
    assert_int_equal(carol->messages, 1);
    assert_string_equal(carol->last_text, text);
    parley__v1__envelope__free_unpacked(e, NULL);
    e = send_one(carol, "alice", "ok", 2, NULL);
    deliver_to(alice, e);
    parley__v1__envelope__free_unpacked(e, NULL);
    e = send_one(alice, "carol", text, 3, &plain_rt);
    deliver_to(carol, e);
    assert_int_equal(carol->messages, 2);
    parley__v1__envelope__free_unpacked(e, NULL);

    for (int k = 0; k < 3; k++) {
        int n = counts[k];
        char user[16];
        home *bob[5];
        uint64_t seq = 0;
        snprintf(user, sizeof user, "bob%d", n);
        bob[0] = new_home(f, user, NULL);
        for (int i = 1; i < n; i++)
            bob[i] = new_home(f, user, bob[0]);
        publish(bob, n, 1, NULL);
        /* The first message carries PreKey entries; after every device
         * answered, ratchet entries. */
        for (int round = 1; round <= 2; round++) {
            size_t len = 0;
            e = send_one(alice, user, text, ++seq, &len);
            assert_int_equal(fanout_entries(e), n);
            assert_int_equal(e->devices_version, 1);
            for (int i = 0; i < n; i++) {
                int before = bob[i]->messages;
                deliver_to(bob[i], e);
                assert_int_equal(bob[i]->messages, before + 1);
                assert_int_equal(bob[i]->undecryptable, 0);
                assert_string_equal(bob[i]->last_text, text);
            }
            (round == 1 ? pk_bytes : rt_bytes)[n] = len;
            parley__v1__envelope__free_unpacked(e, NULL);
            for (int i = 0; round == 1 && i < n; i++) {
                int before = alice->messages;
                e = send_one(bob[i], "alice", "ok", ++seq, NULL);
                /* alice (implicit) + bob's other devices; plain when there are none */
                assert_int_equal(fanout_entries(e), n == 1 ? 0 : n);
                deliver_to(alice, e);
                assert_int_equal(alice->messages, before + 1);
                parley__v1__envelope__free_unpacked(e, NULL);
            }
        }
    }
    print_message("bytes of a packed Envelope with a %zu-byte text: first message (PreKey) "
                  "plain %zu, 1 device %zu, 2 devices %zu, 5 devices %zu; later (ratchet) "
                  "plain %zu, 1 device %zu, 2 devices %zu, 5 devices %zu\n",
                  strlen(text), plain_pk, pk_bytes[1], pk_bytes[2], pk_bytes[5], plain_rt,
                  rt_bytes[1], rt_bytes[2], rt_bytes[5]);
    /* One more device costs one more ratchet message plus its names. */
    size_t per = (rt_bytes[5] - rt_bytes[2]) / 3;
    assert_true(per > strlen(text) && per < strlen(text) + 200);
    assert_true(rt_bytes[1] > plain_rt && rt_bytes[1] < plain_rt + 64);
}

/* alice on two devices: what device 1 sends to bob reaches device 2 as sent
 * by alice (own = 1); bob's answer reaches both. */
static void own_other_device_and_reply(void **state)
{
    fixture *f = *state;
    home *a1 = new_home(f, "alice", NULL);
    home *a2 = new_home(f, "alice", a1);
    home *bob = new_home(f, "bob", NULL);
    home *alice[] = {a1, a2};
    publish(alice, 2, 2, NULL);
    home *bobs[] = {bob};
    publish(bobs, 1, 1, NULL);

    Parley__V1__Envelope *e = send_one(a1, "bob", "from the phone", 1, NULL);
    assert_int_equal(fanout_entries(e), 2); /* bob's device and alice's other one */
    assert_int_equal(e->own_devices_version, 2);
    deliver_to(bob, e);
    deliver_to(a2, e);
    assert_int_equal(bob->messages, 1);
    assert_int_equal(a2->messages, 1);
    assert_int_equal(a2->own, 1);
    assert_string_equal(a2->last_text, "from the phone");
    parley__v1__envelope__free_unpacked(e, NULL);

    e = send_one(bob, "alice", "to both", 2, NULL);
    assert_int_equal(fanout_entries(e), 2);
    deliver_to(a1, e);
    deliver_to(a2, e);
    assert_string_equal(a1->last_text, "to both");
    assert_string_equal(a2->last_text, "to both");
    assert_int_equal(a1->own + a1->undecryptable + a2->undecryptable, 0);
    parley__v1__envelope__free_unpacked(e, NULL);
}

/* A device linked late skips what was sent before (no entry for it):
 * silently, counted; a removed device gets no entry in later messages. */
static void late_device_skips_and_removed_device_is_dropped(void **state)
{
    fixture *f = *state;
    home *alice = new_home(f, "alice", NULL);
    home *b1 = new_home(f, "bob", NULL);
    home *b2 = new_home(f, "bob", b1);
    home *one[] = {b1};
    publish(one, 1, 1, NULL);

    Parley__V1__Envelope *early = send_one(alice, "bob", "before the link", 1, NULL);
    home *both[] = {b1, b2};
    publish(both, 2, 2, NULL);
    deliver_to(b2, early);
    assert_int_equal(b2->messages, 0);
    assert_int_equal(b2->undecryptable, 0);
    assert_int_equal(parley_skipped_count(b2->c), 1);
    parley__v1__envelope__free_unpacked(early, NULL);

    /* The broker refuses alice's next message as stale_devices: the
     * re-encryption reaches the new device too (same client message id). */
    Parley__V1__Envelope *e = send_one(alice, "bob", "after the link", 2, NULL);
    assert_int_equal(fanout_entries(e), 1);
    assert_int_equal(send__refan(alice->c, e->client_msg_id), PARLEY_OK);
    packed p = {0};
    assert_int_equal(lstore_outbox_get(alice->c->store, e->client_msg_id, grab, &p), 1);
    Parley__V1__Envelope *again = parley__v1__envelope__unpack(NULL, p.len, p.env);
    free(p.env);
    assert_string_equal(again->client_msg_id, e->client_msg_id);
    assert_int_equal(again->devices_version, 2);
    assert_int_equal(fanout_entries(again), 2);
    again->chat_id = strdup(e->chat_id);
    again->seq = 2;
    again->sender = strdup("alice");
    again->sender_device = strdup(alice->c->device_id);
    again->server_id = strdup(e->server_id);
    again->kind = PARLEY__V1__ENVELOPE_KIND__CHAT;
    deliver_to(b2, again);
    assert_string_equal(b2->last_text, "after the link");
    parley__v1__envelope__free_unpacked(e, NULL);
    parley__v1__envelope__free_unpacked(again, NULL);

    /* Device 2 removed (version 3): alice's next list fetch drops it. */
    publish(one, 1, 3, NULL);
    devlist l;
    assert_int_equal(devices__refresh(alice->c, "bob", &l), PARLEY_OK);
    assert_int_equal(l.n, 1);
    assert_int_equal(f->h[0].changed, 2); /* added, then removed */
    e = send_one(alice, "bob", "after the removal", 3, NULL);
    assert_int_equal(fanout_entries(e), 1);
    int before = b2->messages;
    deliver_to(b2, e);
    assert_int_equal(b2->messages, before);
    assert_int_equal(parley_skipped_count(b2->c), 2);
    parley__v1__envelope__free_unpacked(e, NULL);
}

/* ---- groups ------------------------------------------------------------- */

#define GROUP "g:AAAAAAAAAAAAAAAAAAAAAA"

static void set_members(home *h, const char *a, const char *b)
{
    Parley__V1__GroupInfo gi = PARLEY__V1__GROUP_INFO__INIT;
    Parley__V1__GroupMember gm[2], *gmp[2];
    const char *who[] = {a, b};
    for (int i = 0; i < 2; i++) {
        gm[i] = (Parley__V1__GroupMember)PARLEY__V1__GROUP_MEMBER__INIT;
        gm[i].user_id = (char *)who[i];
        gmp[i] = &gm[i];
    }
    gi.chat_id = GROUP;
    gi.name = "team";
    gi.last_seq = 1;
    gi.members = gmp;
    gi.n_members = 2;
    assert_int_equal(members__set(h->c, &gi), PARLEY_OK);
}

typedef struct {
    packed e[8];
    int n;
} queued;

static int collect_queued(void *ud, const lstore_outbox *o)
{
    queued *q = ud;
    assert_true(q->n < 8);
    grab(&q->e[q->n++], o);
    return 0;
}

/* Everything from's outbox holds, stamped, delivered to every home of to
 * (in queue order: key distributions first), then the outbox emptied. */
static void deliver_queued(home *from, home **to, int nto, uint64_t *seq)
{
    queued q = {.n = 0};
    assert_int_equal(lstore_outbox_each(from->c->store, INT64_MAX, collect_queued, &q), 0);
    for (int i = 0; i < q.n; i++) {
        Parley__V1__Envelope *e = parley__v1__envelope__unpack(NULL, q.e[i].len, q.e[i].env);
        free(q.e[i].env);
        assert_non_null(e);
        assert_int_equal(lstore_outbox_del(from->c->store, e->client_msg_id), 0);
        /* The topic says which chat: a pairwise envelope is a direct chat. */
        char chat[IDS_CHAT_MAX + 1];
        int group = q.e[i].group;
        if (group)
            snprintf(chat, sizeof chat, "%s", GROUP);
        else
            assert_true(ids_direct_chat(from->c->user,
                                        strcmp(from->c->user, "alice") ? "alice" : "bob", chat,
                                        sizeof chat));
        e->chat_id = strdup(chat);
        e->seq = ++*seq;
        e->sender = strdup(from->c->user);
        e->sender_device = strdup(from->c->device_id);
        char sid[IDS_SERVER_ID_LEN + 1];
        ids_random(sid);
        e->server_id = strdup(sid);
        e->server_ts = clock_now_ms();
        e->kind = PARLEY__V1__ENVELOPE_KIND__CHAT;
        for (int j = 0; j < nto; j++) {
            assert_int_equal(lstore_chat_ensure(to[j]->c->store, chat, group ? 2 : 1, ""), 0);
            assert_int_equal(deliver__envelope(to[j]->c, e, 1), 0);
        }
        parley__v1__envelope__free_unpacked(e, NULL);
    }
}

/* A group whose members have several devices: the sender key reaches every
 * device of the other member and the sender's other device; a removal on
 * bob's side makes alice start a new chain that the removed device lacks. */
static void group_with_several_devices(void **state)
{
    fixture *f = *state;
    uint64_t seq = 1;
    home *a1 = new_home(f, "alice", NULL);
    home *a2 = new_home(f, "alice", a1);
    home *b1 = new_home(f, "bob", NULL);
    home *b2 = new_home(f, "bob", b1);
    home *alice[] = {a1, a2}, *bob[] = {b1, b2};
    publish(alice, 2, 2, NULL);
    publish(bob, 2, 2, NULL);
    set_members(a1, "alice", "bob");

    assert_int_equal(parley_send_text(a1->c, GROUP, "hello group", NULL), PARLEY_OK);
    home *others[] = {b1, b2, a2};
    deliver_queued(a1, others, 3, &seq);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(others[i]->messages, 1);
        assert_string_equal(others[i]->last_text, "hello group");
        assert_int_equal(others[i]->undecryptable, 0);
    }
    assert_int_equal(a2->own, 1);

    /* bob removes b2: alice's next list fetch drops it, and her chain. */
    publish(bob, 1, 3, NULL);
    devlist l;
    assert_int_equal(devices__refresh(a1->c, "bob", &l), PARLEY_OK);
    assert_int_equal(parley_send_text(a1->c, GROUP, "after the removal", NULL), PARLEY_OK);
    deliver_queued(a1, others, 3, &seq);
    assert_string_equal(b1->last_text, "after the removal");
    assert_string_equal(a2->last_text, "after the removal");
    assert_int_equal(b2->messages, 1); /* the new chain never reached it */
    assert_string_equal(b2->last_text, "hello group");
}

/* The receipts as the broker sends them, through dispatch (the one place
 * receipts are handled): REJECTED stale_devices re-encrypts the message to
 * the new list under the same client message id and keeps it queued; a READ
 * with by = ourselves (another device read) moves this device's cursor. */
static void receipts_stale_devices_and_read_by_self(void **state)
{
    fixture *f = *state;
    home *alice = new_home(f, "alice", NULL);
    home *b1 = new_home(f, "bob", NULL);
    home *b2 = new_home(f, "bob", b1);
    home *one[] = {b1};
    publish(one, 1, 1, NULL);
    Parley__V1__Envelope *e = send_one(alice, "bob", "hi", 1, NULL);
    home *both[] = {b1, b2};
    publish(both, 2, 2, NULL);

    Parley__V1__Receipt r = PARLEY__V1__RECEIPT__INIT;
    r.status = PARLEY__V1__RECEIPT_STATUS__REJECTED;
    r.chat_id = e->chat_id;
    r.client_msg_id = e->client_msg_id;
    r.error = "stale_devices";
    r.error_message = "the device list of bob changed";
    uint8_t buf[512];
    size_t n = parley__v1__receipt__pack(&r, buf);
    assert_int_equal(dispatch__message(alice->c, "parley/u/alice/receipts", buf, n), 0);
    assert_int_equal(parley_outbox_count(alice->c), 1); /* still queued, re-encrypted */
    packed p = {0};
    assert_int_equal(lstore_outbox_get(alice->c->store, e->client_msg_id, grab, &p), 1);
    Parley__V1__Envelope *again = parley__v1__envelope__unpack(NULL, p.len, p.env);
    free(p.env);
    assert_int_equal(again->devices_version, 2);
    assert_int_equal(fanout_entries(again), 2);
    parley__v1__envelope__free_unpacked(again, NULL);
    /* Any other refusal drops it. */
    r.error = "malformed";
    n = parley__v1__receipt__pack(&r, buf);
    assert_int_equal(dispatch__message(alice->c, "parley/u/alice/receipts", buf, n), 0);
    assert_int_equal(parley_outbox_count(alice->c), 0);

    /* b2 read the chat up to 5: b1 follows (never backwards). */
    lstore_chat ch;
    assert_int_equal(lstore_chat_ensure(b1->c->store, e->chat_id, 1, "alice"), 0);
    Parley__V1__Receipt rd = PARLEY__V1__RECEIPT__INIT;
    rd.status = PARLEY__V1__RECEIPT_STATUS__READ;
    rd.chat_id = e->chat_id;
    rd.seq = 5;
    rd.by = "bob";
    n = parley__v1__receipt__pack(&rd, buf);
    assert_int_equal(dispatch__message(b1->c, "parley/u/bob/receipts", buf, n), 0);
    assert_int_equal(lstore_chat_get(b1->c->store, e->chat_id, &ch), 1);
    assert_int_equal(ch.read_seq, 5);
    rd.seq = 3;
    n = parley__v1__receipt__pack(&rd, buf);
    assert_int_equal(dispatch__message(b1->c, "parley/u/bob/receipts", buf, n), 0);
    assert_int_equal(lstore_chat_get(b1->c->store, e->chat_id, &ch), 1);
    assert_int_equal(ch.read_seq, 5);
    /* alice's read is alice's, not bob's. */
    rd.seq = 9;
    rd.by = "alice";
    n = parley__v1__receipt__pack(&rd, buf);
    assert_int_equal(dispatch__message(b1->c, "parley/u/bob/receipts", buf, n), 0);
    assert_int_equal(lstore_chat_get(b1->c->store, e->chat_id, &ch), 1);
    assert_int_equal(ch.read_seq, 5);
    parley__v1__envelope__free_unpacked(e, NULL);
}

/* A list not signed by the pinned account key is ignored and reported; the
 * one in use stays. */
static void forged_list_is_ignored(void **state)
{
    fixture *f = *state;
    uint8_t fpk[32], fsk[64];
    home *alice = new_home(f, "alice", NULL);
    home *b1 = new_home(f, "bob", NULL);
    home *mallory = new_home(f, "bob", b1); /* a device key the attacker holds */
    home *one[] = {b1};
    publish(one, 1, 1, NULL);
    devlist l;
    assert_int_equal(devices__refresh(alice->c, "bob", &l), PARLEY_OK);

    crypto_sign_keypair(fpk, fsk);
    home *forged[] = {b1, mallory};
    publish(forged, 2, 2, fsk);
    assert_int_equal(devices__refresh(alice->c, "bob", &l), PARLEY_ECRYPTO);
    assert_int_equal(alice->forged, 1);
    assert_int_equal(devices__get(alice->c, "bob", 0, &l), PARLEY_OK); /* the cached one */
    assert_int_equal(l.version, 1);
    assert_int_equal(l.n, 1);
    Parley__V1__Envelope *e = send_one(alice, "bob", "only to the real device", 1, NULL);
    assert_int_equal(fanout_entries(e), 1);
    parley__v1__envelope__free_unpacked(e, NULL);
    sodium_memzero(fsk, sizeof fsk);
}

/* ---- rich messages through the real send and receive paths --------------- */

/* The message cmid that from queued for `to`, stamped as the broker would
 * at seq; the sender's outbox settled as by its STORED receipt. */
static Parley__V1__Envelope *stamp(home *from, const char *to, const char *cmid, uint64_t seq)
{
    char chat[IDS_CHAT_MAX + 1], sid[IDS_SERVER_ID_LEN + 1];
    packed p = {0};
    assert_int_equal(lstore_outbox_get(from->c->store, cmid, grab, &p), 1);
    Parley__V1__Envelope *e = parley__v1__envelope__unpack(NULL, p.len, p.env);
    free(p.env);
    assert_non_null(e);
    assert_true(ids_direct_chat(from->c->user, to, chat, sizeof chat));
    ids_random(sid);
    e->chat_id = strdup(chat);
    e->seq = seq;
    e->sender = strdup(from->c->user);
    e->sender_device = strdup(from->c->device_id);
    e->server_id = strdup(sid);
    e->server_ts = clock_now_ms();
    e->kind = PARLEY__V1__ENVELOPE_KIND__CHAT;
    assert_int_equal(lstore_begin(from->c->store), 0);
    assert_int_equal(outbox__done(from->c, cmid, chat, seq, sid, e->server_ts, 1), 0);
    assert_int_equal(lstore_commit(from->c->store), 0);
    return e;
}

static void deliver_all(Parley__V1__Envelope *e, home **to, int n)
{
    for (int i = 0; i < n; i++)
        deliver_to(to[i], e);
    parley__v1__envelope__free_unpacked(e, NULL);
}

typedef struct {
    char text[128];
    int kind;
    int64_t edited_at, expires_at;
    char reactions[128];
    char deleted_by[65];
} row;

static int take_row(void *ud, const parley_message *m)
{
    row *r = ud;
    if (m->seq != 1)
        return 0;
    snprintf(r->text, sizeof r->text, "%.*s", (int)m->text_len, m->text);
    r->kind = (int)m->kind;
    r->edited_at = m->edited_at;
    r->expires_at = m->expires_at;
    snprintf(r->deleted_by, sizeof r->deleted_by, "%s", m->deleted_by ? m->deleted_by : "");
    r->reactions[0] = 0;
    for (size_t i = 0; i < m->n_reactions; i++) {
        size_t u = strlen(r->reactions);
        snprintf(r->reactions + u, sizeof r->reactions - u, "%s=%s,", m->reactions[i].user,
                 m->reactions[i].emoji);
    }
    return 0;
}

typedef struct {
    int rows;
    int gone_soon;
} hist_count;

static int count_text(void *ud, const parley_message *m)
{
    hist_count *h = ud;
    h->rows++;
    h->gone_soon += m->text_len == 9 && memcmp(m->text, "gone soon", 9) == 0;
    return 0;
}

/* Seq 1 of the chat of alice and bob as h's history shows it. */
static row first(home *h)
{
    row r;
    memset(&r, 0, sizeof r);
    assert_int_equal(parley_history(h->c, "d:alice:bob", take_row, &r), PARLEY_OK);
    return r;
}

/* Rich messages between alice (two devices) and bob, really encrypted: a
 * reaction and an edit from alice's phone shown on her laptop and at
 * bob's, an edit by bob of alice's message refused on all of them, a
 * timer whose later messages carry ttl_s and disappear on every device,
 * a delete for everyone, and a Content carrying only a field this library
 * does not know, sent through send__content: unsupported, not dropped. */
static void rich_messages_on_every_device(void **state)
{
    fixture *f = *state;
    home *a1 = new_home(f, "alice", NULL);
    home *a2 = new_home(f, "alice", a1);
    home *bob = new_home(f, "bob", NULL);
    home *alice[] = {a1, a2};
    publish(alice, 2, 2, NULL);
    home *bobs[] = {bob};
    publish(bobs, 1, 1, NULL);
    home *others[] = {a2, bob}, *alices[] = {a1, a2};
    char c1[65], c2[65], c3[65], c4[65], c5[65], c6[65], c7[65];

    assert_int_equal(parley_send_text(a1->c, "bob", "helo bob", c1), PARLEY_OK);
    deliver_all(stamp(a1, "bob", c1, 1), others, 2);
    parley_msgref m1 = {"alice", c1};

    /* a reaction and an edit from the phone */
    assert_int_equal(parley_send_reaction(a1->c, "bob", &m1, "👋", c2), PARLEY_OK);
    deliver_all(stamp(a1, "bob", c2, 2), others, 2);
    assert_int_equal(parley_send_edit(a1->c, "bob", &m1, "hello bob", c3), PARLEY_OK);
    deliver_all(stamp(a1, "bob", c3, 3), others, 2);
    assert_int_equal(bob->last_kind, PARLEY_MSG_EDIT);
    home *all[] = {a1, a2, bob};
    for (int i = 0; i < 3; i++) {
        row r = first(all[i]);
        assert_string_equal(r.text, "hello bob");
        assert_true(r.edited_at > 0);
        assert_string_equal(r.reactions, "alice=👋,");
    }

    /* bob may not edit alice's message: his SDK refuses, and a crafted
     * edit is refused by every receiver */
    assert_int_equal(parley_send_edit(bob->c, "alice", &m1, "hacked", c4), PARLEY_EINVAL);
    Parley__E2e__V1__Content ct = PARLEY__E2E__V1__CONTENT__INIT;
    Parley__E2e__V1__Edit ed = PARLEY__E2E__V1__EDIT__INIT;
    Parley__E2e__V1__MessageRef t = PARLEY__E2E__V1__MESSAGE_REF__INIT;
    t.sender = "alice";
    t.client_msg_id = c1;
    ed.target = &t;
    ed.text = "hacked";
    ct.edit = &ed;
    assert_int_equal(send__content(bob->c, "alice", &ct, "hacked", c4), PARLEY_OK);
    deliver_all(stamp(bob, "alice", c4, 4), alices, 2);
    assert_int_equal(a1->refused, 1);
    assert_int_equal(a2->refused, 1);
    assert_string_equal(first(a1).text, "hello bob");
    assert_string_equal(first(a2).text, "hello bob");

    /* a timer from bob: alice's later messages carry ttl_s and expire */
    assert_int_equal(parley_set_timer(bob->c, "alice", 60, c5), PARLEY_OK);
    deliver_all(stamp(bob, "alice", c5, 5), alices, 2);
    uint32_t tm = 0;
    assert_int_equal(parley_chat_timer(a2->c, "d:alice:bob", &tm), PARLEY_OK);
    assert_int_equal(tm, 60);
    assert_int_equal(parley_send_text(a1->c, "bob", "gone soon", c6), PARLEY_OK);
    Parley__V1__Envelope *e = stamp(a1, "bob", c6, 6);
    assert_int_equal(e->ttl_s, 60);
    deliver_all(e, others, 2);
    int64_t later = clock_now_ms() + 61000;
    for (int i = 0; i < 3; i++) {
        hist_count hc = {0, 0};
        assert_true(rich__purge(all[i]->c, later) >= 1);
        assert_int_equal(parley_history(all[i]->c, "d:alice:bob", count_text, &hc), PARLEY_OK);
        assert_int_equal(hc.gone_soon, 0);
    }

    /* delete for everyone from the laptop */
    assert_int_equal(parley_delete_for_everyone(a2->c, "bob", &m1, c7), PARLEY_OK);
    assert_int_equal(lstore_blob_count(a2->c->store, "delreq"), 2); /* the message, its edit */
    home *not_a2[] = {a1, bob};
    deliver_all(stamp(a2, "bob", c7, 7), not_a2, 2);
    for (int i = 0; i < 3; i++) {
        row r = first(all[i]);
        assert_int_equal(r.kind, PARLEY_MSG_DELETED);
        assert_string_equal(r.text, "");
        assert_string_equal(r.deleted_by, "alice");
        assert_string_equal(r.reactions, "");
    }
    assert_int_equal(a1->refused + bob->refused, 1);

    /* a kind from a newer client: only field 14 (not in e2e.proto) */
    Parley__E2e__V1__Content nc = PARLEY__E2E__V1__CONTENT__INIT;
    /* protobuf-c keeps an unknown field as its bytes after the tag: for a
     * length-prefixed one, the length, then the payload */
    static uint8_t poll[] = "\x0cpoll: lunch?";
    ProtobufCMessageUnknownField uf = {.tag = 14,
                                       .wire_type = PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED,
                                       .len = sizeof poll - 1,
                                       .data = poll};
    nc.base.n_unknown_fields = 1;
    nc.base.unknown_fields = &uf;
    char c8[65];
    assert_int_equal(send__content(a1->c, "bob", &nc, "", c8), PARLEY_OK);
    nc.base.n_unknown_fields = 0;
    nc.base.unknown_fields = NULL;
    int shown = bob->messages;
    deliver_all(stamp(a1, "bob", c8, 8), others, 2);
    assert_int_equal(bob->messages, shown + 1);
    assert_int_equal(bob->last_kind, PARLEY_MSG_UNSUPPORTED);
    assert_int_equal(a2->last_kind, PARLEY_MSG_UNSUPPORTED);
    assert_int_equal(a1->undecryptable + a2->undecryptable + bob->undecryptable, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(devlist_roundtrip_and_canonical),
        cmocka_unit_test_setup_teardown(fanout_to_every_device_and_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(own_other_device_and_reply, setup, teardown),
        cmocka_unit_test_setup_teardown(late_device_skips_and_removed_device_is_dropped, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(forged_list_is_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(receipts_stale_devices_and_read_by_self, setup, teardown),
        cmocka_unit_test_setup_teardown(group_with_several_devices, setup, teardown),
        cmocka_unit_test_setup_teardown(rich_messages_on_every_device, setup, teardown),
    };
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
