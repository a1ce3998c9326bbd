/* lg_idle.c - the idle-connection run (lg_idle.h): connect rate and memory per connection. */
#include "lg_idle.h"

#include "lg_clock.h"
#include "lg_ident.h"
#include "lg_mqtt.h"
#include "lg_stats.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define KEEPALIVE_S 900           /* longer than any hold: no PINGREQ needed */
#define CONNECT_TIMEOUT_NS (120 * 1000000000LL)
#define EVENTS 256

enum { C_NEW, C_TCP, C_SENT, C_OK, C_FAILED };

typedef struct {
    int fd;
    int state;
    int connack_rc;             /* CONNACK return code, -1 for a socket error */
    uint8_t *pkt;
    size_t pkt_len;
    uint8_t rx[4];
    size_t rx_len;
    int64_t t_start;
} client;

typedef struct {
    const lg_idle_opts *o;
    struct sockaddr_in addr;
    int phase;                  /* 0: first connects, 1: reconnects */
    client *cs;
    int n;
    int first;                  /* index of cs[0] among all clients */
    pthread_t thread;
    int ep;
    int64_t t_first, t_last;    /* first connect() and last CONNACK */
    int ok, failed, dropped, last_rc, prep_failed;
    int inflight;               /* connects started, no CONNACK yet */
    lg_samples lat;             /* connect() to CONNACK */
    /* the reconnect phase */
    int64_t r_first, r_last;
    int r_ok, r_failed;
    lg_samples r_lat;
} worker;

static pthread_barrier_t g_ready, g_connected, g_reconnect, g_reconnected;
static atomic_int g_stop;

static void finish(worker *w, client *c, int state, int rc, int64_t now)
{
    if (c->state == C_TCP || c->state == C_SENT)
        w->inflight--;
    c->state = state;
    c->connack_rc = rc;
    if (state == C_OK) {
        if (w->phase) {
            w->r_ok++;
            w->r_last = now;
            lg_samples_add(&w->r_lat, now - c->t_start);
        } else {
            w->ok++;
            w->t_last = now;
            lg_samples_add(&w->lat, now - c->t_start);
        }
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
        epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &ev);
    } else {
        if (w->phase)
            w->r_failed++;
        else
            w->failed++;
        w->last_rc = rc;
        epoll_ctl(w->ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
    }
    if (!w->o->reconnect) {
        free(c->pkt);
        c->pkt = NULL;
    }
}

static int start_connect(worker *w, client *c)
{
    c->t_start = lg_now_ns();
    if (w->phase && !w->r_first)
        w->r_first = c->t_start;
    if (!w->phase && !w->t_first)
        w->t_first = c->t_start;
    c->rx_len = 0;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        c->state = C_FAILED;
        (*(w->phase ? &w->r_failed : &w->failed))++;
        w->last_rc = -1;
        return -1;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int k = w->first + (int)(c - w->cs);
    if (w->o->source_addrs > 0) {
        /* The port is chosen at connect() for the whole 4-tuple. */
        struct sockaddr_in src = {
            .sin_family = AF_INET,
            .sin_addr.s_addr = htonl(0x7f000002u + (uint32_t)(k % w->o->source_addrs))};
        setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (bind(c->fd, (struct sockaddr *)&src, sizeof src) != 0) {
            close(c->fd);
            c->fd = -1;
            c->state = C_FAILED;
            (*(w->phase ? &w->r_failed : &w->failed))++;
            w->last_rc = -1;
            return -1;
        }
    }
    if (connect(c->fd, (struct sockaddr *)&w->addr, sizeof w->addr) != 0 && errno != EINPROGRESS) {
        close(c->fd);
        c->fd = -1;
        c->state = C_FAILED;
        (*(w->phase ? &w->r_failed : &w->failed))++;
        w->last_rc = -1;
        return -1;
    }
    c->state = C_TCP;
    w->inflight++;
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.ptr = c};
    epoll_ctl(w->ep, EPOLL_CTL_ADD, c->fd, &ev);
    return 0;
}

