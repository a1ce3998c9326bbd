/*
 * store_bench.c - message inserts per second into a store:
 *
 *   group:  through the async writer (store_writer.h), group commit
 *   single: one transaction (one durable commit) per message, store_message_put
 *
 * Seqs: by default every message is an append (seq 0): the store takes the
 * chat's next seq and de-duplicates by (sender, client_msg_id) inside the
 * writer's transaction (store_message_append). -E puts explicit seqs
 * instead (seq > 0, counted per chat by the benchmark, as a broker that
 * sequences in memory would), so both can be compared in one run.
 *
 * Usage: store_bench [-u URI_PREFIX] [-g N] [-s N] [-b BYTES] [-c CHATS] [-B BATCH]
 *   -u  store URI prefix; a fresh file per mode is made under it
 *       (default "sqlite:/tmp/parley-bench"; "-group.db" / "-single.db" appended)
 *   -g  messages through the writer (default 200000)
 *   -s  messages with one transaction each (default 2000)
 *   -b  body bytes (default 100)
 *   -c  chats the messages are spread over, round-robin (default 100)
 *   -B  writer batch_max (default 256)
 *   -S  SQLite synchronous mode for both runs: full (default) or normal
 *   -E  explicit seqs (seq > 0) instead of appends (seq 0)
 * Prints one line per mode:  mode=... seq=append|explicit msgs=N secs=S rate=R/s ...
 * cpu_us_per_msg=C
 * (C: CPU time of the whole process, every thread, per message: what the
 * store costs independent of how busy the machine is).
 * Exits non-zero on any failed write.
 */
#include "store.h"
#include "store_writer.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct cfg {
    const char *prefix;
    long group_n, single_n;
    size_t body;
    int chats;
    size_t batch;
    const char *sync;   /* "full" or "normal" */
    int explicit_seq;   /* -E */
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU seconds (user + system, every thread) used by this process so far. */
static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* The size of the store's WAL file now (0 if none, or not SQLite). */
static long long wal_bytes(const char *uri)
{
    char f[1200], path[1100];
    struct stat sb;
    if (strncmp(uri, "sqlite:", 7) != 0)
        return 0;
    snprintf(path, sizeof path, "%s", uri + 7);
    path[strcspn(path, "?")] = '\0';
    snprintf(f, sizeof f, "%s-wal", path);
    return stat(f, &sb) == 0 ? (long long)sb.st_size : 0;
}

static void remove_db(const char *uri)
{
    char f[1200], path[1100];
    if (strncmp(uri, "sqlite:", 7) != 0)
        return;
    snprintf(path, sizeof path, "%s", uri + 7);
    path[strcspn(path, "?")] = '\0';
    unlink(path);
    snprintf(f, sizeof f, "%s-wal", path);
    unlink(f);
    snprintf(f, sizeof f, "%s-shm", path);
    unlink(f);
}

/* Open a fresh store and create the benchmark's chats. */
static store_t *fresh_store(const char *uri, int chats)
{
    store_t *s = NULL;
    char id[32];
    remove_db(uri);
    if (store_open(uri, NULL, &s) != STORE_OK) {
        fprintf(stderr, "store_open %s: %s\n", uri, store_last_error(NULL));
        return NULL;
    }
    for (int c = 0; c < chats; c++) {
        store_chat ch = {.chat_id = id, .type = STORE_CHAT_GROUP, .created_at = 1};
        snprintf(id, sizeof id, "g:bench%04d", c);
        if (store_chat_put(s, &ch) != STORE_OK) {
            fprintf(stderr, "chat_put: %s\n", store_last_error(s));
            store_close(s);
            return NULL;
        }
    }
    return s;
}

