/*
 * lg_mqtt.h - the few MQTT 3.1.1 packets the load generator speaks on its
 * own sockets (CONNECT, SUBSCRIBE, PUBLISH, PUBACK out; CONNACK, SUBACK,
 * PUBLISH, PUBACK in), with buffered reads and batched writes so that one
 * system call carries many messages.
 *
 * Why not a client library for the hot path: libmosquitto reads every
 * packet header byte by byte and wakes its network thread through a socket
 * pair for each publish; measured here that costs the generator more CPU
 * per message than the broker spends, so on a two-core machine the
 * generator, not the broker, set the throughput.
 */
#ifndef PARLEY_LG_MQTT_H
#define PARLEY_LG_MQTT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LG_MQTT_CONNECT 0x10
#define LG_MQTT_CONNACK 0x20
#define LG_MQTT_PUBLISH 0x30
#define LG_MQTT_PUBACK 0x40
#define LG_MQTT_SUBSCRIBE 0x82
#define LG_MQTT_SUBACK 0x90

/* A growable byte buffer: data[off .. len) is pending. */
typedef struct {
    uint8_t *data;
    size_t off, len, cap;
} lg_buf;

/* Make room for n more bytes at data + len; NULL on allocation failure. */
uint8_t *lg_buf_reserve(lg_buf *b, size_t n);
void lg_buf_free(lg_buf *b);

/* Append packets to b. Return 0, or -1 on allocation failure. */
int lg_mqtt_connect(lg_buf *b, const char *client_id, const char *user, const char *pass,
                    int keepalive_s);
int lg_mqtt_subscribe(lg_buf *b, uint16_t packet_id, const char *filter, int qos);
/* PUBLISH with the payload written by the caller: returns a pointer to
 * payload_len bytes to fill, or NULL. packet_id is ignored at QoS 0. */
uint8_t *lg_mqtt_publish(lg_buf *b, const char *topic, int qos, uint16_t packet_id,
                         size_t payload_len);
int lg_mqtt_puback(lg_buf *b, uint16_t packet_id);

/* One packet parsed from a receive buffer. */
typedef struct {
    uint8_t type;               /* first byte & 0xf0 */
    uint8_t flags;              /* first byte & 0x0f */
    const uint8_t *body;        /* variable header + payload */
    size_t body_len;
    /* PUBLISH only */
    const char *topic;          /* not NUL-terminated */
    size_t topic_len;
    int qos;
    uint16_t packet_id;
    const uint8_t *payload;
    size_t payload_len;
} lg_mqtt_packet;

/* Parse the first complete packet of data[0..len). Returns its total length,
 * 0 if more bytes are needed, -1 if malformed. */
long lg_mqtt_parse(const uint8_t *data, size_t len, lg_mqtt_packet *out);

/* Blocking helpers for connection setup (fd in blocking mode). */
int lg_mqtt_write_all(int fd, const uint8_t *p, size_t n);
/* Read one whole packet into b (b->data[0 .. returned length)); -1 on error. */
long lg_mqtt_read_packet(int fd, lg_buf *b, lg_mqtt_packet *out);

#endif
