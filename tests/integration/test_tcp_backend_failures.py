#!/usr/bin/python3
"""Backends that refuse or never answer: the client is closed promptly and the
reason is counted; with a refusing first backend the second one serves."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kfwdtest import (BLACKHOLE_V4, BLACKHOLE_V6, Topology, assert_exact, check, log,  # noqa: E402
                      run, transfer)


def closed_clients(t, connect, conns, timeout=15):
    """Clients that send nothing and wait; return their reports."""
    cli = t.client.peer("client", "--connect", connect, "--conns", conns, "--no-shutdown",
                        "--timeout", timeout * 1000)
    rc, cc = cli.result(timeout + 10)
    check(len(cc) == conns, "%d reports" % len(cc))
    for c in cc:
        check(c["t_up_ms"] >= 0, "client did not even connect to kfwd: %s" % c)
        check(c["error"] in ("", "ECONNRESET"), "unexpected client error: %s" % c)
        check(c["rx_eof"] or c["error"] == "ECONNRESET", "client not closed: %s" % c)
        check(c["rx_bytes"] == 0, "client received data: %s" % c)
    return cc


def main():
    with Topology() as t:
        k = t.kfwd([
            dict(name="refused", bind="10.77.1.1:8080", proto="tcp", fastpath=False,
                 backends=["10.77.2.2:9999"]),
            dict(name="hole", bind="10.77.1.1:8081", proto="tcp", fastpath=False,
                 backends=[BLACKHOLE_V4 + ":9000"], connect_timeout_ms=1000),
            dict(name="hole6", bind="[fd77:1::1]:8081", proto="tcp", fastpath=False,
                 backends=["[%s]:9000" % BLACKHOLE_V6], connect_timeout_ms=1000),
            dict(name="second", bind="10.77.1.1:8082", proto="tcp", fastpath=False,
                 backends=["10.77.2.2:9999", "10.77.2.2:9000"]),
        ]).start()

        log("nothing listens on the backend port: 3 clients")
        cc = closed_clients(t, "10.77.1.1:8080", 3)
        worst = max(c["t_end_ms"] for c in cc)
        log("refused: clients closed after at most %d ms" % worst)
        check(worst < 2000, "client closed only after %d ms" % worst)
        l = k.wait_stat("refused", lambda l: l["active"] == 0 and l["errors"]["no_backend"] == 3, 5,
                        "no_backend == 3")
        check(l["errors"]["connect_refused"] == 3, "connect_refused %s" % l["errors"])

        log("backend SYNs go nowhere (v4 and v6), connect_timeout_ms = 1000")
        t0 = time.monotonic()
        c4 = t.client.peer("client", "--connect", "10.77.1.1:8081", "--no-shutdown", "--timeout", 15000)
        c6 = t.client.peer("client", "--connect", "[fd77:1::1]:8081", "--no-shutdown", "--timeout", 15000)
        for cli in (c4, c6):
            rc, cc = cli.result(25)
            c = cc[0]
            log("blackhole: client closed after %d ms (%s)" % (c["t_end_ms"], c["error"] or "EOF"))
            check(900 <= c["t_end_ms"] <= 3000, "closed after %d ms, expected 1-3 s" % c["t_end_ms"])
            check(c["rx_eof"] or c["error"] == "ECONNRESET", "client not closed: %s" % c)
        check(time.monotonic() - t0 < 5, "blackhole clients took too long")
        for name in ("hole", "hole6"):
            l = k.wait_stat(name, lambda l: l["active"] == 0, 5, "active 0")
            e = l["errors"]
            check(e["connect_timeout"] == 1 and e["no_backend"] == 1, "%s errors %s" % (name, e))

        log("first backend refuses, second serves")
        crc, cc, src, sc = transfer(t, "10.77.1.1:8082", "10.77.2.2:9000",
                                    client=["--send", "2M", "--seed", 3],
                                    server=["--send", "3M", "--seed", 4], conns=2)
        assert_exact(cc, sc, "second backend")
        l = k.wait_stat("second", lambda l: l["active"] == 0, 5, "active 0")
        e = l["errors"]
        check(e["connect_refused"] == 2 and e["no_backend"] == 0 and l["total"] == 2,
              "second: %s" % l)
        k.finish()


run(main)
