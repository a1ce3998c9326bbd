/*
 * ksclient.c - the keyserver's HTTP API from the client side (libcurl +
 * jansson; contract in ksclient.h): identities, prekey uploads and counts,
 * prekey bundles.
 */
#include "ksclient.h"

#include "b64.h"
#include "transport.h"

#include <curl/curl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parley/parley.h"

#define KS_TIMEOUT_S 15L
#define KS_MAX_RESPONSE (1024 * 1024)
#define REGISTER_DOMAIN "parley-register-v1\n"

typedef struct {
    char *data;
    size_t len;
} buf;

static size_t on_data(char *p, size_t size, size_t nmemb, void *ud)
{
    buf *b = ud;
    size_t n = size * nmemb;
    if (b->len + n > KS_MAX_RESPONSE)
        return 0;
    char *nd = realloc(b->data, b->len + n + 1);
    if (!nd)
        return 0;
    memcpy(nd + b->len, p, n);
    b->data = nd;
    b->len += n;
    b->data[b->len] = 0;
    return n;
}

/* One HTTP exchange. *resp receives the parsed JSON body (may be NULL for an
 * empty body). Returns PARLEY_OK for 2xx; error statuses are turned into
 * PARLEY_ENOTFOUND / PARLEY_EREFUSED with errbuf "STATUS error: message". */
static int http(const char *method, const char *base, const char *ca_file, const char *path,
                const char *bearer, json_t *body, json_t **resp, char *errbuf, size_t errlen)
{
    CURL *h = NULL;
    struct curl_slist *hdrs = NULL;
    char *payload = NULL;
    char url[1024], auth[700], cerr[CURL_ERROR_SIZE] = "";
    buf b = {0};
    int ret = PARLEY_ENET;
    long status = 0;

    *resp = NULL;
    if (transport_http_kind(base) == TRANSPORT_BAD) {
        snprintf(errbuf, errlen,
                 "bad keyserver URL %s: use http:// or https:// followed by "
                 "HOST:PORT",
                 base);
        ret = PARLEY_EINVAL;
        goto fail;
    }
    if (snprintf(url, sizeof url, "%s%s", base, path) >= (int)sizeof url) {
        snprintf(errbuf, errlen, "keyserver URL too long");
        ret = PARLEY_EINVAL;
        goto fail;
    }
    h = curl_easy_init();
    if (!h) {
        ret = PARLEY_ENOMEM;
        goto fail;
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    transport_curl(h, ca_file);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, KS_TIMEOUT_S);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    hdrs = curl_slist_append(hdrs, "Accept: application/json");
    if (bearer) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", bearer);
        hdrs = curl_slist_append(hdrs, auth);
    }
    if (body) {
        payload = json_dumps(body, JSON_COMPACT);
        if (!payload) {
            ret = PARLEY_ENOMEM;
            goto fail;
        }
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(payload));
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    CURLcode cc = curl_easy_perform(h);
    if (cc != CURLE_OK) {
        int tls = transport_curl_trust_error(cc);
        snprintf(errbuf, errlen, "keyserver %s: %s%s", base, tls ? "TLS: " : "",
                 cerr[0] ? cerr : curl_easy_strerror(cc));
        ret = tls ? PARLEY_ETLS : PARLEY_ENET;
        goto fail;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (b.len) {
        json_error_t je;
        *resp = json_loadb(b.data, b.len, 0, &je);
    }
    if (status >= 200 && status < 300) {
        ret = PARLEY_OK;
    } else {
        const char *code = json_string_value(json_object_get(*resp, "error"));
        const char *msg = json_string_value(json_object_get(*resp, "message"));
        snprintf(errbuf, errlen, "keyserver: %ld %s: %s", status, code ? code : "error",
                 msg ? msg : (b.data ? b.data : ""));
        ret = status == 404 ? PARLEY_ENOTFOUND : PARLEY_EREFUSED;
        json_decref(*resp);
        *resp = NULL;
    }

fail:
    free(payload);
    free(b.data);
    curl_slist_free_all(hdrs);
    if (h)
        curl_easy_cleanup(h);
    return ret;
}

static json_t *b64(const uint8_t *p, size_t n)
{
    char out[256];
    if (sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL) > sizeof out)
        return NULL;
    sodium_bin2base64(out, sizeof out, p, n, sodium_base64_VARIANT_ORIGINAL);
    return json_string(out);
}

