#!/usr/bin/python3
"""SIGHUP with a broken config: rejected with FILE:LINE in the log, the running
config keeps serving (the transfer in progress and new connections)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kfwdtest import Topology, assert_exact, check, log, run  # noqa: E402

LONG = 12 << 20
RATE = 4 << 20  # the long transfer takes ~3 s each way


def main():
    with Topology() as t:
        web = dict(name="web", bind="10.77.1.1:8080", proto="tcp", backends=["10.77.2.2:9000"])
        k = t.kfwd([web]).start()
        good = open(k.conf).read()

        srv = t.backend.peer("server", "--listen", "10.77.2.2:9000", "--send", LONG, "--seed", 2,
                             "--rate", RATE, "--conns", 1, "--timeout", 60000).wait_listening()
        cli = t.client.peer("client", "--connect", "10.77.1.1:8080", "--send", LONG, "--seed", 1,
                            "--rate", RATE, "--progress", 200, "--timeout", 60000)
        cli.wait_line(lambda l: '"progress"' in l and '"tx":0,' not in l, 10, "transfer under way")

        log("unknown key on line 3 of a config")
        lines = good.splitlines()
        check(lines[2].lstrip().startswith("{ name = \"web\""), "listener not on line 3: %r" % lines[2])
        lines[2] = lines[2].replace("proto =", "bogus_key = 1; proto =")
        bad = "\n".join(lines) + "\n"
        s = k.reload(text=bad)
        check(s["reload_failures"] == 1 and s["reloads"] == 0,
              "reloads %d failures %d" % (s["reloads"], s["reload_failures"]))
        want = "%s:3: " % k.conf
        hits = [l for l in k.log_text().splitlines() if want in l]
        check(hits and "bogus_key" in hits[0], "log does not say %r...bogus_key:\n%s" % (want, k.log_tail()))
        log("logged: %s" % hits[0].split(" ", 2)[2])

        log("a new connection while the broken file is in place")
        # The long transfer's server has stopped listening after its one
        # connection, so a second server can take the same port.
        srv2 = t.backend.peer("server", "--listen", "10.77.2.2:9000", "--conns", 1,
                              "--send", "1M", "--seed", 6, "--timeout", 20000)
        srv2.wait_listening()
        cli2 = t.client.peer("client", "--connect", "10.77.1.1:8080", "--send", "1M", "--seed", 5,
                             "--timeout", 20000)
        _, cc2 = cli2.result(30)
        _, sc2 = srv2.result(30)
        assert_exact(cc2, sc2, "new connection after a rejected reload")

        log("syntax error on line 3")
        s = k.reload(text=good.replace('proto = "tcp"', 'proto = = "tcp"', 1))
        check(s["reload_failures"] == 2 and s["reloads"] == 0, "after syntax error: %s" % s)
        check("%s:3: syntax error" % k.conf in k.log_text(),
              "no FILE:3: syntax error in the log:\n%s" % k.log_tail())

        log("a new listener whose address cannot be bound (valid file, fails at bind)")
        s = k.reload(text=good.replace('\n);', ',\n  { name = "far"; bind = "10.77.9.9:8080"; '
                                      'backends = ( "10.77.2.2:9000" ); }\n);'))
        check(s["reload_failures"] == 3 and s["reloads"] == 0, "after a bind failure: %s" % s)
        check([l["name"] for l in s["listeners"]] == ["web"], "listeners %s" % s["listeners"])
        check("reload rejected: listener far: bind 10.77.9.9:8080" in k.log_text(),
              "bind failure not logged:\n%s" % k.log_tail())

        _, cc = cli.result(60)
        _, sc = srv.result(30)
        assert_exact(cc, sc, "transfer across three rejected reloads")
        check(cc[0]["t_end_ms"] > 1500, "long transfer was not long (%d ms)" % cc[0]["t_end_ms"])

        log("the good file again: the reload is taken")
        s = k.reload(text=good)
        check(s["reloads"] == 1 and s["reload_failures"] == 3, "after a good reload: %s" % s)
        l = k.wait_stat("web", lambda l: l["active"] == 0, 5, "active 0")
        check(l["total"] == 2 and not any(l["errors"].values()), "web %s" % l)
        k.finish()


run(main)
