/*
 * upload.h - POST /v1/media (docs/media.md "Upload, atomically"): the body
 * is never buffered whole. Each chunk is hashed (SHA-256) and written to a
 * blob_writer; the object is committed, then its record stored, only
 * after the last byte. An upload that fails or is cut off leaves neither
 * blob nor record. Route handlers of http/service.h; app is the
 * gateway's server_config.
 */
#ifndef PARLEY_MEDIA_UPLOAD_H
#define PARLEY_MEDIA_UPLOAD_H

#include "service.h"

/* Headers: Content-Length against max_size, Content-Type, X-Parley-SHA256;
 * opens the blob writer (a 4xx/502 answer otherwise). */
void upload_begin(void *app, http_request *rq, http_reply *r);
/* A body chunk: hashed and written; past max_size or a backend failure the
 * blob is dropped and the rest read and discarded (up to 64 MiB: false
 * then, the connection is closed) to answer at the end. */
bool upload_body(void *app, http_request *rq, const char *data, size_t n);
/* Body complete: hash check, commit, record (201 with the record). */
void upload_finish(void *app, http_request *rq, http_reply *r);
/* Request over: an upload that did not commit is aborted. */
void upload_done(void *app, http_request *rq);

#endif
