/*
 * cmd_identity.c - init, token, safety-number.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Print one JSON object on a line and free it. */
static void print_obj(json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (s)
        puts(s);
    free(s);
    json_decref(o);
}

int cmd_init(cli_ctx *ctx, int argc, char **argv)
{
    int code = CLI_OK;
    bool json = false;
    const char *invite = NULL;
    cli_opt opts[] = {
        {"--json", 0, NULL, &json},
        {"--invite", 1, &invite, NULL},
    };
    int n = cli_parse("init", argc, argv, opts, (int)(sizeof opts / sizeof opts[0]));
    if (n != 1)
        return cli_usage("init");
    if (!invite)
        invite = getenv("PARLEY_INVITE");
    parley_client *c = cli_open(ctx, 1, &code);
    if (!c)
        return code;
    const char *existing = parley_user_id(c);
    if (existing && strcmp(existing, argv[0]) != 0) {
        code = cli_error(CLI_USAGE, "this home already holds the identity of %s", existing);
        goto done;
    }
    if (!existing) {
        int rc = parley_identity_create(c, argv[0]);
        if (rc != PARLEY_OK) {
            code = cli_fail(c, rc, "init");
            goto done;
        }
    }
    /* Registering again is harmless: it completes an earlier, interrupted init. */
    int rc = parley_register_invite(c, invite && *invite ? invite : NULL);
    if (rc != PARLEY_OK) {
        code = cli_fail(c, rc, "register");
        goto done;
    }
    if (json)
        print_obj(json_pack("{s:s, s:s, s:s}", "user", parley_user_id(c), "client_id",
                            parley_client_id(c), "home", parley_home(c)));
    else
        printf("%s registered (client id %s)\n", parley_user_id(c), parley_client_id(c));

done:
    parley_close(c);
    return code;
}

int cmd_token(cli_ctx *ctx, int argc, char **argv)
{
    const char *client_id = NULL, *lifetime = NULL, *audience = "mqtt";
    bool json = false;
    int code = CLI_OK;
    char token[1024];
    cli_opt opts[] = {
        {"--audience", 1, &audience, NULL},
        {"--client-id", 1, &client_id, NULL},
        {"--lifetime", 1, &lifetime, NULL},
        {"--json", 0, NULL, &json},
    };
    if (cli_parse("token", argc, argv, opts, 4) != 0)
        return cli_usage("token");
    long life = lifetime ? cli_number(lifetime) : 0;
    if (life < 0)
        return cli_error(CLI_USAGE, "token: --lifetime must be a number of seconds");
    parley_client *c = cli_open(ctx, 1, &code);
    if (!c)
        return code;
    if (!client_id)
        client_id = parley_client_id(c);
    int rc = parley_token(c, audience, client_id, (int)life, token, sizeof token);
    if (rc != PARLEY_OK) {
        code = cli_fail(c, rc, "token");
        goto done;
    }
    if (json) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "audience", audience, "client_id", client_id,
                              "username", parley_user_id(c), "password", token);
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
        if (s)
            puts(s);
        free(s);
        json_decref(o);
    } else {
        printf("audience:  %s\nclient id: %s\nusername:  %s\npassword:  %s\n", audience, client_id,
               parley_user_id(c), token);
    }

done:
    parley_close(c);
    return code;
}

int cmd_safety_number(cli_ctx *ctx, int argc, char **argv)
{
    int code = CLI_OK;
    char sn[128];
    bool json = false;
    cli_opt opts[] = {{"--json", 0, NULL, &json}};
    parley_client *c = cli_open_args(ctx, "safety-number", argc, argv, opts, 1, 1, &code);
    if (!c)
        return code;
    int rc = parley_safety_number(c, argv[0], sn, sizeof sn);
    if (rc != PARLEY_OK)
        code = cli_fail(c, rc, "safety-number");
    else if (json)
        print_obj(json_pack("{s:s, s:s, s:s}", "user", parley_user_id(c), "peer", argv[0],
                            "safety_number", sn));
    else
        printf("%s\n", sn);
    parley_close(c);
    return code;
}

int cmd_status(cli_ctx *ctx, int argc, char **argv)
{
    bool json = false;
    int code = CLI_OK;
    cli_opt opts[] = {{"--json", 0, NULL, &json}};
    parley_client *c = cli_open_args(ctx, "status", argc, argv, opts, 1, 0, &code);
    if (!c)
        return code;
    const char *user = parley_user_id(c);
    int outbox = parley_outbox_count(c);
    if (outbox < 0) {
        code = cli_error(CLI_FAIL, "status: cannot read the local store");
    } else if (json) {
        json_t *o = json_pack("{s:s?, s:s?, s:i, s:s?, s:b, s:I}", "user", user, "client_id",
                              parley_client_id(c), "outbox", outbox, "device_id",
                              parley_device_id(c), "primary", parley_is_primary(c), "skipped",
                              (json_int_t)parley_skipped_count(c));
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
        if (s)
            puts(s);
        free(s);
        json_decref(o);
    } else {
        printf("user:      %s\nclient id: %s\noutbox:    %d message(s) waiting for the broker\n",
               user ? user : "(none: run parley init USER)", user ? parley_client_id(c) : "-",
               outbox);
        if (user)
            printf("device:    %s (%s)\n", parley_device_id(c),
                   parley_is_primary(c) ? "primary" : "linked");
    }
    parley_close(c);
    return code;
}

int cmd_rotate_identity(cli_ctx *ctx, int argc, char **argv)
{
    int code = CLI_OK;
    parley_client *c = cli_open_args(ctx, "rotate-identity", argc, argv, NULL, 0, 0, &code);
    if (!c)
        return code;
    int rc = parley_identity_rotate(c);
    if (rc != PARLEY_OK)
        code = cli_fail(c, rc, "rotate-identity");
    else
        printf("%s has a new identity key; contacts will see a safety number change\n",
               parley_user_id(c));
    parley_close(c);
    return code;
}
