/*
 * group.c - group chats: control requests to the broker, and Sender Keys.
 *
 * Each member owns one sending chain per group (blob "sk_own"/group). Before
 * its first message on a chain it hands the chain to every other member in a
 * pairwise message (Content.skd, through the 1:1 outbox: published before the
 * group message, so it arrives first); "sk_dist"/"group\nmember" remembers
 * which chain a member has. Received chains are kept per (group, sender,
 * chain id) in "sk_peer". When a member leaves or is removed, the chain is
 * dropped and the next message starts a new one, given to the remaining
 * members only.
 */
#include "client.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/sender_keys.h"
#include "e2e.pb-c.h"
#include "ids.h"
#include "parley.pb-c.h"
#include "parley/group.h"

#define GROUP_CALL_TIMEOUT_MS 15000
#define GROUP_KEY_MAX 256

static int store_fail(parley_client *c)
{
    return client__fail(c, PARLEY_ESTORE, "local store: %s", lstore_error(c->store));
}

static int check_group(parley_client *c, const char *chat_id)
{
    if (!chat_id || !ids_is_group_chat(chat_id) || !ids_valid_chat(chat_id))
        return client__fail(c, PARLEY_EINVAL, "invalid group id '%s'", chat_id ? chat_id : "");
    return PARLEY_OK;
}

void client__group_subscribe(parley_client *c, const char *chat_id)
{
    char t[2][160];
    char *topics[2] = {t[0], t[1]};
    if (c->transient || c->state != SESSION_READY || !ids_is_group_chat(chat_id))
        return;
    snprintf(t[0], sizeof t[0], "parley/g/%s/inbox", chat_id + 2);
    snprintf(t[1], sizeof t[1], "parley/g/%s/typing", chat_id + 2);
    conn_subscribe(c->mq, topics, 2);
}

/* ---- control requests -------------------------------------------------- */

static void to_public(const Parley__V1__GroupInfo *gi, parley_group *g, parley_group_member *m)
{
    for (size_t i = 0; i < gi->n_members; i++) {
        const Parley__V1__GroupMember *gm = gi->members[i];
        m[i] = (parley_group_member){gm->user_id ? gm->user_id : "", (parley_role)gm->role,
                                    gm->joined_at, gm->delivered_seq, gm->read_seq};
    }
    *g = (parley_group){gi->chat_id ? gi->chat_id : "",
                        gi->name ? gi->name : "",
                        gi->description ? gi->description : "",
                        gi->created_by ? gi->created_by : "",
                        gi->created_at,
                        gi->last_seq,
                        gi->n_members,
                        m};
}

static int emit_group(parley_client *c, const Parley__V1__GroupInfo *gi,
                      void (*fn)(void *ud, const parley_group *g), void *ud)
{
    parley_group g;
    parley_group_member *m = calloc(gi->n_members ? gi->n_members : 1, sizeof *m);
    if (!m)
        return client__fail(c, PARLEY_ENOMEM, "out of memory");
    to_public(gi, &g, m);
    if (fn)
        fn(ud, &g);
    free(m);
    return PARLEY_OK;
}

/* Remember a group locally (name) and subscribe to it. */
static void note_group(parley_client *c, const Parley__V1__GroupInfo *gi)
{
    if (!gi || !gi->chat_id || !ids_is_group_chat(gi->chat_id))
        return;
    if (lstore_chat_ensure(c->store, gi->chat_id, 2, gi->name) == 0 && gi->name)
        lstore_chat_set_name(c->store, gi->chat_id, gi->name);
    client__group_subscribe(c, gi->chat_id);
}

int parley_group_create(parley_client *c, const char *name, const char *const *members, size_t n,
                        char *chat_id, size_t chat_id_len, int timeout_ms)
{
    Parley__V1__Request req = PARLEY__V1__REQUEST__INIT;
    Parley__V1__GroupCreate gc = PARLEY__V1__GROUP_CREATE__INIT;
    Parley__V1__Response *rsp = NULL;

    if (!name || !*name)
        return client__fail(c, PARLEY_EINVAL, "a group needs a name");
    for (size_t i = 0; i < n; i++)
        if (!ids_valid_user(members[i]))
            return client__fail(c, PARLEY_EINVAL, "invalid user id '%s'", members[i]);
    gc.name = (char *)name;
    gc.members = (char **)members;
    gc.n_members = n;
    req.op_case = PARLEY__V1__REQUEST__OP_GROUP_CREATE;
    req.group_create = &gc;
    int rc = client__call(c, &req, timeout_ms, (void **)&rsp);
    if (rc != PARLEY_OK)
        return rc;
    if (rsp->result_case != PARLEY__V1__RESPONSE__RESULT_GROUP || !rsp->group->chat_id) {
        rc = client__fail(c, PARLEY_EREFUSED, "the broker answered without the group");
    } else {
        note_group(c, rsp->group);
        snprintf(chat_id, chat_id_len, "%s", rsp->group->chat_id);
    }
    parley__v1__response__free_unpacked(rsp, NULL);
    return rc;
}

