/* log.c - one-line server logging to stderr with a level from PARLEY_LOG_LEVEL (log.h). */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int g_level = -1;

void log_set_level(log_level lvl) { g_level = (int)lvl; }

int log_parse_level(const char *s)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; s && i < 4; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

void log_msg(log_level lvl, const char *component, const char *fmt, ...)
{
    if (g_level < 0) {
        int l = log_parse_level(getenv("PARLEY_LOG_LEVEL"));
        g_level = l < 0 ? LOG_INFO : l;
    }
    if ((int)lvl < g_level)
        return;
    static const char *tags[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    char ts[32];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s.%03ldZ %s %s: %s\n", ts, now.tv_nsec / 1000000, tags[lvl], component, line);
}
