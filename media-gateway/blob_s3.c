/*
 * blob_s3.c - the S3-compatible blob backend ("s3:http(s)://HOST[:PORT]/BUCKET").
 *
 * Every request is signed by libcurl (CURLOPT_AWS_SIGV4, "aws:amz:REGION:s3")
 * with "x-amz-content-sha256: UNSIGNED-PAYLOAD" (the gateway hashes the body
 * itself). Addressing is path-style (HOST/BUCKET/KEY) or, with virtual_host,
 * BUCKET.HOST/KEY.
 *
 * Writes: the body is collected into one part buffer (part_size bytes at
 * most). An object that fits in one part is sent with a single PUT at commit;
 * a larger one becomes a multipart upload (initiated when the first part is
 * full, one PUT per part, CompleteMultipartUpload at commit, and
 * AbortMultipartUpload on abort or failure), so an object is never visible
 * before commit and memory stays at one part per upload.
 *
 * Reads: a ranged GET driven through a curl multi handle and pulled on
 * demand: the write callback pauses the transfer when the small read buffer
 * is full, so a download holds a few hundred KiB whatever the object size.
 */
#include "blob.h"
#include "log.h"

#include <curl/curl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S3_DEFAULT_PART (8u * 1024 * 1024)
#define S3_MIN_PART (5u * 1024 * 1024)
#define S3_MAX_PARTS 10000
#define S3_ERRBODY_MAX 2048
#define S3_READBUF (256u * 1024)

typedef struct {
    blob_backend base;
    char *scheme;       /* "http" or "https" */
    char *hostport;     /* "host[:port]" */
    char *bucket;
    char *access_key;
    char *secret_key;
    char sigv4[128];    /* "aws:amz:REGION:s3" */
    bool virtual_host;
    size_t part_size;
} s3_backend;

/* One synchronous request's response. */
typedef struct {
    long status;
    char body[S3_ERRBODY_MAX + 1];
    size_t body_len;
    char etag[128];
} s3_resp;

/* An in-memory request body. */
typedef struct {
    const uint8_t *data;
    size_t len;
    size_t pos;
} s3_src;

typedef struct {
    blob_writer base;
    char *key;
    char *content_type;
    uint8_t *buf;
    size_t len;
    size_t cap;
    char *upload_id;    /* URL-encoded, once a multipart upload is started */
    char **etags;
    size_t nparts;
} s3_writer;

typedef struct {
    blob_reader base;
    CURL *easy;
    CURLM *multi;
    struct curl_slist *hdrs;
    uint8_t *buf;
    size_t cap;
    size_t len;         /* bytes in buf */
    size_t pos;         /* bytes of buf already returned */
    bool paused;
    bool headers_done;
    bool done;
    CURLcode result;
    long status;
    char errbody[S3_ERRBODY_MAX + 1];
    size_t errlen;
} s3_reader;

/* ---------------------------------------------------------------- helpers */

static char *url_encode(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = malloc(3 * n + 1);
    if (!out)
        return NULL;
    char *o = out;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            *o++ = (char)c;
        } else {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o = '\0';
    return out;
}

/* The object URL plus an optional query ("uploads", "partNumber=1&uploadId=..."). */
static char *object_url(s3_backend *sb, const char *key, const char *query)
{
    size_t n = strlen(sb->scheme) + strlen(sb->hostport) + strlen(sb->bucket) + strlen(key) +
               (query ? strlen(query) : 0) + 16;
    char *url = malloc(n);
    if (!url)
        return NULL;
    if (sb->virtual_host)
        snprintf(url, n, "%s://%s.%s/%s%s%s", sb->scheme, sb->bucket, sb->hostport, key,
                 query ? "?" : "", query ? query : "");
    else
        snprintf(url, n, "%s://%s/%s/%s%s%s", sb->scheme, sb->hostport, sb->bucket, key,
                 query ? "?" : "", query ? query : "");
    return url;
}

/* Copy the text between <tag> and </tag> of xml into out ("" if absent). */
static void xml_field(const char *xml, const char *tag, char *out, size_t cap)
{
    char open[64], close[64];
    out[0] = '\0';
    snprintf(open, sizeof open, "<%s>", tag);
    snprintf(close, sizeof close, "</%s>", tag);
    const char *a = strstr(xml, open);
    if (!a)
        return;
    a += strlen(open);
    const char *b = strstr(a, close);
    if (!b)
        return;
    size_t n = (size_t)(b - a);
    if (n >= cap)
        n = cap - 1;
    memcpy(out, a, n);
    out[n] = '\0';
}

