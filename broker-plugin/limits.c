/*
 * limits.c - per-client rate limits (token buckets): rate_messages
 * publishes and rate_bytes payload bytes per second, each with a burst of
 * twice the rate. Counted per MQTT client id; forgotten on disconnect.
 */
#include "plugin_int.h"

#include <stdlib.h>

typedef struct {
    double messages;
    double bytes;
    int64_t last_us;
    bool limited;     /* refused something since the last metrics report */
} limits_bucket;

static strmap *lim_buckets;

int limits__init(void)
{
    lim_buckets = strmap_new(free);
    return lim_buckets ? 0 : -1;
}

void limits__cleanup(void)
{
    strmap_free(lim_buckets);
    lim_buckets = NULL;
}

bool limits__allow(const char *client_id, size_t len)
{
    double cap_m = 2 * pp.cfg.rate_messages, cap_b = 2 * pp.cfg.rate_bytes;
    int64_t now = pp_mono_us();
    limits_bucket *b = strmap_get(lim_buckets, client_id);
    if (!b) {
        b = calloc(1, sizeof *b);
        if (!b || strmap_put(lim_buckets, client_id, b) != 0) {
            free(b);
            return true; /* out of memory: do not refuse service for it */
        }
        b->messages = cap_m;
        b->bytes = cap_b;
    } else {
        double dt = (double)(now - b->last_us) / 1e6;
        b->messages += dt * pp.cfg.rate_messages;
        b->bytes += dt * pp.cfg.rate_bytes;
        if (b->messages > cap_m)
            b->messages = cap_m;
        if (b->bytes > cap_b)
            b->bytes = cap_b;
    }
    b->last_us = now;
    /* A message bigger than the whole burst passes when the bucket is full
     * and leaves it in debt, so the byte rate still holds on average. */
    double need = (double)len < cap_b ? (double)len : cap_b;
    if (b->messages < 1 || b->bytes < need) {
        b->limited = true;
        return false;
    }
    b->messages -= 1;
    b->bytes -= (double)len;
    return true;
}

void limits__forget(const char *client_id)
{
    strmap_remove(lim_buckets, client_id);
}

static void limits_count(const char *key, void *value, void *ctx)
{
    limits_bucket *b = value;
    if (b->limited) {
        (*(size_t *)ctx)++;
        b->limited = false;
    }
}

size_t limits__limited_clients(void)
{
    size_t n = 0;
    strmap_foreach(lim_buckets, limits_count, &n);
    return n;
}
