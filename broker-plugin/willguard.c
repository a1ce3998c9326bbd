/*
 * willguard.c - keeps MQTT wills (last-will messages) off every Parley topic.
 *
 * mosquitto 2.0.11 reads a will at CONNECT without any ACL check and gives a
 * plugin no way to see it (no accessor, no event). When the will is sent
 * (context__send_will: unclean disconnect, will delay expiry, session
 * expiry, session takeover, broker shutdown) it is checked once with
 * MOSQ_ACL_WRITE on the publishing client and then queued with
 * db__messages_easy_queue: no MOSQ_EVT_MESSAGE, so the plugin never stamps,
 * checks or consumes it. Every client PUBLISH, by contrast, raises
 * MOSQ_EVT_MESSAGE right after its WRITE check passed (handle_publish.c).
 *
 * So: an allowed WRITE on parley/... arms a marker (topic, length, a hash
 * of the first bytes); MOSQ_EVT_MESSAGE, MOSQ_EVT_DISCONNECT and the tick
 * disarm it. A READ check that matches the armed marker is part of a will's
 * routing and is denied, so the will reaches no subscriber and no queued
 * session. A retained will is still stored by mosquitto, so every READ of a
 * retained message under parley/u/ and parley/g/ is denied too: the plugin
 * clears retain on everything it routes there, only wills can leave one.
 */
#include "hardening.h"

#include <string.h>

#define WG_HASH_BYTES 256

static struct {
    bool armed;
    uint32_t len;
    uint64_t hash;
    char topic[PP_TOPIC_MAX];
} wg;
static uint64_t wg_refused;

static uint64_t wg_hash(const void *payload, uint32_t len)
{
    const unsigned char *p = payload;
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    uint32_t n = len < WG_HASH_BYTES ? len : WG_HASH_BYTES;
    for (uint32_t i = 0; p && i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static bool wg_retained_forbidden(const char *topic)
{
    return !strncmp(topic, "parley/u/", 9) || !strncmp(topic, "parley/g/", 9);
}

int willguard__acl_cb(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_acl_check *ed = event_data;
    const char *topic = ed->topic;
    bool parley = topic && !strncmp(topic, "parley/", 7);

    if (parley && ed->access == MOSQ_ACL_READ) {
        if (ed->retain && wg_retained_forbidden(topic)) {
            wg_refused++;
            return MOSQ_ERR_ACL_DENIED;
        }
        if (wg.armed && ed->payloadlen == wg.len && !strcmp(topic, wg.topic) &&
            wg_hash(ed->payload, wg.len) == wg.hash) {
            wg_refused++;
            return MOSQ_ERR_ACL_DENIED;
        }
    }
    int rc = acl__check_cb(event, event_data, userdata);
    if (ed->access == MOSQ_ACL_WRITE) {
        wg.armed = false;
        if (rc == MOSQ_ERR_SUCCESS && parley && strlen(topic) < sizeof wg.topic) {
            memcpy(wg.topic, topic, strlen(topic) + 1);
            wg.len = ed->payloadlen;
            wg.hash = wg_hash(ed->payload, wg.len);
            wg.armed = true;
        }
    }
    return rc;
}

void willguard__message_seen(void)
{
    wg.armed = false;
}

int willguard__disconnect_cb(int event, void *event_data, void *userdata)
{
    wg.armed = false;
    return MOSQ_ERR_SUCCESS;
}

void willguard__tick(void)
{
    wg.armed = false;
}

uint64_t willguard__refused(void)
{
    return wg_refused;
}
