/*
 * strmap.c - string-keyed hash map (FNV-1a, separate chaining).
 */
#include "strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct strmap_entry {
    struct strmap_entry *next;
    char *key;
    void *value;
    uint32_t hash;
} strmap_entry;

struct strmap {
    strmap_entry **buckets;
    size_t nbuckets;
    size_t count;
    void (*free_value)(void *);
};

static uint32_t strmap_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h;
}

strmap *strmap_new(void (*free_value)(void *))
{
    strmap *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->nbuckets = 64;
    m->buckets = calloc(m->nbuckets, sizeof *m->buckets);
    if (!m->buckets) {
        free(m);
        return NULL;
    }
    m->free_value = free_value;
    return m;
}

void strmap_free(strmap *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nbuckets; i++) {
        strmap_entry *e = m->buckets[i];
        while (e) {
            strmap_entry *next = e->next;
            if (m->free_value)
                m->free_value(e->value);
            free(e->key);
            free(e);
            e = next;
        }
    }
    free(m->buckets);
    free(m);
}

static strmap_entry **strmap_slot(const strmap *m, const char *key, uint32_t h)
{
    strmap_entry **pe = &m->buckets[h & (m->nbuckets - 1)];
    while (*pe && ((*pe)->hash != h || strcmp((*pe)->key, key) != 0))
        pe = &(*pe)->next;
    return pe;
}

void *strmap_get(const strmap *m, const char *key)
{
    strmap_entry *e = *strmap_slot(m, key, strmap_hash(key));
    return e ? e->value : NULL;
}

static void strmap_grow(strmap *m)
{
    size_t n = m->nbuckets * 2;
    strmap_entry **b = calloc(n, sizeof *b);
    if (!b)
        return; /* keep working with longer chains */
    for (size_t i = 0; i < m->nbuckets; i++) {
        strmap_entry *e = m->buckets[i];
        while (e) {
            strmap_entry *next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = n;
}

int strmap_put(strmap *m, const char *key, void *value)
{
    uint32_t h = strmap_hash(key);
    strmap_entry **pe = strmap_slot(m, key, h);
    if (*pe) {
        if (m->free_value && (*pe)->value != value)
            m->free_value((*pe)->value);
        (*pe)->value = value;
        return 0;
    }
    strmap_entry *e = calloc(1, sizeof *e);
    if (!e)
        return -1;
    e->key = strdup(key);
    if (!e->key) {
        free(e);
        return -1;
    }
    e->value = value;
    e->hash = h;
    *pe = e;
    m->count++;
    if (m->count > m->nbuckets * 2)
        strmap_grow(m);
    return 0;
}

void *strmap_take(strmap *m, const char *key)
{
    strmap_entry **pe = strmap_slot(m, key, strmap_hash(key));
    strmap_entry *e = *pe;
    if (!e)
        return NULL;
    void *v = e->value;
    *pe = e->next;
    free(e->key);
    free(e);
    m->count--;
    return v;
}

int strmap_remove(strmap *m, const char *key)
{
    strmap_entry **pe = strmap_slot(m, key, strmap_hash(key));
    strmap_entry *e = *pe;
    if (!e)
        return 0;
    *pe = e->next;
    if (m->free_value)
        m->free_value(e->value);
    free(e->key);
    free(e);
    m->count--;
    return 1;
}

size_t strmap_count(const strmap *m)
{
    return m->count;
}

void strmap_foreach(const strmap *m, void (*fn)(const char *key, void *value, void *ctx), void *ctx)
{
    for (size_t i = 0; i < m->nbuckets; i++)
        for (strmap_entry *e = m->buckets[i]; e; e = e->next)
            fn(e->key, e->value, ctx);
}
