/*
 * lg_flow_raw.c - the default flow client: each pair's two connections live
 * on one of `threads` epoll threads, which speak MQTT 3.1.1 directly
 * (lg_mqtt.h): every wakeup reads everything the broker sent, answers with
 * PUBACKs, tops the pairs' windows up (or sends what the schedule says is
 * due) and writes each connection's batch with one write().
 */
#include "lg_flow.h"

#include "lg_clock.h"
#include "lg_ident.h"
#include "lg_mqtt.h"
#include "lg_payload.h"
#include "lg_rx.h"

#include "parley.pb-c.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define KEEPALIVE_S 900               /* longer than any run: no PINGREQ */
#define STALL_NS (2000 * 1000000LL)   /* nothing delivered this long: write the window off */
#define RATE_BACKLOG_MAX 20000
#define READ_CHUNK (64 * 1024)
#define TX_HIGH_WATER (4 * 1024 * 1024) /* stop producing while this much is unsent */
#define TOPIC_MAX 160
#define EVENTS 64

typedef struct rpair rpair;

typedef struct {
    rpair *p;
    bool receiver;
    int fd;
    bool dead;
    bool want_out;              /* EPOLLOUT registered */
    lg_buf rx, tx;
    char user[IDS_USER_MAX + 1];
    char client_id[IDS_USER_MAX + 8];
} rconn;

struct rpair {
    int idx;
    rconn snd, rcv;
    char inbox[TOPIC_MAX];
    char receipts[TOPIC_MAX];
    uint64_t sent, delivered, written_off;
    uint64_t seq;
    int64_t offset, interval, last_progress;
    uint16_t next_pid;
    /* results */
    uint64_t sent_in_window, receipts_stored;
    lg_rx rx;
    lg_receipts rc;
};

typedef struct {
    const lg_flow_opts *o;
    rpair **pairs;
    int n;
    int ep;
    pthread_t thread;
    uint8_t *body, *msg;        /* scratch for lg_payload_build */
    char error[160];
} worker;

static int64_t g_start, g_warm, g_end, g_drain_end;

/* ------------------------------------------------------------------ setup */