/* Decode a base64 JSON string of exactly n bytes. 0 ok, -1 otherwise. */
static int unb64(json_t *v, uint8_t *out, size_t n)
{
    const char *s = json_string_value(v);
    if (!s || b64_decode(out, n, s, strlen(s), sodium_base64_VARIANT_ORIGINAL) != (long)n)
        return -1;
    return 0;
}

int ksclient_put_identity(const char *base, const char *ca_file, const char *user,
                          const uint8_t pk[32], const uint8_t sk[64], const uint8_t *change_sig,
                          const char *invite, char *errbuf, size_t errlen)
{
    char path[128], msg[sizeof REGISTER_DOMAIN + 65];
    uint8_t sig[crypto_sign_BYTES];
    json_t *body = NULL, *resp = NULL;
    int ret;

    snprintf(path, sizeof path, "/v1/identity/%s", user);
    int mlen = snprintf(msg, sizeof msg, "%s%s", REGISTER_DOMAIN, user);
    crypto_sign_detached(sig, NULL, (const uint8_t *)msg, (size_t)mlen, sk);
    body = json_object();
    if (!body || json_object_set_new(body, "identity_key", b64(pk, 32)) ||
        json_object_set_new(body, "proof", b64(sig, sizeof sig)) ||
        (change_sig && json_object_set_new(body, "change_signature", b64(change_sig, 64))) ||
        (invite && json_object_set_new(body, "invite", json_string(invite)))) {
        ret = PARLEY_ENOMEM;
        goto fail;
    }
    ret = http("PUT", base, ca_file, path, NULL, body, &resp, errbuf, errlen);

fail:
    json_decref(body);
    json_decref(resp);
    return ret;
}

int ksclient_get_identity(const char *base, const char *ca_file, const char *user, uint8_t pk[32],
                          char *errbuf, size_t errlen)
{
    char path[128];
    json_t *resp = NULL;
    snprintf(path, sizeof path, "/v1/identity/%s", user);
    int ret = http("GET", base, ca_file, path, NULL, NULL, &resp, errbuf, errlen);
    if (ret == PARLEY_OK && unb64(json_object_get(resp, "identity_key"), pk, 32) != 0) {
        snprintf(errbuf, errlen, "keyserver: malformed identity of %s", user);
        ret = PARLEY_ECRYPTO;
    }
    json_decref(resp);
    return ret;
}