/* Fill m with heap copies (as the broker does for every message). */
static int make_msg(store_message *m, long i, int chats, size_t body, int explicit_seq)
{
    char chat[32], cmid[32], sid[32];
    memset(m, 0, sizeof *m);
    snprintf(chat, sizeof chat, "g:bench%04d", (int)(i % chats));
    snprintf(cmid, sizeof cmid, "c%ld", i);
    snprintf(sid, sizeof sid, "s%021ld", i);
    m->chat_id = strdup(chat);
    m->sender = strdup("bench-user");
    m->client_msg_id = strdup(cmid);
    m->server_id = strdup(sid);
    m->body = malloc(body ? body : 1);
    m->body_len = body;
    m->server_ts = 1700000000000LL + i;
    m->kind = 1;
    /* message i goes to chat i % chats: its seq there is i / chats + 1 */
    m->seq = explicit_seq ? (uint64_t)(i / chats) + 1 : 0;
    if (!m->chat_id || !m->sender || !m->client_msg_id || !m->server_id || !m->body)
        return -1;
    memset(m->body, (int)(i & 0xff), body);
    return 0;
}

/* Completion counters; the submitter sleeps on cv (no polling, so it does
 * not steal CPU from the writer thread) when the queue is full and at the
 * end. */
struct done {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    long ok, failed;
};

static void done_cb(store_op *op, int rc, void *ctx)
{
    struct done *d = ctx;
    long n;
    (void)op;
    pthread_mutex_lock(&d->mu);
    if (rc == STORE_OK)
        d->ok++;
    else
        d->failed++;
    n = d->ok + d->failed;
    pthread_mutex_unlock(&d->mu);
    if (n % 256 == 0)
        pthread_cond_broadcast(&d->cv);
}

/* Wait until at least target ops completed, or (target < 0) for some
 * progress, at most 20 ms at a time. */
static void wait_done(struct done *d, long target)
{
    struct timespec dl;
    pthread_mutex_lock(&d->mu);
    while (target < 0 || d->ok + d->failed < target) {
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_nsec += 20 * 1000 * 1000;
        dl.tv_sec += dl.tv_nsec / 1000000000L;
        dl.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&d->cv, &d->mu, &dl);
        if (target < 0)
            break;
    }
    pthread_mutex_unlock(&d->mu);
}

static int run_group(const struct cfg *c)
{
    char uri[1100];
    store_t *s;
    store_writer *w = NULL;
    store_writer_options wo = {.batch_max = c->batch, .max_delay_ms = 2, .queue_max = 100000};
    store_writer_stats st;
    struct done d = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    double t0, t1, c0, c1;
    long full_waits = 0;

    snprintf(uri, sizeof uri, "%s-group.db?synchronous=%s", c->prefix, c->sync);
    if (!(s = fresh_store(uri, c->chats)))
        return -1;
    store_close(s);
    if (store_writer_start(uri, NULL, &wo, &w) != STORE_OK) {
        fprintf(stderr, "writer start: %s\n", store_last_error(NULL));
        return -1;
    }
    t0 = now_s();
    c0 = cpu_s();
    for (long i = 0; i < c->group_n; i++) {
        store_op *op = store_op_new(STORE_OP_MESSAGE_PUT);
        if (!op || make_msg(&op->u.message, i, c->chats, c->body, c->explicit_seq) != 0) {
            fprintf(stderr, "out of memory\n");
            return -1;
        }
        while (store_writer_submit(w, op, done_cb, &d) == STORE_ENOMEM) {
            full_waits++;
            wait_done(&d, -1);
        }
    }
    wait_done(&d, c->group_n);              /* every op committed and called back */
    t1 = now_s();
    c1 = cpu_s();
    store_writer_get_stats(w, &st);
    long long wal = wal_bytes(uri);
    store_writer_stop(w);
    printf("mode=group seq=%s msgs=%ld ok=%ld failed=%ld secs=%.3f rate=%.0f batch_max=%zu "
           "sync=%s body=%zu chats=%d queue_full_waits=%ld cpu_us_per_msg=%.1f\n",
           c->explicit_seq ? "explicit" : "append", c->group_n, d.ok, d.failed, t1 - t0,
           (double)d.ok / (t1 - t0), c->batch, c->sync, c->body, c->chats, full_waits,
           (c1 - c0) * 1e6 / (double)(d.ok ? d.ok : 1));
    if (st.batches)
        printf(
            "mode=group-stats ops=%llu batches=%llu avg_batch=%.1f "
            "avg_commit_us=%.0f max_commit_us=%llu checkpoints=%llu inline=%llu ckpt_frames=%llu "
            "ckpt_us_total=%llu ckpt_us_max=%llu wal_bytes=%lld\n",
            (unsigned long long)st.ops, (unsigned long long)st.batches,
            (double)st.ops / (double)st.batches, (double)st.commit_us_total / (double)st.batches,
            (unsigned long long)st.commit_us_max, (unsigned long long)st.checkpoints.runs,
            (unsigned long long)st.checkpoints.inline_runs,
            (unsigned long long)st.checkpoints.frames, (unsigned long long)st.checkpoints.us_total,
            (unsigned long long)st.checkpoints.us_max, wal);
    remove_db(uri);
    return d.failed || d.ok != c->group_n ? -1 : 0;
}

