/*
 * fuzz_ks_codec.c - the keyserver's JSON field decoders (keyserver/codec.c):
 * fixed-length padded base64 and uint32 key ids, as every request body's
 * keys and ids go through them.
 *
 * Input: byte 0 is the mode. Bit 7 clear: the rest is the raw value of a
 * JSON string member (any bytes, embedded NULs included), decoded as
 * base64 to one of a few lengths picked by the low bits. Bit 7 set: the
 * rest is a JSON document (parsed with jansson as the keyserver does) whose
 * "key" and "id" members are decoded.
 * Invariants: a value that decodes re-encodes (codec_b64_json) to exactly
 * the same string (one canonical form per key); the output buffer is never
 * overrun (exact-size heap buffer); a u32 that decodes is the JSON integer.
 */
#include "fuzz.h"

#include <jansson.h>
#include <sodium.h>

#include "codec.h"

static const size_t lens[] = {0, 1, 2, 3, 16, 32, 33, 64};

static void check_b64(const json_t *obj, const char *name, size_t len)
{
    uint8_t *out = malloc(len ? len : 1);
    const json_t *v = json_object_get(obj, name);

    if (!out)
        abort();
    if (codec_get_b64(obj, name, out, len)) {
        json_t *again = codec_b64_json(out, len);
        FUZZ_CHECK(again != NULL && json_is_string(v));
        int same = json_string_length(again) == json_string_length(v) &&
                   memcmp(json_string_value(again), json_string_value(v), json_string_length(v)) ==
                       0;
        /* F2: libsodium 1.0.18 decodes every byte >= 0x80 as '/'. */
        if (fuzz_has_high_byte((const uint8_t *)json_string_value(v), json_string_length(v)))
            FUZZ_CHECK(same);
        else
            FUZZ_CHECK(same);
        json_decref(again);
    }
    free(out);
}

static void check_u32(const json_t *obj, const char *name)
{
    uint32_t v = 0;
    const json_t *j = json_object_get(obj, name);

    if (codec_get_u32(obj, name, &v))
        FUZZ_CHECK(json_is_integer(j) && json_integer_value(j) == (json_int_t)v);
    else
        FUZZ_CHECK(!json_is_integer(j) || json_integer_value(j) < 0 ||
                   json_integer_value(j) > (json_int_t)UINT32_MAX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *obj;

    if (size < 1)
        return 0;
    if (!(data[0] & 0x80)) {
        obj = json_object();
        if (!obj)
            abort();
        json_object_set_new(obj, "key", json_stringn_nocheck((const char *)data + 1, size - 1));
        check_b64(obj, "key", lens[data[0] % (sizeof lens / sizeof lens[0])]);
        check_u32(obj, "key");
        json_decref(obj);
        return 0;
    }
    obj = json_loadb((const char *)data + 1, size - 1, JSON_REJECT_DUPLICATES, NULL);
    if (!obj)
        return 0;
    if (json_is_object(obj)) {
        for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
            check_b64(obj, "key", lens[i]);
        check_u32(obj, "id");
        check_u32(obj, "key");
    }
    json_decref(obj);
    return 0;
}
