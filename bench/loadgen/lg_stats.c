/* lg_stats.c - latency samples and exact percentiles (lg_stats.h). */
#include "lg_stats.h"

#include <stdlib.h>
#include <string.h>

void lg_samples_add(lg_samples *s, int64_t ns)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4096;
        int64_t *v = realloc(s->v, cap * sizeof *v);
        if (!v) {
            s->dropped++;
            return;
        }
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = ns;
}

void lg_samples_merge(lg_samples *dst, lg_samples *src)
{
    dst->dropped += src->dropped;
    for (size_t i = 0; i < src->n; i++)
        lg_samples_add(dst, src->v[i]);
    lg_samples_free(src);
}

void lg_samples_free(lg_samples *s)
{
    free(s->v);
    memset(s, 0, sizeof *s);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted v[0..n). */
static double rank_us(const int64_t *v, size_t n, double q)
{
    size_t k = (size_t)(q * (double)n + 0.999999);
    if (k < 1)
        k = 1;
    if (k > n)
        k = n;
    return (double)v[k - 1] / 1000.0;
}

lg_dist lg_samples_dist(lg_samples *s)
{
    lg_dist d = {0};
    if (s->n == 0)
        return d;
    qsort(s->v, s->n, sizeof *s->v, cmp_i64);
    double sum = 0;
    for (size_t i = 0; i < s->n; i++)
        sum += (double)s->v[i];
    d.n = s->n;
    d.p50_us = rank_us(s->v, s->n, 0.50);
    d.p90_us = rank_us(s->v, s->n, 0.90);
    d.p99_us = rank_us(s->v, s->n, 0.99);
    d.p999_us = rank_us(s->v, s->n, 0.999);
    d.max_us = (double)s->v[s->n - 1] / 1000.0;
    d.mean_us = sum / (double)s->n / 1000.0;
    return d;
}

void lg_dist_json(FILE *f, const lg_dist *d)
{
    fprintf(f,
            "{\"n\":%zu,\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,"
            "\"max_us\":%.1f,\"mean_us\":%.1f}",
            d->n, d->p50_us, d->p90_us, d->p99_us, d->p999_us, d->max_us, d->mean_us);
}

void lg_json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}
