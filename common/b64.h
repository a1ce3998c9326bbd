/*
 * b64.h - base64 decoding that accepts exactly one spelling of each value.
 *
 * libsodium 1.0.18's sodium_base642bin() decodes every byte >= 0x80 as '/'
 * (standard) or '_' (URL-safe) - a sign-extension bug fixed upstream - so a
 * key or token would have many accepted spellings. Every decoder of untrusted
 * base64 goes through b64_decode(), which checks the alphabet first.
 */
#ifndef PARLEY_B64_H
#define PARLEY_B64_H

#include <stddef.h>
#include <stdint.h>

/* Decode all of s[0..slen) in libsodium variant `variant`
 * (sodium_base64_VARIANT_*) into out (cap bytes). Only the variant's alphabet
 * is accepted ('=' only for padded variants) and the whole input must be
 * consumed. Returns the decoded length, or -1 on any malformed input or when
 * it does not fit. */
long b64_decode(uint8_t *out, size_t cap, const char *s, size_t slen, int variant);

#endif
