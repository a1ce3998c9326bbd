/*
 * publish.c - helpers around mosquitto's publish API and the message event:
 * encode-and-publish, payload replacement, topic discard, topic parsing.
 * Broker thread only.
 */
#include "plugin_int.h"

#include <limits.h>
#include <string.h>

int publish__msg(const char *topic, const ProtobufCMessage *msg, bool retain)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = mosquitto_malloc(len ? len : 1);
    if (!buf)
        return MOSQ_ERR_NOMEM;
    protobuf_c_message_pack(msg, buf);
    /* On success mosquitto owns buf; on failure it is still ours. */
    int rc = mosquitto_broker_publish(NULL, topic, (int)len, buf, 1, retain, NULL);
    if (rc != MOSQ_ERR_SUCCESS) {
        mosquitto_free(buf);
        mosquitto_log_printf(MOSQ_LOG_WARNING, "parley: publish to %s failed: %s", topic,
                             mosquitto_strerror(rc));
    }
    return rc;
}

/* mosquitto_broker_publish_copy() is never used: in 2.0.11 it copies the
 * payload with plain calloc() (src/plugin_public.c), and queue_plugin_msgs()
 * (src/loop.c) releases it with mosquitto__free(), which subtracts its size
 * from the broker's memory count without it ever having been added. Each call
 * lowers $SYS/broker/heap/current by at least 24 bytes until the unsigned
 * count wraps, and from then on every allocation fails the memory_limit check:
 * clients are dropped "due to out of memory" (docs/broker-plugin.md,
 * "mosquitto 2.0.11 behaviour"). The copy is made here with mosquitto_malloc. */
int publish__copy(const char *topic, const void *payload, size_t len, int qos, bool retain)
{
    if (len > INT_MAX)
        return MOSQ_ERR_INVAL;
    uint8_t *buf = mosquitto_malloc(len ? len : 1);
    if (!buf)
        return MOSQ_ERR_NOMEM;
    if (len)
        memcpy(buf, payload, len);
    /* On success mosquitto owns buf; on failure it is still ours. */
    int rc = mosquitto_broker_publish(NULL, topic, (int)len, buf, qos, retain, NULL);
    if (rc != MOSQ_ERR_SUCCESS)
        mosquitto_free(buf);
    return rc;
}

int publish__own(const char *topic, void *buf, size_t len)
{
    if (len > INT_MAX) {
        mosquitto_free(buf);
        return MOSQ_ERR_INVAL;
    }
    /* On success mosquitto owns buf; on failure it is still ours. */
    int rc = mosquitto_broker_publish(NULL, topic, (int)len, buf, 1, false, NULL);
    if (rc != MOSQ_ERR_SUCCESS) {
        mosquitto_free(buf);
        mosquitto_log_printf(MOSQ_LOG_WARNING, "parley: publish to %s failed: %s", topic,
                             mosquitto_strerror(rc));
    }
    return rc;
}

int publish__raw(const char *topic, const void *payload, size_t len)
{
    int rc = publish__copy(topic, payload, len, 1, false);
    if (rc != MOSQ_ERR_SUCCESS)
        mosquitto_log_printf(MOSQ_LOG_WARNING, "parley: publish to %s failed: %s", topic,
                             mosquitto_strerror(rc));
    return rc;
}

void publish__discard(struct mosquitto_evt_message *ed)
{
    ed->retain = false;
    /* Every client topic the plugin consumes is at least as long: written
     * over in place, no allocation. */
    if (ed->topic && strlen(ed->topic) >= sizeof PP_DISCARD_TOPIC - 1) {
        memcpy(ed->topic, PP_DISCARD_TOPIC, sizeof PP_DISCARD_TOPIC);
        return;
    }
    char *t = mosquitto_strdup(PP_DISCARD_TOPIC);
    if (t) {
        /* mosquitto 2.0 does not free a replaced topic itself. */
        mosquitto_free(ed->topic);
        ed->topic = t;
    }
    ed->retain = false;
}

int publish__set_payload(struct mosquitto_evt_message *ed, const ProtobufCMessage *msg)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = mosquitto_malloc(len ? len : 1);
    if (!buf)
        return MOSQ_ERR_NOMEM;
    protobuf_c_message_pack(msg, buf);
    /* mosquitto frees the old payload when the pointer changes. */
    ed->payload = buf;
    ed->payloadlen = (uint32_t)len;
    ed->retain = false;
    return MOSQ_ERR_SUCCESS;
}

bool publish__parse_user_topic(const char *topic, char user[IDS_USER_MAX + 1], const char **leaf)
{
    static const char prefix[] = "parley/u/";
    if (strncmp(topic, prefix, sizeof prefix - 1) != 0)
        return false;
    const char *u = topic + sizeof prefix - 1;
    const char *slash = strchr(u, '/');
    if (!slash || slash == u || (size_t)(slash - u) > IDS_USER_MAX)
        return false;
    memcpy(user, u, (size_t)(slash - u));
    user[slash - u] = '\0';
    if (!ids_valid_user(user))
        return false;
    *leaf = slash + 1;
    return strchr(*leaf, '/') == NULL && **leaf != '\0';
}
