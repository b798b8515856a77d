#!/usr/bin/python3
"""HTTP/1.1 client for the tunnel's mode "http" tests, run inside the client
namespace. Raw sockets, so framing, keep-alive and pipelining are exact.
One JSON line on stdout per command:

  req ADDR METHOD PATH [--send N] [--seed S] [--chunked] [--header 'K: V']
      one request on a fresh connection: status, headers, len, sha256, text
  keepalive ADDR     three requests on one connection, one after the other
  pipeline ADDR      three requests written at once, answers read in order
  concurrent ADDR N  N connections at once, each uploading and downloading
  raw ADDR TEXT      TEXT (with \\r\\n escapes) sent as is; the answer until EOF
  ws ADDR N S        WebSocket upgrade, N bytes of seed S echoed back
Bodies are random.Random(seed).randbytes(n); compare by SHA-256.
"""
import hashlib
import json
import random
import socket
import sys
import threading

TIMEOUT = 60


def connect(addr):
    host, port = addr.rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=TIMEOUT)


def data(n, seed):
    return random.Random(seed).randbytes(n) if n else b""


def sha(b):
    return hashlib.sha256(b).hexdigest()


def request_bytes(method, path, body=b"", chunked=False, headers=(), host="app.test"):
    h = "%s %s HTTP/1.1\r\n" % (method, path)
    if host:
        h += "Host: %s\r\n" % host
    for x in headers:
        h += x + "\r\n"
    if chunked:
        h += "Transfer-Encoding: chunked\r\n\r\n"
        out = h.encode()
        for i in range(0, len(body), 70000):
            part = body[i:i + 70000]
            out += b"%x\r\n%s\r\n" % (len(part), part)
        return out + b"0\r\n\r\n"
    if body or method in ("POST", "PUT"):
        h += "Content-Length: %d\r\n" % len(body)
    return h.encode() + b"\r\n" + body


def read_response(f, method="GET"):
    """(status, headers as a list, body) read from file f; None at EOF."""
    line = f.readline()
    if not line:
        return None
    status = int(line.split()[1])
    headers = []
    while True:
        ln = f.readline()
        if ln in (b"\r\n", b"\n", b""):
            break
        k, v = ln.decode("latin1").split(":", 1)
        headers.append([k.strip(), v.strip()])
    hd = {k.lower(): v for k, v in headers}
    if status < 200 and status != 101:
        return read_response(f, method)
    body = b""
    if method == "HEAD" or status in (101, 204, 304):
        pass
    elif "chunked" in hd.get("transfer-encoding", ""):
        parts = []
        while True:
            size = int(f.readline().split(b";")[0], 16)
            if not size:
                while f.readline() not in (b"\r\n", b""):
                    pass
                break
            parts.append(f.read(size))
            f.readline()
        body = b"".join(parts)
    elif "content-length" in hd:
        body = f.read(int(hd["content-length"]))
    else:
        body = f.read()
    return status, headers, body


def summary(r):
    if r is None:
        return dict(status=None)
    status, headers, body = r
    hd = {k.lower(): v for k, v in headers}
    out = dict(status=status, headers=headers, len=len(body), sha256=sha(body),
               conn=hd.get("x-conn"))
    if hd.get("content-type", "").startswith(("text/", "application/json")):
        out["text"] = body.decode(errors="replace")
    return out


def cmd_req(addr, method, path, *opts):
    o = dict(send=0, seed=1, chunked=False, headers=[], host="app.test")
    i = 0
    while i < len(opts):
        k = opts[i][2:]
        if k == "chunked":
            o["chunked"] = True
            i += 1
        elif k == "header":
            o["headers"].append(opts[i + 1])
            i += 2
        elif k == "nohost":
            o["host"] = None
            i += 1
        else:
            o[k] = opts[i + 1]
            i += 2
    body = data(int(o["send"]), int(o["seed"]))
    s = connect(addr)
    s.sendall(request_bytes(method, path, body, o["chunked"], o["headers"], o["host"]))
    out = summary(read_response(s.makefile("rb"), method))
    out["sent_sha256"] = sha(body)
    return out


def cmd_keepalive(addr):
    s = connect(addr)
    f = s.makefile("rb")
    out = []
    s.sendall(request_bytes("GET", "/bytes?n=100000&seed=5"))
    out.append(summary(read_response(f)))
    s.sendall(request_bytes("POST", "/sha", data(300000, 6), chunked=True))
    out.append(summary(read_response(f)))
    s.sendall(request_bytes("PUT", "/sha", data(70000, 7)))
    out.append(summary(read_response(f)))
    return dict(responses=out, expect=[sha(data(100000, 5)), sha(data(300000, 6)),
                                       sha(data(70000, 7))])


def cmd_pipeline(addr):
    s = connect(addr)
    f = s.makefile("rb")
    reqs = [request_bytes("GET", "/bytes?n=%d&seed=%d" % (n, n)) for n in (5000, 1, 200000)]
    reqs.append(request_bytes("POST", "/sha", data(123456, 9)))
    s.sendall(b"".join(reqs))
    out = [summary(read_response(f)) for _ in range(4)]
    return dict(responses=out, expect=[sha(data(n, n)) for n in (5000, 1, 200000)] +
                [sha(data(123456, 9))])


def cmd_concurrent(addr, n):
    n = int(n)
    results = [None] * n
    start = threading.Barrier(n, timeout=TIMEOUT)

    def one(i):
        try:
            s = connect(addr)
            start.wait()
            body = data(20000 + i, 1000 + i)
            s.sendall(request_bytes("POST", "/sha", body))
            r = summary(read_response(s.makefile("rb")))
            up = json.loads(r.get("text", "{}")).get("sha256") == sha(body)
            s.sendall(request_bytes("GET", "/bytes?n=%d&seed=%d" % (30000 + i, i)))
            r2 = summary(read_response(s.makefile("rb")))
            down = r2.get("sha256") == sha(data(30000 + i, i))
            results[i] = r["status"] == 200 and r2["status"] == 200 and up and down
        except Exception as e:  # noqa: BLE001 - counted as a failure
            results[i] = "%s" % e
    ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(TIMEOUT * 2)
    ok = sum(1 for r in results if r is True)
    return dict(ok=ok, n=n, failures=[r for r in results if r is not True][:5])


def cmd_raw(addr, text):
    s = connect(addr)
    s.sendall(text.encode().decode("unicode_escape").encode("latin1"))
    r = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        r += b
    return dict(text=r.decode("latin1"))


def cmd_ws(addr, n, seed):
    body = data(int(n), int(seed))
    s = connect(addr)
    s.sendall(request_bytes("GET", "/ws", headers=["Connection: Upgrade", "Upgrade: websocket",
                                                   "Sec-WebSocket-Key: dGhlIHNhbXBsZQ==",
                                                   "Sec-WebSocket-Version: 13"]))
    f = s.makefile("rb")
    status, headers, _ = read_response(f)

    def send():
        s.sendall(body)
        s.shutdown(socket.SHUT_WR)
    t = threading.Thread(target=send)
    t.start()
    echo = f.read()
    t.join()
    return dict(status=status, headers=headers, len=len(echo), sha256=sha(echo),
                sent_sha256=sha(body))


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    out = globals()["cmd_" + cmd](*args)
    print(json.dumps(out), flush=True)


main()
