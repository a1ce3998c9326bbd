/*
 * test_media_unit.c - unit tests of the media gateway's internals (Range
 * parsing and id checks from objects.c and upload.c, the file blob backend, metrics,
 * bearer auth against a real SQLite store) and of the client-side media
 * encryption (client-lib/src/media/media_crypto.c) at record boundaries.
 */
#include "../../media-gateway/objects.c"
#include "../../media-gateway/upload.c"

#include "bearer.h"
#include "metrics.h"

#include "media_crypto.h"
#include "token.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

static int setup_tmp(void **state)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/parley-media-unit.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_tmp(void **state)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_parse_range(void **state)
{
    static const struct {
        const char *h;
        uint64_t size;
        range_rc rc;
        uint64_t off, len;
    } cases[] = {
        {NULL, 100, RANGE_NONE, 0, 0},
        {"bytes=0-9", 100, RANGE_OK, 0, 10},
        {"bytes=90-", 100, RANGE_OK, 90, 10},
        {"bytes=90-500", 100, RANGE_OK, 90, 10},     /* end clamped */
        {"bytes=-10", 100, RANGE_OK, 90, 10},
        {"bytes=-500", 100, RANGE_OK, 0, 100},       /* suffix longer than the object */
        {"bytes=99-99", 100, RANGE_OK, 99, 1},
        {"bytes=100-", 100, RANGE_UNSATISFIABLE, 0, 0},
        {"bytes=-0", 100, RANGE_UNSATISFIABLE, 0, 0},
        {"bytes=5-1", 100, RANGE_NONE, 0, 0},        /* invalid: ignored */
        {"bytes=0-1,5-6", 100, RANGE_NONE, 0, 0},    /* several ranges: whole object */
        {"bytes=-", 100, RANGE_NONE, 0, 0},
        {"bytes=a-b", 100, RANGE_NONE, 0, 0},
        {"items=0-1", 100, RANGE_NONE, 0, 0},
        /* 20+ digits (RFC 9110: any length): past the end, or clamped */
        {"bytes=99999999999999999999-", 100, RANGE_UNSATISFIABLE, 0, 0},
        {"bytes=18446744073709551616-", 100, RANGE_UNSATISFIABLE, 0, 0}, /* 2^64 */
        {"bytes=0-99999999999999999999", 100, RANGE_OK, 0, 100},
        {"bytes=-99999999999999999999", 100, RANGE_OK, 0, 100},
        {"bytes=00000000000000000000000090-", 100, RANGE_OK, 90, 10},
        {"bytes=99999999999999999999-5", 100, RANGE_NONE, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t off = 0, len = 0;
        range_rc rc = parse_range(cases[i].h, cases[i].size, &off, &len);
        assert_int_equal(rc, cases[i].rc);
        if (rc == RANGE_OK) {
            assert_int_equal(off, cases[i].off);
            assert_int_equal(len, cases[i].len);
        }
    }
}

static void test_ids_and_types(void **state)
{
    char id[IDS_SERVER_ID_LEN + 1];
    ids_random(id);
    assert_true(valid_media_id(id, strlen(id)));
    assert_false(valid_media_id("short", 5));
    assert_false(valid_media_id("../../../../etc/passwd", 22));
    assert_false(valid_media_id("AAAAAAAAAAAAAAAAAAAA/A", 22));
    assert_true(valid_content_type("image/jpeg"));
    assert_false(valid_content_type(""));
    assert_false(valid_content_type("a\nb"));
    char big[200];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_false(valid_content_type(big));
    assert_true(blob_valid_key(id));
    assert_false(blob_valid_key(".hidden"));
    assert_false(blob_valid_key("a/b"));
    assert_false(blob_valid_key(""));
}

static int count_files(const char *dir)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "find '%s' -type f | wc -l", dir);
    FILE *p = popen(cmd, "r");
    int n = -1;
    if (p) {
        if (fscanf(p, "%d", &n) != 1)
            n = -1;
        pclose(p);
    }
    return n;
}

