#!/usr/bin/python3
"""Fast path: the client's FIN reaches kfwd's client socket after kfwd has shut
that socket down for writing (the backend's direction is finished) and while
bytes the verdict passed to kfwd still wait there unread. The socket then
goes from FIN_WAIT2 to TIME_WAIT, which on some kernels took it out of the
sockhash and freed its psock with the unread bytes in it; here they must
still reach the backend, in order, with the FIN after them.

Setup: the backend shuts its side at once and reads nothing for 1 s, with a
small receive buffer; kfwd's send buffers (fastpath_sndbuf) and relay buffer
are small too. So of the client's 64 KiB the backend side takes about 40 KiB,
kfwd holds 4 KiB it cannot write, and the rest waits passed but unread in
the client socket when the FIN arrives behind it."""
import hashlib
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kfwdtest import Topology, check, log, run  # noqa: E402

SIZE = 64 << 10
ROUNDS = 5


def payload(i):
    """SIZE pseudo-random bytes of round i (different each round)."""
    out, block = [], hashlib.sha256(b"fin-unread-%d" % i).digest()
    for _ in range(SIZE // 32):
        block = hashlib.sha256(block).digest()
        out.append(block)
    return b"".join(out)


def read_all(s, deadline):
    """Everything s receives until EOF or the deadline: (bytes, saw_eof)."""
    got = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return b"".join(got), False
        s.settimeout(left)
        try:
            b = s.recv(1 << 16)
        except socket.timeout:
            return b"".join(got), False
        if not b:
            return b"".join(got), True
        got.append(b)


def one_round(t, lsn, i):
    data = payload(i)
    c = t.client.socket(socket.AF_INET, socket.SOCK_STREAM)
    c.settimeout(10)
    c.connect(("10.77.1.1", 8080))
    lsn.settimeout(10)
    b, _ = lsn.accept()
    # The backend's direction ends at once: kfwd shuts the client socket down
    # for writing, so the client's FIN will take it to TIME_WAIT.
    b.shutdown(socket.SHUT_WR)
    check(c.recv(1) == b"", "client: expected EOF first")
    sent = []

    def send():
        # A thread: if the windows cannot take everything, sendall waits for the backend.
        c.sendall(data)
        c.shutdown(socket.SHUT_WR)
        sent.append(time.monotonic())
    th = threading.Thread(target=send, daemon=True)
    th.start()
    time.sleep(1.0)  # the FIN reaches kfwd's client socket while the backend reads nothing
    fin_early = bool(sent)
    got, eof = read_all(b, time.monotonic() + 10)
    th.join(10)
    log("round %d: client's FIN sent %s the backend started reading; backend got %d bytes, EOF %s" % (
        i, "before" if fin_early else "after", len(got), eof))
    c.close()
    b.close()
    check(eof, "round %d: backend got %d of %d bytes and no EOF within 10 s" % (i, len(got), SIZE))
    check(got == data, "round %d: backend got %d bytes, %s" % (
        i, len(got), "equal" if got == data else "DIFFERENT from the %d sent" % SIZE))


def main():
    with Topology() as t:
        k = t.kfwd([dict(name="fu", bind="10.77.1.1:8080", proto="tcp",
                         backends=["10.77.2.2:9000"], fastpath=True, buffer_size=4096)],
                   glob=dict(fastpath_sndbuf=16384)).start()
        check(k.listener("fu")["path"] == "fastpath", "not on the fast path")
        lsn = t.backend.socket(socket.AF_INET, socket.SOCK_STREAM)
        lsn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # accepted sockets inherit it
        lsn.bind(("10.77.2.2", 9000))
        lsn.listen(8)
        for i in range(ROUNDS):
            one_round(t, lsn, i)
        log("%d rounds: %d KiB each, exact and followed by EOF" % (ROUNDS, SIZE >> 10))
        l = k.wait_stat("fu", lambda l: l["active"] == 0, 10, "active back to 0")
        check(l["total"] == ROUNDS and l["spliced"] == ROUNDS, "total/spliced %s" % l)
        check(l["bytes_in"] == ROUNDS * SIZE, "bytes_in %d" % l["bytes_in"])
        check(not any(l["errors"].values()), "errors %s" % l["errors"])
        # The case needs passed bytes: most must not have been redirected.
        check(l["kernel_bytes_in"] < l["bytes_in"] // 2,
              "the kernel redirected %d of %d bytes: too few were passed to kfwd for this test" % (
                  l["kernel_bytes_in"], l["bytes_in"]))
        k.finish()


run(main)
