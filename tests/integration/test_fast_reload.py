#!/usr/bin/python3
"""Fast path and reload: flipping `fastpath` on kept listeners changes the path of their
new connections (stats and the `spliced` counter follow); an instance that started with no
fastpath listener cannot turn it on by reload and says so."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kfwdtest import Topology, assert_exact, check, log, run, transfer  # noqa: E402


def lsn(name, port, fast):
    return dict(name=name, bind="10.77.1.1:%d" % port, proto="tcp",
                backends=["10.77.2.2:9000"], fastpath=fast)


def one(t, k, name, port, seed):
    crc, cc, src, sc = transfer(t, "10.77.1.1:%d" % port, "10.77.2.2:9000",
                                client=["--send", "2M", "--seed", seed],
                                server=["--send", "1M", "--seed", seed + 1], timeout=30)
    assert_exact(cc, sc, "%s after the reload" % name)
    return k.wait_stat(name, lambda l: l["active"] == 0, 5, "%s active 0" % name)


def paths(k):
    return {l["name"]: l["path"] for l in k.stats()["listeners"]}


def main():
    with Topology() as t:
        k = t.kfwd([lsn("a", 8080, True), lsn("b", 8081, False)]).start()
        check(paths(k) == {"a": "fastpath", "b": "userspace"}, "paths %s" % paths(k))
        check(one(t, k, "a", 8080, 10)["spliced"] == 1, "a not spliced")
        check(one(t, k, "b", 8081, 20)["spliced"] == 0, "b spliced")

        log("reload: a off, b on")
        s = k.reload([lsn("a", 8080, False), lsn("b", 8081, True)])
        check(s["reloads"] == 1, "reload not applied: %s" % s)
        check(paths(k) == {"a": "userspace", "b": "fastpath"}, "paths %s" % paths(k))
        check(one(t, k, "a", 8080, 30)["spliced"] == 1, "a spliced again after turning it off")
        check(one(t, k, "b", 8081, 40)["spliced"] == 1, "b not spliced after turning it on")
        check("new connections now take the fast path" in k.log_text(), "no log of the change")
        k.finish()

        log("an instance without fastpath at start cannot turn it on by reload")
        k2 = t.kfwd([lsn("a", 8080, False)], name="k2").start()
        check(not k2.stats()["fastpath"]["active"], "fast path on without a fastpath listener")
        k2.reload([lsn("a", 8080, True)])
        check(paths(k2) == {"a": "userspace"}, "paths %s" % paths(k2))
        check("fastpath = true, but the fast path is off" in k2.log_text(), "no warning logged")
        check(one(t, k2, "a", 8080, 50)["spliced"] == 0, "spliced without a fast path")
        check(not os.path.exists(k2.cgroup_path()), "a cgroup without a fast path")
        k2.finish()


run(main)
