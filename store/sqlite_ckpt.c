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
 *
 * Under sustained writes that never happens by itself: SQLite starts the
 * WAL over only in a write transaction whose snapshot began after the last
 * frame was copied, and a writer that begins its next batch right after a
 * commit always begins while the checkpoint is still copying (measured: a
 * 510 MB WAL after 200,000 appends at batch 256, with a checkpoint after
 * nearly every commit). Two rules keep it bounded:
 *   - after a checkpoint the hook asks again only once the WAL has grown by
 *     another quarter of the limit, not after every commit;
 *   - when the WAL has reached twice the limit (so it did not start over),
 *     the hook itself runs a PASSIVE checkpoint on the writer's connection,
 *     between two of its transactions: nothing is appended meanwhile, so it
 *     copies the rest (little: the thread copied the bulk) and the writer's
 *     next transaction starts the WAL over. Only sustained writing pays that
 *     short wait (a RESTART from the thread instead had to win the write lock
 *     from a writer that takes it back at once: up to 1.7 s); SQLite's
 *     automatic checkpoint made every commit past the limit wait for the
 *     whole copy.
 */
#include "sqlite_ckpt.h"
#include "clock.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

struct sqlite_ckpt {
    sqlite3 *db;           /* the checkpointer's own connection */
    sqlite3 *writer;
    int wal_pages;
    atomic_int next_at;    /* the hook asks once the WAL has this many frames */
    int last_log, last_done; /* the previous run's WAL size and frames in the database */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool due, stopping;
    store_checkpoint_stats stats;
};

/* Count a checkpoint that left done of the WAL's log frames in the
 * database (either thread). */
static void ckpt_count(sqlite_ckpt *c, int log, int done, uint64_t us, bool inline_run)
{
    pthread_mutex_lock(&c->mu);
    /* frames copied by this run: the WAL may have started over since */
    int before = log >= c->last_log ? c->last_done : 0;
    c->stats.runs++;
    c->stats.inline_runs += inline_run;
    c->stats.frames += done > before ? (uint64_t)(done - before) : 0;
    c->stats.us_total += us;
    if (us > c->stats.us_max)
        c->stats.us_max = us;
    c->last_log = log;
    c->last_done = done;
    pthread_mutex_unlock(&c->mu);
}

/* The writer's thread, after each commit. */
static int ckpt_wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
    sqlite_ckpt *c = arg;
    (void)db;
    (void)name;
    if (frames < c->wal_pages) {
        atomic_store(&c->next_at, c->wal_pages); /* the WAL started over */
        return SQLITE_OK;
    }
    if (frames >= 2 * c->wal_pages) {
        /* SQLITE_BUSY while the thread's checkpoint runs: the next commit
         * tries again. */
        int log = 0, done = 0;
        int64_t t0 = clock_mono_us();
        if (sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, &log, &done) ==
            SQLITE_OK)
            ckpt_count(c, log, done, (uint64_t)(clock_mono_us() - t0), true);
        return SQLITE_OK;
    }
    if (frames < atomic_load(&c->next_at))
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
    sqlite_ckpt *c = arg;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (!c->due && !c->stopping)
            pthread_cond_wait(&c->cv, &c->mu);
        if (c->stopping)
            break;
        c->due = false;
        pthread_mutex_unlock(&c->mu);

        int log = 0, done = 0;
        int64_t t0 = clock_mono_us();
        int rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
        uint64_t us = (uint64_t)(clock_mono_us() - t0);
        /* Ask again after another quarter of the limit (or when the WAL
         * starts over: the hook resets it). */
        atomic_store(&c->next_at, (log > 0 ? log : 0) + c->wal_pages / 4);
        if (rc == SQLITE_OK)
            ckpt_count(c, log, done, us, false);

        pthread_mutex_lock(&c->mu);
        /* SQLITE_BUSY (another checkpoint ran) or an I/O error: the next
         * commit past the limit asks again. */
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

sqlite_ckpt *sqlite_ckpt_start(sqlite3 *writer, const char *path, int wal_pages, const char *sync)
{
    char pragma[64];
    sqlite_ckpt *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->writer = writer;
    c->wal_pages = wal_pages > 0 ? wal_pages : 1000;
    atomic_init(&c->next_at, c->wal_pages);
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

void sqlite_ckpt_get_stats(sqlite_ckpt *c, store_checkpoint_stats *out)
{
    *out = (store_checkpoint_stats){0};
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    *out = c->stats;
    pthread_mutex_unlock(&c->mu);
}

void sqlite_ckpt_stop(sqlite_ckpt *c)
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
