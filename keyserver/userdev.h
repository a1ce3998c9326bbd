/*
 * userdev.h - the keyserver's view of a stored user's device list: the
 * stored signed list verified again against the account key (the store is
 * not trusted to hold only what a keyserver checked), or the implicit list.
 * Shared by the prekey routes (the key of the token's device) and the
 * device routes.
 */
#ifndef PARLEY_KS_USERDEV_H
#define PARLEY_KS_USERDEV_H

#include "devices.h"
#include "service.h"
#include "store.h"

/* u's list into out: DEVICES_OK, or the devices_verify error of a stored
 * list that does not verify (with r filled: 500 invalid_stored_list), or
 * DEVICES_ENOMEM (r: 500 internal). */
int userdev_load(const store_user *u, devices_list *out, http_reply *r);

/* The key of device_id ("" = the implicit device) of u into key: 0, or -1
 * with r filled (401 unknown_device: the token's device left the list
 * between the authentication and this read; or userdev_load's errors). */
int userdev_key(const store_user *u, const char *device_id, uint8_t key[DEVICES_KEY_LEN],
                http_reply *r);

#endif
