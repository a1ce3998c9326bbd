/*
 * cli_render.h - how the CLI shows what the library delivers: one line per
 * message, receipt, event, presence change or typing indicator, either
 * human-readable (starting with a local time) or one JSON object (--json).
 * Rich messages (docs/client.md, "Replies, reactions, edits, deletes,
 * timers"): a reply shows its original ("↪ #SEQ sender: first 40
 * characters", or "original not available"), an edited text "(edited)",
 * reactions "[👍 alice, ❤️ bob]", a deleted message "This message was
 * deleted", a timer change as an announcement, a mention "(mentions you)",
 * an unknown kind "[unsupported message: ...]".
 *
 * The client given (may be NULL: nothing is looked up) is used to read the
 * local history for a reply's original and an action's target.
 */
#ifndef PARLEY_CLI_RENDER_H
#define PARLEY_CLI_RENDER_H

#include <jansson.h>
#include <stdbool.h>

#include "parley/parley.h"

void cli_print_message(parley_client *c, const parley_message *m, bool json);
void cli_print_receipt(const parley_receipt *r, bool json);
void cli_print_event(const parley_event *e, bool json);
void cli_print_presence(const parley_presence *p, bool json);
void cli_print_typing(const parley_typing *t, bool json);

/* The name of a message kind in JSON ("normal", "reaction", "edit",
 * "delete", "timer", "unsupported", "deleted"). */
const char *cli_render_kind(parley_msg_kind k);

/* Add the rich-message fields of m to the JSON object o: "kind" always;
 * "reply_to" and "target" ({"sender","client_msg_id"} plus "seq" when the
 * message is held here), "emoji", "timer_s", "expires_at", "mentions",
 * "mentioned", "edited_at", "deleted_by", "reactions" ([{"user","emoji"}])
 * when they apply. */
void cli_render_rich_json(parley_client *c, const parley_message *m, json_t *o);

#endif
