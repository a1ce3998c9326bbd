/*
 * fuzz_proto_parley.c - protobuf decoding of every parley.v1 message
 * (proto/parley.proto): above all the two a client publishes to the broker,
 * Envelope (inbox) and Request (ctl), and Typing; and every message the
 * server sends back, which a client decodes. The same bytes are tried as
 * every type (proto_check.h for the invariants). For an Envelope and a
 * Request, the plugin's first validation steps (ids.h) run on the decoded
 * fields, as the broker does before anything else.
 */
#include "fuzz.h"
#include "proto_check.h"

#include "ids.h"
#include "parley.pb-c.h"

static const ProtobufCMessageDescriptor *const types[] = {
    &parley__v1__envelope__descriptor,
    &parley__v1__request__descriptor,
    &parley__v1__typing__descriptor,
    &parley__v1__receipt__descriptor,
    &parley__v1__ack__descriptor,
    &parley__v1__sync_request__descriptor,
    &parley__v1__sync_page__descriptor,
    &parley__v1__list_chats_request__descriptor,
    &parley__v1__chat_summary__descriptor,
    &parley__v1__chat_list__descriptor,
    &parley__v1__group_settings__descriptor,
    &parley__v1__group_member__descriptor,
    &parley__v1__group_info__descriptor,
    &parley__v1__group_create__descriptor,
    &parley__v1__group_get__descriptor,
    &parley__v1__group_list__descriptor,
    &parley__v1__group_members__descriptor,
    &parley__v1__group_set_role__descriptor,
    &parley__v1__group_leave__descriptor,
    &parley__v1__group_update__descriptor,
    &parley__v1__group_list_result__descriptor,
    &parley__v1__system_event__descriptor,
    &parley__v1__response__descriptor,
    &parley__v1__presence__descriptor,
};

static void check_envelope(const uint8_t *data, size_t size)
{
    Parley__V1__Envelope *e = parley__v1__envelope__unpack(NULL, size, data);

    if (!e)
        return;
    /* Decoded strings are NUL-terminated (never NULL) and bytes have len/data. */
    FUZZ_CHECK(e->client_msg_id && e->chat_id && e->sender && e->media_id && e->server_id);
    FUZZ_CHECK(e->body.len == 0 || e->body.data);
    (void)ids_valid_client_msg(e->client_msg_id);
    (void)ids_valid_chat(e->chat_id);
    (void)ids_valid_user(e->recipient);
    parley__v1__envelope__free_unpacked(e, NULL);
}

static void check_request(const uint8_t *data, size_t size)
{
    Parley__V1__Request *r = parley__v1__request__unpack(NULL, size, data);

    if (!r)
        return;
    FUZZ_CHECK(r->req_id);
    switch (r->op_case) {
    case PARLEY__V1__REQUEST__OP_ACK:
        FUZZ_CHECK(r->ack && r->ack->chat_id);
        (void)ids_valid_chat(r->ack->chat_id);
        break;
    case PARLEY__V1__REQUEST__OP_SYNC:
        FUZZ_CHECK(r->sync && r->sync->chat_id);
        (void)ids_valid_chat(r->sync->chat_id);
        break;
    case PARLEY__V1__REQUEST__OP_GROUP_CREATE:
        FUZZ_CHECK(r->group_create && r->group_create->name);
        for (size_t i = 0; i < r->group_create->n_members; i++)
            (void)ids_valid_user(r->group_create->members[i]);
        break;
    case PARLEY__V1__REQUEST__OP_GROUP_ADD:
    case PARLEY__V1__REQUEST__OP_GROUP_REMOVE: {
        const Parley__V1__GroupMembers *g = r->op_case == PARLEY__V1__REQUEST__OP_GROUP_ADD
                                                ? r->group_add
                                                : r->group_remove;
        FUZZ_CHECK(g && g->chat_id);
        for (size_t i = 0; i < g->n_user_ids; i++)
            (void)ids_valid_user(g->user_ids[i]);
        break;
    }
    case PARLEY__V1__REQUEST__OP_GROUP_SET_ROLE:
        FUZZ_CHECK(r->group_set_role && r->group_set_role->user_id);
        break;
    case PARLEY__V1__REQUEST__OP_GROUP_UPDATE:
        FUZZ_CHECK(r->group_update && r->group_update->chat_id);
        break;
    default: break;
    }
    parley__v1__request__free_unpacked(r, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        (void)fuzz_proto_roundtrip(types[i], data, size);
    check_envelope(data, size);
    check_request(data, size);
    return 0;
}