static void test_blob_file(void **state)
{
    char spec[300], dir[290], err[BLOB_ERR_MAX];
    snprintf(dir, sizeof dir, "%s/blobs", tmpdir);
    snprintf(spec, sizeof spec, "file:%s", dir);
    blob_backend *b = NULL;
    assert_int_equal(blob_open(spec, NULL, &b, err), BLOB_OK);
    assert_string_equal(b->name, "file");

    /* abort leaves nothing */
    blob_writer *w = NULL;
    assert_int_equal(blob_writer_begin(b, "obj1", "x/y", &w, err), BLOB_OK);
    assert_int_equal(blob_writer_write(w, "hello", 5, err), BLOB_OK);
    assert_int_equal(count_files(dir), 1); /* the temporary file */
    blob_writer_abort(w);
    assert_int_equal(count_files(dir), 0);
    assert_int_equal(blob_exists(b, "obj1", err), BLOB_ENOTFOUND);

    /* commit makes it visible; reads honour offset and length */
    assert_int_equal(blob_writer_begin(b, "obj1", NULL, &w, err), BLOB_OK);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(blob_writer_write(w, "0123456789", 10, err), BLOB_OK);
    assert_int_equal(blob_writer_commit(w, err), BLOB_OK);
    assert_int_equal(blob_exists(b, "obj1", err), BLOB_OK);
    blob_reader *r = NULL;
    assert_int_equal(blob_reader_open(b, "obj1", 9995, 3, &r, err), BLOB_OK);
    char buf[16];
    assert_int_equal(blob_reader_read(r, buf, sizeof buf, err), 3);
    assert_memory_equal(buf, "567", 3);
    assert_int_equal(blob_reader_read(r, buf, sizeof buf, err), 0);
    blob_reader_close(r);
    /* a recorded size beyond the file is an error, not a silent short read */
    assert_int_equal(blob_reader_open(b, "obj1", 9990, 20, &r, err), BLOB_OK);
    assert_int_equal(blob_reader_read(r, buf, sizeof buf, err), 10);
    assert_int_equal(blob_reader_read(r, buf, sizeof buf, err), -1);
    blob_reader_close(r);

    assert_int_equal(blob_reader_open(b, "missing", 0, 1, &r, err), BLOB_ENOTFOUND);
    assert_int_equal(blob_reader_open(b, "../escape", 0, 1, &r, err), BLOB_EINVAL);
    assert_int_equal(blob_writer_begin(b, "a/b", NULL, &w, err), BLOB_EINVAL);
    assert_int_equal(blob_remove(b, "obj1", err), BLOB_OK);
    assert_int_equal(blob_remove(b, "obj1", err), BLOB_OK); /* missing is fine */
    assert_int_equal(count_files(dir), 0);
    blob_close(b);

    assert_int_equal(blob_open("ftp:x", NULL, &b, err), BLOB_EINVAL);
    blob_s3_options s3 = {.access_key = "k", .secret_key = "s"};
    assert_int_equal(blob_open("s3:http://host:9000", &s3, &b, err), BLOB_EINVAL); /* no bucket */
    assert_int_equal(blob_open("s3:gopher://host/b", &s3, &b, err), BLOB_EINVAL);
    assert_int_equal(blob_open("s3:http://host:9000/b", NULL, &b, err), BLOB_EINVAL); /* no keys */
    assert_int_equal(blob_open("s3:http://host:9000/bucket", &s3, &b, err), BLOB_OK);
    assert_string_equal(b->name, "s3");
    blob_close(b);
}

static void test_metrics(void **state)
{
    metrics_init("file");
    metrics_add(METRIC_UPLOADS, 2);
    metrics_add(METRIC_UPLOAD_BYTES, 12345);
    metrics_gauge_add(METRIC_ACTIVE_DOWNLOADS, 1);
    metrics_error("too_large");
    metrics_error("no-such-code");
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(metrics_render(&text, &len), 0);
    assert_non_null(strstr(text, "parley_media_uploads_total{backend=\"file\"} 2\n"));
    assert_non_null(strstr(text, "parley_media_upload_bytes_total{backend=\"file\"} 12345\n"));
    assert_non_null(strstr(text, "parley_media_active_downloads{backend=\"file\"} 1\n"));
    assert_non_null(strstr(text, "code=\"too_large\"} 1\n"));
    assert_non_null(strstr(text, "code=\"other\"} 1\n"));
    assert_non_null(strstr(text, "# TYPE parley_media_active_uploads gauge\n"));
    free(text);
}

