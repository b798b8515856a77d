#!/usr/bin/python3
"""Flow control end to end through the QUIC tunnel: a TCP reader that stops for
10 s on either side stalls the writer on the other side (QUIC credit is given
back only once bytes reach the TCP socket), both kfwd stay within a bounded
memory growth meanwhile, and once reading resumes every byte arrives. Two
forward streams at once: client -> backend with a stalled backend, backend ->
client with a stalled client."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kfwdtest import Kfwd, Topology, assert_exact, check, log, run, tx_at, wait_for  # noqa: E402
from tunnel_util import certs, client_conf, server_conf, tunnel_state  # noqa: E402

SIZE = 256 << 20
PAUSE_MS = 10000
# What one stalled stream may hold, at most: the stream window the receiver
# granted (max_stream_window, 32 MiB by default, not reached here) plus the
# send ring (256 KiB, grown up to transport.stream_buffer, 4 MiB, while the
# stream ran at full speed before the stall) and allocator slack. Unbounded
# buffering would take the whole 256 MiB.
RSS_SLACK_KIB = 48 * 1024


def main():
    with Topology() as t:
        d = t.tmpdir
        certs(d)
        srv = Kfwd(t, [], name="srv")
        srv.write_config(server_conf(srv, d, ["10.77.2.2:9000", "10.77.2.2:9001"]))
        cli = Kfwd(t, [], name="cli")
        cli.write_config(client_conf(cli, d, [
            dict(name="up", bind="10.77.1.1:8080", via="tunnel", target="10.77.2.2:9000"),
            dict(name="down", bind="10.77.1.1:8081", via="tunnel", target="10.77.2.2:9001")]))
        srv.start()
        cli.start()
        wait_for(lambda: (tunnel_state(cli) or {}).get("state") == "up", 15, "tunnel up")
        rss0 = {k.name: k.rss_kib() for k in (cli, srv)}
        common = ["--conns", 1, "--progress", 200, "--timeout", 120000]
        s_up = t.backend.peer("server", "--listen", "10.77.2.2:9000", "--pause-read", PAUSE_MS,
                              *common).wait_listening()
        s_down = t.backend.peer("server", "--listen", "10.77.2.2:9001", "--send", SIZE,
                                "--seed", 19, *common).wait_listening()
        c_up = t.client.peer("client", "--connect", "10.77.1.1:8080", "--send", SIZE,
                             "--seed", 18, *common)
        c_down = t.client.peer("client", "--connect", "10.77.1.1:8081", "--no-shutdown",
                               "--pause-read", PAUSE_MS, *common)
        t0 = time.monotonic()
        rss_max = dict(rss0)
        samples = 0
        while time.monotonic() - t0 < PAUSE_MS / 1000.0 - 0.5 and samples < 1000:
            for k in (cli, srv):
                rss_max[k.name] = max(rss_max[k.name], k.rss_kib())
            samples += 1
            time.sleep(0.1)
        for k in (cli, srv):
            grew = rss_max[k.name] - rss0[k.name]
            log("%s: RSS %d KiB before, %d KiB at most during the stall (%d samples)" % (
                k.name, rss0[k.name], rss_max[k.name], samples))
            check(grew < RSS_SLACK_KIB, "%s RSS grew by %d KiB during the stall" % (k.name, grew))

        rc_cu, cu = c_up.result(180)
        rc_su, su = s_up.result(60)
        rc_cd, cd = c_down.result(180)
        rc_sd, sd = s_down.result(60)
        check(rc_cu == rc_su == rc_cd == rc_sd == 0, "peers exited %s" % ([rc_cu, rc_su, rc_cd, rc_sd],))
        assert_exact(cu, su, "client->backend with a stalled backend")
        assert_exact(cd, sd, "backend->client with a stalled client")
        for name, writer in (("client (up)", c_up), ("backend (down)", s_down)):
            prog = writer.progress()
            a, b = tx_at(prog, 4000), tx_at(prog, PAUSE_MS - 1000)
            log("%s writer: %.1f MiB accepted at 4 s, %.1f MiB at %.0f s, all %d MiB at the end" % (
                name, a / 2**20, b / 2**20, (PAUSE_MS - 1000) / 1000, SIZE >> 20))
            check(0 < a < SIZE // 4, "%s: %d bytes accepted at 4 s: not throttled?" % (name, a))
            check(b - a < 1 << 20, "%s: writer still growing during the stall: %d -> %d" % (
                name, a, b))
        cli.finish()
        srv.finish()


run(main)
