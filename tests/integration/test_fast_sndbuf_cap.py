#!/usr/bin/python3
"""Fast path: fastpath_sndbuf_total caps the forced send buffers.

fastpath_sndbuf = 1 MiB and fastpath_sndbuf_total = 4 MiB: two connections
get the forced buffer on both sockets (2 MiB each, counted per socket), a
third keeps autotuned buffers and is still spliced and byte-exact. `ss -m`
in gw shows which sockets carry the forced size (the kernel doubles it), and
`kfwd stats` the bytes in use and the connection refused one. Once the
connections close the bytes come back: a fourth connection gets a forced
buffer again."""
import hashlib
import os
import random
import re
import socket
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kfwdtest import KFWD, Topology, check, log, run  # noqa: E402

SNDBUF = 1 << 20
TOTAL = 4 << 20
SIZE = 512 << 10


def forced_sockets(t):
    """kfwd's sockets in gw whose send buffer is the forced size (doubled by the kernel)."""
    out = t.gw.run(["ss", "-tmnH", "state", "established"]).stdout
    return len(re.findall(r"\btb%d\b" % (2 * SNDBUF), out))


def open_conn(t, lsn):
    c = t.client.socket(socket.AF_INET, socket.SOCK_STREAM)
    c.settimeout(10)
    c.connect(("10.77.1.1", 8080))
    b, _ = lsn.accept()
    b.settimeout(10)
    return c, b


def exact(c, b, seed):
    """SIZE bytes client -> backend, compared by SHA-256."""
    data = random.Random(seed).randbytes(SIZE)
    th = threading.Thread(target=c.sendall, args=(data,), daemon=True)
    th.start()
    got = bytearray()
    while len(got) < SIZE:
        chunk = b.recv(1 << 16)
        if not chunk:
            break
        got += chunk
    th.join(10)
    check(hashlib.sha256(got).digest() == hashlib.sha256(data).digest(),
          "connection %d: %d of %d bytes, %s" % (seed, len(got), SIZE,
                                                  "equal" if got == data else "different"))


def sndbuf(k):
    return k.stats()["fastpath"]["sndbuf"]


def main():
    with Topology() as t:
        k = t.kfwd([dict(name="cap", bind="10.77.1.1:8080", proto="tcp",
                         backends=["10.77.2.2:9000"], fastpath=True)],
                   glob=dict(fastpath_sndbuf=SNDBUF, fastpath_sndbuf_total=TOTAL)).start()
        check(k.listener("cap")["path"] == "fastpath", "not on the fast path")
        lsn = t.backend.socket(socket.AF_INET, socket.SOCK_STREAM)
        lsn.bind(("10.77.2.2", 9000))
        lsn.listen(8)
        conns = []
        for i in range(3):
            conns.append(open_conn(t, lsn))
            k.wait_stat("cap", lambda l, n=i + 1: l["spliced"] == n, 10,
                        "connection %d spliced" % (i + 1))
        s = sndbuf(k)
        check(s == {"in_use": TOTAL, "total": TOTAL, "refused": 1},
              "two connections hold the whole total, the third none: %s" % s)
        text = subprocess.run([KFWD, "stats", "-s", k.sock], capture_output=True, text=True,
                              timeout=15).stdout
        want = "fastpath send buffers: 4.0 MiB forced of 4.0 MiB, 1 connection(s) left autotuned"
        check(want in text, "kfwd stats text says %r:\n%s" % (want, text))
        n = forced_sockets(t)
        check(n == 4, "ss shows %d sockets with the forced buffer, want 4 (two connections)" % n)
        for i, (c, b) in enumerate(conns):
            exact(c, b, i)
        log("three spliced connections exact; forced buffers on two: %s" % s)
        for c, b in conns:
            c.close()
            b.close()
        k.wait_stat("cap", lambda l: l["active"] == 0, 10, "connections closed")
        s = sndbuf(k)
        check(s["in_use"] == 0 and s["refused"] == 1, "bytes given back at close: %s" % s)

        c, b = open_conn(t, lsn)
        k.wait_stat("cap", lambda l: l["spliced"] == 4, 10, "fourth connection spliced")
        s = sndbuf(k)
        check(s["in_use"] == 2 * SNDBUF and s["refused"] == 1, "a new connection gets one: %s" % s)
        exact(c, b, 3)
        c.close()
        b.close()
        l = k.wait_stat("cap", lambda l: l["active"] == 0, 10, "closed")
        check(l["bytes_in"] == 4 * SIZE and not any(l["errors"].values()), "listener %s" % l)
        k.finish()


run(main)
