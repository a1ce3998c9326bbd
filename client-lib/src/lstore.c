/*
 * lstore.c - the client's local SQLite store (contract in lstore.h):
 * schema, prepared statements, transactions.
 */
#include "lstore.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct lstore {
    sqlite3 *db;
};

static const char *SCHEMA =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "PRAGMA secure_delete=ON;"
    "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v BLOB);"
    "CREATE TABLE IF NOT EXISTS contacts(user_id TEXT PRIMARY KEY, identity_key BLOB NOT NULL,"
    "  first_seen INTEGER NOT NULL, updated_at INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS chats(chat_id TEXT PRIMARY KEY, type INTEGER NOT NULL,"
    "  name TEXT NOT NULL DEFAULT '', last_seq INTEGER NOT NULL DEFAULT 0,"
    "  synced_seq INTEGER NOT NULL DEFAULT 0, delivered_seq INTEGER NOT NULL DEFAULT 0,"
    "  read_seq INTEGER NOT NULL DEFAULT 0, sent_delivered INTEGER NOT NULL DEFAULT 0,"
    "  sent_read INTEGER NOT NULL DEFAULT 0, last_message_at INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS messages(chat_id TEXT NOT NULL, seq INTEGER NOT NULL,"
    "  server_id TEXT NOT NULL, sender TEXT NOT NULL, client_msg_id TEXT NOT NULL,"
    "  server_ts INTEGER NOT NULL, status INTEGER NOT NULL, body BLOB,"
    "  media_id TEXT, media BLOB);"
    "CREATE INDEX IF NOT EXISTS messages_media ON messages(media_id) WHERE media_id IS NOT NULL;"
    /* A seq can be stamped twice when the broker crashed before storing
     * the first message: both stay, told apart by their server ids. */
    "CREATE UNIQUE INDEX IF NOT EXISTS messages_server_id ON messages(server_id);"
    "CREATE INDEX IF NOT EXISTS messages_chat_seq ON messages(chat_id, seq);"
    "CREATE UNIQUE INDEX IF NOT EXISTS messages_sender_cmid ON messages(sender, client_msg_id);"
    "CREATE TABLE IF NOT EXISTS outbox(client_msg_id TEXT PRIMARY KEY, chat_id TEXT NOT NULL,"
    "  topic TEXT NOT NULL, body BLOB NOT NULL, plain BLOB, created_at INTEGER NOT NULL,"
    "  last_attempt INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS blobs(ns TEXT NOT NULL, k TEXT NOT NULL, v BLOB NOT NULL,"
    "  PRIMARY KEY(ns, k));";

/* Schema migrations, in order: MIGRATIONS[i] takes a store at
 * user_version i to i + 1. A home created before rich messages is at 0
 * (SCHEMA above is that version); lstore_open applies what is missing,
 * each step in its own transaction. */
static const char *MIGRATIONS[] = {
    /* 1: rich messages (issue 17): the message kind and its reference
     * (reply_to, or the target of a reaction/edit/delete), emoji, timer,
     * mentions, expiry, latest edit, tombstone; reactions; chat timers. */
    "ALTER TABLE messages ADD COLUMN kind INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE messages ADD COLUMN ref_sender TEXT;"
    "ALTER TABLE messages ADD COLUMN ref_cmid TEXT;"
    "ALTER TABLE messages ADD COLUMN emoji TEXT;"
    "ALTER TABLE messages ADD COLUMN timer_s INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE messages ADD COLUMN mentions TEXT;"
    "ALTER TABLE messages ADD COLUMN mentioned INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE messages ADD COLUMN expires_at INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE messages ADD COLUMN edited_at INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE messages ADD COLUMN edit_seq INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE messages ADD COLUMN deleted_by TEXT;"
    "ALTER TABLE messages ADD COLUMN deleted_at INTEGER NOT NULL DEFAULT 0;"
    "CREATE INDEX messages_ref ON messages(chat_id, ref_sender, ref_cmid)"
    "  WHERE ref_sender IS NOT NULL;"
    "CREATE INDEX messages_expires ON messages(expires_at) WHERE expires_at > 0;"
    "ALTER TABLE chats ADD COLUMN timer_s INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE chats ADD COLUMN timer_seq INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE reactions(chat_id TEXT NOT NULL, target_sender TEXT NOT NULL,"
    "  target_cmid TEXT NOT NULL, user_id TEXT NOT NULL, emoji TEXT NOT NULL,"
    "  seq INTEGER NOT NULL, PRIMARY KEY(chat_id, target_sender, target_cmid, user_id));",
};
#define LSTORE_VERSION ((int)(sizeof MIGRATIONS / sizeof MIGRATIONS[0]))

