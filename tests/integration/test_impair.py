#!/usr/bin/python3
"""build/tools/udp-impair, the UDP impairment relay the tunnel tests put between
two QUIC peers: client ns -> relay in gw (10.77.1.1) -> UDP echo in backend ns.

(a) delay: every round trip takes at least 2 x delay (also per-direction delays);
(b) loss: observed loss within a statistical bound of the setting, the relay's
    counters account for every datagram the client missed, and the same seed
    drops the same datagrams;
(c) no impairment: every datagram (1 B to 65507 B, UDP GSO sends too) echoed
    byte-exact and in order, replies to the right one of two clients;
(d) bad options: exit 2 with a message naming the option;
(e) rate limit with a small queue: drop-tail counted, order kept, no datagram
    delivered before the link could have sent it;
(f) jitter: nothing lost, no round trip shorter than 2 x (delay - jitter)."""
import hashlib
import os
import random
import signal
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kfwdtest import ROOT, Topology, check, log, run, sh  # noqa: E402

IMPAIR = os.path.join(ROOT, "build/tools/udp-impair")
ECHO = "10.77.2.2:5300"
RELAY_HOST = "10.77.1.1"
UDP_SEGMENT = 103  # linux/udp.h
SO_RCVBUFFORCE = 33
MAX_V4_PAYLOAD = 65507


class Echo:
    """A UDP echo server in the backend namespace (a thread of this process). Its
    receive buffer is far larger than kfwd-peer's default one, so that windows of
    64 KiB datagrams (IP fragments: ~100 KiB of buffer each) are not dropped here."""

    def __init__(self, t):
        self.sock = t.backend.socket(socket.AF_INET)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 32 << 20)
        host, port = ECHO.split(":")
        self.sock.bind((host, int(port)))
        self.sock.settimeout(0.2)
        self.echoed = 0
        self.stopping = threading.Event()
        self.th = threading.Thread(target=self._loop, daemon=True)
        self.th.start()

    def _loop(self):
        while not self.stopping.is_set():
            try:
                data, src = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            if self.sock.sendto(data, src) == len(data):
                self.echoed += 1

    def stop(self):
        self.stopping.set()
        self.th.join(5)


class Relay:
    """udp-impair in gw on RELAY_HOST:port relaying to the echo server."""

    def __init__(self, t, port, *args):
        self.addr = (RELAY_HOST, port)
        self.proc = t.gw.popen([IMPAIR, "--listen", "%s:%d" % self.addr, "--upstream", ECHO]
                               + [str(a) for a in args], name="udp-impair-%d" % port)
        self.proc.wait_line(lambda l: l.startswith('{"listening"'), 10, "listening")

    def stop(self):
        """SIGTERM; return the final counters it printed (and check it exited 0)."""
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(10)
        check(rc == 0, "udp-impair exited %s: %s" % (rc, self.proc.stderr_tail()))
        final = [j for j in self.proc.json_lines() if "up" in j]
        check(final, "udp-impair printed no counters on SIGTERM")
        return final[-1]


def client_socket(t):
    s = t.client.socket(socket.AF_INET)
    s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 8 << 20)
    s.bind(("10.77.1.2", 0))
    return s


def check_no_other_drops(st, what):
    for d in ("up", "down"):
        for k in ("dropped_queue", "dropped_full", "dropped_session", "send_errors", "held"):
            check(st[d][k] == 0, "%s: %s %s = %d (%s)" % (what, d, k, st[d][k], st))


def rtts(sock, dest, n, size=64):
    out = []
    for i in range(n):
        payload = struct.pack("!I", i) + bytes(size - 4)
        t0 = time.monotonic()
        sock.sendto(payload, dest)
        data, _ = sock.recvfrom(65536)
        out.append(time.monotonic() - t0)
        check(data == payload, "echo %d differs" % i)
    return out


