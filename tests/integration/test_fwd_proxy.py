#!/usr/bin/python3
"""Plain forward proxying (absolute-form requests) through a mode connect
listener: 8 MiB down (Content-Length, chunked, close-delimited) and up
(Content-Length, chunked) SHA-256-exact, all on one client connection; the
target connection kept while the host:port stays and replaced when it
changes; pipelined requests answered in order; hop-by-hop fields not
forwarded; curl -x as a client; auth, ACL and target errors; one access-log
record per request."""
import base64
import hashlib
import json
import os
import socket
import sys
import http.client
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kfwdtest import Topology, check, log, run  # noqa: E402
from origin_util import Origin, payload  # noqa: E402

MB8 = 8 << 20
A = "10.77.2.2:8080"
B = "10.77.2.2:8081"
V6 = "[fd77:2::2]:8082"


def sha(b):
    return hashlib.sha256(b).hexdigest()


def client_conn(t, port=3128):
    s = t.client.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(60)
    s.connect(("10.77.1.1", port))
    c = http.client.HTTPConnection("10.77.1.1", port, timeout=60)
    c.sock = s
    return c


def req(c, method, url, body=None, headers=None, chunked=False):
    c.request(method, url, body=body, headers=headers or {}, encode_chunked=chunked)
    r = c.getresponse()
    data = r.read()
    return r, data


def read_response(f, head_req=False):
    """One response from a buffered socket file: (status, headers dict, body)."""
    line = f.readline()
    check(line.startswith(b"HTTP/1.1 "), "status line %r" % line)
    status = int(line.split()[1])
    hdrs = {}
    while True:
        line = f.readline()
        if line in (b"\r\n", b""):
            break
        k, v = line.decode("latin1").split(":", 1)
        hdrs[k.strip().lower()] = v.strip()
    body = b""
    if head_req or status in (204, 304) or status < 200:
        return status, hdrs, body
    if hdrs.get("transfer-encoding") == "chunked":
        while True:
            n = int(f.readline().split(b";")[0], 16)
            if n == 0:
                f.readline()
                break
            body += f.read(n)
            f.readline()
    elif "content-length" in hdrs:
        body = f.read(int(hdrs["content-length"]))
    else:
        body = f.read()
    return status, hdrs, body


def raw(t, port, data):
    s = t.client.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(20)
    s.connect(("10.77.1.1", port))
    s.sendall(data)
    return s, s.makefile("rb")


def users_file(path):
    salt = bytes(range(16))
    dk = hashlib.pbkdf2_hmac("sha256", b"secret", salt, 1000, 32)
    with open(path, "w") as f:
        f.write("alice:$pbkdf2-sha256$1000$%s$%s\n" % (base64.b64encode(salt).decode(),
                                                      base64.b64encode(dk).decode()))


