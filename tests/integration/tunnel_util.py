"""Helpers for the tunnel tests: certificates made with openssl in the test's
temp dir, and the two kfwd configs (server and client) in gw."""
import os
import subprocess

from kfwdtest import GW_B_V4


def _ssl(args, cwd):
    subprocess.run(["openssl"] + args, cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=30)


def make_ca(d, name):
    _ssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
          "-keyout", name + ".key", "-out", name + ".pem", "-subj", "/CN=" + name, "-days", "30"], d)


def make_leaf(d, name, cn, ca="ca", days=30, expired=False):
    """A certificate for cn signed by ca (expired: valid yesterday only)."""
    _ssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
          "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn], d)
    with open(os.path.join(d, name + ".ext"), "w") as f:
        f.write("subjectAltName=DNS:%s\n" % cn)
    if expired:
        # openssl x509 cannot backdate; "ca" with explicit dates can.
        with open(os.path.join(d, "ca.cnf"), "w") as f:
            f.write("[ca]\ndefault_ca=c\n[c]\ndatabase=index.txt\nnew_certs_dir=.\n"
                    "serial=serial\npolicy=p\ndefault_md=sha256\ncopy_extensions=copy\n"
                    "[p]\ncommonName=supplied\n")
        open(os.path.join(d, "index.txt"), "w").close()
        with open(os.path.join(d, "serial"), "w") as f:
            f.write("1000\n")
        _ssl(["ca", "-batch", "-config", "ca.cnf", "-cert", ca + ".pem", "-keyfile", ca + ".key",
              "-in", name + ".csr", "-out", name + ".pem", "-startdate", "20200101000000Z",
              "-enddate", "20200102000000Z", "-extfile", name + ".ext"], d)
        return
    _ssl(["x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key",
          "-CAcreateserial", "-out", name + ".pem", "-days", str(days), "-extfile", name + ".ext"],
         d)


def certs(d):
    """CA, server gw-b.test, client gw-a.test."""
    make_ca(d, "ca")
    make_leaf(d, "b", "gw-b.test")
    make_leaf(d, "a", "gw-a.test")


UDP_PORT = 24443


def server_conf(k, d, allow, cert="b", ca="ca", peer_name="gw-a.test", upstreams="", bind=None,
                transport=""):
    """upstreams: more keys of the upstreams section, e.g. 'http = "..";';
    transport: more tunnel.transport keys as libconfig text."""
    return ("global = { workers = 1; control_socket = \"%s\"; instance = \"%s\"; "
            "shutdown_grace_ms = 2000; };\n"
            "tunnel = { role = \"server\"; bind = \"%s:%d\"; peer_name = \"%s\";\n"
            "  tls = { ca = \"%s/%s.pem\"; cert = \"%s/%s.pem\"; key = \"%s/%s.key\"; };\n"
            "  transport = { %s }; };\n"
            "upstreams = { allow = ( %s ); connect_timeout_ms = 2000; %s };\n"
            "listeners = ( { name = \"unused\"; bind = \"127.0.0.1:25999\"; "
            "backends = ( \"127.0.0.1:25998\" ); } );\n" % (
                k.sock, k.instance, bind or GW_B_V4, UDP_PORT, peer_name, d, ca, d, cert, d, cert,
                transport, ", ".join('"%s"' % a for a in allow), upstreams))


def client_conf(k, d, listeners, cert="a", ca="ca", peer_name="gw-b.test", peer=None,
                port=UDP_PORT, transport="", glob=""):
    """peer: the server's host (default its bind address) and port; transport:
    more tunnel.transport keys as libconfig text; glob: more global keys."""
    def val(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        return str(v) if isinstance(v, int) else '"%s"' % v
    ls = ",\n".join("  { " + " ".join('%s = %s;' % (k, val(v)) for k, v in l.items()) + " }"
                    for l in listeners)
    return ("global = { workers = 1; control_socket = \"%s\"; instance = \"%s\"; "
            "shutdown_grace_ms = 2000; %s };\n"
            "tunnel = { role = \"client\"; peer = \"%s:%d\"; peer_name = \"%s\";\n"
            "  tls = { ca = \"%s/%s.pem\"; cert = \"%s/%s.pem\"; key = \"%s/%s.key\"; };\n"
            "  transport = { connect_interval_ms = 200; keep_alive_ms = 1000; %s }; };\n"
            "listeners = (\n%s\n);\n" % (
                k.sock, k.instance, glob, peer or GW_B_V4, port, peer_name, d, ca, d, cert, d,
                cert, transport, ls))


def tunnel_state(k):
    s = k.stats(quiet=True)
    return s and s.get("tunnel")
