#!/usr/bin/python3
"""SIGTERM: listeners close at once, a running transfer drains within the grace
period and kfwd exits 0; with a short grace a stuck connection is cut (RST to
both ends) and kfwd still exits 0."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kfwdtest import Topology, assert_exact, check, log, run  # noqa: E402

LONG = 8 << 20
RATE = 4 << 20  # ~2 s


def main():
    web = dict(name="web", bind="10.77.1.1:8080", proto="tcp", backends=["10.77.2.2:9000"])
    with Topology() as t:
        k = t.kfwd([web], name="drain", grace_ms=8000).start()
        srv = t.backend.peer("server", "--listen", "10.77.2.2:9000", "--send", LONG, "--seed", 2,
                             "--rate", RATE, "--conns", 1, "--timeout", 60000).wait_listening()
        cli = t.client.peer("client", "--connect", "10.77.1.1:8080", "--send", LONG, "--seed", 1,
                            "--rate", RATE, "--progress", 200, "--timeout", 60000)
        cli.wait_line(lambda l: '"progress"' in l and '"tx":0,' not in l, 10, "transfer under way")
        log("SIGTERM with a transfer in progress (grace 8 s)")
        t0 = time.monotonic()
        k.send_signal(signal.SIGTERM)
        # New connections are refused once the listeners are closed.
        late = None
        for _ in range(20):
            late = t.client.peer("client", "--connect", "10.77.1.1:8080", "--timeout", 5000)
            _, lc = late.result(10)
            if lc[0]["error"] == "ECONNREFUSED":
                break
            time.sleep(0.05)
        check(lc[0]["error"] == "ECONNREFUSED", "new connection during drain: %s" % lc[0])
        rc = k.proc.wait(15)
        took = time.monotonic() - t0
        _, cc = cli.result(30)
        _, sc = srv.result(30)
        log("kfwd exited %d %.2f s after SIGTERM; transfer ended at +%d ms" % (rc, took, cc[0]["t_end_ms"]))
        assert_exact(cc, sc, "transfer drained after SIGTERM")
        check(rc == 0, "exit code %d" % rc)
        check(took < 6, "drain took %.1f s, the transfer needed ~2 s" % took)
        k.check_log_clean()

    with Topology() as t:
        k = t.kfwd([web], name="cut", grace_ms=500).start()
        srv = t.backend.peer("server", "--listen", "10.77.2.2:9000", "--no-shutdown", "--conns", 1,
                             "--timeout", 30000).wait_listening()
        cli = t.client.peer("client", "--connect", "10.77.1.1:8080", "--no-shutdown", "--send", 100,
                            "--timeout", 30000)
        k.wait_stat("web", lambda l: l["active"] == 1 and l["bytes_in"] == 100, 5, "stuck connection up")
        log("SIGTERM with a stuck connection (grace 0.5 s)")
        t0 = time.monotonic()
        k.send_signal(signal.SIGTERM)
        s = k.stats()
        check(s["state"] == "draining", "state %s" % s["state"])
        rc = k.proc.wait(10)
        took = time.monotonic() - t0
        log("kfwd exited %d %.2f s after SIGTERM" % (rc, took))
        check(rc == 0, "exit code %d" % rc)
        check(0.4 <= took < 3, "exit %.2f s after SIGTERM with grace 0.5 s" % took)
        _, cc = cli.result(10)
        _, sc = srv.result(10)
        check(cc[0]["error"] == "ECONNRESET", "client: %s" % cc[0])
        check(sc[0]["error"] == "ECONNRESET", "backend: %s" % sc[0])
        k.check_log_clean()

    with Topology() as t:
        k = t.kfwd([web], name="twice", grace_ms=60000).start()
        srv = t.backend.peer("server", "--listen", "10.77.2.2:9000", "--no-shutdown", "--conns", 1,
                             "--timeout", 30000).wait_listening()
        cli = t.client.peer("client", "--connect", "10.77.1.1:8080", "--no-shutdown", "--send", 100,
                            "--timeout", 30000)
        k.wait_stat("web", lambda l: l["active"] == 1 and l["bytes_in"] == 100, 5, "stuck connection up")
        log("SIGTERM with a stuck connection and a 60 s grace, then a second SIGTERM")
        k.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        check(k.proc.alive() and k.stats()["state"] == "draining", "not draining after one SIGTERM")
        t0 = time.monotonic()
        k.send_signal(signal.SIGTERM)
        rc = k.proc.wait(10)
        took = time.monotonic() - t0
        log("kfwd exited %d %.2f s after the second SIGTERM" % (rc, took))
        check(rc == 0 and took < 2, "exit %d after %.2f s" % (rc, took))
        _, cc = cli.result(10)
        check(cc[0]["error"] == "ECONNRESET", "client: %s" % cc[0])
        check("second stop signal" in k.log_text(), "no log line for the second signal")
        k.check_log_clean()


run(main)
