#!/usr/bin/python3
"""UDP fast path in XDP: after a flow's first datagram, kfwd's sockets see
nothing more of it (listener packets_in stays 1) while the backend receives
every datagram (its own count) and the client gets every reply from the
gateway's address; per-flow counters in `kfwd flows`, typed entries in
`bpftool map dump pinned`; idle expiry of a flow the kernel keeps busy does
not happen, of a quiet one does, and the next datagram goes through kfwd
again; IPv6; an IPv4 client with an IPv6 backend stays on the userspace
path; a frame with an offloaded checksum goes up the stack; detach and unpin
at stop; a killed kfwd's program and pins are cleaned at the next start."""
import json
import os
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kfwdtest import KFWD, Topology, check, log, run, sh, wait_for  # noqa: E402
from xdptest import (Bpffs, Echo, exchange, norm, start_kfwd, wire_like,  # noqa: E402
                     xdp_progs)

IDLE_MS = 1500
N = 300
GW2_V4 = "10.77.1.11"


def flows(k):
    return json.loads(sh([KFWD, "flows", "--json", "-s", k.sock]).stdout)["udp_flows"]


def one_flow(k, listener):
    fl = [f for f in flows(k) if f["listener"] == listener]
    check(len(fl) == 1, "%s: %d UDP flows in XDP, expected 1: %s" % (listener, len(fl), fl))
    return fl[0]


def lsn(k, name):
    return k.listener(name)


def check_fast_flow(t, k, echo, name, fam, gw, backend_gw, n):
    """n exchanges on one socket; only the first reaches kfwd's socket."""
    c = t.client.socket(fam)
    sent0 = echo.count
    for i in range(n):
        src = exchange(c, (gw, 5353), b"%s %d " % (name.encode(), i) * (1 + i % 40))
        check((norm(src[0]), src[1]) == (norm(gw), 5353), "reply from %s" % (src,))
    check(echo.count - sent0 == n, "backend received %d of %d" % (echo.count - sent0, n))
    check({norm(s[0]) for s in echo.sources} == {norm(backend_gw)},
          "backend saw sources %s, expected only the gateway" % echo.sources)
    l = lsn(k, name)
    check(l["path"] == "xdp", "%s: stats path %s, expected xdp" % (name, l["path"]))
    check(l["total"] == 1 and l["packets_in"] == 1,
          "%s: kfwd's socket took %d datagrams of %d flows (expected 1 of 1)" % (
              name, l["packets_in"], l["total"]))
    check(l["packets_out"] <= 1, "%s: kfwd sent %d replies itself" % (name, l["packets_out"]))
    x = l["xdp"]
    check(x["packets_in"] == n - 1 and x["packets_out"] + l["packets_out"] == n,
          "%s: XDP forwarded %d/%d" % (name, x["packets_in"], x["packets_out"]))
    f = one_flow(k, name)
    check(f["path"] == "xdp" and f["packets_in"] == n - 1 and
          f["packets_out"] + l["packets_out"] == n, "flow %s" % f)
    log("%s: %d exchanges, kfwd's socket saw 1, XDP forwarded %d in / %d out" % (
        name, n, x["packets_in"], x["packets_out"]))
    return c


def check_expiry(k, socks):
    """socks: (socket, listener, gateway address) of flows that run in XDP."""
    names = [name for _, name, _ in socks]
    log("%s: busy in XDP for 2 idle timeouts: the flows stay" % names)
    end = time.monotonic() + 2 * IDLE_MS / 1000.0
    while time.monotonic() < end:
        for c, _, gw in socks:
            exchange(c, (gw, 5353), b"keepalive")
        time.sleep(0.2)
    for _, name, _ in socks:
        l = lsn(k, name)
        check(l["total"] == 1 and l["active"] == 1 and l["packets_in"] == 1,
              "a flow busy in XDP expired: %s" % l)
    log("%s: quiet: the flows expire, both entries go" % names)
    t0 = time.monotonic()
    for _, name, _ in socks:
        wait_for(lambda: lsn(k, name)["active"] == 0, IDLE_MS / 1000.0 + 5,
                 "%s flow to expire" % name)
    log("expired after %.2f s" % (time.monotonic() - t0))
    check(not [f for f in flows(k) if f["listener"] in names], "entries left after expiry")
    for c, name, gw in socks:
        exchange(c, (gw, 5353), b"again")
        # The new flow is in XDP as soon as kfwd creates it, so its echo can
        # reach us before kfwd's worker has counted the datagram it sent.
        wait_for(lambda: lsn(k, name)["total"] == 2 and lsn(k, name)["packets_in"] == 2, 5,
                 "after expiry the next datagram must go through kfwd: %s" % lsn(k, name))
        one_flow(k, name)


def check_pins(k, pin_dir):
    out = json.loads(sh(["bpftool", "-j", "map", "dump", "pinned",
                         os.path.join(pin_dir, "xdp_flows")]).stdout)
    check(out, "no entries in the pinned flow table")
    e = out[0]
    check("formatted" in e and "last_ns" in e["formatted"]["value"] and
          "saddr" in e["formatted"]["key"], "entries are not BTF-typed: %s" % e)
    for m in ("xdp_listeners", "xdp_sources", "xdp_buckets", "xdp_stats", "xdp_lsn_stats",
              "xdp_prog"):
        check(os.path.exists(os.path.join(pin_dir, m)), "%s not pinned" % m)
    log("bpftool shows typed entries in %s" % pin_dir)


