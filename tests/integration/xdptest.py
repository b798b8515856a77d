"""Helpers for the XDP integration tests (test_xdp_*.py), on top of kfwdtest.

Two things make the veth topology behave like hosts on a wire for an XDP
forwarder in gw:

- A veth only takes frames another interface's XDP program redirects to it
  when its peer runs NAPI (an XDP program of its own, or GRO on): turned on
  for the client's and the backend's veth0.
- Sockets on a veth leave the UDP checksum to "hardware" (CHECKSUM_PARTIAL):
  the frame holds only the pseudo-header sum, which an XDP rewrite cannot
  update correctly. Hosts on a wire send complete checksums; so do the
  client and backend here, with TX checksum offload off on their veth0.

Both are set with the SIOCETHTOOL ioctl (no ethtool binary needed) on
links of the test's own namespaces only.
"""

import array
import fcntl
import os
import socket
import struct
import subprocess
import threading

from kfwdtest import check, render_config, sh

SIOCETHTOOL = 0x8946
ETHTOOL_STXCSUM = 0x00000017
ETHTOOL_SGRO = 0x0000002c


def ethtool_set(ns, dev, cmd, value):
    """Legacy ethtool_value set command on dev inside ns."""
    s = ns.socket(socket.AF_INET, socket.SOCK_DGRAM)
    val = array.array("I", [cmd, value])
    addr, _ = val.buffer_info()
    ifreq = struct.pack("16sP", dev.encode(), addr).ljust(40, b"\0")
    fcntl.ioctl(s.fileno(), SIOCETHTOOL, ifreq)
    s.close()


def wire_like(t):
    """Client and backend send complete checksums and accept redirected frames;
    gw may forward (bpf_fib_lookup refuses otherwise)."""
    for ns in (t.client, t.backend):
        ethtool_set(ns, "veth0", ETHTOOL_STXCSUM, 0)
        ethtool_set(ns, "veth0", ETHTOOL_SGRO, 1)
    for key in ("net.ipv4.conf.all.forwarding", "net.ipv6.conf.all.forwarding"):
        t.gw.run(["sysctl", "-q", "-w", key + "=1"])


class Bpffs:
    """A bpffs of the test's own (kfwd's pins, visible from here), unmounted at exit."""

    def __init__(self, t):
        self.path = os.path.join(t.tmpdir, "bpffs")

    def __enter__(self):
        os.makedirs(self.path, exist_ok=True)
        sh(["mount", "-t", "bpf", "bpf", self.path])
        return self

    def __exit__(self, *exc):
        subprocess.run(["umount", "-l", self.path], timeout=10)
        return False


def xdp_config(k, listeners, interfaces=("vc", "vb"), **glob):
    """Config text for Kfwd k with the XDP globals."""
    return render_config(listeners, workers=k.workers, control_socket=k.sock,
                         instance=k.instance, shutdown_grace_ms=k.grace_ms,
                         interfaces=list(interfaces), **glob)


def start_kfwd(t, listeners, interfaces=("vc", "vb"), name="kfwd", workers=1, **glob):
    k = t.kfwd(listeners, name=name, workers=workers, grace_ms=1000)
    k.write_config(xdp_config(k, listeners, interfaces, **glob))
    return k.start()


def xdp_progs(t, dev):
    """XDP program ids attached to dev in gw."""
    out = sh(["ip", "-n", t.gw.name, "-d", "link", "show", "dev", dev]).stdout
    ids = []
    for line in out.splitlines():
        parts = line.split()
        if "prog/xdp" in parts or "prog/xdpgeneric" in parts or "prog/xdpdrv" in parts:
            ids.append(int(parts[parts.index("id") + 1]))
    return ids


class Echo:
    """A UDP echo server in a namespace, run by a thread of this process, that
    counts what it receives and remembers the sources it saw."""

    def __init__(self, ns, family, addr, port):
        self.sock = ns.socket(family, socket.SOCK_DGRAM)
        self.sock.bind((addr, port))
        self.sock.settimeout(0.1)
        self.count = 0
        self.sources = set()
        self._stop = False
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop:
            try:
                data, src = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            self.count += 1
            self.sources.add(src[:2])
            try:
                self.sock.sendto(data, src)
            except OSError:
                pass

    def stop(self):
        self._stop = True
        self._t.join(timeout=2)


def exchange(sock, dest, payload, timeout=2.0):
    """Send payload to dest, wait for the echo; return its source (host, port)."""
    sock.settimeout(timeout)
    sock.sendto(payload, dest)
    data, src = sock.recvfrom(65536)
    check(data == payload, "reply differs: %d bytes sent, %d received" % (len(payload), len(data)))
    return src[:2]


def norm(host):
    return socket.inet_ntop(socket.AF_INET6, socket.inet_pton(socket.AF_INET6, host)) \
        if ":" in host else host