static int user_version(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int v = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Bring the schema to LSTORE_VERSION. Each step runs in an IMMEDIATE
 * transaction that reads the version again (another process of the same
 * home may have migrated it meanwhile). A store newer than this library
 * is refused. 0 or -1 (errbuf filled). */
static int migrate(sqlite3 *db, char *errbuf, size_t errlen)
{
    for (;;) {
        int v = user_version(db);
        if (v < 0 || v > LSTORE_VERSION) {
            snprintf(errbuf, errlen, "local store version %d: this library knows up to %d", v,
                     LSTORE_VERSION);
            return -1;
        }
        if (v == LSTORE_VERSION)
            return 0;
        char *err = NULL, sql[64];
        if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &err) != SQLITE_OK)
            goto fail;
        if (user_version(db) != v) {
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            continue;
        }
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v + 1);
        if (sqlite3_exec(db, MIGRATIONS[v], NULL, NULL, &err) != SQLITE_OK ||
            sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK ||
            sqlite3_exec(db, "COMMIT", NULL, NULL, &err) != SQLITE_OK) {
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            goto fail;
        }
        continue;
    fail:
        snprintf(errbuf, errlen, "local store migration to version %d: %s", v + 1,
                 err ? err : sqlite3_errmsg(db));
        sqlite3_free(err);
        return -1;
    }
}

lstore *lstore_open(const char *path, char *errbuf, size_t errlen)
{
    lstore *s = NULL;
    sqlite3 *db = NULL;
    char *err = NULL;

    /* Create the file ourselves so that it is 0600 from the first byte. */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(errbuf, errlen, "cannot open %s", path);
        goto fail;
    }
    close(fd);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL) !=
        SQLITE_OK) {
        snprintf(errbuf, errlen, "%s: %s", path, db ? sqlite3_errmsg(db) : "cannot open");
        goto fail;
    }
    sqlite3_busy_timeout(db, 5000);
    if (sqlite3_exec(db, SCHEMA, NULL, NULL, &err) != SQLITE_OK) {
        snprintf(errbuf, errlen, "%s: %s", path, err ? err : "schema");
        goto fail;
    }
    if (migrate(db, errbuf, errlen) != 0)
        goto fail;
    s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(errbuf, errlen, "out of memory");
        goto fail;
    }
    s->db = db;
    return s;

fail:
    sqlite3_free(err);
    if (db)
        sqlite3_close(db);
    return NULL;
}

void lstore_close(lstore *s)
{
    if (!s)
        return;
    sqlite3_close(s->db);
    free(s);
}

const char *lstore_error(lstore *s)
{
    return s ? sqlite3_errmsg(s->db) : "no store";
}

static int exec(lstore *s, const char *sql)
{
    return sqlite3_exec(s->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

int lstore_begin(lstore *s)
{
    return exec(s, "BEGIN IMMEDIATE");
}
int lstore_commit(lstore *s)
{
    return exec(s, "COMMIT");
}
void lstore_rollback(lstore *s)
{
    (void)exec(s, "ROLLBACK");
}

static sqlite3_stmt *prep(lstore *s, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return NULL;
    return st;
}

/* Run a statement that returns no rows; finalizes it. */
static int run(sqlite3_stmt *st)
{
    if (!st)
        return -1;
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static uint8_t *dup_blob(const void *p, size_t n)
{
    uint8_t *out = malloc(n + 1);
    if (!out)
        return NULL;
    if (n)
        memcpy(out, p, n);
    out[n] = 0;
    return out;
}

/* Step a statement that selects one blob (or none); finalizes it. 1 with
 * *out malloc'd (NUL-terminated, *len bytes), 0 no row, -1 on error. */
static int step_blob(sqlite3_stmt *st, uint8_t **out, size_t *len)
{
    int ret = -1;
    if (!st)
        return -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        size_t n = (size_t)sqlite3_column_bytes(st, 0);
        *out = dup_blob(sqlite3_column_blob(st, 0), n);
        if (*out) {
            *len = n;
            ret = 1;
        }
    } else if (rc == SQLITE_DONE) {
        ret = 0;
    }
    sqlite3_finalize(st);
    return ret;
}

/* Step a statement asking whether a row exists; finalizes it. 1, 0, -1. */
static int step_exists(sqlite3_stmt *st)
{
    if (!st)
        return -1;
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* ---- meta --------------------------------------------------------------- */

int lstore_meta_get(lstore *s, const char *key, uint8_t **out, size_t *len)
{
    sqlite3_stmt *st = prep(s, "SELECT v FROM meta WHERE k = ?");
    if (st)
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    return step_blob(st, out, len);
}

int lstore_meta_set(lstore *s, const char *key, const void *val, size_t len)
{
    sqlite3_stmt *st = prep(s, "INSERT INTO meta(k, v) VALUES(?, ?) "
                               "ON CONFLICT(k) DO UPDATE SET v = excluded.v");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, val, (int)len, SQLITE_STATIC);
    return run(st);
}

int lstore_meta_get_str(lstore *s, const char *key, char *out, size_t outlen)
{
    uint8_t *v = NULL;
    size_t n = 0;
    int rc = lstore_meta_get(s, key, &v, &n);
    if (rc != 1)
        return rc;
    if (n >= outlen) {
        free(v);
        return -1;
    }
    memcpy(out, v, n);
    out[n] = 0;
    free(v);
    return 1;
}

int lstore_meta_get_int(lstore *s, const char *key, int64_t *out)
{
    char buf[32];
    int rc = lstore_meta_get_str(s, key, buf, sizeof buf);
    if (rc == 1)
        *out = strtoll(buf, NULL, 10);
    return rc;
}

int lstore_meta_set_int(lstore *s, const char *key, int64_t v)
{
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%lld", (long long)v);
    return lstore_meta_set(s, key, buf, (size_t)n);
}

/* ---- contacts ----------------------------------------------------------- */

int lstore_contact_get(lstore *s, const char *user, uint8_t ik[32])
{
    sqlite3_stmt *st = prep(s, "SELECT identity_key FROM contacts WHERE user_id = ?");
    int ret = -1;
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 32) {
        memcpy(ik, sqlite3_column_blob(st, 0), 32);
        ret = 1;
    } else if (rc == SQLITE_DONE) {
        ret = 0;
    }
    sqlite3_finalize(st);
    return ret;
}

int lstore_contact_set(lstore *s, const char *user, const uint8_t ik[32])
{
    sqlite3_stmt *st = prep(
        s, "INSERT INTO contacts(user_id, identity_key, first_seen, updated_at) "
           "VALUES(?, ?, strftime('%s','now'), strftime('%s','now')) "
           "ON CONFLICT(user_id) DO UPDATE SET identity_key = excluded.identity_key,"
           " updated_at = excluded.updated_at");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, ik, 32, SQLITE_STATIC);
    return run(st);
}

