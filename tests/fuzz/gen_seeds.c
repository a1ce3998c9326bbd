/*
 * gen_seeds.c - writes the seed corpora of the fuzz targets:
 *
 *   fuzz_gen_seeds tests/fuzz/corpus
 *
 * one directory per target, a handful of valid and invalid inputs each.
 * Deterministic (fixture.c's seeded RNG, fixed keys): running it again
 * rewrites identical files unless the code under test changed its output.
 * The corpora are committed; re-run this after a wire or state format
 * change and commit the result (docs/fuzzing.md).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "e2e.pb-c.h"
#include "fixture.h"
#include "parley.pb-c.h"
#include "token.h"

static const char *root;
static int failed;

static void put(const char *target, const char *name, const void *data, size_t len)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof path, "%s/%s", root, target);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        perror(path);
        failed = 1;
        return;
    }
    snprintf(path, sizeof path, "%s/%s/%s", root, target, name);
    if (!(f = fopen(path, "wb")) || (len && fwrite(data, 1, len, f) != len)) {
        perror(path);
        failed = 1;
    }
    if (f)
        fclose(f);
}

static void put_str(const char *target, const char *name, const char *s)
{
    put(target, name, s, strlen(s));
}

/* A selector/mode byte followed by bytes. */
static void put_pre(const char *target, const char *name, uint8_t pre, const void *data, size_t len)
{
    uint8_t *b = malloc(len + 1);

    if (!b)
        abort();
    b[0] = pre;
    memcpy(b + 1, data, len);
    put(target, name, b, len + 1);
    free(b);
}

static void put_msg(const char *target, const char *name, const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *b = malloc(n ? n : 1);

    if (!b)
        abort();
    protobuf_c_message_pack(m, b);
    put(target, name, b, n);
    free(b);
}

/* ---- token ------------------------------------------------------------------ */

