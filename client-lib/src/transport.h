/*
 * transport.h - the client's transport security, shared by every
 * connection libparley makes: which URL schemes it accepts and which of
 * them are TLS, libcurl's options for the keyserver and the media gateway,
 * Paho's TLS options for the broker, and a probe that says why a TLS
 * handshake with the broker failed.
 *
 * Trust (docs/client.md, "TLS"): ca_file, a PEM file of CA certificates,
 * replaces the system trust store; NULL (or "") means the system store
 * (OpenSSL's default paths: /etc/ssl/certs on Debian). The server's
 * certificate chain and its host name (or IP address) are always verified:
 * there is no switch to turn either off.
 *
 * A leaf: calls no other module of libparley.
 */
#ifndef PARLEY_TRANSPORT_H
#define PARLEY_TRANSPORT_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

typedef enum {
    TRANSPORT_BAD = -1, /* not a scheme this client speaks */
    TRANSPORT_PLAIN = 0,
    TRANSPORT_TLS = 1,
} transport_kind;

/* The broker URL's scheme: tcp:// mqtt:// ws:// (plain), ssl:// mqtts://
 * wss:// (TLS), followed by a host; anything else is TRANSPORT_BAD. */
transport_kind transport_mqtt_kind(const char *url);
/* An HTTP service URL's scheme: http:// (plain), https:// (TLS), followed
 * by a host; anything else is TRANSPORT_BAD. */
transport_kind transport_http_kind(const char *url);

/* Set h's protocol and trust options: HTTP and HTTPS only (also for
 * redirects), peer and host name verification on, ca_file as the only
 * trust anchors when given (CURLOPT_CAINFO, no CA directory). */
void transport_curl(CURL *h, const char *ca_file);

/* Whether a libcurl failure is the server's certificate (or the CA file)
 * failing verification: untrusted issuer, wrong host name, expired, an
 * unreadable CA file. */
bool transport_curl_trust_error(CURLcode cc);

/*
 * Why a connection to the TLS broker URL url failed, asked with a TLS
 * handshake of its own (libcurl, the same trust settings, the host and
 * port of url; at most TRANSPORT_PROBE_S seconds, blocking). Returns 1
 * when the certificate or the CA file failed verification (why holds the
 * reason), 0 when it did not (the failure was something else: the server
 * is unreachable, or the handshake succeeded), -1 when url is not a TLS
 * URL or the probe could not run.
 */
/* The https:// URL the probe connects to for a TLS broker URL: its host and
 * port (the scheme's default port when it has none: 8883 for ssl:// and
 * mqtts://, 443 for wss://), path "/". 0, or -1 (not a TLS broker URL, or
 * longer than outlen). */
int transport_probe_target(const char *url, char *out, size_t outlen);
#define TRANSPORT_PROBE_S 5
int transport_probe(const char *url, const char *ca_file, char *why, size_t whylen);

#endif
