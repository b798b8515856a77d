#!/usr/bin/python3
"""max_flows refuses the connection beyond the limit (flow_limit), and a TCP
connection with no traffic for idle_timeout_ms is closed (idle_timeout) while a
slow but steady one is not."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kfwdtest import Topology, check, log, run  # noqa: E402


def main():
    with Topology() as t:
        k = t.kfwd([
            dict(name="lim", bind="10.77.1.1:8080", proto="tcp", fastpath=False,
                 backends=["10.77.2.2:9000"],
                 max_flows=2),
            dict(name="idle", bind="10.77.1.1:8081", proto="tcp", fastpath=False,
                 backends=["10.77.2.2:9001"],
                 idle_timeout_ms=1000),
        ]).start()

        log("max_flows = 2: two connections held open, a third one is refused")
        srv = t.backend.peer("server", "--listen", "10.77.2.2:9000", "--conns", 3, "--no-shutdown",
                             "--timeout", 30000).wait_listening()
        hold = t.client.peer("client", "--connect", "10.77.1.1:8080", "--conns", 2, "--send", 10,
                             "--no-shutdown", "--timeout", 30000)
        k.wait_stat("lim", lambda l: l["active"] == 2 and l["bytes_in"] == 20, 5, "2 held")
        third = t.client.peer("client", "--connect", "10.77.1.1:8080", "--no-shutdown",
                              "--timeout", 10000)
        _, cc = third.result(15)
        c = cc[0]
        check((c["rx_eof"] or c["error"] == "ECONNRESET") and c["rx_bytes"] == 0,
              "connection over the limit was not closed: %s" % c)
        check(c["t_end_ms"] < 1000, "closed only after %d ms" % c["t_end_ms"])
        l = k.listener("lim")
        check(l["errors"]["flow_limit"] == 1 and l["active"] == 2 and l["total"] == 2, "lim %s" % l)
        hold.stop()  # its sockets close: kfwd passes the FINs on
        k.wait_stat("lim", lambda l: l["active"] == 0, 5, "held connections gone")
        log("below the limit again: a new connection is served")
        fourth = t.client.peer("client", "--connect", "10.77.1.1:8080", "--send", "64K", "--seed", 1,
                               "--timeout", 10000)
        _, cc = fourth.result(15)
        _, sc = srv.result(15)
        check(cc[0]["tx_sha256"] == sc[-1]["rx_sha256"] and not cc[0]["error"],
              "fourth connection: %s / %s" % (cc[0], sc[-1]))

        log("idle_timeout_ms = 1000: a silent connection is closed, a trickling one is not")
        srv = t.backend.peer("server", "--listen", "10.77.2.2:9001", "--conns", 2, "--no-shutdown",
                             "--timeout", 30000).wait_listening()
        silent = t.client.peer("client", "--connect", "10.77.1.1:8081", "--send", 10,
                               "--no-shutdown", "--timeout", 10000)
        trickle = t.client.peer("client", "--connect", "10.77.1.1:8081", "--send", 2500,
                                "--rate", 1000, "--seed", 7, "--timeout", 10000)
        _, sc_ = silent.result(15)
        c = sc_[0]
        log("silent connection closed after %d ms (%s)" % (c["t_end_ms"], c["error"] or "EOF"))
        check(c["rx_eof"] and not c["error"], "silent connection: %s" % c)
        check(900 <= c["t_end_ms"] <= 2500, "closed after %d ms" % c["t_end_ms"])
        _, tc = trickle.result(15)
        _, sc = srv.result(15)
        tr = tc[0]
        check(not tr["error"] and tr["t_tx_done_ms"] >= 2000, "trickle: %s" % tr)
        check(tr["tx_sha256"] in [s["rx_sha256"] for s in sc], "trickle bytes did not all arrive")
        l = k.wait_stat("idle", lambda l: l["active"] == 0, 5, "active 0")
        check(l["errors"]["idle_timeout"] == 1, "idle errors %s" % l["errors"])
        k.finish()


run(main)
