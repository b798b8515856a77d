#!/usr/bin/python3
"""Relay policy per listener, on the fast path (spliced) and on the userspace
relay: max_lifetime_ms, max_bytes (exactly, one way and both ways at once),
min_rate_bpm (after min_rate_grace_ms) and idle_timeout_ms close a
connection with their reason counted in the stats and logged, the CONNECT access log names it; max_rate_bps slows a transfer to
about its rate (4 MiB each way at 1 MiB/s take at least 2 s) and every byte
arrives exact. Connections under the limits are left alone."""
import hashlib
import json
import os
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kfwdtest import PEER, Topology, check, log, run, assert_exact  # noqa: E402

MIB = 1 << 20
PATHS = {"f": True, "u": False}  # listener name suffix -> fastpath
CASES = {  # name -> (listener port base, policy keys)
    "life": (8100, dict(max_lifetime_ms=800)),
    "bytes": (8110, dict(max_bytes=MIB)),
    "both": (8150, dict(max_bytes=MIB)),
    "rate": (8120, dict(max_rate_bps=MIB)),
    "minr": (8130, dict(min_rate_bpm=600000, min_rate_grace_ms=1000)),
    "idle": (8140, dict(idle_timeout_ms=1000)),
}


def listeners():
    out = []
    for case, (base, keys) in CASES.items():
        for i, (suffix, fast) in enumerate(PATHS.items()):
            l = dict(name=case + "_" + suffix, bind="10.77.1.1:%d" % (base + i),
                     backends=["10.77.2.2:%d" % (base + 1000 + i)], fastpath=fast)
            l.update(keys)
            out.append(l)
    out.append(dict(name="px", bind="10.77.1.1:3128", mode="connect", allow=["10.77.2.0/24"],
                    max_lifetime_ms=800))
    return out


def start(t, case, suffix, client, server, conns=1):
    base = CASES[case][0] + list(PATHS).index(suffix)
    srv = t.backend.peer("server", "--listen", "10.77.2.2:%d" % (base + 1000), "--conns", conns,
                         "--timeout", 30000, *server, name="srv-%s-%s" % (case, suffix)).wait_listening()
    cli = t.client.peer("client", "--connect", "10.77.1.1:%d" % base, "--conns", conns,
                        "--timeout", 30000, *client, name="cli-%s-%s" % (case, suffix))
    return cli, srv


def results(pair):
    cli, srv = pair
    crc, cc = cli.result(45)
    src, sc = srv.result(45)
    return crc, cc, src, sc


def stream_sha(seed, n):
    out = subprocess.run([PEER, "gen", "--seed", str(seed), "--bytes", str(n)], check=True,
                         stdout=subprocess.PIPE).stdout
    return hashlib.sha256(out).hexdigest()


def errors(k, name):
    return k.listener(name)["errors"]


def only_error(k, name, reason, n=1):
    e = errors(k, name)
    check(e[reason] == n and sum(e.values()) == n, "%s: want %d %s, errors %s" % (name, n, reason, e))


def case_lifetime(t, k):
    pairs = {s: start(t, "life", s, ["--no-shutdown"], ["--no-shutdown"]) for s in PATHS}
    for s, p in pairs.items():
        crc, cc, src, sc = results(p)
        check(len(cc) == 1 and len(sc) == 1 and cc[0]["rx_eof"] and sc[0]["rx_eof"], "%s %s" % (cc, sc))
        check(cc[0]["t_rx_eof_ms"] >= 800, "closed before the lifetime: %s" % cc[0])
        k.wait_stat("life_" + s, lambda l: l["active"] == 0, 5, "active 0")
        only_error(k, "life_" + s, "max_lifetime")
    check(k.listener("life_f")["spliced"] == 1, "life_f not spliced")
    log("max_lifetime_ms: closed after 800 ms on both paths, counted")


