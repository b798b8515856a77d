#!/usr/bin/python3
"""A reader that stops reading for 10 s while the writer pushes as fast as it can:
the writer stalls (TCP flow control, not kfwd memory), kfwd's RSS stays flat, and
once reading resumes every byte arrives. Both directions at once, on two listeners."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kfwdtest import Topology, assert_exact, check, log, run, tx_at  # noqa: E402

SIZE = 256 << 20
PAUSE_MS = 10000
RSS_SLACK_KIB = 8 * 1024


def main():
    with Topology() as t:
        k = t.kfwd([
            dict(name="up", bind="10.77.1.1:8080", proto="tcp", fastpath=False,
                 backends=["10.77.2.2:9000"]),
            dict(name="down", bind="10.77.1.1:8081", proto="tcp", fastpath=False,
                 backends=["10.77.2.2:9001"]),
        ]).start()
        rss0 = k.rss_kib()
        common = ["--conns", 1, "--progress", 200, "--timeout", 90000]
        # up: the client writes, the backend does not read for 10 s.
        s_up = t.backend.peer("server", "--listen", "10.77.2.2:9000", "--pause-read", PAUSE_MS,
                              *common).wait_listening()
        # down: the backend writes, the client does not read for 10 s.
        s_down = t.backend.peer("server", "--listen", "10.77.2.2:9001", "--send", SIZE,
                                "--seed", 9, *common).wait_listening()
        c_up = t.client.peer("client", "--connect", "10.77.1.1:8080", "--send", SIZE, "--seed", 8,
                             *common)
        c_down = t.client.peer("client", "--connect", "10.77.1.1:8081", "--no-shutdown",
                               "--pause-read", PAUSE_MS, *common)
        t0 = time.monotonic()
        rss_max = rss0
        samples = 0
        while time.monotonic() - t0 < PAUSE_MS / 1000.0 - 0.5 and samples < 1000:
            rss_max = max(rss_max, k.rss_kib())
            samples += 1
            time.sleep(0.1)
        log("kfwd RSS before %d KiB, max during the stall %d KiB (%d samples)" % (rss0, rss_max, samples))
        check(rss_max - rss0 < RSS_SLACK_KIB, "kfwd RSS grew by %d KiB during the stall" % (rss_max - rss0))

        rc_cu, cu = c_up.result(120)
        rc_su, su = s_up.result(30)
        rc_cd, cd = c_down.result(120)
        rc_sd, sd = s_down.result(30)
        assert_exact(cu, su, "client->backend with a stalled backend")
        assert_exact(cd, sd, "backend->client with a stalled client")
        for name, writer in (("client (up)", c_up), ("backend (down)", s_down)):
            prog = writer.progress()
            a, b = tx_at(prog, 4000), tx_at(prog, PAUSE_MS - 1000)
            log("%s writer: %.1f MiB accepted at 4 s, %.1f MiB at %.0f s, all %d MiB at the end" % (
                name, a / 2**20, b / 2**20, (PAUSE_MS - 1000) / 1000, SIZE >> 20))
            check(0 < a < SIZE // 4, "%s: %d bytes accepted at 4 s: not throttled?" % (name, a))
            check(b - a < 1 << 20, "%s: writer still growing during the stall: %d -> %d" % (name, a, b))
        for name in ("up", "down"):
            l = k.wait_stat(name, lambda l: l["active"] == 0, 5, "active 0")
            check(not any(l["errors"].values()), "%s errors %s" % (name, l["errors"]))
        k.finish()


run(main)
