#!/usr/bin/python3
"""Every refusal of the CONNECT proxy from a real request: status, a body
naming the reason, Connection: close, the per-listener counter; a denied
target never sees a connection; Basic auth success and failure."""
import base64
import hashlib
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kfwdtest import Topology, check, log, run  # noqa: E402


def ask(t, port, req, pause=None):
    s = t.client.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(15)
    s.connect(("10.77.1.1", port))
    s.sendall(req)
    resp = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        resp += b
        if b"\r\n\r\n" in resp and (resp.startswith(b"HTTP/1.1 200") or resp.count(b"\n") > 6):
            if not resp.startswith(b"HTTP/1.1 200"):
                continue
            break
    s.close()
    return resp.decode("latin1")


def expect(t, port, req, status, why):
    r = ask(t, port, req)
    check(r.startswith("HTTP/1.1 %d " % status), "%r: want %d, got %r" % (req[:60], status, r[:200]))
    if status != 200:
        check("Connection: close\r\n" in r and why in r.split("\r\n\r\n", 1)[1],
              "%d: body should name %r: %r" % (status, why, r))
    return r


def users_file(path):
    salt = bytes(range(16))
    dk = hashlib.pbkdf2_hmac("sha256", b"secret", salt, 1000, 32)
    with open(path, "w") as f:
        f.write("alice:$pbkdf2-sha256$1000$%s$%s\n" % (base64.b64encode(salt).decode(),
                                                      base64.b64encode(dk).decode()))


def main():
    with Topology() as t:
        users = os.path.join(t.tmpdir, "users")
        users_file(users)
        k = t.kfwd([dict(name="px", bind="10.77.1.1:3128", mode="connect", header_limit=1024,
                         request_timeout_ms=300, connect_timeout_ms=500,
                         deny=["10.77.2.2:9001"], forward_proxy=False),
                    dict(name="au", bind="10.77.1.1:3129", mode="connect",
                         auth=dict(type="basic", users_file=users))],
                   glob=dict(dns=dict(servers="10.77.2.2:5353", timeout_ms=200, tries=1))).start()
        # A listener on the denied target that counts accepts.
        trap = t.backend.socket(socket.AF_INET, socket.SOCK_STREAM)
        trap.bind(("10.77.2.2", 9001))
        trap.listen(8)
        trap.setblocking(False)
        ok = t.backend.socket(socket.AF_INET, socket.SOCK_STREAM)
        ok.bind(("10.77.2.2", 9000))
        ok.listen(8)

        P = 3128
        expect(t, P, b"GET http://10.77.2.2:9000/ HTTP/1.1\r\nHost: 10.77.2.2:9000\r\n\r\n", 405, "CONNECT")
        expect(t, P, b"CONNECT 10.77.2.2:9000 HTTP/1.1\nHost: x\n\n", 400, "LF")
        expect(t, P, b"CONNECT 10.77.2.2:9000 HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", 400, "")
        expect(t, P, b"CONNECT 10.77.2.2:9000 HTTP/2.0\r\nHost: x\r\n\r\n", 505, "")
        expect(t, P, b"CONNECT 10.77.2.2:9000 HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 2000 + b"\r\n\r\n", 431, "")
        expect(t, P, b"CONNECT 10.77.2.2:9000 HTTP/1.1\r\nHost: x\r\n", 408, "in time")
        expect(t, P, b"CONNECT 10.77.2.2:9001 HTTP/1.1\r\nHost: x\r\n\r\n", 403, "deny list")
        expect(t, P, b"CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: x\r\n\r\n", 403, "default deny")
        expect(t, P, b"CONNECT 169.254.169.254:80 HTTP/1.1\r\nHost: x\r\n\r\n", 403, "default deny")
        expect(t, P, b"CONNECT 10.77.1.1:3129 HTTP/1.1\r\nHost: x\r\n\r\n", 403, "default deny")
        expect(t, P, b"CONNECT localhost:22 HTTP/1.1\r\nHost: x\r\n\r\n", 403, "default deny")
        expect(t, P, b"CONNECT 10.77.2.2:9009 HTTP/1.1\r\nHost: x\r\n\r\n", 502, "refused")
        expect(t, P, b"CONNECT no.such.name.invalid:80 HTTP/1.1\r\nHost: x\r\n\r\n", 502, "resolve")
        expect(t, P, b"CONNECT 10.77.2.3:80 HTTP/1.1\r\nHost: x\r\n\r\n", 504, "timed out")
        try:
            trap.accept()
            check(False, "the denied target was connected to")
        except BlockingIOError:
            pass
        log("every refusal answered with its status and reason; denied target saw no connection")

        A = 3129
        expect(t, A, b"CONNECT 10.77.2.2:9000 HTTP/1.1\r\nHost: x\r\n\r\n", 407, "required")
        bad = base64.b64encode(b"alice:wrong")
        r = expect(t, A, b"CONNECT 10.77.2.2:9000 HTTP/1.1\r\nHost: x\r\nProxy-Authorization: Basic " + bad + b"\r\n\r\n", 407, "refused")
        check('Proxy-Authenticate: Basic realm="kfwd"' in r, "no challenge: %r" % r)
        good = base64.b64encode(b"alice:secret")
        for _ in range(2):  # the second one from the cache
            expect(t, A, b"CONNECT 10.77.2.2:9000 HTTP/1.1\r\nHost: x\r\nProxy-Authorization: Basic " + good + b"\r\n\r\n", 200, "")
        for _ in range(2):  # end the tunnels: the target closes too
            c, _a = ok.accept()
            c.close()
        log("auth: 407 without and with wrong credentials, 200 with right ones")

        l = k.wait_stat("px", lambda l: l["active"] == 0, 10, "px idle")
        e = l["errors"]
        want = dict(http_405=1, http_400=2, http_505=1, http_431=1, http_408=1, http_403=5,
                    http_502=2, http_504=1)
        for name, n in want.items():
            check(e[name] == n, "%s: %d, want %d (%s)" % (name, e[name], n, e))
        a = k.wait_stat("au", lambda l: l["active"] == 0, 10, "au idle")
        check(a["errors"]["http_407"] == 2 and a["total"] == 4, "au %s" % a)
        k.finish()


run(main)