static void s3_error(char *err, const char *what, long status, const char *body)
{
    char code[64], msg[160];
    xml_field(body, "Code", code, sizeof code);
    xml_field(body, "Message", msg, sizeof msg);
    snprintf(err, BLOB_ERR_MAX, "S3 %s: HTTP %ld %s%s%s", what, status, code[0] ? code : "",
             msg[0] ? ": " : "", msg);
}

static size_t resp_body_cb(char *p, size_t sz, size_t nm, void *ud)
{
    s3_resp *r = ud;
    size_t n = sz * nm, room = S3_ERRBODY_MAX - r->body_len;
    size_t k = n < room ? n : room;
    memcpy(r->body + r->body_len, p, k);
    r->body_len += k;
    r->body[r->body_len] = '\0';
    return n;
}

static size_t resp_header_cb(char *p, size_t sz, size_t nm, void *ud)
{
    s3_resp *r = ud;
    size_t n = sz * nm;
    if (n > 5 && strncasecmp(p, "etag:", 5) == 0) {
        const char *v = p + 5;
        size_t vl = n - 5;
        while (vl > 0 && (*v == ' ' || *v == '\t')) {
            v++;
            vl--;
        }
        while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
            vl--;
        if (vl < sizeof r->etag) {
            memcpy(r->etag, v, vl);
            r->etag[vl] = '\0';
        }
    }
    return n;
}

static size_t src_read_cb(char *p, size_t sz, size_t nm, void *ud)
{
    s3_src *s = ud;
    size_t n = sz * nm, left = s->len - s->pos;
    if (n > left)
        n = left;
    memcpy(p, s->data + s->pos, n);
    s->pos += n;
    return n;
}

/* A signed easy handle for url with the common headers (plus extra). */
static CURL *s3_easy(s3_backend *sb, const char *url, struct curl_slist **hdrs, const char *extra)
{
    CURL *c = curl_easy_init();
    if (!c)
        return NULL;
    *hdrs = curl_slist_append(NULL, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
    *hdrs = curl_slist_append(*hdrs, "Expect:");
    if (extra)
        *hdrs = curl_slist_append(*hdrs, extra);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, *hdrs);
    curl_easy_setopt(c, CURLOPT_AWS_SIGV4, sb->sigv4);
    curl_easy_setopt(c, CURLOPT_USERNAME, sb->access_key);
    curl_easy_setopt(c, CURLOPT_PASSWORD, sb->secret_key);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    /* A stalled backend (under 1 byte/s for 60 s) is an error, not a hang. */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    return c;
}

/*
 * Run one request. method: "GET", "PUT", "POST", "DELETE", "HEAD". body may
 * be NULL. Fills resp; returns BLOB_OK on a 2xx, BLOB_ENOTFOUND on 404,
 * BLOB_EIO otherwise (err set).
 */
static int s3_request(s3_backend *sb, const char *method, const char *key, const char *query,
                      const char *extra_header, const uint8_t *body, size_t body_len, s3_resp *resp,
                      const char *what, char *err)
{
    int rc = BLOB_EIO;
    struct curl_slist *hdrs = NULL;
    CURL *c = NULL;
    char *url = object_url(sb, key, query);
    s3_src src = {body, body_len, 0};
    memset(resp, 0, sizeof *resp);
    if (!url) {
        rc = BLOB_ENOMEM;
        goto out;
    }
    c = s3_easy(sb, url, &hdrs, extra_header);
    if (!c) {
        rc = BLOB_ENOMEM;
        goto out;
    }
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, resp_body_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, resp_header_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, resp);
    if (strcmp(method, "PUT") == 0) {
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, src_read_cb);
        curl_easy_setopt(c, CURLOPT_READDATA, &src);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)body_len);
    } else if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? (const char *)body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    } else if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        snprintf(err, BLOB_ERR_MAX, "S3 %s: %s", what, curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
    if (resp->status >= 200 && resp->status < 300) {
        rc = BLOB_OK;
    } else if (resp->status == 404) {
        s3_error(err, what, resp->status, resp->body);
        rc = BLOB_ENOTFOUND;
    } else {
        s3_error(err, what, resp->status, resp->body);
    }
out:
    if (c)
        curl_easy_cleanup(c);
    curl_slist_free_all(hdrs);
    free(url);
    return rc;
}

