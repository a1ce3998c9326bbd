/*
 * store_sqlite.c - the SQLite backend of the store (store_backend.h).
 *
 * One struct sq per connection: the sqlite3 handle (opened NOMUTEX: a
 * connection is used by one thread at a time) and a cache of prepared
 * statements, prepared on first use and reset after every use so no read
 * transaction stays open. Every write runs in its own IMMEDIATE transaction,
 * or - inside store_begin/commit - in a savepoint, so a failing write
 * changes nothing and leaves the surrounding transaction usable.
 * See docs/store.md for the schema, pragmas and durability.
 */
#include "store_sqlite.h"
#include "sqlite_ckpt.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- schema */

/* migrations[i] takes a database from user_version i to i + 1. */
static const char *const migrations[STORE_SQLITE_SCHEMA_VERSION] = {
    /* 0 -> 1 */
    "CREATE TABLE users ("
    "  user_id TEXT PRIMARY KEY,"
    "  identity_key BLOB NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL);"
    "CREATE INDEX users_updated_at ON users(updated_at);"
    /* slot 0 = current signed prekey, slot 1 = the previous one */
    "CREATE TABLE signed_prekeys ("
    "  user_id TEXT NOT NULL,"
    "  slot INTEGER NOT NULL CHECK (slot IN (0, 1)),"
    "  key_id INTEGER NOT NULL,"
    "  public_key BLOB NOT NULL,"
    "  signature BLOB NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  PRIMARY KEY (user_id, slot)) WITHOUT ROWID;"
    "CREATE TABLE one_time_prekeys ("
    "  user_id TEXT NOT NULL,"
    "  key_id INTEGER NOT NULL,"
    "  public_key BLOB NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  PRIMARY KEY (user_id, key_id)) WITHOUT ROWID;"
    "CREATE TABLE chats ("
    "  chat_id TEXT PRIMARY KEY,"
    "  type INTEGER NOT NULL CHECK (type IN (1, 2)),"
    "  name TEXT, description TEXT, created_by TEXT, settings TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  last_message_at INTEGER NOT NULL DEFAULT 0,"
    "  last_seq INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE members ("
    "  chat_id TEXT NOT NULL REFERENCES chats(chat_id) ON DELETE CASCADE,"
    "  user_id TEXT NOT NULL,"
    "  role INTEGER NOT NULL CHECK (role BETWEEN 1 AND 3),"
    "  joined_at INTEGER NOT NULL,"
    "  joined_seq INTEGER NOT NULL,"
    "  delivered_seq INTEGER NOT NULL,"
    "  read_seq INTEGER NOT NULL,"
    "  PRIMARY KEY (chat_id, user_id)) WITHOUT ROWID;"
    "CREATE INDEX members_user ON members(user_id);"
    "CREATE TABLE messages ("
    "  id INTEGER PRIMARY KEY,"
    "  chat_id TEXT NOT NULL REFERENCES chats(chat_id) ON DELETE CASCADE,"
    "  seq INTEGER NOT NULL,"
    "  server_id TEXT NOT NULL,"
    "  sender TEXT NOT NULL,"
    "  client_msg_id TEXT NOT NULL,"
    "  server_ts INTEGER NOT NULL,"
    "  body BLOB,"
    "  media_id TEXT,"
    "  expires_at INTEGER NOT NULL DEFAULT 0,"
    "  kind INTEGER NOT NULL);"
    "CREATE UNIQUE INDEX messages_chat_seq ON messages(chat_id, seq);"
    "CREATE UNIQUE INDEX messages_sender_client ON messages(sender, client_msg_id);"
    "CREATE INDEX messages_expires ON messages(expires_at) WHERE expires_at > 0;"
    "CREATE TABLE media ("
    "  media_id TEXT PRIMARY KEY,"
    "  owner TEXT NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  sha256 BLOB NOT NULL,"
    "  content_type TEXT,"
    "  backend_key TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  expires_at INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX media_expires ON media(expires_at) WHERE expires_at > 0;",
    /* 1 -> 2: account status (0 active, 1 disabled, 2 deleted), the case
     * rule's lookup index, registration invites (hashed tokens) */
    "ALTER TABLE users ADD COLUMN status INTEGER NOT NULL DEFAULT 0 "
    "  CHECK (status IN (0, 1, 2));"
    "CREATE INDEX users_fold ON users(lower(user_id));"
    "CREATE TABLE invites ("
    "  invite_id TEXT PRIMARY KEY,"
    "  created_at INTEGER NOT NULL,"
    "  expires_at INTEGER NOT NULL,"
    "  used_at INTEGER NOT NULL DEFAULT 0,"
    "  used_by TEXT,"
    "  note TEXT);",
    /* 2 -> 3: linked devices. The signed device list on the user row
     * (version 0, list NULL: implicit); prekeys per device (existing rows
     * belong to the implicit device ""); pending link codes. */
    "ALTER TABLE users ADD COLUMN devices_version INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE users ADD COLUMN devices_list BLOB;"
    "ALTER TABLE users ADD COLUMN devices_sig BLOB;"
    "CREATE TABLE signed_prekeys_v3 ("
    "  user_id TEXT NOT NULL,"
    "  device_id TEXT NOT NULL DEFAULT '',"
    "  slot INTEGER NOT NULL CHECK (slot IN (0, 1)),"
    "  key_id INTEGER NOT NULL,"
    "  public_key BLOB NOT NULL,"
    "  signature BLOB NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  PRIMARY KEY (user_id, device_id, slot)) WITHOUT ROWID;"
    "INSERT INTO signed_prekeys_v3 "
    "  (user_id, device_id, slot, key_id, public_key, signature, created_at) "
    "  SELECT user_id, '', slot, key_id, public_key, signature, created_at "
    "  FROM signed_prekeys;"
    "DROP TABLE signed_prekeys;"
    "ALTER TABLE signed_prekeys_v3 RENAME TO signed_prekeys;"
    "CREATE TABLE one_time_prekeys_v3 ("
    "  user_id TEXT NOT NULL,"
    "  device_id TEXT NOT NULL DEFAULT '',"
    "  key_id INTEGER NOT NULL,"
    "  public_key BLOB NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  PRIMARY KEY (user_id, device_id, key_id)) WITHOUT ROWID;"
    "INSERT INTO one_time_prekeys_v3 (user_id, device_id, key_id, public_key, created_at) "
    "  SELECT user_id, '', key_id, public_key, created_at FROM one_time_prekeys;"
    "DROP TABLE one_time_prekeys;"
    "ALTER TABLE one_time_prekeys_v3 RENAME TO one_time_prekeys;"
    "CREATE TABLE link_codes ("
    "  code TEXT PRIMARY KEY,"
    "  user_id TEXT NOT NULL,"
    "  device_id TEXT NOT NULL,"
    "  device_key BLOB NOT NULL,"
    "  name TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  expires_at INTEGER NOT NULL);"
    "CREATE INDEX link_codes_user ON link_codes(user_id, expires_at);"
    "CREATE INDEX link_codes_expires ON link_codes(expires_at);"
    "ALTER TABLE messages ADD COLUMN sender_device TEXT;",
    /* 3 -> 4 (delete for everyone): kind 3 = a tombstone */
    "ALTER TABLE messages ADD COLUMN deleted_by TEXT;"
    "ALTER TABLE messages ADD COLUMN deleted_at INTEGER NOT NULL DEFAULT 0;",
};

/* ---------------------------------------------------- statement cache */

enum {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_SAVEPOINT,
    ST_RELEASE,
    ST_ROLLBACK_TO,
    ST_USER_PUT,
    ST_USER_SET_KEY,
    ST_USER_GET,
    ST_USERS_SINCE,
    ST_SPK_DROP_PREV,
    ST_SPK_DEMOTE,
    ST_SPK_INSERT,
    ST_SPK_GET,
    ST_OTPK_ADD,
    ST_OTPK_POP,
    ST_OTPK_COUNT,
    ST_OTPK_CLEAR,
    ST_CHAT_PUT,
    ST_CHAT_UPDATE,
    ST_CHAT_GET,
    ST_CHAT_DELETE,
    ST_CHAT_LAST_SEQ,
    ST_CHAT_BUMP,
    ST_CHAT_LAST_SEQS,
    ST_MEMBER_PUT,
    ST_MEMBER_GET,
    ST_MEMBER_SET_ROLE,
    ST_MEMBER_REMOVE,
    ST_MEMBER_ADVANCE,
    ST_MEMBERS_OF_CHAT,
    ST_CHATS_OF_USER,
    ST_MSG_INSERT,
    ST_MSG_UNDO,
    ST_MSG_GET,
    ST_MSG_BY_CLIENT,
    ST_MSG_DUP,
    ST_MSG_AFTER,
    ST_MSG_EXPIRE,
    ST_MSG_TOMBSTONE,
    ST_MSG_KIND,
    ST_MEDIA_PUT,
    ST_MEDIA_GET,
    ST_MEDIA_DELETE,
    ST_MEDIA_EXPIRED,
    ST_CHATS_LIST,
    ST_OTPK_LIST,
    ST_SPK_GET_PREV,
    ST_MEDIA_LIST,
    ST_CHAT_RAISE,
    ST_USER_GET_FOLD,
    ST_USER_SET_STATUS,
    ST_USER_TOMBSTONE,
    ST_SPK_CLEAR,
    ST_USER_UNGROUP,
    ST_USERS_LIST,
    ST_INVITE_PUT,
    ST_INVITE_GET,
    ST_INVITE_USE,
    ST_INVITES_LIST,
    ST_INVITE_DELETE,
    ST_USER_SET_DEVICES,
    ST_SPK_DEL_DEV,
    ST_OTPK_DEL_DEV,
    ST_SPK_MOVE,
    ST_OTPK_MOVE,
    ST_SPK_DEL_FOR_MOVE,
    ST_OTPK_DEL_FOR_MOVE,
    ST_LINK_PUT,
    ST_LINK_GET,
    ST_LINK_DELETE,
    ST_LINK_COUNT,
    ST_LINKS_EXPIRE,
    ST_LINKS_DEL_DEV,
    ST_COUNT
};

#define USER_COLS \
    "user_id, identity_key, created_at, updated_at, status, devices_version, devices_list, " \
    "devices_sig"
/* WAL pages before a checkpoint (32 MB) instead of SQLite's 1000: pages
 * rewritten by many commits (index leaves) are copied to the database once per
 * checkpoint, +~18% inserts/s in bench/store.sh; the WAL file is cut back to
 * 64 MB (journal_size_limit) after a checkpoint. */
#define SQ_WAL_CHECKPOINT_PAGES 8000
#define SQ_STR_(x) #x
#define SQ_STR(x) SQ_STR_(x)

#define USER_PUT_COLS "user_id, identity_key, created_at, updated_at, status"
#define LINK_COLS "code, user_id, device_id, device_key, name, created_at, expires_at"
#define INVITE_COLS "invite_id, created_at, expires_at, used_at, used_by, note"
#define MEMBER_COLS "chat_id, user_id, role, joined_at, joined_seq, delivered_seq, read_seq"
#define MSG_COLS \
    "chat_id, seq, server_id, sender, client_msg_id, server_ts, body, media_id, expires_at, " \
    "kind, sender_device, deleted_by, deleted_at"