static int members_op(parley_client *c, const char *chat_id, const char *const *users, size_t n,
                      int add, int timeout_ms)
{
    Parley__V1__Request req = PARLEY__V1__REQUEST__INIT;
    Parley__V1__GroupMembers gm = PARLEY__V1__GROUP_MEMBERS__INIT;
    Parley__V1__Response *rsp = NULL;
    int rc = check_group(c, chat_id);
    if (rc != PARLEY_OK)
        return rc;
    if (n == 0)
        return client__fail(c, PARLEY_EINVAL, "no users given");
    for (size_t i = 0; i < n; i++)
        if (!ids_valid_user(users[i]))
            return client__fail(c, PARLEY_EINVAL, "invalid user id '%s'", users[i]);
    gm.chat_id = (char *)chat_id;
    gm.user_ids = (char **)users;
    gm.n_user_ids = n;
    req.op_case = add ? PARLEY__V1__REQUEST__OP_GROUP_ADD : PARLEY__V1__REQUEST__OP_GROUP_REMOVE;
    if (add)
        req.group_add = &gm;
    else
        req.group_remove = &gm;
    rc = client__call(c, &req, timeout_ms, (void **)&rsp);
    if (rc != PARLEY_OK)
        return rc;
    if (!add) {
        /* Our next message must not be readable by the removed members. */
        Parley__V1__SystemEvent ev = PARLEY__V1__SYSTEM_EVENT__INIT;
        ev.type = PARLEY__V1__SYSTEM_EVENT__TYPE__MEMBERS_REMOVED;
        ev.users = (char **)users;
        ev.n_users = n;
        if (client__group_on_system(c, chat_id, &ev) != PARLEY_OK)
            rc = PARLEY_ESTORE;
    }
    parley__v1__response__free_unpacked(rsp, NULL);
    return rc;
}

int parley_group_add(parley_client *c, const char *chat_id, const char *const *users, size_t n,
                     int timeout_ms)
{
    return members_op(c, chat_id, users, n, 1, timeout_ms);
}

int parley_group_remove(parley_client *c, const char *chat_id, const char *const *users,
                        size_t n, int timeout_ms)
{
    return members_op(c, chat_id, users, n, 0, timeout_ms);
}

int parley_group_set_role(parley_client *c, const char *chat_id, const char *user,
                          parley_role role, int timeout_ms)
{
    Parley__V1__Request req = PARLEY__V1__REQUEST__INIT;
    Parley__V1__GroupSetRole sr = PARLEY__V1__GROUP_SET_ROLE__INIT;
    Parley__V1__Response *rsp = NULL;
    int rc = check_group(c, chat_id);
    if (rc != PARLEY_OK)
        return rc;
    if (!ids_valid_user(user) || role < PARLEY_ROLE_MEMBER || role > PARLEY_ROLE_OWNER)
        return client__fail(c, PARLEY_EINVAL, "invalid user or role");
    sr.chat_id = (char *)chat_id;
    sr.user_id = (char *)user;
    sr.role = (Parley__V1__Role)role;
    req.op_case = PARLEY__V1__REQUEST__OP_GROUP_SET_ROLE;
    req.group_set_role = &sr;
    rc = client__call(c, &req, timeout_ms, (void **)&rsp);
    if (rc == PARLEY_OK)
        parley__v1__response__free_unpacked(rsp, NULL);
    return rc;
}

