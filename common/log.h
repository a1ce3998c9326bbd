/*
 * log.h - one-line logging for the servers: "TIME LEVEL component: message".
 * Writes to stderr. The level comes from PARLEY_LOG_LEVEL (debug, info, warn,
 * error; default info) or log_set_level().
 */
#ifndef PARLEY_LOG_H
#define PARLEY_LOG_H

typedef enum { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 } log_level;

void log_set_level(log_level lvl);
/* Parse "debug"/"info"/"warn"/"error"; returns -1 if unknown. */
int log_parse_level(const char *s);
void log_msg(log_level lvl, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
