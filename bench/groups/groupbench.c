/*
 * groupbench.c - group fan-out benchmark (bench/groups.sh): N members all
 * online, one sender; for each message, the time from the publish until
 * every member's connection has received it.
 *
 *   groupbench setup STORE_URI N
 *       register users bench-0 .. bench-(N-1) in the store (identity keys
 *       derived from their index, so `run` can mint their tokens)
 *   groupbench run --port P --members N [--messages M] [--payload BYTES] [--bare]
 *       parley mode: bench-0 creates a group with all others through a
 *       control request; every member subscribes to parley/g/{id}/inbox with
 *       its own authenticated connection; a separate connection of bench-0
 *       publishes M Envelopes, one at a time (the next once the previous
 *       reached everybody).
 *       --bare: the same N subscriptions and payload size on a plain topic
 *       of a broker without the plugin (anonymous).
 *       Prints one JSON line: per-message "all members have it" latency
 *       (p50, p99, max) and per-delivery latency (p50, p99), microseconds.
 *
 * One thread drives every connection with poll() over libmosquitto's
 * sockets (mosquitto_loop_read/write/misc). Exit status 0, 1 on failure.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mosquitto.h>
#include <sodium.h>

#include "parley.pb-c.h"
#include "store.h"
#include "token.h"

#define BATCH 64
#define ROUND_TIMEOUT_US (30 * 1000000LL)

typedef struct bench bench;

typedef struct {
    struct mosquitto *m;
    bench *b;
    int connected;
    int subscribed;
    int failed;
} conn;

struct bench {
    conn *subs;
    int n;
    conn pub;
    int bare;
    /* current round */
    int64_t t0_us;
    int received;
    int64_t *deliveries; /* all delivery latencies */
    size_t ndeliveries;
    int64_t last_us;
    /* group creation */
    char chat_id[160];
    int rsp_done;
    int rsp_status;
    char rsp_error[128];
};

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void user_name(char *out, size_t len, int i)
{
    snprintf(out, len, "bench-%d", i);
}

/* Deterministic bench identity: seed = SHA-256("parley-groupbench" || i). */
static void user_keys(int i, uint8_t pk[32], uint8_t sk[64])
{
    uint8_t seed[32];
    char in[64];
    int n = snprintf(in, sizeof in, "parley-groupbench%d", i);
    crypto_hash_sha256(seed, (const uint8_t *)in, (unsigned long long)n);
    crypto_sign_seed_keypair(pk, sk, seed);
    sodium_memzero(seed, sizeof seed);
}

static int cmd_setup(const char *uri, int n)
{
    store_t *s = NULL;
    int rc = store_open(uri, NULL, &s);
    if (rc != STORE_OK) {
        fprintf(stderr, "groupbench: store_open %s: %s\n", uri, store_strerror(rc));
        return 1;
    }
    store_begin(s);
    for (int i = 0; i < n; i++) {
        uint8_t pk[32], sk[64];
        char name[32];
        user_keys(i, pk, sk);
        sodium_memzero(sk, sizeof sk);
        user_name(name, sizeof name, i);
        store_user u = {.user_id = name, .created_at = 1, .updated_at = 1};
        memcpy(u.identity_key, pk, sizeof pk);
        rc = store_user_put(s, &u);
        if (rc != STORE_OK && rc != STORE_EEXIST) {
            fprintf(stderr, "groupbench: user %s: %s\n", name, store_last_error(s));
            store_rollback(s);
            store_close(s);
            return 1;
        }
    }
    rc = store_commit(s);
    store_close(s);
    return rc == STORE_OK ? 0 : 1;
}

/* ------------------------------------------------------------------ callbacks */

static void on_connect(struct mosquitto *m, void *ud, int rc)
{
    conn *c = ud;
    if (rc)
        c->failed = 1;
    else
        c->connected = 1;
}

static void on_subscribe(struct mosquitto *m, void *ud, int mid, int n, const int *granted)
{
    conn *c = ud;
    if (n < 1 || granted[0] > 2)
        c->failed = 1;
    else
        c->subscribed = 1;
}

static void on_sub_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg)
{
    conn *c = ud;
    bench *b = c->b;
    int64_t t = now_us();
    if (b->t0_us == 0)
        return;
    b->received++;
    b->deliveries[b->ndeliveries++] = t - b->t0_us;
    b->last_us = t;
}