#define MEDIA_COLS \
    "media_id, owner, size, sha256, content_type, backend_key, created_at, expires_at"

static const char *const sql_text[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_SAVEPOINT] = "SAVEPOINT store_op",
    [ST_RELEASE] = "RELEASE store_op",
    [ST_ROLLBACK_TO] = "ROLLBACK TO store_op",
    /* the case rule: no row is inserted when an id equal up to ASCII case
     * exists (one statement: atomic under SQLite's write lock) */
    [ST_USER_PUT] = "INSERT INTO users (" USER_PUT_COLS ") "
                    "SELECT ?1, ?2, ?3, ?4, ?5 WHERE NOT EXISTS "
                    "(SELECT 1 FROM users WHERE lower(user_id) = lower(?1))",
    /* a new account key drops the list the old one signed (implicit again) */
    [ST_USER_SET_KEY] = "UPDATE users SET identity_key = ?2, updated_at = ?3, "
                        "devices_version = 0, devices_list = NULL, devices_sig = NULL "
                        "WHERE user_id = ?1",
    [ST_USER_GET] = "SELECT " USER_COLS " FROM users WHERE user_id = ?1",
    [ST_USERS_SINCE] = "SELECT " USER_COLS " FROM users "
                       "WHERE updated_at >= ?1 ORDER BY updated_at, user_id",
    [ST_USER_GET_FOLD] = "SELECT " USER_COLS " FROM users WHERE lower(user_id) = lower(?1) "
                         "ORDER BY user_id LIMIT 1",
    [ST_USER_SET_STATUS] = "UPDATE users SET status = ?2, updated_at = ?3 "
                           "WHERE user_id = ?1 AND status <> 2",
    [ST_USER_TOMBSTONE] = "UPDATE users SET status = 2, identity_key = zeroblob(32), "
                          "devices_version = 0, devices_list = NULL, devices_sig = NULL, "
                          "updated_at = ?2 WHERE user_id = ?1",
    [ST_SPK_CLEAR] = "DELETE FROM signed_prekeys WHERE user_id = ?1",
    [ST_USER_UNGROUP] = "DELETE FROM members WHERE user_id = ?1 AND substr(chat_id, 1, 2) = 'g:'",
    [ST_USERS_LIST] = "SELECT " USER_COLS " FROM users WHERE user_id > ?1 "
                      "ORDER BY user_id LIMIT ?2",
    [ST_INVITE_PUT] = "INSERT INTO invites (" INVITE_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_INVITE_GET] = "SELECT " INVITE_COLS " FROM invites WHERE invite_id = ?1",
    [ST_INVITE_USE] = "UPDATE invites SET used_at = ?3, used_by = ?2 "
                      "WHERE invite_id = ?1 AND used_at = 0 AND expires_at > ?3",
    [ST_INVITES_LIST] = "SELECT " INVITE_COLS " FROM invites WHERE invite_id > ?1 "
                        "ORDER BY invite_id LIMIT ?2",
    [ST_INVITE_DELETE] = "DELETE FROM invites WHERE invite_id = ?1",
    [ST_SPK_DROP_PREV] = "DELETE FROM signed_prekeys WHERE user_id = ?1 AND device_id = ?2 "
                         "AND slot = 1",
    [ST_SPK_DEMOTE] = "UPDATE signed_prekeys SET slot = 1 WHERE user_id = ?1 AND device_id = ?2 "
                      "AND slot = 0",
    [ST_SPK_INSERT] = "INSERT INTO signed_prekeys "
                      "(user_id, slot, key_id, public_key, signature, created_at, device_id) "
                      "VALUES (?1, 0, ?2, ?3, ?4, ?5, ?6)",
    [ST_SPK_GET] = "SELECT user_id, key_id, public_key, signature, created_at, device_id "
                   "FROM signed_prekeys WHERE user_id = ?1 AND device_id = ?2 AND slot = 0",
    [ST_OTPK_ADD] = "INSERT INTO one_time_prekeys "
                    "(user_id, key_id, public_key, created_at, device_id) "
                    "VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_OTPK_POP] = "DELETE FROM one_time_prekeys WHERE user_id = ?1 AND device_id = ?2 AND "
                    "key_id = (SELECT MIN(key_id) FROM one_time_prekeys WHERE user_id = ?1 "
                    "AND device_id = ?2) "
                    "RETURNING user_id, key_id, public_key, created_at, device_id",
    [ST_OTPK_COUNT] = "SELECT count(*) FROM one_time_prekeys WHERE user_id = ?1 "
                      "AND device_id = ?2",
    [ST_OTPK_CLEAR] = "DELETE FROM one_time_prekeys WHERE user_id = ?1",
    [ST_CHAT_PUT] = "INSERT INTO chats (chat_id, type, name, description, created_by, settings, "
                    "created_at, last_message_at, last_seq) "
                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0)",
    [ST_CHAT_UPDATE] = "UPDATE chats SET name = ?2, description = ?3, settings = ?4 "
                       "WHERE chat_id = ?1",
    [ST_CHAT_GET] = "SELECT chat_id, type, name, description, created_by, settings, created_at, "
                    "last_message_at, last_seq FROM chats WHERE chat_id = ?1",
    [ST_CHAT_DELETE] = "DELETE FROM chats WHERE chat_id = ?1",
    [ST_CHAT_LAST_SEQ] = "SELECT last_seq FROM chats WHERE chat_id = ?1",
    [ST_CHAT_BUMP] = "UPDATE chats SET last_seq = ?2, "
                     "last_message_at = MAX(last_message_at, ?3) WHERE chat_id = ?1",
    [ST_CHAT_LAST_SEQS] = "SELECT chat_id, last_seq FROM chats WHERE last_seq > 0 "
                          "ORDER BY chat_id",
    [ST_MEMBER_PUT] = "INSERT INTO members (" MEMBER_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_MEMBER_GET] = "SELECT " MEMBER_COLS " FROM members WHERE chat_id = ?1 AND user_id = ?2",
    [ST_MEMBER_SET_ROLE] = "UPDATE members SET role = ?3 WHERE chat_id = ?1 AND user_id = ?2",
    [ST_MEMBER_REMOVE] = "DELETE FROM members WHERE chat_id = ?1 AND user_id = ?2",
    [ST_MEMBER_ADVANCE] = "UPDATE members SET delivered_seq = MAX(delivered_seq, ?3), "
                          "read_seq = MAX(read_seq, ?4) WHERE chat_id = ?1 AND user_id = ?2",
    [ST_MEMBERS_OF_CHAT] = "SELECT " MEMBER_COLS " FROM members WHERE chat_id = ?1 "
                           "ORDER BY user_id",
    [ST_CHATS_OF_USER] = "SELECT " MEMBER_COLS " FROM members WHERE user_id = ?1 "
                         "ORDER BY chat_id",
    [ST_MSG_INSERT] = "INSERT INTO messages (" MSG_COLS ") "
                      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    [ST_MSG_UNDO] = "DELETE FROM messages WHERE chat_id = ?1 AND seq = ?2",
    [ST_MSG_GET] = "SELECT " MSG_COLS " FROM messages WHERE chat_id = ?1 AND seq = ?2",
    [ST_MSG_BY_CLIENT] = "SELECT " MSG_COLS " FROM messages "
                         "WHERE sender = ?1 AND client_msg_id = ?2",
    [ST_MSG_DUP] = "SELECT seq, server_id FROM messages WHERE sender = ?1 AND client_msg_id = ?2",
    [ST_MSG_AFTER] = "SELECT " MSG_COLS " FROM messages WHERE chat_id = ?1 AND seq > ?2 "
                     "ORDER BY seq LIMIT ?3",
    [ST_MSG_EXPIRE] = "DELETE FROM messages WHERE expires_at > 0 AND expires_at <= ?1",
    /* Only a CHAT message: a tombstone stays as it is, a SYSTEM one is refused. */
    [ST_MSG_TOMBSTONE] = "UPDATE messages SET kind = 3, body = NULL, media_id = NULL, "
                         "deleted_by = ?3, deleted_at = ?4 "
                         "WHERE chat_id = ?1 AND seq = ?2 AND kind = 1",
    [ST_MSG_KIND] = "SELECT kind FROM messages WHERE chat_id = ?1 AND seq = ?2",
    [ST_MEDIA_PUT] = "INSERT INTO media (" MEDIA_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [ST_MEDIA_GET] = "SELECT " MEDIA_COLS " FROM media WHERE media_id = ?1",
    [ST_MEDIA_DELETE] = "DELETE FROM media WHERE media_id = ?1",
    [ST_MEDIA_EXPIRED] = "SELECT " MEDIA_COLS " FROM media WHERE expires_at > 0 AND "
                         "expires_at <= ?1 ORDER BY expires_at, media_id LIMIT ?2",
    [ST_CHATS_LIST] = "SELECT chat_id, type, name, description, created_by, settings, "
                      "created_at, last_message_at, last_seq FROM chats WHERE chat_id > ?1 "
                      "ORDER BY chat_id LIMIT ?2",
    [ST_OTPK_LIST] = "SELECT user_id, key_id, public_key, created_at, device_id "
                     "FROM one_time_prekeys WHERE user_id = ?1 ORDER BY device_id, key_id",
    [ST_SPK_GET_PREV] = "SELECT user_id, key_id, public_key, signature, created_at, device_id "
                        "FROM signed_prekeys WHERE user_id = ?1 AND device_id = ?2 "
                        "AND slot = 1",
    [ST_USER_SET_DEVICES] = "UPDATE users SET devices_version = ?3, devices_list = ?4, "
                            "devices_sig = ?5, updated_at = ?6 "
                            "WHERE user_id = ?1 AND devices_version = ?2 AND status <> 2",
    [ST_SPK_DEL_DEV] = "DELETE FROM signed_prekeys WHERE user_id = ?1 AND device_id = ?2",
    [ST_OTPK_DEL_DEV] = "DELETE FROM one_time_prekeys WHERE user_id = ?1 AND device_id = ?2",
    /* a move replaces the target's keys of a kind only if the source has some */
    [ST_SPK_DEL_FOR_MOVE] = "DELETE FROM signed_prekeys WHERE user_id = ?1 AND device_id = ?3 "
                            "AND EXISTS (SELECT 1 FROM signed_prekeys "
                            "WHERE user_id = ?1 AND device_id = ?2)",
    [ST_OTPK_DEL_FOR_MOVE] = "DELETE FROM one_time_prekeys WHERE user_id = ?1 AND device_id = ?3 "
                             "AND EXISTS (SELECT 1 FROM one_time_prekeys "
                             "WHERE user_id = ?1 AND device_id = ?2)",
    [ST_SPK_MOVE] = "UPDATE signed_prekeys SET device_id = ?3 "
                    "WHERE user_id = ?1 AND device_id = ?2",
    [ST_OTPK_MOVE] = "UPDATE one_time_prekeys SET device_id = ?3 "
                     "WHERE user_id = ?1 AND device_id = ?2",
    [ST_LINK_PUT] = "INSERT INTO link_codes (" LINK_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_LINK_GET] = "SELECT " LINK_COLS " FROM link_codes WHERE code = ?1",
    [ST_LINK_DELETE] = "DELETE FROM link_codes WHERE code = ?1",
    [ST_LINK_COUNT] = "SELECT count(*) FROM link_codes WHERE user_id = ?1 AND expires_at > ?2",
    [ST_LINKS_EXPIRE] = "DELETE FROM link_codes WHERE expires_at <= ?1",
    [ST_LINKS_DEL_DEV] = "DELETE FROM link_codes WHERE user_id = ?1 AND device_id = ?2",
    [ST_MEDIA_LIST] = "SELECT " MEDIA_COLS " FROM media WHERE media_id > ?1 "
                      "ORDER BY media_id LIMIT ?2",
    [ST_CHAT_RAISE] = "UPDATE chats SET last_seq = MAX(last_seq, ?2), "
                      "last_message_at = MAX(last_message_at, ?3) WHERE chat_id = ?1",
};

