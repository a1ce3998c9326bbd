/*
 * safety_number.h - numeric fingerprints of two identity keys, as
 * Signal's NumericFingerprintGenerator (version 0, 5200 iterations):
 *
 *   h = SHA-512(be16 version || identity key || user id || identity key)
 *   repeat 5199 times: h = SHA-512(h || identity key)
 *   30 digits = 6 chunks of 5 bytes of h, each big-endian mod 100000, %05u
 *   safety number = the two 30-digit strings concatenated in sorted order
 *
 * Both users compute the same 60 digits; a changed identity key changes it.
 */
#ifndef PARLEY_SAFETY_NUMBER_H
#define PARLEY_SAFETY_NUMBER_H

#include <stddef.h>
#include <stdint.h>

#include "e2e.h"

#define SAFETY_NUMBER_DIGITS 60
#define SAFETY_NUMBER_FORMATTED_LEN 71      /* 12 groups of 5, single spaces */
#define SAFETY_NUMBER_ITERATIONS 5200
#define SAFETY_NUMBER_VERSION 0

/* The 60-digit safety number of (local_id, local_key) and (remote_id,
 * remote_key) (Ed25519 identity public keys, 32 bytes) into out
 * (SAFETY_NUMBER_DIGITS + 1 bytes, NUL-terminated). Symmetric in its two
 * parties. Returns E2E_OK or E2E_ERR_INVALID (NULL or empty ids). */
e2e_status safety_number_compute(const char *local_id, const uint8_t local_key[32],
                                 const char *remote_id, const uint8_t remote_key[32],
                                 char out[SAFETY_NUMBER_DIGITS + 1]);

/* "12345 67890 ..." (12 groups of 5) from a NUL-terminated string of 60
 * digits; out holds
 * SAFETY_NUMBER_FORMATTED_LEN + 1 bytes. Returns E2E_OK or E2E_ERR_INVALID. */
e2e_status safety_number_format(const char *digits, char out[SAFETY_NUMBER_FORMATTED_LEN + 1]);

/* The 30-digit half of one party, for any key length (exposed for the
 * known-answer test against libsignal's vectors, which use 33-byte keys).
 * out holds 31 bytes. Returns E2E_OK or E2E_ERR_INVALID. */
e2e_status safety_number_half(uint16_t version, const uint8_t *key, size_t key_len, const char *id,
                              unsigned iterations, char out[31]);

#endif
