#!/usr/bin/python3
"""Tunnel interop with a QUIC stack that is not ngtcp2: kfwd in tunnel client role
talks HTTP/3 to caddy 2.6 (quic-go) and serves its files to HTTP/1.1 clients
through a `mode = "http"` listener, byte-exact.

    client ns: curl http://10.77.1.1:20080/FILE
      -> gw ns: kfwd (listener api, via tunnel; tunnel.role client, peer caddy)
      -> backend ns: caddy, HTTPS + HTTP/3 on 10.77.2.2:8443, cert "caddy.test"

Server-auth TLS only: caddy does not ask for a client certificate (kfwd still
presents one from the same test CA; caddy ignores it).

kfwd's tunnel speaks only QUIC, so every byte here went over HTTP/3 between
ngtcp2/nghttp3 and quic-go."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from caddytest import Caddy, make_certs, sha256_file  # noqa: E402
from kfwdtest import KFWD, Topology, check, log, render_config, run  # noqa: E402

CADDY_HOST, CADDY_PORT, CADDY_NAME = "10.77.2.2", 8443, "caddy.test"
LISTEN = ("10.77.1.1", 20080)
FILES = {"empty.bin": 0, "small.txt": 1234, "one-mib.bin": 1 << 20, "big.bin": 24 << 20}


def cfg_group(d, indent="  "):
    """A dict as a libconfig group (nested dicts become nested groups)."""
    parts = []
    for k, v in d.items():
        if isinstance(v, dict):
            parts.append("%s = %s;" % (k, cfg_group(v, indent)))
        elif isinstance(v, bool):
            parts.append("%s = %s;" % (k, "true" if v else "false"))
        elif isinstance(v, int):
            parts.append("%s = %d;" % (k, v))
        else:
            parts.append('%s = "%s";' % (k, v))
    return "{ " + " ".join(parts) + " }"


def kfwd_config(k, certs):
    listeners = [dict(name="api", bind="%s:%d" % LISTEN, mode="http", via="tunnel")]
    text = render_config(listeners, workers=1, control_socket=k.sock, instance=k.instance,
                         shutdown_grace_ms=k.grace_ms)
    tunnel = dict(role="client", peer="%s:%d" % (CADDY_HOST, CADDY_PORT), peer_name=CADDY_NAME,
                  tls=dict(ca=certs["ca"], cert=certs["client_cert"], key=certs["client_key"]),
                  transport=dict(connect_interval_ms=500))
    return text + "tunnel = " + cfg_group(tunnel) + ";\n"


def require_tunnel(conf):
    """Fail (never skip) when this kfwd cannot load a tunnel client config."""
    r = subprocess.run([KFWD, "check", "-c", conf], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=30)
    check(r.returncode == 0, "kfwd lacks tunnel support (or rejects this tunnel config): "
          "`kfwd check` exit %d:\n%s" % (r.returncode, r.stdout.strip()))


def main():
    with Topology() as t:
        certs = make_certs(t.tmpdir, CADDY_NAME, ips=[CADDY_HOST])
        root = os.path.join(t.tmpdir, "www")
        os.makedirs(root)
        for name, size in FILES.items():
            with open(os.path.join(root, name), "wb") as f:
                f.write(os.urandom(size))
        caddy = Caddy(t, t.backend, CADDY_HOST, CADDY_PORT, root, certs).start()
        how = caddy.verify(t.gw, "/one-mib.bin")
        log("caddy verified (%s)" % how)

        k = t.kfwd([], name="kfwd")
        k.write_config(kfwd_config(k, certs))
        require_tunnel(k.conf)
        k.start()

        for name in FILES:
            out = os.path.join(t.tmpdir, "got-" + name)
            r = t.client.run(["curl", "-sS", "--max-time", "60", "-o", out, "-w", "%{http_code}",
                              "-H", "Host: %s:%d" % (CADDY_NAME, CADDY_PORT),
                              "http://%s:%d/%s" % (LISTEN[0], LISTEN[1], name)], timeout=90)
            check(r.stdout.strip() == "200", "%s: HTTP %s through the tunnel" % (name, r.stdout))
            check(sha256_file(out) == sha256_file(os.path.join(root, name)),
                  "%s: body through the tunnel differs from caddy's file" % name)
            log("%s (%d B) byte-exact through kfwd -> HTTP/3 -> caddy" % (name, FILES[name]))

        r = t.client.run(["curl", "-sS", "--max-time", "30", "-o", "/dev/null", "-w", "%{http_code}",
                          "-H", "Host: %s:%d" % (CADDY_NAME, CADDY_PORT),
                          "http://%s:%d/missing" % LISTEN], timeout=60)
        check(r.stdout.strip() == "404", "missing file: HTTP %s, expected caddy's 404" % r.stdout)
        k.finish()
        caddy.stop()


if __name__ == "__main__":
    run(main)