static void on_pub_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg)
{
    conn *c = ud;
    bench *b = c->b;
    Parley__V1__Response *r = parley__v1__response__unpack(NULL, (size_t)msg->payloadlen,
                                                           msg->payload);
    if (!r)
        return;
    b->rsp_done = 1;
    b->rsp_status = (int)r->status;
    snprintf(b->rsp_error, sizeof b->rsp_error, "%s: %s", r->error, r->error_message);
    if (r->result_case == PARLEY__V1__RESPONSE__RESULT_GROUP)
        snprintf(b->chat_id, sizeof b->chat_id, "%s", r->group->chat_id);
    parley__v1__response__free_unpacked(r, NULL);
}

/* ------------------------------------------------------------------ the loop */

/* Service every connection for at most timeout_ms. */
static int pump(bench *b, int timeout_ms)
{
    static struct pollfd *fds;
    static conn **owners;
    static int cap;
    int total = b->n + 1;
    if (cap < total) {
        free(fds);
        free(owners);
        fds = calloc((size_t)total, sizeof *fds);
        owners = calloc((size_t)total, sizeof *owners);
        if (!fds || !owners)
            return -1;
        cap = total;
    }
    int k = 0;
    for (int i = 0; i < total; i++) {
        conn *c = i < b->n ? &b->subs[i] : &b->pub;
        if (!c->m)
            continue;
        int fd = mosquitto_socket(c->m);
        if (fd < 0)
            continue;
        fds[k].fd = fd;
        fds[k].events = POLLIN | (mosquitto_want_write(c->m) ? POLLOUT : 0);
        fds[k].revents = 0;
        owners[k++] = c;
    }
    int n = poll(fds, (nfds_t)k, timeout_ms);
    if (n < 0)
        return errno == EINTR ? 0 : -1;
    for (int i = 0; i < k; i++) {
        conn *c = owners[i];
        if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
            int rc = mosquitto_loop_read(c->m, 1);
            if (rc != MOSQ_ERR_SUCCESS)
                c->failed = 1;
        }
        if ((fds[i].revents & POLLOUT) || mosquitto_want_write(c->m))
            mosquitto_loop_write(c->m, 1);
    }
    static int64_t last_misc;
    int64_t t = now_us();
    if (t - last_misc > 1000000) {
        for (int i = 0; i < total; i++) {
            conn *c = i < b->n ? &b->subs[i] : &b->pub;
            if (c->m)
                mosquitto_loop_misc(c->m);
        }
        last_misc = t;
    }
    return 0;
}

/* Connect as user with client id "{user name}.{tag}" (the form the plugin
 * requires). */
static int open_conn(bench *b, conn *c, int user, const char *tag, int port)
{
    char name[32], client_id[80];
    user_name(name, sizeof name, user);
    snprintf(client_id, sizeof client_id, "%s.%s", name, tag);
    c->b = b;
    c->m = mosquitto_new(client_id, true, c);
    if (!c->m)
        return -1;
    mosquitto_connect_callback_set(c->m, on_connect);
    mosquitto_subscribe_callback_set(c->m, on_subscribe);
    mosquitto_message_callback_set(c->m, c == &b->pub ? on_pub_message : on_sub_message);
    if (!b->bare) {
        uint8_t pk[32], sk[64];
        char tok[TOKEN_MAX_LEN];
        user_keys(user, pk, sk);
        int rc = token_mint(TOKEN_AUD_MQTT, name, client_id, (int64_t)time(NULL) + 3600, sk, tok,
                            sizeof tok);
        sodium_memzero(sk, sizeof sk);
        if (rc != TOKEN_OK || mosquitto_username_pw_set(c->m, name, tok) != MOSQ_ERR_SUCCESS)
            return -1;
    }
    return mosquitto_connect(c->m, "127.0.0.1", port, 60) == MOSQ_ERR_SUCCESS ? 0 : -1;
}

