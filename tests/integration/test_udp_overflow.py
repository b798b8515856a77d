#!/usr/bin/python3
"""Datagrams the kernel drops at a full listening socket are counted, not lost
silently: with kfwd frozen (SIGSTOP), a burst larger than the socket's queue
overflows it; after SIGCONT, every datagram sent is either forwarded
(packets_in) or counted as rx_overflow, exactly."""
import os
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kfwdtest import Topology, check, log, run  # noqa: E402

BURST = 12000      # datagrams
SIZE = 1200        # bytes each: 14 MB in all, more than the 8 MiB queue


def main():
    with Topology() as t:
        t.backend.peer("udp-echo", "--listen", "10.77.2.2:5300").wait_listening()
        k = t.kfwd([dict(name="u", bind="10.77.1.1:5353", proto="udp",
                         backends=["10.77.2.2:5300"], idle_timeout_ms=60000)]).start()
        s = t.client.socket(socket.AF_INET)
        s.bind(("10.77.1.2", 0))
        s.settimeout(3)
        s.sendto(b"hello", ("10.77.1.1", 5353))
        check(s.recvfrom(100)[0] == b"hello", "first exchange")

        k.send_signal(signal.SIGSTOP)
        try:
            payload = b"x" * SIZE
            for _ in range(BURST):
                s.sendto(payload, ("10.77.1.1", 5353))
            log("sent %d datagrams of %d bytes to a frozen kfwd" % (BURST, SIZE))
        finally:
            k.send_signal(signal.SIGCONT)
        # One more datagram after the queue drained carries the final drop count.
        time.sleep(0.5)
        s.sendto(b"last", ("10.77.1.1", 5353))
        want = BURST + 2

        def settled():
            l = k.listener("u")
            return l if l["packets_in"] + l["errors"]["rx_overflow"] >= want else None

        deadline = time.time() + 10
        l = None
        while time.time() < deadline and not (l := settled()):
            time.sleep(0.1)
        l = l or k.listener("u")
        log("packets_in %d, rx_overflow %d, sent %d" % (
            l["packets_in"], l["errors"]["rx_overflow"], want))
        check(l["errors"]["rx_overflow"] > 0, "the burst overflowed the queue, yet no drop was counted")
        check(l["packets_in"] + l["errors"]["rx_overflow"] == want,
              "forwarded + dropped = %d, sent %d" % (l["packets_in"] + l["errors"]["rx_overflow"], want))
        k.finish()


run(main)
