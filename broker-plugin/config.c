/*
 * config.c - the plugin's options: plugin_opt_* lines of mosquitto.conf,
 * then (if plugin_opt_options_file names one) a file of "key value" lines
 * with the same keys, whose values win. On SIGHUP (MOSQ_EVT_RELOAD) the
 * options are parsed again; mosquitto 2.0.11 hands the plugin no options on
 * reload, so the start-up ones are reused and the options file is re-read:
 * that file is how limits change without a restart. The store URI, the
 * writer's batching, the wake socket, the cluster options and the metrics
 * endpoint's address only change with a restart.
 */
#include "plugin_int.h"
#include "bus.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *key;
    char *value;
} config_kv;

static config_kv *cfg_init_opts;   /* copy of the start-up plugin_opt_* */
static int cfg_init_n;

static void config_free(pp_config *c)
{
    free(c->store_uri);
    free(c->admins);
    free(c->options_file);
    free(c->wake_socket);
    free(c->cluster_nats);
    free(c->node_id);
    free(c->metrics_listen);
    memset(c, 0, sizeof *c);
}

static bool config_number(const char *key, const char *value, long long min, long long max,
                          long long *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(value, &end, 10);
    if (errno || !end || *end || end == value || v < min || v > max) {
        mosquitto_log_printf(MOSQ_LOG_ERR,
                             "parley: option %s: '%s' is not a number in [%lld, %lld]", key, value,
                             min, max);
        return false;
    }
    *out = v;
    return true;
}

static bool config_string(char **dst, const char *value)
{
    char *v = strdup(value);
    if (!v)
        return false;
    free(*dst);
    *dst = v;
    return true;
}

/* Apply one option; false if its value is invalid. */
static bool config_apply(pp_config *c, const char *k, const char *v)
{
    long long x = 0;
    if (!strcmp(k, "store"))
        return config_string(&c->store_uri, v);
    if (!strcmp(k, "admins"))
        return config_string(&c->admins, v);
    if (!strcmp(k, "options_file"))
        return config_string(&c->options_file, v);
    if (!strcmp(k, "wake_socket"))
        return config_string(&c->wake_socket, v);
    if (!strcmp(k, "cluster_nats"))
        return config_string(&c->cluster_nats, v);
    if (!strcmp(k, "metrics_listen"))
        return config_string(&c->metrics_listen, v); /* checked when the endpoint starts */
    if (!strcmp(k, "node_id")) {
        if (!bus__valid_node_id(v)) {
            mosquitto_log_printf(MOSQ_LOG_ERR,
                                 "parley: option node_id: '%s' is not 1..64 of [A-Za-z0-9_-]", v);
            return false;
        }
        return config_string(&c->node_id, v);
    }
    if (!strcmp(k, "cluster_debug")) {
        if (!config_number(k, v, 0, 1, &x))
            return false;
        c->cluster_debug = x != 0;
        return true;
    }
    if (!strcmp(k, "cluster_heartbeat_ms")) {
        if (!config_number(k, v, 100, 3600000, &x))
            return false;
        c->cluster_heartbeat_ms = (int)x;
        return true;
    }
    if (!strcmp(k, "max_payload")) {
        if (!config_number(k, v, 1, 64 * 1024 * 1024, &x))
            return false;
        c->max_payload = (size_t)x;
    } else if (!strcmp(k, "rate_messages")) {
        if (!config_number(k, v, 1, 1000000, &x))
            return false;
        c->rate_messages = (double)x;
    } else if (!strcmp(k, "rate_bytes")) {
        if (!config_number(k, v, 1, 1LL << 40, &x))
            return false;
        c->rate_bytes = (double)x;
    } else if (!strcmp(k, "rate_user_messages")) {
        if (!config_number(k, v, 1, 1000000, &x))
            return false;
        c->rate_user_messages = (double)x;
    } else if (!strcmp(k, "rate_user_bytes")) {
        if (!config_number(k, v, 1, 1LL << 40, &x))
            return false;
        c->rate_user_bytes = (double)x;
    } else if (!strcmp(k, "max_groups_per_user")) {
        if (!config_number(k, v, 1, 1000000, &x))
            return false;
        c->max_groups_per_user = (size_t)x;
    } else if (!strcmp(k, "batch_max")) {
        if (!config_number(k, v, 1, 100000, &x))
            return false;
        c->batch_max = (size_t)x;
    } else if (!strcmp(k, "batch_delay_ms")) {
        if (!config_number(k, v, 0, 1000, &x))
            return false;
        c->batch_delay_ms = (int)x;
    } else if (!strcmp(k, "key_refresh_ms")) {
        if (!config_number(k, v, 10, 3600000, &x))
            return false;
        c->key_refresh_ms = (int)x;
    } else if (!strcmp(k, "token_cache")) {
        if (!config_number(k, v, 0, 16 * 1024 * 1024, &x))
            return false;
        c->token_cache = (size_t)x;
    } else if (!strcmp(k, "max_group_size")) {
        if (!config_number(k, v, 2, 100000, &x))
            return false;
        c->max_group_size = (size_t)x;
    } else if (!strcmp(k, "max_connections_per_user")) {
        if (!config_number(k, v, 1, 100000, &x))
            return false;
        c->max_conns_per_user = (size_t)x;
    } else if (!strcmp(k, "max_sessions_per_user")) {
        if (!config_number(k, v, 1, 100000, &x))
            return false;
        c->max_sessions_per_user = (size_t)x;
    } else if (!strcmp(k, "session_expiry")) {
        if (!config_number(k, v, 60, 10LL * 365 * 86400, &x))
            return false;
        c->session_expiry_s = x;
    } else if (!strcmp(k, "expire_interval_s")) {
        if (!config_number(k, v, 1, 86400, &x))
            return false;
        c->expire_interval_s = (int)x;
    } else if (!strcmp(k, "metrics_interval")) {
        if (!config_number(k, v, 1, 86400, &x))
            return false;
        c->metrics_interval_s = (int)x;
    } else {
        mosquitto_log_printf(MOSQ_LOG_WARNING, "parley: unknown option %s ignored", k);
    }
    return true;
}

