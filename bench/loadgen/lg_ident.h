/*
 * lg_ident.h - benchmark identities: user ids "{prefix}{n}", Ed25519 keys
 * derived deterministically from the user id (so the process that registers
 * users and the processes that connect as them share no files), tokens.
 *
 * The keys are public knowledge by construction: benchmark users only,
 * never anything a real deployment should register.
 */
#ifndef PARLEY_LG_IDENT_H
#define PARLEY_LG_IDENT_H

#include <stddef.h>
#include <stdint.h>

#include "ids.h"
#include "token.h"

/* "{prefix}{n}" into out (IDS_USER_MAX + 1 bytes). 0, or -1 if invalid. */
int lg_ident_user(const char *prefix, unsigned n, char out[IDS_USER_MAX + 1]);

/* The names of benchmark pair i: its users user_base + 2i (k = 0, the
 * sender) and user_base + 2i + 1 (k = 1, the receiver) into user[k]
 * (IDS_USER_MAX + 1 bytes each), their client ids "{user}.lg" into
 * client_id[k] (cid_len bytes each), the receiver's inbox and the sender's
 * receipts topic (topic_len bytes each). 0, or -1 with a message in err if
 * the prefix makes no valid user id. */
int lg_ident_pair(const char *prefix, unsigned user_base, int i, char *const user[2],
                  char *const client_id[2], size_t cid_len, char *inbox, char *receipts,
                  size_t topic_len, char *err, size_t errlen);

/* The benchmark key pair of user_id: seed = BLAKE2b-256("parley-bench-v1:" || user_id). */
void lg_ident_keypair(const char *user_id, uint8_t pk[32], uint8_t sk[64]);

/* A token for (user_id, client_id) valid for an hour, into out (TOKEN_MAX_LEN).
 * Returns TOKEN_OK or a token_rc. */
int lg_ident_token(const char *user_id, const char *client_id, char out[TOKEN_MAX_LEN]);

/* Register users {prefix}{first} .. {prefix}{first + count - 1} in the store
 * at uri, in batches of one transaction each; users already present are
 * kept. Returns 0, or -1 with a message on stderr. */
int lg_ident_register(const char *uri, const char *prefix, unsigned first, unsigned count);

#endif
