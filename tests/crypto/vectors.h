/*
 * vectors.h - known-answer vector files for the crypto tests.
 *
 * Format (the .txt files of tests/crypto/vectors/): records separated by blank lines;
 * each line "name = value"; '#' starts a comment line. Values are hex
 * unless read with vectors_str().
 */
#ifndef PARLEY_TEST_VECTORS_H
#define PARLEY_TEST_VECTORS_H

#include <stddef.h>
#include <stdint.h>

typedef struct vectors_field {
    char *name, *value;
} vectors_field;

typedef struct {
    vectors_field *fields;
    size_t n_fields;
} vectors_record;

typedef struct {
    vectors_record *records;
    size_t n_records;
} vectors_file;

/* Load the vector file <name> from PARLEY_CRYPTO_VECTORS_DIR (set by
 * tests/crypto/CMakeLists.txt). NULL if missing or malformed. */
vectors_file *vectors_load(const char *name);
void vectors_free(vectors_file *f);

/* The value of field name in r, or NULL. */
const char *vectors_str(const vectors_record *r, const char *name);
/* Hex-decode field name into a malloc'd buffer (*len bytes; empty value ->
 * non-NULL, *len 0). NULL if absent or not hex. */
uint8_t *vectors_hex(const vectors_record *r, const char *name, size_t *len);

#endif
