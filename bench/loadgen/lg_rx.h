/*
 * lg_rx.h - what a pair counts of what it receives, the same for both flow
 * clients (lg_flow_raw.c, lg_flow_mosq.c): its receiver's deliveries (stamp
 * checks, order, latency) and its sender's receipts (STORED latency,
 * rejections), and how they add up into the run's lg_flow_result.
 *
 * Each set is owned by one thread while the run goes; the window
 * [warm, end) is on lg_now_ns()'s clock.
 */
#ifndef PARLEY_LG_RX_H
#define PARLEY_LG_RX_H

#include "lg_flow.h"
#include "lg_stats.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    lg_samples lat;          /* send -> delivery, stamped inside the window */
    uint64_t in_window;      /* received during the window (throughput) */
    uint64_t stamped_window; /* received, stamped inside the window (loss) */
    uint64_t bad, reordered, next_seq, server_stamped;
} lg_rx;

typedef struct {
    lg_samples stored;       /* send -> STORED receipt, stamped inside the window */
    uint64_t stored_in_window, rejected, other, packets;
    char reject_error[160];  /* the first rejection: "error: message" */
} lg_receipts;

/* One delivered payload of pair `pair` received at now. Returns 0, or -1
 * (counted bad) when it carries no stamp of this pair. */
int lg_rx_delivery(lg_rx *rx, uint32_t pair, const void *payload, size_t len, int64_t now,
                   int64_t warm, int64_t end);

/* One receipt payload received at now (a coalesced STORED covers several
 * messages). Returns how many messages it reports stored. */
uint64_t lg_receipts_add(lg_receipts *rc, const void *payload, size_t len, int64_t now,
                         int64_t warm, int64_t end);

/* Add a pair's counts into r, moving its samples; *reject is set to the pair's
 * first rejection when it had one and *reject was NULL. */
void lg_rx_merge(lg_flow_result *r, lg_rx *rx, lg_receipts *rc, const char **reject);

#endif
