#!/usr/bin/python3
"""Fast path, heavy traffic both ways with nobody draining: a client sends as fast as it
can and reads nothing for 10 s; the backend echoes every byte (and reads only as fast as
it can send back). Both directions of the spliced connection back up at once. Kernel
memory must stay bounded by socket buffers (MemAvailable, Slab and the TCP memory of
/proc/net/sockstat sampled during the stall), the client must be throttled, and once it
reads, everything it sent comes back byte-exact."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kfwdtest import Topology, check, log, run, tx_at  # noqa: E402

SIZE = 2 << 30
PAUSE_MS = 10000
# A generous bound from socket buffers: the spliced pair, the client's and the backend's
# sockets, each with a receive and a send buffer of a few MiB (tcp_rmem/tcp_wmem maxima
# are 6 and 4 MiB here), plus kfwd's buffers. Without a bound the kernel holds whatever
# the client pushes during the stall: GiBs.
KERNEL_SLACK_KIB = 512 * 1024
RSS_SLACK_KIB = 16 * 1024
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


def meminfo():
    out = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, v = line.split(":")
            out[k] = int(v.split()[0])
    return out


def tcp_mem_kib(ns):
    """TCP's charged memory (the `mem` pages of /proc/net/sockstat, machine-wide)."""
    for line in ns.run(["cat", "/proc/net/sockstat"]).stdout.splitlines():
        if line.startswith("TCP:"):
            f = line.split()
            return int(f[f.index("mem") + 1]) * PAGE_KIB
    raise AssertionError("no TCP line in sockstat")


def main():
    with Topology() as t:
        k = t.kfwd([dict(name="echo", bind="10.77.1.1:8080", proto="tcp",
                         backends=["10.77.2.2:9000"], fastpath=True)]).start()
        rss0, m0, tcp0 = k.rss_kib(), meminfo(), tcp_mem_kib(t.gw)
        srv = t.backend.peer("server", "--listen", "10.77.2.2:9000", "--conns", 1, "--echo",
                             "--timeout", 150000).wait_listening()
        cli = t.client.peer("client", "--connect", "10.77.1.1:8080", "--send", SIZE, "--seed", 77,
                            "--pause-read", PAUSE_MS, "--progress", 200, "--timeout", 150000)
        t0 = time.monotonic()
        rss_max, avail_min, slab_max, tcp_max, samples = rss0, m0["MemAvailable"], m0["Slab"], \
            tcp0, 0
        while time.monotonic() - t0 < PAUSE_MS / 1000.0 - 0.5 and samples < 1000:
            m = meminfo()
            rss_max = max(rss_max, k.rss_kib())
            avail_min = min(avail_min, m["MemAvailable"])
            slab_max = max(slab_max, m["Slab"])
            tcp_max = max(tcp_max, tcp_mem_kib(t.gw))
            samples += 1
            time.sleep(0.1)
        flows = k.flows()["flows"]
        kern = k.stats()["fastpath"]["kernel"]
        log("during the stall (%d samples): MemAvailable %d -> min %d KiB (-%d); Slab %d -> "
            "max %d KiB (+%d); TCP mem %d -> max %d KiB; kfwd RSS %d -> max %d KiB" % (
                samples, m0["MemAvailable"], avail_min, m0["MemAvailable"] - avail_min,
                m0["Slab"], slab_max, slab_max - m0["Slab"], tcp0, tcp_max, rss0, rss_max))
        log("flows: %s; kernel counters %s" % (
            [(f["bytes_in"], f["bytes_out"]) for f in flows], kern))
        check(len(flows) == 1, "expected 1 spliced flow: %s" % flows)
        prog = cli.progress()
        a, b = tx_at(prog, 4000), tx_at(prog, PAUSE_MS - 1000)
        log("client: %.1f MiB accepted at 4 s, %.1f MiB at %.0f s" % (
            a / 2**20, b / 2**20, (PAUSE_MS - 1000) / 1000.0))
        check(m0["MemAvailable"] - avail_min < KERNEL_SLACK_KIB,
              "MemAvailable fell by %d KiB during the stall" % (m0["MemAvailable"] - avail_min))
        check(slab_max - m0["Slab"] < KERNEL_SLACK_KIB,
              "Slab grew by %d KiB during the stall" % (slab_max - m0["Slab"]))
        check(tcp_max - tcp0 < KERNEL_SLACK_KIB, "TCP memory grew by %d KiB" % (tcp_max - tcp0))
        check(rss_max - rss0 < RSS_SLACK_KIB, "kfwd RSS grew by %d KiB" % (rss_max - rss0))
        check(b < SIZE, "the client sent everything during the stall: not throttled")
        check(b - a < KERNEL_SLACK_KIB * 1024, "client still growing during the stall: %d -> %d"
              % (a, b))

        rc_c, cc = cli.result(150)
        rc_s, sc = srv.result(30)
        check(rc_c == 0 and rc_s == 0, "client exited %d, server %d" % (rc_c, rc_s))
        check(len(cc) == 1 and len(sc) == 1, "connections: %d client, %d server" % (
            len(cc), len(sc)))
        c, s = cc[0], sc[0]
        check(c["tx_bytes"] == SIZE, "client sent %d of %d" % (c["tx_bytes"], SIZE))
        check((s["rx_bytes"], s["rx_sha256"]) == (c["tx_bytes"], c["tx_sha256"]),
              "client->backend stream differs: %s / %s" % (c, s))
        check((c["rx_bytes"], c["rx_sha256"]) == (c["tx_bytes"], c["tx_sha256"]),
              "the echo differs from what the client sent: %s" % c)
        log("2 GiB echoed byte-exact; client done at %.1f s" % (c["t_end_ms"] / 1000.0))
        l = k.wait_stat("echo", lambda l: l["active"] == 0, 10, "active 0")
        check(not any(l["errors"].values()), "errors %s" % l["errors"])
        check(l["bytes_in"] == SIZE and l["bytes_out"] == SIZE, "bytes %s" % l)
        log("kernel moved %.1f%% up, %.1f%% down" % (100.0 * l["kernel_bytes_in"] / SIZE,
                                                     100.0 * l["kernel_bytes_out"] / SIZE))
        check(k.flows()["flows"] == [], "flows left in the table")
        k.finish()


run(main)
