"""A small HTTP forward proxy for tests of proxy rotation.

Scrapy sends a request for a plain ``http://`` URL to a proxy as
``GET http://host:port/path HTTP/1.1``; this server forwards such
absolute-URI GET and HEAD requests to their target and relays the answer.
It does not tunnel (no ``CONNECT``), so it serves plain-http stand-ins only.

Options imitate what a crawler meets with real proxies:

- ``--user USER:PASSWORD`` requires ``Proxy-Authorization: Basic ...`` and
  answers 407 without it;
- ``--ban-after N`` forwards N requests and then answers every later one
  itself, as Docker Hub answers an IP address it has banned: a bare 429, or
  with ``--ban-status 403`` an HTML "access denied" page like a web
  application firewall's.

A request with a plain path is for the proxy itself: ``GET /_standin/stats``
tells how many requests it received, per target and per status.

Run ``python -m standin.proxy --port 0``; once it accepts connections it
prints one line, ``listening on http://HOST:PORT``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import http.client
import json
import sys
import threading
from collections import Counter
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from .http import StandInHandler, StandInServer, serve

UPSTREAM_TIMEOUT = 30.0

# Headers that describe one connection, not the message; a proxy must not
# pass them on (RFC 9110, section 7.6.1).
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)

BAN_PAGES = {
    # Docker Hub's abuse limit answers a bare 429.
    429: (None, b""),
    403: (
        "text/html; charset=utf-8",
        b"<html><head><title>Access denied</title></head>"
        b"<body><h1>Access denied</h1><p>You have been blocked.</p></body></html>",
    ),
}


class ProxyState:
    """Counters shared by the handler threads, behind one lock."""

    def __init__(self, ban_after: int | None) -> None:
        self._lock = threading.Lock()
        self._ban_after = ban_after
        self._admitted = 0
        self.by_target: Counter[str] = Counter()
        self.by_status: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()

    def admit(self, target: str) -> bool:
        """Count a request to ``target``; False once the ban has begun."""
        with self._lock:
            self.by_target[target] += 1
            if self._ban_after is not None and self._admitted >= self._ban_after:
                self.refused["banned"] += 1
                return False
            self._admitted += 1
            return True

    def refuse_auth(self, target: str) -> None:
        with self._lock:
            self.by_target[target] += 1
            self.refused["auth"] += 1

    def answered(self, status: int) -> None:
        with self._lock:
            self.by_status[str(status)] += 1

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": sum(self.by_target.values()),
                "forwarded": self._admitted,
                "by_target": dict(self.by_target),
                "by_status": dict(self.by_status),
                "refused": {
                    "auth": self.refused["auth"],
                    "banned": self.refused["banned"],
                },
            }


class ProxyServer(StandInServer):
    """The listening socket; it carries the options and counters."""

    def __init__(
        self,
        address: tuple[str, int],
        credentials: str | None,
        ban_after: int | None,
        ban_status: int,
        verbose: bool,
    ) -> None:
        super().__init__(address, ProxyHandler)
        self.credentials = None if credentials is None else credentials.encode()
        self.ban_status = ban_status
        self.verbose = verbose
        self.state = ProxyState(ban_after)


class ProxyHandler(StandInHandler):
    """Forwards one client connection's requests, one at a time."""

    disable_nagle_algorithm = True
    server_version = "standin-proxy"
    server: ProxyServer

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_CONNECT(self) -> None:
        self._reply(501, b"CONNECT is not supported: plain http only\n")

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def _dispatch(self, method: str) -> None:
        try:
            target = urlsplit(self.path)
            if not target.scheme:
                self._serve_own(method, target.path)
            elif target.scheme != "http" or not target.netloc:
                self._reply(501, b"only absolute http:// URLs are forwarded\n")
            else:
                self._serve_proxied(method, target.netloc)
        except (BrokenPipeError, ConnectionResetError):
            # The crawler hung up first; nobody is left to answer.
            self.close_connection = True

    def _serve_own(self, method: str, path: str) -> None:
        if method == "GET" and path == "/_standin/stats":
            body = json.dumps(self.server.state.describe()).encode()
            self._reply(200, body, content_type="application/json")
        else:
            self._reply(404, b"not a proxy request and no such control path\n")

    def _serve_proxied(self, method: str, netloc: str) -> None:
        state = self.server.state
        if not self._authorized():
            state.refuse_auth(netloc)
            self._reply(
                407,
                b"proxy authentication required\n",
                headers=[("Proxy-Authenticate", 'Basic realm="standin-proxy"')],
            )
            return
        if not state.admit(netloc):
            content_type, body = BAN_PAGES[self.server.ban_status]
            self._reply(self.server.ban_status, body, content_type=content_type)
            return
        self._forward(method, netloc)

    def _authorized(self) -> bool:
        wanted = self.server.credentials
        if wanted is None:
            return True
        scheme, _, encoded = self.headers.get("Proxy-Authorization", "").partition(" ")
        try:
            given = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        # The scheme name is case-insensitive (RFC 9110, section 11.1).
        return scheme.lower() == "basic" and given == wanted

    def _forward(self, method: str, netloc: str) -> None:
        target = urlsplit(self.path)
        path = target.path or "/"
        if target.query:
            path += "?" + target.query
        dropped = HOP_BY_HOP | _listed_in_connection(self.headers.get_all("Connection"))
        headers = {
            name: value
            for name, value in self.headers.items()
            if name.lower() not in dropped
        }
        upstream = http.client.HTTPConnection(netloc, timeout=UPSTREAM_TIMEOUT)
        try:
            upstream.request(method, path, headers=headers)
            answer = upstream.getresponse()
            body = answer.read()
        except (OSError, http.client.HTTPException) as exc:
            message = f"upstream {netloc} failed: {type(exc).__name__}\n"
            self._reply(502, message.encode())
            return
        finally:
            upstream.close()
        # send_response() writes its own Server and Date; the length is
        # recomputed, since the body may have come chunked.
        relayed = [
            (name, value)
            for name, value in answer.getheaders()
            if name.lower() not in HOP_BY_HOP | {"content-length", "server", "date"}
        ]
        length = answer.getheader("Content-Length") if method == "HEAD" else None
        self._reply(
            answer.status, body, content_type=None, headers=relayed, length=length
        )

    def _reply(
        self,
        status: int,
        body: bytes,
        *,
        content_type: str | None = "text/plain; charset=utf-8",
        headers: Sequence[tuple[str, str]] = (),
        length: str | None = None,
    ) -> None:
        """Answer; ``length`` is the Content-Length of a HEAD's missing body."""
        self.server.state.answered(status)
        self.send_response(status)
        if content_type is not None and body:
            self.send_header("Content-Type", content_type)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", length or str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)


