/*
 * gdecrypt.c - "hand a member the ciphertext": try to decrypt one group
 * message body (hex on argv) with the sender-key state of a parley home,
 * the way the client would on receipt. Used by groups_cli.sh to show that a
 * removed member cannot read what is sent after the removal.
 *
 *   gdecrypt HOME CHAT_ID SENDER BODY_HEX
 *
 * Prints "decrypted: <text>" (exit 0) or "refused: <reason>" (exit 1);
 * 2 on usage or local errors. The home's state is left unchanged (the
 * attempt runs in a transaction that is rolled back).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "parley_int.h"
#include "e2e.pb-c.h"
#include "testkit.h"

static int unhex(const char *h, uint8_t **out, size_t *len)
{
    size_t n = strlen(h);
    *out = malloc(n / 2 + 1);
    if (!*out)
        return -1;
    long got = testkit_unhex(h, n, *out);
    if (got < 0) {
        free(*out);
        *out = NULL;
        return -1;
    }
    *len = (size_t)got;
    return 0;
}

int main(int argc, char **argv)
{
    parley_client *c = NULL;
    uint8_t *body = NULL, *pt = NULL;
    size_t len = 0, ptlen = 0;
    int ret = 2;
    if (argc != 5) {
        fprintf(stderr, "usage: gdecrypt HOME CHAT_ID SENDER BODY_HEX\n");
        return 2;
    }
    if (sodium_init() < 0 || unhex(argv[4], &body, &len) != 0) {
        fprintf(stderr, "gdecrypt: bad body\n");
        return 2;
    }
    parley_config cfg = {.home = argv[1]};
    if (parley_open(&cfg, &c) != PARLEY_OK) {
        fprintf(stderr, "gdecrypt: cannot open %s\n", argv[1]);
        goto out;
    }
    if (lstore_begin(c->store) != 0)
        goto out;
    int rc = skeys__decrypt(c, argv[2], argv[3], body, len, &pt, &ptlen);
    lstore_rollback(c->store);
    if (rc == PARLEY_OK) {
        Parley__E2e__V1__Content *ct = parley__e2e__v1__content__unpack(NULL, ptlen, pt);
        printf("decrypted: %s\n", ct && ct->text ? ct->text : "");
        if (ct)
            parley__e2e__v1__content__free_unpacked(ct, NULL);
        sodium_memzero(pt, ptlen);
        free(pt);
        ret = 0;
    } else {
        printf("refused: %s\n", parley_last_error(c));
        ret = 1;
    }
out:
    parley_close(c);
    free(body);
    return ret;
}
