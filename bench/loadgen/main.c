/*
 * parley-loadgen - load generator for the Parley broker benchmarks
 * (bench/broker.sh; results in docs/benchmarks.md).
 *
 *   parley-loadgen register --store URI --users N [--prefix P] [--base B]
 *   parley-loadgen flow [--broker bare|parley] [--pairs N] [--qos 0|1] [--payload BYTES]
 *                       [--rate MSGS_PER_S | --window N] [--warmup S] [--duration S] ...
 *   parley-loadgen idle [--broker bare|parley] [--clients N] [--threads N]
 *                       [--hold S] [--broker-pid PID] [--source-addrs N]
 *                       [--credentials] [--reconnect] ...
 *
 * Every run prints one JSON object on stdout (and diagnostics on stderr).
 * Exit status: 0 when the run completed, 1 when it could not (connection
 * refused, clients missing), 2 for bad usage.
 */
#include "lg_flow.h"
#include "lg_idle.h"
#include "lg_ident.h"
#include "lg_payload.h"

#include <getopt.h>
#include <mosquitto.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fputs("usage: parley-loadgen register --store URI --users N [--prefix P] [--base B]\n"
          "       parley-loadgen flow [options]\n"
          "       parley-loadgen idle [options]\n"
          "common:   --host H (127.0.0.1) --port P (1883) --broker bare|parley (bare)\n"
          "          --prefix P (lg) --base B (0): users are {P}{B}, {P}{B+1}, ...\n"
          "flow:     --pairs N (8) --qos 0|1 (1) --payload BYTES (100)\n"
          "          --sub-port P: recipients connect to P (another cluster node)\n"
          "          --rate MSGS_PER_S (0 = as fast as the window allows) --window N (64)\n"
          "          --warmup S (2) --duration S (10) --drain S (5)\n"
          "          --receipts / --no-receipts (default: on with --broker parley)\n"
          "          --per-message-receipts: envelopes without coalesce_receipts (one\n"
          "            STORED receipt per message, as clients before it did)\n"
          "          --threads N (1) network threads; --client raw|libmosquitto (raw)\n"
          "idle:     --clients N (10000) --threads N (4) --connect-window N (8)\n"
          "          --hold S (3) --broker-pid PID (memory reading)\n"
          "          --source-addrs N (0): bind client k to 127.0.0.{2 + k % N}\n"
          "          --credentials: bare clients send a user id and a token too\n"
          "          --reconnect: then all disconnect and connect again (same tokens)\n",
          f);
}

enum {
    O_HOST = 256,
    O_PORT,
    O_SUB_PORT,
    O_BROKER,
    O_PREFIX,
    O_BASE,
    O_PAIRS,
    O_QOS,
    O_PAYLOAD,
    O_RATE,
    O_WINDOW,
    O_WARMUP,
    O_DURATION,
    O_DRAIN,
    O_RECEIPTS,
    O_NO_RECEIPTS,
    O_CLIENTS,
    O_THREADS,
    O_CWINDOW,
    O_HOLD,
    O_PID,
    O_STORE,
    O_USERS,
    O_CLIENT,
    O_SRC,
    O_CREDS,
    O_RECONNECT,
    O_PER_MSG,
    O_HELP
};

static const struct option OPTS[] = {
    {"host", required_argument, 0, O_HOST},
    {"port", required_argument, 0, O_PORT},
    {"sub-port", required_argument, 0, O_SUB_PORT},
    {"broker", required_argument, 0, O_BROKER},
    {"prefix", required_argument, 0, O_PREFIX},
    {"base", required_argument, 0, O_BASE},
    {"pairs", required_argument, 0, O_PAIRS},
    {"qos", required_argument, 0, O_QOS},
    {"payload", required_argument, 0, O_PAYLOAD},
    {"rate", required_argument, 0, O_RATE},
    {"window", required_argument, 0, O_WINDOW},
    {"warmup", required_argument, 0, O_WARMUP},
    {"duration", required_argument, 0, O_DURATION},
    {"drain", required_argument, 0, O_DRAIN},
    {"receipts", no_argument, 0, O_RECEIPTS},
    {"no-receipts", no_argument, 0, O_NO_RECEIPTS},
    {"clients", required_argument, 0, O_CLIENTS},
    {"threads", required_argument, 0, O_THREADS},
    {"connect-window", required_argument, 0, O_CWINDOW},
    {"hold", required_argument, 0, O_HOLD},
    {"broker-pid", required_argument, 0, O_PID},
    {"store", required_argument, 0, O_STORE},
    {"users", required_argument, 0, O_USERS},
    {"client", required_argument, 0, O_CLIENT},
    {"source-addrs", required_argument, 0, O_SRC},
    {"credentials", no_argument, 0, O_CREDS},
    {"reconnect", no_argument, 0, O_RECONNECT},
    {"per-message-receipts", no_argument, 0, O_PER_MSG},
    {"help", no_argument, 0, O_HELP},
    {0, 0, 0, 0},
};

