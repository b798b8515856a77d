#!/usr/bin/python3
"""Fast path, 100 000 short connections (connect, 200 bytes each way at once, close) from
4 client processes with 64 connections open each: every connection byte-exact, kfwd
counts them all without errors, and afterwards the pinned flow table is empty and kfwd's
fd count is back to its idle value.

KFWD_SHORT_CONNS sets the count (a multiple of 4; default 100000). On the 2-core test VM
the full count takes about 40 s with build/kfwd and with build/kfwd-asan alike."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kfwdtest import Topology, assert_exact, check, log, run, wait_for  # noqa: E402

N = int(os.environ.get("KFWD_SHORT_CONNS", "100000"))
CLIENTS = 4
PARALLEL = 64
SIZE = 200


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def main():
    check(N > 0 and N % CLIENTS == 0, "KFWD_SHORT_CONNS must be a positive multiple of %d" % CLIENTS)
    with Topology() as t:
        # 100k connections from one address to one port, and from kfwd to one backend:
        # more than one port range's worth, so TIME_WAIT ports must be reusable.
        for ns in (t.client, t.gw):
            ns.run(["sysctl", "-q", "-w", "net.ipv4.ip_local_port_range=1024 65000",
                    "net.ipv4.tcp_tw_reuse=1"])
        k = t.kfwd([dict(name="short", bind="10.77.1.1:8080", proto="tcp",
                         backends=["10.77.2.2:9000"], fastpath=True)]).start()
        fd0, rss0 = fd_count(k.pid), k.rss_kib()
        srv = t.backend.peer("server", "--listen", "10.77.2.2:9000", "--conns", N, "--send", SIZE,
                             "--seed", 500000, "--timeout", 180000).wait_listening()
        clients = [t.client.peer("client", "--connect", "10.77.1.1:8080", "--conns", N // CLIENTS,
                                 "--parallel", PARALLEL, "--send", SIZE,
                                 "--seed", 1000000 * (i + 1), "--timeout", 180000,
                                 name="client-%d" % i)
                   for i in range(CLIENTS)]
        cc = []
        for c in clients:
            rc, conns = c.result(200)
            check(rc == 0, "%s exited %d: %s" % (c.name, rc, c.summary()))
            cc += conns
        src, sc = srv.result(30)
        check(src == 0, "server exited %d: %s" % (src, srv.summary()))
        check(len(cc) == N, "clients finished %d of %d" % (len(cc), N))
        assert_exact(cc, sc, "%d short connections" % N)
        check(all(c["tx_bytes"] == SIZE and c["rx_bytes"] == SIZE for c in cc + sc),
              "a connection moved other than %d bytes each way" % SIZE)
        secs = max(c.summary()["t_ms"] for c in clients) / 1000.0
        log("%d connections byte-exact in %.1f s (%.0f/s)" % (N, secs, N / secs))

        l = k.wait_stat("short", lambda l: l["active"] == 0, 30, "active back to 0")
        log("short: total %d, spliced %d, bytes %d/%d (kernel %d/%d)" % (
            l["total"], l["spliced"], l["bytes_in"], l["bytes_out"], l["kernel_bytes_in"],
            l["kernel_bytes_out"]))
        check(l["total"] == N, "total %d" % l["total"])
        check(l["bytes_in"] == N * SIZE and l["bytes_out"] == N * SIZE, "bytes %s" % l)
        check(not any(l["errors"].values()), "errors %s" % l["errors"])
        check(l["spliced"] > 0, "nothing was spliced")
        flows = k.flows()["flows"]
        check(flows == [], "%d flows left in the table: %s" % (len(flows), flows[:3]))
        # Closing is done once active is 0; give the last closes a moment anyway.
        fd1 = wait_for(lambda: (lambda n: n if n <= fd0 else None)(fd_count(k.pid)), 10,
                       "kfwd's fd count back to %d" % fd0)
        log("kfwd fds %d idle, %d after; RSS %d -> %d KiB" % (fd0, fd1, rss0, k.rss_kib()))
        kern = k.stats()["fastpath"]["kernel"]
        log("kernel counters %s" % kern)
        check(kern["insert_errors"] == 0 and kern["no_slot"] == 0, "%s" % kern)
        k.finish()


run(main)
