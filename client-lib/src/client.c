/*
 * client.c - the handle: parley_open (configuration, home directory, local
 * store, identity), parley_close and the application's callbacks.
 */
#include "parley_int.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STORE_FILE "parley.db"

static void pick(char *dst, size_t n, const char *flag, const char *env, const char *dflt)
{
    const char *e = env ? getenv(env) : NULL;
    snprintf(dst, n, "%s", flag && *flag ? flag : e && *e ? e : dflt);
}

/* mkdir -p with mode 0700 for every directory created. */
static int make_dirs(const char *path)
{
    char tmp[CLIENT_PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

int parley_open(const parley_config *cfg, parley_client **out)
{
    parley_config dflt = {0};
    parley_client *c = NULL;
    char dbpath[CLIENT_PATH_MAX + 32], err[256];
    int rc;

    *out = NULL;
    if (!cfg)
        cfg = &dflt;
    if (sodium_init() < 0)
        return PARLEY_ECRYPTO;
    c = calloc(1, sizeof *c);
    if (!c)
        return PARLEY_ENOMEM;
    if (cfg->home && *cfg->home) {
        snprintf(c->home, sizeof c->home, "%s", cfg->home);
    } else if (getenv("PARLEY_HOME") && *getenv("PARLEY_HOME")) {
        snprintf(c->home, sizeof c->home, "%s", getenv("PARLEY_HOME"));
    } else if (getenv("HOME")) {
        snprintf(c->home, sizeof c->home, "%s/.parley", getenv("HOME"));
    } else {
        rc = PARLEY_EINVAL;
        goto fail;
    }
    pick(c->mqtt_url, sizeof c->mqtt_url, cfg->mqtt_url, "PARLEY_MQTT_URL", "tcp://127.0.0.1:1883");
    pick(c->keyserver_url, sizeof c->keyserver_url, cfg->keyserver_url, "PARLEY_KEYSERVER_URL",
         "http://127.0.0.1:8081");
    pick(c->media_url, sizeof c->media_url, cfg->media_url, "PARLEY_MEDIA_URL",
         "http://127.0.0.1:8082");
    pick(c->ca_file, sizeof c->ca_file, cfg->ca_file, "PARLEY_CA_FILE", "");
    if (c->ca_file[0] && access(c->ca_file, R_OK) != 0) {
        rc = PARLEY_EINVAL; /* a CA file that cannot be read would fail every TLS handshake */
        goto fail;
    }
    c->transient = cfg->transient;
    if (make_dirs(c->home) != 0) {
        rc = PARLEY_ESTORE;
        goto fail;
    }
    snprintf(dbpath, sizeof dbpath, "%s/%s", c->home, STORE_FILE);
    c->store = lstore_open(dbpath, err, sizeof err);
    if (!c->store) {
        rc = PARLEY_ESTORE;
        goto fail;
    }
    rc = identity__load(c);
    if (rc != PARLEY_OK)
        goto fail;
    /* Disappearing messages that expired while the home was closed. */
    if (rich__purge(c, clock_now_ms()) < 0) {
        rc = PARLEY_ESTORE;
        goto fail;
    }
    *out = c;
    return PARLEY_OK;

fail:
    parley_close(c);
    return rc;
}

void parley_close(parley_client *c)
{
    if (!c)
        return;
    if (c->link.mq) {
        conn_free(c->link.mq);
        c->link.mq = NULL;
    }
    rpc__free(c);
    order__free(c);
    lstore_close(c->store);
    sodium_memzero(c->id_sk, sizeof c->id_sk);
    free(c);
}

void parley_set_callbacks(parley_client *c, const parley_callbacks *cb)
{
    if (cb)
        c->cb = *cb;
    else
        memset(&c->cb, 0, sizeof c->cb);
}
