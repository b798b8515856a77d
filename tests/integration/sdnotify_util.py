"""The receiving end of sd_notify, for the systemd tests (test_sdnotify.py,
test_tunnel_sdnotify.py)."""
import os
import socket
import threading

from kfwdtest import wait_for


class Notify:
    """Every assignment kfwd sends, in arrival order. A thread reads all the
    time, as systemd does: a unix datagram socket queues only
    net.unix.max_dgram_qlen (10) messages, then the sender blocks."""

    def __init__(self, t, name="notify.sock"):
        self.path = os.path.join(t.tmpdir, name)
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.s.bind(self.path)
        self.s.settimeout(0.1)
        t.sockets.append(self.s)
        self.msgs = []
        self.lock = threading.Lock()
        threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self):
        while True:
            try:
                data = self.s.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return  # closed at teardown
            with self.lock:
                self.msgs.extend(l for l in data.decode().split("\n") if l)

    def drain(self):
        with self.lock:
            return list(self.msgs)

    def wait(self, pred, what, timeout=15):
        return wait_for(lambda: next((m for m in self.drain() if pred(m)), None), timeout, what)
