/*
 * dispatch.h - MOSQ_EVT_MESSAGE routing by topic and the MOSQ_EVT_TICK
 * handler (completion queue, metrics). Broker thread.
 */
#ifndef PARLEY_PLUGIN_DISPATCH_H
#define PARLEY_PLUGIN_DISPATCH_H

/* Route a client publish (already allowed by the ACL) to its handler:
 * inbox -> envelope, ctl -> control, typing -> typing, group topics -> groups.
 * Always returns MOSQ_ERR_SUCCESS: refusals are redirected to the discard
 * topic and explained by a receipt or response, because mosquitto 2.0.11
 * disconnects a client whose publish a message callback fails. */
int dispatch__message_cb(int event, void *event_data, void *userdata);
/* Drain the completion queue, publish metrics when due. */
int dispatch__tick_cb(int event, void *event_data, void *userdata);

#endif
