/*
 * e2e.c - status strings, library initialisation and E2EMessage inspection.
 */
#include "e2e.h"

#include <string.h>

#include <sodium.h>

#include "e2e.pb-c.h"

const char *e2e_strerror(int status)
{
    switch (status) {
    case E2E_OK: return "success";
    case E2E_ERR_INVALID: return "invalid argument";
    case E2E_ERR_NOMEM: return "out of memory";
    case E2E_ERR_FORMAT: return "malformed message or state";
    case E2E_ERR_VERSION: return "unsupported state version";
    case E2E_ERR_SIGNATURE: return "signature does not verify";
    case E2E_ERR_DECRYPT: return "message authentication failed";
    case E2E_ERR_DUPLICATE: return "duplicate or expired message";
    case E2E_ERR_TOO_FAR: return "too many skipped messages";
    case E2E_ERR_KEY: return "unusable public key";
    case E2E_ERR_STATE: return "operation not possible in this session state";
    case E2E_ERR_NO_SESSION: return "prekey message for another session";
    case E2E_ERR_WRONG_CHAIN: return "message of another sender-key chain";
    case E2E_ERR_CRYPTO: return "cryptographic library failure";
    default: return "unknown error";
    }
}

e2e_status e2e_init(void)
{
    /* sodium_init() is thread-safe and returns 1 when already initialised. */
    return sodium_init() < 0 ? E2E_ERR_CRYPTO : E2E_OK;
}

e2e_status e2e_message_inspect(const uint8_t *msg, size_t len, e2e_message_info *info)
{
    Parley__E2e__V1__E2EMessage *m = NULL;
    e2e_status rc = E2E_ERR_FORMAT;

    if (!msg || !info)
        return E2E_ERR_INVALID;
    memset(info, 0, sizeof(*info));
    m = parley__e2e__v1__e2_emessage__unpack(NULL, len, msg);
    if (!m)
        goto fail;
    switch (m->body_case) {
    case PARLEY__E2E__V1__E2_EMESSAGE__BODY_PREKEY: {
        const Parley__E2e__V1__PreKeyMessage *p = m->prekey;
        if (p->identity_key.len != 32 || p->base_key.len != 32 || !p->message)
            goto fail;
        info->kind = E2E_KIND_PREKEY;
        memcpy(info->identity_key, p->identity_key.data, 32);
        memcpy(info->base_key, p->base_key.data, 32);
        info->signed_prekey_id = p->signed_prekey_id;
        info->has_one_time_prekey = p->has_one_time_prekey ? 1 : 0;
        info->one_time_prekey_id = p->one_time_prekey_id;
        break;
    }
    case PARLEY__E2E__V1__E2_EMESSAGE__BODY_RATCHET: info->kind = E2E_KIND_RATCHET; break;
    case PARLEY__E2E__V1__E2_EMESSAGE__BODY_SENDER_KEY:
        info->kind = E2E_KIND_SENDER_KEY;
        info->chain_id = m->sender_key->chain_id;
        info->iteration = m->sender_key->iteration;
        break;
    default: goto fail;
    }
    rc = E2E_OK;
fail:
    if (m)
        parley__e2e__v1__e2_emessage__free_unpacked(m, NULL);
    return rc;
}

void e2e__put(uint8_t **p, const void *src, size_t n)
{
    memcpy(*p, src, n);
    *p += n;
}

void e2e__put_u32(uint8_t **p, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};

    e2e__put(p, b, sizeof(b));
}

int e2e__get(const uint8_t **p, size_t *left, void *dst, size_t n)
{
    if (*left < n)
        return -1;
    memcpy(dst, *p, n);
    *p += n;
    *left -= n;
    return 0;
}

int e2e__get_u32(const uint8_t **p, size_t *left, uint32_t *v)
{
    uint8_t b[4];

    if (e2e__get(p, left, b, sizeof(b)) != 0)
        return -1;
    *v = ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | (uint32_t)b[3];
    return 0;
}

e2e_status e2e__state_begin(const uint8_t *in, size_t len, uint8_t version, const uint8_t **p,
                            size_t *left)
{
    uint8_t v;

    if (!in)
        return E2E_ERR_INVALID;
    *p = in;
    *left = len;
    if (e2e__get(p, left, &v, 1) != 0)
        return E2E_ERR_FORMAT;
    return v == version ? E2E_OK : E2E_ERR_VERSION;
}
