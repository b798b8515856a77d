#!/usr/bin/python3
"""Fast path: half-close in each direction. The FIN is passed on only after every
redirected byte reached the other socket; the other direction keeps flowing:
test_tcp_half_close.py with fastpath = true, plus its fast-path checks."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kfwdtest import run  # noqa: E402
import test_tcp_half_close  # noqa: E402

run(lambda: test_tcp_half_close.main(fastpath=True))
