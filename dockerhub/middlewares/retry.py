"""Retry what usually succeeds a little later, after an exponential backoff.

Takes the place of Scrapy's RetryMiddleware and reads the same settings:
``RETRY_ENABLED``, ``RETRY_TIMES``, ``RETRY_HTTP_CODES`` (5xx and 408),
``RETRY_EXCEPTIONS`` (timeouts, refused and reset connections, cut-off
bodies), ``RETRY_PRIORITY_ADJUST``, and the ``dont_retry``,
``max_retry_times`` and ``retry_times`` request meta keys.  It also retries
a 200 answer of the Hub API whose JSON body does not parse: the Hub
sometimes sends a cut-off body, and a second try gives the whole of it.

429 is not this middleware's: HubRateLimitMiddleware waits for the rate
limit and sends those requests back without using up their retries.
"""

from __future__ import annotations

import logging
import random
import time
from typing import TYPE_CHECKING, Self
from urllib.parse import urlsplit

from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    NotConfigured,
    ResponseDataLossError,
)
from scrapy.utils.asyncio import sleep
from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.misc import load_object
from twisted.internet import error as twisted_errors

from dockerhub import meta as meta_keys
from dockerhub import ratelimits
from dockerhub.config import get_bool, get_float, get_int, get_url
from dockerhub.exceptions import SettingError
from dockerhub.parsing import hub

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Request, Response
    from scrapy.statscollectors import StatsCollector

logger = logging.getLogger(__name__)

# Hosts that answer for the Hub API besides DOCKERHUB_HUB_URL's own: the
# Hub's ``next`` links may name the second one.
HUB_API_HOSTS = frozenset({"hub.docker.com", "registry.hub.docker.com"})

# Reasons of retry, named in stats and logs, for the usual exceptions.
# Scrapy's download handlers turn Twisted's timeout, refusal, DNS and broken
# response errors into its own exceptions; the Twisted ones left are those
# that RETRY_EXCEPTIONS names.
_EXCEPTION_REASONS: tuple[tuple[tuple[type[BaseException], ...], str], ...] = (
    ((DownloadTimeoutError, twisted_errors.TCPTimedOutError), "timeout"),
    ((DownloadConnectionRefusedError, ConnectionRefusedError), "connection_refused"),
    ((CannotResolveHostError,), "dns"),
    (
        (
            # The connection broke before the whole answer came.
            DownloadFailedError,
            ResponseDataLossError,
            twisted_errors.ConnectionLost,
            twisted_errors.ConnectionDone,
            ConnectionError,
        ),
        "connection_lost",
    ),
)


