#!/usr/bin/env python3
"""sigv4_proxy.py - a test-only HTTP proxy in front of s3rver that verifies
AWS Signature Version 4 on every request (s3rver 3.7.1 checks only the access
key). Requests whose signature does not match the secret key are answered
like S3 does (403 SignatureDoesNotMatch); valid ones are forwarded unchanged.

    sigv4_proxy.py LISTEN_PORT UPSTREAM_PORT ACCESS_KEY SECRET_KEY

It verifies an independent implementation of the canonical request (sorted,
URI-encoded query; lowercase, trimmed signed headers; x-amz-content-sha256 as
the payload hash), so a gateway whose requests pass it signs correctly for
real S3. Bodies are buffered: it is meant for test-sized objects.
"""
import hashlib
import hmac
import http.client
import http.server
import sys
import urllib.parse

LISTEN, UPSTREAM, ACCESS, SECRET = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]


def uri_encode(s, keep_slash):
    safe = "-_.~" + ("/" if keep_slash else "")
    return urllib.parse.quote(s, safe=safe)


def canonical_query(raw):
    pairs = []
    for part in raw.split("&") if raw else []:
        k, _, v = part.partition("=")
        pairs.append((uri_encode(urllib.parse.unquote(k), False), uri_encode(urllib.parse.unquote(v), False)))
    return "&".join("%s=%s" % kv for kv in sorted(pairs))


def verify(method, target, headers):
    """Return None if the request is signed correctly, else a reason."""
    auth = headers.get("Authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        return "no SigV4 Authorization header"
    fields = dict(p.strip().split("=", 1) for p in auth[len("AWS4-HMAC-SHA256 "):].split(","))
    cred = fields["Credential"].split("/")
    if cred[0] != ACCESS:
        return "unknown access key"
    date, region, service = cred[1], cred[2], cred[3]
    signed = fields["SignedHeaders"].split(";")
    if "host" not in signed or "x-amz-date" not in signed:
        return "host and x-amz-date must be signed"
    payload = headers.get("x-amz-content-sha256")
    if payload is None:
        return "missing x-amz-content-sha256"
    path, _, query = target.partition("?")
    canon_headers = "".join(
        "%s:%s\n" % (h, " ".join((headers.get(h) or "").split())) for h in signed)
    creq = "\n".join([method, uri_encode(urllib.parse.unquote(path), True), canonical_query(query),
                      canon_headers, ";".join(signed), payload])
    amz_date = headers.get("x-amz-date", "")
    scope = "/".join(cred[1:])
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                     hashlib.sha256(creq.encode()).hexdigest()])
    key = ("AWS4" + SECRET).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    want = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, fields["Signature"]):
        return "signature mismatch"
    return None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("sigv4_proxy: " + (fmt % args) + "\n")

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        reason = verify(self.command, self.path, self.headers)
        if reason:
            self.log_message("refused %s %s: %s", self.command, self.path, reason)
            doc = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SignatureDoesNotMatch"
                   "</Code><Message>The request signature we calculated does not match the "
                   "signature you provided (%s).</Message></Error>" % reason).encode()
            self.send_response(403)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(doc)))
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(doc)
            self.close_connection = True
            return
        up = http.client.HTTPConnection("127.0.0.1", UPSTREAM, timeout=120)
        hdrs = {k: v for k, v in self.headers.items() if k.lower() not in ("connection",)}
        up.request(self.command, self.path, body=body if n else None, headers=hdrs)
        resp = up.getresponse()
        self.send_response(resp.status, resp.reason)
        length = resp.getheader("Content-Length")
        for k, v in resp.getheaders():
            if k.lower() not in ("connection", "transfer-encoding", "keep-alive"):
                self.send_header(k, v)
        data = b"" if self.command == "HEAD" else resp.read()
        if length is None:
            self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True
        up.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any


http.server.ThreadingHTTPServer(("127.0.0.1", LISTEN), Handler).serve_forever()
