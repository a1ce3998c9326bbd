/*
 * cli_render.c - the CLI's output lines for messages, receipts, events,
 * presence and typing, human-readable or JSON (cli_render.h).
 */
#include "cli_render.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "cli_msg.h"

static void print_json(json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (s) {
        puts(s);
        free(s);
    }
    json_decref(o);
    fflush(stdout);
}

/* Print len bytes of a text a client wrote on one terminal line: a line
 * break as "↵", other control characters (C0 but tab, DEL, C1 - which a
 * terminal may take for an escape sequence) as "ï¿½" (U+FFFD). */
static void print_text(const char *t, size_t len)
{
    size_t run = 0; /* start of the bytes not written yet */
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)t[i];
        size_t n = 0; /* bytes to replace at i */
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            n = 1;
        else if (ch == 0xc2 && i + 1 < len && (unsigned char)t[i + 1] >= 0x80 &&
                 (unsigned char)t[i + 1] <= 0x9f)
            n = 2;
        if (!n)
            continue;
        fwrite(t + run, 1, i - run, stdout);
        fputs(ch == '\n' ? "\xe2\x86\xb5" : "\xef\xbf\xbd", stdout);
        i += n - 1;
        run = i + 1;
    }
    fwrite(t + run, 1, len - run, stdout);
}

static void print_str(const char *s)
{
    if (s)
        print_text(s, strlen(s));
}

/* Local time of now, for lines about something that carries no time. */
static const char *now_time(char *buf, size_t len)
{
    return cli_time((int64_t)time(NULL) * 1000, buf, len);
}

const char *cli_render_kind(parley_msg_kind k)
{
    switch (k) {
    case PARLEY_MSG_NORMAL: return "normal";
    case PARLEY_MSG_REACTION: return "reaction";
    case PARLEY_MSG_EDIT: return "edit";
    case PARLEY_MSG_DELETE: return "delete";
    case PARLEY_MSG_TIMER: return "timer";
    case PARLEY_MSG_UNSUPPORTED: return "unsupported";
    case PARLEY_MSG_DELETED: return "deleted";
    }
    return "unsupported";
}

static bool ref_set(const parley_msgref *r)
{
    return r->sender && *r->sender && r->client_msg_id && *r->client_msg_id;
}

static json_t *ref_json(parley_client *c, const char *chat_id, const parley_msgref *r)
{
    json_t *o = json_pack("{s:s, s:s}", "sender", r->sender, "client_msg_id", r->client_msg_id);
    cli_msg t;
    if (o && c && cli_msg_find(c, chat_id, r, &t) == PARLEY_OK)
        json_object_set_new(o, "seq", json_integer((json_int_t)t.seq));
    return o;
}

void cli_render_rich_json(parley_client *c, const parley_message *m, json_t *o)
{
    if (!o)
        return;
    json_object_set_new(o, "kind", json_string(cli_render_kind(m->kind)));
    if (ref_set(&m->reply_to))
        json_object_set_new(o, "reply_to", ref_json(c, m->chat_id, &m->reply_to));
    if (ref_set(&m->target))
        json_object_set_new(o, "target", ref_json(c, m->chat_id, &m->target));
    if (m->kind == PARLEY_MSG_REACTION)
        json_object_set_new(o, "emoji", json_string(m->emoji ? m->emoji : ""));
    if (m->kind == PARLEY_MSG_TIMER)
        json_object_set_new(o, "timer_s", json_integer(m->timer_s));
    if (m->expires_at)
        json_object_set_new(o, "expires_at", json_integer((json_int_t)m->expires_at));
    if (m->n_mentions && m->mentions) {
        json_t *a = json_array();
        for (size_t i = 0; a && i < m->n_mentions; i++)
            json_array_append_new(a, json_string(m->mentions[i]));
        json_object_set_new(o, "mentions", a);
    }
    if (m->mentioned)
        json_object_set_new(o, "mentioned", json_true());
    if (m->edited_at)
        json_object_set_new(o, "edited_at", json_integer((json_int_t)m->edited_at));
    if (m->deleted_by && *m->deleted_by)
        json_object_set_new(o, "deleted_by", json_string(m->deleted_by));
    if (m->n_reactions && m->reactions) {
        json_t *a = json_array();
        for (size_t i = 0; a && i < m->n_reactions; i++)
            json_array_append_new(a, json_pack("{s:s, s:s}", "user", m->reactions[i].user, "emoji",
                                               m->reactions[i].emoji));
        json_object_set_new(o, "reactions", a);
    }
}

/* " #SEQ" of the message r names, or " a message not held here". */
static void print_target(parley_client *c, const char *chat_id, const parley_msgref *r)
{
    cli_msg t;
    if (c && cli_msg_find(c, chat_id, r, &t) == PARLEY_OK)
        printf(" #%llu", (unsigned long long)t.seq);
    else
        printf(" a message not held here");
}

