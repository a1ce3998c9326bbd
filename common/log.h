/*
 * log.h - one line per event for every Parley server (the broker plugin,
 * the keyserver, the media gateway), in one of two formats:
 *
 *   text: 2026-01-31T12:00:00.123Z INFO keyserver: listening on 0.0.0.0:8081
 *   json: {"ts":"2026-01-31T12:00:00.123Z","level":"info","component":"keyserver",
 *          "msg":"listening on 0.0.0.0:8081"}
 *
 * Written to stderr, one write per line (lines of different threads never
 * interleave). Settings come from the environment, read by log_init_env():
 * PARLEY_LOG_LEVEL (debug, info, warn, error; default info) and
 * PARLEY_LOG_FORMAT (text, json; default text); both are case-insensitive
 * and an unknown value is an error, so a program refuses to start on a
 * mistyped level instead of logging at a level nobody asked for.
 *
 * Messages often carry client-controlled text (user and client ids, store
 * errors): in both formats control characters are escaped (\n, \t, \u001b,
 * ...), so no input can forge or break a line; in JSON, bytes that are not
 * UTF-8 become U+FFFD so the line stays valid JSON.
 */
#ifndef PARLEY_LOG_H
#define PARLEY_LOG_H

#include <stddef.h>

/* PARLEY_-prefixed: <syslog.h> defines LOG_DEBUG, LOG_INFO, ... */
typedef enum {
    PARLEY_LOG_DEBUG = 0,
    PARLEY_LOG_INFO = 1,
    PARLEY_LOG_WARN = 2,
    PARLEY_LOG_ERROR = 3
} log_level;
typedef enum { PARLEY_LOG_FORMAT_TEXT = 0, PARLEY_LOG_FORMAT_JSON = 1 } log_format;

/* Read PARLEY_LOG_LEVEL and PARLEY_LOG_FORMAT (unset or empty: the
 * defaults). Returns 0, or -1 with the reason in err (errlen bytes, always
 * NUL-terminated) and the settings unchanged. Call it once at start, before
 * any thread logs; a program that never calls it logs at info, in text. */
int log_init_env(char *err, size_t errlen);
void log_set_level(log_level lvl);
void log_set_format(log_format fmt);
log_level log_get_level(void);
/* Parse "debug"/"info"/"warn"/"error" (any case); returns -1 if unknown. */
int log_parse_level(const char *s);
/* Parse "text"/"json" (any case); returns -1 if unknown. */
int log_parse_format(const char *s);
/* Whether a line at lvl would be written. */
int log_enabled(log_level lvl);
void log_msg(log_level lvl, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
