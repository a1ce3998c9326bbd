/*
 * cmd_media.c - send-file and fetch (media messages, docs/media.md).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "parley/media.h"

#define MEDIA_TIMEOUT_S 30

typedef struct {
    const char *path;
    const char *type;
} file_arg;

static int queue_file(parley_client *c, const char *to, void *arg, char *cmid)
{
    const file_arg *f = arg;
    return parley_send_file(c, to, f->path, f->type, cmid);
}

/* Upload progress on stderr, only when it is a terminal: one line rewritten
 * at each new percent, ended once the upload is complete. */
typedef struct {
    int last_pct;
} progress_line;

static void show_progress(void *ud, uint64_t done, uint64_t total)
{
    progress_line *p = ud;
    int pct = (int)(done * 100 / total);
    if (pct == p->last_pct)
        return;
    p->last_pct = pct;
    fprintf(stderr, "\rsend-file: uploading %3d%% (%llu of %llu bytes)", pct,
            (unsigned long long)done, (unsigned long long)total);
    if (done >= total)
        fputc('\n', stderr);
    fflush(stderr);
}

int cmd_send_file(cli_ctx *ctx, int argc, char **argv)
{
    const char *timeout = NULL, *type = NULL;
    bool json = false;
    int code = CLI_OK;
    cli_opt opts[] = {{"--timeout", 1, &timeout, NULL},
                      {"--type", 1, &type, NULL},
                      {"--json", 0, NULL, &json}};
    if (cli_parse("send-file", argc, argv, opts, 3) != 2)
        return cli_usage("send-file");
    long t = timeout ? cli_number(timeout) : MEDIA_TIMEOUT_S;
    if (t < 0)
        return cli_error(CLI_USAGE, "send-file: --timeout must be a number of seconds");
    parley_client *c = cli_open(ctx, 1, &code);
    if (!c)
        return code;
    progress_line pl = {-1};
    if (isatty(STDERR_FILENO))
        parley_set_media_progress(c, show_progress, &pl);
    file_arg f = {.path = argv[1], .type = type};
    char chat_id[160], to[160];
    code = cli_chat_resolve(c, "send-file", argv[0], chat_id, sizeof chat_id, to, sizeof to);
    if (code == CLI_OK)
        code = cli_send_and_wait(c, "send-file", to, queue_file, &f, t, json, false);
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
