/*
 * fuzz.h - shared helpers of the fuzz targets (tests/fuzz/, docs/fuzzing.md).
 *
 * Every target is one LLVMFuzzerTestOneInput(); it reports a bug by
 * aborting (FUZZ_CHECK) or by a sanitizer report. The same file links
 * either with driver.c (replay of a seed corpus plus deterministic
 * mutations, ctest) or with libFuzzer (-fsanitize=fuzzer).
 */
#ifndef PARLEY_FUZZ_H
#define PARLEY_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* An invariant of the code under test: abort with its text when it fails. */
#define FUZZ_CHECK(cond) \
    do { \
        if (!(cond)) { \
            fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", __FILE__, __LINE__, #cond); \
            abort(); \
        } \
    } while (0)

/* A known, reported bug (docs/fuzzing.md, "Known findings"): the invariant
 * `cond` is violated by code the fuzz targets do not own. By default it is
 * reported once on stderr and the run goes on, so the other invariants keep
 * being checked; PARLEY_FUZZ_STRICT=1 turns it into a crash (to reproduce
 * it, or to check a fix: then replace FUZZ_KNOWN by FUZZ_CHECK). */
#define FUZZ_KNOWN(cond, id) \
    do { \
        static int fuzz_known_seen_; \
        if (!(cond)) { \
            const char *strict_ = getenv("PARLEY_FUZZ_STRICT"); \
            if (strict_ && *strict_ && *strict_ != '0') { \
                fprintf(stderr, "%s:%d: known bug %s: %s\n", __FILE__, __LINE__, id, #cond); \
                abort(); \
            } \
            if (!fuzz_known_seen_++) \
                fprintf(stderr, "%s:%d: known bug %s still present (docs/fuzzing.md): %s\n", \
                        __FILE__, __LINE__, id, #cond); \
        } \
    } while (0)

/* 1 if data[0..size) holds a byte >= 0x80. */
static inline int fuzz_has_high_byte(const uint8_t *data, size_t size)
{
    for (size_t i = 0; i < size; i++)
        if (data[i] >= 0x80)
            return 1;
    return 0;
}

/* data[0..size) as a fresh NUL-terminated heap string (the target frees it).
 * Bytes after an embedded NUL are simply invisible to C string parsers. */
static inline char *fuzz_strndup(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);

    if (!s)
        abort();
    if (size)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

#endif
