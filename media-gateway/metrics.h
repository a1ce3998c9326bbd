/*
 * metrics.h - process-wide counters of the media gateway, rendered as
 * Prometheus text for GET /metrics. Every function is thread-safe (atomics).
 */
#ifndef PARLEY_MEDIA_METRICS_H
#define PARLEY_MEDIA_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    METRIC_UPLOADS = 0,         /* committed uploads */
    METRIC_UPLOAD_BYTES,        /* bytes of committed uploads */
    METRIC_DOWNLOADS,           /* downloads started (200 and 206) */
    METRIC_DOWNLOAD_BYTES,      /* bytes sent by downloads */
    METRIC_DELETES,             /* media deleted by their owner */
    METRIC_EXPIRED,             /* media deleted by retention */
    METRIC_COUNTER_COUNT
} metrics_counter;

typedef enum {
    METRIC_ACTIVE_UPLOADS = 0,
    METRIC_ACTIVE_DOWNLOADS,
    METRIC_GAUGE_COUNT
} metrics_gauge;

/* Set the backend label ("file" / "s3"); call once before serving. */
void metrics_init(const char *backend);
void metrics_add(metrics_counter c, uint64_t n);
void metrics_gauge_add(metrics_gauge g, int64_t delta);
/* Count an error response by its code ("too_large", "backend_error", ...);
 * unknown codes are counted as "other". */
void metrics_error(const char *code);
/* Render every metric; *out is malloc'ed (caller frees). Returns 0 or -1 (no memory). */
int metrics_render(char **out, size_t *len);

#endif