static void on_event(worker *w, client *c, uint32_t events, int64_t now)
{
    if (c->state == C_TCP && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err || write(c->fd, c->pkt, c->pkt_len) != (ssize_t)c->pkt_len) {
            finish(w, c, C_FAILED, -1, now);
            return;
        }
        c->state = C_SENT;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &ev);
        return;
    }
    if (c->state == C_SENT) {
        ssize_t r = read(c->fd, c->rx + c->rx_len, sizeof c->rx - c->rx_len);
        if (r <= 0) {
            if (r < 0 && errno == EAGAIN)
                return;
            finish(w, c, C_FAILED, -1, now);
            return;
        }
        c->rx_len += (size_t)r;
        if (c->rx_len < sizeof c->rx)
            return;
        if (c->rx[0] != 0x20 || c->rx[1] != 2)
            finish(w, c, C_FAILED, -1, now);
        else
            finish(w, c, c->rx[3] == 0 ? C_OK : C_FAILED, c->rx[3], now);
        return;
    }
    if (c->state == C_OK) {
        /* An idle connection became readable: the broker closed it (or sent
         * something we never asked for). */
        uint8_t buf[256];
        ssize_t r = read(c->fd, buf, sizeof buf);
        if (r == 0 || (r < 0 && errno != EAGAIN) || (events & (EPOLLRDHUP | EPOLLHUP))) {
            w->dropped++;
            epoll_ctl(w->ep, EPOLL_CTL_DEL, c->fd, NULL);
            close(c->fd);
            c->fd = -1;
            c->state = C_FAILED;
        }
    }
}

static void poll_once(worker *w, int timeout_ms)
{
    struct epoll_event evs[EVENTS];
    int n = epoll_wait(w->ep, evs, EVENTS, timeout_ms);
    int64_t now = lg_now_ns();
    for (int i = 0; i < n; i++)
        on_event(w, evs[i].data.ptr, evs[i].events, now);
}

/* Connect every client in state C_NEW, at most window at a time. */
static void connect_all(worker *w)
{
    int next = 0;
    int64_t deadline = lg_now_ns() + CONNECT_TIMEOUT_NS;
    for (;;) {
        for (; next < w->n && w->inflight < w->o->window; next++)
            if (w->cs[next].state == C_NEW)
                start_connect(w, &w->cs[next]);
        if (next == w->n && w->inflight == 0)
            break;
        if (lg_now_ns() > deadline)
            break;
        poll_once(w, 100);
    }
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    const lg_idle_opts *o = w->o;
    /* Prepare every CONNECT (tokens minted) before the clock starts. */
    for (int i = 0; i < w->n; i++) {
        client *c = &w->cs[i];
        c->fd = -1;
        char user[IDS_USER_MAX + 1], cid[IDS_USER_MAX + 8], token[TOKEN_MAX_LEN];
        c->state = C_FAILED;
        if (lg_ident_user(o->prefix, o->user_base + (unsigned)(w->first + i), user) != 0) {
            w->prep_failed++;
            continue;
        }
        snprintf(cid, sizeof cid, "%s.idle", user);
        if (o->parley && lg_ident_token(user, cid, token) != TOKEN_OK) {
            w->prep_failed++;
            continue;
        }
        if (!o->parley && o->credentials) {
            /* what a Parley CONNECT carries: the user id and a password
             * as long as a token */
            if (lg_ident_token(user, cid, token) != TOKEN_OK) {
                w->prep_failed++;
                continue;
            }
        }
        bool creds = o->parley || o->credentials;
        lg_buf b = {0};
        if (lg_mqtt_connect(&b, cid, creds ? user : NULL, creds ? token : NULL, KEEPALIVE_S) != 0) {
            w->prep_failed++;
            continue;
        }
        c->pkt = b.data;
        c->pkt_len = b.len;
        c->state = C_NEW;
    }
    pthread_barrier_wait(&g_ready);
    connect_all(w);
    pthread_barrier_wait(&g_connected);
    while (!atomic_load(&g_stop))
        poll_once(w, 100);
    if (o->reconnect) {
        pthread_barrier_wait(&g_reconnect);
        /* Every connected client goes away at once, then comes back with
         * the same CONNECT. */
        for (int i = 0; i < w->n; i++) {
            client *c = &w->cs[i];
            if (c->state != C_OK)
                continue;
            epoll_ctl(w->ep, EPOLL_CTL_DEL, c->fd, NULL);
            close(c->fd);
            c->fd = -1;
            c->state = C_NEW;
        }
        w->phase = 1;
        connect_all(w);
        pthread_barrier_wait(&g_reconnected);
    }
    for (int i = 0; i < w->n; i++) {
        if (w->cs[i].fd >= 0)
            close(w->cs[i].fd);
        free(w->cs[i].pkt);
    }
    return NULL;
}

