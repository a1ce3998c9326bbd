/*
 * logging.c - the plugin's log lines go through common/log.h, like those of
 * the keyserver and the media gateway: one format (PARLEY_LOG_FORMAT, text
 * or JSON), one level (PARLEY_LOG_LEVEL), on mosquitto's stderr.
 *
 * The plugin's files call mosquitto_log_printf(MOSQ_LOG_*, "parley: ...");
 * plugin_int.h maps that name to logging__printf, which drops the
 * "parley: " prefix (the component says it) and maps mosquitto's levels:
 * ERR -> error, WARNING -> warn, NOTICE/INFO -> info, DEBUG -> debug.
 * mosquitto's own lines keep mosquitto's format and log_type filter.
 * Safe on any thread (log_msg writes one line per call).
 */
#include "plugin_int.h"
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define LOGGING_PREFIX "parley: "

int logging__init(void)
{
    char err[160];
    if (log_init_env(err, sizeof err) != 0) {
        log_msg(PARLEY_LOG_ERROR, "parley", "%s; the broker does not start", err);
        return -1;
    }
    return 0;
}

void logging__printf(int level, const char *fmt, ...)
{
    log_level lvl = level & MOSQ_LOG_ERR       ? PARLEY_LOG_ERROR
                    : level & MOSQ_LOG_WARNING ? PARLEY_LOG_WARN
                    : level & MOSQ_LOG_DEBUG   ? PARLEY_LOG_DEBUG
                                               : PARLEY_LOG_INFO;
    if (!log_enabled(lvl))
        return;
    char text[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    const char *msg = text;
    if (!strncmp(msg, LOGGING_PREFIX, strlen(LOGGING_PREFIX)))
        msg += strlen(LOGGING_PREFIX);
    log_msg(lvl, "parley", "%s", msg);
}
