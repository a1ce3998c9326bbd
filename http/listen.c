/*
 * listen.c - --listen parsing for both HTTP services (listen.h).
 */
#include "listen.h"

#include <netdb.h>
#include <stdio.h>
#include <string.h>

int http_listen_parse(const char *spec, struct sockaddr_storage *ss, socklen_t *sslen, char *err,
                      size_t errlen)
{
    char host[256];
    const char *colon = spec ? strrchr(spec, ':') : NULL;
    if (!colon || colon == spec || (size_t)(colon - spec) >= sizeof host || !colon[1]) {
        snprintf(err, errlen, "--listen %s: expected HOST:PORT or [V6ADDR]:PORT", spec ? spec : "");
        return -1;
    }
    unsigned long port = 0;
    const char *p = colon + 1;
    for (; *p >= '0' && *p <= '9' && port <= 65535; p++)
        port = port * 10 + (unsigned long)(*p - '0');
    if (*p || port == 0 || port > 65535) {
        snprintf(err, errlen, "--listen %s: the port must be a number from 1 to 65535", spec);
        return -1;
    }
    size_t hlen = (size_t)(colon - spec);
    memcpy(host, spec, hlen);
    host[hlen] = '\0';
    if (host[0] == '[') {
        if (hlen < 3 || host[hlen - 1] != ']') {
            snprintf(err, errlen, "--listen %s: unbalanced [ ] around the address", spec);
            return -1;
        }
        memmove(host, host + 1, hlen - 2);
        host[hlen - 2] = '\0';
    }
    char service[8];
    snprintf(service, sizeof service, "%lu", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, service, &hints, &res);
    if (rc != 0 || !res) {
        snprintf(err, errlen, "--listen %s: %s", spec, rc ? gai_strerror(rc) : "no address");
        return -1;
    }
    memset(ss, 0, sizeof *ss);
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *sslen = (socklen_t)res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}