/* ----------------------------------------------------------------- writes */

static int s3_writer_begin(blob_backend *b, const char *key, const char *content_type,
                           blob_writer **out, char *err)
{
    s3_writer *w = calloc(1, sizeof *w);
    if (!w)
        return BLOB_ENOMEM;
    w->base.backend = b;
    w->key = strdup(key);
    w->content_type = strdup(content_type ? content_type : "application/octet-stream");
    if (!w->key || !w->content_type) {
        free(w->key);
        free(w->content_type);
        free(w);
        return BLOB_ENOMEM;
    }
    *out = &w->base;
    return BLOB_OK;
}

static int s3_start_multipart(s3_writer *w, char *err)
{
    s3_backend *sb = (s3_backend *)w->base.backend;
    s3_resp resp;
    char ct[300];
    snprintf(ct, sizeof ct, "Content-Type: %s", w->content_type);
    int rc = s3_request(sb, "POST", w->key, "uploads=", ct, NULL, 0, &resp,
                        "initiate multipart upload", err);
    if (rc != BLOB_OK)
        return rc == BLOB_ENOTFOUND ? BLOB_EIO : rc;
    char id[1024];
    xml_field(resp.body, "UploadId", id, sizeof id);
    if (!id[0]) {
        snprintf(err, BLOB_ERR_MAX, "S3 initiate multipart upload: no UploadId in the reply");
        return BLOB_EIO;
    }
    w->upload_id = url_encode(id);
    return w->upload_id ? BLOB_OK : BLOB_ENOMEM;
}

/* Send the buffered bytes as the next part and empty the buffer. */
static int s3_flush_part(s3_writer *w, char *err)
{
    s3_backend *sb = (s3_backend *)w->base.backend;
    int rc;
    if (!w->upload_id && (rc = s3_start_multipart(w, err)) != BLOB_OK)
        return rc;
    if (w->nparts >= S3_MAX_PARTS) {
        snprintf(err, BLOB_ERR_MAX, "S3: object needs more than %d parts", S3_MAX_PARTS);
        return BLOB_EIO;
    }
    char **etags = realloc(w->etags, (w->nparts + 1) * sizeof *etags);
    if (!etags)
        return BLOB_ENOMEM;
    w->etags = etags;
    size_t qn = strlen(w->upload_id) + 64;
    char *query = malloc(qn);
    if (!query)
        return BLOB_ENOMEM;
    snprintf(query, qn, "partNumber=%zu&uploadId=%s", w->nparts + 1, w->upload_id);
    s3_resp resp;
    rc = s3_request(sb, "PUT", w->key, query, NULL, w->buf, w->len, &resp, "upload part", err);
    free(query);
    if (rc != BLOB_OK)
        return rc == BLOB_ENOTFOUND ? BLOB_EIO : rc;
    if (!resp.etag[0]) {
        snprintf(err, BLOB_ERR_MAX, "S3 upload part: no ETag in the reply");
        return BLOB_EIO;
    }
    w->etags[w->nparts] = strdup(resp.etag);
    if (!w->etags[w->nparts])
        return BLOB_ENOMEM;
    w->nparts++;
    w->len = 0;
    return BLOB_OK;
}

static int s3_writer_write(blob_writer *bw, const void *buf, size_t n, char *err)
{
    s3_writer *w = (s3_writer *)bw;
    size_t part = ((s3_backend *)bw->backend)->part_size;
    const uint8_t *p = buf;
    while (n > 0) {
        if (w->len == part) {
            int rc = s3_flush_part(w, err);
            if (rc != BLOB_OK)
                return rc;
        }
        if (w->len == w->cap) { /* grow geometrically up to one part */
            size_t cap = w->cap ? w->cap * 2 : 64 * 1024;
            if (cap > part)
                cap = part;
            uint8_t *nb = realloc(w->buf, cap);
            if (!nb)
                return BLOB_ENOMEM;
            w->buf = nb;
            w->cap = cap;
        }
        size_t k = w->cap - w->len;
        if (k > n)
            k = n;
        memcpy(w->buf + w->len, p, k);
        w->len += k;
        p += k;
        n -= k;
    }
    return BLOB_OK;
}

