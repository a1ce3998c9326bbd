/*
 * strmap.h - a small string-keyed hash map (separate chaining, grows by
 * doubling). Used by the plugin's in-memory caches on the broker thread.
 * Not thread-safe: every map belongs to one thread.
 */
#ifndef PARLEY_PLUGIN_STRMAP_H
#define PARLEY_PLUGIN_STRMAP_H

#include <stddef.h>

typedef struct strmap strmap;

/* Create an empty map. free_value (may be NULL) is called on every value the
 * map drops (remove, replace, free). NULL on out-of-memory. */
strmap *strmap_new(void (*free_value)(void *));
/* Free the map, its keys and (through free_value) its values. NULL is fine. */
void strmap_free(strmap *m);
/* The value stored under key, or NULL. */
void *strmap_get(const strmap *m, const char *key);
/* Store value under key (the key is copied); a previous value is freed.
 * Returns 0, or -1 on out-of-memory (then value still belongs to the caller). */
int strmap_put(strmap *m, const char *key, void *value);
/* Remove key; its value is freed. Returns 1 if it was present, else 0. */
int strmap_remove(strmap *m, const char *key);
/* Remove key and hand its value to the caller (not freed); NULL if absent. */
void *strmap_take(strmap *m, const char *key);
size_t strmap_count(const strmap *m);
/* Call fn on every entry (the map must not change during the walk). */
void strmap_foreach(const strmap *m, void (*fn)(const char *key, void *value, void *ctx),
                    void *ctx);

#endif
