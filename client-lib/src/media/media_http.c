/*
 * media_http.c - media gateway client over libcurl (media_http.h).
 */
#include "media_http.h"

#include "transport.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define RESP_MAX (64 * 1024)

typedef struct {
    char *data;
    size_t len;
} resp_buf;

static size_t resp_cb(char *p, size_t sz, size_t nm, void *ud)
{
    resp_buf *b = ud;
    size_t n = sz * nm;
    if (b->len + n > RESP_MAX)
        return 0; /* a reply this large is not from a media gateway */
    char *nd = realloc(b->data, b->len + n + 1);
    if (!nd)
        return 0;
    memcpy(nd + b->len, p, n);
    b->data = nd;
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

static struct curl_slist *auth_headers(const char *token)
{
    size_t n = strlen(token) + 32;
    char *h = malloc(n);
    if (!h)
        return NULL;
    snprintf(h, n, "Authorization: Bearer %s", token);
    struct curl_slist *l = curl_slist_append(NULL, h);
    free(h);
    return l;
}

static char *media_url(const char *base, const char *media_id, const char *suffix)
{
    size_t n = strlen(base) + (media_id ? strlen(media_id) : 0) + 32;
    char *u = malloc(n);
    if (!u)
        return NULL;
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/')
        bl--;
    snprintf(u, n, "%.*s/v1/media%s%s%s", (int)bl, base, media_id ? "/" : "",
             media_id ? media_id : "", suffix ? suffix : "");
    return u;
}

/* err := the gateway's error document (or the bare status). */
static int http_error(long status, const resp_buf *b, char *err)
{
    json_t *doc = b->data ? json_loads(b->data, 0, NULL) : NULL;
    const char *code = doc ? json_string_value(json_object_get(doc, "error")) : NULL;
    const char *msg = doc ? json_string_value(json_object_get(doc, "message")) : NULL;
    snprintf(err, MEDIA_ERR_MAX, "HTTP %ld %s%s%s", status, code ? code : "", msg ? ": " : "",
             msg ? msg : "");
    json_decref(doc);
    return MEDIA_EHTTP;
}

static bool valid_id(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n > MEDIA_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

static int parse_info(const char *text, media_info *info, char *err)
{
    json_error_t je;
    json_t *doc = json_loads(text ? text : "", 0, &je);
    const char *id = doc ? json_string_value(json_object_get(doc, "media_id")) : NULL;
    const char *sha = doc ? json_string_value(json_object_get(doc, "sha256")) : NULL;
    const char *ct = doc ? json_string_value(json_object_get(doc, "content_type")) : NULL;
    json_t *size = doc ? json_object_get(doc, "size") : NULL;
    size_t bl = 0;
    if (!id || !valid_id(id) || !sha || !json_is_integer(size) ||
        sodium_hex2bin(info->sha256, sizeof info->sha256, sha, strlen(sha), NULL, &bl, NULL) != 0 ||
        bl != MEDIA_SHA256_LEN) {
        snprintf(err, MEDIA_ERR_MAX, "unexpected reply from the media gateway");
        json_decref(doc);
        return MEDIA_EHTTP;
    }
    snprintf(info->media_id, sizeof info->media_id, "%s", id);
    snprintf(info->content_type, sizeof info->content_type, "%s", ct ? ct : "");
    info->size = (uint64_t)json_integer_value(size);
    info->created_at = json_integer_value(json_object_get(doc, "created_at"));
    info->expires_at = json_integer_value(json_object_get(doc, "expires_at"));
    json_decref(doc);
    return MEDIA_OK;
}

/* An object's description from a reply expected with status `want` (info->http_status). */
static int info_reply(long want, const resp_buf *b, media_info *info, char *err)
{
    long status = info->http_status;
    if (status != want)
        return http_error(status, b, err);
    int rc = parse_info(b->data, info, err);
    info->http_status = status;
    return rc;
}

/* A failed transfer: MEDIA_ETLS when the gateway's certificate (or the CA
 * file) failed verification, else MEDIA_ENET; err says which and why. */
static int net_error(CURLcode cc, const char *what, const char *cerr, char *err)
{
    bool tls = transport_curl_trust_error(cc);
    snprintf(err, MEDIA_ERR_MAX, "%s: %s%.200s", what, tls ? "TLS: " : "",
             cerr && *cerr ? cerr : curl_easy_strerror(cc));
    return tls ? MEDIA_ETLS : MEDIA_ENET;
}

static void common_opts(CURL *c, const char *url, const char *ca_file, struct curl_slist *hdrs,
                        resp_buf *b, char *cerr)
{
    curl_easy_setopt(c, CURLOPT_URL, url);
    transport_curl(c, ca_file);
    cerr[0] = '\0';
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 15L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 120L);
    if (b) {
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, resp_cb);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
    }
}

