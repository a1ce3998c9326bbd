/*
 * options.h - command-line values shared by the services' mains.
 */
#ifndef PARLEY_HTTP_OPTIONS_H
#define PARLEY_HTTP_OPTIONS_H

#include <stdbool.h>

/* Parse s as a decimal in [min, max] into *out: digits only (no sign, no
 * space, no suffix), no overflow. false (out untouched) otherwise. */
bool http_parse_uint(const char *s, unsigned long long min, unsigned long long max,
                     unsigned long long *out);

#endif
