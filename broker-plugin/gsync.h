/*
 * gsync.h - group state across broker nodes (docs/cluster.md, "Groups
 * across nodes"). The store is the truth for membership; a node keeps its
 * in-memory model of a group (groups.c) in step by reloading the group from
 * the store whenever the group changes anywhere, and delivers a group's
 * messages to its own subscribers strictly in seq order through a per-group
 * gate, so that a membership change is applied before any later message of
 * the group is delivered here. Without the bus every call is a no-op
 * (gsync__frame is then never called: route.c delivers directly).
 * Broker thread only.
 */
#ifndef PARLEY_GSYNC_H
#define PARLEY_GSYNC_H

#include <stddef.h>
#include <stdint.h>

#include "plugin_int.h"

/* Wait this long for a missing seq before reading it from the store. */
#define GSYNC_GAP_MS 100
/* Held deliveries per group before the store is asked at once. */
#define GSYNC_HELD_MAX 1024
/* Messages fetched from the store per repair. */
#define GSYNC_FETCH_MAX 500

int gsync__init(void);
void gsync__cleanup(void);
/* A group delivery (this node's own commit, or a frame from another node):
 * delivered to this node's subscribers in seq order. A SYSTEM envelope
 * makes the node reload the group before it delivers anything later. */
void gsync__frame(const char *chat_id, const route_meta *meta, const char *topic,
                  const void *payload, size_t len);
/* A user-topic delivery to hold until the group has been reloaded (a new
 * member's copy of a group event). */
void gsync__after_reload(const char *chat_id, const char *topic, const void *payload, size_t len);
/* One more (+1) or one fewer (-1) local online member of the group: the
 * node watches the group's subject while any is left; the first watch
 * loads the group from the store before delivering. */
void gsync__watch(const char *chat_id, int delta);
/* This node changed the group (its SYSTEM event committed): tell the
 * others to reload it. */
void gsync__announce(const char *chat_id);
/* From the tick: repair gaps that waited GSYNC_GAP_MS. */
void gsync__tick(void);

typedef struct {
    uint64_t reloads;    /* group reloads from the store */
    uint64_t repaired;   /* messages read from the store and delivered (missed on the bus) */
    uint64_t held;       /* deliveries held now, waiting for a lower seq or a reload */
    uint64_t duplicates; /* deliveries at or below the group's delivered seq, dropped */
    uint64_t watched;    /* groups watched now */
} gsync_stats;
void gsync__get_stats(gsync_stats *out);

#endif
