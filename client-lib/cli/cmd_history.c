/*
 * cmd_history.c - history, search and export: the local decrypted history
 * (parley_history_find), after a sync unless --offline.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cli_render.h"

#define DEFAULT_TIMEOUT_S 30
#define DEFAULT_LIMIT 50

/* A seq argument: digits only, > 0. 0 if malformed. */
static uint64_t seq_arg(const char *s)
{
    char *end = NULL;
    if (!s || *s < '0' || *s > '9')
        return 0;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    return errno || *end ? 0 : (uint64_t)v;
}

static bool all_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

typedef struct {
    parley_client *c; /* for a reply's original */
    bool json;
    long printed;
} print_ctx;

/* One line per message, as listen prints them; undecryptable ones marked. */
static int print_one(void *ud, const parley_message *m)
{
    print_ctx *p = ud;
    p->printed++;
    if (m->system < 0) {
        if (p->json) {
            json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:s, s:I}", "type", "undecryptable",
                                  "chat_id", m->chat_id, "seq", (json_int_t)m->seq, "sender",
                                  m->sender, "server_id", m->server_id, "ts",
                                  (json_int_t)m->server_ts);
            char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
            if (s)
                puts(s);
            free(s);
            json_decref(o);
        } else {
            char when[32];
            printf("%s [%s #%llu] %s: (message could not be decrypted)\n",
                   cli_time(m->server_ts, when, sizeof when), m->chat_id,
                   (unsigned long long)m->seq, m->sender);
        }
        return 0;
    }
    cli_print_message(p->c, m, p->json);
    return 0;
}

/* Options shared by the three commands. */
typedef struct {
    const char *timeout;
    bool offline;
    bool json;
    long t;
} common_opts;

static int open_synced(cli_ctx *ctx, const char *cmd, const common_opts *o, const char *chat_arg,
                       char *chat_id, size_t chat_len, parley_client **out)
{
    int code = CLI_OK;
    parley_client *c = cli_open(ctx, 1, &code);
    if (!c)
        return code;
    /* Sync first: a group this home has not heard of yet gets its name. */
    code = cli_sync_first(c, cmd, o->offline, o->t);
    if (code == CLI_OK && chat_arg)
        code = cli_chat_resolve(c, cmd, chat_arg, chat_id, chat_len, NULL, 0);
    if (code != CLI_OK) {
        parley_close(c);
        return code;
    }
    *out = c;
    return CLI_OK;
}

/* ---- history ------------------------------------------------------------- */

int cmd_history(cli_ctx *ctx, int argc, char **argv)
{
    common_opts co = {0};
    const char *limit = NULL, *since = NULL, *before = NULL;
    char chat_id[160];
    cli_opt opts[] = {
        {"--timeout", 1, &co.timeout, NULL}, {"--json", 0, NULL, &co.json},
        {"--offline", 0, NULL, &co.offline}, {"--limit", 1, &limit, NULL},
        {"--since", 1, &since, NULL},        {"--before", 1, &before, NULL},
    };
    if (cli_parse("history", argc, argv, opts, 6) != 1)
        return cli_usage("history");
    co.t = co.timeout ? cli_number(co.timeout) : DEFAULT_TIMEOUT_S;
    if (co.t < 0)
        return cli_error(CLI_USAGE, "history: --timeout must be a number of seconds");
    long lim = limit ? cli_number(limit) : DEFAULT_LIMIT;
    if (lim <= 0)
        return cli_error(CLI_USAGE, "history: --limit must be a positive number of messages");
    parley_history_query q = {.limit = (uint64_t)lim};
    if (before && !(q.before_seq = seq_arg(before)))
        return cli_error(CLI_USAGE, "history: --before wants a seq (a positive number), not '%s'",
                         before);
    if (since && all_digits(since)) {
        q.since_seq = seq_arg(since);
        if (!q.since_seq && strspn(since, "0") != strlen(since))
            return cli_error(CLI_USAGE, "history: --since %s: seq out of range", since);
    } else if (since && (q.since_ts = cli_parse_since(since)) < 0) {
        return cli_error(CLI_USAGE,
                         "history: --since wants a seq, 30s, 15m, 2h, 7d or "
                         "YYYY-MM-DD[THH:MM[:SS]] (local time), not '%s'",
                         since);
    }
    parley_client *c = NULL;
    int code = open_synced(ctx, "history", &co, argv[0], chat_id, sizeof chat_id, &c);
    if (code != CLI_OK)
        return code;
    print_ctx p = {.c = c, .json = co.json};
    int rc = parley_history_find(c, chat_id, &q, print_one, &p);
    if (rc != PARLEY_OK)
        code = cli_fail(c, rc, "history");
    parley_close(c);
    return code;
}