/* ---- chats -------------------------------------------------------------- */

#define CHAT_COLUMNS \
    "chat_id, name, type, last_seq, synced_seq, delivered_seq, read_seq, sent_delivered, " \
    "sent_read, last_message_at"

static void read_chat(sqlite3_stmt *st, lstore_chat *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->chat_id, sizeof c->chat_id, "%s", (const char *)sqlite3_column_text(st, 0));
    snprintf(c->name, sizeof c->name, "%s", (const char *)sqlite3_column_text(st, 1));
    c->type = sqlite3_column_int(st, 2);
    c->last_seq = (uint64_t)sqlite3_column_int64(st, 3);
    c->synced_seq = (uint64_t)sqlite3_column_int64(st, 4);
    c->delivered_seq = (uint64_t)sqlite3_column_int64(st, 5);
    c->read_seq = (uint64_t)sqlite3_column_int64(st, 6);
    c->sent_delivered = (uint64_t)sqlite3_column_int64(st, 7);
    c->sent_read = (uint64_t)sqlite3_column_int64(st, 8);
    c->last_message_at = sqlite3_column_int64(st, 9);
}

int lstore_chat_get(lstore *s, const char *chat_id, lstore_chat *out)
{
    sqlite3_stmt *st = prep(s, "SELECT " CHAT_COLUMNS " FROM chats WHERE chat_id = ?");
    int ret = -1;
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, chat_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        read_chat(st, out);
        ret = 1;
    } else if (rc == SQLITE_DONE) {
        ret = 0;
    }
    sqlite3_finalize(st);
    return ret;
}

int lstore_chat_ensure(lstore *s, const char *chat_id, int type, const char *name)
{
    sqlite3_stmt *st = prep(s, "INSERT OR IGNORE INTO chats(chat_id, type, name) VALUES(?, ?, ?)");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, chat_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, type);
    sqlite3_bind_text(st, 3, name ? name : "", -1, SQLITE_STATIC);
    return run(st);
}

int lstore_chat_set_synced(lstore *s, const char *chat_id, uint64_t synced_seq, int64_t ts)
{
    sqlite3_stmt *st = prep(s, "UPDATE chats SET synced_seq = max(synced_seq, ?1),"
                               " last_seq = max(last_seq, ?1),"
                               " last_message_at = max(last_message_at, ?2) WHERE chat_id = ?3");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)synced_seq);
    sqlite3_bind_int64(st, 2, ts);
    sqlite3_bind_text(st, 3, chat_id, -1, SQLITE_STATIC);
    return run(st);
}

int lstore_chat_raise(lstore *s, const char *chat_id, const char *column, uint64_t v)
{
    static const char *allowed[] = {"last_seq", "delivered_seq", "read_seq", "sent_delivered",
                                    "sent_read"};
    int ok = 0;
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
        ok |= strcmp(column, allowed[i]) == 0;
    if (!ok)
        return -1;
    char sql[160];
    snprintf(sql, sizeof sql, "UPDATE chats SET %s = max(%s, ?) WHERE chat_id = ?", column, column);
    sqlite3_stmt *st = prep(s, sql);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)v);
    sqlite3_bind_text(st, 2, chat_id, -1, SQLITE_STATIC);
    return run(st);
}

int lstore_chat_set_name(lstore *s, const char *chat_id, const char *name)
{
    sqlite3_stmt *st = prep(s, "UPDATE chats SET name = ? WHERE chat_id = ?");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, chat_id, -1, SQLITE_STATIC);
    return run(st);
}