/* "[↪ #SEQ sender: first 40 characters] " of a reply. */
static void print_reply(parley_client *c, const parley_message *m)
{
    cli_msg t;
    if (!c || cli_msg_find(c, m->chat_id, &m->reply_to, &t) != PARLEY_OK) {
        printf("[\xe2\x86\xaa original not available] ");
        return;
    }
    printf("[\xe2\x86\xaa #%llu %s: %s] ", (unsigned long long)t.seq, t.sender,
           t.kind == PARLEY_MSG_DELETED ? "This message was deleted" : t.snippet);
}

static void print_json_message(parley_client *c, const parley_message *m)
{
    json_t *text = json_stringn(m->text, m->text_len);
    if (!text) /* not UTF-8: a peer's client is broken; say so rather than drop it */
        text = json_string("(text is not valid UTF-8)");
    json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:s, s:s, s:o, s:I}", "type",
                          m->system ? "system" : "message", "chat_id", m->chat_id, "seq",
                          (json_int_t)m->seq, "sender", m->sender, "server_id", m->server_id,
                          "client_msg_id", m->client_msg_id, "text", text, "ts",
                          (json_int_t)m->server_ts);
    if (o && m->own)
        json_object_set_new(o, "own", json_true()); /* sent by us from another device */
    if (o && m->sender_device && *m->sender_device)
        json_object_set_new(o, "sender_device", json_string(m->sender_device));
    if (o && m->media_id)
        json_object_set_new(o, "media",
                            json_pack("{s:s, s:s, s:s, s:I}", "media_id", m->media_id, "file_name",
                                      m->media_name, "content_type", m->media_type, "size",
                                      (json_int_t)m->media_size));
    if (!m->system)
        cli_render_rich_json(c, m, o);
    print_json(o);
}

void cli_print_message(parley_client *c, const parley_message *m, bool json)
{
    if (json) {
        print_json_message(c, m);
        return;
    }
    char when[32], dur[32];
    const char *me = m->own ? " (me, other device)" : "";
    printf("%s [%s #%llu] ", cli_time(m->server_ts, when, sizeof when), m->chat_id,
           (unsigned long long)m->seq);
    if (m->system) {
        printf("* %s: ", m->sender);
        print_text(m->text, m->text_len);
        putchar('\n');
        fflush(stdout);
        return;
    }
    switch (m->kind) {
    case PARLEY_MSG_REACTION:
        if (m->emoji && *m->emoji) {
            printf("%s%s reacted ", m->sender, me);
            print_str(m->emoji);
            printf(" to");
        } else {
            printf("%s%s removed the reaction to", m->sender, me);
        }
        print_target(c, m->chat_id, &m->target);
        break;
    case PARLEY_MSG_EDIT:
        printf("%s%s edited", m->sender, me);
        print_target(c, m->chat_id, &m->target);
        printf(": ");
        print_text(m->text, m->text_len);
        break;
    case PARLEY_MSG_DELETE:
        printf("%s%s deleted", m->sender, me);
        print_target(c, m->chat_id, &m->target);
        printf(" for everyone");
        break;
    case PARLEY_MSG_TIMER:
        if (m->timer_s)
            printf("* %s%s set disappearing messages to %s", m->sender, me,
                   cli_msg_duration(m->timer_s, dur, sizeof dur));
        else
            printf("* %s%s turned off disappearing messages", m->sender, me);
        break;
    case PARLEY_MSG_UNSUPPORTED:
        printf("%s%s: [unsupported message: a newer Parley can show it]", m->sender, me);
        break;
    case PARLEY_MSG_DELETED:
        printf("%s%s: This message was deleted", m->sender, me);
        if (m->deleted_by && *m->deleted_by && strcmp(m->deleted_by, m->sender) != 0)
            printf(" (by %s)", m->deleted_by);
        break;
    case PARLEY_MSG_NORMAL:
    default:
        printf("%s%s: ", m->sender, me);
        if (ref_set(&m->reply_to))
            print_reply(c, m);
        print_text(m->text, m->text_len);
        if (m->media_id) {
            printf("%s[file ", m->text_len ? " " : "");
            print_str(m->media_name);
            printf(", ");
            print_str(m->media_type);
            printf(", %llu bytes; media id ", (unsigned long long)m->media_size);
            print_str(m->media_id);
            printf("]");
        }
        if (m->edited_at)
            printf(" (edited)");
        if (m->n_reactions && m->reactions) {
            printf(" [");
            for (size_t i = 0; i < m->n_reactions; i++) {
                printf("%s", i ? ", " : "");
                print_str(m->reactions[i].emoji);
                printf(" %s", m->reactions[i].user);
            }
            printf("]");
        }
        break;
    }
    if (m->mentioned)
        printf(" (mentions you)");
    if (m->expires_at)
        printf(" (disappears %s)", cli_time(m->expires_at, when, sizeof when));
    putchar('\n');
    fflush(stdout);
}

static const char *receipt_name(parley_receipt_status s)
{
    switch (s) {
    case PARLEY_RECEIPT_STORED: return "stored";
    case PARLEY_RECEIPT_DELIVERED: return "delivered";
    case PARLEY_RECEIPT_READ: return "read";
    case PARLEY_RECEIPT_REJECTED: return "rejected";
    }
    return "unknown";
}

