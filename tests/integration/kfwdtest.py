"""Shared helpers for kfwd's integration tests (Python 3 stdlib only).

A test builds a Topology (three network namespaces: client, gw, backend),
starts kfwd in gw and peers (build/tools/kfwd-peer) in client and backend,
and checks what arrived (SHA-256 of both byte streams) and what kfwd counted
(`kfwd stats --json`). Every wait is bounded; everything a test starts is
torn down in `finally`, also on exceptions, SIGINT and SIGTERM.

    client ns  veth0 10.77.1.2  fd77:1::2 --- vc 10.77.1.1 fd77:1::1   gw ns
    backend ns veth0 10.77.2.2  fd77:2::2 --- vb 10.77.2.1 fd77:2::1   gw ns

gw does not forward IP: the only way from client to backend is kfwd.
"""

import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def _abs(path):
    return path if os.path.isabs(path) else os.path.join(ROOT, path)


KFWD = _abs(os.environ.get("KFWD", "build/kfwd"))
PEER = _abs(os.environ.get("KFWD_PEER", "build/tools/kfwd-peer"))
PREFIX = "kfwdt-%d-" % os.getpid()

CLIENT_V4, GW_C_V4, GW_B_V4, BACKEND_V4 = "10.77.1.2", "10.77.1.1", "10.77.2.1", "10.77.2.2"
CLIENT_V6, GW_C_V6, GW_B_V6, BACKEND_V6 = "fd77:1::2", "fd77:1::1", "fd77:2::1", "fd77:2::2"
# An address on the backend link whose neighbour entry points at a MAC nobody
# has: SYNs to it vanish (no tc classifiers in this kernel to drop them).
BLACKHOLE_V4, BLACKHOLE_V6 = "10.77.2.3", "fd77:2::3"
BLACKHOLE_MAC = "02:00:5e:77:02:03"

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL("libc.so.6", use_errno=True)

T0 = time.monotonic()


class Interrupted(BaseException):
    """SIGINT/SIGTERM/SIGHUP turned into an exception so `finally` blocks run."""


_tearing_down = False


def _on_signal(signum, frame):
    if _tearing_down:
        return  # let the cleanup finish
    raise Interrupted("signal %d" % signum)


for _sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(_sig, _on_signal)


def log(msg):
    print("[%7.2fs] %s" % (time.monotonic() - T0, msg), flush=True)


def check(cond, msg):
    """assert that survives python -O and says what was expected."""
    if not cond:
        raise AssertionError(msg)


def wait_for(fn, timeout, what, interval=0.05, detail=None):
    """Call fn until it returns a truthy value; at most timeout seconds and
    timeout/interval + 1 calls. Returns the value or raises AssertionError,
    whose message ends with detail() when given (what fn saw last, say)."""
    deadline = time.monotonic() + timeout
    tries = int(timeout / interval) + 1
    last_exc = None
    for _ in range(tries):
        try:
            v = fn()
            if v:
                return v
        except (OSError, ValueError, subprocess.SubprocessError) as e:
            last_exc = e
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    raise AssertionError("timed out after %.1fs waiting for %s%s%s" % (
        timeout, what, " (last error: %s)" % last_exc if last_exc else "",
        "; %s" % detail() if detail else ""))


def sh(args, timeout=30, check_rc=True, **kw):
    """Run a command to completion; returns CompletedProcess with text output."""
    r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout, **kw)
    if check_rc and r.returncode != 0:
        raise AssertionError("command failed (%d): %s\n%s%s" % (
            r.returncode, " ".join(args), r.stdout, r.stderr))
    return r


# ---- processes ---------------------------------------------------------------


