/* token.c - minting and verifying audience-bound access tokens (token.h). */
#include "token.h"
#include "b64.h"
#include "ids.h"

#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define TOKEN_DOMAIN "parley-token-v2\n"
#define AUDIENCE_MAX 9 /* strlen("keyserver") */
#define PAYLOAD_MAX (AUDIENCE_MAX + IDS_USER_MAX + TOKEN_CLIENT_ID_MAX + 32)

static const char *const audience_names[] = {"mqtt", "keyserver", "media"};

const char *token_audience_name(token_audience aud)
{
    if ((unsigned)aud >= sizeof audience_names / sizeof audience_names[0])
        return NULL;
    return audience_names[aud];
}

int token_audience_parse(const char *s)
{
    for (size_t i = 0; s && i < sizeof audience_names / sizeof audience_names[0]; i++)
        if (strcmp(s, audience_names[i]) == 0)
            return (int)i;
    return -1;
}

const char *token_strerror(int rc)
{
    switch (rc) {
    case TOKEN_OK: return "ok";
    case TOKEN_EMALFORMED: return "malformed token";
    case TOKEN_EUSER: return "token belongs to another user";
    case TOKEN_ECLIENT: return "token minted for another client id";
    case TOKEN_EEXPIRED: return "token expired";
    case TOKEN_ELIFETIME: return "token lifetime too long";
    case TOKEN_ESIGNATURE: return "bad token signature";
    case TOKEN_EAUDIENCE: return "token minted for another service";
    case TOKEN_EDEVICE: return "token of a device not in the user's device list";
    default: return "unknown token error";
    }
}

static int valid_client_id(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > TOKEN_CLIENT_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}

/* Build the signed message: domain || payload. */
static size_t signed_message(const char *payload, size_t plen, unsigned char *buf, size_t buflen)
{
    size_t dlen = sizeof TOKEN_DOMAIN - 1;
    if (dlen + plen > buflen)
        return 0;
    memcpy(buf, TOKEN_DOMAIN, dlen);
    memcpy(buf + dlen, payload, plen);
    return dlen + plen;
}