int parley_group_leave(parley_client *c, const char *chat_id, int timeout_ms)
{
    Parley__V1__Request req = PARLEY__V1__REQUEST__INIT;
    Parley__V1__GroupLeave gl = PARLEY__V1__GROUP_LEAVE__INIT;
    Parley__V1__Response *rsp = NULL;
    int rc = check_group(c, chat_id);
    if (rc != PARLEY_OK)
        return rc;
    gl.chat_id = (char *)chat_id;
    req.op_case = PARLEY__V1__REQUEST__OP_GROUP_LEAVE;
    req.group_leave = &gl;
    rc = client__call(c, &req, timeout_ms, (void **)&rsp);
    if (rc != PARLEY_OK)
        return rc;
    parley__v1__response__free_unpacked(rsp, NULL);
    /* Our chain is useless now. */
    if (lstore_blob_del(c->store, "sk_own", chat_id) != 0)
        return store_fail(c);
    return PARLEY_OK;
}

int parley_group_info(parley_client *c, const char *chat_id,
                      void (*fn)(void *ud, const parley_group *g), void *ud, int timeout_ms)
{
    Parley__V1__Request req = PARLEY__V1__REQUEST__INIT;
    Parley__V1__GroupGet gg = PARLEY__V1__GROUP_GET__INIT;
    Parley__V1__Response *rsp = NULL;
    int rc = check_group(c, chat_id);
    if (rc != PARLEY_OK)
        return rc;
    gg.chat_id = (char *)chat_id;
    req.op_case = PARLEY__V1__REQUEST__OP_GROUP_GET;
    req.group_get = &gg;
    rc = client__call(c, &req, timeout_ms, (void **)&rsp);
    if (rc != PARLEY_OK)
        return rc;
    if (rsp->result_case != PARLEY__V1__RESPONSE__RESULT_GROUP) {
        rc = client__fail(c, PARLEY_EREFUSED, "the broker answered without the group");
    } else {
        note_group(c, rsp->group);
        rc = emit_group(c, rsp->group, fn, ud);
    }
    parley__v1__response__free_unpacked(rsp, NULL);
    return rc;
}

int parley_groups(parley_client *c, void (*fn)(void *ud, const parley_group *g), void *ud,
                  int timeout_ms)
{
    Parley__V1__Request req = PARLEY__V1__REQUEST__INIT;
    Parley__V1__GroupList gl = PARLEY__V1__GROUP_LIST__INIT;
    Parley__V1__Response *rsp = NULL;
    req.op_case = PARLEY__V1__REQUEST__OP_GROUP_LIST;
    req.group_list = &gl;
    int rc = client__call(c, &req, timeout_ms, (void **)&rsp);
    if (rc != PARLEY_OK)
        return rc;
    if (rsp->result_case == PARLEY__V1__RESPONSE__RESULT_GROUPS) {
        for (size_t i = 0; i < rsp->groups->n_groups && rc == PARLEY_OK; i++) {
            note_group(c, rsp->groups->groups[i]);
            rc = emit_group(c, rsp->groups->groups[i], fn, ud);
        }
    }
    parley__v1__response__free_unpacked(rsp, NULL);
    return rc;
}

/* ---- sender keys ------------------------------------------------------- */

static int own_load(parley_client *c, const char *chat_id, sender_keys_state **out)
{
    uint8_t *b = NULL;
    size_t n = 0;
    *out = NULL;
    int rc = lstore_blob_get(c->store, "sk_own", chat_id, &b, &n);
    if (rc != 1)
        return rc;
    e2e_status st = sender_keys_deserialize(out, b, n);
    sodium_memzero(b, n);
    free(b);
    return st == E2E_OK ? 1 : 0; /* an unreadable state is replaced */
}

static int state_save(parley_client *c, const char *ns, const char *key,
                      const sender_keys_state *s)
{
    uint8_t *b = NULL;
    size_t n = 0;
    if (sender_keys_serialize(s, &b, &n) != E2E_OK)
        return -1;
    int rc = lstore_blob_set(c->store, ns, key, b, n);
    sodium_memzero(b, n);
    free(b);
    return rc;
}

static void peer_key(char *out, size_t n, const char *chat_id, const char *sender,
                     uint32_t chain_id)
{
    snprintf(out, n, "%s\n%s\n%u", chat_id, sender, chain_id);
}