int lstore_chat_each(lstore *s, int (*fn)(void *ud, const lstore_chat *c), void *ud)
{
    sqlite3_stmt *st = prep(s, "SELECT " CHAT_COLUMNS
                               " FROM chats ORDER BY last_message_at DESC, chat_id");
    if (!st)
        return -1;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        lstore_chat c;
        read_chat(st, &c);
        if (fn(ud, &c))
            break;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/* ---- messages ----------------------------------------------------------- */

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

int lstore_msg_insert(lstore *s, const lstore_msg *m)
{
    sqlite3_stmt *st = prep(s, "INSERT OR IGNORE INTO messages(chat_id, seq, server_id, sender,"
                               " client_msg_id, server_ts, status, body, media_id, media, kind,"
                               " ref_sender, ref_cmid, emoji, timer_s, mentions, mentioned,"
                               " expires_at, edited_at, deleted_by, deleted_at)"
                               " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, m->chat_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)m->seq);
    sqlite3_bind_text(st, 3, m->server_id ? m->server_id : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, m->sender ? m->sender : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, m->client_msg_id ? m->client_msg_id : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, m->server_ts);
    sqlite3_bind_int(st, 7, m->status);
    sqlite3_bind_blob(st, 8, m->body, (int)m->body_len, SQLITE_STATIC);
    if (m->media_id) {
        sqlite3_bind_text(st, 9, m->media_id, -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 10, m->media, (int)m->media_len, SQLITE_STATIC);
    }
    sqlite3_bind_int(st, 11, m->kind);
    bind_text_or_null(st, 12, m->ref_sender);
    bind_text_or_null(st, 13, m->ref_cmid);
    bind_text_or_null(st, 14, m->emoji);
    sqlite3_bind_int64(st, 15, m->timer_s);
    bind_text_or_null(st, 16, m->mentions);
    sqlite3_bind_int(st, 17, m->mentioned);
    sqlite3_bind_int64(st, 18, m->expires_at);
    sqlite3_bind_int64(st, 19, m->edited_at);
    bind_text_or_null(st, 20, m->deleted_by);
    sqlite3_bind_int64(st, 21, m->deleted_at);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return -1;
    return sqlite3_changes(s->db) > 0 ? 1 : 0;
}

int lstore_msg_set_rich(lstore *s, const lstore_msg *m)
{
    sqlite3_stmt *st = prep(s, "UPDATE messages SET kind = ?, ref_sender = ?, ref_cmid = ?,"
                               " emoji = ?, timer_s = ?, mentions = ?, mentioned = ?,"
                               " expires_at = ? WHERE sender = ? AND client_msg_id = ?");
    if (!st)
        return -1;
    sqlite3_bind_int(st, 1, m->kind);
    bind_text_or_null(st, 2, m->ref_sender);
    bind_text_or_null(st, 3, m->ref_cmid);
    bind_text_or_null(st, 4, m->emoji);
    sqlite3_bind_int64(st, 5, m->timer_s);
    bind_text_or_null(st, 6, m->mentions);
    sqlite3_bind_int(st, 7, m->mentioned);
    sqlite3_bind_int64(st, 8, m->expires_at);
    sqlite3_bind_text(st, 9, m->sender, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 10, m->client_msg_id, -1, SQLITE_STATIC);
    return run(st);
}

int lstore_msg_exists(lstore *s, const char *sender, const char *client_msg_id)
{
    sqlite3_stmt *st = prep(s, "SELECT 1 FROM messages WHERE sender = ? AND client_msg_id = ?");
    if (st) {
        sqlite3_bind_text(st, 1, sender, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, client_msg_id, -1, SQLITE_STATIC);
    }
    return step_exists(st);
}

#define MSG_COLUMNS \
    "chat_id, seq, server_id, sender, client_msg_id, server_ts, status, body, media_id, media, " \
    "kind, ref_sender, ref_cmid, emoji, timer_s, mentions, mentioned, expires_at, edited_at, " \
    "deleted_by, deleted_at"

/* The current time in ms since the epoch, in SQL (expiry filters). */
#define SQL_NOW_MS "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)"
/* A row of the history: readable or a system event, not an action, not expired. */
#define SQL_LISTED \
    "status != 4 AND kind NOT IN (1, 2, 3) AND (expires_at = 0 OR expires_at > " SQL_NOW_MS ")"

/* Hand each row of a SELECT MSG_COLUMNS to fn until it returns nonzero;
 * finalizes the statement. */
static int each_msg(sqlite3_stmt *st, int (*fn)(void *ud, const lstore_msg *m), void *ud)
{
    if (!st)
        return -1;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        lstore_msg m = {
            .chat_id = (const char *)sqlite3_column_text(st, 0),
            .seq = (uint64_t)sqlite3_column_int64(st, 1),
            .server_id = (const char *)sqlite3_column_text(st, 2),
            .sender = (const char *)sqlite3_column_text(st, 3),
            .client_msg_id = (const char *)sqlite3_column_text(st, 4),
            .server_ts = sqlite3_column_int64(st, 5),
            .status = sqlite3_column_int(st, 6),
            .body = sqlite3_column_text(st, 7), /* NUL-terminated copy of the blob */
            .body_len = (size_t)sqlite3_column_bytes(st, 7),
            .media_id = (const char *)sqlite3_column_text(st, 8),
            .media = sqlite3_column_blob(st, 9),
            .media_len = (size_t)sqlite3_column_bytes(st, 9),
            .kind = sqlite3_column_int(st, 10),
            .ref_sender = (const char *)sqlite3_column_text(st, 11),
            .ref_cmid = (const char *)sqlite3_column_text(st, 12),
            .emoji = (const char *)sqlite3_column_text(st, 13),
            .timer_s = (uint32_t)sqlite3_column_int64(st, 14),
            .mentions = (const char *)sqlite3_column_text(st, 15),
            .mentioned = sqlite3_column_int(st, 16),
            .expires_at = sqlite3_column_int64(st, 17),
            .edited_at = sqlite3_column_int64(st, 18),
            .deleted_by = (const char *)sqlite3_column_text(st, 19),
            .deleted_at = sqlite3_column_int64(st, 20),
        };
        if (fn(ud, &m))
            break;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int lstore_msg_pending_each(lstore *s, const char *chat_id, const char *sender,
                            int (*fn)(void *ud, const lstore_msg *m), void *ud)
{
    sqlite3_stmt *st = prep(s, "SELECT " MSG_COLUMNS " FROM messages WHERE chat_id = ?"
                               " AND sender = ? AND status = 5 ORDER BY seq, rowid");
    if (st) {
        sqlite3_bind_text(st, 1, chat_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, sender, -1, SQLITE_STATIC);
    }
    return each_msg(st, fn, ud);
}

int lstore_msg_update(lstore *s, const lstore_msg *m)
{
    sqlite3_stmt *st = prep(s, "UPDATE messages SET status = ?, body = ?, media_id = ?, media = ?"
                               " WHERE server_id = ?");
    if (!st)
        return -1;
    sqlite3_bind_int(st, 1, m->status);
    sqlite3_bind_blob(st, 2, m->body, (int)m->body_len, SQLITE_STATIC);
    if (m->media_id) {
        sqlite3_bind_text(st, 3, m->media_id, -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 4, m->media, (int)m->media_len, SQLITE_STATIC);
    }
    sqlite3_bind_text(st, 5, m->server_id, -1, SQLITE_STATIC);
    if (run(st) != 0)
        return -1;
    if (!m->sender || !m->client_msg_id)
        return 0;
    return lstore_msg_set_rich(s, m);
}

int lstore_msg_media(lstore *s, const char *media_id, uint8_t **out, size_t *len)
{
    sqlite3_stmt *st = prep(s, "SELECT media FROM messages WHERE media_id = ? AND media IS NOT NULL"
                               " LIMIT 1");
    if (st)
        sqlite3_bind_text(st, 1, media_id, -1, SQLITE_STATIC);
    return step_blob(st, out, len);
}

int lstore_msg_own(lstore *s, const char *sender, const char *client_msg_id, uint64_t *seq,
                   char *server_id, size_t sid_len, char *chat_id, size_t chat_len)
{
    sqlite3_stmt *st = prep(s, "SELECT seq, server_id, chat_id FROM messages"
                               " WHERE sender = ? AND client_msg_id = ?");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, sender, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, client_msg_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *seq = (uint64_t)sqlite3_column_int64(st, 0);
        snprintf(server_id, sid_len, "%s", (const char *)sqlite3_column_text(st, 1));
        snprintf(chat_id, chat_len, "%s", (const char *)sqlite3_column_text(st, 2));
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int lstore_outbox_has(lstore *s, const char *client_msg_id)
{
    sqlite3_stmt *st = prep(s, "SELECT 1 FROM outbox WHERE client_msg_id = ?");
    if (st)
        sqlite3_bind_text(st, 1, client_msg_id, -1, SQLITE_STATIC);
    return step_exists(st);
}

int lstore_msg_has_server_id(lstore *s, const char *server_id)
{
    sqlite3_stmt *st = prep(s, "SELECT 1 FROM messages WHERE server_id = ?");
    if (st)
        sqlite3_bind_text(st, 1, server_id, -1, SQLITE_STATIC);
    return step_exists(st);
}

int lstore_msg_each(lstore *s, const char *chat_id, int (*fn)(void *ud, const lstore_msg *m),
                    void *ud)
{
    sqlite3_stmt *st = prep(s, "SELECT " MSG_COLUMNS " FROM messages WHERE chat_id = ?"
                               " AND " SQL_LISTED " ORDER BY seq, rowid");
    if (st)
        sqlite3_bind_text(st, 1, chat_id, -1, SQLITE_STATIC);
    return each_msg(st, fn, ud);
}

typedef struct {
    void (*fn)(void *ud, const lstore_msg *m);
    void *ud;
    int found;
} find_ctx;

static int find_one(void *ud, const lstore_msg *m)
{
    find_ctx *f = ud;
    f->fn(f->ud, m);
    f->found = 1;
    return 1;
}

int lstore_msg_find(lstore *s, const char *chat_id, const char *sender, const char *client_msg_id,
                    void (*fn)(void *ud, const lstore_msg *m), void *ud)
{
    find_ctx f = {fn, ud, 0};
    sqlite3_stmt *st = prep(s, "SELECT " MSG_COLUMNS " FROM messages WHERE chat_id = ?"
                               " AND sender = ? AND client_msg_id = ?");
    if (st) {
        sqlite3_bind_text(st, 1, chat_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, sender, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, client_msg_id, -1, SQLITE_STATIC);
    }
    if (each_msg(st, find_one, &f) != 0)
        return -1;
    return f.found;
}

int lstore_msg_edit(lstore *s, const char *chat_id, const char *sender, const char *client_msg_id,
                    const char *text, int64_t edited_at, uint64_t edit_seq)
{
    sqlite3_stmt *st = prep(s, "UPDATE messages SET body = ?1, edited_at = ?2, edit_seq = ?3"
                               " WHERE chat_id = ?4 AND sender = ?5 AND client_msg_id = ?6"
                               " AND kind = 0 AND (?3 = 0 OR ?3 > edit_seq)");
    if (!st)
        return -1;
    sqlite3_bind_blob(st, 1, text, (int)strlen(text), SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, edited_at);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)edit_seq);
    sqlite3_bind_text(st, 4, chat_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, sender, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, client_msg_id, -1, SQLITE_STATIC);
    if (run(st) != 0)
        return -1;
    return sqlite3_changes(s->db) > 0 ? 1 : 0;
}

/* Run sql with (chat_id, sender, client_msg_id) bound as ?1..?3. */
static int run_ref(lstore *s, const char *sql, const char *chat_id, const char *sender,
                   const char *client_msg_id)
{
    sqlite3_stmt *st = prep(s, sql);
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, chat_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, sender, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, client_msg_id, -1, SQLITE_STATIC);
    return run(st);
}

int lstore_msg_tombstone(lstore *s, const char *chat_id, const char *sender,
                         const char *client_msg_id, const char *deleted_by, int64_t deleted_at)
{
    sqlite3_stmt *st = prep(
        s, "UPDATE messages SET kind = CASE WHEN kind IN (1, 2, 3) THEN kind ELSE 6 END,"
           " status = CASE WHEN status IN (2, 5) THEN 0 ELSE status END,"
           " body = NULL, media_id = NULL, media = NULL, mentions = NULL, mentioned = 0,"
           " ref_sender = NULL, ref_cmid = NULL, emoji = NULL, edited_at = 0,"
           " deleted_by = ?4, deleted_at = ?5"
           " WHERE chat_id = ?1 AND sender = ?2 AND client_msg_id = ?3 AND kind != 6"
           " AND deleted_by IS NULL");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, chat_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, sender, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, client_msg_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, deleted_by ? deleted_by : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, deleted_at);
    if (run(st) != 0)
        return -1;
    int changed = sqlite3_changes(s->db) > 0;
    if (run_ref(s,
                "DELETE FROM reactions WHERE chat_id = ?1 AND target_sender = ?2"
                " AND target_cmid = ?3",
                chat_id, sender, client_msg_id) != 0 ||
        run_ref(s,
                "UPDATE messages SET body = NULL WHERE chat_id = ?1 AND kind = 2"
                " AND ref_sender = ?2 AND ref_cmid = ?3",
                chat_id, sender, client_msg_id) != 0)
        return -1;
    return changed;
}

