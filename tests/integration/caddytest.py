"""Test fixtures for the tunnel's interop tests: a throwaway CA made with openssl,
and caddy 2.6 (Debian; HTTP/3 over quic-go, a QUIC stack that is not ngtcp2)
serving static files over HTTPS and HTTP/3 inside a test namespace.

    certs = make_certs(t.tmpdir, "caddy.test", ips=["10.77.2.2"])
    caddy = Caddy(t, t.backend, "10.77.2.2", 8443, root, certs).start()
    caddy.verify(t.gw)    # fetches over TLS, checks h3 is offered (see verify)

caddy runs from a JSON config in the test's temp dir: no admin endpoint, no
config autosave, no ACME or automatic HTTPS, HOME and XDG dirs in the temp
dir, so nothing reaches $HOME, the network or a shared port.
"""

import hashlib
import json
import os
import subprocess

from kfwdtest import Proc, check, log, sh, wait_for

CADDY = os.environ.get("KFWD_CADDY", "/usr/bin/caddy")


def _openssl(args, cwd):
    sh(["openssl"] + args, timeout=30, cwd=cwd)


def make_certs(tmpdir, server_name, ips=(), client_name="kfwd-client", days=2):
    """A CA and two EC P-256 certificates signed by it: the server's (SAN DNS:server_name
    plus IP:ips, serverAuth) and a client's (clientAuth). Returns a dict of absolute
    paths: ca, ca_key, server_cert, server_key, client_cert, client_key, dir."""
    d = os.path.join(tmpdir, "pki")
    os.makedirs(d, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    _openssl(["req", "-x509"] + ec + ["-keyout", "ca.key", "-out", "ca.pem", "-days", str(days),
                                      "-subj", "/CN=kfwd test CA",
                                      "-addext", "basicConstraints=critical,CA:TRUE",
                                      "-addext", "keyUsage=critical,keyCertSign,cRLSign"], d)
    for role, cn, usage, sans in (
            ("server", server_name, "serverAuth",
             ["DNS:" + server_name] + ["IP:" + ip for ip in ips]),
            ("client", client_name, "clientAuth", ["DNS:" + client_name])):
        with open(os.path.join(d, role + ".ext"), "w") as f:
            f.write("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                    "extendedKeyUsage=%s\nsubjectAltName=%s\n" % (usage, ",".join(sans)))
        _openssl(["req"] + ec + ["-keyout", role + ".key", "-out", role + ".csr",
                                 "-subj", "/CN=" + cn], d)
        _openssl(["x509", "-req", "-in", role + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                  "-CAcreateserial", "-days", str(days), "-extfile", role + ".ext",
                  "-out", role + ".pem"], d)
    p = lambda n: os.path.join(d, n)  # noqa: E731
    return dict(dir=d, ca=p("ca.pem"), ca_key=p("ca.key"),
                server_cert=p("server.pem"), server_key=p("server.key"),
                client_cert=p("client.pem"), client_key=p("client.key"))


def curl_has_http3():
    """Whether this curl can speak HTTP/3 (Debian bookworm's 7.88 cannot)."""
    r = subprocess.run(["curl", "-V"], stdout=subprocess.PIPE, text=True, timeout=10)
    for line in r.stdout.splitlines():
        if line.startswith("Features:"):
            return "HTTP3" in line.split()
    return False


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class Caddy:
    """caddy serving root over HTTPS (TCP, h1/h2) and HTTP/3 (UDP) on host:port in ns."""

    def __init__(self, topo, ns, host, port, root, certs, name="caddy"):
        self.topo, self.ns, self.host, self.port = topo, ns, host, port
        self.root, self.certs, self.name = root, certs, name
        self.dir = os.path.join(topo.tmpdir, name)
        self.proc = None
        for sub in ("home", "data", "config"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        self.conf = os.path.join(self.dir, "caddy.json")

    def config(self):
        tag = "kfwd-test"
        return {
            # No admin endpoint at all (it would take localhost:2019, shared by
            # every caddy on this machine), and never write an autosave copy.
            "admin": {"disabled": True, "config": {"persist": False}},
            "storage": {"module": "file_system", "root": os.path.join(self.dir, "data")},
            "logging": {"logs": {"default": {"level": "INFO",
                                             "writer": {"output": "stderr"}}}},
            "apps": {
                "http": {"servers": {"test": {
                    "listen": ["%s:%d" % (self.host, self.port)],
                    "protocols": ["h1", "h2", "h3"],
                    # No ACME, no redirect listener on :80, no local CA in the trust store.
                    "automatic_https": {"disable": True},
                    "tls_connection_policies": [
                        {"certificate_selection": {"any_tag": [tag]}, "alpn": ["h3", "h2", "http/1.1"]}],
                    "routes": [{"handle": [{"handler": "file_server", "root": self.root}]}],
                }}},
                "tls": {"certificates": {"load_files": [{
                    "certificate": self.certs["server_cert"], "key": self.certs["server_key"],
                    "tags": [tag]}]}},
            },
        }

    def start(self, timeout=20):
        check(os.access(CADDY, os.X_OK), "%s missing: caddy is a test package "
              "(bash scripts/deps.sh installs it)" % CADDY)
        with open(self.conf, "w") as f:
            json.dump(self.config(), f, indent=1)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
               "HOME": os.path.join(self.dir, "home"),
               "XDG_DATA_HOME": os.path.join(self.dir, "data"),
               "XDG_CONFIG_HOME": os.path.join(self.dir, "config")}
        self.proc = Proc(self.topo, self.ns.cmd([CADDY, "run", "--config", self.conf]),
                         self.name, env=env)

        def listening():
            if not self.proc.alive():
                raise AssertionError("caddy exited (%s):\n%s" % (
                    self.proc.p.returncode, self.proc.stderr_tail()))
            r = self.ns.run(["ss", "-Hnltu", "sport", "= :%d" % self.port], check_rc=False)
            protos = {line.split()[0] for line in r.stdout.splitlines() if line.strip()}
            return {"tcp", "udp"} <= protos
        wait_for(listening, timeout, "caddy on tcp and udp %s:%d" % (self.host, self.port),
                 interval=0.1)
        log("%s serving %s on %s:%d (pid %d)" % (self.name, self.root, self.host, self.port,
                                                 self.proc.pid))
        return self

    def curl(self, from_ns, path, out, *extra):
        """curl https://NAME:PORT/path from from_ns, trusting only the test CA; returns
        the response headers (lower-cased names) and writes the body to out."""
        name = self._server_name()
        hdr = out + ".headers"
        r = from_ns.run(["curl", "-sS", "--max-time", "20", "--cacert", self.certs["ca"],
                         "--resolve", "%s:%d:%s" % (name, self.port, self.host),
                         "-D", hdr, "-o", out] + list(extra)
                        + ["https://%s:%d%s" % (name, self.port, path)], timeout=30)
        check(r.returncode == 0, "curl %s: %s" % (path, r.stderr))
        headers = {}
        with open(hdr) as f:
            for line in f:
                if ":" in line:
                    k, v = line.split(":", 1)
                    headers[k.strip().lower()] = v.strip()
        return headers

    def _server_name(self):
        r = sh(["openssl", "x509", "-in", self.certs["server_cert"], "-noout", "-subject",
                "-nameopt", "multiline"], timeout=10)
        for line in r.stdout.splitlines():
            if "commonName" in line:
                return line.split("=", 1)[1].strip()
        raise AssertionError("no CN in %s" % self.certs["server_cert"])

    def verify(self, from_ns, path):
        """Check caddy serves path (a file under root) byte-exact over TLS with the test
        CA and offers HTTP/3. With an HTTP/3-capable curl the file is also fetched over
        h3; Debian bookworm's curl has no HTTP/3, and then h3 itself is exercised only by
        the kfwd tunnel test, while this checks the Alt-Svc advertisement and the UDP
        socket (start). Returns "h3" or "alt-svc" for what was verified."""
        want = sha256_file(os.path.join(self.root, path.lstrip("/")))
        out = os.path.join(self.dir, "verify.body")
        headers = self.curl(from_ns, path, out)
        check(sha256_file(out) == want, "caddy served %s with another SHA-256" % path)
        alt = headers.get("alt-svc", "")
        check('h3=":%d"' % self.port in alt,
              "caddy does not advertise HTTP/3 on :%d (Alt-Svc: %r)" % (self.port, alt))
        if not curl_has_http3():
            log("%s: TLS fetch byte-exact, Alt-Svc %s; curl has no HTTP/3, h3 itself is "
                "checked through the kfwd tunnel" % (self.name, alt))
            return "alt-svc"
        self.curl(from_ns, path, out, "--http3-only")
        check(sha256_file(out) == want, "caddy served %s over h3 with another SHA-256" % path)
        log("%s: fetched %s over HTTP/3 byte-exact" % (self.name, path))
        return "h3"

    def stop(self):
        if self.proc:
            self.proc.stop(grace=5)