struct sq {
    struct store base;      /* first: store_t * <-> struct sq * */
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
    sqlite_ckpt *ckpt;          /* background_checkpoints: the checkpointer, or NULL */
};

static struct sq *SQ(store_t *s)
{
    return (struct sq *)s;
}

/* Map a SQLite result code to a store_rc, recording what failed. */
static int sqerr(struct sq *q, int src, const char *what)
{
    int ext = src;
    src &= 0xff;
    if (src == SQLITE_CONSTRAINT) {
        if (ext == SQLITE_CONSTRAINT_FOREIGNKEY) {
            store__set_error(&q->base, "%s: referenced record does not exist", what);
            return STORE_ENOTFOUND;
        }
        if (ext == SQLITE_CONSTRAINT_PRIMARYKEY || ext == SQLITE_CONSTRAINT_UNIQUE) {
            store__set_error(&q->base, "%s: already exists", what);
            return STORE_EEXIST;
        }
        store__set_error(&q->base, "%s: %s", what, sqlite3_errmsg(q->db));
        return STORE_EINVAL;
    }
    store__set_error(&q->base, "%s: %s", what, sqlite3_errmsg(q->db));
    if (src == SQLITE_NOMEM)
        return STORE_ENOMEM;
    if (src == SQLITE_BUSY || src == SQLITE_LOCKED)
        return STORE_EUNAVAIL;
    return STORE_EIO;
}

/* The cached statement id, reset (callers bind every parameter); NULL on error
 * (q->base.err set). */
static sqlite3_stmt *stmt(struct sq *q, int id)
{
    sqlite3_stmt *s = q->st[id];
    if (s) {
        sqlite3_reset(s);   /* every caller binds every parameter again */
        return s;
    }
    if (sqlite3_prepare_v3(q->db, sql_text[id], -1, SQLITE_PREPARE_PERSISTENT, &q->st[id], NULL) !=
        SQLITE_OK) {
        store__set_error(&q->base, "prepare: %s", sqlite3_errmsg(q->db));
        q->st[id] = NULL;
        return NULL;
    }
    return q->st[id];
}

/* Run a statement that returns no rows; reset it. Returns STORE_OK or the
 * mapped error. */
static int run(struct sq *q, sqlite3_stmt *s, const char *what)
{
    int rc = sqlite3_step(s);
    int out = STORE_OK;
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        out = sqerr(q, sqlite3_extended_errcode(q->db), what);
    sqlite3_reset(s);
    return out;
}

static int run_id(struct sq *q, int id, const char *what)
{
    sqlite3_stmt *s = stmt(q, id);
    return s ? run(q, s, what) : STORE_EIO;
}

static int bind_text(sqlite3_stmt *s, int i, const char *v)
{
    return v ? sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(s, i);
}

static int bind_blob(sqlite3_stmt *s, int i, const void *v, size_t n)
{
    return sqlite3_bind_blob64(s, i, n ? v : "", n, SQLITE_STATIC);
}

/* Copy column i as a string (NULL stays NULL). STORE_ENOMEM on failure. */
static int col_text(sqlite3_stmt *s, int i, char **out)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    *out = NULL;
    if (!t)
        return sqlite3_column_type(s, i) == SQLITE_NULL ? STORE_OK : STORE_ENOMEM;
    *out = strdup((const char *)t);
    return *out ? STORE_OK : STORE_ENOMEM;
}

/* Copy a fixed-length blob column (zero-filled if shorter). */
static void col_fixed(sqlite3_stmt *s, int i, uint8_t *out, size_t len)
{
    const void *b = sqlite3_column_blob(s, i);
    size_t n = (size_t)sqlite3_column_bytes(s, i);
    memset(out, 0, len);
    if (b)
        memcpy(out, b, n < len ? n : len);
}

/* ---------------------------------------------------------- transactions */

/* Start a write: an IMMEDIATE transaction of its own, or a savepoint inside
 * the caller's transaction. *nested tells write_end which. */
static int write_begin(struct sq *q, bool *nested)
{
    *nested = !sqlite3_get_autocommit(q->db);
    return run_id(q, *nested ? ST_SAVEPOINT : ST_BEGIN, *nested ? "savepoint" : "begin");
}

/* Finish a write started by write_begin: keep it if rc is STORE_OK (or
 * STORE_EDUP), undo it otherwise. Returns rc, or the commit error. */
static int write_end(struct sq *q, bool nested, int rc)
{
    char keep[sizeof q->base.err];
    int r;
    bool ok = rc == STORE_OK || rc == STORE_EDUP;
    if (ok) {
        r = run_id(q, nested ? ST_RELEASE : ST_COMMIT, nested ? "release" : "commit");
        if (r == STORE_OK)
            return rc;
        if (!nested && !sqlite3_get_autocommit(q->db)) {
            memcpy(keep, q->base.err, sizeof keep);
            run_id(q, ST_ROLLBACK, "rollback");
            memcpy(q->base.err, keep, sizeof keep);
        }
        return r;
    }
    /* Undo; keep the original error message. */
    memcpy(keep, q->base.err, sizeof keep);
    if (nested) {
        run_id(q, ST_ROLLBACK_TO, "rollback to savepoint");
        run_id(q, ST_RELEASE, "release");
    } else if (!sqlite3_get_autocommit(q->db)) {
        run_id(q, ST_ROLLBACK, "rollback");
    }
    memcpy(q->base.err, keep, sizeof keep);
    return rc;
}

static int sq_begin(store_t *s)
{
    struct sq *q = SQ(s);
    if (!sqlite3_get_autocommit(q->db)) {
        store__set_error(s, "begin: a transaction is already open");
        return STORE_EINVAL;
    }
    return run_id(q, ST_BEGIN, "begin");
}

static int sq_commit(store_t *s)
{
    struct sq *q = SQ(s);
    int rc;
    char keep[sizeof s->err];
    if (sqlite3_get_autocommit(q->db)) {
        store__set_error(s, "commit: no transaction is open");
        return STORE_EINVAL;
    }
    rc = run_id(q, ST_COMMIT, "commit");
    if (rc != STORE_OK && !sqlite3_get_autocommit(q->db)) {
        /* The transaction is still open: undo it so nothing of it stays. */
        memcpy(keep, s->err, sizeof keep);
        run_id(q, ST_ROLLBACK, "rollback");
        memcpy(s->err, keep, sizeof keep);
    }
    return rc;
}

static int sq_rollback(store_t *s)
{
    struct sq *q = SQ(s);
    if (sqlite3_get_autocommit(q->db)) {
        store__set_error(s, "rollback: no transaction is open");
        return STORE_EINVAL;
    }
    return run_id(q, ST_ROLLBACK, "rollback");
}

/* A single-statement write (INSERT/UPDATE/DELETE) already bound in s.
 * Inside a caller's transaction a failing statement undoes only itself
 * (SQLite statement journal), so no savepoint is needed. If must_change,
 * zero changed rows is STORE_ENOTFOUND. */
static int write_one(struct sq *q, sqlite3_stmt *s, const char *what, bool must_change)
{
    int rc = run(q, s, what);
    if (rc == STORE_OK && must_change && sqlite3_changes(q->db) == 0) {
        store__set_error(&q->base, "%s: not found", what);
        rc = STORE_ENOTFOUND;
    }
    return rc;
}

/* One parameter of a statement, for bound(): a string (NULL binds NULL), an
 * integer or a blob. Written SQ_TEXT(v), SQ_INT(v), SQ_BLOB(p, len); a
 * statement's parameters 1..n are SQ_ARGS(first, ...). */
typedef struct {
    enum { SQ_T, SQ_I, SQ_B } kind;
    const void *p;
    int64_t i;
    size_t n;
} sq_arg;
#define SQ_TEXT(v) ((sq_arg){.kind = SQ_T, .p = (const char *)(v)})
#define SQ_INT(v) ((sq_arg){.kind = SQ_I, .i = (int64_t)(v)})
#define SQ_BLOB(v, len) ((sq_arg){.kind = SQ_B, .p = (v), .n = (len)})
#define SQ_LIST(...) ((sq_arg[]){__VA_ARGS__})
#define SQ_ARGS(...) sizeof SQ_LIST(__VA_ARGS__) / sizeof(sq_arg), SQ_LIST(__VA_ARGS__)

/* The cached statement id (stmt) with parameters 1..n bound from a; NULL when
 * it cannot be prepared (q->base.err set). */
static sqlite3_stmt *bound(struct sq *q, int id, size_t n, const sq_arg *a)
{
    sqlite3_stmt *s = stmt(q, id);
    for (size_t i = 0; s && i < n; i++) {
        int k = (int)i + 1;
        switch (a[i].kind) {
        case SQ_T: bind_text(s, k, a[i].p); break;
        case SQ_I: sqlite3_bind_int64(s, k, a[i].i); break;
        case SQ_B: bind_blob(s, k, a[i].p, a[i].n); break;
        }
    }
    return s;
}

/* run() of statement id with its parameters. */
static int run_args(struct sq *q, int id, const char *what, size_t n, const sq_arg *a)
{
    sqlite3_stmt *s = bound(q, id, n, a);
    return s ? run(q, s, what) : STORE_EIO;
}

/* write_one() of statement id with its parameters. */
static int write_args(struct sq *q, int id, const char *what, bool must_change, size_t n,
                      const sq_arg *a)
{
    sqlite3_stmt *s = bound(q, id, n, a);
    return s ? write_one(q, s, what, must_change) : STORE_EIO;
}

/* One kind of record: its size, how a row is read into one (fn), and how one
 * record and an array of them are freed. NAME_rec (SQ_RECORD) for TYPE read by
 * ROW, freed with TYPE_free and TYPE_array_free. */
