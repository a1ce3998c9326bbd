/*
 * transport.c - the client's transport security (contract in transport.h):
 * URL schemes, libcurl's trust options, and the TLS probe that explains a
 * failed broker handshake.
 */
#include "transport.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    const char *prefix;
    transport_kind kind;
    const char *default_port; /* of the scheme, for the probe */
} scheme;

/* What Paho MQTTAsync 1.3.12 accepts (MQTTAsync_create) */
static const scheme mqtt_schemes[] = {
    {"tcp://", TRANSPORT_PLAIN, "1883"}, {"mqtt://", TRANSPORT_PLAIN, "1883"},
    {"ws://", TRANSPORT_PLAIN, "80"},    {"ssl://", TRANSPORT_TLS, "8883"},
    {"mqtts://", TRANSPORT_TLS, "8883"}, {"wss://", TRANSPORT_TLS, "443"},
};
static const scheme http_schemes[] = {
    {"http://", TRANSPORT_PLAIN, "80"},
    {"https://", TRANSPORT_TLS, "443"},
};

static const scheme *find(const scheme *tab, size_t n, const char *url)
{
    if (!url)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(tab[i].prefix);
        /* a host must follow: "ssl://" alone, "ssl:///x" or "ssl://:1" are not URLs */
        if (strncmp(url, tab[i].prefix, len) == 0 && url[len] && url[len] != '/' && url[len] != ':')
            return &tab[i];
    }
    return NULL;
}

transport_kind transport_mqtt_kind(const char *url)
{
    const scheme *s = find(mqtt_schemes, sizeof mqtt_schemes / sizeof *mqtt_schemes, url);
    return s ? s->kind : TRANSPORT_BAD;
}

transport_kind transport_http_kind(const char *url)
{
    const scheme *s = find(http_schemes, sizeof http_schemes / sizeof *http_schemes, url);
    return s ? s->kind : TRANSPORT_BAD;
}

void transport_curl(CURL *h, const char *ca_file)
{
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (ca_file && *ca_file) {
        curl_easy_setopt(h, CURLOPT_CAINFO, ca_file);
        curl_easy_setopt(h, CURLOPT_CAPATH, NULL); /* the file only, not /etc/ssl/certs too */
    }
}

bool transport_curl_trust_error(CURLcode cc)
{
    return cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE;
}

int transport_probe_target(const char *url, char *out, size_t outlen)
{
    const scheme *s = find(mqtt_schemes, sizeof mqtt_schemes / sizeof *mqtt_schemes, url);
    if (!s || s->kind != TRANSPORT_TLS)
        return -1;
    /* host[:port] of the URL; without a port, the scheme's default. */
    const char *host = url + strlen(s->prefix);
    size_t hl = strcspn(host, "/?#");
    const char *close = memchr(host, ']', hl); /* [v6addr]: its colons are not the port's */
    const char *from = close ? close : host;
    const char *colon = memchr(from, ':', hl - (size_t)(from - host));
    int n = snprintf(out, outlen, "https://%.*s%s%s/", (int)hl, host, colon ? "" : ":",
                     colon ? "" : s->default_port);
    return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

int transport_probe(const char *url, const char *ca_file, char *why, size_t whylen)
{
    char target[512], errbuf[CURL_ERROR_SIZE] = "";
    if (transport_probe_target(url, target, sizeof target) != 0)
        return -1;
    CURL *h = curl_easy_init();
    if (!h)
        return -1;
    curl_easy_setopt(h, CURLOPT_URL, target);
    curl_easy_setopt(h, CURLOPT_CONNECT_ONLY, 1L); /* TCP + TLS handshake, no request */
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)TRANSPORT_PROBE_S);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)TRANSPORT_PROBE_S);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    transport_curl(h, ca_file);
    CURLcode cc = curl_easy_perform(h);
    curl_easy_cleanup(h);
    if (!transport_curl_trust_error(cc))
        return 0;
    snprintf(why, whylen, "%s", errbuf[0] ? errbuf : curl_easy_strerror(cc));
    return 1;
}
