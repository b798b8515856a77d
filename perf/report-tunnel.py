#!/usr/bin/env python3
"""perf/report-tunnel.py: report of perf/run-tunnel.sh (not meant to be run alone).

  report-tunnel.py RAW OUT    medians, table (stdout), OUT json

Reads the run description from M_* environment variables set by run-tunnel.sh.
"""
import json
import os
import sys

from report_common import bg_note, doc_head, lines, load_run, median, print_table, sig, write_json

BASE = "stunnel"  # ratios are to this system
FIELDS = {"bulk": ["gbps", "cpu_s_per_gb"], "rps": ["rps", "p50_ms"], "first": ["ms", "rtts", "ttfb_ms"]}
DESCRIPTIONS = {
    "bulk.gbps": "one iperf3 stream of BYTES through the relay, receiver Gbit/s (loopback in one namespace)",
    "bulk.cpu_s_per_gb": "CPU-seconds of the whole machine (all cores, /proc/stat) per GB received, "
    "iperf3 client and server included",
    "rps.rps": "wrk, 1 thread, CONNS keep-alive connections, 100-byte file from nginx: requests per second",
    "rps.p50_ms": "wrk's median request latency",
    "first.ms": "curl time_total of one request after IDLE s of silence, the client side in another "
    "namespace behind a link of DELAY ms each way (TUN devices through build/tools/udp-impair)",
    "first.rtts": "first.ms divided by the configured RTT (2 x DELAY)",
    "verify": "once per system: BYTES of kfwd-peer's pseudo-random stream through the bulk path, "
    "SHA-256 of what was sent and of what arrived",
}


