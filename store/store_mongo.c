/*
 * store_mongo.c - the MongoDB store backend ("mongodb://..."), via the
 * MongoDB C driver (libmongoc 1.23).
 *
 * Connections: one mongoc_client_pool_t per distinct URI, shared by every
 * store_t of the process (reference counted); each store_t pops one client
 * for its lifetime, so a store_t stays single-threaded as store.h requires.
 * The database is the URI's path ("mongodb://h/parley" -> "parley"),
 * "parley" when the URI has none. Unless the URI sets them,
 * serverSelectionTimeoutMS and connectTimeoutMS are 2000 ms so an
 * unreachable server fails fast with STORE_EUNAVAIL instead of hanging.
 *
 * Documents, indexes, filters and updates are built by store_bson.c;
 * docs/operations.md ("MongoDB layout") describes them.
 *
 * Transactions (store_begin/commit/rollback, used by the group-commit
 * writer): one MongoDB multi-document transaction per batch, on a session
 * of the connection's client (a replica set is required: a standalone
 * mongod has no transactions). Read concern "snapshot"; the write concern
 * (default majority) applies to the commit. Message appends take the
 * chat's next seq with findOneAndUpdate $inc on the chat document inside
 * the transaction: the document's write lock is held until commit/abort,
 * so a concurrent appender on any node gets a WriteConflict
 * (TransientTransactionError) and its batch is retried by the writer;
 * commit order is seq order and an aborted batch consumes no seq. A run of
 * message puts (message_put_many) costs one find for the duplicates of the
 * whole run, one findOneAndUpdate per distinct chat, and one insertMany at
 * commit: the message documents of a transaction are buffered and inserted
 * together (before any read of the messages collection in the same
 * transaction, so the transaction always sees its own writes).
 * A write error inside a transaction aborts it on the server, so logical
 * failures are found by reads first (duplicate ids, existing keys, missing
 * chats) and cause no write; any driver or server error inside a
 * transaction is STORE_EUNAVAIL (retry the batch). commit retries
 * commitTransaction on UnknownTransactionCommitResult and maps
 * TransientTransactionError to STORE_EUNAVAIL.
 * Outside store_begin/commit every call is a single atomic write, except
 * message_put, which runs in a transaction of its own (retried on
 * transient errors), and otpk_add (one insertMany, all or nothing by
 * removing a partial batch). docs/operations.md ("MongoDB layout") has the
 * documents and indexes.
 */
#include "store_backend.h"
#include "store_bson.h"
#include "log.h"

#include <mongoc/mongoc.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_DB "parley"
#define DEFAULT_TIMEOUT_MS 2000
#define WTIMEOUT_MS 10000

enum {
    C_USERS,
    C_SPK,
    C_OTPK,
    C_CHATS,
    C_MEMBERS,
    C_MESSAGES,
    C_MEDIA,
    C_INVITES,
    C_LINKS,
    C_COUNT
};

/* A client pool shared by every connection to the same URI. */
typedef struct pool_entry {
    struct pool_entry *next;
    char *key;                  /* the URI string as given */
    mongoc_uri_t *uri;
    mongoc_client_pool_t *pool;
    int refs;
    bool indexes_ready;
} pool_entry;

static pthread_once_t driver_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t pools_lock = PTHREAD_MUTEX_INITIALIZER;
static pool_entry *pools;

/* A message document of the open transaction, inserted at commit (or
 * before the transaction reads messages), with what in-transaction dedup
 * needs. */
typedef struct {
    bson_t *doc;
    char *sender, *client_msg_id, *server_id;
    uint64_t seq;
} pend_msg;

typedef struct {
    struct store base;          /* first: store.c sees a store_t */
    pool_entry *pe;
    mongoc_client_t *client;
    mongoc_collection_t *coll[C_COUNT];
    mongoc_write_concern_t *wc; /* the transactions' write concern (commit) */
    mongoc_client_session_t *sess;  /* started on first store_begin */
    bool in_txn;
    bool read_only;             /* store_options.read_only: no index creation */
    pend_msg *pend;             /* messages of the open transaction, not yet inserted */
    size_t pend_n, pend_cap;
} mongo_store;

#define TXN_RETRY_MS 10000      /* message_put's own transaction: retry budget */
#define COMMIT_TRIES 3          /* commitTransaction on UnknownTransactionCommitResult */

static mongo_store *ms_of(store_t *s)
{
    return (mongo_store *)s;
}

/* Driver log lines go through log.h; the driver's debug chatter is dropped. */
static void driver_log(mongoc_log_level_t level, const char *domain, const char *message, void *ctx)
{
    (void)ctx;
    if (level <= MONGOC_LOG_LEVEL_CRITICAL)
        log_msg(PARLEY_LOG_ERROR, "mongodb", "%s: %s", domain, message);
    else if (level <= MONGOC_LOG_LEVEL_WARNING)
        log_msg(PARLEY_LOG_WARN, "mongodb", "%s: %s", domain, message);
}

static void driver_init(void)
{
    mongoc_init();
    mongoc_log_set_handler(driver_log, NULL);
}

/* ------------------------------------------------------------- errors */

/* Server error codes that mean "no primary right now": retryable. */
static bool is_unavailable_code(uint32_t code)
{
    switch (code) {
    case 91:    /* ShutdownInProgress */
    case 189:   /* PrimarySteppedDown */
    case 10107: /* NotWritablePrimary */
    case 11600: /* InterruptedAtShutdown */
    case 11602: /* InterruptedDueToReplStateChange */
    case 13435: /* NotPrimaryNoSecondaryOk */
    case 13436: /* NotPrimaryOrSecondary */
    case 64: /* WriteConcernFailed (wtimeout) */ return true;
    default: return false;
    }
}

static bool is_dup_key(const bson_error_t *e)
{
    return e->code == 11000 || e->code == 11001 || e->code == 12582;
}

/* Map a driver error to a store_rc and record "mongodb WHAT: message". */
static int fail_with(mongo_store *ms, const bson_error_t *e, const char *what)
{
    int rc = STORE_EIO;
    if (e->code == 20 || e->code == 263) {
        /* IllegalOperation ("Transaction numbers are only allowed on a replica
         * set member or mongos"), OperationNotSupportedInTransaction */
        store__set_error(&ms->base,
                         "mongodb %s: %s (Parley needs a MongoDB replica set: a "
                         "standalone mongod has no transactions; see docs/operations.md)",
                         what, e->message);
        return STORE_EIO;
    }
    if (e->domain == MONGOC_ERROR_SERVER_SELECTION || e->domain == MONGOC_ERROR_STREAM ||
        e->domain == MONGOC_ERROR_WRITE_CONCERN || is_unavailable_code(e->code) ||
        ms->in_txn)     /* the server aborted the transaction: run the batch again */
        rc = STORE_EUNAVAIL;
    store__set_error(&ms->base, "mongodb %s%s: %s", what, ms->in_txn ? " (transaction)" : "",
                     e->message);
    return rc;
}

static int fail_msg(mongo_store *ms, int rc, const char *what, const char *msg)
{
    store__set_error(&ms->base, "mongodb %s: %s", what, msg);
    return rc;
}

static int64_t reply_count(const bson_t *reply, const char *key)
{
    bson_iter_t it;
    if (bson_iter_init_find(&it, reply, key) && BSON_ITER_HOLDS_NUMBER(&it))
        return bson_iter_as_int64(&it);
    return 0;
}

/* ------------------------------------------------------------ helpers */

/* out = a copy of opts (may be NULL) plus the session when a transaction is
 * open; the caller destroys out. */
static bool with_session(mongo_store *ms, const bson_t *opts, bson_t *out)
{
    bson_error_t err;
    bson_init(out);
    if (opts && !bson_concat(out, opts))
        return false;
    if (ms->in_txn && !mongoc_client_session_append(ms->sess, out, &err)) {
        store__set_error(&ms->base, "mongodb session: %s", err.message);
        return false;
    }
    return true;
}

static int flush_pending(mongo_store *ms);

/* Find one document; *doc is a copy the caller destroys. STORE_ENOTFOUND
 * when nothing matches. */
static int find_one(mongo_store *ms, int c, const bson_t *filter, const bson_t *extra, bson_t **doc,
                    const char *what)
{
    bson_t opts = BSON_INITIALIZER;
    const bson_t *d = NULL;
    bson_error_t err;
    int rc = STORE_ENOTFOUND;
    *doc = NULL;
    bson_t sopts;
    BSON_APPEND_INT64(&opts, "limit", 1);
    if (extra)
        bson_concat(&opts, extra);
    if (!with_session(ms, &opts, &sopts)) {
        bson_destroy(&sopts);
        bson_destroy(&opts);
        return STORE_EIO;
    }
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(ms->coll[c], filter, &sopts, NULL);
    bson_destroy(&sopts);
    if (mongoc_cursor_next(cur, &d)) {
        *doc = bson_copy(d);
        rc = *doc ? STORE_OK : fail_msg(ms, STORE_ENOMEM, what, "out of memory");
    } else if (mongoc_cursor_error(cur, &err)) {
        rc = fail_with(ms, &err, what);
    }
    mongoc_cursor_destroy(cur);
    bson_destroy(&opts);
    return rc;
}

/* Grow an array of records of size elem to hold one more; returns the new
 * slot (zeroed) or NULL on out-of-memory. */
static void *grow(void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        void *p = realloc(*arr, ncap * elem);
        if (!p)
            return NULL;
        *arr = p;
        *cap = ncap;
    }
    void *slot = (char *)*arr + n * elem;
    memset(slot, 0, elem);
    return slot;
}

/* One kind of record: its size, how a document is decoded into one (dec) and
 * how an array of them is freed (free_all). NAME_rec (MG_RECORD) for TYPE
 * decoded by FROM_DOC and freed with TYPE_array_free. */
typedef int (*decode_fn)(const bson_t *doc, void *out, char *err, size_t errlen);
typedef void (*free_fn)(void *arr, size_t n);
struct mg_rec {
    size_t size;
    decode_fn dec;
    free_fn free_all;
};
#define MG_DECODER(name, from_doc) \
    static int name##_dec(const bson_t *d, void *o, char *e, size_t l) \
    { \
        return from_doc(d, o, e, l); \
    }
#define MG_RECORD(name, type, from_doc) \
    MG_DECODER(name, from_doc) \
    static void name##_free_all(void *a, size_t n) \
    { \
        type##_array_free(a, n); \
    } \
    static const struct mg_rec name##_rec = {sizeof(type), name##_dec, name##_free_all}

MG_RECORD(user, store_user, store_bson__user_from_doc);
MG_RECORD(invite, store_invite, store_bson__invite_from_doc);
MG_RECORD(otpk, store_prekey, store_bson__otpk_from_doc);
MG_RECORD(chat, store_chat, store_bson__chat_from_doc);
MG_RECORD(member, store_member, store_bson__member_from_doc);
MG_RECORD(message, store_message, store_bson__message_from_doc);
MG_RECORD(media, store_media, store_bson__media_from_doc);
MG_DECODER(link, store_bson__link_from_doc)
static const struct mg_rec link_rec = {sizeof(store_link), link_dec, NULL};

/* Run a find and decode every document into a fresh array. */
static int find_many(mongo_store *ms, int c, const bson_t *filter, const bson_t *opts,
                     const struct mg_rec *r, void **out, size_t *n, const char *what)
{
    void *arr = NULL;
    size_t cap = 0, cnt = 0;
    const bson_t *d;
    bson_error_t err;
    int rc = STORE_OK;
    bson_t sopts;
    if (c == C_MESSAGES && (rc = flush_pending(ms)) != STORE_OK)
        return rc;
    if (!with_session(ms, opts, &sopts)) {
        bson_destroy(&sopts);
        return STORE_EIO;
    }
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(ms->coll[c], filter, &sopts, NULL);
    bson_destroy(&sopts);
    while (rc == STORE_OK && mongoc_cursor_next(cur, &d)) {
        void *slot = grow(&arr, &cap, cnt, r->size);
        if (!slot) {
            rc = fail_msg(ms, STORE_ENOMEM, what, "out of memory");
            break;
        }
        rc = r->dec(d, slot, ms->base.err, sizeof ms->base.err);
        if (rc == STORE_OK)
            cnt++;
    }
    if (rc == STORE_OK && mongoc_cursor_error(cur, &err))
        rc = fail_with(ms, &err, what);
    mongoc_cursor_destroy(cur);
    if (rc != STORE_OK) {
        r->free_all(arr, cnt);
        return rc;
    }
    *out = arr;
    *n = cnt;
    return STORE_OK;
}

