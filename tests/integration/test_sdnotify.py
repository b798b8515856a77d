#!/usr/bin/python3
"""systemd notifications: with NOTIFY_SOCKET (a unix datagram socket in the
test's folder) and WATCHDOG_USEC set, kfwd sends READY=1 once its listeners
accept, STATUS lines with listener and flow counts, WATCHDOG=1 pings, and on
SIGTERM STOPPING=1 and a draining STATUS, then exits 0. Without NOTIFY_SOCKET
it runs as before (every other test)."""
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sdnotify_util import Notify  # noqa: E402
from kfwdtest import Topology, assert_exact, check, log, run, wait_for  # noqa: E402

SIZE = 4 << 20
RATE = 2 << 20  # ~2 s: a flow is live while the test looks at STATUS


def main():
    web = dict(name="web", bind="10.77.1.1:8080", proto="tcp", backends=["10.77.2.2:9000"])
    with Topology() as t:
        n = Notify(t)
        os.environ["NOTIFY_SOCKET"] = n.path
        os.environ["WATCHDOG_USEC"] = "400000"  # pings every 200 ms
        try:
            k = t.kfwd([web], name="sd", grace_ms=20000).start()
        finally:
            del os.environ["NOTIFY_SOCKET"], os.environ["WATCHDOG_USEC"]

        n.wait(lambda m: m == "READY=1", "READY=1")
        check(k.listener("web") is not None, "READY=1 before the listener exists")
        log("READY=1 received")
        n.wait(lambda m: m == "STATUS=1 listener(s), 0 flow(s)", "STATUS with no flow")
        pings = lambda: sum(1 for m in n.drain() if m == "WATCHDOG=1")  # noqa: E731
        wait_for(lambda: pings() >= 3, 15, "three WATCHDOG=1 pings")
        log("STATUS and %d WATCHDOG=1 pings received" % pings())

        srv = t.backend.peer("server", "--listen", "10.77.2.2:9000", "--send", SIZE, "--seed", 2,
                             "--rate", RATE, "--conns", 1, "--timeout", 60000).wait_listening()
        cli = t.client.peer("client", "--connect", "10.77.1.1:8080", "--send", SIZE, "--seed", 1,
                            "--rate", RATE, "--timeout", 60000)
        n.wait(lambda m: m == "STATUS=1 listener(s), 1 flow(s)", "STATUS with the live flow")
        log("STATUS counts the live flow")

        k.send_signal(signal.SIGTERM)
        n.wait(lambda m: m == "STOPPING=1", "STOPPING=1")
        n.wait(lambda m: m.startswith("STATUS=draining: "), "a draining STATUS")
        msgs = n.drain()
        check(msgs.index("READY=1") < msgs.index("STOPPING=1"), "order: %s" % msgs[:20])
        check(msgs.count("READY=1") == 1, "READY=1 sent %d times" % msgs.count("READY=1"))
        log("STOPPING=1 and a draining STATUS received")

        crc, cc = cli.result(60)
        src, sc = srv.result(60)
        check(crc == 0 and src == 0, "peers exited %s/%s" % (crc, src))
        assert_exact(cc, sc, "transfer during the drain")
        rc = k.proc.wait(30)
        k.check_log_clean()
        check(rc == 0, "kfwd exited %s:\n%s" % (rc, k.log_tail()))
        log("drained transfer byte-exact, kfwd exited 0")


run(main)