class Proc:
    """A started process: stdout collected line by line by a thread, stderr in a file."""

    def __init__(self, topo, args, name, env=None, errpath=None):
        self.topo = topo
        self.name = name
        self.args = args
        self.errpath = errpath or os.path.join(topo.tmpdir, "%s.%d.stderr" % (name, len(topo.procs)))
        self._err = open(self.errpath, "wb")
        self.lines = []
        self._cv = threading.Condition()
        self._eof = False
        self.p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=self._err, env=env, start_new_session=True)
        self.pid = self.p.pid
        topo.procs.append(self)
        self._t = threading.Thread(target=self._reader, daemon=True)
        self._t.start()

    def _reader(self):
        for raw in self.p.stdout:
            with self._cv:
                self.lines.append(raw.decode(errors="replace").rstrip("\n"))
                self._cv.notify_all()
        with self._cv:
            self._eof = True
            self._cv.notify_all()

    def alive(self):
        return self.p.poll() is None

    def wait_line(self, pred, timeout, what):
        """Wait for a stdout line with pred(line) true; return it."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cv:
            # Bounded in time, and in rounds: each round sees a new line or waits 50 ms.
            for _ in range(int(timeout / 0.05) + 100000):
                for line in self.lines[seen:]:
                    if pred(line):
                        return line
                seen = len(self.lines)
                left = deadline - time.monotonic()
                if left <= 0 or self._eof:
                    break
                self._cv.wait(min(left, 0.05))
        raise AssertionError("%s: no line with %s within %.1fs (exit %s)\n%s" % (
            self.name, what, timeout, self.p.poll(), self.stderr_tail()))

    def wait(self, timeout):
        """Wait for exit (bounded); return the exit code."""
        try:
            rc = self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("%s did not exit within %.1fs" % (self.name, timeout))
        self._t.join(timeout=5)
        self._err.close()
        return rc

    def send_signal(self, sig):
        if self.alive():
            self.p.send_signal(sig)

    def stop(self, grace=2.0):
        """SIGTERM, then SIGKILL after grace; return the exit code."""
        if self.alive():
            self.p.terminate()
            try:
                self.p.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                log("%s (pid %d) ignored SIGTERM for %.1fs: SIGKILL" % (self.name, self.pid, grace))
                self.p.kill()
                self.p.wait(timeout=5)
        self._t.join(timeout=5)
        self._err.close()
        return self.p.returncode

    def stderr_text(self):
        try:
            with open(self.errpath, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def stderr_tail(self, n=40):
        return "\n".join(self.stderr_text().splitlines()[-n:])

    def one_json(self, timeout):
        """Wait for exit (bounded); check exit code 0 and exactly one JSON line
        on stdout, and return that line (the helper clients' contract)."""
        rc = self.wait(timeout)
        out = self.json_lines()
        check(rc == 0 and len(out) == 1, "%s: exit %s, output %s, %s" % (
            self.name, rc, out, self.stderr_tail()))
        return out[0]

    def json_lines(self):
        out = []
        with self._cv:
            lines = list(self.lines)
        for line in lines:
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out


class Peer(Proc):
    """A kfwd-peer process; see tests/tools/kfwd-peer.c for its options."""

    def wait_listening(self, timeout=10):
        self.wait_line(lambda l: l.startswith('{"listening"'), timeout, "listening")
        return self

    def conns(self):
        return [j for j in self.json_lines() if "conn" in j]

    def progress(self):
        return [j for j in self.json_lines() if j.get("progress")]

    def summary(self):
        s = [j for j in self.json_lines() if j.get("summary")]
        return s[-1] if s else None

    def result(self, timeout):
        """Wait for exit; return (exit code, per-connection reports)."""
        rc = self.wait(timeout)
        return rc, self.conns()


# ---- namespaces --------------------------------------------------------------


class Netns:
    def __init__(self, topo, role):
        self.topo = topo
        self.role = role
        self.name = PREFIX + role

    def cmd(self, args):
        return ["ip", "netns", "exec", self.name] + list(args)

    def run(self, args, timeout=30, check_rc=True):
        return sh(self.cmd(args), timeout=timeout, check_rc=check_rc)

    def popen(self, args, name=None, env=None):
        return Proc(self.topo, self.cmd(args), name or "%s-%s" % (self.role, os.path.basename(args[0])), env)

    def connect_client(self, proxy, target, *args, name=None):
        """tests/integration/connect_client.py here: CONNECT target through proxy
        (its options in args); read the result with one_json."""
        return self.popen(["python3", os.path.join(HERE, "connect_client.py"), proxy, target] +
                          [str(a) for a in args], name=name)

    def peer(self, *args, name=None):
        p = Peer(self.topo, self.cmd([PEER] + [str(a) for a in args]),
                 name or "%s-peer-%s" % (self.role, args[0]))
        return p

    def socket(self, family=socket.AF_INET, type=socket.SOCK_DGRAM, proto=0):
        """A socket created inside this namespace (setns on this thread only)."""
        here = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        there = os.open("/run/netns/" + self.name, os.O_RDONLY)
        try:
            if _libc.setns(there, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns " + self.name)
            try:
                s = socket.socket(family, type, proto)
            finally:
                if _libc.setns(here, CLONE_NEWNET) != 0:
                    os._exit(99)  # stuck in the wrong namespace: never go on
            self.topo.sockets.append(s)
            return s
        finally:
            os.close(here)
            os.close(there)


def _ns_pids(name):
    r = subprocess.run(["ip", "netns", "pids", name], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, text=True, timeout=10)
    return [int(x) for x in r.stdout.split() if x.isdigit()]


def netns_delete(name):
    """End every process left inside the namespace (started by this suite), then delete it."""
    for sig, rounds in ((signal.SIGTERM, 20), (signal.SIGKILL, 40)):
        pids = _ns_pids(name)
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        for _ in range(rounds):
            if not _ns_pids(name):
                break
            time.sleep(0.05)
    subprocess.run(["ip", "netns", "del", name], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=10)


class Topology:
    """client <-> gw <-> backend; use as a context manager."""

    def __init__(self):
        self.procs = []
        self.sockets = []
        self.kfwds = []
        self.tmpdir = tempfile.mkdtemp(prefix=PREFIX)
        self.client = Netns(self, "client")
        self.gw = Netns(self, "gw")
        self.backend = Netns(self, "backend")
        self.namespaces = [self.client, self.gw, self.backend]
        self._created = []
        self._mounts = []

    def __enter__(self):
        try:
            self._setup()
        except BaseException:
            self.teardown(failed=True)
            raise
        return self

    def __exit__(self, et, ev, tb):
        self.teardown(failed=et is not None)
        return False

    def _ip(self, ns, *args):
        sh(["ip", "-n", ns.name] + list(args))

    def _setup(self):
        for ns in self.namespaces:
            if os.path.exists("/run/netns/" + ns.name):
                netns_delete(ns.name)
            sh(["ip", "netns", "add", ns.name])
            self._created.append(ns.name)
            self._ip(ns, "link", "set", "lo", "up")
            # No duplicate address detection on links this test owns: link-local
            # addresses are usable at once (global ones get nodad below).
            for conf in ("all", "default"):
                ns.run(["sysctl", "-q", "-w", "net.ipv6.conf.%s.accept_dad=0" % conf])
        # veths are created inside a test namespace and the peer end is moved
        # straight to the other one: nothing ever exists in the host namespace.
        self._ip(self.client, "link", "add", "veth0", "type", "veth", "peer", "name", "vc",
                 "netns", self.gw.name)
        self._ip(self.backend, "link", "add", "veth0", "type", "veth", "peer", "name", "vb",
                 "netns", self.gw.name)
        for ns, dev, v4, v6 in ((self.client, "veth0", CLIENT_V4, CLIENT_V6),
                                (self.gw, "vc", GW_C_V4, GW_C_V6),
                                (self.gw, "vb", GW_B_V4, GW_B_V6),
                                (self.backend, "veth0", BACKEND_V4, BACKEND_V6)):
            self._ip(ns, "addr", "add", v4 + "/24", "dev", dev)
            self._ip(ns, "-6", "addr", "add", v6 + "/64", "dev", dev, "nodad")
            self._ip(ns, "link", "set", dev, "up")
        for fam, addr in (("-4", BLACKHOLE_V4), ("-6", BLACKHOLE_V6)):
            self._ip(self.gw, fam, "neigh", "replace", addr, "lladdr", BLACKHOLE_MAC,
                     "dev", "vb", "nud", "permanent")
        # Routed IPv6 is off in gw (the default); make it explicit for IPv4 too.
        self.gw.run(["sysctl", "-q", "-w", "net.ipv4.ip_forward=0"])
        # A veth has no carrier for a moment after both ends are up; what is sent
        # then is lost (and a lost SYN costs a 1 s retransmit).
        for ns, dev in ((self.client, "veth0"), (self.gw, "vc"), (self.gw, "vb"),
                        (self.backend, "veth0")):
            wait_for(lambda: sh(["ip", "-n", ns.name, "-br", "link", "show", "dev", dev]
                                ).stdout.split()[1] == "UP",
                     5, "%s %s to have carrier" % (ns.role, dev), interval=0.01)
        log("topology %s{client,gw,backend} up, tmp %s" % (PREFIX, self.tmpdir))

    def add_gw_address(self, v4=None, v6=None):
        """Another address on gw's client-facing link (for wildcard binds)."""
        if v4:
            self._ip(self.gw, "addr", "add", v4 + "/24", "dev", "vc")
        if v6:
            self._ip(self.gw, "-6", "addr", "add", v6 + "/64", "dev", "vc", "nodad")

    def kfwd(self, config, name="kfwd", **kw):
        return Kfwd(self, config, name, **kw)

    def bpffs(self):
        """A bpffs of this test's own in its temp dir, unmounted at teardown. kfwd,
        started later in gw, sees the same one (`ip netns exec` copies the mounts),
        so pins made there can be checked from here."""
        path = os.path.join(self.tmpdir, "bpffs")
        os.makedirs(path, exist_ok=True)
        sh(["mount", "-t", "bpf", "bpf", path])
        self._mounts.append(path)
        return path

    def dump_logs(self):
        for k in self.kfwds:
            print("---- %s log (%s) ----" % (k.name, k.logpath))
            print(k.log_tail(80))
        for p in self.procs:
            if p.name.startswith("kfwd"):
                continue
            tail = p.stderr_tail(20)
            if tail.strip():
                print("---- %s stderr ----" % p.name)
                print(tail)
        sys.stdout.flush()

    def teardown(self, failed=False):
        global _tearing_down
        _tearing_down = True
        try:
            if failed:
                try:
                    self.dump_logs()
                except Exception:  # noqa: BLE001 - best effort while failing already
                    traceback.print_exc()
            for s in self.sockets:
                try:
                    s.close()
                except OSError:
                    pass
            for p in reversed(self.procs):
                try:
                    if p.alive():
                        log("teardown: stopping %s (pid %d)" % (p.name, p.pid))
                    p.stop(grace=3)
                except Exception:  # noqa: BLE001 - keep tearing down
                    traceback.print_exc()
            for name in reversed(self._created):
                try:
                    netns_delete(name)
                except Exception:  # noqa: BLE001
                    traceback.print_exc()
            for k in self.kfwds:
                k.remove_leftovers()
            for m in reversed(self._mounts):
                subprocess.run(["umount", "-l", m], timeout=10)
            if failed or os.environ.get("KFWD_KEEP_TMP"):
                print("(temporary files kept in %s)" % self.tmpdir)
            else:
                subprocess.run(["rm", "-rf", "--one-file-system", self.tmpdir], timeout=30)
        finally:
            _tearing_down = False


# ---- kfwd ----------------------------------------------------------------------


def cgroup2_root():
    """Where this process sees the cgroup2 hierarchy mounted (None: nowhere)."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            if "-" in parts and parts[parts.index("-") + 1] == "cgroup2":
                return parts[4]
    return None


def cgroup_self():
    """This process's cgroup2 path ("0::PATH" in /proc/self/cgroup)."""
    with open("/proc/self/cgroup") as f:
        for line in f:
            if line.startswith("0::"):
                return line[3:].strip()
    return "/"


def _cfg_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, (list, tuple)):
        return "( " + ", ".join(_cfg_value(x) for x in v) + " )"
    if isinstance(v, dict):
        return "{ " + " ".join("%s = %s;" % (k, _cfg_value(x)) for k, x in v.items()) + " }"
    return json.dumps(str(v))


def render_config(listeners, **glob):
    """libconfig text: one listener per line, so line numbers are predictable."""
    out = ["global = { " + " ".join("%s = %s;" % (k, _cfg_value(v)) for k, v in glob.items()) + " };",
           "listeners = ("]
    for i, l in enumerate(listeners):
        body = " ".join("%s = %s;" % (k, _cfg_value(v)) for k, v in l.items())
        out.append("  { " + body + " }" + ("," if i + 1 < len(listeners) else ""))
    out.append(");")
    return "\n".join(out) + "\n"


class Kfwd:
    """kfwd running in gw with its config, log and control socket in the test's temp dir."""

    def __init__(self, topo, listeners, name="kfwd", workers=2, grace_ms=2000, extra_args=(),
                 glob=None, wrap=()):
        self.topo = topo
        self.glob = dict(glob or {})  # more `global` keys
        self.name = name
        self.dir = os.path.join(topo.tmpdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.conf = os.path.join(self.dir, "kfwd.conf")
        self.sock = os.path.join(self.dir, "ctl.sock")
        self.logpath = os.path.join(self.dir, "kfwd.log")
        self.instance = "%s%s" % (PREFIX, name)
        self.workers = workers
        self.grace_ms = grace_ms
        self.extra_args = list(extra_args)
        self.wrap = list(wrap)  # argv before kfwd's own, in gw (e.g. sh -c '...; exec "$@"' sh)
        self.proc = None
        self.write_config(listeners)
        topo.kfwds.append(self)

    def config_text(self, listeners):
        if isinstance(listeners, str):
            return listeners
        return render_config(listeners, workers=self.workers, control_socket=self.sock,
                             instance=self.instance, shutdown_grace_ms=self.grace_ms, **self.glob)

    def write_config(self, listeners):
        text = self.config_text(listeners)
        tmp = self.conf + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, self.conf)
        return text

    def start(self, timeout=15):
        self.proc = Proc(self.topo, self.topo.gw.cmd(self.wrap + [KFWD, "-c", self.conf] +
                                                     self.extra_args),
                         self.name, dict(os.environ), errpath=self.logpath)

        def ready():
            if not self.proc.alive():
                raise AssertionError("kfwd exited during startup (%s):\n%s" % (
                    self.proc.p.returncode, self.log_tail()))
            return self.stats(quiet=True)
        wait_for(ready, timeout, "kfwd control socket %s" % self.sock, interval=0.05)
        log("%s running (pid %d)" % (self.name, self.proc.pid))
        return self

    @property
    def pid(self):
        return self.proc.pid

    def stats(self, quiet=False):
        """`kfwd stats --json` through the control socket; None when it does not answer (quiet)."""
        r = subprocess.run([KFWD, "stats", "--json", "-s", self.sock], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=15)
        if r.returncode != 0 or not r.stdout.strip():
            if quiet:
                return None
            raise AssertionError("kfwd stats failed (%d): %s" % (r.returncode, r.stderr))
        return json.loads(r.stdout)

    def flows(self):
        """`kfwd flows --json`: the flows the kernel splices."""
        r = sh([KFWD, "flows", "--json", "-s", self.sock], timeout=15)
        return json.loads(r.stdout)

    def cgroup_path(self):
        """The fast path's cgroup as seen from here (kfwd makes it a child of its own)."""
        return os.path.join(cgroup2_root() or "/nonexistent", cgroup_self().lstrip("/"),
                            "kfwd-" + self.instance)

    def remove_leftovers(self):
        """What a kfwd that had to be killed leaves: its empty cgroup, and the mount
        point of the cgroup2 it mounted for itself (the mount died with it)."""
        for d in (self.cgroup_path(), "/run/kfwd/cgroup2." + self.instance):
            if os.path.isdir(d):
                try:
                    os.rmdir(d)
                    log("teardown: removed %s" % d)
                except OSError as e:
                    log("teardown: cannot remove %s: %s" % (d, e))

    def listener(self, name):
        for l in self.stats()["listeners"]:
            if l["name"] == name:
                return l
        raise AssertionError("no listener %r in stats" % name)

    def wait_stat(self, name, pred, timeout, what):
        """Poll a listener's stats until pred(listener) holds; return that listener."""
        return wait_for(lambda: (lambda l: l if pred(l) else None)(self.listener(name)),
                        timeout, "%s: %s" % (name, what), interval=0.1)

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def rss_kib(self):
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS for pid %d" % self.pid)

    def reload(self, listeners=None, text=None, timeout=10):
        """Rewrite the config (listeners list or raw text), SIGHUP, and wait until the
        reload was either applied or rejected. Returns the stats after it."""
        before = self.stats()
        if text is not None or listeners is not None:
            self.write_config(text if text is not None else listeners)
        n0 = before["reloads"] + before["reload_failures"]
        self.send_signal(signal.SIGHUP)
        return wait_for(lambda: (lambda s: s if s["reloads"] + s["reload_failures"] > n0 else None)(
            self.stats()), timeout, "reload to be handled")

    def log_text(self):
        try:
            with open(self.logpath, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def log_tail(self, n=60):
        return "\n".join(self.log_text().splitlines()[-n:])

    def stop(self, timeout=None, sig=signal.SIGTERM):
        """Stop with SIGTERM and wait; return the exit code (None if it had to be killed)."""
        if timeout is None:
            timeout = self.grace_ms / 1000.0 + 10
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except AssertionError:
            self.proc.stop(grace=1)
            raise

    def check_log_clean(self):
        text = self.log_text()
        # Sanitizer reports, and the fast path's own alarm that a spliced
        # stream's counts do not add up (tcp_fast.c, dir_check).
        for bad in ("AddressSanitizer", "LeakSanitizer", "runtime error:", "UndefinedBehavior",
                    "the stream is not what was sent"):
            check(bad not in text, "%s reported by %s:\n%s" % (bad, self.name, self.log_tail(120)))

    def finish(self):
        """A clean stop: exit code 0, no sanitizer report, no stream alarm."""
        rc = self.stop()
        self.check_log_clean()
        check(rc == 0, "%s exited %s, expected 0:\n%s" % (self.name, rc, self.log_tail()))
        log("%s stopped cleanly" % self.name)


# ---- transfers -----------------------------------------------------------------


def transfer(t, connect, listen, client=(), server=(), conns=1, timeout=90):
    """One server in backend ns, one client in client ns; returns (crc, cconns, src, sconns)."""
    srv = t.backend.peer("server", "--listen", listen, "--conns", conns,
                         "--timeout", int(timeout * 1000), *server).wait_listening()
    cli = t.client.peer("client", "--connect", connect, "--conns", conns,
                        "--timeout", int(timeout * 1000), *client)
    crc, cc = cli.result(timeout + 15)
    src, sc = srv.result(timeout + 15)
    return crc, cc, src, sc


def tx_at(progress, t_ms):
    """Bytes a kfwd-peer writer had handed to its socket at t_ms (its --progress
    samples: the last one before t_ms)."""
    before = [p["tx"] for p in progress if p["t_ms"] <= t_ms]
    return before[-1] if before else 0


def assert_exact(cc, sc, what=""):
    """Every byte each side sent arrived at the other: multisets of hashes match."""
    check(len(cc) == len(sc), "%s: %d client vs %d server connections" % (what, len(cc), len(sc)))
    for c in cc + sc:
        check(not c["error"], "%s: connection error %s (%s): %s" % (what, c["error"], c["error_op"], c))
    up_sent = sorted((c["tx_bytes"], c["tx_sha256"]) for c in cc)
    up_recv = sorted((s["rx_bytes"], s["rx_sha256"]) for s in sc)
    down_sent = sorted((s["tx_bytes"], s["tx_sha256"]) for s in sc)
    down_recv = sorted((c["rx_bytes"], c["rx_sha256"]) for c in cc)
    check(up_sent == up_recv, "%s: client->backend streams differ: %s" % (
        what, _diff(up_sent, up_recv)))
    check(down_sent == down_recv, "%s: backend->client streams differ: %s" % (
        what, _diff(down_sent, down_recv)))


def _diff(sent, recv):
    """The (bytes, sha256) streams only one side has, for a failure message."""
    import collections
    a, b = collections.Counter(sent), collections.Counter(recv)
    return "sent, not received %s; received, not sent %s (of %d)" % (
        sorted((a - b).elements())[:5], sorted((b - a).elements())[:5], len(sent))


def run(main):
    """Run a test's main(); print PASS/FAIL and exit 0/1."""
    name = os.path.basename(sys.argv[0])
    try:
        main()
    except (Exception, Interrupted, KeyboardInterrupt):  # noqa: BLE001 - report everything
        traceback.print_exc(file=sys.stdout)
        print("FAIL %s (%.1fs)" % (name, time.monotonic() - T0), flush=True)
        sys.exit(1)
    print("PASS %s (%.1fs)" % (name, time.monotonic() - T0), flush=True)
    sys.exit(0)