static json_t *prekey_json(const ksclient_prekey *k, int with_sig)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    if (json_object_set_new(o, "key_id", json_integer(k->key_id)) ||
        json_object_set_new(o, "public_key", b64(k->pub, 32)) ||
        (with_sig && json_object_set_new(o, "signature", b64(k->sig, 64)))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int ksclient_put_keys(const char *base, const char *ca_file, const char *token,
                      const ksclient_prekey *spk, const ksclient_prekey *otks, size_t n,
                      char *errbuf, size_t errlen)
{
    json_t *body = json_object(), *arr = json_array(), *resp = NULL;
    int ret = PARLEY_ENOMEM;

    if (!body || !arr || n > KSCLIENT_MAX_OTK)
        goto fail;
    if (spk && json_object_set_new(body, "signed_prekey", prekey_json(spk, 1)))
        goto fail;
    for (size_t i = 0; i < n; i++)
        if (json_array_append_new(arr, prekey_json(&otks[i], 0)))
            goto fail;
    if (json_object_set(body, "one_time_prekeys", arr))
        goto fail;
    ret = http("PUT", base, ca_file, "/v2/keys", token, body, &resp, errbuf, errlen);

fail:
    json_decref(arr);
    json_decref(body);
    json_decref(resp);
    return ret;
}

int ksclient_key_count(const char *base, const char *ca_file, const char *token, int *count,
                       char *errbuf, size_t errlen)
{
    json_t *resp = NULL;
    int ret = http("GET", base, ca_file, "/v2/keys", token, NULL, &resp, errbuf, errlen);
    if (ret == PARLEY_OK) {
        json_t *v = json_object_get(resp, "count");
        if (!json_is_integer(v)) {
            snprintf(errbuf, errlen, "keyserver: malformed key count");
            ret = PARLEY_ECRYPTO;
        } else {
            *count = (int)json_integer_value(v);
        }
    }
    json_decref(resp);
    return ret;
}

static int parse_prekey(json_t *o, ksclient_prekey *k, int with_sig)
{
    json_t *id = json_object_get(o, "key_id");
    if (!json_is_integer(id) || json_integer_value(id) < 0 || json_integer_value(id) > UINT32_MAX)
        return -1;
    k->key_id = (uint32_t)json_integer_value(id);
    if (unb64(json_object_get(o, "public_key"), k->pub, 32) != 0)
        return -1;
    if (with_sig && unb64(json_object_get(o, "signature"), k->sig, 64) != 0)
        return -1;
    return 0;
}

int ksclient_get_bundle(const char *base, const char *ca_file, const char *token, const char *user,
                        const char *device, ksclient_bundle *out, char *errbuf, size_t errlen)
{
    char path[160];
    json_t *resp = NULL;
    memset(out, 0, sizeof *out);
    if (device && *device)
        snprintf(path, sizeof path, "/v2/keys/%s/%s", user, device);
    else
        snprintf(path, sizeof path, "/v2/keys/%s", user);
    int ret = http("GET", base, ca_file, path, token, NULL, &resp, errbuf, errlen);
    if (ret != PARLEY_OK)
        goto done;
    json_t *otk = json_object_get(resp, "one_time_prekey");
    if (unb64(json_object_get(resp, "identity_key"), out->identity_key, 32) != 0 ||
        parse_prekey(json_object_get(resp, "signed_prekey"), &out->signed_prekey, 1) != 0 ||
        (json_is_object(otk) && parse_prekey(otk, &out->one_time, 0) != 0)) {
        snprintf(errbuf, errlen, "keyserver: malformed key bundle of %s", user);
        ret = PARLEY_ECRYPTO;
        goto done;
    }
    out->has_one_time = json_is_object(otk);

done:
    json_decref(resp);
    return ret;
}

/* ---- linked devices ------------------------------------------------------ */

#define LINK_DOMAIN "parley-link-v1\n"

static json_t *b64url(const uint8_t *p, size_t n)
{
    char out[256];
    if (sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING) > sizeof out)
        return NULL;
    sodium_bin2base64(out, sizeof out, p, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return json_string(out);
}

/* Decode a JSON string in base64url (unpadded or padded) or standard base64
 * into at most cap bytes: the length, or -1. */
static long unb64_any(json_t *v, uint8_t *out, size_t cap)
{
    static const int variants[] = {sodium_base64_VARIANT_URLSAFE_NO_PADDING,
                                   sodium_base64_VARIANT_URLSAFE, sodium_base64_VARIANT_ORIGINAL};
    const char *s = json_string_value(v);
    if (!s)
        return -1;
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
        long n = b64_decode(out, cap, s, strlen(s), variants[i]);
        if (n >= 0)
            return n;
    }
    return -1;
}

int ksclient_get_devices(const char *base, const char *ca_file, const char *token, const char *user,
                         char **text, size_t *len, uint8_t sig[64], uint64_t *version, char *errbuf,
                         size_t errlen)
{
    char path[128];
    json_t *resp = NULL;
    uint8_t *raw = NULL;

    *text = NULL;
    *len = 0;
    *version = 0;
    snprintf(path, sizeof path, "/v2/devices/%s", user);
    int ret = http("GET", base, ca_file, path, token, NULL, &resp, errbuf, errlen);
    if (ret != PARLEY_OK)
        goto done;
    json_t *v = json_object_get(resp, "version"), *l = json_object_get(resp, "list");
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        goto malformed;
    *version = (uint64_t)json_integer_value(v);
    if (*version == 0 && !l)
        goto done; /* implicit */
    const char *ls = json_string_value(l);
    size_t cap = ls ? strlen(ls) : 0;
    raw = malloc(cap + 1);
    if (!raw) {
        ret = PARLEY_ENOMEM;
        goto done;
    }
    long n = unb64_any(l, raw, cap);
    if (n <= 0 || unb64_any(json_object_get(resp, "signature"), sig, 64) != 64)
        goto malformed;
    raw[n] = 0;
    *text = (char *)raw;
    *len = (size_t)n;
    raw = NULL;
    goto done;
malformed:
    snprintf(errbuf, errlen, "keyserver: malformed device list of %s", user);
    ret = PARLEY_ECRYPTO;
done:
    free(raw);
    json_decref(resp);
    return ret;
}

