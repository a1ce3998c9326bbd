/* lg_flow.c - the message-flow run (lg_flow.h): sender/receiver pairs over MQTT. */
#include "lg_flow.h"

#include <string.h>
#include <sys/resource.h>

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

int lg_flow_run(const lg_flow_opts *o, FILE *out)
{
    lg_flow_result r;
    memset(&r, 0, sizeof r);
    double cpu0 = cpu_seconds();
    int rc = o->libmosquitto ? lg_flow_mosq__run(o, &r) : lg_flow_raw__run(o, &r);
    double cpu = cpu_seconds() - cpu0;
    lg_dist dl = lg_samples_dist(&r.lat), ds = lg_samples_dist(&r.stored);
    double dur = o->duration_s;

    fprintf(out,
            "{\"mode\":\"flow\",\"broker\":\"%s\",\"client\":\"%s\",\"ok\":%s,\"qos\":%d,"
            "\"pairs\":%d,\"payload_bytes\":%zu,\"target_rate\":%.0f,\"window\":%d,"
            "\"warmup_s\":%.1f,\"duration_s\":%.1f,",
            o->label, o->libmosquitto ? "libmosquitto" : "raw", rc == 0 ? "true" : "false", o->qos,
            o->pairs, o->payload, o->rate, o->rate > 0 ? 0 : o->window, o->warmup_s, dur);
    fprintf(out,
            "\"sent\":%llu,\"sent_in_window\":%llu,\"delivered_in_window\":%llu,"
            "\"lost\":%lld,\"bad\":%llu,\"reordered\":%llu,\"publish_errors\":%llu,",
            (unsigned long long)r.sent, (unsigned long long)r.sent_in_window,
            (unsigned long long)r.stamped_delivered,
            (long long)r.sent_in_window - (long long)r.stamped_delivered, (unsigned long long)r.bad,
            (unsigned long long)r.reordered, (unsigned long long)r.publish_errors);
    fprintf(out, "\"server_stamped\":%llu,\"publish_rate\":%.1f,\"throughput\":%.1f,\"latency\":",
            (unsigned long long)r.server_stamped, (double)r.sent_in_window / dur,
            (double)r.rx_in_window / dur);
    lg_dist_json(out, &dl);
    if (o->receipts) {
        fprintf(out,
                ",\"receipts_stored\":%llu,\"receipts_stored_in_window\":%llu,"
                "\"receipts_rejected\":%llu,\"receipts_other\":%llu,"
                "\"stored_receipt_packets\":%llu,\"stored_latency\":",
                (unsigned long long)r.receipts_stored,
                (unsigned long long)r.receipts_stored_in_window,
                (unsigned long long)r.receipts_rejected, (unsigned long long)r.receipts_other,
                (unsigned long long)r.stored_packets);
        lg_dist_json(out, &ds);
    }
    fprintf(out, ",\"client_cpu_s\":%.2f,\"samples_dropped\":%zu,\"error\":", cpu,
            r.lat.dropped + r.stored.dropped);
    lg_json_str(out, r.error);
    fprintf(out, "}\n");
    fflush(out);
    if (r.error[0])
        fprintf(stderr, "parley-loadgen: %s\n", r.error);
    lg_samples_free(&r.lat);
    lg_samples_free(&r.stored);
    return rc;
}
