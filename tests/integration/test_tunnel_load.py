#!/usr/bin/python3
"""QUIC tunnel under load: NFWD forward streams and NCONNECT CONNECT streams,
all open at once on the one tunnel connection, each sending STREAM bytes that
an echo server in the backend sends back; every echo is SHA-256-exact. Then
one forward stream of BIG bytes each way at once, byte-exact. The tunnel
stays one connection throughout and ends with no stream open."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kfwdtest import Kfwd, Topology, assert_exact, check, log, run, transfer, wait_for  # noqa
from tunnel_util import certs, client_conf, server_conf, tunnel_state  # noqa: E402

NFWD = 150
NCONNECT = 50
STREAM = 300 << 10
BIG = 64 << 20
FWD = "10.77.1.1:8080"
PROXY = "10.77.1.1:3129"
ECHO = "10.77.2.2:9000"

# N CONNECT streams at once from one process: each thread sends its bytes
# behind the request head and reads the echo until EOF; one JSON line each.
CONNECTS = r"""
import hashlib, json, random, socket, sys, threading
proxy, target, n, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
start = threading.Barrier(n)
out, lock = [], threading.Lock()

def one(i):
    data = random.Random(1000 + i).randbytes(size)
    r = dict(i=i, status=None, tx_bytes=size, tx_sha256=hashlib.sha256(data).hexdigest(),
             rx_bytes=0, rx_sha256=None, error=None)
    try:
        start.wait(30)
        host, port = proxy.rsplit(":", 1)
        s = socket.create_connection((host, int(port)), timeout=120)
        s.sendall(("CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (target, target)).encode())
        head = b""
        while b"\r\n\r\n" not in head and len(head) < 65536:
            b = s.recv(4096)
            if not b:
                break
            head += b
        h, _, rest = head.partition(b"\r\n\r\n")
        r["status"] = int(h.split()[1]) if h.startswith(b"HTTP/1.1 ") else None
        got = hashlib.sha256(rest)
        r["rx_bytes"] = len(rest)

        def reader():
            for _ in range(1 << 20):  # bounded: one chunk per round, EOF ends it
                b = s.recv(65536)
                if not b:
                    return
                got.update(b)
                r["rx_bytes"] += len(b)
        th = threading.Thread(target=reader)
        th.start()
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        th.join(120)
        r["rx_sha256"] = got.hexdigest()
        s.close()
    except Exception as e:  # reported, not raised: the test names the stream
        r["error"] = repr(e)
    with lock:
        out.append(r)

ths = [threading.Thread(target=one, args=(i,)) for i in range(n)]
for t in ths:
    t.start()
for t in ths:
    t.join(180)
for r in out:
    print(json.dumps(r))
"""


def main():
    with Topology() as t:
        d = t.tmpdir
        certs(d)
        srv = Kfwd(t, [], name="srv")
        srv.write_config(server_conf(srv, d, [ECHO]))
        cli = Kfwd(t, [], name="cli")
        cli.write_config(client_conf(cli, d, [
            dict(name="db", bind=FWD, via="tunnel", target=ECHO),
            dict(name="prox", bind=PROXY, mode="connect", via="tunnel")]))
        srv.start()
        cli.start()
        wait_for(lambda: (tunnel_state(cli) or {}).get("state") == "up", 10, "tunnel up")

        n = NFWD + NCONNECT
        log("%d forward + %d CONNECT streams at once, %d KiB each echoed" % (
            NFWD, NCONNECT, STREAM >> 10))
        echo = t.backend.peer("server", "--listen", ECHO, "--conns", n, "--echo",
                              "--timeout", 150000).wait_listening()
        fwd = t.client.peer("client", "--connect", FWD, "--conns", NFWD, "--send", STREAM,
                            "--seed", 1, "--timeout", 150000)
        con = t.client.popen(["python3", "-c", CONNECTS, PROXY, ECHO, str(NCONNECT),
                              str(STREAM)], name="connects")
        peak = 0
        # Sample while they run (bounded by the streams' own timeouts).
        for _ in range(3000):
            if not fwd.alive() and not con.alive():
                break
            s = tunnel_state(cli)
            peak = max(peak, s["streams_open"] if s else 0)
            if peak >= n:
                break
        frc, fc = fwd.result(180)
        crc = con.wait(200)
        cs = con.json_lines()
        erc, es = echo.result(60)
        check(frc == 0 and len(fc) == NFWD, "forward clients: rc %s, %d reports" % (frc, len(fc)))
        check(crc == 0 and len(cs) == NCONNECT, "connect clients: rc %s, %d reports %s" % (
            crc, len(cs), con.stderr_tail()))
        check(erc == 0 and len(es) == n, "echo server: rc %s, %d reports" % (erc, len(es)))
        for c in fc:
            check(not c["error"] and c["tx_bytes"] == STREAM and c["rx_bytes"] == STREAM and
                  c["rx_sha256"] == c["tx_sha256"], "forward echo differs: %s" % c)
        for c in cs:
            check(not c["error"] and c["status"] == 200 and c["rx_bytes"] == STREAM and
                  c["rx_sha256"] == c["tx_sha256"], "connect echo differs: %s" % c)
        # What the echo server received is what the clients sent.
        sent = sorted([c["tx_sha256"] for c in fc] + [c["tx_sha256"] for c in cs])
        check(sorted(e["rx_sha256"] for e in es) == sent, "echo server saw other streams")
        log("all %d echoes exact; most streams open at once seen: %d" % (n, peak))
        s = wait_for(lambda: (lambda v: v if v["streams_open"] == 0 else None)(tunnel_state(cli)),
                     10, "every stream closed")
        check(s["streams_total"] >= n and s["reconnects"] == 0, "counters %s" % s)

        log("one forward stream of %d MiB each way" % (BIG >> 20))
        crc, cc, src, sc = transfer(t, FWD, ECHO, client=["--send", BIG, "--seed", 7],
                                    server=["--send", BIG, "--seed", 8], timeout=120)
        check(crc == 0 and src == 0, "peers exited %s/%s" % (crc, src))
        assert_exact(cc, sc, "64 MiB forward")
        check(cc[0]["tx_bytes"] == BIG and cc[0]["rx_bytes"] == BIG, "sizes %s" % cc[0])
        check(tunnel_state(cli)["reconnects"] == 0, "one connection: %s" % tunnel_state(cli))
        cli.finish()
        srv.finish()


run(main)
