/*
 * worker.c - the reader thread: owns its own store handle, runs the work()
 * step of queued tasks (sync pages, chat lists) in order, and refreshes the
 * identity key cache every key_refresh_ms or when kicked. Results go back
 * through the completion queue (tasks.c).
 */
#include "plugin_int.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>

#define WORKER_QUEUE_MAX 10000
#define WORKER_KICK_MIN_MS 20

static pthread_t w_thread;
static bool w_started;
static pthread_mutex_t w_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t w_cond;
static pp_task *w_head, *w_tail;
static size_t w_count;
static bool w_stop, w_kick;
static int w_refresh_ms = 250;
static store_t *w_store;

static void worker_deadline(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static bool worker_due(const struct timespec *deadline)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > deadline->tv_sec ||
           (now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec);
}

static void *worker_main(void *arg)
{
    struct timespec next_refresh;
    pthread_mutex_lock(&w_lock);
    worker_deadline(&next_refresh, w_refresh_ms);
    for (;;) {
        while (!w_stop && !w_head && !w_kick && !worker_due(&next_refresh))
            if (pthread_cond_timedwait(&w_cond, &w_lock, &next_refresh) == ETIMEDOUT)
                break;
        if (w_stop)
            break;
        pp_task *t = w_head;
        if (t) {
            w_head = t->next;
            if (!w_head)
                w_tail = NULL;
            w_count--;
        }
        if (w_kick) {
            /* Refresh soon, but at most every WORKER_KICK_MIN_MS: CONNECTs
             * of unknown users must not keep the reader busy. */
            struct timespec soon;
            worker_deadline(&soon, WORKER_KICK_MIN_MS);
            if (soon.tv_sec < next_refresh.tv_sec ||
                (soon.tv_sec == next_refresh.tv_sec && soon.tv_nsec < next_refresh.tv_nsec))
                next_refresh = soon;
            w_kick = false;
        }
        bool refresh = worker_due(&next_refresh);
        int refresh_ms = w_refresh_ms;
        pthread_mutex_unlock(&w_lock);

        if (t) {
            t->work(t, w_store);
            tasks__push(t);
        }
        if (refresh) {
            auth__refresh_work(w_store);
            worker_deadline(&next_refresh, refresh_ms);
        }
        pthread_mutex_lock(&w_lock);
    }
    pthread_mutex_unlock(&w_lock);
    return NULL;
}

int worker__start(store_t *s)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&w_cond, &attr);
    pthread_condattr_destroy(&attr);
    w_store = s;
    w_stop = false;
    w_refresh_ms = pp.cfg.key_refresh_ms;
    if (pthread_create(&w_thread, NULL, worker_main, NULL) != 0) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "parley: cannot start the reader thread");
        pthread_cond_destroy(&w_cond);
        w_store = NULL;
        return -1;
    }
    w_started = true;
    return 0;
}

void worker__stop(void)
{
    if (!w_started)
        return;
    pthread_mutex_lock(&w_lock);
    w_stop = true;
    pthread_cond_signal(&w_cond);
    pthread_mutex_unlock(&w_lock);
    pthread_join(w_thread, NULL);
    w_started = false;
    /* Tasks never run: give them back for freeing (broker thread). */
    pp_task *t = w_head;
    w_head = w_tail = NULL;
    w_count = 0;
    while (t) {
        pp_task *next = t->next;
        t->done(t, true);
        t = next;
    }
    store_close(w_store);
    w_store = NULL;
    pthread_cond_destroy(&w_cond);
}

int worker__submit(pp_task *t)
{
    int rc = -1;
    t->next = NULL;
    pthread_mutex_lock(&w_lock);
    if (w_started && !w_stop && w_count < WORKER_QUEUE_MAX) {
        if (w_tail)
            w_tail->next = t;
        else
            w_head = t;
        w_tail = t;
        w_count++;
        pthread_cond_signal(&w_cond);
        rc = 0;
    }
    pthread_mutex_unlock(&w_lock);
    return rc;
}

void worker__kick_refresh(void)
{
    pthread_mutex_lock(&w_lock);
    w_kick = true;
    pthread_cond_signal(&w_cond);
    pthread_mutex_unlock(&w_lock);
}

void worker__set_refresh_ms(int ms)
{
    pthread_mutex_lock(&w_lock);
    w_refresh_ms = ms;
    pthread_mutex_unlock(&w_lock);
}

size_t worker__pending(void)
{
    pthread_mutex_lock(&w_lock);
    size_t n = w_count;
    pthread_mutex_unlock(&w_lock);
    return n;
}