def keep_alive_suite(t, k):
    c = client_conn(t)
    r, d = req(c, "GET", "http://%s/dl/%d/1" % (A, MB8))
    check(r.status == 200 and sha(d) == sha(payload(MB8, 1)), "download CL: %s %d" % (r.status, len(d)))
    p1 = r.getheader("X-Peer")
    log("8 MiB down (Content-Length): exact")
    up = payload(MB8, 2)
    r, d = req(c, "POST", "http://%s/up" % A, body=up)
    j = json.loads(d)
    check(j["length"] == MB8 and j["sha256"] == sha(up), "upload CL: %s" % j)
    check(r.getheader("X-Peer") == p1, "target connection not reused: %s vs %s" % (r.getheader("X-Peer"), p1))
    r, d = req(c, "PUT", "http://%s/up" % A, body=(up[i:i + 300000] for i in range(0, MB8, 300000)),
               chunked=True)
    j = json.loads(d)
    check(j["length"] == MB8 and j["sha256"] == sha(up), "upload chunked: %s" % j)
    check(r.getheader("X-Peer") == p1, "target connection not reused after chunked upload")
    log("8 MiB up (Content-Length, chunked): exact, same target connection")
    r, d = req(c, "GET", "http://%s/chunked/%d/3" % (A, MB8))
    check(r.status == 200 and sha(d) == sha(payload(MB8, 3)), "download chunked")
    r, d = req(c, "HEAD", "http://%s/dl/1000/1" % A)
    check(r.status == 200 and d == b"" and r.getheader("Content-Length") == "1000", "HEAD %s" % r.status)
    r, d = req(c, "GET", "http://%s/nocontent" % A)
    check(r.status == 204 and d == b"", "204")
    check(r.getheader("X-Peer") == p1, "reuse after HEAD/204")
    r, d = req(c, "GET", "http://%s/close/%d/4" % (A, MB8))
    check(r.status == 200 and sha(d) == sha(payload(MB8, 4)), "download close-delimited")
    check((r.getheader("Transfer-Encoding") or "").lower() == "chunked",
          "close-delimited body should reach an HTTP/1.1 client chunked: %s" % r.getheaders())
    log("8 MiB down chunked and close-delimited (re-framed chunked): exact; HEAD and 204 bodiless")

    hop = {"Connection": "X-Secret, keep-alive", "X-Secret": "1", "Keep-Alive": "timeout=5",
           "Proxy-Connection": "keep-alive", "TE": "trailers", "Upgrade": "h2c",
           "Trailer": "X-T", "Proxy-Authorization": "Basic Zm9vOmJhcg==", "X-End-To-End": "yes"}
    r, d = req(c, "GET", "http://%s/echo?q=1" % A, headers=hop)
    j = json.loads(d)
    names = {h[0].lower(): h[1] for h in j["headers"]}
    for h in ("connection", "x-secret", "keep-alive", "proxy-connection", "te", "upgrade",
              "trailer", "proxy-authorization"):
        check(h not in names, "hop-by-hop %s forwarded: %s" % (h, j["headers"]))
    check(names.get("x-end-to-end") == "yes" and names.get("host") == A and j["path"] == "/echo?q=1",
          "end-to-end fields / origin-form: %s" % j)
    check(names.get("via") == "1.1 kfwd" and r.getheader("Via") == "1.1 kfwd",
          "Via both ways: %s / %s" % (names.get("via"), r.getheader("Via")))
    p2 = j["peer"]
    check(p2 != p1, "the target closed after the close-delimited body: a new connection expected")
    log("hop-by-hop fields removed, origin-form path, Host from the target")

    r, d = req(c, "GET", "http://%s/echo" % B)
    pb = json.loads(d)["peer"]
    r, d = req(c, "GET", "http://%s/echo" % A)
    p3 = json.loads(d)["peer"]
    r, d = req(c, "GET", "http://%s/echo" % A)
    p4 = json.loads(d)["peer"]
    r, d = req(c, "GET", "http://%s/echo" % V6)
    j6 = json.loads(d)
    check(pb != p2 and p3 != pb and p3 != p2 and p4 == p3, "peers A %s, B %s, A %s, A %s" % (p2, pb, p3, p4))
    check(j6["peer"].startswith("fd77:2::1:"), "IPv6 target reached from %s" % j6["peer"])
    log("two origins (and an IPv6 one) on one client connection: one target connection at a time")
    c.close()
    l = k.wait_stat("px", lambda l: l["active"] == 0, 10, "px idle")
    check(l["total"] == 1, "one client connection expected, listener total %d" % l["total"])
    return 12  # requests made


