#!/usr/bin/python3
"""1000 concurrent connections, a little data each way, all byte-exact; then active is 0."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kfwdtest import Topology, assert_exact, check, log, run, transfer  # noqa: E402

N = 1000


def main():
    with Topology() as t:
        k = t.kfwd([dict(name="many", bind="10.77.1.1:8080", proto="tcp", fastpath=False,
                         backends=["10.77.2.2:9000"])]).start()
        rss0 = k.rss_kib()
        # Every connection has its own stream (seed + index) on each side, so a
        # mixed-up or truncated stream cannot match another connection's hash.
        crc, cc, src, sc = transfer(t, "10.77.1.1:8080", "10.77.2.2:9000",
                                    client=["--send", "20K", "--seed", 10000, "--bufsize", "4K"],
                                    server=["--send", "12K", "--seed", 50000, "--bufsize", "4K"],
                                    conns=N, timeout=90)
        check(len(cc) == N, "client finished %d of %d connections" % (len(cc), N))
        assert_exact(cc, sc, "%d connections" % N)
        check(len({c["tx_sha256"] for c in cc}) == N, "client streams are not all distinct")
        slowest = max(c["t_end_ms"] for c in cc)
        log("%d connections byte-exact; slowest took %d ms; kfwd RSS %d -> %d KiB" % (
            N, slowest, rss0, k.rss_kib()))
        l = k.wait_stat("many", lambda l: l["active"] == 0, 10, "active back to 0")
        check(l["total"] == N, "total %d" % l["total"])
        check(l["bytes_in"] == N * 20 * 1024 and l["bytes_out"] == N * 12 * 1024,
              "bytes %d/%d" % (l["bytes_in"], l["bytes_out"]))
        check(not any(l["errors"].values()), "errors %s" % l["errors"])
        k.finish()


run(main)
