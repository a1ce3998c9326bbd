/*
 * prom.h - building a Prometheus text exposition (format 0.0.4) for the
 * services' GET /metrics. A builder that runs out of memory remembers it
 * and http_prom_finish returns NULL; no other call can fail.
 */
#ifndef PARLEY_HTTP_PROM_H
#define PARLEY_HTTP_PROM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *buf;
    size_t len, cap;
    bool failed;
} http_prom;   /* start from {0} */

void http_prom_printf(http_prom *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "# HELP name help" and "# TYPE name type" (type: "counter", "gauge", "histogram"). */
void http_prom_family(http_prom *t, const char *name, const char *type, const char *help);
/* A family with one sample "name<labels> value"; labels "{a=\"b\"}" or "". */
void http_prom_counter(http_prom *t, const char *name, const char *help, const char *labels,
                       uint64_t value);
void http_prom_gauge(http_prom *t, const char *name, const char *help, const char *labels,
                     int64_t value);
/* One histogram series of family name (its # HELP/# TYPE already written):
 * the cumulative name_bucket lines for bound_us[0..n-1] (seconds in the
 * text) and +Inf, then name_sum and name_count. counts[i] is the number of
 * observations in (bound_us[i-1], bound_us[i]] (not cumulative), counts[n]
 * those above the last bound. label is "" or one pair such as route="x". */
void http_prom_histogram(http_prom *t, const char *name, const char *label, const int64_t *bound_us,
                         const uint64_t *counts, size_t n, uint64_t sum_us);

/* The text (malloc'd, NUL-terminated; the caller frees it), or NULL after
 * an out-of-memory. t is empty again either way. */
char *http_prom_finish(http_prom *t);

#endif
