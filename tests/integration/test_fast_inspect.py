#!/usr/bin/python3
"""Fast path inspection and clean-up: `kfwd flows --json` lists a live spliced flow with
its endpoints and counts, `bpftool map dump pinned <pin>/flows` prints typed fields, the
entry disappears when the flow closes; after a stop the pin folder and the cgroup are gone;
what a SIGKILLed instance leaves is removed by the next start; and when the fast path
cannot start (pins on a folder that is not bpffs) every listener, also one that leaves
`fastpath` at its default, runs on the userspace path, and the stats and the log (once)
say why."""
import json
import os
import signal
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kfwdtest import Topology, check, log, run, sh, transfer, wait_for, assert_exact  # noqa: E402

BPFTOOL = next((p for p in ("/usr/sbin/bpftool", "/usr/local/sbin/bpftool") if os.path.exists(p)),
               "bpftool")
LISTENER = dict(name="fast", bind="10.77.1.1:8080", proto="tcp", backends=["10.77.2.2:9000"],
                fastpath=True)


def dump(path):
    return json.loads(sh([BPFTOOL, "-j", "map", "dump", "pinned", path]).stdout)


def recv_exact(s, n):
    got = b""
    while len(got) < n:
        chunk = s.recv(n - len(got))
        check(chunk, "connection closed after %d of %d bytes" % (len(got), n))
        got += chunk
    return got


def live_flow(t, k, pin):
    """One hand-made connection: check it in `kfwd flows` and in the pinned map."""
    srv = t.backend.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("10.77.2.2", 9000))
    srv.listen()
    srv.settimeout(5)
    cli = t.client.socket(socket.AF_INET, socket.SOCK_STREAM)
    cli.settimeout(5)
    cli.connect(("10.77.1.1", 8080))
    conn, _ = srv.accept()
    conn.settimeout(5)
    cli.sendall(b"x" * 1000)
    check(recv_exact(conn, 1000) == b"x" * 1000, "client bytes")
    conn.sendall(b"y" * 300000)
    check(recv_exact(cli, 300000) == b"y" * 300000, "backend bytes")

    flows = wait_for(lambda: (lambda f: f if f and f[0]["bytes_out"] == 300000 else None)(
        k.flows()["flows"]), 5, "the flow's counts in kfwd flows")
    log("kfwd flows --json: %s" % flows)
    check(len(flows) == 1, "one flow expected: %s" % flows)
    f = flows[0]
    check(f["listener"] == "fast", "listener %r" % f["listener"])
    check(f["client"] == "10.77.1.2:%d" % cli.getsockname()[1], "client %r" % f["client"])
    check(f["backend"] == "10.77.2.2:9000", "backend %r" % f["backend"])
    check(f["bytes_in"] == 1000 and f["bytes_out"] == 300000, "bytes %s" % f)
    check(f["segments_in"] >= 1 and f["segments_out"] >= 1, "segments %s" % f)
    check(0 <= f["idle_ms"] <= f["age_ms"] < 10000, "age/idle %s" % f)

    entries = dump(os.path.join(pin, "flows"))
    log("bpftool map dump pinned %s/flows: %s" % (pin, json.dumps(entries)))
    check(len(entries) == 1, "one entry expected")
    v = entries[0]["formatted"]["value"] if "formatted" in entries[0] else entries[0]["value"]
    for field in ("client", "backend", "listener", "start_ns", "last_ns", "in", "out"):
        check(field in v, "no typed field %r in the dump: %s" % (field, v))
    check(v["in"]["bytes"] == 1000 and v["out"]["bytes"] == 300000, "counts %s" % v)
    check(v["backend"]["port"] == 9000 and v["backend"]["addr"][:4] == [10, 77, 2, 2],
          "backend %s" % v["backend"])
    check(v["client"]["family"] == socket.AF_INET, "family %s" % v["client"])

    cli.close()
    check(conn.recv(10) == b"", "EOF at the backend")
    conn.close()
    srv.close()
    wait_for(lambda: k.flows()["flows"] == [], 5, "the flow to leave the table")
    wait_for(lambda: dump(os.path.join(pin, "flows")) == [], 5, "the pinned map to be empty")


