#!/usr/bin/env python3
"""perf/report-udp.py: report of perf/run-udp.sh (not meant to be run alone).

  report-udp.py RAW OUT    medians, table (stdout), OUT json

Reads the run description from M_* environment variables set by run-udp.sh.
"""
import os
import sys

from report_common import bg_note, doc_head, lines, load_run, median, print_table, sig, write_json

BASE = "nginx"  # ratios are to this system
FIELDS = ["pps", "cpu_s_per_mpkt", "sent_pps", "loss_pct", "cpu_busy_pct", "kfwd_xdp_pps", "kfwd_xdp_pkts",
          "kfwd_socket_pkts", "received", "sent", "send_errors"]
DESCRIPTIONS = {
    "pps": "datagrams delivered at the sink (udpgen sink, recvmmsg) per second of sending",
    "cpu_s_per_mpkt": "CPU-seconds of the whole machine (all cores: user+nice+system+irq+softirq+steal, "
    "/proc/stat delta over the sending phase; generator, forwarder, sink and anything else) "
    "per million delivered datagrams",
    "sent_pps": "datagrams the generator's sendmmsg(2) calls accepted per second",
    "loss_pct": "(sent - delivered) / sent: dropped somewhere (veth backlog, socket queues, forwarder)",
    "cpu_busy_pct": "busy share of all cores during the sending phase",
    "kfwd_xdp_pps": "kfwd only: client->backend datagrams its XDP program forwarded per second of sending "
    "(more than pps when datagrams are lost after the forwarder: backend veth ring, sink socket)",
    "kfwd_xdp_pkts": "kfwd only: client->backend datagrams its XDP program forwarded during the test",
    "kfwd_socket_pkts": "kfwd only: client->backend datagrams its sockets received during the test",
}


def main(raw_path, out_path):
    env = os.environ
    systems, n, status, bg, recs = load_run(raw_path)
    sizes = [int(z) for z in env["M_SIZES"].split()]
    res = {}
    for s in systems:
        res[s] = {"status": status.get(s) or "", "sizes": {}, "errors": []}
        for z in sizes:
            res[s]["sizes"][str(z)] = {"rounds": {f: [None] * n for f in FIELDS}}
    for rec in recs:
        s, z, r = rec["s"], str(rec["size"]), rec["r"]
        if z not in res[s]["sizes"]:
            continue
        if not rec["ok"]:
            res[s]["errors"].append(f"round {r + 1} {z} B: {rec['err']}")
            continue
        for f in FIELDS:
            res[s]["sizes"][z]["rounds"][f][r] = rec["v"].get(f)
    for s in systems:
        R = res[s]
        has = any(v is not None for zz in R["sizes"].values() for v in zz["rounds"]["pps"])
        if not R["status"]:
            R["status"] = "ok" if has else ("failed: " + R["errors"][0] if R["errors"] else "failed: not run")
        if R["status"] != "ok":
            del R["sizes"]
            continue
        for zz in R["sizes"].values():
            zz["median"] = {f: median(zz["rounds"][f]) for f in FIELDS}
    base = res.get(BASE, {}).get("sizes")
    for s in systems:
        if "sizes" not in res[s]:
            continue
        for z, zz in res[s]["sizes"].items():
            m = zz["median"]
            if base and base[z]["median"]["pps"]:
                b = base[z]["median"]
                zz["vs_nginx"] = {k: (sig(m[k] / b[k], 3) if m[k] is not None and b[k] else None)
                                  for k in ("pps", "cpu_s_per_mpkt")}
            zz["median"] = {k: sig(v) for k, v in m.items()}
            zz["rounds"] = {k: [sig(v) for v in vals] for k, vals in zz["rounds"].items()}
        if not res[s]["errors"]:
            del res[s]["errors"]

    head = doc_head("udp")
    nproc = head["machine"]["nproc"]
    notes = lines("M_NOTES")
    if bg_note(bg):
        notes.append(bg_note(bg))
    notes += [
        f"{nproc} cores shared by the generator ({env['M_GEN_THREADS']} thread(s) busy-looping on "
        "sendmmsg; the kernel's transmit, veth and, for XDP, the forwarding itself run in their "
        "context), the forwarder and the sink (1 thread): the machine is saturated, so delivered "
        "pps mostly reflects the cost per packet of the whole path",
        "one-way traffic after a one-datagram warm-up echo per flow; veths with TX checksum offload "
        "off and GRO on at client and backend, IPv4 forwarding on in gw, for every system",
    ]
    w = env["M_WORKERS"]
    doc = {
        **head,
        "settings": {"rounds": n, "seconds_per_test": int(env["M_SECS"]), "payload_sizes": sizes,
                     "flows": int(env["M_FLOWS"]), "sendmmsg_batch": int(env["M_BATCH"]),
                     "generator_threads": int(env["M_GEN_THREADS"]),
                     "workers": int(w), "sink_threads": 1},
        "topology": "client ns veth0 10.79.1.2 -- vc 10.79.1.1 gw ns vb 10.79.2.1 -- veth0 10.79.2.2 backend ns; "
                    "system listens on 10.79.1.1:5000/udp, sink on 10.79.2.2:6000",
        "peer_settings": {
            "kfwd-xdp": f"workers = {w}, interfaces = (vc, vb), xdp_forward = true, one udp listener",
            "kfwd-userspace": f"workers = {w}, the same listener, no interfaces",
            "nginx": f"stream module, worker_processes {w}, listen udp reuseport, proxy_timeout 30s, "
                     "proxy_responses unset (unlimited: one session per flow), access_log off",
        },
        "metrics": DESCRIPTIONS,
        "round_order": [o.split() for o in lines("M_ORDERS")],
        "notes": notes,
        "systems": res,
    }
    write_json(doc, out_path)

    print()
    print(f"kfwd UDP benchmark, namespaces + veth, {nproc} cores, {env['M_FLOWS']} flows, "
          f"{env['M_SECS']} s per test, median of {n} round(s); (x) = ratio to nginx")
    heads = ["system", "payload", "delivered kpps", "CPU-s/Mpkt", "sent kpps", "loss %", "XDP-fwd kpps"]
    rows = []
    for z in sizes:
        for s in systems:
            zz = res[s].get("sizes", {}).get(str(z))
            if not zz:
                continue
            m, rt = zz["median"], zz.get("vs_nginx", {})

            def cell(v, key, f):
                if v is None:
                    return "-"
                c = f % v
                if s != BASE and rt.get(key) is not None:
                    c += f" ({rt[key]:.2f}x)"
                return c
            rows.append([s, f"{z} B", cell(m["pps"] and m["pps"] / 1e3, "pps", "%.0f"),
                         cell(m["cpu_s_per_mpkt"], "cpu_s_per_mpkt", "%.2f"),
                         "-" if m["sent_pps"] is None else "%.0f" % (m["sent_pps"] / 1e3),
                         "-" if m["loss_pct"] is None else "%.1f" % m["loss_pct"],
                         "%.0f" % (m["kfwd_xdp_pps"] / 1e3) if m["kfwd_xdp_pps"] else "-"])
    print_table(heads, rows, left=2)
    for s in systems:
        if res[s]["status"] != "ok":
            print(f"{s}: {res[s]['status']}")
        elif res[s].get("errors"):
            print(f"{s}: {len(res[s]['errors'])} error(s), first: {res[s]['errors'][0]}")
    for nt in notes:
        if nt.startswith(("background", "time budget")) or "failed to start" in nt:
            print("note: " + nt)
    print(f"results: {out_path}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
