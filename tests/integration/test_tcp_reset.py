#!/usr/bin/python3
"""RST passes through kfwd both ways and is counted (backend_reset, client_reset).

test_fast_reset.py runs the same with fastpath = true."""
import errno
import os
import socket
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kfwdtest import Topology, check, log, run, transfer  # noqa: E402


def expect_reset(conns, who):
    check(len(conns) == 1, "%s: %d connections" % (who, len(conns)))
    c = conns[0]
    check(c["error"] == "ECONNRESET", "%s should have seen ECONNRESET, got %r (%s) after rx %d tx %d" % (
        who, c["error"], c["error_op"], c["rx_bytes"], c["tx_bytes"]))


def main(fastpath=False):
    with Topology() as t:
        extra = dict(fastpath=fastpath)
        k = t.kfwd([dict(name="rst", bind="10.77.1.1:8080", proto="tcp",
                         backends=["10.77.2.2:9000"], **extra)]).start()
        if fastpath:
            check(k.listener("rst")["path"] == "fastpath", "not on the fast path")

        def errors():
            return k.listener("rst")["errors"]

        log("backend resets (SO_LINGER 0) after 64 KiB while the client streams")
        crc, cc, src, sc = transfer(t, "10.77.1.1:8080", "10.77.2.2:9000",
                                    client=["--send", "256M"],
                                    server=["--reset-after-rx", "64K", "--no-shutdown"],
                                    timeout=30)
        check(sc[0]["reset_sent"], "backend did not reset: %s" % sc[0])
        expect_reset(cc, "client")
        k.wait_stat("rst", lambda l: l["errors"]["backend_reset"] == 1, 5, "backend_reset == 1")

        log("backend resets while the client only waits to read")
        crc, cc, src, sc = transfer(t, "10.77.1.1:8080", "10.77.2.2:9000",
                                    client=["--send", 1, "--no-shutdown"],
                                    server=["--reset-after-rx", 1, "--no-shutdown"], timeout=30)
        expect_reset(cc, "idle client")
        k.wait_stat("rst", lambda l: l["errors"]["backend_reset"] == 2, 5, "backend_reset == 2")

        log("client resets after 128 KiB while the backend streams")
        crc, cc, src, sc = transfer(t, "10.77.1.1:8080", "10.77.2.2:9000",
                                    client=["--send", "1M", "--reset-after-tx", "128K"],
                                    server=["--send", "256M"], timeout=30)
        check(cc[0]["reset_sent"], "client did not reset: %s" % cc[0])
        expect_reset(sc, "backend")
        k.wait_stat("rst", lambda l: l["errors"]["client_reset"] == 1, 5, "client_reset == 1")

        log("client resets while the backend only waits to read")
        crc, cc, src, sc = transfer(t, "10.77.1.1:8080", "10.77.2.2:9000",
                                    client=["--send", "1K", "--reset-after-tx", "1K"],
                                    server=["--no-shutdown"], timeout=30)
        expect_reset(sc, "idle backend")
        l = k.wait_stat("rst", lambda l: l["errors"]["client_reset"] == 2 and l["active"] == 0, 5,
                        "client_reset == 2, active 0")

        log("backend sends FIN, then RST, while the client is idle after reading the EOF")
        srv = t.backend.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.bind(("10.77.2.2", 9000))
        srv.listen()
        srv.settimeout(5)
        cli = t.client.socket(socket.AF_INET, socket.SOCK_STREAM)
        cli.settimeout(5)
        cli.connect(("10.77.1.1", 8080))
        conn, _ = srv.accept()
        conn.sendall(b"response")
        conn.shutdown(socket.SHUT_WR)
        check(cli.recv(100) == b"response" and cli.recv(100) == b"", "response and EOF")
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()
        l = k.wait_stat("rst", lambda l: l["errors"]["backend_reset"] == 3 and l["active"] == 0, 5,
                        "the reset after a FIN passed on")
        # Linux reports a reset that follows a FIN as EPIPE (tcp_reset in CLOSE_WAIT).
        err = cli.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        check(err in (errno.ECONNRESET, errno.EPIPE), "client socket error %d" % err)

        e = l["errors"]
        check(e["backend_reset"] == 3 and e["client_reset"] == 2, "reset counters %s" % e)
        check(sum(e.values()) == 5, "other errors counted: %s" % e)
        check(l["total"] == 5, "total %d" % l["total"])
        if fastpath:
            # The two clients that reset may do so before kfwd's connection to the
            # backend is up (they send at once): those end before they could be spliced.
            check(l["spliced"] >= 3, "total %d spliced %d" % (l["total"], l["spliced"]))
            check(k.flows()["flows"] == [], "flows left: %s" % k.flows())
        k.finish()


if __name__ == "__main__":
    run(main)