static int tcp_connect(const lg_flow_opts *o, int portnum)
{
    char port[16];
    snprintf(port, sizeof port, "%d", portnum);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    if (getaddrinfo(o->host, port, &hints, &ai) != 0 || !ai)
        return -1;
    int fd = -1;
    for (struct addrinfo *a = ai; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return fd;
}

/* Blocking: read packets until one of type `want`; acknowledge stray
 * QoS 1 publishes. Returns the packet's first body byte (CONNACK: return
 * code at body[1]; SUBACK: granted QoS at body[2]) or -1. */
static int await(rconn *c, uint8_t want, int byte_at)
{
    lg_mqtt_packet pk;
    for (;;) {
        if (lg_mqtt_read_packet(c->fd, &c->rx, &pk) <= 0)
            return -1;
        if (pk.type == want)
            return (int)pk.body_len > byte_at ? pk.body[byte_at] : -1;
        if (pk.type == LG_MQTT_PUBLISH && pk.qos == 1) {
            uint8_t ack[4] = {LG_MQTT_PUBACK, 2, (uint8_t)(pk.packet_id >> 8),
                              (uint8_t)pk.packet_id};
            if (lg_mqtt_write_all(c->fd, ack, sizeof ack) != 0)
                return -1;
        }
    }
}

static int conn_setup(rconn *c, const lg_flow_opts *o, int portnum, const char *filter, int qos,
                      char *err, size_t errlen)
{
    char token[TOKEN_MAX_LEN];
    if (o->parley) {
        int trc = lg_ident_token(c->user, c->client_id, token);
        if (trc != TOKEN_OK) {
            snprintf(err, errlen, "token for %s: %s", c->user, token_strerror(trc));
            return -1;
        }
    }
    c->fd = tcp_connect(o, portnum);
    if (c->fd < 0) {
        snprintf(err, errlen, "connect %s:%d: %s", o->host, portnum, strerror(errno));
        return -1;
    }
    lg_buf out = {0};
    if (lg_mqtt_connect(&out, c->client_id, o->parley ? c->user : NULL, o->parley ? token : NULL,
                        KEEPALIVE_S) != 0 ||
        lg_mqtt_write_all(c->fd, out.data, out.len) != 0) {
        lg_buf_free(&out);
        snprintf(err, errlen, "sending CONNECT for %s failed", c->client_id);
        return -1;
    }
    int rc = await(c, LG_MQTT_CONNACK, 1);
    if (rc != 0) {
        snprintf(err, errlen, "connect refused for %s (CONNACK %d%s)", c->client_id, rc,
                 rc == 5   ? ": not authorized"
                 : rc == 4 ? ": bad user name or password"
                           : "");
        lg_buf_free(&out);
        return -1;
    }
    if (filter) {
        out.off = out.len = 0;
        if (lg_mqtt_subscribe(&out, 1, filter, qos) != 0 ||
            lg_mqtt_write_all(c->fd, out.data, out.len) != 0)
            rc = -1;
        else
            rc = await(c, LG_MQTT_SUBACK, 2);
        if (rc < 0 || rc > 2) {
            snprintf(err, errlen, "subscribe %s refused for %s", filter, c->client_id);
            lg_buf_free(&out);
            return -1;
        }
    }
    lg_buf_free(&out);
    c->rx.off = c->rx.len = 0;
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    return 0;
}

/* -------------------------------------------------------------- the loop */

static void fail_conn(worker *w, rconn *c, const char *why)
{
    if (c->dead)
        return;
    c->dead = true;
    if (!w->error[0])
        snprintf(w->error, sizeof w->error, "%s: %s", c->client_id, why);
    epoll_ctl(w->ep, EPOLL_CTL_DEL, c->fd, NULL);
}

static void flush(worker *w, rconn *c)
{
    while (!c->dead && c->tx.len > c->tx.off) {
        ssize_t n = write(c->fd, c->tx.data + c->tx.off, c->tx.len - c->tx.off);
        if (n > 0) {
            c->tx.off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        fail_conn(w, c, "write failed (connection closed by the broker?)");
        return;
    }
    if (c->tx.off == c->tx.len)
        c->tx.off = c->tx.len = 0;
    bool want = c->tx.len > c->tx.off;
    if (!c->dead && want != c->want_out) {
        struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c};
        epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &ev);
        c->want_out = want;
    }
}

static void on_receipt(rpair *p, const lg_mqtt_packet *pk, int64_t now)
{
    p->receipts_stored += lg_receipts_add(&p->rc, pk->payload, pk->payload_len, now, g_warm, g_end);
}

static void on_delivery(rpair *p, const lg_mqtt_packet *pk, int64_t now)
{
    if (lg_rx_delivery(&p->rx, (uint32_t)p->idx, pk->payload, pk->payload_len, now, g_warm,
                       g_end) != 0)
        return;
    p->delivered++;
    p->last_progress = now;
}

static void on_readable(worker *w, rconn *c)
{
    for (;;) {
        uint8_t *dst = lg_buf_reserve(&c->rx, READ_CHUNK);
        if (!dst) {
            fail_conn(w, c, "out of memory");
            return;
        }
        ssize_t n = read(c->fd, dst, READ_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n <= 0) {
            fail_conn(w, c, "connection closed by the broker");
            return;
        }
        c->rx.len += (size_t)n;
        int64_t now = lg_now_ns();
        lg_mqtt_packet pk;
        long used;
        while ((used = lg_mqtt_parse(c->rx.data + c->rx.off, c->rx.len - c->rx.off, &pk)) > 0) {
            if (pk.type == LG_MQTT_PUBLISH) {
                if (pk.qos == 1)
                    lg_mqtt_puback(&c->tx, pk.packet_id);
                if (c->receiver)
                    on_delivery(c->p, &pk, now);
                else
                    on_receipt(c->p, &pk, now);
            }
            c->rx.off += (size_t)used;
        }
        if (used < 0) {
            fail_conn(w, c, "malformed packet from the broker");
            return;
        }
        if (n < READ_CHUNK)
            break;
    }
}

