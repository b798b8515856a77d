"""Test servers for the forward proxy's tests, run in the test process on
sockets made inside a namespace (Netns.socket):

Origin   an HTTP/1.1 server (optionally TLS). Paths:
           /dl/N/SEED      N pseudo-random bytes (random.Random(SEED)), Content-Length
           /chunked/N/SEED the same, chunked
           /close/N/SEED   the same, close-delimited (no length, connection closed after)
           /echo           JSON: method, path, received header fields, peer
           /nocontent      204
           POST|PUT /up    JSON: length and SHA-256 of the body (Content-Length or chunked)
         Every response names the connection it came on in X-Peer (ip:port of the
         proxy's socket), so a test can tell reuse from a new connection.
TinyDns  a UDP DNS responder answering A/AAAA from fixed tables (NXDOMAIN otherwise).
"""
import hashlib
import json
import random
import socket
import ssl
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def payload(n, seed):
    return random.Random(seed).randbytes(n)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _peer(self):
        return "%s:%d" % self.client_address[:2]

    def _send(self, code, body, ctype="application/json", extra=()):
        self.send_response(code)
        self.send_header("X-Peer", self._peer())
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        parts = self.path.split("?")[0].split("/")
        kind = parts[1] if len(parts) > 1 else ""
        if kind == "echo":
            self.server.seen.append(self._peer())
            body = json.dumps(dict(method=self.command, path=self.path, peer=self._peer(),
                                   headers=[[k, v] for k, v in self.headers.items()])).encode()
            self._send(200, body)
        elif kind == "nocontent":
            self.send_response(204)
            self.send_header("X-Peer", self._peer())
            self.end_headers()
        elif kind in ("dl", "chunked", "close") and len(parts) == 4:
            data = payload(int(parts[2]), int(parts[3]))
            if kind == "dl":
                self._send(200, data, "application/octet-stream")
                return
            self.send_response(200)
            self.send_header("X-Peer", self._peer())
            if kind == "chunked":
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            if self.command == "HEAD":
                return
            rnd = random.Random(len(data))
            i = 0
            while i < len(data):
                n = rnd.randint(1, 200000)
                piece = data[i:i + n]
                i += n
                if kind == "chunked":
                    self.wfile.write(b"%x\r\n" % len(piece) + piece + b"\r\n")
                else:
                    self.wfile.write(piece)
            if kind == "chunked":
                self.wfile.write(b"0\r\n\r\n")
        else:
            self._send(404, b"{}")

    def _read_body(self):
        h = hashlib.sha256()
        n = 0
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                left = size
                while left:
                    b = self.rfile.read(min(left, 1 << 20))
                    h.update(b)
                    n += len(b)
                    left -= len(b)
                self.rfile.readline()
        else:
            left = int(self.headers.get("Content-Length", "0"))
            while left:
                b = self.rfile.read(min(left, 1 << 20))
                if not b:
                    break
                h.update(b)
                n += len(b)
                left -= len(b)
        return n, h.hexdigest()

    def do_POST(self):
        n, sha = self._read_body()
        body = json.dumps(dict(method=self.command, path=self.path, length=n, sha256=sha,
                               peer=self._peer(),
                               headers=[[k, v] for k, v in self.headers.items()])).encode()
        self._send(200, body)

    do_PUT = do_POST


class Origin:
    """ThreadingHTTPServer on ns's address (host, port); tls=(cert, key) for HTTPS."""

    def __init__(self, ns, host, port, tls=None, family=socket.AF_INET):
        s = ns.socket(family, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))
        s.listen(512)
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            s = ctx.wrap_socket(s, server_side=True)
        srv = ThreadingHTTPServer((host, port), _Handler, bind_and_activate=False)
        srv.socket = s
        srv.daemon_threads = True
        srv.seen = []
        self.srv = srv
        self.t = threading.Thread(target=srv.serve_forever, kwargs=dict(poll_interval=0.1),
                                  daemon=True)
        self.t.start()

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


def _name(msg, off):
    labels = []
    while True:
        n = msg[off]
        off += 1
        if n == 0:
            return ".".join(labels).lower(), off
        labels.append(msg[off:off + n].decode())
        off += n


class TinyDns:
    """Answers A from v4 {name: [addr]} and AAAA from v6, TTL 1 s; NODATA for a known
    name without records of the asked type, NXDOMAIN for unknown names."""

    def __init__(self, ns, host, port, v4, v6=None):
        self.v4, self.v6 = v4, v6 or {}
        self.asked = []
        self.s = ns.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind((host, port))
        self.s.settimeout(0.2)
        self.stopping = False
        self.t = threading.Thread(target=self._serve, daemon=True)
        self.t.start()

    def _serve(self):
        while not self.stopping:
            try:
                msg, peer = self.s.recvfrom(2048)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                self.s.sendto(self._answer(msg), peer)
            except (IndexError, ValueError, struct.error, OSError):
                pass

    def _answer(self, msg):
        qid, _flags, qd = struct.unpack("!HHH", msg[:6])
        name, off = _name(msg, 12)
        qtype, _qclass = struct.unpack("!HH", msg[off:off + 4])
        question = msg[12:off + 4]
        self.asked.append((name, qtype))
        known = name in self.v4 or name in self.v6
        addrs = []
        if qtype == 1:
            addrs = [socket.inet_pton(socket.AF_INET, a) for a in self.v4.get(name, [])]
        elif qtype == 28:
            addrs = [socket.inet_pton(socket.AF_INET6, a) for a in self.v6.get(name, [])]
        rcode = 0 if known else 3
        head = struct.pack("!HHHHHH", qid, 0x8180 | rcode, 1, len(addrs), 0, 0)
        ans = b"".join(struct.pack("!HHHIH", 0xC00C, qtype, 1, 1, len(a)) + a for a in addrs)
        return head + question + ans

    def stop(self):
        self.stopping = True
        self.t.join(2)
