#!/usr/bin/python3
"""QUIC tunnel, refusals: a peer whose certificate is missing, from another CA,
expired, or made out to another name than peer_name is refused, in both
directions where TLS allows it (a TLS 1.3 server always presents a
certificate, so "no certificate" is a client-only case, played by
build/tools/quic-hello). After each refusal: no stream gets through (a
forward request is reset, the server never opened a stream), `kfwd stats`
shows the tunnel not up with a last error naming the cause, and the refusing
side's log says which case it was. Then good certificates again: the tunnel
comes up and a stream goes through byte-exact, so the test can pass."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kfwdtest import (GW_B_V4, ROOT, Kfwd, Topology, assert_exact, check, log, run,  # noqa: E402
                      transfer, wait_for)
from tunnel_util import (UDP_PORT, certs, client_conf, make_ca, make_leaf, server_conf,  # noqa: E402
                         tunnel_state)

HELLO = os.path.join(ROOT, "build/tools/quic-hello")
LISTEN = "10.77.1.1:8080"
TARGET = "10.77.2.2:9000"

# (name, which side carries the bad certificate, cert file stem, CA the
# refusing side trusts, what the refusing side must say)
CASES = [
    ("client from another CA", "client", "a_other", "unknown CA"),
    ("client expired", "client", "a_exp", "certificate expired"),
    ("client with the wrong name", "client", "a_wrong", "name mismatch"),
    ("server from another CA", "server", "b_other", "unknown CA"),
    ("server expired", "server", "b_exp", "certificate expired"),
    ("server with the wrong name", "server", "b_wrong", "name mismatch"),
]


def bad_certs(d):
    make_ca(d, "other")
    make_leaf(d, "a_other", "gw-a.test", ca="other")
    make_leaf(d, "b_other", "gw-b.test", ca="other")
    make_leaf(d, "a_exp", "gw-a.test", expired=True)
    make_leaf(d, "b_exp", "gw-b.test", expired=True)
    make_leaf(d, "a_wrong", "gw-x.test")
    make_leaf(d, "b_wrong", "gw-y.test")


def no_stream_through(t, cli, srv):
    """A forward request is reset at once and nothing reaches the server."""
    before = tunnel_state(cli)["streams_refused"]
    p = t.client.peer("client", "--connect", LISTEN, "--send", 65536, "--seed", 1,
                      "--timeout", 10000)
    rc, cc = p.result(20)
    check(rc == 1 and len(cc) == 1 and cc[0]["error"] and cc[0]["rx_bytes"] == 0,
          "a forward while refused must fail without data: rc %s %s" % (rc, cc))
    wait_for(lambda: tunnel_state(cli)["streams_refused"] > before, 5,
             "client counted the refused stream")
    s = tunnel_state(srv)
    check(s["streams_total"] == 0 and s["state"] != "up", "server carried nothing: %s" % s)


def refused(t, d, srv, cli, bad_side, stem, say):
    if bad_side == "client":
        srv.write_config(server_conf(srv, d, [TARGET]))
        cli.write_config(client_conf(cli, d, [dict(name="db", bind=LISTEN, via="tunnel",
                                                   target=TARGET)], cert=stem))
        refuser, refused_one = srv, cli
    else:
        srv.write_config(server_conf(srv, d, [TARGET], cert=stem))
        cli.write_config(client_conf(cli, d, [dict(name="db", bind=LISTEN, via="tunnel",
                                                   target=TARGET)]))
        refuser, refused_one = cli, srv
    srv.start()
    cli.start()
    err = wait_for(lambda: say in tunnel_state(refuser)["last_error"] and
                   tunnel_state(refuser)["last_error"], 15,
                   "%s's last error to say %r (now %r)" % (
                       refuser.name, say, tunnel_state(refuser)["last_error"]))
    log("%s: %s" % (refuser.name, err))
    # The refused side learns it through the TLS alert.
    other = wait_for(lambda: tunnel_state(refused_one)["last_error"], 15,
                     "%s's last error" % refused_one.name)
    log("%s: %s" % (refused_one.name, other))
    check(tunnel_state(cli)["state"] != "up", "client not up: %s" % tunnel_state(cli))
    check(tunnel_state(cli)["connects"] == 0, "no handshake completed: %s" % tunnel_state(cli))
    lines = [l for l in refuser.log_text().splitlines() if say in l]
    check(lines, "%s log names the cause %r:\n%s" % (refuser.name, say, refuser.log_tail(20)))
    no_stream_through(t, cli, srv)
    cli.finish()
    srv.finish()


def no_certificate(t, d, srv):
    """A client that presents no certificate (quic-hello without --cert)."""
    srv.write_config(server_conf(srv, d, [TARGET]))
    srv.start()
    p = t.gw.popen([HELLO, "--connect", "%s:%d" % (GW_B_V4, UDP_PORT), "--ca", d + "/ca.pem",
                    "--name", "gw-b.test", "--timeout", "5000"], name="quic-hello")
    rc = p.wait(15)
    out = p.json_lines()
    check(rc == 1 and out and out[-1]["result"] == "refused",
          "quic-hello without a certificate must be refused: rc %s %s %s" % (
              rc, out, p.stderr_tail()))
    log("quic-hello: %s" % out[-1])
    err = wait_for(lambda: "no certificate" in tunnel_state(srv)["last_error"] and
                   tunnel_state(srv)["last_error"], 10,
                   "server's last error names the missing certificate (now %r)" %
                   tunnel_state(srv)["last_error"])
    log("srv: %s" % err)
    check([l for l in srv.log_text().splitlines() if "no certificate" in l],
          "server log names the cause:\n%s" % srv.log_tail(20))
    s = tunnel_state(srv)
    check(s["state"] != "up" and s["streams_total"] == 0 and s["connects"] == 0,
          "server not up: %s" % s)
    # The same tool with a good certificate completes the handshake: the
    # refusal above was about the certificate, not the tool.
    p = t.gw.popen([HELLO, "--connect", "%s:%d" % (GW_B_V4, UDP_PORT), "--ca", d + "/ca.pem",
                    "--name", "gw-b.test", "--cert", d + "/a.pem", "--key", d + "/a.key",
                    "--timeout", "5000"], name="quic-hello-cert")
    rc = p.wait(15)
    out = p.json_lines()
    check(rc == 0 and out and out[-1]["result"] == "ok", "quic-hello with a certificate: %s %s %s"
          % (rc, out, p.stderr_tail()))
    srv.finish()


def main():
    with Topology() as t:
        d = t.tmpdir
        certs(d)
        bad_certs(d)
        srv = Kfwd(t, [], name="srv")
        cli = Kfwd(t, [], name="cli")
        log("case: client without a certificate")
        no_certificate(t, d, srv)
        for name, side, stem, say in CASES:
            log("case: %s" % name)
            refused(t, d, srv, cli, side, stem, say)

        log("good certificates again")
        srv.write_config(server_conf(srv, d, [TARGET]))
        cli.write_config(client_conf(cli, d, [dict(name="db", bind=LISTEN, via="tunnel",
                                                   target=TARGET)]))
        srv.start()
        cli.start()
        wait_for(lambda: tunnel_state(cli)["state"] == "up", 10, "tunnel up")
        crc, cc, src, sc = transfer(t, LISTEN, TARGET, client=["--send", 1 << 20, "--seed", 5],
                                    server=["--send", 1 << 20, "--seed", 6], timeout=30)
        check(crc == 0 and src == 0, "peers exited %s/%s" % (crc, src))
        assert_exact(cc, sc, "good certificates")
        cli.finish()
        srv.finish()


run(main)
