#!/usr/bin/python3
"""QUIC tunnel packet size: PMTU discovery climbs to transport.max_udp_payload
and no further than the path carries. The two tunnel peers talk over lo of
the test's gw namespace, whose MTU the test sets per case:
  - default max_udp_payload (1452) on lo's 65536: packets stay at 1452;
  - max 8952 over MTU 1500: the 8952 probe cannot leave (DF), 1452 it is;
  - max 8952 over MTU 9000: 8952 (a jumbo-frame link);
  - max 16336 over MTU 65536: 16336.
Each case moves 4 MiB each way through a forward stream, byte-exact, and both
peers' `kfwd stats` report the size."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kfwdtest import Kfwd, Topology, assert_exact, check, log, run, transfer, wait_for  # noqa
from tunnel_util import certs, client_conf, server_conf, tunnel_state  # noqa: E402

SIZE = 4 << 20
CASES = [  # lo MTU, max_udp_payload (None: default), the size both peers end at
    (65536, None, 1452),
    (1500, 8952, 1452),
    (9000, 8952, 8952),
    (65536, 16336, 16336),
]


def one(t, d, i, mtu, maxp, expect):
    log("lo mtu %d, max_udp_payload %s: expecting %d" % (mtu, maxp or "default", expect))
    t.gw.run(["ip", "link", "set", "lo", "mtu", str(mtu)])
    tr = "max_udp_payload = %d;" % maxp if maxp else ""
    srv = Kfwd(t, [], name="srv%d" % i)
    srv.write_config(server_conf(srv, d, ["10.77.2.2:9000"], transport=tr))
    cli = Kfwd(t, [], name="cli%d" % i)
    cli.write_config(client_conf(cli, d, [dict(name="db", bind="10.77.1.1:8080",
                                               via="tunnel", target="10.77.2.2:9000")],
                                 transport=tr))
    srv.start()
    cli.start()
    wait_for(lambda: (tunnel_state(cli) or {}).get("state") == "up", 10, "tunnel up")
    crc, cc, src, sc = transfer(t, "10.77.1.1:8080", "10.77.2.2:9000",
                                client=["--send", SIZE, "--seed", 2 * i + 1],
                                server=["--send", SIZE, "--seed", 2 * i + 2], timeout=60)
    check(crc == 0 and src == 0, "peers exited %s/%s" % (crc, src))
    assert_exact(cc, sc, "forward stream, lo mtu %d" % mtu)
    # Discovery runs during the transfer; a probe lost three times ends the climb
    # (each loss is noticed within a few PTOs, milliseconds on lo).
    for k in (cli, srv):
        got = wait_for(lambda: (lambda v: v if v and v.get("udp_payload") == expect else None)(
            tunnel_state(k)), 5, "%s's udp_payload to be %d" % (k.name, expect))
        log("%s: udp_payload %d, udp bytes sent %d" % (k.name, got["udp_payload"],
                                                       got["bytes_tx"]))
    # and it stays there: nothing above the path's size is ever acknowledged
    check(tunnel_state(cli)["udp_payload"] == expect, "client's size moved")
    cli.finish()
    srv.finish()


def main():
    with Topology() as t:
        d = t.tmpdir
        certs(d)
        for i, (mtu, maxp, expect) in enumerate(CASES):
            one(t, d, i, mtu, maxp, expect)


run(main)
