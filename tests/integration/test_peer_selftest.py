#!/usr/bin/python3
"""The suite's own yardstick: kfwd-peer's stream and SHA-256 (SHA-NI and portable)
agree with Python's hashlib, so a hash match through kfwd means what it says."""
import hashlib
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kfwdtest import PEER, check, log, run  # noqa: E402


def main():
    for size in (0, 1, 55, 56, 63, 64, 65, 119, 120, 4097, 1000003, 8 << 20):
        for seed in (0, 12345):
            g = subprocess.run([PEER, "gen", "--seed", str(seed), "--bytes", str(size)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
            check(g.returncode == 0 and len(g.stdout) == size, "gen %d: rc %d len %d" % (
                size, g.returncode, len(g.stdout)))
            want = hashlib.sha256(g.stdout).hexdigest()
            check(g.stderr.decode().strip() == want, "gen %d seed %d: tool says %s, hashlib %s" % (
                size, seed, g.stderr.decode().strip(), want))
            for env in ({}, {"KFWD_PEER_NO_SHANI": "1"}):
                h = subprocess.run([PEER, "sha256"], input=g.stdout, stdout=subprocess.PIPE,
                                   timeout=60, env=dict(os.environ, **env))
                check(h.stdout.decode().strip() == want, "sha256 %d %s: %s != %s" % (
                    size, env, h.stdout.decode().strip(), want))
    # Different seeds give different streams; the same seed the same one.
    a = subprocess.run([PEER, "gen", "--seed", "1", "--bytes", "4096"], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, timeout=10).stdout
    b = subprocess.run([PEER, "gen", "--seed", "2", "--bytes", "4096"], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, timeout=10).stdout
    c = subprocess.run([PEER, "gen", "--seed", "1", "--bytes", "100"], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, timeout=10).stdout
    check(a != b and a[:100] == c, "seeded streams are not what they should be")
    log("kfwd-peer stream and SHA-256 match hashlib")


run(main)