struct sq_rec {
    size_t size;
    int (*row)(sqlite3_stmt *, void *);
    void (*free_one)(void *);
    void (*free_all)(void *, size_t);
};
#define SQ_RECORD(name, type, rowfn) \
    static void name##_free_one(void *p) \
    { \
        type##_free(p); \
    } \
    static void name##_free_all(void *a, size_t n) \
    { \
        type##_array_free(a, n); \
    } \
    static const struct sq_rec name##_rec = {sizeof(type), rowfn, name##_free_one, name##_free_all}

/* ----------------------------------------------------------------- users */

static int read_user(sqlite3_stmt *s, store_user *u)
{
    int rc = col_text(s, 0, &u->user_id);
    col_fixed(s, 1, u->identity_key, STORE_KEY_LEN);
    u->created_at = sqlite3_column_int64(s, 2);
    u->updated_at = sqlite3_column_int64(s, 3);
    u->status = (store_user_status)sqlite3_column_int(s, 4);
    u->devices_version = (uint64_t)sqlite3_column_int64(s, 5);
    if (rc == STORE_OK && sqlite3_column_type(s, 6) == SQLITE_BLOB) {
        const void *b = sqlite3_column_blob(s, 6);
        size_t n = (size_t)sqlite3_column_bytes(s, 6);
        if (b && n > 0) {
            u->devices_list = malloc(n);
            if (!u->devices_list)
                return STORE_ENOMEM;
            memcpy(u->devices_list, b, n);
            u->devices_list_len = n;
        }
    }
    col_fixed(s, 7, u->devices_sig, STORE_SIG_LEN);
    return rc;
}

static int sq_user_put(store_t *st, const store_user *u)
{
    struct sq *q = SQ(st);
    int rc = write_args(q, ST_USER_PUT, "user_put", false,
                        SQ_ARGS(SQ_TEXT(u->user_id), SQ_BLOB(u->identity_key, STORE_KEY_LEN),
                                SQ_INT(u->created_at), SQ_INT(u->updated_at), SQ_INT(u->status)));
    if (rc == STORE_OK && sqlite3_changes(q->db) == 0) {
        store__set_error(st, "user_put: %s or an id differing only by case already exists",
                         u->user_id);
        rc = STORE_EEXIST;
    }
    return rc;
}

static int sq_user_set_key(store_t *st, const char *user_id, const uint8_t key[STORE_KEY_LEN],
                           int64_t updated_at)
{
    return write_args(SQ(st), ST_USER_SET_KEY, "user_set_key", true,
                      SQ_ARGS(SQ_TEXT(user_id), SQ_BLOB(key, STORE_KEY_LEN), SQ_INT(updated_at)));
}

/* Run a query expected to return at most one row and read it with fn.
 * STORE_ENOTFOUND when there is no row. */
static int get_one(struct sq *q, sqlite3_stmt *s, const char *what,
                   int (*fn)(sqlite3_stmt *, void *), void *out)
{
    int rc = sqlite3_step(s);
    int out_rc;
    if (rc == SQLITE_ROW)
        out_rc = fn(s, out);
    else if (rc == SQLITE_DONE) {
        store__set_error(&q->base, "%s: not found", what);
        out_rc = STORE_ENOTFOUND;
    } else
        out_rc = sqerr(q, sqlite3_extended_errcode(q->db), what);
    sqlite3_reset(s);
    return out_rc;
}

/* Read every row of s into a growing array of elem-sized records. */
static int get_all(struct sq *q, sqlite3_stmt *s, const char *what, size_t elem,
                   int (*fn)(sqlite3_stmt *, void *), void **out, size_t *n,
                   void (*free_fn)(void *, size_t))
{
    char *arr = NULL;
    size_t cap = 0, cnt = 0;
    int rc = STORE_OK, src;

    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        if (cnt == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            char *na = realloc(arr, ncap * elem);
            if (!na) {
                rc = STORE_ENOMEM;
                goto fail;
            }
            memset(na + cap * elem, 0, (ncap - cap) * elem);
            arr = na;
            cap = ncap;
        }
        rc = fn(s, arr + cnt * elem);
        cnt++;
        if (rc != STORE_OK)
            goto fail;
    }
    if (src != SQLITE_DONE) {
        rc = sqerr(q, sqlite3_extended_errcode(q->db), what);
        goto fail;
    }
    sqlite3_reset(s);
    *out = arr;
    *n = cnt;
    return STORE_OK;
fail:
    sqlite3_reset(s);
    if (rc == STORE_ENOMEM)
        store__set_error(&q->base, "%s: out of memory", what);
    free_fn(arr, cnt);
    return rc;
}

/* get_one() of statement id with its parameters into out, a record of kind r;
 * out is freed when that fails. */
static int get_args(struct sq *q, int id, const char *what, const struct sq_rec *r, void *out,
                    size_t n, const sq_arg *a)
{
    sqlite3_stmt *s = bound(q, id, n, a);
    int rc;
    if (!s)
        return STORE_EIO;
    rc = get_one(q, s, what, r->row, out);
    if (rc != STORE_OK)
        r->free_one(out);
    return rc;
}

/* get_all() of statement id with its parameters: records of kind r. */
static int list_args(struct sq *q, int id, const char *what, const struct sq_rec *r, void **out,
                     size_t *nout, size_t n, const sq_arg *a)
{
    sqlite3_stmt *s = bound(q, id, n, a);
    return s ? get_all(q, s, what, r->size, r->row, out, nout, r->free_all) : STORE_EIO;
}

/* A query of one row whose first column is a count. */
static int count_args(struct sq *q, int id, const char *what, size_t *count, size_t n,
                      const sq_arg *a)
{
    sqlite3_stmt *s = bound(q, id, n, a);
    int rc;
    if (!s)
        return STORE_EIO;
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *count = (size_t)sqlite3_column_int64(s, 0);
        rc = STORE_OK;
    } else {
        rc = sqerr(q, sqlite3_extended_errcode(q->db), what);
    }
    sqlite3_reset(s);
    return rc;
}

static int user_row(sqlite3_stmt *s, void *out)
{
    return read_user(s, out);
}

SQ_RECORD(user, store_user, user_row);

static int sq_user_get(store_t *st, const char *user_id, store_user *out)
{
    return get_args(SQ(st), ST_USER_GET, "user_get", &user_rec, out, SQ_ARGS(SQ_TEXT(user_id)));
}

static int sq_users_changed_since(store_t *st, int64_t since, store_user **out, size_t *n)
{
    return list_args(SQ(st), ST_USERS_SINCE, "users_changed_since", &user_rec, (void **)out, n,
                     SQ_ARGS(SQ_INT(since)));
}

static int sq_user_get_fold(store_t *st, const char *user_id, store_user *out)
{
    return get_args(SQ(st), ST_USER_GET_FOLD, "user_get_fold", &user_rec, out,
                    SQ_ARGS(SQ_TEXT(user_id)));
}

/* Why a user update changed no row: STORE_ENOTFOUND, or STORE_EINVAL for a
 * tombstone. */
static int user_unchanged(struct sq *q, const char *user_id, const char *what)
{
    store_user u = {0};
    int rc = sq_user_get(&q->base, user_id, &u);
    if (rc == STORE_OK) {
        rc = u.status == STORE_USER_DELETED ? STORE_EINVAL : STORE_OK;
        if (rc != STORE_OK)
            store__set_error(&q->base, "%s: user %s was deleted", what, user_id);
    } else if (rc == STORE_ENOTFOUND) {
        store__set_error(&q->base, "%s: no user %s", what, user_id);
    }
    store_user_free(&u);
    return rc;
}

static int sq_user_set_status(store_t *st, const char *user_id, store_user_status status,
                              int64_t updated_at)
{
    struct sq *q = SQ(st);
    int rc = write_args(q, ST_USER_SET_STATUS, "user_set_status", false,
                        SQ_ARGS(SQ_TEXT(user_id), SQ_INT(status), SQ_INT(updated_at)));
    if (rc == STORE_OK && sqlite3_changes(q->db) == 0)
        rc = user_unchanged(q, user_id, "user_set_status");
    return rc;
}

static int sq_user_delete(store_t *st, const char *user_id, int64_t now)
{
    struct sq *q = SQ(st);
    bool nested;
    int rc = write_begin(q, &nested);
    if (rc != STORE_OK)
        return rc;
    if ((rc = write_args(q, ST_USER_TOMBSTONE, "user_delete", true,
                         SQ_ARGS(SQ_TEXT(user_id), SQ_INT(now)))) != STORE_OK)
        goto done;
    if ((rc = run_args(q, ST_SPK_CLEAR, "user_delete", SQ_ARGS(SQ_TEXT(user_id)))) != STORE_OK ||
        (rc = run_args(q, ST_OTPK_CLEAR, "user_delete", SQ_ARGS(SQ_TEXT(user_id)))) != STORE_OK)
        goto done;
    rc = run_args(q, ST_USER_UNGROUP, "user_delete", SQ_ARGS(SQ_TEXT(user_id)));
done:
    return write_end(q, nested, rc);
}

static int sq_users_list(store_t *st, const char *after, size_t limit, store_user **out, size_t *n)
{
    return list_args(SQ(st), ST_USERS_LIST, "users_list", &user_rec, (void **)out, n,
                     SQ_ARGS(SQ_TEXT(after), SQ_INT(limit)));
}

/* --------------------------------------------------------------- invites */

static int invite_row(sqlite3_stmt *s, void *out)
{
    store_invite *i = out;
    int rc = STORE_OK;
    rc |= col_text(s, 0, &i->invite_id);
    i->created_at = sqlite3_column_int64(s, 1);
    i->expires_at = sqlite3_column_int64(s, 2);
    i->used_at = sqlite3_column_int64(s, 3);
    rc |= col_text(s, 4, &i->used_by);
    rc |= col_text(s, 5, &i->note);
    return rc ? STORE_ENOMEM : STORE_OK;
}

SQ_RECORD(invite, store_invite, invite_row);

static int sq_invite_put(store_t *st, const store_invite *i)
{
    return write_args(SQ(st), ST_INVITE_PUT, "invite_put", false,
                      SQ_ARGS(SQ_TEXT(i->invite_id), SQ_INT(i->created_at), SQ_INT(i->expires_at),
                              SQ_INT(i->used_at), SQ_TEXT(i->used_by), SQ_TEXT(i->note)));
}

static int sq_invite_get(store_t *st, const char *invite_id, store_invite *out)
{
    return get_args(SQ(st), ST_INVITE_GET, "invite_get", &invite_rec, out,
                    SQ_ARGS(SQ_TEXT(invite_id)));
}

static int sq_invite_use(store_t *st, const char *invite_id, const char *user_id, int64_t now)
{
    return write_args(SQ(st), ST_INVITE_USE, "invite_use", true,
                      SQ_ARGS(SQ_TEXT(invite_id), SQ_TEXT(user_id), SQ_INT(now)));
}

static int sq_invites_list(store_t *st, const char *after, size_t limit, store_invite **out,
                           size_t *n)
{
    return list_args(SQ(st), ST_INVITES_LIST, "invites_list", &invite_rec, (void **)out, n,
                     SQ_ARGS(SQ_TEXT(after), SQ_INT(limit)));
}

