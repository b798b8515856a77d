#!/usr/bin/python3
"""256 MiB of pseudo-random data each way at once through the TCP forwarder."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kfwdtest import Topology, assert_exact, check, log, run, transfer  # noqa: E402

SIZE = 256 << 20


def main():
    with Topology() as t:
        k = t.kfwd([dict(name="web", bind="10.77.1.1:8080", proto="tcp", fastpath=False,
                         mode="forward",
                         backends=["10.77.2.2:9000"])]).start()
        crc, cc, src, sc = transfer(t, "10.77.1.1:8080", "10.77.2.2:9000",
                                    client=["--send", SIZE, "--seed", 1],
                                    server=["--send", SIZE, "--seed", 1001], timeout=120)
        check(crc == 0 and src == 0, "peers exited %s/%s" % (crc, src))
        assert_exact(cc, sc, "bulk")
        c = cc[0]
        check(c["tx_bytes"] == SIZE and c["rx_bytes"] == SIZE, "sizes %s" % c)
        log("256 MiB each way in %.2fs, sha256 up %s.. down %s.." % (
            c["t_end_ms"] / 1000.0, c["tx_sha256"][:16], c["rx_sha256"][:16]))
        l = k.wait_stat("web", lambda l: l["active"] == 0, 5, "active back to 0")
        check(l["total"] == 1, "total %d" % l["total"])
        check(l["bytes_in"] == SIZE and l["bytes_out"] == SIZE,
              "bytes_in %d bytes_out %d" % (l["bytes_in"], l["bytes_out"]))
        check(not any(l["errors"].values()), "errors counted: %s" % l["errors"])
        k.finish()


run(main)
