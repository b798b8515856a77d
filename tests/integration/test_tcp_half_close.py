#!/usr/bin/python3
"""Half-close in each direction: FIN is passed on, the other direction keeps flowing.

test_fast_half_close.py runs the same with fastpath = true."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kfwdtest import Topology, assert_exact, check, log, run, transfer  # noqa: E402


def main(fastpath=False):
    with Topology() as t:
        extra = dict(fastpath=fastpath)
        k = t.kfwd([dict(name="hc", bind="10.77.1.1:8080", proto="tcp",
                         backends=["10.77.2.2:9000"], **extra)]).start()
        if fastpath:
            check(k.listener("hc")["path"] == "fastpath", "not on the fast path")

        log("client sends 1 MiB and shuts write; backend answers 8 MiB only after that EOF")
        crc, cc, src, sc = transfer(t, "10.77.1.1:8080", "10.77.2.2:9000",
                                    client=["--send", "1M", "--seed", 1, "--order", "send-first"],
                                    server=["--send", "8M", "--seed", 2, "--order", "recv-first"])
        assert_exact(cc, sc, "client FIN first")
        c, s = cc[0], sc[0]
        check(s["t_rx_eof_ms"] >= 0 and c["rx_bytes"] == 8 << 20, "backend EOF/response: %s %s" % (c, s))
        # The response started after the backend saw EOF, so after the client's FIN.
        check(c["wall_start_ms"] + c["t_tx_done_ms"] <= s["wall_start_ms"] + s["t_rx_eof_ms"] + 5,
              "backend saw EOF before the client shut down?")

        log("backend sends 64 KiB and shuts write; client sends 16 MiB only after that EOF")
        crc, cc, src, sc = transfer(t, "10.77.1.1:8080", "10.77.2.2:9000",
                                    client=["--send", "16M", "--seed", 3, "--order", "recv-first"],
                                    server=["--send", "64K", "--seed", 4, "--order", "send-first"])
        assert_exact(cc, sc, "backend FIN first")
        check(sc[0]["rx_bytes"] == 16 << 20, "backend received %d" % sc[0]["rx_bytes"])

        log("backend shuts write early while the client is still streaming 32 MiB")
        crc, cc, src, sc = transfer(t, "10.77.1.1:8080", "10.77.2.2:9000",
                                    client=["--send", "32M", "--seed", 5],
                                    server=["--send", "1K", "--seed", 6, "--order", "send-first"])
        assert_exact(cc, sc, "backend FIN mid-stream")
        c = cc[0]
        check(c["t_rx_eof_ms"] < c["t_tx_done_ms"],
              "client saw EOF at %d ms, after it finished sending at %d ms" % (
                  c["t_rx_eof_ms"], c["t_tx_done_ms"]))

        log("client shuts write early while the backend is still streaming 32 MiB")
        crc, cc, src, sc = transfer(t, "10.77.1.1:8080", "10.77.2.2:9000",
                                    client=["--send", "1K", "--seed", 7, "--order", "send-first"],
                                    server=["--send", "32M", "--seed", 8])
        assert_exact(cc, sc, "client FIN mid-stream")

        l = k.wait_stat("hc", lambda l: l["active"] == 0, 5, "active back to 0")
        check(l["total"] == 4 and not any(l["errors"].values()), "stats %s" % l)
        if fastpath:
            check(l["spliced"] == 4 and l["kernel_bytes_in"] > 0 and l["kernel_bytes_out"] > 0,
                  "not spliced: %s" % l)
        k.finish()


if __name__ == "__main__":
    run(main)
