#!/usr/bin/python3
"""CONNECT tunnels through kfwd: 64 MiB each way SHA-256-exact, and 64 MiB
pipelined right behind the CONNECT head (the first MiB in the same write as
the request), delivered in order; one access-log record per tunnel."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kfwdtest import Topology, check, log, run  # noqa: E402

SIZE = 64 << 20


def tunnel(t, target, *args):
    srv = t.backend.peer("server", "--listen", target, "--conns", 1, "--send", SIZE, "--seed", 1001,
                         "--timeout", 120000).wait_listening()
    c = t.client.connect_client("10.77.1.1:3128", target, "--send", SIZE, "--seed", 7,
                                *args).one_json(150)
    src, sc = srv.result(30)
    check(src == 0 and len(sc) == 1, "server exit %s %s" % (src, sc))
    s = sc[0]
    check(c["status"] == 200, "status %s" % c)
    check(s["rx_bytes"] == SIZE and s["rx_sha256"] == c["tx_sha256"], "up differs: %s vs %s" % (s, c))
    check(c["rx_bytes"] == SIZE and c["rx_sha256"] == s["tx_sha256"], "down differs: %s vs %s" % (s, c))
    return c


def main():
    with Topology() as t:
        k = t.kfwd([dict(name="px", bind="10.77.1.1:3128", mode="connect",
                         allow=["10.77.2.0/24"])]).start()
        tunnel(t, "10.77.2.2:9000")
        log("64 MiB each way through CONNECT: exact")
        tunnel(t, "10.77.2.2:9001", "--early")
        log("64 MiB pipelined behind the CONNECT head: exact and in order")
        l = k.wait_stat("px", lambda l: l["active"] == 0, 10, "active back to 0")
        check(l["total"] == 2, "total %d" % l["total"])
        check(l["bytes_in"] == 2 * SIZE and l["bytes_out"] == 2 * SIZE, "bytes %s" % l)
        check(not any(l["errors"].values()), "errors counted: %s" % l["errors"])
        k.finish()
        recs = [json.loads(x.split(" access ", 1)[1]) for x in k.log_text().splitlines()
                if " access {" in x]
        check(len(recs) == 2, "access records: %s" % recs)
        for r in recs:
            check(r["status"] == 200 and r["close"] == "eof" and r["path"] == "fastpath"
                  and r["bytes_up"] == SIZE and r["bytes_down"] == SIZE and "client" not in r,
                  "record %s" % r)
        check(sorted(r["target"] for r in recs) == ["10.77.2.2:9000", "10.77.2.2:9001"],
              "targets %s" % recs)


run(main)
