/*
 * commands.c - the dispatch table of the `parley` command. Adding a command
 * is one row here plus its cmd_*.c file.
 */
#include "cli.h"

/* cmd_identity.c */
int cmd_init(cli_ctx *ctx, int argc, char **argv);
int cmd_token(cli_ctx *ctx, int argc, char **argv);
int cmd_safety_number(cli_ctx *ctx, int argc, char **argv);
int cmd_status(cli_ctx *ctx, int argc, char **argv);
int cmd_rotate_identity(cli_ctx *ctx, int argc, char **argv);
/* cmd_devices.c */
int cmd_link(cli_ctx *ctx, int argc, char **argv);
int cmd_devices(cli_ctx *ctx, int argc, char **argv);
int cmd_devices_approve(cli_ctx *ctx, int argc, char **argv);
int cmd_devices_remove(cli_ctx *ctx, int argc, char **argv);
/* cmd_messages.c */
int cmd_send(cli_ctx *ctx, int argc, char **argv);
int cmd_listen(cli_ctx *ctx, int argc, char **argv);
int cmd_read(cli_ctx *ctx, int argc, char **argv);
int cmd_chats(cli_ctx *ctx, int argc, char **argv);
int cmd_typing(cli_ctx *ctx, int argc, char **argv);
/* cmd_rich.c */
int cmd_react(cli_ctx *ctx, int argc, char **argv);
int cmd_edit(cli_ctx *ctx, int argc, char **argv);
int cmd_delete(cli_ctx *ctx, int argc, char **argv);
int cmd_timer(cli_ctx *ctx, int argc, char **argv);
/* cmd_history.c */
int cmd_history(cli_ctx *ctx, int argc, char **argv);
int cmd_search(cli_ctx *ctx, int argc, char **argv);
int cmd_export(cli_ctx *ctx, int argc, char **argv);
/* cmd_media.c */
int cmd_send_file(cli_ctx *ctx, int argc, char **argv);
int cmd_fetch(cli_ctx *ctx, int argc, char **argv);
/* cmd_groups.c */
int cmd_group_create(cli_ctx *ctx, int argc, char **argv);
int cmd_group_add(cli_ctx *ctx, int argc, char **argv);
int cmd_group_remove(cli_ctx *ctx, int argc, char **argv);
int cmd_group_promote(cli_ctx *ctx, int argc, char **argv);
int cmd_group_demote(cli_ctx *ctx, int argc, char **argv);
int cmd_group_leave(cli_ctx *ctx, int argc, char **argv);
int cmd_group_info(cli_ctx *ctx, int argc, char **argv);
int cmd_group_send(cli_ctx *ctx, int argc, char **argv);
int cmd_groups(cli_ctx *ctx, int argc, char **argv);

