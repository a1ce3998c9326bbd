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
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *key;
    char *value;
} config_kv;

static config_kv *cfg_init_opts;   /* copy of the start-up plugin_opt_* */
static int cfg_init_n;

/* The text options: key and member (a char *; valid: NULL, or a check that
 * logs why a value is refused). */
typedef struct {
    const char *key;
    size_t off;
    bool (*valid)(const char *v);
} str_opt;

static bool valid_node_id(const char *v)
{
    if (bus__valid_node_id(v))
        return true;
    mosquitto_log_printf(MOSQ_LOG_ERR, "parley: option node_id: '%s' is not 1..64 of [A-Za-z0-9_-]",
                         v);
    return false;
}

#define STR_OPT(key, member, valid) {key, offsetof(pp_config, member), valid}
static const str_opt STR_OPTS[] = {
    STR_OPT("store", store_uri, NULL),
    STR_OPT("admins", admins, NULL),
    STR_OPT("options_file", options_file, NULL),
    STR_OPT("wake_socket", wake_socket, NULL),
    STR_OPT("cluster_nats", cluster_nats, NULL),
    STR_OPT("metrics_listen", metrics_listen, NULL), /* checked when the endpoint starts */
    STR_OPT("node_id", node_id, valid_node_id),
};

/* The numeric options: key, range [min, max], default, and the member with
 * its type. */
typedef struct {
    const char *key;
    long long min, max, dflt;
    enum { NUM_BOOL, NUM_INT, NUM_I64, NUM_SIZE, NUM_DOUBLE } type;
    size_t off;
} num_opt;

#define NUM_OPT(key, min, max, dflt, type, member) \
    {key, min, max, dflt, type, offsetof(pp_config, member)}
static const num_opt NUM_OPTS[] = {
    NUM_OPT("cluster_debug", 0, 1, 0, NUM_BOOL, cluster_debug),
    NUM_OPT("cluster_heartbeat_ms", 100, 3600000, 2000, NUM_INT, cluster_heartbeat_ms),
    NUM_OPT("max_payload", 1, 64 * 1024 * 1024, 65536, NUM_SIZE, max_payload),
    NUM_OPT("rate_messages", 1, 1000000, 50, NUM_DOUBLE, rate_messages),
    NUM_OPT("rate_bytes", 1, 1LL << 40, 1024 * 1024, NUM_DOUBLE, rate_bytes),
    NUM_OPT("rate_user_messages", 1, 1000000, 100, NUM_DOUBLE, rate_user_messages),
    NUM_OPT("rate_user_bytes", 1, 1LL << 40, 2 * 1024 * 1024, NUM_DOUBLE, rate_user_bytes),
    NUM_OPT("max_groups_per_user", 1, 1000000, 512, NUM_SIZE, max_groups_per_user),
    NUM_OPT("batch_max", 1, 100000, 256, NUM_SIZE, batch_max),
    NUM_OPT("batch_delay_ms", 0, 1000, 2, NUM_INT, batch_delay_ms),
    NUM_OPT("key_refresh_ms", 10, 3600000, 250, NUM_INT, key_refresh_ms),
    NUM_OPT("token_cache", 0, 16 * 1024 * 1024, 65536, NUM_SIZE, token_cache),
    NUM_OPT("max_group_size", 2, 100000, 1024, NUM_SIZE, max_group_size),
    NUM_OPT("max_connections_per_user", 1, 100000, 16, NUM_SIZE, max_conns_per_user),
    NUM_OPT("max_sessions_per_user", 1, 100000, 8, NUM_SIZE, max_sessions_per_user),
    NUM_OPT("session_expiry", 60, 10LL * 365 * 86400, 7 * 86400, NUM_I64, session_expiry_s),
    NUM_OPT("metrics_interval", 1, 86400, 10, NUM_INT, metrics_interval_s),
    NUM_OPT("expire_interval_s", 1, 86400, 60, NUM_INT, expire_interval_s),
};

#define NOPTS(table) (sizeof(table) / sizeof(table)[0])

static char **str_member(pp_config *c, const str_opt *o)
{
    return (char **)((char *)c + o->off);
}

/* Store v in c's member of option o (v within o's range). */
static void num_set(pp_config *c, const num_opt *o, long long v)
{
    void *p = (char *)c + o->off;
    switch (o->type) {
    case NUM_BOOL: *(bool *)p = v != 0; break;
    case NUM_INT: *(int *)p = (int)v; break;
    case NUM_I64: *(int64_t *)p = v; break;
    case NUM_SIZE: *(size_t *)p = (size_t)v; break;
    case NUM_DOUBLE: *(double *)p = (double)v; break;
    }
}

static void config_free(pp_config *c)
{
    for (size_t i = 0; i < NOPTS(STR_OPTS); i++)
        free(*str_member(c, &STR_OPTS[i]));
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
    for (size_t i = 0; i < NOPTS(STR_OPTS); i++)
        if (!strcmp(k, STR_OPTS[i].key))
            return (!STR_OPTS[i].valid || STR_OPTS[i].valid(v)) &&
                   config_string(str_member(c, &STR_OPTS[i]), v);
    for (size_t i = 0; i < NOPTS(NUM_OPTS); i++) {
        long long x = 0;
        if (strcmp(k, NUM_OPTS[i].key))
            continue;
        if (!config_number(k, v, NUM_OPTS[i].min, NUM_OPTS[i].max, &x))
            return false;
        num_set(c, &NUM_OPTS[i], x);
        return true;
    }
    mosquitto_log_printf(MOSQ_LOG_WARNING, "parley: unknown option %s ignored", k);
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
    for (size_t i = 0; i < NOPTS(NUM_OPTS); i++)
        num_set(c, &NUM_OPTS[i], NUM_OPTS[i].dflt);
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
