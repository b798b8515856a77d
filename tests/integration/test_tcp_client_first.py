#!/usr/bin/python3
"""A client that sends (and even shuts down) right after connect, before kfwd's
connection to the backend exists: every byte still arrives, in order."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kfwdtest import BLACKHOLE_V4, Topology, assert_exact, check, log, run, transfer  # noqa: E402


def main():
    with Topology() as t:
        k = t.kfwd([
            # The first backend swallows SYNs: the real one is reached only after
            # connect_timeout_ms, long after the client has sent everything.
            dict(name="slow", bind="10.77.1.1:8080", proto="tcp", fastpath=False,
                 backends=[BLACKHOLE_V4 + ":9000", "10.77.2.2:9000"], connect_timeout_ms=1000),
            dict(name="fast", bind="10.77.1.1:8081", proto="tcp", fastpath=False,
                 backends=["10.77.2.2:9001"]),
        ]).start()

        log("client sends 64 KiB and FIN at once; backend connect happens ~1 s later")
        crc, cc, src, sc = transfer(t, "10.77.1.1:8080", "10.77.2.2:9000",
                                    client=["--send", "64K", "--seed", 5, "--order", "send-first"],
                                    server=["--send", "256K", "--seed", 500, "--order", "recv-first"],
                                    timeout=30)
        assert_exact(cc, sc, "delayed backend")
        c, s = cc[0], sc[0]
        sent_at = c["wall_start_ms"] + c["t_tx_done_ms"]
        accepted_at = s["wall_start_ms"]
        log("client done sending at +%d ms, backend accepted %d ms later" % (
            c["t_tx_done_ms"], accepted_at - sent_at))
        check(accepted_at - sent_at >= 700,
              "backend accepted only %d ms after the client finished sending" % (accepted_at - sent_at))
        l = k.listener("slow")
        check(l["errors"]["connect_timeout"] == 1 and l["errors"]["no_backend"] == 0,
              "slow: errors %s" % l["errors"])

        log("8 clients send 4 MiB each immediately after connect, no delay")
        crc, cc, src, sc = transfer(t, "10.77.1.1:8081", "10.77.2.2:9001",
                                    client=["--send", "4M", "--seed", 100],
                                    server=["--send", "1M", "--seed", 900], conns=8, timeout=60)
        assert_exact(cc, sc, "immediate senders")
        k.wait_stat("fast", lambda l: l["active"] == 0 and l["total"] == 8, 5, "8 done")
        k.finish()


run(main)
