/*
 * fuzz_ids.c - the identifier validators of common/ids.c on arbitrary
 * strings (user ids, client message ids, chat ids all arrive from clients
 * in topics and envelopes).
 *
 * Input: byte 0 picks the output buffer size for the formatting helpers;
 * the rest is split at the first '\n' into strings a and b.
 * Invariants: validators agree with the documented grammar; the case
 * rule's fold and the invite id behave as ids.h says; a direct chat
 * id built from two users is valid and yields each user's peer; a valid
 * direct chat id splits into users that rebuild it; the helpers never
 * write past outlen (exact-size heap buffers) and fail when it is short.
 */
#include "fuzz.h"

#include "ids.h"

static int user_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '.' || ch == '_' || ch == '-';
}

static int grammar_user(const char *s)
{
    size_t n = strlen(s);

    if (n < 1 || n > IDS_USER_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!user_char(s[i]))
            return 0;
    return 1;
}

static int grammar_client_msg(const char *s)
{
    size_t n = strlen(s);

    if (n < 1 || n > IDS_CLIENT_MSG_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e || s[i] == '/')
            return 0;
    return 1;
}

/* outlen from the selector: around the needed size, or fixed sizes. */
static size_t pick_len(uint8_t sel, size_t need)
{
    switch (sel % 6) {
    case 0: return need;
    case 1: return need > 0 ? need - 1 : 0;
    case 2: return need + 1;
    case 3: return 1;
    case 4: return IDS_CHAT_MAX + 1;
    default: return IDS_USER_MAX + 1;
    }
}

/* The case rule's fold: same length, ASCII lower case, equal to s up to
 * case, a valid user id exactly when s is; refused when it does not fit.
 * Invite ids: 43 characters for any token of 1..IDS_INVITE_TOKEN_MAX. */
static void check_fold(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(n + 1);
    char inv[IDS_INVITE_ID_LEN + 1];
    FUZZ_CHECK(out != NULL);
    FUZZ_CHECK(ids_user_fold(s, out, n + 1));
    FUZZ_CHECK(strlen(out) == n);
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(!(out[i] >= 'A' && out[i] <= 'Z'));
    FUZZ_CHECK(ids_user_same_fold(s, out));
    FUZZ_CHECK(ids_valid_user(out) == ids_valid_user(s));
    FUZZ_CHECK(!ids_user_fold(s, out, n));
    free(out);
    FUZZ_CHECK(ids_invite_id(s, inv) == (n >= 1 && n <= IDS_INVITE_TOKEN_MAX));
    if (n >= 1 && n <= IDS_INVITE_TOKEN_MAX)
        FUZZ_CHECK(strlen(inv) == IDS_INVITE_ID_LEN);
}

static void check_one(const char *s, uint8_t sel)
{
    bool user = ids_valid_user(s), chat = ids_valid_chat(s), group = ids_is_group_chat(s);

    FUZZ_CHECK(user == (bool)grammar_user(s));
    FUZZ_CHECK(ids_valid_client_msg(s) == (bool)grammar_client_msg(s));
    FUZZ_CHECK(group == (s[0] == 'g' && s[1] == ':'));
    check_fold(s);
    if (!chat)
        return;
    FUZZ_CHECK(strlen(s) <= IDS_CHAT_MAX);
    if (group) {
        FUZZ_CHECK(grammar_user(s + 2));
        return;
    }
    /* "d:a:b": split it, rebuild it, ask for each peer. */
    const char *sep = strchr(s + 2, ':');
    FUZZ_CHECK(sep != NULL && s[0] == 'd' && s[1] == ':');
    size_t la = (size_t)(sep - (s + 2));
    char a[IDS_USER_MAX + 1], b[IDS_USER_MAX + 1], out[IDS_CHAT_MAX + 1];
    FUZZ_CHECK(la >= 1 && la <= IDS_USER_MAX && strlen(sep + 1) <= IDS_USER_MAX);
    memcpy(a, s + 2, la);
    a[la] = '\0';
    strcpy(b, sep + 1);
    FUZZ_CHECK(grammar_user(a) && grammar_user(b) && strcmp(a, b) < 0);
    FUZZ_CHECK(ids_direct_chat(b, a, out, sizeof out) && strcmp(out, s) == 0);

    size_t plen = pick_len(sel, strlen(b) + 1);
    char *peer = malloc(plen ? plen : 1);
    if (!peer)
        abort();
    bool ok = ids_direct_peer(s, a, peer, plen);
    FUZZ_CHECK(ok == (plen >= strlen(b) + 1));
    if (ok)
        FUZZ_CHECK(strcmp(peer, b) == 0);
    free(peer);
}

static void check_pair(const char *a, const char *b, uint8_t sel)
{
    size_t need = 2 + strlen(a) + 1 + strlen(b) + 1;
    size_t outlen = pick_len(sel, need);
    char *out = malloc(outlen ? outlen : 1);
    char peer[IDS_USER_MAX + 1];
    bool ok;

    if (!out)
        abort();
    ok = ids_direct_chat(a, b, out, outlen);
    FUZZ_CHECK(ok == (grammar_user(a) && grammar_user(b) && strcmp(a, b) != 0 && outlen >= need));
    if (ok) {
        FUZZ_CHECK(strlen(out) + 1 == need);
        FUZZ_CHECK(ids_valid_chat(out) && !ids_is_group_chat(out));
        FUZZ_CHECK(ids_direct_peer(out, a, peer, sizeof peer) && strcmp(peer, b) == 0);
        FUZZ_CHECK(ids_direct_peer(out, b, peer, sizeof peer) && strcmp(peer, a) == 0);
    }
    free(out);
    /* b as a chat id, a as the user asking for the peer. */
    char *p2 = malloc(pick_len(sel, IDS_USER_MAX + 1));
    if (!p2)
        abort();
    (void)ids_direct_peer(b, a, p2, pick_len(sel, IDS_USER_MAX + 1));
    free(p2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t sel = size ? data[0] : 0;
    char *s = fuzz_strndup(size ? data + 1 : data, size ? size - 1 : 0);
    char *nl = strchr(s, '\n');
    const char *b = "";

    check_one(s, sel);
    if (nl) {
        *nl = '\0';
        b = nl + 1;
        check_one(s, sel);
        check_one(b, sel);
    }
    check_pair(s, b, sel);
    free(s);
    return 0;
}
