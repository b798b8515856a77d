#!/usr/bin/python3
"""`kfwd passwd`: the users-file line it prints verifies with Python's own
PBKDF2-HMAC-SHA256 (an independent implementation), two lines for the same
password differ (random salt), and bad input is refused with exit 1 or 2."""
import base64
import hashlib
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kfwdtest import KFWD, check, log  # noqa: E402


def passwd(args, stdin):
    return subprocess.run([KFWD, "passwd"] + args, input=stdin, capture_output=True, text=True, timeout=60)


def verify(line, user, password):
    name, rest = line.split(":", 1)
    check(name == user, f"user name kept: {line}")
    _, scheme, iters, salt, digest = rest.split("$")
    check(scheme == "pbkdf2-sha256", f"scheme: {line}")
    salt = base64.b64decode(salt, validate=True)
    digest = base64.b64decode(digest, validate=True)
    check(len(salt) == 16 and len(digest) == 32, f"salt/hash sizes: {line}")
    want = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, int(iters), 32)
    check(want == digest, f"hash verifies with hashlib: {line}")
    return int(iters)


def main():
    r = passwd(["--iterations", "2000", "dave"], "s3cret: with colon\n")
    check(r.returncode == 0, f"exit 0: {r.stderr}")
    line = r.stdout.strip()
    check(verify(line, "dave", "s3cret: with colon") == 2000, "iterations as asked")

    r2 = passwd(["dave"], "s3cret: with colon\n")
    check(r2.returncode == 0, f"default iterations: {r2.stderr}")
    line2 = r2.stdout.strip()
    check(verify(line2, "dave", "s3cret: with colon") == 100000, "default iterations 100000")
    check(line.split("$")[3] != line2.split("$")[3], "fresh salt per line")

    for args, stdin, code, words in [
        (["bad:name"], "pw\n", 1, "bad user name"),
        (["eve"], "\n", 1, "empty password"),
        (["eve"], "", 1, "no password"),
        (["--iterations", "10", "eve"], "pw\n", 2, "--iterations"),
        ([], "pw\n", 2, "usage"),
    ]:
        r = passwd(args, stdin)
        check(r.returncode == code, f"{args}: exit {r.returncode}, want {code} ({r.stderr.strip()})")
        check(words in r.stderr, f"{args}: message names the problem: {r.stderr.strip()}")
        check(r.stdout == "", f"{args}: nothing on stdout")
    log("kfwd passwd: lines verify with hashlib; bad input refused")


if __name__ == "__main__":
    main()