class HubRetryMiddleware:
    def __init__(
        self,
        crawler: Crawler,
        *,
        max_retry_times: int,
        http_codes: frozenset[int],
        exceptions: tuple[type[BaseException], ...],
        priority_adjust: int,
        backoff_base: float,
        backoff_max: float,
        hub_netloc: str,
    ) -> None:
        self.crawler = crawler
        self.max_retry_times = max_retry_times
        self.http_codes = http_codes
        self.exceptions = exceptions
        self.priority_adjust = priority_adjust
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.hub_netloc = hub_netloc

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        settings = crawler.settings
        if not get_bool(settings, "RETRY_ENABLED"):
            raise NotConfigured("RETRY_ENABLED is off")
        return cls(
            crawler,
            max_retry_times=get_int(settings, "RETRY_TIMES", minimum=0),
            http_codes=_http_codes(settings.getlist("RETRY_HTTP_CODES")),
            exceptions=tuple(
                load_object(path) if isinstance(path, str) else path
                for path in settings.getlist("RETRY_EXCEPTIONS")
            ),
            priority_adjust=get_int(settings, "RETRY_PRIORITY_ADJUST"),
            backoff_base=get_float(settings, "DOCKERHUB_RETRY_BACKOFF_BASE"),
            backoff_max=get_float(settings, "DOCKERHUB_RETRY_BACKOFF_MAX"),
            hub_netloc=urlsplit(get_url(settings, "DOCKERHUB_HUB_URL")).netloc,
        )

    @property
    def stats(self) -> StatsCollector:
        assert self.crawler.stats is not None
        return self.crawler.stats

    async def process_response(
        self, request: Request, response: Response
    ) -> Request | Response:
        if request.meta.get("dont_retry", False):
            return response
        if response.status in self.http_codes:
            retry_after = ratelimits.parse_retry_after(
                response.headers.get(b"Retry-After"), time.time()
            )
            again = await self.retry(request, f"http_{response.status}", retry_after)
            return again or response
        if response.status == 200 and self.is_broken_hub_json(request, response):
            return await self.retry(request, "bad_json") or response
        return response

    async def process_exception(
        self, request: Request, exception: Exception
    ) -> Request | None:
        if request.meta.get("dont_retry", False) or not isinstance(
            exception, self.exceptions
        ):
            return None
        return await self.retry(request, exception_reason(exception))

    def is_broken_hub_json(self, request: Request, response: Response) -> bool:
        """Whether ``response`` is a Hub API JSON answer that does not parse."""
        url = urlparse_cached(response)
        if url.netloc != self.hub_netloc and url.hostname not in HUB_API_HOSTS:
            return False
        content_type = response.headers.get(b"Content-Type") or b""
        media_type = content_type.split(b";", 1)[0].strip().lower()
        if media_type != b"application/json" and not media_type.endswith(b"+json"):
            return False
        # Reading the body with the spiders' own loader keeps one definition
        # of a readable Hub answer; the result is handed on to the spider,
        # which would otherwise parse the same body again.
        try:
            data = hub.load_json(response.body)
        except hub.HubFormatError:
            return True
        request.meta[meta_keys.PARSED_JSON] = (data,)
        return False

    async def retry(
        self, request: Request, reason: str, retry_after: float | None = None
    ) -> Request | None:
        """A copy of ``request`` to send again after the backoff, or None."""
        attempt = request.meta.get("retry_times", 0) + 1
        allowed = request.meta.get("max_retry_times", self.max_retry_times)
        if attempt > allowed:
            logger.error(
                "Gave up on %(url)s after %(tries)d tries: %(reason)s",
                {"url": request.url, "tries": attempt, "reason": reason},
            )
            request.meta[meta_keys.GAVE_UP] = reason
            self.stats.inc_value("dockerhub/retry/gave_up")
            self.stats.inc_value(f"dockerhub/retry/gave_up/{reason}")
            return None
        delay = ratelimits.backoff_delay(
            attempt, self.backoff_base, self.backoff_max, random.random()
        )
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.backoff_max))
        logger.debug(
            "Retrying %(url)s in %(delay).2f s (retry %(attempt)d of %(allowed)d): "
            "%(reason)s",
            {
                "url": request.url,
                "delay": delay,
                "attempt": attempt,
                "allowed": allowed,
                "reason": reason,
            },
        )
        self.stats.inc_value("dockerhub/retry/count")
        self.stats.inc_value(f"dockerhub/retry/reason/{reason}")
        total = self.stats.get_value("dockerhub/retry/backoff_seconds", 0.0)
        self.stats.set_value("dockerhub/retry/backoff_seconds", round(total + delay, 3))
        # The wait is a timer awaited here, not a longer delay of the
        # download slot: the slot's delay would hold every request to the
        # host, while one failed answer says little about the others.  This
        # request alone waits, yet it still counts among the downloader's
        # active requests, so the spider is not closed as idle meanwhile,
        # and when failures are everywhere, requests waiting here take up
        # CONCURRENT_REQUESTS and slow the whole crawl down by themselves.
        # Known shortcoming: a graceful stop (one Ctrl-C) waits for the
        # backoff under way, up to DOCKERHUB_RETRY_BACKOFF_MAX.
        await sleep(delay)
        again = request.replace(
            dont_filter=True, priority=request.priority + self.priority_adjust
        )
        again.meta["retry_times"] = attempt
        return again


def exception_reason(exception: BaseException) -> str:
    """A short name for a download failure, for stats and logs."""
    for kinds, reason in _EXCEPTION_REASONS:
        if isinstance(exception, kinds):
            return reason
    return type(exception).__name__


def _http_codes(raw: list[str]) -> frozenset[int]:
    try:
        return frozenset(int(code) for code in raw)
    except (TypeError, ValueError) as exc:
        raise SettingError(
            "RETRY_HTTP_CODES", raw, "a list of HTTP status codes"
        ) from exc
