#!/usr/bin/python3
"""IPv6 TCP on both sides, and mixed families (v4 client -> v6 backend, v6 -> v4),
also through a [::] wildcard bind."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kfwdtest import Topology, assert_exact, check, log, run, transfer  # noqa: E402


def main():
    with Topology() as t:
        k = t.kfwd([
            dict(name="v6v6", bind="[fd77:1::1]:8080", proto="tcp", backends=["[fd77:2::2]:9000"]),
            dict(name="v4v6", bind="10.77.1.1:8081", proto="tcp", backends=["[fd77:2::2]:9001"]),
            dict(name="v6v4", bind="[fd77:1::1]:8082", proto="tcp", backends=["10.77.2.2:9002"]),
            dict(name="any6", bind="[::]:8083", proto="tcp", backends=["[fd77:2::2]:9003"]),
        ]).start()
        cases = (
            ("v6v6", "[fd77:1::1]:8080", "[fd77:2::2]:9000", "[fd77:1::2]", "[fd77:2::1]", 32 << 20),
            ("v4v6", "10.77.1.1:8081", "[fd77:2::2]:9001", "10.77.1.2", "[fd77:2::1]", 8 << 20),
            ("v6v4", "[fd77:1::1]:8082", "10.77.2.2:9002", "[fd77:1::2]", "10.77.2.1", 8 << 20),
            ("any6", "[fd77:1::1]:8083", "[fd77:2::2]:9003", "[fd77:1::2]", "[fd77:2::1]", 4 << 20),
        )
        for name, connect, listen, client_src, gw_src, size in cases:
            log("%s: %s -> kfwd -> %s, %d MiB each way" % (name, connect, listen, size >> 20))
            crc, cc, src, sc = transfer(t, connect, listen, client=["--send", size, "--seed", 1],
                                        server=["--send", size, "--seed", 2], conns=2)
            assert_exact(cc, sc, name)
            for c in cc:
                check(c["local"].startswith(client_src + ":") and c["peer"] == connect,
                      "%s client addresses %s -> %s" % (name, c["local"], c["peer"]))
            for s in sc:
                check(s["peer"].startswith(gw_src + ":") and s["local"] == listen,
                      "%s backend addresses %s -> %s" % (name, s["peer"], s["local"]))
            l = k.wait_stat(name, lambda l: l["active"] == 0, 5, "active 0")
            check(l["total"] == 2 and l["bytes_in"] == 2 * size and l["bytes_out"] == 2 * size,
                  "%s stats %s" % (name, l))
            check(not any(l["errors"].values()), "%s errors %s" % (name, l["errors"]))
        check(k.listener("any6")["bind"] == "[::]:8083", "any6 bind shown as %s" % k.listener("any6")["bind"])
        k.finish()


run(main)