def test_delay(t):
    log("(a) --delay 50: every round trip >= 100 ms")
    r = Relay(t, 6001, "--delay", 50)
    s = client_socket(t)
    s.settimeout(5)
    got = rtts(s, r.addr, 20)
    check(min(got) >= 0.100, "RTT %.1f ms < 2 x 50 ms: %s" % (
        min(got) * 1e3, ["%.1f" % (x * 1e3) for x in got]))
    st = r.stop()
    check(st["up"]["forwarded"] == 20 and st["down"]["forwarded"] == 20, "counters %s" % st)
    check_no_other_drops(st, "delay")
    log("    RTT min %.1f ms, max %.1f ms" % (min(got) * 1e3, max(got) * 1e3))

    log("(a) --delay-up 30 --delay-down 10: every round trip >= 40 ms")
    r = Relay(t, 6002, "--delay-up", 30, "--delay-down", 10)
    got = rtts(s, r.addr, 20)
    check(min(got) >= 0.040, "RTT %.1f ms < 30 + 10 ms" % (min(got) * 1e3))
    r.stop()


def blast(sock, dest, n, size, per_burst=100, pause=0.01, idle=1.5):
    """Send n numbered datagrams at a bounded pace while a thread collects echoes;
    return the list of sequence numbers received (in arrival order)."""
    got = []
    done = threading.Event()

    def reader():
        sock.settimeout(idle)
        for _ in range(n + 1):  # never more echoes than datagrams (+1 to notice one)
            try:
                data, _ = sock.recvfrom(65536)
            except socket.timeout:
                if done.is_set():
                    return
                continue
            got.append(struct.unpack("!I", data[:4])[0])

    th = threading.Thread(target=reader, daemon=True)
    th.start()
    filler = bytes(size - 4)
    for i in range(n):
        sock.sendto(struct.pack("!I", i) + filler, dest)
        if i % per_burst == per_burst - 1:
            time.sleep(pause)
    done.set()
    th.join(60)
    check(not th.is_alive(), "echo reader did not finish")
    return got


def loss_run(t, port, n, *args):
    r = Relay(t, port, *args)
    s = client_socket(t)
    got = blast(s, r.addr, n, 100)
    st = r.stop()
    check(len(set(got)) == len(got), "duplicate echoes")
    check(got == sorted(got), "echoes reordered without jitter")
    check_no_other_drops(st, "loss")
    up, down = st["up"], st["down"]
    check(up["received"] == n, "relay saw %d of %d datagrams from the client" % (up["received"], n))
    check(up["forwarded"] + up["dropped_loss"] == n, "up counters do not add up: %s" % up)
    check(down["received"] == up["forwarded"],
          "echo server answered %d of %d" % (down["received"], up["forwarded"]))
    check(down["forwarded"] + down["dropped_loss"] == down["received"], "down: %s" % down)
    check(len(got) == down["forwarded"], "client got %d, relay forwarded %d down" % (
        len(got), down["forwarded"]))
    missing = set(range(n)) - set(got)
    check(len(missing) == up["dropped_loss"] + down["dropped_loss"],
          "client missed %d, relay dropped %d + %d" % (
              len(missing), up["dropped_loss"], down["dropped_loss"]))
    return missing, st


def test_loss(t):
    n = 20000
    log("(b) --loss-up 3 --seed 7, %d datagrams: loss 3%% +- 1%%" % n)
    miss1, st = loss_run(t, 6010, n, "--loss-up", 3, "--seed", 7)
    frac = len(miss1) / n
    check(0.02 <= frac <= 0.04, "observed loss %.2f%%, expected 3%% +- 1%%" % (frac * 100))
    check(st["down"]["dropped_loss"] == 0, "down lost with --loss-up only: %s" % st["down"])
    log("    lost %d (%.2f%%)" % (len(miss1), frac * 100))

    log("(b) same seed again: the same datagrams are lost")
    miss2, _ = loss_run(t, 6011, n, "--loss-up", 3, "--seed", 7)
    check(miss1 == miss2, "seed 7 lost %d then %d datagrams, %d differ" % (
        len(miss1), len(miss2), len(miss1 ^ miss2)))

    log("(b) --loss 3 (both ways) --seed 8: loss 1 - 0.97^2 = 5.91% +- 1%")
    miss3, st = loss_run(t, 6012, n, "--loss", 3, "--seed", 8)
    frac = len(miss3) / n
    check(0.0491 <= frac <= 0.0691, "observed loss %.2f%%, expected 5.91%% +- 1%%" % (frac * 100))
    check(st["up"]["dropped_loss"] > 0 and st["down"]["dropped_loss"] > 0, "one way lossless")
    log("    lost %d (%.2f%%: up %d, down %d)" % (len(miss3), frac * 100,
                                                st["up"]["dropped_loss"], st["down"]["dropped_loss"]))