int token_mint(token_audience aud, const char *user_id, const char *client_id, int64_t expires_at,
               const uint8_t sk[64], char *out, size_t outlen)
{
    const char *aname = token_audience_name(aud);
    if (!aname || !ids_valid_user(user_id) || !client_id || !valid_client_id(client_id) ||
        expires_at <= 0)
        return TOKEN_EMALFORMED;
    char payload[PAYLOAD_MAX];
    int plen = snprintf(payload, sizeof payload, "%s\n%s\n%s\n%lld", aname, user_id, client_id,
                        (long long)expires_at);
    if (plen < 0 || (size_t)plen >= sizeof payload)
        return TOKEN_EMALFORMED;
    unsigned char msg[sizeof TOKEN_DOMAIN + PAYLOAD_MAX];
    size_t mlen = signed_message(payload, (size_t)plen, msg, sizeof msg);
    unsigned char sig[crypto_sign_BYTES];
    crypto_sign_detached(sig, NULL, msg, mlen, sk);

    size_t b1 = sodium_base64_ENCODED_LEN((size_t)plen, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    size_t b2 = sodium_base64_ENCODED_LEN(sizeof sig, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    if (b1 + b2 > outlen) /* each count includes its NUL; one becomes the '.' */
        return TOKEN_EMALFORMED;
    sodium_bin2base64(out, b1, (const unsigned char *)payload, (size_t)plen,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    size_t used = strlen(out);
    out[used++] = '.';
    sodium_bin2base64(out + used, outlen - used, sig, sizeof sig,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return TOKEN_OK;
}

/* Split and decode; payload NUL-terminated in pbuf. */
static int decode(const char *token, char *pbuf, size_t pcap, size_t *plen,
                  unsigned char sig[crypto_sign_BYTES])
{
    if (!token || strlen(token) >= TOKEN_MAX_LEN)
        return TOKEN_EMALFORMED;
    const char *dot = strchr(token, '.');
    if (!dot || strchr(dot + 1, '.'))
        return TOKEN_EMALFORMED;
    long n = b64_decode((uint8_t *)pbuf, pcap - 1, token, (size_t)(dot - token),
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    if (n < 0)
        return TOKEN_EMALFORMED;
    *plen = (size_t)n;
    pbuf[*plen] = '\0';
    if (memchr(pbuf, '\0', *plen))
        return TOKEN_EMALFORMED;
    if (b64_decode(sig, crypto_sign_BYTES, dot + 1, strlen(dot + 1),
                   sodium_base64_VARIANT_URLSAFE_NO_PADDING) != crypto_sign_BYTES)
        return TOKEN_EMALFORMED;
    return TOKEN_OK;
}

static int parse_payload(const char *p, token_claims *out)
{
    const char *nl0 = strchr(p, '\n');
    if (!nl0 || (size_t)(nl0 - p) > AUDIENCE_MAX)
        return TOKEN_EMALFORMED;
    char aname[AUDIENCE_MAX + 1];
    memcpy(aname, p, (size_t)(nl0 - p));
    aname[nl0 - p] = '\0';
    int aud = token_audience_parse(aname);
    if (aud < 0)
        return TOKEN_EMALFORMED;
    out->audience = (token_audience)aud;
    p = nl0 + 1;
    const char *nl1 = strchr(p, '\n');
    if (!nl1)
        return TOKEN_EMALFORMED;
    const char *nl2 = strchr(nl1 + 1, '\n');
    if (!nl2 || strchr(nl2 + 1, '\n'))
        return TOKEN_EMALFORMED;
    size_t ulen = (size_t)(nl1 - p), clen = (size_t)(nl2 - nl1 - 1);
    if (ulen == 0 || ulen > IDS_USER_MAX || clen == 0 || clen > TOKEN_CLIENT_ID_MAX)
        return TOKEN_EMALFORMED;
    memcpy(out->user_id, p, ulen);
    out->user_id[ulen] = '\0';
    memcpy(out->client_id, nl1 + 1, clen);
    out->client_id[clen] = '\0';
    const char *num = nl2 + 1;
    /* Canonical decimal only: one signed payload per expiry. */
    if (*num == '\0' || strlen(num) > 19 || (num[0] == '0' && num[1] != '\0'))
        return TOKEN_EMALFORMED;
    int64_t v = 0;
    for (const char *c = num; *c; c++) {
        if (*c < '0' || *c > '9')
            return TOKEN_EMALFORMED;
        if (v > (INT64_MAX - (*c - '0')) / 10) /* would overflow */
            return TOKEN_EMALFORMED;
        v = v * 10 + (*c - '0');
    }
    out->expires_at = v;
    if (!ids_valid_user(out->user_id) || !valid_client_id(out->client_id))
        return TOKEN_EMALFORMED;
    return TOKEN_OK;
}

int token_parse(const char *token, token_claims *out)
{
    char payload[PAYLOAD_MAX + 1];
    size_t plen;
    unsigned char sig[crypto_sign_BYTES];
    int rc = decode(token, payload, sizeof payload, &plen, sig);
    if (rc != TOKEN_OK)
        return rc;
    return parse_payload(payload, out);
}

int token_verify(const char *token, token_audience aud, const char *user_id, const char *client_id,
                 int64_t now, const uint8_t pk[32], int64_t *expires_at)
{
    char payload[PAYLOAD_MAX + 1];
    size_t plen;
    unsigned char sig[crypto_sign_BYTES];
    token_claims c;
    int rc = decode(token, payload, sizeof payload, &plen, sig);
    if (rc == TOKEN_OK)
        rc = parse_payload(payload, &c);
    if (rc != TOKEN_OK)
        return rc;
    if (c.audience != aud)
        return TOKEN_EAUDIENCE;
    if (!user_id || strcmp(c.user_id, user_id) != 0)
        return TOKEN_EUSER;
    if (client_id && strcmp(c.client_id, client_id) != 0)
        return TOKEN_ECLIENT;
    if (c.expires_at < now)
        return TOKEN_EEXPIRED;
    if (c.expires_at > now + TOKEN_MAX_LIFETIME_S)
        return TOKEN_ELIFETIME;
    unsigned char msg[sizeof TOKEN_DOMAIN + PAYLOAD_MAX];
    size_t mlen = signed_message(payload, plen, msg, sizeof msg);
    if (mlen == 0 || crypto_sign_verify_detached(sig, msg, mlen, pk) != 0)
        return TOKEN_ESIGNATURE;
    if (expires_at)
        *expires_at = c.expires_at;
    return TOKEN_OK;
}
