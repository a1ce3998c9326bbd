/*
 * bus_subject.c - pure helpers of the bus (bus.h): the subject of a user,
 * group or node with its id encoded into one NATS token, and the frame
 * every bus message travels in. No state, no libnats: unit-tested by
 * tests/cluster/test_bus_subject.c.
 */
#include "bus.h"

#include <string.h>

static const char bus_hex[] = "0123456789ABCDEF";

static bool bus_plain(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

int bus__token_encode(const char *id, char *out, size_t outlen)
{
    size_t n = id ? strlen(id) : 0, o = 0;
    if (n == 0 || n > BUS_ID_MAX || !out)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)id[i];
        if (bus_plain(c)) {
            if (o + 1 >= outlen)
                return -1;
            out[o++] = (char)c;
        } else {
            if (o + 3 >= outlen)
                return -1;
            out[o++] = '%';
            out[o++] = bus_hex[c >> 4];
            out[o++] = bus_hex[c & 15];
        }
    }
    out[o] = '\0';
    return (int)o;
}

static int bus_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1; /* lower case is never produced: refusing it keeps decoding injective */
}

int bus__token_decode(const char *token, char *out, size_t outlen)
{
    size_t o = 0;
    if (!token || !*token || !out)
        return -1;
    for (const char *p = token; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '%') {
            int hi = bus_hexval(p[1]), lo = hi < 0 ? -1 : bus_hexval(p[2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = (unsigned char)(hi << 4 | lo);
            if (c == 0 || bus_plain(c))
                return -1; /* not what the encoder writes */
            p += 2;
        } else if (!bus_plain(c)) {
            return -1;
        }
        if (o + 1 >= outlen || o >= BUS_ID_MAX)
            return -1;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return (int)o;
}

static const char *const bus_prefix[BUS_KIND_COUNT] = {
    [BUS_USER] = "parley.u.",
    [BUS_GROUP] = "parley.g.",
    [BUS_NODE] = "parley.node.",
    [BUS_ALL] = "parley.all",
};

int bus__subject(bus_kind kind, const char *id, char *out, size_t outlen)
{
    if ((unsigned)kind >= BUS_KIND_COUNT || !out)
        return -1;
    size_t pl = strlen(bus_prefix[kind]);
    if (pl + 1 > outlen)
        return -1;
    memcpy(out, bus_prefix[kind], pl + 1);
    if (kind == BUS_ALL)
        return (int)pl;
    if (kind == BUS_NODE && !bus__valid_node_id(id))
        return -1;
    int n = bus__token_encode(id, out + pl, outlen - pl);
    return n < 0 ? -1 : (int)pl + n;
}

bool bus__parse_subject(const char *subject, bus_kind *kind, char *id, size_t idlen)
{
    if (!subject || !id || idlen == 0)
        return false;
    if (!strcmp(subject, bus_prefix[BUS_ALL])) {
        *kind = BUS_ALL;
        id[0] = '\0';
        return true;
    }
    for (int k = 0; k < BUS_ALL; k++) {
        size_t pl = strlen(bus_prefix[k]);
        if (!strncmp(subject, bus_prefix[k], pl)) {
            if (bus__token_decode(subject + pl, id, idlen) < 0)
                return false;
            *kind = (bus_kind)k;
            return true;
        }
    }
    return false;
}

bool bus__valid_node_id(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > BUS_NODE_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!bus_plain((unsigned char)s[i]))
            return false;
    return true;
}

#define BUS_MAGIC 'P'
#define BUS_VERSION 1

int bus__frame(uint8_t type, const char *node, const void *body, size_t len, uint8_t *out,
               size_t outlen)
{
    size_t nl = node ? strlen(node) : 0;
    if (!bus__valid_node_id(node) || (len && !body) || !out || outlen < 4 + nl ||
        len > outlen - 4 - nl)
        return -1;
    out[0] = BUS_MAGIC;
    out[1] = BUS_VERSION;
    out[2] = type;
    out[3] = (uint8_t)nl;
    memcpy(out + 4, node, nl);
    if (len)
        memcpy(out + 4 + nl, body, len);
    return (int)(4 + nl + len);
}

bool bus__unframe(const void *data, size_t len, uint8_t *type, char nodebuf[BUS_NODE_ID_MAX + 1],
                  const uint8_t **body, size_t *bodylen)
{
    const uint8_t *p = data;
    if (!p || len < 4 || p[0] != BUS_MAGIC || p[1] != BUS_VERSION || p[3] == 0 ||
        p[3] > BUS_NODE_ID_MAX || len < 4 + (size_t)p[3])
        return false;
    memcpy(nodebuf, p + 4, p[3]);
    nodebuf[p[3]] = '\0';
    if (!bus__valid_node_id(nodebuf))
        return false;
    *type = p[2];
    *body = p + 4 + p[3];
    *bodylen = len - 4 - p[3];
    return true;
}
