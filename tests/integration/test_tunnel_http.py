#!/usr/bin/python3
"""QUIC tunnel, mode = "http": HTTP/1.1 requests on a client listener become
HTTP/3 request streams; the server sends them as HTTP/1.1 to upstreams.http
(a Python origin in the backend namespace) over a keep-alive pool.

Checked: bodies of 0 B, 1 B, 64 KiB and 64 MiB byte-exact both ways (upload
compared by the SHA-256 the origin echoes, download by SHA-256), chunked
upload and chunked download; hop-by-hop fields removed, Host kept and
Forwarded added; three requests on one client connection, the last two
reusing the server's upstream connection; pipelined requests answered in
order; 200 concurrent connections all byte-exact; a WebSocket upgrade
carried as a byte stream both ways; a request without Host -> 400; a silent
upstream -> 504; the upstream down -> 502 naming the cause; the tunnel
server stopped -> 503 at once."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kfwdtest import Kfwd, Topology, check, log, run, wait_for  # noqa: E402
from tunnel_util import certs, client_conf, server_conf, tunnel_state  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
LSN = "10.77.1.1:8080"
UPSTREAM = "10.77.2.2:8081"
MIB = 1 << 20


def client(t, *args, timeout=180):
    return t.client.popen(["python3", os.path.join(HERE, "http_tunnel_client.py")] +
                         [str(a) for a in args], name="client-%s" % args[0]).one_json(timeout)


def upstream(t):
    p = t.backend.popen(["python3", os.path.join(HERE, "http_upstream.py"), UPSTREAM])
    p.wait_line(lambda ln: ln == "listening", 60, "upstream listening")
    return p


def req(t, method, path, *opts):
    return client(t, "req", LSN, method, path, *opts)


def sizes(t):
    for n in (0, 1, 64 << 10, 64 * MIB):
        r = req(t, "GET", "/bytes?n=%d&seed=%d" % (n, n + 3))
        check(r["status"] == 200 and r["len"] == n, "download %d: %s" % (n, r.get("len")))
        log("%d bytes down" % n)
        want = client_sha(t, n, n + 3)
        check(r["sha256"] == want, "download %d byte-exact" % n)
        r = req(t, "POST", "/sha", "--send", n, "--seed", n + 4)
        log("%d bytes up" % n)
        got = json.loads(r["text"])
        check(r["status"] == 200 and got["len"] == n and got["sha256"] == r["sent_sha256"],
              "upload %d byte-exact: %s" % (n, {k: got[k] for k in ("len", "framing")}))
        log("%d bytes both ways: exact" % n)


def client_sha(t, n, seed):
    p = t.client.popen(["python3", "-c", "import hashlib,random,sys;"
                        "print(hashlib.sha256(random.Random(%d).randbytes(%d)).hexdigest()"
                        " if %d else hashlib.sha256(b'').hexdigest())" % (seed, n, n)])
    check(p.wait(60) == 0, "sha helper")
    p._t.join(10)
    return p.lines[0]


def framing_and_headers(t):
    r = req(t, "POST", "/sha", "--send", 5 * MIB + 17, "--seed", 11, "--chunked",
            "--header", "Connection: close, X-Hop", "--header", "X-Hop: secret",
            "--header", "Keep-Alive: timeout=5", "--header", "X-End: kept")
    got = json.loads(r["text"])
    check(got["sha256"] == r["sent_sha256"] and got["framing"] == "chunked",
          "chunked upload exact and chunked upstream: %s" % got["framing"])
    names = {k.lower(): v for k, v in got["headers"]}
    check("x-hop" not in names and "keep-alive" not in names, "hop-by-hop removed: %s" % names)
    check(names.get("x-end") == "kept" and names.get("host") == "app.test",
          "end-to-end fields and Host kept: %s" % names)
    check(names.get("forwarded", "").startswith("for=10.77.1.2"), "Forwarded added: %s" % names)
    r = req(t, "GET", "/bytes?n=%d&seed=12&chunked=1" % (3 * MIB + 5))
    hd = {k.lower(): v for k, v in r["headers"]}
    check(r["len"] == 3 * MIB + 5 and r["sha256"] == client_sha(t, 3 * MIB + 5, 12),
          "chunked download exact")
    check(hd.get("transfer-encoding") == "chunked", "no content-length: chunked to the client")


def keepalive_pipeline(t):
    r = client(t, "keepalive", LSN)
    rs = r["responses"]
    check([x["status"] for x in rs] == [200] * 3, "keep-alive statuses %s" % rs)
    check(rs[0]["sha256"] == r["expect"][0], "keep-alive 1 exact")
    for i in (1, 2):
        check(json.loads(rs[i]["text"])["sha256"] == r["expect"][i], "keep-alive %d exact" % i)
    conns = [x["conn"] for x in rs]
    check(len(set(conns)) == 1, "one upstream connection reused for all three: %s" % conns)
    r = client(t, "pipeline", LSN)
    rs = r["responses"]
    check([x["status"] for x in rs] == [200] * 4, "pipelined statuses")
    check([x["sha256"] for x in rs[:3]] == r["expect"][:3], "pipelined answers in order")
    check(json.loads(rs[3]["text"])["sha256"] == r["expect"][3], "pipelined upload exact")


def srv_conf(srv, d, response_timeout_ms):
    return server_conf(srv, d, ["10.77.2.2:9000"], upstreams=(
        'http = "%s"; response_timeout_ms = %d; pool_idle = 8;' % (UPSTREAM,
                                                                   response_timeout_ms)))


def main():
    with Topology() as t:
        d = t.tmpdir
        certs(d)
        up = upstream(t)
        srv = Kfwd(t, [], name="srv")
        srv.write_config(srv_conf(srv, d, 30000))
        cli = Kfwd(t, [], name="cli")
        cli.write_config(client_conf(cli, d, [dict(name="api", bind=LSN, mode="http",
                                                   via="tunnel", forwarded=True)]))
        srv.start()
        cli.start()
        wait_for(lambda: (tunnel_state(cli) or {}).get("state") == "up", 10, "tunnel up")

        sizes(t)
        framing_and_headers(t)
        keepalive_pipeline(t)

        r = client(t, "concurrent", LSN, 200)
        check(r["ok"] == 200, "200 concurrent: %d ok, failures %s" % (r["ok"], r["failures"]))

        r = client(t, "ws", LSN, 2 * MIB, 21)
        check(r["status"] == 101 and r["sha256"] == r["sent_sha256"] and r["len"] == 2 * MIB,
              "WebSocket relayed both ways: %s" % {k: r[k] for k in ("status", "len")})

        r = req(t, "GET", "/bytes?n=1", "--nohost")
        check(r["status"] == 400, "no Host -> 400: %s" % r)
        r = client(t, "raw", LSN, "GET /bytes?n=1 HTTP/1.0\\r\\n\\r\\n")
        check(r["text"].startswith("HTTP/1.1 400"), "HTTP/1.0 without Host -> 400: %r" %
              r["text"][:40])

        # A short response timeout (the default one leaves a busy machine time
        # to answer the 200 above): the server restarts with it.
        srv.stop()
        srv.write_config(srv_conf(srv, d, 2000))
        srv.start()
        wait_for(lambda: (tunnel_state(cli) or {}).get("state") == "up", 15, "tunnel up again")
        r = req(t, "GET", "/sleep?s=6")
        check(r["status"] == 504 and "no response head" in r.get("text", ""),
              "silent upstream -> 504: %s" % r)

        up.stop()
        r = req(t, "GET", "/bytes?n=10")
        check(r["status"] == 502 and "refused" in r.get("text", "").lower(),
              "upstream down -> 502 naming the cause: %s" % r)
        up = upstream(t)
        r = req(t, "GET", "/bytes?n=10&seed=1")
        check(r["status"] == 200 and r["len"] == 10, "upstream back: %s" % r)

        srv.stop()
        wait_for(lambda: tunnel_state(cli)["state"] != "up", 15, "client sees the tunnel down")
        r = req(t, "GET", "/bytes?n=10")
        check(r["status"] == 503, "tunnel down -> 503: %s" % r)
        l = cli.wait_stat("api", lambda l: l["errors"]["tunnel_down"] >= 1, 5, "503 counted")
        check(l["path"] == "tunnel" and l["total"] > 200 and l["bytes_in"] > 64 << 20 and
              l["bytes_out"] > 64 << 20, "listener counters: %s" % l)
        up.stop()
        cli.finish()


run(main)
