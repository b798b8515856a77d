#!/usr/bin/python3
"""The XDP front door: sanitize drops new UDP flows whose first datagram is not
a protocol the listener accepts (QUIC v1/v2 Initial, WireGuard initiation,
other) before kfwd's socket sees them, and counts them by class and reason;
deny_sources / allow_sources refuse sources (UDP and TCP, IPv4 and IPv6), and
a reload changes them; the per-source new-flow token bucket drops a flood of
new UDP flows and TCP SYNs while an established flow of the same source keeps
its full rate."""
import os
import select
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kfwdtest import Topology, check, log, run, wait_for  # noqa: E402
from xdptest import Echo, exchange, start_kfwd, wire_like, xdp_config  # noqa: E402

GW4, GW6 = "10.77.1.1", "fd77:1::1"
BE4, BE6 = "10.77.2.2:5300", "[fd77:2::2]:5300"


def quic_initial(version, size=1200, first=None):
    if first is None:
        first = 0xd3 if version == 0x6b3343cf else 0xc3  # v2 Initial is type 0b01
    hdr = bytes([first]) + struct.pack("!I", version) + b"\x08" + b"D" * 8 + b"\x00"
    return hdr + b"\x00" * (size - len(hdr))


def wg_initiation():
    return b"\x01\x00\x00\x00" + b"W" * 144


def no_reply(sock, dest, payload, wait=0.3):
    """Send payload; true if nothing came back within wait."""
    sock.settimeout(wait)
    sock.sendto(payload, dest)
    try:
        sock.recvfrom(65536)
        return False
    except socket.timeout:
        return True


class TcpEcho:
    def __init__(self, ns, addr, port):
        self.sock = ns.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((addr, port))
        self.sock.listen(64)
        self.sock.settimeout(0.1)
        self.stop = False
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        c.settimeout(5)
        try:
            while True:
                d = c.recv(65536)
                if not d:
                    break
                c.sendall(d)
        except OSError:
            pass
        c.close()


def connects(t, port, n, timeout=0.3):
    """Open n TCP connections to gw:port; return the connected sockets and the failure count."""
    ok, failed = [], 0
    for _ in range(n):
        s = t.client.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect((GW4, port))
            ok.append(s)
        except OSError:
            failed += 1
            s.close()
    return ok, failed


def sanitize(t, k):
    log("sanitize, accept quic: junk, short headers and WireGuard never reach the socket")
    c = t.client.socket(socket.AF_INET)
    dest = (GW4, 4433)
    for i in range(5):
        check(no_reply(c, dest, b"junk %d" % i * 10), "junk answered")
    check(no_reply(c, dest, quic_initial(1, first=0x43)), "short header answered")
    check(no_reply(c, dest, wg_initiation()), "WireGuard answered on a QUIC listener")
    check(no_reply(c, dest, quic_initial(1, size=1199)), "an Initial under 1200 bytes answered")
    exchange(c, dest, quic_initial(1))
    # Established now: what follows on this flow is not sanitized again.
    exchange(c, dest, b"not quic, but the flow is established")
    exchange(t.client.socket(socket.AF_INET), dest, quic_initial(0x6b3343cf))
    l = k.listener("q")
    x = l["xdp"]
    check(l["total"] == 2, "kfwd's socket saw %d flows, expected 2" % l["total"])
    check(x["reasons"]["sanitize"] == 8, "sanitize drops %s" % x["reasons"])
    check(x["classes"] == {"quic_v1": 1, "quic_v2": 1, "wireguard": 1, "other": 7},
          "classes %s" % x["classes"])

    log("sanitize, accept wireguard (IPv6)")
    c = t.client.socket(socket.AF_INET6)
    dest = (GW6, 51820)
    check(no_reply(c, dest, quic_initial(1)), "QUIC answered on a WireGuard listener")
    exchange(c, dest, wg_initiation())
    l = k.listener("wg")
    check(l["total"] == 1 and l["xdp"]["reasons"]["sanitize"] == 1, "wg %s" % l)


def sources(t, k, listeners):
    log("deny_sources / allow_sources")
    c4 = t.client.socket(socket.AF_INET)
    c6 = t.client.socket(socket.AF_INET6)
    check(no_reply(c4, (GW4, 6000), b"denied?"), "denied source answered")
    check(no_reply(c4, (GW4, 6001), b"allowed?"), "source outside allow_sources answered")
    exchange(c6, (GW6, 6001), b"allowed v6")
    ok, failed = connects(t, 7000, 2)
    check(not ok and failed == 2, "TCP from a denied source connected")
    check(k.listener("deny")["xdp"]["reasons"]["denied"] == 1, "deny counts")
    check(k.listener("allow4")["xdp"]["reasons"]["not_allowed"] == 1, "allow counts")
    check(k.listener("tcpdeny")["xdp"]["reasons"]["denied"] >= 2, "TCP deny counts")
    for name in ("deny", "allow4", "tcpdeny"):
        check(k.listener(name)["total"] == 0, "%s: a refused source reached kfwd" % name)

    log("reload without the lists: the same sources get through")
    for l in listeners:
        l.pop("deny_sources", None)
        l.pop("allow_sources", None)
    s = k.reload(text=xdp_config(k, listeners))
    check(s["reload_failures"] == 0, "reload failed")
    exchange(c4, (GW4, 6000), b"no longer denied")
    exchange(c4, (GW4, 6001), b"no longer outside")
    ok, failed = connects(t, 7000, 1, timeout=2)
    check(len(ok) == 1, "TCP after the reload")
    ok[0].sendall(b"ping")
    check(ok[0].recv(10) == b"ping", "TCP echo after the reload")


