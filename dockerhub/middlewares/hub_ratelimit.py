"""Pace requests by Docker Hub's rate-limit headers and sit out 429 answers.

The Hub counts each client IP's requests in fixed windows and reports the
budget on every answer.  This middleware spreads what is left of the budget
over what is left of the window by raising the download slot's delay, keeps
no more requests in flight than the budget has left by lowering the slot's
concurrency, pauses the slot until the reset once the budget is spent or a
429 arrives, and sends each 429'd request back to the scheduler.  A
rate-limited request is not broken, so it does not use up the retries of
``RETRY_TIMES``; it has its own cap, ``DOCKERHUB_RATELIMIT_MAX_RETRIES``, so
that a server that answers nothing but 429 still lets the crawl end.

The limit is per IP and every proxy is another IP, so what is known of a
budget is kept per proxy (``request.meta["proxy"]``, None when direct) and
download slot.  Scrapy can only hold back a whole slot: proxies that share
one slot also share its pauses; with one slot per proxy, as the rotating
proxy middlewares arrange, each proxy is paced on its own.  Those
middlewares see a proxied 429 first (they are numbered higher) and send the
request through another proxy; the pause of the proxy that got the 429
comes from the signal below all the same.

The slot's delay is never lowered below what it would be without this
middleware: ``DOWNLOAD_DELAY``, or AutoThrottle's latest value when
AutoThrottle is on.  The rate-limit floor is laid on top, so the larger of
the two wins.

Known shortcomings: two slots that reach one IP (the Hub's ``next`` links
may name registry.hub.docker.com besides hub.docker.com) are paced apart,
each counting only its own requests in flight, so near the end of a window
they can overdraw the budget they share by a few requests.  A graceful
stop (one Ctrl-C) waits for a pause under way.  (The registry's pull limit
is another account, kept by PullQuotaMiddleware.)
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Self

from scrapy import signals

from dockerhub import ratelimits
from dockerhub.config import get_float, get_int

if TYPE_CHECKING:
    from scrapy.core.downloader import Slot
    from scrapy.crawler import Crawler
    from scrapy.http import Request, Response
    from scrapy.statscollectors import StatsCollector

logger = logging.getLogger(__name__)

#: How many 429 answers a request has had so far.
RATE_LIMITED_META = "dockerhub_rate_limited"

# Pauses at least this long are announced at INFO, shorter ones at DEBUG.
LONG_PAUSE = 5.0
# Scrapy checks a slot's wait only when its delay is above zero, so a paused
# slot gets at least this much.
PAUSED_DELAY = 0.001


@dataclass
class _Budget:
    """What one proxy's answers on one slot tell of its rate limit."""

    #: The shortest delay between requests the budget allows.
    floor: float = 0.0
    #: The most requests the budget allows in flight; None before any answer.
    cap: int | None = None
    #: Until when (monotonic clock) no request may go out.
    paused_until: float = 0.0


@dataclass
class _SlotState:
    """The budgets of one download slot and the delay written to it."""

    #: The delay the slot would have without rate limits.
    base: float
    #: The delay this middleware wrote last; any other value was set by
    #: someone else (AutoThrottle) and becomes the new base.
    written: float
    #: The slot's own concurrency (CONCURRENT_REQUESTS_PER_DOMAIN or its
    #: DOWNLOAD_SLOTS entry); only this middleware changes it afterwards.
    concurrency: int
    budgets: dict[str | None, _Budget] = field(default_factory=dict)


