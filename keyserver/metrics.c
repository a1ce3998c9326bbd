/*
 * metrics.c - the keyserver's counters (metrics.h): relaxed atomics per
 * route and status, rendered as Prometheus text for GET /metrics.
 */
#include "metrics.h"

#include "prom.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATUS_MIN 100
#define STATUS_MAX 599
#define N_STATUS (STATUS_MAX - STATUS_MIN + 1)

/* Latency histogram bucket upper bounds, in microseconds. */
static const int64_t bucket_us[] = {500,   1000,   2500,   5000,   10000,   25000,
                                    50000, 100000, 250000, 500000, 1000000, 2500000};
#define N_BUCKETS (sizeof bucket_us / sizeof bucket_us[0])

static const char *route_names[METRICS_ROUTE_COUNT_] = {"identity_put", "identity_get", "keys_put",
                                                        "keys_count",   "keys_bundle",  "healthz",
                                                        "metrics",      "devices",      "other"};

static const struct {
    const char *name;
    const char *help;
} counter_info[METRICS_COUNTER_COUNT_] = {
    {"parley_keyserver_rate_limited_total", "Requests refused with 429 by the rate limiter."},
    {"parley_keyserver_bundles_served_total", "Prekey bundles handed out."},
    {"parley_keyserver_otpk_exhausted_total",
     "Prekey bundles handed out without a one-time prekey (none left)."},
    {"parley_keyserver_otpk_uploaded_total", "One-time prekeys stored."},
    {"parley_keyserver_signed_prekeys_uploaded_total", "Signed prekeys stored (rotations)."},
    {"parley_keyserver_registrations_total", "Identities registered for the first time."},
    {"parley_keyserver_key_changes_total", "Identity keys replaced by a signed key change."},
    {"parley_keyserver_body_too_large_total", "Requests refused with 413."},
    {"parley_keyserver_otpk_withheld_total",
     "Prekey bundles served without a one-time prekey because a hand-out limit was reached."},
    {"parley_keyserver_invalid_path_total",
     "Requests refused with 400 invalid_path (control character in the path)."},
    {"parley_keyserver_device_lists_stored_total", "Signed device lists stored."},
    {"parley_keyserver_link_codes_total", "Link codes handed out to devices asking to join."},
};

/* Auth failure reasons tracked as label values; anything else is "other". */
static const char *auth_reasons[] = {
    "missing",   "malformed",    "wrong_user",    "wrong_audience", "expired",        "lifetime",
    "signature", "unknown_user", "user_disabled", "user_deleted",   "unknown_device", "other"};
#define N_AUTH (sizeof auth_reasons / sizeof auth_reasons[0])

typedef struct {
    uint64_t by_status[N_STATUS];
    uint64_t buckets[N_BUCKETS];   /* non-cumulative; rendered cumulative */
    uint64_t count;
    uint64_t sum_us;
} route_stats;

struct metrics {
    route_stats routes[METRICS_ROUTE_COUNT_];
    uint64_t counters[METRICS_COUNTER_COUNT_];
    uint64_t auth[N_AUTH];
};

static void add(uint64_t *p, uint64_t by)
{
    __atomic_fetch_add(p, by, __ATOMIC_RELAXED);
}
static uint64_t get(const uint64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

metrics *metrics_new(void)
{
    return calloc(1, sizeof(metrics));
}
void metrics_free(metrics *m)
{
    free(m);
}

void metrics_request(metrics *m, metrics_route route, unsigned status, int64_t duration_us)
{
    if ((unsigned)route >= METRICS_ROUTE_COUNT_)
        route = METRICS_ROUTE_OTHER;
    route_stats *r = &m->routes[route];
    if (status >= STATUS_MIN && status <= STATUS_MAX)
        add(&r->by_status[status - STATUS_MIN], 1);
    if (duration_us < 0)
        duration_us = 0;
    for (size_t i = 0; i < N_BUCKETS; i++) {
        if (duration_us <= bucket_us[i]) {
            add(&r->buckets[i], 1);
            break;
        }
    }
    add(&r->count, 1);
    add(&r->sum_us, (uint64_t)duration_us);
}

void metrics_inc(metrics *m, metrics_counter c, uint64_t by)
{
    if ((unsigned)c < METRICS_COUNTER_COUNT_)
        add(&m->counters[c], by);
}

void metrics_auth_failure(metrics *m, const char *reason)
{
    size_t i = 0;
    while (i < N_AUTH - 1 && strcmp(auth_reasons[i], reason) != 0)
        i++;
    add(&m->auth[i], 1);
}

#define REQ "parley_keyserver_requests_total"
#define DUR "parley_keyserver_request_duration_seconds"
#define AUTH "parley_keyserver_auth_failures_total"

char *metrics_render(metrics *m)
{
    http_prom t = {0};

    http_prom_family(&t, REQ, "counter", "HTTP requests by route and status code.");
    for (int r = 0; r < METRICS_ROUTE_COUNT_; r++)
        for (int s = 0; s < N_STATUS; s++) {
            uint64_t v = get(&m->routes[r].by_status[s]);
            if (v)
                http_prom_printf(&t, REQ "{route=\"%s\",code=\"%d\"} %llu\n", route_names[r],
                                 s + STATUS_MIN, (unsigned long long)v);
        }

    http_prom_family(&t, DUR, "histogram", "Request latency by route.");
    for (int r = 0; r < METRICS_ROUTE_COUNT_; r++) {
        const route_stats *rs = &m->routes[r];
        uint64_t counts[N_BUCKETS + 1], in_buckets = 0;
        char label[64];
        for (size_t b = 0; b < N_BUCKETS; b++)
            in_buckets += counts[b] = get(&rs->buckets[b]);
        uint64_t count = get(&rs->count);
        counts[N_BUCKETS] = count > in_buckets ? count - in_buckets : 0; /* above the last bound */
        snprintf(label, sizeof label, "route=\"%s\"", route_names[r]);
        http_prom_histogram(&t, DUR, label, bucket_us, counts, N_BUCKETS, get(&rs->sum_us));
    }

    http_prom_family(&t, AUTH, "counter", "Requests refused with 401, by reason.");
    for (size_t i = 0; i < N_AUTH; i++)
        http_prom_printf(&t, AUTH "{reason=\"%s\"} %llu\n", auth_reasons[i],
                         (unsigned long long)get(&m->auth[i]));

    for (int c = 0; c < METRICS_COUNTER_COUNT_; c++)
        http_prom_counter(&t, counter_info[c].name, counter_info[c].help, "", get(&m->counters[c]));
    return http_prom_finish(&t);
}
