#!/usr/bin/python3
"""QUIC tunnel server bound to the IPv4 wildcard, reached at an address that is
not the one the kernel would pick as the source of its replies (127.0.0.5 on
lo: replies to 127.0.0.1 would leave from 127.0.0.1). The client's connected
socket drops datagrams from any other source, so the tunnel comes up only if
the server answers from the address each packet arrived at. A forward stream
then runs byte-exact both ways."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kfwdtest import Kfwd, Topology, assert_exact, check, log, run, transfer, wait_for  # noqa
from tunnel_util import certs, client_conf, server_conf, tunnel_state  # noqa: E402

SIZE = 4 << 20


def main():
    with Topology() as t:
        d = t.tmpdir
        certs(d)
        srv = Kfwd(t, [], name="srv")
        srv.write_config(server_conf(srv, d, ["10.77.2.2:9000"], bind="0.0.0.0"))
        cli = Kfwd(t, [], name="cli")
        cli.write_config(client_conf(cli, d, [dict(name="db", bind="10.77.1.1:8080",
                                                   via="tunnel", target="10.77.2.2:9000")],
                                     peer="127.0.0.5"))
        srv.start()
        cli.start()
        tv = wait_for(lambda: (tunnel_state(cli) or {}).get("state") == "up" and tunnel_state(cli),
                      10, "tunnel up through the wildcard-bound server")
        log("tunnel up: %s" % tv)
        crc, cc, src, sc = transfer(t, "10.77.1.1:8080", "10.77.2.2:9000",
                                    client=["--send", SIZE, "--seed", 21],
                                    server=["--send", SIZE, "--seed", 22], timeout=60)
        check(crc == 0 and src == 0, "peers exited %s/%s" % (crc, src))
        assert_exact(cc, sc, "forward via wildcard server")
        cli.finish()
        srv.finish()


run(main)
