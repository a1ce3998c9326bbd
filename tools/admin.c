/*
 * admin.c - parley-admin users | groups | invite (admin.h).
 *
 * Changes go to the store only; the servers learn them from there: the
 * broker plugin at its next key refresh (plugin_opt_key_refresh_ms, on
 * every node), the keyserver and the media gateway at the next request.
 * Group deletions are the exception: a broker node keeps its in-memory
 * group model until it restarts (docs/operations.md "Administration").
 */
#include "admin.h"

#include "ids.h"
#include "store.h"

#include <errno.h>
#include <getopt.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define PAGE 500

const char admin_usage[] =
    "       parley-admin users list [--status active|disabled|deleted] [--store URI]\n"
    "       parley-admin users show|disable|enable USER [--store URI]\n"
    "       parley-admin users delete USER --yes [--store URI]\n"
    "       parley-admin groups list [--store URI]\n"
    "       parley-admin groups show|delete GROUP [--yes] [--store URI]\n"
    "       parley-admin invite [create] [--ttl DURATION] [--count N] [--note TEXT]"
    " [--store URI]\n"
    "       parley-admin invite list|revoke [INVITE_ID] [--store URI]\n";
const char admin_usage_options[] =
    "--store URI  the store (default: $PARLEY_STORE); DURATION: N[s|m|h|d] (default 7d)\n";

/* Options shared by the commands; positional words land in words[]. */
typedef struct {
    const char *store;
    const char *status;
    const char *note;
    const char *ttl;
    const char *count;
    bool yes;
    const char *words[3];
    int n_words;
} admin_args;

static int parse(int argc, char **argv, admin_args *a)
{
    static const struct option longopts[] = {
        {"store", required_argument, NULL, 's'}, {"status", required_argument, NULL, 'S'},
        {"note", required_argument, NULL, 'n'},  {"ttl", required_argument, NULL, 't'},
        {"count", required_argument, NULL, 'c'}, {"yes", no_argument, NULL, 'y'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
    };
    int c;
    memset(a, 0, sizeof *a);
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 's': a->store = optarg; break;
        case 'S': a->status = optarg; break;
        case 'n': a->note = optarg; break;
        case 't': a->ttl = optarg; break;
        case 'c': a->count = optarg; break;
        case 'y': a->yes = true; break;
        case 'h': printf("usage:\n%s%s", admin_usage, admin_usage_options); return 0;
        default: fprintf(stderr, "usage:\n%s%s", admin_usage, admin_usage_options); return 2;
        }
    }
    for (int i = optind; i < argc; i++) {
        if (a->n_words == (int)(sizeof a->words / sizeof a->words[0])) {
            fprintf(stderr, "parley-admin: too many arguments (\"%s\")\n", argv[i]);
            return 2;
        }
        a->words[a->n_words++] = argv[i];
    }
    if (!a->store)
        a->store = getenv("PARLEY_STORE");
    if (!a->store || !a->store[0]) {
        fprintf(stderr, "parley-admin: no store: give --store URI or set PARLEY_STORE\n");
        return 2;
    }
    return -1; /* go on */
}

/* Open the store. A sqlite: file that does not exist is refused rather
 * than created: a mistyped path must not look like an empty store. */
static store_t *open_store(const char *uri)
{
    store_t *s = NULL;
    if (strncmp(uri, "sqlite:", 7) == 0) {
        const char *path = uri + 7, *q = strchr(path, '?');
        char file[4096];
        struct stat st;
        snprintf(file, sizeof file, "%.*s", (int)(q ? (size_t)(q - path) : strlen(path)), path);
        if (stat(file, &st) != 0) {
            fprintf(stderr, "parley-admin: no store at %s: %s\n", file, strerror(errno));
            return NULL;
        }
    }
    int rc = store_open(uri, NULL, &s);
    if (rc != STORE_OK) {
        fprintf(stderr, "parley-admin: cannot open store %s: %s: %s\n", uri, store_strerror(rc),
                store_last_error(NULL));
        return NULL;
    }
    return s;
}

