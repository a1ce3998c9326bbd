/*
 * safety_number.c - Signal-style numeric fingerprints (see safety_number.h).
 */
#include "safety_number.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

e2e_status safety_number_half(uint16_t version, const uint8_t *key, size_t key_len, const char *id,
                              unsigned iterations, char out[31])
{
    crypto_hash_sha512_state st;
    uint8_t h[crypto_hash_sha512_BYTES];
    uint8_t ver[2] = {(uint8_t)(version >> 8), (uint8_t)version};
    unsigned i;
    int c;

    if (!key || !key_len || !id || !*id || !out || iterations == 0)
        return E2E_ERR_INVALID;
    if (e2e_init() != E2E_OK)
        return E2E_ERR_CRYPTO;
    /* h_1 = SHA-512(version || key || id || key); h_i = SHA-512(h_{i-1} || key) */
    for (i = 0; i < iterations; i++) {
        crypto_hash_sha512_init(&st);
        if (i == 0) {
            crypto_hash_sha512_update(&st, ver, sizeof(ver));
            crypto_hash_sha512_update(&st, key, key_len);
            crypto_hash_sha512_update(&st, (const uint8_t *)id, strlen(id));
        } else {
            crypto_hash_sha512_update(&st, h, sizeof(h));
        }
        crypto_hash_sha512_update(&st, key, key_len);
        crypto_hash_sha512_final(&st, h);
    }
    for (c = 0; c < 6; c++) {
        const uint8_t *b = h + 5 * c;
        uint64_t v = ((uint64_t)b[0] << 32) | ((uint64_t)b[1] << 24) | ((uint64_t)b[2] << 16) |
                     ((uint64_t)b[3] << 8) | (uint64_t)b[4];
        snprintf(out + 5 * c, 6, "%05u", (unsigned)(v % 100000u));
    }
    out[30] = '\0';
    return E2E_OK;
}

e2e_status safety_number_compute(const char *local_id, const uint8_t local_key[32],
                                 const char *remote_id, const uint8_t remote_key[32],
                                 char out[SAFETY_NUMBER_DIGITS + 1])
{
    char a[31], b[31];
    e2e_status rc;

    if (!out)
        return E2E_ERR_INVALID;
    rc = safety_number_half(SAFETY_NUMBER_VERSION, local_key, 32, local_id,
                            SAFETY_NUMBER_ITERATIONS, a);
    if (rc != E2E_OK)
        return rc;
    rc = safety_number_half(SAFETY_NUMBER_VERSION, remote_key, 32, remote_id,
                            SAFETY_NUMBER_ITERATIONS, b);
    if (rc != E2E_OK)
        return rc;
    if (strcmp(a, b) <= 0) {
        memcpy(out, a, 30);
        memcpy(out + 30, b, 31);
    } else {
        memcpy(out, b, 30);
        memcpy(out + 30, a, 31);
    }
    return E2E_OK;
}

e2e_status safety_number_format(const char *digits, char out[SAFETY_NUMBER_FORMATTED_LEN + 1])
{
    size_t i, o = 0;

    if (!digits || !out || strlen(digits) != SAFETY_NUMBER_DIGITS)
        return E2E_ERR_INVALID;
    for (i = 0; i < SAFETY_NUMBER_DIGITS; i++) {
        if (digits[i] < '0' || digits[i] > '9')
            return E2E_ERR_INVALID;
        if (i && i % 5 == 0)
            out[o++] = ' ';
        out[o++] = digits[i];
    }
    out[o] = '\0';
    return E2E_OK;
}
