#!/usr/bin/python3
"""Fast path: 1000 concurrent connections of 1-4 MiB each (250 of each size) with 256 KiB
back, all byte-exact; every one spliced; then active is 0 and the flow table is empty."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kfwdtest import Topology, assert_exact, check, log, run  # noqa: E402

PER = 250
BACK = 256 << 10


def main():
    with Topology() as t:
        k = t.kfwd([dict(name="many", bind="10.77.1.1:8080", proto="tcp",
                         backends=["10.77.2.2:9000"], fastpath=True)]).start()
        rss0 = k.rss_kib()
        srv = t.backend.peer("server", "--listen", "10.77.2.2:9000", "--conns", 4 * PER,
                             "--send", BACK, "--seed", 90000, "--timeout", 120000).wait_listening()
        clients = [t.client.peer("client", "--connect", "10.77.1.1:8080", "--conns", PER,
                                 "--send", "%dM" % mib, "--seed", 10000 * mib, "--timeout", 120000,
                                 name="client-%dM" % mib)
                   for mib in (1, 2, 3, 4)]
        live = k.wait_stat("many", lambda l: l["active"] >= 100, 30, "connections to come up")
        log("%d connections active at one point; %d flows listed" % (
            live["active"], len(k.flows()["flows"])))
        cc = []
        for c in clients:
            rc, conns = c.result(150)
            check(rc == 0, "%s exited %d" % (c.name, rc))
            cc += conns
        src, sc = srv.result(30)
        check(len(cc) == 4 * PER, "clients finished %d of %d" % (len(cc), 4 * PER))
        assert_exact(cc, sc, "%d connections" % (4 * PER))
        check(len({c["tx_sha256"] for c in cc}) == 4 * PER, "client streams are not all distinct")
        up = sum(c["tx_bytes"] for c in cc)
        log("%d connections, %.2f GiB up, byte-exact; slowest took %d ms; kfwd RSS %d -> %d KiB" % (
            len(cc), up / 2.0**30, max(c["t_end_ms"] for c in cc), rss0, k.rss_kib()))
        l = k.wait_stat("many", lambda l: l["active"] == 0, 10, "active back to 0")
        check(l["total"] == 4 * PER and l["spliced"] == 4 * PER, "total/spliced %s" % l)
        check(l["bytes_in"] == up and l["bytes_out"] == 4 * PER * BACK,
              "bytes %d/%d" % (l["bytes_in"], l["bytes_out"]))
        log("kernel moved %.1f%% up, %.1f%% down" % (100.0 * l["kernel_bytes_in"] / up,
                                                     100.0 * l["kernel_bytes_out"] / (4 * PER * BACK)))
        check(not any(l["errors"].values()), "errors %s" % l["errors"])
        check(k.flows()["flows"] == [], "flows left in the table")
        k.finish()


run(main)