static int run_single(const struct cfg *c)
{
    char uri[1100];
    store_t *s;
    store_message m;
    double t0, t1, c0, c1;
    long ok = 0;

    snprintf(uri, sizeof uri, "%s-single.db?synchronous=%s", c->prefix, c->sync);
    if (!(s = fresh_store(uri, c->chats)))
        return -1;
    t0 = now_s();
    c0 = cpu_s();
    for (long i = 0; i < c->single_n; i++) {
        if (make_msg(&m, i, c->chats, c->body, c->explicit_seq) != 0)
            return -1;
        if (store_message_put(s, &m) == STORE_OK)
            ok++;
        else
            fprintf(stderr, "message_put: %s\n", store_last_error(s));
        store_message_free(&m);
    }
    t1 = now_s();
    c1 = cpu_s();
    printf("mode=single seq=%s msgs=%ld ok=%ld secs=%.3f rate=%.0f sync=%s body=%zu chats=%d "
           "cpu_us_per_msg=%.1f\n",
           c->explicit_seq ? "explicit" : "append", c->single_n, ok, t1 - t0,
           (double)ok / (t1 - t0), c->sync, c->body, c->chats,
           (c1 - c0) * 1e6 / (double)(ok ? ok : 1));
    store_close(s);
    remove_db(uri);
    return ok == c->single_n ? 0 : -1;
}

int main(int argc, char **argv)
{
    struct cfg c = {.prefix = "sqlite:/tmp/parley-bench",
                    .group_n = 200000,
                    .single_n = 2000,
                    .body = 100,
                    .chats = 100,
                    .batch = 256,
                    .sync = "full"};
    int opt, rc = 0;

    while ((opt = getopt(argc, argv, "u:g:s:b:c:B:S:E")) != -1) {
        switch (opt) {
        case 'u': c.prefix = optarg; break;
        case 'g': c.group_n = atol(optarg); break;
        case 's': c.single_n = atol(optarg); break;
        case 'b': c.body = (size_t)atol(optarg); break;
        case 'c': c.chats = atoi(optarg); break;
        case 'B': c.batch = (size_t)atol(optarg); break;
        case 'S': c.sync = optarg; break;
        case 'E': c.explicit_seq = 1; break;
        default:
            fprintf(stderr,
                    "usage: %s [-u URI_PREFIX] [-g N] [-s N] [-b BYTES] [-c CHATS] "
                    "[-B BATCH] [-S full|normal] [-E]\n",
                    argv[0]);
            return 2;
        }
    }
    if (c.chats < 1 || c.group_n < 0 || c.single_n < 0 || c.batch < 1 ||
        (strcmp(c.sync, "full") != 0 && strcmp(c.sync, "normal") != 0)) {
        fprintf(stderr, "store_bench: bad arguments\n");
        return 2;
    }
    if (c.single_n > 0 && run_single(&c) != 0)
        rc = 1;
    if (c.group_n > 0 && run_group(&c) != 0)
        rc = 1;
    return rc;
}
