/*
 * retention.h - deletes expired media: at start and then every interval,
 * every media record with expires_at in (0, now] is removed from the blob
 * backend and then from the store (so a crash between the two leaves a
 * record whose blob is gone, which the next sweep removes; never an
 * orphaned blob without a record that nothing would clean up).
 */
#ifndef PARLEY_MEDIA_RETENTION_H
#define PARLEY_MEDIA_RETENTION_H

#include "blob.h"
#include "store.h"

#include <stddef.h>

typedef struct retention retention;

/* One sweep on the given store connection; *deleted counts the media removed.
 * Returns STORE_OK or the first store error (a blob failure skips that record). */
int retention_sweep(store_t *s, blob_backend *blob, size_t *deleted);

/*
 * Start the sweeper thread with its own connection to store_uri, sweeping
 * at once and then every interval_s seconds. Returns 0 and *out, or -1
 * (store unreachable / no thread) with a log line.
 */
int retention_start(const char *store_uri, blob_backend *blob, int interval_s, retention **out);
/* Stop and join the thread, close its connection. NULL is fine. */
void retention_stop(retention *r);

#endif