def _listed_in_connection(values: list[str] | None) -> frozenset[str]:
    """Header names that ``Connection`` marks as hop-by-hop for this message."""
    names = (
        name.strip().lower() for value in values or () for name in value.split(",")
    )
    return frozenset(name for name in names if name)


def _credentials(text: str) -> str:
    if ":" not in text or text.startswith(":"):
        raise argparse.ArgumentTypeError("expected USER:PASSWORD")
    return text


def _ban_status(text: str) -> int:
    status = int(text) if text.isdigit() else 0
    if status not in BAN_PAGES:
        raise argparse.ArgumentTypeError(f"expected one of {sorted(BAN_PAGES)}")
    return status


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m standin.proxy",
        description="A forward HTTP proxy for tests, with bans and credentials.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--user",
        type=_credentials,
        metavar="USER:PASSWORD",
        help="require these credentials in Proxy-Authorization",
    )
    parser.add_argument(
        "--ban-after",
        type=int,
        metavar="N",
        help="forward N requests, then answer every later one as banned",
    )
    parser.add_argument(
        "--ban-status",
        type=_ban_status,
        default=429,
        metavar="STATUS",
        help="the status of a banned answer: 429 (default) or 403",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    parser = build_parser()
    options = parser.parse_args(argv)
    if options.ban_after is not None and options.ban_after < 0:
        parser.error(f"--ban-after {options.ban_after}: must be >= 0")
    server = ProxyServer(
        (options.host, options.port),
        options.user,
        options.ban_after,
        options.ban_status,
        options.verbose,
    )
    serve(server)


if __name__ == "__main__":
    main(sys.argv[1:])
