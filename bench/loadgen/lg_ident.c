/* lg_ident.c - benchmark identities (lg_ident.h): derived keys, registration, tokens. */
#include "lg_ident.h"

#include "store.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define SEED_DOMAIN "parley-bench-v1:"
#define BATCH 1000

int lg_ident_user(const char *prefix, unsigned n, char out[IDS_USER_MAX + 1])
{
    int len = snprintf(out, IDS_USER_MAX + 1, "%s%u", prefix, n);
    if (len < 0 || len > IDS_USER_MAX || !ids_valid_user(out))
        return -1;
    return 0;
}

int lg_ident_pair(const char *prefix, unsigned user_base, int i, char *const user[2],
                  char *const client_id[2], size_t cid_len, char *inbox, char *receipts,
                  size_t topic_len, char *err, size_t errlen)
{
    for (int k = 0; k < 2; k++) {
        if (lg_ident_user(prefix, user_base + 2u * (unsigned)i + (unsigned)k, user[k]) != 0) {
            snprintf(err, errlen, "invalid user id prefix '%s'", prefix);
            return -1;
        }
        snprintf(client_id[k], cid_len, "%s.lg", user[k]);
    }
    snprintf(inbox, topic_len, "parley/u/%s/inbox", user[1]);
    snprintf(receipts, topic_len, "parley/u/%s/receipts", user[0]);
    return 0;
}

void lg_ident_keypair(const char *user_id, uint8_t pk[32], uint8_t sk[64])
{
    uint8_t seed[crypto_sign_SEEDBYTES];
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, sizeof seed);
    crypto_generichash_update(&st, (const uint8_t *)SEED_DOMAIN, strlen(SEED_DOMAIN));
    crypto_generichash_update(&st, (const uint8_t *)user_id, strlen(user_id));
    crypto_generichash_final(&st, seed, sizeof seed);
    crypto_sign_seed_keypair(pk, sk, seed);
    sodium_memzero(seed, sizeof seed);
}

int lg_ident_token(const char *user_id, const char *client_id, char out[TOKEN_MAX_LEN])
{
    uint8_t pk[32], sk[64];
    lg_ident_keypair(user_id, pk, sk);
    int rc = token_mint(TOKEN_AUD_MQTT, user_id, client_id,
                        (int64_t)time(NULL) + TOKEN_DEFAULT_LIFETIME_S, sk, out, TOKEN_MAX_LEN);
    sodium_memzero(sk, sizeof sk);
    return rc;
}

int lg_ident_register(const char *uri, const char *prefix, unsigned first, unsigned count)
{
    store_t *s = NULL;
    int rc = store_open(uri, NULL, &s);
    if (rc != STORE_OK) {
        fprintf(stderr, "parley-loadgen: store_open %s: %s\n", uri, store_strerror(rc));
        return -1;
    }
    int64_t now_ms = (int64_t)time(NULL) * 1000;
    unsigned added = 0, existing = 0;
    for (unsigned i = 0; i < count; i++) {
        if (i % BATCH == 0 && (rc = store_begin(s)) != STORE_OK)
            goto fail;
        char uid[IDS_USER_MAX + 1];
        uint8_t sk[64];
        store_user u = {.user_id = uid, .created_at = now_ms, .updated_at = now_ms};
        if (lg_ident_user(prefix, first + i, uid) != 0) {
            fprintf(stderr, "parley-loadgen: invalid user id prefix '%s'\n", prefix);
            store_rollback(s);
            goto out;
        }
        lg_ident_keypair(uid, u.identity_key, sk);
        sodium_memzero(sk, sizeof sk);
        rc = store_user_put(s, &u);
        if (rc == STORE_OK)
            added++;
        else if (rc == STORE_EEXIST)
            existing++;
        else
            goto fail;
        if ((i + 1) % BATCH == 0 || i + 1 == count) {
            if ((rc = store_commit(s)) != STORE_OK)
                goto fail;
        }
    }
    fprintf(stderr, "parley-loadgen: registered %u users (%u already present) in %s\n", added,
            existing, uri);
    store_close(s);
    return 0;
fail:
    fprintf(stderr, "parley-loadgen: store: %s (%s)\n", store_strerror(rc), store_last_error(s));
    store_rollback(s);
out:
    store_close(s);
    return -1;
}
