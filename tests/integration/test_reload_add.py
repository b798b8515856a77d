#!/usr/bin/python3
"""SIGHUP adding a listener: a long transfer on another listener runs across the
reload untouched (byte-exact, not reset), and the new listener serves at once."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kfwdtest import Topology, assert_exact, check, log, run, transfer  # noqa: E402

LONG = 12 << 20
RATE = 4 << 20  # ~3 s


def main():
    with Topology() as t:
        web = dict(name="web", bind="10.77.1.1:8080", proto="tcp", backends=["10.77.2.2:9000"])
        api = dict(name="api", bind="10.77.1.1:8081", proto="tcp", backends=["10.77.2.2:9001"])
        dns = dict(name="dns", bind="10.77.1.1:5353", proto="udp", backends=["10.77.2.2:5300"])
        k = t.kfwd([web]).start()

        srv = t.backend.peer("server", "--listen", "10.77.2.2:9000", "--send", LONG, "--seed", 2,
                             "--rate", RATE, "--conns", 1, "--timeout", 60000).wait_listening()
        cli = t.client.peer("client", "--connect", "10.77.1.1:8080", "--send", LONG, "--seed", 1,
                            "--rate", RATE, "--progress", 200, "--timeout", 60000)
        cli.wait_line(lambda l: '"progress"' in l and '"tx":0,' not in l, 10, "transfer under way")
        before = k.listener("web")

        log("reload: add tcp listener api and udp listener dns")
        s = k.reload([web, api, dns])
        check(s["reloads"] == 1 and s["reload_failures"] == 0, "reload counters %s" % s)
        names = [l["name"] for l in s["listeners"]]
        check(names == ["web", "api", "dns"], "listeners after reload: %s" % names)
        l = k.listener("web")
        check(l["active"] == 1 and l["total"] == 1, "web flow not kept: %s" % l)
        check(l["bytes_in"] >= before["bytes_in"], "web counters went back: %s -> %s" % (before, l))
        check("reload: done: 1 listener(s) kept, 2 added, 0 removed" in k.log_text(),
              "reload summary missing:\n%s" % k.log_tail())

        log("the new listener works while the long transfer runs")
        crc, cc2, src, sc2 = transfer(t, "10.77.1.1:8081", "10.77.2.2:9001",
                                      client=["--send", "2M", "--seed", 3],
                                      server=["--send", "2M", "--seed", 4], conns=4, timeout=30)
        assert_exact(cc2, sc2, "new listener")
        check(cli.alive(), "long transfer ended before the new listener was tested")

        _, cc = cli.result(60)
        _, sc = srv.result(30)
        assert_exact(cc, sc, "transfer across the reload")
        check(cc[0]["t_end_ms"] > 2000, "long transfer was not long (%d ms)" % cc[0]["t_end_ms"])
        for name in ("web", "api"):
            l = k.wait_stat(name, lambda l: l["active"] == 0, 5, "active 0")
            check(not any(l["errors"].values()), "%s errors %s" % (name, l["errors"]))
        check(k.listener("web")["bytes_in"] == LONG, "web bytes_in %d" % k.listener("web")["bytes_in"])

        log("reload: remove api while it carries a transfer, point web at another backend")
        srv = t.backend.peer("server", "--listen", "10.77.2.2:9001", "--send", "10M", "--seed", 12,
                             "--rate", RATE, "--conns", 1, "--timeout", 60000).wait_listening()
        cli = t.client.peer("client", "--connect", "10.77.1.1:8081", "--send", "10M", "--seed", 11,
                            "--rate", RATE, "--progress", 200, "--timeout", 60000)
        cli.wait_line(lambda l: '"progress"' in l and '"tx":0,' not in l, 10, "api transfer under way")
        web2 = dict(web, backends=["10.77.2.2:9002"])
        s = k.reload([web2, dns])
        check(s["reloads"] == 2 and [l["name"] for l in s["listeners"]] == ["web", "dns"],
              "after the second reload: %s" % s)
        refused = t.client.peer("client", "--connect", "10.77.1.1:8081", "--timeout", 5000)
        _, rc_ = refused.result(10)
        check(rc_[0]["error"] == "ECONNREFUSED", "removed listener still answers: %s" % rc_[0])
        crc, cc3, src, sc3 = transfer(t, "10.77.1.1:8080", "10.77.2.2:9002",
                                      client=["--send", "1M", "--seed", 13],
                                      server=["--send", "1M", "--seed", 14], timeout=30)
        assert_exact(cc3, sc3, "web with its new backend")
        check(cli.alive(), "api transfer ended before the checks")
        _, cc = cli.result(60)
        _, sc = srv.result(30)
        assert_exact(cc, sc, "transfer on a removed listener")
        check("listener api: removed" in k.log_text(), "no removal in the log")
        k.finish()


run(main)
