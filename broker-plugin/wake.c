/*
 * wake.c - waking the broker thread when work is queued.
 *
 * mosquitto 2.0.11 runs MOSQ_EVT_TICK once per main-loop iteration, after
 * mux__handle (src/loop.c), and its epoll_wait times out after 100 ms
 * (src/mux_epoll.c); a plugin has no API to end that wait early. Socket
 * activity does end it. So the plugin keeps one MQTT connection of its own
 * to the broker, made by a plugin-owned thread over a unix socket listener
 * (plugin_opt_wake_socket names the path of a "listener 0 PATH" line):
 * whenever a task is queued for the broker thread, wake__kick() writes a
 * 2-byte PINGREQ on it. The broker reads it, answers PINGRESP, and the same
 * loop iteration ends with the tick, which drains the completion queue.
 * Messages the tick publishes are routed at the top of the next iteration
 * (queue_plugin_msgs), i.e. at once.
 *
 * Wakes are coalesced: one PINGREQ is outstanding at a time; the tick clears
 * the flag (wake__ticked) before it drains, so a task queued after that
 * point wakes the loop again.
 *
 * The connection authenticates as the reserved user WAKE_USER (not a valid
 * Parley user id, so no client can be it) with a random secret made at each
 * start; auth.c refuses that user name for anyone else, and the ACL gives it
 * no topic at all (it never publishes or subscribes).
 */
#include "plugin_int.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#define WAKE_KEEPALIVE_S 60

static pthread_t wake_thread;
static bool wake_running;
static atomic_bool wake_stop;
static atomic_bool wake_pending;   /* a PINGREQ is on its way */
static atomic_bool wake_connected;
static pthread_mutex_t wake_lock = PTHREAD_MUTEX_INITIALIZER; /* guards wake_fd */
static int wake_fd = -1;
static char wake_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static char wake_secret[65];
static atomic_uint_fast64_t wake_sent; /* PINGREQs written (metrics) */
/* The connection keeps failing: wake__ticked logs it. This thread never calls
 * mosquitto_log_printf: with "log_dest topic" mosquitto 2.0.11 publishes each
 * log line (log__vprintf -> db__messages_easy_queue), which only the broker
 * thread may do (it changes the message store and the unlocked memory count). */
static atomic_bool wake_warn;

bool wake__is_user(const char *username)
{
    return username && !strcmp(username, WAKE_USER);
}

bool wake__password_ok(const char *password)
{
    size_t n = strlen(wake_secret);
    return n && password && strlen(password) == n && sodium_memcmp(password, wake_secret, n) == 0;
}

bool wake__connected(void)
{
    return atomic_load(&wake_connected);
}

uint64_t wake__sent(void)
{
    return atomic_load(&wake_sent);
}

static size_t wake_put_str(uint8_t *p, const char *s)
{
    size_t n = strlen(s);
    p[0] = (uint8_t)(n >> 8);
    p[1] = (uint8_t)n;
    memcpy(p + 2, s, n);
    return n + 2;
}

/* An MQTT 3.1.1 CONNECT: clean session, user name and password. */
static size_t wake_connect_packet(uint8_t *buf, size_t cap)
{
    uint8_t body[256];
    size_t n = 0;
    static const uint8_t vh[] = {0, 4, 'M', 'Q', 'T', 'T', 4, 0xC2, 0, WAKE_KEEPALIVE_S};
    memcpy(body, vh, sizeof vh);
    n = sizeof vh;
    n += wake_put_str(body + n, WAKE_USER); /* client id */
    n += wake_put_str(body + n, WAKE_USER);
    n += wake_put_str(body + n, wake_secret);
    if (n > 127 || n + 2 > cap)
        return 0;
    buf[0] = 0x10;
    buf[1] = (uint8_t)n;
    memcpy(buf + 2, body, n);
    return n + 2;
}

static bool wake_write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* Connect and authenticate; the socket, or -1. */
static int wake_connect(void)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    uint8_t pkt[300], ack[4];
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", wake_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    size_t n = wake_connect_packet(pkt, sizeof pkt);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || !n ||
        !wake_write_all(fd, pkt, n))
        goto fail;
    size_t got = 0;
    while (got < sizeof ack) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, 2000) <= 0)
            goto fail;
        ssize_t r = recv(fd, ack + got, sizeof ack - got, 0);
        if (r <= 0)
            goto fail;
        got += (size_t)r;
    }
    if (ack[0] != 0x20 || ack[1] != 2 || ack[3] != 0) /* CONNACK, accepted */
        goto fail;
    return fd;
