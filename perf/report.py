#!/usr/bin/env python3
"""perf/report.py: helpers of perf/run.sh (not meant to be run alone).

  report.py iperf FILE BUSY_JIFFIES HZ ERRFILE   iperf3 -J output -> one JSON record
  report.py fmt-ping FILE                        pingpong output -> short text
  report.py kfwd-path STATS_JSON                 the listener path(s) kfwd reports
  report.py report RAW OUT                       medians, table (stdout), OUT json (+png)

`report` reads the run description from M_* environment variables set by run.sh.
"""
import json
import os
import sys

from report_common import bg_note, doc_head, kv, lines, load_run, median, print_table, sig

# key, table header, better, (raw test, field)
METRICS = [
    ("tput1_gbps", "1 stream Gbit/s", "higher", ("tput1", "gbps")),
    ("tput4_gbps", "4 streams Gbit/s", "higher", ("tput4", "gbps")),
    ("cpu1_s_per_gb", "CPU-s/GB 1 str", "lower", ("tput1", "cpu_s_per_gb")),
    ("cpu4_s_per_gb", "CPU-s/GB 4 str", "lower", ("tput4", "cpu_s_per_gb")),
    ("lat_p50_us", "p50 us", "lower", ("ping", "p50_us")),
    ("lat_p99_us", "p99 us", "lower", ("ping", "p99_us")),
    ("conn_per_s", "conn/s", "higher", ("conn", "rate")),
]
EXTRA = [  # kept per round in the JSON, not in the table
    ("conn_errors", ("conn", "errors")),
    ("retrans1", ("tput1", "retrans")),
    ("retrans4", ("tput4", "retrans")),
]
TABLE = [  # what the table shows: (key in the medians, header)
    ("tput1_gbps", "1 stream Gbit/s"),
    ("tput4_gbps", "4 streams Gbit/s"),
    ("cpu1_s_per_gb", "CPU-s/GB 1 str"),
    ("cpu4_s_per_gb", "CPU-s/GB 4 str"),
    ("added_p50_us", "added p50 us"),
    ("added_p99_us", "added p99 us"),
    ("conn_per_s", "conn/s"),
]
DESCRIPTIONS = {
    "tput1_gbps": "iperf3 -P 1 -n BYTES through the system (control connection too), receiver Gbit/s",
    "tput4_gbps": "iperf3 -P 4, receiver Gbit/s",
    "cpu1_s_per_gb": "CPU-seconds (all cores: user+nice+system+irq+softirq+steal, /proc/stat delta "
    "around the iperf3 -P 1 run, iperf3 client and server included) per 1e9 bytes received",
    "cpu4_s_per_gb": "same for iperf3 -P 4",
    "lat_p50_us": "round-trip time of a 1-byte request/response over one persistent connection "
    "(perf/pingpong, echo backend perf/echo), median of the round's p50",
    "lat_p99_us": "same, p99",
    "added_p50_us": "lat_p50_us of the system minus that of direct (medians over rounds)",
    "added_p99_us": "lat_p99_us of the system minus that of direct",
    "conn_per_s": "completed connect + 32-byte request/response + close per second, "
    "K workers (perf/connrate, echo backend perf/echo)",
}


def cmd_iperf(path, busy, hz, errfile):
    out = {}
    try:
        with open(path) as f:
            d = json.load(f)
    except Exception:
        err = ""
        try:
            err = open(errfile).read().strip().replace("\n", " ")[:200]
        except OSError:
            pass
        print(json.dumps({"error": "no iperf3 result (timed out or crashed) " + err}))
        return
    if d.get("error"):
        print(json.dumps({"error": d["error"]}))
        return
    try:
        rcv = d["end"]["sum_received"]
        snd = d["end"].get("sum_sent", {})
        nbytes = rcv["bytes"]
        cpu_s = int(busy) / int(hz)
        out = {
            "bytes": nbytes,
            "gbps": sig(rcv["bits_per_second"] / 1e9),
            "secs": sig(rcv["seconds"]),
            "retrans": snd.get("retransmits", 0),
            "cpu_s": sig(cpu_s),
            "cpu_s_per_gb": sig(cpu_s / (nbytes / 1e9)) if nbytes else None,
        }
        if not nbytes:
            out = {"error": "iperf3 reports 0 bytes received"}
    except (KeyError, TypeError) as e:
        out = {"error": f"unexpected iperf3 JSON ({e})"}
    print(json.dumps(out, separators=(",", ":")))


def cmd_fmt_ping(path):
    d = json.loads(open(path).readline())
    print(f"p50 {d['p50_us']:.1f} us p99 {d['p99_us']:.1f} us")


def cmd_kfwd_path(path):
    try:
        d = json.load(open(path))
        paths = sorted({lst.get("path", "?") for lst in d.get("listeners", [])})
        print(",".join(paths) or "unknown")
    except Exception:
        print("unknown")


