"""Which answers tell that Docker Hub has banned a proxy's IP address.

scrapy-rotating-proxies asks a ban policy about every answer and every
failed download of a request it sent through a proxy.  True marks the proxy
dead for a while and sends the request again through another one; False
marks the proxy good; None leaves it as it was.  The plugin's own policy
calls every status but 200, 301 and 302 a ban, which on Docker Hub would
bury a healthy proxy for each missing repository (404), each registry token
challenge (401) and each search read past its last page (403).

How a 403 is told apart: Docker Hub answers a search page past the end with
its usual JSON error (``{"message": ..., "errinfo": {}}``) and nothing else.
A limiter or a web application firewall leaves traces: a ``Retry-After``
or ``X-RateLimit-Remaining: 0`` header, Cloudflare's ``cf-mitigated``
header, or a body that speaks of a rate limit, too many requests, access
denied, a block or a captcha.  A 403 is a ban only with such a trace; a 403
without one costs no proxy, since wrongly burying a healthy proxy at the end
of every search would soon bury them all.
"""

from __future__ import annotations

import re
from typing import ClassVar

from scrapy import Request
from scrapy.core.downloader.handlers.http11 import TunnelError
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    ResponseDataLossError,
)
from scrapy.http import Response
from twisted.internet.error import ConnectError, ConnectionClosed, DNSLookupError
from twisted.web.client import ResponseFailed

# Only the start of a body is searched: a limiter's page is short, and a
# large JSON answer must not be scanned whole on every 403.
BODY_PREFIX = 4096

_LIMITER_WORDS = re.compile(
    rb"rate[ _-]?limit|too[ _-]?many[ _-]?requests|access[ _-]denied"
    rb"|\bblocked\b|captcha",
    re.IGNORECASE,
)


class HubBanPolicy:
    """Ban rules for Docker Hub's Hub API, registry and token service."""

    #: Statuses that always mean this IP address may not go on: Docker Hub's
    #: per-minute limit and abuse limit (both 429), and a proxy that refuses
    #: our credentials (407), which another proxy may accept.
    BAN_STATUSES: ClassVar[frozenset[int]] = frozenset({407, 429})

    #: Failures of the connection to the proxy itself.  Through an HTTP
    #: proxy every connection goes to the proxy, so these say the proxy is
    #: down or overloaded, not Docker Hub.
    BAN_EXCEPTIONS: ClassVar[tuple[type[BaseException], ...]] = (
        CannotResolveHostError,
        ConnectError,  # refused, timed out while connecting, and the like
        ConnectionClosed,
        DNSLookupError,
        DownloadConnectionRefusedError,
        DownloadFailedError,
        DownloadTimeoutError,
        ResponseDataLossError,
        ResponseFailed,
        TunnelError,
    )

    def response_is_ban(self, request: Request, response: Response) -> bool | None:
        status = response.status
        if status in self.BAN_STATUSES:
            return True
        if status == 403:
            return is_limiter_refusal(response)
        if status >= 500:
            # A server error says nothing about the proxy either way; the
            # retry middleware deals with it.
            return None
        # Any other answer, 404 and 401 included, came from Docker Hub
        # through the proxy, which therefore works.
        return False

    def exception_is_ban(
        self, request: Request, exception: BaseException
    ) -> bool | None:
        if isinstance(exception, self.BAN_EXCEPTIONS):
            return True
        return None


def is_limiter_refusal(response: Response) -> bool:
    """Whether a 403 carries the trace of a rate limiter or firewall."""
    headers = response.headers
    if b"Retry-After" in headers or b"cf-mitigated" in headers:
        return True
    remaining = headers.get(b"X-RateLimit-Remaining")
    if remaining is not None and remaining.strip() == b"0":
        return True
    return _LIMITER_WORDS.search(response.body[:BODY_PREFIX]) is not None
