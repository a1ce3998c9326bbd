/*
 * metrics.c - the plugin's figures, every metrics_interval seconds, in two
 * forms from one table: retained $SYS/parley/... messages (decimal text,
 * like mosquitto's own $SYS tree; only users in plugin_opt_admins may read
 * $SYS), and, with plugin_opt_metrics_listen, a Prometheus text snapshot
 * handed to metrics_http.c, which serves it from its own thread. Rendering
 * is plain memory work on the broker thread; it never waits for a reader.
 */
#include "hardening.h"
#include "bus.h"
#include "gsync.h"
#include "metrics_http.h"
#include "prom.h"
#include "stages.h"

#include <stdio.h>
#include <string.h>

static const char *const auth_names[PP_AUTH_COUNT] = {PP_AUTH_FAILS(PP_ENUM_NAME)};

const char *metrics__auth_name(pp_auth_fail why)
{
    return why < PP_AUTH_COUNT ? auth_names[why] : "unknown";
}

/* Where one report goes: $SYS, the Prometheus text, or both. */
typedef struct {
    bool sys;
    http_prom *prom; /* NULL: no Prometheus endpoint */
} metrics_out;

#define M_COUNTER "counter"
#define M_GAUGE "gauge"

/* One figure: $SYS/parley/SYS and, in Prometheus, parley_broker_PROM with
 * LABELS ("" or {k="v"}). A family's # HELP / # TYPE lines come with its
 * first sample (help != NULL); later samples of it pass help NULL. */
static void put(metrics_out *o, const char *sys, const char *prom, const char *type,
                const char *help, const char *labels, unsigned long long value)
{
    if (o->sys) {
        char topic[PP_TOPIC_MAX], text[32];
        snprintf(topic, sizeof topic, "$SYS/parley/%s", sys);
        int len = snprintf(text, sizeof text, "%llu", value);
        if (len > 0)
            publish__copy(topic, text, (size_t)len, 0, true);
    }
    if (o->prom) {
        char name[96];
        snprintf(name, sizeof name, "parley_broker_%s", prom);
        if (help)
            http_prom_family(o->prom, name, type, help);
        http_prom_printf(o->prom, "%s%s %llu\n", name, labels, value);
    }
}