def pipelined(t):
    s, f = raw(t, 3128, ("GET http://%s/dl/100000/7 HTTP/1.1\r\nHost: %s\r\n\r\n"
                         "GET http://%s/dl/200000/8 HTTP/1.1\r\nHost: %s\r\n\r\n"
                         "GET http://%s/echo HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                         % (A, A, B, B, A, A)).encode())
    st1, _h1, b1 = read_response(f)
    st2, _h2, b2 = read_response(f)
    st3, h3, b3 = read_response(f)
    check(st1 == 200 and b1 == payload(100000, 7), "pipelined 1")
    check(st2 == 200 and b2 == payload(200000, 8), "pipelined 2")
    check(st3 == 200 and json.loads(b3)["path"] == "/echo" and h3.get("connection") == "close",
          "pipelined 3: %s" % h3)
    check(f.read() == b"", "connection not closed after Connection: close")
    s.close()
    log("three pipelined requests to two origins answered in order; closed after Connection: close")


def connect_after_forward(t):
    s, f = raw(t, 3128, b"GET http://%s/echo HTTP/1.1\r\nHost: %s\r\n\r\n" % (A.encode(), A.encode()))
    st, _h, body = read_response(f)
    check(st == 200, "forwarded request before the CONNECT: %d" % st)
    # The CONNECT with a request for the tunnel right behind it, in one write.
    s.sendall(b"CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\nGET /dl/300000/31 HTTP/1.1\r\nHost: %s\r\n"
              b"\r\n" % (B.encode(), B.encode(), B.encode()))
    line = f.readline()
    check(line.startswith(b"HTTP/1.1 200 "), "CONNECT after forwarding: %r" % line)
    check(f.readline() == b"\r\n", "CONNECT answer has no fields")
    st, h, body = read_response(f)
    check(st == 200 and body == payload(300000, 31) and "via" not in h,
          "request inside the tunnel (straight from the origin): %d %s" % (st, h))
    # Bytes the client sends once the tunnel runs (the socket kept its fast-path
    # slot through the forward proxy, so only recv() can read it).
    s.sendall(b"GET /dl/200000/32 HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % B.encode())
    st, h, body = read_response(f)
    check(st == 200 and body == payload(200000, 32),
          "second request inside the tunnel: %d %s, %d bytes" % (st, h, len(body)))
    s.close()
    log("a CONNECT after a forwarded request on the same connection becomes a tunnel")


def with_curl(t):
    out1 = os.path.join(t.tmpdir, "c1")
    out2 = os.path.join(t.tmpdir, "c2")
    upf = os.path.join(t.tmpdir, "up")
    up = payload(MB8 + 12345, 9)
    with open(upf, "wb") as fh:
        fh.write(up)
    t.client.run(["curl", "-sS", "--fail", "-x", "http://10.77.1.1:3128",
                  "http://%s/dl/%d/5" % (A, MB8), "-o", out1,
                  "http://%s/chunked/%d/6" % (B, MB8), "-o", out2], timeout=60)
    for path, seed in ((out1, 5), (out2, 6)):
        with open(path, "rb") as fh:
            check(sha(fh.read()) == sha(payload(MB8, seed)), "curl download %s" % path)
    r = t.client.run(["curl", "-sS", "--fail", "-x", "http://10.77.1.1:3128", "--data-binary",
                      "@" + upf, "http://%s/up" % A], timeout=60)
    j = json.loads(r.stdout)
    check(j["length"] == len(up) and j["sha256"] == sha(up), "curl upload %s" % j)
    log("curl -x: two 8 MiB downloads on one connection and an 8 MiB upload, exact")


def errors(t, k):
    def expect(port, data, status, why):
        s, f = raw(t, port, data)
        st, h, body = read_response(f)
        s.close()
        check(st == status and why in body.decode("latin1") and h.get("connection") == "close",
              "%r: want %d %r, got %d %r" % (data[:50], status, why, st, body))
        return h
    expect(3128, b"GET https://10.77.2.2:8443/ HTTP/1.1\r\nHost: 10.77.2.2\r\n\r\n", 501, "CONNECT")
    expect(3128, b"GET /local HTTP/1.1\r\nHost: 10.77.1.1\r\n\r\n", 400, "absolute-form")
    expect(3128, b"GET http://127.0.0.1:22/ HTTP/1.1\r\nHost: x\r\n\r\n", 403, "default deny")
    expect(3128, b"GET http://10.77.2.2:9009/ HTTP/1.1\r\nHost: x\r\n\r\n", 502, "refused")
    expect(3128, b"GET http://10.77.2.2:8080/ HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
                 b"Content-Length: 1\r\n\r\nab", 400, "")
    expect(3129, b"GET http://%s/echo HTTP/1.1\r\nHost: x\r\n\r\n" % A.encode(), 405, "CONNECT")
    h = expect(3130, b"GET http://%s/echo HTTP/1.1\r\nHost: x\r\n\r\n" % A.encode(), 407, "required")
    check(h.get("proxy-authenticate") == 'Basic realm="kfwd"', "no challenge: %s" % h)
    good = base64.b64encode(b"alice:secret")
    s, f = raw(t, 3130, b"GET http://%s/echo HTTP/1.1\r\nHost: x\r\nProxy-Authorization: Basic %s\r\n\r\n"
               % (A.encode(), good) * 2)
    for _ in range(2):
        st, _h, body = read_response(f)
        check(st == 200 and "roxy-Authorization" not in body.decode(), "auth ok: %d %r" % (st, body))
    s.close()
    log("forward errors: https 501, origin-form 400, ACL 403, refused 502, smuggling 400, "
        "off 405, auth 407/200")
    e = k.wait_stat("px", lambda l: l["active"] == 0, 10, "px idle")["errors"]
    for name, n in dict(http_400=3, http_403=1, http_502=1).items():  # 501 counts as 400
        check(e[name] == n, "%s: %d, want %d (%s)" % (name, e[name], n, e))


def bad_origin(t):
    """A target that misbehaves by path: dup Content-Length, close without an
    answer, a malformed chunk after the head, or no answer at all."""
    srv = t.backend.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("10.77.2.2", 8090))
    srv.listen(16)
    held = []
    go_on = threading.Event()

    def serve():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            head = b""
            while b"\r\n\r\n" not in head:
                b = c.recv(4096)
                if not b:
                    break
                head += b
            path = head.split(b" ")[1] if head else b""
            if path == b"/dupcl":
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab")
            elif path == b"/badchunk":
                c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
                go_on.wait(20)  # until the client has the head: then break the body
                c.sendall(b"zz\r\n")
            elif path == b"/badchunk-at-once":
                c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n")
            elif path == b"/silent":
                held.append(c)
                continue
            c.close()
    threading.Thread(target=serve, daemon=True).start()
    return srv, held, go_on


def bad_targets(t, k, go_on):
    def get(port, path):
        s, f = raw(t, port, b"GET http://10.77.2.2:8090%s HTTP/1.1\r\nHost: x\r\n\r\n" % path)
        line = f.readline()
        rest = f.read()
        s.close()
        return line, rest
    line, rest = get(3128, b"/dupcl")
    check(line.startswith(b"HTTP/1.1 502 ") and b"Content-Length" in rest, "dup CL: %r %r" % (line, rest))
    line, rest = get(3128, b"/close")
    check(line.startswith(b"HTTP/1.1 502 ") and b"without answering" in rest, "no answer: %r %r" % (line, rest))
    line, rest = get(3128, b"/badchunk-at-once")
    check(line.startswith(b"HTTP/1.1 502 ") and b"bad response body" in rest, "bad chunk: %r %r" % (line, rest))
    s, f = raw(t, 3128, b"GET http://10.77.2.2:8090/badchunk HTTP/1.1\r\nHost: x\r\n\r\n")
    st, h, _ = read_response(f, head_req=True)
    first = f.read(len(b"5\r\nhello\r\n"))
    go_on.set()
    rest = f.read()
    s.close()
    check(st == 200 and h.get("transfer-encoding") == "chunked" and first == b"5\r\nhello\r\n" and rest == b"",
          "bad chunk after the head went out: the client must see a cut chunked body, got %r %r" % (first, rest))
    line, rest = get(3131, b"/silent")
    check(line.startswith(b"HTTP/1.1 504 ") and b"in time" in rest, "silent target: %r %r" % (line, rest))
    log("misbehaving targets: 502 for a bad head or no answer, a cut for a bad body, 504 for silence")
    s, f = raw(t, 3131, b"GET http://10.77.2.3/ HTTP/1.1\r\nHost: x\r\n\r\n")  # SYNs swallowed
    st, h, body = read_response(f)
    s.close()
    check(st == 504 and b"timed out" in body, "connect timeout: %d %r" % (st, body))
    for partial in (b"", b"GET http://10.77.2.2:8080/echo HTTP/1.1\r\n"):
        s, f = raw(t, 3131, b"GET http://%s/echo HTTP/1.1\r\nHost: x\r\n\r\n" % A.encode())
        st, h, body = read_response(f)
        check(st == 200, "first request %d" % st)
        s.sendall(partial)
        rest = f.read()
        s.close()
        if partial:
            check(rest.startswith(b"HTTP/1.1 408 ") and b"in time" in rest, "408 after keep-alive: %r" % rest)
        else:
            check(rest == b"", "an idle kept connection is closed without a response: %r" % rest)
    log("forward: connect timeout 504; a kept connection idle past request_timeout_ms closed, "
        "a half-sent next head 408")


def main():
    with Topology() as t:
        users = os.path.join(t.tmpdir, "users")
        users_file(users)
        origins = [Origin(t.backend, "10.77.2.2", 8080), Origin(t.backend, "10.77.2.2", 8081),
                   Origin(t.backend, "fd77:2::2", 8082, family=socket.AF_INET6)]
        k = t.kfwd([dict(name="px", bind="10.77.1.1:3128", mode="connect"),
                    dict(name="off", bind="10.77.1.1:3129", mode="connect", forward_proxy=False),
                    dict(name="au", bind="10.77.1.1:3130", mode="connect",
                         auth=dict(type="basic", users_file=users)),
                    dict(name="slow", bind="10.77.1.1:3131", mode="connect",
                         idle_timeout_ms=500, connect_timeout_ms=500,
                         request_timeout_ms=500)]).start()
        bad, _held, go_on = bad_origin(t)
        n = keep_alive_suite(t, k)
        pipelined(t)
        connect_after_forward(t)
        with_curl(t)
        errors(t, k)
        bad_targets(t, k, go_on)
        k.finish()
        recs = [json.loads(x.split(" access ", 1)[1]) for x in k.log_text().splitlines()
                if " access {" in x]
        fwd = [r for r in recs if r["listener"] == "px" and r["result"] == "forward"
               and not r["target"].endswith(":8090")]
        cut = [r for r in recs if r["target"] == "10.77.2.2:8090" and r["result"] == "forward"]
        check(len(cut) == 1 and cut[0]["close"] == "backend_reset" and cut[0]["status"] == 200,
              "the cut response's record: %s" % cut)
        check(all(r["close"] == "done" for r in fwd), "records not done: %s"
              % [r for r in fwd if r["close"] != "done"])
        want = n + 3 + 1 + 3  # keep-alive suite, pipelined, before the CONNECT, curl
        check(len(fwd) == want, "forward records: %d, want %d" % (len(fwd), want))
        tun = [r for r in recs if r["listener"] == "px" and r["result"] == "tunnel"]
        check(len(tun) == 1 and tun[0]["target"] == B and tun[0]["status"] == 200,
              "tunnel record after forwarding: %s" % tun)
        first = fwd[0]
        check(first["method"] == "GET" and first["status"] == 200 and first["close"] == "done"
              and first["target"] == A and first["bytes_down"] > MB8 and first["path"] == "userspace"
              and not first["reused"], "first record %s" % first)
        check(fwd[1]["method"] == "POST" and fwd[1]["reused"] and fwd[1]["bytes_up"] > MB8,
              "second record %s" % fwd[1])
        for o in origins:
            o.stop()
        bad.close()


run(main)
