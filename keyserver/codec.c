/*
 * codec.c - JSON field helpers for the keyserver (codec.h): fixed-length
 * base64 values and unsigned 32-bit key ids, strictly checked.
 */
#include "codec.h"

#include "b64.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

bool codec_get_b64(const json_t *obj, const char *name, uint8_t *out, size_t len)
{
    const json_t *v = json_object_get(obj, name);
    if (!json_is_string(v))
        return false;
    const char *s = json_string_value(v);
    size_t slen = json_string_length(v);
    /* Exactly the padded encoding of len bytes: rejects trailing garbage and
     * inputs that would decode to more than len bytes. */
    if (slen != sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL) - 1)
        return false;
    return b64_decode(out, len, s, slen, sodium_base64_VARIANT_ORIGINAL) == (long)len;
}

bool codec_get_u32(const json_t *obj, const char *name, uint32_t *out)
{
    const json_t *v = json_object_get(obj, name);
    if (!json_is_integer(v))
        return false;
    json_int_t i = json_integer_value(v);
    if (i < 0 || i > (json_int_t)UINT32_MAX)
        return false;
    *out = (uint32_t)i;
    return true;
}

json_t *codec_b64_json(const uint8_t *buf, size_t len)
{
    size_t cap = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
    char *s = malloc(cap);
    if (!s)
        return NULL;
    sodium_bin2base64(s, cap, buf, len, sodium_base64_VARIANT_ORIGINAL);
    json_t *j = json_string(s);
    free(s);
    return j;
}

long codec_get_b64_any(const json_t *obj, const char *name, uint8_t *out, size_t cap)
{
    const json_t *v = json_object_get(obj, name);
    if (!json_is_string(v))
        return -1;
    const char *s = json_string_value(v);
    size_t slen = json_string_length(v);
    long n = b64_decode(out, cap, s, slen, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    if (n < 0)
        n = b64_decode(out, cap, s, slen, sodium_base64_VARIANT_ORIGINAL);
    return n;
}

json_t *codec_b64url_json(const uint8_t *buf, size_t len)
{
    size_t n = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *s = malloc(n);
    if (!s)
        return NULL;
    sodium_bin2base64(s, n, buf, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    json_t *j = json_string(s);
    free(s);
    return j;
}
