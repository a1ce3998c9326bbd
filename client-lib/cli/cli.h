/*
 * cli.h - the `parley` command-line client: shared context and helpers
 * (cli.c) and the command table (commands.c). Each command lives in a
 * cmd_*.c file and has the signature of cli_run_fn.
 *
 * Exit codes: 0 ok, 1 usage, 2 network / server refusal / TLS certificate
 * refused / local failure, 3 timeout. Errors go to stderr as one line "parley: ...".
 */
#ifndef PARLEY_CLI_H
#define PARLEY_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "parley/parley.h"

enum { CLI_OK = 0, CLI_USAGE = 1, CLI_FAIL = 2, CLI_TIMEOUT = 3 };

typedef struct cli_ctx cli_ctx;
typedef int (*cli_run_fn)(cli_ctx *ctx, int argc, char **argv);

typedef struct {
    const char *name;       /* "send", or "group create" (two words) */
    const char *args;       /* usage after the name */
    const char *summary;
    cli_run_fn run;         /* argv[0] is the first argument after the name */
} cli_command;

struct cli_ctx {
    parley_config cfg;      /* from the global options and the environment */
    const char *prog;
    const cli_command *cmd; /* the command being run */
};

extern const cli_command cli_commands[];
extern const int cli_ncommands;

/* ---- helpers (cli.c) ---- */

/* Print "parley: <fmt>" to stderr; returns code. */
int cli_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Map a parley_rc to an exit code, printing the client's last error. */
int cli_fail(parley_client *c, int rc, const char *what);
/* Usage of one command on stderr; returns CLI_USAGE. */
int cli_usage(const char *name);

/* Open the home (transient: see parley_config). Prints errors. NULL on failure
 * with *code set. */
parley_client *cli_open(cli_ctx *ctx, int transient, int *code);
/* Connect and wait until connected (bounded), failing at the first refused
 * or failed attempt (CLI_FAIL, "what: cannot connect to the broker: ...").
 * Returns an exit code. */
int cli_connect(parley_client *c, const char *what, int timeout_s);
/* cli_connect, then sync every chat (bounded). Returns an exit code. */
int cli_connect_synced(parley_client *c, int timeout_s);

/* history, chats, search, export: sync every chat before reading the local
 * store, unless offline. When the broker cannot be reached, warn on stderr
 * that the local copy is shown and return CLI_OK. Disconnects. */
int cli_sync_first(parley_client *c, const char *cmd, bool offline, long t);

/* ms since the epoch as local "YYYY-MM-DD HH:MM:SS" into buf ("-" for 0). */
const char *cli_time(int64_t ms, char *buf, size_t len);
/* --since: "30s", "15m", "2h", "7d" ago, or a local "YYYY-MM-DD[THH:MM[:SS]]";
 * ms since the epoch, or -1 if malformed. */
int64_t cli_parse_since(const char *s);

/* Option parsing: a tiny getopt for "--name VALUE" and "--flag". Options may
 * appear anywhere; positional arguments are compacted to the front of argv.
 * Returns the number of positional arguments or -1 (unknown option, printed). */
typedef struct {
    const char *name;   /* "--count" */
    int has_value;
    const char **value; /* set to the value (has_value) */
    bool *flag;         /* set to true (!has_value) */
} cli_opt;
int cli_parse(const char *cmd, int argc, char **argv, const cli_opt *opts, int nopts);
/* The start of a command that takes options OPTS and exactly NPOS positional
 * arguments: cli_parse, then cli_open (transient). NULL with *code set (the
 * usage on stderr for a wrong count or option, or the open's error). */
parley_client *cli_open_args(cli_ctx *ctx, const char *cmd, int argc, char **argv,
                             const cli_opt *opts, int nopts, int npos, int *code);
/* Parse a positive integer option; -1 if malformed. */
long cli_number(const char *s);

/* A chat argument (CHAT, or TO of send): a chat id (d:... of this user,
 * g:...), a user id (the direct chat), or the name of a group the local
 * store knows. A name that several groups have, or one group and a user this
 * home has a direct chat with, is refused with the ids to give instead.
 * chat_id (>= 141 bytes) receives the chat id; to (may be NULL; >= 141
 * bytes) what parley_send_* take: the peer's user id or the g:... id.
 * Prints the error ("cmd: ..."); returns a CLI_* exit code. */
int cli_chat_resolve(parley_client *c, const char *cmd, const char *arg, char *chat_id,
                     size_t chat_len, char *to, size_t to_len);

/* Monotonic milliseconds, for every deadline (wall-clock jumps must not end
 * or stretch a wait). */
int64_t cli_now_ms(void);

/* Queues one message to `to` (user or "g:" id) and writes its client message
 * id into cmid (80 bytes). Returns a PARLEY_* code. */
typedef int (*cli_queue_fn)(parley_client *c, const char *to, void *arg, char *cmid);
/* send / send-file / react / edit / delete / timer: connect, sync when
 * sync_first or `to` is a group (the member list and the messages named by
 * seq must be current), queue with `queue` (which may print its own error and
 * return 1 + a CLI_* code, see CLI_QUEUE_FAILED), then wait up to timeout_s
 * for the STORED receipt and print it ("stored CHAT seq N id ID", or a JSON
 * receipt). Disconnects; the caller closes c. Returns a CLI_* exit code. */
int cli_send_and_wait(parley_client *c, const char *cmd, const char *to, cli_queue_fn queue,
                      void *arg, long timeout_s, bool json, bool sync_first);
/* What a cli_queue_fn returns after printing its own error with exit code
 * `code` (a CLI_* code): a positive value, unlike every parley_rc. */
#define CLI_QUEUE_FAILED(code) (1 + (code))

extern volatile int cli_stop; /* set by SIGINT/SIGTERM */
void cli_install_signals(void);

#endif
