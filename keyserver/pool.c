#include "pool.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct pool_item {
    store_t *st;
    struct pool_item *next;
} pool_item;

struct pool {
    char *uri;
    pthread_mutex_t lock;
    pool_item *idle;
};

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

int pool_new(const char *uri, pool **out)
{
    *out = NULL;
    pool *p = calloc(1, sizeof *p);
    store_t *st = NULL;
    int rc = STORE_ENOMEM;
    if (!p || !(p->uri = dup_str(uri)))
        goto fail;
    pthread_mutex_init(&p->lock, NULL);
    rc = store_open(uri, NULL, &st);
    if (rc != STORE_OK) {
        pthread_mutex_destroy(&p->lock);
        goto fail;
    }
    pool_release(p, st, 0);
    *out = p;
    return STORE_OK;
fail:
    if (p)
        free(p->uri);
    free(p);
    return rc;
}

int pool_acquire(pool *p, store_t **out)
{
    pthread_mutex_lock(&p->lock);
    pool_item *it = p->idle;
    if (it)
        p->idle = it->next;
    pthread_mutex_unlock(&p->lock);
    if (it) {
        *out = it->st;
        free(it);
        return STORE_OK;
    }
    return store_open(p->uri, NULL, out);
}

void pool_release(pool *p, store_t *st, int broken)
{
    if (!st)
        return;
    pool_item *it = broken ? NULL : malloc(sizeof *it);
    if (!it) {
        store_close(st);
        return;
    }
    it->st = st;
    pthread_mutex_lock(&p->lock);
    it->next = p->idle;
    p->idle = it;
    pthread_mutex_unlock(&p->lock);
}

void pool_free(pool *p)
{
    if (!p)
        return;
    while (p->idle) {
        pool_item *it = p->idle;
        p->idle = it->next;
        store_close(it->st);
        free(it);
    }
    pthread_mutex_destroy(&p->lock);
    free(p->uri);
    free(p);
}