/* The members of a group other than us (from the broker). */
static int other_members(parley_client *c, const char *chat_id, char ***out, size_t *n)
{
    Parley__V1__Request req = PARLEY__V1__REQUEST__INIT;
    Parley__V1__GroupGet gg = PARLEY__V1__GROUP_GET__INIT;
    Parley__V1__Response *rsp = NULL;
    *out = NULL;
    *n = 0;
    gg.chat_id = (char *)chat_id;
    req.op_case = PARLEY__V1__REQUEST__OP_GROUP_GET;
    req.group_get = &gg;
    int rc = client__call(c, &req, GROUP_CALL_TIMEOUT_MS, (void **)&rsp);
    if (rc != PARLEY_OK)
        return rc;
    if (rsp->result_case != PARLEY__V1__RESPONSE__RESULT_GROUP) {
        rc = client__fail(c, PARLEY_EREFUSED, "the broker answered without the group");
        goto done;
    }
    note_group(c, rsp->group);
    *out = calloc(rsp->group->n_members + 1, sizeof **out);
    if (!*out) {
        rc = PARLEY_ENOMEM;
        goto done;
    }
    for (size_t i = 0; i < rsp->group->n_members; i++) {
        const char *u = rsp->group->members[i]->user_id;
        if (!u || !ids_valid_user(u) || strcmp(u, c->user) == 0)
            continue;
        (*out)[*n] = strdup(u);
        if (!(*out)[*n]) {
            rc = PARLEY_ENOMEM;
            goto done;
        }
        (*n)++;
    }

done:
    parley__v1__response__free_unpacked(rsp, NULL);
    return rc;
}

static void free_list(char **l, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(l[i]);
    free(l);
}

/* 1 if member already holds chain_id of our chain for the group. */
static int has_chain(parley_client *c, const char *chat_id, const char *member, uint32_t chain_id)
{
    char key[GROUP_KEY_MAX];
    uint8_t *b = NULL;
    size_t n = 0;
    snprintf(key, sizeof key, "%s\n%s", chat_id, member);
    int rc = lstore_blob_get(c->store, "sk_dist", key, &b, &n);
    int has = rc == 1 && n == 4 &&
              ((uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3]) == chain_id;
    free(b);
    return rc < 0 ? -1 : has;
}

static int set_chain(parley_client *c, const char *chat_id, const char *member, uint32_t chain_id)
{
    char key[GROUP_KEY_MAX];
    uint8_t b[4] = {(uint8_t)(chain_id >> 24), (uint8_t)(chain_id >> 16), (uint8_t)(chain_id >> 8),
                    (uint8_t)chain_id};
    snprintf(key, sizeof key, "%s\n%s", chat_id, member);
    return lstore_blob_set(c->store, "sk_dist", key, b, sizeof b);
}