const cli_command cli_commands[] = {
    {"init", "USER [--invite TOKEN] [--json]",
     "create this home's identity and register it with "
     "the keyserver (an invite token from the operator when registration is by invitation; "
     "also $PARLEY_INVITE)",
     cmd_init},
    {"link", "USER [--name NAME] [--wait S] [--json]",
     "on a new home: become a device of USER; prints a link code and this device's key "
     "fingerprint, then waits (default 600 s) until the primary approves it",
     cmd_link},
    {"devices approve", "CODE [--json]",
     "on the primary device: add the device that printed CODE to the signed device list",
     cmd_devices_approve},
    {"devices remove", "DEVICE_ID [--json]",
     "on the primary device: remove a device (its tokens are refused at once)", cmd_devices_remove},
    {"devices", "[list] [--user USER] [--json]",
     "list the devices of this account (or of USER), verified against the account key",
     cmd_devices},
    {"token", "[--audience mqtt|keyserver|media] [--client-id ID] [--lifetime S] [--json]",
     "print an MQTT client id, user name and password (a fresh token)", cmd_token},
    {"status", "[--json]", "print this home's user, client id and outbox size", cmd_status},
    {"rotate-identity", "", "replace the identity key (signed by the old one); drops sessions",
     cmd_rotate_identity},
    {"safety-number", "USER [--json]", "print the safety number to compare with USER",
     cmd_safety_number},
    {"send", "CHAT TEXT [--reply SEQ] [--timeout S] [--json]",
     "send an encrypted message to a user or a group and wait for the stored receipt; "
     "--reply: as a reply to message SEQ; @user words naming members are mentions",
     cmd_send},
    {"react", "CHAT SEQ EMOJI|--remove [--timeout S] [--json]",
     "react to message SEQ with EMOJI (replaces your earlier reaction), or take it back",
     cmd_react},
    {"edit", "CHAT SEQ TEXT [--timeout S] [--json]",
     "replace the text of your message SEQ (within 15 minutes of sending it)", cmd_edit},
    {"delete", "CHAT SEQ [--timeout S] [--json]",
     "delete message SEQ for everyone (yours, or any in a group you administer; within 48 "
     "hours): every device removes it, the server its stored copy",
     cmd_delete},
    {"timer", "CHAT [off|24h|7d|90d|Ns] [--offline] [--timeout S] [--json]",
     "show or set the chat's disappearing-messages timer (a group's: admins only)", cmd_timer},
    {"listen", "[--count N] [--timeout S] [--json] [--read] [--presence USER[,USER...]]",
     "print incoming messages, receipts, typing and the presence of USERs (acks delivered; "
     "--read also acks read)",
     cmd_listen},
    {"typing", "USER|GROUP [--stop] [--timeout S]",
     "tell USER or GROUP that you are typing (--stop: that you stopped); never stored", cmd_typing},
    {"read", "CHAT [SEQ] [--timeout S] [--json]",
     "mark CHAT read up to SEQ (default: the last message; beyond it: refused)", cmd_read},
    {"chats", "[--offline] [--timeout S] [--json]", "list chats with last seq and cursors",
     cmd_chats},
    {"history",
     "CHAT [--limit N] [--before SEQ] [--since SEQ|2h|YYYY-MM-DD[THH:MM]] [--offline] "
     "[--timeout S] [--json]",
     "print a chat's messages from the local store after a sync: the newest N (default 50) "
     "before/after a seq or since a time, oldest first",
     cmd_history},
    {"search", "TEXT [--chat CHAT] [--limit N] [--offline] [--timeout S] [--json]",
     "find messages containing TEXT (case-insensitive) in the local history, newest N "
     "(default 50) shown oldest first",
     cmd_search},
    {"export", "CHAT [--output FILE] [--force] [--offline] [--timeout S]",
     "write a chat's whole local history as JSON (to stdout, or atomically to FILE; an "
     "existing FILE only with --force)",
     cmd_export},
    {"group create", "NAME [USER...] [--timeout S]",
     "create a group with these members; prints the group id on its last line", cmd_group_create},
    {"group add", "GROUP USER... [--timeout S]", "add members to a group", cmd_group_add},
    {"group remove", "GROUP USER... [--timeout S]", "remove members from a group",
     cmd_group_remove},
    {"group promote", "GROUP USER [--timeout S]", "make a member an admin", cmd_group_promote},
    {"group demote", "GROUP USER [--timeout S]", "make an admin a plain member", cmd_group_demote},
    {"group leave", "GROUP [--timeout S]", "leave a group", cmd_group_leave},
    {"group info", "GROUP [--json] [--timeout S]", "a group's name and members", cmd_group_info},
    {"group send", "GROUP TEXT [--reply SEQ] [--timeout S] [--json]",
     "send an encrypted message to a group (same as: send GROUP TEXT)", cmd_group_send},
    {"groups", "[--json] [--timeout S]", "list this user's groups", cmd_groups},
    {"send-file", "USER|GROUP PATH [--type CONTENT_TYPE] [--timeout S] [--json]",
     "encrypt and upload a file, send its reference, wait for the stored receipt", cmd_send_file},
    {"fetch", "MEDIA_OR_MESSAGE_ID [--out PATH]",
     "download, verify and decrypt the media of a received message", cmd_fetch},
};

const int cli_ncommands = (int)(sizeof cli_commands / sizeof cli_commands[0]);