/* ---- search -------------------------------------------------------------- */

int cmd_search(cli_ctx *ctx, int argc, char **argv)
{
    common_opts co = {0};
    const char *limit = NULL, *chat = NULL;
    char chat_id[160];
    cli_opt opts[] = {
        {"--timeout", 1, &co.timeout, NULL}, {"--json", 0, NULL, &co.json},
        {"--offline", 0, NULL, &co.offline}, {"--limit", 1, &limit, NULL},
        {"--chat", 1, &chat, NULL},
    };
    if (cli_parse("search", argc, argv, opts, 5) != 1)
        return cli_usage("search");
    if (!*argv[0])
        return cli_error(CLI_USAGE, "search: the text to look for is empty");
    co.t = co.timeout ? cli_number(co.timeout) : DEFAULT_TIMEOUT_S;
    if (co.t < 0)
        return cli_error(CLI_USAGE, "search: --timeout must be a number of seconds");
    long lim = limit ? cli_number(limit) : DEFAULT_LIMIT;
    if (lim <= 0)
        return cli_error(CLI_USAGE, "search: --limit must be a positive number of messages");
    parley_client *c = NULL;
    int code = open_synced(ctx, "search", &co, chat, chat_id, sizeof chat_id, &c);
    if (code != CLI_OK)
        return code;
    parley_history_query q = {.text = argv[0], .limit = (uint64_t)lim};
    print_ctx p = {.c = c, .json = co.json};
    int rc = parley_history_find(c, chat ? chat_id : NULL, &q, print_one, &p);
    if (rc != PARLEY_OK)
        code = cli_fail(c, rc, "search");
    else if (!p.printed && !co.json)
        fprintf(stderr, "parley: search: no message contains '%s'\n", argv[0]);
    parley_close(c);
    return code;
}

/* ---- export -------------------------------------------------------------- */

typedef struct {
    parley_client *c;
    FILE *f;
    const char *me;
    long n;
    int err;
} export_ctx;

static int export_one(void *ud, const parley_message *m)
{
    export_ctx *x = ud;
    const char *type = m->system < 0 ? "undecryptable" : m->system ? "system" : "message";
    json_t *o = json_pack("{s:s, s:I, s:s, s:s, s:s, s:I, s:b}", "type", type, "seq",
                          (json_int_t)m->seq, "server_id", m->server_id, "sender", m->sender,
                          "client_msg_id", m->client_msg_id, "server_ts", (json_int_t)m->server_ts,
                          "own", strcmp(m->sender, x->me) == 0);
    if (!o) {
        x->err = ENOMEM;
        return 1;
    }
    if (m->sender_device && *m->sender_device)
        json_object_set_new(o, "sender_device", json_string(m->sender_device));
    if (m->system >= 0) {
        json_t *text = json_stringn(m->text, m->text_len);
        if (text) {
            json_object_set_new(o, "text", text);
        } else { /* not UTF-8 (a broken peer client): keep the bytes, say so */
            json_t *bytes = json_array();
            for (size_t i = 0; bytes && i < m->text_len; i++)
                json_array_append_new(bytes, json_integer((unsigned char)m->text[i]));
            json_object_set_new(o, "text", json_null());
            json_object_set_new(o, "text_bytes", bytes);
        }
    }
    if (m->media_id) /* the reference's metadata; never its key */
        json_object_set_new(o, "media",
                            json_pack("{s:s, s:s, s:s, s:I}", "media_id", m->media_id, "file_name",
                                      m->media_name, "content_type", m->media_type, "size",
                                      (json_int_t)m->media_size));
    if (m->system == 0) /* kind, reply_to, edited_at, deleted_by, reactions, expires_at, ... */
        cli_render_rich_json(x->c, m, o);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!s) {
        x->err = ENOMEM;
        return 1;
    }
    if (fprintf(x->f, "%s\n    %s", x->n ? "," : "", s) < 0)
        x->err = errno ? errno : EIO;
    free(s);
    x->n++;
    return x->err != 0;
}

