#!/usr/bin/python3
"""Fast path: RST passes through kfwd both ways and is counted (backend_reset,
client_reset): test_tcp_reset.py with fastpath = true, plus its fast-path checks."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kfwdtest import run  # noqa: E402
import test_tcp_reset  # noqa: E402

run(lambda: test_tcp_reset.main(fastpath=True))
