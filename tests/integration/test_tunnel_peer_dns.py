#!/usr/bin/python3
"""QUIC tunnel client with its peer given as a name: resolved without blocking
(c-ares, on the servers of global.dns: here a tiny DNS responder this test
runs in gw; the system resolver does not know the name) and resolved again at
every connection attempt.

(a) the name resolves to the server: the tunnel comes up;
(b) the server is gone and the name server holds its answers: while the
    tunnel thread waits for DNS, a CONNECT still gets its 503 at once (well
    before the DNS timeout);
(c) the name now points to an address where no server answers, then back to
    the server: the client follows each new answer without a restart;
(d) a numeric peer sends no DNS query at all."""
import os
import socket
import struct
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kfwdtest import GW_B_V4, GW_C_V4, Kfwd, Topology, check, log, run, wait_for  # noqa: E402
from tunnel_util import UDP_PORT, certs, client_conf, server_conf, tunnel_state  # noqa: E402

NAME = "gw-b.test"
DNS = ("127.0.0.1", 5300)
PROXY = "10.77.1.1:3129"
DNS_TIMEOUT_MS = 8000


class Responder:
    """A UDP DNS server in gw answering A queries for NAME with self.addr (TTL
    0), AAAA with no records, anything else with NXDOMAIN; hold=True: it
    answers nothing (a name server that does not reply)."""

    def __init__(self, t):
        self.sock = t.gw.socket(socket.AF_INET)
        self.sock.bind(DNS)
        self.sock.settimeout(0.2)
        self.addr = GW_B_V4
        self.hold = False
        self.queries = []  # (qname, qtype, answered)
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.th = threading.Thread(target=self._loop, daemon=True)
        self.th.start()

    def count(self, qtype=1):
        with self.lock:
            return sum(1 for q in self.queries if q[1] == qtype)

    def held(self):
        with self.lock:
            return sum(1 for q in self.queries if not q[2])

    def _loop(self):
        while not self.stopping.is_set():
            try:
                pkt, src = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            r = self._answer(pkt)
            if r:
                self.sock.sendto(r, src)

    def _answer(self, pkt):
        if len(pkt) < 12:
            return None
        qid, flags, qd = struct.unpack("!HHH", pkt[:6])
        i, labels = 12, []
        while i < len(pkt) and pkt[i] and len(labels) < 64:
            labels.append(pkt[i + 1:i + 1 + pkt[i]].decode(errors="replace"))
            i += 1 + pkt[i]
        if qd != 1 or i + 5 > len(pkt):
            return None
        qtype, _ = struct.unpack("!HH", pkt[i + 1:i + 5])
        question = pkt[12:i + 5]
        qname = ".".join(labels).lower()
        with self.lock:
            self.queries.append((qname, qtype, not self.hold))
            if self.hold:
                return None
            addr = self.addr
        rd = flags & 0x0100
        if qname != NAME:
            return struct.pack("!HHHHHH", qid, 0x8083 | rd, 1, 0, 0, 0) + question
        if qtype != 1:
            return struct.pack("!HHHHHH", qid, 0x8080 | rd, 1, 0, 0, 0) + question
        rr = struct.pack("!HHHIH", 0xC00C, 1, 1, 0, 4) + socket.inet_aton(addr)
        return struct.pack("!HHHHHH", qid, 0x8080 | rd, 1, 1, 0, 0) + question + rr

    def stop(self):
        self.stopping.set()
        self.th.join(5)


def cli_conf(cli, d, peer):
    return client_conf(
        cli, d, [dict(name="prox", bind=PROXY, mode="connect", via="tunnel")], peer=peer,
        port=UDP_PORT,
        transport="handshake_timeout_ms = 1000;",
        glob='dns = { servers = "%s:%d"; min_ttl_s = 0; neg_ttl_s = 0; timeout_ms = %d; '
             'tries = 1; };' % (DNS[0], DNS[1], DNS_TIMEOUT_MS))


def main():
    with Topology() as t:
        d = t.tmpdir
        certs(d)
        dns = Responder(t)
        srv = Kfwd(t, [], name="srv")
        srv.write_config(server_conf(srv, d, ["10.77.2.2:9000"]))
        cli = Kfwd(t, [], name="cli")
        cli.write_config(cli_conf(cli, d, NAME))
        srv.start()
        cli.start()

        log("(a) %s resolved through the test's name server" % NAME)
        wait_for(lambda: (tunnel_state(cli) or {}).get("state") == "up", 10, "tunnel up")
        check(dns.count() >= 1, "the client asked the configured name server: %s" % dns.queries)

        log("(b) server gone, name server silent: 503 at once while DNS waits")
        dns.hold = True
        srv.stop()
        wait_for(lambda: tunnel_state(cli)["state"] != "up", 15, "client sees the tunnel down")
        wait_for(lambda: dns.held() >= 1, 10, "a reconnect attempt waiting for DNS")
        out = t.client.connect_client(PROXY, "10.77.2.2:9000", "--timeout",
                                      DNS_TIMEOUT_MS / 4000.0).one_json(DNS_TIMEOUT_MS / 1000.0)
        check(out["status"] == 503, "CONNECT during the DNS wait: %s" % out)
        s = tunnel_state(cli)
        check(s["state"] != "up", "still down: %s" % s)
        wait_for(lambda: "cannot resolve %s" % NAME in tunnel_state(cli)["last_error"],
                 DNS_TIMEOUT_MS / 1000.0 + 5, "the DNS timeout reported")
        log("client: %s" % tunnel_state(cli)["last_error"])

        log("(c) the name moves to %s (no server), then back to %s" % (GW_C_V4, GW_B_V4))
        srv.start()
        dns.addr = GW_C_V4
        dns.hold = False
        n0 = dns.count()
        # An attempt may still wait for its held query: up to DNS_TIMEOUT_MS more.
        wait_for(lambda: dns.count() >= n0 + 2, DNS_TIMEOUT_MS / 1000.0 + 15,
                 "attempts resolving the name again")
        check(tunnel_state(cli)["state"] != "up", "not up while the name points elsewhere: %s" %
              tunnel_state(cli))
        wait_for(lambda: "connection with %s:%d failed" % (GW_C_V4, UDP_PORT) in cli.log_text(),
                 15, "an attempt to the new address")
        dns.addr = GW_B_V4
        s = wait_for(lambda: (lambda v: v if v["state"] == "up" else None)(tunnel_state(cli)), 15,
                     "client up again after the name came back")
        check(s["reconnects"] >= 3, "counters %s" % s)
        out = t.client.connect_client(PROXY, "10.77.2.2:9002", "--timeout", 10).one_json(15)
        check(out["status"] == 403, "a request reaches the server again "
              "(target not allowed there: 403 from the peer): %s" % out)
        cli.finish()

        log("(d) numeric peer: no DNS query")
        n0 = len(dns.queries)
        cli.write_config(cli_conf(cli, d, GW_B_V4))
        cli.start()
        wait_for(lambda: (tunnel_state(cli) or {}).get("state") == "up", 10, "tunnel up")
        check(len(dns.queries) == n0, "no query for a numeric peer: %s" % dns.queries[n0:])
        cli.finish()
        srv.finish()
        dns.stop()


run(main)