static int sq_invite_delete(store_t *st, const char *invite_id)
{
    return write_args(SQ(st), ST_INVITE_DELETE, "invite_delete", true, SQ_ARGS(SQ_TEXT(invite_id)));
}

/* --------------------------------------------------------------- prekeys */

static int sq_signed_prekey_put(store_t *st, const store_prekey *p)
{
    struct sq *q = SQ(st);
    bool nested;
    int rc = write_begin(q, &nested);
    if (rc != STORE_OK)
        return rc;
    if ((rc = run_args(q, ST_SPK_DROP_PREV, "signed_prekey_put",
                       SQ_ARGS(SQ_TEXT(p->user_id), SQ_TEXT(p->device_id)))) != STORE_OK)
        goto done;
    if ((rc = run_args(q, ST_SPK_DEMOTE, "signed_prekey_put",
                       SQ_ARGS(SQ_TEXT(p->user_id), SQ_TEXT(p->device_id)))) != STORE_OK)
        goto done;
    rc = run_args(q, ST_SPK_INSERT, "signed_prekey_put",
                  SQ_ARGS(SQ_TEXT(p->user_id), SQ_INT(p->key_id),
                          SQ_BLOB(p->public_key, STORE_KEY_LEN),
                          SQ_BLOB(p->signature, STORE_SIG_LEN), SQ_INT(p->created_at),
                          SQ_TEXT(p->device_id)));
done:
    return write_end(q, nested, rc);
}

static int spk_row(sqlite3_stmt *s, void *out)
{
    store_prekey *p = out;
    int rc = col_text(s, 0, &p->user_id);
    p->key_id = (uint32_t)sqlite3_column_int64(s, 1);
    col_fixed(s, 2, p->public_key, STORE_KEY_LEN);
    col_fixed(s, 3, p->signature, STORE_SIG_LEN);
    p->created_at = sqlite3_column_int64(s, 4);
    if (rc == STORE_OK)
        rc = col_text(s, 5, &p->device_id);
    return rc;
}

SQ_RECORD(spk, store_prekey, spk_row);

static int sq_signed_prekey_get(store_t *st, const char *user_id, const char *device_id,
                                store_prekey *out)
{
    return get_args(SQ(st), ST_SPK_GET, "signed_prekey_get", &spk_rec, out,
                    SQ_ARGS(SQ_TEXT(user_id), SQ_TEXT(device_id)));
}

static int sq_otpk_add(store_t *st, const store_prekey *keys, size_t n)
{
    struct sq *q = SQ(st);
    bool nested;
    int rc = write_begin(q, &nested);
    if (rc != STORE_OK)
        return rc;
    for (size_t i = 0; i < n && rc == STORE_OK; i++)
        rc = run_args(q, ST_OTPK_ADD, "otpk_add",
                      SQ_ARGS(SQ_TEXT(keys[i].user_id), SQ_INT(keys[i].key_id),
                              SQ_BLOB(keys[i].public_key, STORE_KEY_LEN),
                              SQ_INT(keys[i].created_at), SQ_TEXT(keys[i].device_id)));
    return write_end(q, nested, rc);
}

static int otpk_row(sqlite3_stmt *s, void *out)
{
    store_prekey *p = out;
    int rc = col_text(s, 0, &p->user_id);
    p->key_id = (uint32_t)sqlite3_column_int64(s, 1);
    col_fixed(s, 2, p->public_key, STORE_KEY_LEN);
    p->created_at = sqlite3_column_int64(s, 3);
    if (rc == STORE_OK)
        rc = col_text(s, 4, &p->device_id);
    return rc;
}

SQ_RECORD(otpk, store_prekey, otpk_row);

static int sq_otpk_pop(store_t *st, const char *user_id, const char *device_id, store_prekey *out)
{
    struct sq *q = SQ(st);
    bool nested;
    sqlite3_stmt *s;
    int rc = write_begin(q, &nested);
    if (rc != STORE_OK)
        return rc;
    s = bound(q, ST_OTPK_POP, SQ_ARGS(SQ_TEXT(user_id), SQ_TEXT(device_id)));
    rc = s ? get_one(q, s, "otpk_pop", otpk_row, out) : STORE_EIO;
    rc = write_end(q, nested, rc);
    if (rc != STORE_OK)
        store_prekey_free(out);
    return rc;
}

static int sq_otpk_count(store_t *st, const char *user_id, const char *device_id, size_t *count)
{
    return count_args(SQ(st), ST_OTPK_COUNT, "otpk_count", count,
                      SQ_ARGS(SQ_TEXT(user_id), SQ_TEXT(device_id)));
}

static int sq_otpk_clear(store_t *st, const char *user_id)
{
    return write_args(SQ(st), ST_OTPK_CLEAR, "otpk_clear", false, SQ_ARGS(SQ_TEXT(user_id)));
}

/* Run statement id with (user_id, a, b) bound as ?1, ?2 and (if b) ?3. */
static int run_user_dev(struct sq *q, int id, const char *user_id, const char *a, const char *b,
                        const char *what)
{
    if (b)
        return run_args(q, id, what, SQ_ARGS(SQ_TEXT(user_id), SQ_TEXT(a), SQ_TEXT(b)));
    return run_args(q, id, what, SQ_ARGS(SQ_TEXT(user_id), SQ_TEXT(a)));
}

static int sq_prekeys_delete_device(store_t *st, const char *user_id, const char *device_id)
{
    struct sq *q = SQ(st);
    bool nested;
    int rc = write_begin(q, &nested);
    if (rc != STORE_OK)
        return rc;
    if ((rc = run_user_dev(q, ST_SPK_DEL_DEV, user_id, device_id, NULL, "prekeys_delete_device")) ==
        STORE_OK)
        rc = run_user_dev(q, ST_OTPK_DEL_DEV, user_id, device_id, NULL, "prekeys_delete_device");
    return write_end(q, nested, rc);
}

static int sq_prekeys_move_device(store_t *st, const char *user_id, const char *from,
                                  const char *to)
{
    struct sq *q = SQ(st);
    bool nested;
    int rc = write_begin(q, &nested);
    if (rc != STORE_OK)
        return rc;
    if ((rc = run_user_dev(q, ST_SPK_DEL_FOR_MOVE, user_id, from, to, "prekeys_move_device")) ||
        (rc = run_user_dev(q, ST_OTPK_DEL_FOR_MOVE, user_id, from, to, "prekeys_move_device")) ||
        (rc = run_user_dev(q, ST_SPK_MOVE, user_id, from, to, "prekeys_move_device")))
        goto done;
    rc = run_user_dev(q, ST_OTPK_MOVE, user_id, from, to, "prekeys_move_device");
done:
    return write_end(q, nested, rc);
}

/* ---------------------------------------------------------- device lists */

static int sq_user_set_devices(store_t *st, const char *user_id, uint64_t expect_version,
                               uint64_t version, const uint8_t *list, size_t list_len,
                               const uint8_t sig[STORE_SIG_LEN], int64_t updated_at)
{
    struct sq *q = SQ(st);
    int rc = write_args(q, ST_USER_SET_DEVICES, "user_set_devices", false,
                        SQ_ARGS(SQ_TEXT(user_id), SQ_INT(expect_version), SQ_INT(version),
                                SQ_BLOB(list, list_len), SQ_BLOB(sig, STORE_SIG_LEN),
                                SQ_INT(updated_at)));
    if (rc == STORE_OK && sqlite3_changes(q->db) == 0) {
        rc = user_unchanged(q, user_id, "user_set_devices");
        if (rc == STORE_OK) {
            store__set_error(st, "user_set_devices: %s's device list is no longer version %llu",
                             user_id, (unsigned long long)expect_version);
            rc = STORE_EEXIST;
        }
    }
    return rc;
}

/* ------------------------------------------------------------ link codes */

static int link_row(sqlite3_stmt *s, void *out)
{
    store_link *l = out;
    int rc = STORE_OK;
    rc |= col_text(s, 0, &l->code);
    rc |= col_text(s, 1, &l->user_id);
    rc |= col_text(s, 2, &l->device_id);
    col_fixed(s, 3, l->device_key, STORE_KEY_LEN);
    rc |= col_text(s, 4, &l->name);
    l->created_at = sqlite3_column_int64(s, 5);
    l->expires_at = sqlite3_column_int64(s, 6);
    return rc ? STORE_ENOMEM : STORE_OK;
}

static void link_free_one(void *p)
{
    store_link_free(p);
}

static const struct sq_rec link_rec = {sizeof(store_link), link_row, link_free_one, NULL};

static int sq_link_put(store_t *st, const store_link *l)
{
    return write_args(SQ(st), ST_LINK_PUT, "link_put", false,
                      SQ_ARGS(SQ_TEXT(l->code), SQ_TEXT(l->user_id), SQ_TEXT(l->device_id),
                              SQ_BLOB(l->device_key, STORE_KEY_LEN), SQ_TEXT(l->name),
                              SQ_INT(l->created_at), SQ_INT(l->expires_at)));
}

static int sq_link_get(store_t *st, const char *code, store_link *out)
{
    return get_args(SQ(st), ST_LINK_GET, "link_get", &link_rec, out, SQ_ARGS(SQ_TEXT(code)));
}

static int sq_link_delete(store_t *st, const char *code)
{
    return write_args(SQ(st), ST_LINK_DELETE, "link_delete", true, SQ_ARGS(SQ_TEXT(code)));
}

static int sq_links_delete_device(store_t *st, const char *user_id, const char *device_id)
{
    return run_user_dev(SQ(st), ST_LINKS_DEL_DEV, user_id, device_id, NULL, "links_delete_device");
}

static int sq_link_count(store_t *st, const char *user_id, int64_t now, size_t *count)
{
    return count_args(SQ(st), ST_LINK_COUNT, "link_count", count,
                      SQ_ARGS(SQ_TEXT(user_id), SQ_INT(now)));
}

/* Run the DELETE statement id (one parameter: now) and count what it removed. */
static int expire_before(struct sq *q, int id, int64_t now, const char *what, size_t *deleted)
{
    int rc = write_args(q, id, what, false, SQ_ARGS(SQ_INT(now)));
    if (rc == STORE_OK)
        *deleted = (size_t)sqlite3_changes64(q->db);
    return rc;
}

static int sq_links_expire(store_t *st, int64_t now, size_t *deleted)
{
    return expire_before(SQ(st), ST_LINKS_EXPIRE, now, "links_expire", deleted);
}

/* ----------------------------------------------------------------- chats */

static int sq_chat_put(store_t *st, const store_chat *c)
{
    return write_args(SQ(st), ST_CHAT_PUT, "chat_put", false,
                      SQ_ARGS(SQ_TEXT(c->chat_id), SQ_INT(c->type), SQ_TEXT(c->name),
                              SQ_TEXT(c->description), SQ_TEXT(c->created_by), SQ_TEXT(c->settings),
                              SQ_INT(c->created_at), SQ_INT(c->last_message_at)));
}