static void s3_writer_free(s3_writer *w)
{
    for (size_t i = 0; i < w->nparts; i++)
        free(w->etags[i]);
    free(w->etags);
    free(w->upload_id);
    free(w->buf);
    free(w->key);
    free(w->content_type);
    free(w);
}

static void s3_writer_abort(blob_writer *bw)
{
    s3_writer *w = (s3_writer *)bw;
    if (w->upload_id) {
        s3_backend *sb = (s3_backend *)bw->backend;
        size_t qn = strlen(w->upload_id) + 16;
        char *query = malloc(qn);
        if (query) {
            char err[BLOB_ERR_MAX];
            s3_resp resp;
            snprintf(query, qn, "uploadId=%s", w->upload_id);
            if (s3_request(sb, "DELETE", w->key, query, NULL, NULL, 0, &resp, "abort multipart",
                           err) != BLOB_OK)
                log_msg(PARLEY_LOG_WARN, "media",
                        "%s (parts of %s may stay in the bucket until its "
                        "lifecycle rule removes them)",
                        err, w->key);
            free(query);
        }
    }
    s3_writer_free(w);
}

static int s3_complete(s3_writer *w, char *err)
{
    s3_backend *sb = (s3_backend *)w->base.backend;
    size_t cap = 64 + w->nparts * 200;
    char *xml = malloc(cap);
    size_t qn = strlen(w->upload_id) + 16;
    char *query = malloc(qn);
    int rc = BLOB_ENOMEM;
    if (!xml || !query)
        goto out;
    size_t n = (size_t)snprintf(xml, cap, "<CompleteMultipartUpload>");
    for (size_t i = 0; i < w->nparts; i++)
        n += (size_t)snprintf(xml + n, cap - n,
                              "<Part><PartNumber>%zu</PartNumber><ETag>%s</ETag></Part>", i + 1,
                              w->etags[i]);
    n += (size_t)snprintf(xml + n, cap - n, "</CompleteMultipartUpload>");
    snprintf(query, qn, "uploadId=%s", w->upload_id);
    s3_resp resp;
    rc = s3_request(sb, "POST", w->key, query, "Content-Type: application/xml",
                    (const uint8_t *)xml, n, &resp, "complete multipart upload", err);
    /* S3 may report a failed completion inside a 200 reply. */
    if (rc == BLOB_OK && strstr(resp.body, "<Error>")) {
        s3_error(err, "complete multipart upload", resp.status, resp.body);
        rc = BLOB_EIO;
    }
    if (rc == BLOB_ENOTFOUND)
        rc = BLOB_EIO;
out:
    free(xml);
    free(query);
    return rc;
}

static int s3_writer_commit(blob_writer *bw, char *err)
{
    s3_writer *w = (s3_writer *)bw;
    s3_backend *sb = (s3_backend *)bw->backend;
    int rc;
    if (!w->upload_id) {
        char ct[300];
        s3_resp resp;
        snprintf(ct, sizeof ct, "Content-Type: %s", w->content_type);
        rc = s3_request(sb, "PUT", w->key, NULL, ct, w->buf, w->len, &resp, "put object", err);
        if (rc == BLOB_ENOTFOUND)
            rc = BLOB_EIO;
        s3_writer_free(w);
        return rc;
    }
    if (w->len > 0 && (rc = s3_flush_part(w, err)) != BLOB_OK)
        goto fail;
    if ((rc = s3_complete(w, err)) != BLOB_OK)
        goto fail;
    s3_writer_free(w);
    return BLOB_OK;
fail:
    s3_writer_abort(bw);
    return rc;
}

/* ------------------------------------------------------------------ reads */

static size_t rd_header_cb(char *p, size_t sz, size_t nm, void *ud)
{
    s3_reader *r = ud;
    size_t n = sz * nm;
    if (n == 2 && p[0] == '\r' && p[1] == '\n') {
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
        if (r->status >= 200) /* not an interim 1xx */
            r->headers_done = true;
    }
    return n;
}

