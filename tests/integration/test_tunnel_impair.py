#!/usr/bin/python3
"""QUIC tunnel over a bad link: build/tools/udp-impair between the tunnel
client and server adds 50 ms delay and 3 % loss in each direction (100 ms
RTT, ~6 % of round trips lose a packet). A forward stream of SIZE bytes each
way, both at once, with half-close, arrives byte-exact; then several CONNECT
streams at once, byte-exact. The relay's counters prove the loss happened."""
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kfwdtest import (GW_B_V4, ROOT, Kfwd, Topology, assert_exact, check, log, run,  # noqa: E402
                      transfer, wait_for)
from tunnel_util import UDP_PORT, certs, client_conf, server_conf, tunnel_state  # noqa: E402

IMPAIR = os.path.join(ROOT, "build/tools/udp-impair")
RELAY_HOST, RELAY_PORT = "10.77.1.1", 24444
# 16 MiB each way took 36 s to over 150 s here: under 3 % random loss the
# congestion window keeps falling to about 4 packets (BBR included), so the
# rate swings between 0.1 and 0.5 MiB/s per direction. 4 MiB keeps the test
# within about two minutes.
SIZE = 4 << 20
NCONNECT = 4
CONNECT_SIZE = 1 << 20
PROXY = "10.77.1.1:3129"


def connect_streams(t):
    """NCONNECT CONNECT streams at once through the tunnel, each CONNECT_SIZE
    bytes both ways; byte-exact by SHA-256."""
    backend = t.backend.peer("server", "--listen", "10.77.2.2:9001", "--conns", NCONNECT,
                             "--send", CONNECT_SIZE, "--seed", 300,
                             "--timeout", 90000).wait_listening()
    clients = [t.client.connect_client(PROXY, "10.77.2.2:9001", "--send", CONNECT_SIZE, "--seed",
                                       400 + i, "--timeout", 90, name="connect-%d" % i)
               for i in range(NCONNECT)]
    outs = []
    for c in clients:
        out = c.one_json(120)
        check(out["status"] == 200, "connect client: %s" % out)
        outs.append(out)
    brc, bs = backend.result(30)
    check(brc == 0 and len(bs) == NCONNECT, "backend: rc %s %s" % (brc, bs))
    up_sent = sorted((o["tx_bytes"], o["tx_sha256"]) for o in outs)
    up_recv = sorted((b["rx_bytes"], b["rx_sha256"]) for b in bs)
    down_sent = sorted((b["tx_bytes"], b["tx_sha256"]) for b in bs)
    down_recv = sorted((o["rx_bytes"], o["rx_sha256"]) for o in outs)
    check(up_sent == up_recv, "connect streams up differ: %s vs %s" % (up_sent, up_recv))
    check(down_sent == down_recv, "connect streams down differ: %s vs %s" % (down_sent,
                                                                          down_recv))


def main():
    with Topology() as t:
        d = t.tmpdir
        certs(d)
        relay = t.gw.popen([IMPAIR, "--listen", "%s:%d" % (RELAY_HOST, RELAY_PORT), "--upstream",
                            "%s:%d" % (GW_B_V4, UDP_PORT), "--delay", "50", "--loss", "3",
                            "--seed", "5"], name="udp-impair")
        relay.wait_line(lambda l: l.startswith('{"listening"'), 10, "relay listening")
        # BBR: a loss-based controller at 3 % loss and 100 ms RTT manages
        # well under 1 Mbit/s (Mathis), too slow for a test of this size.
        tr = 'cc = "bbr";'
        srv = Kfwd(t, [], name="srv")
        srv.write_config(server_conf(srv, d, ["10.77.2.2:9000", "10.77.2.2:9001"], transport=tr))
        cli = Kfwd(t, [], name="cli")
        cli.write_config(client_conf(cli, d, [
            dict(name="db", bind="10.77.1.1:8080", via="tunnel", target="10.77.2.2:9000"),
            dict(name="prox", bind=PROXY, mode="connect", via="tunnel")],
            peer=RELAY_HOST, port=RELAY_PORT, transport=tr))
        srv.start()
        cli.start()
        wait_for(lambda: (tunnel_state(cli) or {}).get("state") == "up", 20, "tunnel up")

        log("forward: %d MiB each way through 50 ms / 3 %% each way" % (SIZE >> 20))
        crc, cc, src, sc = transfer(t, "10.77.1.1:8080", "10.77.2.2:9000",
                                    client=["--send", SIZE, "--seed", 1],
                                    server=["--send", SIZE, "--seed", 101], timeout=150)
        check(crc == 0 and src == 0, "peers exited %s/%s" % (crc, src))
        assert_exact(cc, sc, "forward over the lossy link")
        check(cc[0]["tx_bytes"] == SIZE and cc[0]["rx_bytes"] == SIZE, "sizes %s" % cc[0])
        tv = tunnel_state(cli)
        log("after forward: rtt %.1f ms (min %.1f), cwnd %d, %d udp bytes sent" % (
            tv["rtt_smoothed_us"] / 1e3, tv["rtt_min_us"] / 1e3, tv["cwnd"], tv["bytes_tx"]))
        # The relay adds 100 ms per round trip; ngtcp2 has reported a minimum
        # of 95 ms (timestamps taken per batch), so only check it is there.
        check(tv["rtt_min_us"] >= 50000, "the relay's delay is on the path: %s" % tv)

        log("%d CONNECT streams of %d MiB each way at once" % (NCONNECT, CONNECT_SIZE >> 20))
        connect_streams(t)
        check(tunnel_state(cli)["reconnects"] == 0, "one connection throughout: %s" %
              tunnel_state(cli))

        relay.send_signal(signal.SIGTERM)
        check(relay.wait(10) == 0, "relay exit: %s" % relay.stderr_tail())
        st = [j for j in relay.json_lines() if "up" in j][-1]
        log("relay: up %s" % st["up"])
        log("relay: down %s" % st["down"])
        for dname in ("up", "down"):
            check(st[dname]["dropped_loss"] > 0, "the relay dropped %s datagrams: %s" % (
                dname, st[dname]))
        cli.finish()
        srv.finish()


run(main)