def case_bytes(t, k):
    # One way, paced so that the kernel redirects most of it on the fast path:
    # the verdicts and kfwd's reads share one budget, so no byte passes the
    # limit there either, and the close waits until the kernel's last
    # redirected bytes are on their way.
    pairs = {s: start(t, "bytes", s, ["--send", "4M", "--rate", 4 * MIB, "--seed", 11], []) for s in PATHS}
    for s, p in pairs.items():
        crc, cc, src, sc = results(p)
        got = sc[0]["rx_bytes"]
        check(got == MIB, "%s: %d bytes passed, want exactly %d" % (s, got, MIB))
        check(sc[0]["rx_sha256"] == stream_sha(11, got), "%s: the bytes that passed are not the stream's" % s)
        k.wait_stat("bytes_" + s, lambda l: l["active"] == 0, 5, "active 0")
        only_error(k, "bytes_" + s, "max_bytes")
    l = k.listener("bytes_f")
    check(l["spliced"] == 1 and l["kernel_bytes_in"] > 0, "bytes_f: the kernel moved nothing: %s" % l)
    log("max_bytes one way: exactly %d bytes on both paths, %d of them redirected by the kernel"
        % (MIB, l["kernel_bytes_in"]))
    # Both ways at once, unpaced: the two directions' verdicts draw from one
    # budget concurrently; what both peers received sums to the limit.
    pairs = {s: start(t, "both", s, ["--send", "4M", "--seed", 12, "--no-shutdown"],
                      ["--send", "4M", "--seed", 13, "--no-shutdown"]) for s in PATHS}
    for s, p in pairs.items():
        crc, cc, src, sc = results(p)
        up, down = sc[0]["rx_bytes"], cc[0]["rx_bytes"]
        check(up + down == MIB, "%s: %d up + %d down, want exactly %d: %s %s" % (s, up, down, MIB, cc, sc))
        check(sc[0]["rx_sha256"] == stream_sha(12, up) and cc[0]["rx_sha256"] == stream_sha(13, down),
              "%s: the bytes that passed are not the streams' prefixes" % s)
        k.wait_stat("both_" + s, lambda l: l["active"] == 0, 5, "active 0")
        only_error(k, "both_" + s, "max_bytes")
        log("max_bytes both ways (%s): %d up + %d down" % (s, up, down))
    check(k.listener("both_f")["spliced"] == 1, "both_f not spliced")


def case_rate(t, k):
    # The client sends once the relay has started (its first byte came through
    # kfwd), so on the fast path its bytes meet a spliced flow and the kernel
    # redirects until the allowance is spent (rate_passes below).
    pairs = {s: start(t, "rate", s, ["--send", "4M", "--seed", 21, "--wait-rx", 1],
                      ["--send", "4M", "--seed", 31]) for s in PATHS}
    for s, p in pairs.items():
        crc, cc, src, sc = results(p)
        check(crc == 0 and src == 0, "rate %s: exit %s %s: %s %s" % (s, crc, src, cc, sc))
        assert_exact(cc, sc, "max_rate_bps " + s)
        up, down = sc[0]["t_rx_eof_ms"], cc[0]["t_rx_eof_ms"]
        log("max_rate_bps (%s): 4 MiB up in %d ms, down in %d ms (1 MiB/s)" % (s, up, down))
        check(up >= 2000 and down >= 2000, "%s: not throttled: up %d ms, down %d ms" % (s, up, down))
        l = k.wait_stat("rate_" + s, lambda l: l["active"] == 0, 5, "active 0")
        check(not any(l["errors"].values()), "throttling is not a close: %s" % l["errors"])
    l = k.listener("rate_f")
    check(l["spliced"] == 1, "rate_f not spliced")
    kern = k.stats()["fastpath"]["kernel"]
    check(kern["rate_passes"] > 0, "the verdict never stopped at the allowance: %s" % kern)
    log("fast path: kernel moved %d / %d bytes, %d rate passes" % (
        l["kernel_bytes_in"] + l["kernel_bytes_out"], l["bytes_in"] + l["bytes_out"], kern["rate_passes"]))


