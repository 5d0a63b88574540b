"""Is the network there? A bounded check, so offline downloads fail fast instead of hanging."""

from __future__ import annotations

import socket
import threading


def reachable(host: str, port: int = 443, timeout: float = 5.0) -> bool:
    """Can a TCP connection to ``host`` be opened within ``timeout`` s (name lookup included)?"""
    ok = []

    def probe():
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            ok.append(True)
        except OSError:
            pass

    thread = threading.Thread(target=probe, daemon=True)  # name lookup ignores socket timeouts
    thread.start()
    thread.join(timeout)
    return bool(ok)
