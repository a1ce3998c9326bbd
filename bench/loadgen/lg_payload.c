/* lg_payload.c - the load generator's envelopes with a timing stamp (lg_payload.h). */
#include "lg_payload.h"

#include "parley.pb-c.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t MAGIC[4] = {'P', 'L', 'G', '1'};

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static size_t varint_len(size_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* Body length that makes "tag + varint(len) + len" fill rem bytes (or rem - 1). */
static size_t body_len_for(size_t rem)
{
    for (size_t vl = 1; vl <= 5 && vl + 1 < rem; vl++) {
        size_t bl = rem - 1 - vl;
        if (varint_len(bl) == vl)
            return bl;
    }
    return rem >= 3 ? rem - 3 : 0;   /* boundary: one byte short */
}

bool lg_payload_coalesce = true;

size_t lg_payload_build(const lg_stamp *st, size_t target, uint8_t *body, uint8_t *buf, size_t cap)
{
    if (target < LG_PAYLOAD_MIN || target > cap)
        return 0;
    char cmid[64];
    int cl = snprintf(cmid, sizeof cmid, "p%" PRIu32 ".%" PRIu64 ".%" PRIx64, st->pair, st->seq,
                      (uint64_t)st->send_ns);
    size_t cmid_field = 1 + varint_len((size_t)cl) + (size_t)cl;
    if (lg_payload_coalesce)
        cmid_field += 3; /* field 16 (a two-byte key), varint 1 */
    size_t bl = body_len_for(target - cmid_field);
    if (bl < LG_STAMP_LEN)
        return 0;
    memcpy(body, MAGIC, 4);
    put_le(body + 4, st->pair, 4);
    put_le(body + 8, st->seq, 8);
    put_le(body + 16, (uint64_t)st->send_ns, 8);
    memset(body + LG_STAMP_LEN, 0, bl - LG_STAMP_LEN);

    Parley__V1__Envelope env = PARLEY__V1__ENVELOPE__INIT;
    env.client_msg_id = cmid;
    env.body.data = body;
    env.body.len = bl;
    env.coalesce_receipts = lg_payload_coalesce;
    if (parley__v1__envelope__get_packed_size(&env) > cap)
        return 0;
    return parley__v1__envelope__pack(&env, buf);
}

int lg_payload_parse(const void *data, size_t len, lg_stamp *out)
{
    Parley__V1__Envelope *env = parley__v1__envelope__unpack(NULL, len, data);
    if (!env)
        return -1;
    int rc = -1;
    if (env->body.len >= LG_STAMP_LEN && memcmp(env->body.data, MAGIC, 4) == 0) {
        out->pair = (uint32_t)get_le(env->body.data + 4, 4);
        out->seq = get_le(env->body.data + 8, 8);
        out->send_ns = (int64_t)get_le(env->body.data + 16, 8);
        out->server_stamped = env->seq > 0 && env->sender && env->sender[0];
        rc = 0;
    }
    parley__v1__envelope__free_unpacked(env, NULL);
    return rc;
}

int lg_cmid_parse(const char *cmid, lg_stamp *out)
{
    if (!cmid || cmid[0] != 'p')
        return -1;
    char *end;
    unsigned long pair = strtoul(cmid + 1, &end, 10);
    if (*end != '.')
        return -1;
    unsigned long long seq = strtoull(end + 1, &end, 10);
    if (*end != '.')
        return -1;
    unsigned long long ns = strtoull(end + 1, &end, 16);
    if (*end != '\0')
        return -1;
    out->pair = (uint32_t)pair;
    out->seq = seq;
    out->send_ns = (int64_t)ns;
    return 0;
}
