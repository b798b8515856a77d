#!/usr/bin/python3
"""500 CONNECT tunnels open at the same time (all answered 200 before any data
moves, kfwd counting 500 active), then each echoes its own 64 KiB stream
byte-exact; and CONNECT [IPv6]:port end to end over the namespaces' IPv6
addresses, 8 MiB each way exact."""
import asyncio
import hashlib
import os
import random
import resource
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kfwdtest import Topology, check, log, run  # noqa: E402

N = 500
SIZE = 64 << 10
TIMEOUT = 120  # seconds for each phase: the whole test is bounded


async def echo(reader, writer):
    try:
        while True:
            b = await reader.read(1 << 16)
            if not b:
                break
            writer.write(b)
            await writer.drain()
        writer.close()
    except ConnectionError:
        writer.close()


async def open_tunnel(t, proxy, family, target):
    s = t.client.socket(family, socket.SOCK_STREAM)
    s.setblocking(False)
    await asyncio.get_running_loop().sock_connect(s, proxy)
    r, w = await asyncio.open_connection(sock=s)
    w.write(("CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (target, target)).encode())
    head = await r.readuntil(b"\r\n\r\n")
    check(head.startswith(b"HTTP/1.1 200"), "CONNECT answer %r" % head)
    return r, w


async def exchange(r, w, data):
    async def send():
        for i in range(0, len(data), 1 << 16):
            w.write(data[i:i + (1 << 16)])
            await w.drain()
        w.write_eof()
    sender = asyncio.ensure_future(send())
    h = hashlib.sha256()
    n = 0
    while True:
        b = await r.read(1 << 16)
        if not b:
            break
        h.update(b)
        n += len(b)
    await sender
    w.close()
    return n, h.hexdigest()


async def many(t, k):
    srv_sock = t.backend.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv_sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv_sock.bind(("10.77.2.2", 9000))
    # start_server listens again with its own backlog (100 by default): 500
    # connections at once would overflow it.
    server = await asyncio.start_server(echo, sock=srv_sock, backlog=1024)
    tunnels = await asyncio.wait_for(asyncio.gather(
        *[open_tunnel(t, ("10.77.1.1", 3128), socket.AF_INET, "10.77.2.2:9000") for _ in range(N)]),
        TIMEOUT)
    l = await asyncio.get_running_loop().run_in_executor(None, k.listener, "px")
    check(l["active"] == N, "kfwd counts %d active tunnels, want %d" % (l["active"], N))
    log("%d tunnels established at once" % N)
    streams = [random.Random(1000 + i).randbytes(SIZE) for i in range(N)]
    res = await asyncio.wait_for(asyncio.gather(
        *[exchange(r, w, d) for (r, w), d in zip(tunnels, streams)]), TIMEOUT)
    bad = [i for i, ((n, h), d) in enumerate(zip(res, streams))
           if n != SIZE or h != hashlib.sha256(d).hexdigest()]
    check(not bad, "%d tunnels differ, first %s" % (len(bad), bad[:5]))
    log("%d tunnels: 64 KiB each echoed byte-exact" % N)
    server.close()
    await server.wait_closed()


async def ipv6(t):
    srv_sock = t.backend.socket(socket.AF_INET6, socket.SOCK_STREAM)
    srv_sock.bind(("fd77:2::2", 9006))
    srv_sock.listen(16)
    server = await asyncio.start_server(echo, sock=srv_sock)
    r, w = await asyncio.wait_for(
        open_tunnel(t, ("fd77:1::1", 3128), socket.AF_INET6, "[fd77:2::2]:9006"), TIMEOUT)
    data = random.Random(66).randbytes(8 << 20)
    n, h = await asyncio.wait_for(exchange(r, w, data), TIMEOUT)
    check(n == len(data) and h == hashlib.sha256(data).hexdigest(), "IPv6 tunnel differs")
    log("CONNECT [fd77:2::2]:9006 from an IPv6 client: 8 MiB echoed exact")
    server.close()
    await server.wait_closed()


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 16384)
    check(want >= 4 * N, "RLIMIT_NOFILE hard limit %d too low for %d tunnels" % (hard, N))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    with Topology() as t:
        k = t.kfwd([dict(name="px", bind="10.77.1.1:3128", mode="connect", max_flows=N + 10),
                    dict(name="px6", bind="[fd77:1::1]:3128", mode="connect")]).start()
        asyncio.run(many(t, k))
        asyncio.run(ipv6(t))
        l = k.wait_stat("px", lambda l: l["active"] == 0, 30, "px idle")
        check(l["total"] == N and l["bytes_in"] == N * SIZE and l["bytes_out"] == N * SIZE
              and not any(l["errors"].values()), "px %s" % l)
        l6 = k.wait_stat("px6", lambda l: l["active"] == 0, 10, "px6 idle")
        check(l6["total"] == 1 and l6["bytes_in"] == 8 << 20 and not any(l6["errors"].values()),
              "px6 %s" % l6)
        k.finish()


run(main)
