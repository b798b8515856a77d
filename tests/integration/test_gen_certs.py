#!/usr/bin/python3
"""scripts/gen-certs.sh: a CA and peer certificates that `openssl verify`
accepts (SAN DNS:NAME, serverAuth + clientAuth, keys 0600); a second run keeps
what exists; --ca-dir signs with another CA (refused by the first); --expired
makes a certificate that has expired; bad input gives a clear error. No
network: only files in a temporary folder."""
import hashlib
import os
import shutil
import ssl
import stat
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kfwdtest import ROOT, check, log, run, sh  # noqa: E402

GEN = os.path.join(ROOT, "scripts", "gen-certs.sh")


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def x509(path, *args):
    return sh(["openssl", "x509", "-in", path, "-noout"] + list(args)).stdout


def verify(ca, cert):
    r = sh(["openssl", "verify", "-CAfile", ca, cert], check_rc=False)
    return r.returncode, r.stdout + r.stderr


def main():
    d = tempfile.mkdtemp(prefix="kfwd-gen-certs-")
    try:
        out = os.path.join(d, "certs")
        gen = lambda *a, **kw: sh(["bash", GEN] + list(a), **kw)  # noqa: E731

        log("CA and two peers")
        r = gen("-o", out, "gw-a.example.net", "gw-b")
        check("made CA" in r.stdout, r.stdout)
        ca = os.path.join(out, "ca.pem")
        for f in ("ca", "gw-a.example.net", "gw-b"):
            for ext, mode in ((".key", 0o600), (".pem", 0o644)):
                p = os.path.join(out, f + ext)
                m = stat.S_IMODE(os.stat(p).st_mode)
                check(m == mode, "%s: mode %o, want %o" % (p, m, mode))
        check("CA:TRUE" in x509(ca, "-ext", "basicConstraints"), "ca.pem is not a CA")
        check("ASN1 OID: prime256v1" in x509(ca, "-text") and
              "NIST CURVE: P-256" in x509(ca, "-text"), "the CA key is not P-256")
        for name in ("gw-a.example.net", "gw-b"):
            pem = os.path.join(out, name + ".pem")
            rc, text = verify(ca, pem)
            check(rc == 0 and "OK" in text, "%s does not verify: %s" % (name, text))
            ext = x509(pem, "-ext", "subjectAltName,extendedKeyUsage,basicConstraints")
            check("DNS:%s" % name in ext, "%s: SAN missing: %s" % (name, ext))
            check("TLS Web Server Authentication" in ext and
                  "TLS Web Client Authentication" in ext, "%s: EKU: %s" % (name, ext))
            check("CA:FALSE" in ext, "%s: not marked CA:FALSE: %s" % (name, ext))
            check(sh(["openssl", "x509", "-in", pem, "-noout", "-checkend", "86400"],
                     check_rc=False).returncode == 0, "%s expires within a day" % name)
            # The key belongs to the certificate.
            k = sh(["openssl", "pkey", "-in", os.path.join(out, name + ".key"), "-pubout"]).stdout
            c = sh(["openssl", "x509", "-in", pem, "-noout", "-pubkey"]).stdout
            check(k == c, "%s: key and certificate do not match" % name)
        log("  verify OK, SAN, EKU serverAuth+clientAuth, modes 0600/0644")

        log("second run keeps what exists and adds a peer to the same CA")
        before = {f: sha(os.path.join(out, f)) for f in os.listdir(out)}
        r = gen("-o", out, "gw-a.example.net", "gw-c")
        check("exists, kept" in r.stdout and "made CA" not in r.stdout, r.stdout)
        for f, h in before.items():
            check(sha(os.path.join(out, f)) == h, "%s changed on the second run" % f)
        rc, text = verify(ca, os.path.join(out, "gw-c.pem"))
        check(rc == 0, "gw-c does not verify against the same CA: %s" % text)
        r = gen("-o", out, "--force", "gw-c")
        check("made %s/gw-c.pem" % out in r.stdout, r.stdout)
        check(sha(ca) == before["ca.pem"], "--force replaced the CA")

        log("--ca-dir: a peer of another CA is refused by the first")
        other = os.path.join(d, "other")
        gen("-o", out, "--ca-dir", other, "--ca-name", "Other CA", "intruder")
        rc, text = verify(ca, os.path.join(out, "intruder.pem"))
        check(rc != 0 and "unable to get local issuer certificate" in text,
              "intruder verified against the first CA: %s" % text)
        rc, text = verify(os.path.join(other, "ca.pem"), os.path.join(out, "intruder.pem"))
        check(rc == 0, "intruder does not verify against its own CA: %s" % text)
        check("CN = Other CA" in x509(os.path.join(other, "ca.pem"), "-subject"), "CA name")

        log("--expired: validity wholly in the past")
        gen("-o", out, "--expired", "old")
        old = os.path.join(out, "old.pem")
        rc, text = verify(ca, old)
        check(rc != 0 and "certificate has expired" in text, "expired cert: %s" % text)
        check(sh(["openssl", "x509", "-in", old, "-noout", "-checkend", "0"],
                 check_rc=False).returncode == 1, "old.pem is still valid now")
        dates = dict(l.split("=", 1) for l in x509(old, "-dates").splitlines())
        nb, na = (ssl.cert_time_to_seconds(dates[k]) for k in ("notBefore", "notAfter"))
        check(nb < na < time.time() - 3600, "old.pem validity %s is not in the past" % dates)

        log("bad input: clear errors, nothing written")
        bad = os.path.join(d, "bad")
        for args, words in (
                (["-o", bad, "a b"], "is not a DNS name"),
                (["-o", bad, "-bad"], "unknown option -bad"),
                (["-o", bad], "no NAME given"),
                (["-o", bad, "-d", "0", "x"], "days must be 1 to 36500"),
                (["-o", bad, "-d", "ten", "x"], "days must be 1 to 36500"),
                (["-o", bad, "ca"], "\"ca\" is reserved"),
                (["-o", bad, "a..b"], "is not a DNS name")):
            r = gen(*args, check_rc=False)
            check(r.returncode != 0 and words in r.stderr,
                  "%s: exit %d, stderr %r" % (args, r.returncode, r.stderr))
        check(not os.path.exists(os.path.join(bad, "ca.key")), "a CA was made despite errors")
        half = os.path.join(d, "half")
        os.makedirs(half)
        shutil.copy(ca, half)
        r = gen("-o", half, "x", check_rc=False)
        check(r.returncode != 0 and "only one of ca.pem and ca.key" in r.stderr, r.stderr)
        log("  every bad input refused with its reason")
    finally:
        shutil.rmtree(d, ignore_errors=True)


run(main)
