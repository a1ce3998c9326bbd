#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATUS_MIN 100
#define STATUS_MAX 599
#define N_STATUS (STATUS_MAX - STATUS_MIN + 1)

/* Latency histogram bucket upper bounds, in microseconds. */
static const int64_t bucket_us[] = {500, 1000, 2500, 5000, 10000, 25000, 50000,
                                    100000, 250000, 500000, 1000000, 2500000};
#define N_BUCKETS (sizeof bucket_us / sizeof bucket_us[0])

static const char *route_names[METRICS_ROUTE_COUNT_] = {
    "identity_put", "identity_get", "keys_put", "keys_count",
    "keys_bundle",  "healthz",      "metrics",  "other"};

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
};

/* Auth failure reasons tracked as label values; anything else is "other". */
static const char *auth_reasons[] = {"missing",   "malformed", "wrong_user", "wrong_audience",
                                     "expired",   "lifetime",  "signature",  "unknown_user",
                                     "other"};
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

static void add(uint64_t *p, uint64_t by) { __atomic_fetch_add(p, by, __ATOMIC_RELAXED); }
static uint64_t get(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }

metrics *metrics_new(void) { return calloc(1, sizeof(metrics)); }
void metrics_free(metrics *m) { free(m); }

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

/* A growing text buffer; on out-of-memory it sets failed and stops. */
typedef struct {
    char *buf;
    size_t len, cap;
    int failed;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text *t, const char *fmt, ...)
{
    if (t->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = 1;
            return;
        }
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t ncap = t->cap * 2 + (size_t)n;
        char *nb = realloc(t->buf, ncap);
        if (!nb) {
            t->failed = 1;
            return;
        }
        t->buf = nb;
        t->cap = ncap;
    }
}

char *metrics_render(metrics *m)
{
    text t = {.cap = 8192};
    t.buf = malloc(t.cap);
    if (!t.buf)
        return NULL;
    t.buf[0] = '\0';

    put(&t, "# HELP parley_keyserver_requests_total HTTP requests by route and status code.\n"
            "# TYPE parley_keyserver_requests_total counter\n");
    for (int r = 0; r < METRICS_ROUTE_COUNT_; r++)
        for (int s = 0; s < N_STATUS; s++) {
            uint64_t v = get(&m->routes[r].by_status[s]);
            if (v)
                put(&t, "parley_keyserver_requests_total{route=\"%s\",code=\"%d\"} %llu\n",
                    route_names[r], s + STATUS_MIN, (unsigned long long)v);
        }

    put(&t, "# HELP parley_keyserver_request_duration_seconds Request latency by route.\n"
            "# TYPE parley_keyserver_request_duration_seconds histogram\n");
    for (int r = 0; r < METRICS_ROUTE_COUNT_; r++) {
        const route_stats *rs = &m->routes[r];
        uint64_t count = get(&rs->count), cum = 0;
        for (size_t b = 0; b < N_BUCKETS; b++) {
            cum += get(&rs->buckets[b]);
            put(&t, "parley_keyserver_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
                route_names[r], (double)bucket_us[b] / 1e6, (unsigned long long)cum);
        }
        put(&t, "parley_keyserver_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n",
            route_names[r], (unsigned long long)count);
        put(&t, "parley_keyserver_request_duration_seconds_sum{route=\"%s\"} %.6f\n",
            route_names[r], (double)get(&rs->sum_us) / 1e6);
        put(&t, "parley_keyserver_request_duration_seconds_count{route=\"%s\"} %llu\n",
            route_names[r], (unsigned long long)count);
    }

    put(&t, "# HELP parley_keyserver_auth_failures_total Requests refused with 401, by reason.\n"
            "# TYPE parley_keyserver_auth_failures_total counter\n");
    for (size_t i = 0; i < N_AUTH; i++)
        put(&t, "parley_keyserver_auth_failures_total{reason=\"%s\"} %llu\n", auth_reasons[i],
            (unsigned long long)get(&m->auth[i]));

    for (int c = 0; c < METRICS_COUNTER_COUNT_; c++)
        put(&t, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", counter_info[c].name,
            counter_info[c].help, counter_info[c].name, counter_info[c].name,
            (unsigned long long)get(&m->counters[c]));

    if (t.failed) {
        free(t.buf);
        return NULL;
    }
    return t.buf;
}