static void test_auth(void **state)
{
    char uri[300];
    snprintf(uri, sizeof uri, "sqlite:%s/auth.db", tmpdir);
    store_t *s = NULL;
    assert_int_equal(store_open(uri, NULL, &s), STORE_OK);
    uint8_t pk[32], sk[64], pk2[32], sk2[64];
    crypto_sign_keypair(pk, sk);
    crypto_sign_keypair(pk2, sk2);
    store_user u = {.user_id = (char *)"carol", .created_at = 1, .updated_at = 1};
    memcpy(u.identity_key, pk, 32);
    assert_int_equal(store_user_put(s, &u), STORE_OK);

    int64_t now = (int64_t)time(NULL);
    char tok[TOKEN_MAX_LEN], hdr[TOKEN_MAX_LEN + 16];
    http_bearer_result br;
    assert_int_equal(
        token_mint(TOKEN_AUD_MEDIA, "carol", "carol.t", now + 600, sk, tok, sizeof tok), TOKEN_OK);
    snprintf(hdr, sizeof hdr, "Bearer %s", tok);
    assert_int_equal(http_bearer_check(s, hdr, TOKEN_AUD_MEDIA, now, &br), HTTP_BEARER_OK);
    assert_string_equal(br.user_id, "carol");
    assert_int_equal(http_bearer_check(s, NULL, TOKEN_AUD_MEDIA, now, &br), HTTP_BEARER_EMISSING);
    assert_int_equal(http_bearer_check(s, tok, TOKEN_AUD_MEDIA, now, &br),
                     HTTP_BEARER_EMISSING); /* no "Bearer " */
    assert_int_equal(http_bearer_check(s, hdr, TOKEN_AUD_MEDIA, now + 601, &br),
                     HTTP_BEARER_EINVALID); /* expired */
    assert_int_equal(http_bearer_check(s, "Bearer x.y", TOKEN_AUD_MEDIA, now, &br),
                     HTTP_BEARER_EINVALID);
    assert_int_equal(
        token_mint(TOKEN_AUD_KEYSERVER, "carol", "carol.t", now + 600, sk, tok, sizeof tok),
        TOKEN_OK);
    snprintf(hdr, sizeof hdr, "Bearer %s", tok);
    assert_int_equal(http_bearer_check(s, hdr, TOKEN_AUD_MEDIA, now, &br),
                     HTTP_BEARER_EINVALID); /* audience */
    assert_int_equal(token_mint(TOKEN_AUD_MQTT, "carol", "carol.t", now + 600, sk, tok, sizeof tok),
                     TOKEN_OK);
    snprintf(hdr, sizeof hdr, "Bearer %s", tok);
    assert_int_equal(http_bearer_check(s, hdr, TOKEN_AUD_MEDIA, now, &br),
                     HTTP_BEARER_EINVALID); /* MQTT token */
    assert_int_equal(
        token_mint(TOKEN_AUD_MEDIA, "carol", "carol.t", now + 600, sk2, tok, sizeof tok), TOKEN_OK);
    snprintf(hdr, sizeof hdr, "Bearer %s", tok);
    assert_int_equal(http_bearer_check(s, hdr, TOKEN_AUD_MEDIA, now, &br),
                     HTTP_BEARER_EINVALID); /* other key */
    assert_int_equal(token_mint(TOKEN_AUD_MEDIA, "dave", "dave.t", now + 600, sk2, tok, sizeof tok),
                     TOKEN_OK);
    snprintf(hdr, sizeof hdr, "Bearer %s", tok);
    assert_int_equal(http_bearer_check(s, hdr, TOKEN_AUD_MEDIA, now, &br), HTTP_BEARER_EUNKNOWN);
    sodium_memzero(sk, sizeof sk);
    sodium_memzero(sk2, sizeof sk2);
    store_close(s);
}

static void write_random(const char *path, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    uint8_t buf[4096];
    while (n > 0) {
        size_t k = n < sizeof buf ? n : sizeof buf;
        randombytes_buf(buf, k);
        assert_int_equal(fwrite(buf, 1, k, f), k);
        n -= k;
    }
    fclose(f);
}

static bool files_equal(const char *a, const char *b)
{
    char cmd[700];
    snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", a, b);
    return system(cmd) == 0;
}

static void test_crypto_boundaries(void **state)
{
    static const size_t sizes[] = {
        0, 1, MEDIA_CHUNK - 1, MEDIA_CHUNK, MEDIA_CHUNK + 1, 3 * MEDIA_CHUNK, 3 * MEDIA_CHUNK + 17};
    char in[300], enc[300], dec[300], err[MEDIA_ERR_MAX];
    snprintf(in, sizeof in, "%s/plain", tmpdir);
    snprintf(enc, sizeof enc, "%s/enc", tmpdir);
    snprintf(dec, sizeof dec, "%s/dec", tmpdir);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        write_random(in, n);
        uint8_t key[MEDIA_KEY_LEN], sha[MEDIA_SHA256_LEN], sha2[MEDIA_SHA256_LEN];
        uint64_t psize = 0, csize = 0, dsize = 0;
        assert_int_equal(media_encrypt_file(in, enc, key, sha, &psize, &csize, err), MEDIA_OK);
        size_t records = n == 0 ? 1 : (n + MEDIA_CHUNK - 1) / MEDIA_CHUNK;
        assert_int_equal(psize, n);
        assert_int_equal(csize, 24 + n + 17 * records);
        assert_int_equal(media_sha256_file(enc, sha2, NULL, err), MEDIA_OK);
        assert_memory_equal(sha, sha2, sizeof sha);
        assert_int_equal(media_decrypt_file(enc, dec, key, sha, &dsize, err), MEDIA_OK);
        assert_int_equal(dsize, n);
        assert_true(files_equal(in, dec));
        /* drop the last record (or its last byte): refused, no output left */
        unlink(dec);
        assert_int_equal(truncate(enc, (off_t)csize - 1), 0);
        assert_int_equal(media_decrypt_file(enc, dec, key, NULL, NULL, err), MEDIA_EAUTH);
        assert_int_equal(access(dec, F_OK), -1);
        assert_int_equal(media_decrypt_file(enc, dec, key, sha, NULL, err), MEDIA_EHASH);
        sodium_memzero(key, sizeof key);
    }
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_range), cmocka_unit_test(test_ids_and_types),
        cmocka_unit_test(test_blob_file),   cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_auth),        cmocka_unit_test(test_crypto_boundaries),
    };
    return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}
