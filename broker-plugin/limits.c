/*
 * limits.c - rate limits (token buckets): per MQTT client id, rate_messages
 * publishes and rate_bytes payload bytes per second; per user (all of its
 * client ids together), rate_user_messages and rate_user_bytes. Each bucket
 * holds a burst of twice its rate. A publish passes only if both buckets
 * have room, and then is charged to both. Client buckets are forgotten on
 * disconnect, user buckets once they have refilled completely (checked at
 * every metrics report).
 *
 * limits/rate_limited_clients counts each client refused during a metrics
 * interval when it is first refused, not by walking the buckets at the
 * report: a client that bursts and disconnects before the report (its
 * bucket is gone) still counts, so a report that shows refusals never
 * shows 0 clients.
 */
#include "plugin_int.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    double messages;
    double bytes;
    int64_t last_us;
    bool limited;     /* refused something since the last metrics report */
} limits_bucket;

static strmap *lim_buckets;      /* client id -> bucket */
static strmap *lim_user_buckets; /* user id -> bucket */
static size_t lim_limited_clients; /* clients first refused in this interval */

int limits__init(void)
{
    lim_buckets = strmap_new(free);
    lim_user_buckets = strmap_new(free);
    return lim_buckets && lim_user_buckets ? 0 : -1;
}

void limits__cleanup(void)
{
    lim_limited_clients = 0;
    strmap_free(lim_buckets);
    lim_buckets = NULL;
    strmap_free(lim_user_buckets);
    lim_user_buckets = NULL;
}

/* The bucket of key in map, refilled up to now; NULL if out of memory. */
static limits_bucket *limits_refill(strmap *map, const char *key, double rate_m, double rate_b,
                                    int64_t now)
{
    double cap_m = 2 * rate_m, cap_b = 2 * rate_b;
    limits_bucket *b = strmap_get(map, key);
    if (!b) {
        b = calloc(1, sizeof *b);
        if (!b || strmap_put(map, key, b) != 0) {
            free(b);
            return NULL;
        }
        b->messages = cap_m;
        b->bytes = cap_b;
    } else {
        double dt = (double)(now - b->last_us) / 1e6;
        b->messages += dt * rate_m;
        b->bytes += dt * rate_b;
        if (b->messages > cap_m)
            b->messages = cap_m;
        if (b->bytes > cap_b)
            b->bytes = cap_b;
    }
    b->last_us = now;
    return b;
}

/* A message bigger than the whole burst passes when the bucket is full and
 * leaves it in debt, so the byte rate still holds on average. */
static bool limits_room(const limits_bucket *b, double rate_b, size_t len)
{
    double cap_b = 2 * rate_b;
    double need = (double)len < cap_b ? (double)len : cap_b;
    return b->messages >= 1 && b->bytes >= need;
}

bool limits__allow(const char *user, const char *client_id, size_t len)
{
    int64_t now = clock_mono_us();
    limits_bucket *c = limits_refill(lim_buckets, client_id, pp.cfg.rate_messages,
                                     pp.cfg.rate_bytes, now);
    limits_bucket *u = limits_refill(lim_user_buckets, user, pp.cfg.rate_user_messages,
                                     pp.cfg.rate_user_bytes, now);
    /* Out of memory: do not refuse service for it. */
    bool ok_c = !c || limits_room(c, pp.cfg.rate_bytes, len);
    bool ok_u = !u || limits_room(u, pp.cfg.rate_user_bytes, len);
    if (!ok_c || !ok_u) {
        if (c && !c->limited) {
            c->limited = true; /* also when refused because of its user */
            lim_limited_clients++;
        }
        if (u && !ok_u)
            u->limited = true;
        return false;
    }
    if (c) {
        c->messages -= 1;
        c->bytes -= (double)len;
    }
    if (u) {
        u->messages -= 1;
        u->bytes -= (double)len;
    }
    return true;
}

void limits__forget(const char *client_id)
{
    strmap_remove(lim_buckets, client_id);
}

static void limits_clear(const char *key, void *value, void *ctx)
{
    limits_bucket *b = value;
    b->limited = false;
}

typedef struct {
    int64_t now;
    char **full;
    size_t n, cap;
} limits_sweep;

static void limits_find_full(const char *key, void *value, void *ctx)
{
    limits_bucket *b = value;
    limits_sweep *w = ctx;
    double dt = (double)(w->now - b->last_us) / 1e6;
    if (b->messages + dt * pp.cfg.rate_user_messages < 2 * pp.cfg.rate_user_messages ||
        b->bytes + dt * pp.cfg.rate_user_bytes < 2 * pp.cfg.rate_user_bytes)
        return;
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 64;
        char **a = realloc(w->full, cap * sizeof *a);
        if (!a)
            return;
        w->full = a;
        w->cap = cap;
    }
    if ((w->full[w->n] = strdup(key)))
        w->n++;
}

size_t limits__limited_clients(void)
{
    size_t n = lim_limited_clients;
    lim_limited_clients = 0;
    strmap_foreach(lim_buckets, limits_clear, NULL);
    /* User buckets that refilled completely hold no information: drop them
     * (keys are collected first; the map is not changed while walked). */
    limits_sweep w = {.now = clock_mono_us()};
    strmap_foreach(lim_user_buckets, limits_clear, NULL);
    strmap_foreach(lim_user_buckets, limits_find_full, &w);
    for (size_t i = 0; i < w.n; i++) {
        strmap_remove(lim_user_buckets, w.full[i]);
        free(w.full[i]);
    }
    free(w.full);
    return n;
}