/* --------------------------------------------------------------- writes */

/* insert_one (doc has its _id); a duplicate key becomes dup_rc. Inside a
 * transaction a duplicate key would abort it, so the _id is looked up
 * first (members, whose unique key is not the _id, check before calling). */
static int insert(mongo_store *ms, int c, const bson_t *doc, int dup_rc, const char *what)
{
    bson_error_t err;
    bson_t opts;
    bson_iter_t it;
    int rc = STORE_OK;
    if (ms->in_txn && c != C_MEMBERS && bson_iter_init_find(&it, doc, "_id")) {
        bson_t f = BSON_INITIALIZER, *old = NULL;
        bson_append_iter(&f, "_id", -1, &it);
        rc = find_one(ms, c, &f, NULL, &old, what);
        bson_destroy(old);
        bson_destroy(&f);
        if (rc == STORE_OK) {
            store__set_error(&ms->base, "mongodb %s: already exists", what);
            return dup_rc;
        }
        if (rc != STORE_ENOTFOUND)
            return rc;
    }
    if (!with_session(ms, NULL, &opts)) {
        bson_destroy(&opts);
        return STORE_EIO;
    }
    if (mongoc_collection_insert_one(ms->coll[c], doc, &opts, NULL, &err))
        rc = STORE_OK;
    else if (is_dup_key(&err) && !ms->in_txn) {
        store__set_error(&ms->base, "mongodb %s: %s", what, err.message);
        rc = dup_rc;
    } else
        rc = fail_with(ms, &err, what);
    bson_destroy(&opts);
    return rc;
}

/* update_one; STORE_ENOTFOUND when the filter matched nothing (and opts
 * asked for no upsert). */
static int update_one(mongo_store *ms, int c, const bson_t *filter, const bson_t *update,
                      const bson_t *opts, const char *what)
{
    bson_t reply, sopts;
    bson_error_t err;
    int rc = STORE_OK;
    bson_init(&reply);
    if (!with_session(ms, opts, &sopts))
        rc = STORE_EIO;
    else if (!mongoc_collection_update_one(ms->coll[c], filter, update, &sopts, &reply, &err))
        rc = fail_with(ms, &err, what);
    else if (reply_count(&reply, "matchedCount") == 0 && reply_count(&reply, "upsertedCount") == 0)
        rc = STORE_ENOTFOUND;
    bson_destroy(&sopts);
    bson_destroy(&reply);
    return rc;
}

/* delete_one / delete_many; *deleted gets the count (may be NULL). */
static int delete_docs(mongo_store *ms, int c, const bson_t *filter, bool many, int64_t *deleted,
                       const char *what)
{
    bson_t reply, opts;
    bson_error_t err;
    int rc = STORE_OK;
    bool ok;
    if (c == C_MESSAGES && (rc = flush_pending(ms)) != STORE_OK)
        return rc;
    bson_init(&reply);
    if (!with_session(ms, NULL, &opts)) {
        bson_destroy(&opts);
        bson_destroy(&reply);
        return STORE_EIO;
    }
    ok = many ? mongoc_collection_delete_many(ms->coll[c], filter, &opts, &reply, &err)
              : mongoc_collection_delete_one(ms->coll[c], filter, &opts, &reply, &err);
    if (!ok)
        rc = fail_with(ms, &err, what);
    else if (deleted)
        *deleted = reply_count(&reply, "deletedCount");
    bson_destroy(&opts);
    bson_destroy(&reply);
    return rc;
}

static int bad_value(mongo_store *ms, const char *what)
{
    return fail_msg(ms, STORE_EINVAL, what, "value cannot be stored (too large or missing)");
}

/* The one document matching f (built: f could be built from the caller's
 * values), decoded by r into out. */
static int get_decoded(mongo_store *ms, int c, bool built, const bson_t *f, const struct mg_rec *r,
                       void *out, const char *what)
{
    bson_t *doc = NULL;
    int rc = built ? find_one(ms, c, f, NULL, &doc, what) : bad_value(ms, what);
    if (rc == STORE_OK)
        rc = r->dec(doc, out, ms->base.err, sizeof ms->base.err);
    bson_destroy(doc);
    return rc;
}

/* Delete the one document matching f (built as for get_decoded):
 * STORE_ENOTFOUND when there is none, with the message "mongodb WHAT: no NOUN
 * ID" when noun is given. */
static int delete_one(mongo_store *ms, int c, bool built, const bson_t *f, const char *what,
                      const char *noun, const char *id)
{
    int64_t deleted = 0;
    int rc = built ? delete_docs(ms, c, f, false, &deleted, what) : bad_value(ms, what);
    if (rc == STORE_OK && deleted == 0) {
        if (noun)
            store__set_error(&ms->base, "mongodb %s: no %s %s", what, noun, id);
        rc = STORE_ENOTFOUND;
    }
    return rc;
}

/* get_decoded of the document with _id id. */
static int get_by_id(mongo_store *ms, int c, const char *id, const struct mg_rec *r, void *out,
                     const char *what)
{
    bson_t f = BSON_INITIALIZER;
    int rc = get_decoded(ms, c, store_bson__id_filter(id, &f), &f, r, out, what);
    bson_destroy(&f);
    return rc;
}

/* delete_one of the document with _id id ("mongodb WHAT: no NOUN ID" when
 * noun is given and there is none). */
static int delete_by_id(mongo_store *ms, int c, const char *id, const char *what, const char *noun)
{
    bson_t f = BSON_INITIALIZER;
    int rc = delete_one(ms, c, store_bson__id_filter(id, &f), &f, what, noun, id);
    bson_destroy(&f);
    return rc;
}

/* mg_NAME_get and mg_NAME_delete of the records of type TYPE kept in
 * collection C under their id (get_by_id, delete_by_id; noun: see there). */
