/*
 * dedup.c - the bounded (sender, client_msg_id) -> (server_id, chat_id, seq,
 * stored?) map that makes message retries idempotent while the broker runs
 * (docs/protocol.md, "Sending a message"). 1:1 sends (envelope.c) and group
 * sends (group_msg.c) each keep one; persist.c updates it when the write
 * completes. The oldest of PP_DEDUP_MAX entries is evicted first.
 *
 * Every function accepts a NULL map: lookups find nothing, updates do nothing.
 */
#include "plugin_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEDUP_KEY_MAX (IDS_USER_MAX + 1 + IDS_CLIENT_MSG_MAX + 1)

struct pp_dedup {
    strmap *map;  /* "sender\nclient_msg_id" -> pp_dedup_entry* */
    char **ring;  /* keys in insertion order, for eviction */
    size_t ring_pos;
};

static void dedup_key(char out[DEDUP_KEY_MAX], const char *sender, const char *client_msg_id)
{
    snprintf(out, DEDUP_KEY_MAX, "%s\n%s", sender, client_msg_id);
}

pp_dedup *dedup__new(void)
{
    pp_dedup *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->map = strmap_new(free);
    d->ring = calloc(PP_DEDUP_MAX, sizeof *d->ring);
    if (!d->map || !d->ring) {
        dedup__free(d);
        return NULL;
    }
    return d;
}

void dedup__free(pp_dedup *d)
{
    if (!d)
        return;
    strmap_free(d->map);
    if (d->ring)
        for (size_t i = 0; i < PP_DEDUP_MAX; i++)
            free(d->ring[i]);
    free(d->ring);
    free(d);
}

const pp_dedup_entry *dedup__find(const pp_dedup *d, const char *sender, const char *client_msg_id)
{
    char key[DEDUP_KEY_MAX];
    if (!d)
        return NULL;
    dedup_key(key, sender, client_msg_id);
    return strmap_get(d->map, key);
}

void dedup__insert(pp_dedup *d, const char *sender, const char *client_msg_id,
                   const char *server_id, const char *chat_id, uint64_t seq)
{
    char key[DEDUP_KEY_MAX];
    if (!d)
        return;
    dedup_key(key, sender, client_msg_id);
    pp_dedup_entry *e = calloc(1, sizeof *e);
    char *k = strdup(key);
    if (!e || !k || strmap_put(d->map, key, e) != 0) {
        free(e);
        free(k);
        return;
    }
    snprintf(e->server_id, sizeof e->server_id, "%s", server_id);
    snprintf(e->chat_id, sizeof e->chat_id, "%s", chat_id);
    e->seq = seq;
    /* Evict the oldest entry. */
    if (d->ring[d->ring_pos]) {
        strmap_remove(d->map, d->ring[d->ring_pos]);
        free(d->ring[d->ring_pos]);
    }
    d->ring[d->ring_pos] = k;
    d->ring_pos = (d->ring_pos + 1) % PP_DEDUP_MAX;
}

/* The entry of (sender, client_msg_id) if it still holds the message stamped
 * stamped_id (a later retry may have replaced it); its key is left in key. */
static pp_dedup_entry *dedup_stamped(const pp_dedup *d, const char *sender,
                                     const char *client_msg_id, const char *stamped_id,
                                     char key[DEDUP_KEY_MAX])
{
    if (!d)
        return NULL;
    dedup_key(key, sender, client_msg_id);
    pp_dedup_entry *e = strmap_get(d->map, key);
    return e && !strcmp(e->server_id, stamped_id) ? e : NULL;
}

void dedup__stored(pp_dedup *d, const char *sender, const char *client_msg_id,
                   const char *stamped_id, const char *server_id, uint64_t seq)
{
    char key[DEDUP_KEY_MAX];
    pp_dedup_entry *e = dedup_stamped(d, sender, client_msg_id, stamped_id, key);
    if (e) {
        e->stored = true;
        e->seq = seq;
        snprintf(e->server_id, sizeof e->server_id, "%s", server_id);
    }
}

void dedup__failed(pp_dedup *d, const char *sender, const char *client_msg_id,
                   const char *stamped_id)
{
    char key[DEDUP_KEY_MAX];
    if (dedup_stamped(d, sender, client_msg_id, stamped_id, key))
        strmap_remove(d->map, key); /* a retry is stamped afresh */
}
