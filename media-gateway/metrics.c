/*
 * metrics.c - the media gateway's counters and gauges (atomics) and their
 * Prometheus text exposition (format version 0.0.4).
 */
#include "metrics.h"

#include "prom.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *backend_label = "none";
static _Atomic uint64_t counters[METRIC_COUNTER_COUNT];
static _Atomic int64_t gauges[METRIC_GAUGE_COUNT];

/* Error codes the gateway answers with (docs/media.md); the last is the catch-all. */
static const char *const error_codes[] = {
    "bad_request",   "unauthorized",          "forbidden",
    "not_found",     "method_not_allowed",    "too_large",
    "hash_mismatch", "range_not_satisfiable", "backend_error",
    "internal",      "store_unavailable",     "user_disabled",
    "user_deleted",  "unknown_device",        "other",
};
#define N_ERRORS (sizeof error_codes / sizeof error_codes[0])
static _Atomic uint64_t errors[N_ERRORS];

static const struct {
    const char *name, *help;
} counter_info[METRIC_COUNTER_COUNT] = {
    {"parley_media_uploads_total", "Uploads committed to the backend."},
    {"parley_media_upload_bytes_total", "Bytes of committed uploads."},
    {"parley_media_downloads_total", "Downloads started (full and ranged)."},
    {"parley_media_download_bytes_total", "Bytes sent by downloads."},
    {"parley_media_deletes_total", "Media deleted by their owner."},
    {"parley_media_expired_total", "Media deleted by retention."},
};

static const struct {
    const char *name, *help;
} gauge_info[METRIC_GAUGE_COUNT] = {
    {"parley_media_active_uploads", "Uploads in progress."},
    {"parley_media_active_downloads", "Downloads in progress."},
};

void metrics_init(const char *backend)
{
    backend_label = backend;
}

void metrics_add(metrics_counter c, uint64_t n)
{
    atomic_fetch_add(&counters[c], n);
}

void metrics_gauge_add(metrics_gauge g, int64_t delta)
{
    atomic_fetch_add(&gauges[g], delta);
}

void metrics_error(const char *code)
{
    size_t i;
    for (i = 0; i < N_ERRORS - 1; i++)
        if (strcmp(code, error_codes[i]) == 0)
            break;
    atomic_fetch_add(&errors[i], 1);
}

int metrics_render(char **out, size_t *len)
{
    http_prom t = {0};
    char labels[64];
    snprintf(labels, sizeof labels, "{backend=\"%s\"}", backend_label);
    for (int i = 0; i < METRIC_COUNTER_COUNT; i++)
        http_prom_counter(&t, counter_info[i].name, counter_info[i].help, labels,
                          atomic_load(&counters[i]));
    for (int i = 0; i < METRIC_GAUGE_COUNT; i++)
        http_prom_gauge(&t, gauge_info[i].name, gauge_info[i].help, labels,
                        atomic_load(&gauges[i]));
    http_prom_family(&t, "parley_media_errors_total", "counter", "Error responses by error code.");
    for (size_t i = 0; i < N_ERRORS; i++)
        http_prom_printf(&t, "parley_media_errors_total{backend=\"%s\",code=\"%s\"} %llu\n",
                         backend_label, error_codes[i],
                         (unsigned long long)atomic_load(&errors[i]));
    *out = http_prom_finish(&t);
    if (!*out)
        return -1;
    *len = strlen(*out);
    return 0;
}
