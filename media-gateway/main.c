/*
 * main.c - parley-media: option parsing, startup and shutdown only.
 *
 *   parley-media --listen HOST:PORT|[V6ADDR]:PORT --store URI --backend file:DIR|s3:ENDPOINT/BUCKET
 *                [--s3-access-key K --s3-secret-key S --s3-region R --s3-virtual-host]
 *                [--max-size BYTES] [--retention-s SECONDS] [--retention-interval-s SECONDS]
 *                [--max-conns-per-ip N] [--header-timeout SECONDS]
 *
 * S3 credentials may also come from PARLEY_S3_ACCESS_KEY / PARLEY_S3_SECRET_KEY.
 * Runs until SIGINT or SIGTERM.
 */
#include "blob.h"
#include "listen.h"
#include "log.h"
#include "metrics.h"
#include "options.h"
#include "retention.h"
#include "server.h"
#include "service.h"

#include <curl/curl.h>
#include <getopt.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_SIZE (100ull * 1024 * 1024)

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: parley-media --listen HOST:PORT|[V6ADDR]:PORT --store URI --backend file:DIR|s3:URL/BUCKET\n"
        "         [--s3-access-key K] [--s3-secret-key S] [--s3-region R] [--s3-virtual-host]\n"
        "         [--max-size BYTES] [--retention-s SECONDS] [--retention-interval-s SECONDS]\n"
        "         [--max-conns-per-ip N (default 32, 0 = no limit)]\n"
        "         [--header-timeout SECONDS (request line + headers deadline, default 10, 0 = off)]\n"
        "         [--tls-cert PEM --tls-key PEM (serve HTTPS with this certificate chain and key)]\n"
        "       parley-media --help | --version\n"
        "S3 keys may also come from PARLEY_S3_ACCESS_KEY / PARLEY_S3_SECRET_KEY.\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"store", required_argument, NULL, 's'},
        {"backend", required_argument, NULL, 'b'},
        {"s3-access-key", required_argument, NULL, 'A'},
        {"s3-secret-key", required_argument, NULL, 'S'},
        {"s3-region", required_argument, NULL, 'R'},
        {"s3-virtual-host", no_argument, NULL, 'V'},
        {"max-size", required_argument, NULL, 'm'},
        {"retention-s", required_argument, NULL, 'r'},
        {"retention-interval-s", required_argument, NULL, 'i'},
        {"max-conns-per-ip", required_argument, NULL, 'c'},
        {"header-timeout", required_argument, NULL, 'H'},
        {"tls-cert", required_argument, NULL, 'C'},
        {"tls-key", required_argument, NULL, 'K'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'v'},
        {NULL, 0, NULL, 0},
    };
    const char *listen = NULL, *store_uri = NULL, *backend = NULL;
    const char *tls_cert = NULL, *tls_key = NULL;
    blob_s3_options s3 = {0};
    unsigned long long max_size = DEFAULT_MAX_SIZE, retention_s = 0, interval_s = 60;
    unsigned long long conns_per_ip = 32, header_timeout_s = 10;
    int c;
    s3.access_key = getenv("PARLEY_S3_ACCESS_KEY");
    s3.secret_key = getenv("PARLEY_S3_SECRET_KEY");
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'l': listen = optarg; break;
        case 's': store_uri = optarg; break;
        case 'b': backend = optarg; break;
        case 'C': tls_cert = optarg; break;
        case 'K': tls_key = optarg; break;
        case 'A': s3.access_key = optarg; break;
        case 'S': s3.secret_key = optarg; break;
        case 'R': s3.region = optarg; break;
        case 'V': s3.virtual_host = true; break;
        case 'm':
            if (!http_parse_uint(optarg, 1, ULLONG_MAX, &max_size)) {
                fprintf(stderr, "parley-media: bad --max-size '%s'\n", optarg);
                return 2;
            }
            break;
        case 'r':
            if (!http_parse_uint(optarg, 0, 100ull * 365 * 86400, &retention_s)) {
                fprintf(stderr, "parley-media: bad --retention-s '%s'\n", optarg);
                return 2;
            }
            break;
        case 'i':
            if (!http_parse_uint(optarg, 1, 86400, &interval_s)) {
                fprintf(stderr, "parley-media: bad --retention-interval-s '%s'\n", optarg);
                return 2;
            }
            break;
        case 'c':
            if (!http_parse_uint(optarg, 0, 100000, &conns_per_ip)) {
                fprintf(stderr, "parley-media: bad --max-conns-per-ip '%s'\n", optarg);
                return 2;
            }
            break;
        case 'H':
            if (!http_parse_uint(optarg, 0, 3600, &header_timeout_s)) {
                fprintf(stderr, "parley-media: bad --header-timeout '%s'\n", optarg);
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        case 'v': printf("parley-media %s\n", PARLEY_PROJECT_VERSION); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!listen || !store_uri || !backend || optind != argc) {
        usage(stderr);
        return 2;
    }
    if (!tls_cert != !tls_key) {
        fprintf(stderr, "parley-media: --tls-cert and --tls-key go together\n");
        return 2;
    }
    struct sockaddr_storage ss;
    socklen_t sslen;
    char lerr[512];
    if (http_listen_parse(listen, &ss, &sslen, lerr, sizeof lerr) != 0) {
        fprintf(stderr, "parley-media: %s\n", lerr);
        return 2;
    }
    if (log_init_env(lerr, sizeof lerr) != 0) {
        fprintf(stderr, "parley-media: %s\n", lerr);
        return 2;
    }
    if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "parley-media: cannot initialise libsodium/libcurl\n");
        return 1;
    }

    int rc = 1;
    blob_backend *blob = NULL;
    server *srv = NULL;
    retention *ret = NULL;
    char err[BLOB_ERR_MAX];
    /* Block the stop signals in every thread; main waits for them below. */
    http_signals_block();

    if (blob_open(backend, &s3, &blob, err) != BLOB_OK) {
        log_msg(PARLEY_LOG_ERROR, "media", "%s", err);
        goto fail;
    }
    metrics_init(blob->name);
    if (retention_start(store_uri, blob, (int)interval_s, &ret) != 0)
        goto fail;
    server_config cfg = {
        .listen = listen,
        .store_uri = store_uri,
        .blob = blob,
        .max_size = max_size,
        .retention_s = (int64_t)retention_s,
        .conns_per_ip = (unsigned)conns_per_ip,
        .header_timeout_s = (unsigned)header_timeout_s,
        .tls_cert = tls_cert,
        .tls_key = tls_key,
    };
    if (server_start(&cfg, &srv) != 0)
        goto fail;
    log_msg(PARLEY_LOG_INFO, "media",
            "listening on %s (%s), backend %s, max size %llu, retention %llus, %llu connections "
            "per IP, header deadline %llus",
            listen, tls_cert ? "HTTPS" : "HTTP", blob->name, max_size, retention_s, conns_per_ip,
            header_timeout_s);
    int sig = http_signals_wait();
    log_msg(PARLEY_LOG_INFO, "media", "stopping (signal %d)", sig);
    rc = 0;
fail:
    server_stop(srv);
    retention_stop(ret);
    blob_close(blob);
    curl_global_cleanup();
    return rc;
}