static size_t rd_write_cb(char *p, size_t sz, size_t nm, void *ud)
{
    s3_reader *r = ud;
    size_t n = sz * nm;
    if (r->status < 200 || r->status >= 300) { /* an error document */
        size_t room = S3_ERRBODY_MAX - r->errlen, k = n < room ? n : room;
        memcpy(r->errbody + r->errlen, p, k);
        r->errlen += k;
        r->errbody[r->errlen] = '\0';
        return n;
    }
    if (r->pos > 0) { /* compact */
        memmove(r->buf, r->buf + r->pos, r->len - r->pos);
        r->len -= r->pos;
        r->pos = 0;
    }
    if (r->cap - r->len < n) {
        if (r->len > 0) {
            r->paused = true;
            return CURL_WRITEFUNC_PAUSE;
        }
        uint8_t *nb = realloc(r->buf, n); /* a chunk larger than the buffer */
        if (!nb)
            return 0;
        r->buf = nb;
        r->cap = n;
    }
    memcpy(r->buf + r->len, p, n);
    r->len += n;
    return n;
}

/* Drive the transfer until cond holds or it ends. */
static void rd_pump(s3_reader *r, bool want_headers)
{
    while (!r->done && (want_headers ? !r->headers_done : r->pos == r->len)) {
        if (r->paused) {
            r->paused = false;
            curl_easy_pause(r->easy, CURLPAUSE_CONT);
            continue;
        }
        int running = 0;
        curl_multi_perform(r->multi, &running);
        CURLMsg *m;
        int q;
        while ((m = curl_multi_info_read(r->multi, &q)) != NULL) {
            if (m->msg == CURLMSG_DONE) {
                r->done = true;
                r->result = m->data.result;
                curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
            }
        }
        if (r->done || (want_headers ? r->headers_done : r->pos < r->len) || r->paused)
            continue;
        curl_multi_poll(r->multi, NULL, 0, 1000, NULL);
    }
}

static void s3_reader_close(blob_reader *br)
{
    s3_reader *r = (s3_reader *)br;
    if (r->multi && r->easy)
        curl_multi_remove_handle(r->multi, r->easy);
    if (r->easy)
        curl_easy_cleanup(r->easy);
    if (r->multi)
        curl_multi_cleanup(r->multi);
    curl_slist_free_all(r->hdrs);
    free(r->buf);
    free(r);
}

static int s3_reader_open(blob_backend *b, const char *key, uint64_t offset, uint64_t len,
                          blob_reader **out, char *err)
{
    s3_backend *sb = (s3_backend *)b;
    int rc = BLOB_ENOMEM;
    char range[96];
    char *url = object_url(sb, key, NULL);
    s3_reader *r = calloc(1, sizeof *r);
    if (!url || !r)
        goto fail;
    r->base.backend = b;
    r->cap = S3_READBUF;
    r->buf = malloc(r->cap);
    if (len == 0) /* nothing to fetch */
        r->done = true;
    snprintf(range, sizeof range, "Range: bytes=%llu-%llu", (unsigned long long)offset,
             (unsigned long long)(offset + len - 1));
    if (!r->buf || (len > 0 && !(r->easy = s3_easy(sb, url, &r->hdrs, range))) ||
        !(r->multi = curl_multi_init()))
        goto fail;
    free(url);
    url = NULL;
    if (len == 0) {
        *out = &r->base;
        return BLOB_OK;
    }
    curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, rd_write_cb);
    curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(r->easy, CURLOPT_HEADERFUNCTION, rd_header_cb);
    curl_easy_setopt(r->easy, CURLOPT_HEADERDATA, r);
    curl_multi_add_handle(r->multi, r->easy);
    rd_pump(r, true);
    if (!r->headers_done && r->result != CURLE_OK) {
        snprintf(err, BLOB_ERR_MAX, "S3 get object: %s", curl_easy_strerror(r->result));
        rc = BLOB_EIO;
        goto fail;
    }
    if (r->status < 200 || r->status >= 300) {
        rd_pump(r, false); /* collect the error document */
        s3_error(err, "get object", r->status, r->errbody);
        rc = r->status == 404 ? BLOB_ENOTFOUND : BLOB_EIO;
        goto fail;
    }
    if (r->status != 206 && offset > 0) { /* the range was ignored: these are the wrong bytes */
        snprintf(err, BLOB_ERR_MAX, "S3 get object: HTTP %ld to a ranged request", r->status);
        rc = BLOB_EIO;
        goto fail;
    }
    *out = &r->base;
    return BLOB_OK;
