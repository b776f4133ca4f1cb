"""What the stand-in servers have in common: how they listen, answer and run.

Every stand-in is a :class:`StandInServer` that knows its own URL, answers
through :meth:`StandInHandler.respond`, and is run by :func:`serve`, which
prints the ``listening on URL`` line :class:`standin.process.StandIn` waits
for.
"""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType


class StandInServer(ThreadingHTTPServer):
    """A threaded HTTP server whose threads never keep the process alive."""

    daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class StandInHandler(BaseHTTPRequestHandler):
    """A request handler that answers with a Content-Length every time."""

    # HTTP/1.1 with a Content-Length on every answer keeps connections open
    # between requests, as the real services and proxies do; benchmarks
    # depend on it.
    protocol_version = "HTTP/1.1"

    def respond(
        self,
        status: int,
        body: bytes = b"",
        headers: Iterable[tuple[str, str]] = (),
        *,
        content_type: str | None = "application/json",
        head: bool = False,
    ) -> None:
        """Send one answer; for a HEAD request, ``body`` only sets the length."""
        self.send_response(status)
        if content_type is not None:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if body and not head:
            self.wfile.write(body)

    def respond_json(
        self,
        status: int,
        document: object,
        headers: Iterable[tuple[str, str]] = (),
        *,
        head: bool = False,
    ) -> None:
        self.respond(status, json.dumps(document).encode(), headers, head=head)


def serve(server: StandInServer, **others: StandInServer) -> None:
    """Announce the servers' URLs on stdout and serve until stopped.

    ``server`` is announced as ``listening on URL`` and runs in this thread;
    each of ``others`` is announced as ``NAME on URL`` and runs in its own.
    Ctrl-C and SIGTERM both stop ``server`` with its socket closed; the
    others' threads end with the process.
    """
    signal.signal(signal.SIGTERM, _exit)
    for other in others.values():
        threading.Thread(target=other.serve_forever, daemon=True).start()
    print(f"listening on {server.url}", flush=True)
    for name, other in others.items():
        print(f"{name} on {other.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def _exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)
