#!/usr/bin/python3
"""TCP fast path (fastpath = true): the kernel splices. Client-first, backend-first and
both-at-once, 500 short connections each, byte-exact; IPv6; a second listener on the same
port of another address without fastpath stays on the userspace path; the stats say which
path each listener takes and count what the kernel moved."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kfwdtest import Topology, assert_exact, check, log, run, transfer  # noqa: E402

N = 500
OTHER_V4 = "10.77.1.5"


def scenario(t, what, client, server, conns=N, connect="10.77.1.1:8080", listen="10.77.2.2:9000"):
    log("%s: %d connection(s)" % (what, conns))
    crc, cc, src, sc = transfer(t, connect, listen, client=client, server=server, conns=conns,
                                timeout=60)
    check(len(cc) == conns, "%s: client finished %d of %d" % (what, len(cc), conns))
    assert_exact(cc, sc, what)
    return sum(c["tx_bytes"] for c in cc), sum(s["tx_bytes"] for s in sc)


def main():
    with Topology() as t:
        t.add_gw_address(v4=OTHER_V4)
        k = t.kfwd([
            dict(name="fast", bind="10.77.1.1:8080", proto="tcp", backends=["10.77.2.2:9000"],
                 fastpath=True),
            dict(name="fast6", bind="[fd77:1::1]:8080", proto="tcp",
                 backends=["[fd77:2::2]:9000"], fastpath=True),
            # Same port, another address, no fastpath: must not be spliced.
            dict(name="slow", bind=OTHER_V4 + ":8080", proto="tcp", backends=["10.77.2.2:9000"],
                 fastpath=False),
        ]).start()
        s = k.stats()
        check(s["fastpath"]["active"], "fast path not active: %s" % s["fastpath"])
        paths = {l["name"]: l["path"] for l in s["listeners"]}
        check(paths == {"fast": "fastpath", "fast6": "fastpath", "slow": "userspace"},
              "paths %s" % paths)

        up = down = 0
        for what, client, server in (
                ("client sends at once",
                 ["--send", "16K", "--seed", 1000, "--bufsize", "4K"],
                 ["--send", "2K", "--seed", 5000, "--order", "recv-first"]),
                ("backend speaks first",
                 ["--send", "2K", "--seed", 2000, "--wait-rx", "16K"],
                 ["--send", "16K", "--seed", 6000, "--no-shutdown"]),
                ("both at once",
                 ["--send", "48K", "--seed", 3000],
                 ["--send", "48K", "--seed", 7000])):
            u, d = scenario(t, what, client, server)
            up, down = up + u, down + d

        u, d = scenario(t, "IPv6", ["--send", "1M", "--seed", 11], ["--send", "1M", "--seed", 12],
                        conns=4, connect="[fd77:1::1]:8080", listen="[fd77:2::2]:9000")
        scenario(t, "the other address, userspace path", ["--send", "1M", "--seed", 13],
                 ["--send", "1M", "--seed", 14], conns=4, connect=OTHER_V4 + ":8080")

        l = k.wait_stat("fast", lambda l: l["active"] == 0, 10, "active back to 0")
        log("fast: %s" % {x: l[x] for x in ("total", "spliced", "bytes_in", "bytes_out",
                                            "kernel_bytes_in", "kernel_bytes_out")})
        check(l["total"] == 3 * N and l["spliced"] == 3 * N, "total/spliced %d/%d" % (
            l["total"], l["spliced"]))
        check(l["bytes_in"] == up and l["bytes_out"] == down,
              "bytes %d/%d, sent %d/%d" % (l["bytes_in"], l["bytes_out"], up, down))
        check(l["kernel_bytes_in"] > 0 and l["kernel_bytes_out"] > 0,
              "the kernel moved nothing: %s" % l)
        check(not any(l["errors"].values()), "errors %s" % l["errors"])
        l6 = k.wait_stat("fast6", lambda l: l["active"] == 0, 10, "fast6 active 0")
        check(l6["spliced"] == 4 and l6["bytes_in"] == u and l6["bytes_out"] == d,
              "fast6 %s" % l6)
        check(l6["kernel_bytes_in"] > 0, "fast6: the kernel moved nothing")
        ls = k.wait_stat("slow", lambda l: l["active"] == 0, 10, "slow active 0")
        check(ls["total"] == 4 and ls["spliced"] == 0 and ls["kernel_bytes_in"] == 0,
              "slow was spliced: %s" % ls)
        kern = k.stats()["fastpath"]["kernel"]
        log("kernel counters %s" % kern)
        check(kern["passive_established"] == 3 * N + 4, "passive %s" % kern)
        check(kern["inserted"] == 2 * (3 * N + 4) and kern["insert_errors"] == 0, "%s" % kern)
        check(kern["redirect_errors"] == 0 and kern["no_slot"] == 0, "%s" % kern)
        check(k.flows()["flows"] == [], "flows left: %s" % k.flows())
        k.finish()


run(main)
