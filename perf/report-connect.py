#!/usr/bin/env python3
"""perf/report-connect.py: report of perf/run-connect.sh (not meant to be run alone).

  report-connect.py RAW OUT    medians, ratios, table (stdout), OUT json

Reads the run description from M_* environment variables set by run-connect.sh.
"""
import os
import sys

from report_common import bg_note, doc_head, kv, lines, load_run, median, print_table, sig, write_json

PEERS = ["tinyproxy", "squid"]
SETUP_BASE = "squid"  # the setup rate is compared with squid's (the target)
# metric: (raw test, field, better)
METRICS = {
    "tunnels_per_s": ("rate", "rate", "higher"),
    "setup_p50_us": ("rate", "p50_us", "lower"),
    "setup_p99_us": ("rate", "p99_us", "lower"),
    "setup_cpu_us": ("rate", "proxy_cpu_us", "lower"),
    "tput1_gbps": ("bulk1", "gbps", "higher"),
    "tput4_gbps": ("bulk4", "gbps", "higher"),
    "cpu1_s_per_gb": ("bulk1", "cpu_s_per_gb", "lower"),
    "cpu4_s_per_gb": ("bulk4", "cpu_s_per_gb", "lower"),
}
EXTRA = {"rate_errors": ("rate", "errors")}
DESCRIPTIONS = {
    "tunnels_per_s": "CONNECT tunnels completed per second: CONC workers each loop over a new TCP "
    "connection to the proxy, CONNECT to an echo server (perf/echo), the 200 response, 32 bytes sent "
    "and echoed, close (build/perf/connectload rate)",
    "setup_p50_us": "median time of one such whole cycle",
    "setup_p99_us": "99th percentile of it",
    "setup_cpu_us": "the proxy's own CPU time per tunnel in that run: user + system ticks of its "
    "processes (every thread, squid's workers too) divided by the tunnels completed; the load "
    "generator, echo server and the kernel's softirq work outside them are not in it",
    "tput1_gbps": "BYTES through one CONNECT tunnel to a sink that acknowledges them (build/perf/connectload "
    "bulk -P 1): Gbit/s from the tunnel being up to the acknowledgement of the last byte",
    "tput4_gbps": "the same BYTES split over 4 tunnels at once (-P 4), until the last acknowledgement",
    "cpu1_s_per_gb": "CPU-seconds of the whole machine (all cores, /proc/stat busy jiffies, client and "
    "sink included) per 1e9 bytes, during the 1-tunnel run",
    "cpu4_s_per_gb": "the same for the 4-tunnel run",
    "verify": "once per system: 64 MiB through 4 tunnels, every byte compared with the expected pattern "
    "by the sink",
}