def fmt(v, key):
    if v is None:
        return "-"
    if key == "conn_per_s":
        return f"{v:.0f}"
    if key.startswith("added"):
        return f"{v:+.1f}"
    if abs(v) >= 100:
        return f"{v:.0f}"
    return f"{v:.2f}"


def write_compact_json(path, doc):
    """Top-level keys one per line, each system on one line: small, diffable."""
    parts = []
    for k, v in doc.items():
        if k == "systems":
            inner = ",\n".join(
                f"  {json.dumps(s)}: {json.dumps(sv, separators=(',', ':'))}" for s, sv in v.items()
            )
            parts.append(f' "systems": {{\n{inner}\n }}')
        else:
            parts.append(f" {json.dumps(k)}: {json.dumps(v, separators=(',', ':'))}")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("{\n" + ",\n".join(parts) + "\n}\n")
    os.replace(tmp, path)


def chart(path, systems, res, rounds_n):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception:
        return "chart skipped: python3-matplotlib is not installed"
    shown = [s for s in systems if res[s].get("median")]
    if not shown:
        return "chart skipped: no data"
    panels = [
        ("tput1_gbps", "throughput, 1 stream (Gbit/s)"),
        ("tput4_gbps", "throughput, 4 streams (Gbit/s)"),
        ("conn_per_s", "new connections per second"),
        ("cpu1_s_per_gb", "CPU-s per GB, 1 stream (lower is better)"),
        ("cpu4_s_per_gb", "CPU-s per GB, 4 streams (lower is better)"),
        ("lat_p50_us", "ping-pong RTT p50, us (lower is better)"),
    ]
    colors = ["#f58518" if s.startswith("kfwd") else "#9d9d9d" if s == "direct" else "#4c78a8" for s in shown]
    fig, axes = plt.subplots(2, 3, figsize=(13, 7.5))
    for ax, (key, title) in zip(axes.flat, panels):
        meds = [res[s]["median"].get(key) or 0 for s in shown]
        ax.bar(range(len(shown)), meds, color=colors)
        for i, s in enumerate(shown):
            pts = [v for v in res[s]["rounds"].get(key, []) if v is not None]
            ax.plot([i] * len(pts), pts, "k.", markersize=4)
        ax.set_xticks(range(len(shown)))
        ax.set_xticklabels(shown, rotation=40, ha="right", fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(f"kfwd TCP benchmark, loopback, medians of {rounds_n} rounds (dots: rounds)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return None


def cmd_report(raw_path, out_path):
    env = os.environ
    systems, n_rounds, status, bg, recs = load_run(raw_path)
    res = {}
    for s in systems:
        res[s] = {"status": status.get(s) or "", "rounds": {}, "errors": []}
        for key, *_ in METRICS + [(k, None) for k, _ in EXTRA]:
            res[s]["rounds"][key] = [None] * n_rounds
    start_errs = {s: [] for s in systems}
    for rec in recs:
        r, s, t = rec["r"], rec["s"], rec["t"]
        if not rec["ok"]:
            res[s]["errors"].append(f"round {r + 1} {t}: {rec['err']}")
            if t == "start":
                start_errs[s].append(rec["err"])
            continue
        for key, _, _, (test, field) in METRICS:
            if test == t:
                res[s]["rounds"][key][r] = rec["v"].get(field)
        for key, (test, field) in EXTRA:
            if test == t:
                res[s]["rounds"][key][r] = rec["v"].get(field)

    for s in systems:
        R = res[s]
        has = any(v is not None for vals in R["rounds"].values() for v in vals)
        if not R["status"]:
            if has:
                R["status"] = "ok"
            elif start_errs[s]:
                R["status"] = "failed: " + start_errs[s][0]
            elif R["errors"]:
                R["status"] = "failed: " + R["errors"][0]
            else:
                R["status"] = "failed: not run (time budget?)"
        if R["status"] != "ok":
            del R["rounds"]
            # One line per round only when the rounds failed differently.
            if R["status"].startswith("skipped") or len({e.split(": ", 1)[-1] for e in R["errors"]}) <= 1:
                del R["errors"]
            continue
        R["median"] = {k: median(R["rounds"][k]) for k, *_ in METRICS}

    direct = res.get("direct", {}).get("median")
    for s in systems:
        m = res[s].get("median")
        if not m:
            continue
        for p in ("50", "99"):
            a, d = m.get(f"lat_p{p}_us"), direct and direct.get(f"lat_p{p}_us")
            m[f"added_p{p}_us"] = (a - d) if (a is not None and d is not None) else None
    hap = res.get("haproxy", {}).get("median")
    for s in systems:
        m = res[s].get("median")
        if not m:
            continue
        if hap:
            ratio = {}
            for key, _ in TABLE:
                a, b = m.get(key), hap.get(key)
                ok = a is not None and b is not None and (b > 0 if key.startswith("added") else b != 0)
                ratio[key] = sig(a / b, 3) if ok else None
            res[s]["vs_haproxy"] = ratio
        res[s]["median"] = {k: sig(v) for k, v in m.items()}
        res[s]["rounds"] = {k: [sig(v) for v in vals] for k, vals in res[s]["rounds"].items()}
        if not res[s]["errors"]:
            del res[s]["errors"]

    notes = lines("M_NOTES")
    if bg_note(bg):
        notes.append(bg_note(bg))
    notes += [
        "CPU-s/GB counts the whole machine during each iperf3 run: iperf3 client and server, "
        "the proxy and anything else running; only the differences between systems are the proxy's",
        "added latency = the system's median p50/p99 minus direct's; vs_haproxy = value / HAProxy's "
        "value (for added latency: added / HAProxy's added)",
        "socat runs in fork mode: one process per connection, so its conn/s includes fork cost "
        "and its worker count is not configurable; default 8 KiB transfer block",
    ]
    if "haproxy" not in systems or not hap:
        notes.append("no HAProxy figures: ratios to HAProxy are not given")

    settings = {
        "rounds": n_rounds,
        "bytes_per_iperf3_run": int(env["M_BYTES"]),
        "ping_round_trips": int(env["M_PING"]),
        "ping_bytes": 1,
        "conn_seconds": int(env["M_CONN"]),
        "conn_workers": int(env["M_CONNW"]),
        "conn_request_bytes": 32,
        "proxy_workers": int(env["M_WORKERS"]),
    }
    w = env["M_WORKERS"]
    peer_settings = {
        "kfwd": f"workers = {w}, --log-level warn, splice(2) relay; fastpath = true|false per system once the key exists",
        "haproxy": f"-db, nbthread {w}, mode tcp, no log, defaults otherwise (16 KiB buffers)"
        + (", option splice-auto" if env.get("M_SPLICE") == "1" else ", no splicing"),
        "nginx": f"stream module, worker_processes {w}, listen reuseport, access_log off, daemon off",
        "socat": "TCP4-LISTEN fork,reuseaddr,nodelay -> TCP4 nodelay",
        "backends": f"iperf3 -s (throughput), perf/echo with {w} epoll threads (latency, connections)",
    }
    png = os.path.splitext(out_path)[0] + ".png"
    chart_note = chart(png, systems, res, n_rounds)
    if chart_note:
        notes.append(chart_note)

    doc = {
        **doc_head("tcp"),
        "settings": settings,
        "peer_settings": peer_settings,
        "metrics": DESCRIPTIONS,
        "round_order": [o.split() for o in lines("M_ORDERS")],
        "kfwd_paths": kv("M_KPATHS"),
        "notes": notes,
        "systems": res,
    }
    write_compact_json(out_path, doc)

    # The table.
    print()
    print(
        f"kfwd TCP benchmark, loopback, {doc['machine']['nproc']} cores, median of {n_rounds} round(s); "
        "(x) = ratio to HAProxy"
    )
    heads = ["system"] + [h for _, h in TABLE]
    rows = []
    for s in systems:
        m = res[s].get("median")
        if not m:
            continue
        row = [s]
        for key, _ in TABLE:
            cell = fmt(m.get(key), key)
            rt = res[s].get("vs_haproxy", {}).get(key)
            if rt is not None and s != "haproxy" and not (s == "direct" and key.startswith("added")):
                cell += f" ({rt:.2f}x)"
            row.append(cell)
        rows.append(row)
    print_table(heads, rows)
    if direct:
        print(
            f"direct ping-pong: p50 {direct['lat_p50_us']:.1f} us, p99 {direct['lat_p99_us']:.1f} us "
            "(added = system minus direct)"
        )
    for s in systems:
        if res[s]["status"] != "ok":
            print(f"{s}: {res[s]['status']}")
        elif res[s].get("errors"):
            print(f"{s}: {len(res[s]['errors'])} error(s), first: {res[s]['errors'][0]}")
    for n in notes:
        if n.startswith(("background", "chart", "time budget")) or "failed to start" in n:
            print("note: " + n)
    print(f"results: {out_path}" + ("" if chart_note else f", {png}"))


def main(argv):
    if len(argv) >= 2 and argv[1] == "iperf" and len(argv) == 6:
        cmd_iperf(*argv[2:])
    elif len(argv) == 3 and argv[1] == "fmt-ping":
        cmd_fmt_ping(argv[2])
    elif len(argv) == 3 and argv[1] == "kfwd-path":
        cmd_kfwd_path(argv[2])
    elif len(argv) == 4 and argv[1] == "report":
        cmd_report(argv[2], argv[3])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
