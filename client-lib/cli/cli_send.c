/*
 * cli_send.c - the part `send` and `send-file` share: queue one message,
 * connect, and wait (bounded) for its STORED receipt.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cli_render.h"

typedef struct {
    const char *cmd;
    const char *cmid;
    bool json;
    int done;      /* 1 stored, -1 rejected */
    char chat_id[160];
    unsigned long long seq;
    char server_id[64];
    char error[300];
} send_wait;

static void send_on_receipt(void *ud, const parley_receipt *r)
{
    send_wait *w = ud;
    if (!r->client_msg_id || strcmp(r->client_msg_id, w->cmid) != 0)
        return;
    if (r->status == PARLEY_RECEIPT_STORED) {
        w->done = 1;
        snprintf(w->chat_id, sizeof w->chat_id, "%s", r->chat_id);
        snprintf(w->server_id, sizeof w->server_id, "%s", r->server_id);
        w->seq = (unsigned long long)r->seq;
        if (w->json)
            cli_print_receipt(r, true);
    } else if (r->status == PARLEY_RECEIPT_REJECTED && r->will_retry) {
        fprintf(stderr, "parley: %s: the broker refused for now (%s: %s); retrying\n", w->cmd,
                r->error, r->error_message);
    } else if (r->status == PARLEY_RECEIPT_REJECTED) {
        w->done = -1;
        snprintf(w->error, sizeof w->error, "%s: %s", r->error, r->error_message);
    }
}

static void send_on_event(void *ud, const parley_event *e)
{
    (void)ud;
    if (e->type == PARLEY_EVENT_IDENTITY_CHANGED)
        cli_print_event(e, false);
}

/* A listener of this home may have received the receipt first: ask the outbox. */
static void send_check_outbox(parley_client *c, send_wait *w)
{
    uint64_t seq = 0;
    int st = parley_sent_status(c, w->cmid, &seq, w->server_id, sizeof w->server_id, w->chat_id,
                                sizeof w->chat_id);
    if (st == PARLEY_SENT_STORED) {
        w->done = 1;
        w->seq = (unsigned long long)seq;
        if (w->json)
            printf("{\"type\":\"receipt\",\"status\":\"stored\",\"chat_id\":\"%s\","
                   "\"seq\":%llu,\"server_id\":\"%s\",\"client_msg_id\":\"%s\"}\n",
                   w->chat_id, w->seq, w->server_id, w->cmid);
    } else if (st == PARLEY_SENT_UNKNOWN) {
        w->done = -1;
        snprintf(w->error, sizeof w->error, "%s",
                 "the message left the outbox without being stored (refused)");
    }
}

int cli_send_and_wait(parley_client *c, const char *cmd, const char *to, cli_queue_fn queue,
                      void *arg, long timeout_s, bool json, bool sync_first)
{
    char cmid[80] = "";
    int code = CLI_OK;
    send_wait w = {.cmd = cmd, .cmid = cmid, .json = json};
    parley_callbacks cb = {.on_receipt = send_on_receipt, .on_event = send_on_event, .ud = &w};
    parley_set_callbacks(c, &cb);
    int rc;
    /* Connect before queuing: a command that fails before sending (bad URL,
     * broker unreachable or refusing us) leaves nothing in the outbox, and
     * fails at the first refused attempt instead of retrying until the timeout. */
    int code0 = cli_connect(c, cmd, (int)timeout_s);
    if (code0 != CLI_OK)
        return code0;
    if (strncmp(to, "g:", 2) == 0) {
        /* Sync first, so that the group's member list is current (the
         * library would send to the members it knew last, even offline). */
        rc = parley_wait_synced(c, (int)timeout_s * 1000);
        if (rc == PARLEY_OK && sync_first)
            rc = parley_sync(c, (int)timeout_s * 1000);
        if (rc == PARLEY_OK)
            rc = queue(c, to, arg, cmid);
    } else {
        /* A message named by its seq may have arrived since the last sync. */
        rc = sync_first ? parley_sync(c, (int)timeout_s * 1000) : PARLEY_OK;
        if (rc == PARLEY_OK)
            rc = queue(c, to, arg, cmid); /* published at once: we are connected */
    }
    if (rc > 0) { /* the queue function printed its error */
        parley_disconnect(c);
        return rc - 1;
    }
    if (rc != PARLEY_OK) {
        code = cli_fail(c, rc, cmd);
        parley_disconnect(c);
        return code;
    }
    int64_t deadline = cli_now_ms() + (int64_t)timeout_s * 1000; /* monotonic */
    while (!w.done && cli_now_ms() < deadline) {
        rc = parley_poll(c, 200);
        if (rc < 0)
            return cli_fail(c, rc, cmd);
        if (!w.done)
            send_check_outbox(c, &w);
    }
    if (w.done == 1) {
        if (!json)
            printf("stored %s seq %llu id %s\n", w.chat_id, w.seq, w.server_id);
        /* What the send made the library ask the broker (a delete for
         * everyone's delete_message requests) is answered before we leave;
         * if not, the library keeps it and the next connection sends it. */
        int64_t left = deadline - cli_now_ms();
        rc = parley_flush(c, left > 1000 ? (int)left : 1000);
        if (rc != PARLEY_OK)
            fprintf(stderr,
                    "parley: %s: stored, but the broker has not answered every request yet "
                    "(%s); the next connection sends what is left\n",
                    cmd, parley_strerror(rc));
    } else if (w.done == -1) {
        code = cli_error(CLI_FAIL, "%s: rejected by the broker: %s", cmd, w.error);
    } else {
        const char *why = parley_last_error(c);
        code = cli_error(CLI_TIMEOUT,
                         "%s: no stored receipt after %ld s%s%s (the message stays in the "
                         "outbox and is retried by the next connection)",
                         cmd, timeout_s, *why ? ": " : "", why);
    }
    parley_disconnect(c);
    return code;
}
