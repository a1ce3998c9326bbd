/*
 * retention.c - the expired-media sweeper thread (retention.h).
 */
#include "retention.h"
#include "log.h"
#include "metrics.h"
#include "store.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#define SWEEP_PAGE 100

struct retention {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    int interval_s;
    store_t *store;
    blob_backend *blob;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int retention_sweep(store_t *s, blob_backend *blob, size_t *deleted)
{
    *deleted = 0;
    for (;;) {
        store_media *list = NULL;
        size_t n = 0, removed = 0;
        int rc = store_media_expired(s, now_ms(), SWEEP_PAGE, &list, &n);
        if (rc != STORE_OK) {
            log_msg(PARLEY_LOG_ERROR, "media", "retention: listing expired media: %s",
                    store_last_error(s));
            return rc;
        }
        for (size_t i = 0; i < n; i++) {
            char err[BLOB_ERR_MAX];
            if (blob_remove(blob, list[i].backend_key, err) != BLOB_OK) {
                log_msg(PARLEY_LOG_WARN, "media", "retention: removing %s: %s", list[i].media_id,
                        err);
                continue;
            }
            rc = store_media_delete(s, list[i].media_id);
            if (rc != STORE_OK && rc != STORE_ENOTFOUND) {
                log_msg(PARLEY_LOG_WARN, "media", "retention: deleting record %s: %s",
                        list[i].media_id, store_last_error(s));
                continue;
            }
            removed++;
        }
        store_media_array_free(list, n);
        *deleted += removed;
        metrics_add(METRIC_EXPIRED, removed);
        /* A short page is the last one; a page where nothing could be removed
         * would come back unchanged, so stop until the next sweep. */
        if (n < SWEEP_PAGE || removed == 0)
            return STORE_OK;
    }
}

static void *retention_main(void *arg)
{
    retention *r = arg;
    pthread_mutex_lock(&r->mu);
    while (!r->stop) {
        pthread_mutex_unlock(&r->mu);
        size_t deleted = 0;
        retention_sweep(r->store, r->blob, &deleted);
        if (deleted > 0)
            log_msg(PARLEY_LOG_INFO, "media", "retention: deleted %zu expired media", deleted);
        pthread_mutex_lock(&r->mu);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += r->interval_s;
        while (!r->stop && pthread_cond_timedwait(&r->cv, &r->mu, &until) == 0)
            ;
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

int retention_start(const char *store_uri, blob_backend *blob, int interval_s, retention **out)
{
    *out = NULL;
    retention *r = calloc(1, sizeof *r);
    if (!r)
        return -1;
    int rc = store_open(store_uri, NULL, &r->store);
    if (rc != STORE_OK) {
        log_msg(PARLEY_LOG_ERROR, "media", "retention: cannot open store: %s", store_strerror(rc));
        free(r);
        return -1;
    }
    r->blob = blob;
    r->interval_s = interval_s > 0 ? interval_s : 60;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    if (pthread_create(&r->thread, NULL, retention_main, r) != 0) {
        log_msg(PARLEY_LOG_ERROR, "media", "retention: cannot start thread");
        store_close(r->store);
        pthread_mutex_destroy(&r->mu);
        pthread_cond_destroy(&r->cv);
        free(r);
        return -1;
    }
    *out = r;
    return 0;
}

void retention_stop(retention *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    r->stop = true;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
    store_close(r->store);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
}