def check_gone(k, pin):
    check(not os.path.exists(pin), "pin folder %s still there" % pin)
    root = os.path.dirname(pin)
    check(not os.path.exists(root), "empty pin root %s still there" % root)
    check(not os.path.exists(k.cgroup_path()), "cgroup %s still there" % k.cgroup_path())


def main():
    with Topology() as t:
        bpffs = t.bpffs()
        glob = {"bpf_pin_path": os.path.join(bpffs, "kfwd")}
        k = t.kfwd([LISTENER], glob=glob).start()
        pin = os.path.join(bpffs, "kfwd", k.instance)
        s = k.stats()
        log("fastpath: %s" % s["fastpath"]["detail"])
        check(s["fastpath"]["active"] and s["listeners"][0]["path"] == "fastpath", "%s" % s)
        check(sorted(os.listdir(pin)) == ["counters", "flows", "ports"], "pins %s" % os.listdir(pin))
        check(os.path.isdir(k.cgroup_path()), "no cgroup %s" % k.cgroup_path())
        ports = dump(os.path.join(pin, "ports"))
        check(len(ports) == 1 and ports[0]["formatted"]["key"]["port"] == 8080, "ports %s" % ports)
        live_flow(t, k, pin)
        l = k.wait_stat("fast", lambda l: l["active"] == 0, 5, "active 0")
        check(l["spliced"] == 1 and l["bytes_in"] == 1000 and l["bytes_out"] == 300000, "%s" % l)
        k.finish()
        check_gone(k, pin)
        log("stopped: pin folder and cgroup removed")

        log("SIGKILL leaves the pins and the cgroup; the next start removes them")
        k2 = t.kfwd([LISTENER], name="k2", glob=glob).start()
        pin2 = os.path.join(bpffs, "kfwd", k2.instance)
        k2.stop(sig=signal.SIGKILL)
        check(os.path.isdir(pin2) and os.path.isdir(k2.cgroup_path()), "nothing left to clean?")
        k2.start()
        check("removed stale cgroup" in k2.log_text() and "removing stale pins" in k2.log_text(),
              "no stale clean-up in the log:\n%s" % k2.log_tail())
        crc, cc, src, sc = transfer(t, "10.77.1.1:8080", "10.77.2.2:9000",
                                    client=["--send", "4M", "--seed", 1], server=["--send", "4M"])
        assert_exact(cc, sc, "after a stale clean-up")
        check(k2.wait_stat("fast", lambda l: l["active"] == 0, 5, "active 0")["spliced"] == 1,
              "not spliced after a stale clean-up")
        k2.finish()
        check_gone(k2, pin2)

        log("pins on a folder that is not bpffs: the fast path is off, traffic still flows")
        plain = os.path.join(t.tmpdir, "not-bpffs")
        os.makedirs(plain)
        # The listener leaves fastpath at its default (true).
        default = {x: v for x, v in LISTENER.items() if x != "fastpath"}
        k3 = t.kfwd([default], name="k3", glob={"bpf_pin_path": plain}).start()
        s = k3.stats()
        log("fastpath: %s" % s["fastpath"])
        check(not s["fastpath"]["active"] and "pin" in s["fastpath"]["detail"], "%s" % s)
        check(s["listeners"][0]["path"] == "userspace", "path %s" % s["listeners"][0]["path"])
        check(k3.log_text().count(s["fastpath"]["detail"]) == 1, "the reason is not logged once")
        check(not os.path.exists(k3.cgroup_path()), "cgroup left after a failed start")
        crc, cc, src, sc = transfer(t, "10.77.1.1:8080", "10.77.2.2:9000",
                                    client=["--send", "4M", "--seed", 2], server=["--send", "4M"])
        assert_exact(cc, sc, "userspace fallback")
        l = k3.wait_stat("fast", lambda l: l["active"] == 0, 5, "active 0")
        check(l["spliced"] == 0 and l["bytes_in"] == 4 << 20, "%s" % l)
        fl = k3.flows()
        check(fl["fastpath"] is False and fl["flows"] == [], "flows %s" % fl)
        k3.finish()


run(main)