def main(raw_path, out_path):
    env = os.environ
    systems, n, status, bg, recs = load_run(raw_path)
    res = {s: {"status": status.get(s) or "", "errors": [], "verify": None,
               "tests": {t: {"rounds": {f: [None] * n for f in fs}} for t, fs in FIELDS.items()}}
           for s in systems}
    for rec in recs:
        s, t, r = rec["s"], rec["t"], rec["r"]
        if not rec["ok"]:
            res[s]["errors"].append(f"round {r + 1} {t}: {rec['err']}")
        elif t == "verify":
            res[s]["verify"] = rec["v"]
        else:
            for f in FIELDS[t]:
                res[s]["tests"][t]["rounds"][f][r] = rec["v"].get(f)
    for s in systems:
        R = res[s]
        if R["verify"] and not R["verify"]["sha256_equal"]:
            R["errors"].insert(0, "bulk path changed the bytes: %s" % R["verify"])
        if not R["status"]:
            has = any(v is not None for t in R["tests"].values() for vals in t["rounds"].values()
                      for v in vals)
            R["status"] = "ok" if has and not (R["verify"] and not R["verify"]["sha256_equal"]) else \
                "failed: " + (R["errors"][0] if R["errors"] else "not run")
        if R["status"] != "ok":
            del R["tests"]
            continue
        for t in R["tests"].values():
            t["median"] = {f: median(v) for f, v in t["rounds"].items()}
    base = res.get(BASE, {}).get("tests")
    for s in systems:
        if "tests" not in res[s]:
            continue
        for name, t in res[s]["tests"].items():
            m = t["median"]
            if base and s != BASE:
                b = base[name]["median"]
                t["vs_stunnel"] = {f: (sig(m[f] / b[f], 3) if m[f] is not None and b[f] else None) for f in m}
            t["median"] = {f: sig(v) for f, v in m.items()}
            t["rounds"] = {f: [sig(v) for v in vals] for f, vals in t["rounds"].items()}
        if not res[s]["errors"]:
            del res[s]["errors"]

    notes = lines("M_NOTES")
    if bg_note(bg):
        notes.append(bg_note(bg))
    notes.append("stunnel opens a new TCP + TLS 1.3 connection to its peer for each client connection: "
                 "in (c) that is 1 RTT (TCP) + 1 RTT (TLS) + 1 RTT (request); kfwd's client keeps one QUIC "
                 "session up with keep-alives, a request on it costs 1 RTT")
    impair = None
    if env.get("M_IMPAIR", "").strip():
        try:
            impair = json.loads(env["M_IMPAIR"])
        except ValueError:
            pass
    delay = int(env["M_DELAY"])
    doc = {
        **doc_head("tunnel"),
        "settings": {"rounds": n, "bulk_bytes": int(env["M_BYTES"]), "wrk_seconds": int(env["M_SECS"]),
                     "wrk_connections": int(env["M_CONNS"]), "idle_seconds": int(env["M_IDLE"]),
                     "link_delay_ms_each_way": delay, "link_rtt_ms_configured": 2 * delay,
                     "link_rtt_ms_ping": float(env["M_PING"]) if env.get("M_PING") else None,
                     "kfwd_workers": int(env["M_WORKERS"]),
                     "loopback_mtu": int(env["M_LO_MTU"]),
                     "kfwd_transport_extra": env.get("M_TRANSPORT", "")},
        "peer_settings": {
            "kfwd-tunnel": "two kfwd, mutual TLS (test CA), client listeners mode forward (bulk) and "
                           "mode http (requests) via the tunnel; server upstreams.http = nginx",
            "kfwd-tunnel-bigudp": "as kfwd-tunnel, with tunnel.transport.max_udp_payload = the "
                                  "loopback MTU - 28 (at most 65507) on both peers: PMTU discovery "
                                  "climbs to it, as it would on a jumbo-frame link set to 8952",
            "stunnel": "stunnel4 client -> stunnel4 server, TLS 1.3 only, mutual certificate checks "
                       "(verifyChain, checkHost), TCP_NODELAY both sides",
        },
        "link_counters": impair,
        "metrics": DESCRIPTIONS,
        "round_order": [o.split() for o in lines("M_ORDERS")],
        "notes": notes,
        "systems": res,
    }
    write_json(doc, out_path)

    print()
    print(f"kfwd QUIC tunnel vs stunnel, {doc['machine']['nproc']} cores, median of {n} round(s); (x) = ratio to stunnel")
    print(f"loopback MTU {env['M_LO_MTU']}; kfwd tunnel.transport extra: {env.get('M_TRANSPORT') or '(none)'}")
    heads = ["system", "bulk Gbit/s", "CPU-s/GB", "req/s", "p50 ms", "first req ms", "first req RTTs", "sha256"]
    rows = []
    for s in systems:
        t = res[s].get("tests")
        if not t:
            continue

        def cell(test, f, fmt):
            v = t[test]["median"][f]
            if v is None:
                return "-"
            c = fmt % v
            rt = t[test].get("vs_stunnel", {}).get(f)
            return c + (f" ({rt:.2f}x)" if rt is not None else "")
        ver = res[s]["verify"]
        rows.append([s, cell("bulk", "gbps", "%.2f"), cell("bulk", "cpu_s_per_gb", "%.2f"),
                     cell("rps", "rps", "%.0f"), cell("rps", "p50_ms", "%.2f"),
                     cell("first", "ms", "%.1f"), cell("first", "rtts", "%.2f"),
                     "-" if not ver else ("equal" if ver["sha256_equal"] else "DIFFERS")])
    print_table(heads, rows)
    for s in systems:
        if res[s]["status"] != "ok":
            print(f"{s}: {res[s]['status']}")
        elif res[s].get("errors"):
            print(f"{s}: {len(res[s]['errors'])} error(s), first: {res[s]['errors'][0]}")
    ping = doc["settings"]["link_rtt_ms_ping"]
    print(f"link for the first-request test: {delay} ms each way (RTT {2 * delay} ms configured"
          + (f", {ping:.1f} ms measured with UDP echoes)" if ping else ", not measured)"))
    for nt in notes:
        if nt.startswith(("background", "time budget")):
            print("note: " + nt)
    print(f"results: {out_path}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
