/* lg_clock.h - the load generator's one clock: CLOCK_MONOTONIC in ns. */
#ifndef PARLEY_LG_CLOCK_H
#define PARLEY_LG_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t lg_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Sleep until the monotonic time t (ns); returns at once if t has passed. */
static inline void lg_sleep_until(int64_t t)
{
    struct timespec ts = {.tv_sec = t / 1000000000, .tv_nsec = t % 1000000000};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0) {
    }
}

static inline void lg_sleep_ms(int ms)
{
    lg_sleep_until(lg_now_ns() + (int64_t)ms * 1000000);
}

#endif
