/*
 * lg_payload.h - the load generator's messages: a valid parley.v1.Envelope
 * (client_msg_id + body, every server field left empty) whose body starts
 * with a stamp (magic, pair, sequence, send time) padded with zeros so that
 * the encoded envelope is exactly the requested payload size.
 *
 * The client_msg_id repeats the stamp ("p{pair}.{seq}.{send_ns hex}"), so a
 * `stored` receipt, which echoes only the client_msg_id, can be timed
 * without keeping a table of send times.
 */
#ifndef PARLEY_LG_PAYLOAD_H
#define PARLEY_LG_PAYLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LG_STAMP_LEN 24          /* magic(4) pair(4) seq(8) send_ns(8) */
#define LG_PAYLOAD_MIN 64        /* smallest payload every stamp fits in */
#define LG_PAYLOAD_MAX (256 * 1024)

typedef struct {
    uint32_t pair;
    uint64_t seq;
    int64_t send_ns;             /* CLOCK_MONOTONIC, this process */
    bool server_stamped;         /* delivered envelope carries a server seq and sender */
} lg_stamp;

/*
 * Encode the envelope for st into buf (cap bytes, at least target), padding
 * the body so the encoding is target bytes long (one byte less when a varint
 * length boundary makes target itself impossible). body is scratch space of
 * at least target bytes. Returns the encoded length, or 0 if target is below
 * LG_PAYLOAD_MIN or above cap.
 */
size_t lg_payload_build(const lg_stamp *st, size_t target, uint8_t *body, uint8_t *buf, size_t cap);

/* Set Envelope.coalesce_receipts in every envelope built (as libparley
 * does): the plugin may then cover several STOREDs with one receipt.
 * Default true; --per-message-receipts clears it. */
extern bool lg_payload_coalesce;

/* Decode a delivered envelope and read the stamp from its body (and whether
 * the broker stamped server fields: seq > 0 and a sender).
 * Returns 0, or -1 if it is not an envelope carrying a stamp. */
int lg_payload_parse(const void *data, size_t len, lg_stamp *out);

/* Read the stamp from a client_msg_id made by lg_payload_build. 0 or -1. */
int lg_cmid_parse(const char *cmid, lg_stamp *out);

#endif
