/*
 * link.c - the MQTT connection as the modules see it: its state (driven by
 * loop.c), publish and subscribe. Nothing here calls back into a module.
 */
#include "parley_int.h"

int link__ready(const parley_client *c)
{
    return c->link.state == LINK_READY;
}

int link__publish(parley_client *c, const char *topic, const void *payload, size_t len)
{
    if (c->link.state != LINK_READY)
        return -1;
    return conn_publish(c->link.mq, topic, payload, len);
}

int link__subscribe(parley_client *c, char *const *topics, int n)
{
    if (c->link.state != LINK_READY || n <= 0)
        return -1;
    return conn_subscribe(c->link.mq, topics, n);
}

int link__publish_qos0(parley_client *c, const char *topic, const void *payload, size_t len)
{
    if (c->link.state != LINK_READY)
        return -1;
    return conn_publish_qos0(c->link.mq, topic, payload, len);
}
