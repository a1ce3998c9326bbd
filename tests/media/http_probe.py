#!/usr/bin/env python3
"""http_probe.py - raw-socket probes of the HTTP services' connection guard
(http/guard.h), shared by the keyserver and media gateway tests.

  http_probe.py flood HOST PORT N LIMIT OTHER_HOST PATH
      Open N connections from 127.0.0.1 that each send only a partial request
      line (a slowloris client) and keep them open. Expect: exactly LIMIT stay
      open, the other N - LIMIT are closed by the server without a reply
      (bounded wait); while they are held, a complete GET PATH from OTHER_HOST
      (another loopback address) answers 200. Then the slow connections are
      closed by the client and a GET PATH from 127.0.0.1 answers 200 again.
      Run against a server whose header deadline is off or long.

  http_probe.py trickle HOST PORT DEADLINE_S PATH keepalive|close
      (1) One connection sends a request one header byte every 0.25 s. Expect
      it to be cut with a JSON 408 (error "request_timeout") no earlier than
      DEADLINE_S after it connected (never before the deadline) and within a
      generous bound after it. (2) One complete GET PATH answered 200 on a
      new connection, then the next request trickled on it. "keepalive": the
      server keeps the connection and the trickled request is cut (no reply)
      no earlier than DEADLINE_S after the first response. "close": the
      server answers with "Connection: close" and closes it at once (so no
      second request can trickle).

  http_probe.py raw HOST PORT < REQUEST
      Send the bytes read from stdin, print everything the server answers until it closes or
      stays silent for 10 s (for checks of replies the services cannot shape).

Every wait is bounded. Exit status 0 = expectations met, 1 = not (reason on
stderr).
"""
import json
import socket
import sys
import time

BOUND = 60.0  # generous upper bound for anything the server must do


def fail(msg):
    print("http_probe: FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def connect(host, port, src=None):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    if src:
        s.bind((src, 0))
    s.settimeout(BOUND)
    s.connect((host, port))
    return s


def closed_now(s, wait):
    """True if the server closed s (EOF or reset) within wait seconds."""
    s.settimeout(wait)
    try:
        data = s.recv(4096)
        if data:
            fail("a refused connection got a reply: %r" % data[:200])
        return True
    except socket.timeout:
        return False
    except (ConnectionResetError, BrokenPipeError):
        return True


def get(host, port, path, src=None):
    s = connect(host, port, src)
    s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path).encode())
    data = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
    s.close()
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0
    return status, data


def flood(host, port, n, limit, other, path):
    socks = []
    for _ in range(n):
        s = connect(host, port, "127.0.0.1")
        s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: ")  # never finished
        socks.append(s)
    # The refused ones are closed at accept; the kept ones stay open. Poll
    # until exactly n - limit are closed (bounded), then check the rest
    # stay open a little longer.
    open_socks = list(socks)
    deadline = time.monotonic() + BOUND
    while len(open_socks) > limit and time.monotonic() < deadline:
        open_socks = [s for s in open_socks if not closed_now(s, 0.05)]
    if len(open_socks) != limit:
        fail("%d of %d slow connections still open, expected the per-IP limit %d"
             % (len(open_socks), n, limit))
    for s in open_socks:
        if closed_now(s, 0.2):
            fail("a connection within the per-IP limit was closed")
    print("flood: %d slow connections, %d refused, %d held" % (n, n - limit, limit))
    st, body = get(host, port, path, other)
    if st != 200:
        fail("request from %s while 127.0.0.1 is saturated: status %d %r" % (other, st, body[:300]))
    print("flood: request from %s during the flood: 200" % other)
    for s in socks:
        s.close()
    # The server notices the closes; 127.0.0.1 gets in again (bounded retry).
    deadline = time.monotonic() + BOUND
    while True:
        try:
            st, body = get(host, port, path, "127.0.0.1")
            if st == 200:
                break
        except OSError:
            pass
        if time.monotonic() > deadline:
            fail("127.0.0.1 still refused after its slow connections closed")
        time.sleep(0.1)
    print("flood: request from 127.0.0.1 after the flood: 200")


