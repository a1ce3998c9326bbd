/*
 * cli_msg.h - looking up messages of the local history for the CLI: the
 * message a user names by its SEQ (react, edit, delete, send --reply), and
 * the message a reference (parley_msgref: sender + client message id) points
 * at, to show a reply's original or an action's target by its seq.
 *
 * Reads the local store only (parley_history_find), never the network; the
 * caller syncs first when it needs the newest messages. Safe to call from a
 * parley callback (a read of the local store).
 */
#ifndef PARLEY_CLI_MSG_H
#define PARLEY_CLI_MSG_H

#include <stdbool.h>
#include <stdint.h>

#include "parley/parley.h"

/* Characters of a message's text shown after a reply's arrow. */
#define CLI_MSG_SNIPPET_CHARS 40

/* A copy of what the CLI needs of one message (the library's pointers are
 * valid only during its callback). */
typedef struct {
    uint64_t seq;
    char sender[65];        /* user ids are at most 64 characters */
    char client_msg_id[80]; /* as parley_send_text's buffer */
    parley_msg_kind kind;
    int system;             /* as parley_message.system */
    bool has_text;          /* a non-empty text or a media caption */
    bool has_media;
    /* the first CLI_MSG_SNIPPET_CHARS characters of the text (UTF-8), line
     * breaks and control characters as spaces, "…" when cut; "[file NAME]"
     * for a file without text */
    char snippet[CLI_MSG_SNIPPET_CHARS * 4 + 8];
} cli_msg;

/* The message #seq of chat_id as listed by parley_history_find. Returns
 * PARLEY_OK, PARLEY_ENOTFOUND (no such seq in the local history, or an
 * action - reaction, edit, delete - which history does not list), or the
 * library's error. */
int cli_msg_at(parley_client *c, const char *chat_id, uint64_t seq, cli_msg *out);

/* The message ref names in chat_id, searched from the newest backwards.
 * Returns PARLEY_OK, PARLEY_ENOTFOUND (not held here: expired, before this
 * device was linked, a forged reference) or the library's error. */
int cli_msg_find(parley_client *c, const char *chat_id, const parley_msgref *ref, cli_msg *out);

/* Fill out from m (e.g. inside a history walk). */
void cli_msg_copy(const parley_message *m, cli_msg *out);

/* "7 days", "24 hours", "90 seconds", "off" for a timer value. */
const char *cli_msg_duration(uint32_t seconds, char *buf, size_t len);

#endif
