#!/usr/bin/python3
"""QUIC tunnel, two kfwd in gw: mutual-TLS handshake; a forward stream byte-exact
both ways with half-close; a forced key update mid-transfer stays byte-exact;
the server killed and restarted: the client reconnects by itself and a new
stream succeeds. The client's `kfwd stats` lists the via-tunnel listener with
path "tunnel", its connections and bytes, and a connection refused while the
tunnel is down as tunnel_down."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kfwdtest import KFWD, Kfwd, Topology, assert_exact, check, log, run, transfer, wait_for  # noqa
from tunnel_util import certs, client_conf, server_conf, tunnel_state  # noqa: E402

SIZE = 16 << 20
# Connect to the forward listener and report how the connection ended.
REFUSED = """
import socket
s = socket.create_connection(("10.77.1.1", 8080), timeout=5)
try:
    print("eof" if s.recv(1) == b"" else "data")
except ConnectionResetError:
    print("reset")
"""


def main():
    with Topology() as t:
        d = t.tmpdir
        certs(d)
        srv = Kfwd(t, [], name="srv")
        srv.write_config(server_conf(srv, d, ["10.77.2.2:9000"]))
        cli = Kfwd(t, [], name="cli")
        cli.write_config(client_conf(cli, d, [dict(name="db", bind="10.77.1.1:8080",
                                                   via="tunnel", target="10.77.2.2:9000")]))
        srv.start()
        cli.start()
        tv = wait_for(lambda: (tunnel_state(cli) or {}).get("state") == "up" and tunnel_state(cli),
                      10, "tunnel up")
        log("tunnel up: %s" % tv)
        check("peer gw-a.test verified" in srv.log_text(), "server log names the verified peer")

        crc, cc, src, sc = transfer(t, "10.77.1.1:8080", "10.77.2.2:9000",
                                    client=["--send", SIZE, "--seed", 1],
                                    server=["--send", SIZE, "--seed", 1001], timeout=60)
        check(crc == 0 and src == 0, "peers exited %s/%s" % (crc, src))
        assert_exact(cc, sc, "forward")
        check(cc[0]["tx_bytes"] == SIZE and cc[0]["rx_bytes"] == SIZE, "sizes %s" % cc[0])
        l = cli.wait_stat("db", lambda l: l["active"] == 0, 10, "the stream closed")
        check(l["path"] == "tunnel" and l["mode"] == "forward" and l["total"] == 1,
              "client stats list the listener: %s" % l)
        check(l["bytes_in"] == SIZE and l["bytes_out"] == SIZE and not any(l["errors"].values()),
              "its bytes each way and no errors: %s" % l)

        # Key update while bytes flow (rate-limited so it is mid-transfer).
        # --conns 1: a server peer otherwise keeps listening for more connections.
        srvp = t.backend.peer("server", "--listen", "10.77.2.2:9000", "--conns", 1,
                              "--send", 4 << 20, "--seed", 7,
                              "--rate", 4 << 20).wait_listening()
        clip = t.client.peer("client", "--connect", "10.77.1.1:8080", "--send", 4 << 20,
                             "--seed", 8, "--rate", 4 << 20)
        before = tunnel_state(cli)["key_updates"]
        wait_for(lambda: (tunnel_state(cli) or {}).get("stream_bytes_up", 0) >
                 tv["stream_bytes_up"] + (256 << 10), 20, "transfer under way")
        r = subprocess.run([KFWD, "tunnel", "key-update", "-s", cli.sock], capture_output=True,
                           text=True, timeout=10)
        check(r.returncode == 0 and "ok" in r.stdout, "key-update: %s %s" % (r.stdout, r.stderr))
        crc, cc = clip.result(60)
        src, sc = srvp.result(60)
        check(crc == 0 and src == 0, "peers exited %s/%s" % (crc, src))
        assert_exact(cc, sc, "key update")
        wait_for(lambda: tunnel_state(cli)["key_updates"] > before, 5, "key update counted")
        wait_for(lambda: tunnel_state(srv)["key_updates"] > 0, 5, "server counted it too")

        # Server gone: the client goes down, and comes back when it returns.
        srv.stop()
        wait_for(lambda: tunnel_state(cli)["state"] != "up", 15, "client sees the tunnel down")
        # A forward has no status line to say why: the connection is reset, and counted.
        r = t.client.run(["python3", "-c", REFUSED])
        check(r.stdout.strip() in ("reset", "eof"), "refused while down: %r" % r.stdout)
        l = cli.wait_stat("db", lambda l: l["errors"]["tunnel_down"] == 1, 5, "refusal counted")
        check(l["active"] == 0, "the refused connection is not left open: %s" % l)
        srv.start()
        tv = wait_for(lambda: tunnel_state(cli)["state"] == "up" and tunnel_state(cli), 15,
                      "client reconnected by itself")
        check(tv["reconnects"] >= 1 and tv["connects"] >= 2, "counters %s" % tv)
        crc, cc, src, sc = transfer(t, "10.77.1.1:8080", "10.77.2.2:9000",
                                    client=["--send", 1 << 20, "--seed", 3],
                                    server=["--send", 1 << 20, "--seed", 4], timeout=30)
        check(crc == 0 and src == 0, "after reconnect: peers exited %s/%s" % (crc, src))
        assert_exact(cc, sc, "after reconnect")
        cli.finish()
        srv.finish()


run(main)
