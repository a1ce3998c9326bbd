/*
 * cmd_groups.c - group create|add|remove|promote|demote|leave|info|send, groups.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "parley/group.h"

#define GROUP_TIMEOUT_S 30

/* Open, connect (transient) and wait until ready. NULL on failure (*code). */
static parley_client *connect_ready(cli_ctx *ctx, long t, int *code)
{
    parley_client *c = cli_open(ctx, 1, code);
    if (!c)
        return NULL;
    int rc = parley_connect(c);
    if (rc == PARLEY_OK)
        rc = parley_wait_synced(c, (int)t * 1000);
    if (rc != PARLEY_OK) {
        *code = cli_fail(c, rc, "connect");
        parley_close(c);
        return NULL;
    }
    return c;
}

/* GROUP: a g:... id, or the name of a group the (synced) local store knows.
 * Writes the id into argv[0]'s place (gid); returns a CLI_* code. */
static int group_arg(parley_client *c, const char *cmd, const char *arg, char *gid, size_t len)
{
    int code = cli_chat_resolve(c, cmd, arg, gid, len, NULL, 0);
    if (code == CLI_OK && strncmp(gid, "g:", 2) != 0)
        code = cli_error(CLI_USAGE,
                         "%s: invalid group id '%s' (a g:... id, or the name of a group this "
                         "home knows)",
                         cmd, arg);
    return code;
}

/* connect_ready, then GROUP (argv[0]) resolved into gid, which then takes
 * argv[0]'s place. NULL on failure (*code; the client is closed). */
static parley_client *connect_group(cli_ctx *ctx, const char *cmd, long t, char **argv, char *gid,
                                    size_t len, int *code)
{
    parley_client *c = connect_ready(ctx, t, code);
    if (!c)
        return NULL;
    *code = group_arg(c, cmd, argv[0], gid, len);
    if (*code != CLI_OK) {
        parley_disconnect(c);
        parley_close(c);
        return NULL;
    }
    argv[0] = gid;
    return c;
}

static int parse_timeout(const char *cmd, int *argc, char **argv, long *t, bool *json)
{
    const char *timeout = NULL;
    /* --json only for the commands that print JSON (json != NULL). */
    cli_opt opts[] = {{"--timeout", 1, &timeout, NULL}, {"--json", 0, NULL, json}};
    int n = cli_parse(cmd, *argc, argv, opts, json ? 2 : 1);
    if (n < 0)
        return -1;
    *t = timeout ? cli_number(timeout) : GROUP_TIMEOUT_S;
    if (*t <= 0) {
        cli_error(CLI_USAGE, "%s: --timeout must be a positive number of seconds", cmd);
        return -1;
    }
    *argc = n;
    return 0;
}

int cmd_group_create(cli_ctx *ctx, int argc, char **argv)
{
    long t;
    int code = CLI_OK;
    char chat_id[160];
    if (parse_timeout("group create", &argc, argv, &t, NULL) != 0 || argc < 1)
        return cli_usage("group create");
    parley_client *c = connect_ready(ctx, t, &code);
    if (!c)
        return code;
    int rc = parley_group_create(c, argv[0], (const char *const *)argv + 1, (size_t)argc - 1,
                                 chat_id, sizeof chat_id, (int)t * 1000);
    if (rc != PARLEY_OK)
        code = cli_fail(c, rc, "group create");
    else
        printf("created group \"%s\"\n%s\n", argv[0], chat_id);
    parley_disconnect(c);
    parley_close(c);
    return code;
}

static int members_cmd(cli_ctx *ctx, const char *name, int argc, char **argv, int add)
{
    long t;
    int code = CLI_OK;
    if (parse_timeout(name, &argc, argv, &t, NULL) != 0 || argc < 2)
        return cli_usage(name);
    char gid[160];
    parley_client *c = connect_group(ctx, name, t, argv, gid, sizeof gid, &code);
    if (!c)
        return code;
    const char *const *users = (const char *const *)argv + 1;
    int rc = add ? parley_group_add(c, argv[0], users, (size_t)argc - 1, (int)t * 1000)
                 : parley_group_remove(c, argv[0], users, (size_t)argc - 1, (int)t * 1000);
    if (rc != PARLEY_OK)
        code = cli_fail(c, rc, name);
    else
        printf("%s %d member(s) %s %s\n", add ? "added" : "removed", argc - 1, add ? "to" : "from",
               argv[0]);
    parley_disconnect(c);
    parley_close(c);
    return code;
}

int cmd_group_add(cli_ctx *ctx, int argc, char **argv)
{
    return members_cmd(ctx, "group add", argc, argv, 1);
}

