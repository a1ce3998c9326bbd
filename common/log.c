/*
 * log.c - one-line server logging to stderr, text or JSON, with the level
 * and format from PARLEY_LOG_LEVEL / PARLEY_LOG_FORMAT (log.h).
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static int g_level = PARLEY_LOG_INFO;
static int g_format = PARLEY_LOG_FORMAT_TEXT;

static const char *const level_names[] = {"debug", "info", "warn", "error"};
static const char *const level_tags[] = {"DEBUG", "INFO", "WARN", "ERROR"};

void log_set_level(log_level lvl)
{
    g_level = (int)lvl;
}
void log_set_format(log_format fmt)
{
    g_format = (int)fmt;
}
log_level log_get_level(void)
{
    return (log_level)g_level;
}
int log_enabled(log_level lvl)
{
    return (int)lvl >= g_level;
}

int log_parse_level(const char *s)
{
    for (int i = 0; s && i < 4; i++)
        if (strcasecmp(s, level_names[i]) == 0)
            return i;
    return -1;
}

int log_parse_format(const char *s)
{
    if (s && strcasecmp(s, "text") == 0)
        return PARLEY_LOG_FORMAT_TEXT;
    if (s && strcasecmp(s, "json") == 0)
        return PARLEY_LOG_FORMAT_JSON;
    return -1;
}

int log_init_env(char *err, size_t errlen)
{
    const char *lv = getenv("PARLEY_LOG_LEVEL"), *fm = getenv("PARLEY_LOG_FORMAT");
    int l = lv && *lv ? log_parse_level(lv) : PARLEY_LOG_INFO;
    int f = fm && *fm ? log_parse_format(fm) : PARLEY_LOG_FORMAT_TEXT;
    if (l < 0) {
        snprintf(err, errlen, "PARLEY_LOG_LEVEL: unknown level '%.40s' (debug, info, warn, error)",
                 lv);
        return -1;
    }
    if (f < 0) {
        snprintf(err, errlen, "PARLEY_LOG_FORMAT: unknown format '%.40s' (text, json)", fm);
        return -1;
    }
    g_level = l;
    g_format = f;
    if (errlen)
        err[0] = '\0';
    return 0;
}

typedef struct {
    char *p;
    size_t len, cap; /* bytes that may be used */
    int full;        /* a piece did not fit: the rest is dropped */
} log_buf;

/* Append a piece whole or not at all (an escape is never cut in two). */
static void put(log_buf *b, const char *s, size_t n)
{
    if (b->full || n > b->cap - b->len) {
        b->full = 1;
        return;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void puts_(log_buf *b, const char *s)
{
    put(b, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t len;
    unsigned cp;
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        len = 2, cp = s[0] & 0x1f;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        len = 3, cp = s[0] & 0x0f;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        len = 4, cp = s[0] & 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

/* s with control characters escaped; in JSON also '"' and '\', and bytes
 * that are not UTF-8 replaced by U+FFFD. */
static void put_escaped(log_buf *b, const char *str, int json)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t n = strlen(str);
    char esc[8];
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        if (c == '\n' || c == '\r' || c == '\t') {
            esc[0] = '\\';
            esc[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
            put(b, esc, 2);
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            put(b, esc, 6);
            i++;
        } else if (json && (c == '"' || c == '\\')) {
            esc[0] = '\\';
            esc[1] = (char)c;
            put(b, esc, 2);
            i++;
        } else if (json && c >= 0x80) {
            size_t l = utf8_len(s + i, n - i);
            if (l) {
                put(b, (const char *)s + i, l);
                i += l;
            } else {
                puts_(b, "\\ufffd");
                i++;
            }
        } else {
            put(b, (const char *)s + i, 1);
            i++;
        }
    }
}

void log_msg(log_level lvl, const char *component, const char *fmt, ...)
{
    if ((int)lvl < g_level || (int)lvl < PARLEY_LOG_DEBUG || (int)lvl > PARLEY_LOG_ERROR)
        return;
    char ts[40], text[2048], out[8192];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    size_t tl = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + tl, sizeof ts - tl, ".%03ldZ", now.tv_nsec / 1000000);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    log_buf b = {out, 0, sizeof out - 2, 0}; /* room for "\n" and NUL */
    if (g_format == PARLEY_LOG_FORMAT_JSON) {
        puts_(&b, "{\"ts\":\"");
        puts_(&b, ts);
        puts_(&b, "\",\"level\":\"");
        puts_(&b, level_names[lvl]);
        puts_(&b, "\",\"component\":\"");
        put_escaped(&b, component, 1);
        puts_(&b, "\",\"msg\":\"");
        /* A cut message must still close its string and object. */
        b.cap -= 2;
        put_escaped(&b, text, 1);
        b.cap += 2;
        b.full = 0;
        puts_(&b, "\"}");
    } else {
        puts_(&b, ts);
        puts_(&b, " ");
        puts_(&b, level_tags[lvl]);
        puts_(&b, " ");
        put_escaped(&b, component, 0);
        puts_(&b, ": ");
        put_escaped(&b, text, 0);
    }
    out[b.len++] = '\n';
    out[b.len] = '\0';
    /* One fwrite: stdio locks the stream per call, so lines never interleave. */
    fwrite(out, 1, b.len, stderr);
    fflush(stderr);
}
