/*
 * lg_rx.c - a pair's delivery and receipt counts (lg_rx.h).
 */
#include "lg_rx.h"

#include "lg_payload.h"

#include "parley.pb-c.h"

#include <stdio.h>

static int in_window(int64_t t, int64_t warm, int64_t end)
{
    return t >= warm && t < end;
}

int lg_rx_delivery(lg_rx *rx, uint32_t pair, const void *payload, size_t len, int64_t now,
                   int64_t warm, int64_t end)
{
    lg_stamp st;
    if (lg_payload_parse(payload, len, &st) != 0 || st.pair != pair) {
        rx->bad++;
        return -1;
    }
    rx->server_stamped += st.server_stamped;
    if (st.seq < rx->next_seq)
        rx->reordered++;
    else
        rx->next_seq = st.seq + 1;
    if (in_window(now, warm, end))
        rx->in_window++;
    if (in_window(st.send_ns, warm, end)) {
        rx->stamped_window++;
        lg_samples_add(&rx->lat, now - st.send_ns);
    }
    return 0;
}

uint64_t lg_receipts_add(lg_receipts *rc, const void *payload, size_t len, int64_t now,
                         int64_t warm, int64_t end)
{
    uint64_t stored = 0;
    Parley__V1__Receipt *r = parley__v1__receipt__unpack(NULL, len, payload);
    if (!r) {
        rc->other++;
        return 0;
    }
    lg_stamp st;
    if (r->status == PARLEY__V1__RECEIPT_STATUS__STORED &&
        lg_cmid_parse(r->client_msg_id, &st) == 0) {
        /* A coalesced receipt covers r->more too (docs/protocol.md). */
        rc->packets++;
        for (size_t i = 0; i <= r->n_more; i++) {
            if (i && lg_cmid_parse(r->more[i - 1]->client_msg_id, &st) != 0)
                continue;
            stored++;
            if (in_window(st.send_ns, warm, end)) {
                rc->stored_in_window++;
                lg_samples_add(&rc->stored, now - st.send_ns);
            }
        }
    } else if (r->status == PARLEY__V1__RECEIPT_STATUS__REJECTED) {
        if (rc->rejected++ == 0)
            snprintf(rc->reject_error, sizeof rc->reject_error, "%s: %s", r->error,
                     r->error_message);
    } else {
        rc->other++;
    }
    parley__v1__receipt__free_unpacked(r, NULL);
    return stored;
}

void lg_rx_merge(lg_flow_result *r, lg_rx *rx, lg_receipts *rc, const char **reject)
{
    r->rx_in_window += rx->in_window;
    r->stamped_delivered += rx->stamped_window;
    r->bad += rx->bad;
    r->reordered += rx->reordered;
    r->server_stamped += rx->server_stamped;
    r->stored_packets += rc->packets;
    r->receipts_stored_in_window += rc->stored_in_window;
    r->receipts_rejected += rc->rejected;
    r->receipts_other += rc->other;
    if (rc->rejected && !*reject)
        *reject = rc->reject_error;
    lg_samples_merge(&r->lat, &rx->lat);
    lg_samples_merge(&r->stored, &rc->stored);
}