int ksclient_put_devices(const char *base, const char *ca_file, const char *token, const char *text,
                         size_t len, const uint8_t sig[64], char *errbuf, size_t errlen)
{
    json_t *body = json_object(), *resp = NULL;
    char *enc = NULL;
    int ret = PARLEY_ENOMEM;
    size_t elen = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);

    enc = malloc(elen);
    if (!body || !enc)
        goto fail;
    sodium_bin2base64(enc, elen, (const uint8_t *)text, len,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    if (json_object_set_new(body, "list", json_string(enc)) ||
        json_object_set_new(body, "signature", b64url(sig, 64)))
        goto fail;
    ret = http("PUT", base, ca_file, "/v2/devices", token, body, &resp, errbuf, errlen);

fail:
    free(enc);
    json_decref(body);
    json_decref(resp);
    return ret;
}

int ksclient_post_link(const char *base, const char *ca_file, ksclient_link *l,
                       const uint8_t device_sk[64], char *errbuf, size_t errlen)
{
    char key[64], msg[sizeof LINK_DOMAIN + 65 + 33 + 64 + 33];
    uint8_t sig[64];
    json_t *body = json_object(), *resp = NULL;
    int ret = PARLEY_ENOMEM;

    sodium_bin2base64(key, sizeof key, l->device_key, 32, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    int mlen = snprintf(msg, sizeof msg, "%s%s\n%s\n%s\n%s", LINK_DOMAIN, l->user, l->device_id,
                        key, l->name);
    crypto_sign_detached(sig, NULL, (const uint8_t *)msg, (size_t)mlen, device_sk);
    if (!body || json_object_set_new(body, "user_id", json_string(l->user)) ||
        json_object_set_new(body, "device_id", json_string(l->device_id)) ||
        json_object_set_new(body, "device_key", json_string(key)) ||
        json_object_set_new(body, "name", json_string(l->name)) ||
        json_object_set_new(body, "signature", b64url(sig, 64)))
        goto fail;
    ret = http("POST", base, ca_file, "/v2/link", NULL, body, &resp, errbuf, errlen);
    if (ret != PARLEY_OK)
        goto fail;
    const char *code = json_string_value(json_object_get(resp, "code"));
    json_t *exp = json_object_get(resp, "expires_at");
    if (!code || strlen(code) >= sizeof l->code) {
        snprintf(errbuf, errlen, "keyserver: malformed link answer");
        ret = PARLEY_ECRYPTO;
        goto fail;
    }
    snprintf(l->code, sizeof l->code, "%s", code);
    l->expires_at = json_is_integer(exp) ? (int64_t)json_integer_value(exp) : 0;

fail:
    json_decref(body);
    json_decref(resp);
    return ret;
}

int ksclient_get_link(const char *base, const char *ca_file, const char *token, const char *code,
                      ksclient_link *out, char *errbuf, size_t errlen)
{
    char path[64];
    json_t *resp = NULL;
    memset(out, 0, sizeof *out);
    snprintf(path, sizeof path, "/v2/link/%s", code);
    int ret = http("GET", base, ca_file, path, token, NULL, &resp, errbuf, errlen);
    if (ret != PARLEY_OK)
        goto done;
    const char *u = json_string_value(json_object_get(resp, "user_id"));
    const char *d = json_string_value(json_object_get(resp, "device_id"));
    const char *n = json_string_value(json_object_get(resp, "name"));
    json_t *exp = json_object_get(resp, "expires_at");
    if (!u || !d || strlen(u) >= sizeof out->user || strlen(d) >= sizeof out->device_id ||
        (n && strlen(n) >= sizeof out->name) ||
        unb64_any(json_object_get(resp, "device_key"), out->device_key, 32) != 32) {
        snprintf(errbuf, errlen, "keyserver: malformed link %s", code);
        ret = PARLEY_ECRYPTO;
        goto done;
    }
    snprintf(out->user, sizeof out->user, "%s", u);
    snprintf(out->device_id, sizeof out->device_id, "%s", d);
    snprintf(out->name, sizeof out->name, "%s", n ? n : "");
    snprintf(out->code, sizeof out->code, "%s", code);
    out->expires_at = json_is_integer(exp) ? (int64_t)json_integer_value(exp) : 0;
done:
    json_decref(resp);
    return ret;
}

int ksclient_delete_link(const char *base, const char *ca_file, const char *token, const char *code,
                         char *errbuf, size_t errlen)
{
    char path[64];
    json_t *resp = NULL;
    snprintf(path, sizeof path, "/v2/link/%s", code);
    int ret = http("DELETE", base, ca_file, path, token, NULL, &resp, errbuf, errlen);
    json_decref(resp);
    return ret;
}
