/*
 * lg_flow.h - the message-flow run: N sender/receiver pairs over MQTT.
 *
 * Pair i is user {prefix}{base+2i} (sender) and {prefix}{base+2i+1}
 * (receiver). The receiver subscribes to parley/u/{receiver}/inbox; the
 * sender publishes lg_payload envelopes there, either as fast as an
 * end-to-end window allows (at most `window` messages published but not yet
 * delivered per pair) or on a fixed schedule (rate messages/s in total; the
 * stamp is the scheduled time, so a late send counts as latency). With
 * receipts on, the sender also subscribes to parley/u/{sender}/receipts and
 * times `stored` receipts.
 *
 * The first warmup seconds are not measured; then for duration seconds the
 * run counts deliveries (throughput) and records the latency of every
 * message stamped inside the window; then it drains for up to drain seconds.
 */
#ifndef PARLEY_LG_FLOW_H
#define PARLEY_LG_FLOW_H

#include "lg_stats.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
    const char *host;
    int port;
    int sub_port;           /* recipients connect here (0: port), e.g. another cluster node */
    bool parley;            /* authenticate with tokens (else anonymous) */
    bool receipts;          /* subscribe to and time `stored` receipts */
    const char *prefix;     /* user id prefix */
    unsigned user_base;
    int pairs;
    int qos;                /* 0 or 1 */
    size_t payload;         /* encoded envelope size, bytes */
    double rate;            /* total msgs/s; 0 = as fast as the window allows */
    int window;             /* per pair, as-fast-as-possible mode */
    double warmup_s, duration_s, drain_s;
    int threads;            /* raw client: network threads (pairs are spread over them) */
    bool libmosquitto;      /* use libmosquitto's threaded client instead of the raw one */
    const char *label;      /* "bare" / "parley", echoed in the output */
} lg_flow_opts;

/* What an engine measured. Counts are messages. */
typedef struct {
    char error[320];        /* first problem, "" if none */
    uint64_t sent;              /* published, warmup included */
    uint64_t sent_in_window;    /* stamped inside the window */
    uint64_t stamped_delivered; /* stamped inside the window and delivered */
    uint64_t rx_in_window;      /* delivered during the window (throughput) */
    uint64_t bad, reordered, publish_errors;
    uint64_t server_stamped;    /* deliveries carrying the plugin's server fields */
    uint64_t receipts_stored, receipts_stored_in_window, receipts_rejected, receipts_other;
    uint64_t stored_packets; /* STORED receipts received (a coalesced one covers several) */
    lg_samples lat;             /* publish stamp to delivery, window only */
    lg_samples stored;          /* publish stamp to `stored` receipt, window only */
} lg_flow_result;

/* Run with the chosen client and print one JSON object on out. Returns 0 if
 * the run completed (even with losses), -1 if clients could not connect or
 * subscribe. */
int lg_flow_run(const lg_flow_opts *o, FILE *out);

/* The two clients. Fill r; return 0 or -1 (with r->error). */
int lg_flow_raw__run(const lg_flow_opts *o, lg_flow_result *r);
int lg_flow_mosq__run(const lg_flow_opts *o, lg_flow_result *r);

#endif
