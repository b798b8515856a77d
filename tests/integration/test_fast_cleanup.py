#!/usr/bin/python3
"""Fast path, clean-up at a stop with the default pin path (/sys/fs/bpf/kfwd). Under
`ip netns exec` kfwd has a mount namespace of its own with nothing at /sys/fs/bpf, so it
mounts bpffs there; at a stop it removes its pins, the empty pin root and, since it mounted
bpffs and nothing else is pinned, unmounts it. A bpffs that was there before kfwd, with
something else in it, stays mounted and keeps that. Both are checked in kfwd's own mount
namespace, kept alive after kfwd exits by a file descriptor of this test."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kfwdtest import Topology, assert_exact, check, log, run, sh, transfer  # noqa: E402

LISTENER = dict(name="fast", bind="10.77.1.1:8080", proto="tcp", backends=["10.77.2.2:9000"])
BPFFS = "/sys/fs/bpf"
KERNEL_OWN = ("maps.debug", "progs.debug")  # bpf_preload's iterators, in every bpffs


class MountNs:
    """A process's mount namespace, held open so it can be looked into after the exit."""

    def __init__(self, pid):
        self.fd = os.open("/proc/%d/ns/mnt" % pid, os.O_RDONLY)

    def sh(self, script):
        return sh(["nsenter", "--mount=/proc/%d/fd/%d" % (os.getpid(), self.fd), "sh", "-c",
                   script]).stdout

    def bpffs_mounted(self):
        mounts = [line.split() for line in self.sh("cat /proc/self/mountinfo").splitlines()]
        return any(m[4] == BPFFS and m[m.index("-") + 1] == "bpf" for m in mounts)

    def ls(self, path):
        """Names in path, without the files the kernel puts into every bpffs."""
        names = self.sh("ls -A %s 2>/dev/null || true" % path).split()
        return sorted(n for n in names if n not in KERNEL_OWN)

    def close(self):
        os.close(self.fd)


def traffic(t, k, seed):
    crc, cc, src, sc = transfer(t, "10.77.1.1:8080", "10.77.2.2:9000",
                                client=["--send", "1M", "--seed", seed], server=["--send", "1M"])
    assert_exact(cc, sc, "through %s" % k.name)
    check(k.wait_stat("fast", lambda l: l["active"] == 0, 5, "active 0")["spliced"] == 1,
          "%s: not spliced" % k.name)


def main():
    with Topology() as t:
        k = t.kfwd([LISTENER]).start()
        ns = MountNs(k.pid)
        check(ns.bpffs_mounted(), "kfwd did not mount bpffs at %s" % BPFFS)
        check(ns.ls(BPFFS + "/kfwd") == [k.instance], "pin root %s" % ns.ls(BPFFS + "/kfwd"))
        traffic(t, k, 1)
        k.finish()
        check(not ns.bpffs_mounted(), "bpffs still mounted at %s after the stop, holding %s" % (
            BPFFS, ns.ls(BPFFS)))
        check("unmounted bpffs at %s" % BPFFS in k.log_text(), "no unmount in the log")
        ns.close()
        log("kfwd mounted bpffs: pins, pin root and the mount are gone after the stop")

        # bpffs mounted before kfwd, with a folder of someone else's in it.
        wrap = ["sh", "-c", "mount -t bpf bpf %s && mkdir %s/other && exec \"$@\"" % (
            BPFFS, BPFFS), "sh"]
        k2 = t.kfwd([LISTENER], name="k2", wrap=wrap).start()
        ns = MountNs(k2.pid)
        check(ns.ls(BPFFS) == ["kfwd", "other"], "bpffs holds %s" % ns.ls(BPFFS))
        traffic(t, k2, 2)
        k2.finish()
        check(ns.bpffs_mounted(), "kfwd unmounted a bpffs it had not mounted")
        check(ns.ls(BPFFS) == ["other"], "left in bpffs: %s" % ns.ls(BPFFS))
        ns.close()
        log("bpffs mounted by someone else: kfwd removed only its own folders")


run(main)