#define MG_GET_DELETE_BY_ID(name, type, c, noun) \
    static int mg_##name##_get(store_t *s, const char *id, type *out) \
    { \
        return get_by_id(ms_of(s), c, id, &name##_rec, out, #name "_get"); \
    } \
    static int mg_##name##_delete(store_t *s, const char *id) \
    { \
        return delete_by_id(ms_of(s), c, id, #name "_delete", noun); \
    }

/* Delete every document matching f (built as for get_decoded); *deleted
 * gets the count. */
static int delete_counted(mongo_store *ms, int c, bool built, const bson_t *f, size_t *deleted,
                          const char *what)
{
    int64_t d = 0;
    int rc = built ? delete_docs(ms, c, f, true, &d, what) : bad_value(ms, what);
    if (rc == STORE_OK)
        *deleted = (size_t)d;
    return rc;
}

/* insert() of doc (built as for get_decoded); a duplicate _id is STORE_EEXIST. */
static int insert_new(mongo_store *ms, int c, bool built, const bson_t *doc, const char *what)
{
    return built ? insert(ms, c, doc, STORE_EEXIST, what) : bad_value(ms, what);
}

/* update_one() of f and u (built as for get_decoded). */
static int update_built(mongo_store *ms, int c, bool built, const bson_t *f, const bson_t *u,
                        const bson_t *opts, const char *what)
{
    return built ? update_one(ms, c, f, u, opts, what) : bad_value(ms, what);
}

/* How many documents match f (built as for get_decoded). */
static int count_docs(mongo_store *ms, int c, bool built, const bson_t *f, size_t *count,
                      const char *what)
{
    bson_t opts;
    bson_error_t err;
    if (!built)
        return bad_value(ms, what);
    with_session(ms, NULL, &opts);
    int64_t n = mongoc_collection_count_documents(ms->coll[c], f, &opts, NULL, NULL, &err);
    bson_destroy(&opts);
    if (n < 0)
        return fail_with(ms, &err, what);
    *count = (size_t)n;
    return STORE_OK;
}

/* One page of records of kind r ordered by _id, after the id `after`. */
static int find_page(mongo_store *ms, int c, const char *after, size_t limit,
                     const struct mg_rec *r, void **out, size_t *n, const char *what)
{
    bson_t f = BSON_INITIALIZER, o = BSON_INITIALIZER;
    int rc = store_bson__page_query(after, limit, &f, &o)
                 ? find_many(ms, c, &f, &o, r, out, n, what)
                 : bad_value(ms, what);
    bson_destroy(&f);
    bson_destroy(&o);
    return rc;
}

/* -------------------------------------------------------- transactions */

static void pend_clear(mongo_store *ms)
{
    for (size_t i = 0; i < ms->pend_n; i++) {
        bson_destroy(ms->pend[i].doc);
        free(ms->pend[i].sender);
        free(ms->pend[i].client_msg_id);
        free(ms->pend[i].server_id);
    }
    ms->pend_n = 0;
}

/* Insert the buffered message documents of the open transaction with one
 * insertMany (ordered). */
static int flush_pending(mongo_store *ms)
{
    bson_t opts = BSON_INITIALIZER, sopts;
    bson_error_t err;
    const bson_t **docs;
    int rc = STORE_OK;
    if (!ms->in_txn || ms->pend_n == 0)
        return STORE_OK;
    docs = malloc(ms->pend_n * sizeof *docs);
    if (!docs)
        return fail_msg(ms, STORE_ENOMEM, "message insert", "out of memory");
    for (size_t i = 0; i < ms->pend_n; i++)
        docs[i] = ms->pend[i].doc;
    BSON_APPEND_BOOL(&opts, "ordered", true);
    if (!with_session(ms, &opts, &sopts))
        rc = STORE_EIO;
    else if (!mongoc_collection_insert_many(ms->coll[C_MESSAGES], docs, ms->pend_n, &sopts, NULL,
                                            &err))
        rc = fail_with(ms, &err, "message insertMany");
    free(docs);
    bson_destroy(&sopts);
    bson_destroy(&opts);
    pend_clear(ms);
    return rc;
}

static int mg_begin(store_t *s)
{
    mongo_store *ms = ms_of(s);
    bson_error_t err;
    mongoc_transaction_opt_t *to;
    mongoc_read_concern_t *rcn;
    bool ok;
    if (ms->in_txn)
        return fail_msg(ms, STORE_EINVAL, "begin", "a transaction is already open");
    if (!ms->sess) {
        ms->sess = mongoc_client_start_session(ms->client, NULL, &err);
        if (!ms->sess)
            return fail_with(ms, &err, "start session");
    }
    to = mongoc_transaction_opts_new();
    rcn = mongoc_read_concern_new();
    mongoc_read_concern_set_level(rcn, MONGOC_READ_CONCERN_LEVEL_SNAPSHOT);
    mongoc_transaction_opts_set_read_concern(to, rcn);
    if (ms->wc)
        mongoc_transaction_opts_set_write_concern(to, ms->wc);
    ok = mongoc_client_session_start_transaction(ms->sess, to, &err);
    mongoc_read_concern_destroy(rcn);
    mongoc_transaction_opts_destroy(to);
    if (!ok)
        return fail_with(ms, &err, "start transaction");
    pend_clear(ms);
    ms->in_txn = true;
    return STORE_OK;
}

static void txn_abort(mongo_store *ms)
{
    bson_error_t err;
    pend_clear(ms);
    if (ms->sess && mongoc_client_session_in_transaction(ms->sess))
        mongoc_client_session_abort_transaction(ms->sess, &err);   /* best effort */
    ms->in_txn = false;
}

static int mg_commit(store_t *s)
{
    mongo_store *ms = ms_of(s);
    bson_error_t err;
    bson_t reply;
    int rc;
    if (!ms->in_txn)
        return fail_msg(ms, STORE_EINVAL, "commit", "no transaction is open");
    if ((rc = flush_pending(ms)) != STORE_OK) {
        txn_abort(ms);
        return rc;
    }
    for (int tries = 1;; tries++) {
        bool ok = mongoc_client_session_commit_transaction(ms->sess, &reply, &err);
        bool unknown = !ok && mongoc_error_has_label(&reply, "UnknownTransactionCommitResult");
        bool transient = !ok && mongoc_error_has_label(&reply, "TransientTransactionError");
        bson_destroy(&reply);
        if (ok) {
            ms->in_txn = false;
            return STORE_OK;
        }
        if (unknown && tries < COMMIT_TRIES)
            continue;   /* commitTransaction is idempotent: ask again */
        ms->in_txn = false;
        rc = fail_with(ms, &err, "commit");
        if (transient || unknown)
            rc = STORE_EUNAVAIL;
        txn_abort(ms);
        return rc;
    }
}

static int mg_rollback(store_t *s)
{
    mongo_store *ms = ms_of(s);
    if (!ms->in_txn)
        return fail_msg(ms, STORE_EINVAL, "rollback", "no transaction is open");
    txn_abort(ms);
    return STORE_OK;
}

/* --------------------------------------------------------------- users */

static int mg_user_get(store_t *s, const char *user_id, store_user *out);

/* The case rule: STORE_OK if no user's id folds to user_id's fold,
 * STORE_EEXIST if one does (looked up first, so a duplicate inside a
 * transaction does not abort it; the unique index "id_fold" settles a race
 * outside one). */
static int fold_free(mongo_store *ms, const char *user_id, const char *what)
{
    bson_t f = BSON_INITIALIZER, *doc = NULL;
    int rc = store_bson__user_fold_filter(user_id, &f) ? find_one(ms, C_USERS, &f, NULL, &doc, what)
                                                       : bad_value(ms, what);
    bson_destroy(doc);
    bson_destroy(&f);
    if (rc == STORE_OK) {
        store__set_error(&ms->base,
                         "mongodb %s: %s or an id differing only by case already "
                         "exists",
                         what, user_id);
        return STORE_EEXIST;
    }
    return rc == STORE_ENOTFOUND ? STORE_OK : rc;
}

static int mg_user_put(store_t *s, const store_user *u)
{
    mongo_store *ms = ms_of(s);
    bson_t doc = BSON_INITIALIZER;
    int rc = fold_free(ms, u->user_id, "user_put");
    if (rc == STORE_OK)
        rc = insert_new(ms, C_USERS, store_bson__user_to_doc(u, &doc), &doc, "user_put");
    bson_destroy(&doc);
    return rc;
}

static int mg_user_get_fold(store_t *s, const char *user_id, store_user *out)
{
    bson_t f = BSON_INITIALIZER;
    int rc = get_decoded(ms_of(s), C_USERS, store_bson__user_fold_filter(user_id, &f), &f,
                         &user_rec, out, "user_get_fold");
    bson_destroy(&f);
    return rc;
}

static int mg_user_set_status(store_t *s, const char *user_id, store_user_status status,
                              int64_t updated_at)
{
    mongo_store *ms = ms_of(s);
    bson_t f = BSON_INITIALIZER, u = BSON_INITIALIZER;
    store_user cur = {0};
    int rc = update_built(ms, C_USERS,
                          store_bson__user_status_query(user_id, status, updated_at, &f, &u), &f,
                          &u, NULL, "user_set_status");
    if (rc == STORE_ENOTFOUND) { /* no user, or a tombstone */
        rc = mg_user_get(s, user_id, &cur);
        if (rc == STORE_OK) {
            store__set_error(s, "mongodb user_set_status: user %s was deleted", user_id);
            rc = STORE_EINVAL;
        }
        store_user_free(&cur);
    }
    bson_destroy(&f);
    bson_destroy(&u);
    return rc;
}

/* Tombstone first (the user is refused from then on), then the prekeys and
 * group memberships; not one transaction (a standalone server has none),
 * but every step is idempotent: after an error, deleting again finishes. */
static int mg_user_delete(store_t *s, const char *user_id, int64_t now)
{
    mongo_store *ms = ms_of(s);
    bson_t f = BSON_INITIALIZER, u = BSON_INITIALIZER, byu = BSON_INITIALIZER, g = BSON_INITIALIZER;
    int rc = update_built(
        ms, C_USERS,
        (store_bson__id_filter(user_id, &f) && store_bson__user_tombstone_update(now, &u) &&
         BSON_APPEND_UTF8(&byu, "user_id", user_id) && store_bson__user_groups_filter(user_id, &g)),
        &f, &u, NULL, "user_delete");
    if (rc == STORE_ENOTFOUND)
        store__set_error(s, "mongodb user_delete: no user %s", user_id);
    if (rc == STORE_OK)
        rc = delete_docs(ms, C_SPK, &byu, true, NULL, "user_delete signed prekeys");
    if (rc == STORE_OK)
        rc = delete_docs(ms, C_OTPK, &byu, true, NULL, "user_delete one-time prekeys");
    if (rc == STORE_OK)
        rc = delete_docs(ms, C_MEMBERS, &g, true, NULL, "user_delete memberships");
    bson_destroy(&f);
    bson_destroy(&u);
    bson_destroy(&byu);
    bson_destroy(&g);
    return rc;
}

static int mg_users_list(store_t *s, const char *after, size_t limit, store_user **out, size_t *n)
{
    return find_page(ms_of(s), C_USERS, after, limit, &user_rec, (void **)out, n, "users_list");
}

/* ------------------------------------------------------------- invites */

static int mg_invite_put(store_t *s, const store_invite *i)
{
    mongo_store *ms = ms_of(s);
    bson_t doc = BSON_INITIALIZER;
    int rc = insert_new(ms, C_INVITES, store_bson__invite_to_doc(i, &doc), &doc, "invite_put");
    bson_destroy(&doc);
    return rc;
}

MG_GET_DELETE_BY_ID(invite, store_invite, C_INVITES, "invite")

static int mg_invite_use(store_t *s, const char *invite_id, const char *user_id, int64_t now)
{
    mongo_store *ms = ms_of(s);
    bson_t f = BSON_INITIALIZER, u = BSON_INITIALIZER;
    int rc = update_built(ms, C_INVITES,
                          store_bson__invite_use_query(invite_id, user_id, now, &f, &u), &f, &u,
                          NULL, "invite_use");
    if (rc == STORE_ENOTFOUND)
        store__set_error(s, "mongodb invite_use: no unused, unexpired invite %s", invite_id);
    bson_destroy(&f);
    bson_destroy(&u);
    return rc;
}

static int mg_invites_list(store_t *s, const char *after, size_t limit, store_invite **out,
                           size_t *n)
{
    return find_page(ms_of(s), C_INVITES, after, limit, &invite_rec, (void **)out, n,
                     "invites_list");
}

static int mg_user_set_key(store_t *s, const char *user_id, const uint8_t key[STORE_KEY_LEN],
                           int64_t updated_at)
{
    mongo_store *ms = ms_of(s);
    bson_t f = BSON_INITIALIZER, u = BSON_INITIALIZER;
    int rc = update_built(ms, C_USERS,
                          (store_bson__id_filter(user_id, &f) &&
                           store_bson__user_set_key_update(key, updated_at, &u)),
                          &f, &u, NULL, "user_set_key");
    bson_destroy(&f);
    bson_destroy(&u);
    return rc;
}

static int mg_user_get(store_t *s, const char *user_id, store_user *out)
{
    return get_by_id(ms_of(s), C_USERS, user_id, &user_rec, out, "user_get");
}

static int mg_users_changed_since(store_t *s, int64_t since, store_user **out, size_t *n)
{
    mongo_store *ms = ms_of(s);
    bson_t f = BSON_INITIALIZER, o = BSON_INITIALIZER;
    int rc = store_bson__users_since_query(since, &f, &o)
                 ? find_many(ms, C_USERS, &f, &o, &user_rec, (void **)out, n, "users_changed_since")
                 : bad_value(ms, "users_changed_since");
    bson_destroy(&f);
    bson_destroy(&o);
    return rc;
}

/* ------------------------------------------------------------- prekeys */

/* {_id: spk_doc_id(user_id, device_id)} */
static bool spk_filter(const char *user_id, const char *device_id, bson_t *f)
{
    char id[2 * 256 + 2];
    return store_bson__spk_doc_id(user_id, device_id, id, sizeof id) &&
           store_bson__id_filter(id, f);
}

static int mg_signed_prekey_put(store_t *s, const store_prekey *p)
{
    mongo_store *ms = ms_of(s);
    bson_t f = BSON_INITIALIZER, pipe = BSON_INITIALIZER, opts = BSON_INITIALIZER;
    BSON_APPEND_BOOL(&opts, "upsert", true);
    int rc = update_built(
        ms, C_SPK,
        (spk_filter(p->user_id, p->device_id, &f) && store_bson__signed_prekey_update(p, &pipe)),
        &f, &pipe, &opts, "signed_prekey_put");
    bson_destroy(&f);
    bson_destroy(&pipe);
    bson_destroy(&opts);
    return rc;
}

/* The "current" or "previous" key of a device's signed_prekeys document. */
static int spk_slot_get(store_t *s, const char *user_id, const char *device_id, const char *slot,
                        store_prekey *out)
{
    mongo_store *ms = ms_of(s);
    bson_t f = BSON_INITIALIZER, *doc = NULL, cur;
    bson_iter_t it;
    int rc = spk_filter(user_id, device_id, &f)
                 ? find_one(ms, C_SPK, &f, NULL, &doc, "signed_prekey_get")
                 : bad_value(ms, "signed_prekey_get");
    if (rc == STORE_OK) {
        const uint8_t *data;
        uint32_t len;
        if (bson_iter_init_find(&it, doc, slot) && BSON_ITER_HOLDS_DOCUMENT(&it)) {
            bson_iter_document(&it, &len, &data);
            if (bson_init_static(&cur, data, len))
                rc = store_bson__signed_prekey_from_doc(&cur, user_id, device_id, out, s->err,
                                                        sizeof s->err);
            else
                rc = fail_msg(ms, STORE_EIO, "signed_prekey_get", "corrupt document");
        } else {
            rc = STORE_ENOTFOUND;
        }
    }
    bson_destroy(doc);
    bson_destroy(&f);
    return rc;
}

static int mg_signed_prekey_get(store_t *s, const char *user_id, const char *device_id,
                                store_prekey *out)
{
    return spk_slot_get(s, user_id, device_id, "current", out);
}

static int mg_signed_prekey_get_previous(store_t *s, const char *user_id, const char *device_id,
                                         store_prekey *out)
{
    return spk_slot_get(s, user_id, device_id, "previous", out);
}

/* {_id: {$in: [ids...]}} (NULL on out-of-memory). */
static bson_t *ids_filter(const bson_oid_t *ids, size_t n)
{
    bson_t *f = bson_new(), in, arr;
    char numkey[16];
    const char *key;
    bool ok = BSON_APPEND_DOCUMENT_BEGIN(f, "_id", &in) &&
              BSON_APPEND_ARRAY_BEGIN(&in, "$in", &arr);
    for (size_t i = 0; ok && i < n; i++) {
        bson_uint32_to_string((uint32_t)i, &key, numkey, sizeof numkey);
        ok = BSON_APPEND_OID(&arr, key, &ids[i]);
    }
    ok = ok && bson_append_array_end(&in, &arr) && bson_append_document_end(f, &in);
    if (!ok) {
        bson_destroy(f);
        return NULL;
    }
    return f;
}

static int mg_otpk_add(store_t *s, const store_prekey *keys, size_t n)
{
    mongo_store *ms = ms_of(s);
    bson_t **docs = calloc(n, sizeof *docs);
    bson_oid_t *ids = calloc(n, sizeof *ids);
    bson_t opts = BSON_INITIALIZER, reply = BSON_INITIALIZER;
    bson_error_t err;
    int rc = STORE_OK;
    if (!docs || !ids) {
        rc = fail_msg(ms, STORE_ENOMEM, "otpk_add", "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        docs[i] = bson_new();
        bson_oid_init(&ids[i], NULL);
        if (!BSON_APPEND_OID(docs[i], "_id", &ids[i]) ||
            !store_bson__otpk_to_doc(&keys[i], docs[i])) {
            rc = bad_value(ms, "otpk_add");
            goto done;
        }
    }
    BSON_APPEND_BOOL(&opts, "ordered", true);
    if (ms->in_txn) {
        /* a duplicate key would abort the transaction: count the keys first */
        bson_t f = BSON_INITIALIZER, copts;
        int64_t have = -1;
        bson_set_error(&err, 0, 0, "cannot build the key query");
        if (store_bson__otpk_keys_filter(keys, n, &f) && with_session(ms, NULL, &copts))
            have = mongoc_collection_count_documents(ms->coll[C_OTPK], &f, &copts, NULL, NULL,
                                                     &err);
        else
            bson_init(&copts);
        bson_destroy(&copts);
        bson_destroy(&f);
        if (have < 0) {
            rc = fail_with(ms, &err, "otpk_add");
            goto done;
        }
        if (have > 0) {
            rc = fail_msg(ms, STORE_EEXIST, "otpk_add", "a key_id is already stored");
            goto done;
        }
        if (!mongoc_client_session_append(ms->sess, &opts, &err)) {
            rc = fail_with(ms, &err, "otpk_add");
            goto done;
        }
    }
    bson_destroy(&reply);
    if (mongoc_collection_insert_many(ms->coll[C_OTPK], (const bson_t **)docs, n, &opts, &reply,
                                      &err))
        goto done;
    if (ms->in_txn) {   /* the transaction is aborted: nothing of it stays */
        rc = fail_with(ms, &err, "otpk_add");
        goto done;
    }
    rc = is_dup_key(&err) ? STORE_EEXIST : fail_with(ms, &err, "otpk_add");
    if (rc == STORE_EEXIST)
        store__set_error(s, "mongodb otpk_add: %s", err.message);
    /* All or nothing: remove what this call inserted before the failure. */
    bson_t *f = ids_filter(ids, n);
    bson_error_t derr;
    if (!f || !mongoc_collection_delete_many(ms->coll[C_OTPK], f, NULL, NULL, &derr)) {
        rc = STORE_EIO;
        store__set_error(s, "mongodb otpk_add: %s; removing the partial batch failed: %s",
                         err.message, f ? derr.message : "out of memory");
    }
    bson_destroy(f);
done:
    for (size_t i = 0; docs && i < n; i++)
        bson_destroy(docs[i]);
    free(docs);
    free(ids);
    bson_destroy(&opts);
    bson_destroy(&reply);
    return rc;
}

static int mg_otpk_pop(store_t *s, const char *user_id, const char *device_id, store_prekey *out)
{
    mongo_store *ms = ms_of(s);
    bson_t q = BSON_INITIALIZER, sort = BSON_INITIALIZER, reply, val;
    bson_error_t err;
    bson_iter_t it;
    int rc = STORE_OK;
    mongoc_find_and_modify_opts_t *fam = mongoc_find_and_modify_opts_new();
    bson_init(&reply);
    if (!store_bson__otpk_device_filter(user_id, device_id, &q) ||
        !store_bson__otpk_pop_sort(&sort)) {
        rc = bad_value(ms, "otpk_pop");
        goto done;
    }
    mongoc_find_and_modify_opts_set_sort(fam, &sort);
    mongoc_find_and_modify_opts_set_flags(fam, MONGOC_FIND_AND_MODIFY_REMOVE);
    if (ms->in_txn) {
        bson_t extra = BSON_INITIALIZER;
        bool ok = mongoc_client_session_append(ms->sess, &extra, &err) &&
                  mongoc_find_and_modify_opts_append(fam, &extra);
        bson_destroy(&extra);
        if (!ok) {
            rc = fail_with(ms, &err, "otpk_pop");
            goto done;
        }
    }
    bson_destroy(&reply);
    if (!mongoc_collection_find_and_modify_with_opts(ms->coll[C_OTPK], &q, fam, &reply, &err)) {
        rc = fail_with(ms, &err, "otpk_pop");
        goto done;
    }
    if (!bson_iter_init_find(&it, &reply, "value") || !BSON_ITER_HOLDS_DOCUMENT(&it)) {
        rc = STORE_ENOTFOUND;
        goto done;
    }
    const uint8_t *data;
    uint32_t len;
    bson_iter_document(&it, &len, &data);
    if (!bson_init_static(&val, data, len)) {
        rc = fail_msg(ms, STORE_EIO, "otpk_pop", "corrupt reply");
        goto done;
    }
    rc = store_bson__otpk_from_doc(&val, out, s->err, sizeof s->err);
done:
    mongoc_find_and_modify_opts_destroy(fam);
    bson_destroy(&q);
    bson_destroy(&sort);
    bson_destroy(&reply);
    return rc;
}

static int mg_otpk_count(store_t *s, const char *user_id, const char *device_id, size_t *count)
{
    bson_t f = BSON_INITIALIZER;
    int rc = count_docs(ms_of(s), C_OTPK, store_bson__otpk_device_filter(user_id, device_id, &f),
                        &f, count, "otpk_count");
    bson_destroy(&f);
    return rc;
}

static int mg_otpk_clear(store_t *s, const char *user_id)
{
    mongo_store *ms = ms_of(s);
    bson_t q = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&q, "user_id", user_id);
    int rc = delete_docs(ms, C_OTPK, &q, true, NULL, "otpk_clear");
    bson_destroy(&q);
    return rc;
}

/* A device left the list: its signed prekeys document and one-time prekeys go. */
static int mg_prekeys_delete_device(store_t *s, const char *user_id, const char *device_id)
{
    mongo_store *ms = ms_of(s);
    bson_t f = BSON_INITIALIZER, q = BSON_INITIALIZER;
    int rc = (spk_filter(user_id, device_id, &f) &&
              store_bson__otpk_device_filter(user_id, device_id, &q))
                 ? delete_docs(ms, C_SPK, &f, false, NULL, "prekeys_delete_device")
                 : bad_value(ms, "prekeys_delete_device");
    if (rc == STORE_OK)
        rc = delete_docs(ms, C_OTPK, &q, true, NULL, "prekeys_delete_device");
    bson_destroy(&f);
    bson_destroy(&q);
    return rc;
}

/* The signed prekeys document is re-inserted under the new device's _id
 * (an _id cannot change), the one-time prekeys are relabelled. Outside a
 * transaction the steps are ordered so that repeating the call after a
 * failure finishes the move. */
static int mg_prekeys_move_device(store_t *s, const char *user_id, const char *from, const char *to)
{
    mongo_store *ms = ms_of(s);
    bson_t ff = BSON_INITIALIZER, ft = BSON_INITIALIZER, qf = BSON_INITIALIZER,
           qt = BSON_INITIALIZER, up = BSON_INITIALIZER, set, *doc = NULL, copy;
    bson_iter_t it;
    char to_id[2 * 256 + 2];
    int rc = (spk_filter(user_id, from, &ff) && spk_filter(user_id, to, &ft) &&
              store_bson__spk_doc_id(user_id, to, to_id, sizeof to_id) &&
              store_bson__otpk_device_filter(user_id, from, &qf) &&
              store_bson__otpk_device_filter(user_id, to, &qt) &&
              BSON_APPEND_DOCUMENT_BEGIN(&up, "$set", &set) &&
              BSON_APPEND_UTF8(&set, "device_id", to) && bson_append_document_end(&up, &set))
                 ? STORE_OK
                 : bad_value(ms, "prekeys_move_device");
    bson_init(&copy);
    if (rc == STORE_OK)
        rc = find_one(ms, C_SPK, &ff, NULL, &doc, "prekeys_move_device");
    if (rc == STORE_OK) {
        /* the document with the new _id and device_id, every other field kept */
        if (!BSON_APPEND_UTF8(&copy, "_id", to_id) || !BSON_APPEND_UTF8(&copy, "device_id", to) ||
            !bson_iter_init(&it, doc))
            rc = bad_value(ms, "prekeys_move_device");
        while (rc == STORE_OK && bson_iter_next(&it)) {
            const char *k = bson_iter_key(&it);
            if (strcmp(k, "_id") != 0 && strcmp(k, "device_id") != 0 &&
                !bson_append_iter(&copy, k, -1, &it))
                rc = bad_value(ms, "prekeys_move_device");
        }
        if (rc == STORE_OK)
            rc = delete_docs(ms, C_SPK, &ft, false, NULL, "prekeys_move_device");
        if (rc == STORE_OK)
            rc = insert(ms, C_SPK, &copy, STORE_EIO, "prekeys_move_device");
        if (rc == STORE_OK)
            rc = delete_docs(ms, C_SPK, &ff, false, NULL, "prekeys_move_device");
    } else if (rc == STORE_ENOTFOUND) {
        rc = STORE_OK;
    }
    size_t have = 0;
    if (rc == STORE_OK)
        rc = mg_otpk_count(s, user_id, from, &have);
    if (rc == STORE_OK && have > 0) /* the target's keys are replaced only by some */
        rc = delete_docs(ms, C_OTPK, &qt, true, NULL, "prekeys_move_device");
    if (rc == STORE_OK && have > 0) {
        bson_t reply, sopts;
        bson_error_t err;
        bson_init(&reply);
        if (!with_session(ms, NULL, &sopts))
            rc = STORE_EIO;
        else if (!mongoc_collection_update_many(ms->coll[C_OTPK], &qf, &up, &sopts, &reply, &err))
            rc = fail_with(ms, &err, "prekeys_move_device");
        bson_destroy(&sopts);
        bson_destroy(&reply);
    }
    bson_destroy(doc);
    bson_destroy(&copy);
    bson_destroy(&ff);
    bson_destroy(&ft);
    bson_destroy(&qf);
    bson_destroy(&qt);
    bson_destroy(&up);
    return rc;
}

/* ---------------------------------------------------------- device lists */

static int mg_user_set_devices(store_t *s, const char *user_id, uint64_t expect_version,
                               uint64_t version, const uint8_t *list, size_t list_len,
                               const uint8_t sig[STORE_SIG_LEN], int64_t updated_at)
{
    mongo_store *ms = ms_of(s);
    bson_t f = BSON_INITIALIZER, u = BSON_INITIALIZER;
    store_user cur = {0};
    int rc = update_built(ms, C_USERS,
                          store_bson__user_devices_query(user_id, expect_version, version, list,
                                                         list_len, sig, updated_at, &f, &u),
                          &f, &u, NULL, "user_set_devices");
    if (rc == STORE_ENOTFOUND) { /* no user, a tombstone, or another version */
        rc = mg_user_get(s, user_id, &cur);
        if (rc == STORE_OK && cur.status == STORE_USER_DELETED) {
            store__set_error(s, "mongodb user_set_devices: user %s was deleted", user_id);
            rc = STORE_EINVAL;
        } else if (rc == STORE_OK) {
            store__set_error(s,
                             "mongodb user_set_devices: %s's device list is no longer "
                             "version %llu",
                             user_id, (unsigned long long)expect_version);
            rc = STORE_EEXIST;
        } else if (rc == STORE_ENOTFOUND) {
            store__set_error(s, "mongodb user_set_devices: no user %s", user_id);
        }
        store_user_free(&cur);
    }
    bson_destroy(&f);
    bson_destroy(&u);
    return rc;
}

/* ------------------------------------------------------------ link codes */

static int mg_link_put(store_t *s, const store_link *l)
{
    mongo_store *ms = ms_of(s);
    bson_t doc = BSON_INITIALIZER;
    int rc = insert_new(ms, C_LINKS, store_bson__link_to_doc(l, &doc), &doc, "link_put");
    bson_destroy(&doc);
    return rc;
}

MG_GET_DELETE_BY_ID(link, store_link, C_LINKS, "link code")

static int mg_links_delete_device(store_t *s, const char *user_id, const char *device_id)
{
    mongo_store *ms = ms_of(s);
    bson_t f = BSON_INITIALIZER;
    int rc = store_bson__otpk_device_filter(user_id, device_id, &f) /* {user_id, device_id} */
                 ? delete_docs(ms, C_LINKS, &f, true, NULL, "links_delete_device")
                 : bad_value(ms, "links_delete_device");
    bson_destroy(&f);
    return rc;
}

static int mg_link_count(store_t *s, const char *user_id, int64_t now, size_t *count)
{
    bson_t f = BSON_INITIALIZER;
    int rc = count_docs(ms_of(s), C_LINKS, store_bson__link_count_filter(user_id, now, &f), &f,
                        count, "link_count");
    bson_destroy(&f);
    return rc;
}

static int mg_links_expire(store_t *s, int64_t now, size_t *deleted)
{
    bson_t f = BSON_INITIALIZER;
    int rc = delete_counted(ms_of(s), C_LINKS, store_bson__links_expired_filter(now, &f), &f,
                            deleted, "links_expire");
    bson_destroy(&f);
    return rc;
}

/* --------------------------------------------------------------- chats */

static int mg_chat_put(store_t *s, const store_chat *c)
{
    mongo_store *ms = ms_of(s);
    store_chat copy = *c;
    copy.last_seq = 0;      /* read-only: maintained by message_put */
    bson_t doc = BSON_INITIALIZER;
    int rc = insert_new(ms, C_CHATS, store_bson__chat_to_doc(&copy, &doc), &doc, "chat_put");
    bson_destroy(&doc);
    return rc;
}

static int mg_chat_update(store_t *s, const store_chat *c)
{
    mongo_store *ms = ms_of(s);
    bson_t f = BSON_INITIALIZER, u = BSON_INITIALIZER;
    int rc = update_built(ms, C_CHATS,
                          (store_bson__id_filter(c->chat_id, &f) && store_bson__chat_update(c, &u)),
                          &f, &u, NULL, "chat_update");
    bson_destroy(&f);
    bson_destroy(&u);
    return rc;
}

static int mg_chat_get(store_t *s, const char *chat_id, store_chat *out)
{
    return get_by_id(ms_of(s), C_CHATS, chat_id, &chat_rec, out, "chat_get");
}

static int mg_chat_delete(store_t *s, const char *chat_id)
{
    mongo_store *ms = ms_of(s);
    bson_t f = BSON_INITIALIZER, byc = BSON_INITIALIZER;
    int64_t deleted = 0;
    int rc;
    store_bson__id_filter(chat_id, &f);
    BSON_APPEND_UTF8(&byc, "chat_id", chat_id);
    rc = delete_docs(ms, C_CHATS, &f, false, &deleted, "chat_delete");
    if (rc == STORE_OK && deleted == 0)
        rc = STORE_ENOTFOUND;
    if (rc == STORE_OK)
        rc = delete_docs(ms, C_MEMBERS, &byc, true, NULL, "chat_delete members");
    if (rc == STORE_OK)
        rc = delete_docs(ms, C_MESSAGES, &byc, true, NULL, "chat_delete messages");
    bson_destroy(&f);
    bson_destroy(&byc);
    return rc;
}

/* ------------------------------------------------------------- members */

static int chat_exists(mongo_store *ms, const char *chat_id, const char *what)
{
    bson_t f = BSON_INITIALIZER, *doc = NULL, proj = BSON_INITIALIZER, p;
    store_bson__id_filter(chat_id, &f);
    BSON_APPEND_DOCUMENT_BEGIN(&proj, "projection", &p);
    BSON_APPEND_INT32(&p, "_id", 1);
    bson_append_document_end(&proj, &p);
    int rc = find_one(ms, C_CHATS, &f, &proj, &doc, what);
    bson_destroy(doc);
    bson_destroy(&f);
    bson_destroy(&proj);
    return rc;
}

static int mg_member_put(store_t *s, const store_member *m)
{
    mongo_store *ms = ms_of(s);
    bson_t doc = BSON_INITIALIZER;
    int rc = chat_exists(ms, m->chat_id, "member_put");
    if (rc == STORE_ENOTFOUND)
        store__set_error(s, "mongodb member_put: no chat %s", m->chat_id);
    bson_oid_t oid;
    bson_oid_init(&oid, NULL);
    if (rc == STORE_OK && ms->in_txn) {
        /* a duplicate key would abort the transaction: look first */
        bson_t f = BSON_INITIALIZER, *old = NULL;
        rc = store_bson__member_filter(m->chat_id, m->user_id, &f)
                 ? find_one(ms, C_MEMBERS, &f, NULL, &old, "member_put")
                 : bad_value(ms, "member_put");
        bson_destroy(old);
        bson_destroy(&f);
        if (rc == STORE_OK)
            rc = fail_msg(ms, STORE_EEXIST, "member_put", "already a member");
        else if (rc == STORE_ENOTFOUND)
            rc = STORE_OK;
    }
    if (rc == STORE_OK)
        rc = insert_new(ms, C_MEMBERS,
                        BSON_APPEND_OID(&doc, "_id", &oid) && store_bson__member_to_doc(m, &doc),
                        &doc, "member_put");
    bson_destroy(&doc);
    return rc;
}

static int mg_member_get(store_t *s, const char *chat_id, const char *user_id, store_member *out)
{
    bson_t f = BSON_INITIALIZER;
    int rc = get_decoded(ms_of(s), C_MEMBERS, store_bson__member_filter(chat_id, user_id, &f), &f,
                         &member_rec, out, "member_get");
    bson_destroy(&f);
    return rc;
}

static int mg_member_set_role(store_t *s, const char *chat_id, const char *user_id, store_role role)
{
    mongo_store *ms = ms_of(s);
    bson_t f = BSON_INITIALIZER, u = BSON_INITIALIZER;
    int rc = update_built(ms, C_MEMBERS,
                          (store_bson__member_filter(chat_id, user_id, &f) &&
                           store_bson__member_role_update(role, &u)),
                          &f, &u, NULL, "member_set_role");
    bson_destroy(&f);
    bson_destroy(&u);
    return rc;
}

static int mg_member_remove(store_t *s, const char *chat_id, const char *user_id)
{
    bson_t f = BSON_INITIALIZER;
    int rc = delete_one(ms_of(s), C_MEMBERS, store_bson__member_filter(chat_id, user_id, &f), &f,
                        "member_remove", NULL, NULL);
    bson_destroy(&f);
    return rc;
}

static int mg_member_advance(store_t *s, const char *chat_id, const char *user_id,
                             uint64_t delivered_seq, uint64_t read_seq)
{
    mongo_store *ms = ms_of(s);
    bson_t f = BSON_INITIALIZER, u = BSON_INITIALIZER, *doc = NULL;
    int rc;
    if (!store_bson__member_filter(chat_id, user_id, &f))
        rc = bad_value(ms, "member_advance");
    else if (store_bson__member_advance_update(delivered_seq, read_seq, &u))
        rc = update_one(ms, C_MEMBERS, &f, &u, NULL, "member_advance");
    else if (delivered_seq > INT64_MAX || read_seq > INT64_MAX)
        rc = bad_value(ms, "member_advance");
    else   /* nothing to move: only report whether the member exists */
        rc = find_one(ms, C_MEMBERS, &f, NULL, &doc, "member_advance");
    bson_destroy(doc);
    bson_destroy(&f);
    bson_destroy(&u);
    return rc;
}

static int members_by(store_t *s, const char *field, const char *value, const char *sort_by,
                      store_member **out, size_t *n, const char *what)
{
    mongo_store *ms = ms_of(s);
    bson_t f = BSON_INITIALIZER, o = BSON_INITIALIZER, sort;
    BSON_APPEND_UTF8(&f, field, value);
    BSON_APPEND_DOCUMENT_BEGIN(&o, "sort", &sort);
    BSON_APPEND_INT32(&sort, sort_by, 1);
    bson_append_document_end(&o, &sort);
    int rc = find_many(ms, C_MEMBERS, &f, &o, &member_rec, (void **)out, n, what);
    bson_destroy(&f);
    bson_destroy(&o);
    return rc;
}

static int mg_members_of_chat(store_t *s, const char *chat_id, store_member **out, size_t *n)
{
    return members_by(s, "chat_id", chat_id, "user_id", out, n, "members_of_chat");
}

static int mg_chats_of_user(store_t *s, const char *user_id, store_member **out, size_t *n)
{
    return members_by(s, "user_id", user_id, "chat_id", out, n, "chats_of_user");
}

/* ------------------------------------------------------------ messages */

/* The buffered message of the open transaction with this client id. */
static pend_msg *pend_find(mongo_store *ms, const char *sender, const char *client_msg_id)
{
    for (size_t i = ms->pend_n; i-- > 0;)
        if (strcmp(ms->pend[i].client_msg_id, client_msg_id) == 0 &&
            strcmp(ms->pend[i].sender, sender) == 0)
            return &ms->pend[i];
    return NULL;
}

/* m is a retry of the stored (or buffered) message seq/server_id. */
static int set_dup(mongo_store *ms, store_message *m, const char *server_id, uint64_t seq)
{
    char *sid = strdup(server_id);
    if (!sid)
        return fail_msg(ms, STORE_ENOMEM, "message_put", "out of memory");
    free(m->server_id);
    m->server_id = sid;
    m->seq = seq;
    store__set_error(&ms->base, "mongodb message_put: duplicate client message id");
    return STORE_EDUP;
}

/* If (sender, client_msg_id) is stored (or buffered in the transaction),
 * copy its seq and server_id into m and return STORE_EDUP; STORE_ENOTFOUND
 * if not stored. */
static int find_dup(mongo_store *ms, store_message *m)
{
    pend_msg *p = ms->in_txn ? pend_find(ms, m->sender, m->client_msg_id) : NULL;
    if (p)
        return set_dup(ms, m, p->server_id, p->seq);
    bson_t f = BSON_INITIALIZER, *doc = NULL;
    store_message old;
    int rc = store_bson__client_id_filter(m->sender, m->client_msg_id, &f)
                 ? find_one(ms, C_MESSAGES, &f, NULL, &doc, "message_put")
                 : bad_value(ms, "message_put");
    if (rc == STORE_OK)
        rc = store_bson__message_from_doc(doc, &old, ms->base.err, sizeof ms->base.err);
    if (rc == STORE_OK) {
        rc = set_dup(ms, m, old.server_id, old.seq);
        store_message_free(&old);
    }
    bson_destroy(doc);
    bson_destroy(&f);
    return rc;
}

/* find_and_modify on the chat with update; *old_last = the chat's last_seq
 * before it. STORE_ENOTFOUND when there is no such chat. */
static int chat_fam(mongo_store *ms, const char *chat_id, const bson_t *update, uint64_t *old_last)
{
    bson_t f = BSON_INITIALIZER, reply, extra;
    bson_error_t err;
    bson_iter_t it, f_it;
    int rc = STORE_OK;
    mongoc_find_and_modify_opts_t *fam = mongoc_find_and_modify_opts_new();
    store_bson__id_filter(chat_id, &f);
    mongoc_find_and_modify_opts_set_update(fam, update);
    if (!with_session(ms, NULL, &extra) || !mongoc_find_and_modify_opts_append(fam, &extra)) {
        bson_destroy(&extra);
        bson_destroy(&f);
        mongoc_find_and_modify_opts_destroy(fam);
        return fail_msg(ms, STORE_EIO, "message_put seq", "cannot build options");
    }
    /* The reply holds the chat as it was before the $inc. */
    if (!mongoc_collection_find_and_modify_with_opts(ms->coll[C_CHATS], &f, fam, &reply, &err)) {
        rc = fail_with(ms, &err, "message_put seq");
    } else if (bson_iter_init_find(&it, &reply, "value") && BSON_ITER_HOLDS_DOCUMENT(&it)) {
        const uint8_t *data;
        uint32_t len;
        bson_t old;
        int64_t last = 0;
        bson_iter_document(&it, &len, &data);
        if (bson_init_static(&old, data, len) && bson_iter_init_find(&f_it, &old, "last_seq") &&
            BSON_ITER_HOLDS_NUMBER(&f_it))
            last = bson_iter_as_int64(&f_it);
        *old_last = last < 0 ? 0 : (uint64_t)last;
    } else {
        rc = fail_msg(ms, STORE_ENOTFOUND, "message_put", "no such chat");
    }
    bson_destroy(&reply);
    bson_destroy(&extra);
    bson_destroy(&f);
    mongoc_find_and_modify_opts_destroy(fam);
    return rc;
}

/* Reserve m->seq on the chat document (assign the next one when 0). */
static int reserve_seq(mongo_store *ms, store_message *m)
{
    bson_t f = BSON_INITIALIZER, u = BSON_INITIALIZER;
    uint64_t last = 0;
    int rc;
    if (m->seq == 0) {
        rc = store_bson__seq_alloc_update(m->server_ts, &u) ? chat_fam(ms, m->chat_id, &u, &last)
                                                            : bad_value(ms, "message_put");
        if (rc == STORE_OK)
            m->seq = last + 1;
    } else {
        rc = store_bson__seq_explicit(m->chat_id, m->seq, m->server_ts, &f, &u)
                 ? update_one(ms, C_CHATS, &f, &u, NULL, "message_put seq")
                 : bad_value(ms, "message_put");
        if (rc == STORE_ENOTFOUND) {
            rc = chat_exists(ms, m->chat_id, "message_put");
            if (rc == STORE_OK)
                rc = fail_msg(ms, STORE_EINVAL, "message_put",
                              "seq is not above the chat's last seq");
            else if (rc == STORE_ENOTFOUND)
                fail_msg(ms, rc, "message_put", "no such chat");
        }
    }
    bson_destroy(&f);
    bson_destroy(&u);
    return rc;
}

/* Buffer m (seq assigned) for the transaction's insertMany. */
static int pend_push(mongo_store *ms, const store_message *m)
{
    pend_msg *p;
    if (ms->pend_n == ms->pend_cap) {
        size_t ncap = ms->pend_cap ? ms->pend_cap * 2 : 64;
        pend_msg *np = realloc(ms->pend, ncap * sizeof *np);
        if (!np)
            return fail_msg(ms, STORE_ENOMEM, "message_put", "out of memory");
        ms->pend = np;
        ms->pend_cap = ncap;
    }
    p = &ms->pend[ms->pend_n];
    memset(p, 0, sizeof *p);
    p->seq = m->seq;
    p->doc = bson_new();
    p->sender = strdup(m->sender);
    p->client_msg_id = strdup(m->client_msg_id);
    p->server_id = strdup(m->server_id);
    if (!p->doc || !p->sender || !p->client_msg_id || !p->server_id ||
        !store_bson__message_to_doc(m, p->doc)) {
        bson_destroy(p->doc);
        free(p->sender);
        free(p->client_msg_id);
        free(p->server_id);
        return fail_msg(ms, STORE_ENOMEM, "message_put", "cannot build the document");
    }
    ms->pend_n++;
    return STORE_OK;
}

/* Inside the open transaction: dedup (stored or buffered), reserve the seq,
 * buffer the document. A logical failure writes nothing (the reads come
 * first); the document is built before the seq is taken, so a message that
 * cannot be stored never consumes a seq. */
static int put_in_txn(mongo_store *ms, store_message *m)
{
    uint64_t asked = m->seq;
    bson_t probe = BSON_INITIALIZER;
    store_message tmp = *m;
    int rc = find_dup(ms, m);
    if (rc != STORE_ENOTFOUND)
        return rc;
    ms->base.err[0] = '\0';
    tmp.seq = 1;    /* any valid seq: does the document fit at all? */
    rc = store_bson__message_to_doc(&tmp, &probe) ? STORE_OK : bad_value(ms, "message_put");
    bson_destroy(&probe);
    if (rc == STORE_OK && (rc = reserve_seq(ms, m)) == STORE_OK)
        rc = pend_push(ms, m);
    if (rc != STORE_OK)
        m->seq = asked;
    return rc;
}

/* A put outside store_begin/commit runs in a transaction of its own,
 * retried on transient errors (write conflicts with other appenders). */
static int mg_message_put(store_t *s, store_message *m)
{
    mongo_store *ms = ms_of(s);
    uint64_t asked = m->seq;
    struct timespec t0, t1, pause;
    long waited_ms, backoff_ms = 1;
    int rc;
    if (ms->in_txn)
        return put_in_txn(ms, m);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        if ((rc = mg_begin(s)) != STORE_OK)
            return rc;
        rc = put_in_txn(ms, m);
        if (rc == STORE_OK || rc == STORE_EDUP) {
            int c = mg_commit(s);
            if (c == STORE_OK)
                return rc;
            rc = c;
        } else {
            char keep[sizeof s->err];
            memcpy(keep, s->err, sizeof keep);
            txn_abort(ms);
            memcpy(s->err, keep, sizeof keep);
        }
        m->seq = asked;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        waited_ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
        if (rc != STORE_EUNAVAIL || waited_ms > TXN_RETRY_MS)
            return rc;
        pause = (struct timespec){0, backoff_ms * 1000000L};
        nanosleep(&pause, NULL);
        backoff_ms = backoff_ms * 2 < 100 ? backoff_ms * 2 : 100;
    }
}

/* A backend failure ends the run: it and every later message report it
 * (the caller rolls the transaction back). */
static void fail_rest(int *rcs, size_t from, size_t n, int rc)
{
    for (size_t i = from; i < n; i++)
        if (rcs[i] == STORE_OK)
            rcs[i] = rc;
}

static bool is_backend(int rc)
{
    return rc == STORE_EIO || rc == STORE_ENOMEM || rc == STORE_EUNAVAIL;
}

/* A run of message puts inside the open transaction, with as few round
 * trips as the semantics allow: one find for the duplicates of the whole
 * run, one findOneAndUpdate ($inc by the count) per distinct chat, and the
 * documents go to the transaction's insertMany. Same results as n
 * message_put calls in order. Explicit seqs (seq > 0) take the one-by-one
 * path. */
static void mg_message_put_many(store_t *s, store_message *const *msgs, int *rcs, size_t n)
{
    mongo_store *ms = ms_of(s);
    const char **senders = NULL, **cmids = NULL;
    size_t *ask = NULL, nask = 0, i, j;
    int *state = NULL; /* 0 new, 1 duplicate (rcs set), 2 dup of an earlier one (j in dupof) */
    size_t *dupof = NULL;
    bool *took = NULL; /* passed store.c's checks: seq 0 on entry, reset on failure */
    bool explicit_seq = false;
    int rc = STORE_OK;

    for (i = 0; i < n; i++)
        if (rcs[i] == STORE_OK && msgs[i]->seq != 0)
            explicit_seq = true;
    if (!ms->in_txn || explicit_seq) {
        for (i = 0; i < n; i++) {
            if (rcs[i] != STORE_OK)
                continue;
            rcs[i] = mg_message_put(s, msgs[i]);
            if (is_backend(rcs[i])) {
                fail_rest(rcs, i + 1, n, rcs[i]);
                return;
            }
        }
        return;
    }
    senders = calloc(n, sizeof *senders);
    cmids = calloc(n, sizeof *cmids);
    ask = calloc(n, sizeof *ask);
    state = calloc(n, sizeof *state);
    dupof = calloc(n, sizeof *dupof);
    took = calloc(n, sizeof *took);
    if (!senders || !cmids || !ask || !state || !dupof || !took) {
        fail_rest(rcs, 0, n, fail_msg(ms, STORE_ENOMEM, "message_put", "out of memory"));
        goto done;
    }
    for (i = 0; i < n; i++)
        took[i] = rcs[i] == STORE_OK;
    /* 1. duplicates: buffered by an earlier run, earlier in this run, stored */
    for (i = 0; i < n; i++) {
        pend_msg *p;
        if (rcs[i] != STORE_OK)
            continue;
        if ((p = pend_find(ms, msgs[i]->sender, msgs[i]->client_msg_id)) != NULL) {
            rcs[i] = set_dup(ms, msgs[i], p->server_id, p->seq);
            state[i] = 1;
            continue;
        }
        for (j = 0; j < i; j++)
            if (rcs[j] == STORE_OK && state[j] == 0 &&
                strcmp(msgs[j]->client_msg_id, msgs[i]->client_msg_id) == 0 &&
                strcmp(msgs[j]->sender, msgs[i]->sender) == 0)
                break;
        if (j < i) {
            state[i] = 2;
            dupof[i] = j;
            continue;
        }
        senders[nask] = msgs[i]->sender;
        cmids[nask] = msgs[i]->client_msg_id;
        ask[nask++] = i;
    }
    if (nask > 0) {
        bson_t f = BSON_INITIALIZER, o = BSON_INITIALIZER, so = BSON_INITIALIZER;
        const bson_t *d;
        bson_error_t err;
        if (!store_bson__client_ids_query(senders, cmids, nask, &f, &o) ||
            !with_session(ms, &o, &so)) {
            rc = bad_value(ms, "message_put");
        } else {
            mongoc_cursor_t *cur = mongoc_collection_find_with_opts(ms->coll[C_MESSAGES], &f, &so,
                                                                    NULL);
            while (rc == STORE_OK && mongoc_cursor_next(cur, &d)) {
                const char *snd, *cid, *sid;
                uint64_t seq;
                rc = store_bson__dup_from_doc(d, &snd, &cid, &seq, &sid, s->err, sizeof s->err);
                for (size_t k = 0; rc == STORE_OK && k < nask; k++) {
                    i = ask[k];
                    if (state[i] == 0 && strcmp(cmids[k], cid) == 0 &&
                        strcmp(senders[k], snd) == 0) {
                        rcs[i] = set_dup(ms, msgs[i], sid, seq);
                        state[i] = 1;
                        if (rcs[i] == STORE_ENOMEM)
                            rc = STORE_ENOMEM;
                    }
                }
            }
            if (rc == STORE_OK && mongoc_cursor_error(cur, &err))
                rc = fail_with(ms, &err, "message_put duplicates");
            mongoc_cursor_destroy(cur);
        }
        bson_destroy(&so);
        bson_destroy(&f);
        bson_destroy(&o);
        if (rc != STORE_OK) {
            fail_rest(rcs, 0, n, rc);
            goto done;
        }
    }
    /* 2. per distinct chat: count the new messages, take the seqs at once */
    for (i = 0; i < n; i++) {
        size_t cnt = 0;
        int64_t max_ts = INT64_MIN;
        uint64_t last = 0;
        bool first = true;
        if (rcs[i] != STORE_OK || state[i] != 0 || msgs[i]->seq != 0)
            continue; /* not new, or its chat was done already (seq set) */
        for (j = 0; j < i; j++)
            if (rcs[j] == STORE_ENOTFOUND && state[j] == 0 &&
                strcmp(msgs[j]->chat_id, msgs[i]->chat_id) == 0)
                first = false; /* the chat is known to be missing */
        if (!first) {
            rcs[i] = fail_msg(ms, STORE_ENOTFOUND, "message_put", "no such chat");
            continue;
        }
        for (j = i; j < n; j++)
            if (rcs[j] == STORE_OK && state[j] == 0 &&
                strcmp(msgs[j]->chat_id, msgs[i]->chat_id) == 0) {
                bson_t probe = BSON_INITIALIZER;
                store_message tmp = *msgs[j];
                tmp.seq = 1;
                if (!store_bson__message_to_doc(&tmp, &probe)) {
                    rcs[j] = bad_value(ms, "message_put"); /* never takes a seq */
                } else {
                    cnt++;
                    if (msgs[j]->server_ts > max_ts)
                        max_ts = msgs[j]->server_ts;
                }
                bson_destroy(&probe);
            }
        if (cnt == 0)
            continue;
        bson_t u = BSON_INITIALIZER;
        rc = store_bson__seq_alloc_n_update(cnt, max_ts, &u)
                 ? chat_fam(ms, msgs[i]->chat_id, &u, &last)
                 : bad_value(ms, "message_put");
        bson_destroy(&u);
        if (rc == STORE_ENOTFOUND) {
            for (j = i; j < n; j++)
                if (rcs[j] == STORE_OK && state[j] == 0 &&
                    strcmp(msgs[j]->chat_id, msgs[i]->chat_id) == 0)
                    rcs[j] = fail_msg(ms, STORE_ENOTFOUND, "message_put", "no such chat");
            rc = STORE_OK;
            continue;
        }
        if (rc != STORE_OK) {
            fail_rest(rcs, 0, n, rc);
            goto done;
        }
        for (j = i; j < n; j++)
            if (rcs[j] == STORE_OK && state[j] == 0 &&
                strcmp(msgs[j]->chat_id, msgs[i]->chat_id) == 0)
                msgs[j]->seq = ++last;
    }
    /* 3. buffer the documents in order; resolve the in-run duplicates */
    for (i = 0; i < n; i++) {
        if (rcs[i] != STORE_OK)
            continue;
        if (state[i] == 2) {
            /* the same client id earlier in the run: stored now (OK) or
             * before (EDUP); msgs[j] holds the original's seq and server_id */
            j = dupof[i];
            rcs[i] = rcs[j] == STORE_OK || rcs[j] == STORE_EDUP
                         ? set_dup(ms, msgs[i], msgs[j]->server_id, msgs[j]->seq)
                         : rcs[j];
            continue;
        }
        if (state[i] != 0)
            continue;
        if ((rc = pend_push(ms, msgs[i])) != STORE_OK) {
            fail_rest(rcs, 0, n, rc);
            goto done;
        }
    }
done:
    /* a failed append gets its seq 0 back */
    for (i = 0; took && i < n; i++)
        if (took[i] && rcs[i] != STORE_OK && rcs[i] != STORE_EDUP)
            msgs[i]->seq = 0;
    free(took);
    free(senders);
    free(cmids);
    free(ask);
    free(state);
    free(dupof);
}

static int get_message(store_t *s, const bson_t *f, store_message *out, const char *what)
{
    mongo_store *ms = ms_of(s);
    bson_t *doc = NULL;
    int rc = flush_pending(ms); /* the transaction sees its own messages */
    if (rc == STORE_OK)
        rc = find_one(ms, C_MESSAGES, f, NULL, &doc, what);
    if (rc == STORE_OK)
        rc = store_bson__message_from_doc(doc, out, s->err, sizeof s->err);
    bson_destroy(doc);
    return rc;
}

static int mg_message_get(store_t *s, const char *chat_id, uint64_t seq, store_message *out)
{
    bson_t f = BSON_INITIALIZER;
    int rc = store_bson__message_filter(chat_id, seq, &f) ? get_message(s, &f, out, "message_get")
                                                          : bad_value(ms_of(s), "message_get");
    bson_destroy(&f);
    return rc;
}

static int mg_message_get_by_client_id(store_t *s, const char *sender, const char *client_msg_id,
                                       store_message *out)
{
    bson_t f = BSON_INITIALIZER;
    int rc = store_bson__client_id_filter(sender, client_msg_id, &f)
                 ? get_message(s, &f, out, "message_get_by_client_id")
                 : bad_value(ms_of(s), "message_get_by_client_id");
    bson_destroy(&f);
    return rc;
}

static int mg_messages_after(store_t *s, const char *chat_id, uint64_t after_seq, size_t limit,
                             store_message **out, size_t *n)
{
    mongo_store *ms = ms_of(s);
    bson_t f = BSON_INITIALIZER, o = BSON_INITIALIZER, rcn;
    bool ok = store_bson__messages_after_query(chat_id, after_seq, limit, &f, &o);
    /* Outside a transaction read one point-in-time snapshot (MongoDB 5.0+):
     * a plain find may yield between index entries and so see seq k+1,
     * committed after it passed k's place, without k. */
    if (ok && !ms->in_txn)
        ok = BSON_APPEND_DOCUMENT_BEGIN(&o, "readConcern", &rcn) &&
             BSON_APPEND_UTF8(&rcn, "level", "snapshot") && bson_append_document_end(&o, &rcn);
    int rc = ok ? find_many(ms, C_MESSAGES, &f, &o, &message_rec, (void **)out, n, "messages_after")
                : bad_value(ms, "messages_after");
    bson_destroy(&f);
    bson_destroy(&o);
    return rc;
}

static int mg_chat_last_seqs(store_t *s, char ***chat_ids, uint64_t **seqs, size_t *n)
{
    mongo_store *ms = ms_of(s);
    bson_t f = BSON_INITIALIZER, o = BSON_INITIALIZER, p;
    const bson_t *d;
    bson_error_t err;
    bson_iter_t it;
    char **ids = NULL;
    uint64_t *vals = NULL;
    size_t cap = 0, cnt = 0;
    int rc = STORE_OK;
    BSON_APPEND_DOCUMENT_BEGIN(&o, "projection", &p);
    BSON_APPEND_INT32(&p, "last_seq", 1);
    bson_append_document_end(&o, &p);
    if (ms->in_txn && !mongoc_client_session_append(ms->sess, &o, &err)) {
        bson_destroy(&f);
        bson_destroy(&o);
        return fail_with(ms, &err, "chat_last_seqs");
    }
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(ms->coll[C_CHATS], &f, &o, NULL);
    while (mongoc_cursor_next(cur, &d)) {
        if (cnt == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            char **ni = realloc(ids, ncap * sizeof *ni);
            if (ni)
                ids = ni;
            uint64_t *nv = ni ? realloc(vals, ncap * sizeof *nv) : NULL;
            if (!nv) {
                rc = fail_msg(ms, STORE_ENOMEM, "chat_last_seqs", "out of memory");
                break;
            }
            vals = nv;
            cap = ncap;
        }
        if (!bson_iter_init_find(&it, d, "_id") || !BSON_ITER_HOLDS_UTF8(&it)) {
            rc = fail_msg(ms, STORE_EIO, "chat_last_seqs", "chat without a text _id");
            break;
        }
        ids[cnt] = strdup(bson_iter_utf8(&it, NULL));
        if (!ids[cnt]) {
            rc = fail_msg(ms, STORE_ENOMEM, "chat_last_seqs", "out of memory");
            break;
        }
        vals[cnt] = 0;
        if (bson_iter_init_find(&it, d, "last_seq") && BSON_ITER_HOLDS_NUMBER(&it) &&
            bson_iter_as_int64(&it) > 0)
            vals[cnt] = (uint64_t)bson_iter_as_int64(&it);
        cnt++;
    }
    if (rc == STORE_OK && mongoc_cursor_error(cur, &err))
        rc = fail_with(ms, &err, "chat_last_seqs");
    mongoc_cursor_destroy(cur);
    bson_destroy(&f);
    bson_destroy(&o);
    if (rc != STORE_OK) {
        for (size_t i = 0; i < cnt; i++)
            free(ids[i]);
        free(ids);
        free(vals);
        return rc;
    }
    *chat_ids = ids;
    *seqs = vals;
    *n = cnt;
    return STORE_OK;
}

static int mg_messages_expire(store_t *s, int64_t now, size_t *deleted)
{
    bson_t f = BSON_INITIALIZER;
    int rc = delete_counted(ms_of(s), C_MESSAGES, store_bson__expired_filter(now, &f), &f, deleted,
                            "messages_expire");
    bson_destroy(&f);
    return rc;
}

/* One update_one of a CHAT document; when it matches nothing, the
 * document's kind says why. WiredTiger rewrites the document: the old body
 * stays in free space of the data file and in the journal until reused. */
static int mg_message_tombstone(store_t *s, const char *chat_id, uint64_t seq,
                                const char *deleted_by, int64_t deleted_at)
{
    mongo_store *ms = ms_of(s);
    bson_t f = BSON_INITIALIZER, u = BSON_INITIALIZER, g = BSON_INITIALIZER;
    store_message m = {0};
    int rc = flush_pending(ms); /* the transaction's own appends first */
    if (rc != STORE_OK)
        goto out;
    if (!store_bson__tombstone_filter(chat_id, seq, &f) ||
        !store_bson__tombstone_update(deleted_by, deleted_at, &u) ||
        !store_bson__message_filter(chat_id, seq, &g)) {
        rc = bad_value(ms, "message_tombstone");
        goto out;
    }
    rc = update_one(ms, C_MESSAGES, &f, &u, NULL, "message_tombstone");
    if (rc != STORE_ENOTFOUND)
        goto out;
    rc = get_message(s, &g, &m, "message_tombstone");
    if (rc == STORE_OK && m.kind != STORE_KIND_TOMBSTONE) {
        store__set_error(s, "message_tombstone: kind %d cannot be deleted", m.kind);
        rc = STORE_EINVAL;
    } else if (rc == STORE_ENOTFOUND) {
        store__set_error(s, "message_tombstone: no such message");
    }
out:
    store_message_free(&m);
    bson_destroy(&f);
    bson_destroy(&u);
    bson_destroy(&g);
    return rc;
}

/* --------------------------------------------------------------- media */

static int mg_media_put(store_t *s, const store_media *m)
{
    mongo_store *ms = ms_of(s);
    bson_t doc = BSON_INITIALIZER;
    int rc = insert_new(ms, C_MEDIA, store_bson__media_to_doc(m, &doc), &doc, "media_put");
    bson_destroy(&doc);
    return rc;
}

MG_GET_DELETE_BY_ID(media, store_media, C_MEDIA, NULL)

static int mg_media_expired(store_t *s, int64_t now, size_t limit, store_media **out, size_t *n)
{
    mongo_store *ms = ms_of(s);
    bson_t f = BSON_INITIALIZER, o = BSON_INITIALIZER;
    int rc = (store_bson__expired_filter(now, &f) && store_bson__media_expired_opts(limit, &o))
                 ? find_many(ms, C_MEDIA, &f, &o, &media_rec, (void **)out, n, "media_expired")
                 : bad_value(ms, "media_expired");
    bson_destroy(&f);
    bson_destroy(&o);
    return rc;
}

/* -------------------------------------------------- enumeration (admin) */

static int mg_chats_list(store_t *s, const char *after, size_t limit, store_chat **out, size_t *n)
{
    return find_page(ms_of(s), C_CHATS, after, limit, &chat_rec, (void **)out, n, "chats_list");
}

static int mg_otpk_list(store_t *s, const char *user_id, store_prekey **out, size_t *n)
{
    mongo_store *ms = ms_of(s);
    bson_t f = BSON_INITIALIZER, o = BSON_INITIALIZER, sort;
    BSON_APPEND_UTF8(&f, "user_id", user_id);
    BSON_APPEND_DOCUMENT_BEGIN(&o, "sort", &sort);
    store_bson__otpk_pop_sort(&sort);
    bson_append_document_end(&o, &sort);
    int rc = find_many(ms, C_OTPK, &f, &o, &otpk_rec, (void **)out, n, "otpk_list");
    bson_destroy(&f);
    bson_destroy(&o);
    return rc;
}

static int mg_media_list(store_t *s, const char *after, size_t limit, store_media **out, size_t *n)
{
    return find_page(ms_of(s), C_MEDIA, after, limit, &media_rec, (void **)out, n, "media_list");
}

static int mg_chat_raise_seq(store_t *s, const char *chat_id, uint64_t last_seq,
                             int64_t last_message_at)
{
    mongo_store *ms = ms_of(s);
    bson_t f = BSON_INITIALIZER, u = BSON_INITIALIZER;
    int rc = update_built(ms, C_CHATS,
                          (store_bson__id_filter(chat_id, &f) &&
                           store_bson__raise_seq_update(last_seq, last_message_at, &u)),
                          &f, &u, NULL, "chat_raise_seq");
    bson_destroy(&f);
    bson_destroy(&u);
    return rc;
}

/* -------------------------------------------------------- connections */

/* Drop one reference to a pool entry; the last one destroys it. */
static void pool_release(pool_entry *pe)
{
    pthread_mutex_lock(&pools_lock);
    if (--pe->refs == 0) {
        for (pool_entry **pp = &pools; *pp; pp = &(*pp)->next)
            if (*pp == pe) {
                *pp = pe->next;
                break;
            }
        mongoc_client_pool_destroy(pe->pool);
        mongoc_uri_destroy(pe->uri);
        free(pe->key);
        free(pe);
    }
    pthread_mutex_unlock(&pools_lock);
}

/* Find or create the pool for uri_str; takes a reference. */
static int pool_acquire(const char *uri_str, pool_entry **out, char *errbuf, size_t errlen)
{
    bson_error_t err;
    pool_entry *pe = NULL;
    mongoc_uri_t *uri = NULL;
    int rc = STORE_OK;
    pthread_mutex_lock(&pools_lock);
    for (pe = pools; pe; pe = pe->next)
        if (strcmp(pe->key, uri_str) == 0)
            break;
    if (pe) {
        pe->refs++;
        goto done;
    }
    uri = mongoc_uri_new_with_error(uri_str, &err);
    if (!uri) {
        snprintf(errbuf, errlen, "store_open: bad MongoDB URI: %s", err.message);
        rc = STORE_EINVAL;
        goto done;
    }
    if (!mongoc_uri_has_option(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS))
        mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS,
                                       DEFAULT_TIMEOUT_MS);
    if (!mongoc_uri_has_option(uri, MONGOC_URI_CONNECTTIMEOUTMS))
        mongoc_uri_set_option_as_int32(uri, MONGOC_URI_CONNECTTIMEOUTMS, DEFAULT_TIMEOUT_MS);
    pe = calloc(1, sizeof *pe);
    if (!pe || !(pe->key = strdup(uri_str))) {
        snprintf(errbuf, errlen, "store_open: out of memory");
        rc = STORE_ENOMEM;
        goto done;
    }
    pe->pool = mongoc_client_pool_new_with_error(uri, &err);
    if (!pe->pool) {
        snprintf(errbuf, errlen, "store_open: MongoDB client pool: %s", err.message);
        rc = STORE_EINVAL;
        goto done;
    }
    mongoc_client_pool_set_error_api(pe->pool, MONGOC_ERROR_API_VERSION_2);
    mongoc_client_pool_set_appname(pe->pool, "parley");
    pe->uri = uri;
    uri = NULL;
    pe->refs = 1;
    pe->next = pools;
    pools = pe;
done:
    if (rc != STORE_OK && pe) {
        free(pe->key);
        free(pe);
        pe = NULL;
    }
    mongoc_uri_destroy(uri);
    pthread_mutex_unlock(&pools_lock);
    *out = pe;
    return rc;
}

