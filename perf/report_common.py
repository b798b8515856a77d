"""Helpers shared by perf/report.py, report-udp.py, report-tunnel.py and report-connect.py."""
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


def bg_note(bg):
    """The note on background load from each round's reading (None: not measured)."""
    v = [b for b in bg if b is not None]
    if not v:
        return None
    return ("background CPU busy before each round (1 s, % of all cores, nothing of the benchmark "
            f"running): {v}" + ("; other load was present, so the figures are noisy" if max(v) > 5 else ""))


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
        "machine": {"kernel": env["M_KERNEL"], "nproc": int(env["M_NPROC"]), "cpu": env["M_CPU"],
                    "mem_total_kib": int(env["M_MEM"]), "os": env["M_OS"]},
        "versions": kv("M_VERSIONS"),
    }


def print_table(heads, rows, left=1):
    """heads and rows (lists of strings) aligned: the first `left` columns to the left."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(heads)]

    def line(cells):
        return "  ".join(c.ljust(widths[i]) if i < left else c.rjust(widths[i]) for i, c in enumerate(cells))

    print(line(heads))
    print("  ".join("-" * x for x in widths))
    for row in rows:
        print(line(row))
