#!/usr/bin/python3
"""README.md "Tunnel between two machines", run as written as far as one host
allows: certificates from scripts/gen-certs.sh copied as step 1 says, the two
configs taken from the README's own code blocks (names of hosts the test
does not have replaced by its addresses, a control socket added), `kfwd
check` accepts both, the tunnel comes up, the forward and the CONNECT
listener carry bytes exactly, the http listener a request, and `kfwd stats` prints the lines the README
shows."""
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kfwdtest import (GW_B_V4, KFWD, ROOT, Kfwd, Topology, assert_exact, check, log, run,  # noqa
                      sh, wait_for)
from tunnel_util import tunnel_state  # noqa: E402

BACKEND = "10.77.2.2"
# What the README names that this test host lacks.
SUBST = [("gw-b.example.net:20010", "%s:20010" % GW_B_V4), ("db.internal", BACKEND)]


def readme_section():
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    m = re.search(r"^## Tunnel between two machines\n(.*?)^## ", text, re.S | re.M)
    check(m, "README has the section")
    return m.group(1)


def blocks(section):
    """The fenced code blocks, dedented."""
    out = []
    for b in re.findall(r"```\n(.*?)```", section, re.S):
        lines = b.split("\n")
        ind = min((len(l) - len(l.lstrip(" ")) for l in lines if l.strip()), default=0)
        out.append("\n".join(l[ind:] for l in lines))
    return out


def main():
    sec = readme_section()
    bl = blocks(sec)
    gen = [b for b in bl if "gen-certs.sh" in b]
    server = [b for b in bl if 'role = "server"' in b]
    client = [b for b in bl if 'role = "client"' in b]
    stats = [b for b in bl if b.startswith("tunnel: client, up")]
    check(len(gen) == 1 and len(server) == 1 and len(client) == 1 and len(stats) == 1,
          "README blocks: %d gen-certs, %d server, %d client, %d stats" % (
              len(gen), len(server), len(client), len(stats)))
    with Topology() as t:
        d = t.tmpdir
        # Step 1 as written, in the test's folder.
        cmd = gen[0].strip().split()
        check(cmd[0] == "scripts/gen-certs.sh", "gen-certs command: %s" % cmd)
        sh(["bash", os.path.join(ROOT, cmd[0])] + cmd[1:], cwd=d)
        certs = os.path.join(d, "certs")
        k = {}
        for side, me, text in (("b", "gw-b.example.net", server[0]),
                               ("a", "gw-a.example.net", client[0])):
            os.makedirs(os.path.join(d, side))
            for f in ("ca.pem", me + ".pem", me + ".key"):
                shutil.copy(os.path.join(certs, f), os.path.join(d, side, f))
            kf = Kfwd(t, [], name="kfwd-" + side)
            kf.conf = os.path.join(d, side, "tunnel.conf")
            for a, b in SUBST:
                text = text.replace(a, b)
            kf.write_config('global = { control_socket = "%s"; instance = "%s"; };\n%s' % (
                kf.sock, kf.instance, text))
            r = subprocess.run([KFWD, "check", "-c", kf.conf], capture_output=True, text=True,
                               timeout=20)
            check(r.returncode == 0, "kfwd check %s: %s%s" % (side, r.stdout, r.stderr))
            k[side] = kf
        k["b"].start()
        k["a"].start()
        wait_for(lambda: (tunnel_state(k["a"]) or {}).get("state") == "up", 10, "tunnel up")

        # The forward listener (A's loopback: the clients run in gw, as on A).
        srv = t.backend.peer("server", "--listen", BACKEND + ":5432", "--conns", 2,
                             "--send", 1 << 20, "--seed", 50).wait_listening()
        cli = t.gw.peer("client", "--connect", "127.0.0.1:15432", "--send", 1 << 20,
                        "--seed", 60)
        crc, cc = cli.result(60)
        # The CONNECT listener, to a target B allows.
        out = t.gw.connect_client("127.0.0.1:3129", BACKEND + ":5432", "--send", 1 << 20,
                                  "--seed", 70).one_json(60)
        src, sc = srv.result(30)
        check(crc == 0 and src == 0 and len(sc) == 2, "peers: %s %s %s" % (crc, src, sc))
        check(out["status"] == 200, "CONNECT: %s" % out)
        fwd = [s for s in sc if s["rx_sha256"] == cc[0]["tx_sha256"]]
        assert_exact(cc, fwd, "forward listener")
        other = [s for s in sc if s is not fwd[0]][0]
        check(other["rx_sha256"] == out["tx_sha256"] and
              out["rx_sha256"] == other["tx_sha256"], "CONNECT exact: %s %s" % (other, out))
        log("forward and CONNECT listeners exact")
        # The http listener, to B's upstreams.http (a file server on B's loopback).
        with open(os.path.join(d, "hello.txt"), "w") as f:
            f.write("hello through the tunnel\n")
        web = t.gw.popen(["python3", "-m", "http.server", "--bind", "127.0.0.1", "8081",
                          "--directory", d], name="web")
        wait_for(lambda: t.gw.run(["curl", "-sf", "http://127.0.0.1:8081/hello.txt"],
                                  check_rc=False).returncode == 0, 10, "file server up")
        r = t.gw.run(["curl", "-sS", "--max-time", "20", "http://127.0.0.1:20080/hello.txt"],
                     check_rc=False)
        check(r.returncode == 0 and r.stdout == "hello through the tunnel\n",
              "http listener: %s %r %s" % (r.returncode, r.stdout, r.stderr))
        web.stop()
        log("http listener carried a request to upstreams.http")

        r = subprocess.run([KFWD, "stats", "-c", k["a"].conf],
                           capture_output=True, text=True, timeout=15)
        check(r.returncode == 0, "kfwd stats: %s" % r.stderr)
        got = r.stdout[r.stdout.index("tunnel: "):].splitlines()
        want = stats[0].strip("\n").splitlines()
        check(len(got) >= len(want), "stats lines: %s" % got)
        for w, g in zip(want, got):
            # Same words, numbers aside.
            shape = lambda s: re.sub(r"[0-9.:]+", "N", s)  # noqa: E731
            check(shape(w) == shape(g), "README shows %r, kfwd prints %r" % (w, g))
        log("stats as in the README:\n%s" % "\n".join(got[:len(want)]))
        k["a"].finish()
        k["b"].finish()


run(main)
