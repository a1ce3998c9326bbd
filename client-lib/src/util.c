/*
 * util.c - what every module of libparley uses: the clocks, the error
 * detail (c->err), topic names and events to the application.
 */
#include "parley_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

const char *parley_version(void)
{
    return PARLEY_VERSION; /* parley/version.h, generated from the project version */
}

const char *parley_strerror(int rc)
{
    switch (rc) {
    case PARLEY_OK: return "success";
    case PARLEY_EINVAL: return "invalid argument";
    case PARLEY_ENOIDENT: return "no identity in this home (run: parley init USER)";
    case PARLEY_EEXIST: return "an identity already exists in this home";
    case PARLEY_ESTORE: return "local store failure";
    case PARLEY_ENET: return "server unreachable";
    case PARLEY_EREFUSED: return "refused by the server";
    case PARLEY_ETIMEOUT: return "timed out";
    case PARLEY_ENOMEM: return "out of memory";
    case PARLEY_ECRYPTO: return "cryptographic failure";
    case PARLEY_ENOTFOUND: return "not found";
    case PARLEY_ENOTCONN: return "not connected";
    case PARLEY_ETLS: return "TLS certificate verification failed";
    default: return "unknown error";
    }
}

int util__fail(parley_client *c, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
    return rc;
}

int util__store_fail(parley_client *c)
{
    return util__fail(c, PARLEY_ESTORE, "local store: %s", lstore_error(c->store));
}

const char *parley_last_error(const parley_client *c)
{
    return c ? c->err : "no client";
}

void util__topic(parley_client *c, char *out, size_t outlen, const char *user, const char *leaf)
{
    (void)c;
    snprintf(out, outlen, "parley/u/%s/%s", user, leaf);
}

void util__emit_event(parley_client *c, parley_event_type type, const char *chat_id, uint64_t seq,
                      const char *user, const char *detail)
{
    parley_event ev = {type, chat_id, seq, user, detail ? detail : ""};
    if (c->cb.on_event)
        c->cb.on_event(c->cb.ud, &ev);
}

/* 1 if s is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
int util__valid_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p++;
        int n = c < 0x80             ? 0
                : (c & 0xE0) == 0xC0 ? 1
                : (c & 0xF0) == 0xE0 ? 2
                : (c & 0xF8) == 0xF0 ? 3
                                     : -1;
        if (n < 0)
            return 0;
        unsigned cp = n == 0 ? c : n == 1 ? c & 0x1F : n == 2 ? c & 0x0F : c & 0x07;
        for (int i = 0; i < n; i++, p++) {
            if ((*p & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (*p & 0x3F);
        }
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
    }
    return 1;
}