/* Read "key value" lines ('#' comments, blank lines allowed). */
static bool config_file(pp_config *c, const char *path)
{
    FILE *f = fopen(path, "r");
    char line[1024];
    bool ok = true;
    if (!f) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "parley: options file %s: %s", path, strerror(errno));
        return false;
    }
    while (ok && fgets(line, sizeof line, f)) {
        char *p = line, *end = line + strlen(line);
        while (end > p && isspace((unsigned char)end[-1]))
            *--end = '\0';
        while (isspace((unsigned char)*p))
            p++;
        if (!*p || *p == '#')
            continue;
        char *sp = p;
        while (*sp && !isspace((unsigned char)*sp))
            sp++;
        char *val = sp;
        if (*sp) {
            *sp = '\0';
            val = sp + 1;
            while (isspace((unsigned char)*val))
                val++;
        }
        if (!strcmp(p, "store") || !strcmp(p, "options_file") || !strcmp(p, "wake_socket") ||
            !strcmp(p, "cluster_nats") || !strcmp(p, "node_id") || !strcmp(p, "metrics_listen"))
            continue; /* only in mosquitto.conf */
        ok = config_apply(c, p, val);
    }
    fclose(f);
    return ok;
}

static int config_parse(const config_kv *kv, int n, pp_config *c)
{
    memset(c, 0, sizeof *c);
    c->max_payload = 65536;
    c->rate_messages = 50;
    c->rate_bytes = 1024 * 1024;
    c->rate_user_messages = 100;
    c->rate_user_bytes = 2 * 1024 * 1024;
    c->max_groups_per_user = 512;
    c->batch_max = 256;
    c->batch_delay_ms = 2;
    c->key_refresh_ms = 250;
    c->token_cache = 65536;
    c->metrics_interval_s = 10;
    c->expire_interval_s = 60;
    c->max_group_size = 1024;
    c->max_conns_per_user = 16;
    c->max_sessions_per_user = 8;
    c->session_expiry_s = 7 * 86400;
    c->cluster_heartbeat_ms = 2000;
    for (int i = 0; i < n; i++)
        if (!config_apply(c, kv[i].key, kv[i].value ? kv[i].value : ""))
            goto fail;
    if (c->options_file && !config_file(c, c->options_file))
        goto fail;
    if (!c->admins && !config_string(&c->admins, ""))
        goto fail;
    if (!c->store_uri || !*c->store_uri) {
        mosquitto_log_printf(
            MOSQ_LOG_ERR, "parley: plugin_opt_store is required (e.g. sqlite:/var/lib/parley.db)");
        goto fail;
    }
    return MOSQ_ERR_SUCCESS;
fail:
    config_free(c);
    return MOSQ_ERR_INVAL;
}

