/*
 * cmd_media.c - send-file and fetch (media messages, docs/media.md).
 */
#include <stdio.h>
#include <string.h>
#include <stdint.h>

#include "cli.h"
#include "parley/media.h"

#define MEDIA_TIMEOUT_S 30

typedef struct {
    const char *cmid;
    int done;      /* 1 stored, -1 rejected */
    char chat_id[160];
    unsigned long long seq;
    char server_id[64];
    char error[300];
} media_wait;

static void media_on_receipt(void *ud, const parley_receipt *r)
{
    media_wait *w = ud;
    if (!r->client_msg_id || strcmp(r->client_msg_id, w->cmid) != 0)
        return;
    if (r->status == PARLEY_RECEIPT_STORED) {
        w->done = 1;
        snprintf(w->chat_id, sizeof w->chat_id, "%s", r->chat_id);
        snprintf(w->server_id, sizeof w->server_id, "%s", r->server_id);
        w->seq = (unsigned long long)r->seq;
    } else if (r->status == PARLEY_RECEIPT_REJECTED && !r->will_retry) {
        w->done = -1;
        snprintf(w->error, sizeof w->error, "%s: %s", r->error, r->error_message);
    }
}

int cmd_send_file(cli_ctx *ctx, int argc, char **argv)
{
    const char *timeout = NULL, *type = NULL;
    char cmid[80];
    int code = CLI_OK;
    cli_opt opts[] = {{"--timeout", 1, &timeout, NULL}, {"--type", 1, &type, NULL}};
    if (cli_parse("send-file", argc, argv, opts, 2) != 2)
        return cli_usage("send-file");
    long t = timeout ? cli_number(timeout) : MEDIA_TIMEOUT_S;
    if (t < 0)
        return cli_error(CLI_USAGE, "send-file: --timeout must be a number of seconds");
    parley_client *c = cli_open(ctx, 1, &code);
    if (!c)
        return code;
    media_wait w = {.cmid = cmid};
    parley_callbacks cb = {.on_receipt = media_on_receipt, .ud = &w};
    parley_set_callbacks(c, &cb);
    int rc;
    if (strncmp(argv[0], "g:", 2) == 0) {
        /* A group send needs the member list: connect first. */
        rc = parley_connect(c);
        if (rc == PARLEY_OK)
            rc = parley_wait_synced(c, (int)t * 1000);
        if (rc == PARLEY_OK)
            rc = parley_send_file(c, argv[0], argv[1], type, cmid);
    } else {
        rc = parley_send_file(c, argv[0], argv[1], type, cmid);
        if (rc == PARLEY_OK)
            rc = parley_connect(c);
    }
    if (rc != PARLEY_OK) {
        code = cli_fail(c, rc, "send-file");
        goto done;
    }
    int64_t deadline = cli_now_ms() + (int64_t)t * 1000; /* monotonic: immune to clock jumps */
    while (!w.done && cli_now_ms() < deadline) {
        rc = parley_poll(c, 200);
        if (rc < 0) {
            code = cli_fail(c, rc, "send-file");
            goto done;
        }
        /* A listener of this home may have received the receipt first. */
        if (!w.done) {
            uint64_t seq = 0;
            int st = parley_sent_status(c, cmid, &seq, w.server_id, sizeof w.server_id, w.chat_id,
                                       sizeof w.chat_id);
            if (st == PARLEY_SENT_STORED) {
                w.done = 1;
                w.seq = (unsigned long long)seq;
            } else if (st == PARLEY_SENT_UNKNOWN) {
                w.done = -1;
                snprintf(w.error, sizeof w.error, "%s",
                         "the message left the outbox without being stored (refused)");
            }
        }
    }
    if (w.done == 1)
        printf("stored %s seq %llu id %s\n", w.chat_id, w.seq, w.server_id);
    else if (w.done == -1)
        code = cli_error(CLI_FAIL, "send-file: rejected by the broker: %s", w.error);
    else
        code = cli_error(CLI_TIMEOUT, "send-file: no stored receipt after %ld s (the message stays "
                                      "in the outbox and is retried by the next connection)", t);
    parley_disconnect(c);
done:
    parley_close(c);
    return code;
}

int cmd_fetch(cli_ctx *ctx, int argc, char **argv)
{
    const char *out = NULL;
    char saved[4096];
    int code = CLI_OK;
    cli_opt opts[] = {{"--out", 1, &out, NULL}};
    if (cli_parse("fetch", argc, argv, opts, 1) != 1)
        return cli_usage("fetch");
    parley_client *c = cli_open(ctx, 1, &code);
    if (!c)
        return code;
    int rc = parley_fetch_media(c, argv[0], out, saved, sizeof saved);
    if (rc != PARLEY_OK)
        code = cli_fail(c, rc, "fetch");
    else
        printf("saved %s\n", saved);
    parley_close(c);
    return code;
}
