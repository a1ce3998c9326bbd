/*
 * options.c - command-line values (options.h).
 */
#include "options.h"

#include <errno.h>
#include <stdlib.h>

bool http_parse_uint(const char *s, unsigned long long min, unsigned long long max,
                     unsigned long long *out)
{
    if (!s || *s < '0' || *s > '9')
        return false;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}