def token_bucket(t, k):
    log("new-flow token bucket (5/s, burst 5): a flood of new flows from one source")
    dest = (GW4, 6002)
    est = t.client.socket(socket.AF_INET)
    exchange(est, dest, b"established")
    t0 = time.monotonic()
    for i in range(300):
        exchange(est, dest, b"b%d" % i)
    before = 300 / (time.monotonic() - t0)
    time.sleep(1.2)  # the bucket refills what the established flow took
    state = {"n": 0, "lost": 0, "stop": False}

    def established():
        while not state["stop"]:
            try:
                exchange(est, dest, b"e%d" % state["n"], timeout=1)
                state["n"] += 1
            except socket.timeout:
                state["lost"] += 1

    th = threading.Thread(target=established)
    flood = [t.client.socket(socket.AF_INET) for _ in range(200)]
    th.start()
    t0 = time.monotonic()
    for i, s in enumerate(flood):  # 200 new flows in 20 bursts over 0.5 s
        s.setblocking(False)
        s.sendto(b"new flow", dest)
        if i % 10 == 9:
            time.sleep(0.025)
    time.sleep(0.2)
    state["stop"] = True
    th.join(10)
    elapsed = time.monotonic() - t0
    during = state["n"] / elapsed
    # Every flood packet is either dropped in XDP or reaches kfwd's socket;
    # once the counters add up to 200 (more is checked below), wait for the echo of each one that
    # got through (a loaded machine may take longer than the 0.2 s above).
    seen = {}

    def settled():
        l = k.listener("rate")
        seen.update(packets_in=l["packets_in"], rate=l["xdp"]["reasons"]["rate"])
        return l["packets_in"] - 1 + l["xdp"]["reasons"]["rate"] >= len(flood)

    wait_for(settled, 5, "every flood packet to be dropped or passed",
             detail=lambda: "last seen %s (1 of packets_in is the established flow's first)"
             % seen)
    passed = seen["packets_in"] - 1
    answered, pending = 0, set(flood)
    deadline = time.monotonic() + 5
    while pending and answered < passed and time.monotonic() < deadline:
        ready, _, _ = select.select(list(pending), [], [], 0.2)
        for s in ready:
            s.recvfrom(100)
            answered += 1
            pending.discard(s)
    log("flood: %d of %d new flows answered in %.2fs; the established flow meanwhile: "
        "%d exchanges (%.0f/s; %.0f/s before), %d lost" % (
            answered, len(flood), elapsed, state["n"], during, before, state["lost"]))
    check(5 <= answered <= 5 + 5 * elapsed + 2, "%d new flows got through" % answered)
    check(state["lost"] == 0, "the established flow lost %d exchanges" % state["lost"])
    check(state["n"] >= 100, "the established flow made only %d exchanges" % state["n"])
    l = k.listener("rate")
    check(l["xdp"]["reasons"]["rate"] == len(flood) - answered,
          "rate drops %d, expected %d" % (l["xdp"]["reasons"]["rate"], len(flood) - answered))
    check(l["packets_in"] == 1 + answered, "kfwd's socket saw %d" % l["packets_in"])

    log("TCP SYNs: burst 3, then 1/s")
    ok, failed = connects(t, 7001, 6)
    check(len(ok) == 3 and failed == 3, "%d connected, %d failed" % (len(ok), failed))
    for i, s in enumerate(ok):  # established connections are not throttled
        for j in range(50):
            s.sendall(b"x%d.%d" % (i, j))
            s.settimeout(2)
            check(s.recv(100) == b"x%d.%d" % (i, j), "echo over an established connection")
    check(k.listener("tcprate")["xdp"]["reasons"]["rate"] >= 3, "TCP rate drops")


def main():
    with Topology() as t:
        wire_like(t)
        echoes = [Echo(t.backend, socket.AF_INET, "10.77.2.2", 5300),
                  Echo(t.backend, socket.AF_INET6, "fd77:2::2", 5300)]
        tcp = TcpEcho(t.backend, "10.77.2.2", 7000)
        udp = dict(proto="udp", idle_timeout_ms=30000)
        listeners = [
            dict(name="q", bind="%s:4433" % GW4, backends=[BE4], sanitize=True,
                 accept=["quic"], **udp),
            dict(name="wg", bind="[%s]:51820" % GW6, backends=[BE6], sanitize=True,
                 accept=["wireguard"], **udp),
            dict(name="deny", bind="%s:6000" % GW4, backends=[BE4],
                 deny_sources=["10.77.1.0/24"], **udp),
            dict(name="allow4", bind="%s:6001" % GW4, backends=[BE4],
                 allow_sources=["10.77.9.0/24", "fd77:1::/64"], **udp),
            dict(name="allow6", bind="[%s]:6001" % GW6, backends=[BE6],
                 allow_sources=["10.77.9.0/24", "fd77:1::/64"], **udp),
            dict(name="tcpdeny", bind="%s:7000" % GW4, backends=["10.77.2.2:7000"],
                 deny_sources=["10.77.1.2"]),
            dict(name="rate", bind="%s:6002" % GW4, backends=[BE4], new_flow_rate=5,
                 new_flow_burst=5, **udp),
            dict(name="tcprate", bind="%s:7001" % GW4, backends=["10.77.2.2:7000"],
                 new_flow_rate=1, new_flow_burst=3),
        ]
        k = start_kfwd(t, listeners, workers=2)
        sanitize(t, k)
        sources(t, k, listeners)
        token_bucket(t, k)
        x = k.stats()["xdp"]
        check(x["reasons"]["error"] == 0, "program errors %s" % x["reasons"])
        k.finish()
        for e in echoes:
            e.stop()
        tcp.stop = True


run(main)
