/* lg_mqtt.c - the MQTT 3.1.1 packets the load generator speaks (lg_mqtt.h). */
#include "lg_mqtt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

uint8_t *lg_buf_reserve(lg_buf *b, size_t n)
{
    if (b->off > 0 && b->off == b->len)
        b->off = b->len = 0;
    if (b->len + n > b->cap) {
        if (b->off > 0) {       /* compact first */
            memmove(b->data, b->data + b->off, b->len - b->off);
            b->len -= b->off;
            b->off = 0;
        }
        if (b->len + n > b->cap) {
            size_t cap = b->cap ? b->cap : 4096;
            while (cap < b->len + n)
                cap *= 2;
            uint8_t *d = realloc(b->data, cap);
            if (!d)
                return NULL;
            b->data = d;
            b->cap = cap;
        }
    }
    return b->data + b->len;
}

void lg_buf_free(lg_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

static size_t varint(uint8_t *p, size_t v)
{
    size_t n = 0;
    do {
        uint8_t byte = v % 128;
        v /= 128;
        p[n++] = (uint8_t)(byte | (v ? 0x80 : 0));
    } while (v);
    return n;
}

static size_t put_str(uint8_t *p, const char *s, size_t n)
{
    p[0] = (uint8_t)(n >> 8);
    p[1] = (uint8_t)n;
    memcpy(p + 2, s, n);
    return n + 2;
}

int lg_mqtt_connect(lg_buf *b, const char *client_id, const char *user, const char *pass,
                    int keepalive_s)
{
    size_t cl = strlen(client_id), ul = user ? strlen(user) : 0, pl = pass ? strlen(pass) : 0;
    size_t rem = 10 + 2 + cl + (user ? 2 + ul : 0) + (pass ? 2 + pl : 0);
    uint8_t *p = lg_buf_reserve(b, rem + 5), *q = p;
    if (!p)
        return -1;
    *q++ = LG_MQTT_CONNECT;
    q += varint(q, rem);
    static const uint8_t vh[7] = {0, 4, 'M', 'Q', 'T', 'T', 4};
    memcpy(q, vh, sizeof vh);
    q += sizeof vh;
    *q++ = (uint8_t)(0x02 | (user ? 0x80 : 0) | (pass ? 0x40 : 0));   /* clean session */
    *q++ = (uint8_t)(keepalive_s >> 8);
    *q++ = (uint8_t)keepalive_s;
    q += put_str(q, client_id, cl);
    if (user)
        q += put_str(q, user, ul);
    if (pass)
        q += put_str(q, pass, pl);
    b->len += (size_t)(q - p);
    return 0;
}

int lg_mqtt_subscribe(lg_buf *b, uint16_t packet_id, const char *filter, int qos)
{
    size_t fl = strlen(filter), rem = 2 + 2 + fl + 1;
    uint8_t *p = lg_buf_reserve(b, rem + 5), *q = p;
    if (!p)
        return -1;
    *q++ = LG_MQTT_SUBSCRIBE;
    q += varint(q, rem);
    *q++ = (uint8_t)(packet_id >> 8);
    *q++ = (uint8_t)packet_id;
    q += put_str(q, filter, fl);
    *q++ = (uint8_t)qos;
    b->len += (size_t)(q - p);
    return 0;
}

uint8_t *lg_mqtt_publish(lg_buf *b, const char *topic, int qos, uint16_t packet_id,
                         size_t payload_len)
{
    size_t tl = strlen(topic), rem = 2 + tl + (qos ? 2 : 0) + payload_len;
    uint8_t *p = lg_buf_reserve(b, rem + 5), *q = p;
    if (!p)
        return NULL;
    *q++ = (uint8_t)(LG_MQTT_PUBLISH | (qos << 1));
    q += varint(q, rem);
    q += put_str(q, topic, tl);
    if (qos) {
        *q++ = (uint8_t)(packet_id >> 8);
        *q++ = (uint8_t)packet_id;
    }
    b->len += (size_t)(q - p) + payload_len;
    return q;
}

int lg_mqtt_puback(lg_buf *b, uint16_t packet_id)
{
    uint8_t *p = lg_buf_reserve(b, 4);
    if (!p)
        return -1;
    p[0] = LG_MQTT_PUBACK;
    p[1] = 2;
    p[2] = (uint8_t)(packet_id >> 8);
    p[3] = (uint8_t)packet_id;
    b->len += 4;
    return 0;
}

long lg_mqtt_parse(const uint8_t *data, size_t len, lg_mqtt_packet *out)
{
    if (len < 2)
        return 0;
    size_t rem = 0, i = 1;
    for (int shift = 0;; shift += 7) {
        if (i >= len)
            return 0;
        if (i > 4)
            return -1;
        rem |= (size_t)(data[i] & 0x7f) << shift;
        if (!(data[i++] & 0x80))
            break;
    }
    if (len < i + rem)
        return 0;
    memset(out, 0, sizeof *out);
    out->type = data[0] & 0xf0;
    out->flags = data[0] & 0x0f;
    out->body = data + i;
    out->body_len = rem;
    if (out->type == LG_MQTT_PUBLISH) {
        const uint8_t *b = out->body;
        if (rem < 2)
            return -1;
        out->topic_len = (size_t)b[0] << 8 | b[1];
        out->qos = (out->flags >> 1) & 3;
        size_t hdr = 2 + out->topic_len + (out->qos ? 2 : 0);
        if (hdr > rem)
            return -1;
        out->topic = (const char *)b + 2;
        if (out->qos)
            out->packet_id = (uint16_t)(b[2 + out->topic_len] << 8 | b[3 + out->topic_len]);
        out->payload = b + hdr;
        out->payload_len = rem - hdr;
    } else if (out->type == LG_MQTT_PUBACK && rem >= 2) {
        out->packet_id = (uint16_t)(out->body[0] << 8 | out->body[1]);
    }
    return (long)(i + rem);
}

int lg_mqtt_write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

long lg_mqtt_read_packet(int fd, lg_buf *b, lg_mqtt_packet *out)
{
    b->off = b->len = 0;
    for (;;) {
        long n = lg_mqtt_parse(b->data, b->len, out);
        if (n != 0)
            return n;
        uint8_t *p = lg_buf_reserve(b, 1);     /* read byte by byte: setup only, */
        if (!p)                                 /* never past the packet's end */
            return -1;
        ssize_t r = read(fd, p, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        b->len += 1;
    }
}
