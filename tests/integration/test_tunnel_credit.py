#!/usr/bin/python3
"""QUIC connection credit comes back for bytes that outlive their stream.

A forward stream whose TCP client has not read yet can finish on the QUIC
side (the peer's FIN arrived, ours went) while bytes still wait in kfwd for
the TCP socket. The connection-level credit they hold must be given back
too, or every such stream shrinks the connection window for good.

The client grants the peer 1 MiB on the connection, TCP buffers are fixed
small in every namespace (about 200 KiB per socket pair), and the server's
send ring per stream stays at 256 KiB (stream_buffer at its minimum: a ring
that grows would make each probe depend on how far it grew), so what a
stalled reader lets through is the window plus those buffers:
  - probe: 8 MiB to a client that reads nothing for 3 s; the backend's
    writer gets as far as the buffers and the connection window allow;
  - two leaky streams: 768 KiB each to a client that reads nothing for 3 s,
    so the FIN arrives while about 550 KiB still wait in kfwd;
  - probe again: the writer must get as far as the first time (within
    256 KiB). Before the fix it lost the ~550 KiB of each leaky stream.
Every stream byte-exact."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kfwdtest import Kfwd, Topology, assert_exact, check, log, run, tx_at, wait_for  # noqa: E402
from tunnel_util import certs, client_conf, server_conf, tunnel_state  # noqa: E402

WINDOW = 1 << 20
PROBE = 8 << 20
LEAKY = 768 << 10
PAUSE_MS = 3000
SLACK = 256 << 10
RING = 256 << 10  # transport.stream_buffer's minimum


def stream(t, size, seed):
    """One forward stream of size bytes backend -> client, the client reading
    nothing for PAUSE_MS. Return the backend's bytes written at PAUSE_MS - 500."""
    s = t.backend.peer("server", "--listen", "10.77.2.2:9000", "--conns", 1, "--send", size,
                       "--seed", seed, "--progress", 100, "--timeout", 60000).wait_listening()
    c = t.client.peer("client", "--connect", "10.77.1.1:8080", "--pause-read", PAUSE_MS,
                      "--timeout", 60000)
    rc_c, cc = c.result(90)
    rc_s, sc = s.result(30)
    check(rc_c == 0 and rc_s == 0, "seed %d: peers exited %s/%s" % (seed, rc_c, rc_s))
    assert_exact(cc, sc, "seed %d" % seed)
    check(cc[0]["rx_bytes"] == size, "seed %d: %s" % (seed, cc[0]))
    return tx_at(s.progress(), PAUSE_MS - 500)


def main():
    with Topology() as t:
        for ns in (t.client, t.gw, t.backend):
            ns.run(["sysctl", "-q", "-w", "net.ipv4.tcp_rmem=4096 131072 131072"])
            ns.run(["sysctl", "-q", "-w", "net.ipv4.tcp_wmem=4096 65536 65536"])
        d = t.tmpdir
        certs(d)
        srv = Kfwd(t, [], name="srv")
        srv.write_config(server_conf(srv, d, ["10.77.2.2:9000"],
                                     transport="stream_buffer = %d;" % RING))
        cli = Kfwd(t, [], name="cli")
        window = ("initial_max_data = %d; max_window = %d; initial_max_stream_data = %d; "
                  "max_stream_window = %d;" % (WINDOW, WINDOW, WINDOW, WINDOW))
        cli.write_config(client_conf(cli, d, [dict(name="db", bind="10.77.1.1:8080", via="tunnel",
                                                   target="10.77.2.2:9000")], transport=window))
        srv.start()
        cli.start()
        wait_for(lambda: (tunnel_state(cli) or {}).get("state") == "up", 15, "tunnel up")
        before = stream(t, PROBE, 60)
        log("probe: the backend wrote %d KiB while the client did not read" % (before >> 10))
        for seed in (61, 62):
            stream(t, LEAKY, seed)
        after = stream(t, PROBE, 63)
        log("probe after two streams that closed with bytes queued: %d KiB" % (after >> 10))
        check(before > WINDOW // 2, "the probe got only %d bytes through: no window to measure" % before)
        check(after >= before - SLACK,
              "the connection window shrank: %d bytes got through, %d before" % (after, before))
        cli.finish()
        srv.finish()


run(main)
