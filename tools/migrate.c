/*
 * migrate.c - copy a whole store into another through store.h (migrate.h).
 */
#include "migrate.h"

#include "devices.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_PAGE 500

static const char *const kind_names[MIGRATE_KIND_COUNT] = {
    [MIGRATE_USERS] = "users",
    [MIGRATE_SIGNED_PREKEYS] = "signed_prekeys",
    [MIGRATE_OTPKS] = "one_time_prekeys",
    [MIGRATE_CHATS] = "chats",
    [MIGRATE_MEMBERS] = "members",
    [MIGRATE_MESSAGES] = "messages",
    [MIGRATE_MEDIA] = "media",
    [MIGRATE_INVITES] = "invites",
};

const char *migrate_kind_name(migrate_kind k)
{
    return (unsigned)k < MIGRATE_KIND_COUNT ? kind_names[k] : "unknown";
}

/* One migration: the stores, the target's open transaction, the counters. */
typedef struct {
    store_t *src, *dst;
    size_t page;
    FILE *log;
    migrate_stats *st;
    bool in_tx;
    size_t tx_writes;
    char *err;
    size_t errlen;
} mig;

static bool fatal(int rc)
{
    return rc == STORE_EIO || rc == STORE_EUNAVAIL || rc == STORE_ENOMEM || rc == STORE_ECLOSED;
}

/* Record a stopping error: "WHAT: store error: message". Returns rc. */
static int stop(mig *m, int rc, store_t *on, const char *what)
{
    snprintf(m->err, m->errlen, "%s: %s: %s", what, store_strerror(rc), store_last_error(on));
    return rc;
}

/* Count one write's result (EEXIST/EDUP: already there, skipped). Returns
 * STORE_OK to go on, or a fatal rc. */
static int tally(mig *m, migrate_kind k, int rc, const char *id)
{
    if (rc == STORE_OK) {
        m->st->copied[k]++;
        return STORE_OK;
    }
    if (rc == STORE_EEXIST || rc == STORE_EDUP) {
        m->st->skipped[k]++;
        return STORE_OK;
    }
    if (fatal(rc))
        return stop(m, rc, m->dst, kind_names[k]);
    m->st->failed[k]++;
    fprintf(m->log, "parley-admin: %s %s not copied: %s: %s\n", kind_names[k], id,
            store_strerror(rc), store_last_error(m->dst));
    return STORE_OK;
}

/* Group the target's writes into transactions of m->page writes. */
static int tx_before_write(mig *m)
{
    int rc;
    if (m->in_tx)
        return STORE_OK;
    if ((rc = store_begin(m->dst)) != STORE_OK)
        return stop(m, rc, m->dst, "begin");
    m->in_tx = true;
    m->tx_writes = 0;
    return STORE_OK;
}

static int tx_commit(mig *m)
{
    int rc;
    if (!m->in_tx)
        return STORE_OK;
    m->in_tx = false;
    if ((rc = store_commit(m->dst)) != STORE_OK)
        return stop(m, rc, m->dst, "commit");
    return STORE_OK;
}

static int tx_after_write(mig *m)
{
    if (++m->tx_writes >= m->page)
        return tx_commit(m);
    return STORE_OK;
}

/* One page of a listing copied: the records after AFTER (NULL: from the
 * first), at most m->page of them. Sets *n to how many were listed and *next
 * to a copy of the last one's key (NULL when none, or out of memory). */
typedef int (*page_fn)(mig *m, const char *after, size_t *n, char **next);

/* Copy a whole listing, page by page, in key order. */
static int copy_paged(mig *m, page_fn page, const char *what)
{
    char *after = NULL;
    int rc;
    for (;;) {
        char *next = NULL;
        size_t n = 0;
        rc = page(m, after, &n, &next);
        free(after);
        after = next;
        if (rc == STORE_OK && n > 0 && !after)
            rc = stop(m, STORE_ENOMEM, m->src, what);
        if (rc != STORE_OK || n < m->page)
            break;
    }
    free(after);
    return rc;
}

/* The write of one record done (PUT_RC its result): count it, and commit
 * when the transaction is full. */
