/*
 * plugin.c - Parley's mosquitto plugin entry points (plugin API v5):
 * version negotiation, option parsing, callback registration and cleanup.
 * Each concern lives in its own file (docs/broker-plugin.md has the map).
 */
#include "plugin_int.h"
#include "bus.h"
#include "dispatch.h"
#include "groups.h"
#include "gsync.h"
#include "hardening.h"
#include "log.h"
#include "metrics_http.h"

/* From MOSQ_EVT_RELOAD to the next tick (basic_auth_cb). */
static bool pp_reload_recheck;

/* MOSQ_EVT_RELOAD: apply the options that can change at run time
 * (config.c). mosquitto 2.0.11 passes no plugin options on reload, so the
 * start-up options plus plugin_opt_options_file are read again. */
static int reload_cb(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_reload *ed = event_data;
    config__reload(ed->options, ed->option_count);
    worker__set_refresh_ms(pp.cfg.key_refresh_ms);
    metrics_http__set_interval(pp.cfg.metrics_interval_s);
    pp_reload_recheck = true;
    return MOSQ_ERR_SUCCESS;
}

/* Right after MOSQ_EVT_RELOAD, before its next tick, mosquitto 2.0.11
 * (mosquitto_security_apply) authenticates every client id it knows again,
 * connected or an offline persistent session, with the username and
 * password of its last CONNECT. The plugin checked those at that CONNECT
 * and closes a connection whose token expires (presence.c), so the re-check
 * passes: refusing it logged a "refused CONNECT" and counted
 * auth/failed/expired for every session whose short-lived token had
 * expired since, on every SIGHUP. */
static int basic_auth_cb(int event, void *event_data, void *userdata)
{
    if (pp_reload_recheck)
        return MOSQ_ERR_SUCCESS;
    return auth__basic_auth_cb(event, event_data, userdata);
}

static int reload_done_cb(int event, void *event_data, void *userdata)
{
    pp_reload_recheck = false;
    return MOSQ_ERR_SUCCESS;
}

static const struct {
    int event;
    MOSQ_FUNC_generic_callback cb;
} pp_callbacks[] = {
    {MOSQ_EVT_BASIC_AUTH, basic_auth_cb},
    /* acl.c's table, behind the will guard (willguard.c) */
    {MOSQ_EVT_ACL_CHECK, willguard__acl_cb},
    {MOSQ_EVT_MESSAGE, dispatch__message_cb},
    {MOSQ_EVT_TICK, dispatch__tick_cb},
    {MOSQ_EVT_DISCONNECT, presence__disconnect_cb},
    {MOSQ_EVT_DISCONNECT, willguard__disconnect_cb},
    {MOSQ_EVT_RELOAD, reload_cb},
    {MOSQ_EVT_TICK, reload_done_cb},
};
#define PP_NCALLBACKS (sizeof pp_callbacks / sizeof pp_callbacks[0])

#define PP_EXPORT __attribute__((visibility("default")))

PP_EXPORT int mosquitto_plugin_version(int supported_version_count, const int *supported_versions)
{
    for (int i = 0; i < supported_version_count; i++)
        if (supported_versions[i] == 5)
            return 5;
    return -1;
}

