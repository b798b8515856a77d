#!/usr/bin/python3
"""HTTPS through the CONNECT proxy to a TLS server in the backend namespace
(self-signed certificate made here with openssl): curl -x downloads and
uploads 64 MiB SHA-256-exact; a client that sends its TLS ClientHello in the
same write as the CONNECT request completes the handshake and moves 16 MiB
each way exactly."""
import hashlib
import json
import os
import socket
import ssl
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kfwdtest import Topology, check, log, run, sh  # noqa: E402
from origin_util import Origin, payload  # noqa: E402

MB64 = 64 << 20
MB16 = 16 << 20
TARGET = "10.77.2.2:8443"


def sha(b):
    return hashlib.sha256(b).hexdigest()


def make_cert(tmp):
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    sh(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=origin.test",
        "-addext", "subjectAltName=IP:10.77.2.2,DNS:origin.test"])
    return cert, key


def curl_suite(t, cert):
    out = os.path.join(t.tmpdir, "dl")
    t.client.run(["curl", "-sS", "--fail", "-x", "http://10.77.1.1:3128", "--cacert", cert,
                  "https://%s/dl/%d/21" % (TARGET, MB64), "-o", out], timeout=120)
    with open(out, "rb") as f:
        check(sha(f.read()) == sha(payload(MB64, 21)), "curl -x https download differs")
    os.unlink(out)
    log("curl -x https: 64 MiB download exact")
    upf = os.path.join(t.tmpdir, "up")
    up = payload(MB64, 22)
    with open(upf, "wb") as f:
        f.write(up)
    r = t.client.run(["curl", "-sS", "--fail", "-x", "http://10.77.1.1:3128", "--cacert", cert,
                      "--data-binary", "@" + upf, "https://%s/up" % TARGET], timeout=120)
    j = json.loads(r.stdout)
    check(j["length"] == MB64 and j["sha256"] == sha(up), "curl -x https upload: %s" % j)
    os.unlink(upf)
    log("curl -x https: 64 MiB upload exact")


class MemTls:
    """TLS over a plain socket through ssl.SSLObject, so the ClientHello can ride
    in the same write as the CONNECT request."""

    def __init__(self, cert, host):
        ctx = ssl.create_default_context(cafile=cert)
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.inc, self.out, server_hostname=host)
        self.s = None

    def first_flight(self):
        try:
            self.obj.do_handshake()
        except ssl.SSLWantReadError:
            pass
        return self.out.read()

    def _flush(self):
        d = self.out.read()
        if d:
            self.s.sendall(d)

    def _fill(self):
        d = self.s.recv(1 << 20)
        check(d, "EOF from the proxy during TLS")
        self.inc.write(d)

    def handshake(self):
        while True:
            try:
                self.obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush()
                self._fill()
        self._flush()

    def send(self, data):
        for i in range(0, len(data), 1 << 16):
            self.obj.write(data[i:i + (1 << 16)])
            self._flush()

    def recv_exact(self, n):
        got = []
        have = 0
        while have < n:
            try:
                d = self.obj.read(n - have)
                got.append(d)
                have += len(d)
            except ssl.SSLWantReadError:
                self._fill()
        return b"".join(got)

    def recv_head(self):
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += self.recv_exact(1)
        return buf


def pipelined_hello(t, cert):
    tls = MemTls(cert, "10.77.2.2")
    hello = tls.first_flight()
    check(len(hello) > 100, "no ClientHello: %d bytes" % len(hello))
    s = t.client.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(60)
    s.connect(("10.77.1.1", 3128))
    tls.s = s
    s.sendall(("CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (TARGET, TARGET)).encode() + hello)
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        check(d, "EOF before the CONNECT answer")
        buf += d
    head, rest = buf.split(b"\r\n\r\n", 1)
    check(head.startswith(b"HTTP/1.1 200"), "CONNECT answer %r" % head)
    tls.inc.write(rest)
    tls.handshake()
    log("ClientHello in the CONNECT's write: handshake done (%s)" % tls.obj.version())
    up = payload(MB16, 23)
    tls.send(b"POST /up HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n" % (TARGET.encode(), MB16))
    tls.send(up)
    h = tls.recv_head()
    n = int([x for x in h.split(b"\r\n") if x.lower().startswith(b"content-length:")][0].split(b":")[1])
    j = json.loads(tls.recv_exact(n))
    check(j["length"] == MB16 and j["sha256"] == sha(up), "upload through pipelined tunnel: %s" % j)
    tls.send(b"GET /dl/%d/24 HTTP/1.1\r\nHost: %s\r\n\r\n" % (MB16, TARGET.encode()))
    h = tls.recv_head()
    check(h.startswith(b"HTTP/1.1 200"), "download head %r" % h)
    check(sha(tls.recv_exact(MB16)) == sha(payload(MB16, 24)), "download through pipelined tunnel")
    s.close()
    log("16 MiB each way inside that TLS session: exact")


def main():
    with Topology() as t:
        cert, key = make_cert(t.tmpdir)
        origin = Origin(t.backend, "10.77.2.2", 8443, tls=(cert, key))
        k = t.kfwd([dict(name="px", bind="10.77.1.1:3128", mode="connect")]).start()
        curl_suite(t, cert)
        pipelined_hello(t, cert)
        l = k.wait_stat("px", lambda l: l["active"] == 0, 20, "px idle")
        check(l["total"] == 3 and not any(l["errors"].values()), "stats %s" % l)
        check(l["bytes_in"] > MB64 + MB16 and l["bytes_out"] > MB64 + MB16, "bytes %s" % l)
        k.finish()
        recs = [json.loads(x.split(" access ", 1)[1]) for x in k.log_text().splitlines()
                if " access {" in x]
        check(len(recs) == 3 and all(r["status"] == 200 and r["target"] == TARGET for r in recs),
              "access records %s" % recs)
        origin.stop()


run(main)
