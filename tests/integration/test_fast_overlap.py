#!/usr/bin/python3
"""A backend retransmission that overlaps bytes kfwd's socket already received.

TCP queues such a segment (seq < rcv_nxt < end_seq) untrimmed and its own
readers skip the old head; the sockmap verdict is handed the whole skb, so
without kfwd cutting the old bytes off they reach the client twice.

The backend here is a minimal TCP host written in this test, behind a TUN
device in gw (no kernel TCP stack answers for its address): it accepts kfwd's
connection and sends 0..A, then a segment covering A-OLD..B (OLD bytes kfwd has
already received, more than one 4095-byte cut), then B..N with FIN. The client
must read exactly bytes 0..N, on the fast path (where the kernel counters show
the cut) and on the userspace relay."""
import ctypes
import fcntl
import hashlib
import os
import random
import select
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kfwdtest import Topology, check, log, run, wait_for  # noqa: E402

TUNSETIFF = 0x400454CA
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000
GW_TUN, HOST = "10.77.3.1", "10.77.3.2"
PORT = 9100
N, A, B = 20000, 6000, 16000  # the retransmitted segment covers A - OLD .. B
OLD = 5000


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ip_packet(src, dst, sport, dport, seq, ack, flags, payload=b"", opts=b""):
    thl = 20 + len(opts)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                      (thl // 4) << 4, flags, 65535, 0, 0) + opts + payload
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return hdr + tcp


class FakeHost:
    """One TCP connection's server side over a TUN fd, driven by the test."""
    SYN, ACK, PSH, FIN = 0x02, 0x10, 0x08, 0x01

    def __init__(self, fd):
        self.fd = fd
        self.iss = random.randrange(1 << 32)
        self.peer = None  # (addr, port)
        self.rcv = 0

    def read(self, timeout):
        """The next TCP segment to HOST:PORT as (src, sport, seq, flags, payload), or None."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            r, _, _ = select.select([self.fd], [], [], max(0.0, end - time.monotonic()))
            if not r:
                return None
            pkt = os.read(self.fd, 70000)
            if len(pkt) < 40 or pkt[0] >> 4 != 4 or pkt[9] != 6:
                continue
            ihl = (pkt[0] & 15) * 4
            if socket.inet_ntoa(pkt[16:20]) != HOST:
                continue
            sport, dport, seq, _ack, off, flags = struct.unpack("!HHIIBB", pkt[ihl:ihl + 14])
            if dport != PORT:
                continue
            return socket.inet_ntoa(pkt[12:16]), sport, seq, flags, pkt[ihl + (off >> 4) * 4:]
        return None

    def send(self, seq_off, flags, payload=b"", opts=b""):
        os.write(self.fd, ip_packet(HOST, self.peer[0], PORT, self.peer[1],
                                    self.iss + seq_off, self.rcv, flags, payload, opts))

    def accept(self, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            seg = self.read(end - time.monotonic())
            check(seg is not None, "no SYN from kfwd to the fake backend")
            src, sport, seq, flags, _ = seg
            if flags & self.SYN and not flags & self.ACK:
                self.peer, self.rcv = (src, sport), seq + 1
                # SYN-ACK with MSS 1460 and no window scaling: kfwd's window stays <= 64 KiB.
                self.send(0, self.SYN | self.ACK, opts=struct.pack("!BBH", 2, 4, 1460))
            elif self.peer and flags & self.ACK and (src, sport) == self.peer:
                return
        check(False, "the fake backend's handshake did not complete")


def open_tun(t):
    """A TUN device kt0 in gw, routing GW_TUN/24 to this process."""
    here = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    there = os.open("/run/netns/" + t.gw.name, os.O_RDONLY)
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    try:
        check(libc.setns(there, 0x40000000) == 0, "setns gw")
        try:
            tfd = os.open("/dev/net/tun", os.O_RDWR)
            fcntl.ioctl(tfd, TUNSETIFF, struct.pack("16sH", b"kt0", IFF_TUN | IFF_NO_PI))
        finally:
            if libc.setns(here, 0x40000000) != 0:
                os._exit(99)
    finally:
        os.close(here)
        os.close(there)
    t.gw.run(["ip", "addr", "add", GW_TUN + "/24", "dev", "kt0"])
    t.gw.run(["ip", "link", "set", "kt0", "mtu", "65000", "up"])
    return tfd


def one(t, k, tfd, name, port):
    data = random.Random(port).randbytes(N)
    host = FakeHost(tfd)
    cli = t.client.socket(socket.AF_INET, socket.SOCK_STREAM)
    cli.settimeout(20)
    cli.connect(("10.77.1.1", port))
    host.accept(10)
    host.send(1, FakeHost.ACK | FakeHost.PSH, data[:A])
    # Let kfwd's socket take the first segment before the overlapping one.
    time.sleep(0.2)
    host.send(1 + A - OLD, FakeHost.ACK | FakeHost.PSH, data[A - OLD:B])
    time.sleep(0.1)
    host.send(1 + B, FakeHost.ACK | FakeHost.PSH | FakeHost.FIN, data[B:])
    got = bytearray()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        host.read(0)  # keep the TUN queue short
        try:
            b = cli.recv(65536)
        except socket.timeout:
            break
        if not b:
            break
        got += b
    cli.close()
    log("%s: client read %d bytes, the backend sent %d distinct" % (name, len(got), N))
    check(len(got) == N and hashlib.sha256(got).hexdigest() == hashlib.sha256(data).hexdigest(),
          "%s: the client's stream differs from the backend's: %d bytes (%d duplicated?)" %
          (name, len(got), len(got) - N))


def main():
    with Topology() as t:
        tfd = open_tun(t)
        k = t.kfwd([
            dict(name="fast", bind="10.77.1.1:8080", proto="tcp",
                 backends=["%s:%d" % (HOST, PORT)], fastpath=True),
            dict(name="slow", bind="10.77.1.1:8081", proto="tcp",
                 backends=["%s:%d" % (HOST, PORT)], fastpath=False),
        ]).start()
        check(k.stats()["fastpath"]["active"], "fast path not active")
        one(t, k, tfd, "fast path", 8080)
        kern = wait_for(lambda: (lambda s: s if s["overlap_skbs"] >= 1 else None)(
            k.stats()["fastpath"]["kernel"]), 5, "the verdict counted the overlap")
        check(kern["overlap_bytes"] == OLD and kern["overlap_failures"] == 0,
              "overlap counters %s (want %d bytes cut)" % (kern, OLD))
        one(t, k, tfd, "userspace relay", 8081)
        os.close(tfd)
        k.finish()


run(main)
