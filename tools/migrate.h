/*
 * migrate.h - copy every record of one Parley store into another, through
 * store.h only (so any backend pair works: sqlite -> mongodb, sqlite ->
 * sqlite, mongodb -> sqlite). Used by `parley-admin migrate`.
 *
 * What is copied, in order: users (identity keys), signed prekeys (the
 * previous one, then the current one), one-time prekeys, chats (with
 * their last_seq/last_message_at counters), members (roles and cursors),
 * messages (same seq, server id, sender, client id, timestamps, body),
 * media metadata, registration invites (used or not). Users keep their
 * status (a disabled user stays disabled, a deleted one a tombstone). Blobs themselves live in the media backend and are not
 * touched.
 *
 * Idempotent: a record already in the target (STORE_EEXIST, STORE_EDUP, or
 * an identical current signed prekey) is skipped and counted, so a
 * migration that was interrupted can simply be run again. Run it while
 * the services are stopped (or read-only) for a consistent copy.
 */
#ifndef PARLEY_TOOLS_MIGRATE_H
#define PARLEY_TOOLS_MIGRATE_H

#include <stddef.h>
#include <stdio.h>

#include "store.h"

typedef enum {
    MIGRATE_USERS,
    MIGRATE_SIGNED_PREKEYS,
    MIGRATE_OTPKS,
    MIGRATE_CHATS,
    MIGRATE_MEMBERS,
    MIGRATE_MESSAGES,
    MIGRATE_MEDIA,
    MIGRATE_INVITES,
    MIGRATE_KIND_COUNT
} migrate_kind;

typedef struct {
    size_t copied[MIGRATE_KIND_COUNT];
    size_t skipped[MIGRATE_KIND_COUNT];   /* already in the target */
    size_t failed[MIGRATE_KIND_COUNT];    /* refused by the target; see the log */
} migrate_stats;

typedef struct {
    size_t page;        /* records read per page and written per transaction (default 500) */
    FILE *log;          /* one line per failed record; NULL = stderr */
} migrate_options;

/* The printable name of a kind ("users", "messages", ...). */
const char *migrate_kind_name(migrate_kind k);

/*
 * Copy everything from src to dst (both open). opts may be NULL. *stats is
 * zeroed and filled. A record the target refuses (STORE_EINVAL,
 * STORE_ENOTFOUND) is counted as failed, logged, and the copy goes on.
 * Returns STORE_OK when every record was copied or skipped, STORE_EINVAL
 * when some failed, or the first backend error (STORE_EIO, STORE_EUNAVAIL,
 * STORE_ENOMEM) that stopped the copy, with a message in err.
 */
int migrate_run(store_t *src, store_t *dst, const migrate_options *opts, migrate_stats *stats,
                char *err, size_t errlen);

#endif