static mongoc_write_concern_t *make_write_concern(const char *spec)
{
    mongoc_write_concern_t *wc = mongoc_write_concern_new();
    char *end = NULL;
    long w = strtol(spec, &end, 10);
    if (strcmp(spec, "majority") == 0)
        mongoc_write_concern_set_wmajority(wc, WTIMEOUT_MS);
    else if (end != spec && *end == '\0' && w >= 0 && w <= 50)
        mongoc_write_concern_set_w(wc, (int32_t)w);
    else
        mongoc_write_concern_set_wtag(wc, spec);
    if (mongoc_write_concern_get_w(wc) != 0 && !mongoc_write_concern_get_wmajority(wc))
        mongoc_write_concern_set_wtimeout_int64(wc, WTIMEOUT_MS);
    return wc;
}

static void mg_close(store_t *s)
{
    mongo_store *ms = ms_of(s);
    if (ms->in_txn) /* like closing SQLite mid-transaction */
        txn_abort(ms);
    pend_clear(ms);
    free(ms->pend);
    if (ms->sess)
        mongoc_client_session_destroy(ms->sess);
    if (ms->wc)
        mongoc_write_concern_destroy(ms->wc);
    for (int i = 0; i < C_COUNT; i++)
        if (ms->coll[i])
            mongoc_collection_destroy(ms->coll[i]);
    if (ms->client)
        mongoc_client_pool_push(ms->pe->pool, ms->client);
    if (ms->pe)
        pool_release(ms->pe);
    free(ms);
}

