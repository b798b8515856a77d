#!/usr/bin/python3
"""CONNECT through a proxy, then stream: run inside the client namespace.

  connect_client.py PROXY_IP:PORT TARGET [--send N] [--seed S] [--early]
                    [--auth USER:PASS] [--timeout S]

Sends "CONNECT TARGET", then N pseudo-random bytes (random.Random(S)) and
shuts down its write side; reads the response head and everything after it
until EOF. --early writes the whole stream right behind the request head
before reading the response (pipelining). One JSON line on stdout: status,
tx/rx byte counts and SHA-256 of both streams.
"""
import base64
import hashlib
import json
import random
import socket
import sys
import threading


def main():
    a = sys.argv[1:]
    proxy, target = a[0], a[1]
    opt = dict(send=0, seed=1, early=False, auth=None, timeout=120)
    i = 2
    while i < len(a):
        k = a[i][2:]
        if k == "early":
            opt["early"] = True
            i += 1
            continue
        opt[k] = a[i + 1]
        i += 2
    n, seed = int(opt["send"]), int(opt["seed"])
    data = random.Random(seed).randbytes(n) if n else b""
    host, port = proxy.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=float(opt["timeout"]))
    head = "CONNECT %s HTTP/1.1\r\nHost: %s\r\n" % (target, target)
    if opt["auth"]:
        head += "Proxy-Authorization: Basic %s\r\n" % base64.b64encode(opt["auth"].encode()).decode()
    head = (head + "\r\n").encode()
    out = {"tx_bytes": n, "tx_sha256": hashlib.sha256(data).hexdigest()}

    def sender():
        if n:
            s.sendall(data)
        s.shutdown(socket.SHUT_WR)

    if opt["early"]:
        s.sendall(head + data[:1 << 20])
        data_rest = data[1 << 20:]
    else:
        s.sendall(head)
    resp = b""
    while b"\r\n\r\n" not in resp:
        b = s.recv(65536)
        if not b:
            break
        resp += b
    hend = resp.find(b"\r\n\r\n")
    status = int(resp.split(b" ", 2)[1]) if resp.startswith(b"HTTP/1.") else 0
    out["status"] = status
    out["head"] = resp[:hend].decode("latin1") if hend >= 0 else resp.decode("latin1")
    rest = resp[hend + 4:] if hend >= 0 else b""
    h = hashlib.sha256(rest)
    got = len(rest)
    if status == 200:
        if opt["early"]:
            data = data_rest
        t = threading.Thread(target=sender)
        t.start()
        while True:
            b = s.recv(1 << 20)
            if not b:
                break
            h.update(b)
            got += len(b)
        t.join()
    else:
        out["body"] = rest.decode("latin1")
    out["rx_bytes"] = got
    out["rx_sha256"] = h.hexdigest()
    print(json.dumps(out), flush=True)


main()
