/*
 * cmd_devices.c - linked devices: link (on a new home), devices (list),
 * devices approve, devices remove (on the primary device).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void print_obj(json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (s)
        puts(s);
    free(s);
    json_decref(o);
}

int cmd_link(cli_ctx *ctx, int argc, char **argv)
{
    const char *name = NULL, *wait_s = NULL;
    bool json = false;
    int code = CLI_OK;
    char link_code[16], fpr[32];
    cli_opt opts[] = {
        {"--name", 1, &name, NULL},
        {"--wait", 1, &wait_s, NULL},
        {"--json", 0, NULL, &json},
    };
    if (cli_parse("link", argc, argv, opts, 3) != 1)
        return cli_usage("link");
    long wait = wait_s ? cli_number(wait_s) : 600;
    if (wait < 0 || wait > 3600)
        return cli_error(CLI_USAGE, "link: --wait takes 0 to 3600 seconds");
    parley_client *c = cli_open(ctx, 1, &code);
    if (!c)
        return code;
    int rc = parley_link(c, argv[0], name ? name : "", link_code, sizeof link_code, fpr,
                         sizeof fpr);
    if (rc != PARLEY_OK) {
        code = cli_fail(c, rc, "link");
        goto done;
    }
    if (json) {
        print_obj(json_pack("{s:s, s:s, s:s, s:s}", "type", "link_code", "code", link_code,
                            "device_id", parley_device_id(c), "fingerprint", fpr));
    } else {
        printf("link code %s\ndevice %s, key fingerprint %s\n", link_code, parley_device_id(c),
               fpr);
        printf("on the primary device of %s run: parley devices approve %s\n", argv[0], link_code);
    }
    fflush(stdout);
    rc = parley_link_wait(c, (int)wait * 1000);
    if (rc != PARLEY_OK) {
        code = cli_fail(c, rc, "link");
        goto done;
    }
    if (json)
        print_obj(json_pack("{s:s, s:s, s:s, s:s}", "type", "linked", "user", parley_user_id(c),
                            "device_id", parley_device_id(c), "client_id", parley_client_id(c)));
    else
        printf("linked: %s is now device %s of %s\n", parley_home(c), parley_device_id(c),
               parley_user_id(c));

done:
    parley_close(c);
    return code;
}

typedef struct {
    bool json;
    json_t *arr;
} list_ctx;

static void on_device(void *ud, const parley_device *d)
{
    list_ctx *l = ud;
    char when[32];
    if (l->json) {
        json_array_append_new(
            l->arr, json_pack("{s:s, s:s, s:I, s:s, s:b, s:b}", "device_id", d->device_id, "name",
                              d->name, "added_at", (json_int_t)d->added_at, "fingerprint",
                              d->fingerprint, "primary", d->primary, "self", d->self));
        return;
    }
    printf("%-14s %-20s %s  added %s%s%s\n", d->device_id[0] ? d->device_id : "(implicit)", d->name,
           d->fingerprint, cli_time(d->added_at, when, sizeof when), d->primary ? "  primary" : "",
           d->self ? "  (this device)" : "");
}

int cmd_devices(cli_ctx *ctx, int argc, char **argv)
{
    const char *user = NULL;
    bool json = false;
    int code = CLI_OK;
    uint64_t version = 0;
    cli_opt opts[] = {
        {"--user", 1, &user, NULL},
        {"--json", 0, NULL, &json},
    };
    int n = cli_parse("devices", argc, argv, opts, 2);
    if (n < 0 || n > 1 || (n == 1 && strcmp(argv[0], "list") != 0))
        return cli_usage("devices");
    parley_client *c = cli_open(ctx, 1, &code);
    if (!c)
        return code;
    list_ctx l = {json, json ? json_array() : NULL};
    int rc = parley_devices(c, user, on_device, &l, &version);
    if (rc != PARLEY_OK) {
        json_decref(l.arr);
        code = cli_fail(c, rc, "devices");
        goto done;
    }
    if (json)
        print_obj(json_pack("{s:s, s:I, s:o}", "user", user ? user : parley_user_id(c), "version",
                            (json_int_t)version, "devices", l.arr));
    else
        printf("device list version %llu%s\n", (unsigned long long)version,
               version == 0 ? " (implicit: never uploaded)" : "");

done:
    parley_close(c);
    return code;
}

int cmd_devices_approve(cli_ctx *ctx, int argc, char **argv)
{
    bool json = false;
    int code = CLI_OK;
    parley_device d;
    cli_opt opts[] = {{"--json", 0, NULL, &json}};
    parley_client *c = cli_open_args(ctx, "devices approve", argc, argv, opts, 1, 1, &code);
    if (!c)
        return code;
    int rc = parley_devices_approve(c, argv[0], &d);
    if (rc != PARLEY_OK) {
        code = cli_fail(c, rc, "devices approve");
        goto done;
    }
    if (json)
        print_obj(json_pack("{s:s, s:s, s:s}", "device_id", d.device_id, "name", d.name,
                            "fingerprint", d.fingerprint));
    else
        printf("approved device %s \"%s\", key fingerprint %s (compare it with what the new "
               "device printed)\n",
               d.device_id, d.name, d.fingerprint);

done:
    parley_close(c);
    return code;
}

int cmd_devices_remove(cli_ctx *ctx, int argc, char **argv)
{
    bool json = false;
    int code = CLI_OK;
    cli_opt opts[] = {{"--json", 0, NULL, &json}};
    parley_client *c = cli_open_args(ctx, "devices remove", argc, argv, opts, 1, 1, &code);
    if (!c)
        return code;
    int rc = parley_devices_remove(c, argv[0]);
    if (rc != PARLEY_OK) {
        code = cli_fail(c, rc, "devices remove");
        goto done;
    }
    if (json)
        print_obj(json_pack("{s:s}", "removed", argv[0]));
    else
        printf("removed device %s\n", argv[0]);

done:
    parley_close(c);
    return code;
}
