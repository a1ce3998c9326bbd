/*
 * metrics.c - the plugin's figures, published retained under
 * $SYS/parley/... (decimal text, like mosquitto's own $SYS tree) every
 * metrics_interval seconds. Only users in plugin_opt_admins may read $SYS.
 */
#include "hardening.h"
#include "bus.h"
#include "gsync.h"

#include <stdio.h>
#include <string.h>

static const char *const auth_names[PP_AUTH_COUNT] = {
    [PP_AUTH_NO_PASSWORD] = "no_password",
    [PP_AUTH_BAD_USER_ID] = "bad_user_id",
    [PP_AUTH_UNKNOWN_USER] = "unknown_user",
    [PP_AUTH_MALFORMED] = "malformed_token",
    [PP_AUTH_WRONG_USER] = "wrong_user",
    [PP_AUTH_WRONG_CLIENT] = "wrong_client_id",
    [PP_AUTH_EXPIRED] = "expired",
    [PP_AUTH_LIFETIME] = "lifetime_too_long",
    [PP_AUTH_BAD_SIGNATURE] = "bad_signature",
    [PP_AUTH_AUDIENCE] = "wrong_audience",
    [PP_AUTH_BAD_CLIENT_ID] = "bad_client_id",
    [PP_AUTH_TOO_MANY_CONNS] = "too_many_connections",
    [PP_AUTH_TOO_MANY_SESSIONS] = "too_many_sessions",
    [PP_AUTH_USER_DISABLED] = "user_disabled",
    [PP_AUTH_USER_DELETED] = "user_deleted",
};

const char *metrics__auth_name(pp_auth_fail why)
{
    return why < PP_AUTH_COUNT ? auth_names[why] : "unknown";
}

static void metrics_put(const char *name, unsigned long long value)
{
    char topic[PP_TOPIC_MAX], text[32];
    snprintf(topic, sizeof topic, "$SYS/parley/%s", name);
    int len = snprintf(text, sizeof text, "%llu", value);
    if (len > 0)
        publish__copy(topic, text, (size_t)len, 0, true);
}

void metrics__publish(void)
{
    char name[96];
    store_writer_stats ws = {0};
    if (pp.writer)
        store_writer_get_stats(pp.writer, &ws);
    metrics_put("messages/in", pp.m.messages_in);
    metrics_put("messages/stored", pp.m.messages_stored);
    metrics_put("messages/duplicates", pp.m.duplicates);
    metrics_put("messages/typing", pp.m.typing);
    metrics_put("requests", pp.m.requests);
    metrics_put("acks", pp.m.acks);
    for (int i = 0; i < PP_REJ_COUNT; i++) {
        snprintf(name, sizeof name, "rejected/%s", receipts__reject_code((pp_reject)i));
        metrics_put(name, pp.m.rejected[i]);
    }
    metrics_put("auth/ok", pp.m.auth_ok);
    for (int i = 0; i < PP_AUTH_COUNT; i++) {
        snprintf(name, sizeof name, "auth/failed/%s", auth_names[i]);
        metrics_put(name, pp.m.auth_failed[i]);
    }
    metrics_put("acl/denied", pp.m.acl_denied);
    metrics_put("acl/wills_refused", willguard__refused());
    metrics_put("limits/rate_limited", pp.m.rate_limited);
    metrics_put("limits/rate_limited_clients", limits__limited_clients());
    metrics_put("clients/users_online", presence__users_online());
    metrics_put("clients/connections", presence__connections());
    metrics_put("store/queue_depth", pp.writer ? store_writer_pending(pp.writer) : 0);
    metrics_put("store/errors", pp.m.store_errors);
    metrics_put("store/ops", ws.ops);
    metrics_put("store/batches", ws.batches);
    metrics_put("store/commit_avg_us", ws.batches ? ws.commit_us_total / ws.batches : 0);
    metrics_put("store/commit_max_us", ws.commit_us_max);
    metrics_put("reader/queue_depth", worker__pending());
    metrics_put("tick/avg_interval_us", pp.m.ticks ? pp.m.tick_gap_us_total / pp.m.ticks : 0);
    metrics_put("tick/max_interval_us", pp.m.tick_gap_us_max);
    if (bus__enabled()) {
        bus_stats bs;
        bus__get_stats(&bs);
        metrics_put("cluster/connected", bs.connected);
        metrics_put("cluster/messages_in", bs.msgs_in);
        metrics_put("cluster/messages_out", bs.msgs_out);
        metrics_put("cluster/bytes_in", bs.bytes_in);
        metrics_put("cluster/bytes_out", bs.bytes_out);
        metrics_put("cluster/dropped_in", bs.dropped_in);
        metrics_put("cluster/dropped_out", bs.dropped_out);
        metrics_put("cluster/disconnects", bs.disconnects);
        metrics_put("cluster/reconnects", bs.reconnects);
        metrics_put("cluster/subscriptions", bs.subscriptions);
        metrics_put("cluster/presence/remote_users", cluster__remote_users());
        metrics_put("cluster/presence/expired", cluster__expired());
        gsync_stats gs;
        gsync__get_stats(&gs);
        metrics_put("cluster/deliveries_in", route__frames_in());
        metrics_put("cluster/deliveries_malformed", route__frames_bad());
        metrics_put("cluster/groups/watched", gs.watched);
        metrics_put("cluster/groups/reloads", gs.reloads);
        metrics_put("cluster/groups/repaired", gs.repaired);
        metrics_put("cluster/groups/held", gs.held);
        metrics_put("cluster/groups/duplicates", gs.duplicates);
    }
}

void metrics__tick(int64_t now_ms)
{
    if (now_ms < pp.next_metrics_ms)
        return;
    pp.next_metrics_ms = now_ms + (int64_t)pp.cfg.metrics_interval_s * 1000;
    metrics__publish();
}
