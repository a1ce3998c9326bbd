/*
 * parley_admin.c - `parley-admin`, the operator's command line.
 *
 *   parley-admin migrate --from URI --to URI [--page N]
 *       Copy every record of one store into another (migrate.h), e.g.
 *       --from sqlite:/var/lib/parley/parley.db --to mongodb://db:27017/parley
 *       Prints one line of counts per kind of record. Exit status: 0 all
 *       copied or already present, 1 some records refused or the copy
 *       stopped on a backend error, 2 bad usage.
 *
 *   parley-admin users|groups|invite ...
 *       Administer users, groups and registration invites (admin.h).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "migrate.h"
#include "store.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: parley-admin migrate --from URI --to URI [--page N]\n"
            "%s"
            "       parley-admin help | --help | -h | --version\n"
            "URIs: sqlite:PATH or mongodb://HOST[:PORT]/DB[?options]\n"
            "--page N  records per page and per target transaction (default 500)\n"
            "%s",
            admin_usage, admin_usage_options);
}

static int cmd_migrate(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"from", required_argument, NULL, 'f'},
        {"to", required_argument, NULL, 't'},
        {"page", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *from = NULL, *to = NULL;
    migrate_options mo = {0};
    migrate_stats st;
    store_t *src = NULL, *dst = NULL;
    char err[512];
    int c, rc, status = 1;
    char *end;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'f': from = optarg; break;
        case 't': to = optarg; break;
        case 'p':
            mo.page = strtoul(optarg, &end, 10);
            if (*end || mo.page == 0 || mo.page > 10000) {
                fprintf(stderr, "parley-admin: --page wants a number from 1 to 10000\n");
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!from || !to || optind != argc) {
        fprintf(stderr, "parley-admin migrate: --from and --to are required\n");
        usage(stderr);
        return 2;
    }
    if (strcmp(from, to) == 0) {
        fprintf(stderr, "parley-admin migrate: --from and --to name the same store\n");
        return 2;
    }
    /* The source is only read: a mistyped path must not become an empty store. */
    store_options ro = {.read_only = 1};
    if ((rc = store_open(from, &ro, &src)) != STORE_OK) {
        fprintf(stderr, "parley-admin: cannot open source %s: %s: %s\n", from, store_strerror(rc),
                store_last_error(NULL));
        goto done;
    }
    if ((rc = store_open(to, NULL, &dst)) != STORE_OK) {
        fprintf(stderr, "parley-admin: cannot open target %s: %s: %s\n", to, store_strerror(rc),
                store_last_error(NULL));
        goto done;
    }
    rc = migrate_run(src, dst, &mo, &st, err, sizeof err);
    printf("%-18s %10s %10s %10s\n", "kind", "copied", "skipped", "failed");
    for (int k = 0; k < MIGRATE_KIND_COUNT; k++)
        printf("%-18s %10zu %10zu %10zu\n", migrate_kind_name((migrate_kind)k), st.copied[k],
               st.skipped[k], st.failed[k]);
    if (rc != STORE_OK) {
        fprintf(stderr, "parley-admin: migration %s: %s\n",
                rc == STORE_EINVAL ? "incomplete" : "stopped", err);
        if (rc != STORE_EINVAL)
            fprintf(stderr, "parley-admin: fix the cause and run the same command again; "
                            "records already copied are skipped\n");
        goto done;
    }
    printf("migration complete\n");
    status = 0;
done:
    store_close(src);
    store_close(dst);
    return status;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "migrate") == 0)
        return cmd_migrate(argc - 1, argv + 1);
    if (strcmp(argv[1], "users") == 0)
        return admin_users(argc - 1, argv + 1);
    if (strcmp(argv[1], "groups") == 0)
        return admin_groups(argc - 1, argv + 1);
    if (strcmp(argv[1], "invite") == 0)
        return admin_invite(argc - 1, argv + 1);
    if (strcmp(argv[1], "--version") == 0) {
        printf("parley-admin %s\n", PARLEY_PROJECT_VERSION);
        return 0;
    }
    if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "parley-admin: unknown command \"%s\"\n", argv[1]);
    usage(stderr);
    return 2;
}
