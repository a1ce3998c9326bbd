/*
 * ratelimit.c - token-bucket rate limiting by key (ratelimit.h): a hashed,
 * mutex-protected bucket table, refilled continuously, full buckets dropped.
 */
#include "ratelimit.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define RL_BUCKETS 1024
#define RL_SWEEP_AT 4096      /* sweep full buckets once this many keys exist */

typedef struct rl_entry {
    struct rl_entry *next;
    double tokens;
    int64_t last_ms;
    char key[];
} rl_entry;

struct ratelimit {
    pthread_mutex_t lock;
    double capacity;          /* burst size */
    double per_ms;            /* refill rate */
    unsigned count;
    rl_entry *table[RL_BUCKETS];
};

ratelimit *ratelimit_new_period(unsigned capacity, unsigned period_s)
{
    if (capacity == 0 || period_s == 0)
        return NULL;
    ratelimit *rl = calloc(1, sizeof *rl);
    if (!rl)
        return NULL;
    pthread_mutex_init(&rl->lock, NULL);
    rl->capacity = capacity;
    rl->per_ms = capacity / (period_s * 1000.0);
    return rl;
}

ratelimit *ratelimit_new(unsigned per_minute)
{
    return ratelimit_new_period(per_minute, 60);
}

void ratelimit_free(ratelimit *rl)
{
    if (!rl)
        return;
    for (unsigned i = 0; i < RL_BUCKETS; i++) {
        rl_entry *e = rl->table[i];
        while (e) {
            rl_entry *n = e->next;
            free(e);
            e = n;
        }
    }
    pthread_mutex_destroy(&rl->lock);
    free(rl);
}

static unsigned hash(const char *s)
{
    unsigned h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h % RL_BUCKETS;
}

static void refill(ratelimit *rl, rl_entry *e, int64_t now_ms)
{
    if (now_ms > e->last_ms) {
        e->tokens += (double)(now_ms - e->last_ms) * rl->per_ms;
        if (e->tokens > rl->capacity)
            e->tokens = rl->capacity;
        e->last_ms = now_ms;
    }
}

/* Forget every bucket that is full again: it behaves like a new one. */
static void sweep(ratelimit *rl, int64_t now_ms)
{
    for (unsigned i = 0; i < RL_BUCKETS; i++) {
        rl_entry **pp = &rl->table[i];
        while (*pp) {
            rl_entry *e = *pp;
            refill(rl, e, now_ms);
            if (e->tokens >= rl->capacity) {
                *pp = e->next;
                free(e);
                rl->count--;
            } else {
                pp = &e->next;
            }
        }
    }
}

bool ratelimit_take(ratelimit *rl, const char *key, int64_t now_ms, unsigned *retry_after_s)
{
    bool ok = true;
    unsigned h = hash(key);
    pthread_mutex_lock(&rl->lock);
    rl_entry *e = rl->table[h];
    while (e && strcmp(e->key, key) != 0)
        e = e->next;
    if (!e) {
        if (rl->count >= RL_SWEEP_AT)
            sweep(rl, now_ms);
        size_t klen = strlen(key) + 1;
        e = malloc(sizeof *e + klen);
        if (!e)
            goto out; /* fail open */
        memcpy(e->key, key, klen);
        e->tokens = rl->capacity;
        e->last_ms = now_ms;
        e->next = rl->table[h];
        rl->table[h] = e;
        rl->count++;
    }
    refill(rl, e, now_ms);
    if (e->tokens >= 1.0) {
        e->tokens -= 1.0;
    } else {
        ok = false;
        if (retry_after_s) {
            double wait_ms = (1.0 - e->tokens) / rl->per_ms;
            unsigned s = (unsigned)((wait_ms + 999.0) / 1000.0);
            *retry_after_s = s ? s : 1;
        }
    }
out:
    pthread_mutex_unlock(&rl->lock);
    return ok;
}

unsigned ratelimit_size(ratelimit *rl)
{
    pthread_mutex_lock(&rl->lock);
    unsigned n = rl->count;
    pthread_mutex_unlock(&rl->lock);
    return n;
}
