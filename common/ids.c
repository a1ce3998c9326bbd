/* ids.c - validation and construction of Parley identifiers (ids.h). */
#include "ids.h"

#include <sodium.h>
#include <string.h>

bool ids_valid_user(const char *s)
{
    if (!s)
        return false;
    size_t n = strlen(s);
    if (n == 0 || n > IDS_USER_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static char ascii_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

bool ids_user_fold(const char *s, char *out, size_t outlen)
{
    if (!s || !out)
        return false;
    size_t n = strlen(s);
    if (n + 1 > outlen)
        return false;
    for (size_t i = 0; i < n; i++)
        out[i] = ascii_lower(s[i]);
    out[n] = '\0';
    return true;
}

bool ids_user_same_fold(const char *a, const char *b)
{
    if (!a || !b)
        return false;
    for (; *a && *b; a++, b++)
        if (ascii_lower(*a) != ascii_lower(*b))
            return false;
    return *a == *b;
}

bool ids_valid_client_msg(const char *s)
{
    if (!s)
        return false;
    size_t n = strlen(s);
    if (n == 0 || n > IDS_CLIENT_MSG_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x21 || s[i] > 0x7e || s[i] == '/')
            return false;
    return true;
}

bool ids_valid_client_id(const char *user, const char *client_id)
{
    if (!ids_valid_user(user) || !client_id)
        return false;
    size_t ulen = strlen(user);
    if (strncmp(client_id, user, ulen) != 0 || client_id[ulen] != '.')
        return false;
    const char *tag = client_id + ulen + 1;
    size_t n = strlen(tag);
    if (n == 0 || n > IDS_CLIENT_TAG_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = tag[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

bool ids_is_group_chat(const char *chat_id)
{
    return chat_id && chat_id[0] == 'g' && chat_id[1] == ':';
}

bool ids_valid_chat(const char *s)
{
    if (!s)
        return false;
    if (ids_is_group_chat(s))
        return ids_valid_user(s + 2); /* group ids use the same alphabet */
    if (s[0] != 'd' || s[1] != ':')
        return false;
    const char *sep = strchr(s + 2, ':');
    if (!sep || sep - (s + 2) > IDS_USER_MAX)
        return false;
    char a[IDS_USER_MAX + 1];
    memcpy(a, s + 2, (size_t)(sep - (s + 2)));
    a[sep - (s + 2)] = '\0';
    return ids_valid_user(a) && ids_valid_user(sep + 1) && strcmp(a, sep + 1) < 0;
}

bool ids_direct_chat(const char *a, const char *b, char *out, size_t outlen)
{
    if (!ids_valid_user(a) || !ids_valid_user(b) || strcmp(a, b) == 0)
        return false;
    const char *lo = strcmp(a, b) < 0 ? a : b;
    const char *hi = lo == a ? b : a;
    size_t need = 2 + strlen(lo) + 1 + strlen(hi) + 1;
    if (outlen < need)
        return false;
    strcpy(out, "d:");
    strcat(out, lo);
    strcat(out, ":");
    strcat(out, hi);
    return true;
}

bool ids_direct_peer(const char *chat_id, const char *user, char *out, size_t outlen)
{
    if (!ids_valid_chat(chat_id) || ids_is_group_chat(chat_id) || !user)
        return false;
    const char *first = chat_id + 2;
    const char *sep = strchr(first, ':');
    size_t flen = (size_t)(sep - first);
    const char *peer;
    size_t plen;
    if (strlen(user) == flen && strncmp(first, user, flen) == 0) {
        peer = sep + 1;
        plen = strlen(peer);
    } else if (strcmp(sep + 1, user) == 0) {
        peer = first;
        plen = flen;
    } else {
        return false;
    }
    if (plen + 1 > outlen)
        return false;
    memcpy(out, peer, plen);
    out[plen] = '\0';
    return true;
}

void ids_random(char out[IDS_SERVER_ID_LEN + 1])
{
    unsigned char raw[16];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(out, IDS_SERVER_ID_LEN + 1, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

void ids_invite_token_new(char out[IDS_INVITE_TOKEN_LEN + 1])
{
    unsigned char raw[32];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(out, IDS_INVITE_TOKEN_LEN + 1, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof raw);
}

bool ids_invite_id(const char *token, char out[IDS_INVITE_ID_LEN + 1])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    size_t n = token ? strnlen(token, IDS_INVITE_TOKEN_MAX + 1) : 0;
    if (n == 0 || n > IDS_INVITE_TOKEN_MAX)
        return false;
    crypto_hash_sha256(h, (const unsigned char *)token, n);
    sodium_bin2base64(out, IDS_INVITE_ID_LEN + 1, h, sizeof h,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return true;
}