/* Write the chat to f: {"chat_id", "user", "exported_at", "messages": [...]}. */
static int export_to(parley_client *c, const char *chat_id, FILE *f, export_ctx *x)
{
    json_t *jc = json_string(chat_id), *jme = json_string(parley_user_id(c));
    char *cid = jc ? json_dumps(jc, JSON_ENCODE_ANY) : NULL;
    char *user = jme ? json_dumps(jme, JSON_ENCODE_ANY) : NULL;
    json_decref(jc);
    json_decref(jme);
    int rc = PARLEY_ENOMEM;
    if (cid && user) {
        fprintf(f,
                "{\n  \"chat_id\": %s,\n  \"user\": %s,\n  \"exported_at\": %lld,\n"
                "  \"messages\": [",
                cid, user, (long long)time(NULL) * 1000);
        parley_history_query q = {0};
        rc = parley_history_find(c, chat_id, &q, export_one, x);
        fprintf(f, "%s]\n}\n", x->n ? "\n  " : "");
    }
    free(cid);
    free(user);
    return rc;
}

int cmd_export(cli_ctx *ctx, int argc, char **argv)
{
    common_opts co = {0};
    const char *output = NULL;
    bool force = false;
    char chat_id[160];
    cli_opt opts[] = {
        {"--timeout", 1, &co.timeout, NULL},
        {"--offline", 0, NULL, &co.offline},
        {"--output", 1, &output, NULL},
        {"--force", 0, NULL, &force},
    };
    if (cli_parse("export", argc, argv, opts, 4) != 1)
        return cli_usage("export");
    co.t = co.timeout ? cli_number(co.timeout) : DEFAULT_TIMEOUT_S;
    if (co.t < 0)
        return cli_error(CLI_USAGE, "export: --timeout must be a number of seconds");
    if (output && !*output)
        return cli_error(CLI_USAGE, "export: --output wants a file name");
    struct stat sb;
    if (output && !force && lstat(output, &sb) == 0) /* checked again when linking */
        return cli_error(CLI_FAIL, "export: %s exists (--force replaces it)", output);

    parley_client *c = NULL;
    int code = open_synced(ctx, "export", &co, argv[0], chat_id, sizeof chat_id, &c);
    if (code != CLI_OK)
        return code;
    export_ctx x = {.c = c, .me = parley_user_id(c)};
    if (!output) {
        x.f = stdout;
        int rc = export_to(c, chat_id, stdout, &x);
        if (rc != PARLEY_OK)
            code = cli_fail(c, rc, "export");
        else if (x.err || fflush(stdout) != 0)
            code = cli_error(CLI_FAIL, "export: cannot write: %s", strerror(x.err ? x.err : errno));
        parley_close(c);
        return code;
    }

    /* A temporary file (mode 0600: decrypted history) beside the target,
     * flushed to disk, then linked (no --force: refuses an existing file
     * atomically) or renamed (--force) into place. */
    size_t tl = strlen(output) + 16;
    char *tmp = malloc(tl);
    FILE *f = NULL;
    int fd = -1;
    if (!tmp) {
        code = cli_error(CLI_FAIL, "export: out of memory");
        goto done;
    }
    snprintf(tmp, tl, "%s.tmp.XXXXXX", output);
    fd = mkstemp(tmp);
    if (fd < 0 || !(f = fdopen(fd, "w"))) {
        code = cli_error(CLI_FAIL, "export: cannot create %s: %s", tmp, strerror(errno));
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        goto done;
    }
    x.f = f;
    int rc = export_to(c, chat_id, f, &x);
    int werr = x.err;
    if (!werr && (fflush(f) != 0 || fsync(fileno(f)) != 0))
        werr = errno;
    if (fclose(f) != 0 && !werr)
        werr = errno;
    if (rc != PARLEY_OK || werr) {
        unlink(tmp);
        code = rc != PARLEY_OK
                   ? cli_fail(c, rc, "export")
                   : cli_error(CLI_FAIL, "export: cannot write %s: %s", tmp, strerror(werr));
        goto done;
    }
    if (force ? rename(tmp, output) != 0 : link(tmp, output) != 0) {
        int e = errno;
        unlink(tmp);
        code = e == EEXIST
                   ? cli_error(CLI_FAIL, "export: %s exists (--force replaces it)", output)
                   : cli_error(CLI_FAIL, "export: cannot write %s: %s", output, strerror(e));
        goto done;
    }
    if (!force)
        unlink(tmp);
    fprintf(stderr, "parley: export: %ld messages of %s written to %s\n", x.n, chat_id, output);

done:
    free(tmp);
    parley_close(c);
    return code;
}
