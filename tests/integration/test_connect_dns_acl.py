#!/usr/bin/python3
"""Names through a test resolver (a UDP responder in the backend namespace,
global.dns.servers): a permitted name that resolves to a denied address, to a
default-denied one, or to a mix of allowed and denied addresses is refused
with 403, by CONNECT and by the forward proxy, and the denied listener never
accepts a connection; permitted names (A and AAAA) are reached."""
import json
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kfwdtest import Topology, check, log, run  # noqa: E402
from origin_util import Origin, TinyDns  # noqa: E402


def ask(t, data):
    s = t.client.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(15)
    s.connect(("10.77.1.1", 3128))
    s.sendall(data)
    resp = b""
    while b"\r\n\r\n" not in resp:
        b = s.recv(65536)
        if not b:
            break
        resp += b
    head, _, body = resp.partition(b"\r\n\r\n")
    status = int(head.split()[1]) if head.startswith(b"HTTP/1.1 ") else 0
    if status != 200 or data.startswith(b"GET"):
        s.settimeout(5)
        while True:  # the rest of the body (refusals close; the GETs below close too)
            b = s.recv(65536)
            if not b:
                break
            body += b
    s.close()
    return status, body.decode("latin1")


def main():
    with Topology() as t:
        dns = TinyDns(t.backend, "10.77.2.2", 5353,
                      v4={"origin.test": ["10.77.2.2"], "trap.test": ["10.77.2.2"],
                          "lo.test": ["127.0.0.1"], "meta.test": ["169.254.169.254"],
                          "mixed.test": ["10.77.2.2", "169.254.169.254"]},
                      v6={"six.test": ["fd77:2::2"]})
        origin = Origin(t.backend, "10.77.2.2", 8080)
        origin6 = Origin(t.backend, "fd77:2::2", 8082, family=socket.AF_INET6)
        trap = t.backend.socket(socket.AF_INET, socket.SOCK_STREAM)
        trap.bind(("10.77.2.2", 9001))
        trap.listen(64)
        trap.setblocking(False)
        k = t.kfwd([dict(name="px", bind="10.77.1.1:3128", mode="connect",
                         allow=["*.test"], deny=["10.77.2.2:9001"])],
                   glob=dict(dns=dict(servers="10.77.2.2:5353", timeout_ms=500, tries=2))).start()
        refused = (
            (b"CONNECT trap.test:9001 HTTP/1.1\r\nHost: trap.test:9001\r\n\r\n", "deny list"),
            (b"GET http://trap.test:9001/ HTTP/1.1\r\nHost: trap.test:9001\r\n\r\n", "deny list"),
            (b"CONNECT lo.test:9001 HTTP/1.1\r\nHost: lo.test\r\n\r\n", "default deny"),
            (b"GET http://meta.test/latest HTTP/1.1\r\nHost: meta.test\r\n\r\n", "default deny"),
            (b"CONNECT mixed.test:8080 HTTP/1.1\r\nHost: mixed.test\r\n\r\n", "169.254.169.254"),
            (b"GET http://mixed.test:8080/echo HTTP/1.1\r\nHost: mixed.test\r\n\r\n", "169.254.169.254"),
            (b"CONNECT 10.77.2.2:8080 HTTP/1.1\r\nHost: x\r\n\r\n", "allow list"),
        )
        for req, why in refused:
            st, body = ask(t, req)
            check(st == 403 and why in body, "%r: %d %r" % (req[:40], st, body))
        try:
            trap.accept()
            check(False, "the denied address was connected to")
        except BlockingIOError:
            pass
        log("names resolving to denied, default-denied and mixed addresses: 403, "
            "denied listener saw no connection")
        st, body = ask(t, b"GET http://origin.test:8080/echo HTTP/1.1\r\nHost: origin.test\r\n"
                          b"Connection: close\r\n\r\n")
        j = json.loads(body)
        hosts = [v for n, v in j["headers"] if n.lower() == "host"]
        check(st == 200 and hosts == ["origin.test:8080"], "forward by name: %d %s" % (st, j))
        st, body = ask(t, b"GET http://six.test:8082/echo HTTP/1.1\r\nHost: six.test\r\n"
                          b"Connection: close\r\n\r\n")
        check(st == 200 and json.loads(body)["peer"].startswith("fd77:2::1:"), "AAAA name: %d %s" % (st, body))
        st, _ = ask(t, b"CONNECT origin.test:8080 HTTP/1.1\r\nHost: origin.test\r\n\r\n")
        check(st == 200, "CONNECT by name: %d" % st)
        asked = {n for n, _q in dns.asked}
        check({"trap.test", "origin.test", "six.test"} <= asked, "resolver asked %s" % asked)
        log("permitted names reached through the test resolver (A and AAAA)")
        e = k.wait_stat("px", lambda l: l["active"] == 0, 10, "px idle")["errors"]
        check(e["http_403"] == len(refused), "http_403 %d, want %d" % (e["http_403"], len(refused)))
        k.finish()
        dns.stop()
        origin.stop()
        origin6.stop()


run(main)
