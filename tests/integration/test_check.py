#!/usr/bin/python3
"""`kfwd check`: each class of config error is reported as FILE:LINE: message with
the right line and exit 1; valid configs and every docs/examples/*.conf pass.
Runs inside a test namespace so no name lookup can leave the machine."""
import glob
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kfwdtest import KFWD, ROOT, Topology, check, log, run, sh  # noqa: E402

BASE = """\
# line 1: kfwd check test
global = {
  workers = 2;
  instance = "chk";
  control_socket = "/tmp/kfwd-check-test/ctl.sock";
};
listeners = (
  {
    name = "web";
    bind = "10.77.1.1:8080";
    proto = "tcp";
    backends = ( "10.77.2.2:9000",
                 "[fd77:2::2]:9001" );
    max_flows = 100;
  },
  {
    name = "dns";
    bind = "10.77.1.1:5353";
    proto = "udp";
    backends = ( "10.77.2.2:53" );
    idle_timeout_ms = 2000;
  }
);
"""

# (what, replace this, with that, expected line, expected words in the message)
CASES = [
    ("unknown key", "max_flows = 100;", "max_flows = 100; colour = \"red\";", 14, "unknown key 'colour'"),
    ("unknown section", "listeners = (", "frontends = { a = 1; };\nlisteners = (", 7,
     "unknown section 'frontends'"),
    ("wrong type int", "workers = 2;", "workers = \"two\";", 3, "'workers' must be an integer"),
    ("wrong type string", "proto = \"udp\";", "proto = 17;", 19, "'proto' must be a string"),
    ("wrong type bind", "bind = \"10.77.1.1:5353\";", "bind = 5353;", 18, "'bind' must be a string"),
    ("wrong type list", "backends = ( \"10.77.2.2:53\" );", "backends = \"10.77.2.2:53\";", 20,
     "'backends' must be a list"),
    ("out of range", "max_flows = 100;", "max_flows = 0;", 14, "'max_flows' is out of range"),
    ("out of range global", "workers = 2;", "workers = 1000;", 3, "'workers' is out of range"),
    ("out of range idle", "idle_timeout_ms = 2000;", "idle_timeout_ms = -1;", 21,
     "'idle_timeout_ms' is out of range"),
    ("bad enum", "proto = \"udp\";", "proto = \"sctp\";", 19, "'proto' must be one of tcp, udp"),
    ("bad bind address", "bind = \"10.77.1.1:8080\";", "bind = \"300.1.1.1:8080\";", 10, "bad address"),
    ("bind without port", "bind = \"10.77.1.1:8080\";", "bind = \"10.77.1.1\";", 10, "bad address"),
    ("bad port", "\"[fd77:2::2]:9001\"", "\"[fd77:2::2]:99999\"", 13, "bad port"),
    ("bare IPv6 backend", "\"[fd77:2::2]:9001\"", "\"fd77:2::2:9001\"", 13, "bad address"),
    ("duplicate name", "name = \"dns\";", "name = \"web\";", 16,
     "duplicate listener name \"web\" (first defined at line 8)"),
    ("duplicate bind", "bind = \"10.77.1.1:5353\";\n    proto = \"udp\";",
     "bind = \"10.77.1.1:8080\";\n    proto = \"tcp\";", 18, "already used by listener \"web\""),
    ("missing required", "    name = \"dns\";\n", "", 16, "missing required key 'name'"),
    ("syntax error", "proto = \"tcp\";", "proto = = \"tcp\";", 11, "syntax error"),
]


def main():
    with Topology() as t:
        d = os.path.join(t.tmpdir, "check")
        os.makedirs(d)

        def kcheck(text, name):
            path = os.path.join(d, name)
            with open(path, "w") as f:
                f.write(text)
            r = t.client.run([KFWD, "check", "-c", path], check_rc=False, timeout=30)
            return path, r

        path, r = kcheck(BASE, "base.conf")
        check(r.returncode == 0, "base config rejected (%d):\n%s" % (r.returncode, r.stderr))
        check("OK: 2 listener(s)" in r.stdout, "base: %s" % r.stdout)

        for i, (what, old, new, line, words) in enumerate(CASES):
            check(BASE.count(old) == 1, "%s: %r not unique in BASE" % (what, old))
            path, r = kcheck(BASE.replace(old, new), "bad%02d.conf" % i)
            msgs = [l for l in r.stderr.splitlines() if l.startswith(path + ":") and
                    not l.startswith(path + ": ")]
            check(r.returncode == 1, "%s: exit %d, expected 1\n%s" % (what, r.returncode, r.stderr))
            hits = [m for m in msgs if words in m]
            check(len(hits) == 1 and len(msgs) == 1,
                  "%s: expected one problem with %r, got:\n%s" % (what, words, r.stderr))
            want = "%s:%d: " % (path, line)
            check(hits[0].startswith(want), "%s: expected %r..., got %r" % (what, want, hits[0]))
            log("%-20s -> %s" % (what, hits[0][len(d) + 1:]))

        log("several problems at once: all reported, in line order")
        text = BASE.replace("workers = 2;", "workers = -3;").replace(
            "max_flows = 100;", "max_flows = 100; nope = 1;").replace("name = \"dns\";", "name = \"web\";")
        path, r = kcheck(text, "multi.conf")
        lines = [int(l[len(path) + 1:].split(":")[0]) for l in r.stderr.splitlines()
                 if l.startswith(path + ":") and not l.startswith(path + ": ")]
        check(r.returncode == 1 and lines == [3, 14, 16], "multi: lines %s\n%s" % (lines, r.stderr))

        examples = sorted(glob.glob(os.path.join(ROOT, "docs", "examples", "*.conf")))
        log("docs/examples: %d file(s)" % len(examples))
        # The tunnel examples name TLS files next to themselves, which check
        # must be able to read: they are checked as copies next to certificates
        # made by scripts/gen-certs.sh, as their comments tell users to do.
        certs = os.path.join(t.tmpdir, "examples")
        sh(["bash", os.path.join(ROOT, "scripts", "gen-certs.sh"), "-o", certs,
            "gw-a.example.net", "gw-b.example.net"])
        for ex in examples:
            with open(ex) as f:
                tunnel = any(l.startswith("tunnel = {") for l in f)
            path = ex
            if tunnel:
                path = os.path.join(certs, os.path.basename(ex))
                shutil.copy(ex, path)
            r = t.client.run([KFWD, "check", "-c", path], check_rc=False, timeout=30)
            check(r.returncode == 0, "%s does not pass check:\n%s%s" % (ex, r.stdout, r.stderr))
            log("  %s: OK%s" % (os.path.relpath(ex, ROOT), " (next to generated certificates)"
                                if tunnel else ""))


run(main)
