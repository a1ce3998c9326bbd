/*
 * fuzz_proto_e2e.c - protobuf decoding of every parley.e2e.v1 message
 * (proto/e2e.proto) and e2e_message_inspect(), the first thing a client
 * runs on an Envelope.body from anyone.
 *
 * Invariants: proto_check.h for every type; e2e_message_inspect() returns
 * E2E_OK exactly when the bytes are an E2EMessage with a body (a PreKey
 * body with 32-byte keys and a message), else E2E_ERR_FORMAT; the info it
 * fills agrees with the decoded message.
 */
#include "fuzz.h"
#include "proto_check.h"

#include "e2e.h"
#include "e2e.pb-c.h"

static const ProtobufCMessageDescriptor *const types[] = {
    &parley__e2e__v1__e2_emessage__descriptor,
    &parley__e2e__v1__ratchet_header__descriptor,
    &parley__e2e__v1__ratchet_message__descriptor,
    &parley__e2e__v1__pre_key_message__descriptor,
    &parley__e2e__v1__sender_key_message__descriptor,
    &parley__e2e__v1__sender_key_distribution__descriptor,
    &parley__e2e__v1__media_ref__descriptor,
    &parley__e2e__v1__content__descriptor,
};

static void check_inspect(const uint8_t *data, size_t size)
{
    e2e_message_info info;
    Parley__E2e__V1__E2EMessage *m = parley__e2e__v1__e2_emessage__unpack(NULL, size, data);
    e2e_status rc = e2e_message_inspect(data, size, &info);
    int want_ok = 0;

    if (m) {
        switch (m->body_case) {
        case PARLEY__E2E__V1__E2_EMESSAGE__BODY_PREKEY:
            want_ok = m->prekey->identity_key.len == 32 && m->prekey->base_key.len == 32 &&
                      m->prekey->message != NULL;
            break;
        case PARLEY__E2E__V1__E2_EMESSAGE__BODY_RATCHET:
        case PARLEY__E2E__V1__E2_EMESSAGE__BODY_SENDER_KEY: want_ok = 1; break;
        default: break;
        }
    }
    FUZZ_CHECK(rc == (want_ok ? E2E_OK : E2E_ERR_FORMAT));
    if (rc == E2E_OK) {
        switch (m->body_case) {
        case PARLEY__E2E__V1__E2_EMESSAGE__BODY_PREKEY:
            FUZZ_CHECK(info.kind == E2E_KIND_PREKEY);
            FUZZ_CHECK(memcmp(info.identity_key, m->prekey->identity_key.data, 32) == 0);
            FUZZ_CHECK(memcmp(info.base_key, m->prekey->base_key.data, 32) == 0);
            FUZZ_CHECK(info.signed_prekey_id == m->prekey->signed_prekey_id);
            FUZZ_CHECK(info.has_one_time_prekey == (m->prekey->has_one_time_prekey ? 1 : 0));
            break;
        case PARLEY__E2E__V1__E2_EMESSAGE__BODY_RATCHET:
            FUZZ_CHECK(info.kind == E2E_KIND_RATCHET);
            break;
        default:
            FUZZ_CHECK(info.kind == E2E_KIND_SENDER_KEY);
            FUZZ_CHECK(info.chain_id == m->sender_key->chain_id);
            FUZZ_CHECK(info.iteration == m->sender_key->iteration);
            break;
        }
    }
    if (m)
        parley__e2e__v1__e2_emessage__free_unpacked(m, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        (void)fuzz_proto_roundtrip(types[i], data, size);
    check_inspect(data, size);
    return 0;
}