/* VmRSS / VmHWM of pid in kB; -1 when unreadable. */
static void proc_mem(int pid, long *rss, long *hwm)
{
    *rss = *hwm = -1;
    if (pid <= 0)
        return;
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0)
            *rss = strtol(line + 6, NULL, 10);
        else if (strncmp(line, "VmHWM:", 6) == 0)
            *hwm = strtol(line + 6, NULL, 10);
    }
    fclose(f);
}

/* CPU time (user + system, every thread) of pid in seconds; -1 if unreadable. */
static double proc_cpu_s(int pid)
{
    char path[64], buf[1024];
    if (pid <= 0)
        return -1;
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command may hold spaces */
    unsigned long long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int lg_idle_run(const lg_idle_opts *o, FILE *out)
{
    char err[256] = "";
    raise_nofile();
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur != RLIM_INFINITY && (rlim_t)o->clients + 64 > rl.rlim_cur)
        snprintf(err, sizeof err, "open-file limit %llu is below %d clients",
                 (unsigned long long)rl.rlim_cur, o->clients);

    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o->port)};
    if (inet_pton(AF_INET, o->host, &addr.sin_addr) != 1) {
        struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *ai = NULL;
        if (getaddrinfo(o->host, NULL, &hints, &ai) != 0 || !ai) {
            fprintf(stderr, "parley-loadgen: cannot resolve %s\n", o->host);
            return -1;
        }
        addr.sin_addr = ((struct sockaddr_in *)ai->ai_addr)->sin_addr;
        freeaddrinfo(ai);
    }

    int nt = o->threads < 1 ? 1 : o->threads;
    worker *ws = calloc((size_t)nt, sizeof *ws);
    client *cs = calloc((size_t)o->clients, sizeof *cs);
    if (!ws || !cs) {
        free(ws);
        free(cs);
        return -1;
    }
    long rss0, hwm0, rss1, hwm1;
    proc_mem(o->broker_pid, &rss0, &hwm0);
    atomic_store(&g_stop, 0);
    pthread_barrier_init(&g_ready, NULL, (unsigned)nt + 1);
    pthread_barrier_init(&g_connected, NULL, (unsigned)nt + 1);
    pthread_barrier_init(&g_reconnect, NULL, (unsigned)nt + 1);
    pthread_barrier_init(&g_reconnected, NULL, (unsigned)nt + 1);
    int per = o->clients / nt, extra = o->clients % nt, first = 0;
    for (int t = 0; t < nt; t++) {
        worker *w = &ws[t];
        w->o = o;
        w->addr = addr;
        w->n = per + (t < extra);
        w->first = first;
        w->cs = cs + first;
        first += w->n;
        w->ep = epoll_create1(EPOLL_CLOEXEC);
        pthread_create(&w->thread, NULL, worker_main, w);
    }
    pthread_barrier_wait(&g_ready);
    double cpu0 = proc_cpu_s(o->broker_pid);
    pthread_barrier_wait(&g_connected);
    double cpu1 = proc_cpu_s(o->broker_pid), cpu2 = -1, cpu3 = -1;
    int64_t t_conn = lg_now_ns();
    lg_sleep_until(t_conn + (int64_t)(o->hold_s * 1e9));
    proc_mem(o->broker_pid, &rss1, &hwm1);
    atomic_store(&g_stop, 1);
    if (o->reconnect) {
        pthread_barrier_wait(&g_reconnect);
        cpu2 = proc_cpu_s(o->broker_pid);
        pthread_barrier_wait(&g_reconnected);
        cpu3 = proc_cpu_s(o->broker_pid);
    }

    int ok = 0, failed = 0, dropped = 0, prep = 0, last_rc = 0, r_ok = 0, r_failed = 0;
    int64_t t_first = 0, t_last = 0, r_first = 0, r_last = 0;
    lg_samples lat = {0}, r_lat = {0};
    for (int t = 0; t < nt; t++) {
        worker *w = &ws[t];
        pthread_join(w->thread, NULL);
        close(w->ep);
        ok += w->ok;
        failed += w->failed;
        dropped += w->dropped;
        prep += w->prep_failed;
        if (w->last_rc)
            last_rc = w->last_rc;
        if (w->t_first && (!t_first || w->t_first < t_first))
            t_first = w->t_first;
        if (w->t_last > t_last)
            t_last = w->t_last;
        lg_samples_merge(&lat, &w->lat);
        r_ok += w->r_ok;
        r_failed += w->r_failed;
        if (w->r_first && (!r_first || w->r_first < r_first))
            r_first = w->r_first;
        if (w->r_last > r_last)
            r_last = w->r_last;
        lg_samples_merge(&r_lat, &w->r_lat);
    }
    pthread_barrier_destroy(&g_ready);
    pthread_barrier_destroy(&g_connected);
    pthread_barrier_destroy(&g_reconnect);
    pthread_barrier_destroy(&g_reconnected);
    double secs = t_last > t_first ? (double)(t_last - t_first) / 1e9 : 0;
    lg_dist d = lg_samples_dist(&lat);
    if (!err[0] && failed)
        snprintf(err, sizeof err, "%d connections failed (last CONNACK code %d%s)", failed, last_rc,
                 last_rc == 5  ? ": not authorized"
                 : last_rc < 0 ? ": socket"
                               : "");
    if (!err[0] && prep)
        snprintf(err, sizeof err, "%d clients could not be prepared (user id / token)", prep);

    fprintf(out,
            "{\"mode\":\"idle\",\"broker\":\"%s\",\"ok\":%s,\"clients\":%d,\"threads\":%d,"
            "\"connected\":%d,\"failed\":%d,\"dropped_while_idle\":%d,\"connect_s\":%.3f,"
            "\"connect_rate\":%.1f,\"connect_latency\":",
            o->label,
            ok == o->clients && !dropped && (!o->reconnect || r_ok == ok) ? "true" : "false",
            o->clients, nt, ok, failed, dropped, secs, secs > 0 ? ok / secs : 0);
    lg_dist_json(out, &d);
    fprintf(out,
            ",\"hold_s\":%.1f,\"broker_pid\":%d,\"broker_rss_kb_before\":%ld,"
            "\"broker_rss_kb\":%ld,\"broker_hwm_kb\":%ld,\"broker_kb_per_client\":%.2f,"
            "\"error\":",
            o->hold_s, o->broker_pid, rss0, rss1, hwm1,
            ok > 0 && rss1 > 0 && rss0 > 0 ? (double)(rss1 - rss0) / ok : 0);
    lg_json_str(out, err);
    fprintf(out, ",\"source_addrs\":%d,\"credentials\":%s", o->source_addrs,
            o->parley || o->credentials ? "true" : "false");
    if (cpu0 >= 0 && cpu1 >= 0 && ok > 0)
        fprintf(out, ",\"broker_cpu_us_per_connect\":%.1f", (cpu1 - cpu0) * 1e6 / ok);
    if (o->reconnect) {
        double rs = r_last > r_first ? (double)(r_last - r_first) / 1e9 : 0;
        lg_dist rd = lg_samples_dist(&r_lat);
        fprintf(out,
                ",\"reconnected\":%d,\"reconnect_failed\":%d,\"reconnect_s\":%.3f,"
                "\"reconnect_rate\":%.1f,\"reconnect_latency\":",
                r_ok, r_failed, rs, rs > 0 ? r_ok / rs : 0);
        lg_dist_json(out, &rd);
        if (cpu2 >= 0 && cpu3 >= 0 && r_ok > 0)
            fprintf(out, ",\"broker_cpu_us_per_reconnect\":%.1f", (cpu3 - cpu2) * 1e6 / r_ok);
    }
    fprintf(out, "}\n");
    fflush(out);
    if (err[0])
        fprintf(stderr, "parley-loadgen: %s\n", err);
    lg_samples_free(&lat);
    lg_samples_free(&r_lat);
    free(cs);
    free(ws);
    return ok == o->clients && !dropped && (!o->reconnect || r_ok == ok) ? 0 : -1;
}