static void publish_one(worker *w, rpair *p, int64_t stamp)
{
    const lg_flow_opts *o = w->o;
    lg_stamp st = {.pair = (uint32_t)p->idx, .seq = p->seq++, .send_ns = stamp};
    size_t len = lg_payload_build(&st, o->payload, w->body, w->msg, o->payload);
    if (++p->next_pid == 0)
        p->next_pid = 1;
    uint8_t *dst = len ? lg_mqtt_publish(&p->snd.tx, p->inbox, o->qos, p->next_pid, len) : NULL;
    if (!dst) {
        fail_conn(w, &p->snd, "cannot build PUBLISH");
        return;
    }
    memcpy(dst, w->msg, len);
    p->sent++;
    if (stamp >= g_warm)
        p->sent_in_window++;
}

/* Queue what pair p may send now; returns the next time it wants to run
 * (INT64_MAX: when something arrives). */
static int64_t produce(worker *w, rpair *p, int64_t now)
{
    const lg_flow_opts *o = w->o;
    if (p->snd.dead || p->rcv.dead || now >= g_end)
        return INT64_MAX;
    uint64_t limit = p->interval ? RATE_BACKLOG_MAX : (uint64_t)o->window;
    if (p->sent - p->delivered - p->written_off >= limit) {
        int64_t stall = STALL_NS;
        if (now - p->last_progress < stall)
            return p->last_progress + stall;
        p->written_off = p->sent - p->delivered;  /* lost (QoS 0) or dropped: give up on them */
        p->last_progress = now;
    }
    while (p->snd.tx.len - p->snd.tx.off < TX_HIGH_WATER &&
           p->sent - p->delivered - p->written_off < limit) {
        int64_t stamp = now;
        if (p->interval) {
            stamp = g_start + p->offset + (int64_t)p->seq * p->interval;
            if (stamp >= g_end)
                return INT64_MAX;
            if (stamp > now)
                return stamp;
        }
        publish_one(w, p, stamp);
    }
    return INT64_MAX;   /* window full or socket backed up: wait for the broker */
}

static bool pair_drained(const worker *w, const rpair *p)
{
    if (p->snd.dead || p->rcv.dead)
        return true;
    if (p->delivered < p->sent - p->written_off)
        return false;
    return !w->o->receipts || p->receipts_stored + p->rc.rejected >= p->sent;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    struct epoll_event evs[EVENTS];
    for (;;) {
        int64_t now = lg_now_ns();
        int64_t wake = INT64_MAX;
        bool done = now >= g_end;
        for (int i = 0; i < w->n; i++) {
            rpair *p = w->pairs[i];
            int64_t t = produce(w, p, now);
            if (t < wake)
                wake = t;
            flush(w, &p->snd);
            flush(w, &p->rcv);
            if (done && !pair_drained(w, p))
                done = false;
        }
        if (now >= g_end && (done || now >= g_drain_end))
            break;
        int64_t limit = now + 50 * 1000000LL;   /* re-check the clock and stalls */
        if (wake > limit)
            wake = limit;
        if (now < g_end && wake > g_end)
            wake = g_end;
        struct timespec ts = {0, 0};
        if (wake > now) {
            ts.tv_sec = (wake - now) / 1000000000;
            ts.tv_nsec = (wake - now) % 1000000000;
        }
        int n = epoll_pwait2(w->ep, evs, EVENTS, &ts, NULL);
        for (int i = 0; i < n; i++) {
            rconn *c = evs[i].data.ptr;
            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                on_readable(w, c);
            if (!c->dead && (evs[i].events & EPOLLOUT))
                flush(w, c);
        }
    }
    return NULL;
}

/* ------------------------------------------------------------------ run */

