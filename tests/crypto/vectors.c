/*
 * vectors.c - loader for known-answer vector files (see vectors.h).
 */
#include "vectors.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *vectors_trim(char *s)
{
    char *e;

    while (isspace((unsigned char)*s))
        s++;
    e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static int vectors_add_field(vectors_record *r, const char *name, const char *value)
{
    vectors_field *f = realloc(r->fields, (r->n_fields + 1) * sizeof(*f));

    if (!f)
        return -1;
    r->fields = f;
    f[r->n_fields].name = strdup(name);
    f[r->n_fields].value = strdup(value);
    r->n_fields++;
    return 0;
}

vectors_file *vectors_load(const char *name)
{
    char path[4096], line[8192];
    vectors_file *f = NULL;
    vectors_record *cur = NULL;
    FILE *fp = NULL;

    snprintf(path, sizeof(path), "%s/%s", PARLEY_CRYPTO_VECTORS_DIR, name);
    fp = fopen(path, "r");
    if (!fp)
        goto fail;
    f = calloc(1, sizeof(*f));
    if (!f)
        goto fail;
    while (fgets(line, sizeof(line), fp)) {
        char *l = vectors_trim(line), *eq;

        if (*l == '#')
            continue;
        if (*l == '\0') {
            cur = NULL;
            continue;
        }
        eq = strchr(l, '=');
        if (!eq)
            goto fail;
        *eq = '\0';
        if (!cur) {
            vectors_record *rs = realloc(f->records, (f->n_records + 1) * sizeof(*rs));
            if (!rs)
                goto fail;
            f->records = rs;
            cur = &f->records[f->n_records++];
            memset(cur, 0, sizeof(*cur));
        }
        if (vectors_add_field(cur, vectors_trim(l), vectors_trim(eq + 1)) != 0)
            goto fail;
    }
    fclose(fp);
    return f;
fail:
    if (fp)
        fclose(fp);
    vectors_free(f);
    return NULL;
}

void vectors_free(vectors_file *f)
{
    size_t i, j;

    if (!f)
        return;
    for (i = 0; i < f->n_records; i++) {
        for (j = 0; j < f->records[i].n_fields; j++) {
            free(f->records[i].fields[j].name);
            free(f->records[i].fields[j].value);
        }
        free(f->records[i].fields);
    }
    free(f->records);
    free(f);
}

const char *vectors_str(const vectors_record *r, const char *name)
{
    size_t i;

    for (i = 0; i < r->n_fields; i++)
        if (strcmp(r->fields[i].name, name) == 0)
            return r->fields[i].value;
    return NULL;
}

uint8_t *vectors_hex(const vectors_record *r, const char *name, size_t *len)
{
    const char *v = vectors_str(r, name);
    uint8_t *out;
    size_t n, i;

    if (!v)
        return NULL;
    n = strlen(v);
    if (n % 2)
        return NULL;
    out = malloc(n / 2 + 1);
    if (!out)
        return NULL;
    for (i = 0; i < n / 2; i++) {
        unsigned int b;
        if (!isxdigit((unsigned char)v[2 * i]) || !isxdigit((unsigned char)v[2 * i + 1]) ||
            sscanf(v + 2 * i, "%2x", &b) != 1) {
            free(out);
            return NULL;
        }
        out[i] = (uint8_t)b;
    }
    *len = n / 2;
    return out;
}