PP_EXPORT int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata,
                                    struct mosquitto_opt *options, int option_count)
{
    store_t *s = NULL;
    size_t registered = 0;
    if (logging__init() != 0)
        return MOSQ_ERR_INVAL;
    int rc = config__init(options, option_count);
    if (rc != MOSQ_ERR_SUCCESS)
        return rc;
    pp.id = identifier;
    *userdata = NULL;
    rc = MOSQ_ERR_UNKNOWN;
    int src = store_open(pp.cfg.store_uri, NULL, &s);
    if (src != STORE_OK) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "parley: cannot open store %s: %s (%s)",
                             pp.cfg.store_uri, store_strerror(src), store_last_error(NULL));
        goto fail;
    }
    /* Blocking reads are fine here: the broker is not serving yet. */
    if (auth__init(s) != 0 || envelope__init(s) != 0 || groups__init(s) != 0 ||
        presence__init() != 0 || limits__init() != 0 || lookup__init() != 0)
        goto fail;
    /* The writer reads max_delay_ms 0 as "its default"; batch_delay_ms 0
     * means "never wait for a batch to fill" (-1 to the writer). */
    store_writer_options wo = {.batch_max = pp.cfg.batch_max,
                               .max_delay_ms = pp.cfg.batch_delay_ms ? pp.cfg.batch_delay_ms : -1};
    src = store_writer_start(pp.cfg.store_uri, NULL, &wo, &pp.writer);
    if (src != STORE_OK) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "parley: cannot start the store writer: %s",
                             store_strerror(src));
        goto fail;
    }
    if (worker__start(s) != 0)
        goto fail;
    s = NULL; /* the worker owns it now */
    if (wake__start(pp.cfg.wake_socket) != 0)
        goto fail;
    /* The bus (only with plugin_opt_cluster_nats): handlers first. */
    route__init();
    if (cluster__init() != 0 || gsync__init() != 0 || bus__start() != 0)
        goto fail;
    if (metrics_http__start(pp.cfg.metrics_listen, pp.cfg.metrics_interval_s) != 0)
        goto fail;
    for (; registered < PP_NCALLBACKS; registered++) {
        if (mosquitto_callback_register(pp.id, pp_callbacks[registered].event,
                                        pp_callbacks[registered].cb, NULL,
                                        NULL) != MOSQ_ERR_SUCCESS) {
            mosquitto_log_printf(MOSQ_LOG_ERR, "parley: cannot register callback %d",
                                 pp_callbacks[registered].event);
            goto fail;
        }
    }
    pp.next_metrics_ms = clock_now_ms() + (int64_t)pp.cfg.metrics_interval_s * 1000;
    expire__reset();
    mosquitto_log_printf(MOSQ_LOG_NOTICE, "parley: plugin ready (store %s, max_payload %zu)",
                         pp.cfg.store_uri, pp.cfg.max_payload);
    return MOSQ_ERR_SUCCESS;
fail:
    while (registered > 0) {
        registered--;
        mosquitto_callback_unregister(pp.id, pp_callbacks[registered].event,
                                      pp_callbacks[registered].cb, NULL);
    }
    metrics_http__stop();
    bus__stop();
    wake__stop();
    worker__stop();
    store_writer_stop(pp.writer);
    pp.writer = NULL;
    tasks__drain(true);
    receipts__cleanup();
    store_close(s);
    gsync__cleanup();
    cluster__cleanup();
    lookup__cleanup();
    limits__cleanup();
    presence__cleanup();
    groups__cleanup();
    envelope__cleanup();
    auth__cleanup();
    config__cleanup();
    return rc;
}

PP_EXPORT int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *options,
                                       int option_count)
{
    for (size_t i = PP_NCALLBACKS; i > 0; i--)
        mosquitto_callback_unregister(pp.id, pp_callbacks[i - 1].event, pp_callbacks[i - 1].cb,
                                      NULL);
    metrics_http__stop();
    cluster__leave(); /* the other nodes drop this node's users at once */
    bus__stop();      /* flushes the goodbye (bounded), then closes */
    wake__stop();
    worker__stop();
    store_writer_stop(pp.writer); /* commits what is queued; callbacks queue tasks */
    pp.writer = NULL;
    tasks__drain(true);
    receipts__cleanup();
    gsync__cleanup();
    cluster__cleanup();
    lookup__cleanup();
    limits__cleanup();
    presence__cleanup();
    groups__cleanup();
    envelope__cleanup();
    auth__cleanup();
    config__cleanup();
    return MOSQ_ERR_SUCCESS;
}
