#!/usr/bin/python3
"""QUIC tunnel, mode = "connect": a CONNECT to a listener that goes via the
tunnel is carried as an HTTP/3 CONNECT stream; bytes pipelined behind the
head arrive first and in order, both directions SHA-256-exact; a target not
in upstreams.allow gets 403 with the peer's Proxy-Status and a body; a
non-CONNECT request gets 405 with Allow, an unfinished head 408 after
request_timeout_ms; while the tunnel is down a CONNECT
gets 503 at once. The server resolves a name target without blocking (c-ares,
here from /etc/hosts) and answers 502 for a refused and 504 for a silent
target."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kfwdtest import Kfwd, Topology, check, log, run, wait_for  # noqa: E402
from tunnel_util import certs, client_conf, server_conf, tunnel_state  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SIZE = 8 << 20
PROXY = "10.77.1.1:3129"


def connect(t, target, *args):
    return t.client.connect_client(PROXY, target, "--timeout", 30, *args).one_json(60)


def raw(t, request):
    """Send request (its \\r\\n escapes decoded); return all the proxy answers until it closes."""
    return t.client.popen(["python3", os.path.join(HERE, "http_tunnel_client.py"), "raw", PROXY,
                           request]).one_json(30)["text"]


def main():
    with Topology() as t:
        d = t.tmpdir
        certs(d)
        srv = Kfwd(t, [], name="srv")
        srv.write_config(server_conf(srv, d, ["10.77.2.2:9000", "localhost:9100", "10.77.2.2:9002",
                                              "10.77.2.3:9000"]))
        cli = Kfwd(t, [], name="cli")
        cli.write_config(client_conf(cli, d, [dict(name="prox", bind=PROXY, mode="connect",
                                                   via="tunnel", request_timeout_ms=1000)]))
        srv.start()
        cli.start()
        wait_for(lambda: (tunnel_state(cli) or {}).get("state") == "up", 10, "tunnel up")

        backend = t.backend.peer("server", "--listen", "10.77.2.2:9000", "--send", SIZE,
                                 "--seed", 9, "--conns", 1).wait_listening()
        c = connect(t, "10.77.2.2:9000", "--send", str(SIZE), "--seed", "5", "--early")
        bc, bs = backend.result(60)
        check(bc == 0 and len(bs) == 1, "backend exit %s %s" % (bc, bs))
        b = bs[0]
        check(c["status"] == 200, "status %s" % c)
        check(b["rx_bytes"] == SIZE and b["rx_sha256"] == c["tx_sha256"], "up differs: %s %s" % (b, c))
        check(c["rx_bytes"] == SIZE and c["rx_sha256"] == b["tx_sha256"], "down differs: %s %s" % (b, c))
        log("connect via tunnel: 8 MiB each way exact, the first MiB pipelined behind the head")

        name = t.gw.peer("server", "--listen", "127.0.0.1:9100", "--send", 1 << 20, "--seed", 11,
                         "--conns", 1).wait_listening()
        c = connect(t, "localhost:9100", "--send", str(1 << 20), "--seed", "12")
        nc, ns = name.result(30)
        check(nc == 0 and c["status"] == 200, "name target: %s %s" % (nc, c))
        check(ns[0]["rx_sha256"] == c["tx_sha256"] and c["rx_sha256"] == ns[0]["tx_sha256"],
              "name target exact: %s %s" % (ns, c))

        c = connect(t, "10.77.2.2:9002")
        check(c["status"] == 502 and "connection_refused" in c["head"], "refused: %s" % c)
        c = connect(t, "10.77.2.3:9000")
        check(c["status"] == 504 and "connection_timeout" in c["head"], "silent: %s" % c)

        c = connect(t, "10.77.2.2:9001")
        check(c["status"] == 403, "not allowed: %s" % c)
        check("destination_ip_prohibited" in c["head"], "Proxy-Status passed on: %s" % c["head"])
        check(c.get("body", "").strip() != "", "403 has a body: %s" % c)

        c = connect(t, "10.77.2.2")
        check(c["status"] == 400, "no port: %s" % c)

        r = raw(t, "GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
        check(r.startswith("HTTP/1.1 405 ") and "Allow: CONNECT" in r, "405: %r" % r[:200])
        r = raw(t, "CONNECT 10.77.2.2:9000 HTTP/1.1\\r\\n")
        check(r.startswith("HTTP/1.1 408 "), "unfinished head: %r" % r[:200])

        srv.stop()
        wait_for(lambda: (tunnel_state(cli) or {}).get("state") != "up", 15, "tunnel down")
        c = connect(t, "10.77.2.2:9000")
        check(c["status"] == 503 and "tunnel down" in c["head"], "503 while down: %s" % c)
        # The peer's 502, 504 and 403 and our 503; 400/405 never became
        # streams. The tunnel thread publishes its counters on a timer: wait.
        wait_for(lambda: tunnel_state(cli)["streams_refused"] == 4, 5,
                 "both refusals counted: %s" % json.dumps(tunnel_state(cli)))
        # The listener's own counters: every answer by its status, every
        # connection closed again.
        want = {"http_400": 1, "http_403": 1, "http_405": 1, "http_408": 1, "http_502": 1,
                "http_504": 1, "tunnel_down": 1}
        l = cli.wait_stat("prox", lambda l: l["active"] == 0, 10, "all connections closed")
        errs = {k: v for k, v in l["errors"].items() if v}
        check(l["path"] == "tunnel" and l["total"] == 9 and errs == want,
              "listener counters %s, errors %s, want %s" % (l, errs, want))
        check(l["bytes_in"] > SIZE + (1 << 20) and l["bytes_out"] > SIZE + (1 << 20),
              "bytes each way: the two exact transfers and the heads: %s" % l)
        cli.finish()


run(main)