def main():
    with Topology() as t, Bpffs(t) as fs:
        wire_like(t)
        t.add_gw_address(v4=GW2_V4)
        e4 = Echo(t.backend, socket.AF_INET, "10.77.2.2", 5300)
        e6 = Echo(t.backend, socket.AF_INET6, "fd77:2::2", 5300)
        pin_root = os.path.join(fs.path, "kfwd")
        udp = dict(proto="udp", idle_timeout_ms=IDLE_MS)
        listeners = [
            dict(name="u4", bind="10.77.1.1:5353", backends=["10.77.2.2:5300"], **udp),
            dict(name="u6", bind="[fd77:1::1]:5353", backends=["[fd77:2::2]:5300"], **udp),
            dict(name="mixed", bind="10.77.1.1:5355", backends=["[fd77:2::2]:5300"], **udp),
            dict(name="any4", bind="*:5354", backends=["10.77.2.2:5300"], **udp),
        ]
        k = start_kfwd(t, listeners, bpf_pin_path=pin_root, workers=2)
        pin_dir = os.path.join(pin_root, k.instance + "@xdp")
        x = k.stats()["xdp"]
        check(x["active"] and [i["mode"] for i in x["interfaces"]] == ["native", "native"],
              "xdp: %s" % x)
        prog = xdp_progs(t, "vc")
        check(len(prog) == 1 and xdp_progs(t, "vb") == prog, "program on vc/vb: %s" % prog)

        c4 = check_fast_flow(t, k, e4, "u4", socket.AF_INET, "10.77.1.1", "10.77.2.1", N)
        c6 = check_fast_flow(t, k, e6, "u6", socket.AF_INET6, "fd77:1::1", "fd77:2::1", N // 3)
        check_pins(k, pin_dir)

        log("mixed families: the userspace path, marked established in XDP")
        cm = t.client.socket(socket.AF_INET)
        for i in range(20):
            check(exchange(cm, ("10.77.1.1", 5355), b"mixed %d" % i) == ("10.77.1.1", 5355),
                  "mixed reply source")
        l = lsn(k, "mixed")
        check(l["packets_in"] == 20 and l["packets_out"] == 20, "mixed: %s" % l)
        f = one_flow(k, "mixed")
        check(f["path"] == "userspace", "mixed flow %s" % f)
        check(l["xdp"]["reasons"]["userspace_flow"] == 19, "mixed: %s" % l["xdp"])

        log("wildcard bind: each local address is its own flow, replies come from it")
        cw = t.client.socket(socket.AF_INET)
        for rnd in range(10):
            for a in ("10.77.1.1", GW2_V4):
                check(exchange(cw, (a, 5354), b"%s %d" % (a.encode(), rnd)) == (a, 5354),
                      "wildcard: sent to %s, reply from elsewhere" % a)
        l = lsn(k, "any4")
        check(l["total"] == 2 and l["packets_in"] == 2 and l["xdp"]["packets_in"] == 18 and
              l["xdp"]["packets_out"] + l["packets_out"] == 20, "any4: %s" % l)
        local = sorted(f["local"] for f in flows(k) if f["listener"] == "any4")
        check(local == ["10.77.1.11:5354", "10.77.1.1:5354"], "any4 flows %s" % local)

        check_expiry(k, [(c4, "u4", "10.77.1.1"), (c6, "u6", "fd77:1::1")])
        s = k.stats()
        check(s["xdp"]["reasons"]["error"] == 0 and s["xdp"]["verdicts"]["aborted"] == 0,
              "program errors: %s" % s["xdp"])
        for l in s["listeners"]:
            check(not any(l["errors"].values()), "%s errors %s" % (l["name"], l["errors"]))

        k.finish()
        check(not xdp_progs(t, "vc") and not xdp_progs(t, "vb"), "XDP still attached after stop")
        check(not os.path.exists(pin_dir), "pins left after stop: %s" % pin_dir)
        log("stopped: detached and unpinned")

        log("a killed kfwd leaves its program and pins; the next start removes them")
        k2 = start_kfwd(t, listeners, name="again", bpf_pin_path=pin_root)
        again_dir = os.path.join(pin_root, k2.instance + "@xdp")
        old = xdp_progs(t, "vc")
        k2.proc.send_signal(signal.SIGKILL)
        k2.proc.wait(10)
        check(xdp_progs(t, "vc") == old and xdp_progs(t, "vb") == old,
              "program gone after SIGKILL?")
        check(os.path.exists(os.path.join(again_dir, "xdp_flows")), "pins gone after SIGKILL?")
        # The same instance (name) again, with the same config.
        with open(k2.conf) as f:
            text = f.read()
        k3 = t.kfwd(listeners, name="again", workers=1, grace_ms=1000)
        k3.write_config(text)
        k3.start()
        new = xdp_progs(t, "vc")
        check(new and new != old and xdp_progs(t, "vb") == new, "old %s new %s" % (old, new))
        check("detached the program a crashed run left" in k3.log_text(), "no cleanup logged")
        c = t.client.socket(socket.AF_INET)
        for i in range(5):
            exchange(c, ("10.77.1.1", 5353), b"after crash %d" % i)
        check(k3.listener("u4")["packets_in"] == 1, "fast path after restart")
        k3.finish()
        check(not xdp_progs(t, "vc") and not os.path.exists(again_dir),
              "left after the second stop")
        e4.stop()
        e6.stop()


run(main)