/* Pump until pred(c) holds for every connection in [from, to), or fail. */
static int wait_all(bench *b, int from, int to, int (*pred)(const conn *), const char *what)
{
    int64_t deadline = now_us() + 60 * 1000000LL;
    for (;;) {
        int done = 0;
        for (int i = from; i < to; i++) {
            if (b->subs[i].failed) {
                fprintf(stderr, "groupbench: member %d failed while waiting for %s\n", i, what);
                return -1;
            }
            done += pred(&b->subs[i]);
        }
        if (done == to - from)
            return 0;
        if (now_us() > deadline) {
            fprintf(stderr, "groupbench: timeout waiting for %s (%d of %d)\n", what, done,
                    to - from);
            return -1;
        }
        if (pump(b, 50) != 0)
            return -1;
    }
}

static int is_connected(const conn *c)
{
    return c->connected;
}
static int is_subscribed(const conn *c)
{
    return c->subscribed;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int64_t pct(int64_t *v, size_t n, double p)
{
    if (!n)
        return 0;
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i];
}

static int create_group(bench *b, int port)
{
    char topic[128];
    char **members = calloc((size_t)b->n, sizeof *members);
    int ret = -1;
    if (!members)
        return -1;
    snprintf(topic, sizeof topic, "parley/u/bench-0/rsp");
    mosquitto_subscribe(b->pub.m, NULL, topic, 1);
    int64_t deadline = now_us() + 30 * 1000000LL;
    while (!b->pub.subscribed && !b->pub.failed && now_us() < deadline)
        pump(b, 50);
    if (!b->pub.subscribed)
        goto out;
    for (int i = 1; i < b->n; i++) {
        members[i - 1] = malloc(32);
        if (!members[i - 1])
            goto out;
        user_name(members[i - 1], 32, i);
    }
    Parley__V1__GroupCreate gc = PARLEY__V1__GROUP_CREATE__INIT;
    gc.name = "bench";
    gc.members = members;
    gc.n_members = (size_t)b->n - 1;
    Parley__V1__Request rq = PARLEY__V1__REQUEST__INIT;
    rq.req_id = "create";
    rq.op_case = PARLEY__V1__REQUEST__OP_GROUP_CREATE;
    rq.group_create = &gc;
    size_t len = parley__v1__request__get_packed_size(&rq);
    uint8_t *buf = malloc(len);
    if (!buf)
        goto out;
    parley__v1__request__pack(&rq, buf);
    mosquitto_publish(b->pub.m, NULL, "parley/u/bench-0/ctl", (int)len, buf, 1, false);
    free(buf);
    while (!b->rsp_done && !b->pub.failed && now_us() < deadline)
        pump(b, 50);
    if (!b->rsp_done || b->rsp_status != 0 || !b->chat_id[0]) {
        fprintf(stderr, "groupbench: group create failed: %d %s\n", b->rsp_status, b->rsp_error);
        goto out;
    }
    ret = 0;
out:
    for (int i = 0; i < b->n; i++)
        free(members[i]);
    free(members);
    return ret;
}

