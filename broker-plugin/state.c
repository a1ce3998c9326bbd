/*
 * state.c - the plugin's shared state (pp: options, the store writer,
 * metrics) and its clocks, at the bottom of the message path so that no
 * file has to reach into the entry file (plugin.c) for them.
 */
#include "plugin_int.h"

#include <time.h>

pp_state pp;

int64_t pp_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t pp_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