int client__group_send(parley_client *c, const char *chat_id, void *vct, const char *plain,
                       char *cmid_out)
{
    Parley__E2e__V1__Content *ct = vct;
    char **members = NULL, topic[200], cmid[IDS_SERVER_ID_LEN + 1];
    size_t n = 0;
    sender_keys_state *own = NULL;
    sender_keys_distribution d;
    uint8_t *content = NULL, *body = NULL;
    size_t content_len = 0, body_len = 0;
    int ret, in_tx = 0;

    memset(&d, 0, sizeof d);
    if (c->state != SESSION_READY)
        return client__fail(c, PARLEY_ENOTCONN, "sending to a group needs a connection");
    ret = other_members(c, chat_id, &members, &n);
    if (ret != PARLEY_OK)
        goto done;
    /* Pairwise sessions first (may fetch bundles: outside the transaction). */
    for (size_t i = 0; i < n; i++) {
        ret = client__prepare_session(c, members[i]);
        if (ret != PARLEY_OK)
            goto done;
    }
    if (lstore_begin(c->store) != 0) {
        ret = store_fail(c);
        goto done;
    }
    in_tx = 1;
    int have = own_load(c, chat_id, &own);
    if (have < 0) {
        ret = store_fail(c);
        goto done;
    }
    if (!have && sender_keys_create(&own, chat_id) != E2E_OK) {
        ret = client__fail(c, PARLEY_ECRYPTO, "cannot create a sender key");
        goto done;
    }
    if (sender_keys_distribution_get(own, &d) != E2E_OK) {
        ret = client__fail(c, PARLEY_ECRYPTO, "cannot read the sender key");
        goto done;
    }
    /* Hand our chain to every member who lacks it. */
    for (size_t i = 0; i < n; i++) {
        int has = has_chain(c, chat_id, members[i], d.chain_id);
        if (has < 0) {
            ret = store_fail(c);
            goto done;
        }
        if (has)
            continue;
        Parley__E2e__V1__SenderKeyDistribution skd = PARLEY__E2E__V1__SENDER_KEY_DISTRIBUTION__INIT;
        Parley__E2e__V1__Content kc = PARLEY__E2E__V1__CONTENT__INIT;
        skd.group_id = d.group_id;
        skd.chain_id = d.chain_id;
        skd.iteration = d.iteration;
        skd.chain_key.data = d.chain_key;
        skd.chain_key.len = sizeof d.chain_key;
        skd.signature_key.data = d.signature_key;
        skd.signature_key.len = sizeof d.signature_key;
        kc.skd = &skd;
        kc.group_id = (char *)chat_id;
        ret = client__queue_pairwise(c, members[i], &kc, NULL, NULL);
        if (ret != PARLEY_OK)
            goto done;
        if (set_chain(c, chat_id, members[i], d.chain_id) != 0) {
            ret = store_fail(c);
            goto done;
        }
    }
    /* The group message itself. */
    ids_random(cmid);
    ct->client_msg_id = cmid;
    ct->group_id = (char *)chat_id;
    ct->sent_at = client__now_ms();
    content_len = parley__e2e__v1__content__get_packed_size(ct);
    content = malloc(content_len ? content_len : 1);
    if (content)
        parley__e2e__v1__content__pack(ct, content);
    ct->client_msg_id = NULL; /* the caller's struct points at our buffers no more */
    ct->group_id = NULL;
    if (!content) {
        ret = client__fail(c, PARLEY_ENOMEM, "out of memory");
        goto done;
    }
    e2e_status st = sender_keys_encrypt(own, content, content_len, &body, &body_len);
    if (st != E2E_OK) {
        ret = client__fail(c, PARLEY_ECRYPTO, "cannot encrypt for the group: %s", e2e_strerror(st));
        goto done;
    }
    snprintf(topic, sizeof topic, "parley/g/%s/inbox", chat_id + 2);
    if (state_save(c, "sk_own", chat_id, own) != 0 ||
        lstore_chat_ensure(c->store, chat_id, 2, "") != 0) {
        ret = store_fail(c);
        goto done;
    }
    ret = client__queue(c, cmid, chat_id, topic, body, body_len, plain,
                        ct->media ? ct->media->media_id : NULL);
    if (ret != PARLEY_OK)
        goto done;
    if (lstore_commit(c->store) != 0) {
        ret = store_fail(c);
        goto done;
    }
    in_tx = 0;
    snprintf(cmid_out, IDS_CLIENT_MSG_MAX + 1, "%s", cmid);

done:
    if (in_tx)
        lstore_rollback(c->store);
    sender_keys_free(own);
    keys_wipe(&d, sizeof d);
    if (content) {
        sodium_memzero(content, content_len);
        free(content);
    }
    free(body);
    free_list(members, n);
    return ret;
}

int client__group_on_skd(parley_client *c, const char *sender, const void *vskd)
{
    const Parley__E2e__V1__SenderKeyDistribution *skd = vskd;
    sender_keys_distribution d;
    sender_keys_state *s = NULL;
    char key[GROUP_KEY_MAX];
    int ret = PARLEY_ECRYPTO;

    memset(&d, 0, sizeof d);
    if (!skd->group_id || !ids_is_group_chat(skd->group_id) || !ids_valid_chat(skd->group_id) ||
        strlen(skd->group_id) > SENDER_KEYS_GROUP_MAX || skd->chain_key.len != 32 ||
        skd->signature_key.len != 32) {
        client__fail(c, PARLEY_ECRYPTO, "malformed sender key from %s", sender);
        goto done;
    }
    snprintf(d.group_id, sizeof d.group_id, "%s", skd->group_id);
    d.chain_id = skd->chain_id;
    d.iteration = skd->iteration;
    memcpy(d.chain_key, skd->chain_key.data, 32);
    memcpy(d.signature_key, skd->signature_key.data, 32);
    if (sender_keys_from_distribution(&s, &d) != E2E_OK) {
        client__fail(c, PARLEY_ECRYPTO, "unusable sender key from %s", sender);
        goto done;
    }
    peer_key(key, sizeof key, skd->group_id, sender, skd->chain_id);
    lstore_chat known;
    int had = lstore_chat_get(c->store, skd->group_id, &known);
    if (had < 0 || state_save(c, "sk_peer", key, s) != 0 ||
        lstore_chat_ensure(c->store, skd->group_id, 2, "") != 0) {
        ret = store_fail(c);
        goto done;
    }
    /* Messages that waited for this key can be read now. */
    char pair[IDS_RETRY_MAX];
    snprintf(pair, sizeof pair, "%s\n%s", skd->group_id, sender);
    int queued = 0;
    for (int i = 0; i < c->nretry; i++)
        queued |= strcmp(c->retry[i], pair) == 0;
    if (!queued && c->nretry < (int)(sizeof c->retry / sizeof c->retry[0]))
        snprintf(c->retry[c->nretry++], sizeof c->retry[0], "%s", pair);
    /* A group we had not heard of: we were just added. Subscribe, and sync
     * it soon (what was published before the subscription is in the store). */
    client__group_subscribe(c, skd->group_id);
    if (!had)
        c->last_resync_ms = 0;
    ret = PARLEY_OK;

done:
    sender_keys_free(s);
    keys_wipe(&d, sizeof d);
    return ret;
}