static int cmd_run(int argc, char **argv)
{
    bench b = {0};
    int port = 0, messages = 50, payload = 100;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--port") && i + 1 < argc)
            port = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--members") && i + 1 < argc)
            b.n = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--messages") && i + 1 < argc)
            messages = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--payload") && i + 1 < argc)
            payload = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--bare"))
            b.bare = 1;
        else {
            fprintf(stderr, "groupbench: unknown option %s\n", argv[i]);
            return 1;
        }
    }
    if (port <= 0 || b.n < 2 || messages < 1 || payload < 1) {
        fprintf(stderr, "groupbench: run needs --port and --members >= 2\n");
        return 1;
    }
    b.subs = calloc((size_t)b.n, sizeof *b.subs);
    b.deliveries = calloc((size_t)b.n * (size_t)messages + 1, sizeof *b.deliveries);
    int64_t *alls = calloc((size_t)messages, sizeof *alls);
    uint8_t *body = malloc((size_t)payload);
    if (!b.subs || !b.deliveries || !alls || !body)
        return 1;
    memset(body, 'x', (size_t)payload);

    /* Subscribers connect in batches (the listen backlog is finite). */
    int64_t t_conn = now_us();
    for (int i = 0; i < b.n; i += BATCH) {
        int end = i + BATCH < b.n ? i + BATCH : b.n;
        for (int j = i; j < end; j++) {
            char tag[32];
            snprintf(tag, sizeof tag, "sub%d", j);
            if (open_conn(&b, &b.subs[j], j, tag, port) != 0) {
                fprintf(stderr, "groupbench: connect %d failed\n", j);
                return 1;
            }
        }
        if (wait_all(&b, i, end, is_connected, "CONNACK") != 0)
            return 1;
    }
    if (open_conn(&b, &b.pub, 0, "pub", port) != 0)
        return 1;
    while (!b.pub.connected && !b.pub.failed)
        pump(&b, 50);
    int64_t connect_ms = (now_us() - t_conn) / 1000;

    char topic[400];
    if (b.bare) {
        snprintf(topic, sizeof topic, "bench/g/inbox");
    } else {
        if (create_group(&b, port) != 0)
            return 1;
        snprintf(topic, sizeof topic, "parley/g/%s/inbox", b.chat_id + 2);
    }
    for (int i = 0; i < b.n; i++)
        mosquitto_subscribe(b.subs[i].m, NULL, topic, 1);
    if (wait_all(&b, 0, b.n, is_subscribed, "SUBACK") != 0)
        return 1;

    for (int k = 0; k < messages; k++) {
        char cmid[32];
        snprintf(cmid, sizeof cmid, "bench-%d", k);
        Parley__V1__Envelope e = PARLEY__V1__ENVELOPE__INIT;
        e.client_msg_id = cmid;
        e.body.data = body;
        e.body.len = (size_t)payload;
        size_t len = parley__v1__envelope__get_packed_size(&e);
        uint8_t *buf = malloc(len);
        if (!buf)
            return 1;
        parley__v1__envelope__pack(&e, buf);
        b.received = 0;
        b.t0_us = now_us();
        int rc = mosquitto_publish(b.pub.m, NULL, topic, (int)len, buf, 1, false);
        free(buf);
        if (rc != MOSQ_ERR_SUCCESS) {
            fprintf(stderr, "groupbench: publish: %s\n", mosquitto_strerror(rc));
            return 1;
        }
        while (b.received < b.n) {
            if (now_us() - b.t0_us > ROUND_TIMEOUT_US) {
                fprintf(stderr, "groupbench: message %d reached %d of %d members\n", k, b.received,
                        b.n);
                return 1;
            }
            if (pump(&b, 20) != 0)
                return 1;
        }
        alls[k] = b.last_us - b.t0_us;
        b.t0_us = 0;
        /* Let PUBACKs and stragglers settle so rounds do not overlap. */
        pump(&b, 5);
    }
    qsort(alls, (size_t)messages, sizeof *alls, cmp_i64);
    qsort(b.deliveries, b.ndeliveries, sizeof *b.deliveries, cmp_i64);
    printf("{\"mode\":\"%s\",\"members\":%d,\"messages\":%d,\"payload\":%d,\"connect_ms\":%" PRId64
           ",\"all_p50_us\":%" PRId64 ",\"all_p99_us\":%" PRId64 ",\"all_max_us\":%" PRId64
           ",\"delivery_p50_us\":%" PRId64 ",\"delivery_p99_us\":%" PRId64 "}\n",
           b.bare ? "bare" : "parley", b.n, messages, payload, connect_ms,
           pct(alls, (size_t)messages, 0.50), pct(alls, (size_t)messages, 0.99), alls[messages - 1],
           pct(b.deliveries, b.ndeliveries, 0.50), pct(b.deliveries, b.ndeliveries, 0.99));
    for (int i = 0; i < b.n; i++) {
        mosquitto_disconnect(b.subs[i].m);
        mosquitto_destroy(b.subs[i].m);
    }
    mosquitto_disconnect(b.pub.m);
    mosquitto_destroy(b.pub.m);
    free(b.subs);
    free(b.deliveries);
    free(alls);
    free(body);
    return 0;
}

int main(int argc, char **argv)
{
    if (sodium_init() < 0)
        return 1;
    mosquitto_lib_init();
    int rc = 1;
    if (argc == 4 && !strcmp(argv[1], "setup"))
        rc = cmd_setup(argv[2], atoi(argv[3]));
    else if (argc >= 2 && !strcmp(argv[1], "run"))
        rc = cmd_run(argc - 2, argv + 2);
    else
        fprintf(stderr, "usage: groupbench setup STORE_URI N | run --port P --members N "
                        "[--messages M] [--payload BYTES] [--bare]\n");
    mosquitto_lib_cleanup();
    return rc;
}
