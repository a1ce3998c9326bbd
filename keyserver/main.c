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
#include <stddef.h>
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

/* The numeric options: getopt letter, name, range and the field of
 * server_config they set (an unsigned or a size_t). */
typedef struct {
    int opt;
    const char *name;
    unsigned long long min, max;
    enum { NUM_UNSIGNED, NUM_SIZE } type;
    size_t off;
} num_opt;

#define NUM_OPT(opt, name, min, max, type, member) \
    {opt, name, min, max, type, offsetof(server_config, member)}
static const num_opt NUM_OPTS[] = {
    NUM_OPT('b', "max-body", 1, 64ull << 20, NUM_SIZE, max_body),
    NUM_OPT('r', "rate-limit", 0, 1000000000ull, NUM_UNSIGNED, rate_limit),
    NUM_OPT('t', "threads", 1, 256, NUM_UNSIGNED, threads),
    NUM_OPT('c', "max-conns-per-ip", 0, 100000, NUM_UNSIGNED, conns_per_ip),
    NUM_OPT('H', "header-timeout", 0, 3600, NUM_UNSIGNED, header_timeout_s),
    NUM_OPT('p', "otpk-pair-limit", 0, 1000000, NUM_UNSIGNED, otpk_pair_limit),
    NUM_OPT('T', "otpk-target-limit", 0, 1000000, NUM_UNSIGNED, otpk_target_limit),
    NUM_OPT('D', "max-devices", 1, DEVICES_MAX_LIMIT, NUM_SIZE, max_devices),
};

static const num_opt *num_opt_of(int opt)
{
    for (size_t i = 0; i < sizeof NUM_OPTS / sizeof NUM_OPTS[0]; i++)
        if (NUM_OPTS[i].opt == opt)
            return &NUM_OPTS[i];
    return NULL;
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
    const num_opt *n;
    const char *bad = NULL, *reg = NULL, *reg_from = "--registration";
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'l': cfg.listen = optarg; break;
        case 's': cfg.store_uri = optarg; break;
        case 'C': cfg.tls_cert = optarg; break;
        case 'K': cfg.tls_key = optarg; break;
        case 'R': reg = optarg; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("parley-keyserver %s\n", PARLEY_PROJECT_VERSION); return 0;
        default:
            if (!(n = num_opt_of(c))) {
                usage(stderr);
                return 2;
            }
            if (!http_parse_uint(optarg, n->min, n->max, &v) && (bad = n->name))
                goto bad_arg;
            if (n->type == NUM_SIZE)
                *(size_t *)((char *)&cfg + n->off) = (size_t)v;
            else
                *(unsigned *)((char *)&cfg + n->off) = (unsigned)v;
            break;
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