static int sq_chat_update(store_t *st, const store_chat *c)
{
    return write_args(SQ(st), ST_CHAT_UPDATE, "chat_update", true,
                      SQ_ARGS(SQ_TEXT(c->chat_id), SQ_TEXT(c->name), SQ_TEXT(c->description),
                              SQ_TEXT(c->settings)));
}

static int chat_row(sqlite3_stmt *s, void *out)
{
    store_chat *c = out;
    int rc = STORE_OK;
    rc |= col_text(s, 0, &c->chat_id);
    c->type = (store_chat_type)sqlite3_column_int(s, 1);
    rc |= col_text(s, 2, &c->name);
    rc |= col_text(s, 3, &c->description);
    rc |= col_text(s, 4, &c->created_by);
    rc |= col_text(s, 5, &c->settings);
    c->created_at = sqlite3_column_int64(s, 6);
    c->last_message_at = sqlite3_column_int64(s, 7);
    c->last_seq = (uint64_t)sqlite3_column_int64(s, 8);
    return rc ? STORE_ENOMEM : STORE_OK;
}

SQ_RECORD(chat, store_chat, chat_row);

static int sq_chat_get(store_t *st, const char *chat_id, store_chat *out)
{
    return get_args(SQ(st), ST_CHAT_GET, "chat_get", &chat_rec, out, SQ_ARGS(SQ_TEXT(chat_id)));
}

static int sq_chat_delete(store_t *st, const char *chat_id)
{
    /* members and messages go with it (ON DELETE CASCADE) */
    return write_args(SQ(st), ST_CHAT_DELETE, "chat_delete", true, SQ_ARGS(SQ_TEXT(chat_id)));
}

/* --------------------------------------------------------------- members */

static int member_row(sqlite3_stmt *s, void *out)
{
    store_member *m = out;
    int rc = STORE_OK;
    rc |= col_text(s, 0, &m->chat_id);
    rc |= col_text(s, 1, &m->user_id);
    m->role = (store_role)sqlite3_column_int(s, 2);
    m->joined_at = sqlite3_column_int64(s, 3);
    m->joined_seq = (uint64_t)sqlite3_column_int64(s, 4);
    m->delivered_seq = (uint64_t)sqlite3_column_int64(s, 5);
    m->read_seq = (uint64_t)sqlite3_column_int64(s, 6);
    return rc ? STORE_ENOMEM : STORE_OK;
}

SQ_RECORD(member, store_member, member_row);

static int sq_member_put(store_t *st, const store_member *m)
{
    return write_args(SQ(st), ST_MEMBER_PUT, "member_put", false,
                      SQ_ARGS(SQ_TEXT(m->chat_id), SQ_TEXT(m->user_id), SQ_INT(m->role),
                              SQ_INT(m->joined_at), SQ_INT(m->joined_seq), SQ_INT(m->delivered_seq),
                              SQ_INT(m->read_seq)));
}

static int sq_member_get(store_t *st, const char *chat_id, const char *user_id, store_member *out)
{
    return get_args(SQ(st), ST_MEMBER_GET, "member_get", &member_rec, out,
                    SQ_ARGS(SQ_TEXT(chat_id), SQ_TEXT(user_id)));
}

static int sq_member_set_role(store_t *st, const char *chat_id, const char *user_id,
                              store_role role)
{
    return write_args(SQ(st), ST_MEMBER_SET_ROLE, "member_set_role", true,
                      SQ_ARGS(SQ_TEXT(chat_id), SQ_TEXT(user_id), SQ_INT(role)));
}

static int sq_member_remove(store_t *st, const char *chat_id, const char *user_id)
{
    return write_args(SQ(st), ST_MEMBER_REMOVE, "member_remove", true,
                      SQ_ARGS(SQ_TEXT(chat_id), SQ_TEXT(user_id)));
}

static int sq_member_advance(store_t *st, const char *chat_id, const char *user_id,
                             uint64_t delivered_seq, uint64_t read_seq)
{
    return write_args(
        SQ(st), ST_MEMBER_ADVANCE, "member_advance", true,
        SQ_ARGS(SQ_TEXT(chat_id), SQ_TEXT(user_id), SQ_INT(delivered_seq), SQ_INT(read_seq)));
}

static int sq_members_of_chat(store_t *st, const char *chat_id, store_member **out, size_t *n)
{
    return list_args(SQ(st), ST_MEMBERS_OF_CHAT, "members_of_chat", &member_rec, (void **)out, n,
                     SQ_ARGS(SQ_TEXT(chat_id)));
}

static int sq_chats_of_user(store_t *st, const char *user_id, store_member **out, size_t *n)
{
    return list_args(SQ(st), ST_CHATS_OF_USER, "chats_of_user", &member_rec, (void **)out, n,
                     SQ_ARGS(SQ_TEXT(user_id)));
}

/* -------------------------------------------------------------- messages */

static int msg_row(sqlite3_stmt *s, void *out)
{
    store_message *m = out;
    int rc = STORE_OK;
    const void *b;
    rc |= col_text(s, 0, &m->chat_id);
    m->seq = (uint64_t)sqlite3_column_int64(s, 1);
    rc |= col_text(s, 2, &m->server_id);
    rc |= col_text(s, 3, &m->sender);
    rc |= col_text(s, 4, &m->client_msg_id);
    m->server_ts = sqlite3_column_int64(s, 5);
    b = sqlite3_column_blob(s, 6);
    m->body_len = (size_t)sqlite3_column_bytes(s, 6);
    if (m->body_len) {
        m->body = malloc(m->body_len);
        if (!m->body || !b) {
            m->body_len = 0;
            rc |= STORE_ENOMEM;
        } else {
            memcpy(m->body, b, m->body_len);
        }
    }
    rc |= col_text(s, 7, &m->media_id);
    m->expires_at = sqlite3_column_int64(s, 8);
    m->kind = sqlite3_column_int(s, 9);
    rc |= col_text(s, 10, &m->sender_device);
    rc |= col_text(s, 11, &m->deleted_by);
    m->deleted_at = sqlite3_column_int64(s, 12);
    return rc ? STORE_ENOMEM : STORE_OK;
}

SQ_RECORD(msg, store_message, msg_row);

/* If (sender, client_msg_id) is stored, copy its seq and server_id into m
 * and return STORE_EDUP; STORE_OK if it is not stored. */
static int find_dup(struct sq *q, store_message *m)
{
    sqlite3_stmt *s = bound(q, ST_MSG_DUP, SQ_ARGS(SQ_TEXT(m->sender), SQ_TEXT(m->client_msg_id)));
    int rc, src;
    char *sid;
    if (!s)
        return STORE_EIO;
    src = sqlite3_step(s);
    if (src == SQLITE_DONE) {
        rc = STORE_OK;
    } else if (src == SQLITE_ROW) {
        if ((rc = col_text(s, 1, &sid)) == STORE_OK) {
            free(m->server_id);
            m->server_id = sid;
            m->seq = (uint64_t)sqlite3_column_int64(s, 0);
            store__set_error(&q->base, "message_put: duplicate client message id");
            rc = STORE_EDUP;
        }
    } else {
        rc = sqerr(q, sqlite3_extended_errcode(q->db), "message_put");
    }
    sqlite3_reset(s);
    return rc;
}

/* ST_MSG_INSERT with the columns (MSG_COLS) of m under seq bound: the one
 * place a message row is bound, for single puts and writer runs alike. NULL
 * when it cannot be prepared. */
static sqlite3_stmt *bound_message_row(struct sq *q, const store_message *m, uint64_t seq)
{
    return bound(q, ST_MSG_INSERT,
                 SQ_ARGS(SQ_TEXT(m->chat_id), SQ_INT(seq), SQ_TEXT(m->server_id),
                         SQ_TEXT(m->sender), SQ_TEXT(m->client_msg_id), SQ_INT(m->server_ts),
                         SQ_BLOB(m->body, m->body_len), SQ_TEXT(m->media_id), SQ_INT(m->expires_at),
                         SQ_INT(m->kind),
                         SQ_TEXT(m->sender_device && m->sender_device[0] ? m->sender_device : NULL),
                         SQ_TEXT(m->deleted_by && m->deleted_by[0] ? m->deleted_by : NULL),
                         SQ_INT(m->deleted_at)));
}

/* The hot path. Outside a transaction it runs in its own IMMEDIATE
 * transaction. Inside one (the writer's batch) it uses no savepoint: the
 * checks only read, the INSERT is atomic on its own, and if the UPDATE of
 * the chat fails after the INSERT (a backend failure) the INSERT is undone
 * by hand; so a failing put changes nothing either way. */
static int sq_message_put(store_t *st, store_message *m)
{
    struct sq *q = SQ(st);
    sqlite3_stmt *s;
    uint64_t last, seq = 0;
    bool nested = !sqlite3_get_autocommit(q->db), inserted = false;
    int rc = nested ? STORE_OK : run_id(q, ST_BEGIN, "begin"), src;
    if (rc != STORE_OK)
        return rc;

    /* The chat's last seq (and existence). */
    if ((s = bound(q, ST_CHAT_LAST_SEQ, SQ_ARGS(SQ_TEXT(m->chat_id)))) == NULL) {
        rc = STORE_EIO;
        goto done;
    }
    src = sqlite3_step(s);
    if (src != SQLITE_ROW) {
        rc = src == SQLITE_DONE ? STORE_ENOTFOUND
                                : sqerr(q, sqlite3_extended_errcode(q->db), "message_put");
        sqlite3_reset(s);
        if (rc == STORE_ENOTFOUND) {
            /* A retry is a duplicate even if its chat is gone meanwhile. */
            if ((rc = find_dup(q, m)) == STORE_OK) {
                store__set_error(st, "message_put: no such chat");
                rc = STORE_ENOTFOUND;
            }
        }
        goto done;
    }
    last = (uint64_t)sqlite3_column_int64(s, 0);
    sqlite3_reset(s);

    seq = m->seq ? m->seq : last + 1;
    if (seq <= last) {
        if ((rc = find_dup(q, m)) == STORE_OK) {
            store__set_error(st, "message_put: seq %llu is not above the chat's last seq %llu",
                             (unsigned long long)seq, (unsigned long long)last);
            rc = STORE_EINVAL;
        }
        goto done;
    }

    if ((s = bound_message_row(q, m, seq)) == NULL) {
        rc = STORE_EIO;
        goto done;
    }
    rc = run(q, s, "message_put");
    if (rc == STORE_EEXIST) {
        /* (sender, client_msg_id) taken: a retry. */
        if ((rc = find_dup(q, m)) == STORE_OK) {
            store__set_error(st, "message_put: seq %llu already taken", (unsigned long long)seq);
            rc = STORE_EIO;
        }
        goto done;
    }
    if (rc != STORE_OK)
        goto done;
    inserted = true;

    if ((rc = run_args(q, ST_CHAT_BUMP, "message_put",
                       SQ_ARGS(SQ_TEXT(m->chat_id), SQ_INT(seq), SQ_INT(m->server_ts)))) ==
        STORE_OK)
        m->seq = seq;
done:
    if (!nested)
        return write_end(q, false, rc);
    if (rc != STORE_OK && rc != STORE_EDUP && inserted) {
        /* undo the INSERT; keep the original error message */
        char keep[sizeof st->err];
        memcpy(keep, st->err, sizeof keep);
        run_args(q, ST_MSG_UNDO, "message_put undo", SQ_ARGS(SQ_TEXT(m->chat_id), SQ_INT(seq)));
        memcpy(st->err, keep, sizeof keep);
    }
    return rc;
}