static int upload_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                           curl_off_t ulnow)
{
    const media_progress *p = ud;
    if (ultotal > 0)
        p->fn(p->ud, (uint64_t)ulnow, (uint64_t)ultotal);
    return 0;
}

int media_limits(const char *base_url, const char *ca_file, uint64_t *max_size, char *err)
{
    int rc = MEDIA_ENOMEM;
    CURL *c = NULL;
    char *url = NULL, cerr[CURL_ERROR_SIZE];
    resp_buf b = {0};
    long status = 0;
    json_t *j = NULL;
    size_t blen = strlen(base_url);
    *max_size = 0;
    if (!(url = malloc(blen + sizeof "/v1/limits")) || !(c = curl_easy_init()))
        goto out;
    memcpy(url, base_url, blen);
    while (blen && url[blen - 1] == '/')
        blen--;
    memcpy(url + blen, "/v1/limits", sizeof "/v1/limits");
    common_opts(c, url, ca_file, NULL, &b, cerr);
    CURLcode cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (cc != CURLE_OK) {
        rc = net_error(cc, "limits", cerr, err);
        goto out;
    }
    if (status != 200) {
        rc = http_error(status, &b, err);
        goto out;
    }
    json_t *v;
    if (!b.data || !(j = json_loads(b.data, 0, NULL)) || !(v = json_object_get(j, "max_size")) ||
        !json_is_integer(v) || json_integer_value(v) <= 0) {
        snprintf(err, MEDIA_ERR_MAX, "limits: not a {\"max_size\": N} answer");
        rc = MEDIA_EHTTP;
        goto out;
    }
    *max_size = (uint64_t)json_integer_value(v);
    rc = MEDIA_OK;
out:
    json_decref(j);
    if (c)
        curl_easy_cleanup(c);
    free(url);
    free(b.data);
    return rc;
}

int media_upload(const char *base_url, const char *ca_file, const char *token, const char *path,
                 const char *content_type, const uint8_t sha256[MEDIA_SHA256_LEN],
                 const media_progress *progress, media_info *info, char *err)
{
    int rc = MEDIA_ENOMEM;
    CURL *c = NULL;
    FILE *f = NULL;
    char *url = NULL, cerr[CURL_ERROR_SIZE];
    struct curl_slist *hdrs = NULL;
    resp_buf b = {0};
    char line[MEDIA_CTYPE_MAX + 32];
    char hex[2 * MEDIA_SHA256_LEN + 1];
    struct stat st;
    memset(info, 0, sizeof *info);

    if (!(f = fopen(path, "rb")) || fstat(fileno(f), &st) != 0) {
        snprintf(err, MEDIA_ERR_MAX, "open %s: %s", path, strerror(errno));
        rc = MEDIA_EIO;
        goto out;
    }
    if (!(url = media_url(base_url, NULL, NULL)) || !(hdrs = auth_headers(token)) ||
        !(c = curl_easy_init()))
        goto out;
    snprintf(line, sizeof line, "Content-Type: %s",
             content_type && *content_type ? content_type : "application/octet-stream");
    hdrs = curl_slist_append(hdrs, line);
    sodium_bin2hex(hex, sizeof hex, sha256, MEDIA_SHA256_LEN);
    snprintf(line, sizeof line, "X-Parley-SHA256: %s", hex);
    hdrs = curl_slist_append(hdrs, line);
    /* Wait for the gateway's verdict on the headers (size, token) before
     * sending the body, so a refusal is read instead of racing a closed socket. */
    hdrs = curl_slist_append(hdrs, "Expect: 100-continue");
    common_opts(c, url, ca_file, hdrs, &b, cerr);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_READDATA, f); /* default read callback: fread */
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)st.st_size);
    if (progress && progress->fn) {
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, upload_progress);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, (void *)progress);
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    }
    CURLcode cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &info->http_status);
    if (cc != CURLE_OK && !(info->http_status >= 400 && b.data)) {
        rc = net_error(cc, "upload", cerr, err);
        goto out;
    }
    rc = info_reply(201, &b, info, err);