int cmd_group_remove(cli_ctx *ctx, int argc, char **argv)
{
    return members_cmd(ctx, "group remove", argc, argv, 0);
}

static int role_cmd(cli_ctx *ctx, const char *name, int argc, char **argv, parley_role role)
{
    long t;
    int code = CLI_OK;
    if (parse_timeout(name, &argc, argv, &t, NULL) != 0 || argc != 2)
        return cli_usage(name);
    char gid[160];
    parley_client *c = connect_group(ctx, name, t, argv, gid, sizeof gid, &code);
    if (!c)
        return code;
    int rc = parley_group_set_role(c, argv[0], argv[1], role, (int)t * 1000);
    if (rc != PARLEY_OK)
        code = cli_fail(c, rc, name);
    else
        printf("%s is now %s of %s\n", argv[1], role == PARLEY_ROLE_ADMIN ? "an admin" : "a member",
               argv[0]);
    parley_disconnect(c);
    parley_close(c);
    return code;
}

int cmd_group_promote(cli_ctx *ctx, int argc, char **argv)
{
    return role_cmd(ctx, "group promote", argc, argv, PARLEY_ROLE_ADMIN);
}

int cmd_group_demote(cli_ctx *ctx, int argc, char **argv)
{
    return role_cmd(ctx, "group demote", argc, argv, PARLEY_ROLE_MEMBER);
}

int cmd_group_leave(cli_ctx *ctx, int argc, char **argv)
{
    long t;
    int code = CLI_OK;
    if (parse_timeout("group leave", &argc, argv, &t, NULL) != 0 || argc != 1)
        return cli_usage("group leave");
    char gid[160];
    parley_client *c = connect_group(ctx, "group leave", t, argv, gid, sizeof gid, &code);
    if (!c)
        return code;
    int rc = parley_group_leave(c, argv[0], (int)t * 1000);
    if (rc != PARLEY_OK)
        code = cli_fail(c, rc, "group leave");
    else
        printf("left %s\n", argv[0]);
    parley_disconnect(c);
    parley_close(c);
    return code;
}

static const char *role_name(parley_role r)
{
    switch (r) {
    case PARLEY_ROLE_OWNER: return "owner";
    case PARLEY_ROLE_ADMIN: return "admin";
    case PARLEY_ROLE_MEMBER: return "member";
    }
    return "unknown";
}

static void print_group(void *ud, const parley_group *g)
{
    bool json = *(bool *)ud;
    if (json) {
        json_t *members = json_array();
        for (size_t i = 0; i < g->n_members; i++)
            json_array_append_new(members, json_pack("{s:s, s:s}", "user_id", g->members[i].user_id,
                                                     "role", role_name(g->members[i].role)));
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:o}", "chat_id", g->chat_id, "name",
                              g->name, "description", g->description, "created_by", g->created_by,
                              "created_at", (json_int_t)g->created_at, "last_seq",
                              (json_int_t)g->last_seq, "members", members);
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
        if (s)
            puts(s);
        free(s);
        json_decref(o);
        return;
    }
    printf("%s  \"%s\"  (%zu members, last seq %llu)\n", g->chat_id, g->name, g->n_members,
           (unsigned long long)g->last_seq);
    for (size_t i = 0; i < g->n_members; i++)
        printf("  %-20s %s\n", g->members[i].user_id, role_name(g->members[i].role));
}

int cmd_group_info(cli_ctx *ctx, int argc, char **argv)
{
    long t;
    bool json = false;
    int code = CLI_OK;
    if (parse_timeout("group info", &argc, argv, &t, &json) != 0 || argc != 1)
        return cli_usage("group info");
    char gid[160];
    parley_client *c = connect_group(ctx, "group info", t, argv, gid, sizeof gid, &code);
    if (!c)
        return code;
    int rc = parley_group_info(c, argv[0], print_group, &json, (int)t * 1000);
    if (rc != PARLEY_OK)
        code = cli_fail(c, rc, "group info");
    parley_disconnect(c);
    parley_close(c);
    return code;
}

int cmd_groups(cli_ctx *ctx, int argc, char **argv)
{
    long t;
    bool json = false;
    int code = CLI_OK;
    if (parse_timeout("groups", &argc, argv, &t, &json) != 0 || argc != 0)
        return cli_usage("groups");
    parley_client *c = connect_ready(ctx, t, &code);
    if (!c)
        return code;
    int rc = parley_groups(c, print_group, &json, (int)t * 1000);
    if (rc != PARLEY_OK)
        code = cli_fail(c, rc, "groups");
    parley_disconnect(c);
    parley_close(c);
    return code;
}