/* A run of message puts inside the writer's transaction (message_put_many).
 * Each message is checked, sequenced and de-duplicated exactly as
 * sq_message_put does, but each chat's last seq is read once per run and
 * written once at its end (run_chat), instead of one SELECT and one UPDATE
 * of the chats row per message: per message only the INSERT is left. A
 * failing INSERT changes nothing (the chat's seq is not taken); a failing
 * final UPDATE is a backend failure reported for every message of the run,
 * and the writer rolls the whole batch back. */
struct run_chat {
    const char *chat_id;    /* a message's chat_id: lives as long as the run */
    uint64_t last;          /* the chat's last seq, as this run has left it */
    int64_t last_ts;        /* newest server_ts this run stored in the chat */
    uint32_t hash;
    bool exists, dirty;
};

static uint32_t run_hash(const char *s)
{
    uint32_t h = 2166136261u;   /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* The run's entry of chat_id in tab (cap slots, a power of two, at least
 * twice the run's length): found, or filled from the chats table. NULL
 * with *rc set on a backend failure. */
static struct run_chat *run_chat_get(struct sq *q, struct run_chat *tab, size_t cap,
                                     const char *chat_id, int *rc)
{
    uint32_t h = run_hash(chat_id);
    size_t i = h & (cap - 1);
    sqlite3_stmt *s;
    int src;
    for (; tab[i].chat_id; i = (i + 1) & (cap - 1))
        if (tab[i].hash == h && strcmp(tab[i].chat_id, chat_id) == 0)
            return &tab[i];
    if ((s = bound(q, ST_CHAT_LAST_SEQ, SQ_ARGS(SQ_TEXT(chat_id)))) == NULL) {
        *rc = STORE_EIO;
        return NULL;
    }
    src = sqlite3_step(s);
    if (src != SQLITE_ROW && src != SQLITE_DONE) {
        *rc = sqerr(q, sqlite3_extended_errcode(q->db), "message_put");
        sqlite3_reset(s);
        return NULL;
    }
    tab[i] = (struct run_chat){.chat_id = chat_id,
                               .hash = h,
                               .exists = src == SQLITE_ROW,
                               .last = src == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(s, 0)
                                                         : 0};
    sqlite3_reset(s);
    return &tab[i];
}

/* One message of the run against its chat's entry c: the checks and the
 * INSERT of sq_message_put. */
static int run_put_one(struct sq *q, struct run_chat *c, store_message *m)
{
    store_t *st = &q->base;
    uint64_t seq;
    sqlite3_stmt *s;
    int rc;
    if (!c->exists) {
        /* A retry is a duplicate even if its chat is gone meanwhile. */
        if ((rc = find_dup(q, m)) == STORE_OK) {
            store__set_error(st, "message_put: no such chat");
            rc = STORE_ENOTFOUND;
        }
        return rc;
    }
    seq = m->seq ? m->seq : c->last + 1;
    if (seq <= c->last) {
        if ((rc = find_dup(q, m)) == STORE_OK) {
            store__set_error(st, "message_put: seq %llu is not above the chat's last seq %llu",
                             (unsigned long long)seq, (unsigned long long)c->last);
            rc = STORE_EINVAL;
        }
        return rc;
    }
    if ((s = bound_message_row(q, m, seq)) == NULL)
        return STORE_EIO;
    rc = run(q, s, "message_put");
    if (rc == STORE_EEXIST) {
        /* (sender, client_msg_id) taken: a retry. */
        if ((rc = find_dup(q, m)) == STORE_OK) {
            store__set_error(st, "message_put: seq %llu already taken", (unsigned long long)seq);
            rc = STORE_EIO;
        }
        return rc;
    }
    if (rc != STORE_OK)
        return rc;
    m->seq = seq;
    c->last = seq;
    if (!c->dirty || m->server_ts > c->last_ts)
        c->last_ts = m->server_ts;
    c->dirty = true;
    return STORE_OK;
}

static bool backend_failure(int rc)
{
    return rc == STORE_EIO || rc == STORE_ENOMEM || rc == STORE_EUNAVAIL;
}

static void sq_message_put_many(store_t *st, store_message *const *msgs, int *rcs, size_t n)
{
    struct sq *q = SQ(st);
    struct run_chat *tab = NULL, *c;
    size_t cap = 16, i = 0, j;
    int rc = STORE_OK;

    if (sqlite3_get_autocommit(q->db)) {
        /* Not in the writer's transaction: each put is its own. */
        for (i = 0; i < n; i++)
            if (rcs[i] == STORE_OK)
                rcs[i] = sq_message_put(st, msgs[i]);
        return;
    }
    while (cap < 2 * n)
        cap *= 2;
    if ((tab = calloc(cap, sizeof *tab)) == NULL) {
        store__set_error(st, "message_put: out of memory");
        rc = STORE_ENOMEM;
        goto fail_all;
    }
    for (i = 0; i < n; i++) {
        if (rcs[i] != STORE_OK)
            continue;
        c = run_chat_get(q, tab, cap, msgs[i]->chat_id, &rc);
        rcs[i] = c ? run_put_one(q, c, msgs[i]) : rc;
        if (backend_failure(rcs[i])) {
            rc = rcs[i];
            goto fail_all;
        }
    }
    /* Each chat's new last seq, once. */
    for (i = 0; i < cap; i++) {
        c = &tab[i];
        if (!c->chat_id || !c->dirty)
            continue;
        if ((rc = run_args(q, ST_CHAT_BUMP, "message_put",
                           SQ_ARGS(SQ_TEXT(c->chat_id), SQ_INT(c->last), SQ_INT(c->last_ts)))) !=
            STORE_OK)
            goto fail_all;
    }
    free(tab);
    return;
fail_all:
    /* The batch is rolled back: no message of the run stays. */
    for (j = 0; j < n; j++)
        if (rcs[j] == STORE_OK || j >= i)
            rcs[j] = rc;
    free(tab);
}

static int sq_message_get(store_t *st, const char *chat_id, uint64_t seq, store_message *out)
{
    return get_args(SQ(st), ST_MSG_GET, "message_get", &msg_rec, out,
                    SQ_ARGS(SQ_TEXT(chat_id), SQ_INT(seq)));
}

static int sq_message_get_by_client_id(store_t *st, const char *sender, const char *client_msg_id,
                                       store_message *out)
{
    return get_args(SQ(st), ST_MSG_BY_CLIENT, "message_get_by_client_id", &msg_rec, out,
                    SQ_ARGS(SQ_TEXT(sender), SQ_TEXT(client_msg_id)));
}

static int sq_messages_after(store_t *st, const char *chat_id, uint64_t after_seq, size_t limit,
                             store_message **out, size_t *n)
{
    return list_args(SQ(st), ST_MSG_AFTER, "messages_after", &msg_rec, (void **)out, n,
                     SQ_ARGS(SQ_TEXT(chat_id), SQ_INT(after_seq), SQ_INT(limit)));
}

struct last_seq {
    char *chat_id;
    uint64_t seq;
};

static int last_seq_row(sqlite3_stmt *s, void *out)
{
    struct last_seq *l = out;
    l->seq = (uint64_t)sqlite3_column_int64(s, 1);
    return col_text(s, 0, &l->chat_id);
}

static void last_seq_free(void *a, size_t n)
{
    struct last_seq *l = a;
    for (size_t i = 0; l && i < n; i++)
        free(l[i].chat_id);
    free(a);
}

static int sq_chat_last_seqs(store_t *st, char ***chat_ids, uint64_t **seqs, size_t *n)
{
    struct sq *q = SQ(st);
    sqlite3_stmt *s = stmt(q, ST_CHAT_LAST_SEQS);
    struct last_seq *rows = NULL;
    size_t cnt = 0;
    char **ids = NULL;
    uint64_t *sq_ = NULL;
    int rc;
    if (!s)
        return STORE_EIO;
    rc = get_all(q, s, "chat_last_seqs", sizeof(struct last_seq), last_seq_row, (void **)&rows,
                 &cnt, last_seq_free);
    if (rc != STORE_OK)
        return rc;
    if (cnt == 0)
        goto out;
    ids = malloc(cnt * sizeof *ids);
    sq_ = malloc(cnt * sizeof *sq_);
    if (!ids || !sq_) {
        free(ids);
        free(sq_);
        last_seq_free(rows, cnt);
        store__set_error(st, "chat_last_seqs: out of memory");
        return STORE_ENOMEM;
    }
    for (size_t i = 0; i < cnt; i++) {
        ids[i] = rows[i].chat_id;
        sq_[i] = rows[i].seq;
    }
out:
    free(rows);
    *chat_ids = ids;
    *seqs = sq_;
    *n = cnt;
    return STORE_OK;
}

static int sq_messages_expire(store_t *st, int64_t now, size_t *deleted)
{
    return expire_before(SQ(st), ST_MSG_EXPIRE, now, "messages_expire", deleted);
}

/* One UPDATE of a CHAT row (atomic on its own, inside a transaction or
 * not); when it changes nothing, the row's kind says why. The freed body
 * bytes are overwritten by secure_delete (set at open). */
static int sq_message_tombstone(store_t *st, const char *chat_id, uint64_t seq,
                                const char *deleted_by, int64_t deleted_at)
{
    struct sq *q = SQ(st);
    sqlite3_stmt *s = stmt(q, ST_MSG_TOMBSTONE);
    int rc, src;
    if (!s)
        return STORE_EIO;
    bind_text(s, 1, chat_id);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)seq);
    bind_text(s, 3, deleted_by);
    sqlite3_bind_int64(s, 4, deleted_at);
    if ((rc = run(q, s, "message_tombstone")) != STORE_OK || sqlite3_changes(q->db) > 0)
        return rc;
    if ((s = stmt(q, ST_MSG_KIND)) == NULL)
        return STORE_EIO;
    bind_text(s, 1, chat_id);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)seq);
    src = sqlite3_step(s);
    if (src == SQLITE_DONE) {
        store__set_error(st, "message_tombstone: no such message");
        rc = STORE_ENOTFOUND;
    } else if (src != SQLITE_ROW) {
        rc = sqerr(q, sqlite3_extended_errcode(q->db), "message_tombstone");
    } else if (sqlite3_column_int(s, 0) != STORE_KIND_TOMBSTONE) {
        store__set_error(st, "message_tombstone: kind %d cannot be deleted",
                         sqlite3_column_int(s, 0));
        rc = STORE_EINVAL;
    }
    sqlite3_reset(s);
    return rc;
}

