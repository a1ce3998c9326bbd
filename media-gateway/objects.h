/*
 * objects.h - the stored media: GET /v1/media/{id} (metadata),
 * GET /v1/media/{id}/download (streamed, one HTTP Range: 206 or 416) and
 * DELETE /v1/media/{id} (owner only). Route handlers of http/service.h
 * for authenticated requests; app is the gateway's server_config.
 */
#ifndef PARLEY_MEDIA_OBJECTS_H
#define PARLEY_MEDIA_OBJECTS_H

#include "service.h"
#include "store.h"

#define OBJECTS_DEFAULT_TYPE "application/octet-stream"

/* GET (metadata) or DELETE of /v1/media/{id}. */
void objects_item(void *app, http_request *rq, http_reply *r);
/* GET /v1/media/{id}/download: one 64 KiB block in memory whatever the size. */
void objects_download(void *app, http_request *rq, http_reply *r);
/* The JSON of a record {"media_id","size","sha256","content_type",
 * "created_at","expires_at"} (NULL on out-of-memory). */
json_t *objects_json(const store_media *m);

#endif
