#!/usr/bin/python3
"""systemd readiness of a tunnel client: READY=1 comes once the first
connection attempt has ended, whichever way: (a) with no server, after a
STATUS saying the tunnel is down and why; (b) with the server up, after a
STATUS saying it is up (and while it stays up)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sdnotify_util import Notify  # noqa: E402
from kfwdtest import Kfwd, Topology, check, log, run, wait_for  # noqa: E402
from tunnel_util import certs, client_conf, server_conf, tunnel_state  # noqa: E402


def start_notified(k, n):
    os.environ["NOTIFY_SOCKET"] = n.path
    try:
        k.start()
    finally:
        del os.environ["NOTIFY_SOCKET"]


def ready_after(n, pred, what):
    """Wait for READY=1; return the messages before it, one of which must match pred."""
    wait_for(lambda: "READY=1" in n.drain(), 15, "READY=1 (%s)" % what)
    msgs = n.drain()
    before = msgs[:msgs.index("READY=1")]
    check(any(pred(m) for m in before), "%s: no matching STATUS before READY=1: %s" % (
        what, msgs))
    return before


def main():
    with Topology() as t:
        d = t.tmpdir
        certs(d)
        cli = Kfwd(t, [], name="cli")
        cli.write_config(client_conf(cli, d, [dict(name="db", bind="10.77.1.1:8080",
                                                    via="tunnel", target="10.77.2.2:9000")],
                                     transport="handshake_timeout_ms = 1000;"))
        log("(a) no server: READY=1 after the first attempt fails")
        n = Notify(t, "notify-a.sock")
        start_notified(cli, n)
        before = ready_after(n, lambda m: m.startswith("STATUS=tunnel down: "), "no server")
        log("before READY: %s" % [m for m in before if m.startswith("STATUS=tunnel")][-1])
        cli.finish()

        log("(b) server up: READY=1 once the tunnel is up")
        srv = Kfwd(t, [], name="srv")
        srv.write_config(server_conf(srv, d, ["10.77.2.2:9000"]))
        srv.start()
        n = Notify(t, "notify-b.sock")
        start_notified(cli, n)
        ready_after(n, lambda m: m == "STATUS=tunnel up", "server up")
        check(tunnel_state(cli)["state"] == "up" and tunnel_state(cli)["connects"] == 1,
              "still up on the first connection: %s" % tunnel_state(cli))
        cli.finish()
        srv.finish()


run(main)
