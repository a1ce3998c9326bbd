/*
 * ratelimit.h - token-bucket rate limiting by key (a client IP or a user
 * id). Each key may make `per_minute` requests in a burst, refilled
 * continuously at per_minute / 60 per second. Thread-safe. Memory is
 * bounded: buckets that have refilled completely are forgotten.
 */
#ifndef PARLEY_KS_RATELIMIT_H
#define PARLEY_KS_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

typedef struct ratelimit ratelimit;

/* A limiter allowing per_minute requests per key (per_minute > 0).
 * NULL on out-of-memory. */
ratelimit *ratelimit_new(unsigned per_minute);
/* A limiter allowing a burst of capacity per key, refilled continuously at
 * capacity per period_s seconds (both > 0; NULL otherwise or on OOM). */
ratelimit *ratelimit_new_period(unsigned capacity, unsigned period_s);
void ratelimit_free(ratelimit *rl);

/*
 * Take one request for key at time now_ms. Returns true if allowed. When
 * refused, *retry_after_s (if not NULL) is set to the whole seconds until
 * one request is available again (at least 1). Out of memory allows the
 * request (fails open: a limiter must not take the service down).
 */
bool ratelimit_take(ratelimit *rl, const char *key, int64_t now_ms, unsigned *retry_after_s);

/* Number of keys currently tracked (for tests and metrics). */
unsigned ratelimit_size(ratelimit *rl);

#endif
