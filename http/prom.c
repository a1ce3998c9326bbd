/*
 * prom.c - Prometheus text builder (prom.h).
 */
#include "prom.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void http_prom_printf(http_prom *t, const char *fmt, ...)
{
    if (t->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf ? t->buf + t->len : NULL, t->buf ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = true;
            return;
        }
        if (t->buf && (size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t ncap = t->cap * 2 + (size_t)n + 4096;
        char *nb = realloc(t->buf, ncap);
        if (!nb) {
            t->failed = true;
            return;
        }
        t->buf = nb;
        t->cap = ncap;
    }
}

void http_prom_family(http_prom *t, const char *name, const char *type, const char *help)
{
    http_prom_printf(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void http_prom_counter(http_prom *t, const char *name, const char *help, const char *labels,
                       uint64_t value)
{
    http_prom_family(t, name, "counter", help);
    http_prom_printf(t, "%s%s %llu\n", name, labels, (unsigned long long)value);
}

void http_prom_gauge(http_prom *t, const char *name, const char *help, const char *labels,
                     int64_t value)
{
    http_prom_family(t, name, "gauge", help);
    http_prom_printf(t, "%s%s %lld\n", name, labels, (long long)value);
}

void http_prom_histogram(http_prom *t, const char *name, const char *label, const int64_t *bound_us,
                         const uint64_t *counts, size_t n, uint64_t sum_us)
{
    const char *sep = *label ? "," : "";
    uint64_t cum = 0;
    for (size_t b = 0; b < n; b++) {
        cum += counts[b];
        http_prom_printf(t, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, label, sep,
                         (double)bound_us[b] / 1e6, (unsigned long long)cum);
    }
    cum += counts[n];
    http_prom_printf(t, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, label, sep,
                     (unsigned long long)cum);
    if (*label) {
        http_prom_printf(t, "%s_sum{%s} %.6f\n", name, label, (double)sum_us / 1e6);
        http_prom_printf(t, "%s_count{%s} %llu\n", name, label, (unsigned long long)cum);
    } else {
        http_prom_printf(t, "%s_sum %.6f\n", name, (double)sum_us / 1e6);
        http_prom_printf(t, "%s_count %llu\n", name, (unsigned long long)cum);
    }
}

char *http_prom_finish(http_prom *t)
{
    char *out = t->failed ? NULL : t->buf ? t->buf : strdup("");
    if (t->failed)
        free(t->buf);
    memset(t, 0, sizeof *t);
    return out;
}
