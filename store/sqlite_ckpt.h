/*
 * sqlite_ckpt.h - WAL checkpoints on a thread of their own, for the SQLite
 * connection that does the writing (the group-commit writer's).
 *
 * Internal to the SQLite backend (store_sqlite.c). SQLite's automatic
 * checkpoint runs inside the COMMIT that pushes the WAL past its limit: that
 * commit then copies every page of the WAL into the database and fsyncs it,
 * and every message waiting for it waits that long (docs/benchmarks.md,
 * "Message path": at 7,500 msg/s it made the commit's p99 2-3 times
 * longer). With a checkpointer the writer's connection
 * only reports its WAL's size after each commit (sqlite3_wal_hook, which
 * also turns its automatic checkpoint off); past the limit the checkpointer's
 * own connection runs a PASSIVE checkpoint (it never waits for or blocks
 * the writer or a reader) while the writer goes on appending to the WAL.
 */
#ifndef PARLEY_STORE_SQLITE_CKPT_H
#define PARLEY_STORE_SQLITE_CKPT_H

#include "store.h"

#include <sqlite3.h>
#include <stdint.h>

typedef struct sqlite_ckpt sqlite_ckpt;

/* Start a checkpointer for the database file at path (its own connection,
 * with PRAGMA synchronous = sync, and thread) and hook it to writer, the
 * connection that commits: a checkpoint runs whenever writer's WAL reaches
 * wal_pages frames. Returns NULL (and the caller keeps SQLite's automatic
 * checkpoint) if it cannot. */
sqlite_ckpt *sqlite_ckpt_start(sqlite3 *writer, const char *path, int wal_pages, const char *sync);

void sqlite_ckpt_get_stats(sqlite_ckpt *c, store_checkpoint_stats *out);

/* Stop the thread and close its connection (before the writer's connection
 * closes: SQLite checkpoints the rest when the last connection closes). NULL
 * is fine. */
void sqlite_ckpt_stop(sqlite_ckpt *c);

#endif