/* ----------------------------------------------------------------- media */

static int media_row(sqlite3_stmt *s, void *out)
{
    store_media *m = out;
    int rc = STORE_OK;
    rc |= col_text(s, 0, &m->media_id);
    rc |= col_text(s, 1, &m->owner);
    m->size = (uint64_t)sqlite3_column_int64(s, 2);
    col_fixed(s, 3, m->sha256, STORE_SHA256_LEN);
    rc |= col_text(s, 4, &m->content_type);
    rc |= col_text(s, 5, &m->backend_key);
    m->created_at = sqlite3_column_int64(s, 6);
    m->expires_at = sqlite3_column_int64(s, 7);
    return rc ? STORE_ENOMEM : STORE_OK;
}

SQ_RECORD(media, store_media, media_row);

static int sq_media_put(store_t *st, const store_media *m)
{
    return write_args(SQ(st), ST_MEDIA_PUT, "media_put", false,
                      SQ_ARGS(SQ_TEXT(m->media_id), SQ_TEXT(m->owner), SQ_INT(m->size),
                              SQ_BLOB(m->sha256, STORE_SHA256_LEN), SQ_TEXT(m->content_type),
                              SQ_TEXT(m->backend_key), SQ_INT(m->created_at),
                              SQ_INT(m->expires_at)));
}

static int sq_media_get(store_t *st, const char *media_id, store_media *out)
{
    return get_args(SQ(st), ST_MEDIA_GET, "media_get", &media_rec, out, SQ_ARGS(SQ_TEXT(media_id)));
}

static int sq_media_delete(store_t *st, const char *media_id)
{
    return write_args(SQ(st), ST_MEDIA_DELETE, "media_delete", true, SQ_ARGS(SQ_TEXT(media_id)));
}

static int sq_media_expired(store_t *st, int64_t now, size_t limit, store_media **out, size_t *n)
{
    return list_args(SQ(st), ST_MEDIA_EXPIRED, "media_expired", &media_rec, (void **)out, n,
                     SQ_ARGS(SQ_INT(now), SQ_INT(limit)));
}

/* ---------------------------------------------- enumeration (admin tools) */

static int sq_chats_list(store_t *st, const char *after, size_t limit, store_chat **out, size_t *n)
{
    return list_args(SQ(st), ST_CHATS_LIST, "chats_list", &chat_rec, (void **)out, n,
                     SQ_ARGS(SQ_TEXT(after), SQ_INT(limit)));
}

static int sq_otpk_list(store_t *st, const char *user_id, store_prekey **out, size_t *n)
{
    return list_args(SQ(st), ST_OTPK_LIST, "otpk_list", &otpk_rec, (void **)out, n,
                     SQ_ARGS(SQ_TEXT(user_id)));
}

static int sq_signed_prekey_get_previous(store_t *st, const char *user_id, const char *device_id,
                                         store_prekey *out)
{
    return get_args(SQ(st), ST_SPK_GET_PREV, "signed_prekey_get_previous", &spk_rec, out,
                    SQ_ARGS(SQ_TEXT(user_id), SQ_TEXT(device_id)));
}

static int sq_media_list(store_t *st, const char *after, size_t limit, store_media **out, size_t *n)
{
    return list_args(SQ(st), ST_MEDIA_LIST, "media_list", &media_rec, (void **)out, n,
                     SQ_ARGS(SQ_TEXT(after), SQ_INT(limit)));
}

static int sq_chat_raise_seq(store_t *st, const char *chat_id, uint64_t last_seq,
                             int64_t last_message_at)
{
    return write_args(SQ(st), ST_CHAT_RAISE, "chat_raise_seq", true,
                      SQ_ARGS(SQ_TEXT(chat_id), SQ_INT(last_seq), SQ_INT(last_message_at)));
}

/* ------------------------------------------------------------ open/close */

static void sq_close(store_t *st)
{
    struct sq *q = SQ(st);
    sqlite_ckpt_stop(q->ckpt); /* first: the writer's close checkpoints what is left */
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(q->st[i]);
    sqlite3_close(q->db);
    free(q);
}

static void sq_checkpoint_stats(store_t *st, store_checkpoint_stats *out)
{
    sqlite_ckpt_get_stats(SQ(st)->ckpt, out); /* all 0 without a checkpointer */
}

static const struct store_vtable sqlite_vt = STORE_BACKEND_VTABLE(sq, "sqlite");

static int exec(struct sq *q, const char *sql, const char *what)
{
    char *msg = NULL;
    int rc = sqlite3_exec(q->db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        store__set_error(&q->base, "%s: %s", what, msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return rc == SQLITE_BUSY || rc == SQLITE_LOCKED ? STORE_EUNAVAIL : STORE_EIO;
    }
    return STORE_OK;
}

static int read_version(struct sq *q, int *version)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(q->db, "PRAGMA user_version", -1, &s, NULL);
    if (rc == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW) {
        *version = sqlite3_column_int(s, 0);
        sqlite3_finalize(s);
        return STORE_OK;
    }
    store__set_error(&q->base, "read schema version: %s", sqlite3_errmsg(q->db));
    sqlite3_finalize(s);
    return STORE_EIO;
}

/* Bring the schema to STORE_SQLITE_SCHEMA_VERSION in one IMMEDIATE
 * transaction (so two processes opening a new file do not race). */
static int migrate(struct sq *q)
{
    char sql[64];
    int v, rc;
    if ((rc = read_version(q, &v)) != STORE_OK)
        return rc;
    if (v == STORE_SQLITE_SCHEMA_VERSION)
        return STORE_OK;
    if ((rc = exec(q, "BEGIN IMMEDIATE", "migrate")) != STORE_OK)
        return rc;
    if ((rc = read_version(q, &v)) != STORE_OK)
        goto fail;
    if (v > STORE_SQLITE_SCHEMA_VERSION || v < 0) {
        store__set_error(&q->base, "database schema version %d is newer than this build (%d)", v,
                         STORE_SQLITE_SCHEMA_VERSION);
        rc = STORE_EIO;
        goto fail;
    }
    for (; v < STORE_SQLITE_SCHEMA_VERSION; v++)
        if ((rc = exec(q, migrations[v], "migrate")) != STORE_OK)
            goto fail;
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", STORE_SQLITE_SCHEMA_VERSION);
    if ((rc = exec(q, sql, "migrate")) != STORE_OK)
        goto fail;
    return exec(q, "COMMIT", "migrate");
fail:
    sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* Split "PATH[?synchronous=full|normal]" into path and the pragma value.
 * Returns STORE_OK, or STORE_EINVAL with a message in errbuf. */
static int parse_uri(const char *spec, char **path, const char **sync, char *errbuf, size_t errlen)
{
    const char *q = strchr(spec, '?');
    size_t plen = q ? (size_t)(q - spec) : strlen(spec);

    *sync = "FULL";
    if (plen == 0) {
        snprintf(errbuf, errlen, "store_open: sqlite URI has no path (want sqlite:PATH)");
        return STORE_EINVAL;
    }
    if (q) {
        if (strcmp(q + 1, "synchronous=normal") == 0) {
            *sync = "NORMAL";
        } else if (strcmp(q + 1, "synchronous=full") != 0) {
            snprintf(errbuf, errlen,
                     "store_open: unknown sqlite URI option '%s' "
                     "(supported: synchronous=full|normal)",
                     q + 1);
            return STORE_EINVAL;
        }
    }
    *path = strndup(spec, plen);
    if (!*path) {
        snprintf(errbuf, errlen, "store_open: out of memory");
        return STORE_ENOMEM;
    }
    return STORE_OK;
}

int store_sqlite__open(const char *uri, const store_options *opts, store_t **out, char *errbuf,
                       size_t errlen)
{
    char *path = NULL, pragma[64];
    const char *sync;
    struct sq *q = NULL;
    int rc;

    *out = NULL;
    rc = parse_uri(uri + strlen("sqlite:"), &path, &sync, errbuf, errlen);
    if (rc != STORE_OK)
        return rc;
    rc = STORE_EIO;
    q = calloc(1, sizeof *q);
    if (!q) {
        free(path);
        snprintf(errbuf, errlen, "store_open: out of memory");
        return STORE_ENOMEM;
    }
    q->base.vt = &sqlite_vt;
    int flags = opts->read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    if (sqlite3_open_v2(path, &q->db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        store__set_error(&q->base, "open %s: %s", path,
                         q->db ? sqlite3_errmsg(q->db) : "out of memory");
        goto fail;
    }
    sqlite3_extended_result_codes(q->db, 1);
    sqlite3_busy_timeout(q->db, opts->busy_timeout_ms);
    if (opts->read_only) {
        /* Nothing is written: no pragma that changes the file, no migration. */
        int v = -1;
        if ((rc = read_version(q, &v)) != STORE_OK)
            goto fail;
        if (v != STORE_SQLITE_SCHEMA_VERSION) {
            store__set_error(&q->base, "%s: %s (schema version %d, this build reads %d)", path,
                             v == 0 ? "not a Parley store (empty or another database)"
                                    : "opened read-only, so it cannot be migrated",
                             v, STORE_SQLITE_SCHEMA_VERSION);
            rc = STORE_EINVAL;
            goto fail;
        }
        free(path);
        *out = &q->base;
        return STORE_OK;
    }
    /* journal_mode first: it needs no schema. synchronous=FULL (default): a
     * commit is on disk (WAL fsynced) before the callback says "durable". */
    snprintf(pragma, sizeof pragma, "PRAGMA synchronous = %s", sync);
    if ((rc = exec(q, "PRAGMA journal_mode = WAL", "open")) != STORE_OK ||
        (rc = exec(q, pragma, "open")) != STORE_OK ||
        (rc = exec(q, "PRAGMA foreign_keys = ON", "open")) != STORE_OK ||
        (rc = exec(q, "PRAGMA temp_store = MEMORY", "open")) != STORE_OK ||
        (rc = exec(q, "PRAGMA secure_delete = ON", "open")) != STORE_OK ||
        (rc = exec(q, "PRAGMA cache_size = -16000", "open")) != STORE_OK ||
        (rc = exec(q, "PRAGMA wal_autocheckpoint = " SQ_STR(SQ_WAL_CHECKPOINT_PAGES), "open")) !=
            STORE_OK ||
        (rc = exec(q, "PRAGMA journal_size_limit = 67108864", "open")) != STORE_OK ||
        (rc = migrate(q)) != STORE_OK)
        goto fail;
    /* If the checkpointer cannot start, the automatic checkpoint set above
     * stays: slower commits now and then, nothing lost. */
    if (opts->background_checkpoints)
        q->ckpt = sqlite_ckpt_start(q->db, path, SQ_WAL_CHECKPOINT_PAGES, sync);
    free(path);
    *out = &q->base;
    return STORE_OK;
fail:
    snprintf(errbuf, errlen, "store_open: %s", q->base.err);
    free(path);
    sq_close(&q->base);
    return rc == STORE_OK ? STORE_EIO : rc;
}