static int written(mig *m, migrate_kind k, int put_rc, const char *id)
{
    int rc = tally(m, k, put_rc, id);
    return rc == STORE_OK ? tx_after_write(m) : rc;
}

/* ------------------------------------------------------------- users */

static int copy_signed_prekeys(mig *m, const char *user_id, const char *device_id)
{
    store_prekey cur = {0}, prev = {0}, have = {0};
    int rc = store_signed_prekey_get(m->src, user_id, device_id, &cur);
    if (rc == STORE_ENOTFOUND)
        return STORE_OK;
    if (rc != STORE_OK)
        return stop(m, rc, m->src, "signed_prekey_get");
    /* Already the target's current key: nothing to do (putting it again
     * would push the target's previous key out). */
    rc = store_signed_prekey_get(m->dst, user_id, device_id, &have);
    if (rc == STORE_OK && have.key_id == cur.key_id &&
        memcmp(have.public_key, cur.public_key, STORE_KEY_LEN) == 0) {
        m->st->skipped[MIGRATE_SIGNED_PREKEYS]++;
        rc = STORE_OK;
        goto done;
    }
    if (rc != STORE_OK && rc != STORE_ENOTFOUND) {
        rc = stop(m, rc, m->dst, "signed_prekey_get");
        goto done;
    }
    rc = store_signed_prekey_get_previous(m->src, user_id, device_id, &prev);
    if (rc == STORE_OK) {
        if ((rc = tx_before_write(m)) != STORE_OK)
            goto done;
        rc = written(m, MIGRATE_SIGNED_PREKEYS, store_signed_prekey_put(m->dst, &prev), user_id);
        if (rc != STORE_OK)
            goto done;
    } else if (rc != STORE_ENOTFOUND) {
        rc = stop(m, rc, m->src, "signed_prekey_get_previous");
        goto done;
    }
    if ((rc = tx_before_write(m)) != STORE_OK)
        goto done;
    rc = written(m, MIGRATE_SIGNED_PREKEYS, store_signed_prekey_put(m->dst, &cur), user_id);
done:
    store_prekey_free(&cur);
    store_prekey_free(&prev);
    store_prekey_free(&have);
    return rc;
}

static int copy_otpks(mig *m, const char *user_id)
{
    store_prekey *keys = NULL;
    size_t n = 0;
    int rc = store_otpk_list(m->src, user_id, &keys, &n);
    if (rc != STORE_OK)
        return stop(m, rc, m->src, "otpk_list");
    for (size_t i = 0; i < n && rc == STORE_OK;) {
        /* one store_otpk_add per device (the list is ordered by device) */
        size_t chunk = 1;
        while (i + chunk < n && chunk < m->page &&
               strcmp(keys[i + chunk].device_id, keys[i].device_id) == 0)
            chunk++;
        if ((rc = tx_before_write(m)) != STORE_OK)
            break;
        int r = store_otpk_add(m->dst, &keys[i], chunk);
        if (r == STORE_OK) {
            m->st->copied[MIGRATE_OTPKS] += chunk;
        } else if (r == STORE_EEXIST) {
            /* Some are there already (a re-run): one by one. */
            for (size_t j = i; j < i + chunk && rc == STORE_OK; j++)
                rc = tally(m, MIGRATE_OTPKS, store_otpk_add(m->dst, &keys[j], 1), user_id);
        } else {
            rc = tally(m, MIGRATE_OTPKS, r, user_id);
        }
        if (rc == STORE_OK)
            rc = tx_after_write(m);
        i += chunk;
    }
    store_prekey_array_free(keys, n);
    return rc;
}

/* The user's device list (store_user_put leaves it implicit) and the signed
 * prekeys of each of its devices and of the implicit device "". A target
 * that already holds a list keeps it. The list is parsed, not verified: the
 * source's keyserver verified it when it was stored. */
