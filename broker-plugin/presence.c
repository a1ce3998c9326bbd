/*
 * presence.c - who is online. A connection counts from its successful
 * BASIC_AUTH until mosquitto's DISCONNECT event for the same client object
 * (mosquitto 2.0 raises it for every connection that ends, session takeover
 * included). A user's first connection publishes a retained
 * Presence{ONLINE} on parley/presence/{user}; the end of its last one
 * publishes Presence{OFFLINE, last_seen}.
 */
#include "plugin_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    size_t connections;
    int64_t since;
} presence_user;

static strmap *pr_conns;   /* "%p" of struct mosquitto -> user id (char*) */
static strmap *pr_users;   /* user id -> presence_user* */

int presence__init(void)
{
    pr_conns = strmap_new(free);
    pr_users = strmap_new(free);
    return pr_conns && pr_users ? 0 : -1;
}

void presence__cleanup(void)
{
    strmap_free(pr_conns);
    strmap_free(pr_users);
    pr_conns = pr_users = NULL;
}

size_t presence__users_online(void)
{
    return pr_users ? strmap_count(pr_users) : 0;
}

size_t presence__connections(void)
{
    return pr_conns ? strmap_count(pr_conns) : 0;
}

static void presence_publish(const char *user, bool online, int64_t when)
{
    char topic[PP_TOPIC_MAX];
    Parley__V1__Presence p = PARLEY__V1__PRESENCE__INIT;
    p.user = (char *)user;
    p.state = online ? PARLEY__V1__PRESENCE__STATE__ONLINE : PARLEY__V1__PRESENCE__STATE__OFFLINE;
    p.last_seen = when;
    snprintf(topic, sizeof topic, "parley/presence/%s", user);
    publish__msg(topic, &p.base, true);
}

void presence__connected(struct mosquitto *client, const char *user)
{
    char key[32];
    snprintf(key, sizeof key, "%p", (void *)client);
    if (strmap_get(pr_conns, key))
        return;
    char *u = strdup(user);
    if (!u || strmap_put(pr_conns, key, u) != 0) {
        free(u);
        return;
    }
    presence_user *pu = strmap_get(pr_users, user);
    if (!pu) {
        pu = calloc(1, sizeof *pu);
        if (!pu || strmap_put(pr_users, user, pu) != 0) {
            free(pu);
            strmap_remove(pr_conns, key);
            return;
        }
        pu->since = pp_now_ms();
        presence_publish(user, true, pu->since);
    }
    pu->connections++;
}

int presence__disconnect_cb(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_disconnect *ed = event_data;
    char key[32];
    const char *client_id = mosquitto_client_id(ed->client);
    if (client_id)
        limits__forget(client_id);
    snprintf(key, sizeof key, "%p", (void *)ed->client);
    char *user = strmap_take(pr_conns, key);
    if (!user)
        return MOSQ_ERR_SUCCESS;
    presence_user *pu = strmap_get(pr_users, user);
    if (pu && --pu->connections == 0) {
        strmap_remove(pr_users, user);
        presence_publish(user, false, pp_now_ms());
    }
    free(user);
    return MOSQ_ERR_SUCCESS;
}