int lstore_msg_edits_each(lstore *s, const char *chat_id, const char *sender,
                          const char *client_msg_id, int (*fn)(void *ud, const lstore_msg *m),
                          void *ud)
{
    sqlite3_stmt *st = prep(s, "SELECT " MSG_COLUMNS " FROM messages WHERE chat_id = ?"
                               " AND kind = 2 AND ref_sender = ? AND ref_cmid = ?"
                               " AND sender = ref_sender AND status != 4"
                               " ORDER BY seq, rowid");
    if (st) {
        sqlite3_bind_text(st, 1, chat_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, sender, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, client_msg_id, -1, SQLITE_STATIC);
    }
    return each_msg(st, fn, ud);
}

int lstore_msg_expire(lstore *s, int64_t now_ms)
{
    sqlite3_stmt *st = prep(
        s, "DELETE FROM reactions WHERE EXISTS (SELECT 1 FROM messages m"
           " WHERE m.chat_id = reactions.chat_id AND m.sender = reactions.target_sender"
           " AND m.client_msg_id = reactions.target_cmid AND m.expires_at > 0"
           " AND m.expires_at <= ?1)");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, now_ms);
    if (run(st) != 0)
        return -1;
    st = prep(s, "UPDATE messages SET status = 4, body = NULL, media_id = NULL, media = NULL,"
                 " mentions = NULL, mentioned = 0, ref_sender = NULL, ref_cmid = NULL,"
                 " emoji = NULL, expires_at = 0"
                 " WHERE expires_at > 0 AND expires_at <= ?1");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, now_ms);
    if (run(st) != 0)
        return -1;
    return sqlite3_changes(s->db);
}