/* No WAL checkpoints: MongoDB's journal is the server's business. */
static void mg_checkpoint_stats(store_t *s, store_checkpoint_stats *out)
{
    (void)s;
    *out = (store_checkpoint_stats){0};
}

static const struct store_vtable mongo_vtable = STORE_BACKEND_VTABLE(mg, "mongodb");

/* Schema 3 (linked devices), idempotent, before the indexes: prekey
 * documents written before it get device_id "" (the implicit device), and
 * the per-user unique key index of one-time prekeys is dropped (key ids are
 * unique per device now; "IndexNotFound" once it is gone). */
static int migrate_3(mongo_store *ms, const char *db)
{
    static const char *const obsolete[] = STORE_BSON_OBSOLETE_INDEXES;
    bson_t f = BSON_INITIALIZER, ex, up = BSON_INITIALIZER, set, reply;
    bson_error_t err;
    int rc = STORE_OK;
    bool ok = BSON_APPEND_DOCUMENT_BEGIN(&f, "device_id", &ex) &&
              BSON_APPEND_BOOL(&ex, "$exists", false) && bson_append_document_end(&f, &ex) &&
              BSON_APPEND_DOCUMENT_BEGIN(&up, "$set", &set) &&
              BSON_APPEND_UTF8(&set, "device_id", "") && bson_append_document_end(&up, &set);
    int colls[] = {C_OTPK, C_SPK};
    for (size_t i = 0; ok && rc == STORE_OK && i < 2; i++) {
        bson_init(&reply);
        if (!mongoc_collection_update_many(ms->coll[colls[i]], &f, &up, NULL, &reply, &err))
            rc = fail_with(ms, &err, "migrate prekeys to schema 3");
        bson_destroy(&reply);
    }
    if (!ok)
        rc = bad_value(ms, "migrate");
    bson_destroy(&f);
    bson_destroy(&up);
    for (size_t i = 0; rc == STORE_OK && obsolete[i]; i += 2) {
        bson_t cmd = BSON_INITIALIZER;
        BSON_APPEND_UTF8(&cmd, "dropIndexes", obsolete[i]);
        BSON_APPEND_UTF8(&cmd, "index", obsolete[i + 1]);
        bson_init(&reply);
        /* 27 IndexNotFound, 26 NamespaceNotFound: already gone */
        if (!mongoc_client_write_command_with_opts(ms->client, db, &cmd, NULL, &reply, &err) &&
            err.code != 27 && err.code != 26)
            rc = fail_with(ms, &err, "drop an index of schema 2");
        bson_destroy(&reply);
        bson_destroy(&cmd);
    }
    return rc;
}

