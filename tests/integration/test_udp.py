#!/usr/bin/python3
"""UDP forwarding: request/response for several clients, replies from the address
the client sent to (also for wildcard binds, IPv4 and IPv6), idle expiry and a new
flow for the next datagram."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kfwdtest import Topology, check, log, run, wait_for  # noqa: E402

IDLE_MS = 1000
MANY = 1200
GW2_V4, GW2_V6 = "10.77.1.11", "fd77:1::11"


def norm(addr):
    """(host, port) of a recvfrom address, v4 or v6."""
    return (socket.inet_ntop(socket.AF_INET6, socket.inet_pton(socket.AF_INET6, addr[0]))
            if ":" in addr[0] else addr[0], addr[1])


def exchange(sock, dest, payload):
    """Send payload to dest; return the reply's source after checking its content."""
    sock.sendto(payload, dest)
    data, src = sock.recvfrom(65536)
    check(data == payload, "reply differs: %d bytes sent, %d received" % (len(payload), len(data)))
    return norm(src)


def main():
    with Topology() as t:
        t.add_gw_address(v4=GW2_V4, v6=GW2_V6)
        for addr in ("10.77.2.2:5300", "[fd77:2::2]:5300"):
            t.backend.peer("udp-echo", "--listen", addr).wait_listening()
        udp = dict(proto="udp", idle_timeout_ms=IDLE_MS)
        k = t.kfwd([
            dict(name="dns4", bind="10.77.1.1:5353", backends=["10.77.2.2:5300"], **udp),
            dict(name="dns6", bind="[fd77:1::1]:5353", backends=["[fd77:2::2]:5300"], **udp),
            dict(name="any4", bind="*:5354", backends=["10.77.2.2:5300"], **udp),
            dict(name="any6", bind="[::]:5354", backends=["[fd77:2::2]:5300"], **udp),
            dict(name="mixed", bind="10.77.1.1:5355", backends=["[fd77:2::2]:5300"], **udp),
            dict(name="closed", bind="10.77.1.1:5356", backends=["10.77.2.2:5399"], **udp),
            dict(name="many", bind="10.77.1.1:5357", backends=["10.77.2.2:5300"], proto="udp",
                 idle_timeout_ms=3000),
        ]).start()

        log("5 IPv4 clients, 3 datagrams each (up to 8000 bytes), on one listener")
        socks = [t.client.socket(socket.AF_INET) for _ in range(5)]
        for i, s in enumerate(socks):
            s.settimeout(3)
            s.bind(("10.77.1.2", 0))
            for j, size in enumerate((1, 1400, 8000)):
                src = exchange(s, ("10.77.1.1", 5353), bytes([i, j]) * (size // 2) or b"x")
                check(src == ("10.77.1.1", 5353), "reply from %s" % (src,))
        l = k.listener("dns4")
        check(l["active"] == 5 and l["total"] == 5, "dns4 active/total %d/%d" % (l["active"], l["total"]))
        check(l["packets_in"] == 15 and l["packets_out"] == 15,
              "dns4 packets %d/%d" % (l["packets_in"], l["packets_out"]))

        log("idle expiry after %d ms" % IDLE_MS)
        last = time.monotonic()
        time.sleep(IDLE_MS / 2000.0)
        active = k.listener("dns4")["active"]
        if time.monotonic() - last < IDLE_MS / 1000.0 * 0.9:  # a slow stats call proves nothing
            check(active == 5, "flows expired before idle_timeout_ms")
        wait_for(lambda: k.listener("dns4")["active"] == 0, 5, "dns4 flows to expire", interval=0.1)
        gone = time.monotonic() - last
        log("flows gone %.2f s after the last datagram" % gone)
        check(gone >= IDLE_MS / 1000.0 * 0.9, "expired after %.2f s" % gone)
        src = exchange(socks[0], ("10.77.1.1", 5353), b"again")
        check(src == ("10.77.1.1", 5353), "reply from %s" % (src,))
        l = k.listener("dns4")
        check(l["active"] == 1 and l["total"] == 6,
              "after expiry: active %d total %d" % (l["active"], l["total"]))

        log("edge sizes: empty datagrams and the largest IPv4/IPv6 ones")
        for fam, dst, sizes in ((socket.AF_INET, ("10.77.1.1", 5353), (0, 65507)),
                                (socket.AF_INET6, ("fd77:1::1", 5353), (0, 65527))):
            s = t.client.socket(fam)
            s.settimeout(3)
            for size in sizes:
                check(exchange(s, dst, os.urandom(size)) == dst, "reply source for %d bytes" % size)

        log("IPv6 listener, 3 clients")
        for i in range(3):
            s = t.client.socket(socket.AF_INET6)
            s.settimeout(3)
            src = exchange(s, ("fd77:1::1", 5353), b"six%d" % i * 100)
            check(src == ("fd77:1::1", 5353), "v6 reply from %s" % (src,))
        l = k.listener("dns6")
        check(l["active"] == 4 and l["total"] == 4, "dns6 %d/%d" % (l["active"], l["total"]))

        log("wildcard binds: the reply comes from the address the client wrote to")
        for fam, name, addrs in ((socket.AF_INET, "any4", ("10.77.1.1", GW2_V4)),
                                 (socket.AF_INET6, "any6", ("fd77:1::1", GW2_V6))):
            s = t.client.socket(fam)
            s.settimeout(3)
            for rnd in range(2):
                for a in addrs:
                    src = exchange(s, (a, 5354), ("%s %s %d" % (name, a, rnd)).encode())
                    check(src == (a, 5354), "%s: sent to %s, reply from %s" % (name, a, src))
            l = k.listener(name)
            # One flow per (client, local address) pair.
            check(l["total"] == 2 and l["packets_in"] == 4 and l["packets_out"] == 4,
                  "%s stats %s" % (name, l))

        log("IPv4 client, IPv6 backend")
        s = t.client.socket(socket.AF_INET)
        s.settimeout(3)
        check(exchange(s, ("10.77.1.1", 5355), b"mixed") == ("10.77.1.1", 5355), "mixed reply source")

        log("%d clients at once on one listener (flow tables grow), twice" % MANY)
        many = [t.client.socket(socket.AF_INET) for _ in range(MANY)]
        for rnd in range(2):
            for i, s in enumerate(many):
                s.setblocking(False)
                s.sendto(b"%d:%d" % (rnd, i), ("10.77.1.1", 5357))
                if i % 50 == 49:
                    time.sleep(0.005)  # the echo server's socket buffer is the limit, not kfwd
            got = {}
            deadline = time.monotonic() + 5
            for _ in range(200):
                for i, s in enumerate(many):
                    if i not in got:
                        try:
                            got[i] = s.recvfrom(100)
                        except BlockingIOError:
                            pass
                if len(got) == MANY or time.monotonic() > deadline:
                    break
                time.sleep(0.02)
            check(len(got) == MANY, "round %d: %d of %d replies" % (rnd, len(got), MANY))
            for i, (data, src) in got.items():
                check(data == b"%d:%d" % (rnd, i) and src == ("10.77.1.1", 5357), "reply %r %r" % (data, src))
            l = k.listener("many")
            check(l["total"] == MANY and l["active"] == MANY and l["packets_out"] == (rnd + 1) * MANY,
                  "many after round %d: %s" % (rnd, l))

        log("nothing listens on the backend port: ICMP unreachable is counted")
        s = t.client.socket(socket.AF_INET)
        s.settimeout(0.3)
        for i in range(3):
            s.sendto(b"anyone? %d" % i, ("10.77.1.1", 5356))
            try:
                data, src = s.recvfrom(100)
                check(False, "reply %r from a closed port" % data)
            except socket.timeout:
                pass
        l = k.wait_stat("closed", lambda l: l["errors"]["backend_unreachable"] >= 1, 5,
                        "backend_unreachable counted")
        check(l["total"] == 1 and l["packets_out"] == 0, "closed: %s" % l)

        for name in ("dns4", "dns6", "any4", "any6", "mixed", "closed", "many"):
            k.wait_stat(name, lambda l: l["active"] == 0, 5, "flows to expire")
        for l in k.stats()["listeners"]:
            if l["name"] != "closed":
                check(not any(l["errors"].values()), "%s errors %s" % (l["name"], l["errors"]))
        k.finish()


run(main)