static int copy_devices(mig *m, const store_user *u)
{
    devices_list l = {0};
    int rc = copy_signed_prekeys(m, u->user_id, "");
    if (rc != STORE_OK || !u->devices_list || u->devices_version == 0)
        return rc;
    if ((rc = tx_before_write(m)) != STORE_OK)
        return rc;
    rc = store_user_set_devices(m->dst, u->user_id, 0, u->devices_version, u->devices_list,
                                u->devices_list_len, u->devices_sig, u->updated_at);
    if (rc == STORE_EEXIST) {
        rc = STORE_OK; /* the target has a list of its own */
    } else if (rc != STORE_OK) {
        if (fatal(rc))
            return stop(m, rc, m->dst, "user_set_devices");
        fprintf(m->log, "parley-admin: device list of %s not copied: %s: %s\n", u->user_id,
                store_strerror(rc), store_last_error(m->dst));
        rc = STORE_OK;
    }
    if (rc == STORE_OK)
        rc = tx_after_write(m);
    if (rc == STORE_OK && devices_parse(u->devices_list, u->devices_list_len, &l) != DEVICES_OK) {
        fprintf(m->log,
                "parley-admin: device list of %s does not parse; only the prekeys of "
                "its implicit device were copied\n",
                u->user_id);
        return STORE_OK;
    }
    for (size_t i = 0; rc == STORE_OK && i < l.n; i++)
        rc = copy_signed_prekeys(m, u->user_id, l.dev[i].device_id);
    devices_list_free(&l);
    return rc;
}

static int copy_users(mig *m)
{
    store_user *users = NULL;
    size_t n = 0;
    int rc = store_users_changed_since(m->src, 0, &users, &n);
    if (rc != STORE_OK)
        return stop(m, rc, m->src, "users_changed_since");
    for (size_t i = 0; i < n && rc == STORE_OK; i++) {
        if ((rc = tx_before_write(m)) != STORE_OK)
            break;
        rc = written(m, MIGRATE_USERS, store_user_put(m->dst, &users[i]), users[i].user_id);
        if (rc == STORE_OK)
            rc = copy_devices(m, &users[i]);
        if (rc == STORE_OK)
            rc = copy_otpks(m, users[i].user_id);
    }
    store_user_array_free(users, n);
    return rc;
}

/* ------------------------------------------------------------- chats */

static int copy_members(mig *m, const char *chat_id)
{
    store_member *mem = NULL;
    size_t n = 0;
    int rc = store_members_of_chat(m->src, chat_id, &mem, &n);
    if (rc != STORE_OK)
        return stop(m, rc, m->src, "members_of_chat");
    for (size_t i = 0; i < n && rc == STORE_OK; i++) {
        if ((rc = tx_before_write(m)) != STORE_OK)
            break;
        int r = store_member_put(m->dst, &mem[i]);
        if (r == STORE_EEXIST) {
            /* Bring the target's cursors up to the source's (never down). */
            int a = store_member_advance(m->dst, chat_id, mem[i].user_id, mem[i].delivered_seq,
                                         mem[i].read_seq);
            if (fatal(a))
                r = a;
        }
        rc = written(m, MIGRATE_MEMBERS, r, mem[i].user_id);
    }
    store_member_array_free(mem, n);
    return rc;
}

static int copy_messages(mig *m, const store_chat *chat)
{
    uint64_t after = 0;
    int rc = STORE_OK;
    for (;;) {
        store_message *msgs = NULL;
        size_t n = 0;
        rc = store_messages_after(m->src, chat->chat_id, after, m->page, &msgs, &n);
        if (rc != STORE_OK)
            return stop(m, rc, m->src, "messages_after");
        for (size_t i = 0; i < n && rc == STORE_OK; i++) {
            uint64_t seq = msgs[i].seq;
            char id[64];
            snprintf(id, sizeof id, "%s#%llu", chat->chat_id, (unsigned long long)seq);
            if ((rc = tx_before_write(m)) != STORE_OK)
                break;
            /* Explicit seq: the target keeps the source's numbering. */
            rc = written(m, MIGRATE_MESSAGES, store_message_put(m->dst, &msgs[i]), id);
            after = seq;
        }
        store_message_array_free(msgs, n);
        if (rc != STORE_OK || n < m->page)
            break;
    }
    if (rc != STORE_OK)
        return rc;
    /* Keep the counters even if the newest messages expired. */
    if ((rc = tx_before_write(m)) != STORE_OK)
        return rc;
    rc = store_chat_raise_seq(m->dst, chat->chat_id, chat->last_seq, chat->last_message_at);
    if (rc != STORE_OK)
        return fatal(rc) ? stop(m, rc, m->dst, "chat_raise_seq")
                         : tally(m, MIGRATE_CHATS, rc, chat->chat_id);
    return tx_after_write(m);
}