def main(raw_path, out_path):
    env = os.environ
    systems, n, status, bg, recs = load_run(raw_path)
    res = {s: {"status": status.get(s) or "", "errors": [], "verify": None,
               "rounds": {m: [None] * n for m in list(METRICS) + list(EXTRA)}} for s in systems}
    for rec in recs:
        s, t, r = rec["s"], rec["t"], rec["r"]
        if not rec["ok"]:
            res[s]["errors"].append(f"round {r + 1} {t}: {rec['err']}")
            continue
        if t == "verify":
            res[s]["verify"] = rec["v"]
            continue
        for m, (test, field, *_) in list(METRICS.items()) + list(EXTRA.items()):
            if test == t:
                res[s]["rounds"][m][r] = rec["v"].get(field)
    for s in systems:
        R = res[s]
        bad_verify = R["verify"] is not None and not R["verify"].get("equal")
        if bad_verify:
            R["errors"].insert(0, "bytes through the tunnels differ: %s" % R["verify"].get("error"))
        if not R["status"]:
            has = any(v is not None for m in METRICS for v in R["rounds"][m])
            R["status"] = "ok" if has and not bad_verify else \
                "failed: " + (R["errors"][0] if R["errors"] else "not run")
        R["median"] = {m: median(R["rounds"][m]) for m in METRICS} if R["status"] == "ok" else {}

    # The reference of each metric: squid for the setup rate and its latency,
    # the best peer (by median) for throughput and CPU.
    ref = {}
    for m, (_, _, better) in METRICS.items():
        peers = [(res[p]["median"].get(m), p) for p in PEERS if p in res and res[p]["median"].get(m)]
        if m.startswith("setup") or m == "tunnels_per_s":
            ref[m] = next(((v, p) for v, p in peers if p == SETUP_BASE), None)
        elif peers:
            ref[m] = (max if better == "higher" else min)(peers)
    for s in systems:
        R = res[s]
        if R["status"] == "ok":
            R["ratio"] = {m: (sig(R["median"][m] / ref[m][0], 3) if ref.get(m) and R["median"][m] is not None
                              else None) for m in METRICS}
            R["ratio_to"] = {m: ref[m][1] if ref.get(m) else None for m in METRICS}
            R["median"] = {m: sig(v) for m, v in R["median"].items()}
        else:
            del R["median"]
        R["rounds"] = {m: [sig(v) for v in vals] for m, vals in R["rounds"].items()}
        if not R["errors"]:
            del R["errors"]

    notes = lines("M_NOTES")
    if bg_note(bg):
        notes.append(bg_note(bg))
    doc = {
        **doc_head("connect"),
        "settings": {"rounds": n, "rate_seconds": int(env["M_SECS"]), "rate_workers": int(env["M_CONC"]),
                     "bulk_bytes": int(env["M_BYTES"]), "verify_bytes": int(env["M_VBYTES"]),
                     "workers": int(env["M_WORKERS"]), "squid_workers": int(env["M_SQUID_WORKERS"])},
        "peer_settings": {
            "kfwd": "listener mode connect, via direct, allow = the two loopback test ports, 2 workers, "
                    "--log-level warn (no access-log lines); kfwd-fastpath: fastpath = true, "
                    "kfwd-userspace: fastpath = false",
            "tinyproxy": "Listen 127.0.0.1, ConnectPort = the two test ports, Allow 127.0.0.1, MaxClients 4096, "
                         "LogLevel Warning, DisableViaHeader; one thread per connection",
            "squid": "workers = squid_workers (SMP), cache deny all, cache_mem 0, access_log none, "
                     "http_access: CONNECT only to the test ports, from 127.0.0.1",
        },
        "kfwd_paths": kv("M_KPATHS"),
        "metrics": DESCRIPTIONS,
        "round_order": [o.split() for o in lines("M_ORDERS")],
        "notes": notes,
        "systems": res,
    }
    write_json(doc, out_path)

    print()
    print(f"CONNECT proxies, {doc['machine']['nproc']} cores, median of {n} round(s); (x) = ratio to squid for "
          "setup, to the best peer for throughput and CPU")
    cols = [("tunnels_per_s", "tunnels/s", "%.0f"), ("setup_p99_us", "setup p99 us", "%.0f"),
            ("setup_cpu_us", "proxy CPU us/tunnel", "%.0f"),
            ("tput1_gbps", "1 tunnel Gbit/s", "%.2f"), ("tput4_gbps", "4 tunnels Gbit/s", "%.2f"),
            ("cpu1_s_per_gb", "CPU-s/GB 1", "%.2f"), ("cpu4_s_per_gb", "CPU-s/GB 4", "%.2f")]
    heads = ["system"] + [c[1] for c in cols] + ["verified"]
    rows = []
    for s in systems:
        R = res[s]
        if R["status"] != "ok":
            continue
        row = [s]
        for m, _, fmt in cols:
            v = R["median"][m]
            rt = R["ratio"][m]
            row.append("-" if v is None else (fmt % v) + (f" ({rt:.2f}x)" if rt is not None else ""))
        row.append("-" if R["verify"] is None else ("yes" if R["verify"].get("equal") else "DIFFERS"))
        rows.append(row)
    print_table(heads, rows)
    for s in systems:
        if res[s]["status"] != "ok":
            print(f"{s}: {res[s]['status']}")
        elif res[s].get("errors"):
            print(f"{s}: {len(res[s]['errors'])} error(s), first: {res[s]['errors'][0]}")
    for nt in notes:
        if nt.startswith(("background", "time budget")):
            print("note: " + nt)
    print(f"results: {out_path}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