int lstore_msg_expiry_due(lstore *s, int64_t now_ms)
{
    sqlite3_stmt *st = prep(
        s, "SELECT 1 FROM messages WHERE expires_at > 0 AND expires_at <= ?1 LIMIT 1");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, now_ms);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int lstore_reaction_set(lstore *s, const char *chat_id, const char *target_sender,
                        const char *target_cmid, const char *user, const char *emoji, uint64_t seq)
{
    sqlite3_stmt *st = prep(
        s, "INSERT INTO reactions(chat_id, target_sender, target_cmid, user_id, emoji, seq)"
           " VALUES(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(chat_id, target_sender, target_cmid,"
           " user_id) DO UPDATE SET emoji = excluded.emoji, seq = excluded.seq"
           " WHERE excluded.seq = 0 OR excluded.seq > reactions.seq");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, chat_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, target_sender, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, target_cmid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, user, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, emoji, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, (sqlite3_int64)seq);
    if (run(st) != 0)
        return -1;
    return sqlite3_changes(s->db) > 0 ? 1 : 0;
}

int lstore_reaction_each(lstore *s, const char *chat_id, const char *target_sender,
                         const char *target_cmid,
                         int (*fn)(void *ud, const char *user, const char *emoji), void *ud)
{
    sqlite3_stmt *st = prep(s, "SELECT user_id, emoji FROM reactions WHERE chat_id = ?"
                               " AND target_sender = ? AND target_cmid = ? AND emoji != ''"
                               " ORDER BY CASE WHEN seq = 0 THEN 1 ELSE 0 END, seq, rowid");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, chat_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, target_sender, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, target_cmid, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (fn(ud, (const char *)sqlite3_column_text(st, 0),
               (const char *)sqlite3_column_text(st, 1)))
            break;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int lstore_chat_timer_set(lstore *s, const char *chat_id, uint32_t timer_s, uint64_t seq)
{
    sqlite3_stmt *st = prep(s, "UPDATE chats SET timer_s = ?1, timer_seq = ?2 WHERE chat_id = ?3"
                               " AND (?2 = 0 OR ?2 > timer_seq)");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, timer_s);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)seq);
    sqlite3_bind_text(st, 3, chat_id, -1, SQLITE_STATIC);
    if (run(st) != 0)
        return -1;
    return sqlite3_changes(s->db) > 0 ? 1 : 0;
}