def test_exact(t):
    log("(c) no impairment: two clients, 1 B .. 65507 B datagrams echoed byte-exact, in order")
    r = Relay(t, 6020)
    socks = [client_socket(t) for _ in range(2)]
    rnd = random.Random(5)
    sizes = [1, 2, 100, 1200, 1472, 1473, 4096, 9000, 32768, 65000, MAX_V4_PAYLOAD]
    sent = [[], []]
    recv = [[], []]
    total = 0
    for _ in range(100):  # 100 windows of 10 datagrams per client, interleaved
        for _ in range(10):
            for i, s in enumerate(socks):
                payload = rnd.randbytes(rnd.choice(sizes))
                s.sendto(payload, r.addr)
                sent[i].append(hashlib.sha256(payload).hexdigest())
                total += 1
        for i, s in enumerate(socks):
            s.settimeout(5)
            for _ in range(10):
                data, src = s.recvfrom(65536)
                check(src == r.addr, "reply from %s, not the relay %s" % (src, r.addr))
                recv[i].append(hashlib.sha256(data).hexdigest())
    for i in range(2):
        check(sent[i] == recv[i], "client %d: %d of %d echoes differ or are out of order" % (
            i, sum(a != b for a, b in zip(sent[i], recv[i])), len(sent[i])))

    log("(c) a UDP GSO send (40 x 1400 B in one sendmsg) comes back as 40 datagrams")
    s = socks[0]
    s.setsockopt(socket.SOL_UDP, UDP_SEGMENT, 1400)
    blob = rnd.randbytes(40 * 1400)
    s.sendto(blob, r.addr)
    s.setsockopt(socket.SOL_UDP, UDP_SEGMENT, 0)
    back = b"".join(s.recvfrom(65536)[0] for _ in range(40))
    check(hashlib.sha256(back).digest() == hashlib.sha256(blob).digest(), "GSO echo differs")
    total += 40

    st = r.stop()
    check_no_other_drops(st, "exact")
    check(st["up"]["forwarded"] == total and st["down"]["forwarded"] == total, "counters %s" % st)
    check(st["clients_total"] == 2, "sessions: %s" % st)


def test_bad_options(t):
    log("(d) bad options: exit 2 with a message naming the problem")
    base = ["--listen", "127.0.0.1:1", "--upstream", "127.0.0.1:2"]
    cases = [
        ([], "--listen and --upstream are required"),
        (["--listen", "127.0.0.1:1"], "--upstream are required"),
        (base + ["--loss", "150"], "--loss: '150' is not a percentage"),
        (base + ["--loss-up", "x"], "--loss-up: 'x'"),
        (base + ["--delay", "-5"], "--delay: '-5' is not a time"),
        (base + ["--jitter-down", "1.5"], "--jitter-down: '1.5'"),
        (base + ["--rate", "10q"], "--rate: '10q' is not a rate"),
        (base + ["--rate-up", "0"], "--rate-up: '0'"),
        (base + ["--queue-pkts", "0"], "--queue-pkts: '0' is not a number in [1,"),
        (base + ["--frobnicate", "1"], "unknown option --frobnicate"),
        (base + ["--seed"], "--seed: missing value"),
        (["--listen", "10.0.0.1", "--upstream", "127.0.0.1:2"], "--listen: '10.0.0.1' is not"),
        (["--listen", "127.0.0.1:1", "--upstream", "[::1]:70000"], "--upstream: '[::1]:70000'"),
    ]
    for args, want in cases:
        r = sh([IMPAIR] + args, timeout=10, check_rc=False)
        check(r.returncode == 2, "%s: exit %d, expected 2" % (args, r.returncode))
        check(want in r.stderr, "%s: message %r lacks %r" % (args, r.stderr, want))
        check("usage:" in r.stderr, "%s: no usage line" % args)
    r = sh(t.gw.cmd([IMPAIR, "--listen", "10.77.9.9:5000", "--upstream", ECHO]),
           timeout=10, check_rc=False)
    check(r.returncode == 2 and "bind 10.77.9.9:5000" in r.stderr,
          "bind to a foreign address: exit %d %r" % (r.returncode, r.stderr))


