/* b64.c - strict base64 decoding, one spelling per value (b64.h). */
#include "b64.h"

#include <sodium.h>

static int b64_in_alphabet(char c, int urlsafe, int padded)
{
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
        return 1;
    if (urlsafe)
        return c == '-' || c == '_' || (padded && c == '=');
    return c == '+' || c == '/' || (padded && c == '=');
}

long b64_decode(uint8_t *out, size_t cap, const char *s, size_t slen, int variant)
{
    int urlsafe = variant == sodium_base64_VARIANT_URLSAFE ||
                  variant == sodium_base64_VARIANT_URLSAFE_NO_PADDING;
    int padded = variant == sodium_base64_VARIANT_ORIGINAL ||
                 variant == sodium_base64_VARIANT_URLSAFE;
    if (!s)
        return -1;
    for (size_t i = 0; i < slen; i++)
        if (!b64_in_alphabet(s[i], urlsafe, padded))
            return -1;
    size_t got = 0;
    const char *end = NULL;
    if (sodium_base642bin(out, cap, s, slen, NULL, &got, &end, variant) != 0 || end != s + slen)
        return -1;
    return (long)got;
}