fail:
    free(url);
    if (r)
        s3_reader_close(&r->base);
    return rc;
}

static ssize_t s3_reader_read(blob_reader *br, void *buf, size_t n, char *err)
{
    s3_reader *r = (s3_reader *)br;
    rd_pump(r, false);
    if (r->pos < r->len) {
        size_t k = r->len - r->pos;
        if (k > n)
            k = n;
        memcpy(buf, r->buf + r->pos, k);
        r->pos += k;
        return (ssize_t)k;
    }
    if (r->done && r->result != CURLE_OK) {
        snprintf(err, BLOB_ERR_MAX, "S3 get object: %s", curl_easy_strerror(r->result));
        return -1;
    }
    return 0;
}

/* ----------------------------------------------------------------- others */

static int s3_remove(blob_backend *b, const char *key, char *err)
{
    s3_resp resp;
    int rc = s3_request((s3_backend *)b, "DELETE", key, NULL, NULL, NULL, 0, &resp, "delete object",
                        err);
    return rc == BLOB_ENOTFOUND ? BLOB_OK : rc;
}

static int s3_exists(blob_backend *b, const char *key, char *err)
{
    s3_resp resp;
    int rc = s3_request((s3_backend *)b, "HEAD", key, NULL, NULL, NULL, 0, &resp, "head object",
                        err);
    if (rc == BLOB_ENOTFOUND)
        snprintf(err, BLOB_ERR_MAX, "S3 head object: not found");
    return rc;
}

static void s3_destroy(blob_backend *b)
{
    s3_backend *sb = (s3_backend *)b;
    free(sb->scheme);
    free(sb->hostport);
    free(sb->bucket);
    if (sb->secret_key) {
        sodium_memzero(sb->secret_key, strlen(sb->secret_key));
        free(sb->secret_key);
    }
    free(sb->access_key);
    free(sb);
}

static const blob__ops s3_ops = BLOB__OPS(s3);

int blob__s3_open(const char *spec, const blob_s3_options *opts, blob_backend **out, char *err)
{
    *out = NULL;
    const char *sep = strstr(spec, "://");
    if (!sep || !opts->access_key || !opts->secret_key) {
        snprintf(err, BLOB_ERR_MAX,
                 "s3 backend: want s3:http(s)://HOST[:PORT]/BUCKET and "
                 "access/secret keys");
        return BLOB_EINVAL;
    }
    const char *host = sep + 3;
    const char *slash = strchr(host, '/');
    if (!slash || slash == host || !slash[1] || strchr(slash + 1, '/')) {
        snprintf(err, BLOB_ERR_MAX, "s3 backend: want s3:http(s)://HOST[:PORT]/BUCKET");
        return BLOB_EINVAL;
    }
    s3_backend *sb = calloc(1, sizeof *sb);
    if (!sb)
        return BLOB_ENOMEM;
    sb->base.ops = &s3_ops;
    sb->base.name = "s3";
    sb->scheme = strndup(spec, (size_t)(sep - spec));
    sb->hostport = strndup(host, (size_t)(slash - host));
    sb->bucket = strdup(slash + 1);
    sb->access_key = strdup(opts->access_key);
    sb->secret_key = strdup(opts->secret_key);
    sb->virtual_host = opts->virtual_host;
    sb->part_size = opts->part_size ? opts->part_size : S3_DEFAULT_PART;
    if (!sb->scheme || !sb->hostport || !sb->bucket || !sb->access_key || !sb->secret_key) {
        s3_destroy(&sb->base);
        return BLOB_ENOMEM;
    }
    if (strcmp(sb->scheme, "http") != 0 && strcmp(sb->scheme, "https") != 0) {
        snprintf(err, BLOB_ERR_MAX, "s3 backend: scheme must be http or https");
        s3_destroy(&sb->base);
        return BLOB_EINVAL;
    }
    if (sb->part_size < S3_MIN_PART) {
        snprintf(err, BLOB_ERR_MAX, "s3 backend: part size below 5 MiB");
        s3_destroy(&sb->base);
        return BLOB_EINVAL;
    }
    snprintf(sb->sigv4, sizeof sb->sigv4, "aws:amz:%s:s3",
             opts->region && *opts->region ? opts->region : "us-east-1");
    *out = &sb->base;
    return BLOB_OK;
}
