/*
 * userdev.c - a stored user's device list, verified (userdev.h).
 */
#include "userdev.h"

#include <string.h>

int userdev_load(const store_user *u, devices_list *out, http_reply *r)
{
    int rc = u->devices_list ? devices_verify(u->devices_list, u->devices_list_len, u->devices_sig,
                                              u->identity_key, u->user_id, DEVICES_MAX_LIMIT, out)
                             : devices_implicit(u->user_id, u->identity_key, out);
    if (rc == DEVICES_ENOMEM)
        http_reply_error(r, 500, "internal", "out of memory");
    else if (rc != DEVICES_OK)
        http_reply_error(r, 500, "invalid_stored_list",
                         "the stored device list of %s does not verify: %s", u->user_id,
                         devices_strerror(rc));
    return rc;
}

int userdev_key(const store_user *u, const char *device_id, uint8_t key[DEVICES_KEY_LEN],
                http_reply *r)
{
    devices_list l;
    if (userdev_load(u, &l, r) != DEVICES_OK)
        return -1;
    const devices_entry *d = l.version == 0 ? &l.dev[0] : devices_find(&l, device_id);
    if (d)
        memcpy(key, d->key, DEVICES_KEY_LEN);
    else
        http_reply_error(r, 401, "unknown_device", "device %s is not in %s's device list",
                         device_id, u->user_id);
    devices_list_free(&l);
    return d ? 0 : -1;
}