int lstore_chat_timer_get(lstore *s, const char *chat_id, uint32_t *timer_s)
{
    sqlite3_stmt *st = prep(s, "SELECT timer_s FROM chats WHERE chat_id = ?");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, chat_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *timer_s = (uint32_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* text as a LIKE pattern matching it anywhere: %, _ and the escape \
 * itself stand for themselves. NULL on allocation failure. */
static char *like_pattern(const char *text)
{
    size_t n = strlen(text);
    char *p = malloc(2 * n + 3), *o = p;
    if (!p)
        return NULL;
    *o++ = '%';
    for (const char *t = text; *t; t++) {
        if (*t == '%' || *t == '_' || *t == '\\')
            *o++ = '\\';
        *o++ = *t;
    }
    *o++ = '%';
    *o = '\0';
    return p;
}

int lstore_msg_query(lstore *s, const lstore_msg_filter *f,
                     int (*fn)(void *ud, const lstore_msg *m), void *ud)
{
    /* One statement, every bound optional: a NULL parameter disables its
     * condition. The inner SELECT takes the newest rows (LIMIT -1: all), the
     * outer one puts them back oldest first. */
    sqlite3_stmt *st = prep(
        s,
        "SELECT " MSG_COLUMNS " FROM (SELECT rowid AS r, * FROM messages"
        " WHERE " SQL_LISTED " AND (?1 IS NULL OR chat_id = ?1)"
        " AND (?2 IS NULL OR seq < ?2)"
        " AND (?3 IS NULL OR seq > ?3)"
        " AND (?6 IS NULL OR server_ts >= ?6)"
        " AND (?4 IS NULL OR (status IN (0, 1, 3) AND kind != 6 AND CAST(body AS TEXT) LIKE ?4 ESCAPE '\\'))"
        " ORDER BY CASE WHEN ?1 IS NULL THEN server_ts ELSE 0 END DESC, chat_id DESC,"
        " seq DESC, rowid DESC LIMIT ?5)"
        " ORDER BY CASE WHEN ?1 IS NULL THEN server_ts ELSE 0 END, chat_id, seq, r");
    if (!st)
        return -1;
    char *pat = NULL;
    if (f->text && !(pat = like_pattern(f->text))) {
        sqlite3_finalize(st);
        return -1;
    }
    if (f->chat_id)
        sqlite3_bind_text(st, 1, f->chat_id, -1, SQLITE_STATIC);
    if (f->before_seq)
        sqlite3_bind_int64(st, 2, (sqlite3_int64)f->before_seq);
    if (f->since_seq)
        sqlite3_bind_int64(st, 3, (sqlite3_int64)f->since_seq);
    if (pat)
        sqlite3_bind_text(st, 4, pat, -1, free);
    if (f->since_ts)
        sqlite3_bind_int64(st, 6, f->since_ts);
    sqlite3_bind_int64(st, 5, f->limit && f->limit <= INT64_MAX ? (sqlite3_int64)f->limit : -1);
    return each_msg(st, fn, ud);
}

/* ---- outbox ------------------------------------------------------------- */

int lstore_outbox_add(lstore *s, const lstore_outbox *o)
{
    /* last_attempt = created_at: the process that queued it publishes it at
     * once; other processes of the home wait for the retry period. */
    sqlite3_stmt *st = prep(s, "INSERT INTO outbox(client_msg_id, chat_id, topic, body, plain,"
                               " created_at, last_attempt) VALUES(?1,?2,?3,?4,?5,?6,?6)");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, o->client_msg_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, o->chat_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, o->topic, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 4, o->body, (int)o->body_len, SQLITE_STATIC);
    sqlite3_bind_blob(st, 5, o->plain, (int)o->plain_len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, o->created_at);
    return run(st);
}

static void read_outbox(sqlite3_stmt *st, lstore_outbox *o)
{
    o->client_msg_id = (const char *)sqlite3_column_text(st, 0);
    o->chat_id = (const char *)sqlite3_column_text(st, 1);
    o->topic = (const char *)sqlite3_column_text(st, 2);
    o->body = sqlite3_column_blob(st, 3);
    o->body_len = (size_t)sqlite3_column_bytes(st, 3);
    o->plain = sqlite3_column_blob(st, 4);
    o->plain_len = (size_t)sqlite3_column_bytes(st, 4);
    o->created_at = sqlite3_column_int64(st, 5);
    o->last_attempt = sqlite3_column_int64(st, 6);
}

#define OUTBOX_COLUMNS "client_msg_id, chat_id, topic, body, plain, created_at, last_attempt"

int lstore_outbox_get(lstore *s, const char *client_msg_id,
                      void (*fn)(void *ud, const lstore_outbox *o), void *ud)
{
    sqlite3_stmt *st = prep(s, "SELECT " OUTBOX_COLUMNS " FROM outbox WHERE client_msg_id = ?");
    int ret = -1;
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, client_msg_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        lstore_outbox o;
        read_outbox(st, &o);
        fn(ud, &o);
        ret = 1;
    } else if (rc == SQLITE_DONE) {
        ret = 0;
    }
    sqlite3_finalize(st);
    return ret;
}

