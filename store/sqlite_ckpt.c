/*
 * sqlite_ckpt.c - WAL checkpoints on a thread of their own (sqlite_ckpt.h).
 *
 * The writer's wal_hook runs after each of its commits, on its thread: it
 * only compares the WAL's frame count with the limit and, past it, sets a
 * flag and signals a condition variable (no I/O, no waiting beyond the
 * mutex, which the checkpointer holds only around its flag). The thread
 * runs sqlite3_wal_checkpoint_v2(PASSIVE) on its own connection: it copies
 * every frame no reader still needs, then fsyncs the database
 * (synchronous=FULL); the writer's next transaction restarts the WAL from
 * its beginning once every frame is in the database.
 */
#include "sqlite_ckpt.h"
#include "clock.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

struct sq_ckpt {
    sqlite3 *db;           /* the checkpointer's own connection */
    sqlite3 *writer;
    int wal_pages;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool due, stopping;
    store_checkpoint_stats stats;
};

/* The writer's thread, after each commit. */
static int ckpt_wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
    sq_ckpt *c = arg;
    (void)db;
    (void)name;
    if (frames < c->wal_pages)
        return SQLITE_OK;
    pthread_mutex_lock(&c->mu);
    if (!c->due) {
        c->due = true;
        pthread_cond_signal(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
    return SQLITE_OK;
}

static void *ckpt_main(void *arg)
{
    sq_ckpt *c = arg;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (!c->due && !c->stopping)
            pthread_cond_wait(&c->cv, &c->mu);
        if (c->stopping)
            break;
        c->due = false;
        pthread_mutex_unlock(&c->mu);

        int wal = 0, copied = 0;
        int64_t t0 = clock_mono_us();
        int rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &wal, &copied);
        uint64_t us = (uint64_t)(clock_mono_us() - t0);

        pthread_mutex_lock(&c->mu);
        if (rc == SQLITE_OK) {
            c->stats.runs++;
            c->stats.frames += copied > 0 ? (uint64_t)copied : 0;
            c->stats.us_total += us;
            if (us > c->stats.us_max)
                c->stats.us_max = us;
        }
        /* SQLITE_BUSY (another checkpoint ran) or an I/O error: the next
         * commit past the limit asks again. */
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

sq_ckpt *sq_ckpt_start(sqlite3 *writer, const char *path, int wal_pages, const char *sync)
{
    char pragma[64];
    sq_ckpt *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->writer = writer;
    c->wal_pages = wal_pages > 0 ? wal_pages : 1000;
    snprintf(pragma, sizeof pragma, "PRAGMA synchronous = %s", sync);
    if (sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
            SQLITE_OK ||
        sqlite3_exec(c->db, pragma, NULL, NULL, NULL) != SQLITE_OK) {
        sqlite3_close(c->db);
        free(c);
        return NULL;
    }
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    if (pthread_create(&c->thread, NULL, ckpt_main, c) != 0) {
        pthread_cond_destroy(&c->cv);
        pthread_mutex_destroy(&c->mu);
        sqlite3_close(c->db);
        free(c);
        return NULL;
    }
    /* Replaces (turns off) the writer's automatic checkpoint. */
    sqlite3_wal_hook(writer, ckpt_wal_hook, c);
    return c;
}

void sq_ckpt_get_stats(sq_ckpt *c, store_checkpoint_stats *out)
{
    *out = (store_checkpoint_stats){0};
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    *out = c->stats;
    pthread_mutex_unlock(&c->mu);
}

void sq_ckpt_stop(sq_ckpt *c)
{
    if (!c)
        return;
    sqlite3_wal_hook(c->writer, NULL, NULL);
    pthread_mutex_lock(&c->mu);
    c->stopping = true;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    sqlite3_close(c->db);
    free(c);
}