/* Ping the server (bounded by serverSelectionTimeoutMS), then create the
 * indexes once per pool. */
static int prepare(mongo_store *ms, const char *db, char *errbuf, size_t errlen)
{
    bson_t cmd = BSON_INITIALIZER, reply;
    bson_error_t err;
    int rc = STORE_OK;
    BSON_APPEND_INT32(&cmd, "ping", 1);
    if (!mongoc_client_command_simple(ms->client, "admin", &cmd, NULL, &reply, &err)) {
        rc = fail_with(ms, &err, "connect");
        snprintf(errbuf, errlen, "store_open: %s", ms->base.err);
    }
    bson_destroy(&reply);
    bson_destroy(&cmd);
    if (rc != STORE_OK)
        return rc;

    pthread_mutex_lock(&pools_lock);
    bool ready = ms->pe->indexes_ready || ms->read_only; /* read-only: create nothing */
    pthread_mutex_unlock(&pools_lock);
    if (!ready && (rc = migrate_3(ms, db)) != STORE_OK) {
        snprintf(errbuf, errlen, "store_open: schema 3 migration: %s", ms->base.err);
        return rc;
    }
    for (int i = 0; !ready && rc == STORE_OK && store_bson__collections[i]; i++) {
        bson_init(&cmd);
        if (store_bson__create_indexes_cmd(store_bson__collections[i], &cmd)) {
            if (!mongoc_client_write_command_with_opts(ms->client, db, &cmd, NULL, &reply, &err)) {
                rc = fail_with(ms, &err, "createIndexes");
                snprintf(errbuf, errlen, "store_open: %s.%s: %s", db, store_bson__collections[i],
                         ms->base.err);
            }
            bson_destroy(&reply);
        }
        bson_destroy(&cmd);
    }
    if (!ready && rc == STORE_OK) {
        pthread_mutex_lock(&pools_lock);
        ms->pe->indexes_ready = true;
        pthread_mutex_unlock(&pools_lock);
    }
    return rc;
}

