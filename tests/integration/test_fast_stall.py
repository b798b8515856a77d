#!/usr/bin/python3
"""Fast path, a reader that stops reading for 10 s while the writer pushes 1 GiB as fast
as it can, both directions at once on two listeners: the writers stall (the verdict's
backlog limit hands bytes to kfwd, which closes the TCP window), kernel memory and
kfwd's RSS stay flat, and once reading resumes every byte arrives."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kfwdtest import Topology, assert_exact, check, log, run, tx_at  # noqa: E402

SIZE = 1 << 30
PAUSE_MS = 10000
RSS_SLACK_KIB = 8 * 1024
# Without a bound the kernel holds everything the writers push during the stall
# (GiBs); with it, a few socket buffers and the 4 MiB backlog per direction.
KERNEL_SLACK_KIB = 256 * 1024


def meminfo():
    out = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, v = line.split(":")
            out[k] = int(v.split()[0])
    return out


def main():
    with Topology() as t:
        k = t.kfwd([
            dict(name="up", bind="10.77.1.1:8080", proto="tcp", backends=["10.77.2.2:9000"],
                 fastpath=True),
            dict(name="down", bind="10.77.1.1:8081", proto="tcp", backends=["10.77.2.2:9001"],
                 fastpath=True),
        ]).start()
        rss0 = k.rss_kib()
        m0 = meminfo()
        common = ["--conns", 1, "--progress", 200, "--timeout", 90000]
        s_up = t.backend.peer("server", "--listen", "10.77.2.2:9000", "--pause-read", PAUSE_MS,
                              *common).wait_listening()
        s_down = t.backend.peer("server", "--listen", "10.77.2.2:9001", "--send", SIZE,
                                "--seed", 9, *common).wait_listening()
        c_up = t.client.peer("client", "--connect", "10.77.1.1:8080", "--send", SIZE, "--seed", 8,
                             *common)
        c_down = t.client.peer("client", "--connect", "10.77.1.1:8081", "--no-shutdown",
                               "--pause-read", PAUSE_MS, *common)
        t0 = time.monotonic()
        rss_max, avail_min, slab_max, samples = rss0, m0["MemAvailable"], m0["Slab"], 0
        while time.monotonic() - t0 < PAUSE_MS / 1000.0 - 0.5 and samples < 1000:
            m = meminfo()
            rss_max = max(rss_max, k.rss_kib())
            avail_min = min(avail_min, m["MemAvailable"])
            slab_max = max(slab_max, m["Slab"])
            samples += 1
            time.sleep(0.1)
        flows = k.flows()["flows"]
        log("during the stall: kfwd RSS %d -> max %d KiB; MemAvailable %d -> min %d KiB; "
            "Slab %d -> max %d KiB (%d samples)" % (rss0, rss_max, m0["MemAvailable"], avail_min,
                                                    m0["Slab"], slab_max, samples))
        log("flows: %s" % [(f["listener"], f["bytes_in"], f["bytes_out"]) for f in flows])
        check(len(flows) == 2, "expected 2 spliced flows: %s" % flows)
        check(rss_max - rss0 < RSS_SLACK_KIB, "kfwd RSS grew by %d KiB" % (rss_max - rss0))
        check(m0["MemAvailable"] - avail_min < KERNEL_SLACK_KIB,
              "MemAvailable fell by %d KiB during the stall" % (m0["MemAvailable"] - avail_min))
        check(slab_max - m0["Slab"] < KERNEL_SLACK_KIB,
              "Slab grew by %d KiB during the stall" % (slab_max - m0["Slab"]))

        rc_cu, cu = c_up.result(120)
        rc_su, su = s_up.result(30)
        rc_cd, cd = c_down.result(120)
        rc_sd, sd = s_down.result(30)
        log("after the stall, 1 GiB each: up done at %.1f s, down at %.1f s" % (
            cu[0]["t_end_ms"] / 1000.0, sd[0]["t_end_ms"] / 1000.0))
        assert_exact(cu, su, "client->backend with a stalled backend")
        assert_exact(cd, sd, "backend->client with a stalled client")
        for name, writer in (("client (up)", c_up), ("backend (down)", s_down)):
            prog = writer.progress()
            a, b = tx_at(prog, 4000), tx_at(prog, PAUSE_MS - 1000)
            log("%s writer: %.1f MiB accepted at 4 s, %.1f MiB at %.0f s" % (
                name, a / 2**20, b / 2**20, (PAUSE_MS - 1000) / 1000))
            check(0 < a < 64 << 20, "%s: %d bytes accepted at 4 s: not throttled?" % (name, a))
            check(b - a < 1 << 20, "%s: writer still growing during the stall: %d -> %d" % (
                name, a, b))
        for name in ("up", "down"):
            l = k.wait_stat(name, lambda l: l["active"] == 0, 5, "active 0")
            check(not any(l["errors"].values()), "%s errors %s" % (name, l["errors"]))
            check(l["spliced"] == 1 and l["bytes_in"] + l["bytes_out"] == SIZE,
                  "%s: %s" % (name, l))
            log("%s: kernel moved %.1f%% of the bytes" % (
                name, 100.0 * (l["kernel_bytes_in"] + l["kernel_bytes_out"]) / SIZE))
        kern = k.stats()["fastpath"]["kernel"]
        check(kern["backlog_passes"] > 0, "the backlog limit never acted: %s" % kern)
        k.finish()


run(main)