def case_min_rate(t, k):
    slow = {s: start(t, "minr", s, ["--send", "1M", "--rate", 1000], []) for s in PATHS}
    for s, p in slow.items():
        results(p)
        k.wait_stat("minr_" + s, lambda l: l["active"] == 0, 5, "active 0")
        only_error(k, "minr_" + s, "min_rate")
    # 100 KB/s (6 MB a minute) over 3 s: two windows, never below the minimum.
    ok = {s: start(t, "minr", s, ["--send", 300000, "--rate", 100000, "--seed", 41], ["--send", 1000])
          for s in PATHS}
    for s, p in ok.items():
        crc, cc, src, sc = results(p)
        assert_exact(cc, sc, "min_rate kept " + s)
        k.wait_stat("minr_" + s, lambda l: l["active"] == 0, 5, "active 0")
        only_error(k, "minr_" + s, "min_rate")
    log("min_rate_bpm: a 1 KB/s connection closed after the grace period, 100 KB/s kept")


def case_idle(t, k):
    idle = {s: start(t, "idle", s, ["--send", 65536, "--no-shutdown"], ["--no-shutdown"]) for s in PATHS}
    for s, p in idle.items():
        crc, cc, src, sc = results(p)
        check(sc[0]["rx_bytes"] == 65536, "idle %s: %s" % (s, sc))
        k.wait_stat("idle_" + s, lambda l: l["active"] == 0, 5, "active 0")
        only_error(k, "idle_" + s, "idle_timeout")
    # Bytes the kernel moves count as activity: 3 s of traffic, idle limit 1 s.
    busy = {s: start(t, "idle", s, ["--send", 450000, "--rate", 150000, "--seed", 51], []) for s in PATHS}
    for s, p in busy.items():
        crc, cc, src, sc = results(p)
        assert_exact(cc, sc, "busy past the idle timeout " + s)
        k.wait_stat("idle_" + s, lambda l: l["active"] == 0, 5, "active 0")
        only_error(k, "idle_" + s, "idle_timeout")
    check(k.listener("idle_f")["spliced"] == 2, "idle_f not spliced")
    log("idle_timeout_ms: idle connections closed, busy spliced ones kept")


def case_connect(t, k):
    srv = t.backend.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("10.77.2.2", 9500))
    srv.listen()
    srv.settimeout(10)
    cli = t.client.socket(socket.AF_INET, socket.SOCK_STREAM)
    cli.settimeout(10)
    cli.connect(("10.77.1.1", 3128))
    cli.sendall(b"CONNECT 10.77.2.2:9500 HTTP/1.1\r\nHost: x\r\n\r\nhello")
    conn, _ = srv.accept()
    conn.settimeout(10)
    data = b""
    while True:
        b = cli.recv(4096)
        if not b:
            break
        data += b
    check(data.startswith(b"HTTP/1.1 200 "), "answer %r" % data)
    check(conn.recv(10) == b"hello", "early bytes")
    cli.close()
    conn.close()
    srv.close()
    k.wait_stat("px", lambda l: l["active"] == 0, 5, "active 0")
    only_error(k, "px", "max_lifetime")


def main():
    with Topology() as t:
        k = t.kfwd(listeners()).start()
        paths = {l["name"]: l["path"] for l in k.stats()["listeners"]}
        check(all(paths[c + "_f"] == "fastpath" and paths[c + "_u"] == "userspace" for c in CASES),
              "paths %s" % paths)
        case_lifetime(t, k)
        case_bytes(t, k)
        case_rate(t, k)
        case_min_rate(t, k)
        case_idle(t, k)
        case_connect(t, k)
        k.finish()
        text = k.log_text()
        for reason, n in (("max_lifetime", 2), ("max_bytes", 4), ("min_rate", 2), ("idle_timeout", 2)):
            check(text.count("closed by policy: " + reason) >= n, "no log line for %s" % reason)
        recs = [json.loads(x.split(" access ", 1)[1]) for x in text.splitlines() if " access {" in x]
        check(len(recs) == 1 and recs[0]["close"] == "max_lifetime" and recs[0]["path"] == "fastpath"
              and recs[0]["bytes_up"] == 5, "access records %s" % recs)


run(main)