int store_mongo__open(const char *uri, const store_options *opts, store_t **out, char *errbuf,
                      size_t errlen)
{
    mongo_store *ms = NULL;
    mongoc_write_concern_t *wc = NULL;
    char dummy[8];
    int rc;
    if (!errbuf) {
        errbuf = dummy;
        errlen = sizeof dummy;
    }
    *out = NULL;
    pthread_once(&driver_once, driver_init);
    ms = calloc(1, sizeof *ms);
    if (!ms) {
        snprintf(errbuf, errlen, "store_open: out of memory");
        return STORE_ENOMEM;
    }
    ms->base.vt = &mongo_vtable;
    if ((rc = pool_acquire(uri, &ms->pe, errbuf, errlen)) != STORE_OK)
        goto fail;
    ms->client = mongoc_client_pool_pop(ms->pe->pool);
    if (!ms->client) {
        snprintf(errbuf, errlen, "store_open: no MongoDB client available");
        rc = STORE_EIO;
        goto fail;
    }
    const char *db = mongoc_uri_get_database(ms->pe->uri);
    if (!db || !db[0])
        db = DEFAULT_DB;
    const char *wspec = opts && opts->mongo_write_concern ? opts->mongo_write_concern : "majority";
    if (strcmp(wspec, "0") == 0) {
        /* Unacknowledged writes cannot report duplicates or missing records. */
        snprintf(errbuf, errlen, "store_open: MongoDB write concern 0 is not supported");
        rc = STORE_EINVAL;
        goto fail;
    }
    /* A "w" in the URI wins (operators set it through --store); otherwise
     * the store option, "majority" by default. */
    bool uri_w = mongoc_uri_has_option(ms->pe->uri, MONGOC_URI_W);
    if (uri_w && mongoc_write_concern_get_w(mongoc_uri_get_write_concern(ms->pe->uri)) == 0) {
        snprintf(errbuf, errlen, "store_open: MongoDB write concern w=0 is not supported");
        rc = STORE_EINVAL;
        goto fail;
    }
    wc = make_write_concern(wspec);
    for (int i = 0; i < C_COUNT; i++) {
        ms->coll[i] = mongoc_client_get_collection(ms->client, db, store_bson__collections[i]);
        if (!uri_w)
            mongoc_collection_set_write_concern(ms->coll[i], wc);
    }
    ms->read_only = opts->read_only;
    if ((rc = prepare(ms, db, errbuf, errlen)) != STORE_OK)
        goto fail;
    /* the transactions' write concern: the URI's "w" if set, else the option */
    if (uri_w) {
        mongoc_write_concern_destroy(wc);
        wc = mongoc_write_concern_copy(mongoc_uri_get_write_concern(ms->pe->uri));
    }
    ms->wc = wc;
    *out = &ms->base;
    return STORE_OK;
fail:
    mongoc_write_concern_destroy(wc);
    mg_close(&ms->base);
    return rc;
}