def trickle_until_cut(s, req, start):
    """Send req one byte per 0.25 s until the server cuts s; returns
    (seconds since start, bytes sent, reply)."""
    sent = 0
    reply = b""
    s.settimeout(0.25)
    while True:
        if time.monotonic() - start > BOUND:
            fail("still connected %.0f s after start: the header deadline did not cut it" % BOUND)
        try:
            if sent < len(req):
                s.send(req[sent:sent + 1])
                sent += 1
            b = s.recv(65536)
            if not b:
                return time.monotonic() - start, sent, reply
            reply += b
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return time.monotonic() - start, sent, reply


def trickle(host, port, deadline_s, path, mode):
    req = ("GET %s HTTP/1.1\r\nHost: x\r\n" % path).encode() + b"X-Slow: " + b"a" * 4000 + b"\r\n\r\n"
    start = time.monotonic()
    s = connect(host, port)
    took, sent, reply = trickle_until_cut(s, req, start)
    s.close()
    if took < deadline_s:
        fail("cut after %.2f s, before the %.0f s deadline" % (took, deadline_s))
    if sent < 2:
        fail("only %d byte(s) trickled: not a trickling client" % sent)
    head, _, body = reply.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 408 "):
        fail("first request cut without a 408: %r" % reply[:300])
    if b"application/json" not in head:
        fail("408 is not JSON: %r" % head)
    doc = json.loads(body)
    if doc.get("error") != "request_timeout" or not isinstance(doc.get("message"), str):
        fail("408 body: %r" % body)
    print("trickle: first request cut after %.2f s (%d bytes sent) with a JSON 408" % (took, sent))

    # Keep-alive: one complete request, then the next one trickled.
    s = connect(host, port)
    s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
    # The server's deadline for the next request starts once it has answered
    # this one, which is after this instant but may be well before we have
    # read the answer on a busy machine: measure from here, a lower bound.
    start = time.monotonic()
    data = b""
    while b"\r\n\r\n" not in data:
        b = s.recv(65536)
        if not b:
            fail("keep-alive connection closed before the first response")
        data += b
    head = data.split(b"\r\n\r\n", 1)[0]
    if not head.startswith(b"HTTP/1.1 200 "):
        fail("first keep-alive request: %r" % head)
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    body = data.split(b"\r\n\r\n", 1)[1]
    while len(body) < length:
        b = s.recv(65536)
        if not b:
            fail("short first response")
        body += b
    if mode == "close":
        if b"\r\nconnection: close" not in head.lower():
            fail("expected Connection: close, got %r" % head)
        if not closed_now(s, BOUND):
            fail("connection not closed after a Connection: close response")
        print("trickle: the server closes the connection after each response")
        return
    took, sent, reply = trickle_until_cut(s, req, start)
    s.close()
    if took < deadline_s:
        fail("keep-alive request cut after %.2f s, before the deadline" % took)
    if reply:
        fail("keep-alive request cut with a reply: %r" % reply[:200])
    print("trickle: second (keep-alive) request cut after %.2f s (%d bytes sent)" % (took, sent))


def raw(host, port):
    req = sys.stdin.buffer.read()
    s = connect(host, port)
    try:
        s.sendall(req)
    except (ConnectionResetError, BrokenPipeError):
        pass  # the server may answer and close before reading everything
    s.settimeout(10)
    data = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
    except (socket.timeout, ConnectionResetError):
        pass
    sys.stdout.buffer.write(data)


def main():
    a = sys.argv[1:]
    if len(a) == 7 and a[0] == "flood":
        flood(a[1], int(a[2]), int(a[3]), int(a[4]), a[5], a[6])
    elif len(a) == 6 and a[0] == "trickle" and a[5] in ("keepalive", "close"):
        trickle(a[1], int(a[2]), float(a[3]), a[4], a[5])
    elif len(a) == 3 and a[0] == "raw":
        raw(a[1], int(a[2]))
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
