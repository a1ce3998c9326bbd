/*
 * cli_msg.c - looking up messages of the local history by seq and by
 * reference (cli_msg.h), and the short forms the CLI shows of them.
 */
#include "cli_msg.h"

#include <stdio.h>
#include <string.h>

/* Page size of the backwards search of cli_msg_find. */
#define FIND_PAGE 256

static void snippet(const char *text, size_t len, char *out, size_t outlen)
{
    size_t o = 0, chars = 0, i = 0;
    while (i < len && text[i] && chars < CLI_MSG_SNIPPET_CHARS) {
        unsigned char ch = (unsigned char)text[i];
        size_t n = ch < 0x80         ? 1
                   : (ch >> 5) == 6  ? 2
                   : (ch >> 4) == 14 ? 3
                   : (ch >> 3) == 30 ? 4
                                     : 1;
        if (i + n > len || o + n + 1 >= outlen)
            break;
        if (ch < 0x20 || ch == 0x7f ||
            (n == 2 && ch == 0xc2 && (unsigned char)text[i + 1] <= 0x9f)) /* C0, DEL, C1 */
            out[o++] = ' ';
        else
            for (size_t k = 0; k < n; k++)
                out[o++] = text[i + k];
        i += n;
        chars++;
    }
    if (i < len && text[i] && o + 4 < outlen) { /* cut: "…" (U+2026) */
        memcpy(out + o, "\xe2\x80\xa6", 3);
        o += 3;
    }
    out[o] = '\0';
}

void cli_msg_copy(const parley_message *m, cli_msg *out)
{
    memset(out, 0, sizeof *out);
    out->seq = m->seq;
    snprintf(out->sender, sizeof out->sender, "%s", m->sender ? m->sender : "");
    snprintf(out->client_msg_id, sizeof out->client_msg_id, "%s",
             m->client_msg_id ? m->client_msg_id : "");
    out->kind = m->kind;
    out->system = m->system;
    out->has_text = m->text_len > 0;
    out->has_media = m->media_id != NULL;
    if (m->text_len)
        snippet(m->text, m->text_len, out->snippet, sizeof out->snippet);
    else if (m->media_id)
        snprintf(out->snippet, sizeof out->snippet, "[file %.64s]",
                 m->media_name ? m->media_name : "");
}

typedef struct {
    uint64_t seq;
    const parley_msgref *ref;
    cli_msg *out;
    bool found;
    uint64_t min_seq;
    long n;
} find_ctx;

static int at_one(void *ud, const parley_message *m)
{
    find_ctx *f = ud;
    if (m->seq != f->seq)
        return 0;
    cli_msg_copy(m, f->out);
    f->found = true;
    return 1;
}

int cli_msg_at(parley_client *c, const char *chat_id, uint64_t seq, cli_msg *out)
{
    if (!seq)
        return PARLEY_ENOTFOUND;
    find_ctx f = {.seq = seq, .out = out};
    parley_history_query q = {.since_seq = seq - 1, .before_seq = seq + 1, .limit = 1};
    int rc = parley_history_find(c, chat_id, &q, at_one, &f);
    if (rc != PARLEY_OK)
        return rc;
    return f.found ? PARLEY_OK : PARLEY_ENOTFOUND;
}

static int find_one(void *ud, const parley_message *m)
{
    find_ctx *f = ud;
    f->n++;
    if (f->n == 1 || m->seq < f->min_seq)
        f->min_seq = m->seq;
    if (!m->sender || !m->client_msg_id || strcmp(m->sender, f->ref->sender) != 0 ||
        strcmp(m->client_msg_id, f->ref->client_msg_id) != 0)
        return 0;
    cli_msg_copy(m, f->out);
    f->found = true;
    return 1;
}

int cli_msg_find(parley_client *c, const char *chat_id, const parley_msgref *ref, cli_msg *out)
{
    if (!ref || !ref->sender || !ref->client_msg_id || !*ref->sender || !*ref->client_msg_id)
        return PARLEY_ENOTFOUND;
    /* Newest page first: a reply or an action usually names a recent message. */
    uint64_t before = 0;
    for (;;) {
        find_ctx f = {.ref = ref, .out = out};
        parley_history_query q = {.before_seq = before, .limit = FIND_PAGE};
        int rc = parley_history_find(c, chat_id, &q, find_one, &f);
        if (rc != PARLEY_OK)
            return rc;
        if (f.found)
            return PARLEY_OK;
        if (f.n < FIND_PAGE || f.min_seq <= 1)
            return PARLEY_ENOTFOUND;
        before = f.min_seq;
    }
}

const char *cli_msg_duration(uint32_t s, char *buf, size_t len)
{
    static const struct {
        uint32_t unit;
        const char *name;
    } units[] = {{86400, "day"}, {3600, "hour"}, {60, "minute"}, {1, "second"}};
    if (s == 0) {
        snprintf(buf, len, "off");
        return buf;
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (s % units[i].unit == 0) {
            uint32_t n = s / units[i].unit;
            snprintf(buf, len, "%u %s%s", n, units[i].name, n == 1 ? "" : "s");
            break;
        }
    return buf;
}
