/*
 * pool.h - a pool of store connections for the keyserver's worker threads.
 * A store_t is single-threaded; a request borrows one for its duration.
 * Connections are opened lazily (at most one per concurrent request) and
 * kept for reuse.
 */
#ifndef PARLEY_KS_POOL_H
#define PARLEY_KS_POOL_H

#include "store.h"

typedef struct pool pool;

/* A pool for uri. Opens one connection right away to check the URI: returns
 * STORE_OK and *out, or that store_open error (and *out NULL). */
int pool_new(const char *uri, pool **out);
/* Borrow a connection: STORE_OK and *out, or the store_open error. Any thread. */
int pool_acquire(pool *p, store_t **out);
/* Give back a connection. broken: close it instead of keeping it (after an
 * error that may have left it unusable). */
void pool_release(pool *p, store_t *st, int broken);
/* Close every idle connection and free the pool. Every connection must have
 * been released. NULL is fine. */
void pool_free(pool *p);

#endif