static void b64url(char *out, size_t cap, const void *in, size_t len)
{
    sodium_bin2base64(out, cap, in, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

static void seeds_token(void)
{
    uint8_t pk[32], sk[64], seed[32], sig[64];
    char tok[TOKEN_MAX_LEN], p64[256], s64[128], buf[600];
    char longuser[65];

    memset(seed, 'T', sizeof seed);   /* fuzz_token.c's key */
    crypto_sign_seed_keypair(pk, sk, seed);
    if (token_mint(TOKEN_AUD_MQTT, "alice", "alice.c1", 1700000000, sk, tok, sizeof tok) ==
        TOKEN_OK)
        put_str("token", "ok_alice", tok);
    if (token_mint(TOKEN_AUD_KEYSERVER, "bob.b_-9", "bob.b_-9.x", 1, sk, tok, sizeof tok) ==
        TOKEN_OK)
        put_str("token", "ok_bob_keyserver", tok);
    memset(longuser, 'u', 64);
    longuser[64] = '\0';
    if (token_mint(TOKEN_AUD_MEDIA, longuser, "media client with spaces ~!", 9223372036854775807LL,
                   sk, tok, sizeof tok) == TOKEN_OK)
        put_str("token", "ok_long_fields_max_expiry", tok);
    /* Well-formed payloads with a zero signature. */
    memset(sig, 0, sizeof sig);
    b64url(s64, sizeof s64, sig, sizeof sig);
    b64url(p64, sizeof p64, "mqtt\ncarol\nc\n0042", 17);
    snprintf(buf, sizeof buf, "%s.%s", p64, s64);
    put_str("token", "bad_sig_leading_zero_expiry", buf);
    b64url(p64, sizeof p64, "mqtt\ncarol\nc\n12\nx", 17);
    snprintf(buf, sizeof buf, "%s.%s", p64, s64);
    put_str("token", "bad_extra_field", buf);
    b64url(p64, sizeof p64, "mqtt\ncar/ol\nc\n12", 16);
    snprintf(buf, sizeof buf, "%s.%s", p64, s64);
    put_str("token", "bad_user_slash", buf);
    put_str("token", "bad_no_dot", "YWxpY2UKYwox");
    put_str("token", "bad_two_dots", "a.b.c");
    put_str("token", "bad_empty", "");
    put_str("token", "bad_padding", "YWxpY2UKYwox==.AAAA");
    b64url(p64, sizeof p64, "carol\nc\n12", 10); /* version 1 payload: no audience */
    snprintf(buf, sizeof buf, "%s.%s", p64, s64);
    put_str("token", "bad_v1_no_audience", buf);
    b64url(p64, sizeof p64, "smtp\ncarol\nc\n12", 15);
    snprintf(buf, sizeof buf, "%s.%s", p64, s64);
    put_str("token", "bad_unknown_audience", buf);
}

/* ---- ids -------------------------------------------------------------------- */

static void seeds_ids(void)
{
    put("ids", "pair_alice_bob",
        "\x00"
        "alice\nbob",
        10);
    put("ids", "chat_direct",
        "\x01"
        "d:alice:bob",
        12);
    put("ids", "chat_direct_unordered",
        "\x02"
        "d:bob:alice",
        12);
    put("ids", "chat_group",
        "\x03"
        "g:AbCdEfGhIjKlMnOpQrStUv",
        25);
    put("ids", "chat_and_user",
        "\x04"
        "d:a.b:c_d\nc_d",
        14);
    put("ids", "client_msg",
        "\x05"
        "msg-01!~",
        9);
    put("ids", "bad_slash",
        "\x00"
        "a/b\nd:a:a",
        10);
    put("ids", "bad_colon_in_user",
        "\x01"
        "d:a:b:c",
        8);
    put("ids", "long_user",
        "\x02"
        "uuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuu\n"
        "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv",
        1 + 64 + 1 + 65);
}

/* ---- parley.v1 ---------------------------------------------------------------- */

static void seeds_parley(void)
{
    Parley__V1__Envelope e = PARLEY__V1__ENVELOPE__INIT;
    uint8_t body[40];

    memset(body, 0xc3, sizeof body);
    e.client_msg_id = "cm-0001";
    e.body.data = body;
    e.body.len = sizeof body;
    e.ttl_s = 3600;
    put_msg("proto_parley", "envelope_client", &e.base);
    e.server_id = "AAAAAAAAAAAAAAAAAAAAAA";
    e.chat_id = "d:alice:bob";
    e.seq = 42;
    e.sender = "alice";
    e.server_ts = 1700000000000;
    e.media_id = "m1";
    e.kind = PARLEY__V1__ENVELOPE_KIND__CHAT;
    e.recipient = "bob";
    e.sender_client_id = "client-1";
    put_msg("proto_parley", "envelope_stamped", &e.base);

    Parley__V1__Request r = PARLEY__V1__REQUEST__INIT;
    Parley__V1__Ack ack = PARLEY__V1__ACK__INIT;
    r.req_id = "r1";
    ack.chat_id = "d:alice:bob";
    ack.seq = 7;
    ack.type = PARLEY__V1__ACK_TYPE__ACK_READ;
    r.op_case = PARLEY__V1__REQUEST__OP_ACK;
    r.ack = &ack;
    put_msg("proto_parley", "request_ack", &r.base);

    Parley__V1__SyncRequest sync = PARLEY__V1__SYNC_REQUEST__INIT;
    sync.chat_id = "g:AbCdEfGhIjKlMnOpQrStUv";
    sync.after_seq = 100;
    sync.limit = 50;
    r.op_case = PARLEY__V1__REQUEST__OP_SYNC;
    r.sync = &sync;
    put_msg("proto_parley", "request_sync", &r.base);

    Parley__V1__GroupCreate gc = PARLEY__V1__GROUP_CREATE__INIT;
    Parley__V1__GroupSettings gs = PARLEY__V1__GROUP_SETTINGS__INIT;
    char *members[] = {"bob", "carol"};
    gc.name = "friends";
    gc.description = "a group";
    gc.n_members = 2;
    gc.members = members;
    gs.send = PARLEY__V1__PERMISSION__ADMINS;
    gc.settings = &gs;
    r.op_case = PARLEY__V1__REQUEST__OP_GROUP_CREATE;
    r.group_create = &gc;
    put_msg("proto_parley", "request_group_create", &r.base);

    Parley__V1__GroupMembers gm = PARLEY__V1__GROUP_MEMBERS__INIT;
    gm.chat_id = "g:AbCdEfGhIjKlMnOpQrStUv";
    gm.n_user_ids = 2;
    gm.user_ids = members;
    r.op_case = PARLEY__V1__REQUEST__OP_GROUP_REMOVE;
    r.group_remove = &gm;
    put_msg("proto_parley", "request_group_remove", &r.base);

    Parley__V1__GroupUpdate gu = PARLEY__V1__GROUP_UPDATE__INIT;
    gu.chat_id = "g:AbCdEfGhIjKlMnOpQrStUv";
    gu.description = "new";
    gu.set_description = 1;
    gu.settings = &gs;
    r.op_case = PARLEY__V1__REQUEST__OP_GROUP_UPDATE;
    r.group_update = &gu;
    put_msg("proto_parley", "request_group_update", &r.base);

    Parley__V1__Typing ty = PARLEY__V1__TYPING__INIT;
    ty.typing = 1;
    put_msg("proto_parley", "typing", &ty.base);

    Parley__V1__Response rsp = PARLEY__V1__RESPONSE__INIT;
    Parley__V1__SyncPage page = PARLEY__V1__SYNC_PAGE__INIT;
    Parley__V1__Envelope *msgs[] = {&e, &e};
    rsp.req_id = "r1";
    page.chat_id = "d:alice:bob";
    page.n_messages = 2;
    page.messages = msgs;
    page.more = 1;
    page.next_after_seq = 42;
    rsp.result_case = PARLEY__V1__RESPONSE__RESULT_SYNC_PAGE;
    rsp.sync_page = &page;
    put_msg("proto_parley", "response_sync_page", &rsp.base);

    /* Hand-written wire bytes: unknown field, packed repeated, truncated varint. */
    put("proto_parley", "raw_unknown_field", "\x0a\x02r1\xf8\x07\x01\x52\x00", 9);
    put("proto_parley", "raw_truncated_varint", "\x18\xff\xff\xff", 4);
    put("proto_parley", "raw_huge_length", "\x3a\xff\xff\xff\xff\x0f", 6);
}

/* ---- e2e ---------------------------------------------------------------------- */

static void seeds_e2e(const fuzz_fixture *rf, const fuzz_fixture *sf)
{
    char name[64];

    for (size_t i = 0; i < rf->n_msgs && i < 8; i++) {
        snprintf(name, sizeof name, "ratchet_%s", rf->msgs[i].name);
        put("proto_e2e", name, rf->msgs[i].data, rf->msgs[i].len);
    }
    for (size_t i = 0; i < sf->n_msgs && i < 3; i++) {
        snprintf(name, sizeof name, "sender_key_%s", sf->msgs[i].name);
        put("proto_e2e", name, sf->msgs[i].data, sf->msgs[i].len);
    }
    Parley__E2e__V1__Content c = PARLEY__E2E__V1__CONTENT__INIT;
    Parley__E2e__V1__MediaRef mr = PARLEY__E2E__V1__MEDIA_REF__INIT;
    Parley__E2e__V1__SenderKeyDistribution skd = PARLEY__E2E__V1__SENDER_KEY_DISTRIBUTION__INIT;
    uint8_t key[32], pad[16];
    memset(key, 0x11, sizeof key);
    memset(pad, 0, sizeof pad);
    mr.media_id = "m1";
    mr.key.data = key;
    mr.key.len = 32;
    mr.sha256.data = key;
    mr.sha256.len = 32;
    mr.size = 12345;
    mr.content_type = "image/png";
    mr.file_name = "cat.png";
    skd.group_id = FUZZ_GROUP_ID;
    skd.chain_id = 9;
    skd.iteration = 3;
    skd.chain_key.data = key;
    skd.chain_key.len = 32;
    skd.signature_key.data = key;
    skd.signature_key.len = 32;
    c.text = "hello";
    c.media = &mr;
    c.skd = &skd;
    c.sent_at = 1700000000000;
    c.client_msg_id = "cm-1";
    c.group_id = FUZZ_GROUP_ID;
    c.padding.data = pad;
    c.padding.len = sizeof pad;
    put_msg("proto_e2e", "content_full", &c.base);
    put("proto_e2e", "raw_empty_oneof", "", 0);
    put("proto_e2e", "raw_prekey_no_message", "\x0a\x04\x0a\x00\x12\x00", 6);
}

int main(int argc, char **argv)
{
    fuzz_fixture rf, sf;
    char name[64];

    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    root = argv[1];
    if (mkdir(root, 0755) != 0 && errno != EEXIST) {
        perror(root);
        return 1;
    }
    fuzz_rng_install();
    if (fuzz_fixture_ratchet(&rf) != 0 || fuzz_fixture_sender_keys(&sf) != 0)
        return 1;

    seeds_token();
    seeds_ids();
    seeds_parley();
    seeds_e2e(&rf, &sf);

    for (size_t i = 0; i < rf.n_msgs; i++)
        put("ratchet_decrypt", rf.msgs[i].name, rf.msgs[i].data, rf.msgs[i].len);
    put("ratchet_decrypt", "bad_empty", "", 0);

    for (size_t i = 0; i < sf.n_msgs; i++) {
        snprintf(name, sizeof name, "raw_%s", sf.msgs[i].name);
        put_pre("sender_keys_decrypt", name, 0, sf.msgs[i].data, sf.msgs[i].len);
    }
    for (size_t i = 0; i < sf.n_msgs && i < 3; i++) {
        snprintf(name, sizeof name, "resign_%s", sf.msgs[i].name);
        put_pre("sender_keys_decrypt", name, 1, sf.msgs[i].data, sf.msgs[i].len);
    }

    put_pre("crypto_state", "ratchet_responder", 0, rf.state.data, rf.state.len);
    put_pre("crypto_state", "ratchet_initiator", 0, rf.peer_state.data, rf.peer_state.len);
    put_pre("crypto_state", "sender_keys_member", 1, sf.state.data, sf.state.len);
    put_pre("crypto_state", "sender_keys_sender", 1, sf.peer_state.data, sf.peer_state.len);
    put_pre("crypto_state", "bad_ratchet_truncated", 0, rf.state.data, rf.state.len / 2);

    {
        uint8_t k32[32], k64[64];
        char b[128], json[256];
        for (int i = 0; i < 32; i++)
            k32[i] = (uint8_t)(i * 7);
        for (int i = 0; i < 64; i++)
            k64[i] = (uint8_t)(255 - i);
        sodium_bin2base64(b, sizeof b, k32, 32, sodium_base64_VARIANT_ORIGINAL);
        put_pre("ks_codec", "b64_32", 5, b, strlen(b));
        snprintf(json, sizeof json, "{\"key\": \"%s\", \"id\": 4294967295}", b);
        put_pre("ks_codec", "json_key_id", 0x80, json, strlen(json));
        sodium_bin2base64(b, sizeof b, k64, 64, sodium_base64_VARIANT_ORIGINAL);
        put_pre("ks_codec", "b64_64", 7, b, strlen(b));
        put_pre("ks_codec", "b64_1", 1, "AA==", 4);
        put_pre("ks_codec", "bad_b64_noncanonical", 1, "AB==", 4);
        put_pre("ks_codec", "bad_b64_urlsafe", 2, "-_8=", 4);
        put_pre("ks_codec", "json_bad_id", 0x80, "{\"id\": -1, \"key\": 5}", 20);
        put_pre("ks_codec", "json_big_id", 0x80, "{\"id\": 4294967296}", 18);
    }
    fuzz_fixture_free(&rf);
    fuzz_fixture_free(&sf);
    return failed;
}
