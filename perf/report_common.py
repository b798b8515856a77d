"""Helpers shared by perf/report.py, report-udp.py, report-tunnel.py and report-connect.py."""
import json
import os
import statistics


def sig(x, n=4):
    """x to n significant digits if it is a float; anything else unchanged."""
    return float(f"{x:.{n}g}") if isinstance(x, float) else x


def median(vals):
    """Median of the values that are not None; None if there are none."""
    v = [x for x in vals if x is not None]
    return statistics.median(v) if v else None


def lines(name):
    """Non-blank lines of environment variable name (the M_* run description)."""
    return [x for x in os.environ.get(name, "").splitlines() if x.strip()]


def kv(name):
    """KEY=VALUE lines of environment variable name as a dict."""
    return dict(x.split("=", 1) for x in lines(name) if "=" in x)


def load_run(raw_path):
    """The run as the script recorded it: (systems, rounds, status per system,
    background busy % per round, and the other records of those systems)."""
    systems = os.environ["M_SYSTEMS"].split()
    n = int(os.environ["M_ROUNDS"])
    bg, recs = [None] * n, []
    with open(raw_path) as f:
        for line in f:
            if not line.strip():
                continue
            rec = json.loads(line)
            if rec.get("t") == "bg":
                bg[rec["r"]] = rec["v"]["busy_pct"]
            elif rec["s"] in systems:
                recs.append(rec)
    return systems, n, kv("M_STATUS"), bg, recs


def bg_note(bg):
    """The note on background load from each round's reading (None: not measured)."""
    v = [b for b in bg if b is not None]
    if not v:
        return None
    return ("background CPU busy before each round (1 s, % of all cores, nothing of the benchmark "
            f"running): {v}" + ("; other load was present, so the figures are noisy" if max(v) > 5 else ""))


def _first(path, prefix, sep):
    """The value of the first line of path starting with prefix ("" if none)."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(prefix):
                    return line.split(sep, 1)[1].strip()
    except OSError:
        pass
    return ""


def machine():
    """The machine the run is on: kernel, usable CPUs (as nproc counts them),
    CPU model, memory and OS, read here rather than passed in by the script."""
    mem = _first("/proc/meminfo", "MemTotal:", ":").split()
    return {"kernel": os.uname().release, "nproc": len(os.sched_getaffinity(0)),
            "cpu": _first("/proc/cpuinfo", "model name", ":"),
            "mem_total_kib": int(mem[0]) if mem else 0,
            "os": _first("/etc/os-release", "PRETTY_NAME=", "=").strip('"')}


def doc_head(benchmark):
    """The fields every results JSON starts with, from the M_* run description."""
    env = os.environ
    return {
        "benchmark": benchmark,
        "date": env["M_START"][:10],
        "started": env["M_START"],
        "duration_s": int(env["M_DUR"]),
        "command": env["M_CMD"],
        "quick": env["M_QUICK"] == "1",
        "machine": machine(),
        "versions": kv("M_VERSIONS"),
    }


def write_json(doc, out_path):
    """doc into out_path, replaced whole (a reader never sees half a file)."""
    tmp = out_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    os.replace(tmp, out_path)


def print_table(heads, rows, left=1):
    """heads and rows (lists of strings) aligned: the first `left` columns to the left."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(heads)]

    def line(cells):
        return "  ".join(c.ljust(widths[i]) if i < left else c.rjust(widths[i]) for i, c in enumerate(cells))

    print(line(heads))
    print("  ".join("-" * x for x in widths))
    for row in rows:
        print(line(row))