def test_rate(t):
    log("(e) --rate-up 800k --queue-pkts 20: a burst of 100 x 1000 B, drop-tail, paced")
    r = Relay(t, 6030, "--rate-up", "800k", "--queue-pkts", 20)
    s = client_socket(t)
    per_pkt = 1000 * 8 / 800e3  # 10 ms on the link
    t0 = time.monotonic()
    for i in range(100):
        s.sendto(struct.pack("!I", i) + bytes(996), r.addr)
    got = []
    s.settimeout(1.5)
    for _ in range(100):
        try:
            data, _ = s.recvfrom(65536)
        except socket.timeout:
            break
        got.append((struct.unpack("!I", data[:4])[0], time.monotonic() - t0))
    st = r.stop()
    seqs = [g[0] for g in got]
    check(seqs == sorted(seqs), "rate limit reordered datagrams: %s" % seqs)
    check(st["up"]["dropped_queue"] > 0, "a 100-datagram burst into a 20-datagram queue "
          "dropped nothing: %s" % st["up"])
    check(st["up"]["forwarded"] + st["up"]["dropped_queue"] == 100, "up counters %s" % st["up"])
    check(len(got) == st["up"]["forwarded"], "client got %d, relay forwarded %d" % (
        len(got), st["up"]["forwarded"]))
    # The j-th datagram the link accepted cannot finish before (j+1) link slots after
    # the first one arrived, and that was after t0.
    for j, (seq, at) in enumerate(got):
        check(at >= (j + 1) * per_pkt, "datagram %d (seq %d) back after %.1f ms < %d x 10 ms" % (
            j, seq, at * 1e3, j + 1))
    log("    %d forwarded, %d dropped by the queue, last after %.0f ms" % (
        len(got), st["up"]["dropped_queue"], got[-1][1] * 1e3))


def test_jitter(t):
    log("(f) --delay 20 --jitter 15: nothing lost, every round trip >= 10 ms")
    r = Relay(t, 6040, "--delay", 20, "--jitter", 15, "--seed", 3)
    s = client_socket(t)
    n = 300
    sent_at = {}
    got = {}
    for i in range(n):
        sent_at[i] = time.monotonic()
        s.sendto(struct.pack("!I", i) + bytes(60), r.addr)
        time.sleep(0.001)
    s.settimeout(1.5)
    for _ in range(n):
        data, _ = s.recvfrom(65536)
        seq = struct.unpack("!I", data[:4])[0]
        got[seq] = time.monotonic() - sent_at[seq]
    st = r.stop()
    check(sorted(got) == list(range(n)), "echoes missing: %d of %d" % (len(got), n))
    check(min(got.values()) >= 0.010, "RTT %.1f ms < 2 x (20 - 15) ms" % (min(got.values()) * 1e3))
    check_no_other_drops(st, "jitter")


def main():
    check(os.access(IMPAIR, os.X_OK), "%s missing (make build/tools/udp-impair)" % IMPAIR)
    with Topology() as t:
        echo = Echo(t)
        test_bad_options(t)
        test_delay(t)
        test_exact(t)
        test_rate(t)
        test_jitter(t)
        test_loss(t)
        echo.stop()


if __name__ == "__main__":
    run(main)
