/*
 * parley-keyserver - identity registration and prekey bundles over HTTP.
 *
 *   parley-keyserver --listen HOST:PORT --store URI [--max-body BYTES]
 *                    [--rate-limit N] [--threads N] [--max-conns-per-ip N]
 *                    [--header-timeout S] [--otpk-pair-limit N] [--otpk-target-limit N]
 *                    [--max-devices N]
 *                    [--registration open|invite|closed] [--tls-cert PEM --tls-key PEM]
 *
 * Runs until SIGINT or SIGTERM, then stops cleanly (docs/keyserver.md).
 */
#include "listen.h"
#include "log.h"
#include "options.h"
#include "server.h"
#include "service.h"

#include <getopt.h>
#include <sodium.h>
#include <stdbool.h>
#include "devices.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: parley-keyserver --listen HOST:PORT --store URI [--max-body BYTES]\n"
               "                        [--rate-limit N] [--threads N] [--max-conns-per-ip N]\n"
               "                        [--header-timeout S] [--otpk-pair-limit N]\n"
               "                        [--otpk-target-limit N] "
               "[--registration open|invite|closed]\n"
               "                        [--max-devices N]\n"
               "                        [--tls-cert PEM --tls-key PEM]\n"
               "       parley-keyserver --help | --version\n"
               "  --listen HOST:PORT  address to serve HTTP on ([V6ADDR]:PORT for IPv6)\n"
               "  --store URI         sqlite:PATH or mongodb://...\n"
               "  --max-body BYTES    largest request body accepted (default 65536)\n"
               "  --rate-limit N      requests per minute per user and per IP, 0 = off "
               "(default 120)\n"
               "  --threads N         worker threads (default 4)\n"
               "  --max-conns-per-ip N  concurrent connections per IPv4 address or IPv6 /64,\n"
               "                      0 = no limit (default 32)\n"
               "  --header-timeout S  seconds a client has to send a request's line and\n"
               "                      headers, 0 = no deadline (default 10)\n"
               "  --otpk-pair-limit N one-time prekeys one user may take of another per hour;\n"
               "                      beyond it bundles come without one, 0 = off (default 5)\n"
               "  --otpk-target-limit N  one-time prekeys handed out per user per hour;\n"
               "                      beyond it bundles come without one, 0 = off (default 100)\n"
               "  --registration P    who may register a new user id: open (anyone), invite\n"
               "                      (with a token from parley-admin invite) or closed\n"
               "                      (default: $PARLEY_REGISTRATION, else open)\n"
               "  --max-devices N     devices in a user's list, the primary included,\n"
               "                      1..32 (default 5)\n"
               "  --tls-cert PEM      serve HTTPS with this certificate chain (server's first)\n"
               "  --tls-key PEM       and its private key; both or neither\n");
}