static void metrics_report(metrics_out *o)
{
    char sys[96], labels[96];
    store_writer_stats ws = {0};
    if (pp.writer)
        store_writer_get_stats(pp.writer, &ws);
    put(o, "messages/in", "messages_in_total", M_COUNTER, "Envelopes accepted and routed.", "",
        pp.m.messages_in);
    put(o, "messages/stored", "messages_stored_total", M_COUNTER,
        "Messages stored (each answered by a STORED receipt).", "", pp.m.messages_stored);
    put(o, "messages/stored_receipts_coalesced", "stored_receipts_coalesced_total", M_COUNTER,
        "Coalesced STORED receipts sent (each covers one or more messages).", "",
        pp.m.stored_receipts_coalesced);
    put(o, "messages/duplicates", "messages_duplicates_total", M_COUNTER,
        "Retries the store recognised by client_msg_id.", "", pp.m.duplicates);
    put(o, "messages/typing", "typing_total", M_COUNTER, "Typing events relayed.", "", pp.m.typing);
    put(o, "messages/deleted", "messages_deleted_total", M_COUNTER,
        "Messages deleted for everyone (delete_message: tombstones written).", "",
        pp.m.messages_deleted);
    put(o, "messages/expired", "messages_expired_total", M_COUNTER,
        "Messages the periodic expiry deleted from the store (ttl_s).", "", pp.m.messages_expired);
    put(o, "requests", "requests_total", M_COUNTER, "Control requests received.", "",
        pp.m.requests);
    put(o, "acks", "acks_total", M_COUNTER, "Delivered/read acks recorded.", "", pp.m.acks);
    for (int i = 0; i < PP_REJ_COUNT; i++) {
        const char *code = receipts__reject_code((pp_reject)i);
        snprintf(sys, sizeof sys, "rejected/%s", code);
        snprintf(labels, sizeof labels, "{code=\"%s\"}", code);
        put(o, sys, "rejected_total", M_COUNTER,
            i == 0 ? "REJECTED receipts sent, by error code." : NULL, labels, pp.m.rejected[i]);
    }
    put(o, "auth/ok", "auth_ok_total", M_COUNTER, "CONNECTs accepted.", "", pp.m.auth_ok);
    for (int i = 0; i < PP_AUTH_COUNT; i++) {
        snprintf(sys, sizeof sys, "auth/failed/%s", auth_names[i]);
        snprintf(labels, sizeof labels, "{reason=\"%s\"}", auth_names[i]);
        put(o, sys, "auth_failed_total", M_COUNTER, i == 0 ? "CONNECTs refused, by reason." : NULL,
            labels, pp.m.auth_failed[i]);
    }
    tokcache_stats tc;
    auth__token_cache_stats(&tc);
    put(o, "auth/token_cache/hits", "token_cache_hits_total", M_COUNTER,
        "CONNECT tokens accepted from the verified-token cache (no signature check).", "", tc.hits);
    put(o, "auth/token_cache/misses", "token_cache_misses_total", M_COUNTER,
        "CONNECT tokens checked in full (token_verify).", "", tc.misses);
    put(o, "auth/token_cache/entries", "token_cache_entries", M_GAUGE,
        "Verified tokens held by the cache.", "", tc.entries);
    put(o, "acl/denied", "acl_denied_total", M_COUNTER, "Subscribes and publishes the ACL denied.",
        "", pp.m.acl_denied);
    put(o, "acl/wills_refused", "wills_refused_total", M_COUNTER,
        "Will deliveries refused on Parley topics.", "", willguard__refused());
    put(o, "limits/rate_limited", "rate_limited_total", M_COUNTER,
        "Publishes refused by the rate limits (messages, requests, typing, acks).", "",
        pp.m.rate_limited);
    put(o, "limits/rate_limited_clients", "rate_limited_clients", M_GAUGE,
        "Client connections refused at least once during the last interval.", "",
        limits__limited_clients());
    put(o, "clients/users_online", "users_online", M_GAUGE, "Users with a connection on this node.",
        "", presence__users_online());
    put(o, "clients/connections", "connections", M_GAUGE, "Authenticated connections on this node.",
        "", presence__connections());
    put(o, "store/queue_depth", "store_queue_depth", M_GAUGE,
        "Writes waiting for the store writer.", "",
        pp.writer ? store_writer_pending(pp.writer) : 0);
    put(o, "store/errors", "store_errors_total", M_COUNTER, "Failed store writer operations.", "",
        pp.m.store_errors);
    /* Where a stored message's time goes (stages.c): $SYS carries p50 and
     * p99 in µs (bucket upper bounds, since start); Prometheus the whole
     * histogram. */
    for (int i = 0; i < PP_STAGE_COUNT; i++) {
        static const struct {
            const char *name;
            double q;
        } qs[] = {{"p50_us", 0.50}, {"p99_us", 0.99}};
        for (size_t k = 0; o->sys && k < sizeof qs / sizeof qs[0]; k++) {
            char topic[PP_TOPIC_MAX], text[32];
            snprintf(topic, sizeof topic, "$SYS/parley/latency/%s/%s", stages__name((pp_stage)i),
                     qs[k].name);
            int len = snprintf(text, sizeof text, "%llu",
                               (unsigned long long)stages__quantile_us((pp_stage)i, qs[k].q));
            if (len > 0)
                publish__copy(topic, text, (size_t)len, 0, true);
        }
    }
    if (o->prom)
        stages__prom(o->prom);
    put(o, "store/ops", "store_ops_total", M_COUNTER, "Store writer operations committed.", "",
        ws.ops);
    put(o, "store/batches", "store_batches_total", M_COUNTER, "Store writer transactions.", "",
        ws.batches);
    put(o, "store/commit_avg_us", "store_commit_avg_microseconds", M_GAUGE,
        "Mean commit time of a batch since start.", "",
        ws.batches ? ws.commit_us_total / ws.batches : 0);
    put(o, "store/commit_max_us", "store_commit_max_microseconds", M_GAUGE,
        "Longest commit of a batch since start.", "", ws.commit_us_max);
    put(o, "store/checkpoints", "store_checkpoints_total", M_COUNTER,
        "WAL checkpoints run by the store's checkpoint thread (SQLite).", "", ws.checkpoints.runs);
    put(o, "store/checkpoint_us", "store_checkpoint_microseconds_total", M_COUNTER,
        "Time the checkpoint thread spent in checkpoints (SQLite).", "", ws.checkpoints.us_total);
    put(o, "store/checkpoint_us_max", "store_checkpoint_microseconds_max", M_GAUGE,
        "The longest checkpoint since start (SQLite).", "", ws.checkpoints.us_max);
    put(o, "reader/queue_depth", "reader_queue_depth", M_GAUGE,
        "Jobs waiting for the reader thread (sync, lookups).", "", worker__pending());
    put(o, "tick/avg_interval_us", "tick_avg_interval_microseconds", M_GAUGE,
        "Mean time between two ticks of the broker loop.", "",
        pp.m.ticks ? pp.m.tick_gap_us_total / pp.m.ticks : 0);
    put(o, "tick/max_interval_us", "tick_max_interval_microseconds", M_GAUGE,
        "Longest time between two ticks of the broker loop.", "", pp.m.tick_gap_us_max);
    if (bus__enabled()) {
        bus_stats bs;
        bus__get_stats(&bs);
        put(o, "cluster/connected", "cluster_connected", M_GAUGE, "1 while connected to NATS.", "",
            bs.connected);
        put(o, "cluster/messages_in", "cluster_messages_in_total", M_COUNTER,
            "Bus frames received.", "", bs.msgs_in);
        put(o, "cluster/messages_out", "cluster_messages_out_total", M_COUNTER,
            "Bus frames published.", "", bs.msgs_out);
        put(o, "cluster/bytes_in", "cluster_bytes_in_total", M_COUNTER, "Bus bytes received.", "",
            bs.bytes_in);
        put(o, "cluster/bytes_out", "cluster_bytes_out_total", M_COUNTER, "Bus bytes published.",
            "", bs.bytes_out);
        put(o, "cluster/dropped_in", "cluster_dropped_in_total", M_COUNTER,
            "Bus frames dropped on arrival.", "", bs.dropped_in);
        put(o, "cluster/dropped_out", "cluster_dropped_out_total", M_COUNTER,
            "Bus frames dropped before publishing.", "", bs.dropped_out);
        put(o, "cluster/disconnects", "cluster_disconnects_total", M_COUNTER,
            "Disconnections from NATS.", "", bs.disconnects);
        put(o, "cluster/reconnects", "cluster_reconnects_total", M_COUNTER,
            "Reconnections to NATS.", "", bs.reconnects);
        put(o, "cluster/subscriptions", "cluster_subscriptions", M_GAUGE,
            "Bus subjects subscribed now.", "", bs.subscriptions);
        put(o, "cluster/presence/remote_users", "cluster_remote_users", M_GAUGE,
            "Users known to be connected on other nodes.", "", cluster__remote_users());
        put(o, "cluster/presence/expired", "cluster_presence_expired_total", M_COUNTER,
            "Remote presence entries dropped because their node went quiet.", "",
            cluster__expired());
        gsync_stats gs;
        gsync__get_stats(&gs);
        put(o, "cluster/deliveries_in", "cluster_deliveries_in_total", M_COUNTER,
            "Deliveries received from other nodes.", "", route__frames_in());
        put(o, "cluster/deliveries_malformed", "cluster_deliveries_malformed_total", M_COUNTER,
            "Deliveries from other nodes refused as malformed.", "", route__frames_bad());
        put(o, "cluster/groups/watched", "cluster_groups_watched", M_GAUGE,
            "Groups with a member connected to this node.", "", gs.watched);
        put(o, "cluster/groups/reloads", "cluster_groups_reloads_total", M_COUNTER,
            "Group reloads from the store.", "", gs.reloads);
        put(o, "cluster/groups/repaired", "cluster_groups_repaired_total", M_COUNTER,
            "Group messages missed on the bus, read from the store and delivered.", "",
            gs.repaired);
        put(o, "cluster/groups/held", "cluster_groups_held", M_GAUGE,
            "Group deliveries held for a lower seq or a reload.", "", gs.held);
        put(o, "cluster/groups/duplicates", "cluster_groups_duplicates_total", M_COUNTER,
            "Group deliveries at or below the delivered seq, dropped.", "", gs.duplicates);
    }
}

static unsigned long long metrics_reports;

void metrics__publish(void)
{
    http_prom t = {0};
    metrics_out o = {.sys = true, .prom = metrics_http__enabled() ? &t : NULL};
    metrics_report(&o);
    if (o.prom) {
        http_prom_counter(&t, "parley_broker_metrics_reports_total",
                          "Reports rendered since start (this snapshot's number).", "",
                          ++metrics_reports);
        metrics_http__set(http_prom_finish(&t)); /* NULL (out of memory) keeps the old one */
    }
}

void metrics__tick(int64_t now_ms)
{
    if (now_ms < pp.next_metrics_ms)
        return;
    pp.next_metrics_ms = now_ms + (int64_t)pp.cfg.metrics_interval_s * 1000;
    metrics__publish();
}
