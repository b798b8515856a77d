"""Helpers shared by perf/report.py, report-udp.py and report-tunnel.py."""
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