void cli_print_receipt(const parley_receipt *r, bool json)
{
    const char *status = receipt_name(r->status);
    if (json) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:I}", "type", "receipt", "status", status,
                              "chat_id", r->chat_id, "seq", (json_int_t)r->seq);
        if (o && *r->by)
            json_object_set_new(o, "by", json_string(r->by));
        if (o && *r->server_id)
            json_object_set_new(o, "server_id", json_string(r->server_id));
        if (o && *r->client_msg_id)
            json_object_set_new(o, "client_msg_id", json_string(r->client_msg_id));
        if (o && r->status == PARLEY_RECEIPT_REJECTED) {
            json_object_set_new(o, "error", json_string(r->error));
            json_object_set_new(o, "message", json_string(r->error_message));
        }
        if (o && r->all)
            json_object_set_new(o, "all", json_true());
        print_json(o);
        return;
    }
    char when[32];
    if (r->ts > 0)
        cli_time(r->ts, when, sizeof when);
    else
        now_time(when, sizeof when);
    if (r->status == PARLEY_RECEIPT_REJECTED)
        printf("%s [%s] rejected %s: %s %s\n", when, r->chat_id, r->client_msg_id, r->error,
               r->error_message);
    else if (*r->by)
        printf("%s [%s] %s up to #%llu by %s\n", when, r->chat_id, status,
               (unsigned long long)r->seq, r->by);
    else
        printf("%s [%s] %s #%llu\n", when, r->chat_id, status, (unsigned long long)r->seq);
    fflush(stdout);
}

void cli_print_event(const parley_event *e, bool json)
{
    char when[32];
    switch (e->type) {
    case PARLEY_EVENT_UNDECRYPTABLE:
        if (json)
            print_json(json_pack("{s:s, s:s, s:I, s:s, s:s}", "type", "undecryptable", "chat_id",
                                 e->chat_id, "seq", (json_int_t)e->seq, "sender", e->user, "error",
                                 e->detail));
        else
            printf("%s [%s #%llu] %s: (message could not be decrypted: %s)\n",
                   now_time(when, sizeof when), e->chat_id, (unsigned long long)e->seq, e->user,
                   e->detail);
        break;
    case PARLEY_EVENT_IDENTITY_CHANGED:
        if (json)
            print_json(json_pack("{s:s, s:s}", "type", "identity_changed", "user", e->user));
        else
            fprintf(stderr,
                    "parley: WARNING: the identity key of %s changed; compare the "
                    "safety number (parley safety-number %s)\n",
                    e->user, e->user);
        break;
    case PARLEY_EVENT_DEVICES_CHANGED:
        if (json)
            print_json(json_pack("{s:s, s:s, s:s}", "type", "devices_changed", "user", e->user,
                                 "detail", e->detail));
        else
            fprintf(stderr, "parley: NOTE: %s (parley devices list %s)\n", e->detail, e->user);
        break;
    case PARLEY_EVENT_DEVICES_FORGED:
        if (json)
            print_json(json_pack("{s:s, s:s, s:s}", "type", "devices_forged", "user", e->user,
                                 "detail", e->detail));
        else
            fprintf(stderr, "parley: WARNING: %s\n", e->detail);
        break;
    case PARLEY_EVENT_REFUSED:
        if (json)
            print_json(json_pack("{s:s, s:s, s:I, s:s, s:s}", "type", "refused", "chat_id",
                                 e->chat_id, "seq", (json_int_t)e->seq, "sender", e->user, "error",
                                 e->detail));
        else
            printf("%s [%s #%llu] %s: (ignored: %s)\n", now_time(when, sizeof when), e->chat_id,
                   (unsigned long long)e->seq, e->user, e->detail);
        break;
    case PARLEY_EVENT_SYNCED:
        if (json)
            print_json(json_pack("{s:s}", "type", "synced"));
        break;
    case PARLEY_EVENT_CONNECTED: break;
    case PARLEY_EVENT_DISCONNECTED:
        fprintf(stderr, "parley: disconnected (%s); reconnecting\n", e->detail);
        break;
    }
    fflush(stdout);
}

void cli_print_presence(const parley_presence *p, bool json)
{
    if (json)
        print_json(json_pack("{s:s, s:s, s:b, s:I}", "type", "presence", "user", p->user, "online",
                             p->online, "last_seen", (json_int_t)p->last_seen));
    else {
        char when[32];
        printf("[presence] %s is %s (%s %s)\n", p->user, p->online ? "online" : "offline",
               p->online ? "since" : "last seen", cli_time(p->last_seen, when, sizeof when));
    }
    fflush(stdout);
}

void cli_print_typing(const parley_typing *t, bool json)
{
    if (json) {
        print_json(json_pack("{s:s, s:s, s:s, s:b, s:I}", "type", "typing", "user", t->user,
                             "chat_id", t->chat_id, "typing", t->typing, "ts", (json_int_t)t->ts));
    } else {
        char when[32];
        printf("%s [%s] %s %s\n",
               t->ts > 0 ? cli_time(t->ts, when, sizeof when) : now_time(when, sizeof when),
               t->chat_id, t->user, t->typing ? "is typing..." : "stopped typing");
    }
    fflush(stdout);
}