/* Parse a number in [lo, hi] or exit with usage. */
static double num(const char *name, const char *v, double lo, double hi)
{
    char *end;
    double d = strtod(v, &end);
    if (end == v || *end || d < lo || d > hi) {
        fprintf(stderr, "parley-loadgen: --%s %s: expected a number in [%g, %g]\n", name, v, lo,
                hi);
        exit(2);
    }
    return d;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "register") && strcmp(cmd, "flow") && strcmp(cmd, "idle")) {
        fprintf(stderr, "parley-loadgen: unknown command '%s'\n", cmd);
        usage(stderr);
        return 2;
    }
    lg_flow_opts f = {.host = "127.0.0.1",
                      .port = 1883,
                      .prefix = "lg",
                      .pairs = 8,
                      .qos = 1,
                      .payload = 100,
                      .window = 64,
                      .warmup_s = 2,
                      .duration_s = 10,
                      .drain_s = 5,
                      .threads = 1,
                      .label = "bare"};
    lg_idle_opts i = {.clients = 10000, .threads = 4, .window = 8, .hold_s = 3};
    const char *store = NULL;
    unsigned users = 0;
    int receipts = -1;

    optind = 2;
    int c;
    while ((c = getopt_long(argc, argv, "", OPTS, NULL)) != -1) {
        switch (c) {
        case O_HOST: f.host = optarg; break;
        case O_PORT: f.port = (int)num("port", optarg, 1, 65535); break;
        case O_SUB_PORT: f.sub_port = (int)num("sub-port", optarg, 1, 65535); break;
        case O_BROKER:
            if (strcmp(optarg, "bare") && strcmp(optarg, "parley")) {
                fprintf(stderr, "parley-loadgen: --broker must be bare or parley\n");
                return 2;
            }
            f.parley = strcmp(optarg, "parley") == 0;
            f.label = f.parley ? "parley" : "bare";
            break;
        case O_PREFIX: f.prefix = optarg; break;
        case O_BASE: f.user_base = (unsigned)num("base", optarg, 0, 1e9); break;
        case O_PAIRS: f.pairs = (int)num("pairs", optarg, 1, 1000); break;
        case O_QOS: f.qos = (int)num("qos", optarg, 0, 1); break;
        case O_PAYLOAD:
            f.payload = (size_t)num("payload", optarg, LG_PAYLOAD_MIN, LG_PAYLOAD_MAX);
            break;
        case O_RATE: f.rate = num("rate", optarg, 0, 1e7); break;
        case O_WINDOW: f.window = (int)num("window", optarg, 1, 100000); break;
        case O_WARMUP: f.warmup_s = num("warmup", optarg, 0, 3600); break;
        case O_DURATION: f.duration_s = num("duration", optarg, 0.1, 3600); break;
        case O_DRAIN: f.drain_s = num("drain", optarg, 0, 600); break;
        case O_RECEIPTS: receipts = 1; break;
        case O_NO_RECEIPTS: receipts = 0; break;
        case O_PER_MSG: lg_payload_coalesce = false; break;
        case O_CLIENTS: i.clients = (int)num("clients", optarg, 1, 1000000); break;
        case O_THREADS: i.threads = f.threads = (int)num("threads", optarg, 1, 256); break;
        case O_CLIENT:
            if (strcmp(optarg, "raw") && strcmp(optarg, "libmosquitto")) {
                fprintf(stderr, "parley-loadgen: --client must be raw or libmosquitto\n");
                return 2;
            }
            f.libmosquitto = strcmp(optarg, "libmosquitto") == 0;
            break;
        case O_CWINDOW: i.window = (int)num("connect-window", optarg, 1, 100000); break;
        case O_HOLD: i.hold_s = num("hold", optarg, 0, 3600); break;
        case O_PID: i.broker_pid = (int)num("broker-pid", optarg, 1, 1e9); break;
        case O_SRC: i.source_addrs = (int)num("source-addrs", optarg, 0, 250); break;
        case O_CREDS: i.credentials = true; break;
        case O_RECONNECT: i.reconnect = true; break;
        case O_STORE: store = optarg; break;
        case O_USERS: users = (unsigned)num("users", optarg, 1, 1e7); break;
        case O_HELP: usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (f.libmosquitto && f.sub_port) {
        fprintf(stderr, "parley-loadgen: --sub-port needs --client raw\n");
        return 2;
    }
    if (optind != argc) {
        fprintf(stderr, "parley-loadgen: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "parley-loadgen: sodium_init failed\n");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);

    if (strcmp(cmd, "register") == 0) {
        if (!store || !users) {
            fprintf(stderr, "parley-loadgen: register needs --store and --users\n");
            return 2;
        }
        return lg_ident_register(store, f.prefix, f.user_base, users) == 0 ? 0 : 1;
    }
    mosquitto_lib_init();
    int rc;
    if (strcmp(cmd, "flow") == 0) {
        f.receipts = receipts < 0 ? f.parley : receipts == 1;
        rc = lg_flow_run(&f, stdout);
    } else {
        i.host = f.host;
        i.port = f.port;
        i.parley = f.parley;
        i.prefix = f.prefix;
        i.user_base = f.user_base;
        i.label = f.label;
        rc = lg_idle_run(&i, stdout);
    }
    mosquitto_lib_cleanup();
    return rc == 0 ? 0 : 1;
}