class HubRateLimitMiddleware:
    def __init__(
        self, crawler: Crawler, *, reserve: int, default_pause: float, max_retries: int
    ) -> None:
        self.crawler = crawler
        self.reserve = reserve
        self.default_pause = default_pause
        self.max_retries = max_retries
        self.slots: dict[str, _SlotState] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        settings = crawler.settings
        middleware = cls(
            crawler,
            reserve=get_int(settings, "DOCKERHUB_RATELIMIT_RESERVE", minimum=0),
            default_pause=get_float(settings, "DOCKERHUB_RATELIMIT_DEFAULT_PAUSE"),
            max_retries=get_int(settings, "DOCKERHUB_RATELIMIT_MAX_RETRIES", minimum=0),
        )
        # process_response runs only after the slot has sent its next
        # request; this signal comes before, so pacing and pauses apply to
        # that very request.  Extensions are built before the downloader, so
        # AutoThrottle's handler has run by the time this one lays the floor.
        crawler.signals.connect(
            middleware.response_downloaded, signal=signals.response_downloaded
        )
        return middleware

    @property
    def stats(self) -> StatsCollector:
        assert self.crawler.stats is not None
        return self.crawler.stats

    # -- every answer -------------------------------------------------------

    def response_downloaded(self, response: Response, request: Request) -> None:
        slot_key: str | None = request.meta.get("download_slot")
        if slot_key is None:
            return
        slot = self.crawler.engine.downloader.slots.get(slot_key)
        if slot is None:
            return
        proxy: str | None = request.meta.get("proxy")
        headers = response.headers
        clock = ratelimits.server_clock(headers.get(b"Date"), time.time())
        budget = ratelimits.read_budget(
            headers.get(b"X-RateLimit-Limit"),
            headers.get(b"X-RateLimit-Remaining"),
            headers.get(b"X-RateLimit-Reset"),
            clock,
        )
        if budget is not None:
            self.stats.set_value("dockerhub/ratelimit/remaining", budget.remaining)
            if budget.limit is not None:
                self.stats.set_value("dockerhub/ratelimit/limit", budget.limit)
        target = _Target(slot_key, slot, proxy)
        if response.status == 429:
            self.sit_out_429(target, response, budget, clock)
        elif budget is not None:
            # The answer being handled is still counted among the transfers.
            in_flight = max(0, len(slot.transferring) - 1)
            self.pace(target, budget, in_flight)

    def pace(self, target: _Target, budget: ratelimits.Budget, in_flight: int) -> None:
        state = self.budget(target)
        state.cap = ratelimits.in_flight_cap(budget.remaining, self.reserve)
        if budget.reset_in is None:
            # Without a reset time the budget cannot be spread over the
            # window; it is spent, and the 429 at its end says how long to
            # wait.
            floor: float | None = 0.0
        else:
            floor = ratelimits.pacing_delay(
                budget.remaining, in_flight, self.reserve, budget.reset_in
            )
        if floor is None:
            assert budget.reset_in is not None
            self.pause(target, budget.reset_in, "the window's budget is spent")
            return
        if ratelimits.is_notable_change(state.floor, floor):
            logger.debug(
                "Pacing %(target)s at one request every %(delay).3f s: "
                "%(remaining)d requests left, reset in %(reset).1f s",
                {
                    "target": target,
                    "delay": floor,
                    "remaining": budget.remaining,
                    "reset": budget.reset_in or 0.0,
                },
            )
            self.stats.inc_value("dockerhub/ratelimit/pacing_changes")
        state.floor = floor
        self.stats.max_value("dockerhub/ratelimit/max_delay", round(floor, 3))
        self.apply(target)

    def sit_out_429(
        self,
        target: _Target,
        response: Response,
        budget: ratelimits.Budget | None,
        clock: float,
    ) -> None:
        self.stats.inc_value("dockerhub/ratelimit/429")
        retry_after = ratelimits.parse_retry_after(
            response.headers.get(b"Retry-After"), clock
        )
        reset_in = budget.reset_in if budget is not None else None
        if retry_after is None and reset_in is None:
            if b"ratelimit-limit" in response.headers:
                # The registry's pull limit: its window is hours long and
                # only manifest GETs count, so holding the slot would stall
                # blob downloads for nothing.  PullQuotaMiddleware stops the
                # GETs, the one sent again here included.
                logger.debug(
                    "%(target)s is out of pull quota; not pausing it",
                    {"target": target},
                )
                return
            self.stats.inc_value("dockerhub/ratelimit/429_without_headers")
        seconds = ratelimits.pause_after_429(retry_after, reset_in, self.default_pause)
        self.pause(target, seconds, "answered 429 Too Many Requests")

    # -- the slot -----------------------------------------------------------

    def pause(self, target: _Target, seconds: float, why: str) -> None:
        """Send nothing more through ``target`` for ``seconds``."""
        state = self.budget(target)
        now = time.monotonic()
        until = now + seconds
        # A reset already past needs no pause: the in-flight cap lets one
        # request through, and its answer shows the new window.
        if seconds <= 0 or until <= state.paused_until:
            return
        added = until - max(now, state.paused_until)
        total = self.stats.get_value("dockerhub/ratelimit/paused_seconds", 0.0)
        self.stats.set_value(
            "dockerhub/ratelimit/paused_seconds", round(total + added, 3)
        )
        if state.paused_until <= now:
            self.stats.inc_value("dockerhub/ratelimit/pauses")
            logger.log(
                logging.INFO if seconds >= LONG_PAUSE else logging.DEBUG,
                "Pausing requests to %(target)s for %(seconds).1f s: %(why)s",
                {"target": target, "seconds": seconds, "why": why},
            )
        state.paused_until = until
        self.apply(target)
        # Scrapy holds a slot's next request until its delay has passed since
        # ``lastseen``, the start of the previous one.  A ``lastseen`` in the
        # future holds the slot until then without a timer of our own; less
        # the shortest delay the jitter can draw, so none leaves before
        # ``until``.
        slot = target.slot
        shortest = slot.delay * (1.0 - min(slot.jitter, 1.0))
        slot.lastseen = max(slot.lastseen, until - shortest)

    def apply(self, target: _Target) -> None:
        """Write the slot's delay and concurrency from all its budgets.

        The delay is the slot's own base or the largest floor, if more; the
        concurrency is the slot's own or the smallest cap, if less.
        """
        slot = target.slot
        state = self.slots[target.slot_key]
        if slot.delay != state.written:
            state.base = slot.delay
        now = time.monotonic()
        budgets = state.budgets.values()
        floor = max(budget.floor for budget in budgets)
        paused = any(budget.paused_until > now for budget in budgets)
        delay = max(state.base, floor, PAUSED_DELAY if paused else 0.0)
        slot.delay = state.written = delay
        caps = [budget.cap for budget in budgets if budget.cap is not None]
        slot.concurrency = min([state.concurrency, *caps])

    def budget(self, target: _Target) -> _Budget:
        state = self.slots.get(target.slot_key)
        if state is None:
            slot = target.slot
            state = self.slots[target.slot_key] = _SlotState(
                base=slot.delay, written=slot.delay, concurrency=slot.concurrency
            )
        return state.budgets.setdefault(target.proxy, _Budget())

    # -- 429 answers --------------------------------------------------------

    def process_response(
        self, request: Request, response: Response
    ) -> Request | Response:
        if response.status != 429 or request.meta.get("dont_retry", False):
            return response
        count = request.meta.get(RATE_LIMITED_META, 0) + 1
        if count > self.max_retries:
            logger.warning(
                "Gave up on %(url)s: answered 429 %(count)d times "
                "(DOCKERHUB_RATELIMIT_MAX_RETRIES=%(cap)d)",
                {"url": request.url, "count": count, "cap": self.max_retries},
            )
            self.stats.inc_value("dockerhub/ratelimit/gave_up")
            return response
        logger.debug(
            "Rate limited on %(url)s; it waits for the pause (%(count)d of %(cap)d)",
            {"url": request.url, "count": count, "cap": self.max_retries},
        )
        self.stats.inc_value("dockerhub/ratelimit/rescheduled")
        again = request.replace(dont_filter=True)
        again.meta[RATE_LIMITED_META] = count
        return again


@dataclass(frozen=True, slots=True)
class _Target:
    """Where requests go: a download slot, through a proxy or directly."""

    slot_key: str
    slot: Slot
    proxy: str | None

    def __str__(self) -> str:
        if self.proxy is None:
            return self.slot_key
        return f"{self.slot_key} via proxy {ratelimits.proxy_address(self.proxy)}"