int lg_flow_raw__run(const lg_flow_opts *o, lg_flow_result *r)
{
    char *err = r->error;
    size_t errsz = sizeof r->error;
    int nt = o->threads < 1 ? 1 : o->threads > o->pairs ? o->pairs : o->threads;
    rpair *ps = calloc((size_t)o->pairs, sizeof *ps);
    worker *ws = calloc((size_t)nt, sizeof *ws);
    rpair **slots = calloc((size_t)o->pairs, sizeof *slots);
    int rc = -1, started = 0;
    if (!ps || !ws || !slots)
        goto out;
    for (int i = 0; i < o->pairs; i++) {
        rpair *p = &ps[i];
        p->idx = i;
        p->snd.fd = p->rcv.fd = -1;
        p->snd.p = p->rcv.p = p;
        p->rcv.receiver = true;
        if (lg_ident_pair(o->prefix, o->user_base, i, (char *[2]){p->snd.user, p->rcv.user},
                          (char *[2]){p->snd.client_id, p->rcv.client_id}, sizeof p->snd.client_id,
                          p->inbox, p->receipts, sizeof p->inbox, err, errsz) != 0)
            goto out;
        if (o->rate > 0) {
            p->interval = (int64_t)(1e9 * o->pairs / o->rate);
            p->offset = p->interval * i / o->pairs;   /* spread the pairs over one interval */
        }
    }
    for (int i = 0; i < o->pairs; i++) {
        rpair *p = &ps[i];
        if (conn_setup(&p->rcv, o, o->sub_port ? o->sub_port : o->port, p->inbox, o->qos, err,
                       errsz) != 0 ||
            conn_setup(&p->snd, o, o->port, o->receipts ? p->receipts : NULL, 1, err, errsz) != 0)
            goto out;
    }
    for (int t = 0; t < nt; t++) {
        worker *w = &ws[t];
        w->o = o;
        w->pairs = slots + t * (o->pairs / nt) + (t < o->pairs % nt ? t : o->pairs % nt);
        w->n = o->pairs / nt + (t < o->pairs % nt);
        w->ep = epoll_create1(EPOLL_CLOEXEC);
        w->body = malloc(o->payload);
        w->msg = malloc(o->payload);
        if (w->ep < 0 || !w->body || !w->msg) {
            snprintf(err, errsz, "worker setup failed");
            goto out;
        }
    }
    for (int t = 0, k = 0; t < nt; t++)
        for (int j = 0; j < ws[t].n; j++, k++) {
            slots[k] = &ps[k];
            rconn *cs[2] = {&ps[k].snd, &ps[k].rcv};
            for (int m = 0; m < 2; m++) {
                struct epoll_event ev = {.events = EPOLLIN, .data.ptr = cs[m]};
                epoll_ctl(ws[t].ep, EPOLL_CTL_ADD, cs[m]->fd, &ev);
            }
        }
    g_start = lg_now_ns() + 20 * 1000000;
    g_warm = g_start + (int64_t)(o->warmup_s * 1e9);
    g_end = g_warm + (int64_t)(o->duration_s * 1e9);
    g_drain_end = g_end + (int64_t)(o->drain_s * 1e9);
    for (int i = 0; i < o->pairs; i++)
        ps[i].last_progress = g_start;
    lg_sleep_until(g_start);
    for (; started < nt; started++)
        if (pthread_create(&ws[started].thread, NULL, worker_main, &ws[started]) != 0) {
            snprintf(err, errsz, "pthread_create failed");
            break;
        }
    for (int t = 0; t < started; t++)
        pthread_join(ws[t].thread, NULL);
    if (started == nt)
        rc = 0;

out:
    for (int t = 0; ws && t < nt; t++) {
        if (!err[0] && ws[t].error[0])
            snprintf(err, errsz, "%s", ws[t].error);
        if (ws[t].ep > 0)
            close(ws[t].ep);
        free(ws[t].body);
        free(ws[t].msg);
    }
    const char *reject = NULL;
    for (int i = 0; ps && i < o->pairs; i++) {
        rpair *p = &ps[i];
        r->sent += p->sent;
        r->sent_in_window += p->sent_in_window;
        r->receipts_stored += p->receipts_stored;
        lg_rx_merge(r, &p->rx, &p->rc, &reject);
        rconn *cs[2] = {&p->snd, &p->rcv};
        for (int k = 0; k < 2; k++) {
            if (cs[k]->fd >= 0) {
                static const uint8_t disconnect[2] = {0xe0, 0};
                if (!cs[k]->dead)
                    (void)!write(cs[k]->fd, disconnect, sizeof disconnect);
                close(cs[k]->fd);
            }
            lg_buf_free(&cs[k]->rx);
            lg_buf_free(&cs[k]->tx);
        }
    }
    if (!err[0] && reject)
        snprintf(err, errsz, "rejected: %s", reject);
    free(slots);
    free(ws);
    free(ps);
    return rc;
}
