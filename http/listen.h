/*
 * listen.h - the --listen address of both HTTP services.
 */
#ifndef PARLEY_HTTP_LISTEN_H
#define PARLEY_HTTP_LISTEN_H

#include <stddef.h>
#include <sys/socket.h>

/*
 * Parse "HOST:PORT", "[V6ADDR]:PORT" (or V6ADDR:PORT) into *ss and *sslen.
 * HOST is an IPv4 or IPv6 address or a name ("localhost", resolved once,
 * first answer). PORT is decimal, 1 to 65535. Returns 0, or -1 with the
 * reason in err (errlen bytes; always NUL-terminated).
 */
int http_listen_parse(const char *spec, struct sockaddr_storage *ss, socklen_t *sslen, char *err,
                      size_t errlen);

#endif
