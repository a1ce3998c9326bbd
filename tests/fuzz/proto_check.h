/*
 * proto_check.h - the protobuf-c invariants the proto fuzz targets check on
 * every message type of a schema: unpack never crashes or leaks; what
 * unpacks passes protobuf_c_message_check(), packs to exactly
 * get_packed_size() bytes, unpacks again, and packs again to the same bytes.
 */
#ifndef PARLEY_FUZZ_PROTO_CHECK_H
#define PARLEY_FUZZ_PROTO_CHECK_H

#include <protobuf-c/protobuf-c.h>

#include "fuzz.h"

/* Pack m into a fresh buffer of exactly get_packed_size() bytes. */
static inline uint8_t *fuzz_pack(const ProtobufCMessage *m, size_t *len)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(n ? n : 1);

    if (!buf)
        abort();
    FUZZ_CHECK(protobuf_c_message_pack(m, buf) == n);
    *len = n;
    return buf;
}

/* 1 if m or a message nested in it kept an unknown field numbered 0.
 * F3 (docs/fuzzing.md): protobuf-c 1.4.1 rejects field number 0 in a
 * one-byte tag but accepts it in an over-long one (0x81 0x00) and keeps it
 * as an unknown field; packing writes it back as the one-byte tag 0x01..,
 * which no protobuf-c decoder accepts. */
static inline int fuzz_proto_has_field0(const ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;

    for (unsigned i = 0; i < m->n_unknown_fields; i++)
        if (m->unknown_fields[i].tag == 0)
            return 1;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const char *base = (const char *)m;

        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + f->quantifier_offset);
            ProtobufCMessage *const *arr = *(ProtobufCMessage *const *const *)(base + f->offset);
            for (size_t k = 0; k < n; k++)
                if (arr[k] && fuzz_proto_has_field0(arr[k]))
                    return 1;
            continue;
        }
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(const uint32_t *)(base + f->quantifier_offset) != f->id)
            continue;
        const ProtobufCMessage *sub = *(ProtobufCMessage *const *)(base + f->offset);
        if (sub && fuzz_proto_has_field0(sub))
            return 1;
    }
    return 0;
}

/* Unpack data as desc; on success check the invariants and return 1. */
static inline int fuzz_proto_roundtrip(const ProtobufCMessageDescriptor *desc, const uint8_t *data,
                                       size_t size)
{
    ProtobufCMessage *m = protobuf_c_message_unpack(desc, NULL, size, data), *m2;
    uint8_t *p1, *p2;
    size_t n1, n2;

    if (!m)
        return 0;
    FUZZ_CHECK(protobuf_c_message_check(m));
    p1 = fuzz_pack(m, &n1);
    m2 = protobuf_c_message_unpack(desc, NULL, n1, p1);
    if (!m2 && fuzz_proto_has_field0(m)) {
        FUZZ_KNOWN(m2 != NULL, "F3-protobuf-c-field-0");
        free(p1);
        protobuf_c_message_free_unpacked(m, NULL);
        return 1;
    }
    FUZZ_CHECK(m2 != NULL);
    p2 = fuzz_pack(m2, &n2);
    FUZZ_CHECK(n1 == n2 && memcmp(p1, p2, n1) == 0);
    free(p1);
    free(p2);
    protobuf_c_message_free_unpacked(m2, NULL);
    protobuf_c_message_free_unpacked(m, NULL);
    return 1;
}

#endif
