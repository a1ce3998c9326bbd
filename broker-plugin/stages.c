/*
 * stages.c - where a stored message's time goes between the broker thread
 * receiving it and the broker thread delivering it (store, then forward):
 *
 *   queue     submitted to the writer -> the writer takes its batch
 *             (the batch delay, and waiting for the batch before it)
 *   apply     batch taken -> its statements done (the commit begins)
 *   commit    the commit: WAL writes and fsync (SQLite), until it ended
 *   complete  transaction ended -> this message's completion queued
 *             (the callbacks of the batch's earlier ops)
 *   handoff   completion queued -> the broker thread's tick runs it
 *             (the wake PINGREQ, the rest of that loop turn)
 *   total     submitted -> the tick runs it; the delivery is routed at the
 *             top of the next loop turn (queue_plugin_msgs)
 *
 * One histogram per stage with fixed bounds, recorded on the broker thread
 * from the timestamps the task carries (pp_task.t_*), rendered as a
 * Prometheus histogram and as $SYS p50/p99 figures (metrics.c). Cost: three
 * vDSO clock reads per message and two per batch.
 */
#include "stages.h"

#include <stdio.h>

/* Upper bounds in microseconds: fine where a message path's figures are
 * (tens of µs to tens of ms), coarse above. */
static const int64_t stage_bound_us[] = {25,    50,    100,   200,   300,    500,    750,    1000,
                                         1500,  2000,  3000,  4000,  5000,   6000,   8000,   10000,
                                         15000, 20000, 30000, 50000, 100000, 250000, 1000000};
#define N_BOUNDS (sizeof stage_bound_us / sizeof stage_bound_us[0])

static const char *const stage_names[PP_STAGE_COUNT] = {"queue",    "apply",   "commit",
                                                        "complete", "handoff", "total"};

typedef struct {
    uint64_t counts[N_BOUNDS + 1]; /* the last one: above the last bound */
    uint64_t sum_us;
} stage_hist;

static stage_hist hists[PP_STAGE_COUNT];

static void stage_add(pp_stage s, uint64_t from, uint64_t to)
{
    uint64_t d = to > from ? to - from : 0;
    size_t b = 0;
    while (b < N_BOUNDS && (int64_t)d > stage_bound_us[b])
        b++;
    hists[s].counts[b]++;
    hists[s].sum_us += d;
}

void stages__record(const pp_task *t, uint64_t now_us)
{
    const store_writer_times *b = &t->t_batch;
    if (!t->t_submit_us || !b->taken_us || !b->applied_us || !b->committed_us || !t->t_pushed_us)
        return; /* not a timed task, or the writer gave no batch times */
    stage_add(PP_STAGE_QUEUE, t->t_submit_us, b->taken_us);
    stage_add(PP_STAGE_APPLY, b->taken_us, b->applied_us);
    stage_add(PP_STAGE_COMMIT, b->applied_us, b->committed_us);
    stage_add(PP_STAGE_COMPLETE, b->committed_us, t->t_pushed_us);
    stage_add(PP_STAGE_HANDOFF, t->t_pushed_us, now_us);
    stage_add(PP_STAGE_TOTAL, t->t_submit_us, now_us);
}

const char *stages__name(pp_stage s)
{
    return (unsigned)s < PP_STAGE_COUNT ? stage_names[s] : "unknown";
}

uint64_t stages__quantile_us(pp_stage s, double q)
{
    const stage_hist *h = &hists[s];
    uint64_t n = 0, seen = 0;
    for (size_t b = 0; b <= N_BOUNDS; b++)
        n += h->counts[b];
    if (!n)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)n);
    if (rank >= n)
        rank = n - 1;
    for (size_t b = 0; b < N_BOUNDS; b++) {
        seen += h->counts[b];
        if (seen > rank)
            return (uint64_t)stage_bound_us[b]; /* the bucket's upper bound */
    }
    return (uint64_t)stage_bound_us[N_BOUNDS - 1] + 1; /* above the last bound */
}

void stages__prom(http_prom *t)
{
    static const char name[] = "parley_broker_message_stage_seconds";
    http_prom_family(
        t, name, "histogram",
        "Time of a stored message in each stage between the broker receiving it and "
        "delivering it (queue, apply, commit, complete, handoff; total = all of them).");
    for (int s = 0; s < PP_STAGE_COUNT; s++) {
        char label[32];
        snprintf(label, sizeof label, "stage=\"%s\"", stage_names[s]);
        http_prom_histogram(t, name, label, stage_bound_us, hists[s].counts, N_BOUNDS,
                            hists[s].sum_us);
    }
}