out:
    if (c)
        curl_easy_cleanup(c);
    curl_slist_free_all(hdrs);
    free(url);
    free(b.data);
    if (f)
        fclose(f);
    return rc;
}

/* One request about a stored object (method NULL: GET). MEDIA_OK when the
 * gateway answered, whatever the status: *status and *b hold the answer
 * (the caller frees b->data). what names the request in err. */
static int object_request(const char *base_url, const char *ca_file, const char *token,
                          const char *media_id, const char *method, const char *what, long *status,
                          resp_buf *b, char *err)
{
    int rc = MEDIA_ENOMEM;
    CURL *c = NULL;
    char *url = NULL, cerr[CURL_ERROR_SIZE];
    struct curl_slist *hdrs = NULL;
    if (!valid_id(media_id)) {
        snprintf(err, MEDIA_ERR_MAX, "invalid media id");
        return MEDIA_EINVAL;
    }
    if (!(url = media_url(base_url, media_id, NULL)) || !(hdrs = auth_headers(token)) ||
        !(c = curl_easy_init()))
        goto out;
    common_opts(c, url, ca_file, hdrs, b, cerr);
    if (method)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        rc = net_error(cc, what, cerr, err);
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    rc = MEDIA_OK;
out:
    if (c)
        curl_easy_cleanup(c);
    curl_slist_free_all(hdrs);
    free(url);
    return rc;
}

int media_stat(const char *base_url, const char *ca_file, const char *token, const char *media_id,
               media_info *info, char *err)
{
    resp_buf b = {0};
    memset(info, 0, sizeof *info);
    int rc = object_request(base_url, ca_file, token, media_id, NULL, "stat", &info->http_status,
                            &b, err);
    if (rc == MEDIA_OK)
        rc = info_reply(200, &b, info, err);
    free(b.data);
    return rc;
}

int media_delete(const char *base_url, const char *ca_file, const char *token, const char *media_id,
                 char *err)
{
    resp_buf b = {0};
    long status = 0;
    int rc = object_request(base_url, ca_file, token, media_id, "DELETE", "delete", &status, &b,
                            err);
    if (rc == MEDIA_OK && status != 204)
        rc = http_error(status, &b, err);
    free(b.data);
    return rc;
}

/* State of one download attempt. */
typedef struct {
    FILE *f;
    long status;            /* set once headers are in */
    bool range_ok;          /* a 206 for the offset we asked */
    uint64_t offset;
    resp_buf errbody;       /* body of an error reply */
    bool write_failed;
} dl_state;

static size_t dl_header_cb(char *p, size_t sz, size_t nm, void *ud)
{
    dl_state *d = ud;
    size_t n = sz * nm;
    if (n >= 5 && strncmp(p, "HTTP/", 5) == 0) {
        const char *sp = memchr(p, ' ', n);
        d->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        d->range_ok = false;
    } else if (n > 14 && strncasecmp(p, "content-range:", 14) == 0) {
        unsigned long long a = 0;
        if (sscanf(p + 14, " bytes %llu-", &a) == 1 && a == d->offset)
            d->range_ok = true;
    }
    return n;
}

