#!/usr/bin/python3
"""A backend that speaks first (a banner on accept) while the client only reads."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kfwdtest import Topology, assert_exact, check, log, run, transfer  # noqa: E402


def main():
    with Topology() as t:
        k = t.kfwd([dict(name="banner", bind="10.77.1.1:2222", proto="tcp", fastpath=False,
                         backends=["10.77.2.2:22"])]).start()

        log("client only reads: 128 KiB banner, then the backend's EOF")
        crc, cc, src, sc = transfer(t, "10.77.1.1:2222", "10.77.2.2:22",
                                    client=["--send", 0, "--no-shutdown"],
                                    server=["--send", "128K", "--seed", 77], timeout=30)
        assert_exact(cc, sc, "banner only")
        check(cc[0]["rx_bytes"] == 128 << 10, "banner size %d" % cc[0]["rx_bytes"])

        log("client waits for the whole banner before it says anything, 3 connections")
        crc, cc, src, sc = transfer(t, "10.77.1.1:2222", "10.77.2.2:22",
                                    client=["--send", "1M", "--seed", 10, "--wait-rx", "64K"],
                                    server=["--send", "64K", "--seed", 700, "--no-shutdown"],
                                    conns=3, timeout=30)
        assert_exact(cc, sc, "banner then dialogue")
        for c in cc:
            check(c["rx_bytes"] == 64 << 10 and c["tx_bytes"] == 1 << 20, "sizes %s" % c)
        l = k.wait_stat("banner", lambda l: l["active"] == 0, 5, "active back to 0")
        check(l["total"] == 4 and not any(l["errors"].values()), "stats %s" % l)
        k.finish()


run(main)
