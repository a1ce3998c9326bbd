/*
 * testkit.h - helpers shared by the test utilities (tests/tools/ptool.c,
 * tests/groups/gtool.c, tests/groups/gdecrypt.c, tests/keyserver/kstool.c,
 * tests/media/mtool.c): key files, token minting, protobuf output, hex input
 * and flat JSON output. Test code only; nothing here is installed.
 *
 * Where a function takes `prog`, it prints "PROG: ..." on stderr when it
 * fails; a NULL prog makes it silent (the caller reports the failure).
 */
#ifndef PARLEY_TESTKIT_H
#define PARLEY_TESTKIT_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

/* ------------------------------------------------------------ key files */

/* Read exactly len bytes from DIR/NAME. Returns 0, or -1 (missing or short file). */
int testkit_read_file(const char *prog, const char *dir, const char *name, uint8_t *buf,
                      size_t len);
/* Write len bytes to DIR/NAME, then chmod it to mode unless mode < 0.
 * Returns 0 or -1. */
int testkit_write_file(const char *prog, const char *dir, const char *name, const uint8_t *buf,
                       size_t len, int mode);
/* A fresh Ed25519 identity: the secret key to DIR/SK_NAME (sk_mode), then the
 * public key to DIR/PK_NAME (pk_mode); modes < 0 leave the umask's. The
 * secret key is wiped from memory on every path. DIR must exist.
 * Returns 0 or -1. */
int testkit_keygen(const char *prog, const char *dir, const char *sk_name, int sk_mode,
                   const char *pk_name, int pk_mode);

/* ------------------------------------------------------------ tokens */

/* Mint a token for audience ("mqtt", "keyserver", "media") and (user,
 * client_id) expiring ttl_s seconds from now (ttl_s may be negative) and print
 * it on stdout with a newline. sk is wiped on every path. Returns TOKEN_OK or
 * the token_mint error (nothing printed; TOKEN_EMALFORMED for an unknown
 * audience). */
int testkit_print_token(const char *audience, const char *user, const char *client_id,
                        long long ttl_s, uint8_t *sk);

/* ------------------------------------------------------------ protobuf */

/* Encode m and write it to stdout. Returns 0, or 1 on failure. */
int testkit_write_msg(const ProtobufCMessage *m);

/* ------------------------------------------------------------ hex */

/* Decode n hex digits (either case) into out (n / 2 bytes). Returns the
 * number of bytes, or -1 if n is odd or a character is not a hex digit. */
long testkit_unhex(const char *hex, size_t n, uint8_t *out);

/* ------------------------------------------------------------ decoding */

/* One kind of message a tool's "decode KIND" understands. */
typedef struct {
    const char *name;                          /* KIND on the command line */
    const ProtobufCMessageDescriptor *desc;    /* the message type */
    void (*print)(const ProtobufCMessage *m);  /* one JSON object on stdout, no newline */
} testkit_decoder;

/* The entry of a table ended by a NULL name whose name is name, or NULL. */
const testkit_decoder *testkit_decoder_find(const testkit_decoder *table, const char *name);
/* Read stdin one line at a time (mosquitto_sub -F %x): trailing CR, LF and
 * spaces are dropped and the hex is decoded as d's message, printed by
 * d->print and ended with a newline. A line that is not hex prints
 * {"error":"not hex"}, one that does not unpack {"error":"undecodable"}.
 * stdout is flushed after each line. Returns 0. */
int testkit_decode_hex_lines(const testkit_decoder *d);

/* ------------------------------------------------------------ JSON */

/* Flat JSON object members on stdout; *first is 1 before the first member
 * of an object (no comma) and 0 after. Strings are escaped: '"' and '\\'
 * with a backslash, control and non-ASCII bytes as \u00XX. */
void testkit_json_strn(const char *key, const char *s, size_t len, int *first);
void testkit_json_str(const char *key, const char *s, int *first); /* NULL prints "" */
void testkit_json_num(const char *key, long long v, int *first);

/* parley.v1.ReceiptStatus as a word ("stored", "read", ...; "unknown"). */
const char *testkit_receipt_status(int status);

#endif
