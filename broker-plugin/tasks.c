/*
 * tasks.c - the completion queue: writer and reader threads push finished
 * tasks; the broker thread drains them in MOSQ_EVT_TICK (the only place
 * their results may be published, since mosquitto_broker_publish is not
 * thread-safe). Every push wakes the broker thread (wake.c), so a task
 * waits for the next loop iteration, not for the 100 ms idle tick.
 */
#include "plugin_int.h"

#include <pthread.h>

static pthread_mutex_t tasks_lock = PTHREAD_MUTEX_INITIALIZER;
static pp_task *tasks_head;
static pp_task *tasks_tail;
static size_t tasks_count;

void tasks__push(pp_task *t)
{
    t->next = NULL;
    if (t->t_submit_us)
        t->t_pushed_us = (uint64_t)clock_mono_us();
    pthread_mutex_lock(&tasks_lock);
    if (tasks_tail)
        tasks_tail->next = t;
    else
        tasks_head = t;
    tasks_tail = t;
    tasks_count++;
    pthread_mutex_unlock(&tasks_lock);
    wake__kick();
}

void tasks__drain(bool stopping)
{
    pthread_mutex_lock(&tasks_lock);
    pp_task *t = tasks_head;
    tasks_head = tasks_tail = NULL;
    tasks_count = 0;
    pthread_mutex_unlock(&tasks_lock);
    while (t) {
        pp_task *next = t->next;
        t->done(t, stopping);
        t = next;
    }
    /* One coalesced STORED per sender for this turn's commits. */
    receipts__flush(stopping);
}

size_t tasks__pending(void)
{
    pthread_mutex_lock(&tasks_lock);
    size_t n = tasks_count;
    pthread_mutex_unlock(&tasks_lock);
    return n;
}
