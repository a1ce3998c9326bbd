/*
 * state.c - the plugin's shared state (pp: options, the store writer,
 * metrics), at the bottom of the message path so that no file has to reach
 * into the entry file (plugin.c) for it. Clocks: common/clock.h.
 */
#include "plugin_int.h"

pp_state pp;
