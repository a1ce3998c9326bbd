/*
 * store_sqlite.h - the embedded SQLite store backend ("sqlite:PATH").
 *
 * Internal: reached through store_open() (store.h); the entry point
 * store_sqlite__open() is declared in store_backend.h. This header only
 * names what the backend guarantees so other code can rely on it.
 *
 * Schema, indexes, pragmas and durability are described in docs/store.md.
 */
#ifndef PARLEY_STORE_SQLITE_H
#define PARLEY_STORE_SQLITE_H

#include "store_backend.h"

/* The schema version this build writes (PRAGMA user_version). Opening a file
 * with an older version migrates it; a newer version is refused (STORE_EIO). */
#define STORE_SQLITE_SCHEMA_VERSION 4

#endif