fail:
    close(fd);
    return -1;
}

static void wake_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (!atomic_load(&wake_stop) && nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static void *wake_main(void *arg)
{
    (void)arg;
    int backoff = 20;
    bool logged = false;
    while (!atomic_load(&wake_stop)) {
        int fd = wake_connect();
        if (fd < 0) {
            /* The listener opens after the plugin is loaded: retry. */
            if (!logged && backoff >= 640) {
                /* Logged by the broker thread (wake__ticked): not from here. */
                atomic_store(&wake_warn, true);
                logged = true;
            }
            wake_sleep_ms(backoff);
            if (backoff < 1000)
                backoff *= 2;
            continue;
        }
        backoff = 20;
        logged = false;
        pthread_mutex_lock(&wake_lock);
        wake_fd = fd;
        pthread_mutex_unlock(&wake_lock);
        atomic_store(&wake_connected, true);
        /* Read and drop PINGRESPs; ping on our own when idle (keepalive). */
        int idle_polls = 0;
        while (!atomic_load(&wake_stop)) {
            struct pollfd pf = {.fd = fd, .events = POLLIN};
            int pr = poll(&pf, 1, 200);
            if (pr < 0 && errno != EINTR)
                break;
            if (pr > 0) {
                uint8_t buf[512];
                ssize_t r = recv(fd, buf, sizeof buf, 0);
                if (r <= 0)
                    break;
            }
            idle_polls = pr == 0 ? idle_polls + 1 : 0;
            if (idle_polls >= WAKE_KEEPALIVE_S * 5 / 2) { /* every 30 s */
                idle_polls = 0;
                atomic_store(&wake_pending, false);
                wake__kick();
            }
        }
        atomic_store(&wake_connected, false);
        pthread_mutex_lock(&wake_lock);
        wake_fd = -1;
        pthread_mutex_unlock(&wake_lock);
        close(fd);
    }
    return NULL;
}

void wake__kick(void)
{
    static const uint8_t pingreq[2] = {0xC0, 0x00};
    if (atomic_exchange(&wake_pending, true))
        return; /* one wake is outstanding already */
    pthread_mutex_lock(&wake_lock);
    if (wake_fd >= 0 && send(wake_fd, pingreq, sizeof pingreq, MSG_DONTWAIT | MSG_NOSIGNAL) == 2)
        atomic_fetch_add(&wake_sent, 1);
    /* On failure (not connected, buffer full) the idle tick still comes, and
     * clears the flag. */
    pthread_mutex_unlock(&wake_lock);
}

void wake__ticked(void)
{
    atomic_store(&wake_pending, false);
    if (atomic_load(&wake_warn) && atomic_exchange(&wake_warn, false))
        mosquitto_log_printf(MOSQ_LOG_WARNING,
                             "parley: cannot connect the wake client to %s; retrying "
                             "(completions wait for the idle tick meanwhile)",
                             wake_path);
}

int wake__start(const char *path)
{
    uint8_t raw[32];
    if (!path || !*path) {
        mosquitto_log_printf(MOSQ_LOG_WARNING,
                             "parley: no plugin_opt_wake_socket: receipts and deliveries wait for "
                             "mosquitto's idle tick (up to 100 ms)");
        return 0;
    }
    if (strlen(path) >= sizeof wake_path) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "parley: plugin_opt_wake_socket: path too long");
        return -1;
    }
    snprintf(wake_path, sizeof wake_path, "%s", path);
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(wake_secret, sizeof wake_secret, raw, sizeof raw);
    sodium_memzero(raw, sizeof raw);
    atomic_store(&wake_stop, false);
    if (pthread_create(&wake_thread, NULL, wake_main, NULL) != 0)
        return -1;
    wake_running = true;
    return 0;
}

void wake__stop(void)
{
    if (!wake_running)
        return;
    atomic_store(&wake_stop, true);
    pthread_join(wake_thread, NULL);
    wake_running = false;
    sodium_memzero(wake_secret, sizeof wake_secret);
}
