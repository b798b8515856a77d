#!/usr/bin/python3
"""Fast path: 4 GiB in one flow (and 1 MiB back) byte-exact; the kernel moves most of
it (the rest goes through kfwd while the backlog limit acts), and the stats' byte counts
(kernel redirects + kfwd's own writes) are exact."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kfwdtest import Topology, assert_exact, check, log, run, transfer  # noqa: E402

SIZE = 4 << 30
BACK = 1 << 20


def main():
    with Topology() as t:
        k = t.kfwd([dict(name="bulk", bind="10.77.1.1:8080", proto="tcp",
                         backends=["10.77.2.2:9000"], fastpath=True)]).start()
        crc, cc, src, sc = transfer(t, "10.77.1.1:8080", "10.77.2.2:9000",
                                    client=["--send", SIZE, "--seed", 1],
                                    server=["--send", BACK, "--seed", 1001], timeout=150)
        check(crc == 0 and src == 0, "peers exited %s/%s" % (crc, src))
        assert_exact(cc, sc, "bulk")
        c = cc[0]
        check(c["tx_bytes"] == SIZE and c["rx_bytes"] == BACK, "sizes %s" % c)
        secs = c["t_end_ms"] / 1000.0
        log("4 GiB in %.2f s (%.2f Gbit/s with both ends hashing), sha256 %s.." % (
            secs, SIZE * 8 / secs / 1e9, c["tx_sha256"][:16]))
        l = k.wait_stat("bulk", lambda l: l["active"] == 0, 5, "active back to 0")
        check(l["total"] == 1 and l["spliced"] == 1, "total/spliced %s" % l)
        check(l["bytes_in"] == SIZE and l["bytes_out"] == BACK,
              "bytes_in %d bytes_out %d" % (l["bytes_in"], l["bytes_out"]))
        log("kernel moved %d of %d bytes up (%.2f%%), %d of %d down" % (
            l["kernel_bytes_in"], SIZE, 100.0 * l["kernel_bytes_in"] / SIZE,
            l["kernel_bytes_out"], BACK))
        # How much stays in the kernel depends on load (76-96 % on a quiet machine,
        # under half while other jobs ran): when the redirect worker falls behind,
        # the backlog limit hands bytes to kfwd. That is performance, measured by
        # make bench; the behaviour asserted here is that the kernel carried bytes
        # and that its share is accounted within the exact total.
        check(0 < l["kernel_bytes_in"] <= SIZE and 0 <= l["kernel_bytes_out"] <= BACK,
              "kernel share of the bytes: up %d of %d, down %d of %d" % (
                  l["kernel_bytes_in"], SIZE, l["kernel_bytes_out"], BACK))
        check(not any(l["errors"].values()), "errors counted: %s" % l["errors"])
        k.finish()


run(main)
