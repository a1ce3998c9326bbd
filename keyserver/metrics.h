/*
 * metrics.h - the keyserver's counters, rendered in the Prometheus text
 * exposition format for GET /metrics. Every function is thread-safe
 * (atomic counters); none can fail except metrics_render on out-of-memory.
 */
#ifndef PARLEY_KS_METRICS_H
#define PARLEY_KS_METRICS_H

#include <stdint.h>

/* The routes requests are counted by (label "route"). */
typedef enum {
    METRICS_ROUTE_IDENTITY_PUT = 0,
    METRICS_ROUTE_IDENTITY_GET,
    METRICS_ROUTE_KEYS_PUT,
    METRICS_ROUTE_KEYS_COUNT,
    METRICS_ROUTE_KEYS_BUNDLE,
    METRICS_ROUTE_HEALTHZ,
    METRICS_ROUTE_METRICS,
    METRICS_ROUTE_DEVICES,     /* /v2/devices, /v2/link */
    METRICS_ROUTE_OTHER,       /* unknown routes, wrong methods */
    METRICS_ROUTE_COUNT_
} metrics_route;

/* Counters without labels. */
typedef enum {
    METRICS_RATE_LIMITED = 0,  /* requests answered 429 */
    METRICS_BUNDLES_SERVED,    /* prekey bundles handed out */
    METRICS_OTPK_EXHAUSTED,    /* bundles handed out without a one-time prekey */
    METRICS_OTPK_UPLOADED,     /* one-time prekeys stored */
    METRICS_SIGNED_PREKEYS,    /* signed prekeys stored (rotations) */
    METRICS_REGISTRATIONS,     /* identities created */
    METRICS_KEY_CHANGES,       /* identity keys replaced */
    METRICS_BODY_TOO_LARGE,    /* requests answered 413 */
    METRICS_OTPK_WITHHELD, /* bundles served without a one-time prekey by the hand-out limits */
    METRICS_INVALID_PATH, /* requests refused for a control character in the path */
    METRICS_DEVICE_LISTS, /* device lists stored (PUT /v2/devices) */
    METRICS_LINK_CODES, /* link codes handed out (POST /v2/link) */
    METRICS_COUNTER_COUNT_
} metrics_counter;

typedef struct metrics metrics;

/* A zeroed set of metrics (NULL on out-of-memory). */
metrics *metrics_new(void);
void metrics_free(metrics *m);

/* One finished request: route, HTTP status, duration in microseconds. */
void metrics_request(metrics *m, metrics_route route, unsigned status, int64_t duration_us);
void metrics_inc(metrics *m, metrics_counter c, uint64_t by);
/* One authentication failure; reason is a short static label value
 * ("missing", "malformed", "expired", "signature", "unknown_user", ...). */
void metrics_auth_failure(metrics *m, const char *reason);

/* The Prometheus text of every metric: a malloc'd NUL-terminated string
 * (the caller frees it), or NULL on out-of-memory. */
char *metrics_render(metrics *m);

#endif
