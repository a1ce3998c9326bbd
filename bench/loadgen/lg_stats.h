/*
 * lg_stats.h - latency samples and their distribution.
 *
 * A sample set is an append-only array of nanosecond values owned by one
 * thread while the run is going; the main thread merges the sets after every
 * client thread has stopped and sorts once to read exact percentiles (no
 * histogram rounding: a ten-second run at 100k msg/s is 8 MB of samples).
 */
#ifndef PARLEY_LG_STATS_H
#define PARLEY_LG_STATS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
    int64_t *v;
    size_t n;
    size_t cap;
    size_t dropped;     /* samples not recorded because memory ran out */
} lg_samples;

/* Append one sample (ns). Never fails: on allocation failure the sample is
 * counted in dropped. */
void lg_samples_add(lg_samples *s, int64_t ns);
/* Move every sample of src into dst; src is left empty. */
void lg_samples_merge(lg_samples *dst, lg_samples *src);
void lg_samples_free(lg_samples *s);

typedef struct {
    size_t n;
    double p50_us, p90_us, p99_us, p999_us, max_us, mean_us;
} lg_dist;

/* Sort the samples (in place) and compute the distribution; all zero if empty. */
lg_dist lg_samples_dist(lg_samples *s);

/* Write s as a JSON string literal (quoted, escaped) to f. */
void lg_json_str(FILE *f, const char *s);

/* Write d as a JSON object ({"n":..,"p50_us":..}) to f. */
void lg_dist_json(FILE *f, const lg_dist *d);

#endif