static void config_kv_free(config_kv *kv, int n)
{
    for (int i = 0; i < n; i++) {
        free(kv[i].key);
        free(kv[i].value);
    }
    free(kv);
}

static config_kv *config_copy(struct mosquitto_opt *opts, int n)
{
    config_kv *kv = calloc((size_t)(n > 0 ? n : 1), sizeof *kv);
    if (!kv)
        return NULL;
    for (int i = 0; i < n; i++) {
        kv[i].key = strdup(opts[i].key ? opts[i].key : "");
        kv[i].value = strdup(opts[i].value ? opts[i].value : "");
        if (!kv[i].key || !kv[i].value) {
            config_kv_free(kv, n);
            return NULL;
        }
    }
    return kv;
}

int config__init(struct mosquitto_opt *opts, int n)
{
    cfg_init_opts = config_copy(opts, n);
    if (!cfg_init_opts)
        return MOSQ_ERR_NOMEM;
    cfg_init_n = n;
    int rc = config_parse(cfg_init_opts, cfg_init_n, &pp.cfg);
    if (rc != MOSQ_ERR_SUCCESS) {
        config_kv_free(cfg_init_opts, cfg_init_n);
        cfg_init_opts = NULL;
    }
    return rc;
}

void config__reload(struct mosquitto_opt *opts, int n)
{
    pp_config c;
    bool has_store = false;
    for (int i = 0; i < n; i++)
        if (opts[i].key && !strcmp(opts[i].key, "store"))
            has_store = true;
    /* Options without a store are not a full set: use the start-up ones. */
    config_kv *kv = has_store ? config_copy(opts, n) : NULL;
    mosquitto_log_printf(MOSQ_LOG_DEBUG, "parley: reload with %d option(s)", n);
    int rc = kv ? config_parse(kv, n, &c) : config_parse(cfg_init_opts, cfg_init_n, &c);
    if (kv)
        config_kv_free(kv, n);
    if (rc != MOSQ_ERR_SUCCESS) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "parley: reload: invalid options, keeping the old ones");
        return;
    }
    if (strcmp(c.store_uri, pp.cfg.store_uri) != 0)
        mosquitto_log_printf(MOSQ_LOG_WARNING,
                             "parley: reload: a new plugin_opt_store needs a restart");
    free(c.store_uri);
    c.store_uri = pp.cfg.store_uri;
    pp.cfg.store_uri = NULL;
    c.batch_max = pp.cfg.batch_max;
    c.batch_delay_ms = pp.cfg.batch_delay_ms;
    c.token_cache = pp.cfg.token_cache; /* the cache is made at start */
    free(c.wake_socket); /* the wake connection is made at start only */
    c.wake_socket = pp.cfg.wake_socket;
    pp.cfg.wake_socket = NULL;
    /* The bus keeps its servers, node id and debug handler until a restart. */
    free(c.cluster_nats);
    free(c.node_id);
    c.cluster_nats = pp.cfg.cluster_nats;
    c.node_id = pp.cfg.node_id;
    c.cluster_debug = pp.cfg.cluster_debug;
    pp.cfg.cluster_nats = pp.cfg.node_id = NULL;
    free(c.metrics_listen); /* the endpoint keeps its address until a restart */
    c.metrics_listen = pp.cfg.metrics_listen;
    pp.cfg.metrics_listen = NULL;
    config_free(&pp.cfg);
    pp.cfg = c;
    mosquitto_log_printf(MOSQ_LOG_NOTICE,
                         "parley: reloaded: max_payload=%zu rate_messages=%.0f rate_bytes=%.0f",
                         pp.cfg.max_payload, pp.cfg.rate_messages, pp.cfg.rate_bytes);
}

void config__cleanup(void)
{
    config_free(&pp.cfg);
    config_kv_free(cfg_init_opts, cfg_init_n);
    cfg_init_opts = NULL;
    cfg_init_n = 0;
}
