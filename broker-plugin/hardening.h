/*
 * hardening.h - the plugin's defences against what mosquitto 2.0.11 does on
 * its own (wills, MQTT 5 properties) and the deferral of requests that name
 * a user the identity-key cache does not know yet (docs/broker-plugin.md,
 * docs/security.md "Holes found from outside"). Broker thread only, unless
 * a comment says otherwise.
 */
#ifndef PARLEY_PLUGIN_HARDENING_H
#define PARLEY_PLUGIN_HARDENING_H

#include "plugin_int.h"

/* ------------------------------------------------------------ willguard.c */

/* MOSQ_EVT_ACL_CHECK, registered in place of acl__check_cb: asks
 * acl__check_cb, then keeps wills off Parley topics. mosquitto 2.0.11
 * checks a will only with MOSQ_ACL_WRITE in context__send_will and then
 * routes it without MOSQ_EVT_MESSAGE; every client publish that passes
 * its WRITE check is followed at once by MOSQ_EVT_MESSAGE. So a WRITE on
 * parley/... that is allowed and not (yet) followed by a message event is
 * a will: the READ checks of its routing (same topic, same payload) are
 * denied, and so is every READ of a retained message under parley/u/ and
 * parley/g/ (only wills can leave one there). */
int willguard__acl_cb(int event, void *event_data, void *userdata);
/* MOSQ_EVT_MESSAGE seen (dispatch.c): the last WRITE was a real publish. */
void willguard__message_seen(void);
/* MOSQ_EVT_DISCONNECT (raised before a disconnecting client's will is
 * sent, and after a taken-over session's will) and MOSQ_EVT_TICK: no will
 * routing is in progress. */
int willguard__disconnect_cb(int event, void *event_data, void *userdata);
void willguard__tick(void);
/* Will deliveries refused so far (READ checks denied). */
uint64_t willguard__refused(void);

/* ------------------------------------------------------------ envelope.c */

/* Read client_msg_id (field 6) from an encoded Envelope without decoding it:
 * a bounded scan over the top-level fields (length-delimited fields are
 * skipped, not copied), so it is cheap for any payload size. Writes the id
 * made safe for a receipt into out (see envelope__safe_cmid); "" if the
 * field is absent or the bytes are not protobuf. */
void envelope__peek_cmid(const void *payload, size_t len, char out[IDS_CLIENT_MSG_MAX + 1]);
/* A client_msg_id as a receipt may echo it: a valid id is copied as is; an
 * invalid one is rendered with every byte outside '!'..'~' and every '/'
 * and '%' as %XX, cut to at most 64 characters at an escape boundary. */
void envelope__safe_cmid(const char *in, size_t len, char out[IDS_CLIENT_MSG_MAX + 1]);

/* ------------------------------------------------------------ lookup.c */

/* Users the identity-key cache does not know may have registered a moment
 * ago: before refusing a request that names one, the plugin asks the store
 * on the reader thread and finishes the request when the answer comes back
 * through the completion queue. */
typedef enum { LOOKUP_YES, LOOKUP_NO, LOOKUP_ASK } lookup_answer;
/* Is user registered? YES if the cache knows it or the answer being
 * handled says so, NO if that answer says the store does not have it, ASK
 * if nobody asked the store yet. */
lookup_answer lookup__user(const char *user_id);
/* Re-run a control request (packed again here) once the store answered
 * for users: 0, or -1 if the reader queue is full (the caller answers 503). */
int lookup__defer_request(const char *me, const Parley__V1__Request *rq, char *const *users,
                          size_t n);
/* Re-run a 1:1 send (the payload is copied; the publish itself is
 * discarded by the caller) once the store answered for the recipient. The
 * resumed send is delivered by the plugin (mosquitto_broker_publish);
 * device is the sender's device id (Envelope.sender_device), kept with it. */
int lookup__defer_send(const char *me, const char *device, const char *recipient,
                       const void *payload, size_t len);
/* Sends to recipient still waiting for the store: later sends to the same
 * recipient wait behind them, so a sender's order holds. */
bool lookup__send_pending(const char *recipient);
int lookup__init(void);
void lookup__cleanup(void);

/* envelope.c: the checks and stamping of a 1:1 send whose publish was
 * already consumed (deferred): delivered with mosquitto_broker_publish. */
void envelope__resume_send(const char *me, const char *device, const char *recipient,
                           const void *payload, size_t len);

#endif
