#!/usr/bin/python3
"""A small HTTP/1.1 origin for the tunnel's mode "http" tests (keep-alive,
one thread per connection). Run inside the backend namespace:

  http_upstream.py IP:PORT

Prints "listening" once bound. Routes (any method):
  /bytes?n=N&seed=S[&chunked=1]  N bytes of random.Random(S).randbytes(N),
                                 Content-Length framed or chunked
  /sha                           reads the body (Content-Length or chunked)
                                 and answers JSON: sha256, len, framing, the
                                 request's headers and the connection number
  /sleep?s=S                     answers after S seconds
  /ws                            with Upgrade: websocket: 101, then echoes
                                 raw bytes until the client's FIN
Every response carries X-Conn: the number of the TCP connection it came on.
"""
import hashlib
import itertools
import json
import random
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

CONNS = itertools.count(1)


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        self.conn_no = next(CONNS)

    def log_message(self, *a):
        pass

    def body_chunks(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return
                left = size
                while left:
                    b = self.rfile.read(min(left, 1 << 20))
                    if not b:
                        raise ConnectionError("EOF in chunk")
                    left -= len(b)
                    yield b
                self.rfile.readline()
        n = int(self.headers.get("Content-Length", "0"))
        while n:
            b = self.rfile.read(min(n, 1 << 20))
            if not b:
                raise ConnectionError("EOF in body")
            n -= len(b)
            yield b

    def reply(self, code, data, ctype="application/octet-stream", chunked=False):
        """data: bytes, or a function making them once the head is out."""
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("X-Conn", str(self.conn_no))
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.flush()
            data = data() if callable(data) else data
            for i in range(0, len(data), 100000):
                part = data[i:i + 100000]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        else:
            length = self.length if callable(data) else len(data)
            self.send_header("Content-Length", str(length))
            self.end_headers()
            self.wfile.flush()
            data = data() if callable(data) else data
            if self.command != "HEAD":
                self.wfile.write(data)
        self.wfile.flush()

    def websocket(self):
        self.send_response(101)
        self.send_header("Connection", "Upgrade")
        self.send_header("Upgrade", "websocket")
        self.send_header("Sec-WebSocket-Accept", "dummy")
        self.end_headers()
        self.wfile.flush()
        while True:
            b = self.rfile.read1(65536)
            if not b:
                break
            self.wfile.write(b)
            self.wfile.flush()
        self.close_connection = True

    def route(self):
        u = urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(u.query).items()}
        if u.path == "/ws" and self.headers.get("Upgrade", "").lower() == "websocket":
            return self.websocket()
        h = hashlib.sha256()
        n = 0
        for b in self.body_chunks():
            h.update(b)
            n += len(b)
        if u.path == "/bytes":
            # The head goes first: making 64 MiB takes a while on a busy machine.
            n, seed = int(q["n"]), int(q.get("seed", 1))
            self.length = n
            return self.reply(200, lambda: random.Random(seed).randbytes(n),
                              chunked=q.get("chunked") == "1")
        if u.path == "/sleep":
            time.sleep(float(q.get("s", 10)))
            return self.reply(200, b"late\n", "text/plain")
        if u.path == "/sha":
            framing = ("chunked" if "chunked" in self.headers.get("Transfer-Encoding", "")
                       else "length" if "Content-Length" in self.headers else "none")
            out = dict(sha256=h.hexdigest(), len=n, framing=framing, conn=self.conn_no,
                       method=self.command, path=self.path,
                       headers=[[k, v] for k, v in self.headers.items()])
            return self.reply(200, json.dumps(out).encode(), "application/json")
        return self.reply(404, b"no such route\n", "text/plain")

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = route


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.allow_reuse_address = True
    ThreadingHTTPServer.request_queue_size = 1024  # 200 connections arrive at once
    srv = ThreadingHTTPServer((host, int(port)), H)
    print("listening", flush=True)
    srv.serve_forever()


main()
