/*
 * clock.h - the one clock helper: wall-clock time for timestamps that leave
 * the process (server_ts, receipts, tokens) and monotonic time for every
 * interval, deadline and latency inside it.
 */
#ifndef PARLEY_CLOCK_H
#define PARLEY_CLOCK_H

#include <stdint.h>

/* Milliseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t clock_now_ms(void);
/* Monotonic microseconds / milliseconds (CLOCK_MONOTONIC; arbitrary origin). */
int64_t clock_mono_us(void);
int64_t clock_mono_ms(void);

#endif