int client__group_has_key(parley_client *c, const char *chat_id, const char *sender,
                          const uint8_t *body, size_t len)
{
    e2e_message_info info;
    char key[GROUP_KEY_MAX];
    uint8_t *b = NULL;
    size_t n = 0;
    if (!body || !len || e2e_message_inspect(body, len, &info) != E2E_OK ||
        info.kind != E2E_KIND_SENDER_KEY)
        return 1; /* decryption will say what is wrong */
    peer_key(key, sizeof key, chat_id, sender, info.chain_id);
    int rc = lstore_blob_get(c->store, "sk_peer", key, &b, &n);
    if (b) {
        sodium_memzero(b, n);
        free(b);
    }
    return rc;
}

int client__group_decrypt(parley_client *c, const char *chat_id, const char *sender,
                          const uint8_t *body, size_t len, uint8_t **pt, size_t *ptlen)
{
    e2e_message_info info;
    sender_keys_state *s = NULL;
    uint8_t *b = NULL;
    size_t n = 0;
    char key[GROUP_KEY_MAX];
    int ret;

    *pt = NULL;
    if (!body || !len || e2e_message_inspect(body, len, &info) != E2E_OK ||
        info.kind != E2E_KIND_SENDER_KEY)
        return client__fail(c, PARLEY_ECRYPTO, "not a group message");
    peer_key(key, sizeof key, chat_id, sender, info.chain_id);
    int rc = lstore_blob_get(c->store, "sk_peer", key, &b, &n);
    if (rc < 0)
        return store_fail(c);
    if (rc == 0)
        return client__fail(c, PARLEY_ECRYPTO, "no sender key from %s for this group", sender);
    e2e_status st = sender_keys_deserialize(&s, b, n);
    sodium_memzero(b, n);
    free(b);
    if (st != E2E_OK)
        return client__fail(c, PARLEY_ECRYPTO, "unreadable sender key state");
    st = sender_keys_decrypt(s, body, len, pt, ptlen);
    if (st != E2E_OK) {
        ret = client__fail(c, PARLEY_ECRYPTO, "%s", e2e_strerror(st));
    } else if (state_save(c, "sk_peer", key, s) != 0) {
        ret = store_fail(c);
        sodium_memzero(*pt, *ptlen);
        free(*pt);
        *pt = NULL;
    } else {
        ret = PARLEY_OK;
    }
    sender_keys_free(s);
    return ret;
}

int client__group_on_system(parley_client *c, const char *chat_id, const void *vev)
{
    const Parley__V1__SystemEvent *ev = vev;
    if (ev->type != PARLEY__V1__SYSTEM_EVENT__TYPE__MEMBERS_REMOVED &&
        ev->type != PARLEY__V1__SYSTEM_EVENT__TYPE__MEMBER_LEFT)
        return PARLEY_OK;
    /* Someone is gone: our next message starts a new chain, handed to the
     * remaining members only. */
    if (lstore_blob_del(c->store, "sk_own", chat_id) != 0)
        return store_fail(c);
    return PARLEY_OK;
}
