/*
 * stages.h - the stage histograms of a stored message's path through the
 * broker (stages.c). Broker thread only.
 */
#ifndef PARLEY_PLUGIN_STAGES_H
#define PARLEY_PLUGIN_STAGES_H

#include "plugin_int.h"
#include "prom.h"

typedef enum {
    PP_STAGE_QUEUE,
    PP_STAGE_APPLY,
    PP_STAGE_COMMIT,
    PP_STAGE_COMPLETE,
    PP_STAGE_HANDOFF,
    PP_STAGE_TOTAL,
    PP_STAGE_COUNT
} pp_stage;

/* Record a timed task's stages, now_us being when the tick runs it. */
void stages__record(const pp_task *t, uint64_t now_us);
const char *stages__name(pp_stage s);
/* The upper bound of the bucket holding quantile q (0..1) since start; 0
 * when nothing was recorded. */
uint64_t stages__quantile_us(pp_stage s, double q);
/* The histograms, as one Prometheus family. */
void stages__prom(http_prom *t);

#endif
