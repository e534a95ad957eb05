"""What the loopback stand-ins share."""

from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class QuietServer(ThreadingHTTPServer):
    """A client that gave up (a timeout under test) is expected here, not an error to print."""

    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


class LoopbackStub:
    """A stand-in HTTP server on 127.0.0.1 and a free port, served from a thread.

    Subclasses pass their handler class and keep `release` for stalled requests.
    """

    def __init__(self, handler: type[BaseHTTPRequestHandler]):
        self.release = threading.Event()  # set() to let stalled requests finish
        self.server = QuietServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self):
        self.thread.start()
        return self

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