static int store_fail(store_t *s, int rc, const char *what)
{
    fprintf(stderr, "parley-admin: %s: %s: %s\n", what, store_strerror(rc), store_last_error(s));
    return 1;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "2026-12-04T12:00:00Z" (or "-" for 0). */
static const char *iso(int64_t ms, char buf[32])
{
    struct tm tm;
    time_t t = (time_t)(ms / 1000);
    if (ms <= 0 || !gmtime_r(&t, &tm) || !strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
        return "-";
    return buf;
}

/* A user id argument: valid, or exit status 2 with a message. */
static bool user_arg(const char *u)
{
    if (ids_valid_user(u))
        return true;
    fprintf(stderr,
            "parley-admin: \"%s\" is not a user id (1-%d characters of "
            "[A-Za-z0-9._-])\n",
            u ? u : "", IDS_USER_MAX);
    return false;
}

/* ------------------------------------------------------------------ users */

static int users_list(store_t *s, const char *status)
{
    store_user *arr = NULL;
    size_t n = 0, total = 0;
    char after[IDS_USER_MAX * 4 + 1] = "", t1[32], t2[32];
    int want = -1, rc;
    if (status) {
        for (int i = STORE_USER_ACTIVE; i <= STORE_USER_DELETED; i++)
            if (strcmp(status, store_user_status_name(i)) == 0)
                want = i;
        if (want < 0) {
            fprintf(stderr, "parley-admin: --status wants active, disabled or deleted\n");
            return 2;
        }
    }
    printf("%-24s %-9s %-20s %-20s\n", "user", "status", "created", "updated");
    do {
        if ((rc = store_users_list(s, after, PAGE, &arr, &n)) != STORE_OK)
            return store_fail(s, rc, "users list");
        for (size_t i = 0; i < n; i++) {
            if (want >= 0 && (int)arr[i].status != want)
                continue;
            printf("%-24s %-9s %-20s %-20s\n", arr[i].user_id,
                   store_user_status_name(arr[i].status), iso(arr[i].created_at, t1),
                   iso(arr[i].updated_at, t2));
            total++;
        }
        if (n)
            snprintf(after, sizeof after, "%s", arr[n - 1].user_id);
        store_user_array_free(arr, n);
    } while (n == PAGE);
    printf("%zu user(s)\n", total);
    return 0;
}

static const char *role_name(store_role r)
{
    return r == STORE_ROLE_OWNER ? "owner" : r == STORE_ROLE_ADMIN ? "admin" : "member";
}

static int users_show(store_t *s, const char *user)
{
    store_user u = {0};
    store_prekey spk = {0};
    store_member *mem = NULL;
    size_t n = 0, otpks = 0;
    char t1[32], t2[32],
        key[sodium_base64_ENCODED_LEN(STORE_KEY_LEN, sodium_base64_VARIANT_ORIGINAL)];
    int rc = store_user_get(s, user, &u);
    if (rc == STORE_ENOTFOUND) {
        store_user other = {0};
        if (store_user_get_fold(s, user, &other) == STORE_OK)
            fprintf(stderr, "parley-admin: no user %s (did you mean %s?)\n", user, other.user_id);
        else
            fprintf(stderr, "parley-admin: no user %s\n", user);
        store_user_free(&other);
        return 1;
    }
    if (rc != STORE_OK)
        return store_fail(s, rc, "users show");
    sodium_bin2base64(key, sizeof key, u.identity_key, STORE_KEY_LEN,
                      sodium_base64_VARIANT_ORIGINAL);
    printf("user:          %s\n", u.user_id);
    printf("status:        %s\n", store_user_status_name(u.status));
    printf("identity key:  %s\n", u.status == STORE_USER_DELETED ? "- (deleted)" : key);
    printf("created:       %s\n", iso(u.created_at, t1));
    printf("updated:       %s\n", iso(u.updated_at, t2));
    rc = store_signed_prekey_get(s, user, NULL, &spk);
    if (rc != STORE_OK && rc != STORE_ENOTFOUND)
        goto fail;
    printf("signed prekey: %s\n", rc == STORE_OK ? "yes" : "none");
    store_prekey_free(&spk);
    if ((rc = store_otpk_count(s, user, NULL, &otpks)) != STORE_OK)
        goto fail;
    printf("one-time prekeys: %zu\n", otpks);
    if ((rc = store_chats_of_user(s, user, &mem, &n)) != STORE_OK)
        goto fail;
    printf("chats:         %zu\n", n);
    for (size_t i = 0; i < n; i++)
        printf("  %-40s %s\n", mem[i].chat_id, role_name(mem[i].role));
    store_member_array_free(mem, n);
    store_user_free(&u);
    return 0;
fail:
    store_user_free(&u);
    return store_fail(s, rc, "users show");
}

static int users_set(store_t *s, const char *user, store_user_status st)
{
    int rc = store_user_set_status(s, user, st, now_ms());
    if (rc == STORE_ENOTFOUND) {
        fprintf(stderr, "parley-admin: no user %s\n", user);
        return 1;
    }
    if (rc == STORE_EINVAL) {
        fprintf(stderr,
                "parley-admin: user %s was deleted; a deleted user cannot be "
                "enabled or disabled\n",
                user);
        return 1;
    }
    if (rc != STORE_OK)
        return store_fail(s, rc, "users");
    printf("user %s %s; brokers apply it within their key refresh interval, the HTTP "
           "services at once\n",
           user, st == STORE_USER_ACTIVE ? "enabled" : "disabled");
    return 0;
}

static int users_delete(store_t *s, const char *user, bool yes)
{
    if (!yes) {
        fprintf(stderr,
                "parley-admin: deleting %s removes its keys and group memberships and "
                "can not be undone; add --yes\n",
                user);
        return 2;
    }
    int rc = store_user_delete(s, user, now_ms());
    if (rc == STORE_ENOTFOUND) {
        fprintf(stderr, "parley-admin: no user %s\n", user);
        return 1;
    }
    if (rc != STORE_OK)
        return store_fail(s, rc, "users delete");
    printf("user %s deleted (its id stays reserved; messages it sent stay in their chats)\n", user);
    return 0;
}

int admin_users(int argc, char **argv)
{
    admin_args a;
    int rc = parse(argc, argv, &a);
    if (rc >= 0)
        return rc;
    const char *verb = a.n_words > 0 ? a.words[0] : "";
    bool list = strcmp(verb, "list") == 0;
    if (!list && strcmp(verb, "show") && strcmp(verb, "disable") && strcmp(verb, "enable") &&
        strcmp(verb, "delete")) {
        fprintf(stderr, "parley-admin users: want list, show, disable, enable or delete\n");
        return 2;
    }
    if (list ? a.n_words != 1 : a.n_words != 2) {
        fprintf(stderr, "parley-admin users %s: %s\n", verb,
                list ? "takes no user" : "takes one user id");
        return 2;
    }
    if (!list && !user_arg(a.words[1]))
        return 2;
    store_t *s = open_store(a.store);
    if (!s)
        return 1;
    if (list)
        rc = users_list(s, a.status);
    else if (!strcmp(verb, "show"))
        rc = users_show(s, a.words[1]);
    else if (!strcmp(verb, "disable"))
        rc = users_set(s, a.words[1], STORE_USER_DISABLED);
    else if (!strcmp(verb, "enable"))
        rc = users_set(s, a.words[1], STORE_USER_ACTIVE);
    else
        rc = users_delete(s, a.words[1], a.yes);
    store_close(s);
    return rc;
}

/* ----------------------------------------------------------------- groups */

/* "g:ID" or "ID" to the chat id; false if not a group id. */
static bool group_arg(const char *g, char out[IDS_CHAT_MAX + 1])
{
    if (g && strncmp(g, "g:", 2) != 0)
        snprintf(out, IDS_CHAT_MAX + 1, "g:%.*s", IDS_CHAT_MAX - 2, g);
    else
        snprintf(out, IDS_CHAT_MAX + 1, "%s", g ? g : "");
    if (ids_valid_chat(out) && ids_is_group_chat(out))
        return true;
    fprintf(stderr, "parley-admin: \"%s\" is not a group id (g:ID)\n", g ? g : "");
    return false;
}

static int groups_list(store_t *s)
{
    store_chat *arr = NULL;
    size_t n = 0, total = 0;
    char after[IDS_CHAT_MAX * 2 + 1] = "", t[32];
    int rc;
    printf("%-26s %-8s %-8s %-20s %s\n", "group", "members", "last_seq", "created", "name");
    do {
        if ((rc = store_chats_list(s, after, PAGE, &arr, &n)) != STORE_OK)
            return store_fail(s, rc, "groups list");
        for (size_t i = 0; i < n; i++) {
            store_member *m = NULL;
            size_t nm = 0;
            if (arr[i].type != STORE_CHAT_GROUP)
                continue;
            if ((rc = store_members_of_chat(s, arr[i].chat_id, &m, &nm)) != STORE_OK) {
                store_chat_array_free(arr, n);
                return store_fail(s, rc, "groups list");
            }
            store_member_array_free(m, nm);
            printf("%-26s %-8zu %-8llu %-20s %s\n", arr[i].chat_id, nm,
                   (unsigned long long)arr[i].last_seq, iso(arr[i].created_at, t),
                   arr[i].name ? arr[i].name : "");
            total++;
        }
        if (n)
            snprintf(after, sizeof after, "%s", arr[n - 1].chat_id);
        store_chat_array_free(arr, n);
    } while (n == PAGE);
    printf("%zu group(s)\n", total);
    return 0;
}

static int groups_show(store_t *s, const char *chat_id)
{
    store_chat c = {0};
    store_member *m = NULL;
    size_t n = 0;
    char t[32];
    int rc = store_chat_get(s, chat_id, &c);
    if (rc == STORE_ENOTFOUND) {
        fprintf(stderr, "parley-admin: no group %s\n", chat_id);
        return 1;
    }
    if (rc != STORE_OK)
        return store_fail(s, rc, "groups show");
    printf("group:       %s\n", c.chat_id);
    printf("name:        %s\n", c.name ? c.name : "");
    printf("created by:  %s\n", c.created_by ? c.created_by : "-");
    printf("created:     %s\n", iso(c.created_at, t));
    printf("last seq:    %llu\n", (unsigned long long)c.last_seq);
    store_chat_free(&c);
    if ((rc = store_members_of_chat(s, chat_id, &m, &n)) != STORE_OK)
        return store_fail(s, rc, "groups show");
    printf("members:     %zu\n", n);
    for (size_t i = 0; i < n; i++)
        printf("  %-24s %s\n", m[i].user_id, role_name(m[i].role));
    store_member_array_free(m, n);
    return 0;
}

static int groups_delete(store_t *s, const char *chat_id, bool yes)
{
    if (!yes) {
        fprintf(stderr,
                "parley-admin: deleting %s removes its members and every message; "
                "add --yes\n",
                chat_id);
        return 2;
    }
    int rc = store_chat_delete(s, chat_id);
    if (rc == STORE_ENOTFOUND) {
        fprintf(stderr, "parley-admin: no group %s\n", chat_id);
        return 1;
    }
    if (rc != STORE_OK)
        return store_fail(s, rc, "groups delete");
    printf("group %s deleted with its members and messages; restart the broker nodes: each "
           "keeps its in-memory copy of the group until it restarts\n",
           chat_id);
    return 0;
}

int admin_groups(int argc, char **argv)
{
    admin_args a;
    char chat_id[IDS_CHAT_MAX + 1];
    int rc = parse(argc, argv, &a);
    if (rc >= 0)
        return rc;
    const char *verb = a.n_words > 0 ? a.words[0] : "";
    bool list = strcmp(verb, "list") == 0;
    if (!list && strcmp(verb, "show") && strcmp(verb, "delete")) {
        fprintf(stderr, "parley-admin groups: want list, show or delete\n");
        return 2;
    }
    if (list ? a.n_words != 1 : a.n_words != 2) {
        fprintf(stderr, "parley-admin groups %s: %s\n", verb,
                list ? "takes no group" : "takes one group id");
        return 2;
    }
    if (!list && !group_arg(a.words[1], chat_id))
        return 2;
    store_t *s = open_store(a.store);
    if (!s)
        return 1;
    if (list)
        rc = groups_list(s);
    else if (!strcmp(verb, "show"))
        rc = groups_show(s, chat_id);
    else
        rc = groups_delete(s, chat_id, a.yes);
    store_close(s);
    return rc;
}

/* ---------------------------------------------------------------- invites */

/* "N", "Ns", "Nm", "Nh", "Nd" to milliseconds, 1 s .. 365 d; -1 if bad. */
static int64_t parse_duration(const char *v)
{
    char *end = NULL;
    unsigned long long n;
    int64_t unit = 1000;
    if (!v || *v < '0' || *v > '9')
        return -1;
    n = strtoull(v, &end, 10);
    if (*end && end[1])
        return -1;
    switch (*end) {
    case '\0':
    case 's': break;
    case 'm': unit = 60 * 1000; break;
    case 'h': unit = 3600 * 1000; break;
    case 'd': unit = 86400 * 1000; break;
    default: return -1;
    }
    if (n == 0 || n > 365ull * 86400 * 1000 / (unsigned long long)unit)
        return -1;
    return (int64_t)n * unit;
}

static int invite_create(store_t *s, const admin_args *a)
{
    int64_t ttl = parse_duration(a->ttl ? a->ttl : "7d");
    unsigned long count = 1;
    char *end = NULL, t[32];
    if (ttl < 0) {
        fprintf(stderr, "parley-admin: --ttl wants N[s|m|h|d] from 1s to 365d\n");
        return 2;
    }
    if (a->count) {
        count = strtoul(a->count, &end, 10);
        if (*end || count == 0 || count > 1000) {
            fprintf(stderr, "parley-admin: --count wants a number from 1 to 1000\n");
            return 2;
        }
    }
    if (a->note && strlen(a->note) > 1024) {
        fprintf(stderr, "parley-admin: --note is longer than 1024 bytes\n");
        return 2;
    }
    int64_t now = now_ms();
    for (unsigned long i = 0; i < count; i++) {
        char token[IDS_INVITE_TOKEN_LEN + 1], id[IDS_INVITE_ID_LEN + 1];
        ids_invite_token_new(token);
        if (!ids_invite_id(token, id)) {
            sodium_memzero(token, sizeof token);
            return 1;
        }
        store_invite inv = {.invite_id = id,
                            .created_at = now,
                            .expires_at = now + ttl,
                            .note = (char *)a->note};
        int rc = store_invite_put(s, &inv);
        if (rc != STORE_OK) {
            sodium_memzero(token, sizeof token);
            return store_fail(s, rc, "invite");
        }
        /* the token is shown once: the store keeps only its hash */
        printf("%s expires %s (%lld)\n", token, iso(inv.expires_at, t), (long long)inv.expires_at);
        sodium_memzero(token, sizeof token);
    }
    return 0;
}

static int invite_list(store_t *s)
{
    store_invite *arr = NULL;
    size_t n = 0, total = 0;
    char after[IDS_INVITE_ID_LEN * 4 + 1] = "", t1[32];
    int64_t now = now_ms();
    int rc;
    printf("%-43s %-8s %-20s %-24s %s\n", "invite id", "state", "expires", "used by", "note");
    do {
        if ((rc = store_invites_list(s, after, PAGE, &arr, &n)) != STORE_OK)
            return store_fail(s, rc, "invite list");
        for (size_t i = 0; i < n; i++) {
            const store_invite *v = &arr[i];
            const char *state = v->used_at ? "used" : v->expires_at <= now ? "expired" : "open";
            printf("%-43s %-8s %-20s %-24s %s\n", v->invite_id, state, iso(v->expires_at, t1),
                   v->used_by ? v->used_by : "-", v->note ? v->note : "");
            total++;
        }
        if (n)
            snprintf(after, sizeof after, "%s", arr[n - 1].invite_id);
        store_invite_array_free(arr, n);
    } while (n == PAGE);
    printf("%zu invite(s)\n", total);
    return 0;
}

int admin_invite(int argc, char **argv)
{
    admin_args a;
    int rc = parse(argc, argv, &a);
    if (rc >= 0)
        return rc;
    const char *verb = a.n_words > 0 ? a.words[0] : "create";
    bool create = strcmp(verb, "create") == 0, list = strcmp(verb, "list") == 0;
    bool revoke = strcmp(verb, "revoke") == 0;
    if (!create && !list && !revoke) {
        fprintf(stderr, "parley-admin invite: want create, list or revoke\n");
        return 2;
    }
    if (a.n_words > (revoke ? 2 : 1) || (revoke && a.n_words != 2)) {
        fprintf(stderr, "parley-admin invite %s: %s\n", verb,
                revoke ? "takes one invite id (from invite list)" : "takes no argument");
        return 2;
    }
    if (!create && (a.ttl || a.count || a.note)) {
        fprintf(stderr, "parley-admin invite %s: --ttl, --count and --note are for create\n", verb);
        return 2;
    }
    store_t *s = open_store(a.store);
    if (!s)
        return 1;
    if (create)
        rc = invite_create(s, &a);
    else if (list)
        rc = invite_list(s);
    else {
        rc = store_invite_delete(s, a.words[1]);
        if (rc == STORE_ENOTFOUND) {
            fprintf(stderr, "parley-admin: no invite %s\n", a.words[1]);
            rc = 1;
        } else if (rc != STORE_OK) {
            rc = store_fail(s, rc, "invite revoke");
        } else {
            printf("invite %s revoked\n", a.words[1]);
        }
    }
    store_close(s);
    return rc;
}