int main(int argc, char **argv)
{
    server_config cfg = {.max_body = 65536,
                         .rate_limit = 120,
                         .threads = 4,
                         .conns_per_ip = 32,
                         .header_timeout_s = 10,
                         .otpk_pair_limit = 5,
                         .otpk_target_limit = 100,
                         .max_devices = DEVICES_MAX_DEFAULT};
    static const struct option opts[] = {{"listen", required_argument, NULL, 'l'},
                                         {"store", required_argument, NULL, 's'},
                                         {"max-body", required_argument, NULL, 'b'},
                                         {"rate-limit", required_argument, NULL, 'r'},
                                         {"threads", required_argument, NULL, 't'},
                                         {"help", no_argument, NULL, 'h'},
                                         {"version", no_argument, NULL, 'V'},
                                         {"max-conns-per-ip", required_argument, NULL, 'c'},
                                         {"header-timeout", required_argument, NULL, 'H'},
                                         {"otpk-pair-limit", required_argument, NULL, 'p'},
                                         {"otpk-target-limit", required_argument, NULL, 'T'},
                                         {"registration", required_argument, NULL, 'R'},
                                         {"tls-cert", required_argument, NULL, 'C'},
                                         {"tls-key", required_argument, NULL, 'K'},
                                         {"max-devices", required_argument, NULL, 'D'},
                                         {NULL, 0, NULL, 0}};
    int c;
    unsigned long long v;
    const char *bad = NULL, *reg = NULL, *reg_from = "--registration";
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'l': cfg.listen = optarg; break;
        case 's': cfg.store_uri = optarg; break;
        case 'C': cfg.tls_cert = optarg; break;
        case 'K': cfg.tls_key = optarg; break;
        case 'b':
            if (!http_parse_uint(optarg, 1, 64ull << 20, &v) && (bad = "max-body"))
                goto bad_arg;
            cfg.max_body = (size_t)v;
            break;
        case 'r':
            if (!http_parse_uint(optarg, 0, 1000000000ull, &v) && (bad = "rate-limit"))
                goto bad_arg;
            cfg.rate_limit = (unsigned)v;
            break;
        case 't':
            if (!http_parse_uint(optarg, 1, 256, &v) && (bad = "threads"))
                goto bad_arg;
            cfg.threads = (unsigned)v;
            break;
        case 'c':
            if (!http_parse_uint(optarg, 0, 100000, &v) && (bad = "max-conns-per-ip"))
                goto bad_arg;
            cfg.conns_per_ip = (unsigned)v;
            break;
        case 'H':
            if (!http_parse_uint(optarg, 0, 3600, &v) && (bad = "header-timeout"))
                goto bad_arg;
            cfg.header_timeout_s = (unsigned)v;
            break;
        case 'p':
            if (!http_parse_uint(optarg, 0, 1000000, &v) && (bad = "otpk-pair-limit"))
                goto bad_arg;
            cfg.otpk_pair_limit = (unsigned)v;
            break;
        case 'T':
            if (!http_parse_uint(optarg, 0, 1000000, &v) && (bad = "otpk-target-limit"))
                goto bad_arg;
            cfg.otpk_target_limit = (unsigned)v;
            break;
        case 'D':
            if (!http_parse_uint(optarg, 1, DEVICES_MAX_LIMIT, &v) && (bad = "max-devices"))
                goto bad_arg;
            cfg.max_devices = (size_t)v;
            break;
        case 'R': reg = optarg; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("parley-keyserver %s\n", PARLEY_PROJECT_VERSION); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!reg) {
        reg = getenv("PARLEY_REGISTRATION");
        reg_from = "PARLEY_REGISTRATION";
    }
    if (reg && !identity_registration_parse(reg, &cfg.registration)) {
        fprintf(stderr,
                "parley-keyserver: bad registration policy \"%s\" from %s (want "
                "open, invite or closed)\n",
                reg, reg_from);
        return 2;
    }
    if (optind != argc || !cfg.listen || !cfg.store_uri) {
        usage(stderr);
        return 2;
    }
    if (!cfg.tls_cert != !cfg.tls_key) {
        fprintf(stderr, "parley-keyserver: --tls-cert and --tls-key go together\n");
        return 2;
    }
    struct sockaddr_storage ss;
    socklen_t sslen;
    char err[512];
    if (http_listen_parse(cfg.listen, &ss, &sslen, err, sizeof err) != 0) {
        fprintf(stderr, "parley-keyserver: %s\n", err);
        return 2;
    }
    if (log_init_env(err, sizeof err) != 0) {
        fprintf(stderr, "parley-keyserver: %s\n", err);
        return 2;
    }
    if (sodium_init() < 0) {
        log_msg(PARLEY_LOG_ERROR, "keyserver", "libsodium failed to initialise");
        return 1;
    }

    /* The stop signals are blocked in every thread (workers inherit the
     * mask) and waited for here. */
    http_signals_block();

    server *s = NULL;
    if (server_start(&cfg, &s) != 0)
        return 1;
    int sig = http_signals_wait();
    log_msg(PARLEY_LOG_INFO, "keyserver", "signal %d: stopping", sig);
    server_stop(s);
    log_msg(PARLEY_LOG_INFO, "keyserver", "stopped");
    return 0;

bad_arg:
    fprintf(stderr, "parley-keyserver: bad value for --%s: %s\n", bad, optarg);
    usage(stderr);
    return 2;
}