int lstore_outbox_del(lstore *s, const char *client_msg_id)
{
    sqlite3_stmt *st = prep(s, "DELETE FROM outbox WHERE client_msg_id = ?");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, client_msg_id, -1, SQLITE_STATIC);
    return run(st);
}

int lstore_outbox_touch(lstore *s, const char *client_msg_id, int64_t now_ms)
{
    sqlite3_stmt *st = prep(s, "UPDATE outbox SET last_attempt = ? WHERE client_msg_id = ?");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, now_ms);
    sqlite3_bind_text(st, 2, client_msg_id, -1, SQLITE_STATIC);
    return run(st);
}

int lstore_outbox_each(lstore *s, int64_t older_than_ms,
                       int (*fn)(void *ud, const lstore_outbox *o), void *ud)
{
    sqlite3_stmt *st = prep(s, "SELECT " OUTBOX_COLUMNS " FROM outbox WHERE last_attempt < ?"
                               " ORDER BY created_at, rowid");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, older_than_ms);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        lstore_outbox o;
        read_outbox(st, &o);
        if (fn(ud, &o))
            break;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static int count(lstore *s, const char *sql, const char *arg)
{
    sqlite3_stmt *st = prep(s, sql);
    int n = -1;
    if (!st)
        return -1;
    if (arg)
        sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return n;
}

int lstore_outbox_count(lstore *s)
{
    return count(s, "SELECT count(*) FROM outbox", NULL);
}

/* ---- blobs -------------------------------------------------------------- */

int lstore_blob_get(lstore *s, const char *ns, const char *key, uint8_t **out, size_t *len)
{
    sqlite3_stmt *st = prep(s, "SELECT v FROM blobs WHERE ns = ? AND k = ?");
    if (st) {
        sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    }
    return step_blob(st, out, len);
}

int lstore_blob_set(lstore *s, const char *ns, const char *key, const void *val, size_t len)
{
    sqlite3_stmt *st = prep(s, "INSERT INTO blobs(ns, k, v) VALUES(?, ?, ?) "
                               "ON CONFLICT(ns, k) DO UPDATE SET v = excluded.v");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, val, (int)len, SQLITE_STATIC);
    return run(st);
}

int lstore_blob_del(lstore *s, const char *ns, const char *key)
{
    sqlite3_stmt *st = prep(s, "DELETE FROM blobs WHERE ns = ? AND k = ?");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    return run(st);
}

int lstore_blob_count(lstore *s, const char *ns)
{
    return count(s, "SELECT count(*) FROM blobs WHERE ns = ?", ns);
}

int lstore_blob_clear(lstore *s, const char *ns)
{
    sqlite3_stmt *st = prep(s, "DELETE FROM blobs WHERE ns = ?");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
    return run(st);
}

int lstore_blob_each(lstore *s, const char *ns,
                     int (*fn)(void *ud, const char *key, const uint8_t *v, size_t len), void *ud)
{
    sqlite3_stmt *st = prep(s, "SELECT k, v FROM blobs WHERE ns = ? ORDER BY k");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (fn(ud, (const char *)sqlite3_column_text(st, 0), sqlite3_column_blob(st, 1),
               (size_t)sqlite3_column_bytes(st, 1)))
            break;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}
