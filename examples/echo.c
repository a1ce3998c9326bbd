/*
 * echo.c - a complete libparley program that uses the public API only
 * (<parley/parley.h>): it creates and registers an identity in its home if
 * there is none, connects, and either
 *
 *   parley-echo HOME USER PEER TEXT   sends TEXT to PEER, waits for the broker's
 *                                     STORED receipt and for PEER's reply, prints it;
 *   parley-echo HOME USER PEER        waits for a message from PEER, prints it and
 *                                     answers "echo: TEXT".
 *
 * Servers: PARLEY_MQTT_URL, PARLEY_KEYSERVER_URL (or the defaults of parley.h).
 * Build it against an installed libparley:
 *
 *   cc -o parley-echo echo.c $(pkg-config --cflags --libs parley)
 *
 * Exit status: 0 done, 1 usage or failure, 3 nothing arrived within 60 s.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime under -std=c11 */

#include <parley/parley.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WAIT_MS 60000

typedef struct {
    const char *peer;
    char cmid[80];   /* the client message id of our message, once sent */
    int stored;      /* its STORED receipt arrived */
    int rejected;    /* it was refused */
    char *got;       /* the first text from peer (malloc'd) */
} echo_state;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Callbacks run inside parley_poll(), on this thread. */
static void on_message(void *ud, const parley_message *m)
{
    echo_state *s = ud;
    if (m->system || strcmp(m->sender, s->peer) != 0 || s->got)
        return;
    s->got = malloc(m->text_len + 1);
    if (s->got) {
        memcpy(s->got, m->text, m->text_len);
        s->got[m->text_len] = '\0';
    }
}

static void on_receipt(void *ud, const parley_receipt *r)
{
    echo_state *s = ud;
    if (!s->cmid[0] || !r->client_msg_id || strcmp(r->client_msg_id, s->cmid) != 0)
        return;
    if (r->status == PARLEY_RECEIPT_STORED) {
        s->stored = 1;
        printf("stored %s seq %llu\n", r->chat_id, (unsigned long long)r->seq);
    } else if (r->status == PARLEY_RECEIPT_REJECTED && !r->will_retry) {
        s->rejected = 1;
        fprintf(stderr, "parley-echo: rejected: %s %s\n", r->error, r->error_message);
    }
}

static void on_event(void *ud, const parley_event *e)
{
    (void)ud;
    if (e->type == PARLEY_EVENT_UNDECRYPTABLE || e->type == PARLEY_EVENT_IDENTITY_CHANGED)
        fprintf(stderr, "parley-echo: %s: %s\n", e->user, e->detail);
}

/* Poll until *flag is set (or the message was refused), at most WAIT_MS. */
static int wait_until(parley_client *c, echo_state *s, int *flag, char **text)
{
    long long deadline = now_ms() + WAIT_MS;
    while (!(flag && *flag) && !(text && *text) && !s->rejected && now_ms() < deadline) {
        int rc = parley_poll(c, 200);
        if (rc < 0) {
            fprintf(stderr, "parley-echo: %s: %s\n", parley_strerror(rc), parley_last_error(c));
            return 1;
        }
    }
    if (s->rejected)
        return 1;
    return (flag && *flag) || (text && *text) ? 0 : 3;
}

static int fail(parley_client *c, int rc, const char *what)
{
    fprintf(stderr, "parley-echo: %s: %s%s%s\n", what, parley_strerror(rc),
            c && *parley_last_error(c) ? ": " : "", c ? parley_last_error(c) : "");
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: %s HOME USER PEER [TEXT]\n", argv[0]);
        return 1;
    }
    const char *user = argv[2];
    echo_state s = {.peer = argv[3]};
    parley_config cfg = {.home = argv[1]}; /* NULL server URLs: environment, defaults */
    parley_client *c = NULL;
    int code = 1;

    printf("libparley %s (headers %s)\n", parley_version(), PARLEY_VERSION);
    int rc = parley_open(&cfg, &c);
    if (rc != PARLEY_OK)
        return fail(NULL, rc, "open");
    if (!parley_user_id(c)) {
        rc = parley_identity_create(c, user);
        if (rc == PARLEY_OK)
            rc = parley_register(c);
        if (rc != PARLEY_OK) {
            code = fail(c, rc, "register");
            goto done;
        }
    } else if (strcmp(parley_user_id(c), user) != 0) {
        fprintf(stderr, "parley-echo: %s holds the identity of %s\n", argv[1], parley_user_id(c));
        goto done;
    }

    parley_callbacks cb = {.on_message = on_message,
                           .on_receipt = on_receipt,
                           .on_event = on_event,
                           .ud = &s};
    parley_set_callbacks(c, &cb);
    rc = parley_connect(c);
    if (rc == PARLEY_OK)
        rc = parley_wait_synced(c, WAIT_MS);
    if (rc != PARLEY_OK) {
        code = fail(c, rc, "connect");
        goto done;
    }
    printf("ready as %s\n", user);
    fflush(stdout);

    if (argc == 5) {
        rc = parley_send_text(c, s.peer, argv[4], s.cmid);
        if (rc != PARLEY_OK) {
            code = fail(c, rc, "send");
            goto done;
        }
        code = wait_until(c, &s, &s.stored, NULL);
        if (code == 0)
            code = wait_until(c, &s, NULL, &s.got);
        if (code == 0)
            printf("reply from %s: %s\n", s.peer, s.got);
    } else {
        code = wait_until(c, &s, NULL, &s.got);
        if (code == 0) {
            printf("got from %s: %s\n", s.peer, s.got);
            char reply[4096];
            snprintf(reply, sizeof reply, "echo: %s", s.got);
            rc = parley_send_text(c, s.peer, reply, s.cmid);
            code = rc == PARLEY_OK ? wait_until(c, &s, &s.stored, NULL) : fail(c, rc, "send");
        }
    }
    if (code == 3)
        fprintf(stderr, "parley-echo: nothing arrived within %d s\n", WAIT_MS / 1000);

done:
    free(s.got);
    parley_close(c); /* disconnects; unsent messages stay in the outbox */
    return code;
}