static int chats_page(mig *m, const char *after, size_t *n, char **next)
{
    store_chat *chats = NULL;
    int rc = store_chats_list(m->src, after, m->page, &chats, n);
    if (rc != STORE_OK)
        return stop(m, rc, m->src, "chats_list");
    for (size_t i = 0; i < *n && rc == STORE_OK; i++) {
        if ((rc = tx_before_write(m)) != STORE_OK)
            break;
        int r = store_chat_put(m->dst, &chats[i]);
        rc = written(m, MIGRATE_CHATS, r, chats[i].chat_id);
        if (rc == STORE_OK && (r == STORE_OK || r == STORE_EEXIST)) {
            rc = copy_members(m, chats[i].chat_id);
            if (rc == STORE_OK)
                rc = copy_messages(m, &chats[i]);
        }
    }
    *next = *n ? strdup(chats[*n - 1].chat_id) : NULL;
    store_chat_array_free(chats, *n);
    return rc;
}

/* ------------------------------------------------------------- media */

static int media_page(mig *m, const char *after, size_t *n, char **next)
{
    store_media *media = NULL;
    int rc = store_media_list(m->src, after, m->page, &media, n);
    if (rc != STORE_OK)
        return stop(m, rc, m->src, "media_list");
    for (size_t i = 0; i < *n && rc == STORE_OK; i++)
        if ((rc = tx_before_write(m)) == STORE_OK)
            rc = written(m, MIGRATE_MEDIA, store_media_put(m->dst, &media[i]), media[i].media_id);
    *next = *n ? strdup(media[*n - 1].media_id) : NULL;
    store_media_array_free(media, *n);
    return rc;
}

/* ----------------------------------------------------------- invites */

static int invites_page(mig *m, const char *after, size_t *n, char **next)
{
    store_invite *inv = NULL;
    int rc = store_invites_list(m->src, after, m->page, &inv, n);
    if (rc != STORE_OK)
        return stop(m, rc, m->src, "invites_list");
    for (size_t i = 0; i < *n && rc == STORE_OK; i++)
        if ((rc = tx_before_write(m)) == STORE_OK)
            rc = written(m, MIGRATE_INVITES, store_invite_put(m->dst, &inv[i]), inv[i].invite_id);
    *next = *n ? strdup(inv[*n - 1].invite_id) : NULL;
    store_invite_array_free(inv, *n);
    return rc;
}

int migrate_run(store_t *src, store_t *dst, const migrate_options *opts, migrate_stats *stats,
                char *err, size_t errlen)
{
    mig m = {.src = src,
             .dst = dst,
             .page = DEFAULT_PAGE,
             .log = stderr,
             .st = stats,
             .err = err,
             .errlen = errlen};
    int rc;
    if (opts && opts->page > 0)
        m.page = opts->page;
    if (opts && opts->log)
        m.log = opts->log;
    memset(stats, 0, sizeof *stats);
    if (errlen)
        err[0] = '\0';
    rc = copy_users(&m);
    if (rc == STORE_OK)
        rc = copy_paged(&m, chats_page, "chats_list");
    if (rc == STORE_OK)
        rc = copy_paged(&m, media_page, "media_list");
    if (rc == STORE_OK)
        rc = copy_paged(&m, invites_page, "invites_list");
    if (rc == STORE_OK)
        rc = tx_commit(&m);
    if (rc != STORE_OK) {
        if (m.in_tx)
            store_rollback(dst);
        return rc;
    }
    for (int k = 0; k < MIGRATE_KIND_COUNT; k++)
        if (stats->failed[k]) {
            snprintf(err, errlen, "some records were refused by the target (see above)");
            return STORE_EINVAL;
        }
    return STORE_OK;
}