static size_t dl_write_cb(char *p, size_t sz, size_t nm, void *ud)
{
    dl_state *d = ud;
    size_t n = sz * nm;
    if (d->status == 200 && d->offset > 0) {
        /* The gateway ignored the range and sends the whole object: start over. */
        if (fflush(d->f) != 0 || ftruncate(fileno(d->f), 0) != 0) {
            d->write_failed = true;
            return 0;
        }
        d->offset = 0;
    }
    if (d->status == 200 || (d->status == 206 && d->range_ok)) {
        if (fwrite(p, 1, n, d->f) != n) {
            d->write_failed = true;
            return 0;
        }
        return n;
    }
    if (d->status == 206) /* a range we did not ask for */
        return 0;
    return resp_cb(p, sz, nm, &d->errbody);
}

int media_download(const char *base_url, const char *ca_file, const char *token,
                   const char *media_id, const char *out_path, const uint8_t *sha256,
                   int max_attempts, uint64_t *resumed_from, char *err)
{
    int rc = MEDIA_ENOMEM;
    char *url = NULL, cerr[CURL_ERROR_SIZE];
    struct curl_slist *hdrs = NULL;
    if (!valid_id(media_id)) {
        snprintf(err, MEDIA_ERR_MAX, "invalid media id");
        return MEDIA_EINVAL;
    }
    if (max_attempts < 1)
        max_attempts = 1;
    if (!(url = media_url(base_url, media_id, "/download")) || !(hdrs = auth_headers(token)))
        goto out;
    for (int attempt = 0; attempt < max_attempts; attempt++) {
        dl_state d = {0};
        struct stat st;
        d.offset = stat(out_path, &st) == 0 ? (uint64_t)st.st_size : 0;
        if (attempt == 0 && resumed_from)
            *resumed_from = d.offset;
        if (!(d.f = fopen(out_path, "ab"))) {
            snprintf(err, MEDIA_ERR_MAX, "open %s: %s", out_path, strerror(errno));
            rc = MEDIA_EIO;
            goto out;
        }
        CURL *c = curl_easy_init();
        if (!c) {
            fclose(d.f);
            rc = MEDIA_ENOMEM;
            goto out;
        }
        common_opts(c, url, ca_file, hdrs, NULL, cerr);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, dl_header_cb);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, &d);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, dl_write_cb);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &d);
        char range[48];
        if (d.offset > 0) {
            snprintf(range, sizeof range, "%llu-", (unsigned long long)d.offset);
            curl_easy_setopt(c, CURLOPT_RANGE, range);
        }
        CURLcode cc = curl_easy_perform(c);
        long status = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(c);
        int fc = fclose(d.f);
        if (d.write_failed || fc != 0) {
            snprintf(err, MEDIA_ERR_MAX, "write %s: %s", out_path, strerror(errno));
            free(d.errbody.data);
            rc = MEDIA_EIO;
            goto out;
        }
        if (status == 416 && d.offset > 0) {
            /* The local file is not shorter than the object: start over. */
            free(d.errbody.data);
            if (truncate(out_path, 0) != 0) {
                snprintf(err, MEDIA_ERR_MAX, "truncate %s: %s", out_path, strerror(errno));
                rc = MEDIA_EIO;
                goto out;
            }
            continue;
        }
        if (status >= 400) {
            rc = http_error(status, &d.errbody, err);
            free(d.errbody.data);
            goto out;
        }
        free(d.errbody.data);
        if (cc != CURLE_OK) { /* cut off: resume from what we have */
            rc = net_error(cc, "download", cerr, err);
            if (rc == MEDIA_ETLS)
                goto out; /* a certificate does not fix itself */
            continue;
        }
        rc = MEDIA_OK;
        break;
    }
    if (rc == MEDIA_OK && sha256) {
        uint8_t got[MEDIA_SHA256_LEN];
        if ((rc = media_sha256_file(out_path, got, NULL, err)) != MEDIA_OK)
            goto out;
        if (sodium_memcmp(got, sha256, MEDIA_SHA256_LEN) != 0) {
            snprintf(err, MEDIA_ERR_MAX, "downloaded ciphertext does not match its SHA-256");
            unlink(out_path);
            rc = MEDIA_EHASH;
        }
    }
out:
    curl_slist_free_all(hdrs);
    free(url);
    return rc;
}
