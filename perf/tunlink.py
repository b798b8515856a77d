#!/usr/bin/env python3
"""perf/tunlink.py: an IP link between two network namespaces that runs through
build/tools/udp-impair, so that TCP (stunnel) and QUIC (kfwd) see the same
delay. Used by perf/run-tunnel.sh; not meant to be run alone.

  tunlink.py NS_A NS_B NS_WIRE IMPAIR_PORT PORT_B

Creates a TUN device "tl0" in NS_A and in NS_B (the caller addresses them and
sets them up once "ready" is printed). Every IP packet A sends on tl0 goes as
one UDP datagram from 127.0.0.1 in NS_WIRE to udp-impair (127.0.0.1:IMPAIR_PORT
there), which relays it to 127.0.0.1:PORT_B, our socket for B, which writes it
to B's tl0. B's packets go back the same way (to the address udp-impair's
session uses). The TUN devices vanish with this process. Runs until killed.
"""
import ctypes
import fcntl
import os
import select
import socket
import struct
import sys

TUNSETIFF = 0x400454CA
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000
CLONE_NEWNET = 0x40000000
libc = ctypes.CDLL("libc.so.6", use_errno=True)


def in_ns(name, fn):
    """Run fn() with this thread in namespace name; the fds it makes stay there."""
    here = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    there = os.open("/run/netns/" + name, os.O_RDONLY)
    try:
        if libc.setns(there, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns " + name)
        try:
            return fn()
        finally:
            if libc.setns(here, CLONE_NEWNET) != 0:
                os._exit(99)
    finally:
        os.close(here)
        os.close(there)


def tun():
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", b"tl0", IFF_TUN | IFF_NO_PI))
    return fd


def udp(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind(("127.0.0.1", port))
    return s


def main(ns_a, ns_b, ns_wire, impair_port, port_b):
    tun_a = in_ns(ns_a, tun)
    tun_b = in_ns(ns_b, tun)
    ua = in_ns(ns_wire, lambda: udp(0))
    ub = in_ns(ns_wire, lambda: udp(port_b))
    impair = ("127.0.0.1", impair_port)
    peer = None  # udp-impair's session address, learnt from A's first packet

    def forward(fd):
        nonlocal peer
        if fd == tun_a:
            ua.sendto(os.read(tun_a, 65536), impair)
        elif fd == ua:
            os.write(tun_a, ua.recv(65536))
        elif fd == ub:
            pkt, peer = ub.recvfrom(65536)
            os.write(tun_b, pkt)
        else:
            pkt = os.read(tun_b, 65536)
            if peer:
                ub.sendto(pkt, peer)

    print("ready", flush=True)
    while True:
        for fd in select.select([tun_a, tun_b, ua, ub], [], [])[0]:
            try:
                forward(fd)
            except OSError:
                pass  # a lost packet (ICMP error queued on a socket, full queue): like a wire


if __name__ == "__main__":
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
