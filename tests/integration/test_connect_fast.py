#!/usr/bin/python3
"""CONNECT tunnels spliced by the kernel after the 200 (listener fastpath at its
default): a live tunnel is listed in `kfwd flows` with its target and exact
counts (the request head left out); 200 short tunnels whose client pipelines
bytes behind the CONNECT head and whose target speaks first, and one large
tunnel each way, all SHA-256 exact; the kernel moved bytes both ways
(kernel_bytes_*), and every access-log record says path "fastpath"."""
import hashlib
import json
import os
import random
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kfwdtest import Topology, check, log, run, wait_for  # noqa: E402

PROXY = ("10.77.1.1", 3128)
SHORT = 200
BANNER = 3000      # bytes each short tunnel's target sends as soon as it accepts
BIG = 32 << 20


def recv_exact(s, n):
    got = b""
    while len(got) < n:
        chunk = s.recv(n - len(got))
        check(chunk, "closed after %d of %d bytes" % (len(got), n))
        got += chunk
    return got


def connect(t, target, early=b""):
    """A client socket through the proxy to target; early goes in the same write as the head."""
    s = t.client.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(20)
    s.connect(PROXY)
    s.sendall(("CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (target, target)).encode() + early)
    head = b""
    while b"\r\n\r\n" not in head:
        b = s.recv(1)
        check(b, "proxy closed before its answer: %r" % head)
        head += b
    check(head.startswith(b"HTTP/1.1 200 "), "answer %r" % head)
    return s


def live_tunnel(t, k):
    srv = t.backend.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("10.77.2.2", 9100))
    srv.listen()
    srv.settimeout(10)
    cli = connect(t, "10.77.2.2:9100", b"e" * 700)
    conn, _ = srv.accept()
    conn.settimeout(10)
    cli.sendall(b"x" * 300)
    check(recv_exact(conn, 1000) == b"e" * 700 + b"x" * 300, "client bytes")
    conn.sendall(b"y" * 300000)
    check(recv_exact(cli, 300000) == b"y" * 300000, "target bytes")
    flows = wait_for(lambda: (lambda f: f if f and f[0]["bytes_out"] == 300000 else None)(
        k.flows()["flows"]), 5, "the tunnel in kfwd flows")
    log("kfwd flows --json: %s" % flows)
    check(len(flows) == 1, "one flow: %s" % flows)
    f = flows[0]
    check(f["listener"] == "px" and f["backend"] == "10.77.2.2:9100", "flow %s" % f)
    check(f["client"] == "10.77.1.2:%d" % cli.getsockname()[1], "client %s" % f)
    check(f["bytes_in"] == 1000, "bytes_in counts the relayed bytes, not the head: %s" % f)
    cli.close()
    check(conn.recv(10) == b"", "EOF at the target")
    conn.close()
    srv.close()
    wait_for(lambda: k.flows()["flows"] == [], 5, "the tunnel to leave the flow table")


def short_tunnels(t):
    srv = t.backend.peer("server", "--listen", "10.77.2.2:9000", "--conns", SHORT, "--send", BANNER,
                         "--seed", 500, "--timeout", 60000).wait_listening()
    rng = random.Random(42)
    sent, got = [], []
    for i in range(SHORT):
        early = rng.randbytes(rng.randint(1, 20000))
        rest = rng.randbytes(rng.randint(0, 5000))
        s = connect(t, "10.77.2.2:9000", early)
        s.sendall(rest)
        s.shutdown(socket.SHUT_WR)
        data = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
        s.close()
        sent.append((len(early) + len(rest), hashlib.sha256(early + rest).hexdigest()))
        got.append((len(data), hashlib.sha256(data).hexdigest()))
    rc, sc = srv.result(60)
    check(rc == 0 and len(sc) == SHORT, "server exit %s, %d reports" % (rc, len(sc)))
    check(sorted(sent) == sorted((c["rx_bytes"], c["rx_sha256"]) for c in sc),
          "client->target streams differ")
    check(sorted(got) == sorted((c["tx_bytes"], c["tx_sha256"]) for c in sc),
          "target->client streams differ (server-first bytes)")


def big_tunnel(t, port, *args):
    target = "10.77.2.2:%d" % port
    srv = t.backend.peer("server", "--listen", target, "--conns", 1, "--send", BIG, "--seed", 77,
                         "--timeout", 120000).wait_listening()
    c = t.client.connect_client("%s:%d" % PROXY, target, "--send", BIG, "--seed", 8,
                                *args).one_json(150)
    src, sc = srv.result(30)
    check(src == 0 and len(sc) == 1, "server exit %s %s" % (src, sc))
    s = sc[0]
    check(s["rx_bytes"] == BIG and s["rx_sha256"] == c["tx_sha256"], "up differs %s %s" % (s, c))
    check(c["rx_bytes"] == BIG and c["rx_sha256"] == s["tx_sha256"], "down differs %s %s" % (s, c))


def main():
    with Topology() as t:
        k = t.kfwd([dict(name="px", bind="10.77.1.1:3128", mode="connect",
                         allow=["10.77.2.0/24"])]).start()
        st = k.stats()
        check(st["listeners"][0]["path"] == "fastpath", "listener path %s" % st["listeners"][0])
        live_tunnel(t, k)
        log("a live tunnel is listed in kfwd flows with exact counts")
        short_tunnels(t)
        log("%d short tunnels, pipelined early bytes and server-first targets: exact" % SHORT)
        big_tunnel(t, 9001)
        big_tunnel(t, 9002, "--early")
        log("32 MiB each way, plain and pipelined: exact")
        l = k.wait_stat("px", lambda l: l["active"] == 0, 10, "active back to 0")
        log("stats: %s" % json.dumps(l))
        n = 1 + SHORT + 2
        check(l["total"] == n and l["spliced"] == n, "total/spliced %s" % l)
        check(not any(l["errors"].values()), "errors counted: %s" % l["errors"])
        check(l["kernel_bytes_in"] > 0 and l["kernel_bytes_out"] > 0, "the kernel moved nothing: %s" % l)
        log("kernel share: up %.1f %%, down %.1f %%" % (100.0 * l["kernel_bytes_in"] / l["bytes_in"],
                                                     100.0 * l["kernel_bytes_out"] / l["bytes_out"]))
        k.finish()
        recs = [json.loads(x.split(" access ", 1)[1]) for x in k.log_text().splitlines()
                if " access {" in x]
        check(len(recs) == n, "%d access records" % len(recs))
        check(all(r["path"] == "fastpath" and r["close"] == "eof" for r in recs),
              "records %s" % [r for r in recs if r["path"] != "fastpath" or r["close"] != "eof"][:3])
        big = [r for r in recs if r["target"] in ("10.77.2.2:9001", "10.77.2.2:9002")]
        check(all(r["bytes_up"] == BIG and r["bytes_down"] == BIG for r in big), "big %s" % big)


run(main)
